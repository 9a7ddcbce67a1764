//! Property tests: no input makes parsing, matching or evaluation panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use serde_json::json;
use start_doctor_start::preflight::policy::matching::{arn_matches, glob};
use start_doctor_start::preflight::policy::{
    evaluate_create_grant, Boundary, Inputs, KeyState, Policy, Request,
};

fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[A-Za-z:*?${}/ .,'-]{0,24}".prop_map(serde_json::Value::String),
        prop_oneof![
            Just("Allow"),
            Just("Deny"),
            Just("*"),
            Just("kms:*"),
            Just("kms:CreateGrant"),
            Just("${aws:PrincipalTag/team}"),
            Just("${aws:x, 'd'}"),
            Just("${"),
            Just("arn:aws:kms:*:*:key/*"),
            Just("203.0.113.0/24"),
            Just("2001:db8::/200"),
            Just("2024-06-01T12:00:00Z"),
            Just("1e400")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("Version".to_string()),
                        Just("Statement".to_string()),
                        Just("Effect".to_string()),
                        Just("Action".to_string()),
                        Just("NotAction".to_string()),
                        Just("Resource".to_string()),
                        Just("NotResource".to_string()),
                        Just("Principal".to_string()),
                        Just("NotPrincipal".to_string()),
                        Just("AWS".to_string()),
                        Just("Condition".to_string()),
                        Just("StringLike".to_string()),
                        Just("ForAllValues:StringNotEqualsIfExists".to_string()),
                        Just("IpAddress".to_string()),
                        Just("Null".to_string()),
                        Just("DateLessThan".to_string()),
                        Just("NumericEquals".to_string()),
                        Just("aws:SourceIp".to_string()),
                        Just("kms:GrantOperations".to_string()),
                        "[a-zA-Z:/]{1,12}"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn parse_and_evaluate_never_panic(v in any_json(), text in ".{0,64}") {
        let _ = Policy::from_json_str(&text);
        let wrapped = json!({"Version": "2012-10-17", "Statement": [v.clone()]});
        for candidate in [v, wrapped] {
            if let Ok(p) = Policy::from_value(&candidate) {
                let req = Request::ec2_create_grant(
                    "arn:aws:iam::111122223333:role/ops/scheduler",
                    [("team", "ops")],
                    "arn:aws:kms:us-east-1:111122223333:key/k",
                    "us-east-1",
                    "vol-1",
                ).unwrap();
                let inputs = Inputs {
                    key_state: KeyState::Enabled,
                    key_policy: Some(p.clone()),
                    identity_policies: Some(vec![p.clone()]),
                    permissions_boundary: Boundary::Attached(p.clone()),
                    scps: Some(vec![vec![p.clone()]]),
                    rcps: Some(vec![vec![p]]),
                };
                let _ = evaluate_create_grant(&inputs, &req);
            }
        }
    }

    #[test]
    fn matchers_never_panic(p in ".{0,24}", t in ".{0,24}") {
        let _ = glob(&p, &t, true);
        let _ = glob(&p, &t, false);
        let _ = arn_matches(&p, &t);
    }

    #[test]
    fn request_builder_never_panics(a in ".{0,40}", k in ".{0,40}", r in ".{0,12}", v in ".{0,12}") {
        let _ = Request::ec2_create_grant(&a, [], &k, &r, &v);
        let _ = Request::new(&a, "kms:CreateGrant", &k);
    }

    #[test]
    fn star_matches_everything(t in ".{0,32}") {
        prop_assert!(glob("*", &t, false));
        prop_assert!(arn_matches("*", &t));
    }
}
