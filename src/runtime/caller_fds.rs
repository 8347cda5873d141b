//! The caller's file descriptors stay out of the container.
//!
//! A process that runs `hardrun create`, `run` or `exec` may hold descriptors it never meant to
//! hand on (a test harness's output files, a shell's `/dev/null`, a directory: the
//! CVE-2024-21626 class). libcontainer clones the container's processes from this one without
//! an `execve`, so each of them would hold every one of those descriptors, close-on-exec or not,
//! until its payload runs. hardrun closes them first thing, before anything enters a container:
//! everything but stdio and the descriptors passed on purpose, the `--preserve-fds` N after
//! stdio and, after those, the `LISTEN_FDS` of systemd socket activation (libcontainer hands
//! both on to the container's process). What hardrun itself opens later (its log file, the
//! channels to the container's processes) the patched libcontainer closes in the container's
//! processes (see third_party/libcontainer/HARDRUN-PATCHES.md).

use std::os::fd::RawFd;

/// Why the caller's descriptors could not be closed.
#[derive(Debug, thiserror::Error)]
pub enum CallerFdsError {
    #[error("cannot close the caller's file descriptors: {0}")]
    Close(std::io::Error),
    #[error("cannot list the caller's file descriptors: {0}")]
    List(std::io::Error),
}

/// How many descriptors after stdio go to the container on purpose: `--preserve-fds` plus
/// `LISTEN_FDS` (read the way libcontainer reads it: an integer, anything else counts as none).
pub fn passed_on_purpose(preserve_fds: i32, listen_fds: Option<&str>) -> RawFd {
    let listen = listen_fds
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
        .max(0);
    preserve_fds.max(0).saturating_add(listen)
}

/// Closes every descriptor above stdio except the first `keep` of them. Only for the start of
/// `main`, when no object of this process owns any of them.
pub fn close_inherited(keep: RawFd) -> Result<(), CallerFdsError> {
    let first = 3u32.saturating_add(keep.max(0) as u32);
    // SAFETY: close_range(2) only closes descriptors; at the start of main none of those above
    // stdio belongs to an object of this process (they were inherited from the caller).
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0) };
    if r == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(CallerFdsError::Close(err));
    }
    // before Linux 5.9: the ones /proc lists
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map_err(CallerFdsError::List)?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|fd| *fd as u32 >= first) {
        let _ = nix::unistd::close(fd);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passed_on_purpose_counts_preserved_then_listen_fds() {
        for (preserve, listen, want) in [
            (0, None, 0),
            (1, None, 1),
            (0, Some("2"), 2),
            (1, Some("1"), 2),
            (3, Some("0"), 3),
            // libcontainer ignores a LISTEN_FDS that is not a number
            (1, Some("x"), 1),
            (1, Some(""), 1),
            // never fewer than none
            (-1, None, 0),
            (1, Some("-5"), 1),
            (i32::MAX, Some("1"), i32::MAX),
        ] {
            assert_eq!(
                passed_on_purpose(preserve, listen),
                want,
                "--preserve-fds {preserve} LISTEN_FDS={listen:?}"
            );
        }
    }
}
