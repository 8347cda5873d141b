//! In-container attack probes (issue 5): the static program in `integration/probes/` runs as the
//! container's process under `restricted`, `baseline` and `ci-runner` and attempts each escape
//! and privileged move; its JSON report must match `integration/probes/expected/<profile>.toml`
//! exactly (a diff table is printed on any difference). Every profile gets the same caller spec:
//! what dockerd hands a runtime for `docker run` (root, writable root, Docker's 14 capabilities,
//! no no-new-privileges, no limits); hardrun hardens it.
//!
//! Host side, while the probe holds after its report: the fork bomb was stopped by the pids
//! cgroup (or the RLIMIT_NPROC the profile set) and never went past `pids.max`; the memory bomb
//! was OOM-killed inside the container's memory cgroup (`memory.failcnt`, `oom_kill`), the
//! container's init survived; `delete --force` leaves nothing behind.
//!
//! The runtime binary (CVE-2019-5736 class) from inside: a container that is only *created* has
//! hardrun's init as its pid 1, visible to a second container that shares its pid namespace (a
//! pod). A probe in that second container finds it and must not get its `/proc/<pid>/exe` open
//! for writing; the same watcher also runs through a series of `exec`s into a running container
//! (it sees libcontainer's intermediate and init processes; the kernel's ptrace access check
//! already refuses their `/proc/<pid>/exe`, before hardrun's read-only binding of its binary
//! would matter — `tests/protection.rs` tests that binding from the host side).
//!
//! `delete --force` of a container whose fork bomb is still alive must leave nothing behind
//! (three rounds each under `baseline` and `restricted`).
//! `integration/probes/compare.sh` produces the comparison with runc in `docs/probes.md`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

use hardrun::policy::rules::DOCKER_CAPS;

/// The tests of this file run one at a time: every restricted container runs as uid 65534 and
/// RLIMIT_NPROC counts that uid's processes on the whole host, so one container's fork bomb
/// makes another's `exec` fail (see the report of issue 5).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the static probe once per test binary.
fn probe_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let manifest = repo().join("integration/probes/Cargo.toml");
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--locked",
                "--quiet",
                "--manifest-path",
            ])
            .arg(&manifest)
            .args(["--target", "x86_64-unknown-linux-gnu"])
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "building the probe failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = repo().join("integration/probes/target/x86_64-unknown-linux-gnu/release/probe");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

/// A private copy of the busybox rootfs with the probe as `/probe` and a setuid-root copy as
/// `/probe-suid` (the shared rootfs must not get a setuid binary or the probes' writes).
fn probe_rootfs(w: &World, name: &str) -> PathBuf {
    fn copy_tree(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        let mode = fs::metadata(from).unwrap().permissions().mode();
        fs::set_permissions(to, fs::Permissions::from_mode(mode)).unwrap();
        for e in fs::read_dir(from).unwrap().flatten() {
            let (src, dst) = (e.path(), to.join(e.file_name()));
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
            } else if ft.is_dir() {
                copy_tree(&src, &dst);
            } else {
                fs::copy(&src, &dst).unwrap();
            }
        }
    }
    let dir = w.dir.join(name);
    copy_tree(rootfs(), &dir);
    let probe = probe_binary();
    fs::copy(probe, dir.join("probe")).unwrap();
    fs::set_permissions(dir.join("probe"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::copy(probe, dir.join("probe-suid")).unwrap();
    std::os::unix::fs::chown(dir.join("probe-suid"), Some(0), Some(0)).unwrap();
    fs::set_permissions(dir.join("probe-suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    dir
}

/// The spec dockerd hands a runtime for `docker run` (Docker's capabilities, device rules and
/// paths; root, writable root, no no-new-privileges, no limits), with a host directory bound at
/// `/out` for the report. The same spec as `integration/probes/compare.sh`.
fn docker_like(w: &World, name: &str, args: &[&str], out: &Path) -> PathBuf {
    let root = probe_rootfs(w, &format!("rootfs-{name}"));
    fs::create_dir_all(out).unwrap();
    fs::set_permissions(out, fs::Permissions::from_mode(0o777)).unwrap();
    let out = out.to_owned();
    w.bundle_with(&format!("b-{name}"), args, move |s| {
        s["root"] = json!({"path": root, "readonly": false});
        s["process"]["capabilities"] = json!({
            "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS
        });
        s["process"]["noNewPrivileges"] = json!(false);
        s["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]);
        s["mounts"] = json!([
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]}
        ]);
        let dev = |t: &str, ma: Option<i64>, mi: Option<i64>, acc: &str| {
            let mut d = json!({"allow": true, "type": t, "access": acc});
            if let Some(ma) = ma {
                d["major"] = json!(ma);
            }
            if let Some(mi) = mi {
                d["minor"] = json!(mi);
            }
            d
        };
        s["linux"]["resources"] = json!({"devices": [
            {"allow": false, "access": "rwm"},
            dev("c", None, None, "m"), dev("b", None, None, "m"),
            dev("c", Some(1), Some(3), "rwm"), dev("c", Some(1), Some(8), "rwm"),
            dev("c", Some(1), Some(7), "rwm"), dev("c", Some(5), Some(0), "rwm"),
            dev("c", Some(1), Some(5), "rwm"), dev("c", Some(1), Some(9), "rwm"),
            dev("c", Some(5), Some(1), "rwm"), dev("c", Some(136), None, "rwm"),
            dev("c", Some(5), Some(2), "rwm"), dev("c", Some(10), Some(200), "rwm")
        ]});
        s["linux"]["maskedPaths"] = json!([
            "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
            "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"
        ]);
    })
}

fn wait_file(path: &Path, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(t) = fs::read_to_string(path) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A cgroup v1 file of container `id` (hardrun's default path for the world's root, or
/// libcontainer's default).
fn cgroup_file(w: &World, ctl: &str, id: &str, file: &str) -> String {
    for name in [
        w.cgroup_path(id).trim_start_matches('/').to_owned(),
        format!(":youki:{id}"),
        id.to_owned(),
    ] {
        let p = Path::new("/sys/fs/cgroup").join(ctl).join(&name).join(file);
        if let Ok(t) = fs::read_to_string(&p) {
            return t;
        }
    }
    panic!("no {ctl} cgroup file {file} for {id}");
}

fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

fn expected(profile: &str) -> BTreeMap<String, (String, String)> {
    let path = repo().join(format!("integration/probes/expected/{profile}.toml"));
    let text = fs::read_to_string(&path).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table
        .into_iter()
        .map(|(k, v)| {
            let o = v["outcome"].as_str().expect("outcome").to_owned();
            assert!(o == "blocked" || o == "succeeded", "{k}: outcome {o}");
            let why = v
                .get("why")
                .and_then(|w| w.as_str())
                .unwrap_or("")
                .to_owned();
            (k, (o, why))
        })
        .collect()
}

/// The probe's report against the expected table: a diff table and the count of differences.
fn compare(profile: &str, report: &Value) -> (String, usize) {
    let want = expected(profile);
    let got = report["probes"].as_object().expect("probes object");
    let mut names: Vec<&String> = want.keys().chain(got.keys()).collect();
    names.sort();
    names.dedup();
    let mut diffs = 0;
    let mut table = format!(
        "{:<24} {:<10} {:<10} detail\n",
        "probe", "expected", "actual"
    );
    for n in names {
        let e = want.get(n).map(|x| x.0.as_str()).unwrap_or("(none)");
        let a = got
            .get(n)
            .and_then(|v| v["outcome"].as_str())
            .unwrap_or("(none)");
        let detail = got.get(n).and_then(|v| v["detail"].as_str()).unwrap_or("");
        let mark = if e == a { " " } else { "!" };
        if e != a {
            diffs += 1;
        }
        table += &format!("{mark}{n:<23} {e:<10} {a:<10} {detail}\n");
    }
    (table, diffs)
}

struct Run {
    report: Value,
    pids_max: u64,
    pids_max_hits: u64,
    mem_limit: u64,
    mem_failcnt: u64,
    oom_kills: Option<u64>,
}

/// Runs the probe detached under `profile`, waits for its report, reads the container's
/// cgroups while it holds, then deletes it and checks that nothing is left.
fn run_profile(w: &World, profile: &str) -> Run {
    let id = format!("probe-{profile}");
    let out = w.dir.join(format!("out-{profile}"));
    let b = docker_like(
        w,
        profile,
        &["/probe", "--out", "/out/report.json", "--hold"],
        &out,
    );
    let o = w.hr(&[
        "--profile",
        profile,
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        &id,
    ]);
    assert!(o.status.success(), "{profile}: {}", stderr(&o));
    let text = wait_file(&out.join("report.json"), Duration::from_secs(60));
    let report: Value = serde_json::from_str(&text).expect("the report is JSON");
    // the container's init (the probe) outlived both bombs
    assert_eq!(w.state(&id)["status"], "running", "{profile}");
    // and, after every attempt, each process left holds its profile as the kernel shows it
    w.assert_live(&id);
    let pids_events = cgroup_file(w, "pids", &id, "pids.events");
    let oom = cgroup_file(w, "memory", &id, "memory.oom_control");
    let run = Run {
        pids_max: cgroup_file(w, "pids", &id, "pids.max")
            .trim()
            .parse()
            .unwrap_or(u64::MAX),
        pids_max_hits: field(&pids_events, "max").unwrap_or(0),
        mem_limit: cgroup_file(w, "memory", &id, "memory.limit_in_bytes")
            .trim()
            .parse()
            .unwrap(),
        mem_failcnt: cgroup_file(w, "memory", &id, "memory.failcnt")
            .trim()
            .parse()
            .unwrap(),
        oom_kills: field(&oom, "oom_kill"),
        report,
    };
    let o = w.hr(&["delete", "--force", &id]);
    assert!(o.status.success(), "delete {id}: {}", stderr(&o));
    w.assert_nothing_left(&id);
    run
}

fn detail<'a>(r: &'a Value, probe: &str) -> (&'a str, &'a str) {
    let p = &r["probes"][probe];
    (
        p["outcome"].as_str().unwrap_or("?"),
        p["detail"].as_str().unwrap_or("?"),
    )
}

/// A number that follows `after` in `text` ("after 1023 processes" → 1023).
fn number_after(text: &str, after: &str) -> Option<u64> {
    let rest = &text[text.find(after)? + after.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())?
        .parse()
        .ok()
}

fn host_checks(profile: &str, run: &Run) {
    let (fork, fork_detail) = detail(&run.report, "fork-bomb");
    if fork == "blocked" {
        let n = number_after(fork_detail, "after").expect("process count");
        assert!(
            n < run.pids_max,
            "{profile}: {n} processes forked, pids.max is {}",
            run.pids_max
        );
        // stopped by the pids cgroup, or first by the RLIMIT_NPROC the profile set when that
        // is no larger (it counts the uid's processes on the whole host, so it can strike first)
        let nproc = number_after(fork_detail, "RLIMIT_NPROC");
        assert!(
            run.pids_max_hits > 0 || nproc.is_some_and(|l| l <= run.pids_max),
            "{profile}: fork bomb stopped by neither pids.max nor RLIMIT_NPROC: {fork_detail}"
        );
    }
    let (mem, mem_detail) = detail(&run.report, "memory-bomb");
    if mem == "blocked" {
        assert!(
            mem_detail.starts_with("OOM-killed"),
            "{profile}: {mem_detail}"
        );
        let mb = number_after(mem_detail, "after").unwrap();
        assert!(
            mb << 20 <= run.mem_limit,
            "{profile}: {mb} MiB allocated above the {} byte limit",
            run.mem_limit
        );
        // the kill happened in the container's memory cgroup
        assert!(
            run.oom_kills.unwrap_or(0) >= 1 || run.mem_failcnt > 0,
            "{profile}: neither oom_kill nor memory.failcnt moved in the container's cgroup"
        );
    }
    // the host is fine: this process still forks and allocates
    assert!(Command::new("true").status().unwrap().success());
}

#[test]
fn probes_match_the_expected_table_per_profile() {
    let _serial = serial();
    let w = World::new("probes");
    let started = Instant::now();
    let mut failures = String::new();
    // one profile at a time: RLIMIT_NPROC is counted per uid on the host, so two fork bombs
    // as uid 65534 at once would stop each other early
    for profile in ["restricted", "baseline", "ci-runner"] {
        let t = Instant::now();
        let run = run_profile(&w, profile);
        let (table, diffs) = compare(profile, &run.report);
        eprintln!(
            "== {profile} ({:.1?}; pids.max {} hit {}x; memory limit {} failcnt {} oom_kill {:?})\n{table}",
            t.elapsed(),
            run.pids_max,
            run.pids_max_hits,
            run.mem_limit,
            run.mem_failcnt,
            run.oom_kills
        );
        if diffs > 0 {
            failures += &format!("{profile}: {diffs} difference(s)\n{table}\n");
        }
        host_checks(profile, &run);
    }
    eprintln!("all profiles in {:.1?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "probe outcomes differ from integration/probes/expected:\n{failures}"
    );
}

/// The watcher's report: runtime processes seen, their exe opened (O_PATH), reopened to write.
fn watch_report(path: &Path) -> (u64, u64, u64, String) {
    let text = wait_file(path, Duration::from_secs(60));
    let v: Value = serde_json::from_str(&text).unwrap();
    let n = |k: &str| v[k].as_u64().unwrap();
    (
        n("runtime_seen"),
        n("exe_opened"),
        n("write_opened"),
        v["notes"].to_string(),
    )
}

#[test]
fn a_created_containers_runtime_is_not_writable_from_a_pod_neighbour() {
    let _serial = serial();
    let w = World::new("probes-pod");
    for profile in ["restricted", "baseline"] {
        // the "pause" container: created, not started; its pid 1 is still hardrun's init
        let out = w.dir.join(format!("pod-{profile}"));
        let sandbox = format!("sandbox-{profile}");
        let b = docker_like(&w, &format!("sb-{profile}"), &["/probe", "whoami"], &out);
        let o = w.hr(&[
            "--profile",
            profile,
            "create",
            "--bundle",
            b.to_str().unwrap(),
            &sandbox,
        ]);
        assert!(o.status.success(), "{profile}: {}", stderr(&o));
        let pid = w.state(&sandbox)["pid"].as_i64().unwrap();
        // the neighbour joins its pid namespace and looks for the runtime
        let id = format!("neighbour-{profile}");
        let b = docker_like(
            &w,
            &format!("nb-{profile}"),
            &["/probe", "watch", "1", "--out", "/out/watch.json"],
            &out,
        );
        let mut spec: Value =
            serde_json::from_slice(&fs::read(b.join("config.json")).unwrap()).unwrap();
        spec["linux"]["namespaces"] = json!([
            {"type": "pid", "path": format!("/proc/{pid}/ns/pid")},
            {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
        ]);
        fs::write(b.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
        let o = w.hr(&[
            "--profile",
            profile,
            "run",
            "--bundle",
            b.to_str().unwrap(),
            &id,
        ]);
        assert!(o.status.success(), "{profile}: {}", stderr(&o));
        let (seen, opened, writable, notes) = watch_report(&out.join("watch.json"));
        eprintln!(
            "{profile}: runtime seen {seen}, exe opened {opened}, opened for writing {writable}: {notes}"
        );
        // the setup is real: the sandbox's runtime init is visible as a runtime process
        assert!(
            seen > 0,
            "{profile}: the sandbox's init was not visible: {notes}"
        );
        assert_eq!(
            writable, 0,
            "{profile}: the runtime binary was opened for writing from a container: {notes}"
        );
        for c in [&id, &sandbox] {
            let o = w.hr(&["delete", "--force", c]);
            assert!(o.status.success(), "{}", stderr(&o));
            w.assert_nothing_left(c);
        }
    }
}

#[test]
fn exec_processes_are_not_writable_from_inside() {
    let _serial = serial();
    let w = World::new("probes-exec");
    for profile in ["restricted", "baseline"] {
        let out = w.dir.join(format!("exec-{profile}"));
        let id = format!("watch-{profile}");
        let b = docker_like(
            &w,
            profile,
            &["/probe", "watch", "3", "--out", "/out/watch.json", "--hold"],
            &out,
        );
        let o = w.hr(&[
            "--profile",
            profile,
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            &id,
        ]);
        assert!(o.status.success(), "{profile}: {}", stderr(&o));
        wait_file(&out.join("watch.json.ready"), Duration::from_secs(20));
        // hardrun's exec process joins the container's pid namespace before it execs the
        // command: the watcher races to catch it
        let mut execs = 0;
        while !out.join("watch.json").exists() && execs < 40 {
            let o = w.hr(&["exec", &id, "/bin/true"]);
            assert!(o.status.success(), "{profile} exec: {}", stderr(&o));
            execs += 1;
        }
        let (seen, opened, writable, notes) = watch_report(&out.join("watch.json"));
        eprintln!(
            "{profile}: {execs} execs; runtime seen {seen}, exe opened {opened}, opened for writing {writable}: {notes}"
        );
        // the race is real: the runtime's processes were seen inside the pid namespace
        assert!(
            seen > 0,
            "{profile}: no runtime process seen in {execs} execs"
        );
        assert_eq!(
            writable, 0,
            "{profile}: the runtime binary was opened for writing from a container: {notes}"
        );
        let o = w.hr(&["delete", "--force", &id]);
        assert!(o.status.success(), "{}", stderr(&o));
        w.assert_nothing_left(&id);
    }
}

/// `delete --force` while a fork bomb's processes are still alive (the operator's answer to a
/// runaway container) removes everything: state, cgroups, mounts. Three rounds per profile:
/// the cgroup removal races with the dying processes.
#[test]
fn delete_force_during_a_fork_bomb_leaves_nothing() {
    let _serial = serial();
    let w = World::new("probes-bomb-delete");
    // below each profile's pids limit (a busybox shell gives up at the first failed fork)
    for (profile, n) in [("baseline", 4000), ("restricted", 900)] {
        for round in 0..3 {
            let id = format!("bomb-{profile}-{round}");
            let out = w.dir.join(format!("bomb-{profile}-{round}"));
            let script =
                format!("for i in $(seq {n}); do sleep 60 & done; echo forked > /out/forked; wait");
            let b = docker_like(&w, &id, &["sh", "-c", &script], &out);
            let o = w.hr(&[
                "--profile",
                profile,
                "run",
                "-d",
                "--bundle",
                b.to_str().unwrap(),
                &id,
            ]);
            assert!(o.status.success(), "{profile}: {}", stderr(&o));
            wait_file(&out.join("forked"), Duration::from_secs(30));
            let current: u64 = cgroup_file(&w, "pids", &id, "pids.current")
                .trim()
                .parse()
                .unwrap();
            assert!(current > n, "{profile}: only {current} processes");
            let o = w.hr(&["delete", "--force", &id]);
            assert!(
                o.status.success(),
                "{profile} round {round}: delete --force with {current} processes failed: {}",
                stderr(&o)
            );
            w.assert_nothing_left(&id);
        }
    }
}
