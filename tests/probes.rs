//! In-container attack probes (issues 5 and 12): the static program in `integration/probes/`
//! attempts each escape and privileged move and reports blocked/succeeded as JSON. It runs
//! through both doors a process has into a container:
//!
//! - **init**: as the container's own process (`create` + `start`, as every client does);
//! - **exec**: `exec` into the same running container (its init holds), in the shape the client
//!   uses: `exec --process FILE --detach --pid-file F` with the process JSON the client wrote
//!   (containerd's shim, dockerd, conmon, CRI ExecSync), `exec --detach ID ARGS…` for runc's.
//!
//! Each client's **own default spec**, as captured from the real client on this kind of machine
//! (`tests/fixtures/specs/`, `integration/probes/capture-specs.sh`), is handed to hardrun as the
//! client wrote it; the test rewrites only what must point at test-local things (rootfs, the
//! client's host files such as `/etc/hosts`, cgroup path, the CRI sandbox's namespaces, Docker's
//! prestart hook that calls back into dockerd) and adds `/out` for the report. Every hardrun call
//! is made from `/`, not from the bundle: relative paths in a spec (`rootfs`) are the bundle's.
//!
//! Matrix: `restricted` for the runc, Docker, podman, ctr and CRI specs; `baseline` and
//! `ci-runner` for Docker's; plus `rbinds` (runc's spec with read-only rbinds of the host's
//! `/sys/fs/cgroup` and `/dev`) under `restricted` and `baseline` for the two probes that need
//! them. The report must match `integration/probes/expected/<profile>.toml`; every difference is
//! a row (profile, spec, door, probe, expected, actual, detail). Differences that fixes of issue 12
//! still to be merged will close are listed in [`KNOWN_OPEN`] with their item; an entry that no
//! longer differs fails the test too, so the list only shrinks.
//!
//! Host side: for the init runs, the fork bomb was stopped by the pids cgroup (or the
//! RLIMIT_NPROC the profile set) and never went past `pids.max`; the memory bomb was OOM-killed
//! inside the container's memory cgroup, the container's init survived. For the exec runs, the
//! exec'd process is in the container's cgroups (every controller, from `/proc/<pid>/cgroup`).
//! The kernel's view of both processes (`/proc/<pid>/status`: uid, Seccomp, NoNewPrivs, CapEff) is
//! printed with each run. `delete --force` leaves nothing behind, the container's cgroups included.
//!
//! The runtime binary (CVE-2019-5736 class) from inside: a container that is only *created* has
//! hardrun's init as its pid 1, visible to a second container that shares its pid namespace (a
//! pod). A probe in that second container finds it and must not get its `/proc/<pid>/exe` open
//! for writing, nor list its `/proc/<pid>/fd` (descriptors of the caller held inside the
//! container: CVE-2024-21626 class); the same watcher also runs through a series of `exec`s into
//! a running container (it sees libcontainer's intermediate and init processes; the kernel's
//! ptrace access check already refuses their `/proc/<pid>/exe`, before hardrun's read-only
//! binding of its binary would matter — `tests/protection.rs` tests that binding from the host).
//!
//! `delete --force` of a container whose fork bomb is still alive must leave nothing behind
//! (three rounds each under `baseline` and `restricted`).
//! `integration/probes/compare.sh` produces `docs/probes.md` from this test's reports
//! (`HARDRUN_PROBES_OUT=DIR`) and runc's with Docker's captured spec.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

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

/// Every hardrun call of this file is made from here: not the bundle (see the module doc).
const CALLER_CWD: &str = "/";

/// Which specs run under which profile. The client specs are `tests/fixtures/specs/<name>.json`;
/// `rbinds` is runc's with the read-only rbinds the `write-*-rbind` probes need.
const MATRIX: &[(&str, &[&str])] = &[
    (
        "restricted",
        &["runc", "docker", "podman", "ctr", "cri", "rbinds"],
    ),
    ("baseline", &["docker", "rbinds"]),
    ("ci-runner", &["docker"]),
];

/// The probes the `rbinds` spec runs (only those: the rest is runc's spec, probed already).
const RBIND_PROBES: &[&str] = &["write-cgroup-rbind", "write-dev-shm-rbind"];

/// Differences from the expected tables that fixes of issue 12 not merged yet will close: each
/// names the profile, specs, door and probes it covers (no wildcards) and the item that closes
/// it. Remove an entry when its fix lands: an entry whose cases all match the table fails the
/// test ("stale"), so the list can only shrink.
struct Open {
    profile: &'static str,
    specs: &'static [&'static str],
    door: &'static str,
    probes: &'static [&'static str],
    item: &'static str,
}

/// Differences still open, each with the issue item that closes it. Empty: every probe of the
/// matrix matches the expected tables (issue 12's items 1, 5, 7 and 12 closed what was listed).
const KNOWN_OPEN: &[Open] = &[];

// ---- the probe and its root filesystem -----------------------------------------------------

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

/// A private copy of the busybox rootfs at `dir` with the probe as `/probe` and a setuid-root
/// copy as `/probe-suid` (the shared rootfs must not get a setuid binary or the probes' writes),
/// and the mount points the test adds (`/out`, `/rbind/*`).
fn probe_rootfs_at(dir: &Path) {
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
    copy_tree(rootfs(), dir);
    for d in ["out", "rbind/cgroup", "rbind/dev"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    let probe = probe_binary();
    fs::copy(probe, dir.join("probe")).unwrap();
    fs::set_permissions(dir.join("probe"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::copy(probe, dir.join("probe-suid")).unwrap();
    std::os::unix::fs::chown(dir.join("probe-suid"), Some(0), Some(0)).unwrap();
    fs::set_permissions(dir.join("probe-suid"), fs::Permissions::from_mode(0o4755)).unwrap();
}

// ---- client specs ---------------------------------------------------------------------------

fn fixture(name: &str) -> Value {
    let path = repo().join(format!("tests/fixtures/specs/{name}.json"));
    let text = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cgroup parent of every container of this test binary (removed at the end).
fn cgroup_parent() -> String {
    format!("hrprobes-{}", std::process::id())
}

/// A bundle `b-<name>` from client spec `client` (a fixture name), with `args` as the process
/// and `out` bound at `/out`. Rewritten, and only these: the rootfs (a probe rootfs at the same
/// relative/absolute shape: a relative path stays relative, so the runtime must resolve it
/// against the bundle), bind sources of the client's host files (`/etc/hosts`, `/dev/shm`, …:
/// files of this test at the same shape), `linux.cgroupsPath` (kept when the client set one:
/// under this test's parent, leaf `id`), hooks (Docker's prestart hook calls back into dockerd).
fn client_bundle(
    w: &World,
    client: &str,
    name: &str,
    id: &str,
    args: &[&str],
    out: &Path,
    edit: impl FnOnce(&mut Value),
) -> PathBuf {
    let mut s = fixture(client);
    let b = w.dir.join(format!("b-{name}"));
    fs::create_dir_all(&b).unwrap();
    let root = s["root"]["path"].as_str().expect("root.path").to_owned();
    if Path::new(&root).is_absolute() {
        let dir = w.dir.join(format!("rootfs-{name}"));
        probe_rootfs_at(&dir);
        s["root"]["path"] = json!(dir);
    } else {
        probe_rootfs_at(&b.join(&root));
    }
    let host = w.dir.join(format!("hostfiles-{name}"));
    for m in s["mounts"].as_array_mut().expect("mounts") {
        let bind = m["type"] == "bind"
            || m["options"]
                .as_array()
                .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"));
        let Some(src) = m["source"].as_str().map(str::to_owned) else {
            continue;
        };
        if !bind {
            continue;
        }
        let base = Path::new(&src).file_name().unwrap().to_owned();
        let local = if Path::new(&src).is_absolute() {
            fs::create_dir_all(&host).unwrap();
            m["source"] = json!(host.join(&base));
            host.join(&base)
        } else {
            b.join(&src)
        };
        fs::create_dir_all(local.parent().unwrap()).unwrap();
        if m["destination"] == "/dev/shm" {
            fs::create_dir_all(&local).unwrap();
            fs::set_permissions(&local, fs::Permissions::from_mode(0o1777)).unwrap();
        } else {
            let text = match base.to_str().unwrap() {
                "hosts" => "127.0.0.1\tlocalhost\n",
                "hostname" => "probes\n",
                "resolv.conf" => "nameserver 192.0.2.53\n",
                _ => "",
            };
            fs::write(&local, text).unwrap();
        }
    }
    fs::create_dir_all(out).unwrap();
    fs::set_permissions(out, fs::Permissions::from_mode(0o777)).unwrap();
    s["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]}),
    );
    if let Some(o) = s.as_object_mut() {
        o.remove("hooks");
    }
    if s["linux"].get("cgroupsPath").is_some() {
        s["linux"]["cgroupsPath"] = json!(format!("/{}/{id}", cgroup_parent()));
    }
    s["process"]["args"] = json!(args);
    s["process"]["terminal"] = json!(false);
    edit(&mut s);
    fs::write(
        b.join("config.json"),
        serde_json::to_vec_pretty(&s).unwrap(),
    )
    .unwrap();
    b
}

/// The process JSON a client hands `exec --process` (captured beside its spec), with `args`.
fn client_process(client: &str, args: &[&str]) -> Value {
    let mut p = fixture(&format!("{client}.exec"));
    p["args"] = json!(args);
    p["terminal"] = json!(false);
    p
}

fn wait_file(path: &Path, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(t) = fs::read_to_string(path) {
            return Some(t);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- the kernel's view ----------------------------------------------------------------------

/// The cgroup directories of `pid`, per controller (from `/proc/<pid>/cgroup`). On cgroup v2
/// one directory (the `0::PATH` line) holds every controller its `cgroup.controllers` names.
fn cgroups_of(pid: i64) -> BTreeMap<String, PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mut out = BTreeMap::new();
    if cgroup_v2() {
        if let Some(path) = text.lines().find_map(|l| l.strip_prefix("0::")) {
            let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
            let ctls = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            for c in ctls.split_whitespace().chain(["unified"]) {
                out.insert(c.to_owned(), dir.clone());
            }
        }
        return out;
    }
    for l in text.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        // the root of a hierarchy (here: the named systemd one, which no runtime uses) is no
        // container's cgroup
        if path == "/" {
            continue;
        }
        for c in ctls.split(',').filter(|c| !c.is_empty()) {
            let c = c.trim_start_matches("name=");
            out.insert(
                c.to_owned(),
                Path::new("/sys/fs/cgroup")
                    .join(c)
                    .join(path.trim_start_matches('/')),
            );
        }
    }
    out
}

fn cgroup_read(cg: &BTreeMap<String, PathBuf>, ctl: &str, file: &str) -> String {
    let dir = cg
        .get(ctl)
        .unwrap_or_else(|| panic!("no {ctl} cgroup in {cg:?}"));
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// uid, Seccomp, NoNewPrivs and CapEff of `pid` as the host's `/proc/<pid>/status` shows them.
fn host_view(pid: i64) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "uid {} Seccomp {} NoNewPrivs {} CapEff {}",
        get("Uid:"),
        get("Seccomp:"),
        get("NoNewPrivs:"),
        get("CapEff:")
    )
}

// ---- expected tables ------------------------------------------------------------------------

struct Want {
    outcome: String,
    /// the actual detail must start with this (e.g. the errno an unknown syscall gets)
    detail: Option<String>,
}

struct Expected {
    entries: BTreeMap<String, toml::Table>,
}

impl Expected {
    fn load(profile: &str) -> Self {
        let path = repo().join(format!("integration/probes/expected/{profile}.toml"));
        let text = fs::read_to_string(&path).unwrap();
        let table: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let entries = table
            .into_iter()
            .map(|(k, v)| {
                let t = v
                    .as_table()
                    .unwrap_or_else(|| panic!("{k}: not a table"))
                    .clone();
                (k, t)
            })
            .collect();
        Expected { entries }
    }

    /// The probes a default run reports (all but the `extra` ones).
    fn default_probes(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, t)| !t.get("extra").and_then(|v| v.as_bool()).unwrap_or(false))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The expectation for `probe` under (spec, door): the first `[[probe.when]]` whose `spec`
    /// and `door` (each optional) match, else the probe's own outcome.
    fn want(&self, probe: &str, spec: &str, door: &str) -> Option<Want> {
        let t = self.entries.get(probe)?;
        let s = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let pick = |t: &toml::Table| {
            let o = s(t, "outcome").unwrap_or_else(|| panic!("{probe}: outcome"));
            assert!(o == "blocked" || o == "succeeded", "{probe}: outcome {o}");
            Want {
                outcome: o,
                detail: s(t, "detail"),
            }
        };
        if let Some(whens) = t.get("when").and_then(|v| v.as_array()) {
            for w in whens {
                let w = w.as_table().expect("[[probe.when]] is a table");
                if s(w, "spec").is_none_or(|x| x == spec) && s(w, "door").is_none_or(|x| x == door)
                {
                    return Some(pick(w));
                }
            }
        }
        Some(pick(t))
    }
}

/// One difference between a report and the expected table.
struct Diff {
    profile: String,
    spec: String,
    door: String,
    probe: String,
    expected: String,
    actual: String,
    detail: String,
}

fn known_open(d: &Diff) -> Option<&'static str> {
    KNOWN_OPEN
        .iter()
        .find(|o| {
            o.profile == d.profile
                && o.door == d.door
                && o.specs.contains(&d.spec.as_str())
                && o.probes.contains(&d.probe.as_str())
        })
        .map(|o| o.item)
}

/// Compares one report (or the reason there is none) with the table: the differences.
fn compare(
    want: &Expected,
    profile: &str,
    spec: &str,
    door: &str,
    probes: &[String],
    report: Result<&Value, &str>,
) -> Vec<Diff> {
    let mut diffs = Vec::new();
    let got = report.ok().and_then(|r| r["probes"].as_object());
    let mut names: BTreeSet<String> = probes.iter().cloned().collect();
    if let Some(g) = got {
        names.extend(g.keys().cloned());
    }
    for n in names {
        let w = want.want(&n, spec, door);
        let (a, detail) = match (got, report) {
            (Some(g), _) => match g.get(&n) {
                Some(v) => (
                    v["outcome"].as_str().unwrap_or("?").to_owned(),
                    v["detail"].as_str().unwrap_or("").to_owned(),
                ),
                None => ("(none)".to_owned(), String::new()),
            },
            (None, Err(why)) => ("(no report)".to_owned(), why.to_owned()),
            (None, Ok(_)) => ("(bad report)".to_owned(), String::new()),
        };
        let e = w.as_ref().map(|w| w.outcome.as_str()).unwrap_or("(none)");
        let detail_ok = w
            .as_ref()
            .and_then(|w| w.detail.as_deref())
            .is_none_or(|d| detail.starts_with(d));
        if e != a || !detail_ok {
            let expected = match w.as_ref().and_then(|w| w.detail.as_deref()) {
                Some(d) => format!("{e} ({d})"),
                None => e.to_owned(),
            };
            diffs.push(Diff {
                profile: profile.into(),
                spec: spec.into(),
                door: door.into(),
                probe: n,
                expected,
                actual: a,
                detail,
            });
        }
    }
    diffs
}

fn diff_table(diffs: &[&Diff]) -> String {
    let mut t = format!(
        "{:<11} {:<7} {:<5} {:<22} {:<18} {:<11} {:<8} detail\n",
        "profile", "spec", "door", "probe", "expected", "actual", "known"
    );
    for d in diffs {
        let short: String = d.detail.chars().take(90).collect();
        t += &format!(
            "{:<11} {:<7} {:<5} {:<22} {:<18} {:<11} {:<8} {short}\n",
            d.profile,
            d.spec,
            d.door,
            d.probe,
            d.expected,
            d.actual,
            known_open(d).unwrap_or("-")
        );
    }
    t
}

// ---- one spec through both doors ------------------------------------------------------------

/// What one door's run gave: the report (or why there is none) and the kernel's view.
struct Door {
    report: Result<Value, String>,
    pid: i64,
    host: String,
}

struct Bombs {
    pids_max: u64,
    pids_max_hits: u64,
    mem_limit: u64,
    mem_failcnt: u64,
    oom_kills: Option<u64>,
}

struct SpecRun {
    init: Door,
    exec: Door,
    bombs: Bombs,
    /// the exec'd process's cgroups differ from the init's: (controller, init's, exec's)
    exec_cgroup_mismatch: Vec<(String, PathBuf, Option<PathBuf>)>,
    /// steps that failed outright (create, start, delete, leftovers)
    failures: Vec<String>,
}

fn pid_file(path: &Path) -> Option<i64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_report(path: &Path, limit: Duration) -> Result<Value, String> {
    let text = wait_file(path, limit).ok_or_else(|| format!("no report within {limit:?}"))?;
    serde_json::from_str(&text).map_err(|e| format!("report is not JSON: {e}"))
}

/// Creates and starts container `id` of `client`'s spec under `profile` with the probe as its
/// init, waits for the report, execs the probe into it in the client's shape, waits for that
/// report, reads the kernel's view of both and the container's cgroups, deletes everything.
fn run_spec(w: &World, profile: &str, spec: &str) -> SpecRun {
    let cwd = Path::new(CALLER_CWD);
    let id = format!(
        "{}-{spec}",
        &profile[..profile.find('-').unwrap_or(profile.len())]
    );
    let out = w.dir.join(format!("out-{id}"));
    let only: Vec<String> = if spec == "rbinds" {
        vec!["--only".into(), RBIND_PROBES.join(",")]
    } else {
        vec![]
    };
    let probe_args = |door: &str| -> Vec<String> {
        let mut a: Vec<String> = vec!["/probe".into(), "--out".into(), format!("/out/{door}.json")];
        a.extend(only.iter().cloned());
        a.push("--hold".into());
        a
    };
    let init_args = probe_args("init");
    let init_args: Vec<&str> = init_args.iter().map(String::as_str).collect();
    let mut failures = Vec::new();
    let mut ids = vec![id.clone()];
    let hr = |args: &[&str]| {
        let mut a = vec!["--profile", profile];
        a.extend_from_slice(args);
        w.hr_from(cwd, &a)
    };

    // the CRI's pod sandbox first: the container joins its ipc, uts and network namespaces
    let mut sandbox: Option<(String, i64)> = None;
    if spec == "cri" {
        let sid = format!("{id}-sandbox");
        let b = client_bundle(
            w,
            "cri-sandbox",
            &sid,
            &sid,
            &["/bin/sleep", "2147483"],
            &out,
            |s| {
                for ns in s["linux"]["namespaces"].as_array_mut().unwrap() {
                    if let Some(o) = ns.as_object_mut() {
                        o.remove("path");
                    }
                }
                s["process"]["args"] = json!(["/bin/sleep", "2147483"]);
            },
        );
        let o = hr(&["create", "--bundle", b.to_str().unwrap(), &sid]);
        assert!(
            o.status.success(),
            "{profile} {spec}: create sandbox: {}",
            stderr(&o)
        );
        ids.insert(0, sid.clone());
        let o = hr(&["start", &sid]);
        assert!(
            o.status.success(),
            "{profile} {spec}: start sandbox: {}",
            stderr(&o)
        );
        let pid = w.state(&sid)["pid"].as_i64().unwrap();
        sandbox = Some((sid, pid));
    }
    let base = if spec == "rbinds" { "runc" } else { spec };
    let sb = sandbox.clone();
    let b = client_bundle(w, base, &id, &id, &init_args, &out, |s| {
        if let Some((sid, pid)) = &sb {
            for ns in s["linux"]["namespaces"].as_array_mut().unwrap() {
                if ns.get("path").is_some() {
                    let kind = match ns["type"].as_str().unwrap() {
                        "network" => "net",
                        "mount" => "mnt",
                        k => k,
                    }
                    .to_owned();
                    ns["path"] = json!(format!("/proc/{pid}/ns/{kind}"));
                }
            }
            s["annotations"]["io.kubernetes.cri.sandbox-id"] = json!(sid);
        }
        if spec == "rbinds" {
            for (dst, src) in [("/rbind/cgroup", "/sys/fs/cgroup"), ("/rbind/dev", "/dev")] {
                s["mounts"].as_array_mut().unwrap().push(
                    json!({"destination": dst, "type": "bind", "source": src, "options": ["rbind", "ro"]}),
                );
            }
        }
    });
    let init_pid_file = w.dir.join(format!("{id}.init.pid"));
    let o = hr(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        init_pid_file.to_str().unwrap(),
        &id,
    ]);
    let mut init = Door {
        report: Err(format!("create failed: {}", stderr(&o).trim())),
        pid: 0,
        host: String::new(),
    };
    let mut exec = Door {
        report: Err("no running container".into()),
        pid: 0,
        host: String::new(),
    };
    let mut bombs = Bombs {
        pids_max: u64::MAX,
        pids_max_hits: 0,
        mem_limit: u64::MAX,
        mem_failcnt: 0,
        oom_kills: None,
    };
    let mut exec_cgroup_mismatch = Vec::new();
    let mut cgroups = BTreeMap::new();
    if o.status.success() {
        init.pid = pid_file(&init_pid_file).unwrap_or(0);
        cgroups = cgroups_of(init.pid);
        let o = hr(&["start", &id]);
        init.report = if o.status.success() {
            read_report(&out.join("init.json"), Duration::from_secs(60))
        } else {
            Err(format!("start failed: {}", stderr(&o).trim()))
        };
    }
    if init.report.is_ok() {
        init.host = host_view(init.pid);
        if w.state(&id)["status"] != "running" {
            failures.push(format!(
                "{profile} {spec}: the init did not survive its probes"
            ));
        }
        if spec != "rbinds" {
            let pids_events = cgroup_read(&cgroups, "pids", "pids.events");
            let num = |f: &str, ctl: &str| cgroup_read(&cgroups, ctl, f).trim().parse().ok();
            // cgroup v2: memory.max; memory.events counts the OOM kills (oom_kill, as v1's
            // memory.oom_control does) and the times the limit was hit (max, v1's failcnt)
            let v2 = cgroup_v2();
            let oom = cgroup_read(
                &cgroups,
                "memory",
                if v2 {
                    "memory.events"
                } else {
                    "memory.oom_control"
                },
            );
            bombs = Bombs {
                pids_max: num("pids.max", "pids").unwrap_or(u64::MAX),
                pids_max_hits: field(&pids_events, "max").unwrap_or(0),
                mem_limit: if v2 {
                    num("memory.max", "memory")
                } else {
                    num("memory.limit_in_bytes", "memory")
                }
                .unwrap_or(u64::MAX),
                mem_failcnt: if v2 {
                    field(&oom, "max")
                } else {
                    num("memory.failcnt", "memory")
                }
                .unwrap_or(0),
                oom_kills: field(&oom, "oom_kill"),
            };
        }
        // the second door: exec, in the client's shape
        let exec_args = probe_args("exec");
        let exec_args: Vec<&str> = exec_args.iter().map(String::as_str).collect();
        let exec_pid_file = w.dir.join(format!("{id}.exec.pid"));
        let pf = exec_pid_file.to_str().unwrap();
        let o = if base == "runc" {
            let mut a = vec!["exec", "--detach", "--pid-file", pf, &id];
            a.extend_from_slice(&exec_args);
            hr(&a)
        } else {
            let process = w.dir.join(format!("{id}.process.json"));
            fs::write(
                &process,
                serde_json::to_vec_pretty(&client_process(spec, &exec_args)).unwrap(),
            )
            .unwrap();
            let p = process.to_str().unwrap();
            hr(&["exec", "--process", p, "--detach", "--pid-file", pf, &id])
        };
        if o.status.success() {
            exec.report = read_report(&out.join("exec.json"), Duration::from_secs(60));
            exec.pid = pid_file(&exec_pid_file).unwrap_or(0);
            exec.host = host_view(exec.pid);
            let theirs = cgroups_of(exec.pid);
            for (ctl, dir) in &cgroups {
                if theirs.get(ctl) != Some(dir) {
                    exec_cgroup_mismatch.push((ctl.clone(), dir.clone(), theirs.get(ctl).cloned()));
                }
            }
        } else {
            exec.report = Err(format!("exec failed: {}", stderr(&o).trim()));
        }
        // verify, not trust: after both doors' attempts, every process left (the init and the
        // exec'd probe, both holding) keeps its profile as the kernel shows it
        let live = w.hr_from(cwd, &["check", "--running", "--live", &id]);
        if !live.status.success() {
            failures.push(format!(
                "{profile} {spec}: check --running --live found drift:\n{}{}",
                stdout(&live),
                stderr(&live)
            ));
        }
    }
    for c in ids.iter().rev() {
        let o = w.hr_from(cwd, &["delete", "--force", c]);
        if !o.status.success() && w.hr(&["state", c]).status.success() {
            failures.push(format!(
                "{profile} {spec}: delete --force {c}: {}",
                stderr(&o)
            ));
        }
        w.assert_nothing_left(c);
    }
    for (ctl, dir) in &cgroups {
        if dir.exists() {
            failures.push(format!(
                "{profile} {spec}: {ctl} cgroup {} left behind",
                dir.display()
            ));
        }
    }
    SpecRun {
        init,
        exec,
        bombs,
        exec_cgroup_mismatch,
        failures,
    }
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

/// The init run's bombs, from the host: what stopped them and where.
fn host_checks(what: &str, report: &Value, b: &Bombs) -> Vec<String> {
    let mut bad = Vec::new();
    let (fork, fork_detail) = detail(report, "fork-bomb");
    if fork == "blocked" {
        let n = number_after(fork_detail, "after").unwrap_or(u64::MAX);
        if n >= b.pids_max {
            bad.push(format!(
                "{what}: {n} processes forked, pids.max is {}",
                b.pids_max
            ));
        }
        // stopped by the pids cgroup, or first by the RLIMIT_NPROC the profile set when that
        // is no larger (it counts the uid's processes on the whole host, so it can strike first)
        let nproc = number_after(fork_detail, "RLIMIT_NPROC");
        if !(b.pids_max_hits > 0 || nproc.is_some_and(|l| l <= b.pids_max)) {
            bad.push(format!(
                "{what}: fork bomb stopped by neither pids.max nor RLIMIT_NPROC: {fork_detail}"
            ));
        }
    }
    let (mem, mem_detail) = detail(report, "memory-bomb");
    if mem == "blocked" {
        if !mem_detail.starts_with("OOM-killed") {
            bad.push(format!("{what}: memory bomb: {mem_detail}"));
        }
        let mb = number_after(mem_detail, "after").unwrap_or(0);
        if mb << 20 > b.mem_limit {
            bad.push(format!(
                "{what}: {mb} MiB allocated above the {} byte limit",
                b.mem_limit
            ));
        }
        // the kill happened in the container's memory cgroup
        if b.oom_kills.unwrap_or(0) == 0 && b.mem_failcnt == 0 {
            bad.push(format!(
                "{what}: neither oom_kill nor memory.failcnt moved in the container's cgroup"
            ));
        }
    }
    // the host is fine: this process still forks and allocates
    assert!(Command::new("true").status().unwrap().success());
    bad
}

/// Keeps a report for `integration/probes/compare.sh` (`HARDRUN_PROBES_OUT=DIR`).
fn keep_report(profile: &str, spec: &str, door: &str, d: &Door) {
    let Some(dir) = std::env::var_os("HARDRUN_PROBES_OUT") else {
        return;
    };
    let dir = PathBuf::from(dir);
    fs::create_dir_all(&dir).unwrap();
    let doc = json!({
        "profile": profile, "spec": spec, "door": door, "host": d.host,
        "report": d.report.as_ref().ok(), "error": d.report.as_ref().err(),
    });
    fs::write(
        dir.join(format!("{profile}.{spec}.{door}.json")),
        serde_json::to_vec_pretty(&doc).unwrap(),
    )
    .unwrap();
}

/// Removes this binary's cgroup parent (every controller) when a test ends: declared after
/// the lock and before the `World`, whose drop deletes the containers first.
struct CgroupParent;

impl Drop for CgroupParent {
    fn drop(&mut self) {
        for e in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = e.path().join(cgroup_parent());
            if p.is_dir() {
                let _ = fs::remove_dir(&p);
            }
        }
        // cgroup v2: the one hierarchy's
        let _ = fs::remove_dir(Path::new("/sys/fs/cgroup").join(cgroup_parent()));
    }
}

#[test]
fn probes_match_the_expected_table_per_profile_spec_and_door() {
    let _serial = serial();
    let _cgroups = CgroupParent;
    let w = World::new("probes");
    let started = Instant::now();
    let mut diffs: Vec<Diff> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut ran: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    // one run at a time: RLIMIT_NPROC is counted per uid on the host, so two fork bombs as
    // uid 65534 at once would stop each other early
    for (profile, specs) in MATRIX {
        let want = Expected::load(profile);
        for spec in *specs {
            let t = Instant::now();
            let run = run_spec(&w, profile, spec);
            let probes: Vec<String> = if *spec == "rbinds" {
                RBIND_PROBES.iter().map(|s| s.to_string()).collect()
            } else {
                want.default_probes()
            };
            eprintln!(
                "== {profile} {spec} ({:.1?}): init pid {} [{}]; exec pid {} [{}]; pids.max {} hit {}x; memory limit {} failcnt {} oom_kill {:?}",
                t.elapsed(),
                run.init.pid,
                run.init.host,
                run.exec.pid,
                run.exec.host,
                run.bombs.pids_max,
                run.bombs.pids_max_hits,
                run.bombs.mem_limit,
                run.bombs.mem_failcnt,
                run.bombs.oom_kills
            );
            for (door, d) in [("init", &run.init), ("exec", &run.exec)] {
                keep_report(profile, spec, door, d);
                for p in &probes {
                    ran.insert((
                        profile.to_string(),
                        spec.to_string(),
                        door.into(),
                        p.clone(),
                    ));
                }
                diffs.extend(compare(
                    &want,
                    profile,
                    spec,
                    door,
                    &probes,
                    d.report.as_ref().map_err(String::as_str),
                ));
            }
            if let (Ok(r), false) = (&run.init.report, *spec == "rbinds") {
                failures.extend(host_checks(
                    &format!("{profile} {spec} init"),
                    r,
                    &run.bombs,
                ));
            }
            for (ctl, init, exec) in &run.exec_cgroup_mismatch {
                failures.push(format!(
                    "{profile} {spec}: the exec'd process is not in the container's {ctl} cgroup {} (but {exec:?})",
                    init.display()
                ));
            }
            failures.extend(run.failures);
        }
    }
    eprintln!("all runs in {:.1?}", started.elapsed());
    if let Some(dir) = std::env::var_os("HARDRUN_PROBES_OUT") {
        let rows: Vec<Value> = diffs
            .iter()
            .map(|d| {
                json!({"profile": d.profile, "spec": d.spec, "door": d.door, "probe": d.probe,
                       "expected": d.expected, "actual": d.actual, "detail": d.detail,
                       "known": known_open(d)})
            })
            .collect();
        fs::write(
            PathBuf::from(dir).join("diffs.json"),
            serde_json::to_vec_pretty(&rows).unwrap(),
        )
        .unwrap();
    }
    let (known, open): (Vec<&Diff>, Vec<&Diff>) =
        diffs.iter().partition(|d| known_open(d).is_some());
    if !diffs.is_empty() {
        eprintln!(
            "== differences from integration/probes/expected ({} known open, {} new)\n{}",
            known.len(),
            open.len(),
            diff_table(&diffs.iter().collect::<Vec<_>>())
        );
    }
    // a KNOWN_OPEN case that ran and matches the table: its fix has landed, remove it
    let mut stale = Vec::new();
    for o in KNOWN_OPEN {
        for spec in o.specs {
            for probe in o.probes {
                let key = (
                    o.profile.to_string(),
                    spec.to_string(),
                    o.door.to_string(),
                    probe.to_string(),
                );
                let differs = diffs.iter().any(|d| {
                    (&d.profile, &d.spec, &d.door, &d.probe) == (&key.0, &key.1, &key.2, &key.3)
                });
                if !ran.contains(&key) || !differs {
                    stale.push(format!(
                        "{} {spec} {} {probe} ({})",
                        o.profile, o.door, o.item
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "probe runs failed host-side checks:\n{}",
        failures.join("\n")
    );
    assert!(
        open.is_empty(),
        "probe outcomes differ from integration/probes/expected:\n{}",
        diff_table(&open)
    );
    assert!(
        stale.is_empty(),
        "KNOWN_OPEN entries that no longer differ (their fix landed: remove them):\n{}",
        stale.join("\n")
    );
}

/// The watcher's report: runtime processes seen, their exe opened (O_PATH), reopened to write,
/// their descriptors beyond stdio followed (target read or opened through `/proc/<pid>/fd`).
fn watch_report(path: &Path) -> (u64, u64, u64, u64, String) {
    let text = wait_file(path, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("{} never appeared", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    let n = |k: &str| v[k].as_u64().unwrap();
    (
        n("runtime_seen"),
        n("exe_opened"),
        n("write_opened"),
        n("fds_followed"),
        v["notes"].to_string(),
    )
}

#[test]
fn a_created_containers_runtime_is_not_writable_from_a_pod_neighbour() {
    let _serial = serial();
    let _cgroups = CgroupParent;
    let w = World::new("probes-pod");
    for profile in ["restricted", "baseline"] {
        // the "pause" container: created, not started; its pid 1 is still hardrun's init
        let out = w.dir.join(format!("pod-{profile}"));
        let sandbox = format!("sandbox-{profile}");
        let b = client_bundle(
            &w,
            "docker",
            &format!("sb-{profile}"),
            &sandbox,
            &["/probe", "whoami"],
            &out,
            |_| {},
        );
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
        let b = client_bundle(
            &w,
            "docker",
            &format!("nb-{profile}"),
            &id,
            &["/probe", "watch", "1", "--out", "/out/watch.json"],
            &out,
            |_| {},
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
        let (seen, opened, writable, fds, notes) = watch_report(&out.join("watch.json"));
        eprintln!(
            "{profile}: runtime seen {seen}, exe opened {opened}, opened for writing {writable}, descriptors followed {fds}: {notes}"
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
        // what the runtime holds beyond stdio (the caller's descriptors, in the CVE-2024-21626
        // class) cannot be followed from the container: neither its target read nor opened
        assert_eq!(
            fds, 0,
            "{profile}: a runtime process's descriptor was followed from a container: {notes}"
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
    let _cgroups = CgroupParent;
    let w = World::new("probes-exec");
    for profile in ["restricted", "baseline"] {
        let out = w.dir.join(format!("exec-{profile}"));
        let id = format!("watch-{profile}");
        // the watcher's window: 3 s here, longer on a slower machine (time_scale)
        let secs = (3 * time_scale()).to_string();
        let b = client_bundle(
            &w,
            "docker",
            profile,
            &id,
            &[
                "/probe",
                "watch",
                &secs,
                "--out",
                "/out/watch.json",
                "--hold",
            ],
            &out,
            |_| {},
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
        wait_file(
            &out.join("watch.json.ready"),
            Duration::from_secs(20) * time_scale(),
        )
        .expect("the watcher never started");
        // hardrun's exec process joins the container's pid namespace before it execs the
        // command: the watcher races to catch it
        let mut execs = 0;
        while !out.join("watch.json").exists() && execs < 40 {
            let o = w.hr(&["exec", &id, "/bin/true"]);
            assert!(o.status.success(), "{profile} exec: {}", stderr(&o));
            execs += 1;
        }
        let (seen, opened, writable, fds, notes) = watch_report(&out.join("watch.json"));
        eprintln!(
            "{profile}: {execs} execs; runtime seen {seen}, exe opened {opened}, opened for writing {writable}, descriptors followed {fds}: {notes}"
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
        // what the runtime holds beyond stdio (the caller's descriptors, in the CVE-2024-21626
        // class) cannot be followed from the container: neither its target read nor opened
        assert_eq!(
            fds, 0,
            "{profile}: a runtime process's descriptor was followed from a container: {notes}"
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
    let _cgroups = CgroupParent;
    let w = World::new("probes-bomb-delete");
    // below each profile's pids limit (a busybox shell gives up at the first failed fork)
    for (profile, n) in [("baseline", 4000), ("restricted", 900)] {
        for round in 0..3 {
            let id = format!("bomb-{profile}-{round}");
            let out = w.dir.join(format!("bomb-{profile}-{round}"));
            let sleep = 60 * time_scale();
            let script = format!(
                "for i in $(seq {n}); do sleep {sleep} & done; echo forked > /out/forked; wait"
            );
            let b = client_bundle(&w, "docker", &id, &id, &["sh", "-c", &script], &out, |_| {});
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
            wait_file(&out.join("forked"), Duration::from_secs(30) * time_scale())
                .expect("never forked");
            let pid = w.state(&id)["pid"].as_i64().unwrap();
            let cgroups = cgroups_of(pid);
            let current: u64 = cgroup_read(&cgroups, "pids", "pids.current")
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
