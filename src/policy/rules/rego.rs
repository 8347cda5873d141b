//! `rego`: the company's policies in Rego (the profile's `[rego]` files, package `hardrun`). The
//! evaluation lives in `policy::rego` (the engine gives it the spec as given too, which a rule
//! function does not get); this file is the rule's registry entry.

use super::Rule;
use crate::policy::registry::Severity;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "the company's policies in Rego (the profile's [rego] files, package hardrun): each deny message refuses the container, each warn message is recorded",
    severity: Severity::High,
    process: false,
    evaluate: Some(crate::policy::rego::rule),
};
