//! The audit log is tamper-evident as an auditor would try it: records written by real
//! containers through the binary, then the file changed the ways a forger would (the last record
//! removed, a record edited and the chain re-hashed with plain sha256, a record re-MACed with a
//! key that is not the node's), and `hardrun audit verify` refuses each, naming the problem. Key
//! rotation keeps the old records verifiable. And (issue 18) each record of a container carries
//! the Kubernetes workload its CRI annotations claim, which `audit show` filters by.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha256(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

fn lines(text: &[u8]) -> Vec<Vec<u8>> {
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(ls: &[Vec<u8>]) -> Vec<u8> {
    let mut v = ls.join(&b'\n');
    v.push(b'\n');
    v
}

/// Record `i` edited by `edit`, every record after it re-linked (`prev` = sha256 of the line
/// before, as the chain defines it) and, with `key`, re-MACed with it the way hardrun seals a
/// line (HMAC-SHA256 over the line without its `mac`, `mac` appended last); the head file
/// re-pointed at the new last line (and re-MACed with `key`).
fn forge(
    text: &[u8],
    head: &[u8],
    i: usize,
    edit: impl Fn(&mut Value),
    key: Option<&[u8]>,
) -> (Vec<u8>, Vec<u8>) {
    let reseal = |mut v: Value| -> Vec<u8> {
        let old = v.as_object_mut().unwrap().remove("mac");
        let body = serde_json::to_vec(&v).unwrap();
        let mac = match key {
            Some(k) => {
                let mut m = Hmac::<Sha256>::new_from_slice(k).unwrap();
                m.update(&body);
                json!(format!("{:x}", m.finalize().into_bytes()))
            }
            None => old.unwrap_or(Value::Null),
        };
        // `mac` last, as hardrun writes it
        let mut line = body[..body.len() - 1].to_vec();
        line.extend_from_slice(format!(",\"mac\":{mac}}}").as_bytes());
        line
    };
    let mut ls = lines(text);
    let mut v: Value = serde_json::from_slice(&ls[i]).unwrap();
    edit(&mut v);
    ls[i] = reseal(v);
    for j in i + 1..ls.len() {
        let mut v: Value = serde_json::from_slice(&ls[j]).unwrap();
        v["prev"] = json!(sha256(&ls[j - 1]));
        ls[j] = reseal(v);
    }
    let mut h: Value = serde_json::from_slice(head.trim_ascii_end()).unwrap();
    h["hash"] = json!(sha256(ls.last().unwrap()));
    let mut h = reseal(h);
    h.push(b'\n');
    (join(&ls), h)
}

/// `audit verify` with the world's configuration: (exit code, stdout, stderr).
fn verify(w: &World) -> (Option<i32>, String, String) {
    let out = w.hr(&["audit", "verify"]);
    (out.status.code(), stdout(&out), stderr(&out))
}

fn run(w: &World, b: &Path, id: &str) {
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), id]);
    assert!(out.status.success(), "run {id}: {}", stderr(&out));
}

#[test]
fn audit_verify_detects_removed_last_records_a_rehashed_edit_and_a_foreign_key() {
    let w = World::new("akey-tamper");
    let b = w.bundle("b", &["true"]);
    for id in ["t1", "t2", "t3"] {
        run(&w, &b, id);
    }
    let log = w.dir.join("audit.jsonl");
    let head_file = w.dir.join("audit.jsonl.head");
    let good = fs::read(&log).unwrap();
    let head = fs::read(&head_file).unwrap();
    let n = lines(&good).len();
    assert!(n >= 3, "{}", String::from_utf8_lossy(&good));

    let (code, out, err) = verify(&w);
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(
        out,
        format!(
            "{}: {n} records, chain intact\n{}: record {n} anchored, the last\n",
            log.display(),
            head_file.display()
        )
    );
    for r in w.audit() {
        assert!(r["mac"].as_str().is_some_and(|m| m.len() == 64), "{r}");
        assert!(r["kid"].as_str().is_some_and(|k| k.len() == 16), "{r}");
    }
    let head_v: Value = serde_json::from_slice(&head).unwrap();
    assert_eq!(head_v["seq"], w.audit().last().unwrap()["seq"]);
    assert_eq!(
        fs::metadata(&head_file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let restore = || {
        fs::write(&log, &good).unwrap();
        fs::write(&head_file, &head).unwrap();
    };
    // each forgery: the log and head as a forger leaves them, what verify must name
    let foreign = [0x5au8; 32];
    let retag = |v: &mut Value| v["id"] = json!("forged");
    type Case<'a> = (&'a str, Vec<u8>, Option<Vec<u8>>, String);
    let cases: Vec<Case> = vec![
        (
            "the last record removed",
            join(&lines(&good)[..n - 1]),
            Some(head.clone()),
            format!(
                "record {n} is missing from the end of the log: it ends at record {}, its head names record {n}",
                n - 1
            ),
        ),
        (
            "the last two records removed",
            join(&lines(&good)[..n - 2]),
            Some(head.clone()),
            format!(
                "records {}..{n} are missing from the end of the log",
                n - 1
            ),
        ),
        (
            "the last record and the head removed",
            join(&lines(&good)[..n - 1]),
            None,
            "the head file is missing: records removed from the end cannot be ruled out".into(),
        ),
        {
            let (t, h) = forge(&good, &head, 1, retag, None);
            (
                "record 2 edited, the chain re-hashed with sha256",
                t,
                Some(h),
                "record 2: its MAC does not verify".into(),
            )
        },
        {
            let (t, h) = forge(&good, &head, 1, retag, Some(&foreign));
            (
                "record 2 edited, re-MACed with a key that is not the node's",
                t,
                Some(h),
                "record 2: its MAC does not verify".into(),
            )
        },
        {
            let (t, h) = forge(&good, &head, n - 1, retag, Some(&foreign));
            (
                "the last record edited, it and the head re-MACed with a foreign key",
                t,
                Some(h),
                format!("record {n}: its MAC does not verify"),
            )
        },
    ];
    for (case, text, h, want) in cases {
        fs::write(&log, &text).unwrap();
        match &h {
            Some(h) => fs::write(&head_file, h).unwrap(),
            None => fs::remove_file(&head_file).unwrap(),
        }
        let (code, out, err) = verify(&w);
        assert_eq!(code, Some(1), "{case}: {out}{err}");
        assert!(out.contains(&want), "{case}: wants {want:?} in\n{out}");
        assert!(
            err.starts_with("audit chain broken:") && err.lines().count() == 1,
            "{case}: {err}"
        );
        restore();
    }
    assert_eq!(verify(&w).0, Some(0));

    // the next container after a truncation is still recorded, and its record keeps the
    // evidence: verify goes on failing, naming the missing record
    fs::write(&log, join(&lines(&good)[..n - 1])).unwrap();
    run(&w, &b, "t4");
    let (code, out, _) = verify(&w);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "record {n} is missing (seq {} follows {})",
            n + 1,
            n - 1
        )),
        "{out}"
    );
    restore();
}

#[test]
fn a_rotated_key_keeps_older_records_verifiable_and_is_never_printed() {
    let w = World::new("akey-rotate");
    let key = w.dir.join("keys/audit.key");
    let cfg = w.dir.join("config.toml");
    let mut text = fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!("audit_key = \"{}\"\n", key.display()));
    fs::write(&cfg, text).unwrap();
    let b = w.bundle("b", &["true"]);
    run(&w, &b, "r1");
    let k1 = fs::read(&key).unwrap();
    assert_eq!(k1.len(), 32);
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = w.hr(&["audit", "rotate-key"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let k2 = fs::read(&key).unwrap();
    assert_ne!(k1, k2);
    run(&w, &b, "r2");
    let kids: Vec<String> = w
        .audit()
        .iter()
        .map(|r| r["kid"].as_str().unwrap().to_owned())
        .collect();
    let (first, last) = (kids[0].clone(), kids.last().unwrap().clone());
    assert_ne!(first, last, "{kids:?}");
    assert!(stdout(&out).contains(&format!("audit key {first} retired")));
    let (code, out, err) = verify(&w);
    assert_eq!(code, Some(0), "{out}{err}");
    // the key's bytes appear in no output and no log
    let hex: String = k1.iter().map(|b| format!("{b:02x}")).collect();
    let seen = format!(
        "{out}{err}{}{}",
        fs::read_to_string(w.dir.join("audit.jsonl")).unwrap(),
        fs::read_to_string(w.log_path()).unwrap_or_default()
    );
    assert!(!seen.contains(&hex));
    // without the retired key, the records it made cannot be proven: verify names the key
    fs::rename(
        w.dir.join("keys/audit.key.retired"),
        w.dir.join("keys/elsewhere"),
    )
    .unwrap();
    let (code, out, _) = verify(&w);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "record 1: made with key {first}, which is not in the keyring"
        )),
        "{out}"
    );
}

const CRI: [(&str, &str); 5] = [
    ("io.kubernetes.cri.sandbox-namespace", "shop"),
    ("io.kubernetes.cri.sandbox-name", "web-7f9c"),
    (
        "io.kubernetes.cri.sandbox-uid",
        "4f1c1e2a-6f0e-4a43-9b57-0c3e1d2f9a10",
    ),
    ("io.kubernetes.cri.container-name", "nginx"),
    (
        "io.kubernetes.cri.image-name",
        "docker.io/library/nginx:1.27",
    ),
];

#[test]
fn records_carry_the_cri_workload_as_claims_and_show_filters_by_it() {
    let w = World::new("akey-workload");
    let (b, root) = w.cri_bundle("wl1", &["sleep", "1000"], |s| {
        s["annotations"] = CRI
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        s["annotations"]["io.kubernetes.cri.container-type"] = json!("container");
    });
    let out = w.hr_in(
        &root,
        &["run", "-d", "--bundle", b.to_str().unwrap(), "wl1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.hr_in(&root, &["exec", "wl1", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.hr_in(&root, &["update", "--pids-limit", "200", "wl1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.hr_in(&root, &["delete", "--force", "wl1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // a container without the annotations: no workload
    run(&w, &w.bundle("plain", &["true"]), "plain1");

    let want = json!({"vouched_by": "caller", "source": "cri-annotations", "namespace": "shop",
        "pod": "web-7f9c", "pod_uid": CRI[2].1, "container": "nginx",
        "image": "docker.io/library/nginx:1.27"});
    let recs = w.audit();
    let mine: Vec<&Value> = recs.iter().filter(|r| r["id"] == "wl1").collect();
    let commands: Vec<&str> = mine
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    for c in ["create", "exec", "update", "delete"] {
        assert!(commands.contains(&c), "{commands:?}");
    }
    for r in &mine {
        assert_eq!(r["workload"], want, "{r}");
    }
    for r in recs.iter().filter(|r| r["id"] == "plain1") {
        assert!(r.get("workload").is_none(), "{r}");
    }

    let show = |args: &[&str]| -> Vec<Value> {
        let mut a = vec!["audit", "show", "--format", "json"];
        a.extend_from_slice(args);
        let out = w.hr(&a);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let ids = |rs: Vec<Value>| -> Vec<String> {
        rs.iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(show(&["--k8s-namespace", "shop"])),
        vec!["wl1"; mine.len()]
    );
    assert_eq!(ids(show(&["--pod", "web-7f9c"])).len(), mine.len());
    assert_eq!(ids(show(&["--pod", CRI[2].1])).len(), mine.len());
    assert_eq!(
        ids(show(&[
            "--k8s-namespace",
            "shop",
            "--k8s-container",
            "nginx",
            "--decision",
            "allowed"
        ])),
        ["wl1", "wl1", "wl1"]
    );
    assert!(show(&["--k8s-namespace", "kube-system"]).is_empty());
    assert!(show(&["--pod", "web"]).is_empty());
    // the text form names the pod and marks it as claimed
    let out = w.hr(&["audit", "show", "--pod", "web-7f9c"]);
    assert!(
        stdout(&out).contains(
            "pod=shop/web-7f9c container=nginx image=docker.io/library/nginx:1.27 (claimed)"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_head_or_key_that_cannot_be_used_refuses_the_container_and_keeps_the_log() {
    let w = World::new("akey-closed");
    let key = w.dir.join("keys/audit.key");
    let cfg = w.dir.join("config.toml");
    let mut text = fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!("audit_key = \"{}\"\n", key.display()));
    fs::write(&cfg, text).unwrap();
    let b = w.bundle("b", &["true"]);
    run(&w, &b, "f1");
    let log = w.dir.join("audit.jsonl");
    let head = w.dir.join("audit.jsonl.head");
    let before = fs::read(&log).unwrap();

    // the head cannot be replaced (a non-empty directory in its place): refused, log unchanged
    let saved = fs::read(&head).unwrap();
    fs::remove_file(&head).unwrap();
    fs::create_dir_all(head.join("x")).unwrap();
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), "f2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot write its head {}", head.display())),
        "{err}"
    );
    w.assert_nothing_left("f2");
    assert_eq!(fs::read(&log).unwrap(), before);
    fs::remove_dir_all(&head).unwrap();
    fs::write(&head, saved).unwrap();
    fs::set_permissions(&head, fs::Permissions::from_mode(0o600)).unwrap();

    // a key others can read is not used: refused, naming the key and its mode
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), "f3"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("audit key {}: mode 0644", key.display())),
        "{err}"
    );
    w.assert_nothing_left("f3");
    assert_eq!(fs::read(&log).unwrap(), before);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    run(&w, &b, "f4");
    assert_eq!(verify(&w).0, Some(0));
}
