//! During kernel initialization, a minimal replica of the ramfs filesystem is
//! loaded, called rootfs.  Most systems mount another filesystem over it

#[allow(clippy::module_inception)]
pub(crate) mod rootfs;
pub use rootfs::RootFS;

pub mod device;
pub use device::Device;

pub(super) mod mount;
pub use mount::Mount;

pub(super) mod scoped;
pub(super) mod symlink;

pub mod utils;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("failed syscall")]
    Syscall(#[from] crate::syscall::SyscallError),
    #[error(transparent)]
    MissingSpec(#[from] crate::error::MissingSpecError),
    #[error("unknown rootfs propagation")]
    UnknownRootfsPropagation(String),
    #[error(transparent)]
    Symlink(#[from] symlink::SymlinkError),
    #[error(transparent)]
    Mount(#[from] mount::MountError),
    #[error(transparent)]
    Device(#[from] device::DeviceError),
    // hardrun: one spec mount that failed, named as runc names it (source, destination) plus its
    // type and the errno, instead of a bare "failed to prepare rootfs" (HARDRUN-PATCHES.md §10)
    #[error("error mounting {source_path:?} to rootfs at {destination:?} (type {typ}): {reason}")]
    MountEntry {
        source_path: String,
        destination: String,
        typ: String,
        reason: String,
        #[source]
        err: mount::MountError,
    },
}

// hardrun: the reason a mount failed, as a user reads it: the errno found in the error's chain
// in Go's (runc's) words, lower-case, with its name (`no such device (ENODEV)`); else the chain.
pub fn mount_failure_reason(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut chain: Vec<String> = vec![];
    while let Some(e) = cur {
        let errno = if let Some(n) = e.downcast_ref::<nix::Error>() {
            Some(*n)
        } else if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io.raw_os_error().map(nix::errno::Errno::from_raw)
        } else if let Some(p) = e.downcast_ref::<pathrs::error::Error>() {
            match p.kind() {
                pathrs::error::ErrorKind::OsError(Some(n)) => {
                    Some(nix::errno::Errno::from_raw(n))
                }
                _ => None,
            }
        } else if let Some(s) = e.downcast_ref::<crate::syscall::SyscallError>() {
            // its errno variants are transparent: the errno is not in the chain
            match s {
                crate::syscall::SyscallError::Nix(n) => Some(*n),
                crate::syscall::SyscallError::IO(io) => {
                    io.raw_os_error().map(nix::errno::Errno::from_raw)
                }
                crate::syscall::SyscallError::Pathrs(p) => match p.kind() {
                    pathrs::error::ErrorKind::OsError(Some(n)) => {
                        Some(nix::errno::Errno::from_raw(n))
                    }
                    _ => None,
                },
                _ => None,
            }
        } else {
            None
        };
        // transparent wrappers (pathrs, MountError::Other) hide the errno's own type: the text
        // of the standard library's io::Error still says `(os error N)`
        let s = e.to_string();
        let errno = errno.or_else(|| {
            let (_, n) = s.rsplit_once("(os error ")?;
            let n = n.split_once(')')?.0.parse().ok()?;
            Some(nix::errno::Errno::from_raw(n))
        });
        if let Some(n) = errno.filter(|n| *n != nix::errno::Errno::UnknownErrno) {
            return errno_words(n);
        }
        if !s.is_empty() && !chain.iter().any(|p| p.contains(&s)) {
            chain.push(s);
        }
        cur = e.source();
    }
    chain.join(": ")
}

// hardrun: `no such device (ENODEV)`: strerror in Go's lower case (what runc prints) and the name
fn errno_words(n: nix::errno::Errno) -> String {
    let desc = n.desc();
    let mut c = desc.chars();
    let desc = match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect::<String>(),
        None => String::new(),
    };
    format!("{desc} ({n:?})")
}

type Result<T> = std::result::Result<T, RootfsError>;

