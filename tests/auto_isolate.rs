//! Automatic isolation by `hardrun monitor` (issue 16): a container whose profile asks for it in
//! `[response] isolate_on` is isolated by the monitor itself when a matching event arrives, with
//! the same effects as `hardrun isolate` (read from the host: the freezer, the nftables table in
//! its network namespace, `exec` refused), an incident whose first-event and detected times come
//! from the event, an `isolated` event and the incident metrics; a container without the setting
//! is left alone by the same event.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::monitor::{is, promtool_check, sample, Monitor};
use common::{stderr, time_scale, World};
use serde_json::Value;

/// A world with its own incidents directory and a profile directory holding `restricted-auto`:
/// the built-in `restricted` with automatic isolation on critical events.
fn world(name: &str) -> World {
    let w = World::new(name);
    let profiles = w.dir.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let restricted = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/restricted.toml"),
    )
    .unwrap();
    let auto = restricted.replacen("name = \"restricted\"", "name = \"restricted-auto\"", 1);
    assert_ne!(
        auto, restricted,
        "restricted.toml names itself `name = \"restricted\"`"
    );
    std::fs::write(
        profiles.join("restricted-auto.toml"),
        format!("{auto}\n[response]\nisolate_on = \"critical\"\n"),
    )
    .unwrap();
    let cfg = w.dir.join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "incidents_dir = \"{}\"\nprofiles_dir = \"{}\"\n",
        w.dir.join("incidents").display(),
        profiles.display()
    ));
    std::fs::write(&cfg, text).unwrap();
    w
}

/// `run -d` of a container under `profile` whose init tries `unshare -U` (a tripwire: critical
/// `escalation-attempt`) once `/tmp/go` appears, then sleeps.
fn start(w: &World, id: &str, profile: &str) {
    let b = w.bundle(
        id,
        &[
            "sh",
            "-c",
            "while [ ! -e /tmp/go ]; do sleep 0.1; done; unshare -U true; exec sleep 1000",
        ],
    );
    w.run_detached(profile, &b, id);
}

fn trigger(w: &World, id: &str) {
    let out = w.hr(&["exec", id, "touch", "/tmp/go"]);
    assert!(out.status.success(), "exec {id}: {}", stderr(&out));
}

fn incidents(w: &World) -> Value {
    let out = w.hr(&["incident", "list", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_critical_event_isolates_a_container_whose_profile_asks_and_no_other() {
    let w = world("auto-iso");
    let m = Monitor::start(&w, &w.dir.join("monitor-state.json"), &[]);
    start(&w, "plain", "restricted");
    start(&w, "auto", "restricted-auto");

    // the same event in a container whose profile does not ask: reported, nothing more
    trigger(&w, "plain");
    let ev = m.next("plain's escalation", |v| {
        is(v, "escalation-attempt", "plain")
    });
    assert_eq!(ev["severity"], "critical", "{ev}");

    // in the one that asks: isolated by the monitor, within seconds
    let t0 = Instant::now();
    trigger(&w, "auto");
    let got = m.until("auto's isolation", |v| {
        is(v, "isolated", "auto") || is(v, "isolation-failed", "auto")
    });
    let took = t0.elapsed();
    let isolated = got.last().unwrap().clone();
    assert_eq!(isolated["kind"], "isolated", "{isolated:#}");
    assert!(
        took < Duration::from_secs(5 * u64::from(time_scale())),
        "isolation took {took:?}"
    );
    assert!(
        !got.iter().any(|v| v["container"] == "plain"
            && (v["kind"] == "isolated" || v["kind"] == "isolation-failed")),
        "{got:#?}"
    );
    let trig = got
        .iter()
        .find(|v| is(v, "escalation-attempt", "auto"))
        .expect("the triggering event comes first");
    assert_eq!(trig["profile"], "restricted-auto", "{trig}");
    assert_eq!(isolated["details"]["trigger"]["kind"], "escalation-attempt");
    assert_eq!(isolated["severity"], "high", "{isolated}");

    // the kernel's view, from the host: frozen; exec refused
    assert!(w.cgroup_frozen("auto"), "auto is not frozen");
    assert!(w.state("auto")["status"] == "paused", "{}", w.state("auto"));
    let out = w.hr(&["exec", "auto", "true"]);
    assert!(!out.status.success(), "exec into an isolated container ran");
    assert!(
        stderr(&out).contains("refused: the container is isolated"),
        "{}",
        stderr(&out)
    );
    assert!(
        w.dir.join("state/auto/isolated.json").exists(),
        "no isolation marker"
    );
    // and its network cut: the isolate table in the container's own network namespace
    let pid = w.state("auto")["pid"].as_i64().unwrap().to_string();
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-n", "nft", "list", "tables"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("table inet hardrun_isolate"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    // the other one runs on: not frozen, exec works
    assert!(!w.cgroup_frozen("plain"), "plain was frozen");
    let out = w.hr(&["exec", "plain", "true"]);
    assert!(out.status.success(), "exec plain: {}", stderr(&out));

    // the incident: first-event and detected from the event, then isolated; TTD and TTR
    let list = incidents(&w);
    let all = list["incidents"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{list:#}");
    let inc = &all[0];
    assert_eq!(inc["containerId"], "auto");
    assert_eq!(inc["profile"], "restricted-auto");
    assert_eq!(inc["status"], "open");
    let stages: Vec<&str> = inc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["first-event", "detected", "isolated"], "{inc:#}");
    let ttd = inc["timeToDetectSeconds"].as_f64().unwrap();
    let ttr = inc["timeToRespondSeconds"].as_f64().unwrap();
    assert!((0.0..5.0).contains(&ttd), "{inc:#}");
    assert!((0.0..5.0).contains(&ttr), "{inc:#}");
    assert_eq!(isolated["details"]["incident"], inc["id"]);
    assert_eq!(list["summary"]["timeToRespond"]["count"], 1);

    // the audit log: an isolate step, done
    assert!(
        w.audit()
            .iter()
            .any(|r| r["id"] == "auto" && r["command"] == "isolate" && r["decision"] == "done"),
        "no isolate record"
    );

    // the incident metrics, promtool-clean
    let text = m.scrape();
    promtool_check(&text);
    assert_eq!(sample(&text, "hardrun_incidents_open"), Some(1.0), "{text}");
    for h in [
        "hardrun_incident_time_to_detect_seconds_count",
        "hardrun_incident_time_to_respond_seconds_count",
    ] {
        assert_eq!(sample(&text, h), Some(1.0), "{h}\n{text}");
    }
    assert_eq!(
        sample(&text, "hardrun_auto_isolations_total{result=\"done\"}"),
        Some(1.0),
        "{text}"
    );

    // kill and delete still work on it
    let out = w.hr(&["delete", "--force", "auto"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.hr(&["delete", "--force", "plain"]);
    assert!(out.status.success(), "{}", stderr(&out));
    m.stop();
}

/// A container the monitor cannot isolate (it stopped before the monitor read the event): an
/// `isolation-failed` event (critical), the incident holds what was detected and when, and the
/// monitor goes on. The profile rates `exec` critical; the exec is read from the audit log by a
/// monitor restarted after the container was killed (it resumes where it stopped).
#[test]
fn a_failed_automatic_isolation_is_a_critical_event_not_a_crash() {
    let w = world("auto-iso-fail");
    let restricted = std::fs::read_to_string(w.dir.join("profiles/restricted-auto.toml")).unwrap();
    let exec_critical = restricted
        .replacen(
            "name = \"restricted-auto\"",
            "name = \"restricted-exec\"",
            1,
        )
        .replacen(
            "[response]",
            "[monitor.severity]\nexec = \"critical\"\n\n[response]",
            1,
        );
    std::fs::write(w.dir.join("profiles/restricted-exec.toml"), exec_critical).unwrap();
    let state = w.dir.join("monitor-state.json");
    Monitor::start(&w, &state, &[]).stop();

    let b = w.bundle("gone", &["sleep", "1000"]);
    w.run_detached("restricted-exec", &b, "gone");
    let out = w.hr(&["exec", "gone", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.hr(&["kill", "gone", "KILL"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.wait_status("gone", "stopped");

    let m = Monitor::start(&w, &state, &[]);
    let got = m.until("gone's isolation outcome", |v| {
        is(v, "isolated", "gone") || is(v, "isolation-failed", "gone")
    });
    let failed = got.last().unwrap();
    assert_eq!(failed["kind"], "isolation-failed", "{failed:#}");
    assert_eq!(failed["severity"], "critical", "{failed}");
    let msg = failed["message"].as_str().unwrap();
    assert!(
        msg.contains("automatic isolation on exec (critical) failed")
            && msg.contains("not running"),
        "{msg}"
    );
    let list = incidents(&w);
    let inc = &list["incidents"][0];
    assert_eq!(inc["containerId"], "gone", "{list:#}");
    let stages: Vec<&str> = inc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["first-event", "detected"], "{inc:#}");
    // first-event is the exec's audit record, detected is when the restarted monitor read it
    assert!(
        inc["timeToDetectSeconds"].as_f64().unwrap() > 0.0,
        "{inc:#}"
    );
    assert!(
        w.audit()
            .iter()
            .any(|r| r["id"] == "gone" && r["command"] == "isolate" && r["decision"] == "failed"),
        "no failed isolate record"
    );
    // the monitor lives on: a refusal is still reported
    common::monitor::refuse(&w, "after");
    m.next("a refusal after", |v| is(v, "refusal", "after"));
    let text = m.scrape();
    assert_eq!(
        sample(&text, "hardrun_auto_isolations_total{result=\"failed\"}"),
        Some(1.0),
        "{text}"
    );
    let out = w.hr(&["delete", "--force", "gone"]);
    assert!(out.status.success(), "{}", stderr(&out));
    m.stop();
}
