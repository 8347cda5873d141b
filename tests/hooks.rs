//! Hooks and the runc parity items of issue 13 that live next to them: what each hook sees (the
//! caller's bundle, runc's working directory), a hook that does not read its stdin, a failing
//! poststop hook, `disableOOMKiller`, and a spec without a mount namespace. Real busybox
//! containers, under `permissive` (the World's default), where hardrun must behave like runc.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

const PATH_ENV: &str = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

/// A hook on the host that records its working directory and its stdin under `out`.
fn recording_hook(out: &Path, name: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!(
            "pwd > {o}/{name}.cwd; cat > {o}/{name}.json",
            o = out.display()
        )],
        "env": [PATH_ENV]
    })
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the hook left no {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not the state JSON ({e}): {text:?}", path.display()))
}

fn read_line(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the hook left no {}: {e}", path.display()))
        .trim_end()
        .to_owned()
}

/// A directory the callers run from: neither the bundle nor the rootfs.
fn elsewhere(w: &World) -> PathBuf {
    let d = w.dir.join("elsewhere");
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_hook_sees_the_callers_bundle_and_runcs_working_directory() {
    let w = World::new("hook-bundle");
    let out = w.dir.join("out");
    fs::create_dir_all(&out).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).unwrap();
    // createContainer with a relative path: runc 1.1.5 runs it from the rootfs (its init's
    // working directory), so `./cc-hook` names a file of the rootfs
    let rootfs = w.dir.join("rootfs");
    rootfs_copy(&rootfs, &[]);
    fs::write(
        rootfs.join("cc-hook"),
        format!(
            "#!/bin/sh\npwd > {o}/createContainer.cwd\ncat > {o}/createContainer.json\n",
            o = out.display()
        ),
    )
    .unwrap();
    fs::set_permissions(rootfs.join("cc-hook"), fs::Permissions::from_mode(0o755)).unwrap();
    let b = w.bundle_with("b", &["sleep", "1000"], |s| {
        s["root"]["path"] = json!(rootfs);
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]}));
        s["hooks"] = json!({
            "prestart": [recording_hook(&out, "prestart")],
            "createRuntime": [recording_hook(&out, "createRuntime")],
            "createContainer": [{"path": "./cc-hook", "env": [PATH_ENV]}],
            // in the container, after pivot_root: its own sh, writing to the bind mount
            "startContainer": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "pwd > /out/startContainer.cwd; cat > /out/startContainer.json"],
                "env": ["PATH=/bin"]
            }],
            "poststart": [recording_hook(&out, "poststart")],
            "poststop": [recording_hook(&out, "poststop")],
        });
    });
    let from = elsewhere(&w);
    let o = w.hr_from(&from, &["create", "--bundle", b.to_str().unwrap(), "hb1"]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let o = w.hr_from(&from, &["start", "hb1"]);
    assert!(o.status.success(), "start: {}", stderr(&o));
    let reported = w.state("hb1")["bundle"].clone();
    assert_eq!(
        reported,
        json!(b),
        "hardrun state reports the caller's bundle"
    );
    let o = w.hr_from(&from, &["delete", "--force", "hb1"]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
    w.assert_nothing_left("hb1");

    for hook in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        let state = read_json(&out.join(format!("{hook}.json")));
        assert_eq!(state["bundle"], reported, "{hook} hook: {state}");
        assert_eq!(state["id"], "hb1", "{hook} hook: {state}");
    }
    // runc 1.1.5 on this host (`runc create` from /, `start` from /usr, `delete` from /etc):
    // prestart, createRuntime, poststart in the bundle; createContainer in the rootfs;
    // poststop where `delete` was called
    let cwd = |hook: &str| read_line(&out.join(format!("{hook}.cwd")));
    for hook in ["prestart", "createRuntime", "poststart"] {
        assert_eq!(
            cwd(hook),
            b.to_str().unwrap(),
            "{hook} hook's working directory"
        );
    }
    assert_eq!(cwd("createContainer"), rootfs.to_str().unwrap());
    assert_eq!(cwd("poststop"), from.to_str().unwrap());
    assert_eq!(cwd("startContainer"), "/");
}

#[test]
fn a_hook_that_does_not_read_its_stdin_does_not_kill_create() {
    // the state on the hook's stdin is larger than a pipe's buffer: the write fails with EPIPE
    // once `/bin/true` has exited, which libcontainer expects; SIGPIPE must not end hardrun
    let w = World::new("hook-pipe");
    let big = "x".repeat(200 * 1024);
    let b = w.bundle_with("b", &["sleep", "1000"], |s| {
        s["annotations"] = json!({"org.example.big": big});
        s["hooks"] = json!({"prestart": [{"path": "/bin/true"}]});
    });
    for i in 0..3 {
        let id = format!("hp{i}");
        let o = w.hr(&["create", "--bundle", b.to_str().unwrap(), &id]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "create {id} (signal {:?}): {}",
            std::os::unix::process::ExitStatusExt::signal(&o.status),
            stderr(&o)
        );
        let o = w.hr(&["start", &id]);
        assert!(o.status.success(), "start {id}: {}", stderr(&o));
        // the container's process still starts with SIGPIPE at its default disposition
        let pid = w.state(&id)["pid"].as_i64().unwrap();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let ign = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap();
        assert_eq!(
            ign & (1 << (libc::SIGPIPE - 1)),
            0,
            "SIGPIPE is ignored in the container's process (SigIgn {ign:016x})"
        );
        assert!(w.hr(&["delete", "--force", &id]).status.success());
        w.assert_nothing_left(&id);
    }
}

#[test]
fn a_failing_poststop_hook_is_a_warning_and_delete_removes_everything() {
    let w = World::new("hook-poststop");
    let out = w.dir.join("out");
    fs::create_dir_all(&out).unwrap();
    let b = w.bundle_with("b", &["sleep", "1000"], |s| {
        s["hooks"] = json!({"poststop": [{"path": "/bin/false"}, recording_hook(&out, "second")]});
    });
    let o = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "ps1"]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    let o = w.hr(&["delete", "--force", "ps1"]);
    assert_eq!(o.status.code(), Some(0), "delete: {}", stderr(&o));
    w.assert_nothing_left("ps1");
    let err = stderr(&o);
    assert!(
        err.contains("poststop hook") && err.contains("/bin/false"),
        "stderr names the failing hook: {err:?}"
    );
    let log = fs::read_to_string(w.log_path()).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"warning\"") && l.contains("/bin/false")),
        "the log has a warning naming the hook:\n{log}"
    );
    // the remaining hooks still run (runtime-spec: "the remaining hooks and lifecycle continue")
    assert_eq!(read_json(&out.join("second.json"))["id"], "ps1");

    // a poststop hook that lived in the bundle, and the bundle is gone: delete still succeeds
    let b2 = w.dir.join("b2");
    let hook = b2.join("cleanup.sh");
    let b2 = w.bundle_with("b2", &["sleep", "1000"], |s| {
        s["hooks"] = json!({"poststop": [{"path": hook}]});
    });
    fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    let o = w.hr(&["run", "-d", "--bundle", b2.to_str().unwrap(), "ps2"]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    fs::remove_dir_all(&b2).unwrap();
    let o = w.hr(&["delete", "--force", "ps2"]);
    assert_eq!(o.status.code(), Some(0), "delete: {}", stderr(&o));
    w.assert_nothing_left("ps2");
    assert!(stderr(&o).contains("cleanup.sh"), "{}", stderr(&o));
}

#[test]
fn disable_oom_killer_is_written_like_runc_and_survives_update() {
    let w = World::new("oom-ctl");
    let mk = |name: &str, disable: bool| {
        w.bundle_with(name, &["sleep", "1000"], |s| {
            s["linux"]["resources"]["memory"] =
                json!({"limit": 64 * 1024 * 1024, "disableOOMKiller": disable});
        })
    };
    let on = mk("on", true);
    let off = mk("off", false);
    for (id, b, want) in [("oom1", &on, "1"), ("oom0", &off, "0")] {
        let o = w.hr(&["create", "--bundle", b.to_str().unwrap(), id]);
        assert!(o.status.success(), "create {id}: {}", stderr(&o));
        let ctl = w.cgroup_read("memory", id, "memory.oom_control");
        assert!(
            ctl.lines().any(|l| l == format!("oom_kill_disable {want}")),
            "{id}: memory.oom_control reads {ctl:?}"
        );
    }
    // runc's update leaves the setting alone (it only ever writes the 1)
    let o = w.hr(&["update", "--memory", "128m", "oom1"]);
    assert!(o.status.success(), "update: {}", stderr(&o));
    assert_eq!(
        w.cgroup_read("memory", "oom1", "memory.limit_in_bytes"),
        "134217728"
    );
    let ctl = w.cgroup_read("memory", "oom1", "memory.oom_control");
    assert!(
        ctl.lines().any(|l| l == "oom_kill_disable 1"),
        "after update: {ctl:?}"
    );
    for id in ["oom1", "oom0"] {
        assert!(w.hr(&["delete", "--force", id]).status.success());
        w.assert_nothing_left(id);
    }
}

#[test]
fn a_spec_without_a_mount_namespace_runs_in_the_callers() {
    // runtime-tools `linux_ns_itype`: the namespaces the spec leaves out are the caller's
    let w = World::new("no-mntns");
    // without a mount namespace libcontainer makes /dev's nodes in the rootfs itself: a copy
    let rootfs = w.dir.join("rootfs");
    rootfs_copy(&rootfs, &[]);
    let b = w.bundle_with("b", &["sleep", "1000"], |s| {
        s["root"]["path"] = json!(rootfs);
        s["mounts"] = json!([]);
        s["root"]["readonly"] = json!(false);
        s["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}]);
        s["linux"].as_object_mut().unwrap().remove("maskedPaths");
        s["linux"].as_object_mut().unwrap().remove("readonlyPaths");
    });
    let own = fs::read_link("/proc/self/ns/mnt").unwrap();
    let o = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "nm1"]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    let pid = w.state("nm1")["pid"].as_i64().unwrap();
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(),
        own,
        "the container's init is in the caller's mount namespace"
    );
    // and a process exec'd into it
    let pid_file = w.dir.join("exec.pid");
    let o = w.hr(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "nm1",
        "sleep",
        "1000",
    ]);
    assert!(o.status.success(), "exec: {}", stderr(&o));
    let epid = read_line(&pid_file);
    assert_eq!(
        fs::read_link(format!("/proc/{epid}/ns/mnt")).unwrap(),
        own,
        "the exec'd process is in the caller's mount namespace"
    );
    // a spec with one still gets a new one
    let b2 = w.bundle("b2", &["sleep", "1000"]);
    let o = w.hr(&["run", "-d", "--bundle", b2.to_str().unwrap(), "nm2"]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    let pid2 = w.state("nm2")["pid"].as_i64().unwrap();
    assert_ne!(fs::read_link(format!("/proc/{pid2}/ns/mnt")).unwrap(), own);
    for id in ["nm1", "nm2"] {
        assert!(w.hr(&["delete", "--force", id]).status.success());
        w.assert_nothing_left(id);
    }
    // a create that fails after the rootfs was built (a prestart hook fails) leaves none either
    let b3 = w.bundle_with("b3", &["sleep", "1000"], |s| {
        *s = serde_json::from_slice(&fs::read(b.join("config.json")).unwrap()).unwrap();
        s["hooks"] = json!({"prestart": [{"path": "/bin/false"}]});
    });
    let o = w.hr(&["create", "--bundle", b3.to_str().unwrap(), "nm3"]);
    assert_eq!(o.status.code(), Some(1), "create: {}", stderr(&o));
    w.assert_nothing_left("nm3");
    // built in the caller's mount namespace, as runc builds it, but nothing of it stays there
    // (runc 1.1.5 leaves the rootfs bind and the spec's mounts behind)
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(rootfs.to_str().unwrap()),
        "a mount at {} was left in the caller's mount namespace:\n{mounts}",
        rootfs.display()
    );
}
