//! Whether a `hardrun monitor` listens for seccomp tripwires of a state root (see
//! `policy::rules::seccomp::arm_tripwires` and `monitor::tripwires`).

use std::os::fd::AsRawFd;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};

/// Whether something accepts connections on the unix socket at `path` now. A non-blocking
/// connect: a listener whose queue is full still counts (libcontainer's own connect then
/// waits for it), a socket file nobody listens on does not. The monitor reads the empty
/// connection as a probe.
pub fn listening(path: &Path) -> bool {
    let Ok(fd) = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    ) else {
        return false;
    };
    let Ok(addr) = UnixAddr::new(path) else {
        return false;
    };
    matches!(connect(fd.as_raw_fd(), &addr), Ok(()) | Err(Errno::EAGAIN))
}
