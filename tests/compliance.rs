//! Compliance evidence with real containers: the CIS gate inside create/run, the score in the
//! audit record, the audit log on a full disk, rotation under concurrent creates, `audit show`
//! and `profile show --format markdown`.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A profile that hardens only some of what restricted does: the process stays root with a
/// writable rootfs and setuid binaries working, so hardening lifts [`lax_bundle`] to 80 % at
/// Level 1 (4.1, 5.13, 5.26 and 5.31 fail).
fn gated_profile(w: &World, min_score: f64) {
    let prof = w.dir.join("profiles");
    fs::create_dir_all(&prof).unwrap();
    fs::write(
        prof.join("gated.toml"),
        format!(
            r#"name = "gated"
[rules]
namespaces = "enforce"
capabilities = "enforce"
seccomp = "enforce"
resources = "enforce"
paths = "enforce"
cis-score = "deny"
[resources]
memory = "256m"
cpu_shares = 512
pids = 256
[compliance]
min_score = {min_score:.1}
"#
        ),
    )
    .unwrap();
}

/// runc's default spec with a writable rootfs and without no-new-privileges.
fn lax_bundle(w: &World, name: &str, args: &[&str]) -> std::path::PathBuf {
    w.bundle_with(name, args, |s| {
        s["root"]["readonly"] = serde_json::json!(false);
        s["process"]["noNewPrivileges"] = serde_json::json!(false);
    })
}

#[test]
fn the_gate_refuses_what_hardening_cannot_lift_and_min_score_lets_it_run() {
    let w = World::new("gate");
    gated_profile(&w, 85.0);
    let b = lax_bundle(&w, "b", &["id", "-u"]);
    let b_s = b.to_str().unwrap();
    let out = w.hr(&["--profile", "gated", "run", "--bundle", b_s, "g1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("rule cis-score: CIS level 1 score 80% (16 of 20 controls) is below the profile's min_score 85%"),
        "{err}"
    );
    for control in ["4.1 (", "5.13 (", "5.26 (", "5.31 ("] {
        assert!(err.contains(control), "{control}: {err}");
    }
    w.assert_nothing_left("g1");
    let last = w.audit().pop().unwrap();
    assert_eq!(last["decision"], "denied");
    assert_eq!(last["rule"], "cis-score");

    // the same spec under a lower gate runs, and its record carries the score
    gated_profile(&w, 80.0);
    let out = w.hr(&["--profile", "gated", "run", "--bundle", b_s, "g2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "0");
    let last = w.audit().pop().unwrap();
    assert_eq!(last["decision"], "allowed");
    assert_eq!(last["score"]["level1"], 80.0);
    assert_eq!(last["score"]["min_score"], 80.0);
    let failing: Vec<&str> = last["score"]["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(failing, ["4.1", "5.13", "5.26", "5.31"], "{last}");
    w.assert_nothing_left("g2");
}

#[test]
fn restricted_records_its_score_and_a_dry_run_scores_what_enforcing_would_run() {
    let w = World::new("score");
    let b = w.bundle("b", &["true"]);
    let b_s = b.to_str().unwrap();
    let out = w.hr(&["--profile", "restricted", "run", "--bundle", b_s, "s1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last = w.audit().pop().unwrap();
    // restricted enforces user namespaces too: no control fails (5.31 did while it audited them)
    assert_eq!(last["score"]["level1"], 100.0, "{last}");
    assert_eq!(last["score"]["failing"], serde_json::json!([]));

    // --mode audit changes nothing, so what runs scores low; the gate is judged on what
    // enforcing would run (100 %), so it does not even record a would-be refusal
    let out = w.hr(&[
        "--profile",
        "restricted",
        "--mode",
        "audit",
        "run",
        "--bundle",
        b_s,
        "s2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last = w.audit().pop().unwrap();
    assert!(last["score"]["level1"].as_f64().unwrap() < 85.0, "{last}");
    let codes: Vec<&str> = last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"user") && !codes.contains(&"cis-score"),
        "{codes:?}"
    );

    // a dry run of a profile whose gate would refuse: recorded as an audit finding, runs
    gated_profile(&w, 85.0);
    let b = lax_bundle(&w, "lax", &["true"]);
    let b_s = b.to_str().unwrap();
    let out = w.hr(&[
        "--profile",
        "gated",
        "--mode",
        "audit",
        "run",
        "--bundle",
        b_s,
        "s3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last = w.audit().pop().unwrap();
    let gate: Vec<&Value> = last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "cis-score")
        .collect();
    assert_eq!(gate.len(), 1, "{last}");
    assert_eq!(gate[0]["action"], "audit");
    // the gate is about the whole spec: no copy of it in the record
    assert!(
        gate[0]["before"].is_null() && gate[0]["after"].is_null(),
        "{}",
        gate[0]
    );
    assert!(gate[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("CIS level 1 score 80%"));
}

fn mount_tmpfs(dir: &Path, size: &str) {
    fs::create_dir_all(dir).unwrap();
    let st = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs on {}", dir.display());
}

fn umount(dir: &Path) {
    let _ = Command::new("umount").arg(dir).status();
}

#[test]
fn a_full_disk_refuses_the_container_and_keeps_the_log_whole() {
    let w = World::new("diskfull");
    let fsdir = w.dir.join("auditfs");
    mount_tmpfs(&fsdir, "256k");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            umount(self.0);
        }
    }
    let _guard = Unmount(&fsdir);
    let log = fsdir.join("audit.jsonl");
    fs::write(
        w.dir.join("config.toml"),
        format!(
            "default_profile = \"restricted\"\naudit_log = \"{}\"\n",
            log.display()
        ),
    )
    .unwrap();
    let b = w.bundle("b", &["true"]);
    let b_s = b.to_str().unwrap();
    let out = w.hr(&["run", "--bundle", b_s, "d1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = fs::read(&log).unwrap();
    assert!(before.len() > 1000 && before.len() % 4096 != 0);

    // fill the filesystem: the next record fits only part-way into the log's last page
    let filler = fsdir.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    let out = w.hr(&["run", "--bundle", b_s, "d2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot write the audit log {}", log.display()))
            && err.contains("No space left on device"),
        "{err}"
    );
    w.assert_nothing_left("d2");
    // no partial record: the log is byte for byte what it was
    assert_eq!(fs::read(&log).unwrap(), before);

    fs::remove_file(&filler).unwrap();
    let out = w.hr(&["run", "--bundle", b_s, "d3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = w.hr(&["audit", "verify"]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    assert!(
        stdout(&v).contains("2 records, chain intact"),
        "{}",
        stdout(&v)
    );
}

#[test]
fn concurrent_creates_with_rotation_keep_one_chain() {
    let w = World::new("concurrent");
    let log = w.dir.join("audit.jsonl");
    fs::write(
        w.dir.join("config.toml"),
        format!(
            "default_profile = \"restricted\"\naudit_log = \"{}\"\naudit_max_size = \"16k\"\naudit_keep = 100\n",
            log.display()
        ),
    )
    .unwrap();
    let b = w.bundle("b", &["true"]);
    let b_s = b.to_str().unwrap().to_owned();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let mut c = w.hr_cmd(&["run", "--bundle", &b_s, &format!("c{i}")]);
            let out = fs::File::create(w.dir.join(format!("c{i}.out"))).unwrap();
            c.stdout(out.try_clone().unwrap()).stderr(out);
            c.spawn().unwrap()
        })
        .collect();
    for (i, mut c) in children.into_iter().enumerate() {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                let out = fs::read_to_string(w.dir.join(format!("c{i}.out"))).unwrap();
                assert!(st.success(), "c{i}: {out}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "c{i} hangs");
            std::thread::sleep(Duration::from_millis(20));
        }
        w.assert_nothing_left(&format!("c{i}"));
    }
    // restricted records are ~4-5 KiB: 20 of them rotate several times
    let rotated: Vec<_> = (1..100)
        .map(|n| w.dir.join(format!("audit.jsonl.{n}")))
        .take_while(|p| p.exists())
        .collect();
    assert!(rotated.len() >= 3, "{rotated:?}");
    let v = w.hr(&["audit", "verify"]);
    assert_eq!(v.status.code(), Some(0), "{}{}", stdout(&v), stderr(&v));
    assert_eq!(
        stdout(&v).lines().count(),
        rotated.len() + 2, // the files and the head
        "{}",
        stdout(&v)
    );
    // every container's decision is there, once
    let show = w.hr(&["audit", "show", "--format", "json"]);
    assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
    let ids: Vec<String> = stdout(&show)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 20, "{ids:?}");
    for i in 0..20 {
        assert!(ids.contains(&format!("c{i}")), "c{i}: {ids:?}");
    }

    // one byte changed in the link record that starts a rotated file: its own MAC names it
    let file = &rotated[rotated.len() - 2];
    let mut text = fs::read(file).unwrap();
    let at = text.windows(9).position(|x| x == b"\"time\":\"2").unwrap();
    text[at + 8] = b'3';
    fs::write(file, &text).unwrap();
    let v = w.hr(&["audit", "verify"]);
    assert_eq!(v.status.code(), Some(1));
    assert!(
        stderr(&v).contains(&format!(
            "audit chain broken: {} (record 1)",
            file.display()
        )),
        "{}",
        stderr(&v)
    );
}

#[test]
fn audit_show_filters_and_profile_show_renders_the_policy() {
    let w = World::new("show");
    let b = w.bundle("b", &["true"]);
    let b_s = b.to_str().unwrap();
    for (id, profile) in [("a1", "restricted"), ("a2", "baseline")] {
        let out = w.hr(&["--profile", profile, "run", "--bundle", b_s, id]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{} {}",
            stderr(&out),
            fs::read_to_string(w.log_path()).unwrap_or_default()
        );
    }
    let hostnet = w.bundle_with("hn", &["true"], |s| {
        let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
        ns.push(serde_json::json!({"type": "network", "path": "/proc/1/ns/net"}));
    });
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "--bundle",
        hostnet.to_str().unwrap(),
        "a3",
    ]);
    assert_eq!(out.status.code(), Some(1));

    let show = w.hr(&["audit", "show", "--container", "a1"]);
    assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
    let text = stdout(&show);
    let head = text.lines().next().unwrap();
    assert!(
        head.contains("allowed run    a1  profile=restricted mode=enforce cis-l1=100.0%"),
        "{text}"
    );
    assert!(
        text.contains("    [enforce] user (CIS 4.1) /process/user/uid: "),
        "{text}"
    );
    assert!(!text.contains(" a2 "), "{text}");
    let denied = stdout(&w.hr(&["audit", "show", "--decision", "denied"]));
    assert_eq!(
        denied.lines().filter(|l| !l.starts_with(' ')).count(),
        1,
        "{denied}"
    );
    assert!(denied.contains("refused by rule namespaces"), "{denied}");
    assert_eq!(
        stdout(&w.hr(&["audit", "show", "--since", "1h"]))
            .lines()
            .filter(|l| !l.starts_with(' '))
            .count(),
        3
    );
    let future = w.hr(&["audit", "show", "--since", "2999-01-01"]);
    assert_eq!(stdout(&future), "");
    let bad = w.hr(&["audit", "show", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("--since \"yesterday\""),
        "{}",
        stderr(&bad)
    );

    let md = w.hr(&["profile", "show", "restricted", "--format", "markdown"]);
    assert_eq!(md.status.code(), Some(0), "{}", stderr(&md));
    let md = stdout(&md);
    assert!(md.starts_with("# Hardening policy `restricted`"), "{md}");
    assert!(
        md.contains("| [`user`](#user) | enforce | 4.1 | high |"),
        "{md}"
    );
    let js = w.hr(&["profile", "show", "baseline", "--format", "json"]);
    let doc: Value = serde_json::from_str(&stdout(&js)).unwrap();
    assert_eq!(doc["gate"]["min_score"], 70.0);
}
