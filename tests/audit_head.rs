//! The audit log's head outside the node (issue 16): `hardrun monitor` sends the head (last
//! sequence number, hash, MAC) to its sinks when it advances, so a truncation that also rolled
//! the node's head file back — which `audit verify` on the node cannot see — is proven from the
//! syslog or events-file copy with `audit verify --head FILE`.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::monitor::{is, refuse, Monitor};
use common::{stderr, stdout, time_scale, World};
use serde_json::Value;

/// The `audit-head` events in the events file.
fn heads(file: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "audit-head")
        .collect()
}

/// Waits for an `audit-head` event in the events file naming record `seq`.
fn wait_head(file: &std::path::Path, seq: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20 * u64::from(time_scale()));
    loop {
        if let Some(v) = heads(file).into_iter().find(|v| v["details"]["seq"] == seq) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "no audit-head event for record {seq}: {:#?}",
            heads(file)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn head_seq(w: &World) -> u64 {
    let h: Value =
        serde_json::from_slice(&std::fs::read(w.dir.join("audit.jsonl.head")).unwrap()).unwrap();
    h["seq"].as_u64().unwrap()
}

#[test]
fn a_truncation_the_node_cannot_see_is_proven_by_the_monitors_copy_of_the_head() {
    let w = World::new("audit-head");
    let file = w.dir.join("events.jsonl");
    let sock = w.dir.join("log.sock");
    let rx = UnixDatagram::bind(&sock).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    refuse(&w, "before");
    let m = Monitor::start(
        &w,
        &w.dir.join("monitor-state.json"),
        &[
            "--events-file",
            file.to_str().unwrap(),
            "--syslog",
            "--syslog-socket",
            sock.to_str().unwrap(),
        ],
    );
    // the head as the monitor found it
    let first = head_seq(&w);
    let ev = wait_head(&file, first);
    let first_line = ev["details"]["line"].as_str().unwrap().to_owned();
    assert_eq!(ev["severity"], "low", "{ev}");
    assert_eq!(ev["container"], "", "{ev}");

    // the attacker's snapshot: log and head as they are now
    let log = w.dir.join("audit.jsonl");
    let old_log = std::fs::read(&log).unwrap();
    let old_head = std::fs::read(w.dir.join("audit.jsonl.head")).unwrap();

    // more happens: the head advances, the monitor sends it
    refuse(&w, "covered-up");
    m.next("refusal", |v| is(v, "refusal", "covered-up"));
    let later = head_seq(&w);
    assert!(later > first);
    let ev = wait_head(&file, later);
    let line = ev["details"]["line"].as_str().unwrap().to_owned();
    assert_eq!(
        line.as_bytes(),
        std::fs::read(w.dir.join("audit.jsonl.head"))
            .unwrap()
            .trim_ascii_end(),
        "the event carries the head line as written"
    );
    // stdout (the security events) does not get it
    let text = m.scrape();
    assert!(
        !text.contains("kind=\"audit-head\""),
        "audit-head counted as a security event:\n{text}"
    );
    assert!(
        text.contains(&format!("hardrun_audit_head_sequence {later}\n")),
        "{text}"
    );
    // syslog got the same head, line included
    let mut from_syslog = None;
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = rx.recv(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains("kind=\"audit-head\"") && msg.contains(&format!("ends at record {later} "))
        {
            from_syslog = msg.split_once("head line: ").map(|(_, l)| l.to_owned());
            break;
        }
    }
    let from_syslog = from_syslog.expect("no audit-head message for the later head in syslog");
    assert_eq!(from_syslog, line);
    m.stop();

    // an older copy of the head than the log's end: not tampering, verify passes
    let older = w.dir.join("older-head.json");
    std::fs::write(&older, format!("{first_line}\n")).unwrap();
    let out = w.hr(&["audit", "verify", "--head", older.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // the cover-up: the log cut back to the snapshot, the old head put back. On the node, the
    // chain and its head agree: verify passes (the limit docs/audit-log.md names)
    std::fs::write(&log, &old_log).unwrap();
    std::fs::write(w.dir.join("audit.jsonl.head"), &old_head).unwrap();
    let out = w.hr(&["audit", "verify"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // the syslog copy of the head proves it
    let copy = w.dir.join("head-from-syslog.json");
    std::fs::write(&copy, format!("{from_syslog}\n")).unwrap();
    let out = w.hr(&["audit", "verify", "--head", copy.to_str().unwrap()]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("its head names record {later}")),
        "{text}"
    );
}
