//! Protection of the runtime binary against overwrite from inside a container (the
//! CVE-2019-5736 class).
//!
//! The attack: a container process gets hold of the runtime's own executable through
//! `/proc/<pid>/exe` of a runtime process that is (or becomes, via `#!/proc/self/exe`) visible
//! inside the container, and writes to it once the runtime has exited. runc and youki defend by
//! re-executing from a sealed memfd copy of the binary, which costs a copy of the whole binary
//! (20–30 ms) on every call.
//!
//! hardrun's defence costs one `execve`, and only on the commands that put a hardrun process
//! inside a container (`create`, `run`, `exec`): the process clones the mount of its own
//! executable into a detached mount (`open_tree(OPEN_TREE_CLONE)` of `/proc/self/exe`), makes it
//! read-only, nosuid and nodev (`mount_setattr`) and re-executes itself through that mount's
//! descriptor (`execveat`). Its `/proc/self/exe` then lives on a read-only mount: any write
//! through it, or through a file descriptor reopened from it, fails with EROFS. Nothing is
//! unshared, and the process never leaves the caller's mount namespace (issue 20: this way costs
//! 1.8 ms of a `run`, the namespace way below 3.3–4.5 ms). A process already running from a
//! read-only mount (statvfs says `ST_RDONLY`) skips the step, which is also what stops the
//! re-exec from looping.
//!
//! Kernels before 5.12 (no `mount_setattr`) take the older way: the process moves into a private
//! mount namespace (a slave of the host's, so host mounts still propagate to containers), binds
//! its own executable read-only over itself and re-executes it from there. The re-executed
//! process then goes back to the caller's mount namespace (and its root and working directory),
//! whose descriptors the first process handed over across the `execve`
//! ([`return_to_caller_namespace`]). The binary it runs stays the one on the read-only binding:
//! `/proc/<pid>/exe` names the file it was executed from, on that mount, which keeps its
//! read-only flag after the private namespace is gone. So the protection holds, and hardrun
//! works in the caller's mount namespace like runc: a container whose spec has no mount
//! namespace runs in the caller's (runtime-tools `linux_ns_itype`), not in a private copy of it.
//! runc's sealed memfd copy would give the same without a mount, but costs a copy of the whole
//! binary on every call; an `O_PATH` handle does not stop a write through `/proc/<pid>/exe`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{statvfs, FsFlags};

/// Why the runtime binary could not be protected (or the way back not taken).
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    #[error("{RETURN_ENV}: expected three descriptors, got {0:?}")]
    WayBack(String),
    #[error("cannot return to the caller's mount namespace: {0}: {1}")]
    Return(&'static str, nix::Error),
    #[error("statvfs /proc/self/exe: {0}")]
    Statvfs(nix::Error),
    #[error("readlink /proc/self/exe: {0}")]
    Readlink(std::io::Error),
    #[error("the runtime binary {} was replaced or removed while starting", .0.display())]
    Replaced(PathBuf),
    // the cause is in the message, so it is not also the error's source
    #[error("cannot protect the runtime binary {}: {what}: {err}", exe.display())]
    Protect {
        exe: PathBuf,
        what: String,
        err: nix::Error,
    },
    #[error(transparent)]
    Nul(#[from] std::ffi::NulError),
}

/// Carries the descriptors of the caller's mount namespace, root and working directory
/// (`ns,root,cwd`) across the re-exec.
const RETURN_ENV: &str = "_HARDRUN_CALLER_MNTNS";

/// The three descriptors of a [`RETURN_ENV`] value.
fn parse_way_back(value: &str) -> Option<[i32; 3]> {
    let mut it = value
        .split(',')
        .map(|f| f.parse::<i32>().ok().filter(|fd| *fd > 2));
    let out = [it.next()??, it.next()??, it.next()??];
    it.next().is_none().then_some(out)
}

/// In the process [`ensure_read_only_exe`] re-executed: goes back to the caller's mount
/// namespace, root and working directory, and closes their descriptors. Does nothing in a
/// process that was not re-executed. Call it first thing in `main`, before anything closes or
/// opens descriptors or starts a thread (`setns` of a mount namespace needs a single thread).
pub fn return_to_caller_namespace() -> Result<(), ProtectError> {
    let Some(value) = std::env::var_os(RETURN_ENV) else {
        return Ok(());
    };
    std::env::remove_var(RETURN_ENV);
    let text = value.to_string_lossy();
    let [ns, root, cwd] =
        parse_way_back(&text).ok_or_else(|| ProtectError::WayBack(text.to_string()))?;
    // SAFETY: the descriptors were opened for this purpose by the process that re-executed
    // this one and inherited across execve; nothing else in this process owns them, and each
    // is closed exactly once, here.
    let [ns, root, cwd] = [ns, root, cwd]
        .map(|fd| unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    let back = |what: &'static str, e: nix::Error| ProtectError::Return(what, e);
    nix::sched::setns(&ns, CloneFlags::CLONE_NEWNS).map_err(|e| back("setns", e))?;
    // setns moved root and working directory to the namespace's root: restore both
    nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&root))
        .map_err(|e| back("fchdir to the root", e))?;
    nix::unistd::chroot(".").map_err(|e| back("chroot", e))?;
    nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&cwd))
        .map_err(|e| back("fchdir to the working directory", e))?;
    Ok(())
}

/// Whether `/proc/self/exe` is on a read-only mount (so it cannot be written through).
pub fn exe_is_read_only() -> Result<bool, ProtectError> {
    let st = statvfs("/proc/self/exe").map_err(ProtectError::Statvfs)?;
    Ok(st.flags().contains(FsFlags::ST_RDONLY))
}

/// Called before the command line is parsed, by a process whose command line plainly names
/// `create`, `run` or `exec` (main decides): as root, and where it can re-execute from the
/// detached read-only binding, it does so right away, so that only the re-executed process parses
/// the command line (issue 20: a parse is 0.7 ms). Returns when it did not re-execute: the binary
/// is protected already, the caller is not root (refused after the parse, before any
/// protection), or the detached binding is not available. [`ensure_read_only_exe`], after the
/// parse, then decides as before and reports whatever fails.
pub fn reexec_early() {
    if namespace_forced() || !nix::unistd::geteuid().is_root() {
        return;
    }
    if exe_is_read_only().unwrap_or(true) {
        return;
    }
    let Ok(args) = own_args() else {
        return;
    };
    crate::runtime::timing::hand_over();
    if let Ok(env) = env_without_way_back() {
        // returns only on failure: the checked way after the parse
        let _ = exec_from_detached_binding(&args, &env);
    }
}

/// Ensures the running binary cannot be written through `/proc/<pid>/exe`; re-executes the
/// process (same argv, environment and inherited fds) when it has to. Returns only when the
/// binary is protected; an error means the caller must refuse to go on.
pub fn ensure_read_only_exe() -> Result<(), ProtectError> {
    if exe_is_read_only()? {
        return Ok(());
    }
    let exe: PathBuf = std::fs::read_link("/proc/self/exe").map_err(ProtectError::Readlink)?;
    if !exe.is_absolute() || exe.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Err(ProtectError::Replaced(exe));
    }
    let fail = |what: String, e: nix::Error| ProtectError::Protect {
        exe: exe.clone(),
        what,
        err: e,
    };
    let args = own_args()?;
    crate::runtime::timing::hand_over();
    // first without a mount namespace: a detached read-only binding (returns only on failure)
    if !namespace_forced() {
        let detached = exec_from_detached_binding(&args, &env_without_way_back()?);
        tracing::debug!(err = %detached, "no detached read-only binding; a private mount namespace instead");
    }
    // the way back for the re-executed process: the caller's mount namespace, root and working
    // directory, as descriptors that survive the execve (see return_to_caller_namespace)
    let keep = |path: &str, flags: OFlag| {
        open(path, flags, Mode::empty()).map_err(|e| fail(format!("open {path}"), e))
    };
    let ns = keep("/proc/self/ns/mnt", OFlag::O_RDONLY)?;
    let root = keep("/", OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let cwd = keep(".", OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let way_back = format!("{RETURN_ENV}={ns},{root},{cwd}");
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| fail("unshare mount namespace".into(), e))?;
    // Our mounts must not propagate back to the host; host mounts still reach us (and, through
    // us, the containers we create).
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| fail("make / a slave mount".into(), e))?;
    mount(
        Some(&exe),
        &exe,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| fail("bind the binary over itself".into(), e))?;
    mount(
        None::<&str>,
        &exe,
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|e| fail("remount the binding read-only".into(), e))?;

    let path = CString::new(exe.as_os_str().as_bytes())?;
    let env: Vec<CString> = env_without_way_back()?
        .into_iter()
        .chain(CString::new(way_back).ok())
        .collect();
    let err = nix::unistd::execve(&path, &args, &env).unwrap_err();
    Err(fail("re-execute from the read-only binding".into(), err))
}

/// Debug builds only: `HARDRUN_PROTECT_NAMESPACE=1` skips the detached binding, so the tests
/// exercise the private-namespace way that kernels before 5.12 take. Release builds: never.
pub const NAMESPACE_ENV: &str = "HARDRUN_PROTECT_NAMESPACE";

fn namespace_forced() -> bool {
    cfg!(debug_assertions) && std::env::var_os(NAMESPACE_ENV).is_some_and(|v| v == "1")
}

/// This process's arguments, for the re-exec.
fn own_args() -> Result<Vec<CString>, std::ffi::NulError> {
    std::env::args_os()
        .map(|a| CString::new(a.as_bytes()))
        .collect()
}

/// This process's environment as `KEY=value` strings, without [`RETURN_ENV`].
fn env_without_way_back() -> Result<Vec<CString>, ProtectError> {
    Ok(std::env::vars_os()
        .filter(|(k, _)| k != RETURN_ENV)
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv)
        })
        .collect::<Result<Vec<_>, _>>()?)
}

/// Re-executes this binary from a read-only binding that belongs to no mount namespace: a
/// clone of the running executable's mount (`open_tree(OPEN_TREE_CLONE)` of `/proc/self/exe`,
/// the file that runs, whatever its path names now), made read-only, nosuid and nodev
/// (`mount_setattr`), executed through its descriptor (`execveat(AT_EMPTY_PATH)`). The new
/// process's `/proc/self/exe` is on that read-only mount, as with the private namespace's
/// binding, but nothing is unshared, the host's mount table is not copied, and no namespace is
/// torn down on the way back: 3.3 ms of a `run` were the protection's (issue 20). runc 1.2 seals
/// its binary the same way. Needs Linux 5.12 (`mount_setattr`); returns the error of the step
/// that failed (the caller then uses the private namespace), never on success.
fn exec_from_detached_binding(args: &[CString], env: &[CString]) -> nix::Error {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let exe = c"/proc/self/exe";
    // SAFETY: open_tree takes a directory descriptor, a NUL-terminated path and flags; it
    // returns a new descriptor (owned below) or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            exe.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return nix::Error::last();
    }
    // SAFETY: `fd` is the new descriptor open_tree returned; nothing else owns it.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr reads `size_of::<MountAttr>()` bytes of the valid `attr`; the
    // empty path with AT_EMPTY_PATH names the mount `raw` refers to.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            raw,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return nix::Error::last();
    }
    match nix::unistd::execveat(
        Some(raw),
        c"",
        args,
        env,
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    ) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn way_back_takes_three_descriptors_above_stdio() {
        assert_eq!(parse_way_back("3,4,5"), Some([3, 4, 5]));
        for bad in ["", "3,4", "3,4,5,6", "3,x,5", "0,4,5", "3,4,-1"] {
            assert_eq!(parse_way_back(bad), None, "{bad:?}");
        }
    }
}
