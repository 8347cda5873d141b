//! Hostile specs through the real `hardrun create`/`run`: a rootfs or mount destination that
//! escapes, megabytes of annotations, 100k environment entries, deeply nested JSON, invalid
//! UTF-8. Each is refused with one clear line (or, where the spec is legal, runs correctly),
//! hardrun's peak RSS stays bounded (GNU time's `%M`), and nothing is left on disk.
//! `tests/bad_input.rs` has the ordinary bad input; this file does not repeat it.

mod common;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Peak RSS allowed for any hostile input (KiB). The busiest case (3.7 MB of annotations
/// through the policy, the audit log and libcontainer) peaks near 100 MiB in a debug build.
const RSS_LIMIT_KB: i64 = 200 * 1024;

/// Runs `cmd` with stdout/stderr in files under GNU time (`/usr/bin/time -f %M`), waits for it
/// and returns its output and hardrun's own peak RSS in KiB. Kills its process group (and fails)
/// after `limit`.
///
/// Not `wait4` on the child: a process keeps the peak RSS of the address space it had before
/// `execve` (the kernel folds the old mm's high-water mark into `ru_maxrss`), and a child that
/// Rust spawns with vfork+exec or fork+exec starts in this test binary's address space, whose
/// peak grows with whatever the parallel tests build (236 MiB was seen for a refusal that costs
/// 20 MiB). GNU time forks from its own small image, so what it reports is hardrun's.
fn measured(cmd: Command, dir: &Path, limit: Duration) -> (Output, i64) {
    let out_path = dir.join(".hostile-out");
    let err_path = dir.join(".hostile-err");
    let rss_path = dir.join(".hostile-rss");
    let _ = fs::remove_file(&rss_path);
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("-f").arg("%M").arg("-o").arg(&rss_path);
    timed.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        timed.current_dir(d);
    }
    timed.stdin(std::process::Stdio::null());
    timed.stdout(fs::File::create(&out_path).unwrap());
    timed.stderr(fs::File::create(&err_path).unwrap());
    timed.process_group(0);
    let mut child = timed
        .spawn()
        .unwrap_or_else(|e| panic!("/usr/bin/time (Debian package time): {e}"));
    let pgid = child.id() as libc::pid_t;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            // SAFETY: kill(2) of the process group this test made; no memory is involved.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let _ = child.wait();
            panic!("command did not finish within {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = Output {
        status,
        stdout: fs::read(&out_path).unwrap(),
        stderr: fs::read(&err_path).unwrap(),
    };
    // with -o, time writes "Command exited with non-zero status N" before the format's line
    let report = fs::read_to_string(&rss_path).unwrap();
    let rss = report
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<i64>().ok())
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time: {report:?}"));
    (out, rss)
}

fn hr_measured(w: &World, args: &[&str]) -> (Output, i64) {
    measured(w.hr_cmd(args), &w.dir, Duration::from_secs(120))
}

/// A refusal: exit 1, nothing on stdout, one lower-case line on stderr containing every needle,
/// the same text as the `--log` file's last error, peak RSS under `rss_kb`, nothing left of `id`.
fn refused(w: &World, args: &[&str], id: &str, needles: &[&str], rss_kb: i64) -> String {
    let (out, rss) = hr_measured(w, args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?}: should be refused: {:?} {err}",
        out.status
    );
    assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line on stderr: {err}");
    let msg = lines[0];
    assert!(
        msg.chars().next().is_some_and(|c| !c.is_uppercase()),
        "lower-case: {msg}"
    );
    for n in needles {
        assert!(
            msg.contains(n),
            "{args:?}: the error should name {n:?}: {msg}"
        );
    }
    assert_eq!(w.last_log_error().as_deref(), Some(msg), "{args:?}");
    assert!(
        rss < rss_kb,
        "{args:?}: peak RSS {rss} KiB is above {rss_kb} KiB"
    );
    w.assert_nothing_left(id);
    assert_state_root_empty(w);
    msg.to_owned()
}

/// The state root holds nothing but the (empty) staging directory.
fn assert_state_root_empty(w: &World) {
    let Ok(entries) = fs::read_dir(&w.root) else {
        return;
    };
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
    let staged = fs::read_dir(w.root.join(".staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "the staging directory is not empty");
}

fn write_config(bundle: &Path, bytes: &[u8]) {
    fs::create_dir_all(bundle).unwrap();
    fs::write(bundle.join("config.json"), bytes).unwrap();
}

fn spec_with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut s = default_spec();
    s["root"]["path"] = json!(rootfs());
    edit(&mut s);
    s
}

/// A small private rootfs (busybox), for cases that plant symlinks in it.
fn private_rootfs(dir: &Path) -> PathBuf {
    let r = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(r.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
    for a in ["sh", "ls", "cat", "echo", "touch", "true"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(a)).unwrap();
    }
    r
}

/// Every path under `dir`, for before/after comparisons.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(p.clone());
                }
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn rootfs_paths_escaping_the_bundle_are_refused() {
    let w = World::new("hostile-rootfs");
    let b = w.dir.join("b");
    fs::create_dir_all(b.join("rootfs")).unwrap();
    // a chain of symlinks ending at /, and a directory symlink whose `..` leaves the bundle
    std::os::unix::fs::symlink("l2", b.join("l1")).unwrap();
    std::os::unix::fs::symlink("/", b.join("l2")).unwrap();
    std::os::unix::fs::symlink(w.dir.parent().unwrap(), b.join("up")).unwrap();
    for given in [
        "..",
        "../..",
        "rootfs/../..",
        "./rootfs/../../b/../..",
        "l1",
        "up/..",
    ] {
        let spec = spec_with(|s| s["root"]["path"] = json!(given));
        write_config(&b, &serde_json::to_vec(&spec).unwrap());
        for cmd in ["create", "run"] {
            refused(
                &w,
                &[cmd, "--bundle", b.to_str().unwrap(), "esc1"],
                "esc1",
                &[
                    "config.json",
                    "field root.path",
                    given,
                    "outside the bundle",
                ],
                RSS_LIMIT_KB,
            );
        }
    }
}

/// A mount destination that is a symlink out of the rootfs is resolved inside it, as in a
/// chroot (runc's securejoin): the mount lands at the path the symlink names, in the rootfs,
/// its missing directories made there; nothing outside the rootfs is mounted on or written.
#[test]
fn symlinked_mount_destinations_cannot_leave_the_rootfs() {
    let w = World::new("hostile-mountdst");
    let b = w.dir.join("b");
    fs::create_dir_all(&b).unwrap();
    let r = private_rootfs(&b);
    let target = w.dir.join("host-target");
    fs::create_dir_all(&target).unwrap();
    fs::write(target.join("host-file"), "host").unwrap();
    let data = w.dir.join("data");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("marker"), "m").unwrap();
    // absolute and relative symlinks out of the rootfs, and one through a symlinked parent
    std::os::unix::fs::symlink(&target, r.join("abs")).unwrap();
    let up =
        "../".repeat(r.components().count()) + target.strip_prefix("/").unwrap().to_str().unwrap();
    std::os::unix::fs::symlink(&up, r.join("rel")).unwrap();
    std::os::unix::fs::symlink(w.dir.as_path(), r.join("par")).unwrap();
    let host_before = tree(&w.dir.join("host-target"));
    // where each lands: the target's path, inside the rootfs
    let inside = r.join(target.strip_prefix("/").unwrap());
    let top = r.join(
        target
            .strip_prefix("/")
            .unwrap()
            .components()
            .next()
            .unwrap(),
    );
    for (dest, typ, lands) in [
        ("/abs", "bind", inside.clone()),
        ("/rel", "bind", inside.clone()),
        ("/abs", "tmpfs", inside.clone()),
        ("/par/host-target", "bind", inside.clone()),
        ("/rel/sub", "tmpfs", inside.join("sub")),
    ] {
        let mount = if typ == "bind" {
            json!({"destination": dest, "type": "bind", "source": data, "options": ["rbind", "rw"]})
        } else {
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]})
        };
        let spec = spec_with(|s| {
            s["root"] = json!({"path": "rootfs", "readonly": false});
            s["process"]["args"] = json!(["sh", "-c", format!("touch {dest}/pwned; echo ran")]);
            s["mounts"].as_array_mut().unwrap().push(mount);
        });
        write_config(&b, &serde_json::to_vec(&spec).unwrap());
        let what = format!("{typ} mount on {dest}");
        let (out, rss) = measured(
            w.hr_cmd(&["run", "--bundle", b.to_str().unwrap(), "mnt1"]),
            &w.dir,
            Duration::from_secs(60),
        );
        assert!(rss < RSS_LIMIT_KB, "{what}: {rss} KiB");
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        assert_eq!(stdout(&out), "ran\n", "{what}");
        w.assert_nothing_left("mnt1");
        // the mount point was made inside the rootfs
        assert!(lands.is_dir(), "{what}: {} was not made", lands.display());
        // nothing was mounted or written outside the rootfs, but in the bind's own source
        assert_eq!(
            tree(&target),
            host_before,
            "{what}: the host directory changed"
        );
        assert!(!target.join("pwned").exists(), "{what}");
        let mut want = vec![data.join("marker")];
        if typ == "bind" {
            want.push(data.join("pwned"));
        }
        assert_eq!(tree(&data), want, "{what}");
        let _ = fs::remove_file(data.join("pwned"));
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(target.to_str().unwrap()),
            "{what}: a mount on the host target"
        );
        fs::remove_dir_all(&top).unwrap();
    }
}

#[test]
fn ten_megabytes_of_annotations_are_refused_before_parsing() {
    let w = World::new("hostile-annot");
    let b = w.dir.join("b");
    let spec = spec_with(|s| {
        s["annotations"] = (0..100_000)
            .map(|i| (format!("example.com/key-{i:07}"), json!("v".repeat(80))))
            .collect::<serde_json::Map<_, _>>()
            .into();
    });
    let bytes = serde_json::to_vec(&spec).unwrap();
    assert!(bytes.len() > 10_000_000);
    write_config(&b, &bytes);
    for cmd in ["create", "run"] {
        refused(
            &w,
            &[cmd, "--bundle", b.to_str().unwrap(), "ann1"],
            "ann1",
            &["config.json", "larger than the 4194304 bytes"],
            RSS_LIMIT_KB,
        );
    }
}

#[test]
fn annotations_just_under_the_cap_run_with_bounded_memory() {
    let w = World::new("hostile-annot-ok");
    let b = w.dir.join("b");
    let spec = spec_with(|s| {
        s["process"]["args"] = json!(["true"]);
        s["annotations"] = (0..35_000)
            .map(|i| (format!("example.com/key-{i:07}"), json!("v".repeat(80))))
            .collect::<serde_json::Map<_, _>>()
            .into();
    });
    let bytes = serde_json::to_vec(&spec).unwrap();
    assert!(bytes.len() > 3_500_000 && bytes.len() < 4 << 20);
    write_config(&b, &bytes);
    let (out, rss) = hr_measured(&w, &["run", "--bundle", b.to_str().unwrap(), "ann2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(rss < RSS_LIMIT_KB, "peak RSS {rss} KiB");
    w.assert_nothing_left("ann2");
    assert_state_root_empty(&w);
    // the decision was recorded, and one audit line stays small: no annotation values in it
    let audit = fs::read_to_string(w.dir.join("audit.jsonl")).unwrap();
    let last = audit.lines().last().unwrap();
    assert!(last.len() < 64 * 1024, "audit line of {} bytes", last.len());
}

#[test]
fn a_hundred_thousand_env_entries_run_with_bounded_memory() {
    let w = World::new("hostile-env");
    let b = w.dir.join("b");
    // 100k entries, ~1.2 MB: within the kernel's argument limit, so a legal container
    let spec = spec_with(|s| {
        let mut env = vec![json!("PATH=/bin")];
        env.extend((0..100_000).map(|i| json!(format!("E{i:06}=x"))));
        s["process"]["env"] = json!(env);
        s["process"]["args"] = json!(["sh", "-c", "env | grep -c '^E[0-9]'"]);
    });
    write_config(&b, &serde_json::to_vec(&spec).unwrap());
    let t = Instant::now();
    let (out, rss) = hr_measured(&w, &["run", "--bundle", b.to_str().unwrap(), "env1"]);
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "100000",
        "the container sees every entry"
    );
    assert!(rss < RSS_LIMIT_KB, "peak RSS {rss} KiB");
    // libcontainer 0.7 sets the environment with one setenv(3) per entry (quadratic): slow, but
    // it must finish
    assert!(took < Duration::from_secs(100), "{took:?}");
    w.assert_nothing_left("env1");
    assert_state_root_empty(&w);
}

#[test]
fn deeply_nested_json_is_refused_with_its_position() {
    let w = World::new("hostile-nest");
    let b = w.dir.join("b");
    let good = serde_json::to_string(&spec_with(|_| {})).unwrap();
    let cases: Vec<(String, &str)> = vec![
        // 100k nested arrays in an unknown field
        (
            format!(
                "{},\"x-deep\":{}{}}}",
                &good[..good.len() - 1],
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            "recursion limit exceeded",
        ),
        // nested objects inside a known field
        (
            format!(
                "{},\"annotations\":{}1{}}}",
                &good[..good.len() - 1],
                "{\"a\":".repeat(50_000),
                "}".repeat(50_000)
            ),
            "recursion limit exceeded",
        ),
        // unterminated nesting: a syntax error, also with its position
        (
            format!(
                "{},\"x\":{}",
                &good[..good.len() - 1],
                "[".repeat(1_000_000)
            ),
            "invalid JSON at line 1",
        ),
    ];
    for (text, want) in cases {
        write_config(&b, text.as_bytes());
        refused(
            &w,
            &["create", "--bundle", b.to_str().unwrap(), "nest1"],
            "nest1",
            &["config.json", "invalid JSON at line 1 column", want],
            RSS_LIMIT_KB,
        );
    }
    // nesting a real spec could carry (100 deep) is accepted, and survives byte for byte into
    // the state directory and field for field into the spec that runs
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let text = format!("{},\"x-deep\":{deep}}}", &good[..good.len() - 1]);
    write_config(&b, text.as_bytes());
    let out = w.hr(&["create", "--bundle", b.to_str().unwrap(), "nest2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = w.root.join("nest2");
    assert_eq!(
        fs::read(dir.join("config.orig.json")).unwrap(),
        text.as_bytes()
    );
    let staged: Value =
        serde_json::from_slice(&fs::read(dir.join("bundle/config.json")).unwrap()).unwrap();
    assert_eq!(
        staged["x-deep"],
        serde_json::from_str::<Value>(&deep).unwrap()
    );
    let out = w.hr(&["delete", "--force", "nest2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.assert_nothing_left("nest2");
}

#[test]
fn invalid_utf8_is_refused_naming_where_it_is() {
    let w = World::new("hostile-utf8");
    let b = w.dir.join("b");
    let good = serde_json::to_vec(&spec_with(|_| {})).unwrap();
    let splice = |at: &str, bytes: &[u8]| -> Vec<u8> {
        let text = String::from_utf8(good.clone()).unwrap();
        let i = text.find(at).unwrap() + at.len();
        let mut v = good[..i].to_vec();
        v.extend_from_slice(bytes);
        v.extend_from_slice(&good[i..]);
        v
    };
    for (bytes, want) in [
        // raw invalid bytes in a string value, in a key, a lone surrogate escape
        (
            splice("\"hostname\":\"", b"\xff\xfe"),
            "invalid unicode code point",
        ),
        (
            splice("{", b"\"\xc3\x28\":1,"),
            "invalid unicode code point",
        ),
        (
            splice("\"hostname\":\"hardrun-test", b"\\ud800"),
            "hex escape",
        ),
        // a UTF-16 file (what some editors save)
        (
            [&b"\xff\xfe"[..], &good[..]].concat(),
            "invalid JSON at line 1 column 1",
        ),
    ] {
        write_config(&b, &bytes);
        refused(
            &w,
            &["create", "--bundle", b.to_str().unwrap(), "utf1"],
            "utf1",
            &["config.json", "invalid JSON at line 1 column", want],
            RSS_LIMIT_KB,
        );
    }
    // a bundle directory whose name is not UTF-8: refused, nothing left behind
    let odd = w.dir.join(std::ffi::OsStr::from_bytes(b"bundle-\xff"));
    write_config(&odd, &good);
    let (out, _) = measured(
        {
            let mut c = w.hr_cmd(&["create", "--bundle"]);
            c.arg(&odd).arg("utf2");
            c
        },
        &w.dir,
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    // the bundle is named (lossily), not a staged file (issue 13)
    assert!(
        stderr(&out).starts_with(&format!(
            "bundle {}/bundle-\u{fffd} is not valid UTF-8",
            w.dir.display()
        )),
        "{}",
        stderr(&out)
    );
    w.assert_nothing_left("utf2");
    assert_state_root_empty(&w);
}
