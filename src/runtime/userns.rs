//! Host id ranges for containers' user namespaces (the `userns` rule, CIS 5.31).
//!
//! Every container whose profile enforces `userns` gets a range of host ids of its own from the
//! profile's pool (`[userns]` in the profile). Allocations are host-global, shared by every
//! hardrun state root:
//!
//! ```text
//! /run/hardrun-userns/lock      flock(2)ed exclusively while the slots are read or changed
//! /run/hardrun-userns/slot-<n>  one per allocated range: owner=<container state dir>,
//!                               alive=<more paths that keep the slot>, range=<host start> <size>
//! ```
//!
//! A slot whose owner and `alive` paths are all gone is stale (a create or delete that was killed
//! half-way) and is reclaimed by the next allocation. `HARDRUN_USERNS_DIR` overrides the directory
//! (tests).

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::profile::UserNsCfg;

pub const DEFAULT_DIR: &str = "/run/hardrun-userns";
pub const DIR_ENV: &str = "HARDRUN_USERNS_DIR";

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("user namespace pool {dir}: {msg}")]
    Io { dir: PathBuf, msg: String },
    #[error("user namespace pool exhausted: all {slots} ranges of {size} ids from host id {start} are in use")]
    Exhausted { slots: u32, start: u32, size: u32 },
}

/// The allocation directory (`HARDRUN_USERNS_DIR`, else [`DEFAULT_DIR`]).
pub fn default_dir() -> PathBuf {
    std::env::var_os(DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// One allocated slot, as read from its file.
#[derive(Debug, Clone, PartialEq)]
struct Slot {
    n: u32,
    owner: PathBuf,
    alive: Vec<PathBuf>,
    range: Option<(u32, u32)>,
}

impl Slot {
    fn parse(n: u32, text: &str) -> Slot {
        let mut s = Slot {
            n,
            owner: PathBuf::new(),
            alive: vec![],
            range: None,
        };
        for line in text.lines() {
            match line.split_once('=') {
                Some(("owner", v)) => s.owner = PathBuf::from(v),
                Some(("alive", v)) => s.alive.push(PathBuf::from(v)),
                Some(("range", v)) => {
                    s.range = v
                        .split_once(' ')
                        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
                }
                _ => {}
            }
        }
        s
    }

    fn render(&self) -> String {
        let mut t = format!("owner={}\n", self.owner.display());
        for a in &self.alive {
            t.push_str(&format!("alive={}\n", a.display()));
        }
        if let Some((start, size)) = self.range {
            t.push_str(&format!("range={start} {size}\n"));
        }
        t
    }

    /// A slot is live while its owner or one of its `alive` paths exists. An unreadable or
    /// empty slot file is kept (never hand out a range that might be in use).
    fn stale(&self) -> bool {
        if self.owner.as_os_str().is_empty() {
            return false;
        }
        !self.owner.exists() && !self.alive.iter().any(|p| p.exists())
    }
}

/// The allocation directory, locked for the lifetime of the value.
struct Locked {
    dir: PathBuf,
    _lock: fs::File,
}

impl Locked {
    fn open(dir: &Path) -> Result<Locked, UsernsError> {
        let io = |e: std::io::Error| UsernsError::Io {
            dir: dir.to_path_buf(),
            msg: e.to_string(),
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        let lock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join("lock"))
            .map_err(io)?;
        loop {
            // SAFETY: flock on a descriptor this function owns; no memory is involved.
            let r = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io(e));
            }
        }
        Ok(Locked {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    fn io(&self, e: std::io::Error) -> UsernsError {
        UsernsError::Io {
            dir: self.dir.clone(),
            msg: e.to_string(),
        }
    }

    fn slots(&self) -> Result<Vec<Slot>, UsernsError> {
        let mut out = vec![];
        for e in fs::read_dir(&self.dir).map_err(|e| self.io(e))? {
            let e = e.map_err(|e| self.io(e))?;
            let name = e.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|s| s.strip_prefix("slot-"))
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let text = fs::read_to_string(e.path()).unwrap_or_default();
            out.push(Slot::parse(n, &text));
        }
        out.sort_by_key(|s| s.n);
        Ok(out)
    }

    fn path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("slot-{n}"))
    }
}

fn overlaps(a: (u32, u32), b: (u32, u32)) -> bool {
    let (a0, a1) = (u64::from(a.0), u64::from(a.0) + u64::from(a.1));
    let (b0, b1) = (u64::from(b.0), u64::from(b.0) + u64::from(b.1));
    a0 < b1 && b0 < a1
}

/// Allocates a host id range from `pool` for `owner` (the container's state directory), kept
/// while `owner` or any of `alive` exists (the staging directory, while `create` runs). An owner
/// that already holds a slot gets the same range again. Returns (first host id, count).
pub fn allocate(
    dir: &Path,
    pool: &UserNsCfg,
    owner: &Path,
    alive: &[&Path],
) -> Result<(u32, u32), UsernsError> {
    let bad_path = |p: &Path| p.as_os_str().is_empty() || p.to_string_lossy().contains('\n');
    if bad_path(owner) || alive.iter().any(|p| bad_path(p)) {
        return Err(UsernsError::Io {
            dir: dir.to_path_buf(),
            msg: format!("invalid owner path {:?}", owner.display().to_string()),
        });
    }
    let locked = Locked::open(dir)?;
    let mut live = vec![];
    for s in locked.slots()? {
        if s.owner == owner {
            if let Some(r) = s.range {
                return Ok(r);
            }
        }
        if s.stale() {
            tracing::info!(slot = s.n, owner = %s.owner.display(), "reclaiming a stale user namespace range");
            let _ = fs::remove_file(locked.path(s.n));
            continue;
        }
        live.push(s);
    }
    for n in 0..pool.slots() {
        let range = pool.range(n);
        let taken = live
            .iter()
            .any(|s| s.n == n || s.range.is_none_or(|r| overlaps(r, range)));
        if taken {
            continue;
        }
        let slot = Slot {
            n,
            owner: owner.to_path_buf(),
            alive: alive.iter().map(|p| p.to_path_buf()).collect(),
            range: Some(range),
        };
        // a temporary file beside the slot (0600; removed on any failure), renamed: a reader
        // sees no slot or a whole one. Not synced: the slots live in /run (tmpfs, emptied at
        // boot, as are the containers that hold them), so a flush bought nothing that outlives
        // a crash of the machine; it cost a disk flush on every create where /run is on disk
        // (issue 20). A crash of hardrun itself leaves the page cache, and the file, whole.
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::PermissionsExt;
            let mut f = tempfile::Builder::new()
                .prefix(&format!(".slot-{n}.tmp"))
                .permissions(fs::Permissions::from_mode(0o600))
                .tempfile_in(&locked.dir)?;
            f.write_all(slot.render().as_bytes())?;
            f.persist(locked.path(n)).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(|e| locked.io(e))?;
        return Ok(range);
    }
    Err(UsernsError::Exhausted {
        slots: pool.slots(),
        start: pool.pool_start,
        size: pool.ids_per_container,
    })
}

/// Releases what `owner` holds (nothing: no error). The directory is not created for this.
pub fn release(dir: &Path, owner: &Path) -> Result<(), UsernsError> {
    if !dir.join("lock").exists() {
        return Ok(());
    }
    let locked = Locked::open(dir)?;
    for s in locked.slots()? {
        if s.owner == owner {
            fs::remove_file(locked.path(s.n)).map_err(|e| locked.io(e))?;
        }
    }
    Ok(())
}

/// The range `owner` holds, if any.
pub fn lookup(dir: &Path, owner: &Path) -> Option<(u32, u32)> {
    if !dir.join("lock").exists() {
        return None;
    }
    let locked = Locked::open(dir).ok()?;
    let slots = locked.slots().ok()?;
    slots
        .into_iter()
        .find(|s| s.owner == owner)
        .and_then(|s| s.range)
}

/// A range allocated by `create`: released when dropped, unless [`Lease::keep`] says the
/// container exists (then `delete` releases it, see [`release_owner`]).
#[derive(Debug)]
pub struct Lease {
    dir: PathBuf,
    owner: PathBuf,
    pub range: (u32, u32),
    kept: bool,
}

impl Lease {
    /// [`allocate`] in [`default_dir`].
    pub fn allocate(pool: &UserNsCfg, owner: &Path, alive: &[&Path]) -> Result<Lease, UsernsError> {
        let dir = default_dir();
        let range = allocate(&dir, pool, owner, alive)?;
        Ok(Lease {
            dir,
            owner: owner.to_path_buf(),
            range,
            kept: false,
        })
    }

    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.kept {
            if let Err(e) = release(&self.dir, &self.owner) {
                tracing::warn!("{e}");
            }
        }
    }
}

/// Releases what a deleted container (its state directory `owner`) held in [`default_dir`].
/// Never fails the caller: a slot left behind is reclaimed once `owner` is gone.
pub fn release_owner(owner: &Path) {
    if let Err(e) = release(&default_dir(), owner) {
        tracing::warn!("{e}");
    }
}

/// A directory on the way to a path that the mapped root cannot pass.
#[derive(Debug, thiserror::Error)]
pub enum TraverseError {
    #[error("cannot stat {}: {}", .0.display(), .1)]
    Stat(PathBuf, std::io::Error),
    #[error("directory {} (mode {mode:04o}, owner {}:{}) is not searchable by the container's user namespace root (host uid {uid}): make it traversable (e.g. chmod o+x) or keep the rootfs elsewhere", dir.display(), owner.0, owner.1)]
    NotSearchable {
        dir: PathBuf,
        mode: u32,
        owner: (u32, u32),
        uid: u32,
    },
}

/// Checks that the mapped root of a user namespace (host uid `uid`, gid `gid`) can traverse every
/// directory from `/` down to `path` (libcontainer mounts the rootfs from inside the namespace,
/// where host root's directories are "other"). Names the first directory that it cannot.
pub fn check_traversable(path: &Path, uid: u32, gid: u32) -> Result<(), TraverseError> {
    use std::os::unix::fs::MetadataExt;
    let mut cur = PathBuf::new();
    for c in path.components() {
        cur.push(c);
        let md = fs::metadata(&cur).map_err(|e| TraverseError::Stat(cur.clone(), e))?;
        if !md.is_dir() {
            continue;
        }
        let mode = md.mode();
        let bit = if md.uid() == uid {
            0o100
        } else if md.gid() == gid {
            0o010
        } else {
            0o001
        };
        if mode & bit == 0 {
            return Err(TraverseError::NotSearchable {
                dir: cur,
                mode: mode & 0o7777,
                owner: (md.uid(), md.gid()),
                uid,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(slots: u32) -> UserNsCfg {
        UserNsCfg {
            pool_start: 100_000,
            pool_size: 65536 * slots,
            ids_per_container: 65536,
            comment: None,
        }
    }

    #[test]
    fn owners_get_distinct_ranges_and_release_frees() {
        let d = tempfile::tempdir().unwrap();
        let alloc = d.path().join("alloc");
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        let p = pool(4);
        let ra = allocate(&alloc, &p, &a, &[]).unwrap();
        let rb = allocate(&alloc, &p, &b, &[]).unwrap();
        assert_eq!(ra, (100_000, 65536));
        assert_eq!(rb, (165_536, 65536));
        // the same owner again: the same range
        assert_eq!(allocate(&alloc, &p, &a, &[]).unwrap(), ra);
        assert_eq!(lookup(&alloc, &b), Some(rb));
        assert!(alloc.join("slot-0").is_file());
        let text = fs::read_to_string(alloc.join("slot-0")).unwrap();
        assert!(
            text.starts_with(&format!("owner={}\n", a.display())),
            "{text}"
        );

        release(&alloc, &a).unwrap();
        assert!(!alloc.join("slot-0").exists());
        assert_eq!(lookup(&alloc, &a), None);
        // the freed range goes to the next owner
        let c = d.path().join("c");
        fs::create_dir(&c).unwrap();
        assert_eq!(allocate(&alloc, &p, &c, &[]).unwrap(), ra);
        // releasing what nobody holds is fine, and so is a missing directory
        release(&alloc, &a).unwrap();
        release(&d.path().join("nothing"), &a).unwrap();
        assert!(!d.path().join("nothing").exists());
    }

    #[test]
    fn stale_slots_are_reclaimed_and_alive_paths_keep_them() {
        let d = tempfile::tempdir().unwrap();
        let alloc = d.path().join("alloc");
        let p = pool(2);
        let gone = d.path().join("gone");
        let staging = d.path().join("staging");
        fs::create_dir(&staging).unwrap();
        // owner dir not there yet, but the staging dir is: the slot is live
        let r0 = allocate(&alloc, &p, &gone, &[&staging]).unwrap();
        let other = d.path().join("other");
        fs::create_dir(&other).unwrap();
        let r1 = allocate(&alloc, &p, &other, &[]).unwrap();
        assert_ne!(r0, r1);
        let third = d.path().join("third");
        fs::create_dir(&third).unwrap();
        let err = allocate(&alloc, &p, &third, &[]).unwrap_err().to_string();
        assert!(err.contains("exhausted"), "{err}");
        // the create died: neither path exists any more, the range is reclaimed
        fs::remove_dir(&staging).unwrap();
        assert_eq!(allocate(&alloc, &p, &third, &[]).unwrap(), r0);
        assert!(fs::read_to_string(alloc.join("slot-0"))
            .unwrap()
            .contains("third"));
    }

    #[test]
    fn a_range_recorded_by_another_pool_is_not_handed_out_twice() {
        let d = tempfile::tempdir().unwrap();
        let alloc = d.path().join("alloc");
        let a = d.path().join("a");
        fs::create_dir(&a).unwrap();
        // a profile with small ranges took 100000..100999 as its slot 0
        let small = UserNsCfg {
            pool_start: 100_000,
            pool_size: 1000 * 10,
            ids_per_container: 1000,
            comment: None,
        };
        assert_eq!(allocate(&alloc, &small, &a, &[]).unwrap(), (100_000, 1000));
        let b = d.path().join("b");
        fs::create_dir(&b).unwrap();
        assert_eq!(
            allocate(&alloc, &pool(4), &b, &[]).unwrap(),
            (165_536, 65536)
        );
    }

    #[test]
    fn concurrent_allocations_do_not_collide() {
        let d = tempfile::tempdir().unwrap();
        let alloc = d.path().join("alloc");
        let p = pool(64);
        let owners: Vec<PathBuf> = (0..16)
            .map(|i| {
                let o = d.path().join(format!("o{i}"));
                fs::create_dir(&o).unwrap();
                o
            })
            .collect();
        let handles: Vec<_> = owners
            .iter()
            .cloned()
            .map(|o| {
                let (alloc, p) = (alloc.clone(), p.clone());
                std::thread::spawn(move || allocate(&alloc, &p, &o, &[]).unwrap())
            })
            .collect();
        let mut ranges: Vec<(u32, u32)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        ranges.sort();
        ranges.dedup();
        assert_eq!(ranges.len(), 16, "{ranges:?}");
        let slots = fs::read_dir(&alloc)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("slot-")
            })
            .count();
        assert_eq!(slots, 16);
        // and releases from threads too
        let handles: Vec<_> = owners
            .into_iter()
            .map(|o| {
                let alloc = alloc.clone();
                std::thread::spawn(move || release(&alloc, &o).unwrap())
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(
            fs::read_dir(&alloc).unwrap().count(),
            1,
            "only the lock is left"
        );
    }

    #[test]
    fn traversal_check_names_the_directory() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let inner = d.path().join("a/b/rootfs");
        fs::create_dir_all(&inner).unwrap();
        for p in [d.path(), &d.path().join("a"), &d.path().join("a/b")] {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        // a uid that owns nothing here: "other" bits decide
        check_traversable(&inner, 123_456, 123_456).unwrap();
        fs::set_permissions(d.path().join("a"), fs::Permissions::from_mode(0o750)).unwrap();
        let err = check_traversable(&inner, 123_456, 123_456)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "directory {} (mode 0750",
                d.path().join("a").display()
            )),
            "{err}"
        );
    }
}
