//! runc parity of lifecycle behaviours under `permissive` (issue 13, item 7): what runc's own
//! integration suite found where hardrun differed from runc 1.1.5 — a container's own
//! sub-cgroups at delete, a host pid namespace, a frozen cgroup at create, exec into a created
//! container, a terminal in the foreground, exec's exit status and `events --interval`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

/// `runc --root <world>/runc-state <args…>`, stdout and stderr in files like [`World::hr`].
fn runc(w: &World, args: &[&str]) -> Output {
    let mut c = Command::new(RUNC);
    c.arg("--root").arg(w.dir.join("runc-state")).args(args);
    c.stdin(Stdio::null());
    output_via_files(c, &w.dir, Duration::from_secs(60))
}

fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The mount points of every cgroup hierarchy (v1 controllers, named v1 hierarchies, v2).
fn hierarchies() -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
        })
        .collect()
}

/// The directories of cgroup `path` that exist, in any hierarchy.
fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join(path.trim_start_matches('/')))
        .filter(|d| d.exists())
        .collect()
}

/// Every process in `dir` and below.
fn procs_below(dir: &Path) -> Vec<i32> {
    let mut out: Vec<i32> = fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(procs_below(&e.path()));
        }
    }
    out
}

/// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        !s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

/// Waits (at most 20 s) until `cond` holds; fails the test with `what` otherwise.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A writable `/sys/fs/cgroup` in a cgroup namespace of the container's own (runc's
/// `set_cgroup_mount_writable` with the cgroup namespace): what Docker in Docker and systemd
/// in a container get.
fn cgroup_manager_spec(s: &mut Value, args: &[&str]) {
    s["process"]["args"] = json!(args);
    s["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime"]
    }));
}

/// A shell script that puts a `sleep` into `sub/deeper` below the container's cgroup in the
/// memory, freezer and pids hierarchies (cgroup v1) or in the unified one (v2), leaves a
/// `sleep` in the container's own cgroup, and then waits.
const MAKE_SUB_CGROUPS: &str = "sleep 1001 & sleep 1002 & p=$!; \
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then set -- /sys/fs/cgroup; \
    else set -- /sys/fs/cgroup/memory /sys/fs/cgroup/freezer /sys/fs/cgroup/pids; fi; \
    for d in \"$@\"; do mkdir -p $d/sub/deeper && echo $p > $d/sub/deeper/cgroup.procs || exit 1; done; \
    exec sleep 1000";

/// The container's cgroup once the script above has run: its directories and every process in
/// them (the init and two sleeps).
fn sub_cgroups_made(w: &World, id: &str) -> (Vec<PathBuf>, Vec<i32>) {
    let path = w.cgroup_path(id);
    let expected = if cgroup_v2() { 1 } else { 3 };
    wait_for("the container's sub-cgroups", || {
        cgroup_dirs(&path)
            .iter()
            .filter(|d| !procs_below(&d.join("sub/deeper")).is_empty())
            .count()
            >= expected
    });
    let dirs = cgroup_dirs(&path);
    let mut pids: Vec<i32> = dirs.iter().flat_map(|d| procs_below(d)).collect();
    pids.sort();
    pids.dedup();
    let nested: Vec<&PathBuf> = dirs
        .iter()
        .filter(|d| d.join("sub/deeper").is_dir())
        .collect();
    assert!(
        nested.len() >= expected,
        "sub-cgroups were not made: {dirs:?}"
    );
    (dirs, pids)
}

/// Nothing of the container is left: no state, no cgroup in any hierarchy, no process.
fn assert_all_gone(w: &World, id: &str, pids: &[i32]) {
    w.assert_nothing_left(id);
    let left = cgroup_dirs(&w.cgroup_path(id));
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
    let living: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    assert!(living.is_empty(), "processes left alive: {living:?}");
}

#[test]
fn delete_force_removes_the_sub_cgroups_a_container_made() {
    // runc's delete.bats "runc delete --force in cgroupv1 with subcgroups" (and its v2 twin)
    let w = World::new("rt-subcg");
    let b = w.bundle_with("b", &[], |s| {
        cgroup_manager_spec(s, &["sh", "-c", MAKE_SUB_CGROUPS]);
    });
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "sc1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, pids) = sub_cgroups_made(&w, "sc1");
    assert_eq!(pids.len(), 3, "the init and two sleeps: {pids:?}");

    let out = w.hr(&["delete", "--force", "sc1"]);
    assert!(
        out.status.success(),
        "delete --force of a container with sub-cgroups: {}",
        stderr(&out)
    );
    assert!(!w.hr(&["state", "sc1"]).status.success());
    assert_all_gone(&w, "sc1", &pids);
}

#[test]
fn without_a_pid_namespace_delete_takes_down_every_process_of_the_cgroup() {
    // the host's pid namespace: the init's end does not end the others (runc's kill.bats "kill
    // KILL [host pidns + init gone]"); delete kills what is left, sub-cgroups included
    let w = World::new("rt-hostpid");
    let b = w.bundle_with("b", &[], |s| {
        cgroup_manager_spec(s, &["sh", "-c", MAKE_SUB_CGROUPS]);
        let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "hp1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, pids) = sub_cgroups_made(&w, "hp1");
    let init = w.state("hp1")["pid"].as_i64().unwrap() as i32;
    // an exec'd process too, in the container's own cgroup
    let out = w.hr(&["exec", "-d", "hp1", "sleep", "1003"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // the init goes; the others stay (no pid namespace ends with it): the container is stopped
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    w.wait_status("hp1", "stopped");
    let mut all: Vec<i32> = cgroup_dirs(&w.cgroup_path("hp1"))
        .iter()
        .flat_map(|d| procs_below(d))
        .chain(pids.iter().copied().filter(|&p| p != init))
        .collect();
    all.sort();
    all.dedup();
    assert!(
        all.len() >= 3 && all.iter().all(|&p| alive(p)),
        "the container's other processes outlive its init: {all:?}"
    );

    // a plain delete of the stopped container: every process of its cgroup tree goes
    let out = w.hr(&["delete", "hp1"]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
    assert_all_gone(&w, "hp1", &all);
}

/// A cgroup frozen before the container is created in it; thawed and removed at the end,
/// whatever the test did (a hardrun stuck in it would stay stuck).
struct FrozenCgroup {
    dirs: Vec<PathBuf>,
}

impl FrozenCgroup {
    fn new(path: &str) -> Self {
        let dir = if cgroup_v2() {
            Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'))
        } else {
            Path::new("/sys/fs/cgroup/freezer").join(path.trim_start_matches('/'))
        };
        fs::create_dir_all(&dir).unwrap();
        let f = FrozenCgroup {
            dirs: vec![dir.clone(), dir.parent().unwrap().to_path_buf()],
        };
        if cgroup_v2() {
            fs::write(dir.join("cgroup.freeze"), "1").unwrap();
        } else {
            fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
        }
        f
    }
}

impl Drop for FrozenCgroup {
    fn drop(&mut self) {
        let dir = &self.dirs[0];
        let _ = fs::write(dir.join("freezer.state"), "THAWED");
        let _ = fs::write(dir.join("cgroup.freeze"), "0");
        std::thread::sleep(Duration::from_millis(100));
        for d in &self.dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

#[test]
fn create_into_a_frozen_cgroup_fails_instead_of_hanging() {
    // runc's cgroups.bats "runc run/create should refuse pre-existing frozen cgroup"
    let w = World::new("rt-frozen");
    for cmd in ["run", "create"] {
        let id = format!("fz-{cmd}");
        let path = format!("/hardrun-test-frozen-{}/{id}", std::process::id());
        let frozen = FrozenCgroup::new(&path);
        let b = w.bundle_with(&id, &["sleep", "1000"], |s| {
            s["linux"]["cgroupsPath"] = json!(path);
        });
        let mut c = w.hr_cmd(&[cmd]);
        if cmd == "run" {
            c.arg("-d");
        }
        c.args(["--bundle", b.to_str().unwrap(), &id]);
        // a create stuck in the frozen cgroup fails here, within 20 s, instead of hanging
        let out = output_via_files(c, &w.dir, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(1), "{cmd}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{cmd}: one line: {err}");
        assert!(
            err.contains("container's cgroup unexpectedly frozen")
                && err.contains(&frozen.dirs[0].display().to_string()),
            "{cmd}: says what and where: {err}"
        );
        // nothing left: no state; no cgroup but the frozen one the test made
        assert!(!w.root.join(&id).exists(), "{cmd}: state left behind");
        let made: Vec<PathBuf> = cgroup_dirs(&path)
            .into_iter()
            .filter(|d| d != &frozen.dirs[0])
            .collect();
        assert!(made.is_empty(), "{cmd}: cgroups left behind: {made:?}");
        // runc says the same
        let r = runc(
            &w,
            &["run", "-d", "--bundle", b.to_str().unwrap(), "runc-fz"],
        );
        assert_eq!(r.status.code(), Some(1), "runc: {}", stderr(&r));
        assert!(stderr(&r).contains("container's cgroup unexpectedly frozen"));
    }
}

fn proc_status(pid: i32) -> BTreeMap<String, String> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"))
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| {
            (
                k.to_owned(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect()
}

#[test]
fn exec_into_a_created_container_as_runc() {
    let w = World::new("rt-exec-created");
    let b = w.bundle("b", &["sleep", "1000"]);
    let b = b.to_str().unwrap();
    // runc 1.1.5 takes it
    assert!(runc(&w, &["create", "--bundle", b, "r1"]).status.success());
    let r = runc(&w, &["exec", "r1", "echo", "in r1"]);
    assert_eq!(r.status.code(), Some(0), "runc: {}", stderr(&r));
    assert!(runc(&w, &["delete", "--force", "r1"]).status.success());

    let out = w.hr(&["create", "--bundle", b, "c1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = w.hr(&["exec", "c1", "echo", "in c1"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "exec into created: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "in c1\n");
    assert_eq!(w.state("c1")["status"], "created", "exec does not start it");
    // start still works afterwards
    let out = w.hr(&["start", "c1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.wait_status("c1", "running");
    assert!(w.hr(&["delete", "--force", "c1"]).status.success());
    w.assert_nothing_left("c1");
}

#[test]
fn exec_into_a_created_container_holds_the_profile() {
    // the exec door (tests/exec_door.rs) holds before start too: the exec'd process gets the
    // container's seccomp filter, no_new_privs, capabilities, user and namespaces
    let w = World::new("rt-exec-created-r");
    let b = w.bundle("b", &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "cr1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid_file = w.dir.join("exec.pid");
    let out = w.hr(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "cr1",
        "sleep",
        "1001",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let epid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let exec = proc_status(epid);
    assert_eq!(exec["Seccomp"], "2", "{exec:?}");
    assert_eq!(exec["NoNewPrivs"], "1", "{exec:?}");
    // restricted: CAP_NET_BIND_SERVICE only, a user namespace of the container's own
    assert_eq!(exec["CapEff"], "0000000000000400", "{exec:?}");
    assert_eq!(exec["CapBnd"], "0000000000000400", "{exec:?}");
    assert!(!exec["Uid"].starts_with("0 "), "root on the host: {exec:?}");
    w.assert_live("cr1");

    // once started, the init holds the same
    assert!(w.hr(&["start", "cr1"]).status.success());
    w.wait_status("cr1", "running");
    let init_pid = w.state("cr1")["pid"].as_i64().unwrap() as i32;
    wait_for("the init's filter", || {
        proc_status(init_pid)["Seccomp"] == "2"
    });
    let init = proc_status(init_pid);
    for key in [
        "Seccomp",
        "NoNewPrivs",
        "CapEff",
        "CapPrm",
        "CapBnd",
        "CapAmb",
        "Uid",
        "Gid",
    ] {
        assert_eq!(
            exec.get(key),
            init.get(key),
            "{key}: exec'd {exec:?} init {init:?}"
        );
    }
    for ns in ["user", "pid", "mnt", "net", "ipc", "uts", "cgroup"] {
        assert_eq!(
            fs::read_link(format!("/proc/{epid}/ns/{ns}")).unwrap(),
            fs::read_link(format!("/proc/{init_pid}/ns/{ns}")).unwrap(),
            "{ns} namespace"
        );
    }
    assert_eq!(
        fs::read_to_string(format!("/proc/{epid}/uid_map")).unwrap(),
        fs::read_to_string(format!("/proc/{init_pid}/uid_map")).unwrap()
    );
    assert_eq!(w.assert_live("cr1"), 2);
    assert!(w.hr(&["delete", "--force", "cr1"]).status.success());
    w.assert_nothing_left("cr1");
}

/// Runs `cmd` with a fresh pseudo-terminal as its stdin (and controlling terminal) and its
/// stdout and stderr in files, as `script` or a terminal emulator would start it with output
/// redirected; returns what it wrote, `\r` and the NUL runc's console writes first removed.
fn on_a_terminal(w: &World, mut cmd: Command) -> Output {
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = pty.slave.try_clone().unwrap();
    cmd.stdin(Stdio::from(slave));
    // SAFETY: setsid and ioctl are async-signal-safe; they run in the child before exec
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut out = output_via_files(cmd, &w.dir, Duration::from_secs(30));
    drop(pty);
    let clean = |b: &[u8]| -> Vec<u8> {
        b.iter()
            .copied()
            .filter(|&c| c != b'\r' && c != 0)
            .collect()
    };
    out.stdout = clean(&out.stdout);
    out.stderr = clean(&out.stderr);
    out
}

/// What the process reports about its stdio: `tty`, then which of 0, 1, 2 are terminals.
const TTY_REPORT: &str = "tty; for f in 0 1 2; do [ -t $f ] && echo $f=tty || echo $f=not; done";

fn assert_on_the_containers_terminal(what: &str, out: &Output) {
    let text = stdout(out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() == 4 && lines[0].starts_with("/dev/pts/"),
        "{what}: the process's terminal is one of the container's: {text:?} {}",
        stderr(out)
    );
    assert_eq!(&lines[1..], ["0=tty", "1=tty", "2=tty"], "{what}: {text:?}");
}

#[test]
fn a_foreground_terminal_is_allocated_and_relayed_as_runc() {
    let w = World::new("rt-tty");
    let b = w.bundle("b", &["sleep", "1000"]);
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "t1"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // exec -t: stdin, stdout and stderr of the process are all the pty
    let c = w.hr_cmd(&["exec", "-t", "t1", "sh", "-c", TTY_REPORT]);
    let out = on_a_terminal(&w, c);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_on_the_containers_terminal("exec -t", &out);

    // runc does the same
    assert!(
        runc(&w, &["run", "-d", "--bundle", b.to_str().unwrap(), "r1"])
            .status
            .success()
    );
    let mut c = Command::new(RUNC);
    c.arg("--root").arg(w.dir.join("runc-state"));
    c.args(["exec", "-t", "r1", "sh", "-c", TTY_REPORT]);
    let r = on_a_terminal(&w, c);
    assert_on_the_containers_terminal("runc exec -t", &r);
    assert!(runc(&w, &["delete", "--force", "r1"]).status.success());
    assert!(w.hr(&["delete", "--force", "t1"]).status.success());

    // run with a terminal in the foreground, and its exit status
    let script = format!("{TTY_REPORT}; exit 3");
    let b = w.bundle_with("bt", &["sh", "-c", &script], |s| {
        s["process"]["terminal"] = json!(true);
    });
    let c = w.hr_cmd(&["run", "--bundle", b.to_str().unwrap(), "t2"]);
    let out = on_a_terminal(&w, c);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_on_the_containers_terminal("run (terminal)", &out);
    w.assert_nothing_left("t2");
}

#[test]
fn exec_failures_exit_255_as_runc() {
    let w = World::new("rt-exec-255");
    let b = w.bundle("b", &["sleep", "1000"]);
    let b = b.to_str().unwrap();
    assert!(w.hr(&["run", "-d", "--bundle", b, "e1"]).status.success());
    assert!(runc(&w, &["run", "-d", "--bundle", b, "r1"])
        .status
        .success());
    for (what, h, r, needle) in [
        (
            "no such executable",
            vec!["exec", "e1", "/nonexistent"],
            vec!["exec", "r1", "/nonexistent"],
            "\"/nonexistent\"",
        ),
        (
            "not executable",
            vec!["exec", "e1", "/proc/self/status"],
            vec!["exec", "r1", "/proc/self/status"],
            "/proc/self/status",
        ),
        (
            "no such container",
            vec!["exec", "nosuch", "true"],
            vec!["exec", "nosuch", "true"],
            "nosuch",
        ),
        (
            // runc: chdir to cwd ("/nonexistent") set in config.json failed: no such file …
            "no such cwd",
            vec!["exec", "--cwd", "/nonexistent", "e1", "true"],
            vec!["exec", "--cwd", "/nonexistent", "r1", "true"],
            "chdir to cwd (\"/nonexistent\") set in the process failed: no such file or directory",
        ),
    ] {
        let ro = runc(&w, &r);
        assert_eq!(ro.status.code(), Some(255), "runc, {what}: {}", stderr(&ro));
        let ho = w.hr(&h);
        assert_eq!(ho.status.code(), Some(255), "{what}: {}", stderr(&ho));
        let err = stderr(&ho);
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(
            err.starts_with("exec failed: "),
            "{what}: runc's words first: {err}"
        );
        assert!(err.contains(needle), "{what}: names {needle}: {err}");
    }
    // the process's own status is passed through untouched
    assert_eq!(
        w.hr(&["exec", "e1", "sh", "-c", "exit 7"]).status.code(),
        Some(7)
    );
    assert!(runc(&w, &["delete", "--force", "r1"]).status.success());
    assert!(w.hr(&["delete", "--force", "e1"]).status.success());
}

#[test]
fn events_interval_needs_a_unit_as_runc() {
    let w = World::new("rt-events");
    let b = w.bundle("b", &["sleep", "1000"]);
    let b = b.to_str().unwrap();
    assert!(w.hr(&["run", "-d", "--bundle", b, "ev1"]).status.success());
    assert!(runc(&w, &["run", "-d", "--bundle", b, "r1"])
        .status
        .success());
    // runc 1.1.5 refuses a bare number (exit 1) instead of streaming every second forever
    let r = runc(&w, &["events", "--interval", "1", "r1"]);
    assert_eq!(r.status.code(), Some(1), "runc: {}", stderr(&r));
    // a hardrun that takes it streams until killed: a failure here, not a stuck suite
    let h = output_via_files(
        w.hr_cmd(&["events", "--interval", "1", "ev1"]),
        &w.dir,
        Duration::from_secs(10),
    );
    assert_eq!(h.status.code(), Some(1), "{}", stderr(&h));
    assert!(
        stderr(&h).contains("invalid duration \"1\"") && stderr(&h).contains("1s"),
        "names the value and the fix: {}",
        stderr(&h)
    );
    assert!(runc(&w, &["delete", "--force", "r1"]).status.success());
    assert!(w.hr(&["delete", "--force", "ev1"]).status.success());
}

/// The mount point of the cgroup v2 hierarchy: `/sys/fs/cgroup` on a v2 host, the `unified`
/// one of a hybrid host.
fn cgroup2_mount() -> Option<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split(' ').next()? == "cgroup2")
                .then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
        })
}

#[test]
fn sub_cgroups_and_freezing_are_handled_on_cgroup_v2_too() {
    // the v2 side of delete and create, on the v2 hierarchy this host has (the whole tree on a
    // v2 host, the `unified` one of a hybrid host): a process two levels below a container's
    // cgroup is killed and the levels removed; a frozen v2 cgroup is named at create
    let Some(v2) = cgroup2_mount() else {
        eprintln!("no cgroup2 hierarchy on this host: skipped");
        return;
    };
    let path = format!("/hardrun-test-v2-{}/c1", std::process::id());
    let top = v2.join(path.trim_start_matches('/'));
    let deeper = top.join("sub/deeper");
    fs::create_dir_all(&deeper).unwrap();
    let mut sleeper = Command::new("sleep").arg("1000").spawn().unwrap();
    fs::write(deeper.join("cgroup.procs"), sleeper.id().to_string()).unwrap();

    let cleared = hardrun::runtime::cgroup_tree::clear_below(Path::new(&path));
    let status = sleeper.wait().unwrap();
    let sub_left = top.join("sub").exists();
    // the frozen check, on the container's own v2 cgroup
    fs::write(top.join("cgroup.freeze"), "1").unwrap();
    let frozen = hardrun::runtime::cgroup_tree::frozen(Path::new(&path));
    let frozen_below = hardrun::runtime::cgroup_tree::frozen(Path::new(&format!("{path}/not-yet")));
    fs::write(top.join("cgroup.freeze"), "0").unwrap();
    let thawed = hardrun::runtime::cgroup_tree::frozen(Path::new(&path));
    let _ = fs::remove_dir(top.join("sub/deeper"));
    let _ = fs::remove_dir(top.join("sub"));
    fs::remove_dir(&top).unwrap();
    fs::remove_dir(top.parent().unwrap()).unwrap();

    assert_eq!(cleared, Ok(()));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the process below was SIGKILLed"
    );
    assert!(!sub_left, "sub-cgroups left below {}", top.display());
    assert!(
        frozen
            .as_deref()
            .is_some_and(|w| w.contains(&top.display().to_string())),
        "a frozen v2 cgroup is named: {frozen:?}"
    );
    assert!(
        frozen_below.is_some(),
        "a path below a frozen cgroup is frozen too"
    );
    assert_eq!(thawed, None);
}
