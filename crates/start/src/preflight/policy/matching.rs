//! Wildcard matching for actions, resources and ARNs.
//!
//! * Actions: case-insensitive, `*` and `?` wildcards (`kms:Create*`, `kms:*`, `*`).
//! * Resources / ARN operators: case-sensitive, `*` and `?` wildcards; when both
//!   sides are six-part ARNs each colon-separated part is matched on its own
//!   (the IAM User Guide's description of `ArnLike`).
//!
//! Patterns are sequences of [`Token`]s so that text substituted from policy
//! variables (and `${*}`, `${?}`) is always literal.

/// One element of a wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A literal character.
    Lit(char),
    /// `*`: any sequence of characters, including the empty one.
    Star,
    /// `?`: exactly one character.
    Question,
}

/// Turn pattern text into tokens, treating `*` and `?` as wildcards.
pub fn tokens(pattern: &str) -> Vec<Token> {
    pattern
        .chars()
        .map(|c| match c {
            '*' => Token::Star,
            '?' => Token::Question,
            other => Token::Lit(other),
        })
        .collect()
}

/// Render tokens back to text (wildcards as `*` / `?`), for equality operators.
pub fn render(toks: &[Token]) -> String {
    toks.iter()
        .map(|t| match t {
            Token::Lit(c) => *c,
            Token::Star => '*',
            Token::Question => '?',
        })
        .collect()
}

/// Match `text` against a token pattern. Linear-time greedy matcher with
/// single-star backtracking; never panics and has no recursion.
pub fn glob_tokens(pat: &[Token], text: &str, ignore_case: bool) -> bool {
    let t: Vec<char> = if ignore_case {
        text.chars().flat_map(char::to_lowercase).collect()
    } else {
        text.chars().collect()
    };
    let p: Vec<Token> = if ignore_case {
        pat.iter()
            .flat_map(|tok| match tok {
                Token::Lit(c) => c.to_lowercase().map(Token::Lit).collect::<Vec<_>>(),
                other => vec![other.clone()],
            })
            .collect()
    } else {
        pat.to_vec()
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match (p.get(pi), t.get(ti)) {
            (Some(Token::Star), _) => {
                star = Some((pi, ti));
                pi += 1;
            }
            (Some(Token::Question), Some(_)) => {
                pi += 1;
                ti += 1;
            }
            (Some(Token::Lit(a)), Some(b)) if a == b => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .map(|rest| rest.iter().all(|x| *x == Token::Star))
        .unwrap_or(true)
}

/// Match text against pattern text with `*` / `?` wildcards.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    glob_tokens(&tokens(pattern), text, ignore_case)
}

/// Does the action pattern (`kms:Create*`, `kms:*`, `*`) match `action`?
/// Case-insensitive, as IAM action names are.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    glob(pattern, action, true)
}

/// Split tokens on the first five `:` literals (ARN structure). Returns `None`
/// when the pattern has fewer than six parts.
fn split_arn_tokens(toks: &[Token]) -> Option<Vec<&[Token]>> {
    let mut parts = Vec::with_capacity(6);
    let mut start = 0usize;
    for (i, t) in toks.iter().enumerate() {
        if parts.len() == 5 {
            break;
        }
        if *t == Token::Lit(':') {
            parts.push(toks.get(start..i)?);
            start = i + 1;
        }
    }
    if parts.len() != 5 {
        return None;
    }
    parts.push(toks.get(start..)?);
    Some(parts)
}

/// Case-sensitive ARN match used by `ArnEquals`/`ArnLike` and by `Resource`.
///
/// When both the pattern and the value are six-part ARNs each part is matched
/// separately (so `*` does not run across a `:` in the first five parts);
/// otherwise the whole string is matched.
pub fn arn_matches_tokens(pat: &[Token], value: &str) -> bool {
    if pat == [Token::Star] {
        return true;
    }
    let value_parts: Vec<&str> = value.splitn(6, ':').collect();
    match split_arn_tokens(pat) {
        Some(pat_parts) if value_parts.len() == 6 => pat_parts
            .iter()
            .zip(value_parts.iter())
            .all(|(p, v)| glob_tokens(p, v, false)),
        _ => glob_tokens(pat, value, false),
    }
}

/// [`arn_matches_tokens`] for pattern text.
pub fn arn_matches(pattern: &str, value: &str) -> bool {
    arn_matches_tokens(&tokens(pattern), value)
}

/// A parsed ARN `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// Partition: `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// Service namespace, e.g. `iam`, `kms`, `sts`.
    pub service: String,
    /// Region; empty for global services.
    pub region: String,
    /// Account id.
    pub account: String,
    /// Resource part, e.g. `role/ops/scheduler` or `key/1234...`.
    pub resource: String,
}

impl Arn {
    /// Parse an ARN; `None` when the text is not six colon-separated parts
    /// starting with `arn`.
    pub fn parse(text: &str) -> Option<Arn> {
        let mut it = text.splitn(6, ':');
        let (arn, partition, service, region, account, resource) = (
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
        );
        if arn != "arn" || partition.is_empty() || service.is_empty() {
            return None;
        }
        Some(Arn {
            partition: partition.into(),
            service: service.into(),
            region: region.into(),
            account: account.into(),
            resource: resource.into(),
        })
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
    fn actions_case_insensitive_wildcards() {
        assert!(action_matches("kms:CreateGrant", "kms:CreateGrant"));
        assert!(action_matches("KMS:creategrant", "kms:CreateGrant"));
        assert!(action_matches("kms:Create*", "kms:CreateGrant"));
        assert!(action_matches("kms:*", "kms:CreateGrant"));
        assert!(action_matches("*", "kms:CreateGrant"));
        assert!(action_matches("kms:?reateGrant", "kms:CreateGrant"));
        assert!(!action_matches("kms:Decrypt", "kms:CreateGrant"));
        assert!(!action_matches("kms:Create", "kms:CreateGrant"));
        assert!(!action_matches("ec2:*", "kms:CreateGrant"));
        assert!(action_matches("kms:*Grant*", "kms:CreateGrant"));
    }

    #[test]
    fn resources_case_sensitive() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab";
        assert!(arn_matches("*", key));
        assert!(arn_matches("arn:aws:kms:*:111122223333:key/*", key));
        assert!(arn_matches("arn:aws:kms:us-east-?:111122223333:key/*", key));
        assert!(!arn_matches("arn:aws:kms:*:111122223333:KEY/*", key));
        assert!(!arn_matches("arn:aws:kms:*:444455556666:key/*", key));
        // `*` in the first five parts does not run across ':'.
        assert!(!arn_matches(
            "arn:aws:kms:us-east-1:*:key/k",
            "arn:aws:kms:us-east-1:1:2:key/k"
        ));
        assert!(glob(
            "arn:aws:kms:us-east-1:*:key/k",
            "arn:aws:kms:us-east-1:1:2:key/k",
            false
        ));
        // Short patterns fall back to whole-string matching.
        assert!(arn_matches("arn:aws:kms:*", key));
        assert!(arn_matches(
            "arn:aws:iam::111122223333:role/ops/*",
            "arn:aws:iam::111122223333:role/ops/scheduler"
        ));
        assert!(arn_matches(
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::111122223333:role/ops/scheduler"
        ));
    }

    #[test]
    fn glob_edge_cases() {
        assert!(glob("", "", false));
        assert!(!glob("", "a", false));
        assert!(glob("*", "", false));
        assert!(glob("**", "abc", false));
        assert!(glob("a*b*c", "aXXbYYc", false));
        assert!(!glob("a*b*c", "aXXbYY", false));
        assert!(!glob("?", "", false));
        assert!(glob("vol-*", "vol-0abc", false));
        assert!(glob("ÄB*", "äbc", true));
    }

    #[test]
    fn literal_tokens_are_not_wildcards() {
        let pat = vec![Token::Lit('a'), Token::Lit('*')];
        assert!(glob_tokens(&pat, "a*", false));
        assert!(!glob_tokens(&pat, "ab", false));
        assert_eq!(render(&pat), "a*");
    }

    #[test]
    fn arn_parse() {
        let a = Arn::parse("arn:aws-cn:iam::111122223333:role/a:b").unwrap();
        assert_eq!(a.partition, "aws-cn");
        assert_eq!(a.resource, "role/a:b");
        assert!(Arn::parse("111122223333").is_none());
        assert!(Arn::parse("arn:aws:iam").is_none());
        assert!(Arn::parse("nra:aws:iam::1:root").is_none());
    }
}
