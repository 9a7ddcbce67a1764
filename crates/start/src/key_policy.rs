//! Reading a KMS key policy for the facts the cause rules need: does it let
//! IAM policies grant access, and whom does it allow `kms:CreateGrant`.

use serde_json::Value;

use crate::evidence::KeyPolicyFacts;
use crate::ids::KeyArn;

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn allows_create_grant(actions: &[&str]) -> bool {
    actions
        .iter()
        .any(|a| matches!(*a, "kms:*" | "*" | "kms:CreateGrant" | "kms:Create*"))
}

/// The facts of the key policy `document` of `key`. A document that does
/// not parse yields `None`.
///
/// Read as KMS reads it, for the one question the rules ask: the account
/// root (`arn:<partition>:iam::<account>:root`, or the bare account id)
/// allowed `kms:*` delegates to IAM policies; `"AWS": "*"` allows everyone
/// its conditions admit; a principal named directly is allowed. An allowing
/// statement with conditions start-doctor does not evaluate here makes the
/// facts `uncertain`, so that the rules do not name a policy the evidence
/// does not prove.
pub fn key_policy_facts(document: &str, key: &KeyArn) -> Option<KeyPolicyFacts> {
    let account = key.account();
    let policy: Value = serde_json::from_str(document).ok()?;
    let statements: Vec<&Value> = match policy.get("Statement")? {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let root = format!("arn:{}:iam::{account}:root", key.partition());
    let mut facts = KeyPolicyFacts {
        allows_iam_policies: false,
        grant_principals: Vec::new(),
        uncertain: false,
    };
    for statement in statements {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let actions = statement.get("Action").map(strings).unwrap_or_default();
        let principals: Vec<&str> = match statement.get("Principal") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(p) => p.get("AWS").map(strings).unwrap_or_default(),
            None => Vec::new(),
        };
        let unconditional = statement.get("Condition").is_none();
        let to_root = principals.iter().any(|p| *p == root || *p == account);
        let relevant = allows_create_grant(&actions) || statement.get("NotAction").is_some();
        if relevant && !unconditional {
            // `kms:CallerAccount` / `kms:ViaService` / grant conditions:
            // whether they admit EC2's request is for a full evaluation.
            facts.uncertain = true;
        }
        if unconditional && to_root && actions.iter().any(|a| matches!(*a, "kms:*" | "*")) {
            facts.allows_iam_policies = true;
        }
        if allows_create_grant(&actions) {
            facts
                .grant_principals
                .extend(principals.iter().map(|p| (*p).to_owned()));
        }
    }
    facts.grant_principals.sort();
    facts.grant_principals.dedup();
    Some(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

    fn key(partition: &str) -> KeyArn {
        KeyArn::parse(&format!(
            "arn:{partition}:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        ))
        .unwrap()
    }

    #[test]
    fn the_default_key_policy_lets_iam_policies_grant_access() {
        let facts = key_policy_facts(DEFAULT, &key("aws")).unwrap();
        assert!(facts.allows_iam_policies);
        assert!(!facts.uncertain);
    }

    #[test]
    fn the_root_is_read_in_the_key_s_partition() {
        let china = DEFAULT.replace("arn:aws:", "arn:aws-cn:");
        assert!(
            key_policy_facts(&china, &key("aws-cn"))
                .unwrap()
                .allows_iam_policies
        );
        assert!(
            !key_policy_facts(&china, &key("aws"))
                .unwrap()
                .allows_iam_policies
        );
    }

    #[test]
    fn conditions_on_everyone_make_the_facts_uncertain() {
        let ebs = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*",
            "Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"ec2.eu-west-1.amazonaws.com"}}}]}"#;
        let facts = key_policy_facts(ebs, &key("aws")).unwrap();
        assert!(facts.uncertain);
        assert_eq!(facts.grant_principals, ["*"]);
    }

    #[test]
    fn a_locked_down_policy_names_only_its_principals() {
        let doc = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"kms:*","Resource":"*"},
            {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/app"]},"Action":["kms:CreateGrant","kms:ListGrants"],"Resource":"*",
             "Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}"#;
        let facts = key_policy_facts(doc, &key("aws")).unwrap();
        assert!(!facts.allows_iam_policies);
        assert_eq!(
            facts.grant_principals,
            [
                "arn:aws:iam::111122223333:role/admin",
                "arn:aws:iam::111122223333:role/app"
            ]
        );
        assert!(key_policy_facts("not json", &key("aws")).is_none());
    }
}
