//! `capabilities` (CIS 5.4): every capability set is intersected with the profile's allowlist
//! plus what an authorized `hardrun.dev/allow-capabilities` grants; the ambient set is emptied.
//! The removed capabilities are named in the finding.

use serde_json::Value;

use super::{strings, Proposal, RuleCtx};
use crate::policy::edit::Edit;
use crate::profile::Profile;

const SETS: &[&str] = &[
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    if spec.get("process").is_none() {
        return vec![];
    }
    let allowed = |c: &str| {
        profile.capabilities.allow.iter().any(|a| a == c)
            || ctx.granted.capabilities.iter().any(|a| a == c)
    };
    let mut out = vec![];
    for set in SETS {
        let ptr = format!("/process/capabilities/{set}");
        if spec.pointer(&ptr).is_none() {
            continue;
        }
        let have = strings(spec, &ptr);
        let (keep, drop): (Vec<String>, Vec<String>) = if *set == "ambient" {
            (vec![], have.clone())
        } else {
            have.iter().cloned().partition(|c| allowed(c))
        };
        if drop.is_empty() {
            continue;
        }
        out.push(Proposal::fix(
            ptr.clone(),
            format!("{set} capabilities dropped: {}", drop.join(", ")),
            vec![Edit::set(ptr, keep)],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Granted;
    use super::*;
    use serde_json::json;

    fn docker() -> Value {
        let caps = json!(DOCKER_CAPS);
        json!({"process": {"capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": ["CAP_KILL"]}}})
    }

    #[test]
    fn table() {
        let out = fixed(evaluate, &docker(), &profile("restricted"));
        for set in ["bounding", "effective", "permitted", "inheritable"] {
            assert_eq!(
                out["process"]["capabilities"][set],
                json!(["CAP_NET_BIND_SERVICE"]),
                "{set}"
            );
        }
        assert_eq!(out["process"]["capabilities"]["ambient"], json!([]));
        let out = fixed(evaluate, &docker(), &profile("baseline"));
        assert_eq!(
            out["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            13,
            "NET_RAW dropped"
        );
        let r = run(evaluate, &docker(), &profile("baseline"));
        assert_eq!(r[0].message, "bounding capabilities dropped: CAP_NET_RAW");
        // ci-runner keeps none
        let out = fixed(evaluate, &docker(), &profile("ci-runner"));
        assert_eq!(out["process"]["capabilities"]["bounding"], json!([]));
        // a granted exception keeps its capability
        let g = Granted {
            capabilities: vec!["CAP_KILL".into()],
            ..Default::default()
        };
        let r = run_granted(evaluate, &docker(), &profile("restricted"), &g);
        let bounding = r.iter().find(|p| p.pointer.ends_with("bounding")).unwrap();
        assert!(!bounding.message.contains("CAP_KILL"));
        // absent sets stay absent
        assert!(run(
            evaluate,
            &json!({"process": {"args": ["sh"]}}),
            &profile("restricted")
        )
        .is_empty());
    }
}
