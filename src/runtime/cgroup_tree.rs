//! A container's cgroup as a tree, in every hierarchy: what `delete` takes down before
//! libcontainer removes the container's own cgroup.
//!
//! A container that manages cgroups itself (Docker in Docker, systemd, anything with a writable
//! `/sys/fs/cgroup` in a cgroup namespace) makes sub-cgroups below its own and moves processes
//! there. libcgroups' `remove` kills only the processes of the container's cgroup itself and
//! `rmdir`s it, which fails (`EBUSY`) while a child exists: `delete --force` failed and left a
//! container that no command could remove. runc removes the child cgroups, deepest first, after
//! the processes in them are gone (and, without a pid namespace of the container's own, kills
//! every process of the tree first). hardrun does the same, here, for cgroup v1 (every mounted
//! hierarchy, named ones included) and v2 (the unified hierarchy) alike: it kills every process
//! of the tree, waits for them to leave it, and removes every cgroup below the container's.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long the killed processes of a tree get to leave it (they do within milliseconds; a
/// process stuck in the kernel may take longer), and how long an `EBUSY` rmdir is retried.
const SETTLE: Duration = Duration::from_secs(3);

/// Whether a cgroup directory already exists for `path` (then a failed create must not remove it).
pub fn exists(path: &str) -> bool {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || path.contains(':') {
        return true; // a systemd slice, or the root: never ours to remove
    }
    ["memory", "pids", "cpu", "devices", "freezer", ""]
        .iter()
        .any(|c| PathBuf::from("/sys/fs/cgroup").join(c).join(rel).is_dir())
}

/// The mount points of the cgroup hierarchies (`cgroup` and `cgroup2`) in `mountinfo`, where
/// the whole hierarchy is mounted.
pub fn hierarchies_in(mountinfo: &str) -> Vec<PathBuf> {
    hierarchies_where(mountinfo, |_, _| true)
}

/// The hierarchies of [`hierarchies_in`] that can freeze a cgroup: cgroup v1's `freezer`
/// controller and cgroup v2.
pub fn freezable_in(mountinfo: &str) -> Vec<PathBuf> {
    hierarchies_where(mountinfo, |fstype, options| {
        fstype == "cgroup2" || options.split(',').any(|o| o == "freezer")
    })
}

/// [`hierarchies_in`] of the mounts for which `keep(fstype, super options)` holds.
fn hierarchies_where(mountinfo: &str, keep: impl Fn(&str, &str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = vec![];
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut right = right.split(' ');
        let fstype = right.next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if !keep(fstype, right.nth(1).unwrap_or("")) {
            continue;
        }
        let fields: Vec<&str> = left.split(' ').collect();
        // a bind of a cgroup below a hierarchy's root (root field not `/`) is not where the
        // container's path starts
        let (Some(&"/"), Some(mount_point)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        let p = PathBuf::from(super::live::unescape(mount_point));
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The directories of cgroup `cgroup_path` (absolute, as in `linux.cgroupsPath`) in every
/// hierarchy mounted here where it exists.
pub fn dirs_of(cgroup_path: &Path) -> Vec<PathBuf> {
    let rel = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
    if rel.as_os_str().is_empty() {
        return vec![]; // the root cgroup is never a container's
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    hierarchies_in(&mountinfo)
        .into_iter()
        .map(|h| h.join(rel))
        .filter(|d| d.is_dir())
        .collect()
}

/// Why a container cannot be created in cgroup `cgroup_path`: it (or, where it does not exist
/// yet, the cgroup it would be made in) is frozen. A process put there stops before it can tell
/// the runtime it is ready, and the create would hang for good (runc checks after joining and
/// fails: "container's cgroup unexpectedly frozen"). Looks at the nearest existing cgroup of
/// the path in every hierarchy: v1's `freezer.state` and v2's `cgroup.events` both say the
/// effective state, an ancestor's freeze included.
pub fn frozen(cgroup_path: &Path) -> Option<String> {
    let rel = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // only the freezer (v1) and the unified hierarchy (v2) freeze: the others are not read
    for h in freezable_in(&mountinfo) {
        let mut dir = h.join(rel);
        while !dir.is_dir() && dir != h {
            if !dir.pop() {
                break;
            }
        }
        if let Ok(state) = std::fs::read_to_string(dir.join("freezer.state")) {
            let state = state.trim();
            if state != "THAWED" {
                return Some(format!(
                    "{} is {state}",
                    dir.join("freezer.state").display()
                ));
            }
        }
        let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap_or_default();
        let freeze = std::fs::read_to_string(dir.join("cgroup.freeze")).unwrap_or_default();
        if events.lines().any(|l| l.trim() == "frozen 1") || freeze.trim() == "1" {
            return Some(format!("{} is frozen", dir.display()));
        }
    }
    None
}

/// Every cgroup below `dir`, deepest first (children before their parent).
fn descendants(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    // a cgroup directory's link count is two plus its sub-cgroups (kernfs, v1 and v2): with
    // none below, its ≈30 files are not listed (a `delete` looks in every hierarchy)
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.nlink() == 2) {
        return vec![];
    }
    let mut out = vec![];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let child = e.path();
                out.extend(descendants(&child));
                out.push(child);
            }
        }
    }
    out
}

/// The processes (and threads) in one cgroup: `cgroup.procs`, or the thread list where a
/// threaded v2 cgroup has no process list to read.
fn members(dir: &Path) -> Vec<Pid> {
    ["cgroup.procs", "cgroup.threads", "tasks"]
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<i32>().ok())
        .filter(|&p| p > 0)
        .map(Pid::from_raw)
        .collect()
}

/// Thaws a frozen cgroup (v1 `freezer.state`, v2 `cgroup.freeze`), so that the processes in it
/// can act on SIGKILL (a frozen v1 task dies only once thawed).
fn thaw(dir: &Path) {
    let v1 = dir.join("freezer.state");
    if v1.exists() {
        let _ = std::fs::write(v1, "THAWED");
    }
    let v2 = dir.join("cgroup.freeze");
    if v2.exists() {
        let _ = std::fs::write(v2, "0");
    }
}

/// Why a container's cgroup tree could not be taken down: the cgroup, named.
#[derive(Debug, thiserror::Error)]
pub enum ClearError {
    #[error("cannot empty cgroup {}: its processes do not exit", .0.display())]
    Busy(PathBuf),
    #[error("cannot remove cgroup {}: {}", .0.display(), .1)]
    Remove(PathBuf, std::io::Error),
}

/// Errors compare by what they say (an `io::Error` has no equality of its own).
impl PartialEq for ClearError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// Takes down everything below cgroup `cgroup_path`, in every hierarchy: SIGKILLs every process
/// of the tree (the container's own cgroup included), waits until the tree is empty, and
/// removes every cgroup below the container's, deepest first. The container's own cgroup is
/// left for libcontainer. Nothing is done (and nothing killed) when there is no sub-cgroup.
/// Errors name the cgroup that could not be emptied or removed.
pub fn clear_below(cgroup_path: &Path) -> Result<(), ClearError> {
    let tops = dirs_of(cgroup_path);
    let below: Vec<PathBuf> = tops.iter().flat_map(|t| descendants(t)).collect();
    if below.is_empty() {
        return Ok(());
    }
    tracing::debug!(cgroups = ?below, "removing the container's sub-cgroups");
    // parents first, so that a child frozen on its own is thawed after its parent
    for d in tops.iter().chain(below.iter().rev()) {
        thaw(d);
    }
    let all: Vec<&PathBuf> = tops.iter().chain(below.iter()).collect();
    let deadline = Instant::now() + SETTLE;
    loop {
        let mut left = None;
        for d in &all {
            for pid in members(d) {
                left.get_or_insert_with(|| (*d).clone());
                match kill(pid, Signal::SIGKILL) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(e) => tracing::debug!(%pid, "cannot kill: {e}"),
                }
            }
        }
        let Some(busy) = left else { break };
        if Instant::now() > deadline {
            return Err(ClearError::Busy(busy));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for d in &below {
        loop {
            match std::fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(ClearError::Remove(d.clone(), e)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchies_of_a_hybrid_host() {
        let mi = "\
35 25 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
37 35 0:32 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
38 35 0:33 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
39 35 0:33 / /sys/fs/cgroup/odd\\040name rw - cgroup cgroup rw,memory
41 25 0:33 /sub /mnt/sub rw - cgroup cgroup rw,memory
40 25 0:34 / /proc rw - proc proc rw
";
        assert_eq!(
            hierarchies_in(mi),
            [
                "/sys/fs/cgroup/unified",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/cpu,cpuacct",
                "/sys/fs/cgroup/odd name"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn only_the_freezer_and_cgroup2_can_freeze() {
        let mi = "\
35 25 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
37 35 0:32 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
38 35 0:33 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
39 35 0:34 / /sys/fs/cgroup/freezer rw,nosuid - cgroup cgroup rw,freezer
40 35 0:35 / /sys/fs/cgroup/freezerx rw - cgroup cgroup rw,name=freezerx
41 25 0:34 /sub /mnt/sub rw - cgroup cgroup rw,freezer
";
        assert_eq!(
            freezable_in(mi),
            ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/freezer"].map(PathBuf::from)
        );
        assert_eq!(hierarchies_in(mi).len(), 5);
    }

    #[test]
    fn the_root_cgroup_is_never_a_container_s() {
        assert!(dirs_of(Path::new("/")).is_empty());
        assert!(dirs_of(Path::new("")).is_empty());
    }
}
