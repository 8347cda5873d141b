//! A `create` killed with SIGKILL at any stage: `delete --force` then leaves nothing behind (no
//! state or staging directory, cgroup, mount or user namespace range), and a new `create` with
//! the same id succeeds and runs.
//!
//! The stages hardrun controls are hit exactly through its fault points (`src/runtime/fault.rs`,
//! `HARDRUN_FAULT=<point>`, debug builds only); the one inside libcontainer (cgroup and namespaces
//! made, init process still being set up) through a `createRuntime` hook that kills its parent,
//! which is hardrun; and the rest by killing hardrun after a varying delay.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// A profile that enforces `userns`: each container leases a host id range.
const USERNS_PROFILE: &str = r#"
name = "fault-userns"
[rules]
userns = "enforce"
user = "enforce"
"#;

struct Faults {
    w: World,
    /// the user namespace allocation directory of this world
    alloc: PathBuf,
    /// `--profile fault-userns`, else the world's default (permissive: no userns)
    userns: bool,
}

impl Faults {
    fn new(name: &str, userns: bool) -> Self {
        let w = World::new(name);
        fs::create_dir_all(w.dir.join("profiles")).unwrap();
        fs::write(w.dir.join("profiles/fault-userns.toml"), USERNS_PROFILE).unwrap();
        let alloc = w.dir.join("userns");
        Faults { w, alloc, userns }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.w.hr_cmd(&[]);
        c.env("HARDRUN_USERNS_DIR", &self.alloc);
        c.env_remove("HARDRUN_FAULT");
        if self.userns {
            c.args(["--profile", "fault-userns"]);
        }
        c.args(args);
        c
    }

    fn hr(&self, args: &[&str]) -> Output {
        output_via_files(self.cmd(args), &self.w.dir, Duration::from_secs(60))
    }

    /// A bundle running `args`. With `userns`, its rootfs lies below a 0700 directory, as
    /// containerd's and podman's do: create binds it where the mapped root can reach it, in its
    /// own mount namespace, and a kill at any point must leave no such mount on the host.
    fn bundle(&self, name: &str, args: &[&str]) -> PathBuf {
        self.bundle_with(name, args, |_| {})
    }

    fn bundle_with(&self, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        if !self.userns {
            return self.w.bundle_with(name, args, edit);
        }
        let closed = self.w.dir.join("closed");
        let root = closed.join(format!("{name}-rootfs"));
        if !root.exists() {
            rootfs_copy(&root, &[]);
        }
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).unwrap();
        self.w.bundle_with(name, args, |s| {
            s["root"]["path"] = json!(root);
            edit(s);
        })
    }

    /// `create` with fault point `point` armed: hardrun must die of SIGKILL.
    fn create_killed_at(&self, bundle: &Path, id: &str, point: &str) {
        let mut c = self.cmd(&["create", "--bundle", bundle.to_str().unwrap(), id]);
        c.env("HARDRUN_FAULT", point);
        let out = output_via_files(c, &self.w.dir, Duration::from_secs(60));
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "{point}: create should have been killed there: {:?} {}",
            out.status,
            stderr(&out)
        );
    }

    fn slots(&self) -> Vec<String> {
        fs::read_dir(&self.alloc)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("slot-"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `delete --force` succeeds and nothing of `id` is left on the host.
    fn force_delete_leaves_nothing(&self, id: &str, what: &str) {
        let out = self.hr(&["delete", "--force", id]);
        assert!(
            out.status.success(),
            "{what}: delete --force {id}: {}",
            stderr(&out)
        );
        self.assert_clean(id, what);
        // a second one (a second shim's cleanup) succeeds too
        let out = self.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "{what}: {}", stderr(&out));
    }

    fn assert_clean(&self, id: &str, what: &str) {
        self.w.assert_nothing_left(id);
        // every v1 hierarchy (assert_nothing_left checks the usual controllers) and v2
        let cgroup = self.w.cgroup_path(id);
        for e in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let p = e.path().join(cgroup.trim_start_matches('/'));
            assert!(
                !p.exists(),
                "{what}: cgroup {} was left behind",
                p.display()
            );
        }
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = self.w.dir.to_string_lossy();
        assert!(
            !mounts.lines().any(|l| l.contains(dir.as_ref())),
            "{what}: a mount under {dir} was left behind"
        );
        // the bindings for the user namespace live only in hardrun's own mount namespace
        let mnt = hardrun::runtime::userns_mounts::MOUNT_DIR;
        assert!(
            !mounts.lines().any(|l| l.contains(mnt)),
            "{what}: a mount on {mnt} reached the host"
        );
        assert!(
            fs::read_dir(mnt).map_or(true, |mut d| d.next().is_none()),
            "{what}: {mnt} is not empty on the host"
        );
        assert!(
            self.slots().is_empty(),
            "{what}: user namespace range still leased: {:?}",
            self.slots()
        );
    }

    /// A new container with the same id is created, starts, runs (prints its marker) and is
    /// deleted without leftovers.
    fn recreate_and_run(&self, id: &str, what: &str) {
        let marker = format!("alive-{id}");
        let b = self.bundle(
            &format!("ok-{id}"),
            &["sh", "-c", &format!("echo {marker}; exec sleep 60")],
        );
        let out_path = self.w.dir.join(format!("{id}.out"));
        let err_path = self.w.dir.join(format!("{id}.err"));
        let mut c = self.cmd(&["create", "--bundle", b.to_str().unwrap(), id]);
        c.stdout(fs::File::create(&out_path).unwrap());
        c.stderr(fs::File::create(&err_path).unwrap());
        let st = c.status().unwrap();
        assert!(
            st.success(),
            "{what}: create {id} again: {}",
            fs::read_to_string(&err_path).unwrap_or_default()
        );
        if self.userns {
            assert_eq!(self.slots().len(), 1, "{what}: {:?}", self.slots());
        }
        let out = self.hr(&["start", id]);
        assert!(out.status.success(), "{what}: start {id}: {}", stderr(&out));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fs::read_to_string(&out_path)
            .unwrap_or_default()
            .contains(&marker)
        {
            assert!(
                Instant::now() < deadline,
                "{what}: the re-created container never printed {marker}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(self.w.state(id)["status"], "running", "{what}");
        let out = self.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        self.assert_clean(id, what);
    }

    fn has_cgroup(&self, id: &str) -> bool {
        let rel = self.w.cgroup_path(id);
        let rel = rel.trim_start_matches('/');
        Path::new("/sys/fs/cgroup/pids").join(rel).is_dir()
            || Path::new("/sys/fs/cgroup").join(rel).is_dir()
    }
}

/// The fault points of `create`, in order (see `src/runtime/fault.rs`).
const POINTS: [&str; 4] = [
    "after-state-dir",
    "after-namespaces",
    "mid-commit",
    "before-start",
];

/// What must exist when hardrun died at `point`, so a point that moved or stopped firing fails
/// the test instead of passing vacuously.
fn reached(f: &Faults, id: &str, point: &str) -> Result<(), String> {
    let staging = f.w.root.join(".staging").join(id);
    let dir = f.w.root.join(id);
    let ok = match point {
        "after-state-dir" => staging.join("bundle/config.json").is_file() && !dir.exists(),
        "after-namespaces" => {
            dir.join("state.json").is_file()
                && f.has_cgroup(id)
                && !dir.join("bundle").exists()
                && staging.join("hardrun.json").is_file()
        }
        "mid-commit" => {
            dir.join("bundle/config.json").is_file()
                && staging.join("hardrun.json").is_file()
                && f.has_cgroup(id)
        }
        "before-start" => dir.join("hardrun.json").is_file() && f.has_cgroup(id),
        _ => unreachable!("{point}"),
    };
    if !ok {
        return Err(format!(
            "unexpected state: staging {:?}, container dir {:?}, cgroup {}",
            fs::read_dir(&staging).map(|d| d.count()).ok(),
            fs::read_dir(&dir).map(|d| d.count()).ok(),
            f.has_cgroup(id)
        ));
    }
    if f.userns && f.slots().len() != 1 {
        return Err(format!("expected one leased range, got {:?}", f.slots()));
    }
    Ok(())
}

fn fault_points(userns: bool) {
    let name = if userns { "fault-pts-u" } else { "fault-pts" };
    let f = Faults::new(name, userns);
    let b = f.bundle("b", &["sleep", "60"]);
    let id = if userns { "fpu1" } else { "fp1" };
    for point in POINTS {
        let what = format!("{point} (userns {userns})");
        f.create_killed_at(&b, id, point);
        if let Err(e) = reached(&f, id, point) {
            panic!("{what}: the fault point did not stop create where expected: {e}");
        }
        f.force_delete_leaves_nothing(id, &what);
        f.recreate_and_run(id, &what);
    }
}

#[test]
fn create_killed_at_each_fault_point_is_cleaned_up_by_delete_force() {
    fault_points(false);
}

#[test]
fn create_killed_at_each_fault_point_releases_the_userns_range() {
    fault_points(true);
}

/// Inside libcontainer: a `createRuntime` hook runs in hardrun's process tree once the cgroup
/// and the namespaces exist and the init process is waiting for the hooks; it kills its parent.
#[test]
fn create_killed_inside_libcontainer_after_cgroup_and_namespaces() {
    for userns in [false, true] {
        let f = Faults::new(if userns { "fault-hook-u" } else { "fault-hook" }, userns);
        let id = if userns { "fhu1" } else { "fh1" };
        let b = f.bundle_with("b", &["sleep", "60"], |s| {
            s["hooks"] = json!({"createRuntime": [
                {"path": "/bin/sh", "args": ["sh", "-c", "kill -KILL $PPID"]}
            ]});
        });
        let what = format!("createRuntime hook (userns {userns})");
        let out = f.hr(&["create", "--bundle", b.to_str().unwrap(), id]);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "{what}: {:?} {}",
            out.status,
            stderr(&out)
        );
        let state: serde_json::Value =
            serde_json::from_slice(&fs::read(f.w.root.join(id).join("state.json")).unwrap())
                .unwrap();
        assert_eq!(state["status"], "creating", "{what}: {state}");
        assert!(f.has_cgroup(id), "{what}: the cgroup should exist by then");
        f.force_delete_leaves_nothing(id, &what);
        f.recreate_and_run(id, &what);
    }
}

/// libcontainer saves its state in place (truncate, then write): a create killed during a save
/// leaves `state.json` cut short, which libcontainer cannot load. `delete --force` must still
/// kill what is in the cgroup and leave nothing. Replayed on a created container (its init
/// process alive in the cgroup) by cutting its state file to nothing and to half.
#[test]
fn a_state_file_cut_short_is_cleaned_up_by_delete_force() {
    for userns in [false, true] {
        let f = Faults::new(if userns { "fault-torn-u" } else { "fault-torn" }, userns);
        for (id, keep_half) in [("ft1", false), ("ft2", true)] {
            let what = format!("state.json cut short (half {keep_half}, userns {userns})");
            let b = f.bundle("b", &["sleep", "60"]);
            let out = f.hr(&["create", "--bundle", b.to_str().unwrap(), id]);
            assert!(out.status.success(), "{what}: create: {}", stderr(&out));
            assert!(f.has_cgroup(id), "{what}: the cgroup should exist");
            let state = f.w.root.join(id).join("state.json");
            let full = fs::read(&state).unwrap();
            let cut = if keep_half {
                &full[..full.len() / 2]
            } else {
                &[][..]
            };
            fs::write(&state, cut).unwrap();
            // what containerd would see first: the container cannot be loaded
            let out = f.hr(&["state", id]);
            assert!(!out.status.success(), "{what}: state should fail");
            f.force_delete_leaves_nothing(id, &what);
            f.recreate_and_run(id, &what);
        }
    }
}

/// A small deterministic generator, so a failing delay can be replayed (`FAULT_SEED`).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Kills `create` after a varying delay spread over its whole duration, so the kill also lands
/// in the stages no fault point reaches (libcontainer's fork, cgroup setup, mounts, pivot).
#[test]
fn create_killed_after_random_delays_is_always_recoverable() {
    for userns in [false, true] {
        let f = Faults::new(if userns { "fault-rnd-u" } else { "fault-rnd" }, userns);
        let id = if userns { "fru1" } else { "fr1" };
        let b = f.bundle("b", &["sleep", "60"]);
        // how long an undisturbed create takes here
        let t = Instant::now();
        let out = f.hr(&["create", "--bundle", b.to_str().unwrap(), id]);
        let full = t.elapsed();
        assert!(out.status.success(), "{}", stderr(&out));
        f.force_delete_leaves_nothing(id, "calibration");

        let seed = std::env::var("FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        let mut rng = Lcg(seed);
        const N: u64 = 10;
        let mut killed = 0;
        for i in 0..N {
            // the i-th tenth of the first 80 % of a create's duration, with jitter inside it
            let span = full.as_micros() as u64 * 8 / 10;
            let delay = Duration::from_micros(span * i / N + rng.next() % (span / N + 1));
            let what = format!("kill after {delay:?} of ~{full:?} (seed {seed}, userns {userns})");
            let mut child = f
                .cmd(&["create", "--bundle", b.to_str().unwrap(), id])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(delay);
            // SIGKILL, unless it has already finished (then its pid is still ours: not reaped)
            if child.try_wait().unwrap().is_none() {
                let _ = child.kill();
            }
            let st = child.wait().unwrap();
            if st.signal() == Some(libc::SIGKILL) {
                killed += 1;
            } else {
                assert!(st.success(), "{what}: create failed on its own: {st:?}");
            }
            f.force_delete_leaves_nothing(id, &what);
        }
        eprintln!("userns {userns}: {killed} of {N} creates killed mid-way (seed {seed}, create ~{full:?})");
        assert!(
            killed >= N / 3,
            "only {killed} of {N} creates were killed before they finished"
        );
        f.recreate_and_run(id, &format!("after random kills (userns {userns})"));
    }
}
