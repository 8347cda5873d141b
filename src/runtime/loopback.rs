//! The loopback interface of a container's new network namespace is brought up, as runc does
//! (its default "loopback" network): libcontainer 0.7 leaves `lo` down, so a server on
//! 127.0.0.1 inside a container started by `ctr run` or by hand would not be reachable, and a
//! container without CAP_NET_ADMIN (every hardened one) cannot bring it up itself.
//!
//! Done from a short-lived thread that joins the namespace (a network namespace is per thread),
//! so hardrun's own threads never change namespace.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sched::{setns, CloneFlags};

/// Why `lo` could not be brought up in a container's network namespace.
#[derive(Debug, thiserror::Error)]
pub enum LoopbackError {
    #[error("cannot open {0}: {1}")]
    Open(String, std::io::Error),
    #[error("cannot join the network namespace {0}: {1}")]
    Join(String, nix::Error),
    #[error("cannot bring up lo in {0}: {1}")]
    Up(String, std::io::Error),
    #[error("the loopback thread panicked")]
    Panicked,
}

/// Whether the spec asks for a new network namespace (one without a `path`).
pub fn new_network_namespace(spec: &serde_json::Value) -> bool {
    spec.pointer("/linux/namespaces")
        .and_then(|n| n.as_array())
        .is_some_and(|list| {
            list.iter().any(|n| {
                n["type"] == "network"
                    && n.get("path")
                        .and_then(|p| p.as_str())
                        .is_none_or(str::is_empty)
            })
        })
}

/// Sets `lo` up in the network namespace of process `pid`.
pub fn bring_up(pid: i32) -> Result<(), LoopbackError> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = File::open(&path).map_err(|e| LoopbackError::Open(path.clone(), e))?;
    std::thread::spawn(move || -> Result<(), LoopbackError> {
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| LoopbackError::Join(path.clone(), e))?;
        set_up("lo").map_err(|e| LoopbackError::Up(path, e))
    })
    .join()
    .map_err(|_| LoopbackError::Panicked)?
}

fn set_up(name: &str) -> std::io::Result<()> {
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor socket(2) just returned; nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data (arrays, integers and a union of them): all zeroes is a
    // valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the interface named in `req` and writes its flags into it;
    // `req` is a valid, exclusively borrowed ifreq for the duration of the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads the name and flags from `req`, a valid ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn which_specs_get_a_new_network_namespace() {
        for (ns, want) in [
            (json!([{"type": "network"}]), true),
            (json!([{"type": "network", "path": ""}]), true),
            (
                json!([{"type": "network", "path": "/proc/1/ns/net"}]),
                false,
            ),
            (json!([{"type": "pid"}]), false),
            (json!(null), false),
        ] {
            assert_eq!(
                new_network_namespace(&json!({"linux": {"namespaces": ns}})),
                want,
                "{ns}"
            );
        }
    }
}
