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
