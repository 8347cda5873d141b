//! What the engine reports: one [`Finding`] per deviation from the profile.

use serde::{Deserialize, Serialize};

/// What a profile tells the engine to do about a rule's deviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// rewrite the spec and record the change
    Enforce,
    /// record what would change, leave the spec alone
    Audit,
    /// refuse the container, naming the rule
    Deny,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Enforce => "enforce",
            Action::Audit => "audit",
            Action::Deny => "deny",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// One deviation, as recorded in the audit log, the container's state directory and tracing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// rule code (see [`crate::policy::code`])
    pub code: String,
    /// CIS Docker Benchmark control(s) the rule serves
    pub cis: Vec<String>,
    pub severity: Severity,
    /// what was done: enforce (changed), audit (only recorded), deny (refused)
    pub action: Action,
    /// JSON pointer into the spec (or exec process / update resources)
    pub pointer: String,
    /// the value before (null when absent)
    pub before: serde_json::Value,
    /// the value after (for audit: what it would have been; null when removed)
    pub after: serde_json::Value,
    pub message: String,
}
