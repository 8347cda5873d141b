//! Seccomp tripwires: the monitor's end of `SCMP_ACT_NOTIFY`.
//!
//! A container created while the monitor listens on the state root's tripwire socket
//! (`base::paths::tripwire_socket`) has the profile's tripwire syscalls as `SCMP_ACT_NOTIFY`
//! (`policy::rules::seccomp::arm_tripwires`). libcontainer connects to the socket once per
//! process that loads the filter (the container's init, each exec) and hands over the notify
//! descriptor with the OCI container process state, whose `metadata` holds the errno each
//! syscall got before it was armed. The monitor then:
//!
//! - answers every notification with that errno at once: the syscall is refused exactly as
//!   without a monitor, never continued;
//! - reads who tried (pid, comm, exe, the syscall and its arguments) and reports it as an event.
//!
//! If the monitor dies, the kernel fails the armed syscalls itself (ENOSYS: the listener is
//! gone): a tripwire never lets a syscall through. A monitor started later does not see the
//! containers started before it (their descriptors died with the old one); their tripwires keep
//! failing closed, unreported.

use std::collections::BTreeMap;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::Value;

use crate::policy::rules::seccomp::TripwireMeta;

/// One refused tripwire syscall, as the monitor saw it.
#[derive(Debug, Clone)]
pub struct Tripwire {
    pub container: String,
    pub profile: String,
    /// the host pid of the thread that made the call
    pub pid: u32,
    pub comm: String,
    pub exe: String,
    pub syscall: String,
    pub nr: i32,
    pub args: [u64; 6],
    /// the errno it was refused with
    pub errno: u32,
    /// when the notification was received (the detection latency runs from here)
    pub received: Instant,
}

/// Syscalls whose attempt is a privilege escalation attempt (critical); any other tripwire is
/// high.
pub const ESCALATION: &[&str] = &[
    "mount",
    "umount2",
    "unshare",
    "setns",
    "pivot_root",
    "chroot",
    "ptrace",
    "process_vm_writev",
    "bpf",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "open_by_handle_at",
    "fsopen",
    "fsmount",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "iopl",
    "ioperm",
];

/// Listens on `socket` (made 0600; a stale socket file nobody listens on is replaced) and hands
/// each tripwire to `tx` from a thread per notify descriptor. Fails when another monitor
/// listens there.
pub fn listen(socket: &Path, tx: Sender<Tripwire>) -> Result<(), String> {
    if crate::runtime::tripwire::listening(socket) {
        return Err(format!(
            "{}: another monitor listens there already",
            socket.display()
        ));
    }
    if let Some(dir) = socket.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    match std::fs::remove_file(socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove stale {}: {e}", socket.display())),
    }
    let listener = UnixListener::bind(socket)
        .map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", socket.display()))?;
    let path = socket.to_path_buf();
    std::thread::Builder::new()
        .name("tripwire-accept".into())
        .spawn(move || accept_loop(listener, &path, tx))
        .map_err(|e| format!("cannot start the tripwire listener: {e}"))?;
    Ok(())
}

fn accept_loop(listener: UnixListener, path: &Path, tx: Sender<Tripwire>) {
    for conn in listener.incoming() {
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("monitor: {}: accept: {e}", path.display());
                continue;
            }
        };
        // a create only waits for its connect: read it here, watch on a thread of its own
        match receive(conn) {
            Ok(Some((fd, state))) => {
                let tx = tx.clone();
                let spawned = std::thread::Builder::new()
                    .name("tripwire".into())
                    .spawn(move || watch(fd, &state, &tx));
                if let Err(e) = spawned {
                    tracing::error!("monitor: cannot watch a notify descriptor: {e}");
                }
            }
            // a probe (`runtime::tripwire::listening`): nothing sent
            Ok(None) => {}
            Err(e) => tracing::warn!("monitor: {}: {e}", path.display()),
        }
    }
}

/// The notify descriptor and the container process state of one connection; `None` for a
/// connection that sent nothing.
fn receive(conn: UnixStream) -> Result<Option<(OwnedFd, Value)>, String> {
    conn.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let (n, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| format!("recvmsg: {e}"))?;
        let mut fds: Vec<OwnedFd> = vec![];
        for c in msg.cmsgs().map_err(|e| format!("recvmsg: {e}"))? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                for fd in raw {
                    // SAFETY: SCM_RIGHTS installed `fd` in this process just now; nothing
                    // else owns it.
                    fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        (msg.bytes, fds)
    };
    if n == 0 && fds.is_empty() {
        return Ok(None);
    }
    buf.truncate(n);
    let mut conn = conn;
    conn.read_to_end(&mut buf)
        .map_err(|e| format!("reading the container state: {e}"))?;
    let mut fds = fds.into_iter();
    let fd = fds
        .next()
        .ok_or("a container state came without a notify descriptor")?;
    let state: Value = serde_json::from_slice(&buf)
        .map_err(|e| format!("the container state is not JSON: {e}"))?;
    Ok(Some((fd, state)))
}

/// Answers and reports every notification of `fd` until no process uses its filter any more.
fn watch(fd: OwnedFd, state: &Value, tx: &Sender<Tripwire>) {
    let container = state
        .pointer("/state/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let meta = state
        .get("metadata")
        .and_then(Value::as_str)
        .and_then(|m| serde_json::from_str::<TripwireMeta>(m).ok());
    let (profile, errnos) = match meta {
        Some(m) => (m.profile, m.errno),
        // not armed by hardrun: refuse everything with EPERM, report it all
        None => (String::new(), BTreeMap::new()),
    };
    loop {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, -1) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if pfd.revents & libc::POLLIN == 0 {
            // POLLHUP: every process that held the filter is gone
            break;
        }
        // SAFETY: seccomp_notif is plain old data; the kernel wants it zeroed.
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is a seccomp notify descriptor and `n` a seccomp_notif it may fill.
        let r = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut n as *mut libc::seccomp_notif,
            )
        };
        if r < 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                // the caller died or was interrupted before we took it
                Some(libc::ENOENT) | Some(libc::EINTR) => continue,
                _ => break,
            }
        }
        let received = Instant::now();
        let nr = n.data.nr;
        let syscall = libseccomp::ScmpSyscall::from(nr)
            .get_name()
            .unwrap_or_else(|_| format!("syscall {nr}"));
        let errno = errnos.get(&syscall).copied().unwrap_or(libc::EPERM as u32);
        // who: read while the caller waits for the answer
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", n.pid))
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_default();
        let exe = std::fs::read_link(format!("/proc/{}/exe", n.pid))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let mut resp = libc::seccomp_notif_resp {
            id: n.id,
            val: 0,
            error: -(errno as i32),
            flags: 0,
        };
        // SAFETY: `fd` is the notify descriptor `n` came from; `resp` answers it.
        let r = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &mut resp as *mut libc::seccomp_notif_resp,
            )
        };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOENT) {
            tracing::warn!(
                "monitor: container {container}: cannot answer {syscall} of pid {}: {}",
                n.pid,
                std::io::Error::last_os_error()
            );
        }
        let t = Tripwire {
            container: container.clone(),
            profile: profile.clone(),
            pid: n.pid,
            comm,
            exe,
            syscall,
            nr,
            args: n.data.args,
            errno,
            received,
        };
        if tx.send(t).is_err() {
            break;
        }
    }
}

/// The errno's name (`EPERM`), or its number.
pub fn errno_name(errno: u32) -> String {
    let e = nix::errno::Errno::from_raw(errno as i32);
    if e == nix::errno::Errno::UnknownErrno {
        errno.to_string()
    } else {
        format!("{e:?}")
    }
}
