//! `rootfs` (CIS 5.13): `root.readonly = true`. `hardrun.dev/writable-rootfs`, where
//! authorized, keeps it writable.

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "the root filesystem is mounted read-only",
    severity: Severity::Medium,
    process: false,
    evaluate: Some(evaluate),
};

pub fn evaluate(spec: &Value, _profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    if ctx.granted.writable_rootfs || spec.get("root").is_none() {
        return vec![];
    }
    if spec.pointer("/root/readonly").and_then(Value::as_bool) == Some(true) {
        return vec![];
    }
    vec![Proposal::fix(
        "/root/readonly",
        "root filesystem is writable; made read-only",
        vec![Edit::set("/root/readonly", true)],
    )]
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Granted;
    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        let p = profile("restricted");
        for (spec, n) in [
            (json!({"root": {"path": "rootfs"}}), 1),
            (json!({"root": {"path": "rootfs", "readonly": false}}), 1),
            (json!({"root": {"path": "rootfs", "readonly": true}}), 0),
        ] {
            assert_eq!(run(evaluate, &spec, &p).len(), n);
            assert_eq!(
                fixed(evaluate, &spec, &p)["root"],
                json!({"path": "rootfs", "readonly": true})
            );
        }
        let g = Granted {
            writable_rootfs: true,
            ..Default::default()
        };
        assert!(run_granted(evaluate, &json!({"root": {"path": "r"}}), &p, &g).is_empty());
    }
}
