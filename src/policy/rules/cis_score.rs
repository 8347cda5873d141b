//! `cis-score`: the gate. After every other rule, the spec's CIS Docker Benchmark score (at the
//! profile's `[compliance] level`) must reach `min_score` percent; below it the container is
//! refused, naming the controls that fail. Nothing can be rewritten here: the rules before it
//! are what lift a spec, so the proposal is always unfixable (enforce and deny both refuse).
//!
//! The score is of the spec as it will run: a spec without `linux.cgroupsPath` is scored with
//! the path the runtime gives it.

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx};
use crate::compliance::{self, Verdict, EXCEPTED};
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "after hardening, the spec's CIS Docker Benchmark score reaches the profile's min_score; below it the container is refused, naming the failing controls",
    severity: Severity::High,
    process: false,
    evaluate: Some(evaluate),
};

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    gate(spec, profile, ctx).0
}

/// The gate's proposals and the report they come from: the engine keeps the report as the
/// container's score, so a spec is scored once.
pub fn gate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> (Vec<Proposal>, compliance::Report) {
    let report = except_granted(score_as_run(spec, ctx.id, ctx.host), spec, ctx);
    let proposals = judge(&report, profile);
    (proposals, report)
}

fn judge(report: &compliance::Report, profile: &Profile) -> Vec<Proposal> {
    let cfg = &profile.compliance;
    let score = if cfg.level == 1 {
        &report.level1
    } else {
        &report.level2
    };
    if score.percent >= cfg.min_score {
        return vec![];
    }
    let failing: Vec<String> = report
        .controls
        .iter()
        .filter(|c| c.verdict == Verdict::Fail && c.level <= cfg.level)
        .map(|c| format!("{} ({})", c.id, c.reason))
        .collect();
    let excepted: Vec<&str> = report
        .controls
        .iter()
        .filter(|c| c.level <= cfg.level && c.reason.starts_with(EXCEPTED))
        .map(|c| c.id)
        .collect();
    let excepted = if excepted.is_empty() {
        String::new()
    } else {
        format!(
            "; not counted, failing only for a granted exception: {}",
            excepted.join(", ")
        )
    };
    vec![Proposal::refuse(
        "",
        format!(
            "CIS level {} score {}% ({} of {} controls) is below the profile's min_score {}%; failing: {}{excepted}",
            cfg.level,
            score.percent,
            score.passed,
            score.applicable,
            cfg.min_score,
            failing.join(", ")
        ),
    )]
}

/// A control the spec fails only because of what an authorized exception granted (a kube-system
/// pod's host IPC namespace and the host `/dev/shm` that comes with it, an allowed capability,
/// root, a writable root filesystem, a device class) does not count against the gate: the spec is
/// scored again as it would be without the grants, and a control that fails as run but passes
/// without them is not applicable, its reason naming the grant. Every other failure still counts,
/// and the exception itself is on record as the finding that granted it.
fn except_granted(report: compliance::Report, spec: &Value, ctx: &RuleCtx) -> compliance::Report {
    let Some((ungranted, grants)) = without_grants(spec, ctx.granted) else {
        return report;
    };
    let other = score_as_run(&ungranted, ctx.id, ctx.host);
    let mut changed = false;
    let controls = report
        .controls
        .into_iter()
        .map(|mut c| {
            let passes_without = other
                .controls
                .iter()
                .any(|o| o.id == c.id && o.verdict == Verdict::Pass);
            if c.verdict == Verdict::Fail && passes_without {
                c.verdict = Verdict::NotApplicable;
                c.reason = format!("{EXCEPTED}{} (granted: {})", c.reason, grants.join("; "));
                changed = true;
            }
            c
        })
        .collect();
    if changed {
        compliance::tally(controls)
    } else {
        compliance::Report { controls, ..report }
    }
}

/// `spec` without what `granted` allowed, and the grants that changed it; `None` when nothing
/// was granted that a control judges.
fn without_grants(spec: &Value, granted: &super::Granted) -> Option<(Value, Vec<String>)> {
    if !spec.is_object() {
        return None;
    }
    let mut s = spec.clone();
    let mut grants = vec![];
    if !granted.host_namespaces.is_empty() {
        let list = ensure_array(&mut s, "linux", "namespaces");
        for kind in &granted.host_namespaces {
            match list.iter_mut().find(|n| n["type"] == kind.as_str()) {
                Some(n) => {
                    if let Some(o) = n.as_object_mut() {
                        o.remove("path");
                    }
                }
                None => list.push(serde_json::json!({ "type": kind })),
            }
        }
        if granted.host_namespaces.iter().any(|k| k == "ipc") {
            // the host's IPC namespace comes with the host's /dev/shm (containerd's hostIPC,
            // docker --ipc host)
            if let Some(m) = s.get_mut("mounts").and_then(Value::as_array_mut) {
                m.retain(|m| !(m["source"] == "/dev/shm" && m["destination"] == "/dev/shm"));
            }
        }
        if super::userns::shares_host(granted).is_some() {
            // a host pid or ipc namespace rules out a user namespace of the container's own
            let list = ensure_array(&mut s, "linux", "namespaces");
            if !list.iter().any(|n| n["type"] == "user") {
                list.push(serde_json::json!({ "type": "user" }));
            }
            for key in ["uidMappings", "gidMappings"] {
                let m = ensure_array(&mut s, "linux", key);
                if m.is_empty() {
                    m.push(serde_json::json!({"containerID": 0, "hostID": 100000, "size": 65536}));
                }
            }
        }
        grants.push(format!(
            "host-namespaces {}",
            granted.host_namespaces.join(",")
        ));
    }
    if granted.allow_root && s.pointer("/process/user/uid").and_then(Value::as_u64) == Some(0) {
        if let Some(u) = s.pointer_mut("/process/user") {
            u["uid"] = 65534.into();
        }
        grants.push("allow-root".into());
    }
    if granted.writable_rootfs {
        if let Some(r) = s.get_mut("root").and_then(Value::as_object_mut) {
            r.insert("readonly".into(), true.into());
        }
        grants.push("writable-rootfs".into());
    }
    if !granted.capabilities.is_empty() {
        if let Some(sets) = s
            .pointer_mut("/process/capabilities")
            .and_then(Value::as_object_mut)
        {
            for set in sets.values_mut() {
                if let Some(a) = set.as_array_mut() {
                    a.retain(|c| {
                        !granted
                            .capabilities
                            .iter()
                            .any(|g| c.as_str() == Some(g.as_str()))
                    });
                }
            }
        }
        grants.push(format!(
            "allow-capabilities {}",
            granted.capabilities.join(",")
        ));
    }
    if !granted.device_classes.is_empty() {
        if let Some(d) = s
            .pointer_mut("/linux/devices")
            .and_then(Value::as_array_mut)
        {
            d.retain(|d| {
                let path = d["path"].as_str().unwrap_or("");
                let typ = d["type"].as_str().unwrap_or("");
                let major = d["major"].as_i64().unwrap_or(-1);
                !granted
                    .device_classes
                    .iter()
                    .any(|c| c.covers(path, typ, major))
            });
        }
        let names: Vec<&str> = granted
            .device_classes
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        grants.push(format!("device-class {}", names.join(",")));
    }
    (!grants.is_empty()).then_some((s, grants))
}

/// `spec[outer][key]` as an array, made (and `outer` made an object) where missing or not one.
fn ensure_array<'a>(spec: &'a mut Value, outer: &str, key: &str) -> &'a mut Vec<Value> {
    if !spec.get(outer).is_some_and(Value::is_object) {
        spec[outer] = serde_json::json!({});
    }
    let v = &mut spec[outer][key];
    if !v.is_array() {
        *v = Value::Array(vec![]);
    }
    v.as_array_mut().expect("made an array above")
}

/// The score of `spec` as the runtime will run it (its default cgroup path filled in).
pub fn score_as_run(spec: &Value, id: &str, host: &dyn super::Host) -> compliance::Report {
    let has_cgroup = spec
        .pointer("/linux/cgroupsPath")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    if has_cgroup || spec.get("linux").is_some_and(|l| !l.is_object()) {
        return compliance::score(spec, host);
    }
    let mut s = spec.clone();
    if let Some(obj) = s.as_object_mut() {
        let linux = obj
            .entry("linux")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(l) = linux.as_object_mut() {
            // the runtime always gives one (its path depends on the state root, which the
            // policy does not know; 5.25 only asks that there is one)
            l.insert(
                "cgroupsPath".into(),
                Value::String(crate::base::paths::default_cgroups_path(
                    std::path::Path::new(crate::base::paths::DEFAULT_ROOT),
                    id,
                )),
            );
        }
    }
    compliance::score(&s, host)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../../tests/fixtures/containerd-spec.json")).unwrap()
    }

    #[test]
    fn gate_table() {
        let mut low = profile("restricted");
        // containerd's spec as given scores 65 % at level 1
        for (min, level, refused) in [
            (85.0, 1, true),
            (65.0, 1, false),
            (66.0, 1, true),
            (0.0, 2, false),
        ] {
            low.compliance.min_score = min;
            low.compliance.level = level;
            let p = run(evaluate, &fixture(), &low);
            assert_eq!(p.len(), usize::from(refused), "min {min} level {level}");
            if refused {
                assert!(!p[0].fixable);
                let m = &p[0].message;
                assert!(m.starts_with("CIS level 1 score 65% (13 of 20 controls) is below the profile's min_score"), "{m}");
                assert!(m.contains("4.1 (the process runs as uid 0)"), "{m}");
                assert!(m.contains("5.29 (no pids limit)"), "{m}");
            }
        }
    }

    fn gate_granted(
        spec: &Value,
        granted: &super::super::Granted,
    ) -> (Vec<Proposal>, compliance::Report) {
        let annotations = Default::default();
        let ctx = RuleCtx {
            id: "t",
            annotations: &annotations,
            granted,
            host: &crate::policy::rules::TestHost,
            userns: None,
            sources: Sources::none(),
            tripwires: None,
        };
        gate(spec, &profile("restricted"), &ctx)
    }

    fn verdict<'a>(r: &'a compliance::Report, id: &str) -> (Verdict, &'a str) {
        let c = r.controls.iter().find(|c| c.id == id).unwrap();
        (c.verdict, c.reason.as_str())
    }

    #[test]
    fn controls_failing_only_for_a_granted_exception_are_not_counted() {
        use super::super::Granted;
        // a hostIPC pod's container: no ipc namespace, the host's /dev/shm bound writable
        let mut spec = fixture();
        spec["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "ipc");
        let shm = json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rw"]});
        spec["mounts"].as_array_mut().unwrap().push(shm);
        let (_, none) = gate_granted(&spec, &Granted::default());
        let ipc = Granted {
            host_namespaces: vec!["ipc".into()],
            ..Default::default()
        };
        let (refused, granted) = gate_granted(&spec, &ipc);
        for id in ["5.17", "5.6", "5.31"] {
            assert_eq!(verdict(&none, id).0, Verdict::Fail, "{id}");
            let (v, why) = verdict(&granted, id);
            assert_eq!(v, Verdict::NotApplicable, "{id}");
            assert!(why.starts_with("excepted: "), "{why}");
            assert!(why.ends_with("(granted: host-namespaces ipc)"), "{why}");
        }
        assert_eq!(
            verdict(&granted, "5.17").1,
            "excepted: no ipc namespace: the host's is shared (granted: host-namespaces ipc)"
        );
        // the rest still counts: uid 0 and the missing pids limit fail as before, and the gate
        // still refuses this spec, naming what it did not count
        for id in ["4.1", "5.29"] {
            assert_eq!(verdict(&granted, id).0, Verdict::Fail, "{id}");
        }
        assert_eq!(granted.level1.applicable, none.level1.applicable - 3);
        assert_eq!(granted.level1.passed, none.level1.passed);
        let m = &refused[0].message;
        assert!(
            m.ends_with("; not counted, failing only for a granted exception: 5.6, 5.17, 5.31"),
            "{m}"
        );
        // a grant for another namespace excepts nothing here
        let net = Granted {
            host_namespaces: vec!["network".into()],
            ..Default::default()
        };
        assert_eq!(
            verdict(&gate_granted(&spec, &net).1, "5.17").0,
            Verdict::Fail
        );
        // another writable sensitive bind still fails 5.6 under the ipc grant
        spec["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/host-etc", "type": "bind", "source": "/etc", "options": ["rbind", "rw"]}),
        );
        let (_, r) = gate_granted(&spec, &ipc);
        let (v, why) = verdict(&r, "5.6");
        assert_eq!(v, Verdict::Fail);
        assert!(why.contains("/etc"), "{why}");
    }

    #[test]
    fn root_writable_rootfs_and_capability_grants_are_not_counted() {
        use super::super::Granted;
        let mut spec = fixture();
        spec["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_PTRACE"));
        spec["root"]["readonly"] = json!(false);
        let (_, none) = gate_granted(&spec, &Granted::default());
        for id in ["4.1", "5.4", "5.13"] {
            assert_eq!(verdict(&none, id).0, Verdict::Fail, "{id}");
        }
        let g = Granted {
            allow_root: true,
            writable_rootfs: true,
            capabilities: vec!["CAP_SYS_PTRACE".into()],
            ..Default::default()
        };
        let (_, r) = gate_granted(&spec, &g);
        for id in ["4.1", "5.4", "5.13"] {
            let (v, why) = verdict(&r, id);
            assert_eq!(v, Verdict::NotApplicable, "{id}");
            assert!(
                why.ends_with(
                    "(granted: allow-root; writable-rootfs; allow-capabilities CAP_SYS_PTRACE)"
                ),
                "{why}"
            );
        }
        // a capability beyond the granted one still fails 5.4
        spec["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_MODULE"));
        let (_, r) = gate_granted(&spec, &g);
        let (v, why) = verdict(&r, "5.4");
        assert_eq!(v, Verdict::Fail);
        assert!(why.ends_with("CAP_SYS_MODULE"), "{why}");
    }

    #[test]
    fn missing_cgroup_path_is_scored_as_the_runtime_sets_it() {
        let mut spec = fixture();
        spec["linux"].as_object_mut().unwrap().remove("cgroupsPath");
        let r = score_as_run(&spec, "c1", &crate::policy::rules::TestHost);
        let c = r.controls.iter().find(|c| c.id == "5.25").unwrap();
        assert_eq!(c.verdict, Verdict::Pass);
        assert_eq!(
            compliance::score(&json!({"linux": {}}), &crate::policy::rules::TestHost)
                .controls
                .iter()
                .find(|c| c.id == "5.25")
                .unwrap()
                .verdict,
            Verdict::Fail
        );
    }
}
