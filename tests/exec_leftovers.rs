//! `exec` leaves nothing behind (issue 18, items 4 and 5).
//!
//! A finished exec (successful, failed, refused at its start, detached, with a process file or a
//! pid file) leaves the container's state directory as it found it: no `tenant-notify-*.sock`,
//! no `exec-*.json`, no `.exec-*.json.tmp*`. runc leaves none either.
//!
//! A killed exec (SIGKILL at any point of its run, as a shim or a probe timeout does) leaves no
//! runtime process inside the container (its cgroup or its pid namespace): what remains there is
//! the container's own init and the processes exec started (here `sleep`), nothing blocked on
//! the way. And no file of the killed execs outlives the next exec.
//!
//! Everything is read from the host: `/proc/<pid>/{comm,cgroup,ns/pid}` and the state directory.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// The names in the container's state directory.
fn entries(w: &World, id: &str) -> BTreeSet<String> {
    fs::read_dir(w.root.join(id))
        .unwrap_or_else(|e| panic!("state directory of {id}: {e}"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn assert_same_entries(w: &World, id: &str, before: &BTreeSet<String>, what: &str) {
    let now = entries(w, id);
    let added: Vec<_> = now.difference(before).collect();
    assert!(
        added.is_empty(),
        "{what} left in {}: {added:?}",
        w.root.join(id).display()
    );
}

fn init_pid(w: &World, id: &str) -> i32 {
    w.state(id)["pid"]
        .as_i64()
        .expect("a running container has a pid") as i32
}

fn run_detached(w: &World, profile: &str, id: &str) {
    let b = w.bundle(id, &["sleep", "1000"]);
    w.run_detached(profile, &b, id);
}

fn finished_execs_leave_nothing(profile: &str) {
    let w = World::new(&format!("xl-done-{profile}"));
    let id = "xl1";
    run_detached(&w, profile, id);
    let before = entries(&w, id);

    // successful, failing and unstartable foreground execs
    let out = w.hr(&["exec", id, "true"]);
    assert!(out.status.success(), "exec true: {}", stderr(&out));
    assert_same_entries(&w, id, &before, "a successful exec");
    let out = w.hr(&["exec", id, "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_same_entries(&w, id, &before, "an exec whose process failed");
    let out = w.hr(&["exec", id, "/no/such/binary"]);
    assert!(!out.status.success(), "exec of a missing binary succeeded");
    assert_same_entries(&w, id, &before, "an exec that could not start");
    let out = w.hr(&["exec", "--cwd", "/no/such/dir", id, "true"]);
    assert!(!out.status.success(), "exec in a missing cwd succeeded");
    assert_same_entries(&w, id, &before, "an exec refused in its init");

    // detached, with a pid file
    let pid = w.exec_detached(id, &["sleep", "1000"]);
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert_same_entries(&w, id, &before, "a detached exec");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );

    // detached with a terminal, handed to the caller's console socket (libcontainer connects
    // through a link in the state directory)
    let socket = w.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    let pid_file = w.dir.join("exec-tty.pid");
    let out = w.hr(&[
        "exec",
        "-d",
        "-t",
        "--console-socket",
        socket.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
        "sleep",
        "1000",
    ]);
    assert!(out.status.success(), "exec -d -t: {}", stderr(&out));
    let master = receiver.join().unwrap();
    assert!(master.is_some(), "no terminal came to the console socket");
    assert_same_entries(&w, id, &before, "a detached exec with a console socket");
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    drop(master);

    // --process FILE
    let process = w.dir.join("process.json");
    let mut p = default_spec()["process"].clone();
    p["args"] = serde_json::json!(["true"]);
    fs::write(&process, serde_json::to_vec(&p).unwrap()).unwrap();
    let out = w.hr(&["exec", "--process", process.to_str().unwrap(), id]);
    assert!(out.status.success(), "exec --process: {}", stderr(&out));
    assert_same_entries(&w, id, &before, "an exec with --process");

    // many of them, as exec probes do
    for i in 0..20 {
        let out = w.hr(&["exec", id, "true"]);
        assert!(out.status.success(), "exec {i}: {}", stderr(&out));
    }
    assert_same_entries(&w, id, &before, "20 execs");

    let out = w.hr(&["delete", "--force", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.assert_nothing_left(id);
}

/// Accepts one connection on `listener` and receives the descriptor sent over it (a terminal's
/// master, as a console socket does). Kept open by the caller: closing a terminal's master
/// hangs its process up.
fn receive_fd(listener: &std::os::unix::net::UnixListener) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let (conn, _) = listener.accept().ok()?;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .ok()?;
    for c in msg.cmsgs().into_iter().flatten() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the descriptor was just received with SCM_RIGHTS: this process owns
                // it and nothing else refers to it.
                return Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    None
}

#[test]
fn finished_execs_leave_nothing_in_the_state_directory() {
    finished_execs_leave_nothing("permissive");
}

#[test]
fn finished_execs_leave_nothing_in_the_state_directory_under_restricted() {
    finished_execs_leave_nothing("restricted");
}

/// A process of the host, as the kernel shows it.
struct Proc {
    pid: i32,
    comm: String,
    cmdline: String,
}

/// Every process whose pid namespace is `pid_ns` or whose cgroup (any hierarchy) contains
/// `cgroup_path`.
fn processes_in(pid_ns: &str, cgroup_path: &str) -> Vec<Proc> {
    let mut found = vec![];
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let ns = fs::read_link(format!("/proc/{pid}/ns/pid"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let inside = ns == pid_ns
            || cgroup
                .lines()
                .any(|l| l.rsplit(':').next() == Some(cgroup_path));
        if !inside {
            continue;
        }
        let Ok(comm) = fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue; // gone meanwhile
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        found.push(Proc {
            pid,
            comm: comm.trim().to_owned(),
            cmdline: cmdline.trim().to_owned(),
        });
    }
    found
}

/// A small deterministic generator, so a failing delay can be replayed (`FAULT_SEED`).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn killed_execs_leave_nothing(profile: &str) {
    let w = World::new(&format!("xl-kill-{profile}"));
    let id = "xk1";
    run_detached(&w, profile, id);
    let init = init_pid(&w, id);
    let pid_ns = fs::read_link(format!("/proc/{init}/ns/pid"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let cgroup_path = w.cgroup_path(id);
    let before = entries(&w, id);

    // how long one exec takes here, to spread the kills over all of it
    let t = Instant::now();
    let out = w.hr(&["exec", id, "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let full = t.elapsed();
    let span = (full.as_micros() as u64).max(40_000);

    let seed = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15u64);
    let mut rng = Rng(seed);
    const N: u64 = 40;
    for i in 0..N {
        let delay = Duration::from_micros(span * i / N + rng.next() % (span / N + 1));
        let mut c = w.hr_cmd(&["exec", id, "sleep", "1000"]);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(delay);
        // a foreground exec of `sleep 1000` never finishes by itself
        let _ = child.kill();
        let _ = child.wait();
    }

    // What is left in the container may only be its init and the `sleep`s exec started. A
    // process of the runtime killed half-way dies with its parent, possibly a moment later:
    // wait for that, but not for ever.
    let deadline = Instant::now() + Duration::from_secs(20);
    let strays = loop {
        let strays: Vec<String> = processes_in(&pid_ns, &cgroup_path)
            .into_iter()
            .filter(|p| p.pid != init && !(p.comm == "sleep" && p.cmdline == "sleep 1000"))
            .map(|p| {
                let wchan =
                    fs::read_to_string(format!("/proc/{}/wchan", p.pid)).unwrap_or_default();
                format!(
                    "pid {} {:?} ({}) waiting in {wchan}",
                    p.pid, p.comm, p.cmdline
                )
            })
            .collect();
        if strays.is_empty() || Instant::now() > deadline {
            break strays;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        strays.is_empty(),
        "{profile}: killed execs left these processes in the container: {strays:#?}"
    );
    // the kills must have hit execs on their way too, not only after their `sleep` ran
    let started = processes_in(&pid_ns, &cgroup_path)
        .iter()
        .filter(|p| p.pid != init)
        .count() as u64;
    eprintln!(
        "{profile}: {N} execs killed after 0..{span} µs, {} before their process ran (seed {seed}, exec ~{full:?})",
        N - started
    );
    assert!(
        started < N,
        "every exec had started its process before the kill: the kills came too late"
    );

    // the exec'd sleeps are the container's now; end them from the host
    for p in processes_in(&pid_ns, &cgroup_path) {
        if p.pid != init {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    // the next exec completes, and by then no file of the killed ones is left
    let out = w.hr(&["exec", id, "true"]);
    assert!(
        out.status.success(),
        "exec after the kills: {}",
        stderr(&out)
    );
    assert_same_entries(&w, id, &before, "killed execs (after a following exec)");
    assert_eq!(w.state(id)["status"], "running");

    let out = w.hr(&["delete", "--force", id]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.assert_nothing_left(id);
}

#[test]
fn killed_execs_leave_no_process_and_no_file_in_the_container() {
    killed_execs_leave_nothing("permissive");
}

#[test]
fn killed_execs_leave_no_process_and_no_file_in_the_container_under_restricted() {
    killed_execs_leave_nothing("restricted");
}

/// What an exec of an earlier hardrun version, or one killed half-way, left in the state
/// directory goes with the next exec; nothing of an exec still running does (its writer's pid
/// is alive, its notify socket still has a listener).
#[test]
fn the_next_exec_removes_what_dead_execs_left_and_nothing_of_live_ones() {
    let w = World::new("xl-sweep");
    let id = "xs1";
    run_detached(&w, "permissive", id);
    let dir = w.root.join(id);
    let before = entries(&w, id);

    // a pid that is surely gone: a child that has been reaped
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let dead = gone.id();
    let live = std::process::id();
    let stale = [
        format!("exec-{dead}-123.json"),
        format!(".exec-{dead}-123.json.tmpAbC123"),
        "tenant-notify-5eed.sock".to_owned(),
    ];
    for name in &stale[..2] {
        fs::write(dir.join(name), "{}").unwrap();
    }
    // a socket file nobody listens on any more
    drop(std::os::unix::net::UnixListener::bind(dir.join(&stale[2])).unwrap());
    let kept = [
        format!("exec-{live}-456.json"),
        "tenant-notify-11fe.sock".to_owned(),
    ];
    fs::write(dir.join(&kept[0]), "{}").unwrap();
    // a listener still waiting
    let listening = std::os::unix::net::UnixListener::bind(dir.join(&kept[1])).unwrap();

    let out = w.hr(&["exec", id, "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let now = entries(&w, id);
    for name in &stale {
        assert!(!now.contains(name), "{name} was left: {now:?}");
    }
    for name in &kept {
        assert!(
            now.contains(name),
            "{name} of a live exec was removed: {now:?}"
        );
    }
    drop(listening);
    for name in &kept {
        fs::remove_file(dir.join(name)).unwrap();
    }
    assert_same_entries(&w, id, &before, "the sweep");
    let out = w.hr(&["delete", "--force", id]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `State:` of `/proc/<pid>/status`, None once the process is gone.
fn proc_state(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .map(|s| s.trim().to_owned())
}

/// An exec's process can block inside the container before it runs its command on things no
/// runtime controls (here the container's `/etc/passwd`, read for an empty HOME, is a FIFO;
/// a hung network file system does the same). Killed meanwhile, the runtime takes that process
/// with it, as runc's does: nothing is left waiting in the container.
#[test]
fn a_killed_exec_takes_its_process_blocked_in_the_container_with_it() {
    let w = World::new("xl-stuck");
    let id = "xb1";
    let rootfs = w.dir.join("own-rootfs");
    rootfs_copy(&rootfs, &[]);
    let b = w.bundle_with(id, &["sleep", "1000"], |s| {
        s["root"]["path"] = serde_json::json!(rootfs);
    });
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let passwd = rootfs.join("etc/passwd");
    fs::remove_file(&passwd).unwrap();
    nix::unistd::mkfifo(&passwd, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();

    let mut c = w.hr_cmd(&["exec", "-e", "HOME=", id, "sleep", "999"]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let hardrun = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(20);
    let init = loop {
        if let Some(p) = exec_init_blocked_in_open(hardrun) {
            break p;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "exec ended before its process blocked"
        );
        assert!(
            Instant::now() < deadline,
            "no exec'd process blocked in open"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().unwrap();
    child.wait().unwrap();

    // gone, or a zombie waiting for a reaper: not blocked inside the container any more
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match proc_state(init) {
            None => break,
            Some(s) if s.starts_with('Z') => break,
            Some(s) => assert!(
                Instant::now() < deadline,
                "the killed exec's process {init} is still there ({s}), waiting in {}",
                fs::read_to_string(format!("/proc/{init}/wchan")).unwrap_or_default()
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = w.hr(&["delete", "--force", id]);
    assert!(out.status.success(), "{}", stderr(&out));
}
