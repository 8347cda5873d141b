//! The audit log says `allowed` only for a container that got into libcontainer (its init in its
//! namespaces, see docs/audit-log.md): a spec
//! the policy lets through but that a later stage of create refuses (the kernel's argument
//! limit, the host's limits, cgroup files the host cannot apply) is recorded once, as `failed`,
//! with the reason the caller read, never as `allowed` first.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// The audit records of container `id`.
fn records(w: &World, id: &str) -> Vec<Value> {
    w.audit().into_iter().filter(|r| r["id"] == id).collect()
}

/// `command` of `bundle` as `id` fails before libcontainer, names `why` on stderr, leaves
/// nothing behind, and is in the audit log as one `failed` record with that reason.
fn refused_before_libcontainer(w: &World, command: &str, bundle: &Path, id: &str, why: &str) {
    let out = w.hr(&[command, "--bundle", bundle.to_str().unwrap(), id]);
    assert!(!out.status.success(), "{command} {id}: expected a refusal");
    let err = stderr(&out);
    assert!(
        err.contains(why),
        "{command} {id}: stderr names {why:?}: {err}"
    );
    w.assert_nothing_left(id);
    let recs = records(w, id);
    let seen: Vec<(&str, &str)> = recs
        .iter()
        .map(|r| {
            (
                r["command"].as_str().unwrap_or_default(),
                r["decision"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(command, "failed")],
        "{command} {id}: one record, failed, no allowed: {recs:#?}"
    );
    let r = &recs[0];
    assert!(
        r["reason"].as_str().is_some_and(|s| s.contains(why)),
        "the record says why: {r}"
    );
    assert_eq!(r["profile"], "permissive", "{r}");
    assert_eq!(r["mode"], "enforce", "{r}");
    assert_eq!(
        r["bundle"],
        bundle.canonicalize().unwrap().to_str().unwrap(),
        "{r}"
    );
}

/// Whether this process (root, as the runtime it starts) lacks CAP_SYS_RESOURCE.
fn lacks_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    eff & (1 << 24) == 0
}

/// The hard RLIMIT_NOFILE of this process (the runtime inherits it).
fn own_nofile_hard() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(4).unwrap().parse().unwrap()
}

#[test]
fn a_create_refused_after_the_policy_is_recorded_as_failed_not_allowed() {
    let w = World::new("audit-order");

    // one environment variable above the kernel's limit for one execve string
    let big = w.bundle_with("e2big", &["true"], |s| {
        s["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(format!("BIG={}", "x".repeat(200_000))));
    });
    refused_before_libcontainer(&w, "create", &big, "ao1", "argument list too long");

    // a unified key that is not a cgroup file name (on cgroup v1: no unified key at all)
    let unified = w.bundle_with("unified", &["true"], |s| {
        s["linux"]["resources"]["unified"] = json!({"memory.high": "1g", "../x": "1"});
    });
    refused_before_libcontainer(&w, "run", &unified, "ao2", "linux.resources.unified");

    // a hard limit above the runtime's own, where the runtime cannot raise it
    if lacks_sys_resource() {
        let hard = own_nofile_hard() + 1;
        let rlimit = w.bundle_with("rlimit", &["true"], |s| {
            s["process"]["rlimits"] =
                json!([{"type": "RLIMIT_NOFILE", "hard": hard, "soft": 1024}]);
        });
        refused_before_libcontainer(&w, "create", &rlimit, "ao3", "RLIMIT_NOFILE hard limit");
    }

    // what reaches libcontainer is still recorded as allowed, and runs
    let ok = w.bundle("ok", &["true"]);
    let out = w.hr(&["run", "--bundle", ok.to_str().unwrap(), "ao4"]);
    assert!(out.status.success(), "run ao4: {}", stderr(&out));
    let seen: Vec<Value> = records(&w, "ao4")
        .iter()
        .map(|r| r["decision"].clone())
        .collect();
    assert_eq!(seen, [json!("allowed")]);

    let log = w.dir.join("audit.jsonl");
    let out = w.hr(&["audit", "verify", log.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// The (command, decision) pairs of container `id`'s records for `command`.
fn decisions(w: &World, id: &str, command: &str) -> Vec<String> {
    records(w, id)
        .iter()
        .filter(|r| r["command"] == command)
        .map(|r| r["decision"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn an_exec_or_update_refused_after_the_policy_is_recorded_as_failed_not_allowed() {
    let w = World::new("audit-order-running");
    let b = w.bundle("b", &["sleep", "1000"]);
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "ao5"]);
    assert!(out.status.success(), "run -d ao5: {}", stderr(&out));

    // a pid file in a directory that does not exist: runc refuses, so does hardrun
    let out = w.hr(&[
        "exec",
        "-d",
        "--pid-file",
        "/nonexistent-dir/exec.pid",
        "ao5",
        "true",
    ]);
    assert!(!out.status.success(), "exec with a bad pid file succeeded");
    assert!(
        stderr(&out).contains("/nonexistent-dir"),
        "{}",
        stderr(&out)
    );
    // an argument above the kernel's limit for one execve string
    // (in a process file: hardrun's own argv could not carry it)
    let big = w.dir.join("big.json");
    let process = json!({
        "args": ["echo", "x".repeat(200_000)],
        "cwd": "/",
        "env": ["PATH=/bin"],
        "user": {"uid": 0, "gid": 0},
    });
    std::fs::write(&big, process.to_string()).unwrap();
    let out = w.hr(&["exec", "-d", "--process", big.to_str().unwrap(), "ao5"]);
    assert!(!out.status.success(), "exec of a 200 KB argument succeeded");
    assert!(
        stderr(&out).contains("argument list too long"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        decisions(&w, "ao5", "exec"),
        ["failed", "failed"],
        "{:#?}",
        records(&w, "ao5")
    );

    // a unified key that is not a cgroup file name
    let res = w.dir.join("res.json");
    std::fs::write(&res, r#"{"unified": {"../x": "1"}}"#).unwrap();
    let out = w.hr(&["update", "--resources", res.to_str().unwrap(), "ao5"]);
    assert!(
        !out.status.success(),
        "update with a bad unified key succeeded"
    );
    assert!(stderr(&out).contains("unified"), "{}", stderr(&out));
    assert_eq!(decisions(&w, "ao5", "update"), ["failed"]);

    // what reaches libcontainer is recorded as allowed
    let out = w.hr(&["exec", "ao5", "true"]);
    assert!(out.status.success(), "exec true: {}", stderr(&out));
    assert_eq!(
        decisions(&w, "ao5", "exec"),
        ["failed", "failed", "allowed"]
    );
    let out = w.hr(&["delete", "--force", "ao5"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
