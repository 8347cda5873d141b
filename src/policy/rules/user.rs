//! `user` (CIS 4.1): the process runs as the profile's non-root uid and gid, and group 0 is not
//! among its supplementary groups. `hardrun.dev/allow-root`, where authorized, keeps root.

use serde_json::{json, Value};

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "the process runs as a non-root user and group, without supplementary group 0",
    severity: Severity::High,
    process: true,
    evaluate: Some(evaluate),
};

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    if ctx.granted.allow_root || spec.get("process").is_none() {
        return vec![];
    }
    let user = spec.pointer("/process/user").cloned().unwrap_or(json!({}));
    let uid = user.get("uid").and_then(Value::as_u64).unwrap_or(0);
    let gid = user.get("gid").and_then(Value::as_u64).unwrap_or(0);
    let mut out = vec![];
    if uid == 0 {
        out.push(Proposal::fix(
            "/process/user/uid",
            format!("process runs as uid 0; moved to uid {}", profile.user.uid),
            vec![Edit::set("/process/user/uid", profile.user.uid)],
        ));
    }
    if gid == 0 {
        out.push(Proposal::fix(
            "/process/user/gid",
            format!("process runs as gid 0; moved to gid {}", profile.user.gid),
            vec![Edit::set("/process/user/gid", profile.user.gid)],
        ));
    }
    if let Some(groups) = user.get("additionalGids").and_then(Value::as_array) {
        if groups.iter().any(|g| g.as_u64() == Some(0)) {
            let kept: Vec<Value> = groups
                .iter()
                .filter(|g| g.as_u64() != Some(0))
                .cloned()
                .collect();
            out.push(Proposal::fix(
                "/process/user/additionalGids",
                "supplementary group 0 removed",
                vec![Edit::set("/process/user/additionalGids", kept)],
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Granted;
    use super::*;

    #[test]
    fn table() {
        let p = profile("restricted");
        let cases = [
            (
                json!({"process": {"user": {"uid": 0, "gid": 0}}}),
                json!({"uid": 65534, "gid": 65534}),
                2,
            ),
            (
                json!({"process": {"user": {"uid": 1000, "gid": 1000}}}),
                json!({"uid": 1000, "gid": 1000}),
                0,
            ),
            (
                json!({"process": {"user": {"uid": 1000, "gid": 0}}}),
                json!({"uid": 1000, "gid": 65534}),
                1,
            ),
            (
                json!({"process": {"user": {"uid": 1000, "gid": 1000, "additionalGids": [0, 10]}}}),
                json!({"uid": 1000, "gid": 1000, "additionalGids": [10]}),
                1,
            ),
            // no user at all means root
            (
                json!({"process": {"args": ["sh"]}}),
                json!({"uid": 65534, "gid": 65534}),
                2,
            ),
        ];
        for (spec, want, n) in cases {
            assert_eq!(run(evaluate, &spec, &p).len(), n, "{spec}");
            assert_eq!(
                fixed(evaluate, &spec, &p)["process"]["user"],
                want,
                "{spec}"
            );
        }
        // no process (e.g. a spec fragment): nothing to judge
        assert!(run(evaluate, &json!({}), &p).is_empty());
        let granted = Granted {
            allow_root: true,
            ..Default::default()
        };
        assert!(run_granted(
            evaluate,
            &json!({"process": {"user": {"uid": 0, "gid": 0}}}),
            &p,
            &granted
        )
        .is_empty());
        let r = run(
            evaluate,
            &json!({"process": {"user": {"uid": 0, "gid": 5}}}),
            &p,
        );
        assert_eq!(r[0].message, "process runs as uid 0; moved to uid 65534");
    }
}
