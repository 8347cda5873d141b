//! The node's key files (the audit key, the evidence signing key): 32 secret bytes in a regular
//! file that group and others can neither read nor write (0600 or tighter), written by temp file +
//! rename in a 0700 directory, created on first use. The bytes are never printed; errors name the
//! key (`what`, e.g. "audit key") and its path.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// A key's length, in bytes.
pub const KEY_LEN: usize = 32;

/// Reads the key file at `path`: exactly [`KEY_LEN`] bytes, mode 0600 or tighter, not a symlink.
/// `Ok(None)`: it does not exist.
pub fn read(path: &Path, what: &str) -> Result<Option<[u8; KEY_LEN]>, String> {
    let p = path.display();
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read the {what} {p}: {e}")),
    };
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot read the {what} {p}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{what} {p}: not a regular file"));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{what} {p}: mode {mode:04o} lets others read or change it: chmod 600 it"
        ));
    }
    let mut bytes = vec![];
    Read::by_ref(&mut f)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the {what} {p}: {e}"))?;
    let key: [u8; KEY_LEN] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("{what} {p}: {} bytes, expected {KEY_LEN}", bytes.len()))?;
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
pub fn load_or_create(path: &Path, what: &str) -> Result<[u8; KEY_LEN], String> {
    if let Some(k) = read(path, what)? {
        return Ok(k);
    }
    let p = path.display();
    let key = random().map_err(|e| format!("cannot create the {what} {p}: {e}"))?;
    match write(path, &key, false) {
        Ok(true) => Ok(key),
        Ok(false) => read(path, what)?
            .ok_or_else(|| format!("cannot create the {what} {p}: it vanished while created")),
        Err(e) => Err(format!("cannot create the {what} {p}: {e}")),
    }
}
