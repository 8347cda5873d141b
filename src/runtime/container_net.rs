//! A container's network namespace made ready before its process runs: `lo` up (runc's default
//! "loopback" network, see [`super::loopback`]) and the profile's egress table (see
//! `policy::egress`). `create` calls [`prepare`] from libcontainer's namespaces callback, while the
//! init prepares its rootfs.
//!
//! How (issue 20): the calling thread enters the namespace only for the `socket(2)` calls — an
//! `AF_INET` socket for the interface flags, a `NETLINK_NETFILTER` socket for the table — and
//! goes straight back to its own namespace; a socket stays in the namespace it was made in, so
//! the ioctl and the netlink batch run from hardrun's own namespace. No thread is started and no
//! library is loaded: the table is sent as one netlink transaction built by
//! [`super::nft_batch`]. Where that cannot serve — a table the batch cannot express, a namespace
//! that holds the table already (a pod's sandbox loaded it), any error of the fast path — the
//! table is loaded as before with libnftables or the `nft` binary ([`super::nft::load_table`]),
//! so the result and its errors are nftables' own: the fast path never decides a refusal.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::policy::egress::{Plan, TABLE};

use super::nft::{self, Loaded};
use super::{loopback, nft_batch};

/// Whether loading `plan`'s table may fall back to nftables (libnftables, loaded ahead by the
/// caller): a table the batch cannot express, or a pod's container, whose namespace holds the
/// sandbox's table already. A fast-path error falls back too, then loading the library on the
/// spot.
pub fn may_need_nftables(plan: &Plan) -> bool {
    !native_enabled()
        || plan.keep_existing
        || nft_batch::create_batch(&plan.table, TABLE, 1).is_none()
}

/// Debug builds only: `HARDRUN_NFT_NATIVE=0` turns the fast path off, so that the tests reach
/// nftables' own path and its errors (`tests/egress.rs`).
const NATIVE_ENV: &str = "HARDRUN_NFT_NATIVE";

/// Whether the fast path is used (always, in a release build).
fn native_enabled() -> bool {
    !(cfg!(debug_assertions) && std::env::var_os(NATIVE_ENV).is_some_and(|v| v == "0"))
}

/// Makes the network namespace of process `pid` ready: `lo` up when `loopback` (a new network
/// namespace), and `egress`'s table loaded (the timing trace's `loopback` stage ends after
/// `lo`). Ok(Some): a notice for the caller (a container in
/// the host's namespace is not filtered). The error is one line naming the container `id`.
pub fn prepare(
    pid: i32,
    loopback: bool,
    egress: Option<&Plan>,
    id: &str,
) -> Result<Option<String>, String> {
    let path = format!("/proc/{pid}/ns/net");
    let (ns, ident) = nft::open_netns(&path).map_err(|e| format!("container {id:?}: {e}"))?;
    let host_shared = nft::shares_host_netns(&ident);
    let batch = match egress {
        Some(plan) if !host_shared && native_enabled() => {
            nft_batch::create_batch(&plan.table, TABLE, 1)
        }
        _ => None,
    };
    let (inet, netfilter) = sockets_in(ns.as_fd(), loopback, batch.is_some())
        .map_err(|e| format!("container {id:?}: {path}: {e}"))?;
    if let Some(sock) = &inet {
        loopback::set_up_on(sock.as_fd(), "lo")
            .map_err(|e| format!("container {id:?}: cannot bring up lo in {path}: {e}"))?;
    }
    super::timing::stage("loopback");
    let Some(plan) = egress else {
        return Ok(None);
    };
    if host_shared {
        return Ok(Some(plan.host_shared(id)));
    }
    if let (Some(batch), Some(sock)) = (&batch, &netfilter) {
        if nft_batch::send(sock.as_fd(), batch).is_ok() {
            return Ok(None);
        }
    }
    // the fast path could not serve: nftables itself decides (its create first, then keep or
    // replace), and its error is the refusal
    match nft::load_table_in(
        ns.as_fd(),
        &ident,
        TABLE,
        &plan.create_script(),
        &plan.script(),
        plan.keep_existing,
    ) {
        Ok(Loaded::HostShared) => Ok(Some(plan.host_shared(id))),
        Ok(_) => Ok(None),
        Err(e) => Err(plan.refusal(id, &e)),
    }
}

/// An `AF_INET` datagram socket (when `inet`) and a `NETLINK_NETFILTER` socket (when
/// `netfilter`) made in the network namespace `ns`. The calling thread joins `ns` for the two
/// `socket(2)` calls and returns to the namespace it was in; when it cannot return, the process
/// ends (abort): no later step may run in a container's namespace by mistake.
fn sockets_in(
    ns: BorrowedFd<'_>,
    inet: bool,
    netfilter: bool,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>), String> {
    if !inet && !netfilter {
        return Ok((None, None));
    }
    let own = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| format!("cannot open /proc/thread-self/ns/net: {e}"))?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("cannot enter the network namespace: {e}"))?;
    let made = (|| -> std::io::Result<_> {
        let inet = match inet {
            // SAFETY: socket(2) with constant arguments; the result is checked before use.
            true => Some(owned(unsafe {
                libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
            })?),
            false => None,
        };
        let netfilter = match netfilter {
            true => Some(nft_batch::socket()?),
            false => None,
        };
        Ok((inet, netfilter))
    })();
    if let Err(e) = nix::sched::setns(own.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET) {
        eprintln!(
            "hardrun: cannot return to its own network namespace ({e}) after making sockets in a container's; aborting"
        );
        std::process::abort();
    }
    made.map_err(|e| format!("cannot make a socket in the network namespace: {e}"))
}

/// The descriptor `raw` (from socket(2)) as an owned one, or the call's error.
fn owned(raw: libc::c_int) -> std::io::Result<OwnedFd> {
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor socket(2) just returned; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}
