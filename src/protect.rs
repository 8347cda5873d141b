//! Protection of the runtime binary against overwrite from inside a container (the
//! CVE-2019-5736 class).
//!
//! The attack: a container process gets hold of the runtime's own executable through
//! `/proc/<pid>/exe` of a runtime process that is (or becomes, via `#!/proc/self/exe`) visible
//! inside the container, and writes to it once the runtime has exited. runc and youki defend by
//! re-executing from a sealed memfd copy of the binary, which costs a copy of the whole binary
//! (20–30 ms) on every call.
//!
//! hardrun's defence costs one `execve` and two mounts, and only on the commands that put a
//! hardrun process inside a container (`create`, `run`, `exec`): the process moves into a private
//! mount namespace (a slave of the host's, so host mounts still propagate to containers), binds
//! its own executable read-only over itself and re-executes it from there. Its
//! `/proc/self/exe` then lives on a read-only mount: any write through it, or through a file
//! descriptor reopened from it, fails with EROFS. A process already running from a read-only
//! mount (statvfs says `ST_RDONLY`) skips the step, which is also what stops the re-exec from
//! looping.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::statvfs::{statvfs, FsFlags};

/// Whether `/proc/self/exe` is on a read-only mount (so it cannot be written through).
pub fn exe_is_read_only() -> Result<bool, String> {
    let st = statvfs("/proc/self/exe").map_err(|e| format!("statvfs /proc/self/exe: {e}"))?;
    Ok(st.flags().contains(FsFlags::ST_RDONLY))
}

/// Ensures the running binary cannot be written through `/proc/<pid>/exe`; re-executes the
/// process (same argv, environment and inherited fds) when it has to. Returns only when the
/// binary is protected; an error means the caller must refuse to go on.
pub fn ensure_read_only_exe() -> Result<(), String> {
    if exe_is_read_only()? {
        return Ok(());
    }
    let exe: PathBuf = std::fs::read_link("/proc/self/exe")
        .map_err(|e| format!("readlink /proc/self/exe: {e}"))?;
    if !exe.is_absolute() || exe.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Err(format!(
            "the runtime binary {} was replaced or removed while starting",
            exe.display()
        ));
    }
    let fail = |what: &str, e: nix::Error| {
        format!(
            "cannot protect the runtime binary {}: {what}: {e}",
            exe.display()
        )
    };
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| fail("unshare mount namespace", e))?;
    // Our mounts must not propagate back to the host; host mounts still reach us (and, through
    // us, the containers we create).
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| fail("make / a slave mount", e))?;
    mount(
        Some(&exe),
        &exe,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| fail("bind the binary over itself", e))?;
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
    .map_err(|e| fail("remount the binding read-only", e))?;

    let path = CString::new(exe.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let err = nix::unistd::execve(&path, &args, &env).unwrap_err();
    Err(fail("re-execute from the read-only binding", err))
}
