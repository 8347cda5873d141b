//! What a container without a mount namespace of its own leaves in the caller's.
//!
//! Such a container is built in the caller's mount namespace, as runc builds it (runtime-tools
//! `linux_ns_itype`): libcontainer binds the rootfs over itself and mounts the spec's mounts
//! below it, there. runc leaves them behind after `delete`; hardrun counts the mounts stacked on
//! the rootfs path at create ([`mounts_at`], kept in the container's record) and unmounts the
//! ones above that count at delete ([`unmount_above`]), with everything mounted below them.

use std::path::Path;

/// A path as `/proc/self/mountinfo` writes it (space, tab, newline and backslash in octal).
fn escaped(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

/// How many mounts of a mountinfo text have `path` as their mount point.
pub fn count_in(mountinfo: &str, path: &Path) -> usize {
    let want = escaped(path);
    mountinfo
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(want.as_str()))
        .count()
}

/// How many mounts this process's mount namespace has stacked on `path`.
pub fn mounts_at(path: &Path) -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| count_in(&t, path))
        .unwrap_or(0)
}

/// Unmounts (detached, with what is mounted below) the mounts stacked on `path` above the
/// `keep` that were there before; warns about what it cannot unmount.
pub fn unmount_above(path: &Path, keep: usize) {
    // a bound: every round removes one mount or stops
    for _ in 0..16 {
        if mounts_at(path) <= keep {
            return;
        }
        if let Err(e) = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!(
                path = %path.display(),
                "cannot unmount the rootfs mount left in the caller's mount namespace: {e}"
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_mounts_on_exactly_that_path() {
        let text = "\
73 27 254:0 /b/rootfs /b/rootfs rw,relatime - ext4 /dev/vda rw
74 73 0:76 / /b/rootfs/proc rw,relatime - proc proc rw
80 73 254:0 /b/rootfs /b/rootfs rw,relatime - ext4 /dev/vda rw
81 27 254:0 /x /a\\040b rw - ext4 /dev/vda rw
";
        assert_eq!(count_in(text, Path::new("/b/rootfs")), 2);
        assert_eq!(count_in(text, Path::new("/b/rootfs/proc")), 1);
        assert_eq!(count_in(text, Path::new("/b")), 0);
        assert_eq!(count_in(text, Path::new("/a b")), 1);
    }
}
