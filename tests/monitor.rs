//! `hardrun monitor`, run as a user runs it: a real monitor process beside real containers. Its
//! events are read from its stdout (one JSON line each), its metrics from its HTTP endpoint and
//! checked by `promtool check metrics`; a restart must lose and repeat nothing.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::monitor::{is, promtool_check, refuse, sample, Monitor};
use common::*;
use serde_json::{json, Value};

#[test]
fn policy_events_are_printed_once_and_a_restart_loses_and_repeats_nothing() {
    let w = World::new("mon-policy");
    let state = w.dir.join("monitor/state.json");
    let m = Monitor::start(&w, &state, &[]);

    refuse(&w, "bad1");
    let b = w.bundle("ok", &["sleep", "1000"]);
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "ok1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = w.hr(&["exec", "ok1", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // exec into a restricted container asking for a looser profile: not applied, a loosening
    // attempt
    let b = w.bundle("strict", &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "strict1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = w.hr(&["--profile", "permissive", "exec", "strict1", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("not applied"), "{}", stderr(&out));

    let got = m.until("loosening-refused", |v| {
        is(v, "loosening-refused", "strict1")
    });
    let refusal = got
        .iter()
        .find(|v| is(v, "refusal", "bad1"))
        .unwrap_or_else(|| panic!("no refusal of bad1: {got:#?}"));
    assert_eq!(refusal["severity"], "medium");
    assert_eq!(refusal["profile"], "restricted");
    assert_eq!(refusal["details"]["rule"], "privileged");
    assert_eq!(refusal["details"]["command"], "create");
    assert!(
        refusal["message"].as_str().unwrap().contains("bad1"),
        "{refusal}"
    );
    for k in [
        "time",
        "kind",
        "severity",
        "container",
        "profile",
        "message",
        "details",
    ] {
        assert!(refusal.get(k).is_some(), "{k} missing: {refusal}");
    }
    let exec = got
        .iter()
        .find(|v| is(v, "exec", "ok1"))
        .unwrap_or_else(|| panic!("no exec into ok1: {got:#?}"));
    assert_eq!(exec["severity"], "low");
    assert_eq!(exec["profile"], "permissive");
    let loosening = got.last().unwrap();
    assert_eq!(loosening["severity"], "high");
    assert!(
        loosening["message"]
            .as_str()
            .unwrap()
            .contains("not applied"),
        "{loosening}"
    );
    // the allowed create is no event
    assert!(!got.iter().any(|v| is(v, "refusal", "ok1")), "{got:#?}");

    // metrics: the events counted, the running container by profile; promtool finds them clean
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let t = m.scrape();
        if sample(&t, "hardrun_containers_running{profile=\"permissive\"}") == Some(1.0)
            || Instant::now() > deadline
        {
            break t;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        sample(
            &text,
            "hardrun_security_events_total{kind=\"refusal\",severity=\"medium\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "hardrun_containers_running{profile=\"permissive\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "hardrun_audit_chain_intact"),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains("hardrun_container_cis_score_ratio{container=\"ok1\",profile=\"permissive\",level=\"1\"}"),
        "{text}"
    );
    assert!(
        text.contains("hardrun_findings_total{rule=\"privileged\",action=\"deny\""),
        "{text}"
    );
    promtool_check(&text);

    // stopped: what happens meanwhile is reported after the restart, and nothing twice
    m.stop();
    refuse(&w, "bad2");
    let m = Monitor::start(&w, &state, &[]);
    refuse(&w, "bad3");
    let got = m.until("refusal of bad3", |v| is(v, "refusal", "bad3"));
    let kinds: Vec<(String, String)> = got
        .iter()
        .map(|v| {
            (
                v["kind"].as_str().unwrap().into(),
                v["container"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("refusal".to_owned(), "bad2".to_owned()),
            ("refusal".to_owned(), "bad3".to_owned())
        ],
        "{got:#?}"
    );
    m.stop();
    for id in ["ok1", "strict1"] {
        let out = w.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

#[test]
fn oom_kills_and_the_pids_limit_are_cgroup_events() {
    let w = World::new("mon-cgroup");
    let m = Monitor::start(&w, &w.dir.join("state.json"), &[]);
    // dd's 64 MiB buffer in a 16 MiB cgroup: the OOM killer kills dd, sh goes on
    let b = w.bundle_with(
        "oom",
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1000",
        ],
        |s| {
            s["linux"]["resources"]["memory"] = json!({"limit": 16 << 20});
        },
    );
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "oom1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = m.until("oom-kill", |v| is(v, "oom-kill", "oom1"));
    let oom = got.last().unwrap();
    assert_eq!(oom["severity"], "medium");
    assert_eq!(oom["profile"], "permissive");
    assert!(oom["details"]["oom_kill"].as_u64().unwrap() >= 1, "{oom}");
    // the kernel agrees
    let control = w.cgroup_read("memory", "oom1", "memory.oom_control");
    assert!(!control.contains("oom_kill 0"), "{control}");

    // forks past pids.max are refused and counted in pids.events
    let b = w.bundle_with(
        "pids",
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8; do sleep 1000 & done; sleep 1000",
        ],
        |s| {
            s["linux"]["resources"]["pids"] = json!({"limit": 4});
        },
    );
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "pids1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = m.until("pids-limit", |v| is(v, "pids-limit", "pids1"));
    assert_eq!(got.last().unwrap()["severity"], "medium");
    m.stop();
    for id in ["oom1", "pids1"] {
        let out = w.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

#[test]
fn a_process_in_a_containers_namespaces_outside_its_cgroup_is_one_critical_drift() {
    let w = World::new("mon-drift");
    let b = w.bundle("d", &["sleep", "1000"]);
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "d1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pid = w.state("d1")["pid"].as_i64().unwrap().to_string();
    let m = Monitor::start(&w, &w.dir.join("state.json"), &[]);
    // a host process joins the container's pid and mount namespaces, not its cgroup
    let mut intruder = Command::new("nsenter")
        .args(["-t", &pid, "-p", "-m", "--", "/bin/sleep", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut got = m.until("live-cgroup drift", |v| {
        is(v, "drift", "d1") && v["details"]["rule"] == "live-cgroup"
    });
    let d = got.last().unwrap();
    assert_eq!(d["severity"], "critical");
    assert_eq!(d["profile"], "permissive");
    assert!(d["message"].as_str().unwrap().contains("outside"), "{d}");
    // the monitor scans every 200ms: by the time a refusal made after a few scans is printed,
    // the drifts have been seen again, and none is printed again
    std::thread::sleep(Duration::from_millis(600));
    refuse(&w, "bad1");
    got.extend(m.until("refusal", |v| is(v, "refusal", "bad1")));
    let drifts: Vec<String> = got
        .iter()
        .filter(|v| v["kind"] == "drift")
        .map(|v| {
            let d = &v["details"];
            format!(
                "{} {} {} {}",
                d["rule"], d["field"], d["actual"], d["expected"]
            )
        })
        .collect();
    let mut unique = drifts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        drifts.len(),
        "a drift printed twice: {got:#?}"
    );
    // a restarted monitor remembers what it reported: the intruder is still there, and after a
    // few scans of the new monitor no drift of d1 is printed again
    m.terminate();
    let m = Monitor::start(&w, &w.dir.join("state.json"), &[]);
    std::thread::sleep(Duration::from_millis(800));
    refuse(&w, "bad2");
    let again: Vec<Value> = m
        .until("refusal", |v| is(v, "refusal", "bad2"))
        .into_iter()
        .filter(|v| is(v, "drift", "d1"))
        .collect();
    assert!(
        again.is_empty(),
        "drifts reported again after a restart: {again:#?}"
    );
    let _ = intruder.kill();
    let _ = intruder.wait();
    m.stop();
    let out = w.hr(&["delete", "--force", "d1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_monitor_follows_the_audit_log_across_rotation() {
    let w = World::new("mon-rotate");
    // every record rotates the log (a link record and the record start the new file)
    let cfg = w.dir.join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("audit_max_size = \"1k\"\naudit_keep = 20\n");
    std::fs::write(&cfg, text).unwrap();
    let state = w.dir.join("state.json");
    let m = Monitor::start(&w, &state, &[]);
    for id in ["r1", "r2", "r3"] {
        refuse(&w, id);
    }
    let got = m.until("refusal of r3", |v| is(v, "refusal", "r3"));
    let ids: Vec<&str> = got
        .iter()
        .map(|v| v["container"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r1", "r2", "r3"], "{got:#?}");
    let rotated = w.dir.join("audit.jsonl.2");
    assert!(rotated.exists(), "the log was not rotated");
    // (a restart across rotations: a_restart_after_rotations_during_the_downtime_…)
    let text = m.scrape();
    assert_eq!(
        sample(&text, "hardrun_audit_chain_intact"),
        Some(1.0),
        "{text}"
    );
    m.stop();
}

/// Limits the `resources` rule changed are visible outside the audit log (issue 18: what the
/// cluster asked for is not what runs): one `limit-changed` event per cgroup limit, a counter per
/// profile and resource, and the decisions by command, profile and decision.
#[test]
fn changed_limits_and_decisions_are_events_and_metrics() {
    let w = World::new("mon-limits");
    let state = w.dir.join("state.json");
    let m = Monitor::start(&w, &state, &[]);
    // 16 GiB asked, restricted's ceiling is 8 GiB; cpu and pids unset: defaulted
    let b = w.bundle_with("big", &["true"], |s| {
        s["linux"]["resources"] = json!({"memory": {"limit": 17179869184u64}});
    });
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "big1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = m.until("limit-changed pids of big1", |v| {
        is(v, "limit-changed", "big1") && v["details"]["resource"] == "pids.limit"
    });
    let mem = got
        .iter()
        .find(|v| is(v, "limit-changed", "big1") && v["details"]["resource"] == "memory.limit")
        .unwrap_or_else(|| panic!("no memory limit-changed event: {got:#?}"));
    assert_eq!(mem["severity"], "low", "{mem}");
    assert_eq!(mem["profile"], "restricted", "{mem}");
    assert_eq!(mem["details"]["set"], json!(8u64 << 30), "{mem}");
    refuse(&w, "big2");
    m.next("refusal of big2", |v| is(v, "refusal", "big2"));
    let text = m.scrape();
    promtool_check(&text);
    for (series, want) in [
        (
            "hardrun_decisions_total{command=\"run\",profile=\"restricted\",decision=\"allowed\"}",
            1.0,
        ),
        (
            "hardrun_decisions_total{command=\"create\",profile=\"restricted\",decision=\"denied\"}",
            1.0,
        ),
        (
            "hardrun_limits_changed_total{profile=\"restricted\",resource=\"memory.limit\"}",
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(want), "{series}\n{text}");
    }
    // the two decisions' times, from their records (runtime start -> decision)
    let recorded: Vec<f64> = w
        .audit()
        .iter()
        .filter(|r| r["id"] == "big1" || r["id"] == "big2")
        .filter_map(|r| r["decision_ms"].as_f64())
        .collect();
    assert_eq!(recorded.len(), 2, "decision_ms in both records");
    assert!(
        recorded.iter().all(|ms| *ms > 0.0 && *ms < 60_000.0),
        "{recorded:?}"
    );
    assert_eq!(
        sample(&text, "hardrun_policy_decision_seconds_count"),
        Some(2.0),
        "{text}"
    );
    let sum = sample(&text, "hardrun_policy_decision_seconds_sum").unwrap();
    let want: f64 = recorded.iter().sum::<f64>() / 1000.0;
    assert!((sum - want).abs() < 1e-6, "sum {sum} vs {want}");
    m.stop();
}

/// A monitor stopped (SIGTERM) while the log rotates (every record rotates it here) and started
/// again reports exactly what was written while it was down: nothing lost, nothing repeated.
#[test]
fn a_restart_after_rotations_during_the_downtime_loses_and_repeats_nothing() {
    let w = World::new("mon-rotate-restart");
    let cfg = w.dir.join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("audit_max_size = \"1k\"\naudit_keep = 20\n");
    std::fs::write(&cfg, text).unwrap();
    let state = w.dir.join("state.json");
    let m = Monitor::start(&w, &state, &[]);
    refuse(&w, "q1");
    m.next("refusal of q1", |v| is(v, "refusal", "q1"));
    // stopped as systemd stops it, right after the event (before this, a stop here repeated q1)
    m.terminate();
    for id in ["q2", "q3", "q4"] {
        refuse(&w, id);
    }
    let m = Monitor::start(&w, &state, &[]);
    refuse(&w, "q5");
    let got = m.until("refusal of q5", |v| is(v, "refusal", "q5"));
    let ids: Vec<&str> = got
        .iter()
        .filter(|v| v["kind"] == "refusal")
        .map(|v| v["container"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["q2", "q3", "q4", "q5"], "{got:#?}");
    m.stop();
}

#[test]
fn metrics_textfile_is_written_once_and_the_endpoint_stays_on_loopback() {
    let w = World::new("mon-textfile");
    refuse(&w, "t1");
    refuse(&w, "t2");
    let dir = w.dir.join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let out = w.hr(&["metrics", "--textfile", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["hardrun.prom"], "a temporary file left behind");
    let text = std::fs::read_to_string(dir.join("hardrun.prom")).unwrap();
    assert_eq!(
        sample(
            &text,
            "hardrun_security_events_total{kind=\"refusal\",severity=\"medium\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "hardrun_audit_chain_intact"),
        Some(1.0),
        "{text}"
    );
    promtool_check(&text);

    // a broken chain shows
    let log = w.dir.join("audit.jsonl");
    let t = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, t.replacen("\"t1\"", "\"tX\"", 1)).unwrap();
    let out = w.hr(&["metrics", "--textfile", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.join("hardrun.prom")).unwrap();
    assert_eq!(
        sample(&text, "hardrun_audit_chain_intact"),
        Some(0.0),
        "{text}"
    );

    // not a directory: one line naming it
    let missing = w.dir.join("nope");
    let out = w.hr(&["metrics", "--textfile", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        w.last_log_error()
            .unwrap()
            .contains("nope: not a directory"),
        "{:?}",
        w.last_log_error()
    );

    // a non-loopback metrics address is refused unless asked for
    let st = w.dir.join("st.json");
    let out = w
        .hr(&[
            "monitor",
            "--metrics-address",
            "0.0.0.0:0",
            "--state",
            st.to_str().unwrap(),
        ])
        .status;
    assert_eq!(out.code(), Some(1));
    assert!(
        w.last_log_error()
            .unwrap()
            .contains("0.0.0.0:0: not a loopback address"),
        "{:?}",
        w.last_log_error()
    );
    assert!(!st.exists(), "a refused monitor left its state file");
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    Some(resp.split_once("\r\n\r\n")?.1.to_owned())
}

#[test]
fn a_real_prometheus_scrapes_the_monitor() {
    let w = World::new("mon-prom");
    let m = Monitor::start(&w, &w.dir.join("state.json"), &[]);
    refuse(&w, "p1");
    m.until("refusal of p1", |v| is(v, "refusal", "p1"));
    let port = free_port();
    let cfg = w.dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: hardrun\n    static_configs:\n      - targets: ['{}']\n",
            m.addr
        ),
    )
    .unwrap();
    let web = format!("127.0.0.1:{port}");
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            w.dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is missing: apt-get install prometheus");
    let query = "/api/v1/query?query=hardrun_security_events_total%7Bkind%3D%22refusal%22%7D";
    let deadline = Instant::now() + Duration::from_secs(60);
    let value = loop {
        let v = http_get(&web, query)
            .and_then(|b| serde_json::from_str::<Value>(&b).ok())
            .and_then(|v| {
                v["data"]["result"][0]["value"][1]
                    .as_str()
                    .map(str::to_owned)
            });
        if v.is_some() || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let up = http_get(&web, "/api/v1/query?query=up");
    let _ = prom.kill();
    let _ = prom.wait();
    assert_eq!(value.as_deref(), Some("1"), "prometheus saw: {up:?}");
    m.stop();
}

/// The armed tripwires of a container (syscall -> errno), from the spec it runs with.
fn armed(w: &World, id: &str) -> Value {
    let spec: Value = serde_json::from_slice(
        &std::fs::read(w.root.join(id).join("bundle").join("config.json")).unwrap(),
    )
    .unwrap();
    let seccomp = &spec["linux"]["seccomp"];
    let socket = w.root.join(".tripwires.sock");
    assert_eq!(
        seccomp["listenerPath"],
        socket.to_str().unwrap(),
        "{seccomp}"
    );
    let meta: Value = serde_json::from_str(seccomp["listenerMetadata"].as_str().unwrap()).unwrap();
    meta["errno"].clone()
}

/// What `sh -c` prints, and whether it succeeded, for an exec into `id`.
fn exec_sh(w: &World, id: &str, script: &str) -> (bool, String) {
    let out = w.hr(&["exec", id, "sh", "-c", script]);
    (
        out.status.success(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

#[test]
fn a_tripwire_is_refused_as_before_reported_and_never_let_through_when_the_monitor_dies() {
    let w = World::new("mon-tripwire");
    let state = w.dir.join("monitor-state.json");
    let m = Monitor::start(&w, &state, &[]);
    // the init tries a mount whenever /tmp/go appears, and says how it went
    let b = w.bundle(
        "b",
        &[
            "sh",
            "-c",
            "while :; do if [ -f /tmp/go ]; then rm /tmp/go; mount -t tmpfs none /tmp >/tmp/out 2>&1; echo $? >>/tmp/out; fi; sleep 0.1; done",
        ],
    );
    w.run_detached("restricted", &b, "tw1");
    let errno = armed(&w, "tw1");
    assert_eq!(errno["mount"], 1, "mount armed with EPERM: {errno}");
    assert_eq!(errno["unshare"], 1, "unshare armed with EPERM: {errno}");
    // the create's record says so
    let rec = w
        .audit()
        .into_iter()
        .find(|r| r["id"] == "tw1" && r["decision"] == "allowed")
        .unwrap();
    assert!(
        rec["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["pointer"] == "/linux/seccomp/listenerPath"
                && f["message"].as_str().unwrap().contains("tripwires armed")),
        "{rec:#}"
    );

    // an exec'd process: refused exactly as without a monitor, and reported
    let (ok, text) = exec_sh(&w, "tw1", "unshare -U true");
    assert!(!ok && text.contains("Operation not permitted"), "{text}");
    let (ok, text) = exec_sh(&w, "tw1", "mount -t tmpfs none /tmp");
    assert!(!ok && text.contains("permission denied"), "{text}");
    for syscall in ["unshare", "mount"] {
        let got = m.until(syscall, |v| {
            is(v, "escalation-attempt", "tw1") && v["details"]["syscall"] == syscall
        });
        let ev = got.last().unwrap();
        assert_eq!(ev["severity"], "critical", "{ev}");
        assert_eq!(ev["profile"], "restricted", "{ev}");
        assert_eq!(ev["details"]["errno"], "EPERM", "{ev}");
        let pid = ev["details"]["pid"].as_u64().unwrap();
        assert!(pid > 1, "{ev}");
    }
    // the container's own process tree (its init's filter)
    let (ok, text) = exec_sh(&w, "tw1", "touch /tmp/go; sleep 1; cat /tmp/out");
    assert!(ok, "{text}");
    assert!(text.contains("permission denied"), "{text}");
    m.until("init's mount", |v| {
        is(v, "escalation-attempt", "tw1") && v["details"]["comm"] == "mount"
    });
    let text = m.scrape();
    promtool_check(&text);
    let n = sample(
        &text,
        "hardrun_security_events_total{kind=\"escalation-attempt\",severity=\"critical\"}",
    )
    .unwrap_or_else(|| panic!("no escalation-attempt counter:\n{text}"));
    assert!(n >= 3.0, "{n}\n{text}");
    assert!(
        sample(&text, "hardrun_tripwire_detection_seconds_count").unwrap_or(0.0) >= 3.0,
        "{text}"
    );

    // the monitor dies: nothing armed is let through. The container's processes get the
    // kernel's ENOSYS (no listener), a new exec gets the plain refusal it had before arming.
    m.stop();
    let (ok, text) = exec_sh(&w, "tw1", "mount -t tmpfs none /tmp");
    assert!(!ok && text.contains("permission denied"), "{text}");
    let (ok, text) = exec_sh(
        &w,
        "tw1",
        "touch /tmp/go; sleep 1; cat /tmp/out; grep -c ' /tmp tmpfs' /proc/mounts",
    );
    assert!(text.contains("Function not implemented"), "{ok} {text}");
    let init = w.state("tw1")["pid"].as_u64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    assert!(status.contains("Seccomp:\t2"), "{status}");
    let out = w.hr(&["delete", "--force", "tw1"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // without a monitor, a new container's filter has no tripwires at all
    let b2 = w.bundle("b2", &["sleep", "1000"]);
    w.run_detached("restricted", &b2, "tw2");
    let spec: Value = serde_json::from_slice(
        &std::fs::read(w.root.join("tw2").join("bundle").join("config.json")).unwrap(),
    )
    .unwrap();
    assert!(
        spec["linux"]["seccomp"].get("listenerPath").is_none(),
        "{}",
        spec["linux"]["seccomp"]
    );
    let (ok, text) = exec_sh(&w, "tw2", "mount -t tmpfs none /tmp");
    assert!(!ok && text.contains("permission denied"), "{text}");
    let out = w.hr(&["delete", "--force", "tw2"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
