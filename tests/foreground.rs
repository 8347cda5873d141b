//! Foreground `run`: it returns whatever way the container ends — at once, by a forwarded signal,
//! by a kill from elsewhere — with runc's exit code, and deletes the container.

mod common;

use std::fs;
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Starts `hardrun run` in the background with stdout/stderr in files; returns the child and the
/// stdout path.
fn spawn_run(w: &World, bundle: &std::path::Path, id: &str) -> (Child, std::path::PathBuf) {
    let out = w.dir.join(format!("{id}.out"));
    let err = w.dir.join(format!("{id}.err"));
    let child = w
        .hr_cmd(&["run", "--bundle", bundle.to_str().unwrap(), id])
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    (child, out)
}

fn wait_for_output(path: &std::path::Path, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fs::read_to_string(path).unwrap_or_default().contains(want) {
        assert!(
            Instant::now() < deadline,
            "{want:?} never appeared in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_child(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hardrun run did not return within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn fast_exiting_containers_never_hang_run() {
    // youki 0.7's own run loses the exit of a container that ends before it starts waiting
    let w = World::new("fast");
    let t = w.bundle("t", &["true"]);
    let f = w.bundle("f", &["false"]);
    for i in 0..40 {
        let (b, want) = if i % 2 == 0 { (&t, 0) } else { (&f, 1) };
        let id = format!("fast{i}");
        let out = output_via_files(
            w.hr_cmd(&["run", "--bundle", b.to_str().unwrap(), &id]),
            &w.dir,
            Duration::from_secs(20),
        );
        assert_eq!(out.status.code(), Some(want), "run {i}: {}", stderr(&out));
        w.assert_nothing_left(&id);
    }
}

#[test]
fn exit_codes_follow_runc() {
    let w = World::new("codes");
    for (args, code) in [
        (vec!["sh", "-c", "exit 7"], 7),
        (vec!["sh", "-c", "exit 255"], 255),
        (vec!["true"], 0),
        // (a death by signal, 128 + n, is in kill_from_another_process_ends_run_with_137: the
        // kernel protects a PID namespace's init from signals sent inside the namespace)
    ] {
        let b = w.bundle(&format!("b{code}"), &args);
        let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), "code1"]);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        w.assert_nothing_left("code1");
    }
}

#[test]
fn signals_to_run_reach_the_container() {
    let w = World::new("fwd");
    for (sig, name, code) in [
        (Signal::SIGTERM, "TERM", 42),
        (Signal::SIGINT, "INT", 43),
        (Signal::SIGHUP, "HUP", 44),
    ] {
        let script = format!(
            "trap 'echo got-{name}; exit {code}' {name}; echo ready; while :; do sleep 0.05; done"
        );
        let b = w.bundle(&format!("b{name}"), &["sh", "-c", &script]);
        let id = format!("fwd-{name}");
        let (mut child, out) = spawn_run(&w, &b, &id);
        wait_for_output(&out, "ready");
        kill(Pid::from_raw(child.id() as i32), sig).unwrap();
        let st = wait_child(&mut child, Duration::from_secs(20));
        assert_eq!(
            st.code(),
            Some(code),
            "{name}: the trap's exit code comes back"
        );
        assert!(fs::read_to_string(&out)
            .unwrap()
            .contains(&format!("got-{name}")));
        w.assert_nothing_left(&id);
    }
}

#[test]
fn kill_from_another_process_ends_run_with_137() {
    let w = World::new("killfg");
    let b = w.bundle("b", &["sh", "-c", "echo ready; exec sleep 1000"]);
    let (mut child, out) = spawn_run(&w, &b, "k1");
    wait_for_output(&out, "ready");
    assert_eq!(w.state("k1")["status"], "running");
    let o = w.hr(&["kill", "k1", "KILL"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let st = wait_child(&mut child, Duration::from_secs(20));
    assert_eq!(st.code(), Some(137));
    w.assert_nothing_left("k1");
}

#[test]
fn run_keep_leaves_a_stopped_container() {
    let w = World::new("keep");
    let b = w.bundle("b", &["sh", "-c", "exit 3"]);
    let out = w.hr(&["run", "--keep", "--bundle", b.to_str().unwrap(), "keep1"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(w.state("keep1")["status"], "stopped");
    assert!(w.hr(&["delete", "keep1"]).status.success());
    w.assert_nothing_left("keep1");
}

#[test]
fn container_starts_with_default_signal_dispositions() {
    // hardrun installs handlers before create, Rust ignores SIGPIPE, and glibc's posix_spawn (how
    // this test starts hardrun) leaves its internal signals 32 and 33 ignored: the container's
    // process must start like runc's, with nothing blocked and nothing ignored but the caller's
    // SIGHUP/SIGINT (this test ignores neither)
    let w = World::new("disp");
    let b = w.bundle("b", &["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), "d1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mask = |text: &str, key: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} in {text}"));
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let text = stdout(&out);
    assert_eq!(mask(&text, "SigBlk:"), 0, "{text}");
    assert_eq!(mask(&text, "SigIgn:"), 0, "{text}");
}

#[test]
fn stdio_on_dev_null_stays_usable() {
    // hyperfine and many scripts start the runtime with stdout on /dev/null
    let w = World::new("devnull");
    let b = w.bundle(
        "b",
        &[
            "sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2; read x; echo \"read:$x\" >&2",
        ],
    );
    let err = w.dir.join("err.txt");
    let st = w
        .hr_cmd(&["run", "--bundle", b.to_str().unwrap(), "n1"])
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    let text = fs::read_to_string(&err).unwrap();
    assert_eq!(st.code(), Some(0), "{text}");
    assert_eq!(text, "to-stderr\nread:\n");
    w.assert_nothing_left("n1");
}
