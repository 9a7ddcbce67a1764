//! Reading a KMS key policy for the facts the cause rules need: does it let
//! IAM policies grant access, and whom does it allow `kms:CreateGrant`.

use serde_json::Value;

use crate::evidence::KeyPolicyFacts;

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

/// The facts of a key policy document for a key in `account`. A document
/// that does not parse yields `None`.
pub fn key_policy_facts(document: &str, account: &str) -> Option<KeyPolicyFacts> {
    let policy: Value = serde_json::from_str(document).ok()?;
    let statements: Vec<&Value> = match policy.get("Statement")? {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let root = format!("arn:aws:iam::{account}:root");
    let mut facts = KeyPolicyFacts {
        allows_iam_policies: false,
        grant_principals: Vec::new(),
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
        if unconditional
            && actions.iter().any(|a| matches!(*a, "kms:*" | "*"))
            && principals.iter().any(|p| *p == root || *p == account)
        {
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

    #[test]
    fn the_default_key_policy_lets_iam_policies_grant_access() {
        let facts = key_policy_facts(DEFAULT, "111122223333").unwrap();
        assert!(facts.allows_iam_policies);
    }

    #[test]
    fn a_locked_down_policy_names_only_its_principals() {
        let doc = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"kms:*","Resource":"*"},
            {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/app"]},"Action":["kms:CreateGrant","kms:ListGrants"],"Resource":"*",
             "Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}]}"#;
        let facts = key_policy_facts(doc, "111122223333").unwrap();
        assert!(!facts.allows_iam_policies);
        assert_eq!(
            facts.grant_principals,
            [
                "arn:aws:iam::111122223333:role/admin",
                "arn:aws:iam::111122223333:role/app"
            ]
        );
        assert!(key_policy_facts("not json", "111122223333").is_none());
    }
}
