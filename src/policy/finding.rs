//! What the engine reports: one [`Finding`] per deviation from the profile.

use serde::{Deserialize, Serialize};

pub use crate::base::rule::{Action, Severity};

/// One deviation, as recorded in the audit log, the container's state directory and tracing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// rule code (see [`crate::base::rule`])
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
