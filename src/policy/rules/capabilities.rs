//! `capabilities` (CIS 5.4): every capability set is intersected with the profile's allowlist
//! plus what an authorized `hardrun.dev/allow-capabilities` grants; the ambient set is emptied,
//! except that a non-root process gets the profile's `ambient` capabilities that it keeps in its
//! bounding set (in its inheritable, permitted, effective and ambient sets): without them a
//! non-root process loses every capability at exec, so `CAP_NET_BIND_SERVICE` would be granted
//! and unusable. The removed (and raised) capabilities are named in the finding.

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
    // the profile's ambient capabilities, for a non-root process that keeps them in bounding
    let non_root = spec
        .pointer("/process/user/uid")
        .and_then(Value::as_u64)
        .is_some_and(|u| u != 0);
    let bounding = strings(spec, "/process/capabilities/bounding");
    let raise: Vec<String> = if non_root && spec.pointer("/process/capabilities").is_some() {
        profile
            .capabilities
            .ambient
            .iter()
            .filter(|c| allowed(c) && bounding.contains(c))
            .cloned()
            .collect()
    } else {
        vec![]
    };
    let mut out = vec![];
    for set in SETS {
        let ptr = format!("/process/capabilities/{set}");
        let present = spec.pointer(&ptr).is_some();
        if !present && (*set == "bounding" || raise.is_empty()) {
            continue;
        }
        let have = strings(spec, &ptr);
        let (mut keep, drop): (Vec<String>, Vec<String>) = if *set == "ambient" {
            have.iter().cloned().partition(|c| raise.contains(c))
        } else {
            have.iter().cloned().partition(|c| allowed(c))
        };
        let added: Vec<String> = if *set == "bounding" {
            vec![]
        } else {
            raise
                .iter()
                .filter(|c| !keep.contains(c))
                .cloned()
                .collect()
        };
        if drop.is_empty() && added.is_empty() {
            continue;
        }
        keep.extend(added.iter().cloned());
        let mut what = vec![];
        if !drop.is_empty() {
            what.push(format!("{set} capabilities dropped: {}", drop.join(", ")));
        }
        if !added.is_empty() {
            what.push(format!(
                "{set} capabilities raised for the non-root process: {}",
                added.join(", ")
            ));
        }
        out.push(Proposal::fix(
            ptr.clone(),
            what.join("; "),
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
        // a non-root process keeps restricted's ambient NET_BIND_SERVICE in every set
        let mut nonroot = docker();
        nonroot["process"]["user"] = json!({"uid": 65534, "gid": 65534});
        nonroot["process"]["capabilities"]
            .as_object_mut()
            .unwrap()
            .remove("inheritable");
        let out = fixed(evaluate, &nonroot, &profile("restricted"));
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            assert_eq!(
                out["process"]["capabilities"][set],
                json!(["CAP_NET_BIND_SERVICE"]),
                "{set}"
            );
        }
        let r = run(evaluate, &nonroot, &profile("restricted"));
        let amb = r.iter().find(|p| p.pointer.ends_with("ambient")).unwrap();
        assert_eq!(
            amb.message,
            "ambient capabilities dropped: CAP_KILL; ambient capabilities raised for the non-root process: CAP_NET_BIND_SERVICE"
        );
        // not without it in bounding, not for root, not where the profile has no ambient list
        let mut no_bind = nonroot.clone();
        no_bind["process"]["capabilities"]["bounding"] = json!(["CAP_KILL"]);
        let out = fixed(evaluate, &no_bind, &profile("restricted"));
        assert_eq!(out["process"]["capabilities"]["ambient"], json!([]));
        assert!(out["process"]["capabilities"].get("inheritable").is_none());
        let out = fixed(evaluate, &docker(), &profile("restricted"));
        assert_eq!(out["process"]["capabilities"]["ambient"], json!([]));
        let out = fixed(evaluate, &nonroot, &profile("baseline"));
        assert_eq!(out["process"]["capabilities"]["ambient"], json!([]));
        // absent sets stay absent
        assert!(run(
            evaluate,
            &json!({"process": {"args": ["sh"]}}),
            &profile("restricted")
        )
        .is_empty());
    }
}
