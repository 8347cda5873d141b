//! Credentials in `process.args` with real containers: reported by the `secrets` rule with the
//! value masked, and the value never written to the audit log, the caller's log or the
//! container's state directory (its copies of the spec have the argument `<redacted>` once the
//! container is created; the container's process still gets it).

mod common;

use std::fs;

use common::*;
use serde_json::Value;

const SECRET: &str = "hunter2";

fn secrets_findings(record: &Value) -> Vec<Value> {
    record["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "secrets")
        .cloned()
        .collect()
}

#[test]
fn a_password_in_the_arguments_is_reported_masked_and_never_recorded() {
    let w = World::new("args-secret");
    // `sh -c SCRIPT NAME ARG…`: the script ignores its arguments and exits 0
    let b = w.bundle(
        "b1",
        &[
            "sh",
            "-c",
            "exit 0; mysql -uroot -phunter2 app",
            "sh",
            "--password=hunter2",
        ],
    );
    let out = w.hr(&[
        "--profile",
        "restricted",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "as1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "allowed");
    let f = secrets_findings(&last);
    let at = |ptr: &str| {
        f.iter()
            .find(|f| f["pointer"] == ptr)
            .unwrap_or_else(|| panic!("no finding at {ptr}: {f:#?}"))
            .clone()
    };
    let opt = at("/process/args/4");
    assert_eq!(opt["action"], "audit");
    assert_eq!(opt["before"], "<redacted>");
    assert_eq!(
        opt["message"],
        "argument 4 (--password) looks like a credential (password); value masked (7 chars)"
    );
    let script = at("/process/args/2");
    assert!(
        script["message"]
            .as_str()
            .unwrap()
            .contains("(a shell script, -p)"),
        "{script}"
    );

    // nowhere in the record, the caller's log, or the container's decision record
    let audit = fs::read_to_string(w.dir.join("audit.jsonl")).unwrap();
    assert!(!audit.contains(SECRET));
    let log = fs::read_to_string(w.log_path()).unwrap_or_default();
    assert!(!log.contains(SECRET), "{log}");
    // every file of the state directory (hardrun.json, state.json, config.orig.json,
    // bundle/config.json, libcontainer's own)
    let mut files = vec![];
    let mut dirs = vec![w.root.join("as1")];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                dirs.push(e.path());
            } else if ft.is_file() {
                files.push(e.path());
            }
        }
    }
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    for want in [
        "config.orig.json",
        "bundle/config.json",
        "hardrun.json",
        "state.json",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(want)),
            "{want} in {names:?}"
        );
    }
    for p in &files {
        let bytes = fs::read(p).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "{} holds the credential",
            p.display()
        );
    }
    // the masked copy still names the arguments: the other ones as given
    let stored: Value =
        serde_json::from_slice(&fs::read(w.root.join("as1/bundle/config.json")).unwrap()).unwrap();
    assert_eq!(stored["process"]["args"][4], "<redacted>");
    assert_eq!(stored["process"]["args"][0], "sh");
    let out = w.hr(&["start", "as1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // the process itself got the real argument: only the stored copies are masked
    let b = w.bundle(
        "b3",
        &[
            "sh",
            "-c",
            "echo \"$1\" > /tmp/arg; exec sleep 1000",
            "sh",
            "--password=hunter2",
        ],
    );
    w.run_detached("restricted", &b, "as3");
    let mut seen = String::new();
    for _ in 0..100 {
        seen = stdout(&w.hr(&["exec", "as3", "cat", "/tmp/arg"]));
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(seen, "--password=hunter2\n");
    let stored = fs::read_to_string(w.root.join("as3/config.orig.json")).unwrap();
    assert!(!stored.contains(SECRET), "{stored}");
    assert!(w.hr(&["delete", "--force", "as3"]).status.success());
    w.wait_status("as1", "stopped");
    assert!(w.hr(&["delete", "as1"]).status.success());

    // a profile that enforces `secrets` refuses it: an argument cannot be removed; the refusal
    // names the argument, not the value
    let dir = w.dir.join("profiles");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("strict.toml"),
        "name = \"strict\"\n[rules]\nsecrets = \"enforce\"\n",
    )
    .unwrap();
    let b = w.bundle("b2", &["sh", "-c", "exit 0", "sh", "--db-password", SECRET]);
    let out = w.hr(&[
        "--profile",
        "strict",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "as2",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("rule secrets: argument 5 (--db-password) looks like a credential (password); value masked (7 chars)"),
        "{err}"
    );
    assert!(!err.contains(SECRET));
    w.assert_nothing_left("as2");
    let audit = fs::read_to_string(w.dir.join("audit.jsonl")).unwrap();
    assert!(!audit.contains(SECRET));
    assert!(w.audit().last().unwrap()["decision"] == "denied");
}
