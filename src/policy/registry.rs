//! The engine's view of the rule registry: each line of [`crate::base::rule::registry!`] joined
//! with its rule file (`src/policy/rules/<file>.rs`, whose `RULE` says what the rule checks, its
//! severity, whether `exec` is held to it, and its `evaluate`). The engine, `hardrun check`'s
//! SARIF, `hardrun profile show` and the rule documentation all read [`RULES`]; there is no other
//! list of rules to keep in step.

pub use crate::base::rule::{codes, rules_for, ungated, Action, Severity, GATE};

use super::rules::{self, RuleFn};

/// A rule: its registry line (code, CIS tags) and its file's [`rules::Rule`].
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// kebab-case code, the key in a profile's `[rules]` table
    pub code: &'static str,
    pub description: &'static str,
    /// the CIS Docker Benchmark v1.6.0 controls a container passes because this rule is
    /// enforced at create (a finding's tags; a finding may carry a narrower subset)
    pub cis: &'static [&'static str],
    /// the controls it serves when it judges a process started by `exec` (5.23, 5.24)
    pub cis_exec: &'static [&'static str],
    pub severity: Severity,
    /// it looks at a process: `exec` is held to it ([`PROCESS_RULES`])
    pub process: bool,
    /// `None`: decided by the engine itself (`exception`)
    pub evaluate: Option<RuleFn>,
}

macro_rules! units {
    ($($file:ident: $code:literal, cis [$($cis:literal),*], exec [$($exec:literal),*];)*) => {
        /// Every rule, in the order the engine runs them (the registry's order).
        pub const RULES: &[RuleInfo] = &[$(RuleInfo {
            code: $code,
            description: rules::$file::RULE.description,
            cis: &[$($cis),*],
            cis_exec: &[$($exec),*],
            severity: rules::$file::RULE.severity,
            process: rules::$file::RULE.process,
            evaluate: rules::$file::RULE.evaluate,
        }),*];
    };
}
crate::base::rule::registry!(units);

pub fn info(code: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.code == code)
}

const fn process_count() -> usize {
    let (mut i, mut n) = (0, 0);
    while i < RULES.len() {
        if RULES[i].process {
            n += 1;
        }
        i += 1;
    }
    n
}

const PROCESS: [&str; process_count()] = {
    let mut out = [""; process_count()];
    let (mut i, mut n) = (0, 0);
    while i < RULES.len() {
        if RULES[i].process {
            out[n] = RULES[i].code;
            n += 1;
        }
        i += 1;
    }
    out
};

/// The rules that look at a process (`process: true` in their file), in registry order: `exec`
/// is held to them.
pub const PROCESS_RULES: &[&str] = &PROCESS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.code), "duplicate code {}", r.code);
            assert!(
                r.code.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                r.code
            );
            assert!(!r.description.is_empty());
        }
        let pos = |c: &str| RULES.iter().position(|r| r.code == c).unwrap();
        assert!(pos("privileged") < pos("capabilities"));
        assert!(pos("capabilities") < pos("seccomp"));
        // the gate scores the spec every other rule has finished with
        assert_eq!(RULES.last().unwrap().code, GATE);
        assert_eq!(ungated().len(), RULES.len() - 1);
    }
}
