//! The one way hardrun replaces a file: the new content goes to a temporary file beside it
//! (`.<name>.tmp…`, mode 0600 unless told otherwise, so nothing is readable while it is
//! written), is synced as the caller's durability asks, and is renamed over the file
//! (`tempfile::NamedTempFile::persist`). A reader sees the old content or the new, never a
//! part; on any failure the temporary file is removed and the old file is untouched.
//!
//! Used for the state directory's files, the audit head, the node's key files and the client
//! configurations `hardrun setup` edits.

use std::io::Write;
use std::path::Path;

/// What is synced before the rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// nothing: the rename is atomic, the content may be lost with the machine (the audit head,
    /// which the log can rebuild; client configurations, as the clients' own writers do)
    None,
    /// the data (`fdatasync`): the state directory's files
    Data,
    /// data and metadata (`fsync`): key files
    All,
}

/// How to write: mode (0600 by default), owner, durability, the directory's creation.
#[derive(Clone, Copy, Debug)]
pub struct AtomicFile {
    mode: u32,
    owner: Option<(u32, u32)>,
    durability: Durability,
    make_dir: Option<u32>,
}

impl Default for AtomicFile {
    fn default() -> Self {
        AtomicFile::new(Durability::Data)
    }
}

impl AtomicFile {
    /// Mode 0600, the caller's owner, the directory must exist.
    pub fn new(durability: Durability) -> AtomicFile {
        AtomicFile {
            mode: 0o600,
            owner: None,
            durability,
            make_dir: None,
        }
    }

    /// The file's mode, where it must not be 0600 (a file another program reads as another user).
    pub fn mode(self, mode: u32) -> AtomicFile {
        AtomicFile { mode, ..self }
    }

    /// The file's owner (uid, gid), set on the temporary file before the rename.
    pub fn owner(self, owner: Option<(u32, u32)>) -> AtomicFile {
        AtomicFile { owner, ..self }
    }

    /// Makes the file's directory (and those above it) with `mode` where it is missing.
    pub fn make_dir(self, mode: u32) -> AtomicFile {
        AtomicFile {
            make_dir: Some(mode),
            ..self
        }
    }

    /// Replaces `path` with `bytes`.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.staged(path, bytes)?;
        tmp.persist(path).map(drop).map_err(|e| e.error)
    }

    /// Writes `path` only where no file is: `Ok(false)` when one was there (left as it was).
    pub fn write_new(&self, path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
        let tmp = self.staged(path, bytes)?;
        match tmp.persist_noclobber(path) {
            Ok(_) => Ok(true),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e.error),
        }
    }

    /// The temporary file beside `path`, written, with its mode and owner, synced.
    fn staged(&self, path: &Path, bytes: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Some(mode) = self.make_dir.filter(|_| !dir.exists()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(dir)?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp"))
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        if self.mode != 0o600 {
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(self.mode))?;
        }
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::fchown(tmp.as_file(), Some(uid), Some(gid))?;
        }
        match self.durability {
            Durability::None => {}
            Durability::Data => tmp.as_file().sync_data()?,
            Durability::All => tmp.as_file().sync_all()?,
        }
        Ok(tmp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn replaces_whole_with_mode_0600_and_leaves_nothing_beside() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("head");
        for durability in [Durability::None, Durability::Data, Durability::All] {
            AtomicFile::new(durability).write(&f, b"one").unwrap();
            AtomicFile::new(durability).write(&f, b"two").unwrap();
            assert_eq!(std::fs::read(&f).unwrap(), b"two");
            assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o7777, 0o600);
        }
        // a target that cannot be replaced: the error, and no temporary file left
        std::fs::create_dir_all(d.path().join("busy/x")).unwrap();
        assert!(AtomicFile::default()
            .write(&d.path().join("busy"), b"x")
            .is_err());
        assert_eq!(names(d.path()), ["busy", "head"]);
    }

    #[test]
    fn mode_owner_directory_and_no_clobber() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a/b/key");
        assert!(
            AtomicFile::default().write(&f, b"k").is_err(),
            "no directory"
        );
        let w = AtomicFile::new(Durability::All).make_dir(0o700);
        assert!(w.write_new(&f, b"first").unwrap());
        assert!(!w.write_new(&f, b"second").unwrap(), "one was there");
        assert_eq!(std::fs::read(&f).unwrap(), b"first");
        assert_eq!(
            std::fs::metadata(d.path().join("a")).unwrap().mode() & 0o7777,
            0o700
        );
        assert_eq!(names(&d.path().join("a/b")), ["key"]);
        let c = d.path().join("config.toml");
        let md = std::fs::metadata(d.path()).unwrap();
        AtomicFile::new(Durability::None)
            .mode(0o644)
            .owner(Some((md.uid(), md.gid())))
            .write(&c, b"x = 1\n")
            .unwrap();
        let got = std::fs::metadata(&c).unwrap();
        assert_eq!(got.permissions().mode() & 0o7777, 0o644);
        assert_eq!((got.uid(), got.gid()), (md.uid(), md.gid()));
    }
}
