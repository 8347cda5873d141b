//! The `userns` rule enforced on real containers: each container runs in a user namespace mapped
//! to a host id range of its own from the profile's pool; the range is released on delete, at the
//! end of a foreground `run`, and when create fails.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::*;

const PROFILE: &str = r#"
name = "userns-test"
[rules]
userns = "enforce"
user = "enforce"
rootfs = "enforce"
tmpfs = "enforce"
"#;

struct UsernsWorld {
    w: World,
    alloc: PathBuf,
}

impl UsernsWorld {
    fn new(name: &str) -> Self {
        let w = World::new(name);
        fs::create_dir_all(w.dir.join("profiles")).unwrap();
        fs::write(w.dir.join("profiles/userns-test.toml"), PROFILE).unwrap();
        let alloc = w.dir.join("userns");
        UsernsWorld { w, alloc }
    }

    /// `hardrun --profile userns-test <args…>` with this world's allocation directory.
    fn hr(&self, args: &[&str]) -> Output {
        let mut c = self.w.hr_cmd(&[]);
        c.env("HARDRUN_USERNS_DIR", &self.alloc);
        c.args(["--profile", "userns-test"]);
        c.args(args);
        output_via_files(c, &self.w.dir, Duration::from_secs(60))
    }

    fn slots(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = fs::read_dir(&self.alloc)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("slot-"))
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            fs::read_to_string(e.path()).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a detached container printed first: `run -d` hands the container our stdout, here a file
/// that outlives the `hardrun` process.
fn wait_output(path: &std::path::Path, lines: usize) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "container output never reached {lines} lines: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn each_container_gets_its_own_range_released_on_delete() {
    let u = UsernsWorld::new("userns-ranges");
    let probe = "cat /proc/self/uid_map; cat /proc/self/gid_map; id -u; \
                 echo x > /tmp/f && cat /tmp/f; touch /nope 2>/dev/null || echo ro; exec sleep 60";
    let b = u.w.bundle("b", &["sh", "-c", probe]);
    let mut outputs = vec![];
    for id in ["u1", "u2"] {
        let out_path = u.w.dir.join(format!("{id}.out"));
        let mut c = u.w.hr_cmd(&[]);
        c.env("HARDRUN_USERNS_DIR", &u.alloc);
        c.args(["--profile", "userns-test", "run", "-d", "--bundle"]);
        c.arg(&b).arg(id);
        c.stdout(fs::File::create(&out_path).unwrap());
        c.stderr(fs::File::create(u.w.dir.join(format!("{id}.err"))).unwrap());
        let st = c.status().unwrap();
        assert!(
            st.success(),
            "run -d {id}: {}",
            fs::read_to_string(u.w.dir.join(format!("{id}.err"))).unwrap_or_default()
        );
        u.w.wait_status(id, "running");
        outputs.push(wait_output(&out_path, 5));
    }
    // two ranges at the same time, from the default pool, seen from inside
    let lines = |t: &str| t.lines().map(words).collect::<Vec<_>>();
    assert_eq!(
        lines(&outputs[0]),
        ["0 100000 65536", "0 100000 65536", "65534", "x", "ro"],
        "{outputs:?}"
    );
    assert_eq!(
        lines(&outputs[1]),
        ["0 165536 65536", "0 165536 65536", "65534", "x", "ro"],
        "{outputs:?}"
    );
    let slots = u.slots();
    assert_eq!(slots.len(), 2, "{slots:?}");
    assert_eq!(slots[0].0, "slot-0");
    let state_root = fs::canonicalize(&u.w.root).unwrap();
    assert!(
        slots[0]
            .1
            .starts_with(&format!("owner={}\n", state_root.join("u1").display())),
        "{slots:?}"
    );
    // host view: the init of u2 runs as host uid 165536 + 65534
    let pid = u.w.state("u2")["pid"].as_i64().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(words(uid_line), "Uid: 231070 231070 231070 231070");
    // and the live check agrees: the user namespace, its map and the rest of the profile
    for id in ["u1", "u2"] {
        u.w.assert_live(id);
    }

    // the record says what was done
    let audit = u.w.audit();
    let last = audit.last().unwrap();
    let f = last["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "userns")
        .expect("a userns finding");
    assert_eq!(f["action"], "enforce");
    assert_eq!(f["cis"], serde_json::json!(["5.31"]));

    // exec enters the container's user namespace: the container's ids, not the host's
    // (tests/exec_door.rs checks the exec'd process from the host)
    let out = u.hr(&["exec", "u1", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().map(words).collect::<Vec<_>>(),
        ["65534", "0 100000 65536"]
    );

    // delete releases the range; the next container reuses it
    let out = u.hr(&["kill", "u1", "9"]);
    assert!(out.status.success(), "{}", stderr(&out));
    u.w.wait_status("u1", "stopped");
    let out = u.hr(&["delete", "u1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!u.alloc.join("slot-0").exists(), "{:?}", u.slots());
    assert!(u.alloc.join("slot-1").exists());
    let b3 = u.w.bundle("b3", &["sleep", "60"]);
    let out = u.hr(&["run", "-d", "--bundle", b3.to_str().unwrap(), "u3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = u.w.state("u3")["pid"].as_i64().unwrap();
    assert_eq!(
        words(&fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap()),
        "0 100000 65536"
    );
    for id in ["u2", "u3"] {
        let out = u.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "{}", stderr(&out));
        u.w.assert_nothing_left(id);
    }
    assert!(u.slots().is_empty(), "{:?}", u.slots());
}

#[test]
fn foreground_run_releases_its_range() {
    let u = UsernsWorld::new("userns-fg");
    let b = u.w.bundle(
        "b",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map; id -u; echo y > /tmp/y && cat /tmp/y",
        ],
    );
    let out = u.hr(&["run", "--bundle", b.to_str().unwrap(), "f1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(words(lines.next().unwrap()), "0 100000 65536", "{text}");
    assert_eq!(lines.next(), Some("65534"), "{text}");
    assert_eq!(lines.next(), Some("y"), "{text}");
    assert!(u.slots().is_empty(), "{:?}", u.slots());
    u.w.assert_nothing_left("f1");
}

#[test]
fn a_failed_create_releases_its_range_and_names_a_closed_rootfs() {
    let u = UsernsWorld::new("userns-fail");
    // a rootfs the mapped root cannot search (it would be the container's /). A rootfs *below*
    // closed directories is made reachable (tests/userns_default.rs); its own mode cannot be.
    let rootfs = u.w.dir.join("private/rootfs");
    fs::create_dir_all(&rootfs).unwrap();
    fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o700)).unwrap();
    let b = u.w.bundle_with("b", &["true"], |s| {
        s["root"]["path"] = serde_json::json!(rootfs);
    });
    let out = u.hr(&["create", "--bundle", b.to_str().unwrap(), "x1"]);
    assert!(!out.status.success());
    let err = u.w.last_log_error().unwrap_or_default();
    assert!(
        err.starts_with(&format!("rootfs {} (mode 0700", rootfs.display())),
        "{err}"
    );
    assert!(u.slots().is_empty(), "{:?}", u.slots());
    u.w.assert_nothing_left("x1");

    // a failure inside libcontainer (a console socket that does not exist) releases it too
    let b = u.w.bundle("b2", &["true"]);
    let out = u.hr(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--console-socket",
        u.w.dir.join("no-such.sock").to_str().unwrap(),
        "x2",
    ]);
    assert!(!out.status.success());
    assert!(u.slots().is_empty(), "{:?}", u.slots());
    u.w.assert_nothing_left("x2");
}

#[test]
fn audit_mode_allocates_nothing_and_changes_nothing() {
    let u = UsernsWorld::new("userns-audit");
    let b = u.w.bundle("b", &["cat", "/proc/self/uid_map"]);
    let out = u.hr(&[
        "--mode",
        "audit",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "a1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(words(&stdout(&out)), "0 0 4294967295");
    assert!(!u.alloc.exists() || u.slots().is_empty());
    let audit = u.w.audit();
    let f = audit.last().unwrap()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "userns")
        .cloned()
        .expect("a userns finding");
    assert_eq!(f["action"], "audit");
}
