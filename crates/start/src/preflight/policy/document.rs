//! Policy documents: parsing IAM / KMS key / SCP / RCP JSON into a typed model.
//!
//! The parser accepts the grammar described in the IAM User Guide's "IAM JSON
//! policy element reference": `Version`, `Id`, `Statement` (object or array),
//! and per statement `Sid`, `Effect`, `Principal`/`NotPrincipal`,
//! `Action`/`NotAction`, `Resource`/`NotResource` and `Condition`.
//! Every failure is a [`ParseError`] naming the element path that is wrong.

use serde_json::{Map, Value};
use thiserror::Error;

use super::condition::Operator;

/// A parse failure; `path` names the element, e.g. `Statement[1].Condition`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The text is not valid JSON.
    #[error("policy is not valid JSON: {0}")]
    Json(String),
    /// An element has the wrong JSON type.
    #[error("{path}: expected {expected}")]
    WrongType {
        /// Element path.
        path: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A required element is missing.
    #[error("{path}: missing required element {element}")]
    Missing {
        /// Element path of the containing object.
        path: String,
        /// The missing element name.
        element: &'static str,
    },
    /// Two mutually exclusive elements are both present.
    #[error("{path}: {first} and {second} cannot both be present")]
    Conflict {
        /// Element path of the statement.
        path: String,
        /// First element.
        first: &'static str,
        /// Second element.
        second: &'static str,
    },
    /// An element name this parser does not know.
    #[error("{path}: unknown element {element:?}")]
    UnknownElement {
        /// Element path of the containing object.
        path: String,
        /// The element name found.
        element: String,
    },
    /// `Effect` is neither `Allow` nor `Deny`.
    #[error("{path}: Effect must be \"Allow\" or \"Deny\", found {found:?}")]
    BadEffect {
        /// Element path.
        path: String,
        /// The value found.
        found: String,
    },
    /// A condition operator that is not recognised.
    #[error("{path}: unknown condition operator {operator:?}")]
    UnknownOperator {
        /// Element path.
        path: String,
        /// The operator text.
        operator: String,
    },
    /// An empty list where at least one value is required.
    #[error("{path}: must not be empty")]
    Empty {
        /// Element path.
        path: String,
    },
}

/// `Effect` of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

/// The key of one entry in a `Principal` map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// `"AWS"`: accounts, users, roles, sessions.
    Aws,
    /// `"Service"`: AWS service principals such as `ec2.amazonaws.com`.
    Service,
    /// `"Federated"`: identity providers.
    Federated,
    /// `"CanonicalUser"`: S3 canonical user ids.
    CanonicalUser,
    /// Any other key, kept verbatim.
    Other(String),
}

/// The value of a `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// The bare string `"*"`: everyone, including anonymous callers.
    Any,
    /// A map such as `{"AWS": ["arn:...", "111122223333"], "Service": "..."}`.
    Map(Vec<(PrincipalKind, Vec<String>)>),
}

/// `Principal` or `NotPrincipal` of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalBlock {
    /// `Principal`: the statement applies to these principals.
    Principal(Principals),
    /// `NotPrincipal`: the statement applies to everyone except these.
    NotPrincipal(Principals),
}

/// `Action` or `NotAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionBlock {
    /// `Action`: patterns the request action must match.
    Action(Vec<String>),
    /// `NotAction`: patterns the request action must not match.
    NotAction(Vec<String>),
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceBlock {
    /// `Resource`: patterns the request resource must match.
    Resource(Vec<String>),
    /// `NotResource`: patterns the request resource must not match.
    NotResource(Vec<String>),
}

/// One `operator: { key: values }` entry of a `Condition` block.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionEntry {
    /// The operator as written, e.g. `ForAnyValue:StringEqualsIfExists`.
    pub operator_text: String,
    /// The parsed operator.
    pub operator: Operator,
    /// The condition key as written (matched case-insensitively).
    pub key: String,
    /// The policy values, stringified (`true` → `"true"`, `3` → `"3"`).
    pub values: Vec<String>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `Sid`, when given.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal` / `NotPrincipal`, when given (resource-based policies).
    pub principal: Option<PrincipalBlock>,
    /// `Action` / `NotAction`.
    pub action: ActionBlock,
    /// `Resource` / `NotResource`; key policies often use `"*"`.
    pub resource: Option<ResourceBlock>,
    /// Condition entries; all must hold (logical AND).
    pub conditions: Vec<ConditionEntry>,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// A display name (policy name, `"key policy"`, SCP name ...), when known.
    pub name: Option<String>,
    /// `Version`, when given. Policy variables are only expanded for `2012-10-17`.
    pub version: Option<String>,
    /// `Id`, when given.
    pub id: Option<String>,
    /// The statements in document order.
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Parse a policy from JSON text.
    pub fn from_json_str(text: &str) -> Result<Policy, ParseError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
        Policy::from_value(&value)
    }

    /// Parse a policy from an already decoded JSON value.
    pub fn from_value(value: &Value) -> Result<Policy, ParseError> {
        let obj = as_object(value, "policy")?;
        let mut version = None;
        let mut id = None;
        let mut statements = None;
        for (k, v) in obj {
            match k.as_str() {
                "Version" => version = Some(as_string(v, "Version")?),
                "Id" => id = Some(as_string(v, "Id")?),
                "Statement" => statements = Some(parse_statements(v)?),
                other => {
                    return Err(ParseError::UnknownElement {
                        path: "policy".into(),
                        element: other.into(),
                    })
                }
            }
        }
        let statements = statements.ok_or(ParseError::Missing {
            path: "policy".into(),
            element: "Statement",
        })?;
        Ok(Policy {
            name: None,
            version,
            id,
            statements,
        })
    }

    /// Return the same policy with a display name.
    pub fn named(mut self, name: impl Into<String>) -> Policy {
        self.name = Some(name.into());
        self
    }

    /// Whether policy variables (`${aws:PrincipalTag/team}`) are expanded:
    /// only with `"Version": "2012-10-17"`; otherwise they are literal text.
    pub fn variables_enabled(&self) -> bool {
        self.version.as_deref() == Some("2012-10-17")
    }
}

fn parse_statements(v: &Value) -> Result<Vec<Statement>, ParseError> {
    match v {
        Value::Object(_) => Ok(vec![parse_statement(v, "Statement")?]),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(parse_statement(item, &format!("Statement[{i}]"))?);
            }
            Ok(out)
        }
        _ => Err(ParseError::WrongType {
            path: "Statement".into(),
            expected: "an object or an array of objects",
        }),
    }
}

fn parse_statement(v: &Value, path: &str) -> Result<Statement, ParseError> {
    let obj = as_object(v, path)?;
    let mut sid = None;
    let mut effect = None;
    let mut principal = None;
    let mut action = None;
    let mut resource = None;
    let mut conditions = Vec::new();
    for (k, val) in obj {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "Sid" => sid = Some(as_string(val, &p)?),
            "Effect" => {
                let s = as_string(val, &p)?;
                effect = Some(match s.as_str() {
                    "Allow" => Effect::Allow,
                    "Deny" => Effect::Deny,
                    _ => return Err(ParseError::BadEffect { path: p, found: s }),
                });
            }
            "Principal" | "NotPrincipal" => {
                if principal.is_some() {
                    return Err(conflict(path, "Principal", "NotPrincipal"));
                }
                let parsed = parse_principals(val, &p)?;
                principal = Some(if k == "Principal" {
                    PrincipalBlock::Principal(parsed)
                } else {
                    PrincipalBlock::NotPrincipal(parsed)
                });
            }
            "Action" | "NotAction" => {
                if action.is_some() {
                    return Err(conflict(path, "Action", "NotAction"));
                }
                let list = string_list(val, &p)?;
                action = Some(if k == "Action" {
                    ActionBlock::Action(list)
                } else {
                    ActionBlock::NotAction(list)
                });
            }
            "Resource" | "NotResource" => {
                if resource.is_some() {
                    return Err(conflict(path, "Resource", "NotResource"));
                }
                let list = string_list(val, &p)?;
                resource = Some(if k == "Resource" {
                    ResourceBlock::Resource(list)
                } else {
                    ResourceBlock::NotResource(list)
                });
            }
            "Condition" => conditions = parse_conditions(val, &p)?,
            other => {
                return Err(ParseError::UnknownElement {
                    path: path.into(),
                    element: other.into(),
                })
            }
        }
    }
    let effect = effect.ok_or(ParseError::Missing {
        path: path.into(),
        element: "Effect",
    })?;
    let action = action.ok_or(ParseError::Missing {
        path: path.into(),
        element: "Action",
    })?;
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn conflict(path: &str, first: &'static str, second: &'static str) -> ParseError {
    ParseError::Conflict {
        path: path.into(),
        first,
        second,
    }
}

fn parse_principals(v: &Value, path: &str) -> Result<Principals, ParseError> {
    match v {
        Value::String(s) if s == "*" => Ok(Principals::Any),
        Value::Object(map) => {
            let mut out = Vec::with_capacity(map.len());
            for (k, val) in map {
                let kind = match k.as_str() {
                    "AWS" => PrincipalKind::Aws,
                    "Service" => PrincipalKind::Service,
                    "Federated" => PrincipalKind::Federated,
                    "CanonicalUser" => PrincipalKind::CanonicalUser,
                    other => PrincipalKind::Other(other.to_string()),
                };
                out.push((kind, string_list(val, &format!("{path}.{k}"))?));
            }
            if out.is_empty() {
                return Err(ParseError::Empty { path: path.into() });
            }
            Ok(Principals::Map(out))
        }
        _ => Err(ParseError::WrongType {
            path: path.into(),
            expected: "\"*\" or an object such as {\"AWS\": ...}",
        }),
    }
}

fn parse_conditions(v: &Value, path: &str) -> Result<Vec<ConditionEntry>, ParseError> {
    let ops = as_object(v, path)?;
    let mut out = Vec::new();
    for (op_text, body) in ops {
        let op_path = format!("{path}.{op_text}");
        let operator = Operator::parse(op_text).ok_or_else(|| ParseError::UnknownOperator {
            path: path.into(),
            operator: op_text.clone(),
        })?;
        let keys = as_object(body, &op_path)?;
        for (key, vals) in keys {
            let key_path = format!("{op_path}.{key}");
            let values = scalar_list(vals, &key_path)?;
            out.push(ConditionEntry {
                operator_text: op_text.clone(),
                operator: operator.clone(),
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

fn as_object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ParseError> {
    v.as_object().ok_or_else(|| ParseError::WrongType {
        path: path.into(),
        expected: "an object",
    })
}

fn as_string(v: &Value, path: &str) -> Result<String, ParseError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| ParseError::WrongType {
            path: path.into(),
            expected: "a string",
        })
}

fn string_list(v: &Value, path: &str) -> Result<Vec<String>, ParseError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(as_string(item, &format!("{path}[{i}]"))?);
            }
            if out.is_empty() {
                return Err(ParseError::Empty { path: path.into() });
            }
            Ok(out)
        }
        _ => Err(ParseError::WrongType {
            path: path.into(),
            expected: "a string or an array of strings",
        }),
    }
}

fn scalar(v: &Value, path: &str) -> Result<String, ParseError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(ParseError::WrongType {
            path: path.into(),
            expected: "a string, boolean or number",
        }),
    }
}

fn scalar_list(v: &Value, path: &str) -> Result<Vec<String>, ParseError> {
    match v {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(scalar(item, &format!("{path}[{i}]"))?);
            }
            if out.is_empty() {
                return Err(ParseError::Empty { path: path.into() });
            }
            Ok(out)
        }
        other => Ok(vec![scalar(other, path)?]),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn statement_object_or_array() {
        let one = Policy::from_json_str(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(one.statements.len(), 1);
        let two = Policy::from_json_str(
            r#"{"Statement":[{"Sid":"a","Effect":"Allow","Action":["kms:Decrypt","kms:CreateGrant"]},
                             {"Effect":"Deny","NotAction":"kms:Decrypt","NotResource":["arn:aws:kms:*:*:key/x"]}]}"#,
        )
        .unwrap();
        assert_eq!(two.statements.len(), 2);
        assert_eq!(two.statements[0].sid.as_deref(), Some("a"));
        assert!(matches!(
            two.statements[1].action,
            ActionBlock::NotAction(ref v) if v == &["kms:Decrypt"]
        ));
        assert!(matches!(
            two.statements[1].resource,
            Some(ResourceBlock::NotResource(_))
        ));
        assert!(!two.variables_enabled());
    }

    #[test]
    fn principal_shapes() {
        let p = Policy::from_json_str(
            r#"{"Statement":[
              {"Effect":"Allow","Principal":"*","Action":"kms:*"},
              {"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*"},
              {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","444455556666"],"Service":"ec2.amazonaws.com"},"Action":"kms:*"},
              {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/x"},"Action":"kms:*"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            p.statements[0].principal,
            Some(PrincipalBlock::Principal(Principals::Any))
        );
        match &p.statements[2].principal {
            Some(PrincipalBlock::Principal(Principals::Map(m))) => {
                assert_eq!(m.len(), 2);
                assert_eq!(m[0].0, PrincipalKind::Aws);
                assert_eq!(m[0].1.len(), 2);
                assert_eq!(m[1].0, PrincipalKind::Service);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            p.statements[3].principal,
            Some(PrincipalBlock::NotPrincipal(_))
        ));
    }

    #[test]
    fn condition_values_are_stringified() {
        let p = Policy::from_json_str(
            r#"{"Statement":{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*",
               "Condition":{"Bool":{"kms:GrantIsForAWSResource":true},
                            "NumericLessThan":{"x:n":[1,2.5]},
                            "StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":["ec2.us-east-1.amazonaws.com"]}}}}"#,
        )
        .unwrap();
        let c = &p.statements[0].conditions;
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].values, vec!["true"]);
        assert_eq!(c[1].values, vec!["1", "2.5"]);
        assert_eq!(c[3].key, "kms:ViaService");
    }

    #[test]
    fn typed_errors_name_the_problem() {
        let e = Policy::from_json_str("{").unwrap_err();
        assert!(matches!(e, ParseError::Json(_)));
        let e = Policy::from_json_str(r#"{"Version":"2012-10-17"}"#).unwrap_err();
        assert_eq!(
            e,
            ParseError::Missing {
                path: "policy".into(),
                element: "Statement"
            }
        );
        let e = Policy::from_json_str(r#"{"Statement":[{"Effect":"Permit","Action":"a:b"}]}"#)
            .unwrap_err();
        assert!(
            matches!(e, ParseError::BadEffect { ref path, .. } if path == "Statement[0].Effect")
        );
        let e = Policy::from_json_str(
            r#"{"Statement":[{"Effect":"Allow","Action":"a:b","NotAction":"c:d"}]}"#,
        )
        .unwrap_err();
        assert!(matches!(e, ParseError::Conflict { .. }));
        let e = Policy::from_json_str(
            r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Condition":{"StringSortOf":{"k":"v"}}}]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, ParseError::UnknownOperator { ref operator, .. } if operator == "StringSortOf")
        );
        let e =
            Policy::from_json_str(r#"{"Statement":[{"Effect":"Allow","Action":[]}]}"#).unwrap_err();
        assert!(matches!(e, ParseError::Empty { .. }));
        let e = Policy::from_json_str(r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Condition":{"StringEquals":{"k":{"x":1}}}}]}"#)
            .unwrap_err();
        assert!(matches!(e, ParseError::WrongType { .. }));
        let e = Policy::from_json_str(r#"{"Statement":[{"Effect":"Allow"}]}"#).unwrap_err();
        assert!(matches!(
            e,
            ParseError::Missing {
                element: "Action",
                ..
            }
        ));
        let e = Policy::from_json_str(r#"[1,2]"#).unwrap_err();
        assert!(matches!(e, ParseError::WrongType { .. }));
    }
}
