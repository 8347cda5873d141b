//! The hardening must not break ordinary programs (issue 5). Each workload runs under
//! `restricted` and under `baseline`, from the spec a caller typically hands over (root, Docker's
//! capabilities, no no-new-privileges), and must do its job:
//!
//! 1. `tmp_script`: a shell script writes, reads and removes a file in `/tmp`.
//! 2. `loopback_server`: a server (busybox `httpd`) listens on a high port and answers on
//!    loopback inside the container.
//! 3. `read_whole_rootfs`: every regular file of the root filesystem is read (as many as the
//!    host counts).
//! 4. `ps`: lists the container's processes.
//! 5. `date`: prints the time, close to the host's.
//! 6. `signal_handling`: a process with a SIGTERM handler gets `kill TERM`, runs the handler
//!    and exits 0.
//! 7. `large_stdout`: 16 MiB on stdout arrive complete.
//! 8. `process_tree`: a tree of shells and sleeps that exits cleanly, every leaf reporting.
//! 9. `exec_into_running`: `exec` into a running container.
//! 10. `image_non_root_user`: a container that runs as its image's user (1000, `app`) keeps
//!     that user and can use its home-less scratch space.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const PROFILES: [&str; 2] = ["restricted", "baseline"];

fn caller_spec(s: &mut Value) {
    // what dockerd hands a runtime: Docker's 14 default capabilities
    let caps = json!(hardrun::policy::rules::DOCKER_CAPS);
    s["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    s["process"]["noNewPrivileges"] = json!(false);
}

/// Runs `script` in the foreground under `profile` and returns the output; fails the test on a
/// non-zero exit, and checks that nothing of the container is left.
fn run_sh(w: &World, profile: &str, id: &str, script: &str) -> String {
    run_as(w, profile, id, script, |_| {})
}

fn run_as(
    w: &World,
    profile: &str,
    id: &str,
    script: &str,
    edit: impl FnOnce(&mut Value),
) -> String {
    let b = w.bundle_with(&format!("b-{id}"), &["sh", "-c", script], |s| {
        caller_spec(s);
        edit(s);
    });
    let out = w.hr(&[
        "--profile",
        profile,
        "run",
        "--bundle",
        b.to_str().unwrap(),
        id,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{profile} {id}: stdout {}\nstderr {}",
        stdout(&out),
        stderr(&out)
    );
    w.assert_nothing_left(id);
    stdout(&out)
}

#[test]
fn tmp_script() {
    let w = World::new("benign-tmp");
    for p in PROFILES {
        let out = run_sh(
            &w,
            p,
            &format!("tmp-{p}"),
            "set -e; echo hello > /tmp/f; for i in 1 2 3; do echo line$i >> /tmp/f; done; wc -l < /tmp/f; cat /tmp/f; rm /tmp/f; test ! -e /tmp/f && echo removed",
        );
        assert_eq!(out, "4\nhello\nline1\nline2\nline3\nremoved\n", "{p}");
    }
}

#[test]
fn loopback_server() {
    let w = World::new("benign-net");
    for p in PROFILES {
        let out = run_sh(
            &w,
            p,
            &format!("net-{p}"),
            "ip -o link show lo | grep -q 'state UP\\|,UP' && echo lo-up || echo lo-down; \
             mkdir -p /tmp/www; echo pong > /tmp/www/index.html; \
             httpd -f -p 127.0.0.1:8080 -h /tmp/www & pid=$!; \
             for i in $(seq 50); do wget -q -O - http://127.0.0.1:8080/index.html 2>/dev/null && break; sleep 0.1; done; \
             kill $pid; wait $pid 2>/dev/null; true",
        );
        // runc brings the loopback interface of a new network namespace up; a server on
        // 127.0.0.1 needs it (and the container has no CAP_NET_ADMIN to do it itself)
        assert!(
            out.starts_with("lo-up\n"),
            "{p}: loopback is down in the container's new network namespace (runc brings it up): {out}"
        );
        assert_eq!(out, "lo-up\npong\n", "{p}");
    }
}

#[test]
fn read_whole_rootfs() {
    let w = World::new("benign-read");
    fn count(dir: &std::path::Path) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                let ft = e.file_type().unwrap();
                if ft.is_dir() {
                    count(&e.path())
                } else {
                    usize::from(ft.is_file())
                }
            })
            .sum()
    }
    let host = count(rootfs());
    assert!(host >= 3);
    for p in PROFILES {
        // -xdev: the root filesystem only (not /proc, /sys, /dev or the tmpfs mounts)
        let out = run_sh(
            &w,
            p,
            &format!("read-{p}"),
            "set -e; n=0; for f in $(find / -xdev -type f); do cat \"$f\" > /dev/null; n=$((n+1)); done; echo $n",
        );
        assert_eq!(out.trim(), host.to_string(), "{p}");
    }
}

#[test]
fn ps() {
    let w = World::new("benign-ps");
    for p in PROFILES {
        let out = run_sh(&w, p, &format!("ps-{p}"), "sleep 5 & for i in $(seq 50); do ps | grep -q '[s]leep 5$' && break; sleep 0.1; done; ps; kill $!");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].contains("PID"), "{p}: {out}");
        assert!(lines.iter().any(|l| l.ends_with("sleep 5")), "{p}: {out}");
        // busybox runs ps in the shell's process: the line shows it as `{ps}`
        assert!(lines.iter().any(|l| l.contains("ps")), "{p}: {out}");
        assert!(lines.len() >= 3, "{p}: {out}");
        // only the container's processes: the shell is pid 1
        assert!(lines[1].trim_start().starts_with("1 "), "{p}: {out}");
    }
}

#[test]
fn date() {
    let w = World::new("benign-date");
    for p in PROFILES {
        let out = run_sh(&w, p, &format!("date-{p}"), "date +%s; date");
        let t: u64 = out.lines().next().unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(t.abs_diff(now) < 60, "{p}: {t} vs {now}");
        assert_eq!(out.lines().count(), 2, "{p}: {out}");
    }
}

#[test]
fn signal_handling() {
    let w = World::new("benign-signal");
    for p in PROFILES {
        let id = format!("sig-{p}");
        let b = w.bundle_with(
            &format!("b-{id}"),
            &[
                "sh",
                "-c",
                "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.05; done",
            ],
            caller_spec,
        );
        let out = w.dir.join(format!("{id}.out"));
        let mut cmd = w.hr_cmd(&["--profile", p, "run", "--bundle", b.to_str().unwrap(), &id]);
        cmd.stdout(fs::File::create(&out).unwrap());
        cmd.stderr(fs::File::create(out.with_extension("err")).unwrap());
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !fs::read_to_string(&out).unwrap().contains("ready") {
            assert!(Instant::now() < deadline, "{p}: never ready");
            std::thread::sleep(Duration::from_millis(10));
        }
        let k = w.hr(&["kill", &id, "TERM"]);
        assert!(k.status.success(), "{p}: {}", stderr(&k));
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "{p}: did not exit on TERM");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(
            status.code(),
            Some(0),
            "{p}: {}",
            fs::read_to_string(out.with_extension("err")).unwrap()
        );
        assert_eq!(
            fs::read_to_string(&out).unwrap(),
            "ready\ngot TERM\n",
            "{p}"
        );
        w.assert_nothing_left(&id);
    }
}

#[test]
fn large_stdout() {
    let w = World::new("benign-stdout");
    for p in PROFILES {
        let out = run_sh(
            &w,
            p,
            &format!("big-{p}"),
            "yes 0123456789abcde | head -c 16777216",
        );
        assert_eq!(out.len(), 16 << 20, "{p}");
        assert!(
            out.lines().all(|l| l == "0123456789abcde"),
            "{p}: corrupted output"
        );
    }
}

#[test]
fn process_tree() {
    let w = World::new("benign-tree");
    for p in PROFILES {
        let out = run_sh(
            &w,
            p,
            &format!("tree-{p}"),
            "set -e; \
             (for i in 1 2 3; do (sleep 0.1; echo leaf-a$i) & done; wait) & \
             (sh -c 'for i in 1 2; do sh -c \"sleep 0.2; echo leaf-b$i\" & done; wait') & \
             wait; echo done",
        );
        let mut lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.pop(), Some("done"), "{p}: {out}");
        lines.sort();
        assert_eq!(
            lines,
            ["leaf-a1", "leaf-a2", "leaf-a3", "leaf-b1", "leaf-b2"],
            "{p}"
        );
    }
}

#[test]
fn exec_into_running() {
    let w = World::new("benign-exec");
    for p in PROFILES {
        let id = format!("exec-{p}");
        let b = w.bundle_with(&format!("b-{id}"), &["sleep", "1000"], caller_spec);
        let o = w.hr(&[
            "--profile",
            p,
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            &id,
        ]);
        assert!(o.status.success(), "{p}: {}", stderr(&o));
        w.assert_live(&id);
        let o = w.hr(&[
            "exec",
            &id,
            "sh",
            "-c",
            "echo in-exec; echo x > /tmp/e; cat /tmp/e; tr '\\0' ' ' < /proc/1/cmdline; echo",
        ]);
        assert!(o.status.success(), "{p}: {}", stderr(&o));
        assert_eq!(stdout(&o), "in-exec\nx\nsleep 1000 \n", "{p}");
        // a failing command's status comes back
        let o = w.hr(&["exec", &id, "sh", "-c", "exit 3"]);
        assert_eq!(o.status.code(), Some(3), "{p}: {}", stderr(&o));
        // the execs are over; what is left still holds the profile
        w.assert_live(&id);
        assert!(w.hr(&["delete", "--force", &id]).status.success());
        w.assert_nothing_left(&id);
    }
}

#[test]
fn image_non_root_user() {
    let w = World::new("benign-user");
    for p in PROFILES {
        let out = run_as(
            &w,
            p,
            &format!("user-{p}"),
            "id -u; id -g; echo scratch > /tmp/u; cat /tmp/u; ls -ln /tmp/u | awk '{print $3}'",
            |s| {
                s["process"]["user"] = json!({"uid": 1000, "gid": 1000});
                s["process"]["env"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("HOME=/home/app"));
            },
        );
        assert_eq!(out, "1000\n1000\nscratch\n1000\n", "{p}");
    }
}
