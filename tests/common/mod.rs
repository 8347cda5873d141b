//! Shared helpers for the integration tests: a busybox rootfs, bundles, a private state root per
//! test, the hardrun binary (overridable with `HARDRUN_BIN`), and leak checks.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod monitor;
pub mod netns;

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests start real containers and must run as root"
    );
}

/// The caches a state root keeps across containers on purpose, so no container's leftover: the
/// `image-files` rule's walk cache (keyed by rootfs identity) and the compiled seccomp programs
/// (keyed by filter).
#[allow(dead_code)]
pub const STATE_ROOT_CACHES: &[&str] = &[".image-files", ".seccomp"];

pub fn bin() -> PathBuf {
    std::env::var_os("HARDRUN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hardrun")))
}

fn tmp_base() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// A busybox-static root filesystem, built once per test binary.
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let dir = tmp_base().join(format!("rootfs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "home/app", "run", "var/tmp"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        let busybox = Path::new("/bin/busybox");
        assert!(busybox.exists(), "/bin/busybox is missing: apt-get install busybox-static");
        fs::copy(busybox, dir.join("bin/busybox")).unwrap();
        let list = Command::new(busybox).arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" && !applet.is_empty() {
                let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
            }
        }
        fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .unwrap();
        fs::write(dir.join("etc/group"), "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n").unwrap();
        dir
    })
}

/// A copy of [`rootfs`] at `dest` (symlinks kept, modes copied), without the top-level entries
/// named in `skip`: for a rootfs that must live somewhere else or differ from the shared one.
pub fn rootfs_copy(dest: &Path, skip: &[&str]) {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        fs::set_permissions(to, fs::metadata(from).unwrap().permissions()).unwrap();
        for e in fs::read_dir(from).unwrap().flatten() {
            let (src, dst) = (e.path(), to.join(e.file_name()));
            let md = fs::symlink_metadata(&src).unwrap();
            if md.file_type().is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
            } else if md.is_dir() {
                copy(&src, &dst);
            } else {
                fs::copy(&src, &dst).unwrap();
            }
        }
    }
    copy(rootfs(), dest);
    for s in skip {
        let p = dest.join(s);
        if p.is_dir() {
            fs::remove_dir_all(p).unwrap();
        }
    }
}

/// A test's private world: a state root and bundles, removed at the end.
pub struct World {
    pub dir: PathBuf,
    pub root: PathBuf,
    /// other state roots used through [`World::hr_in`], cleaned up like `root`
    other_roots: std::cell::RefCell<Vec<PathBuf>>,
}

impl World {
    pub fn new(name: &str) -> Self {
        require_root();
        let dir = tmp_base().join(format!("w-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.join("state");
        // the existing runtime tests run under `permissive` (record, change nothing); hardening
        // tests ask for a profile with --profile. Decisions go to a private audit log; what
        // delete keeps, to a private forensics directory.
        fs::write(
            dir.join("config.toml"),
            format!(
                "default_profile = \"permissive\"\naudit_log = \"{}\"\nforensics_dir = \"{}\"\n",
                dir.join("audit.jsonl").display(),
                dir.join("forensics").display()
            ),
        )
        .unwrap();
        World {
            dir,
            root,
            other_roots: Default::default(),
        }
    }

    /// A bundle where containerd's CRI plugin has its runc shim put it, and the state root the
    /// shim passes: `<dir>/containerd/io.containerd.runtime.v2.task/k8s.io/<id>` and
    /// `<dir>/runc/k8s.io`. Only there are `io.kubernetes.cri.*` annotations vouched for.
    /// Returns (bundle, root); run it with [`World::hr_in`].
    pub fn cri_bundle(
        &self,
        id: &str,
        args: &[&str],
        edit: impl FnOnce(&mut Value),
    ) -> (PathBuf, PathBuf) {
        let b = self.bundle_with(
            &format!("containerd/io.containerd.runtime.v2.task/k8s.io/{id}"),
            args,
            edit,
        );
        (b, self.dir.join("runc/k8s.io"))
    }

    /// [`World::hr`] with another state root (its containers are deleted when the world ends).
    pub fn hr_in(&self, root: &Path, args: &[&str]) -> Output {
        if !self.other_roots.borrow().iter().any(|r| r == root) {
            self.other_roots.borrow_mut().push(root.to_path_buf());
        }
        let mut c = Command::new(bin());
        c.arg("--root").arg(root);
        c.arg("--log")
            .arg(self.log_path())
            .arg("--log-format")
            .arg("json");
        c.args(args);
        c.stdin(Stdio::null());
        self.env(&mut c);
        output_via_files(c, &self.dir, Duration::from_secs(60))
    }

    /// The environment every hardrun call of this world gets: its own configuration.
    pub fn env(&self, c: &mut Command) {
        c.env("HARDRUN_CONFIG", self.dir.join("config.toml"));
        c.env_remove("HARDRUN_PROFILE");
        c.env_remove("HARDRUN_MODE");
    }

    /// The audit log's decisions, one JSON value per line.
    pub fn audit(&self) -> Vec<Value> {
        fs::read_to_string(self.dir.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    /// A bundle whose rootfs is a symlink-free copy-free bind of the shared rootfs path.
    pub fn bundle(&self, name: &str, args: &[&str]) -> PathBuf {
        self.bundle_with(name, args, |_| {})
    }

    pub fn bundle_with(&self, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let b = self.dir.join(name);
        fs::create_dir_all(&b).unwrap();
        let mut spec = default_spec();
        spec["process"]["args"] = json!(args);
        spec["root"]["path"] = json!(rootfs());
        edit(&mut spec);
        fs::write(
            b.join("config.json"),
            serde_json::to_vec_pretty(&spec).unwrap(),
        )
        .unwrap();
        b
    }

    /// `hardrun --root <root> --log <dir>/log.json --log-format json <args…>`, with stdout and
    /// stderr in files, not pipes: as with runc, a container started by `create` or `run -d`
    /// inherits the caller's stdio, so a pipe would stay open until the container exits.
    /// Fails the test if the command takes longer than a minute.
    pub fn hr(&self, args: &[&str]) -> Output {
        output_via_files(self.hr_cmd(args), &self.dir, Duration::from_secs(60))
    }

    /// `hr --profile <profile> run -d --bundle <bundle> <id>`, which must succeed.
    pub fn run_detached(&self, profile: &str, bundle: &Path, id: &str) {
        let out = self.hr(&[
            "--profile",
            profile,
            "run",
            "-d",
            "--bundle",
            bundle.to_str().unwrap(),
            id,
        ]);
        assert!(out.status.success(), "run {id}: {}", stderr(&out));
    }

    /// `hr exec -d --pid-file <dir>/exec.pid <id> <args…>`, which must succeed: the pid of the
    /// process it started.
    #[allow(dead_code)]
    pub fn exec_detached(&self, id: &str, args: &[&str]) -> i32 {
        let pid_file = self.dir.join("exec.pid");
        let mut argv = vec!["exec", "-d", "--pid-file", pid_file.to_str().unwrap(), id];
        argv.extend_from_slice(args);
        let out = self.hr(&argv);
        assert!(out.status.success(), "exec -d: {}", stderr(&out));
        std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// [`World::hr`] called from the working directory `cwd` (runc resolves a relative bind
    /// source against the bundle, whatever the caller's directory).
    pub fn hr_from(&self, cwd: &Path, args: &[&str]) -> Output {
        let mut c = self.hr_cmd(args);
        c.current_dir(cwd);
        output_via_files(c, &self.dir, Duration::from_secs(60))
    }

    pub fn hr_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--root").arg(&self.root);
        c.arg("--log")
            .arg(self.log_path())
            .arg("--log-format")
            .arg("json");
        c.args(args);
        c.stdin(Stdio::null());
        self.env(&mut c);
        c
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log.json")
    }

    /// The last error-level line of the JSON log (what containerd shows a user).
    pub fn last_log_error(&self) -> Option<String> {
        let text = fs::read_to_string(self.log_path()).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .rfind(|v| v["level"] == "error")
            .and_then(|v| v["msg"].as_str().map(str::to_owned))
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.hr(&["state", id]);
        assert!(out.status.success(), "state {id}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("state prints pure JSON")
    }

    pub fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.state(id);
            if s["status"] == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} never became {want}: {s}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `check --running --live --format json ID`: the exit code and the container's live report
    /// (the kernel's view of each of its processes against its profile, see `src/runtime/live.rs`).
    pub fn live(&self, id: &str) -> (Option<i32>, Value) {
        let out = self.hr(&["check", "--running", "--live", "--format", "json", id]);
        let reports: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "check --live {id} printed no JSON ({e}): {}{}",
                stdout(&out),
                stderr(&out)
            )
        });
        (out.status.code(), reports[0].clone())
    }

    /// Verify, not trust: asserts that every process of container `id`, as the kernel shows it
    /// (seccomp, no_new_privs, capabilities, uids, namespaces, id maps, mount flags), holds the
    /// profile the container was created under. Returns how many processes were checked.
    pub fn assert_live(&self, id: &str) -> usize {
        let out = self.hr(&["check", "--running", "--live", id]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "the live check of {id} found drift:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        let (_, report) = self.live(id);
        let n = report["processes"].as_array().map_or(0, Vec::len);
        assert!(n > 0, "the live check of {id} saw no process: {report}");
        n
    }

    /// The cgroup path hardrun gives container `id` of this world when its spec names none
    /// (one per state root: `hardrun::commands::create::default_cgroups_path`).
    pub fn cgroup_path(&self, id: &str) -> String {
        let root = fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        hardrun::commands::create::default_cgroups_path(&root, id)
    }

    /// `/sys/fs/cgroup/<controller>/<cgroup path of id>` on cgroup v1; on cgroup v2 (one
    /// hierarchy) `controller` is not part of the path: `/sys/fs/cgroup/<cgroup path of id>`.
    pub fn cgroup_dir(&self, controller: &str, id: &str) -> PathBuf {
        let base = Path::new("/sys/fs/cgroup");
        let base = if cgroup_v2() {
            base.to_path_buf()
        } else {
            base.join(controller)
        };
        base.join(self.cgroup_path(id).trim_start_matches('/'))
    }

    /// A cgroup file of container `id`, as the kernel shows it (trimmed): `file` is a v1 file of
    /// `controller` on cgroup v1, a v2 file name on cgroup v2 (see [`cgroup_v2`]).
    pub fn cgroup_read(&self, controller: &str, id: &str, file: &str) -> String {
        let p = self.cgroup_dir(controller, id).join(file);
        fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
            .trim()
            .to_owned()
    }

    /// Asserts that nothing of container `id` is left: no state or staging directory, no cgroup,
    /// no mount that names the state root.
    pub fn assert_nothing_left(&self, id: &str) {
        let dir = self.root.join(id);
        assert!(
            !dir.exists(),
            "state directory {} was left behind",
            dir.display()
        );
        let staging = self.root.join(".staging").join(id);
        assert!(
            !staging.exists(),
            "staging directory {} was left behind",
            staging.display()
        );
        let path = self.cgroup_path(id);
        let ctls: &[&str] = if cgroup_v2() {
            &[""]
        } else {
            &["memory", "pids", "cpu", "freezer", "devices", "blkio"]
        };
        for ctl in ctls {
            for name in [
                path.trim_start_matches('/').to_owned(),
                format!(":youki:{id}"),
            ] {
                let p = Path::new("/sys/fs/cgroup").join(ctl).join(&name);
                assert!(!p.exists(), "cgroup {} was left behind", p.display());
            }
        }
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = self.root.to_string_lossy();
        assert!(
            !mounts.lines().any(|l| l.contains(root.as_ref())),
            "a mount under {root} was left behind"
        );
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // best effort: kill and delete whatever a failed test left running
        let mut roots = vec![self.root.clone()];
        roots.extend(self.other_roots.borrow().iter().cloned());
        for root in roots {
            if let Ok(entries) = fs::read_dir(&root) {
                for e in entries.flatten() {
                    let id = e.file_name().to_string_lossy().into_owned();
                    if !id.starts_with('.') {
                        let _ = self.hr_in(&root, &["delete", "--force", &id]);
                    }
                }
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// runc's `spec` default with a non-terminal process: what a caller typically hands a runtime.
pub fn default_spec() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "hardrun-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                             "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// Runs `cmd` with a deadline; kills it and panics if it does not finish.
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("command did not finish within {limit:?}: {cmd:?}");
        }
    }
}

/// Runs `cmd` with stdout/stderr redirected to fresh files in `dir`, waits at most `limit`
/// (kills it and panics after that) and returns what it wrote.
pub fn output_via_files(mut cmd: Command, dir: &Path, limit: Duration) -> Output {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.join(format!(".out-{n}"));
    let err_path = dir.join(format!(".err-{n}"));
    let out_f = fs::File::create(&out_path).unwrap();
    let err_f = fs::File::create(&err_path).unwrap();
    let mut child = cmd.stdout(out_f).stderr(err_f).spawn().unwrap();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command did not finish within {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let o = Output {
        status,
        stdout: fs::read(&out_path).unwrap(),
        stderr: fs::read(&err_path).unwrap(),
    };
    let _ = fs::remove_file(out_path);
    let _ = fs::remove_file(err_path);
    o
}

/// The static probe program of `integration/probes` (`probe syscall NR …` makes one raw syscall
/// and prints the errno), built once per test binary.
pub fn probe_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--locked",
                "--quiet",
                "--manifest-path",
            ])
            .arg(repo.join("integration/probes/Cargo.toml"))
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
        let bin = repo.join("integration/probes/target/x86_64-unknown-linux-gnu/release/probe");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

/// Whether this host runs cgroup v2 only: one hierarchy at `/sys/fs/cgroup`, no v1 controllers
/// (the cgroup v2 lane, scripts/cgroup2-vm.sh). Tests that read cgroup files ask this to know
/// which files hold a limit.
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// A number in a cgroup file; cgroup v2's `max` (no limit) is `u64::MAX`.
pub fn cgroup_num(s: &str) -> u64 {
    let s = s.trim();
    if s == "max" {
        return u64::MAX;
    }
    s.parse()
        .unwrap_or_else(|_| panic!("not a number in a cgroup file: {s:?}"))
}

impl World {
    /// The memory limit and the memory+swap limit of container `id` in bytes, as the kernel
    /// holds them: `memory.limit_in_bytes` and `memory.memsw.limit_in_bytes` on cgroup v1;
    /// `memory.max` and `memory.max + memory.swap.max` on cgroup v2 (`u64::MAX` for no limit:
    /// v2 has no memory+swap file, its swap limit is the swap alone).
    pub fn cgroup_memory(&self, id: &str) -> (u64, u64) {
        if cgroup_v2() {
            let mem = cgroup_num(&self.cgroup_read("memory", id, "memory.max"));
            let swap = cgroup_num(&self.cgroup_read("memory", id, "memory.swap.max"));
            (mem, mem.saturating_add(swap))
        } else {
            (
                cgroup_num(&self.cgroup_read("memory", id, "memory.limit_in_bytes")),
                cgroup_num(&self.cgroup_read("memory", id, "memory.memsw.limit_in_bytes")),
            )
        }
    }

    /// The CPU quota (-1: none) and period of container `id` in microseconds:
    /// `cpu.cfs_quota_us` and `cpu.cfs_period_us` on cgroup v1, `cpu.max` on cgroup v2.
    pub fn cgroup_cpu(&self, id: &str) -> (i64, u64) {
        let (q, p) = if cgroup_v2() {
            let max = self.cgroup_read("cpu", id, "cpu.max");
            let (q, p) = max
                .split_once(' ')
                .unwrap_or_else(|| panic!("cpu.max is not \"QUOTA PERIOD\": {max:?}"));
            (q.replace("max", "-1"), p.to_owned())
        } else {
            (
                self.cgroup_read("cpu", id, "cpu.cfs_quota_us"),
                self.cgroup_read("cpu", id, "cpu.cfs_period_us"),
            )
        };
        (
            q.parse()
                .unwrap_or_else(|_| panic!("not a CPU quota: {q:?}")),
            cgroup_num(&p),
        )
    }

    /// Whether the kernel holds container `id` frozen: `freezer.state` is `FROZEN` on cgroup v1,
    /// `cgroup.events` says `frozen 1` on cgroup v2.
    pub fn cgroup_frozen(&self, id: &str) -> bool {
        if cgroup_v2() {
            self.cgroup_read("", id, "cgroup.events")
                .lines()
                .any(|l| l.trim() == "frozen 1")
        } else {
            self.cgroup_read("freezer", id, "freezer.state") == "FROZEN"
        }
    }
}

/// How much slower than this host the machine running the tests is (`HARDRUN_TEST_TIME_SCALE`,
/// a whole number, 1 when unset): the cgroup v2 lane sets it for its software-emulated VM
/// (scripts/cgroup2-vm.sh), where a fork or an exec takes ten times as long. Tests that give a
/// workload a time window (a watcher's seconds, a wait for a file) multiply the window by it.
pub fn time_scale() -> u32 {
    std::env::var("HARDRUN_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1)
}

/// The process libcontainer forks for an exec (`youki:[2:INIT]`, a child of the hardrun process
/// `parent`) once it blocks in open(2)/openat(2) (e.g. on a FIFO the tests put at the
/// container's `/etc/passwd`).
pub fn exec_init_blocked_in_open(parent: i32) -> Option<i32> {
    for e in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(st) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let ppid = st
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .map(|v| v.trim().parse::<i32>().unwrap_or(0));
        if ppid != Some(parent) || !st.starts_with("Name:\tyouki:[2:INIT]") {
            continue;
        }
        let sc = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        if matches!(sc.split(' ').next(), Some("2") | Some("257")) {
            return Some(pid);
        }
    }
    None
}
