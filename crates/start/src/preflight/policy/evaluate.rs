//! Policy evaluation: one policy against a request ([`evaluate_policy`]) and
//! the full KMS `CreateGrant` decision for an EBS attachment
//! ([`evaluate_create_grant`]).
//!
//! The combination follows the IAM User Guide "Policy evaluation logic" /
//! "Policy evaluation for requests within a single account" / "Cross-account
//! policy evaluation logic" and the KMS Developer Guide "Key policies" /
//! "Default key policy" / "Allowing users in other accounts to use a KMS key".
//! Every fact relied on is quoted with its URL in docs/preflight-evaluation.md.

use super::condition::{evaluate_conditions, expand_pattern, Outcome};
use super::context::{PrincipalType, Request};
use super::document::{
    ActionBlock, Effect, Policy, PrincipalBlock, PrincipalKind, Principals, ResourceBlock,
    Statement,
};
use super::matching::{action_matches, arn_matches_tokens, Arn};

/// The role a policy plays in the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Identity-based policy (inline or managed) of the principal.
    Identity,
    /// Resource-based policy: here, the KMS key policy.
    Resource,
    /// Permissions boundary of the principal.
    Boundary,
    /// AWS Organizations service control policy.
    Scp,
    /// AWS Organizations resource control policy.
    Rcp,
}

/// How a resource-policy statement's `Principal` matched the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalMatch {
    /// `"*"` or `{"AWS": "*"}`: any principal (usually narrowed by conditions).
    Wildcard,
    /// The principal's account (`arn:<p>:iam::<acct>:root` or `<acct>`): in a
    /// key policy this delegates to the account's IAM policies.
    Account,
    /// The role ARN itself (with path).
    Role,
    /// The IAM user ARN itself.
    User,
    /// The assumed-role session ARN.
    Session,
    /// `NotPrincipal` that does not exclude the request principal.
    NotPrincipal,
}

/// A reference to one statement, for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    /// Policy display name (`Policy::name`, or `"<unnamed>"`).
    pub policy: String,
    /// Kind of the policy.
    pub kind: PolicyKind,
    /// The statement's `Sid`, when given.
    pub sid: Option<String>,
    /// Zero-based index of the statement in the policy.
    pub index: usize,
    /// For resource policies: how the principal matched.
    pub principal_match: Option<PrincipalMatch>,
}

impl std::fmt::Display for StatementRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "{:?} statement {:?}", self.policy, sid),
            None => write!(f, "{:?} statement #{}", self.policy, self.index),
        }
    }
}

/// Outcome of evaluating one policy against one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyResult {
    /// Deny statements that definitely apply.
    pub explicit_deny: Vec<StatementRef>,
    /// Allow statements that definitely apply.
    pub allow: Vec<StatementRef>,
    /// Deny statements that apply unless an unknown value says otherwise.
    pub maybe_deny: Vec<StatementRef>,
    /// Allow statements that apply if unknown values turn out right.
    pub maybe_allow: Vec<StatementRef>,
    /// What could not be resolved, one human-readable line each.
    pub unresolved: Vec<String>,
    /// Why statements that matched action, resource and principal did not apply.
    pub notes: Vec<String>,
}

/// Three-valued logic used to combine partial knowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::True, Tri::True) => Tri::True,
            _ => Tri::Unknown,
        }
    }
    fn or(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::False, Tri::False) => Tri::False,
            _ => Tri::Unknown,
        }
    }
}

enum Applies {
    Yes(Option<PrincipalMatch>),
    No(Option<String>),
    Maybe(Vec<String>, Option<PrincipalMatch>),
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// One `"AWS"` principal value against the request. `Err` carries why the
/// match cannot be decided (only role-session principals can be undecidable).
fn match_aws_value(v: &str, req: &Request) -> Result<Option<PrincipalMatch>, String> {
    if v == "*" {
        return Ok(Some(PrincipalMatch::Wildcard));
    }
    if is_account_id(v) {
        return Ok((v == req.principal_account).then_some(PrincipalMatch::Account));
    }
    let Some(a) = Arn::parse(v) else {
        return Ok(None);
    };
    if a.partition != req.partition {
        return Ok(None);
    }
    match a.service.as_str() {
        "iam" if a.resource == "root" => {
            Ok((a.account == req.principal_account).then_some(PrincipalMatch::Account))
        }
        "iam" => Ok(
            (v == req.principal_arn).then_some(match req.principal_type {
                PrincipalType::Role => PrincipalMatch::Role,
                PrincipalType::User => PrincipalMatch::User,
            }),
        ),
        "sts" => {
            let Some(rest) = a.resource.strip_prefix("assumed-role/") else {
                return Ok(None);
            };
            if req.principal_type != PrincipalType::Role || a.account != req.principal_account {
                return Ok(None);
            }
            match &req.session_arn {
                Some(s) => Ok((s == v).then_some(PrincipalMatch::Session)),
                None => match rest.split_once('/') {
                    Some((role, _)) if role == req.principal_name => Err(format!(
                        "Principal {v} names a session of this role; the session name is not known"
                    )),
                    _ => Ok(None),
                },
            }
        }
        _ => Ok(None),
    }
}

fn strength(m: PrincipalMatch) -> u8 {
    match m {
        PrincipalMatch::Session => 5,
        PrincipalMatch::User => 4,
        PrincipalMatch::Role => 3,
        PrincipalMatch::Wildcard => 2,
        PrincipalMatch::NotPrincipal => 1,
        PrincipalMatch::Account => 0,
    }
}

/// `Principal`: the best match, none, or unresolved.
fn match_principals(p: &Principals, req: &Request) -> Result<Option<PrincipalMatch>, String> {
    let map = match p {
        Principals::Any => return Ok(Some(PrincipalMatch::Wildcard)),
        Principals::Map(m) => m,
    };
    let mut best: Option<PrincipalMatch> = None;
    let mut unresolved = None;
    for (kind, values) in map {
        if *kind != PrincipalKind::Aws {
            // Service / Federated / CanonicalUser principals never match an IAM role or user.
            continue;
        }
        for v in values {
            match match_aws_value(v, req) {
                Ok(Some(m)) => {
                    if best.map(|b| strength(m) > strength(b)).unwrap_or(true) {
                        best = Some(m);
                    }
                }
                Ok(None) => {}
                Err(e) => unresolved = Some(e),
            }
        }
    }
    match (best, unresolved) {
        (Some(b), _) => Ok(Some(b)),
        (None, Some(e)) => Err(e),
        (None, None) => Ok(None),
    }
}

/// `NotPrincipal`: does the statement apply to the request principal?
/// AWS may check the account, then the role, then the role session, so the
/// principal is excluded only when every link of that chain is listed.
fn not_principal_applies(p: &Principals, req: &Request) -> Tri {
    let map = match p {
        Principals::Any => return Tri::False,
        Principals::Map(m) => m,
    };
    let mut account = false;
    let mut entity = false;
    let mut session = Tri::False;
    for (kind, values) in map {
        if *kind != PrincipalKind::Aws {
            continue;
        }
        for v in values {
            match match_aws_value(v, req) {
                Ok(Some(PrincipalMatch::Wildcard)) => return Tri::False,
                Ok(Some(PrincipalMatch::Account)) => account = true,
                Ok(Some(PrincipalMatch::Role | PrincipalMatch::User)) => entity = true,
                Ok(Some(PrincipalMatch::Session)) => session = Tri::True,
                Ok(Some(PrincipalMatch::NotPrincipal)) | Ok(None) => {}
                Err(_) => {
                    if session != Tri::True {
                        session = Tri::Unknown
                    }
                }
            }
        }
    }
    let chain: Vec<Tri> = match req.principal_type {
        PrincipalType::User => vec![Tri::from_bool(account), Tri::from_bool(entity)],
        PrincipalType::Role => vec![Tri::from_bool(account), Tri::from_bool(entity), session],
    };
    if chain.iter().all(|t| *t == Tri::True) {
        Tri::False
    } else if chain.iter().all(|t| *t == Tri::False) {
        Tri::True
    } else {
        Tri::Unknown
    }
}

impl Tri {
    fn from_bool(b: bool) -> Tri {
        if b {
            Tri::True
        } else {
            Tri::False
        }
    }
}

fn resource_patterns_match(patterns: &[String], req: &Request, vars: bool) -> Result<bool, String> {
    let mut unresolved = None;
    for p in patterns {
        match expand_pattern(p, req, vars) {
            Ok(Some(toks)) => {
                if arn_matches_tokens(&toks, &req.resource) {
                    return Ok(true);
                }
            }
            Ok(None) => {}
            Err(k) => unresolved = Some(k),
        }
    }
    match unresolved {
        Some(k) => Err(k),
        None => Ok(false),
    }
}

fn statement_applies(st: &Statement, req: &Request, kind: PolicyKind, vars: bool) -> Applies {
    // Action / NotAction.
    let action_ok = match &st.action {
        ActionBlock::Action(pats) => pats.iter().any(|p| action_matches(p, &req.action)),
        ActionBlock::NotAction(pats) => !pats.iter().any(|p| action_matches(p, &req.action)),
    };
    if !action_ok {
        return Applies::No(None);
    }
    let mut maybe: Vec<String> = Vec::new();
    // Resource / NotResource.
    match &st.resource {
        None => {}
        Some(ResourceBlock::Resource(pats)) => match resource_patterns_match(pats, req, vars) {
            Ok(true) => {}
            Ok(false) => return Applies::No(None),
            Err(k) => maybe.push(k),
        },
        Some(ResourceBlock::NotResource(pats)) => match resource_patterns_match(pats, req, vars) {
            Ok(true) => return Applies::No(None),
            Ok(false) => {}
            Err(k) => maybe.push(k),
        },
    }
    // Principal / NotPrincipal: only meaningful in resource-based policies.
    let mut pm = None;
    if matches!(kind, PolicyKind::Resource | PolicyKind::Rcp) {
        match &st.principal {
            None => return Applies::No(None),
            Some(PrincipalBlock::Principal(p)) => match match_principals(p, req) {
                Ok(Some(m)) => pm = Some(m),
                Ok(None) => return Applies::No(None),
                Err(e) => {
                    pm = Some(PrincipalMatch::Session);
                    maybe.push(e)
                }
            },
            Some(PrincipalBlock::NotPrincipal(p)) => match not_principal_applies(p, req) {
                Tri::True => pm = Some(PrincipalMatch::NotPrincipal),
                Tri::False => return Applies::No(None),
                Tri::Unknown => {
                    pm = Some(PrincipalMatch::NotPrincipal);
                    maybe.push(
                    "NotPrincipal lists only part of account / role / role session; AWS \"might\" evaluate each"
                        .to_string(),
                    )
                }
            },
        }
    }
    match evaluate_conditions(&st.conditions, req, vars) {
        Outcome::Satisfied => {}
        Outcome::NotSatisfied(why) => return Applies::No(Some(why)),
        Outcome::Unresolved(keys) => {
            for k in keys {
                maybe.push(format!(
                    "condition key {k} cannot be known for this request"
                ));
            }
        }
    }
    if maybe.is_empty() {
        Applies::Yes(pm)
    } else {
        Applies::Maybe(maybe, pm)
    }
}

/// Evaluate one policy against a request.
///
/// For [`PolicyKind::Resource`] (key policy) and [`PolicyKind::Rcp`] the
/// statement's `Principal` / `NotPrincipal` must match the request principal;
/// for the other kinds it is ignored.
pub fn evaluate_policy(policy: &Policy, req: &Request, kind: PolicyKind) -> PolicyResult {
    let vars = policy.variables_enabled();
    let name = policy
        .name
        .clone()
        .unwrap_or_else(|| "<unnamed>".to_string());
    let mut out = PolicyResult::default();
    for (index, st) in policy.statements.iter().enumerate() {
        let mut r = StatementRef {
            policy: name.clone(),
            kind,
            sid: st.sid.clone(),
            index,
            principal_match: None,
        };
        match statement_applies(st, req, kind, vars) {
            Applies::Yes(pm) => {
                r.principal_match = pm;
                match st.effect {
                    Effect::Allow => out.allow.push(r),
                    Effect::Deny => out.explicit_deny.push(r),
                }
            }
            Applies::No(Some(why)) => {
                out.notes
                    .push(format!("{r} ({:?}) does not apply: {why}", st.effect));
            }
            Applies::No(None) => {}
            Applies::Maybe(reasons, pm) => {
                r.principal_match = pm;
                for why in reasons {
                    out.unresolved.push(format!("{r} ({:?}): {why}", st.effect));
                }
                match st.effect {
                    Effect::Allow => out.maybe_allow.push(r),
                    Effect::Deny => out.maybe_deny.push(r),
                }
            }
        }
    }
    out
}

/// KMS key state (KMS `KeyState`, plus "not found" and "unknown").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyState {
    /// `Enabled`.
    Enabled,
    /// `Disabled`.
    Disabled,
    /// `PendingDeletion`.
    PendingDeletion,
    /// `PendingReplicaDeletion` (multi-Region primary key).
    PendingReplicaDeletion,
    /// `PendingImport` (imported key material missing).
    PendingImport,
    /// `Unavailable` (custom key store disconnected).
    Unavailable,
    /// `Creating` (multi-Region replica being created).
    Creating,
    /// `Updating` (multi-Region primary Region being updated).
    Updating,
    /// The key does not exist (or is not visible).
    NotFound,
    /// Not given.
    #[default]
    Unknown,
}

/// The principal's permissions boundary.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Boundary {
    /// The principal has no permissions boundary.
    NoBoundary,
    /// Whether there is a boundary is not known.
    #[default]
    Unknown,
    /// The boundary policy (managed policy default version).
    Attached(Policy),
}

/// Everything known about the principal and the key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inputs {
    /// Key state.
    pub key_state: KeyState,
    /// The key policy; `None` when not given.
    pub key_policy: Option<Policy>,
    /// Identity policies of the principal (inline and attached managed default
    /// versions); `None` when not given, `Some(vec![])` when it has none.
    pub identity_policies: Option<Vec<Policy>>,
    /// Permissions boundary.
    pub permissions_boundary: Boundary,
    /// SCPs affecting the principal's account, one inner list per level
    /// (root, each OU, account); every level must allow. `None`: not evaluated.
    pub scps: Option<Vec<Vec<Policy>>>,
    /// RCPs affecting the key's account, same shape as `scps`. `None`: not evaluated.
    pub rcps: Option<Vec<Vec<Policy>>>,
}

/// Why the request is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// Key is `Disabled`.
    KeyDisabled,
    /// Key is `PendingDeletion` or `PendingReplicaDeletion`.
    KeyPendingDeletion,
    /// Key is `PendingImport`.
    KeyPendingImport,
    /// Key is `Unavailable` or `Creating`: the attachment cannot use it.
    KeyUnavailable,
    /// Key not found.
    KeyNotFound,
    /// An explicit `Deny` in a policy of this kind applies.
    ExplicitDeny {
        /// Kind of the policy holding the first applicable deny.
        kind: PolicyKind,
    },
    /// The key policy neither names the principal nor delegates to IAM for it.
    KeyPolicyMissing,
    /// The key policy delegates to IAM but no identity policy allows.
    IdentityPolicyMissing,
    /// The permissions boundary does not allow `kms:CreateGrant`.
    PermissionsBoundaryMissing,
    /// Some level of the SCP hierarchy has no applicable `Allow`.
    ServiceControlPolicyMissing,
    /// Some level of the RCP hierarchy has no applicable `Allow`.
    ResourceControlPolicyMissing,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// EC2 may create the grant.
    Allowed {
        /// The statements that together allow it.
        deciding: Vec<StatementRef>,
    },
    /// EC2 may not create the grant.
    Denied {
        /// Why.
        reason: DenyReason,
        /// The statements involved (the deny, or the allows that were not enough).
        deciding: Vec<StatementRef>,
    },
    /// Cannot be decided from what was given.
    Unknown {
        /// What is missing or cannot be known.
        missing: Vec<String>,
    },
}

/// [`Verdict`] plus what was not evaluated and explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateGrantReport {
    /// The answer.
    pub verdict: Verdict,
    /// Policy types not evaluated because they were not given.
    pub not_evaluated: Vec<String>,
    /// Explanations (statements that did not apply and why, assumptions).
    pub notes: Vec<String>,
}

/// Tri for "some policy in this set allows", plus the allows.
fn allow_tri(results: &[PolicyResult]) -> (Tri, Vec<StatementRef>) {
    let allows: Vec<StatementRef> = results.iter().flat_map(|r| r.allow.clone()).collect();
    if !allows.is_empty() {
        (Tri::True, allows)
    } else if results.iter().any(|r| !r.maybe_allow.is_empty()) {
        (Tri::Unknown, Vec::new())
    } else {
        (Tri::False, Vec::new())
    }
}

fn deny_for_state(state: KeyState) -> Option<(DenyReason, &'static str)> {
    match state {
        KeyState::Disabled => Some((DenyReason::KeyDisabled, "key is Disabled: CreateGrant fails with DisabledException")),
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => Some((
            DenyReason::KeyPendingDeletion,
            "key is pending deletion: CreateGrant fails (DisabledException / KMSInvalidStateException)",
        )),
        KeyState::PendingImport => Some((
            DenyReason::KeyPendingImport,
            "key is PendingImport: CreateGrant fails with KMSInvalidStateException",
        )),
        KeyState::Unavailable => Some((
            DenyReason::KeyUnavailable,
            "key is Unavailable (custom key store disconnected): CreateGrant itself succeeds, but Decrypt fails with KMSInvalidStateException, so the volume cannot be attached",
        )),
        KeyState::Creating => Some((
            DenyReason::KeyUnavailable,
            "key is Creating (multi-Region replica): CreateGrant fails with KMSInvalidStateException",
        )),
        KeyState::NotFound => Some((DenyReason::KeyNotFound, "key not found")),
        KeyState::Enabled | KeyState::Updating | KeyState::Unknown => None,
    }
}

/// Evaluate an organization policy hierarchy (SCPs or RCPs).
fn evaluate_levels(
    levels: &[Vec<Policy>],
    req: &Request,
    kind: PolicyKind,
) -> (Tri, Vec<PolicyResult>) {
    let mut tri = Tri::True;
    let mut all = Vec::new();
    for level in levels {
        let results: Vec<PolicyResult> = level
            .iter()
            .map(|p| evaluate_policy(p, req, kind))
            .collect();
        tri = tri.and(allow_tri(&results).0);
        all.extend(results);
    }
    (tri, all)
}

/// Decide whether EC2 may create the grant on the key for the principal.
///
/// Steps: key state; explicit denies in every policy given (key policy,
/// identity policies, boundary, SCPs, RCPs); SCP and RCP allows (not applied
/// to service-linked roles); then
/// * same account: allowed if the key policy allows the principal directly
///   (role ARN / wildcard grants are limited by the boundary; user ARN and
///   role-session ARN grants are not), or if the key policy allows the
///   principal's account (delegation) and an identity policy allows and the
///   boundary allows;
/// * cross account: the key policy must allow the principal or its account
///   AND an identity policy must allow AND the boundary must allow.
pub fn evaluate_create_grant(inputs: &Inputs, req: &Request) -> CreateGrantReport {
    let mut not_evaluated = Vec::new();
    let mut notes = Vec::new();
    let mut missing = Vec::new();

    // 1. Key state.
    if let Some((reason, why)) = deny_for_state(inputs.key_state) {
        notes.push(why.to_string());
        return CreateGrantReport {
            verdict: Verdict::Denied {
                reason,
                deciding: Vec::new(),
            },
            not_evaluated,
            notes,
        };
    }
    let state_ok = if inputs.key_state == KeyState::Unknown {
        missing.push("key state".to_string());
        Tri::Unknown
    } else {
        Tri::True
    };

    // 2. Evaluate every policy given.
    let key = inputs.key_policy.as_ref().map(|p| {
        evaluate_policy(
            &p.clone()
                .named(p.name.clone().unwrap_or_else(|| "key policy".into())),
            req,
            PolicyKind::Resource,
        )
    });
    if key.is_none() {
        missing.push("key policy".to_string());
    }
    let identity: Option<Vec<PolicyResult>> = inputs.identity_policies.as_ref().map(|ps| {
        ps.iter()
            .map(|p| evaluate_policy(p, req, PolicyKind::Identity))
            .collect()
    });
    if identity.is_none() {
        missing.push(format!("identity policies of {}", req.principal_arn));
    }
    let boundary: Option<PolicyResult> = match &inputs.permissions_boundary {
        Boundary::Attached(p) => Some(evaluate_policy(p, req, PolicyKind::Boundary)),
        Boundary::NoBoundary => None,
        Boundary::Unknown => {
            missing.push(format!("permissions boundary of {}", req.principal_arn));
            None
        }
    };
    let (scp_tri, scp_results) = if req.is_service_linked_role {
        notes.push("SCPs do not affect service-linked roles; SCPs not applied".to_string());
        (Tri::True, Vec::new())
    } else {
        match &inputs.scps {
            Some(levels) => evaluate_levels(levels, req, PolicyKind::Scp),
            None => {
                not_evaluated.push("service control policies".to_string());
                (Tri::True, Vec::new())
            }
        }
    };
    let (rcp_tri, rcp_results) = if req.is_service_linked_role {
        notes.push(
            "RCPs do not apply to calls made by service-linked roles; RCPs not applied".to_string(),
        );
        (Tri::True, Vec::new())
    } else {
        match &inputs.rcps {
            Some(levels) => evaluate_levels(levels, req, PolicyKind::Rcp),
            None => {
                not_evaluated.push("resource control policies".to_string());
                (Tri::True, Vec::new())
            }
        }
    };

    let mut all: Vec<&PolicyResult> = Vec::new();
    all.extend(key.iter());
    if let Some(ids) = &identity {
        all.extend(ids.iter());
    }
    all.extend(boundary.iter());
    all.extend(scp_results.iter());
    all.extend(rcp_results.iter());
    for r in &all {
        notes.extend(r.notes.iter().cloned());
    }

    // 3. Explicit deny anywhere wins.
    let denies: Vec<StatementRef> = all
        .iter()
        .flat_map(|r| r.explicit_deny.iter().cloned())
        .collect();
    if let Some(first) = denies.first() {
        return CreateGrantReport {
            verdict: Verdict::Denied {
                reason: DenyReason::ExplicitDeny { kind: first.kind },
                deciding: denies.clone(),
            },
            not_evaluated,
            notes,
        };
    }
    let mut no_deny = Tri::True;
    for r in &all {
        if !r.maybe_deny.is_empty() {
            no_deny = Tri::Unknown;
        }
        missing.extend(r.unresolved.iter().cloned());
    }
    if key.is_none() || identity.is_none() || inputs.permissions_boundary == Boundary::Unknown {
        // A policy we cannot see might hold an explicit deny.
        no_deny = no_deny.and(Tri::Unknown);
    }

    // 4. Key policy: direct grants vs delegation to the account.
    let (id_tri, id_refs) = match &identity {
        Some(rs) => allow_tri(rs),
        None => (Tri::Unknown, Vec::new()),
    };
    let (bd_tri, bd_refs) = match (&inputs.permissions_boundary, &boundary) {
        (Boundary::NoBoundary, _) => (Tri::True, Vec::new()),
        (Boundary::Attached(_), Some(b)) => allow_tri(std::slice::from_ref(b)),
        _ => (Tri::Unknown, Vec::new()),
    };
    // Grants to a user ARN or a role-session ARN are not limited by the
    // boundary (same account); grants to a role ARN (and, conservatively,
    // wildcard grants) are.
    let needs_boundary = |m: Option<PrincipalMatch>| {
        !matches!(m, Some(PrincipalMatch::User | PrincipalMatch::Session))
    };
    let (mut key_direct, mut key_account, mut direct_path) =
        (Tri::Unknown, Tri::Unknown, Tri::Unknown);
    let mut direct_refs = Vec::new();
    let mut direct_bd_refs = false;
    let mut account_refs = Vec::new();
    if let Some(k) = &key {
        key_direct = Tri::False;
        key_account = Tri::False;
        direct_path = Tri::False;
        for (a, t) in k
            .allow
            .iter()
            .map(|a| (a, Tri::True))
            .chain(k.maybe_allow.iter().map(|a| (a, Tri::Unknown)))
        {
            if a.principal_match == Some(PrincipalMatch::Account) || a.principal_match.is_none() {
                key_account = key_account.or(t);
                if t == Tri::True {
                    account_refs.push(a.clone());
                }
            }
            if a.principal_match != Some(PrincipalMatch::Account) {
                key_direct = key_direct.or(t);
                let bd = if needs_boundary(a.principal_match) {
                    bd_tri
                } else {
                    Tri::True
                };
                let path = t.and(bd);
                if path == Tri::True && direct_path != Tri::True {
                    direct_refs.insert(0, a.clone());
                    direct_bd_refs = needs_boundary(a.principal_match);
                } else if t == Tri::True {
                    direct_refs.push(a.clone());
                }
                direct_path = direct_path.or(path);
            }
        }
    }

    let gate = no_deny.and(state_ok).and(scp_tri).and(rcp_tri);
    let (result, deciding) = if req.same_account() {
        let direct = direct_path;
        let delegated = key_account.and(id_tri).and(bd_tri);
        let result = gate.and(direct.or(delegated));
        let mut deciding = Vec::new();
        if direct == Tri::True {
            deciding.extend(direct_refs.first().cloned());
            if direct_bd_refs {
                deciding.extend(bd_refs.iter().cloned());
            }
        } else if delegated == Tri::True {
            deciding.extend(account_refs.iter().cloned());
            deciding.extend(id_refs.iter().cloned());
            deciding.extend(bd_refs.iter().cloned());
        }
        (result, deciding)
    } else {
        notes.push(format!(
            "cross-account request: principal account {} ≠ key account {}; the key policy and an identity policy must both allow",
            req.principal_account, req.resource_account
        ));
        let key_any = key_direct.or(key_account);
        let result = gate.and(key_any).and(id_tri).and(bd_tri);
        let mut deciding = direct_refs.clone();
        deciding.extend(account_refs.iter().cloned());
        deciding.extend(id_refs.iter().cloned());
        deciding.extend(bd_refs.iter().cloned());
        (result, deciding)
    };

    let verdict = match result {
        Tri::True => Verdict::Allowed { deciding },
        Tri::Unknown => {
            dedup(&mut missing);
            Verdict::Unknown { missing }
        }
        Tri::False => {
            let reason = if scp_tri == Tri::False {
                DenyReason::ServiceControlPolicyMissing
            } else if rcp_tri == Tri::False {
                DenyReason::ResourceControlPolicyMissing
            } else if key_direct == Tri::False && key_account == Tri::False {
                DenyReason::KeyPolicyMissing
            } else if req.same_account() && key_direct == Tri::True && direct_path == Tri::False {
                DenyReason::PermissionsBoundaryMissing
            } else if id_tri == Tri::False && (key_account != Tri::False || !req.same_account()) {
                DenyReason::IdentityPolicyMissing
            } else if bd_tri == Tri::False {
                DenyReason::PermissionsBoundaryMissing
            } else {
                // Only reachable if every conjunct is True/Unknown, which
                // cannot yield False; keep a sensible answer anyway.
                DenyReason::KeyPolicyMissing
            };
            let mut deciding = direct_refs;
            deciding.extend(account_refs);
            deciding.extend(id_refs);
            Verdict::Denied { reason, deciding }
        }
    };
    CreateGrantReport {
        verdict,
        not_evaluated,
        notes,
    }
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|s| seen.insert(s.clone()));
}
