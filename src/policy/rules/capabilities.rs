//! `capabilities` (CIS 5.4): every capability set is intersected with the profile's allowlist
//! plus what an authorized `hardrun.dev/allow-capabilities` grants; the ambient set is emptied,
//! except that a non-root process gets the profile's `ambient` capabilities that it keeps in its
//! bounding set (in its inheritable, permitted, effective and ambient sets): without them a
//! non-root process loses every capability at exec, so `CAP_NET_BIND_SERVICE` would be granted
//! and unusable. The removed (and raised) capabilities are named in the finding.

use serde_json::Value;

use super::{ALL_CAPS, Proposal, Rule, RuleCtx, strings};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "capability sets are limited to the profile's allowlist; no ambient capabilities",
    severity: Severity::High,
    process: true,
    evaluate: Some(evaluate),
};

/// The sets a root runtime leaves full when the spec omits them (inheritable and ambient start
/// empty).
const KERNEL_FILLS: &[&str] = &["bounding", "effective", "permitted"];

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
    // a set the spec leaves out is not empty: libcontainer then drops nothing, and the process
    // keeps every capability of the root runtime that started it
    let set_of = |set: &str| -> (bool, Vec<String>) {
        let ptr = format!("/process/capabilities/{set}");
        match spec.pointer(&ptr) {
            Some(_) => (true, strings(spec, &ptr)),
            None if KERNEL_FILLS.contains(&set) => {
                (false, ALL_CAPS.iter().map(|c| c.to_string()).collect())
            }
            None => (false, vec![]),
        }
    };
    let bounding = set_of("bounding").1;
    let raise: Vec<String> = if non_root {
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
        let (present, have) = set_of(set);
        if !present && !KERNEL_FILLS.contains(set) && raise.is_empty() {
            continue;
        }
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
        if !present && !drop.is_empty() {
            what.push(format!(
                "{set} capabilities missing (the process would keep all {} of the runtime's): only {} kept",
                ALL_CAPS.len(),
                if keep.is_empty() { "none".to_owned() } else { keep.join(", ") }
            ));
        } else if !drop.is_empty() {
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

    /// A spec without capabilities (or without some sets) is not a spec without capabilities:
    /// libcontainer then drops nothing, and the process keeps all of the root runtime's.
    #[test]
    fn missing_sets_are_the_runtimes_full_sets() {
        let bnd = json!(["CAP_NET_BIND_SERVICE"]);
        for (caps, uid) in [
            (None, 0),
            (None, 65534),
            (Some(json!({})), 0),
            (Some(json!({"bounding": ["CAP_NET_BIND_SERVICE"]})), 0),
            (Some(json!({"effective": [], "inheritable": []})), 65534),
        ] {
            let mut spec = json!({"process": {"user": {"uid": uid, "gid": uid}, "args": ["sh"]}});
            if let Some(c) = &caps {
                spec["process"]["capabilities"] = c.clone();
            }
            let out = fixed(evaluate, &spec, &profile("restricted"));
            for set in ["bounding", "permitted"] {
                assert_eq!(
                    out["process"]["capabilities"][set], bnd,
                    "{caps:?} {uid}: {set}"
                );
            }
            // effective: kept as given when present (an empty set stays empty for root) …
            let eff = &out["process"]["capabilities"]["effective"];
            if caps.as_ref().is_some_and(|c| c.get("effective").is_some()) && uid == 0 {
                assert_eq!(eff, &json!([]), "{caps:?}");
            } else {
                assert_eq!(eff, &bnd, "{caps:?} {uid}");
            }
            // … and the non-root process gets the profile's ambient capability to use it
            if uid != 0 {
                assert_eq!(out["process"]["capabilities"]["ambient"], bnd, "{caps:?}");
            }
        }
        let props = run(
            evaluate,
            &json!({"process": {"user": {"uid": 0, "gid": 0}}}),
            &profile("restricted"),
        );
        let bounding = props
            .iter()
            .find(|p| p.pointer == "/process/capabilities/bounding")
            .unwrap();
        assert_eq!(
            bounding.message,
            "bounding capabilities missing (the process would keep all 41 of the runtime's): only CAP_NET_BIND_SERVICE kept"
        );
        // a spec fragment without a process (an update) is not about capabilities
        assert!(run(evaluate, &json!({"linux": {}}), &profile("restricted")).is_empty());
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
        // absent sets are the runtime's full sets, not empty ones (see
        // missing_sets_are_the_runtimes_full_sets): restricted brings them down to its list
        let out = fixed(
            evaluate,
            &json!({"process": {"args": ["sh"]}}),
            &profile("restricted"),
        );
        assert_eq!(
            out["process"]["capabilities"]["bounding"],
            json!(["CAP_NET_BIND_SERVICE"])
        );
    }
}
