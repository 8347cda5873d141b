//! hardrun (HARDRUN-PATCHES §38): a path inside the rootfs, resolved as in a chroot, with the
//! rootfs itself canonicalized once per process.
//!
//! `safe_path::scoped_resolve` canonicalizes its root on every call (`realpath`: one `readlink`
//! per component of the rootfs path, six for a bundle under `/work/main/bench/work`), and the
//! init resolves every mount's destination and every device's path against the same rootfs:
//! ≈25 resolutions per container on a cgroup v1 host. The rootfs path's own components are the
//! host's, not the container's, and do not change while the init prepares it, so the canonical
//! form is kept for the process (keyed by the path it was asked for). The walk below the rootfs
//! is the same as safe_path's: every component read as a possible symlink, an absolute target
//! restarting from the rootfs, `..` never above it, at most 255 links.

use std::io::{Error, ErrorKind, Result};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

/// The last rootfs canonicalized: (as given, canonical).
static CANONICAL: Mutex<Option<(PathBuf, PathBuf)>> = Mutex::new(None);

/// Symlinks followed at most in one resolution (as safe_path and securejoin).
const MAX_LINKS: u32 = 255;

fn canonical_root(root: &Path) -> Result<PathBuf> {
    let mut cached = CANONICAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((given, canonical)) = cached.as_ref() {
        if given == root {
            return Ok(canonical.clone());
        }
    }
    let canonical = root.canonicalize()?;
    *cached = Some((root.to_path_buf(), canonical.clone()));
    Ok(canonical)
}

/// `unsafe_path` resolved inside `root` as in a chroot: a path relative to the canonical `root`
/// with no symlink among its existing components (components that do not exist are kept).
pub fn resolve(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    walk(&canonical_root(root)?, unsafe_path)
}

/// [`resolve`] joined to the canonical `root`.
pub fn join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let root = canonical_root(root)?;
    let inside = walk(&root, unsafe_path)?;
    Ok(root.join(inside))
}

fn walk(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut links = 0u32;
    let mut todo = unsafe_path.to_path_buf();
    'again: loop {
        let mut done = PathBuf::new();
        let mut rest = todo.components();
        while let Some(component) = rest.next() {
            match component {
                Component::Prefix(_) => {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!("invalid path prefix in {}", unsafe_path.display()),
                    ));
                }
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir => {
                    done.pop();
                }
                Component::Normal(name) => match root.join(&done).join(name).read_link() {
                    Ok(target) => {
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(Error::new(
                                ErrorKind::InvalidInput,
                                format!("too many levels of symlinks in {}", unsafe_path.display()),
                            ));
                        }
                        let tail = rest.as_path();
                        todo = match target.is_absolute() {
                            true => target.join(tail),
                            false => done.join(target).join(tail),
                        };
                        continue 'again;
                    }
                    Err(_) => done.push(name),
                },
            }
        }
        return Ok(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn resolves_like_a_chroot_and_never_leaves_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("rootfs");
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("/usr/lib", root.join("lib")).unwrap();
        symlink("../../../../etc", root.join("up")).unwrap();
        symlink("lib/x", root.join("rel")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        for (path, want) in [
            ("/lib/x", "usr/lib/x"),
            ("/up/passwd", "etc/passwd"),
            ("/../../etc", "etc"),
            ("/rel", "usr/lib/x"),
            ("/missing/a/b", "missing/a/b"),
            ("/./usr/./lib/", "usr/lib"),
        ] {
            assert_eq!(resolve(&root, Path::new(path)).unwrap(), Path::new(want), "{path}");
        }
        let joined = join(&root, Path::new("/lib")).unwrap();
        assert_eq!(joined, root.canonicalize().unwrap().join("usr/lib"));
        assert!(resolve(&root, Path::new("/loop1")).is_err());
        // a second root is canonicalized in its turn
        let other = tmp.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        symlink(&other, tmp.path().join("link")).unwrap();
        let via = tmp.path().join("link");
        assert_eq!(join(&via, Path::new("/a")).unwrap(), other.canonicalize().unwrap().join("a"));
    }
}
