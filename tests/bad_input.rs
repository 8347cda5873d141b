//! Bad input: every refusal is one lower-case line on stderr naming the file or value, the same
//! text as the last error in the `--log` JSON, a non-zero exit, and nothing left behind.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::json;

/// Runs `args`, expects a refusal whose message contains every string in `needles`, and returns
/// the message.
fn refused(w: &World, args: &[&str], needles: &[&str]) -> String {
    refused_output(w, args, w.hr(args), needles)
}

/// [`refused`] for a call the test made itself (`out` is what `args` gave).
fn refused_output(w: &World, args: &[&str], out: std::process::Output, needles: &[&str]) -> String {
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "{args:?} should fail; stdout: {}",
        stdout(&out)
    );
    // runc 1.1.5 exits 255 for whatever stops an exec, 1 for everything else
    let want = if args.first() == Some(&"exec") {
        255
    } else {
        1
    };
    assert_eq!(
        out.status.code(),
        Some(want),
        "{args:?}: exit status {:?}: {err}",
        out.status
    );
    assert!(
        out.stdout.is_empty(),
        "{args:?}: stdout carries only command output: {}",
        stdout(&out)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: exactly one line on stderr, got: {err}"
    );
    let msg = lines[0];
    assert!(
        msg.chars().next().is_some_and(|c| !c.is_uppercase()),
        "{args:?}: errors are lower-case: {msg}"
    );
    for n in needles {
        assert!(msg.contains(n), "{args:?}: error should name {n:?}: {msg}");
    }
    assert!(!msg.contains("youki"), "{args:?}: {msg}");
    assert_eq!(
        w.last_log_error().as_deref(),
        Some(msg),
        "{args:?}: the --log JSON has the same error"
    );
    msg.to_owned()
}

#[test]
fn bundle_and_config_problems_name_the_file_and_field() {
    let w = World::new("badcfg");
    let b = w.dir.join("b");
    fs::create_dir_all(&b).unwrap();
    let b_s = b.to_str().unwrap();
    let cfg = b.join("config.json");
    let cfg_s = cfg.to_str().unwrap();
    let good = serde_json::to_vec(&{
        let mut s = default_spec();
        s["root"]["path"] = json!(rootfs());
        s
    })
    .unwrap();

    refused(
        &w,
        &["create", "--bundle", "/nonexistent-bundle", "x1"],
        &["/nonexistent-bundle"],
    );
    w.assert_nothing_left("x1");

    // no config.json
    refused(&w, &["create", "--bundle", b_s, "x1"], &[cfg_s]);
    w.assert_nothing_left("x1");

    let cases: Vec<(Vec<u8>, Vec<&str>)> = vec![
        (
            b"{\"ociVersion\": \"1.0.2\",\n".to_vec(),
            vec![cfg_s, "line 2"],
        ),
        (b"not json".to_vec(), vec![cfg_s, "line 1"]),
        (b"[]".to_vec(), vec![cfg_s]),
        (
            edit(&good, |s| s["process"]["args"] = json!("sh")),
            vec![cfg_s, "process.args"],
        ),
        (
            edit(&good, |s| s["process"]["user"]["uid"] = json!(-1)),
            vec![cfg_s, "process.user.uid"],
        ),
        (
            edit(&good, |s| s["linux"]["namespaces"] = json!({"type": "pid"})),
            vec![cfg_s, "linux.namespaces"],
        ),
        (
            edit(&good, |s| s["ociVersion"] = json!("0.9.0")),
            vec![cfg_s, "ociVersion", "0.9.0"],
        ),
        (
            edit(&good, |s| s["root"]["path"] = json!("nope")),
            vec![cfg_s, "root.path", "nope"],
        ),
        (
            edit(&good, |s| {
                s.as_object_mut()
                    .unwrap()
                    .remove("root")
                    .map(|_| ())
                    .unwrap()
            }),
            vec![cfg_s, "root"],
        ),
    ];
    for (content, needles) in cases {
        fs::write(&cfg, &content).unwrap();
        refused(&w, &["create", "--bundle", b_s, "x1"], &needles);
        w.assert_nothing_left("x1");
        // `run` takes the same path
        refused(&w, &["run", "--bundle", b_s, "x1"], &needles);
        w.assert_nothing_left("x1");
    }

    // a config.json far larger than any real spec is refused before it is parsed
    let mut big = b"{\"ociVersion\": \"1.0.2\", \"x\": \"".to_vec();
    big.resize(5 << 20, b'a');
    big.extend_from_slice(b"\"}");
    fs::write(&cfg, &big).unwrap();
    refused(&w, &["create", "--bundle", b_s, "x1"], &[cfg_s]);
    w.assert_nothing_left("x1");
}

fn edit(good: &[u8], f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(good).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn rootfs_escaping_the_bundle_through_a_symlink_is_refused() {
    let w = World::new("escape");
    let b = w.bundle_with("b", &["true"], |s| s["root"]["path"] = json!("rootfs"));
    // rootfs -> ../../.. : a relative root.path that resolves outside the bundle
    std::os::unix::fs::symlink("../../..", b.join("rootfs")).unwrap();
    refused(
        &w,
        &["create", "--bundle", b.to_str().unwrap(), "x1"],
        &["root.path", "outside the bundle"],
    );
    w.assert_nothing_left("x1");
    // a symlink inside the bundle that stays inside is fine
    fs::remove_file(b.join("rootfs")).unwrap();
    fs::create_dir_all(b.join("real")).unwrap();
    std::os::unix::fs::symlink("real/../real", b.join("rootfs")).unwrap();
    let msg = refused(
        &w,
        &["create", "--bundle", b.to_str().unwrap(), "x1"],
        &["\"true\""],
    );
    assert!(
        msg.contains("not found") || msg.contains("does not exist"),
        "{msg}"
    );
    w.assert_nothing_left("x1");
}

#[test]
fn bad_container_ids_are_refused_before_anything_is_made() {
    let w = World::new("ids");
    let b = w.bundle("b", &["true"]);
    let b_s = b.to_str().unwrap();
    for id in [
        "../x",
        "a/b",
        "..",
        ".hidden",
        "x y",
        "x\ny",
        &"a".repeat(1025),
    ] {
        let shown = format!("{id:?}");
        let shown = if id.len() > 100 {
            "invalid container id".to_owned()
        } else {
            shown
        };
        refused(&w, &["create", "--bundle", b_s, id], &[&shown]);
        refused(&w, &["run", "--bundle", b_s, id], &[&shown]);
    }
    assert!(!w.dir.join("x").exists() && !w.dir.parent().unwrap().join("x").exists());
    // nothing at all in the state root but the (empty) staging directory
    if let Ok(entries) = fs::read_dir(&w.root) {
        let names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n == ".staging" || STATE_ROOT_CACHES.contains(&n.as_str())),
            "{names:?}"
        );
        assert_eq!(
            fs::read_dir(w.root.join(".staging"))
                .map(|d| d.count())
                .unwrap_or(0),
            0
        );
    }
}

#[test]
fn unknown_and_duplicate_ids() {
    let w = World::new("dup");
    for cmd in [
        vec!["start", "nosuch"],
        vec!["state", "nosuch"],
        vec!["kill", "nosuch"],
        vec!["delete", "nosuch"],
        vec!["pause", "nosuch"],
        vec!["resume", "nosuch"],
        vec!["ps", "nosuch"],
        vec!["exec", "nosuch", "true"],
        vec!["update", "--memory", "10m", "nosuch"],
        vec!["events", "--stats", "nosuch"],
    ] {
        refused(&w, &cmd, &["\"nosuch\"", "does not exist"]);
    }

    let b = w.bundle("b", &["sleep", "1000"]);
    let b_s = b.to_str().unwrap();
    let out = w.hr(&["create", "--bundle", b_s, "dup1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = fs::read(w.root.join("dup1/state.json")).unwrap();
    refused(
        &w,
        &["create", "--bundle", b_s, "dup1"],
        &["\"dup1\"", "already exists"],
    );
    refused(
        &w,
        &["run", "--bundle", b_s, "dup1"],
        &["\"dup1\"", "already exists"],
    );
    // the first container is untouched and still works
    assert_eq!(fs::read(w.root.join("dup1/state.json")).unwrap(), before);
    assert_eq!(w.state("dup1")["status"], "created");
    assert!(w.hr(&["start", "dup1"]).status.success());
    w.wait_status("dup1", "running");

    // a second start is refused and leaves the container running
    refused(&w, &["start", "dup1"], &["\"dup1\"", "running"]);
    assert_eq!(w.state("dup1")["status"], "running");
    assert!(w.hr(&["delete", "--force", "dup1"]).status.success());
    w.assert_nothing_left("dup1");
}

#[test]
fn failures_after_the_cgroup_exists_undo_everything() {
    let w = World::new("late");
    // the executable is looked up inside the container, after namespaces, cgroup and mounts
    let b = w.bundle("b", &["/no/such/program"]);
    refused(
        &w,
        &["create", "--bundle", b.to_str().unwrap(), "late1"],
        &["\"/no/such/program\"", "does not exist"],
    );
    w.assert_nothing_left("late1");
    let b = w.bundle("b2", &["nosuchprogram"]);
    let msg = refused(
        &w,
        &["run", "--bundle", b.to_str().unwrap(), "late2"],
        &["\"nosuchprogram\"", "PATH"],
    );
    assert!(
        msg.starts_with("create container \"late2\": executable"),
        "{msg}"
    );
    w.assert_nothing_left("late2");
    // a pid file that cannot be written
    let b = w.bundle("b3", &["true"]);
    let pid_file = w.dir.join("no-such-dir/pid");
    refused(
        &w,
        &[
            "create",
            "--bundle",
            b.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            "late3",
        ],
        &["no-such-dir"],
    );
    w.assert_nothing_left("late3");
}

#[test]
fn terminal_and_console_socket_mismatches() {
    let w = World::new("tty");
    let b = w.bundle_with("b", &["true"], |s| s["process"]["terminal"] = json!(true));
    refused(
        &w,
        &["create", "--bundle", b.to_str().unwrap(), "t1"],
        &["console socket"],
    );
    w.assert_nothing_left("t1");
    let b = w.bundle("b2", &["true"]);
    refused(
        &w,
        &[
            "create",
            "--bundle",
            b.to_str().unwrap(),
            "--console-socket",
            "/nonexistent.sock",
            "t2",
        ],
        &["console socket"],
    );
    w.assert_nothing_left("t2");
}

/// `w.hr(args)` in a mount namespace of its own where `/run/systemd` is an empty tmpfs: hardrun
/// sees a host without systemd, whatever this host runs (the host's /run is untouched).
fn hr_without_systemd(w: &World, args: &[&str]) -> std::process::Output {
    let inner = w.hr_cmd(args);
    let mut c = std::process::Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(
            "if [ -d /run/systemd ]; then mount -t tmpfs -o size=64k,mode=0755 hardrun-test /run/systemd || exit 99; fi; exec \"$@\"",
        )
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.stdin(std::process::Stdio::null());
    let out = common::output_via_files(c, &w.dir, std::time::Duration::from_secs(60));
    assert_ne!(
        out.status.code(),
        Some(99),
        "could not hide /run/systemd: {}",
        stderr(&out)
    );
    out
}

/// Runs on every host: on one that runs systemd, `/run/systemd` is hidden from hardrun (it used
/// to return early there, passing without checking anything).
#[test]
fn systemd_cgroup_without_systemd_is_an_error() {
    common::require_root();
    let w = World::new("sysd");
    let b = w.bundle("b", &["true"]);
    let mut args = vec![
        "--systemd-cgroup",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "s1",
    ];
    let out = hr_without_systemd(&w, &args);
    refused_output(&w, &args, out, &["systemd not running on this host"]);
    args[1] = "run";
    let out = hr_without_systemd(&w, &args);
    refused_output(&w, &args, out, &["systemd not running on this host"]);
    w.assert_nothing_left("s1");
}

#[test]
fn unwritable_state_root_is_named() {
    let w = World::new("rofs");
    let ro = w.dir.join("ro");
    fs::create_dir_all(&ro).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
        .arg(&ro)
        .status()
        .unwrap();
    assert!(st.success());
    struct Umount<'a>(&'a Path);
    impl Drop for Umount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Umount(&ro);
    let b = w.bundle("b", &["true"]);
    let root = ro.join("state");
    let out = output_via_files(
        {
            let mut c = std::process::Command::new(bin());
            c.arg("--root")
                .arg(&root)
                .arg("--log")
                .arg(w.log_path())
                .arg("--log-format=json");
            c.args(["create", "--bundle", b.to_str().unwrap(), "r1"]);
            w.env(&mut c);
            c
        },
        &w.dir,
        std::time::Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(root.to_str().unwrap()),
        "names the state root: {err}"
    );
    assert_eq!(w.last_log_error().as_deref(), Some(err.trim_end()));
    let cgroup = hardrun::commands::create::default_cgroups_path(&root, "r1");
    for ctl in ["memory", "pids", "cpu"] {
        assert!(!Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join(cgroup.trim_start_matches('/'))
            .exists());
    }
}

/// Whether this process (and so the runtime it starts) has CAP_SYS_RESOURCE in its effective set.
fn has_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    u64::from_str_radix(eff, 16).unwrap() & (1 << 24) != 0
}

#[test]
fn settings_the_kernel_refuses_without_cap_sys_resource_are_named() {
    let w = World::new("sysres");
    let own_hard: u64 = {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the rlimit we pass; nothing else aliases it.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
        r.rlim_max
    };
    for (id, edit, field) in [
        (
            "o1",
            serde_json::json!({"oomScoreAdj": -998}),
            "process.oomScoreAdj -998 is below the runtime's own",
        ),
        (
            "r1",
            serde_json::json!({"rlimits": [{"type": "RLIMIT_NOFILE", "hard": own_hard + 1, "soft": 1024}]}),
            "process.rlimits[0]: RLIMIT_NOFILE hard limit",
        ),
    ] {
        let b = w.bundle_with(&format!("b-{id}"), &["true"], |s| {
            for (k, v) in edit.as_object().unwrap() {
                s["process"][k] = v.clone();
            }
        });
        let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), id]);
        if has_sys_resource() {
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        } else {
            assert_eq!(out.status.code(), Some(1));
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(field) && err.contains("CAP_SYS_RESOURCE"),
                "{err}"
            );
        }
        w.assert_nothing_left(id);
    }
}

/// `check --spec FILE` reads the file as a bundle's `config.json` is read (`bundle`'s size cap,
/// parse and validation): bad input is one line naming the file and the field, exit 2 (the
/// gate's own failure is 1). And a config.json that cannot be read is named once, not with its
/// cause repeated.
#[test]
fn check_spec_files_are_read_as_bundles_are() {
    let w = World::new("chkspec");
    let check = |file: &Path| -> String {
        let args = ["check", "--spec", file.to_str().unwrap()];
        let out = w.hr(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(file.to_str().unwrap()), "{args:?}: {err}");
        err.trim_end().to_owned()
    };
    let file = w.dir.join("spec.json");
    // larger than the bundle's cap, though valid JSON: refused before it is parsed
    let mut big = vec![b' '; 5 * 1024 * 1024];
    big.extend_from_slice(&serde_json::to_vec(&default_spec()).unwrap());
    fs::write(&file, big).unwrap();
    assert!(check(&file).contains("larger than the 4194304 bytes hardrun accepts"));
    // a field of the wrong type is named, as for a bundle
    let mut spec = default_spec();
    spec["process"]["user"]["uid"] = json!("root");
    fs::write(&file, serde_json::to_vec(&spec).unwrap()).unwrap();
    assert!(check(&file).contains("field process.user.uid:"));
    // validated as a bundle's: a spec of another major version is not judged
    let mut spec = default_spec();
    spec["ociVersion"] = json!("2.0.0");
    fs::write(&file, serde_json::to_vec(&spec).unwrap()).unwrap();
    assert!(check(&file).contains("field ociVersion: unsupported version"));
    // a syntax error has its position
    fs::write(&file, "{\n  \"ociVersion\": \"1.0.2\",\n  oops\n}").unwrap();
    assert!(check(&file).contains("invalid JSON at line 3 column"));

    // create: a config.json that is a directory is one line, its cause said once
    let b = w.dir.join("b");
    fs::create_dir_all(b.join("config.json")).unwrap();
    let out = w.hr(&["create", "--bundle", b.to_str().unwrap(), "cs1"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.matches("os error 21").count(), 1, "{err}");
    w.assert_nothing_left("cs1");
}
