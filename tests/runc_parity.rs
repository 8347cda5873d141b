//! runc parity under the `permissive` profile (issue 13): the same thing through Debian's runc
//! 1.1.5 and through hardrun, compared (exit code, stderr text, output shape).

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

/// `runc --root <world>/runc-state <args…>`, stdout and stderr in files like [`World::hr`].
fn runc(w: &World, args: &[&str]) -> Output {
    let mut c = Command::new(RUNC);
    c.arg("--root").arg(w.dir.join("runc-state")).args(args);
    c.stdin(std::process::Stdio::null());
    output_via_files(c, &w.dir, Duration::from_secs(60))
}

/// hardrun without `--log`: what a user at a terminal sees on stderr.
fn hr_plain(w: &World, args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.arg("--root").arg(&w.root).args(args);
    c.stdin(std::process::Stdio::null());
    w.env(&mut c);
    output_via_files(c, &w.dir, Duration::from_secs(60))
}

/// The `msg` of runc's logrus line on stderr (`time=… level=error msg="…"`).
fn runc_msg(o: &Output) -> String {
    let e = stderr(o);
    let Some(i) = e.find("msg=\"") else {
        return e.trim().to_owned();
    };
    let rest = &e[i + 5..];
    let end = rest.rfind('"').unwrap_or(rest.len());
    rest[..end].replace("\\\"", "\"")
}

#[test]
fn usage_errors_exit_with_runcs_codes() {
    let w = World::new("usage");
    for args in [
        &["state"][..],
        &["state", "a", "b"],
        &["--bogus", "list"],
        &["list", "--bogus"],
        &["kill"],
        &["kill", "a", "b", "c"],
        &["exec"],
        &["delete"],
        &["events"],
        &["spec", "--bogus"],
        &["nosuchcmd"],
        &[],
    ] {
        let r = runc(&w, args);
        let h = hr_plain(&w, args);
        assert_eq!(
            h.status.code(),
            r.status.code(),
            "hardrun {args:?} exits as runc does; runc said {:?}, hardrun {:?}",
            runc_msg(&r),
            stderr(&h)
        );
        if r.status.code() != Some(0) {
            assert!(
                !stderr(&h).is_empty(),
                "hardrun {args:?} says why on stderr"
            );
        }
    }
}

#[test]
fn spec_writes_what_runc_spec_writes() {
    let w = World::new("spec");
    for flags in [&[][..], &["--rootless"]] {
        let (r_dir, h_dir) = (w.dir.join("runc-spec"), w.dir.join("hardrun-spec"));
        for d in [&r_dir, &h_dir] {
            let _ = fs::remove_dir_all(d);
            fs::create_dir_all(d).unwrap();
        }
        let mut r_args = vec!["spec", "--bundle", r_dir.to_str().unwrap()];
        r_args.extend_from_slice(flags);
        let mut h_args = vec!["spec", "--bundle", h_dir.to_str().unwrap()];
        h_args.extend_from_slice(flags);
        let r = runc(&w, &r_args);
        let h = hr_plain(&w, &h_args);
        assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
        assert_eq!(h.status.code(), Some(0), "{}", stderr(&h));
        let r_text = fs::read_to_string(r_dir.join("config.json")).unwrap();
        let h_text = fs::read_to_string(h_dir.join("config.json")).unwrap();
        let (r_json, h_json): (Value, Value) = (
            serde_json::from_str(&r_text).unwrap(),
            serde_json::from_str(&h_text).unwrap(),
        );
        assert_eq!(
            h_json, r_json,
            "spec {flags:?}: the same document as runc's"
        );
        assert_eq!(h_text, r_text, "spec {flags:?}: byte for byte");
        // and neither overwrites
        assert_eq!(runc(&w, &r_args).status.code(), Some(1));
        let again = hr_plain(&w, &h_args);
        assert_eq!(again.status.code(), Some(1));
        assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    }
    // `spec` without --bundle writes into the working directory, as runc's does
    let cwd = w.dir.join("cwd-spec");
    fs::create_dir_all(&cwd).unwrap();
    let mut c = Command::new(bin());
    c.arg("spec").current_dir(&cwd);
    w.env(&mut c);
    let h = output_via_files(c, &w.dir, Duration::from_secs(60));
    assert_eq!(h.status.code(), Some(0), "{}", stderr(&h));
    assert!(cwd.join("config.json").is_file());
}

#[test]
fn runcs_spec_runs_under_permissive_once_made_non_terminal() {
    // what runc's integration suite does with `runc spec`: set args, drop the terminal
    let w = World::new("spec-run");
    let b = w.dir.join("b");
    fs::create_dir_all(&b).unwrap();
    assert!(hr_plain(&w, &["spec", "--bundle", b.to_str().unwrap()])
        .status
        .success());
    let mut spec: Value =
        serde_json::from_slice(&fs::read(b.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["sh", "-c", "hostname"]);
    spec["root"]["path"] = json!(rootfs());
    fs::write(b.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), "s1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "runc\n");
}

/// Adds `name` to every capability set of `spec`.
fn add_cap(spec: &mut Value, name: &str) {
    for set in ["bounding", "effective", "permitted", "ambient"] {
        spec["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!(name));
    }
}

#[test]
fn an_unknown_capability_is_ignored_with_runcs_warning() {
    let w = World::new("unknown-cap");
    let b = w.bundle_with("b", &["sh", "-c", "grep CapBnd /proc/self/status"], |s| {
        add_cap(s, "CAP_UNKNOWN")
    });
    let r = runc(&w, &["run", "--bundle", b.to_str().unwrap(), "u-runc"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let warning = "ignoring unknown or unavailable capabilities: [CAP_UNKNOWN]";
    assert!(
        stderr(&r).contains(warning),
        "runc's own words: {}",
        stderr(&r)
    );
    let h = hr_plain(&w, &["run", "--bundle", b.to_str().unwrap(), "u1"]);
    assert_eq!(h.status.code(), Some(0), "{}", stderr(&h));
    assert_eq!(stdout(&h), stdout(&r), "the known capabilities are kept");
    assert_eq!(
        stderr(&h).matches(warning).count(),
        1,
        "one warning on stderr: {}",
        stderr(&h)
    );
    // under every profile: the unknown name is dropped before the rules judge the spec
    for profile in ["baseline", "restricted"] {
        let h = hr_plain(
            &w,
            &[
                "--profile",
                profile,
                "run",
                "--bundle",
                b.to_str().unwrap(),
                "u2",
            ],
        );
        assert_eq!(h.status.code(), Some(0), "{profile}: {}", stderr(&h));
        assert!(stderr(&h).contains(warning), "{profile}: {}", stderr(&h));
    }
    // exec: a process file and --cap are treated alike
    let b = w.bundle("d", &["sleep", "100"]);
    assert!(w
        .hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "u3"])
        .status
        .success());
    let mut p = default_spec()["process"].clone();
    p["args"] = json!(["true"]);
    p["capabilities"]["bounding"]
        .as_array_mut()
        .unwrap()
        .push(json!("CAP_UNKNOWN"));
    let pf = w.dir.join("p.json");
    fs::write(&pf, serde_json::to_vec(&p).unwrap()).unwrap();
    let h = hr_plain(&w, &["exec", "--process", pf.to_str().unwrap(), "u3"]);
    assert_eq!(h.status.code(), Some(0), "{}", stderr(&h));
    assert!(stderr(&h).contains(warning), "{}", stderr(&h));
    let h = hr_plain(&w, &["exec", "--cap", "CAP_UNKNOWN", "u3", "true"]);
    assert_eq!(h.status.code(), Some(0), "{}", stderr(&h));
    assert!(stderr(&h).contains(warning), "{}", stderr(&h));
    assert!(w.hr(&["delete", "--force", "u3"]).status.success());
}

#[test]
fn help_names_every_subcommand_and_only_the_options_that_apply() {
    let w = World::new("help");
    let top = stdout(&hr_plain(&w, &["--help"]));
    let audit = top
        .lines()
        .find(|l| l.trim_start().starts_with("audit "))
        .unwrap_or_else(|| panic!("{top}"));
    assert!(audit.contains("show"), "{audit}");
    assert!(
        !top.contains("default is stderr"),
        "--log's help says where messages go without it: {top}"
    );
    let show = stdout(&hr_plain(&w, &["profile", "show", "--help"]));
    for flag in ["--systemd-cgroup", "--root", "--log-format", "--mode"] {
        assert!(
            !show.contains(flag),
            "profile show --help lists {flag}:\n{show}"
        );
    }
    // runc lists no global option in a command's help
    let r = stdout(&runc(&w, &["state", "--help"]));
    assert!(!r.contains("--root"), "{r}");
    let state = stdout(&hr_plain(&w, &["state", "--help"]));
    assert!(
        !state.contains("--root") && !state.contains("--systemd-cgroup"),
        "{state}"
    );
    // still accepted where they are not listed
    let out = hr_plain(&w, &["list", "--systemd-cgroup", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Starts `events <args…>` of runtime `rt` (hardrun or runc) with stdout into `out`.
fn spawn_events(w: &World, rt: &str, args: &[&str], out: &Path) -> std::process::Child {
    let mut c = if rt == "runc" {
        let mut c = Command::new(RUNC);
        c.arg("--root").arg(w.dir.join("runc-state"));
        c
    } else {
        let mut c = Command::new(bin());
        c.arg("--root").arg(&w.root);
        w.env(&mut c);
        c
    };
    c.arg("events").args(args);
    c.stdout(fs::File::create(out).unwrap())
        .stderr(std::process::Stdio::null())
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (at most `secs`) until `out` has a line for which `pred` holds; returns it.
fn wait_line(out: &Path, secs: u64, pred: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let text = fs::read_to_string(out).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| pred(l)) {
            return Some(l.to_owned());
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn events_lines_intervals_and_oom_as_runc() {
    let w = World::new("events");
    // 32 MiB, swap included, as runc's "events oom" test
    let b = w.bundle_with("b", &["sleep", "1000"], |s| {
        s["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432})
    });
    let bundle = b.to_str().unwrap();
    assert!(runc(&w, &["run", "-d", "--bundle", bundle, "ev-runc"])
        .status
        .success());
    assert!(w
        .hr(&["run", "-d", "--bundle", bundle, "ev1"])
        .status
        .success());
    for (rt, id) in [("runc", "ev-runc"), ("hardrun", "ev1")] {
        let run = |args: &[&str]| {
            if rt == "runc" {
                runc(&w, args)
            } else {
                hr_plain(&w, args)
            }
        };
        // --stats: one line, runc's key order (readers match the prefix)
        let o = run(&["events", "--stats", id]);
        assert_eq!(o.status.code(), Some(0), "{rt}: {}", stderr(&o));
        let prefix = format!("{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":{{\"cpu\":");
        assert!(stdout(&o).starts_with(&prefix), "{rt}: {}", stdout(&o));
        // --interval takes a duration; zero is refused with runc's words
        let o = run(&["events", "--interval", "0s", id]);
        assert_eq!(o.status.code(), Some(1), "{rt}");
        assert!(
            stderr(&o).contains("duration interval must be greater than 0"),
            "{rt}: {}",
            stderr(&o)
        );
        assert_eq!(
            run(&["events", "--interval", "abc", id]).status.code(),
            Some(1),
            "{rt}"
        );
        let out = w.dir.join(format!("events-{rt}.log"));
        let mut ev = spawn_events(&w, rt, &["--interval", "100ms", id], &out);
        let third = wait_line(&out, 5, |_| {
            fs::read_to_string(&out).unwrap_or_default().lines().count() >= 3
        });
        let _ = ev.kill();
        let _ = ev.wait();
        assert!(
            third.is_some(),
            "{rt}: --interval 100ms gave fewer than 3 lines in 5s"
        );

        // a memory hog exec'd into the container: an oom line, exactly runc's
        let out = w.dir.join(format!("oom-{rt}.log"));
        let mut ev = spawn_events(&w, rt, &[id], &out);
        assert!(
            wait_line(&out, 10, |l| l.contains(id)).is_some(),
            "{rt}: no first event"
        );
        let o = run(&[
            "exec",
            "-d",
            id,
            "sh",
            "-c",
            "test=$(dd if=/dev/urandom ibs=5120k)",
        ]);
        assert_eq!(o.status.code(), Some(0), "{rt}: {}", stderr(&o));
        let oom = wait_line(&out, 30, |l| l.contains("oom"));
        let _ = ev.kill();
        let _ = ev.wait();
        assert_eq!(
            oom.as_deref(),
            Some(format!("{{\"type\":\"oom\",\"id\":\"{id}\"}}").as_str()),
            "{rt}: {}",
            fs::read_to_string(&out).unwrap_or_default()
        );
    }
    assert!(runc(&w, &["delete", "--force", "ev-runc"]).status.success());
    assert!(w.hr(&["delete", "--force", "ev1"]).status.success());
}

/// Runs the same `exec` through runc (container `r`) and hardrun (container `h`).
fn both_exec(w: &World, r: &str, h: &str, args: &[&str]) -> (Output, Output) {
    fn with<'a>(id: &'a str, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["exec"];
        v.extend(args.iter().map(|a| if *a == "ID" { id } else { a }));
        v
    }
    (runc(w, &with(r, args)), hr_plain(w, &with(h, args)))
}

#[test]
fn exec_home_and_a_process_file_without_user_as_runc() {
    let w = World::new("exec-home");
    let b = w.bundle("b", &["sleep", "1000"]);
    let bundle = b.to_str().unwrap();
    assert!(runc(&w, &["run", "-d", "--bundle", bundle, "x-runc"])
        .status
        .success());
    assert!(w
        .hr(&["run", "-d", "--bundle", bundle, "x1"])
        .status
        .success());
    // HOME from the container's /etc/passwd, `/` for a uid it does not name
    for user in ["0", "1000", "4242", "4242:4242"] {
        let (r, h) = both_exec(
            &w,
            "x-runc",
            "x1",
            &["--user", user, "ID", "sh", "-c", "echo \"HOME=$HOME\""],
        );
        assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
        assert_eq!(h.status.code(), Some(0), "{}", stderr(&h));
        assert_eq!(stdout(&h), stdout(&r), "--user {user}");
    }
    // a process file without `user`: uid 0, as runc's zero value
    let pf = w.dir.join("nouser.json");
    fs::write(
        &pf,
        serde_json::to_vec(&json!({"args": ["sh", "-c", "id -u; id -g; echo \"HOME=$HOME\""], "cwd": "/", "env": ["PATH=/bin"]}))
            .unwrap(),
    )
    .unwrap();
    let (r, h) = both_exec(
        &w,
        "x-runc",
        "x1",
        &["--process", pf.to_str().unwrap(), "ID"],
    );
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert_eq!(h.status.code(), Some(0), "{}", stderr(&h));
    assert_eq!(stdout(&h), stdout(&r));
    assert_eq!(stdout(&h), "0\n0\nHOME=/root\n");
    assert!(runc(&w, &["delete", "--force", "x-runc"]).status.success());
    assert!(w.hr(&["delete", "--force", "x1"]).status.success());
}

#[test]
fn an_execve_failure_and_a_pid_file_in_a_missing_directory_fail_as_runc() {
    let w = World::new("execve");
    let rootfs = w.dir.join("rootfs");
    rootfs_copy(&rootfs, &[]);
    // exists and is executable, but its interpreter does not: execve fails with ENOENT
    fs::write(rootfs.join("run.sh"), "#!/nonexistent\necho hi\n").unwrap();
    fs::set_permissions(
        rootfs.join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let b = w.bundle_with("b", &["/run.sh"], |s| s["root"]["path"] = json!(rootfs));
    let bundle = b.to_str().unwrap();
    let r = runc(&w, &["run", "--bundle", bundle, "e-runc"]);
    let h = hr_plain(&w, &["run", "--bundle", bundle, "e1"]);
    assert_eq!(stderr(&r), "exec /run.sh: no such file or directory\n");
    assert_eq!(h.status.code(), r.status.code(), "{}", stderr(&h));
    assert_eq!(stderr(&h), stderr(&r));
    w.assert_nothing_left("e1");

    // exec --pid-file into a directory that does not exist: an error, no process left
    let b = w.bundle("d", &["sleep", "1000"]);
    assert!(w
        .hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "p1"])
        .status
        .success());
    for detach in [false, true] {
        let mut args = vec!["exec", "--pid-file", "/nonexistent/dir/p.pid"];
        if detach {
            args.push("-d");
        }
        args.extend(["p1", "sleep", "77"]);
        let h = hr_plain(&w, &args);
        assert_ne!(h.status.code(), Some(0), "detach {detach}");
        assert!(
            stderr(&h).contains("/nonexistent/dir/p.pid"),
            "names the file: {}",
            stderr(&h)
        );
    }
    let ps = stdout(&w.hr(&["ps", "p1"]));
    assert!(!ps.contains("sleep 77"), "{ps}");
    assert!(w.hr(&["delete", "--force", "p1"]).status.success());
}
