//! hardrun's state root (`--root`, default `/run/hardrun`).
//!
//! ```text
//! <root>/<id>/state.json, youki_config.json, notify.sock   libcontainer's container state
//! <root>/<id>/bundle/config.json                          the spec libcontainer runs (hardened);
//!                                                          libcontainer's `bundle` points here, so
//!                                                          `exec` starts from the hardened spec
//! <root>/<id>/config.orig.json                            the caller's config.json, byte for byte
//! <root>/<id>/hardrun.json                                hardrun's record (original bundle, rootfs,
//!                                                          findings, the policy fixed at create)
//! <root>/.staging/<id>/                                   the same files while `create` runs
//!                                                          (and `owner`: pid and start time);
//!                                                          moved in once libcontainer has created
//!                                                          the container, removed on failure
//! ```

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const STAGING: &str = ".staging";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container id {0:?}: {1}")]
    InvalidId(String, &'static str),
    #[error("invalid container id {shown:?} ({len} bytes): longer than the {max} bytes a file name may have in the state root {root}")]
    IdTooLong {
        shown: String,
        len: usize,
        max: u64,
        root: PathBuf,
    },
    #[error("state root {} is not valid UTF-8: libcontainer records it in its state as JSON text; use a UTF-8 path", .0.to_string_lossy())]
    RootNotUtf8(PathBuf),
    #[error("cannot use state root {path}: {source}")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Corrupt { path: PathBuf, msg: String },
}

/// Checks a container id the way runc does (`^[\w+\-.]+$`, not `.` or `..`), and refuses a
/// leading dot so an id can never name hardrun's own `.staging` directory.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let bad = |why| Err(StateError::InvalidId(id.to_owned(), why));
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.len() > 1024 {
        return bad("it is longer than 1024 bytes");
    }
    if id.starts_with('.') {
        return bad("it starts with a dot");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
    {
        return bad("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

/// [`Root::check_id_fits`] for a file system whose longest name is `max` bytes. The error shows
/// the id's start only: the line stays readable.
fn id_fits(id: &str, max: u64, root: &Path) -> Result<(), StateError> {
    if id.len() as u64 <= max {
        return Ok(());
    }
    // ids are ASCII (validate_id)
    let shown = match id.get(..16) {
        Some(start) => format!("{start}…"),
        None => id.to_owned(),
    };
    Err(StateError::IdTooLong {
        shown,
        len: id.len(),
        max,
        root: root.to_path_buf(),
    })
}

#[derive(Debug, Clone)]
pub struct Root {
    pub path: PathBuf,
}

impl Root {
    /// The root for reading (state, kill, delete, …): it need not exist; an absent root simply
    /// holds no containers.
    pub fn new(path: &Path) -> Self {
        let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Root { path }
    }

    /// The root for `create`/`run`: created 0700 if missing, and proven writable.
    pub fn for_create(path: &Path) -> Result<Self, StateError> {
        let err = |source| StateError::Root {
            path: path.to_path_buf(),
            source,
        };
        // refused before it is made: libcontainer could not use it, and it would be left behind
        if path.to_str().is_none() {
            return Err(StateError::RootNotUtf8(path.to_path_buf()));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(err)?;
        let root = Root::new(path);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root.path.join(STAGING))
            .map_err(err)?;
        // access(2) says yes to root on a read-only mount; a real probe does not.
        nix::unistd::access(&root.path.join(STAGING), nix::unistd::AccessFlags::W_OK)
            .map_err(|e| err(e.into()))?;
        Ok(root)
    }

    /// The id names a directory here (and under `.staging`): it must fit the file system's
    /// longest file name (`NAME_MAX`, 255 bytes on ext4, tmpfs, xfs, btrfs).
    pub fn check_id_fits(&self, id: &str) -> Result<(), StateError> {
        let max = nix::sys::statvfs::statvfs(&self.path)
            .map(|v| v.name_max())
            .unwrap_or(255);
        id_fits(id, max, &self.path)
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.path.join(id)
    }

    pub fn exists(&self, id: &str) -> bool {
        self.container_dir(id).join("state.json").exists() || self.container_dir(id).exists()
    }

    /// The container's directory, or `NotFound`.
    pub fn existing(&self, id: &str) -> Result<PathBuf, StateError> {
        validate_id(id)?;
        let dir = self.container_dir(id);
        if dir.join("state.json").is_file() {
            Ok(dir)
        } else {
            Err(StateError::NotFound(id.to_owned()))
        }
    }

    /// Ids of the containers in this root, sorted.
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        let entries = match fs::read_dir(&self.path) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && self.path.join(n).join("state.json").is_file())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Reserves `id` for a create: makes `<root>/.staging/<id>` with its owner file (a
    /// concurrent create of the same id fails here with [`StateError::Exists`]), after clearing
    /// what a killed create left behind.
    ///
    /// Every reservation, and every removal of a staging directory, holds the staging lock
    /// ([`Root::lock_staging`]): a staging directory is never seen without its owner, so
    /// "owner gone" always means a create that died, never one that has only just begun.
    pub fn stage(&self, id: &str) -> Result<Staging, StateError> {
        validate_id(id)?;
        let dir = self.path.join(STAGING).join(id);
        let lock = self.lock_staging()?;
        if self.exists(id) {
            return Err(StateError::Exists(id.to_owned()));
        }
        let make = || fs::DirBuilder::new().mode(0o700).create(&dir);
        match make() {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if staging_owner_alive(&dir) {
                    return Err(StateError::Exists(id.to_owned()));
                }
                tracing::warn!(dir = %dir.display(), "removing what an interrupted create left behind");
                let _ = fs::remove_dir_all(&dir);
                make().map_err(|source| StateError::Write {
                    path: dir.clone(),
                    source,
                })?;
            }
            Err(source) => return Err(StateError::Write { path: dir, source }),
        }
        let staging = Staging {
            dir,
            id: id.to_owned(),
            root: self.path.clone(),
            done: false,
        };
        // from here a failure removes the directory again (drop, which takes the lock itself)
        let owner = staging.dir.join("owner");
        let written = write_state(&owner, owner_line(std::process::id() as i32).as_bytes())
            .and_then(|()| {
                fs::create_dir(staging.bundle()).map_err(|source| StateError::Write {
                    path: staging.bundle(),
                    source,
                })
            });
        if let Err(e) = written {
            // the lock first: the staging directory's drop takes it to remove the directory
            drop(lock);
            return Err(e);
        }
        Ok(staging)
    }

    /// Removes `<root>/.staging/<id>` unless the create that owns it is still running (under
    /// the staging lock, as [`Root::stage`] clears it). Returns false when that create runs.
    pub fn clear_stale_staging(&self, id: &str) -> bool {
        let dir = self.path.join(STAGING).join(id);
        if !dir.exists() {
            return true;
        }
        let _lock = self.lock_staging().ok();
        if staging_owner_alive(&dir) {
            tracing::debug!(dir = %dir.display(), "a create of this id is running");
            return false;
        }
        tracing::debug!(dir = %dir.display(), "removing what an interrupted create left behind");
        if let Err(e) = fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), "cannot remove: {e}");
        }
        true
    }

    /// The staging lock: `<root>/.staging` itself, flock(2)ed exclusively (no file of its own
    /// to leave behind). Held while a staging directory is reserved (made with its owner file)
    /// or removed; released when the guard drops or the process dies. Never held while
    /// libcontainer runs: reservations stay short.
    pub fn lock_staging(&self) -> Result<nix::fcntl::Flock<fs::File>, StateError> {
        lock_staging_in(&self.path)
    }
}

fn lock_staging_in(root: &Path) -> Result<nix::fcntl::Flock<fs::File>, StateError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(STAGING);
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|source| StateError::Write {
            path: path.clone(),
            source,
        })?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| {
        StateError::Write {
            path,
            source: e.into(),
        }
    })
}

/// What `<staging>/owner` holds: the creating process's pid and its start time (field 22 of
/// `/proc/<pid>/stat`), so a pid reused by another process is not taken for the owner.
fn owner_line(pid: i32) -> String {
    match start_time(pid) {
        Some(t) => format!("{pid} {t}"),
        None => pid.to_string(),
    }
}

/// The start time of `pid` in clock ticks after boot, or None when it is gone.
fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the create named in `<staging>/owner` is a live process other than this one (its
/// pid is alive and, when recorded, started when the owner file says). An absent or unreadable
/// owner is a dead create: under the staging lock a directory never lacks its owner file.
pub fn staging_owner_alive(staging: &Path) -> bool {
    let Ok(line) = fs::read_to_string(staging.join("owner")) else {
        return false;
    };
    let mut words = line.split_whitespace();
    let Some(pid) = words.next().and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    // our own pid in a stale file means the pid was reused by us: not a live owner
    if pid <= 0 || pid == std::process::id() as i32 {
        return false;
    }
    match words.next().and_then(|t| t.parse::<u64>().ok()) {
        Some(recorded) => start_time(pid) == Some(recorded),
        None => Path::new(&format!("/proc/{pid}")).exists(),
    }
}

/// A create in progress. Dropped without [`Staging::finish`], it removes itself.
#[derive(Debug)]
pub struct Staging {
    pub dir: PathBuf,
    id: String,
    /// the state root (its staging lock is taken to remove the directory)
    root: PathBuf,
    done: bool,
}

impl Staging {
    /// The directory handed to libcontainer as the bundle.
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    pub fn write_spec(&self, spec: &serde_json::Value) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(spec).map_err(|e| StateError::Corrupt {
            path: self.bundle().join("config.json"),
            msg: e.to_string(),
        })?;
        write_state(&self.bundle().join("config.json"), &bytes)
    }

    pub fn write_original(&self, bytes: &[u8]) -> Result<(), StateError> {
        write_state(&self.dir.join("config.orig.json"), bytes)
    }

    /// Replaces the `process.args` entries at `indexes` with `<redacted>` in both stored copies
    /// of the spec (`bundle/config.json`, `config.orig.json`): the `secrets` rule found a
    /// credential in them, and the container's process already holds its arguments (called
    /// once libcontainer has created it; nothing reads the init's arguments from these files
    /// afterwards). `config.orig.json` is then no longer the caller's bytes, only where this
    /// masked something.
    pub fn mask_args(&self, indexes: &[usize]) -> Result<(), StateError> {
        if indexes.is_empty() {
            return Ok(());
        }
        for path in [
            self.bundle().join("config.json"),
            self.dir.join("config.orig.json"),
        ] {
            let corrupt = |msg: String| StateError::Corrupt {
                path: path.clone(),
                msg,
            };
            let bytes = fs::read(&path).map_err(|e| corrupt(e.to_string()))?;
            let mut spec: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
            let Some(args) = spec
                .pointer_mut("/process/args")
                .and_then(|a| a.as_array_mut())
            else {
                continue;
            };
            for &i in indexes {
                if let Some(a) = args.get_mut(i) {
                    *a = serde_json::Value::String("<redacted>".into());
                }
            }
            let out = serde_json::to_vec_pretty(&spec).map_err(|e| corrupt(e.to_string()))?;
            write_atomic(&path, &out)?;
        }
        Ok(())
    }

    pub fn write_record(&self, record: &Record) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| StateError::Corrupt {
            path: self.dir.join("hardrun.json"),
            msg: e.to_string(),
        })?;
        write_state(&self.dir.join("hardrun.json"), &bytes)
    }

    /// Moves the staged files into the container's directory (made by libcontainer).
    pub fn finish(mut self, container_dir: &Path) -> Result<PathBuf, StateError> {
        for name in ["bundle", "config.orig.json", "hardrun.json"] {
            let from = self.dir.join(name);
            let to = container_dir.join(name);
            fs::rename(&from, &to).map_err(|source| StateError::Write { path: to, source })?;
            crate::runtime::fault::point("mid-commit");
        }
        self.remove();
        self.done = true;
        Ok(container_dir.join("bundle"))
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Staging {
    /// Removes the staging directory under the staging lock: a create racing for the same id
    /// either sees it whole (owner alive: "already exists") or not at all.
    fn remove(&self) {
        let _lock = lock_staging_in(&self.root).ok();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            self.remove();
        }
    }
}

/// hardrun's own record of a container, next to libcontainer's state.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// the bundle the caller passed (what `state` reports)
    pub bundle: PathBuf,
    /// the resolved root filesystem
    pub rootfs: PathBuf,
    /// the hardrun version that created the container
    pub hardrun_version: String,
    /// what hardening changed, as recorded by the policy engine
    #[serde(default)]
    pub findings: Vec<serde_json::Value>,
    /// the profile the container was created under (exec and update are held to it)
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub profile_sha256: Option<String>,
    /// the policy fixed at create: the profile's content, the mode, the granted exceptions and
    /// the identity behind them (absent in records of hardrun versions before it was stored)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::policy::binding::Bound>,
    /// a container without a mount namespace of its own: how many mounts were stacked on the
    /// rootfs path before it was built in the caller's (delete unmounts those above)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_rootfs_mounts: Option<usize>,
}

pub fn read_record(container_dir: &Path) -> Option<Record> {
    let bytes = fs::read(container_dir.join("hardrun.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes a state file by temp file + rename ([`crate::base::atomic_file`]): mode 0600, the
/// data synced before the rename; a reader sees the old or the new content, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    use crate::base::atomic_file::{AtomicFile, Durability};
    AtomicFile::new(Durability::Data)
        .write(path, bytes)
        .map_err(|source| StateError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes one of the files `create` stages (owner, specs, record) like [`write_atomic`], but
/// without `fdatasync`: they describe processes that do not outlive the machine, and
/// libcontainer's own `state.json` beside them is never synced either (nor are runc's and
/// crun's state files), so a sync bought no state that survives a power loss, only a disk flush
/// on every create (1–7 ms each on a busy disk, four per container; issue 20). A crash of
/// hardrun itself still leaves the old content or the new, never a part. The writes whose
/// content matters after a crash keep their sync: the masked spec copies ([`Staging::mask_args`],
/// so a credential is not left behind), `isolated.json`, `update`'s spec, the audit log. (The user
/// namespace lease in /run is not synced either, see `userns::allocate`.)
fn write_state(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    use crate::base::atomic_file::{AtomicFile, Durability};
    AtomicFile::new(Durability::None)
        .write(path, bytes)
        .map_err(|source| StateError::Write {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole new content or the old, mode 0600, and no temporary file left either way.
    #[test]
    fn write_atomic_replaces_whole_and_leaves_nothing_beside() {
        use std::os::unix::fs::PermissionsExt;
        // the synced writer and the staging writer (no sync) behave alike for a reader
        type Writer = fn(&Path, &[u8]) -> Result<(), StateError>;
        for (name, write) in [("synced", write_atomic as Writer), ("staged", write_state)] {
            let d = tempfile::tempdir().unwrap();
            let f = d.path().join("hardrun.json");
            write(&f, b"one").unwrap();
            write(&f, b"two").unwrap();
            assert_eq!(fs::read(&f).unwrap(), b"two", "{name}");
            assert_eq!(
                fs::metadata(&f).unwrap().permissions().mode() & 0o777,
                0o600,
                "{name}"
            );
            // a target that cannot be replaced (a non-empty directory): an error naming it
            fs::create_dir_all(d.path().join("busy/x")).unwrap();
            let err = write(&d.path().join("busy"), b"x").unwrap_err();
            assert!(err.to_string().contains("busy"), "{name}: {err}");
            let names: Vec<_> = fs::read_dir(d.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(names.len(), 2, "{name}: {names:?}");
        }
    }

    #[test]
    fn a_non_utf8_root_is_refused_before_it_is_made() {
        use std::os::unix::ffi::OsStrExt;
        let root = std::env::temp_dir().join(std::ffi::OsStr::from_bytes(b"hardrun-root-\xfe"));
        let e = Root::for_create(&root).unwrap_err().to_string();
        assert!(
            e.starts_with("state root ") && e.contains("hardrun-root-\u{fffd} is not valid UTF-8"),
            "{e}"
        );
        assert!(!root.exists());
    }

    #[test]
    fn an_id_longer_than_a_file_name_names_the_limit() {
        let root = Path::new("/run/hardrun");
        assert!(id_fits(&"a".repeat(255), 255, root).is_ok());
        assert_eq!(
            id_fits(&"a".repeat(256), 255, root).unwrap_err().to_string(),
            "invalid container id \"aaaaaaaaaaaaaaaa…\" (256 bytes): longer than the 255 bytes a file name may have in the state root /run/hardrun"
        );
        assert!(Root::new(Path::new("/tmp"))
            .check_id_fits(&"a".repeat(255))
            .is_ok());
    }

    #[test]
    fn ids() {
        for ok in ["a", "abc-DEF_1.2+3", "74f1a4cb3801", "a..b"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "x y", ".staging", "a\0b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        let e = validate_id("../x").unwrap_err().to_string();
        assert_eq!(e, "invalid container id \"../x\": it starts with a dot");
        let e = validate_id("a/b").unwrap_err().to_string();
        assert!(e.contains("only letters"), "{e}");
    }

    #[test]
    fn staging_is_exclusive_and_cleans_up() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::for_create(d.path()).unwrap();
        let s = root.stage("c1").unwrap();
        s.write_spec(&serde_json::json!({"a": 1})).unwrap();
        let staged = s.dir.clone();
        assert!(staged.join("bundle/config.json").is_file());
        drop(s);
        assert!(!staged.exists(), "a dropped staging must remove itself");

        // a stale staging dir whose owner is gone is cleared
        fs::create_dir_all(root.path.join(".staging/c2")).unwrap();
        fs::write(root.path.join(".staging/c2/owner"), "999999999").unwrap();
        let s = root.stage("c2").unwrap();
        // a live owner (this very test's parent process, pid 1 is always alive) blocks
        fs::create_dir_all(root.path.join(".staging/c3")).unwrap();
        fs::write(root.path.join(".staging/c3/owner"), "1").unwrap();
        assert!(matches!(root.stage("c3"), Err(StateError::Exists(_))));
        // a live pid that started at another time is a reused pid, not the owner
        fs::create_dir_all(root.path.join(".staging/c4")).unwrap();
        fs::write(root.path.join(".staging/c4/owner"), "1 99999999999").unwrap();
        let s4 = root.stage("c4").unwrap();
        // this process's own owner line names it (pid and start time)
        let line = fs::read_to_string(s4.dir.join("owner")).unwrap();
        assert_eq!(line, super::owner_line(std::process::id() as i32));
        assert_eq!(line.split_whitespace().count(), 2, "{line}");
        drop(s4);
        assert!(!root.path.join(".staging/c4").exists());
        drop(s);
    }

    #[test]
    fn list_skips_staging_and_partial_dirs() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::for_create(d.path()).unwrap();
        fs::create_dir_all(root.path.join("b")).unwrap();
        fs::write(root.path.join("b/state.json"), "{}").unwrap();
        fs::create_dir_all(root.path.join("a")).unwrap();
        fs::write(root.path.join("a/state.json"), "{}").unwrap();
        fs::create_dir_all(root.path.join("partial")).unwrap();
        assert_eq!(root.list().unwrap(), vec!["a", "b"]);
    }
}
