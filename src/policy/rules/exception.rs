//! `exception`: an exception requested by annotation (`hardrun.dev/...`) that the profile does
//! not authorize. The engine decides it itself, before the rules run (`policy::exceptions`): each
//! unauthorized request is a finding of this rule, so it has no `evaluate`.

use super::Rule;
use crate::policy::registry::Severity;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "an exception requested by annotation that the profile does not authorize",
    severity: Severity::Medium,
    process: false,
    evaluate: None,
};
