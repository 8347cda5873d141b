//! Errors a user meets (issue 13): each is one lower-case line on stderr that names the thing
//! that failed (the mount, the rlimit, the size, the file), a non-zero exit, and nothing left
//! on disk (no state directory, no staging directory, no cgroup). Real busybox containers, as
//! root.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

/// Asserts that `out` failed with exit status 1 and exactly the one line `want` on stderr (and
/// as the last error of the `--log` JSON), with nothing on stdout.
fn fails_with(w: &World, what: &str, out: &Output, want: &str) {
    fails_with_code(w, what, out, want, 1)
}

/// [`fails_with`] for `exec`: runc 1.1.5's status 255 and its `exec failed: ` before the reason.
fn exec_fails_with(w: &World, what: &str, out: &Output, want: &str) {
    fails_with_code(w, what, out, &format!("exec failed: {want}"), 255)
}

fn fails_with_code(w: &World, what: &str, out: &Output, want: &str, code: i32) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: exit status {:?}; stderr: {err}",
        out.status
    );
    assert!(out.stdout.is_empty(), "{what}: stdout: {}", stdout(out));
    assert_eq!(err.trim_end_matches('\n'), want, "{what}: stderr");
    assert_eq!(
        w.last_log_error().as_deref(),
        Some(want),
        "{what}: the --log JSON has the same error"
    );
}

/// A world whose configuration reads profiles from `<dir>/profiles` (returned).
fn world_with_profiles(name: &str) -> (World, std::path::PathBuf) {
    let w = World::new(name);
    let profiles = w.dir.join("profiles");
    fs::create_dir_all(&profiles).unwrap();
    fs::write(
        w.dir.join("config.toml"),
        format!(
            "default_profile = \"permissive\"\naudit_log = \"{}\"\nprofiles_dir = \"{}\"\n",
            w.dir.join("audit.jsonl").display(),
            profiles.display()
        ),
    )
    .unwrap();
    (w, profiles)
}

/// The recipe of `packaging/config.toml` that starts a profile copy: its commented shell lines,
/// with `/etc/hardrun/profiles` replaced by `profiles`.
fn packaged_recipe(profiles: &Path) -> String {
    let text = include_str!("../packaging/config.toml");
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("to start from one"))
        .take_while(|l| !l.starts_with("#profiles_dir"))
        .filter_map(|l| l.strip_prefix("#   "))
        .collect();
    assert!(!lines.is_empty(), "packaging/config.toml has no recipe");
    lines
        .join(" ")
        .trim_end_matches(").")
        .replace("/etc/hardrun/profiles", profiles.to_str().unwrap())
}

#[test]
fn broken_profile_fails_only_its_containers_and_lint_names_it() {
    let (w, profiles) = world_with_profiles("brokenprof");
    let file = profiles.join("restricted.toml");

    // what the old recipe did: the shell truncates the file before hardrun reads the catalog
    let old = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "\"$0\" profile show restricted > {}",
            file.display()
        ))
        .arg(bin())
        .env("HARDRUN_CONFIG", w.dir.join("config.toml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!old.status.success());
    assert_eq!(fs::read(&file).unwrap().len(), 0);
    let why = format!(
        "{}: name: the file is empty (a profile needs at least `name`)",
        file.display()
    );

    // another profile's container goes on, with one warning naming the file (besides the line
    // for the pids limit baseline sets)
    let b = w.bundle("b", &["true"]);
    let b_s = b.to_str().unwrap();
    let out = w.hr(&["--profile", "baseline", "run", "--bundle", b_s, "ok1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| !l.ends_with("(rule resources)"))
        .collect();
    assert_eq!(
        warnings,
        [format!(
            "ignoring profile \"restricted\", which does not load: {why}"
        )]
    );
    w.assert_nothing_left("ok1");

    // the broken profile's container fails, naming the file and the field
    let out = w.hr(&["--profile", "restricted", "run", "--bundle", b_s, "bad1"]);
    fails_with(
        &w,
        "run under the broken profile",
        &out,
        &format!("policy refused container \"bad1\": rule profile: {why}"),
    );
    w.assert_nothing_left("bad1");

    // lint reports it: the file, the field, a non-zero exit
    let out = w.hr(&["profile", "lint"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("broken  {why}\n")),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        stderr(&out).trim_end_matches('\n'),
        format!("1 profile file(s) do not load: {why}")
    );

    // the packaged recipe writes a whole profile, whatever is in the directory
    fs::remove_file(&file).unwrap();
    let recipe = packaged_recipe(&profiles);
    let out = Command::new("sh")
        .arg("-c")
        .arg(recipe.replacen("hardrun ", "\"$0\" ", 1))
        .arg(bin())
        .env("HARDRUN_CONFIG", w.dir.join("config.toml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{recipe}: {}", stderr(&out));
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        include_str!("../profiles/restricted.toml")
    );
    let out = w.hr(&["profile", "lint"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_failed_mount_is_named_with_its_type_and_errno() {
    let w = World::new("mounterr");
    // a file system type the kernel does not know
    let b = w.bundle_with("unknown-type", &["true"], |s| {
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"source": "none", "destination": "/data", "type": "foofs"}));
    });
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), "m1"]);
    fails_with(
        &w,
        "unknown type",
        &out,
        "create container \"m1\": error mounting \"none\" to rootfs at \"/data\" (type foofs): no such device (ENODEV)",
    );
    w.assert_nothing_left("m1");

    // a destination that is a symlink, in the image, to a file
    let rootfs = w.dir.join("symlinked-rootfs");
    rootfs_copy(&rootfs, &["data"]); // the first case made /data in the shared image
    std::os::unix::fs::symlink("/etc/passwd", rootfs.join("data")).unwrap();
    let b = w.bundle_with("symlinked", &["true"], |s| {
        s["root"]["path"] = serde_json::json!(rootfs);
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"source": "tmpfs", "destination": "/data", "type": "tmpfs"}));
    });
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), "m2"]);
    fails_with(
        &w,
        "symlinked destination",
        &out,
        "create container \"m2\": error mounting \"tmpfs\" to rootfs at \"/data\" (type tmpfs): not a directory (ENOTDIR)",
    );
    w.assert_nothing_left("m2");

    // a bind source that does not exist is refused before anything is made, naming the field
    let b = w.bundle_with("missing-source", &["true"], |s| {
        s["mounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"source": "/nonexistent/dir", "destination": "/data", "type": "bind", "options": ["rbind"]}
        ));
    });
    let idx = default_spec()["mounts"].as_array().unwrap().len();
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), "m3"]);
    fails_with(
        &w,
        "missing bind source",
        &out,
        &format!(
            "{}: field mounts[{idx}].source: /nonexistent/dir (/nonexistent/dir) does not exist (bind mount on /data)",
            b.join("config.json").display()
        ),
    );
    w.assert_nothing_left("m3");
}

/// What `execve` copies for `args` and `env`, as hardrun counts it: every string with its NUL,
/// the program's path once more, and a pointer per string.
fn exec_bytes(args: &[String], env: &[String]) -> usize {
    args.iter().chain(env).map(|s| s.len() + 1).sum::<usize>()
        + args[0].len()
        + 1
        + (args.len() + env.len()) * 8
}

/// The kernel's limit for what `execve` copies, for a process with this test's stack limit (the
/// container's process inherits it), and that stack limit as hardrun prints it.
fn exec_limit() -> (u64, String) {
    let limits = fs::read_to_string("/proc/self/limits").unwrap();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max stack size"))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap()
        .to_owned();
    match soft.parse::<u64>() {
        Ok(n) => (((6u64 << 20).min(n / 4)).max(128 << 10), soft),
        Err(_) => (6 << 20, soft), // unlimited
    }
}

#[test]
fn an_environment_above_the_kernels_limit_is_named_with_its_size() {
    let w = World::new("e2big");
    let big: Vec<String> = (0..30)
        .map(|i| format!("SECRET{i:02}={}", "s".repeat(100_000)))
        .collect();
    let b = w.bundle_with("big-env", &["true"], |s| {
        s["process"]["env"]
            .as_array_mut()
            .unwrap()
            .extend(big.iter().map(|e| serde_json::json!(e)));
    });
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(b.join("config.json")).unwrap()).unwrap();
    let env: Vec<String> = serde_json::from_value(spec["process"]["env"].clone()).unwrap();
    let total = exec_bytes(&["true".to_owned()], &env);
    let (limit, stack) = exec_limit();
    let want = format!(
        "argument list too long: process.args and process.env take {total} bytes (1 argument, {} variables), above the kernel's limit of {limit} bytes for execve (a quarter of the stack limit {stack})",
        env.len()
    );
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), "big1"]);
    fails_with(&w, "run with a 3 MB environment", &out, &want);
    w.assert_nothing_left("big1");

    // one variable above the kernel's limit for a single string: its name, never its value
    let b = w.bundle_with("long-var", &["true"], |s| {
        s["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(format!("TOKEN={}", "s".repeat(200_000))));
    });
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), "big2"]);
    fails_with(
        &w,
        "run with a 200 kB variable",
        &out,
        "argument list too long: process.env[2] (TOKEN) is 200007 bytes, above the kernel's limit of 131072 bytes for one argument or variable",
    );
    w.assert_nothing_left("big2");

    // exec --process: the same check, the container goes on
    let b = w.bundle("sleeper", &["sleep", "1000"]);
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "big3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut process = default_spec()["process"].clone();
    process["args"] = serde_json::json!(["true"]);
    process["env"]
        .as_array_mut()
        .unwrap()
        .extend(big.iter().map(|e| serde_json::json!(e)));
    let env: Vec<String> = serde_json::from_value(process["env"].clone()).unwrap();
    let pfile = w.dir.join("big-process.json");
    fs::write(&pfile, serde_json::to_vec(&process).unwrap()).unwrap();
    let out = w.hr(&["exec", "--process", pfile.to_str().unwrap(), "big3"]);
    exec_fails_with(
        &w,
        "exec with a 3 MB environment",
        &out,
        &format!(
            "argument list too long: process.args and process.env take {} bytes (1 argument, {} variables), above the kernel's limit of {limit} bytes for execve (a quarter of the stack limit {stack})",
            exec_bytes(&["true".to_owned()], &env),
            env.len()
        ),
    );
    assert_eq!(w.state("big3")["status"], "running");
    let out = w.hr(&["delete", "-f", "big3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.assert_nothing_left("big3");
}

#[test]
fn an_id_longer_than_a_file_name_names_the_limit_once() {
    let w = World::new("longid");
    let b = w.bundle("b", &["true"]);
    let id = "a".repeat(300);
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), &id]);
    fails_with(
        &w,
        "a 300-byte id",
        &out,
        &format!(
            "invalid container id \"aaaaaaaaaaaaaaaa…\" (300 bytes): longer than the 255 bytes a file name may have in the state root {}",
            w.root.display()
        ),
    );
    w.assert_nothing_left(&id);
    // the longest name the file system takes is a valid id
    let id = "b".repeat(255);
    let out = w.hr(&["run", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    w.assert_nothing_left(&id);
}

#[test]
fn non_utf8_bundle_and_root_are_named_and_leave_nothing() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::time::Duration;
    let w = World::new("nonutf8");
    let good = w.bundle("b", &["true"]);
    // the same bundle under a name with a byte that is not UTF-8
    let mut name = b"bundle-".to_vec();
    name.push(0xff);
    let bad = w.dir.join(OsStr::from_bytes(&name));
    fs::create_dir_all(&bad).unwrap();
    fs::copy(good.join("config.json"), bad.join("config.json")).unwrap();
    let mut c = w.hr_cmd(&["run", "--bundle"]);
    c.arg(&bad).arg("u1");
    let out = output_via_files(c, &w.dir, Duration::from_secs(60));
    fails_with(
        &w,
        "non-UTF-8 bundle",
        &out,
        &format!(
            "bundle {}/bundle-\u{fffd} is not valid UTF-8: its path is recorded as JSON text (by libcontainer too); use a UTF-8 path",
            w.dir.display()
        ),
    );
    w.assert_nothing_left("u1");

    // a state root that is not UTF-8 is refused before it is made
    let mut name = b"state-".to_vec();
    name.push(0xfe);
    let root = w.dir.join(OsStr::from_bytes(&name));
    let mut c = Command::new(bin());
    c.arg("--root").arg(&root);
    c.arg("--log")
        .arg(w.log_path())
        .args(["--log-format", "json"]);
    c.args(["run", "--bundle", good.to_str().unwrap(), "u2"]);
    c.stdin(Stdio::null());
    w.env(&mut c);
    let out = output_via_files(c, &w.dir, Duration::from_secs(60));
    fails_with(
        &w,
        "non-UTF-8 root",
        &out,
        &format!(
            "state root {}/state-\u{fffd} is not valid UTF-8: libcontainer records it in its state as JSON text; use a UTF-8 path",
            w.dir.display()
        ),
    );
    assert!(!root.exists(), "the state root {root:?} was left behind");
    w.assert_nothing_left("u2");
}

/// This test process's hard `RLIMIT_NOFILE` (hardrun, its child, has the same).
fn nofile_hard() -> u64 {
    let limits = fs::read_to_string("/proc/self/limits").unwrap();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|n| n.parse().ok())
        .expect("a finite hard limit of open files")
}

/// Whether this process has CAP_SYS_RESOURCE (bit 24) in its effective set.
fn has_sys_resource() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|h| u64::from_str_radix(h.trim(), 16).unwrap())
        .unwrap();
    eff & (1 << 24) != 0
}

#[test]
fn exec_with_an_rlimit_above_the_callers_names_the_rlimit() {
    if has_sys_resource() {
        eprintln!(
            "SKIPPED: this host gives the runtime CAP_SYS_RESOURCE, so any rlimit can be raised"
        );
        return;
    }
    let w = World::new("execrlimit");
    let hard = nofile_hard();
    let b = w.bundle("b", &["sleep", "1000"]);
    for (id, profile) in [("r1", "permissive"), ("r2", "restricted")] {
        let out = w.hr(&[
            "--profile",
            profile,
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            id,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut process = default_spec()["process"].clone();
        process["args"] = serde_json::json!(["true"]);
        process["rlimits"] = serde_json::json!([
            {"type": "RLIMIT_NOFILE", "hard": hard + 1, "soft": 1024}
        ]);
        let pfile = w.dir.join("rlimit-process.json");
        fs::write(&pfile, serde_json::to_vec(&process).unwrap()).unwrap();
        let out = w.hr(&["exec", "--process", pfile.to_str().unwrap(), id]);
        let err = stderr(&out);
        let want = format!(
            "exec \"{id}\": process.rlimits[0]: RLIMIT_NOFILE hard limit {} is above the runtime's own hard limit {hard}: raising it needs CAP_SYS_RESOURCE, which this host does not give the runtime",
            hard + 1
        );
        if profile == "permissive" {
            exec_fails_with(&w, "exec under permissive", &out, &want);
        } else {
            // restricted first notes on stderr what it changed in the process (as for any exec
            // it changes); the error is the last line
            let want = format!("exec failed: {want}");
            assert_eq!(out.status.code(), Some(255), "{err}");
            assert_eq!(err.lines().last(), Some(want.as_str()), "{err}");
            assert_eq!(w.last_log_error().as_deref(), Some(want.as_str()));
        }
        assert!(!err.contains("EPERM"), "{err}");
        assert_eq!(w.state(id)["status"], "running");
        let out = w.hr(&["delete", "-f", id]);
        assert!(out.status.success(), "{}", stderr(&out));
        w.assert_nothing_left(id);
    }
}
