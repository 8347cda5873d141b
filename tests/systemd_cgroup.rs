//! The systemd cgroup driver (`--systemd-cgroup`, what containerd's `SystemdCgroup = true`
//! passes), on a systemd host with cgroup v2 (issue 17): hardrun asks systemd for a transient
//! scope as runc does (`system.slice:hardrun:<id>` → `system.slice/hardrun-<id>.scope`), the
//! profile's limits are the values in the scope's cgroup files and systemd's properties,
//! `update` stays under the profile's ceilings, the eBPF device filter holds, pause/resume
//! freeze the scope, and delete leaves no scope.
//!
//! This host (no systemd) skips every test with a printed reason; the systemd variant of the
//! cgroup v2 lane (scripts/cgroup2-systemd-vm.sh) runs them in a VM whose PID 1 is systemd, with
//! `HARDRUN_REQUIRE_SYSTEMD=1`, under which a skip is a failure. Every value is read from the
//! kernel (`/proc/<pid>/cgroup`, the scope's cgroup files) or from systemd (`systemctl show`).

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

use hardrun::policy::rules::DOCKER_CAPS;

const M: u64 = 1 << 20;
const G: u64 = 1 << 30;

/// Whether this is a systemd host with cgroup v2 only; prints why not (or fails, under
/// `HARDRUN_REQUIRE_SYSTEMD=1`: the lane must never pass by skipping).
fn systemd_host(test: &str) -> bool {
    let why = if !Path::new("/run/systemd/system").is_dir() {
        "systemd is not running (no /run/systemd/system)"
    } else if !cgroup_v2() {
        "the host is not cgroup v2 only"
    } else {
        return true;
    };
    assert!(
        std::env::var_os("HARDRUN_REQUIRE_SYSTEMD").is_none(),
        "{test}: HARDRUN_REQUIRE_SYSTEMD is set but {why}"
    );
    eprintln!("{test}: skipped: {why} (scripts/cgroup2-systemd-vm.sh runs it)");
    false
}

fn scope_dir(id: &str) -> PathBuf {
    PathBuf::from(format!("/sys/fs/cgroup/system.slice/hardrun-{id}.scope"))
}

fn read(dir: &Path, file: &str) -> String {
    let p = dir.join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
        .trim()
        .to_owned()
}

/// `systemctl show -p PROP --value UNIT`
fn unit_prop(unit: &str, prop: &str) -> String {
    let out = Command::new("systemctl")
        .args(["show", "-p", prop, "--value", unit])
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `systemctl is-active UNIT` (`inactive` also for a unit systemd no longer knows)
fn unit_state(unit: &str) -> String {
    let out = Command::new("systemctl")
        .args(["is-active", unit])
        .output()
        .expect("systemctl");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn run_systemd(w: &World, profile: &str, bundle: &Path, id: &str) {
    let out = w.hr(&[
        "--systemd-cgroup",
        "--profile",
        profile,
        "run",
        "-d",
        "--bundle",
        bundle.to_str().unwrap(),
        id,
    ]);
    assert!(out.status.success(), "run {id}: {}", stderr(&out));
}

fn pid_of(w: &World, id: &str) -> u64 {
    w.state(id)["pid"]
        .as_u64()
        .expect("a running container has a pid")
}

/// Deletes `id` (as containerd's shim does: with `--systemd-cgroup`) and waits for systemd to
/// have taken the scope down: no cgroup directory, no active unit.
fn delete_and_check_gone(w: &World, id: &str) {
    let out = w.hr(&["--systemd-cgroup", "delete", "--force", id]);
    assert!(out.status.success(), "delete {id}: {}", stderr(&out));
    let (dir, unit) = (scope_dir(id), format!("hardrun-{id}.scope"));
    let deadline = Instant::now() + Duration::from_secs(10 * u64::from(time_scale()));
    while (dir.exists() || unit_state(&unit) == "active") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!dir.exists(), "{} was left behind", dir.display());
    assert_ne!(unit_state(&unit), "active", "{unit} is still active");
    assert!(!w.root.join(id).exists(), "state of {id} was left behind");
}

/// `restricted` under the systemd driver: the container is in the scope runc's form names, with
/// restricted's memory (512m, no swap), pids (1024) and CPU (2 cpus) in the scope's cgroup files
/// and in systemd's own properties; delete takes the scope down.
#[test]
fn run_makes_the_scope_with_the_profiles_limits_and_delete_removes_it() {
    if !systemd_host("scope") {
        return;
    }
    let w = World::new("sd-scope");
    let id = "sd1";
    let b = w.bundle("b", &["sleep", "1000"]);
    run_systemd(&w, "restricted", &b, id);
    let pid = pid_of(&w, id);
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), format!("0::/system.slice/hardrun-{id}.scope"));
    let unit = format!("hardrun-{id}.scope");
    assert_eq!(unit_state(&unit), "active");
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(w.root.join(id).join("bundle/config.json")).unwrap())
            .unwrap();
    assert_eq!(
        spec["linux"]["cgroupsPath"],
        format!("system.slice:hardrun:{id}")
    );

    let d = scope_dir(id);
    assert_eq!(cgroup_num(&read(&d, "memory.max")), 512 * M);
    assert_eq!(cgroup_num(&read(&d, "memory.swap.max")), 0);
    assert_eq!(read(&d, "pids.max"), "1024");
    assert_eq!(read(&d, "cpu.max"), "200000 100000");
    // systemd holds the same values: a daemon-reload or a `systemctl set-property` re-applies
    // them, not the defaults
    assert_eq!(unit_prop(&unit, "MemoryMax"), (512 * M).to_string());
    assert_eq!(unit_prop(&unit, "TasksMax"), "1024");
    let reload = Command::new("systemctl").arg("daemon-reload").status();
    assert!(reload.is_ok_and(|s| s.success()), "systemctl daemon-reload");
    assert_eq!(
        cgroup_num(&read(&d, "memory.max")),
        512 * M,
        "after daemon-reload"
    );
    assert_eq!(read(&d, "pids.max"), "1024", "after daemon-reload");
    assert_eq!(read(&d, "cpu.max"), "200000 100000", "after daemon-reload");
    // the scope is the container's cgroup itself, not a parent of it
    assert!(
        read(&d, "cgroup.procs")
            .lines()
            .any(|l| l == pid.to_string()),
        "pid {pid} is not in {}",
        d.display()
    );
    // hardrun's own view agrees
    w.assert_live(id);
    delete_and_check_gone(&w, id);
}

/// `update` through the systemd driver is held to restricted's ceilings (memory 8g, pids 8192,
/// 8 cpus) like the cgroupfs driver: unlimited asks get the ceiling, in the cgroup files.
#[test]
fn update_stays_under_the_ceilings() {
    if !systemd_host("update") {
        return;
    }
    let w = World::new("sd-update");
    let id = "sd2";
    let b = w.bundle("b", &["sleep", "1000"]);
    run_systemd(&w, "restricted", &b, id);
    let d = scope_dir(id);
    let update = |args: &[&str]| {
        let mut a = vec!["--systemd-cgroup", "update"];
        a.extend_from_slice(args);
        a.push(id);
        let out = w.hr(&a);
        assert!(out.status.success(), "update {args:?}: {}", stderr(&out));
    };
    update(&["--memory", "256m", "--pids-limit", "100"]);
    assert_eq!(cgroup_num(&read(&d, "memory.max")), 256 * M);
    assert_eq!(read(&d, "pids.max"), "100");
    update(&["--memory=-1", "--pids-limit=-1", "--cpu-quota", "6400000"]);
    assert_eq!(cgroup_num(&read(&d, "memory.max")), 8 * G);
    assert_eq!(read(&d, "pids.max"), "8192");
    assert_eq!(read(&d, "cpu.max"), "800000 100000");
    delete_and_check_gone(&w, id);
}

/// pause and resume freeze and thaw the scope (`cgroup.freeze`; the kernel's `cgroup.events`).
#[test]
fn pause_and_resume_freeze_the_scope() {
    if !systemd_host("pause") {
        return;
    }
    let w = World::new("sd-pause");
    let id = "sd3";
    let b = w.bundle("b", &["sleep", "1000"]);
    run_systemd(&w, "restricted", &b, id);
    let d = scope_dir(id);
    let frozen = || read(&d, "cgroup.events").lines().any(|l| l == "frozen 1");
    assert!(!frozen());
    let out = w.hr(&["--systemd-cgroup", "pause", id]);
    assert!(out.status.success(), "pause: {}", stderr(&out));
    assert!(frozen(), "{}", read(&d, "cgroup.events"));
    assert_eq!(w.state(id)["status"], "paused");
    let out = w.hr(&["--systemd-cgroup", "resume", id]);
    assert!(out.status.success(), "resume: {}", stderr(&out));
    assert!(!frozen(), "{}", read(&d, "cgroup.events"));
    assert_eq!(w.state(id)["status"], "running");
    delete_and_check_gone(&w, id);
}

/// A block device this machine may open through a node made in `dir` (the VM's disk).
fn host_block_device(dir: &Path) -> (u32, u32) {
    let node = dir.join("host-node");
    let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
    for e in fs::read_dir("/sys/dev/block").expect("/sys/dev/block") {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let Some((ma, mi)) = name.split_once(':') else {
            continue;
        };
        let (Ok(ma), Ok(mi)) = (ma.parse::<u32>(), mi.parse::<u32>()) else {
            continue;
        };
        let _ = fs::remove_file(&node);
        // SAFETY: mknod with a valid NUL-terminated path; the kernel keeps no reference to it.
        let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(ma, mi)) };
        assert_eq!(r, 0, "mknod: {}", std::io::Error::last_os_error());
        let opened = fs::File::open(&node).and_then(|mut f| f.read(&mut [0u8; 512]));
        fs::remove_file(&node).unwrap();
        if opened.is_ok() {
            return (ma, mi);
        }
    }
    panic!("no block device in /sys/dev/block opens here");
}

/// Device access is default-deny in the scope too: under `baseline` (which keeps CAP_MKNOD, as
/// Docker does) a container makes a node of the machine's disk but cannot read it; an allowed
/// device works; a `systemctl daemon-reload` (systemd re-applying the scope's properties) leaves
/// the filter in place. Before HARDRUN-PATCHES.md §33 the systemd driver loaded no filter.
#[test]
fn the_device_filter_holds_in_the_scope() {
    if !systemd_host("devices") {
        return;
    }
    let w = World::new("sd-dev");
    let (ma, mi) = host_block_device(&w.dir);
    let script = format!(
        "mknod /dev/hostdisk b {ma} {mi} 2>/dev/null; [ -b /dev/hostdisk ] && echo mknod=ok || echo mknod=denied\n\
         if head -c 512 /dev/hostdisk > /dev/null 2>/dev/null; then echo read=ok; else echo read=denied; fi\n\
         rm -f /dev/null2; mknod /dev/null2 c 1 3 && echo x > /dev/null2 && echo null=ok || echo null=denied\n"
    );
    let b = w.bundle_with("b", &["sleep", "1000"], |s| {
        s["process"]["capabilities"] = json!({
            "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS
        });
        s["process"]["noNewPrivileges"] = json!(false);
        s["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    });
    let id = "sd4";
    run_systemd(&w, "baseline", &b, id);
    let probe = |when: &str| {
        let out = w.hr(&["--systemd-cgroup", "exec", id, "sh", "-c", &script]);
        assert_eq!(out.status.code(), Some(0), "{when}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("mknod=ok"), "{when}: {text}");
        assert!(
            text.contains("read=denied"),
            "{when}: the container read the disk:\n{text}"
        );
        assert!(text.contains("null=ok"), "{when}: {text}");
    };
    probe("after create");
    let reload = Command::new("systemctl").arg("daemon-reload").status();
    assert!(reload.is_ok_and(|s| s.success()), "systemctl daemon-reload");
    probe("after daemon-reload");
    delete_and_check_gone(&w, id);
}

/// A spec's own `cgroupsPath` in runc's systemd form is honoured (containerd's CRI passes
/// `<pod slice>:cri-containerd:<id>`); one in the cgroupfs form is refused with one line naming
/// the field, before anything is made.
#[test]
fn the_specs_cgroups_path_is_honoured_or_refused() {
    if !systemd_host("path") {
        return;
    }
    let w = World::new("sd-path");
    let b = w.bundle_with("b1", &["sleep", "1000"], |s| {
        s["linux"]["cgroupsPath"] = json!("system.slice:lane:sd5");
    });
    run_systemd(&w, "restricted", &b, "sd5");
    let pid = pid_of(&w, "sd5");
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), "0::/system.slice/lane-sd5.scope");
    let out = w.hr(&["--systemd-cgroup", "delete", "--force", "sd5"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let b = w.bundle_with("b2", &["true"], |s| {
        s["linux"]["cgroupsPath"] = json!("/docker/sd6");
    });
    let out = w.hr(&[
        "--systemd-cgroup",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "sd6",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("linux.cgroupsPath \"/docker/sd6\"") && err.contains("slice:prefix:name"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!w.root.join("sd6").exists());
    assert!(!Path::new("/sys/fs/cgroup/docker/sd6").exists());
}
