use std::fs;
use std::path::Path;

use nix::unistd::Pid;

use crate::common::{self, CGROUP_PROCS, ControllerOpt, WrapIoResult, WrappedIoError};

pub(super) trait Controller {
    type Error: From<WrappedIoError>;
    type Resource;

    /// Adds a new task specified by its pid to the cgroup
    fn add_task(pid: Pid, cgroup_path: &Path) -> Result<(), Self::Error> {
        fs::create_dir_all(cgroup_path).wrap_create_dir(cgroup_path)?;
        join(pid, cgroup_path)?;
        Ok(())
    }

    /// Applies resource restrictions to the cgroup
    fn apply(controller_opt: &ControllerOpt, cgroup_root: &Path) -> Result<(), Self::Error>;

    /// Checks if the controller needs to handle this request
    fn needs_to_handle<'a>(controller_opt: &'a ControllerOpt) -> Option<&'a Self::Resource>;
}

/// hardrun: moves `pid` into the cgroup v1 directory `cgroup_path`.
///
/// A pid written to `cgroup.procs` (or to `tasks`) makes the kernel take the global
/// `cgroup_threadgroup_rwsem` for writing, and the first writer after a quiet spell waits there
/// for an RCU grace period: 10-25 ms on the first hierarchy a runtime joins, measured on this
/// project's hosts (issue 20). A process that moves only itself, writing `0` to `tasks`, is
/// exempt (the kernel skips that lock when the caller migrates its own thread, see
/// `cgroup_procs_write_start`). When `pid` is the caller and the caller is single-threaded (the
/// container's intermediate process, a fork), that moves the same and only task, so it does
/// that; every other case writes the pid to `cgroup.procs` as before. On a kernel without the
/// exemption the write costs what the pid write cost.
pub(crate) fn join(pid: Pid, cgroup_path: &Path) -> Result<(), WrappedIoError> {
    if pid == nix::unistd::getpid() && KNOWN_SINGLE.get().unwrap_or_else(single_threaded) {
        return common::write_cgroup_file_str(cgroup_path.join("tasks"), "0");
    }
    common::write_cgroup_file(cgroup_path.join(CGROUP_PROCS), pid)
}

thread_local! {
    /// hardrun (HARDRUN-PATCHES §6): whether this process is single-threaded, as read once by
    /// [`with_thread_count_read`] for the joins it wraps; `None` outside (read per join).
    static KNOWN_SINGLE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// hardrun: runs `f` (the joins of `pid` to every hierarchy, which start no thread) with this
/// process's thread count read once, when `pid` is this process, instead of once per hierarchy
/// (five syscalls each).
pub(crate) fn with_thread_count_read<R>(pid: Pid, f: impl FnOnce() -> R) -> R {
    if pid != nix::unistd::getpid() {
        return f();
    }
    KNOWN_SINGLE.set(Some(single_threaded()));
    let r = f();
    KNOWN_SINGLE.set(None);
    r
}

/// hardrun: whether this process has one thread (`/proc/self/task` holds one entry); `false`
/// when that cannot be read.
fn single_threaded() -> bool {
    fs::read_dir("/proc/self/task").is_ok_and(|d| d.take(2).count() == 1)
}
