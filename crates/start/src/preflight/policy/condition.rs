//! Condition operators and their evaluation against a [`Request`].
//!
//! Semantics implemented (IAM User Guide, "IAM JSON policy elements: Condition
//! operators" and "Multivalued context keys"):
//! * multiple values for one key: OR; multiple keys / operators: AND;
//! * a missing key makes a condition false, except for negated operators
//!   (`StringNotEquals`, `ArnNotLike`, `NotIpAddress`, ...), which are true,
//!   and `...IfExists`, which is true;
//! * `ForAllValues:` is true when the key is missing or empty, otherwise every
//!   request value must satisfy the comparison; `ForAnyValue:` is false when
//!   the key is missing or empty, otherwise at least one request value must;
//! * negated comparisons are "matches none of the policy values";
//! * `Null: true` means the key is absent, `Null: false` that it is present;
//! * policy variables `${key}`, `${key, 'default'}`, `${*}`, `${?}`, `${$}`
//!   in values of string and ARN operators (policy version 2012-10-17 only).
//!
//! A key whose value cannot be known yields [`Outcome::Unresolved`].

use std::net::IpAddr;

use super::context::{KeyLookup, Request};
use super::document::ConditionEntry;
use super::matching::{arn_matches_tokens, glob_tokens, render, tokens, Token};

/// The comparison family of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseOp {
    /// `StringEquals`.
    StringEquals,
    /// `StringNotEquals`.
    StringNotEquals,
    /// `StringEqualsIgnoreCase`.
    StringEqualsIgnoreCase,
    /// `StringNotEqualsIgnoreCase`.
    StringNotEqualsIgnoreCase,
    /// `StringLike`.
    StringLike,
    /// `StringNotLike`.
    StringNotLike,
    /// `ArnEquals` (same matching as `ArnLike`).
    ArnEquals,
    /// `ArnLike`.
    ArnLike,
    /// `ArnNotEquals`.
    ArnNotEquals,
    /// `ArnNotLike`.
    ArnNotLike,
    /// `Bool`.
    Bool,
    /// `NumericEquals`.
    NumericEquals,
    /// `NumericNotEquals`.
    NumericNotEquals,
    /// `NumericLessThan`.
    NumericLessThan,
    /// `NumericLessThanEquals`.
    NumericLessThanEquals,
    /// `NumericGreaterThan`.
    NumericGreaterThan,
    /// `NumericGreaterThanEquals`.
    NumericGreaterThanEquals,
    /// `DateEquals`.
    DateEquals,
    /// `DateNotEquals`.
    DateNotEquals,
    /// `DateLessThan`.
    DateLessThan,
    /// `DateLessThanEquals`.
    DateLessThanEquals,
    /// `DateGreaterThan`.
    DateGreaterThan,
    /// `DateGreaterThanEquals`.
    DateGreaterThanEquals,
    /// `BinaryEquals`.
    BinaryEquals,
    /// `IpAddress`.
    IpAddress,
    /// `NotIpAddress`.
    NotIpAddress,
    /// `Null`.
    Null,
}

impl BaseOp {
    fn parse(s: &str) -> Option<BaseOp> {
        use BaseOp::*;
        Some(match s {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "ArnEquals" => ArnEquals,
            "ArnLike" => ArnLike,
            "ArnNotEquals" => ArnNotEquals,
            "ArnNotLike" => ArnNotLike,
            "Bool" => Bool,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "DateEquals" => DateEquals,
            "DateNotEquals" => DateNotEquals,
            "DateLessThan" => DateLessThan,
            "DateLessThanEquals" => DateLessThanEquals,
            "DateGreaterThan" => DateGreaterThan,
            "DateGreaterThanEquals" => DateGreaterThanEquals,
            "BinaryEquals" => BinaryEquals,
            "IpAddress" => IpAddress,
            "NotIpAddress" => NotIpAddress,
            "Null" => Null,
            _ => return None,
        })
    }

    /// Negated operators are true when the key is missing and mean
    /// "matches none of the policy values".
    pub fn is_negated(self) -> bool {
        use BaseOp::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | ArnNotEquals
                | ArnNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
        )
    }

    /// The positive counterpart used for comparison.
    fn positive(self) -> BaseOp {
        use BaseOp::*;
        match self {
            StringNotEquals => StringEquals,
            StringNotEqualsIgnoreCase => StringEqualsIgnoreCase,
            StringNotLike => StringLike,
            ArnNotEquals => ArnEquals,
            ArnNotLike => ArnLike,
            NumericNotEquals => NumericEquals,
            DateNotEquals => DateEquals,
            NotIpAddress => IpAddress,
            other => other,
        }
    }

    /// Whether policy variables are expanded in this operator's values.
    fn takes_variables(self) -> bool {
        use BaseOp::*;
        matches!(
            self.positive(),
            StringEquals | StringEqualsIgnoreCase | StringLike | ArnEquals | ArnLike
        )
    }
}

/// Set prefix of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// No prefix.
    None,
    /// `ForAnyValue:`.
    ForAnyValue,
    /// `ForAllValues:`.
    ForAllValues,
}

/// A parsed condition operator such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The comparison.
    pub base: BaseOp,
    /// `ForAnyValue:` / `ForAllValues:` prefix.
    pub set: SetOp,
    /// `...IfExists` suffix.
    pub if_exists: bool,
}

impl Operator {
    /// Parse operator text (case-sensitive, as IAM writes it). `None` when
    /// unknown. `NullIfExists` is rejected, as IAM does.
    pub fn parse(text: &str) -> Option<Operator> {
        let (set, rest) = if let Some(r) = text.strip_prefix("ForAnyValue:") {
            (SetOp::ForAnyValue, r)
        } else if let Some(r) = text.strip_prefix("ForAllValues:") {
            (SetOp::ForAllValues, r)
        } else {
            (SetOp::None, text)
        };
        let (if_exists, core) = match rest.strip_suffix("IfExists") {
            Some(c) => (true, c),
            None => (false, rest),
        };
        let base = BaseOp::parse(core)?;
        if base == BaseOp::Null && (if_exists || set != SetOp::None) {
            return None;
        }
        Some(Operator {
            base,
            set,
            if_exists,
        })
    }
}

/// Result of evaluating one condition entry or a whole block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The condition holds.
    Satisfied,
    /// The condition does not hold; the text explains why.
    NotSatisfied(String),
    /// The condition depends on values that cannot be known (key names).
    Unresolved(Vec<String>),
}

/// Evaluate all entries of a statement's `Condition` (logical AND).
/// A definite `NotSatisfied` wins over `Unresolved`.
pub fn evaluate_conditions(entries: &[ConditionEntry], req: &Request, variables: bool) -> Outcome {
    let mut unresolved: Vec<String> = Vec::new();
    for e in entries {
        match evaluate_entry(e, req, variables) {
            Outcome::Satisfied => {}
            Outcome::NotSatisfied(why) => return Outcome::NotSatisfied(why),
            Outcome::Unresolved(keys) => {
                for k in keys {
                    if !unresolved.contains(&k) {
                        unresolved.push(k);
                    }
                }
            }
        }
    }
    if unresolved.is_empty() {
        Outcome::Satisfied
    } else {
        Outcome::Unresolved(unresolved)
    }
}

/// A policy value after variable expansion.
enum Expanded {
    Pattern(Vec<Token>),
    /// A referenced variable is absent and has no default: matches nothing.
    NoValue,
}

/// Expand policy variables in `text`. `Err(key)` when a referenced key is unknown.
fn expand(text: &str, req: &Request, enabled: bool) -> Result<Expanded, String> {
    if !enabled || !text.contains("${") {
        return Ok(Expanded::Pattern(tokens(text)));
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.extend(tokens(rest.get(..start).unwrap_or_default()));
        let after = rest.get(start + 2..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            // Unterminated: literal text.
            out.extend(tokens(rest.get(start..).unwrap_or_default()));
            return Ok(Expanded::Pattern(out));
        };
        let inner = after.get(..end).unwrap_or_default();
        rest = after.get(end + 1..).unwrap_or_default();
        match inner {
            "*" => out.push(Token::Lit('*')),
            "?" => out.push(Token::Lit('?')),
            "$" => out.push(Token::Lit('$')),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => {
                        let d = d.trim();
                        let d = d
                            .strip_prefix('\'')
                            .and_then(|x| x.strip_suffix('\''))
                            .unwrap_or(d);
                        (k.trim(), Some(d))
                    }
                    None => (inner.trim(), None),
                };
                match req.lookup(key) {
                    KeyLookup::Present([single]) => out.extend(single.chars().map(Token::Lit)),
                    KeyLookup::Present(_) => return Err(key.to_string()),
                    KeyLookup::Unknown => return Err(key.to_string()),
                    KeyLookup::Absent => match default {
                        Some(d) => out.extend(d.chars().map(Token::Lit)),
                        None => return Ok(Expanded::NoValue),
                    },
                }
            }
        }
    }
    out.extend(tokens(rest));
    Ok(Expanded::Pattern(out))
}

/// Expand a policy value used as a wildcard pattern (resources). `Ok(None)`
/// means "matches nothing"; `Err(key)` means an unknown variable.
pub fn expand_pattern(
    text: &str,
    req: &Request,
    enabled: bool,
) -> Result<Option<Vec<Token>>, String> {
    match expand(text, req, enabled)? {
        Expanded::Pattern(p) => Ok(Some(p)),
        Expanded::NoValue => Ok(None),
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Parse an epoch-seconds number or an ISO 8601 date / date-time
/// (`2024-01-31`, `2024-01-31T12:00:00Z`, `...+02:00`, fractional seconds;
/// a date-time without an offset is UTC), as seconds since the epoch.
fn parse_date(s: &str) -> Option<f64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let s = s.trim();
    if let Some(n) = parse_number(s) {
        return Some(n);
    }
    let seconds = |t: NaiveDateTime| {
        let utc = t.and_utc();
        utc.timestamp() as f64 + f64::from(utc.timestamp_subsec_nanos()) / 1e9
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(seconds(t.naive_utc()));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(seconds(t));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(seconds)
}

/// Parse an IP address or CIDR block into (address, prefix length).
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    if prefix > max {
        return None;
    }
    Some((ip, prefix))
}

fn ip_in_cidr(ip_text: &str, cidr_text: &str) -> bool {
    let (Some((ip, _)), Some((net, prefix))) = (parse_cidr(ip_text), parse_cidr(cidr_text)) else {
        return false;
    };
    let (a, b, bits): (u128, u128, u32) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a).into(), u32::from(b).into(), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        (IpAddr::V6(a), IpAddr::V4(b)) => match a.to_ipv4_mapped() {
            Some(a4) => (u32::from(a4).into(), u32::from(b).into(), 32),
            None => return false,
        },
        (IpAddr::V4(_), IpAddr::V6(_)) => return false,
    };
    let prefix = u32::from(prefix);
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix;
    let mask: u128 = if bits == 128 {
        u128::MAX.checked_shl(shift).unwrap_or(0)
    } else {
        (u128::from(u32::MAX) << shift) & u128::from(u32::MAX)
    };
    (a & mask) == (b & mask)
}

/// Compare one request value against one (expanded) policy value with the
/// positive form of the operator.
fn compare(op: BaseOp, ctx: &str, pol: &[Token]) -> bool {
    use BaseOp::*;
    let pol_text = || render(pol);
    match op.positive() {
        StringEquals => ctx == pol_text(),
        StringEqualsIgnoreCase => ctx.to_lowercase() == pol_text().to_lowercase(),
        StringLike => glob_tokens(pol, ctx, false),
        ArnEquals | ArnLike => arn_matches_tokens(pol, ctx),
        Bool => ctx.eq_ignore_ascii_case(&pol_text()),
        BinaryEquals => ctx == pol_text(),
        IpAddress => ip_in_cidr(ctx, &pol_text()),
        NumericEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => {
            let (Some(a), Some(b)) = (parse_number(ctx), parse_number(&pol_text())) else {
                return false;
            };
            cmp_num(op.positive(), a, b)
        }
        DateEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => {
            let (Some(a), Some(b)) = (parse_date(ctx), parse_date(&pol_text())) else {
                return false;
            };
            cmp_num(op.positive(), a, b)
        }
        // Null is handled before comparison; negated variants were mapped.
        _ => false,
    }
}

fn cmp_num(op: BaseOp, a: f64, b: f64) -> bool {
    use BaseOp::*;
    match op {
        NumericEquals | DateEquals => (a - b).abs() < f64::EPSILON * a.abs().max(1.0),
        NumericLessThan | DateLessThan => a < b,
        NumericLessThanEquals | DateLessThanEquals => a <= b,
        NumericGreaterThan | DateGreaterThan => a > b,
        NumericGreaterThanEquals | DateGreaterThanEquals => a >= b,
        _ => false,
    }
}

fn describe(e: &ConditionEntry) -> String {
    format!("{} {} {:?}", e.operator_text, e.key, e.values)
}

/// Evaluate one condition entry.
pub fn evaluate_entry(e: &ConditionEntry, req: &Request, variables: bool) -> Outcome {
    let op = &e.operator;
    let lookup = req.lookup(&e.key);
    if op.base == BaseOp::Null {
        return match lookup {
            KeyLookup::Unknown => Outcome::Unresolved(vec![e.key.clone()]),
            KeyLookup::Present(_) | KeyLookup::Absent => {
                let absent = matches!(lookup, KeyLookup::Absent);
                // Multiple values: OR.
                let ok = e.values.iter().any(|v| {
                    let want_absent = v.eq_ignore_ascii_case("true");
                    want_absent == absent
                });
                if ok {
                    Outcome::Satisfied
                } else {
                    Outcome::NotSatisfied(format!(
                        "{}: key is {}",
                        describe(e),
                        if absent { "absent" } else { "present" }
                    ))
                }
            }
        };
    }
    let ctx_values: &[String] = match lookup {
        KeyLookup::Unknown => return Outcome::Unresolved(vec![e.key.clone()]),
        KeyLookup::Absent => &[],
        KeyLookup::Present(v) => v,
    };
    let missing = ctx_values.is_empty();
    if missing {
        let why = req
            .absent_reason(&e.key)
            .map(|r| format!("key {} is absent from the request context ({r})", e.key))
            .unwrap_or_else(|| format!("key {} is absent from the request context", e.key));
        let holds = if op.if_exists {
            true
        } else {
            match op.set {
                SetOp::ForAllValues => true,
                SetOp::ForAnyValue => false,
                SetOp::None => op.base.is_negated(),
            }
        };
        return if holds {
            Outcome::Satisfied
        } else {
            Outcome::NotSatisfied(format!("{}: {why}", describe(e)))
        };
    }
    // Expand policy values.
    let use_vars = variables && op.base.takes_variables();
    let mut patterns: Vec<Vec<Token>> = Vec::with_capacity(e.values.len());
    for v in &e.values {
        match expand(v, req, use_vars) {
            Ok(Expanded::Pattern(p)) => patterns.push(p),
            Ok(Expanded::NoValue) => {}
            Err(key) => return Outcome::Unresolved(vec![key]),
        }
    }
    let positive_any = |c: &String| patterns.iter().any(|p| compare(op.base, c, p));
    // Per request value: does it satisfy the (possibly negated) comparison?
    let satisfies = |c: &String| {
        if op.base.is_negated() {
            !positive_any(c)
        } else {
            positive_any(c)
        }
    };
    let holds = match op.set {
        SetOp::ForAllValues => ctx_values.iter().all(satisfies),
        SetOp::ForAnyValue => ctx_values.iter().any(satisfies),
        SetOp::None => {
            if op.base.is_negated() {
                !ctx_values.iter().any(positive_any)
            } else {
                ctx_values.iter().any(positive_any)
            }
        }
    };
    if holds {
        Outcome::Satisfied
    } else {
        Outcome::NotSatisfied(format!(
            "{}: request has {} = {:?}",
            describe(e),
            e.key,
            ctx_values
        ))
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

    fn req() -> Request {
        let mut r = Request::new(
            "arn:aws:iam::111122223333:role/ops/scheduler",
            "kms:CreateGrant",
            "arn:aws:kms:us-east-1:111122223333:key/k",
        )
        .unwrap();
        r.set("kms:CallerAccount", ["111122223333"]);
        r.set("kms:ViaService", ["ec2.us-east-1.amazonaws.com"]);
        r.set("kms:GrantOperations", ["Decrypt", "RetireGrant"]);
        r.set("kms:GrantIsForAWSResource", ["true"]);
        r.set("aws:PrincipalTag/team", ["ops"]);
        r.set(
            "aws:PrincipalArn",
            ["arn:aws:iam::111122223333:role/ops/scheduler"],
        );
        r.set("aws:SourceIp", ["203.0.113.7"]);
        r.set("aws:MultiFactorAuthAge", ["300"]);
        r.set("aws:CurrentTime", ["2024-06-01T12:00:00Z"]);
        r.mark_unknown("aws:PrincipalOrgID");
        r
    }

    fn entry(op: &str, key: &str, values: &[&str]) -> ConditionEntry {
        ConditionEntry {
            operator_text: op.into(),
            operator: Operator::parse(op).unwrap(),
            key: key.into(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn eval(op: &str, key: &str, values: &[&str]) -> Outcome {
        evaluate_entry(&entry(op, key, values), &req(), true)
    }

    fn yes(op: &str, key: &str, values: &[&str]) {
        assert_eq!(
            eval(op, key, values),
            Outcome::Satisfied,
            "{op} {key} {values:?}"
        );
    }

    fn no(op: &str, key: &str, values: &[&str]) {
        assert!(
            matches!(eval(op, key, values), Outcome::NotSatisfied(_)),
            "{op} {key} {values:?}: {:?}",
            eval(op, key, values)
        );
    }

    #[test]
    fn operator_parsing() {
        let o = Operator::parse("ForAnyValue:StringLikeIfExists").unwrap();
        assert_eq!(o.base, BaseOp::StringLike);
        assert_eq!(o.set, SetOp::ForAnyValue);
        assert!(o.if_exists);
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("ForAllValues:Null").is_none());
        assert!(Operator::parse("stringequals").is_none());
        assert!(Operator::parse("ForSomeValues:StringEquals").is_none());
    }

    #[test]
    fn string_operators() {
        yes("StringEquals", "kms:CallerAccount", &["111122223333"]);
        yes(
            "StringEquals",
            "KMS:CALLERACCOUNT",
            &["444455556666", "111122223333"],
        );
        no("StringEquals", "kms:CallerAccount", &["444455556666"]);
        no(
            "StringEquals",
            "kms:ViaService",
            &["EC2.us-east-1.amazonaws.com"],
        );
        yes(
            "StringEqualsIgnoreCase",
            "kms:ViaService",
            &["EC2.US-EAST-1.amazonaws.com"],
        );
        yes("StringNotEquals", "kms:CallerAccount", &["444455556666"]);
        no(
            "StringNotEquals",
            "kms:CallerAccount",
            &["444455556666", "111122223333"],
        );
        yes(
            "StringNotEqualsIgnoreCase",
            "kms:ViaService",
            &["rds.us-east-1.amazonaws.com"],
        );
        no(
            "StringNotEqualsIgnoreCase",
            "kms:ViaService",
            &["EC2.us-east-1.AMAZONAWS.com"],
        );
        yes("StringLike", "kms:ViaService", &["ec2.*.amazonaws.com"]);
        yes(
            "StringLike",
            "kms:ViaService",
            &["ec2.us-east-?.amazonaws.com"],
        );
        no("StringLike", "kms:ViaService", &["rds.*"]);
        yes("StringNotLike", "kms:ViaService", &["rds.*"]);
        no("StringNotLike", "kms:ViaService", &["ec2.*"]);
    }

    #[test]
    fn missing_keys() {
        no("StringEquals", "aws:PrincipalTag/missing", &["x"]);
        yes("StringNotEquals", "aws:PrincipalTag/missing", &["x"]);
        yes("StringNotLike", "aws:PrincipalTag/missing", &["x"]);
        yes("ArnNotLike", "aws:SourceArn", &["arn:aws:s3:::b"]);
        no("ArnLike", "aws:SourceArn", &["*"]);
        yes("NotIpAddress", "aws:VpcSourceIp", &["10.0.0.0/8"]);
        yes("StringEqualsIfExists", "aws:PrincipalTag/missing", &["x"]);
        yes("ArnLikeIfExists", "aws:SourceArn", &["arn:aws:s3:::b"]);
        no(
            "StringEqualsIfExists",
            "kms:CallerAccount",
            &["444455556666"],
        );
        no("Bool", "aws:SecureTransport", &["true"]);
        yes("BoolIfExists", "aws:SecureTransport", &["true"]);
    }

    #[test]
    fn unknown_keys_are_unresolved() {
        assert_eq!(
            eval("StringEquals", "aws:PrincipalOrgID", &["o-123"]),
            Outcome::Unresolved(vec!["aws:PrincipalOrgID".into()])
        );
        assert!(matches!(
            eval("StringNotEquals", "aws:PrincipalOrgID", &["o-123"]),
            Outcome::Unresolved(_)
        ));
        assert!(matches!(
            eval("Null", "aws:PrincipalOrgID", &["true"]),
            Outcome::Unresolved(_)
        ));
    }

    #[test]
    fn set_operators() {
        // ForAnyValue: at least one request value matches.
        yes(
            "ForAnyValue:StringEquals",
            "kms:GrantOperations",
            &["Decrypt"],
        );
        no(
            "ForAnyValue:StringEquals",
            "kms:GrantOperations",
            &["Encrypt"],
        );
        // ForAllValues: every request value in the policy set.
        no(
            "ForAllValues:StringEquals",
            "kms:GrantOperations",
            &["Decrypt"],
        );
        yes(
            "ForAllValues:StringEquals",
            "kms:GrantOperations",
            &["Decrypt", "RetireGrant", "Encrypt"],
        );
        // Missing key: ForAllValues true, ForAnyValue false.
        yes("ForAllValues:StringEquals", "aws:TagKeys", &["x"]);
        no("ForAnyValue:StringEquals", "aws:TagKeys", &["x"]);
        yes("ForAnyValue:StringEqualsIfExists", "aws:TagKeys", &["x"]);
        // Negated with set operators.
        yes(
            "ForAnyValue:StringNotEquals",
            "kms:GrantOperations",
            &["Decrypt"],
        );
        no(
            "ForAllValues:StringNotEquals",
            "kms:GrantOperations",
            &["Decrypt"],
        );
        yes(
            "ForAllValues:StringNotEquals",
            "kms:GrantOperations",
            &["Encrypt"],
        );
        yes(
            "ForAllValues:StringLike",
            "kms:GrantOperations",
            &["*crypt", "Retire*"],
        );
    }

    #[test]
    fn arn_operators() {
        yes(
            "ArnLike",
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/ops/*"],
        );
        yes(
            "ArnEquals",
            "aws:PrincipalArn",
            &["arn:aws:iam::*:role/ops/scheduler"],
        );
        no(
            "ArnLike",
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/dev/*"],
        );
        no(
            "ArnLike",
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:ROLE/ops/*"],
        );
        yes(
            "ArnNotLike",
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/dev/*"],
        );
        no(
            "ArnNotEquals",
            "aws:PrincipalArn",
            &["arn:aws:iam::111122223333:role/ops/scheduler"],
        );
        no("ArnLike", "kms:CallerAccount", &["arn:*"]);
    }

    #[test]
    fn bool_null_numeric_date() {
        yes("Bool", "kms:GrantIsForAWSResource", &["true"]);
        yes("Bool", "kms:GrantIsForAWSResource", &["TRUE"]);
        no("Bool", "kms:GrantIsForAWSResource", &["false"]);
        yes("Null", "aws:PrincipalTag/missing", &["true"]);
        no("Null", "aws:PrincipalTag/missing", &["false"]);
        yes("Null", "aws:PrincipalTag/team", &["false"]);
        no("Null", "aws:PrincipalTag/team", &["true"]);
        yes("NumericLessThan", "aws:MultiFactorAuthAge", &["3600"]);
        no("NumericGreaterThan", "aws:MultiFactorAuthAge", &["3600"]);
        yes("NumericEquals", "aws:MultiFactorAuthAge", &["300.0"]);
        yes("NumericNotEquals", "aws:MultiFactorAuthAge", &["301"]);
        yes("NumericLessThanEquals", "aws:MultiFactorAuthAge", &["300"]);
        yes(
            "NumericGreaterThanEquals",
            "aws:MultiFactorAuthAge",
            &["300"],
        );
        no(
            "NumericLessThan",
            "aws:MultiFactorAuthAge",
            &["not-a-number"],
        );
        yes(
            "DateGreaterThan",
            "aws:CurrentTime",
            &["2024-01-01T00:00:00Z"],
        );
        yes(
            "DateLessThan",
            "aws:CurrentTime",
            &["2024-06-01T14:00:00+01:00"],
        );
        no("DateLessThan", "aws:CurrentTime", &["2024-06-01"]);
        yes("DateEquals", "aws:CurrentTime", &["1717243200"]);
        yes(
            "DateNotEquals",
            "aws:CurrentTime",
            &["2024-06-01T12:00:01Z"],
        );
        yes(
            "DateGreaterThanEquals",
            "aws:CurrentTime",
            &["2024-06-01T12:00:00.000Z"],
        );
    }

    #[test]
    fn ip_operators() {
        yes("IpAddress", "aws:SourceIp", &["203.0.113.0/24"]);
        yes(
            "IpAddress",
            "aws:SourceIp",
            &["192.0.2.0/24", "203.0.113.7"],
        );
        no("IpAddress", "aws:SourceIp", &["192.0.2.0/24"]);
        yes("NotIpAddress", "aws:SourceIp", &["192.0.2.0/24"]);
        no("NotIpAddress", "aws:SourceIp", &["203.0.0.0/8"]);
        yes("IpAddress", "aws:SourceIp", &["0.0.0.0/0"]);
        no("IpAddress", "aws:SourceIp", &["2001:db8::/32"]);
        no("IpAddress", "aws:SourceIp", &["garbage", "1.2.3.4/99"]);
        assert!(ip_in_cidr(
            "2001:db8:1234:5678::1",
            "2001:DB8:1234:5678::/64"
        ));
        assert!(!ip_in_cidr(
            "2001:db8:1234:5679::1",
            "2001:db8:1234:5678::/64"
        ));
        assert!(ip_in_cidr("::ffff:203.0.113.7", "203.0.113.0/24"));
        assert!(ip_in_cidr("2001:db8::1", "::/0"));
        assert!(ip_in_cidr("2001:db8::1", "2001:db8::1"));
    }

    #[test]
    fn policy_variables() {
        yes(
            "StringEquals",
            "aws:PrincipalTag/team",
            &["${aws:PrincipalTag/team}"],
        );
        yes(
            "StringLike",
            "aws:PrincipalArn",
            &["arn:aws:iam::*:role/${aws:PrincipalTag/team}/*"],
        );
        // Default value when absent.
        yes(
            "StringEquals",
            "aws:PrincipalTag/team",
            &["${aws:PrincipalTag/dept, 'ops'}"],
        );
        // Absent without default: that value matches nothing.
        no(
            "StringEquals",
            "aws:PrincipalTag/team",
            &["${aws:PrincipalTag/dept}"],
        );
        // Unknown variable key: unresolved.
        assert!(matches!(
            eval(
                "StringEquals",
                "aws:PrincipalTag/team",
                &["${aws:PrincipalOrgID}"]
            ),
            Outcome::Unresolved(_)
        ));
        // ${*} is a literal star, not a wildcard.
        no("StringLike", "kms:ViaService", &["ec2.${*}"]);
        // Variables are not expanded when disabled (Version 2008-10-17 / absent).
        let e = entry(
            "StringEquals",
            "aws:PrincipalTag/team",
            &["${aws:PrincipalTag/team}"],
        );
        assert!(matches!(
            evaluate_entry(&e, &req(), false),
            Outcome::NotSatisfied(_)
        ));
    }

    #[test]
    fn blocks_are_and() {
        let r = req();
        let es = vec![
            entry("StringEquals", "kms:CallerAccount", &["111122223333"]),
            entry(
                "StringEquals",
                "kms:ViaService",
                &["ec2.us-east-1.amazonaws.com"],
            ),
        ];
        assert_eq!(evaluate_conditions(&es, &r, true), Outcome::Satisfied);
        let es2 = vec![
            entry("StringEquals", "aws:PrincipalOrgID", &["o-1"]),
            entry("StringEquals", "kms:CallerAccount", &["444455556666"]),
        ];
        assert!(matches!(
            evaluate_conditions(&es2, &r, true),
            Outcome::NotSatisfied(_)
        ));
        let es3 = vec![
            entry("StringEquals", "aws:PrincipalOrgID", &["o-1"]),
            entry("StringEquals", "kms:CallerAccount", &["111122223333"]),
        ];
        assert!(matches!(
            evaluate_conditions(&es3, &r, true),
            Outcome::Unresolved(_)
        ));
    }

    #[test]
    fn dates_parse() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_date("1970-01-02"), Some(86_400.0));
        assert_eq!(parse_date("2024-06-01T12:00:00Z"), Some(1_717_243_200.0));
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("garbage"), None);
        assert_eq!(parse_date("2024-06-01T12:00"), None);
        assert_eq!(parse_date("ü"), None);
        assert_eq!(
            parse_date("2024-06-01T14:00:00+02:00"),
            Some(1_717_243_200.0)
        );
        assert_eq!(parse_date("2024-06-01T12:00:00.5Z"), Some(1_717_243_200.5));
        assert_eq!(parse_date("2024-06-01T12:00:00"), Some(1_717_243_200.0));
        assert_eq!(parse_date("1717243200"), Some(1_717_243_200.0));
    }
}
