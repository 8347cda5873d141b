//! Every door into a container holds its profile: a process started by `exec` gets the
//! container's seccomp filter and user namespace, and no process of the container (its init
//! between `create` and `start`, an exec'd process before it runs) holds a descriptor of the
//! caller or of the runtime that was not passed on purpose.
//!
//! Everything is read from the host, as the kernel sees it: `/proc/<pid>/status`,
//! `/proc/<pid>/ns/*`, `/proc/<pid>/uid_map`, `/proc/<pid>/fd/*`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// `/proc/<pid>/status` as name -> value (whitespace collapsed).
fn status(pid: i32) -> BTreeMap<String, String> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"))
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), words(v)))
        .collect()
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What each open descriptor of `pid` points to, by number.
fn fds(pid: i32) -> BTreeMap<i32, String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
        .flatten()
        .filter_map(|e| {
            let n: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = fs::read_link(e.path()).ok()?;
            Some((n, target.to_string_lossy().into_owned()))
        })
        .collect()
}

fn ns(pid: i32, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

fn init_pid(w: &World, id: &str) -> i32 {
    w.state(id)["pid"]
        .as_i64()
        .expect("a running container has a pid") as i32
}

fn read_pid(path: &Path) -> i32 {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// `hardrun [pre…] exec -d --pid-file F <id> <args…>`: the exec'd process's host pid.
fn exec_detached(w: &World, pre: &[&str], env: &[(&str, &Path)], id: &str, args: &[&str]) -> i32 {
    let pid_file = w.dir.join(format!("exec-{id}-{}.pid", args.join("_")));
    let mut c = w.hr_cmd(pre);
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(["exec", "-d", "--pid-file"]).arg(&pid_file).arg(id);
    c.args(args);
    let out = output_via_files(c, &w.dir, Duration::from_secs(60));
    assert!(out.status.success(), "exec {args:?}: {}", stderr(&out));
    read_pid(&pid_file)
}

fn assert_same(what: &str, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) {
    for key in [
        "Seccomp",
        "Seccomp_filters",
        "NoNewPrivs",
        "CapEff",
        "CapPrm",
        "CapBnd",
        "CapAmb",
        "Uid",
        "Gid",
    ] {
        assert_eq!(
            a.get(key),
            b.get(key),
            "{what}: {key} differs from the init's"
        );
    }
}

#[test]
fn exec_under_restricted_holds_the_containers_seccomp_filter() {
    let w = World::new("xd-seccomp");
    let b = w.bundle("b", &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "s1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let init = status(init_pid(&w, "s1"));
    assert_eq!(init["Seccomp"], "2", "{init:?}");
    assert_eq!(init["NoNewPrivs"], "1", "{init:?}");

    let epid = exec_detached(&w, &[], &[], "s1", &["sleep", "1000"]);
    let exec = status(epid);
    assert_eq!(
        exec["Seccomp"], "2",
        "the exec'd process has no filter: {exec:?}"
    );
    assert_same("exec'd process", &exec, &init);
    assert_eq!(w.assert_live("s1"), 2);

    // what the filter is for: the probe that escaped through exec (a new user namespace)
    let out = w.hr(&[
        "exec",
        "s1",
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; unshare -U true 2>/dev/null; echo unshare=$?",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<String> = text.lines().map(words).collect();
    assert_eq!(lines[0], "Seccomp: 2", "{text}");
    assert_ne!(
        lines[1], "unshare=0",
        "a new user namespace via exec: {text}"
    );

    let out = w.hr(&["delete", "--force", "s1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.assert_nothing_left("s1");
}

#[test]
fn exec_under_baseline_without_no_new_privileges_holds_the_filter() {
    // baseline audits no-new-privileges: the filter is loaded before capabilities are dropped,
    // for the init and for every exec'd process alike
    let w = World::new("xd-baseline");
    let b = w.bundle_with("b", &["sleep", "1000"], |s| {
        s["process"]["noNewPrivileges"] = json!(false);
    });
    let out = w.hr(&[
        "--profile",
        "baseline",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "b1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let init = status(init_pid(&w, "b1"));
    assert_eq!(init["Seccomp"], "2", "{init:?}");
    assert_eq!(init["NoNewPrivs"], "0", "{init:?}");

    let epid = exec_detached(&w, &[], &[], "b1", &["sleep", "1000"]);
    let exec = status(epid);
    assert_eq!(
        exec["Seccomp"], "2",
        "the exec'd process has no filter: {exec:?}"
    );
    assert_same("exec'd process", &exec, &init);
    assert_eq!(w.assert_live("b1"), 2);

    let out = w.hr(&["exec", "b1", "id", "-u"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0\n");

    let out = w.hr(&["delete", "--force", "b1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `restricted` with the `userns` rule enforced (what the built-in profiles will do).
fn userns_profile(w: &World) -> PathBuf {
    let restricted =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/restricted.toml"))
            .unwrap();
    let mut text = String::new();
    for line in restricted.lines() {
        if line.starts_with("name = ") {
            text.push_str("name = \"xd-userns\"\n");
        } else if line.starts_with("userns = ") {
            text.push_str("userns = \"enforce\"\n");
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    fs::create_dir_all(w.dir.join("profiles")).unwrap();
    fs::write(w.dir.join("profiles/xd-userns.toml"), text).unwrap();
    w.dir.join("userns-pool")
}

/// The first line of a uid_map: (inside, outside, count).
fn first_mapping(map: &str) -> (u64, u64, u64) {
    let n: Vec<u64> = map
        .split_whitespace()
        .take(3)
        .map(|s| s.parse().unwrap())
        .collect();
    (n[0], n[1], n[2])
}

#[test]
fn exec_enters_the_user_namespace_of_the_container() {
    let w = World::new("xd-userns");
    let pool = userns_profile(&w);
    let env = [("HARDRUN_USERNS_DIR", pool.as_path())];
    let pre = ["--profile", "xd-userns"];
    let b = w.bundle("b", &["sleep", "1000"]);
    let mut c = w.hr_cmd(&pre);
    c.env(env[0].0, env[0].1);
    c.args(["run", "-d", "--bundle"]).arg(&b).arg("u1");
    let out = output_via_files(c, &w.dir, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    let ipid = init_pid(&w, "u1");
    let init_map = fs::read_to_string(format!("/proc/{ipid}/uid_map")).unwrap();
    let (inside, outside, count) = first_mapping(&init_map);
    assert_ne!(
        (inside, outside),
        (0, 0),
        "the container has no user namespace of its own: {init_map}"
    );

    let epid = exec_detached(&w, &pre, &env, "u1", &["sleep", "1000"]);
    // the same user namespace and id mapping as the init, not the host's
    assert_eq!(
        words(&fs::read_to_string(format!("/proc/{epid}/uid_map")).unwrap()),
        words(&init_map)
    );
    assert_eq!(
        fs::read_to_string(format!("/proc/{epid}/gid_map")).unwrap(),
        fs::read_to_string(format!("/proc/{ipid}/gid_map")).unwrap()
    );
    for kind in ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"] {
        assert_eq!(ns(epid, kind), ns(ipid, kind), "namespace {kind}");
    }
    assert_ne!(ns(epid, "user"), ns(std::process::id() as i32, "user"));
    // its host uid lies inside the container's leased range
    let exec = status(epid);
    let host_uid: u64 = exec["Uid"].split(' ').next().unwrap().parse().unwrap();
    assert!(
        (outside..outside + count).contains(&host_uid),
        "host uid {host_uid} outside {outside}+{count}"
    );
    assert_eq!(exec["Seccomp"], "2", "{exec:?}");
    assert_same("exec'd process", &exec, &status(ipid));
    assert_eq!(w.assert_live("u1"), 2);

    // inside, it is the container's user
    let mut c = w.hr_cmd(&pre);
    c.env(env[0].0, env[0].1);
    c.args(["exec", "u1", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let out = output_via_files(c, &w.dir, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("65534"), "{text}");
    assert_eq!(lines.next().map(words), Some(words(&init_map)), "{text}");

    let mut c = w.hr_cmd(&pre);
    c.env(env[0].0, env[0].1);
    c.args(["delete", "--force", "u1"]);
    let out = output_via_files(c, &w.dir, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    w.assert_nothing_left("u1");
}

/// Files a caller holds open when it runs hardrun: names and the descriptors they sit on.
struct CallerFds {
    /// (target fd, path, close-on-exec)
    files: Vec<(i32, PathBuf, bool)>,
}

impl CallerFds {
    /// Opens each path and puts it on its descriptor in the hardrun child, with or without
    /// FD_CLOEXEC.
    fn apply(&self, cmd: &mut Command) {
        let opened: Vec<(fs::File, i32, bool)> = self
            .files
            .iter()
            .map(|(fd, path, cloexec)| {
                let f = if path.is_dir() {
                    fs::File::open(path).unwrap()
                } else {
                    fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .unwrap()
                };
                (f, *fd, *cloexec)
            })
            .collect();
        // SAFETY: between fork and exec the closure only calls dup2/dup3/close (async-signal-safe)
        // on descriptors opened above, which the closure keeps alive.
        unsafe {
            cmd.pre_exec(move || {
                // first move every source out of the way of the target numbers
                let mut moved = vec![];
                for (f, _, _) in &opened {
                    let high = libc::fcntl(f.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100);
                    if high < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    moved.push(high);
                }
                for ((_, fd, cloexec), high) in opened.iter().zip(&moved) {
                    let flags = if *cloexec { libc::O_CLOEXEC } else { 0 };
                    if libc::dup3(*high, *fd, flags) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(*high);
                }
                Ok(())
            });
        }
    }

    fn paths(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|(_, p, _)| p.to_string_lossy().into_owned())
            .collect()
    }
}

#[test]
fn a_created_container_holds_no_descriptor_of_the_caller_or_the_runtime() {
    let w = World::new("xd-fd-create");
    let b = w.bundle("b", &["sleep", "1000"]);
    let leaked = CallerFds {
        files: vec![
            (7, w.dir.join("leak-7"), false),
            (8, w.dir.join("leak-8-cloexec"), true),
            // a host directory: the CVE-2024-21626 shape
            (9, w.dir.clone(), false),
        ],
    };
    let out_path = w.dir.join("c1.out");
    let mut c = w.hr_cmd(&["create", "--bundle", b.to_str().unwrap(), "c1"]);
    leaked.apply(&mut c);
    c.stdout(fs::File::create(&out_path).unwrap());
    c.stderr(fs::File::create(w.dir.join("c1.err")).unwrap());
    let st = c.status().unwrap();
    assert!(
        st.success(),
        "{}",
        fs::read_to_string(w.dir.join("c1.err")).unwrap_or_default()
    );
    let pid = init_pid(&w, "c1");
    assert_eq!(w.state("c1")["status"], "created");
    w.assert_live("c1");
    let held = fds(pid);
    // stdio as the caller gave it (containerd's shim hands the container's stdio as 0-2)
    assert_eq!(
        held.get(&0).map(String::as_str),
        Some("/dev/null"),
        "{held:?}"
    );
    let out_s = out_path.to_string_lossy().into_owned();
    assert_eq!(held.get(&1), Some(&out_s), "{held:?}");
    let log = w.log_path().to_string_lossy().into_owned();
    for (n, target) in &held {
        assert!(
            !leaked.paths().contains(target) && target != &log,
            "the created container's init holds fd {n} -> {target}: {held:?}"
        );
        // beyond stdio, only libcontainer's own sync and start sockets (like runc's init: its
        // exec fifo)
        if *n > 2 {
            assert!(
                target.starts_with("socket:["),
                "the created container's init holds fd {n} -> {target}: {held:?}"
            );
        }
    }

    let out = w.hr(&["start", "c1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // once running, the command holds stdio only
    let deadline = Instant::now() + Duration::from_secs(10);
    while fds(pid).len() != 3 {
        assert!(Instant::now() < deadline, "{:?}", fds(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = w.hr(&["delete", "--force", "c1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.assert_nothing_left("c1");
}

#[test]
fn preserve_fds_and_listen_fds_keep_exactly_what_was_passed() {
    let w = World::new("xd-fd-preserve");
    let b = w.bundle("b", &["sleep", "1000"]);
    let passed = [w.dir.join("passed-3"), w.dir.join("listen-4")];
    let caller = CallerFds {
        files: vec![
            (3, passed[0].clone(), false),
            (4, passed[1].clone(), false),
            (7, w.dir.join("leak-7"), false),
        ],
    };
    let mut c = w.hr_cmd(&[
        "create",
        "--preserve-fds",
        "1",
        "--bundle",
        b.to_str().unwrap(),
        "p1",
    ]);
    // systemd socket activation: one more descriptor after the preserved ones
    c.env("LISTEN_FDS", "1");
    caller.apply(&mut c);
    let out = output_via_files(c, &w.dir, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = init_pid(&w, "p1");
    let want: BTreeMap<i32, String> = [
        (3, passed[0].to_string_lossy().into_owned()),
        (4, passed[1].to_string_lossy().into_owned()),
    ]
    .into();
    let held = fds(pid);
    for (n, target) in &want {
        assert_eq!(held.get(n), Some(target), "{held:?}");
    }
    for (n, target) in &held {
        assert!(
            *n <= 4 || target.starts_with("socket:["),
            "the created container's init holds fd {n} -> {target}: {held:?}"
        );
    }

    let out = w.hr(&["start", "p1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // the started process holds stdio and exactly the passed descriptors. The init closes its
    // own descriptors just before execve, so wait for the command's argv too: until the kernel
    // has set up the new image, /proc/<pid>/environ reads empty.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let held = fds(pid);
        let beyond: BTreeMap<i32, String> = held.into_iter().filter(|(n, _)| *n > 2).collect();
        let argv = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if beyond == want && argv == b"sleep\x001000\0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{beyond:?} {:?}",
            String::from_utf8_lossy(&argv)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let environ = fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(
        environ.split('\0').any(|v| v == "LISTEN_FDS=1"),
        "{environ}"
    );

    let out = w.hr(&["delete", "--force", "p1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_exec_holds_no_descriptor_of_the_caller_or_the_runtime() {
    let w = World::new("xd-fd-exec");
    let rootfs = w.dir.join("own-rootfs");
    rootfs_copy(&rootfs, &[]);
    let b = w.bundle_with("b", &["sleep", "1000"], |s| {
        s["root"]["path"] = json!(rootfs);
    });
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "e1"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The exec'd process does not wait for its runtime once ready (HARDRUN-PATCHES.md 19): it
    // is stopped on its way instead. With an empty HOME it looks its home up in the
    // container's /etc/passwd, after it has closed what it must not keep and before it runs
    // the command: a FIFO there holds it until the test writes the file's content.
    let passwd = rootfs.join("etc/passwd");
    let passwd_text = fs::read(&passwd).unwrap();
    fs::remove_file(&passwd).unwrap();
    nix::unistd::mkfifo(&passwd, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    // the pid file is a FIFO too: libcontainer's main process blocks writing it
    let fifo = w.dir.join("exec.pid");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let passed = w.dir.join("passed-3");
    let caller = CallerFds {
        files: vec![
            (3, passed.clone(), false),
            (7, w.dir.join("leak-7"), false),
            (9, w.dir.clone(), false),
        ],
    };
    let mut c = w.hr_cmd(&["exec", "-d", "--preserve-fds", "1", "--pid-file"]);
    c.arg(&fifo).args(["-e", "HOME=", "e1", "sleep", "999"]);
    caller.apply(&mut c);
    c.stdout(Stdio::null());
    c.stderr(fs::File::create(w.dir.join("exec.err")).unwrap());
    let mut child = c.spawn().unwrap();
    let hardrun = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(20);
    let init = loop {
        if let Some(p) = exec_init_blocked_in_open(hardrun) {
            break p;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "exec ended ({st}) before its process was seen: {}",
                fs::read_to_string(w.dir.join("exec.err")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "no exec'd process waiting");
        std::thread::sleep(Duration::from_millis(10));
    };
    let held = fds(init);
    let mut leaked = caller.paths();
    leaked.retain(|p| p != &passed.to_string_lossy());
    let log = w.log_path().to_string_lossy().into_owned();
    assert_eq!(
        held.get(&3).map(String::as_str),
        Some(passed.to_str().unwrap()),
        "{held:?}"
    );
    for (n, target) in &held {
        assert!(
            !leaked.contains(target) && target != &log,
            "the exec'd process holds fd {n} -> {target} in the container: {held:?}"
        );
        if *n > 3 {
            assert!(
                target.starts_with("socket:[") || target.starts_with("pipe:["),
                "the exec'd process holds fd {n} -> {target} in the container: {held:?}"
            );
        }
    }

    // let it run: the command holds stdio and the passed descriptor, nothing else
    // (the reader may stop reading early and leave the writer a broken pipe: it then sees no
    // entry for its uid and takes HOME=/)
    let _ = fs::write(&passwd, &passwd_text);
    let pid = read_pid(&fifo);
    let st = child.wait().unwrap();
    assert!(
        st.success(),
        "{}",
        fs::read_to_string(w.dir.join("exec.err")).unwrap_or_default()
    );
    assert_eq!(pid, init);
    assert_eq!(w.assert_live("e1"), 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let held = fds(pid);
        let beyond: Vec<(i32, String)> = held.into_iter().filter(|(n, _)| *n > 2).collect();
        if beyond == [(3, passed.to_string_lossy().into_owned())] {
            break;
        }
        assert!(Instant::now() < deadline, "{beyond:?}");
        std::thread::sleep(Duration::from_millis(20));
    }

    let out = w.hr(&["delete", "--force", "e1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
