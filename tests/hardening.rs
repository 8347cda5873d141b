//! Real containers under the built-in profiles: what a user would check from inside the
//! container and on the host, and the record of every change.

mod common;

use std::fs;

use common::*;
use serde_json::{json, Value};

const PROBE: &str = r#"
echo "uid=$(id -u) gid=$(id -g)"
if touch /rootfs-write 2>/dev/null; then echo "root=writable"; else echo "root=readonly"; fi
if echo x > /tmp/probe 2>/dev/null; then echo "tmp=writable"; else echo "tmp=readonly"; fi
cp /bin/busybox /tmp/bb 2>/dev/null; if /tmp/bb true 2>/dev/null; then echo "tmp=exec"; else echo "tmp=noexec"; fi
grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\t' | sed 's/:/=/'
if mount -t tmpfs none /tmp 2>/dev/null; then echo "mount=ok"; else echo "mount=denied"; fi
"#;

fn probe_output(
    w: &World,
    profile: Option<&str>,
    id: &str,
) -> (
    std::collections::BTreeMap<String, String>,
    std::process::Output,
) {
    let b = w.bundle(&format!("b-{id}"), &["sh", "-c", PROBE]);
    let mut args = vec![];
    if let Some(p) = profile {
        args.extend(["--profile", p]);
    }
    args.extend(["run", "--bundle", b.to_str().unwrap(), id]);
    let out = w.hr(&args);
    let map = stdout(&out)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    (map, out)
}

#[test]
fn restricted_container_is_non_root_read_only_and_contained() {
    let w = World::new("restricted");
    let (p, out) = probe_output(&w, Some("restricted"), "r1");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p["uid"], "65534 gid=65534", "{p:?}");
    assert_eq!(p["root"], "readonly");
    assert_eq!(p["tmp"], "noexec", "{p:?}"); // the last tmp= line: writable, then noexec
    assert!(stdout(&out).contains("tmp=writable"));
    // only CAP_NET_BIND_SERVICE (bit 10) in the bounding set
    assert_eq!(p["CapBnd"], "0000000000000400");
    // uid 65534 keeps exactly that one capability usable, through the ambient set
    assert_eq!(p["CapEff"], "0000000000000400");
    assert_eq!(p["CapAmb"], "0000000000000400");
    assert_eq!(p["NoNewPrivs"], "1");
    assert_eq!(p["mount"], "denied");
    // hardrun's seccomp filter is in place (what it refuses is proven in the rule's unit tests:
    // from inside a container without capabilities, busybox cannot tell the filter's EPERM from
    // the kernel's)
    assert_eq!(p["Seccomp"], "2");

    // the record: the audit log names every deviation, the state dir keeps both specs
    let audit = w.audit();
    let last = audit.last().expect("an audit line");
    assert_eq!(last["decision"], "allowed");
    assert_eq!(last["id"], "r1");
    assert_eq!(last["command"], "run");
    assert_eq!(last["profile"], "restricted");
    assert_eq!(last["profile_sha256"].as_str().unwrap().len(), 64);
    let codes: Vec<&str> = last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    for c in [
        "user",
        "capabilities",
        "tmpfs",
        "resources",
        "paths",
        "seccomp",
    ] {
        assert!(codes.contains(&c), "{c} missing from {codes:?}");
    }
    let uid = last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["pointer"] == "/process/user/uid")
        .unwrap();
    assert_eq!(
        (
            uid["before"].clone(),
            uid["after"].clone(),
            uid["action"].clone()
        ),
        (json!(0), json!(65534), json!("enforce"))
    );
    assert_eq!(uid["cis"], json!(["4.1"]));
    // the same findings reached the caller's --log file
    let log = fs::read_to_string(w.log_path()).unwrap();
    assert!(
        log.contains("hardening: process runs as uid 0; moved to uid 65534"),
        "{log}"
    );
}

#[test]
fn restricted_limits_are_in_the_cgroup_and_the_spec_is_kept() {
    let w = World::new("limits");
    let b = w.bundle("b", &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "lim1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // the kernel's view of the init holds the whole profile
    w.assert_live("lim1");
    // (cgroup v1's memory.limit_in_bytes and cpu.cfs_quota_us; v2's memory.max and cpu.max)
    assert_eq!(w.cgroup_memory("lim1").0, 512u64 << 20);
    assert_eq!(w.cgroup_read("pids", "lim1", "pids.max"), "1024");
    assert_eq!(w.cgroup_cpu("lim1").0, 200000);
    let dir = w.root.join("lim1");
    let original: Value =
        serde_json::from_slice(&fs::read(dir.join("config.orig.json")).unwrap()).unwrap();
    let hardened: Value =
        serde_json::from_slice(&fs::read(dir.join("bundle/config.json")).unwrap()).unwrap();
    assert_eq!(original["process"]["user"]["uid"], 0);
    assert_eq!(hardened["process"]["user"]["uid"], 65534);
    let record: Value =
        serde_json::from_slice(&fs::read(dir.join("hardrun.json")).unwrap()).unwrap();
    assert_eq!(record["profile"], "restricted");
    assert!(!record["findings"].as_array().unwrap().is_empty());

    // exec is held to the same rules: no root, no extra capability
    let out = w.hr(&[
        "exec",
        "--user",
        "0:0",
        "--cap",
        "CAP_SYS_ADMIN",
        "lim1",
        "sh",
        "-c",
        "id -u; grep CapBnd /proc/self/status",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("65534\n"), "{text}");
    assert!(text.contains("0000000000000400"), "{text}");
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["command"], "exec");
    // and still does once the exec is over
    w.assert_live("lim1");
    assert!(w.hr(&["delete", "--force", "lim1"]).status.success());
    w.assert_nothing_left("lim1");
}

#[test]
fn a_host_namespace_is_refused_with_nothing_left() {
    let w = World::new("hostns");
    let b = w.bundle_with("b", &["true"], |s| {
        s["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
    });
    let out = w.hr(&[
        "--profile",
        "restricted",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "h1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("rule namespaces: network namespace /proc/1/ns/net is the host's"),
        "{err}"
    );
    assert_eq!(w.last_log_error().as_deref(), Some(err.trim_end()));
    w.assert_nothing_left("h1");
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "denied");
    assert_eq!(last["rule"], "namespaces");

    // --mode audit: a dry run. The container runs as asked (uid 0 here; the host namespace
    // above cannot be joined from this test's sandbox), the record says what would change.
    let b = w.bundle("b2", &["id", "-u"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "--mode",
        "audit",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "h2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0\n");
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "allowed");
    assert_eq!(last["mode"], "audit");
    let findings = last["findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["action"] == "audit"));
    let uid = findings
        .iter()
        .find(|f| f["pointer"] == "/process/user/uid")
        .unwrap();
    assert_eq!(
        (uid["before"].clone(), uid["after"].clone()),
        (json!(0), json!(65534))
    );
}

#[test]
fn permissive_runs_the_spec_as_given_and_records_it() {
    let w = World::new("permissive");
    let (p, out) = probe_output(&w, None, "p1");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(p["uid"], "0 gid=0");
    assert_eq!(
        p["Seccomp"], "0",
        "permissive changes nothing: no filter was asked for"
    );
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["profile"], "permissive");
    assert!(last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "user" && f["action"] == "audit"));
}

#[test]
fn bad_profiles_and_annotations_are_named() {
    let w = World::new("badprof");
    let b = w.bundle("b", &["true"]);
    let b_s = b.to_str().unwrap();
    let out = w.hr(&["--profile", "nosuch", "create", "--bundle", b_s, "x1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown profile \"nosuch\""),
        "{}",
        stderr(&out)
    );
    w.assert_nothing_left("x1");

    let prof = w.dir.join("profiles");
    fs::create_dir_all(&prof).unwrap();
    fs::write(
        prof.join("team.toml"),
        "name = \"team\"\n[capabilities]\nallow = [\"CAP_FLY\"]\n",
    )
    .unwrap();
    // a broken profile fails the containers that select it, and only those
    let out = w.hr(&["--profile", "team", "create", "--bundle", b_s, "x1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("team.toml: capabilities.allow[0]: unknown capability \"CAP_FLY\""),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    w.assert_nothing_left("x1");
    fs::remove_file(prof.join("team.toml")).unwrap();

    // a misspelled annotation, and a request the profile does not authorize
    for (id, key, want) in [
        ("x2", "hardrun.dev/allow-capabilitis", "unknown annotation hardrun.dev/allow-capabilitis"),
        (
            "x3",
            "hardrun.dev/allow-capabilities",
            "rule exception: annotation hardrun.dev/allow-capabilities: CAP_NET_ADMIN is not authorized by profile restricted",
        ),
    ] {
        let b = w.bundle_with(&format!("b-{id}"), &["true"], |s| s["annotations"] = json!({key: "NET_ADMIN"}));
        let out = w.hr(&["--profile", "restricted", "create", "--bundle", b.to_str().unwrap(), id]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1);
        w.assert_nothing_left(id);
    }
}

#[test]
fn an_authorized_exception_is_honoured_and_lint_reports_the_unused_one() {
    let w = World::new("exceptions");
    let prof = w.dir.join("profiles");
    fs::create_dir_all(&prof).unwrap();
    fs::write(
        prof.join("team.toml"),
        r#"name = "team"
[rules]
user = "enforce"
capabilities = "enforce"
exception = "deny"
[[exceptions]]
kind = "allow-root"
namespaces = ["team-a"]
comment = "the team's migration job"
[[exceptions]]
kind = "allow-capabilities"
values = ["NET_ADMIN"]
namespaces = ["net-*"]
"#,
    )
    .unwrap();
    // the namespace counts where containerd's CRI vouches for it (see tests/policy_binding.rs)
    let (b, root) = w.cri_bundle("e1", &["id", "-u"], |s| {
        s["annotations"] = json!({
            "io.kubernetes.cri.sandbox-namespace": "team-a",
            "hardrun.dev/allow-root": "true"
        })
    });
    let out = w.hr_in(
        &root,
        &[
            "--profile",
            "team",
            "run",
            "--bundle",
            b.to_str().unwrap(),
            "e1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0\n", "allow-root was authorized for team-a");
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["exceptions_used"], json!(["team#0"]));

    // the same request from another namespace is refused
    let b2 = w.bundle_with("b2", &["id", "-u"], |s| {
        s["annotations"] = json!({
            "io.kubernetes.cri.sandbox-namespace": "team-b",
            "hardrun.dev/allow-root": "true"
        })
    });
    let out = w.hr(&[
        "--profile",
        "team",
        "run",
        "--bundle",
        b2.to_str().unwrap(),
        "e2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not authorized by profile team for namespace \"team-b\""),
        "{}",
        stderr(&out)
    );
    w.assert_nothing_left("e2");

    let out = w.hr(&["profile", "lint"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("ok      team ("), "{report}");
    assert!(!report.contains("team: exceptions[0]"), "used: {report}");
    assert!(
        report.contains("unused  team: exceptions[1] (allow-capabilities [\"NET_ADMIN\"]"),
        "{report}"
    );
    let out = w.hr(&["profile", "list"]);
    assert!(stdout(&out).contains("team"), "{}", stdout(&out));
    let out = w.hr(&["profile", "show", "restricted"]);
    assert!(stdout(&out).starts_with("# restricted"), "{}", stdout(&out));
}

#[test]
fn audit_verify_checks_the_hash_chain() {
    let w = World::new("chain");
    let b = w.bundle("b", &["true"]);
    for id in ["a1", "a2", "a3"] {
        assert!(w
            .hr(&["run", "--bundle", b.to_str().unwrap(), id])
            .status
            .success());
    }
    let log = w.dir.join("audit.jsonl");
    let out = w.hr(&["audit", "verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "{}: 3 records, chain intact\n{}.head: record 3 anchored, the last\n",
            log.display(),
            log.display()
        )
    );
    assert_eq!(w.audit()[0]["prev"], "");

    // an edit of record 2 (its container id) fails that record's MAC
    let text = fs::read_to_string(&log)
        .unwrap()
        .replacen("\"id\":\"a2\"", "\"id\":\"zz\"", 1);
    fs::write(&log, text).unwrap();
    let out = w.hr(&["audit", "verify", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("record 2: its MAC does not verify"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn check_scores_a_bundle_as_given_and_as_hardened() {
    let w = World::new("check");
    let b = w.bundle("b", &["true"]);
    let b_s = b.to_str().unwrap();
    // restricted lifts the test spec over the 85 % gate
    let out = w.hr(&[
        "--profile",
        "restricted",
        "check",
        "--bundle",
        b_s,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("check --format json prints JSON");
    let r = &v[0];
    assert!(
        r["given"]["level1"]["percent"].as_f64().unwrap() < 85.0,
        "{r}"
    );
    assert!(
        r["hardened"]["level1"]["percent"].as_f64().unwrap() >= 85.0,
        "{r}"
    );
    assert_eq!(r["gate"]["passed"], true);
    let uid = r["hardened"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "4.1")
        .unwrap();
    assert_eq!(uid["verdict"], "pass");
    // permissive runs it as given: below the gate, exit 1; the text names the failing controls
    let out = w.hr(&["--profile", "permissive", "check", "--bundle", b_s]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("4.1    1   FAIL       FAIL"), "{text}");
    assert!(text.contains("gate (level 1 ≥ 85%): FAIL"), "{text}");
    // a lower gate lets it pass
    let out = w.hr(&[
        "--profile",
        "permissive",
        "check",
        "--bundle",
        b_s,
        "--min-score",
        "10",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // bad input: exit 2 and one line naming the file
    let out = w.hr(&["check", "--spec", "/nonexistent/config.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim_end(),
        "cannot read /nonexistent/config.json: No such file or directory (os error 2)"
    );
    // --running scores the stored, hardened specs
    let sleeper = w.bundle("s", &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        sleeper.to_str().unwrap(),
        "ck1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.assert_live("ck1");
    let out = w.hr(&["check", "--running"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("container ck1\n"),
        "{}",
        stdout(&out)
    );
    assert!(w.hr(&["delete", "--force", "ck1"]).status.success());
}

#[test]
fn check_sarif_is_sarif_2_1_0_with_hardrun_rule_ids() {
    let w = World::new("sarif");
    let b = w.bundle("b", &["true"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "check",
        "--bundle",
        b.to_str().unwrap(),
        "--format",
        "sarif",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "hardrun");
    let ids: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"user") && ids.contains(&"cis-4.1"), "{ids:?}");
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        // every result names a declared rule, a level and a location in the config file
        assert!(ids.contains(&r["ruleId"].as_str().unwrap()), "{r}");
        assert!(
            ["error", "warning", "note"].contains(&r["level"].as_str().unwrap()),
            "{r}"
        );
        assert!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("config.json")
        );
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
    }
    let uid = results
        .iter()
        .find(|r| {
            r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "/process/user/uid"
        })
        .unwrap();
    assert_eq!(uid["ruleId"], "user");
    assert_eq!(uid["properties"]["cis"], json!(["4.1"]));
}

/// A status line of a host process (`CapBnd`, `CapEff`, …), as the kernel shows it.
fn status_field(pid: i32, key: &str) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

/// A spec (or an exec'd process, in containerd's `exec --process FILE` shape) that leaves out
/// `process.capabilities` does not ask for none: libcontainer then drops nothing and the process
/// keeps every capability of the root runtime. Under `restricted` both doors hold only
/// CAP_NET_BIND_SERVICE, read from the host.
#[test]
fn a_process_without_a_capabilities_field_gets_the_profiles_set() {
    let w = World::new("nocaps");
    let b = w.bundle_with("b-nc1", &["sleep", "300"], |s| {
        s["process"].as_object_mut().unwrap().remove("capabilities");
    });
    let pid_file = w.dir.join("nc1.pid");
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--bundle",
        b.to_str().unwrap(),
        "nc1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(status_field(pid, "CapBnd"), "0000000000000400", "init");
    assert_eq!(status_field(pid, "CapEff"), "0000000000000400", "init");

    let proc_json = w.dir.join("process.json");
    let process = json!({
        "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
        "args": ["sleep", "300"], "env": ["PATH=/bin"]
    });
    fs::write(&proc_json, serde_json::to_vec(&process).unwrap()).unwrap();
    let exec_pid = w.dir.join("exec.pid");
    let out = w.hr(&[
        "exec",
        "--process",
        proc_json.to_str().unwrap(),
        "--detach",
        "--pid-file",
        exec_pid.to_str().unwrap(),
        "nc1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let epid: i32 = fs::read_to_string(&exec_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(status_field(epid, "CapBnd"), "0000000000000400", "exec");
    assert_eq!(status_field(epid, "CapPrm"), "0000000000000400", "exec");
    assert_ne!(
        status_field(epid, "Uid").split_whitespace().next(),
        Some("0")
    );
    let out = w.hr(&["delete", "--force", "nc1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
