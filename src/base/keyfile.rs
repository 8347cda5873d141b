//! The node's key files (the audit key, the evidence signing key): 32 secret bytes in a regular
//! file that group and others can neither read nor write (0600 or tighter), written by temp file +
//! rename in a 0700 directory, created on first use. The bytes are never printed; errors name the
//! key (`what`, e.g. "audit key") and its path.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A key's length, in bytes.
pub const KEY_LEN: usize = 32;

/// Why a key file cannot be used. Each names the key (`what`) and its path, never its bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the {what} {}: {source}", .path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {}: not a regular file", .path.display())]
    NotRegular { what: &'static str, path: PathBuf },
    #[error("{what} {}: mode {mode:04o} lets others read or change it: chmod 600 it", .path.display())]
    Mode {
        what: &'static str,
        path: PathBuf,
        mode: u32,
    },
    #[error("{what} {}: {len} bytes, expected {KEY_LEN}", .path.display())]
    Length {
        what: &'static str,
        path: PathBuf,
        len: usize,
    },
    #[error("cannot create the {what} {}: {source}", .path.display())]
    Create {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the {what} {}: it vanished while created", .path.display())]
    Vanished { what: &'static str, path: PathBuf },
}

/// Reads the key file at `path`: exactly [`KEY_LEN`] bytes, mode 0600 or tighter, not a symlink.
/// `Ok(None)`: it does not exist.
pub fn read(path: &Path, what: &'static str) -> Result<Option<[u8; KEY_LEN]>, KeyFileError> {
    let p = || path.to_path_buf();
    let unreadable = |source| KeyFileError::Read {
        what,
        path: p(),
        source,
    };
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    let meta = f.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(KeyFileError::NotRegular { what, path: p() });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Mode {
            what,
            path: p(),
            mode,
        });
    }
    let mut bytes = vec![];
    Read::by_ref(&mut f)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    let key: [u8; KEY_LEN] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyFileError::Length {
            what,
            path: p(),
            len: bytes.len(),
        })?;
    Ok(Some(key))
}

/// Writes `key` to `path` (0600, synced) by temp file + rename, making its directory (0700) if
/// needed; `replace`: over an existing file, else only where none exists (`Ok(false)`: one was
/// there).
pub fn write(path: &Path, key: &[u8; KEY_LEN], replace: bool) -> std::io::Result<bool> {
    use super::atomic_file::{AtomicFile, Durability};
    let file = AtomicFile::new(Durability::All).make_dir(0o700);
    if replace {
        file.write(path, key).map(|()| true)
    } else {
        file.write_new(path, key)
    }
}

/// [`KEY_LEN`] bytes from the kernel's random pool.
pub fn random() -> std::io::Result<[u8; KEY_LEN]> {
    let mut bytes = [0u8; KEY_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The key at `path`, created (random, 0600) where there is none yet. Concurrent first uses agree
/// on one key: the loser of the race reads the winner's.
pub fn load_or_create(path: &Path, what: &'static str) -> Result<[u8; KEY_LEN], KeyFileError> {
    if let Some(k) = read(path, what)? {
        return Ok(k);
    }
    let cannot = |source| KeyFileError::Create {
        what,
        path: path.to_path_buf(),
        source,
    };
    let key = random().map_err(cannot)?;
    match write(path, &key, false) {
        Ok(true) => Ok(key),
        Ok(false) => read(path, what)?.ok_or_else(|| KeyFileError::Vanished {
            what,
            path: path.to_path_buf(),
        }),
        Err(e) => Err(cannot(e)),
    }
}
