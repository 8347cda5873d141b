//! `no-new-privileges` (CIS 5.26): `process.noNewPrivileges = true`.

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "the process cannot gain privileges through setuid binaries or file capabilities",
    severity: Severity::Medium,
    process: true,
    evaluate: Some(evaluate),
};

pub fn evaluate(spec: &Value, _profile: &Profile, _ctx: &RuleCtx) -> Vec<Proposal> {
    if spec.get("process").is_none()
        || spec
            .pointer("/process/noNewPrivileges")
            .and_then(Value::as_bool)
            == Some(true)
    {
        return vec![];
    }
    vec![Proposal::fix(
        "/process/noNewPrivileges",
        "process could gain privileges (setuid, file capabilities); noNewPrivileges set",
        vec![Edit::set("/process/noNewPrivileges", true)],
    )]
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        let p = profile("restricted");
        for spec in [
            json!({"process": {}}),
            json!({"process": {"noNewPrivileges": false}}),
        ] {
            assert_eq!(run(evaluate, &spec, &p).len(), 1);
            assert_eq!(
                fixed(evaluate, &spec, &p)["process"]["noNewPrivileges"],
                true
            );
        }
        assert!(run(evaluate, &json!({"process": {"noNewPrivileges": true}}), &p).is_empty());
    }
}
