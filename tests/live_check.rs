//! `hardrun check --running --live`: verify, not trust. Real containers under `restricted`, whose
//! kernel view is changed from the host the way an attacker or a side door would (a process
//! entered with `nsenter` without the filter, the root remounted read-write, a masked path
//! unmounted), and the live check must name each drift with the process it is in.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hardrun::policy::rules::DOCKER_CAPS;
use serde_json::{json, Value};

/// `--profile restricted run -d` of `args`; returns the init's pid.
fn run_restricted(w: &World, id: &str, edit: impl FnOnce(&mut Value), args: &[&str]) -> i32 {
    let b = w.bundle_with(&format!("b-{id}"), args, edit);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        id,
    ]);
    assert!(out.status.success(), "run {id}: {}", stderr(&out));
    w.state(id)["pid"].as_i64().unwrap() as i32
}

/// The `cgroup.procs` files of the container's cgroup: every v1 controller that has it, or the
/// one v2 directory. The path is the one the hardened spec names (`linux.cgroupsPath`).
fn cgroup_procs(w: &World, id: &str) -> Vec<PathBuf> {
    let spec: Value =
        serde_json::from_slice(&fs::read(w.root.join(id).join("bundle/config.json")).unwrap())
            .unwrap();
    let rel = spec["linux"]["cgroupsPath"]
        .as_str()
        .expect("a cgroupsPath")
        .trim_start_matches('/')
        .to_owned();
    let base = std::path::Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return vec![base.join(&rel).join("cgroup.procs")];
    }
    let files: Vec<PathBuf> = fs::read_dir(base)
        .unwrap()
        .flatten()
        .map(|e| e.path().join(&rel).join("cgroup.procs"))
        .filter(|p| p.exists())
        .collect();
    assert!(!files.is_empty(), "no cgroup of {id} under {rel}");
    files
}

/// The host-side process of an intruder; killed and reaped when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process `nsenter` starts in all the container's namespaces, from the host: no seccomp
/// filter, no no_new_privs, every capability, uid 0. With `join_cgroup`, the shell that runs
/// nsenter first writes itself into the container's cgroup, so both nsenter and its child are
/// counted there. Returns the nsenter child and the pid of `sleep <marker>` inside.
fn intruder(w: &World, id: &str, init: i32, marker: &str, join_cgroup: bool) -> (Guard, i32) {
    let files: Vec<String> = if join_cgroup {
        cgroup_procs(w, id)
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    } else {
        vec![]
    };
    let pid_ns = fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    let child = Guard(
        Command::new("sh")
        .arg("-c")
        .arg(format!(
            "for f in \"$@\"; do echo $$ > \"$f\" || exit 1; done; exec nsenter -t {init} -a sleep {marker}"
        ))
        .arg("sh")
        .args(&files)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            (cmdline == format!("sleep\0{marker}\0").as_bytes()
                && fs::read_link(format!("/proc/{pid}/ns/pid")).ok()? == pid_ns)
                .then_some(pid)
        });
        if let Some(pid) = found {
            return (child, pid);
        }
        assert!(
            Instant::now() < deadline,
            "the intruder `sleep {marker}` never showed up in {id}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `busybox <args>` in the container's mount and pid namespaces, from the host.
fn in_mount_ns(init: i32, args: &[&str]) {
    let out = Command::new("nsenter")
        .args(["-t", &init.to_string(), "-m", "-p", "/bin/busybox"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nsenter … busybox {args:?}: {}",
        stderr(&out)
    );
}

/// The drifts of `pid` in a live report: (kind, field, actual).
fn drifts_of(report: &Value, pid: i32) -> Vec<(String, String, String)> {
    let p = report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} is not in the report: {report:#}"));
    p["drifts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_owned(),
                d["field"].as_str().unwrap().to_owned(),
                d["actual"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn has(drifts: &[(String, String, String)], kind: &str, field: &str, actual: &str) -> bool {
    drifts
        .iter()
        .any(|(k, f, a)| k == kind && f == field && a.starts_with(actual))
}

fn stop(w: &World, id: &str, intruders: Vec<Guard>) {
    let out = w.hr(&["delete", "--force", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(intruders);
    w.assert_nothing_left(id);
}

#[test]
fn a_restricted_container_is_clean_created_and_running() {
    let w = World::new("live-clean");
    let b = w.bundle("b", &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "lc1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // between create and start the init already holds the whole profile
    assert_eq!(w.assert_live("lc1"), 1);
    let (code, r) = w.live("lc1");
    assert_eq!(code, Some(0));
    assert_eq!(r["status"], "created");
    assert_eq!(r["profile"], "restricted");
    assert_eq!(r["processes"][0]["init"], true);
    assert!(w.hr(&["start", "lc1"]).status.success());
    w.wait_status("lc1", "running");
    assert_eq!(w.assert_live("lc1"), 1);
    let out = w.hr(&["check", "--running", "--live", "lc1"]);
    assert_eq!(
        stdout(&out),
        "lc1 (running, profile restricted): 1 process, no drift\n"
    );
    // a paused container's processes are read as they are, frozen
    assert!(w.hr(&["pause", "lc1"]).status.success());
    assert_eq!(w.assert_live("lc1"), 1);
    assert_eq!(w.live("lc1").1["status"], "paused");
    assert!(w.hr(&["resume", "lc1"]).status.success());
    // the ids pick the containers for the score too
    let out = w.hr(&["check", "--running", "lc1"]);
    assert!(
        stdout(&out).starts_with("container lc1\n"),
        "{}",
        stdout(&out)
    );
    // without ids: every container of the root; an unknown id is bad input
    let out = w.hr(&["check", "--running", "--live"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = w.hr(&["check", "--running", "--live", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        w.last_log_error()
            .unwrap_or_default()
            .contains("container \"nope\" does not exist"),
        "{:?}",
        w.last_log_error()
    );
    // --live is a mode of --running
    let out = w.hr(&["check", "--live"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    stop(&w, "lc1", vec![]);
}

#[test]
fn a_process_entered_without_the_filter_is_named_with_each_drift() {
    let w = World::new("live-intruder");
    let init = run_restricted(&w, "li1", |_| {}, &["sleep", "1000"]);
    w.assert_live("li1");

    let (nsenter, pid) = intruder(&w, "li1", init, "4242", true);
    let (outside, pid2) = intruder(&w, "li1", init, "4343", false);
    let (code, r) = w.live("li1");
    assert_eq!(code, Some(1), "{r:#}");
    let d = drifts_of(&r, pid);
    // restricted runs the container in a user namespace: nsenter -a enters it too, as its root,
    // which is the host id its range starts at (uid 0 only inside)
    let map = fs::read_to_string(format!("/proc/{init}/uid_map")).unwrap();
    let root = map.split_whitespace().nth(1).unwrap().to_owned();
    assert_ne!(root, "0", "{map}");
    let uid = format!("{root} {root} {root} {root} (in the container 0 0 0 0)");
    for (kind, field, actual) in [
        ("seccomp", "Seccomp", "0"),
        ("no-new-privs", "NoNewPrivs", "0"),
        ("capabilities", "CapEff", ""),
        ("capabilities", "CapBnd", ""),
        ("user", "Uid", uid.as_str()),
    ] {
        assert!(has(&d, kind, field, actual), "{kind} {field}: {d:?}");
    }
    // it shares all the init's namespaces and is in the cgroup: only its credentials drift
    assert!(
        !d.iter().any(|(k, _, _)| k == "namespaces" || k == "cgroup"),
        "{d:?}"
    );
    // the one outside the cgroup is named for that too
    let d2 = drifts_of(&r, pid2);
    assert!(has(&d2, "seccomp", "Seccomp", "0"), "{d2:?}");
    assert!(has(&d2, "cgroup", "cgroup", "outside "), "{d2:?}");
    // the init is untouched
    assert_eq!(drifts_of(&r, init), vec![]);

    // the text: one line per drift, with container, pid and comm
    let out = w.hr(&["check", "--running", "--live", "li1"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    for line in [
        format!("li1 pid {pid} (sleep): Seccomp 0, profile restricted requires 2 (filter)"),
        format!("li1 pid {pid} (sleep): NoNewPrivs 0, profile restricted requires 1"),
        format!("li1 pid {pid} (sleep): Uid {uid}, profile restricted requires no root (uid 0)"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    assert!(
        text.lines().any(
            |l| l.starts_with(&format!("li1 pid {pid} (sleep): CapEff "))
                && l.contains("requires at most 0000000000000400 (CAP_NET_BIND_SERVICE); extra: ")
        ),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("li1 (running, profile restricted): "),
        "{text}"
    );

    // SARIF: valid, one result per drift, rules live-*
    let out = w.hr(&["check", "--running", "--live", "--format", "sarif", "li1"]);
    assert_eq!(out.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = sarif_violations(&sarif);
    assert!(errors.is_empty(), "{errors}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let total: usize = r["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["drifts"].as_array().unwrap().len())
        .sum();
    assert_eq!(results.len(), total);
    let seccomp = results
        .iter()
        .find(|x| x["ruleId"] == "live-seccomp" && x["properties"]["pid"] == pid)
        .expect("a live-seccomp result for the intruder");
    assert_eq!(
        seccomp["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "/linux/seccomp"
    );
    stop(&w, "li1", vec![nsenter, outside]);
}

#[test]
fn a_pod_neighbour_in_the_shared_pid_namespace_is_not_a_drift() {
    let w = World::new("live-pod");
    let sandbox = run_restricted(&w, "lp-sandbox", |_| {}, &["sleep", "1000"]);
    let neighbour = run_restricted(
        &w,
        "lp-app",
        |s| {
            s["linux"]["namespaces"][0] =
                json!({"type": "pid", "path": format!("/proc/{sandbox}/ns/pid")});
        },
        &["sleep", "1001"],
    );
    assert_eq!(
        fs::read_link(format!("/proc/{neighbour}/ns/pid")).unwrap(),
        fs::read_link(format!("/proc/{sandbox}/ns/pid")).unwrap()
    );
    // each container is its own cgroup and mount namespace: the other's processes are not its own
    assert_eq!(w.assert_live("lp-sandbox"), 1);
    assert_eq!(w.assert_live("lp-app"), 1);
    stop(&w, "lp-app", vec![]);
    stop(&w, "lp-sandbox", vec![]);
}

#[test]
fn mounts_changed_from_the_host_are_reported() {
    let w = World::new("live-mounts");
    let init = run_restricted(&w, "lm1", |_| {}, &["sleep", "1000"]);
    w.assert_live("lm1");
    // restricted's root is ro and nosuid: both undone
    in_mount_ns(init, &["mount", "-o", "remount,bind,rw,suid", "/"]);
    in_mount_ns(init, &["umount", "/proc/keys"]);
    in_mount_ns(init, &["mount", "-o", "remount,exec", "/tmp"]);
    let (code, r) = w.live("lm1");
    assert_eq!(code, Some(1), "{r:#}");
    let d = drifts_of(&r, init);
    assert!(has(&d, "mounts", "mount /", "rw"), "{d:?}");
    assert!(
        d.iter().any(|(k, f, a)| k == "mounts"
            && f == "mount /"
            && a.starts_with("rw")
            && !a.contains("nosuid")
            && a != "rw"),
        "no nosuid drift of /: {d:?}"
    );
    assert!(
        has(&d, "mounts", "masked path /proc/keys", "visible"),
        "{d:?}"
    );
    assert!(has(&d, "mounts", "mount /tmp", "rw,nosuid,nodev"), "{d:?}");
    assert_eq!(d.len(), 4, "{d:?}");
    let text = stdout(&w.hr(&["check", "--running", "--live", "lm1"]));
    assert!(
        text.lines().any(|l| l
            == format!(
                "lm1 pid {init} (sleep): mount / rw, profile restricted requires ro (root.readonly)"
            )),
        "{text}"
    );
    stop(&w, "lm1", vec![]);
}

/// A directory with a submount, bound `rbind,ro` into a restricted container. The submount is
/// made only in a private mount namespace that hardrun itself runs in (`unshare -m`), so the
/// host's mount table is not touched.
fn rbind_with_submount(w: &World, id: &str) -> i32 {
    let src = w.dir.join(format!("{id}-src"));
    fs::create_dir_all(src.join("sub")).unwrap();
    let b = w.bundle_with(&format!("b-{id}"), &["sleep", "1000"], |s| {
        s["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/home/app",
            "type": "bind",
            "source": src,
            "options": ["rbind", "ro"]
        }));
    });
    let hr = w.hr_cmd(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        id,
    ]);
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=1m live-sub \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg(src.join("sub"))
        .arg(hr.get_program())
        .args(hr.get_args());
    w.env(&mut c);
    c.stdin(Stdio::null());
    let out = output_via_files(c, &w.dir, Duration::from_secs(60));
    assert!(out.status.success(), "run {id}: {}", stderr(&out));
    w.state(id)["pid"].as_i64().unwrap() as i32
}

#[test]
fn a_writable_submount_of_a_read_only_rbind_is_reported() {
    let w = World::new("live-rbind");
    let init = rbind_with_submount(&w, "lr1");
    // whatever the runtime did, the submount is now writable: the check must say so
    in_mount_ns(init, &["mount", "-o", "remount,bind,rw", "/home/app/sub"]);
    let (code, r) = w.live("lr1");
    assert_eq!(code, Some(1), "{r:#}");
    let d = drifts_of(&r, init);
    assert!(has(&d, "mounts", "mount /home/app/sub", "rw"), "{d:?}");
    let text = stdout(&w.hr(&["check", "--running", "--live", "lr1"]));
    assert!(
        text.contains("requires ro (below the read-only mount /home/app)"),
        "{text}"
    );
    stop(&w, "lr1", vec![]);
}

#[test]
fn read_only_rbind_submounts_are_read_only() {
    let w = World::new("live-rbind-ro");
    let init = rbind_with_submount(&w, "lr2");
    // the mount is there (the test sets up what it means to)
    let mi = fs::read_to_string(format!("/proc/{init}/mountinfo")).unwrap();
    assert!(mi.contains(" /home/app/sub "), "{mi}");
    w.assert_live("lr2");
    stop(&w, "lr2", vec![]);
}

/// Docker's default spec asks for `/sys/fs/cgroup` as a `cgroup` mount, `ro`. On this cgroup v1
/// host libcontainer 0.7 mounted its tmpfs and every controller read-write (the live check named
/// each); runc mounts them read-only, and so does hardrun's patched libcontainer.
#[test]
fn dockers_read_only_cgroup_mount_is_read_only() {
    let w = World::new("live-cgroup");
    let init = run_restricted(
        &w,
        "lg1",
        |s| {
            s["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["ro", "nosuid", "noexec", "nodev"]
            }))
        },
        &["sleep", "1000"],
    );
    let mi = fs::read_to_string(format!("/proc/{init}/mountinfo")).unwrap();
    assert!(mi.contains(" /sys/fs/cgroup "), "{mi}");
    w.assert_live("lg1");
    stop(&w, "lg1", vec![]);
}

/// What the read-only cgroup mount is for: root in a `baseline` container (Docker's spec, no
/// user namespace) cannot raise its own `pids.max` through it (it could, with main's
/// libcontainer, on this cgroup v1 host).
#[test]
fn a_root_container_cannot_raise_its_own_limits_through_the_cgroup_mount() {
    let w = World::new("live-cgroup-write");
    let script = "for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do \
                  if [ -e $f ]; then if (echo 99999 > $f) 2>/dev/null; then echo write=ok; \
                  else echo write=denied; fi; fi; done; true";
    let b = w.bundle_with("b-lgw", &["sh", "-c", script], |s| {
        s["process"]["capabilities"] = json!({
            "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS
        });
        s["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"]
        }));
    });
    let out = w.hr(&[
        "--profile",
        "baseline",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "lgw",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("write=denied"), "{text}");
    assert!(!text.contains("write=ok"), "{text}");
}

#[test]
fn an_exec_process_holds_the_profile() {
    let w = World::new("live-exec");
    run_restricted(&w, "le1", |_| {}, &["sleep", "1000"]);
    let out = w.hr(&["exec", "-d", "le1", "sleep", "999"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.assert_live("le1"), 2);
    stop(&w, "le1", vec![]);
}

/// containerd's exec: `exec --process FILE --detach`, with a process that names no capabilities.
/// Today libcontainer 0.7 leaves such a process the full bounding set (and, under `permissive`,
/// every capability and no no_new_privs), where runc falls back to the container's sets.
#[test]
fn an_exec_process_file_without_capabilities_holds_the_profile() {
    let w = World::new("live-exec-process");
    run_restricted(&w, "lx1", |_| {}, &["sleep", "1000"]);
    let process = w.dir.join("process.json");
    fs::write(
        &process,
        serde_json::to_vec(&json!({
            "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
            "args": ["sleep", "999"], "env": ["PATH=/bin"]
        }))
        .unwrap(),
    )
    .unwrap();
    let out = w.hr(&[
        "exec",
        "--process",
        process.to_str().unwrap(),
        "--detach",
        "lx1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.assert_live("lx1"), 2);
    stop(&w, "lx1", vec![]);
}

/// Violations of the SARIF 2.1.0 schema (the fixture tests/sarif.rs uses, with the same fix-up
/// of its `language` pattern), one per line.
fn sarif_violations(doc: &Value) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut schema: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("sarif-schema-2.1.0.json")).unwrap())
            .unwrap();
    for def in ["run", "toolComponent"] {
        let p = &mut schema["definitions"][def]["properties"]["language"]["pattern"];
        *p = json!(p.as_str().unwrap().replace("]?$", "\\]?$"));
    }
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}\n", e.instance_path()))
        .collect()
}
