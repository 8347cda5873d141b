//! The loopback interface of a container's new network namespace is brought up, as runc does
//! (its default "loopback" network): libcontainer 0.7 leaves `lo` down, so a server on
//! 127.0.0.1 inside a container started by `ctr run` or by hand would not be reachable, and a
//! container without CAP_NET_ADMIN (every hardened one) cannot bring it up itself.
//!
//! The socket is made in the container's namespace by [`super::container_net`]; the flags are set
//! through it from hardrun's own namespace.

use std::os::fd::{AsRawFd, BorrowedFd};

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

/// Sets interface `name` up with an `AF_INET` socket `sock`: in the network namespace `sock` was
/// made in, whichever namespace the calling thread is in.
pub fn set_up_on(sock: BorrowedFd<'_>, name: &str) -> std::io::Result<()> {
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
