//! Agreement between commands: what `check` says about a spec is what `run` does with it, what
//! `check --running` calls "as given" is the caller's spec, and the audit log records every step
//! that changes a container.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// A world whose user namespace leases live in its own directory (never the host's pool).
struct Agree {
    w: World,
    alloc: PathBuf,
}

impl Agree {
    fn new(name: &str) -> Self {
        let w = World::new(name);
        let alloc = w.dir.join("userns");
        Agree { w, alloc }
    }

    fn hr(&self, args: &[&str]) -> Output {
        let mut c = self.w.hr_cmd(args);
        c.env("HARDRUN_USERNS_DIR", &self.alloc);
        output_via_files(c, &self.w.dir, Duration::from_secs(60))
    }

    /// `check --profile <profile> --bundle <b> --format json`: the one input's report.
    fn check(&self, profile: &str, b: &Path) -> Value {
        let out = self.hr(&[
            "check",
            "--profile",
            profile,
            "--bundle",
            b.to_str().unwrap(),
            "--format",
            "json",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("check {profile}: {e}: {}", stderr(&out)));
        v[0].clone()
    }
}

fn userns_messages(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["code"] == "userns")
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect()
}

/// `check --profile P` reaches the decision `run` under P reaches, for every built-in profile
/// and the spec shapes that touch the `userns` rule; check leases no range and says its range is
/// a placeholder, run maps the range it leased.
#[test]
fn check_decides_as_run_does_under_every_profile() {
    let a = Agree::new("agree-decide");
    // a container holding the pool's first range: run must lease another one
    let hold = a.w.bundle("hold", &["sleep", "60"]);
    let out = a.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        hold.to_str().unwrap(),
        "hold",
    ]);
    assert!(out.status.success(), "run -d hold: {}", stderr(&out));
    type Shape = (&'static str, fn(&mut Value));
    let shapes: &[Shape] = &[
        ("plain", |_| {}),
        ("user namespace without mappings", |s| {
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}))
        }),
        ("docker's ping_group_range", |s| {
            s["linux"]["sysctl"] = json!({"net.ipv4.ping_group_range": "0 2147483647"})
        }),
        ("host pid namespace", |s| {
            s["linux"]["namespaces"][0] = json!({"type": "pid", "path": "/proc/1/ns/pid"})
        }),
    ];
    let mut problems = vec![];
    for profile in ["restricted", "baseline", "ci-runner", "permissive"] {
        for (i, (shape, edit)) in shapes.iter().enumerate() {
            let b =
                a.w.bundle_with(&format!("b-{profile}-{i}"), &["true"], edit);
            let report = a.check(profile, &b);
            // "invalid": allowed by the policy, refused by libcontainer; either way it does not run
            let checked = match report["hardrun"]["decision"].as_str().unwrap() {
                "invalid" => "denied".to_owned(),
                d => d.to_owned(),
            };
            let id = format!("c-{profile}-{i}");
            let out = a.hr(&[
                "--profile",
                profile,
                "run",
                "--bundle",
                b.to_str().unwrap(),
                &id,
            ]);
            let _ = a.hr(&["delete", "-f", &id]);
            let ran = if out.status.success() {
                "allowed"
            } else {
                "denied"
            };
            // a disagreement this test does not fix, named so that fixing it fails here until it
            // is taken off the list: where the profile allows joining the host's pid namespace,
            // opening /proc/1/ns/pid can still fail (EACCES on a host whose pid 1 is not the
            // caller's to enter; runc 1.1.5 fails there the same way), which check, judging the
            // spec, cannot see
            let known = shape == &"host pid namespace" && profile == "permissive";
            if known {
                if checked == ran {
                    problems.push(format!(
                        "{profile}, {shape}: agrees now ({ran}): take it off the known list"
                    ));
                } else {
                    eprintln!(
                        "KNOWN DISAGREEMENT {profile}, {shape}: check {checked}, run {ran}: {}",
                        stderr(&out).trim()
                    );
                }
            } else if checked != ran {
                problems.push(format!(
                    "{profile}, {shape}: check {checked} ({}), run {ran} ({})",
                    report["hardrun"]["reason"],
                    stderr(&out).trim()
                ));
            }
            for m in userns_messages(&report["hardrun"]["findings"]) {
                if m.contains("mapped to host ids")
                    && !m.contains("placeholder")
                    && !m.contains("no host id range was allocated")
                {
                    problems.push(format!(
                        "{profile}, {shape}: check names a range it did not lease as if it were the container's: {m}"
                    ));
                }
            }
            if ran == "allowed" {
                let rec =
                    a.w.audit()
                        .into_iter()
                        .rev()
                        .find(|r| r["id"] == id.as_str())
                        .unwrap();
                for m in userns_messages(&rec["findings"]) {
                    let unleased = m.contains("no host id range was allocated");
                    if m.contains("placeholder")
                        || (m.contains("mapped to host ids 100000-") && !unleased)
                    {
                        problems.push(format!(
                            "{profile}, {shape}: run records the placeholder, not its lease: {m}"
                        ));
                    }
                }
            }
        }
    }
    let _ = a.hr(&["delete", "-f", "hold"]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `check --running`'s "as given" is the caller's spec as create got it (the state directory
/// keeps it), scored exactly as `check --bundle` scores that bundle; "as hardrun runs it" is
/// the hardened spec.
#[test]
fn check_running_scores_the_callers_spec_as_given() {
    let a = Agree::new("agree-given");
    // root, writable rootfs, no seccomp: restricted changes all of that
    let b = a.w.bundle_with("b", &["sleep", "60"], |s| {
        s["root"]["readonly"] = json!(false);
    });
    let bundle = a.check("restricted", &b);
    let out = a.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "g1",
    ]);
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    let out = a.hr(&["check", "--running", "--format", "json", "g1"]);
    let _ = a.hr(&["delete", "-f", "g1"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check --running: {e}: {}", stderr(&out)));
    let running = &v[0];
    let verdict = |r: &Value, id: &str| {
        r["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no control {id}: {r}"))["verdict"]
            .clone()
    };
    // the caller's spec runs as root with a writable rootfs: that is what it was given as
    assert_eq!(
        verdict(&running["given"], "4.1"),
        verdict(&bundle["given"], "4.1")
    );
    assert_eq!(
        running["given"], bundle["given"],
        "check --running scores the caller's spec as given, as check --bundle does"
    );
    assert_ne!(
        running["given"], running["hardened"],
        "restricted changed the spec: as given and as run cannot score the same"
    );
    assert_eq!(running["hardened"]["level1"], bundle["hardened"]["level1"]);
}

/// `features` and `check` say the same about AppArmor on this host: where `features` reports it
/// enabled, `check` judges CIS 5.2 (a spec naming a profile passes it); where `features` reports
/// it disabled, 5.2 is not applicable. Both follow what `create` does (libcontainer applies a
/// profile only where /sys/module/apparmor/parameters/enabled says Y).
#[test]
fn features_and_check_agree_about_apparmor() {
    let a = Agree::new("agree-apparmor");
    let out = a.hr(&["features"]);
    assert!(out.status.success(), "features: {}", stderr(&out));
    let features: Value = serde_json::from_slice(&out.stdout).unwrap();
    let claimed = features["linux"]["apparmor"]["enabled"]
        .as_bool()
        .unwrap_or_else(|| panic!("features has no linux.apparmor.enabled: {features}"));
    let host = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    eprintln!("apparmor on this host: {host}; features says {claimed}");
    assert_eq!(
        claimed, host,
        "features must report AppArmor as the host has it"
    );
    let b = a.w.bundle_with("b", &["true"], |s| {
        s["process"]["apparmorProfile"] = json!("hardrun-test");
    });
    let report = a.check("permissive", &b);
    let control = report["given"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "5.2")
        .unwrap()
        .clone();
    let judged = control["verdict"] != "not-applicable";
    assert_eq!(
        judged, claimed,
        "check judges 5.2 exactly where features says AppArmor is enabled: {control}"
    );
}

/// The audit log's records of container `id`: (command, decision).
fn steps(a: &Agree, id: &str) -> Vec<(String, String)> {
    a.w.audit()
        .into_iter()
        .filter(|r| r["id"] == id)
        .map(|r| {
            (
                r["command"].as_str().unwrap().to_owned(),
                r["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(c, d)| (c.to_string(), d.to_string()))
        .collect()
}

/// Every step that changes a container is in the audit log, and the log still verifies.
#[test]
fn the_audit_log_records_every_lifecycle_step() {
    let a = Agree::new("agree-steps");
    let b = a.w.bundle("b", &["sleep", "60"]);
    let ok = |args: &[&str]| {
        let out = a.hr(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    ok(&["create", "--bundle", b.to_str().unwrap(), "s1"]);
    ok(&["start", "s1"]);
    ok(&["pause", "s1"]);
    ok(&["resume", "s1"]);
    ok(&["exec", "s1", "true"]);
    ok(&["update", "--pids-limit", "100", "s1"]);
    ok(&["kill", "s1", "KILL"]);
    a.w.wait_status("s1", "stopped");
    ok(&["delete", "s1"]);
    assert_eq!(
        steps(&a, "s1"),
        pairs(&[
            ("create", "allowed"),
            ("start", "done"),
            ("pause", "done"),
            ("resume", "done"),
            ("exec", "allowed"),
            ("update", "allowed"),
            ("kill", "done"),
            ("delete", "done"),
        ])
    );
    // a step that fails is recorded as failed, with the error
    let out = a.hr(&["start", "s1"]);
    assert!(!out.status.success());
    let last = a.w.audit().pop().unwrap();
    assert_eq!(last["decision"], "failed", "{last}");
    assert!(
        last["reason"].as_str().unwrap().contains("s1"),
        "the reason names the container: {last}"
    );
    let log = a.w.dir.join("audit.jsonl");
    let out = a.hr(&["audit", "verify", log.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// A container allowed by the policy that then fails to start is recorded as failed, not left
/// looking like a container that ran.
#[test]
fn a_container_that_fails_after_allowed_is_recorded_as_failed() {
    let a = Agree::new("agree-failed");
    let b = a.w.bundle_with("b", &["true"], |s| {
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/x", "type": "nosuchfs", "source": "none"}));
    });
    let out = a.hr(&["run", "--bundle", b.to_str().unwrap(), "f1"]);
    assert!(!out.status.success(), "a mount of type nosuchfs cannot run");
    let _ = a.hr(&["delete", "-f", "f1"]);
    let recs: Vec<Value> =
        a.w.audit()
            .into_iter()
            .filter(|r| r["id"] == "f1" && r["command"] == "run")
            .collect();
    assert_eq!(
        recs.iter()
            .map(|r| r["decision"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["allowed", "failed"],
        "{recs:#?}"
    );
    let failed = &recs[1];
    assert_eq!(failed["profile"], "permissive", "{failed}");
    assert!(
        failed["reason"].as_str().is_some_and(|r| r.contains("f1")),
        "{failed}"
    );
}
