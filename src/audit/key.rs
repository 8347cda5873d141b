//! The node's audit key: 32 random bytes (`audit_key` in config.toml, default
//! `/var/lib/hardrun/audit.key`, mode 0600), created by the first append that needs it. Every
//! record and the head file carry an HMAC-SHA256 made with it, and the id of the key that made it
//! (`kid`: the first 16 hex digits of a sha256 over the key, which does not reveal it). The key
//! itself is never printed or logged.
//!
//! Rotation (`hardrun audit rotate-key`) moves the current key into the keyring directory beside
//! it (`<audit_key>.retired/<kid>.key`) and writes a new one; `audit verify` looks up each record's
//! `kid` among the current and the retired keys, so logs written under an old key still verify.

use crate::base::hex::{hex, unhex};
use crate::base::keyfile;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};

/// The key length, in bytes.
pub use crate::base::keyfile::KEY_LEN;

/// A node key and its id.
#[derive(Clone)]
pub struct Key {
    pub id: String,
    bytes: [u8; KEY_LEN],
}

// the key's bytes stay out of every debug print
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

impl Key {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"hardrun audit key id\0");
        h.update(bytes);
        let id = format!("{:x}", h.finalize())[..16].to_owned();
        Key { id, bytes }
    }

    /// A new random key (from the kernel's random pool).
    pub fn generate() -> std::io::Result<Key> {
        Ok(Key::from_bytes(keyfile::random()?))
    }

    /// HMAC-SHA256 of `data`, hex.
    pub fn mac(&self, data: &[u8]) -> String {
        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.bytes)
            .expect("HMAC takes keys of any length");
        m.update(data);
        hex(&m.finalize().into_bytes())
    }

    /// Whether `mac` (hex) is the HMAC-SHA256 of `data` (compared in constant time).
    pub fn check(&self, data: &[u8], mac: &str) -> bool {
        let Some(want) = unhex(mac) else { return false };
        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.bytes)
            .expect("HMAC takes keys of any length");
        m.update(data);
        m.verify_slice(&want).is_ok()
    }
}

/// The keyring directory of a key file: `<audit_key>.retired`.
pub fn retired_dir(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".retired");
    s.into()
}

/// Reads a key file: exactly 32 bytes, that group and others can neither read nor write (mode
/// 0600 or tighter). `Ok(None)`: it does not exist.
pub fn read(path: &Path) -> Result<Option<Key>, String> {
    keyfile::read(path, "audit key")
        .map(|k| k.map(Key::from_bytes))
        .map_err(|e| e.to_string())
}

/// Writes `key` to `path` (see [`keyfile::write`]).
fn write(path: &Path, key: &Key, replace: bool) -> std::io::Result<bool> {
    keyfile::write(path, &key.bytes, replace)
}

/// The current key, created (32 random bytes, 0600) where there is none yet. Concurrent first
/// uses agree on one key: the loser of the race reads the winner's.
pub fn load_or_create(path: &Path) -> Result<Key, String> {
    keyfile::load_or_create(path, "audit key")
        .map(Key::from_bytes)
        .map_err(|e| e.to_string())
}

/// The keys a verifier may need: the current one and the retired ones, by id.
#[derive(Debug, Default, Clone)]
pub struct Keyring {
    pub keys: Vec<Key>,
    /// what could not be read (a verifier names it when a record needs a missing key)
    pub problems: Vec<String>,
    /// whether a current key file exists (then the node writes keyed records)
    pub current: Option<String>,
}

impl Keyring {
    /// The current key at `path` and the retired ones in [`retired_dir`]; files that cannot be
    /// read are noted in `problems`, not fatal (a log that does not need them still verifies).
    pub fn load(path: &Path) -> Keyring {
        let mut ring = Keyring::default();
        match read(path) {
            Ok(Some(k)) => {
                ring.current = Some(k.id.clone());
                ring.keys.push(k);
            }
            Ok(None) => {}
            Err(e) => ring.problems.push(e),
        }
        let dir = retired_dir(path);
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                files.sort();
                for f in files {
                    if f.extension().is_none_or(|x| x != "key") {
                        continue;
                    }
                    match read(&f) {
                        Ok(Some(k)) if !ring.keys.iter().any(|h| h.id == k.id) => ring.keys.push(k),
                        Ok(_) => {}
                        Err(e) => ring.problems.push(e),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => ring.problems.push(format!(
                "cannot read the audit keyring {}: {e}",
                dir.display()
            )),
        }
        ring
    }

    pub fn get(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }
}

/// Rotates the key at `path`: the current key is kept in the keyring (`<path>.retired/<kid>.key`)
/// and a new one replaces it. Returns (old id, new id); the old id is `None` where there was no
/// key yet.
pub fn rotate(path: &Path) -> Result<(Option<String>, String), String> {
    let old = read(path)?;
    if let Some(old) = &old {
        let dir = retired_dir(path);
        let kept = dir.join(format!("{}.key", old.id));
        write(&kept, old, false)
            .map_err(|e| format!("cannot keep the old audit key in {}: {e}", kept.display()))?;
        // an earlier rotation back to the same key left it there already: same content
        if read(&kept)?.is_none_or(|k| k.id != old.id) {
            return Err(format!(
                "{}: holds another key than its name says",
                kept.display()
            ));
        }
    }
    let new = Key::generate().map_err(|e| format!("cannot create a new audit key: {e}"))?;
    write(path, &new, true)
        .map_err(|e| format!("cannot write the audit key {}: {e}", path.display()))?;
    Ok((old.map(|k| k.id), new.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn mac_is_hmac_sha256() {
        // RFC 4231, test case 2 has a short key; ours are 32 bytes: check against the hmac
        // crate's definition with a fixed key instead, and that a flipped bit fails
        let k = Key::from_bytes([7u8; 32]);
        let m = k.mac(b"record");
        assert_eq!(m.len(), 64);
        assert!(k.check(b"record", &m));
        assert!(!k.check(b"recorD", &m));
        assert!(!Key::from_bytes([8u8; 32]).check(b"record", &m));
        assert!(!k.check(b"record", "zz"));
        assert_eq!(k.id.len(), 16);
        assert!(!format!("{k:?}").contains("0707"));
    }

    #[test]
    fn created_once_0600_and_rotated_into_the_keyring() {
        let dir = std::env::temp_dir().join(format!("hardrun-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/audit.key");
        let a = load_or_create(&path).unwrap();
        assert_eq!(load_or_create(&path).unwrap().id, a.id);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let (old, new) = rotate(&path).unwrap();
        assert_eq!(old.as_deref(), Some(a.id.as_str()));
        assert_ne!(new, a.id);
        let ring = Keyring::load(&path);
        assert_eq!(ring.current.as_deref(), Some(new.as_str()));
        assert!(ring.get(&a.id).is_some() && ring.get(&new).is_some());
        // a key others can read is refused, naming the file and the mode
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.contains("mode 0644") && e.contains("audit.key"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"short").unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.contains("5 bytes, expected 32"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
