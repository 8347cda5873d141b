//! `probe`: run inside a container, it attempts the moves an attacker (or a careless workload)
//! would make and reports, as one JSON document on stdout, whether each was `blocked` or
//! `succeeded`. `error` means the probe itself could not run the attempt (a broken test, never
//! an acceptable outcome).
//!
//! Nothing destructive is done when an attempt gets through: files that expose the host
//! (`/proc/sysrq-trigger`, `/proc/sys/kernel/core_pattern`, `/sys/kernel/profiling`) are only
//! opened for writing, never written; `kexec_load` and `finit_module` get arguments the kernel
//! rejects right after its permission checks, so "succeeded" means "got past the permission
//! checks"; the fork and memory bombs stop at a cap of their own (`--fork-cap`, `--mem-cap-mb`)
//! and report `succeeded` when they reach it, i.e. when nothing in the container stopped them.
//!
//! Usage:
//!   probe [--only a,b,…] [--out FILE] [--hold] [--suid PATH] [--fork-cap N] [--mem-cap-mb N]
//!   probe watch SECONDS [--out FILE] [--hold]   look for runtime processes entering the container
//!   probe whoami                        print "uid euid" (run through the setuid copy)
//!   probe syscall NR [ARG…]             make one raw syscall with integer arguments (decimal
//!                                       or 0x…) and print `ok RET` or the errno's name
//!   probe storm NR COUNT RATE [ARG…]    COUNT such syscalls at RATE/s (0: back to back), each
//!                                       line `<realtime ns before> <result>` (monitor bench)
//!   probe spin NR COUNT [ARG…]          COUNT such syscalls back to back, prints wall and CPU s
//!   probe list [--all]                  print the probe names (--all: with the extra ones that
//!                                       need a mount the test adds: write-*-rbind)

use std::ffi::CString;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::time::{Duration, Instant};

type Res = (Outcome, String);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Blocked,
    Succeeded,
    Error,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Blocked => "blocked",
            Outcome::Succeeded => "succeeded",
            Outcome::Error => "error",
        }
    }
    fn parse(s: &str) -> Outcome {
        match s {
            "blocked" => Outcome::Blocked,
            "succeeded" => Outcome::Succeeded,
            _ => Outcome::Error,
        }
    }
}

use Outcome::{Blocked, Error, Succeeded};

struct Opts {
    suid: String,
    fork_cap: usize,
    mem_cap_mb: usize,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn ename(e: i32) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ETXTBSY => "ETXTBSY",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ENOKEY => "ENOKEY",
        libc::EDQUOT => "EDQUOT",
        _ => return format!("errno {e}"),
    };
    n.to_owned()
}

fn last() -> String {
    ename(errno())
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in probe strings")
}

fn own(fd: libc::c_int) -> OwnedFd {
    // SAFETY: callers pass a descriptor a syscall just returned (>= 0) that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A blocked syscall: permission errors (EPERM/EACCES), the filter's ENOSYS, a read-only mount.
fn denied(e: i32) -> bool {
    matches!(e, libc::EPERM | libc::EACCES | libc::ENOSYS | libc::EROFS)
}

/// Classifies a raw syscall result: >= 0 succeeded (closing a returned descriptor if `fd`),
/// a denial errno blocked, anything else means the call got past the permission checks.
fn classify(ret: libc::c_long, fd: bool, past_checks: &str) -> Res {
    if ret >= 0 {
        if fd {
            drop(own(ret as libc::c_int));
        }
        return (Succeeded, format!("returned {ret}"));
    }
    let e = errno();
    if denied(e) {
        (Blocked, ename(e))
    } else {
        (Succeeded, format!("{}: {past_checks}", ename(e)))
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", last());
    (own(fds[0]), own(fds[1]))
}

fn wait_status(pid: libc::pid_t) -> i32 {
    let mut st = 0;
    loop {
        // SAFETY: waiting for our own child; `st` is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r == pid || (r < 0 && errno() != libc::EINTR) {
            return st;
        }
    }
}

fn describe_status(st: i32) -> String {
    if libc::WIFSIGNALED(st) {
        format!("killed by signal {}", libc::WTERMSIG(st))
    } else {
        format!("exit {}", libc::WEXITSTATUS(st))
    }
}

/// Runs `f` in a forked child (so that namespace, credential, personality and root changes
/// stay out of the probe) and returns its result through a pipe. A child killed by a signal
/// (a seccomp KILL action) counts as blocked.
fn in_child(f: impl FnOnce() -> Res) -> Res {
    let (r, w) = pipe();
    // SAFETY: the probe is single-threaded; the child only runs probe code and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return (Error, format!("fork: {}", last()));
    }
    if pid == 0 {
        drop(r);
        let (o, d) = f();
        let mut w = fs::File::from(w);
        let _ = write!(w, "{}\n{}", o.as_str(), d);
        drop(w);
        // SAFETY: end the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    drop(w);
    let mut text = String::new();
    let _ = fs::File::from(r).read_to_string(&mut text);
    let st = wait_status(pid);
    match text.split_once('\n') {
        Some((o, d)) => (Outcome::parse(o), d.to_owned()),
        None if libc::WIFSIGNALED(st) => (Blocked, describe_status(st)),
        None => (
            Error,
            format!("child reported nothing ({})", describe_status(st)),
        ),
    }
}

fn sys(nr: libc::c_long, a: [libc::c_long; 5]) -> libc::c_long {
    // SAFETY: every caller passes arguments valid for syscall `nr` (pointers to live buffers).
    unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4]) }
}

// ---- the probes ---------------------------------------------------------------------------

fn p_mount() -> Res {
    let (src, tgt, ty) = (cstr("probe"), cstr("/tmp"), cstr("tmpfs"));
    // SAFETY: NUL-terminated strings that outlive the call; no data argument.
    let r = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    if r == 0 {
        // SAFETY: as above.
        unsafe { libc::umount2(tgt.as_ptr(), libc::MNT_DETACH) };
        return (
            Succeeded,
            "mounted a tmpfs on /tmp (unmounted again)".into(),
        );
    }
    (Blocked, last())
}

fn p_unshare(flag: libc::c_int) -> Res {
    in_child(|| {
        // SAFETY: unshare in a throwaway child.
        if unsafe { libc::unshare(flag) } == 0 {
            (Succeeded, "unshared".into())
        } else {
            (Blocked, last())
        }
    })
}

fn ns_link(pid: &str, ns: &str) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn pids() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn try_setns(path: &str, nstype: libc::c_int) -> Res {
    let p = cstr(path);
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return (Blocked, format!("open {path}: {}", last()));
    }
    let fd = own(fd);
    in_child(move || {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid namespace descriptor, in a throwaway child.
        if unsafe { libc::setns(fd.as_raw_fd(), nstype) } == 0 {
            (Succeeded, format!("joined {path}"))
        } else {
            (Blocked, format!("setns {path}: {}", last()))
        }
    })
}

/// setns(2) itself: joining the container's own UTS namespace needs CAP_SYS_ADMIN, so this
/// shows whether a process could join any namespace it can name.
fn p_setns() -> Res {
    try_setns("/proc/self/ns/uts", libc::CLONE_NEWUTS)
}

/// The host's namespaces: any visible process whose namespaces differ from ours (none should
/// be visible in a private pid namespace); then try to join its mount namespace.
fn p_setns_host() -> Res {
    let kinds = ["mnt", "net", "pid", "ipc", "uts", "cgroup", "user"];
    let ours: Vec<Option<String>> = kinds.iter().map(|k| ns_link("self", k)).collect();
    let all = pids();
    for pid in &all {
        for (i, k) in kinds.iter().enumerate() {
            let theirs = ns_link(pid, k);
            if theirs.is_some() && theirs != ours[i] && *k != "pid" {
                let flag = match *k {
                    "mnt" => libc::CLONE_NEWNS,
                    "net" => libc::CLONE_NEWNET,
                    "ipc" => libc::CLONE_NEWIPC,
                    "uts" => libc::CLONE_NEWUTS,
                    "cgroup" => libc::CLONE_NEWCGROUP,
                    _ => libc::CLONE_NEWUSER,
                };
                let (o, d) = try_setns(&format!("/proc/{pid}/ns/{k}"), flag);
                return (
                    o,
                    format!("foreign {k} namespace of pid {pid} visible; {d}"),
                );
            }
        }
    }
    (
        Blocked,
        format!(
            "no foreign namespace among the {} visible processes",
            all.len()
        ),
    )
}

fn p_ptrace() -> Res {
    let (r, w) = pipe();
    // SAFETY: single-threaded; the child only blocks on a read and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return (Error, format!("fork: {}", last()));
    }
    if pid == 0 {
        drop(w);
        let mut b = [0u8; 1];
        let _ = fs::File::from(r).read(&mut b);
        // SAFETY: end the child.
        unsafe { libc::_exit(0) };
    }
    drop(r);
    // SAFETY: PTRACE_ATTACH to our own child; null addr/data are valid for it.
    let a = unsafe {
        libc::ptrace(
            libc::PTRACE_ATTACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    let res = if a == 0 {
        let mut st = 0;
        // SAFETY: wait for the attach stop of our own child.
        unsafe { libc::waitpid(pid, &mut st, libc::__WALL) };
        // SAFETY: detach from the stopped tracee.
        unsafe {
            libc::ptrace(
                libc::PTRACE_DETACH,
                pid,
                std::ptr::null_mut::<libc::c_void>(),
                std::ptr::null_mut::<libc::c_void>(),
            )
        };
        (Succeeded, "attached to a process of the container".into())
    } else {
        (Blocked, last())
    };
    drop(w);
    // SAFETY: our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_status(pid);
    res
}

fn p_kmod() -> Res {
    let p = cstr("");
    // finit_module checks CAP_SYS_MODULE before it looks at the descriptor: EBADF = allowed
    classify(
        sys(
            libc::SYS_finit_module,
            [-1, p.as_ptr() as libc::c_long, 0, 0, 0],
        ),
        false,
        "past the permission check (bad descriptor on purpose)",
    )
}

fn p_kexec() -> Res {
    // flags the kernel rejects (EINVAL) right after checking CAP_SYS_BOOT
    classify(
        sys(libc::SYS_kexec_load, [0, 0, 0, 0x7fff_0000, 0]),
        false,
        "past the permission check (invalid flags on purpose)",
    )
}

fn p_bpf() -> Res {
    // BPF_MAP_CREATE of a one-entry array map
    let mut attr = [0u32; 32];
    attr[0] = 2; // BPF_MAP_TYPE_ARRAY
    attr[1] = 4; // key_size
    attr[2] = 4; // value_size
    attr[3] = 1; // max_entries
    classify(
        sys(
            libc::SYS_bpf,
            [0, attr.as_mut_ptr() as libc::c_long, 128, 0, 0],
        ),
        true,
        "past the permission checks",
    )
}

fn p_perf() -> Res {
    // a software task-clock counter on ourselves, user space only (allowed to unprivileged
    // processes at perf_event_paranoid <= 2)
    let mut attr = [0u64; 16];
    attr[0] = 1 | (64 << 32); // type PERF_TYPE_SOFTWARE, size PERF_ATTR_SIZE_VER0
    attr[1] = 1; // PERF_COUNT_SW_TASK_CLOCK
    attr[5] = 1 | (1 << 5) | (1 << 6); // disabled, exclude_kernel, exclude_hv
    classify(
        sys(
            libc::SYS_perf_event_open,
            [attr.as_mut_ptr() as libc::c_long, 0, -1, -1, 0],
        ),
        true,
        "past the permission checks",
    )
}

fn p_keyctl() -> Res {
    // KEYCTL_GET_KEYRING_ID of the session keyring, without creating it
    classify(
        sys(libc::SYS_keyctl, [0, -3, 0, 0, 0]),
        false,
        "reached the key subsystem",
    )
}

fn p_add_key() -> Res {
    in_child(|| {
        let (ty, desc) = (cstr("user"), cstr("hardrun-probe"));
        let data = b"x";
        // a key in the (throwaway) process keyring
        classify(
            sys(
                libc::SYS_add_key,
                [
                    ty.as_ptr() as libc::c_long,
                    desc.as_ptr() as libc::c_long,
                    data.as_ptr() as libc::c_long,
                    1,
                    -2,
                ],
            ),
            false,
            "reached the key subsystem",
        )
    })
}

fn p_userfaultfd() -> Res {
    // UFFD_USER_MODE_ONLY: allowed to unprivileged processes, so only a filter blocks it
    classify(
        sys(
            libc::SYS_userfaultfd,
            [(libc::O_CLOEXEC | 1) as libc::c_long, 0, 0, 0, 0],
        ),
        true,
        "past the permission checks",
    )
}

fn p_io_uring() -> Res {
    let mut params = [0u8; 120];
    classify(
        sys(
            libc::SYS_io_uring_setup,
            [1, params.as_mut_ptr() as libc::c_long, 0, 0, 0],
        ),
        true,
        "past the permission checks",
    )
}

fn p_raw_socket() -> Res {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    if fd >= 0 {
        drop(own(fd));
        return (Succeeded, "AF_INET SOCK_RAW ICMP socket".into());
    }
    (Blocked, last())
}

/// AF_VSOCK talks to the hypervisor. Docker's profile refuses family 40, but the kernel's
/// socket() takes an `int` and drops the high 32 bits the filter looked at, so the same family
/// with bit 32 set passes Docker's `family > 40` rule.
fn p_vsock() -> Res {
    let stream = libc::SOCK_STREAM as libc::c_long;
    let plain = sys(
        libc::SYS_socket,
        [libc::AF_VSOCK as libc::c_long, stream, 0, 0, 0],
    );
    if plain >= 0 {
        drop(own(plain as libc::c_int));
        return (Succeeded, "AF_VSOCK socket".into());
    }
    let plain_err = last();
    let high = (1 << 32) | libc::AF_VSOCK as libc::c_long;
    match classify(
        sys(libc::SYS_socket, [high, stream, 0, 0, 0]),
        true,
        "the filter let the family through",
    ) {
        (Succeeded, d) => (
            Succeeded,
            format!("AF_VSOCK with bit 32 set ({d}); plain: {plain_err}"),
        ),
        other => other,
    }
}

fn p_bind_low() -> Res {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return (Error, format!("socket: {}", last()));
    }
    let fd = own(fd);
    use std::os::fd::AsRawFd;
    // SAFETY: sockaddr_in is plain data; zeroed is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = 80u16.to_be();
    // SAFETY: a valid sockaddr_in of the size passed.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r == 0 {
        (Succeeded, "bound 0.0.0.0:80".into())
    } else {
        (Blocked, last())
    }
}

fn scratch(name: &str) -> String {
    format!("/tmp/.hardrun-probe-{name}-{}", std::process::id())
}

fn p_chown_root() -> Res {
    let path = scratch("chown");
    if let Err(e) = fs::write(&path, b"x") {
        return (Error, format!("create {path}: {e}"));
    }
    let p = cstr(&path);
    // SAFETY: plain geteuid.
    let root = unsafe { libc::geteuid() } == 0;
    let res = (|| {
        if root {
            // already root: the file is root's. Give it away first, so the chown back to root
            // needs CAP_CHOWN like any other chown of a file that is not ours.
            // SAFETY: a NUL-terminated path.
            if unsafe { libc::chown(p.as_ptr(), 1000, 1000) } != 0 {
                return (Blocked, format!("chown to 1000: {}", last()));
            }
        }
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::chown(p.as_ptr(), 0, 0) } != 0 {
            return (Blocked, last());
        }
        match fs::metadata(&path) {
            Ok(m) if m.uid() == 0 => (Succeeded, "the file is owned by uid 0".into()),
            Ok(m) => (Blocked, format!("owner is {}", m.uid())),
            Err(e) => (Error, e.to_string()),
        }
    })();
    let _ = fs::remove_file(&path);
    res
}

/// The host's first disk as /proc/partitions (not namespaced) names it; /dev/sda otherwise.
fn host_disk() -> (u32, u32, String) {
    let text = fs::read_to_string("/proc/partitions").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [ma, mi, _, name] => Some((ma.parse().ok()?, mi.parse().ok()?, name.to_string())),
                _ => None,
            }
        })
        .next()
        .unwrap_or((8, 0, "sda".into()))
}

fn mknod_disk(path: &str) -> Result<String, i32> {
    let (ma, mi, name) = host_disk();
    let p = cstr(path);
    // SAFETY: a NUL-terminated path.
    let r = unsafe { libc::mknod(p.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(ma, mi)) };
    if r == 0 {
        Ok(format!("block {ma}:{mi} ({name})"))
    } else {
        Err(errno())
    }
}

/// Creating a node for the host's disk: the device cgroup's `m`, with CAP_MKNOD.
fn p_mknod() -> Res {
    let path = scratch("disk");
    match mknod_disk(&path) {
        Ok(d) => {
            let _ = fs::remove_file(&path);
            (Succeeded, format!("created {d}"))
        }
        Err(e) => (Blocked, ename(e)),
    }
}

/// Reading the host's disk through a node made in /dev (a tmpfs without nodev): the device
/// cgroup's `r`. Opened read-only, nothing read.
fn p_open_device() -> Res {
    let path = format!("/dev/.hardrun-probe-disk-{}", std::process::id());
    let made = mknod_disk(&path);
    let d = match made {
        Ok(d) => d,
        Err(e) => return (Blocked, format!("mknod in /dev: {}", ename(e))),
    };
    let p = cstr(&path);
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    let res = if fd >= 0 {
        drop(own(fd));
        (Succeeded, format!("opened {d} for reading"))
    } else {
        (Blocked, format!("created {d}, open: {}", last()))
    };
    let _ = fs::remove_file(&path);
    res
}

fn p_write_file(dir: &str) -> Res {
    let path = format!(
        "{}/.hardrun-probe-{}",
        dir.trim_end_matches('/'),
        std::process::id()
    );
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(_) => {
            let _ = fs::remove_file(&path);
            (Succeeded, format!("created {path}"))
        }
        Err(e) => match e.raw_os_error() {
            Some(n) if denied(n) => (Blocked, ename(n)),
            Some(n) => (Error, format!("{path}: {}", ename(n))),
            None => (Error, e.to_string()),
        },
    }
}

/// Opens a host-affecting file for writing and closes it without writing a byte.
fn p_open_write(path: &str) -> Res {
    let p = cstr(path);
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd >= 0 {
        drop(own(fd));
        return (Succeeded, "opened for writing (nothing written)".into());
    }
    let e = errno();
    if denied(e) {
        (Blocked, ename(e))
    } else if e == libc::ENOENT {
        (
            Blocked,
            "absent (ENOENT: not in this kernel, or hidden)".into(),
        )
    } else {
        (Error, format!("{path}: {}", ename(e)))
    }
}

/// Reads a sensitive /proc file: blocked when it cannot be opened or is masked (a bind mount
/// of /dev/null or an empty read).
fn p_read(path: &str) -> Res {
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return match e.raw_os_error() {
                Some(n) if denied(n) => (Blocked, ename(n)),
                Some(libc::ENOENT) => (
                    Blocked,
                    "absent (ENOENT: not in this kernel, or hidden)".into(),
                ),
                _ => (Error, e.to_string()),
            }
        }
    };
    if f.metadata()
        .map(|m| m.file_type().is_char_device())
        .unwrap_or(false)
    {
        return (Blocked, "masked (/dev/null)".into());
    }
    let mut buf = [0u8; 64];
    match f.read(&mut buf) {
        Ok(0) => (Blocked, "read 0 bytes".into()),
        Ok(n) => (Succeeded, format!("read {n} bytes")),
        Err(e) => match e.raw_os_error() {
            Some(n) if denied(n) => (Blocked, format!("read: {}", ename(n))),
            _ => (Error, e.to_string()),
        },
    }
}

/// Drops to an unprivileged uid when running as root (the attempt is about *gaining* euid 0)
/// and execs the setuid-root copy of this binary, which reports its euid.
fn p_setuid_exec(o: &Opts) -> Res {
    // the image's setuid-root copy: inside a user namespace its owner (host root) is unmapped
    // and shows as the overflow uid; the attempt is still made, and the kernel does not honour
    // a setuid bit whose owner the namespace cannot map
    let owner = match fs::metadata(&o.suid) {
        Ok(m) if m.mode() & 0o4000 != 0 => m.uid(),
        Ok(_) => return (Error, format!("{} is not setuid", o.suid)),
        Err(e) => return (Error, format!("{}: {e}", o.suid)),
    };
    let note = if owner == 0 {
        String::new()
    } else {
        format!(" (owner shows as uid {owner}: root of the image is not mapped here)")
    };
    let suid = o.suid.clone();
    in_child(move || {
        // SAFETY: credential calls in a throwaway child.
        unsafe {
            if libc::geteuid() == 0
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setresgid(1000, 1000, 1000) != 0
                    || libc::setresuid(1000, 1000, 1000) != 0)
            {
                return (Error, format!("cannot drop root to try: {}", last()));
            }
        }
        let out = std::process::Command::new(&suid).arg("whoami").output();
        match out {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                let euid = text.split_whitespace().nth(1).unwrap_or("?");
                if euid == "0" {
                    (Succeeded, format!("uid/euid after exec: {text}{note}"))
                } else {
                    (Blocked, format!("uid/euid after exec: {text}{note}"))
                }
            }
            Ok(out) => (
                Blocked,
                format!(
                    "exec failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ),
            Err(e) => match e.raw_os_error() {
                Some(n) if denied(n) => (Blocked, format!("exec: {}", ename(n))),
                _ => (Error, format!("exec: {e}")),
            },
        }
    })
}

fn p_setuid0() -> Res {
    in_child(|| {
        // SAFETY: credential calls in a throwaway child.
        unsafe {
            let before = libc::getuid();
            if libc::setuid(0) == 0 && libc::getuid() == 0 && libc::geteuid() == 0 {
                let d = if before == 0 {
                    "already uid 0 (the container runs as root)".to_owned()
                } else {
                    format!("uid {before} -> 0")
                };
                (Succeeded, d)
            } else {
                (Blocked, last())
            }
        }
    })
}

fn p_rlimit() -> Res {
    in_child(|| {
        // SAFETY: rlimit is plain data, filled by getrlimit.
        let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: a valid out pointer.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
        if rl.rlim_max == libc::RLIM_INFINITY {
            return (Succeeded, "hard limit already unlimited".into());
        }
        let want = libc::rlimit {
            rlim_cur: rl.rlim_cur,
            rlim_max: rl.rlim_max + 1,
        };
        // SAFETY: a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            (
                Succeeded,
                format!("RLIMIT_NOFILE hard {} -> {}", rl.rlim_max, want.rlim_max),
            )
        } else {
            (
                Blocked,
                format!("RLIMIT_NOFILE hard {}: {}", rl.rlim_max, last()),
            )
        }
    })
}

fn p_hostname() -> Res {
    let name = b"hardrun-probe";
    // SAFETY: a valid buffer of the given length.
    if unsafe { libc::sethostname(name.as_ptr() as *const libc::c_char, name.len()) } == 0 {
        (
            Succeeded,
            "hostname changed (in the container's uts namespace)".into(),
        )
    } else {
        (Blocked, last())
    }
}

fn root_id(path: &str) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The classic escape: chroot into a subdirectory with the working directory left outside,
/// climb with "..", chroot("."). It only leaves the container if its root is a plain chroot.
fn p_chroot() -> Res {
    in_child(|| {
        let before = root_id("/");
        let d = cstr("/tmp");
        // SAFETY: NUL-terminated paths, in a throwaway child.
        unsafe {
            if libc::chdir(cstr("/").as_ptr()) != 0 {
                return (Error, format!("chdir /: {}", last()));
            }
            if libc::chroot(d.as_ptr()) != 0 {
                return (Blocked, format!("chroot: {}", last()));
            }
            let up = cstr("..");
            for _ in 0..64 {
                libc::chdir(up.as_ptr());
            }
            if libc::chroot(cstr(".").as_ptr()) != 0 {
                return (Blocked, format!("second chroot: {}", last()));
            }
        }
        let after = root_id("/");
        if after != before {
            (Succeeded, "reached a root above the container's".into())
        } else {
            (
                Blocked,
                "chroot allowed, but climbing ends at the container's root (pivot_root)".into(),
            )
        }
    })
}

/// /proc/1/root is the root of pid 1 as this pid namespace sees it: the host's only if the
/// host's pid namespace is shared.
fn p_proc1_root() -> Res {
    let ours = root_id("/");
    match root_id("/proc/1/root/") {
        None => (Blocked, format!("/proc/1/root: {}", last())),
        Some(r) if Some(r) == ours => {
            let who = if std::process::id() == 1 {
                "this probe"
            } else {
                "the container's init"
            };
            (Blocked, format!("pid 1 is {who}: same root as ours"))
        }
        Some(_) => (Succeeded, "pid 1 has a different root".into()),
    }
}

fn is_runtime_name(s: &str) -> bool {
    [
        "hardrun",
        "runc",
        "youki",
        "containerd",
        "dockerd",
        "crun",
        "conmon",
    ]
    .iter()
    .any(|n| s.contains(n))
}

#[derive(Default)]
struct Sighting {
    seen: usize,
    own: usize,
    denied: usize,
    opened: usize,
    writable: usize,
    /// runtime processes whose /proc/<pid>/fd could be listed (the numbers only)
    fds_listed: usize,
    /// descriptors beyond stdio of a runtime process whose target could be read or that could
    /// be opened through /proc/<pid>/fd/<n>: a way to what the runtime holds inside the
    /// container (CVE-2024-21626 class)
    fds_followed: usize,
    notes: Vec<String>,
}

/// One pass over /proc: a process whose command or binary is a runtime's is a way to the
/// runtime binary (CVE-2019-5736): hold its /proc/<pid>/exe with O_PATH, reopen it for
/// writing (without O_TRUNC: nothing is written).
fn scan_runtime(s: &mut Sighting) {
    for pid in pids() {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let exe = fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !is_runtime_name(comm.trim()) && !is_runtime_name(&exe) {
            continue;
        }
        s.seen += 1;
        if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) {
            // the numbers are visible to whoever may read the directory; what matters is
            // whether a descriptor beyond stdio can be followed: its target read, or the object
            // itself opened (O_PATH: never blocks, nothing read) through /proc/<pid>/fd/<n>
            let mut held = Vec::new();
            for e in dir.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.parse::<u32>().map_or(true, |n| n < 3) {
                    continue;
                }
                let target = fs::read_link(e.path()).map(|p| p.to_string_lossy().into_owned());
                let c = cstr(&format!("/proc/{pid}/fd/{n}"));
                // SAFETY: a NUL-terminated path.
                let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
                let opened = fd >= 0;
                if opened {
                    drop(own(fd));
                }
                match (&target, opened) {
                    (Err(_), false) => held.push(n),
                    (t, o) => {
                        s.fds_followed += 1;
                        held.push(format!(
                            "{n} -> {}{}",
                            t.as_deref().unwrap_or("?"),
                            if o { " OPENED" } else { "" }
                        ));
                    }
                }
            }
            s.fds_listed += 1;
            if s.fds_listed <= 2 || (s.fds_followed > 0 && s.notes.len() < 8) {
                s.notes.push(format!(
                    "pid {pid} ({}) holds descriptors beyond stdio: [{}]",
                    comm.trim(),
                    held.join(", ")
                ));
            }
        }
        let p = cstr(&format!("/proc/{pid}/exe"));
        // SAFETY: a NUL-terminated path.
        let fd = unsafe { libc::open(p.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            s.denied += 1;
            if s.denied <= 3 {
                s.notes
                    .push(format!("pid {pid} ({}) exe: {}", comm.trim(), last()));
            }
            continue;
        }
        let fd = own(fd);
        use std::os::fd::AsRawFd;
        // the process may have exec'd its command by now: a binary of the container's own
        // filesystem (the same file at the same path here) is not the runtime's
        let fdpath = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let held = fs::metadata(&fdpath).ok().map(|m| (m.dev(), m.ino()));
        let at = fs::read_link(&fdpath).ok();
        if held.is_some() && at.as_ref().and_then(|p| root_id(&p.to_string_lossy())) == held {
            s.own += 1;
            continue;
        }
        s.opened += 1;
        let re = cstr(&format!("/proc/self/fd/{}", fd.as_raw_fd()));
        // SAFETY: a NUL-terminated path.
        let w = unsafe { libc::open(re.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if w >= 0 {
            drop(own(w));
            s.writable += 1;
            s.notes.push(format!(
                "pid {pid} ({}) {exe}: OPENED FOR WRITING",
                comm.trim()
            ));
        } else if s.opened <= 5 {
            s.notes.push(format!(
                "pid {pid} ({}) {exe}: reopen for write: {}",
                comm.trim(),
                last()
            ));
        }
    }
}

fn p_runtime_exe() -> Res {
    let mut s = Sighting::default();
    scan_runtime(&mut s);
    let n = pids().len();
    if s.writable > 0 {
        (Succeeded, s.notes.join("; "))
    } else if s.seen == 0 {
        (
            Blocked,
            format!("no runtime process visible in the container's pid namespace ({n} processes)"),
        )
    } else {
        (Blocked, s.notes.join("; "))
    }
}

fn p_fork_bomb(o: &Opts) -> Res {
    let (r, w) = pipe();
    use std::os::fd::AsRawFd;
    let w_raw = w.as_raw_fd();
    let mut kids = Vec::new();
    let mut stop = None;
    while kids.len() < o.fork_cap {
        // SAFETY: single-threaded; the child blocks on the pipe and exits.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            stop = Some(errno());
            break;
        }
        if pid == 0 {
            // SAFETY: plain prctl/read/_exit in the child.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // the write end stays with the parent only: its close is the children's EOF
                libc::close(w_raw);
                let mut b = 0u8;
                libc::read(r.as_raw_fd(), &mut b as *mut u8 as *mut libc::c_void, 1);
                libc::_exit(0);
            }
        }
        kids.push(pid);
    }
    drop(w);
    for pid in &kids {
        wait_status(*pid);
    }
    // SAFETY: rlimit is plain data, filled by getrlimit.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut rl) };
    let nproc = if rl.rlim_cur == libc::RLIM_INFINITY {
        "unlimited".to_owned()
    } else {
        rl.rlim_cur.to_string()
    };
    match stop {
        Some(e) => (
            Blocked,
            format!(
                "fork failed with {} after {} processes (RLIMIT_NPROC {nproc})",
                ename(e),
                kids.len()
            ),
        ),
        None => (
            Succeeded,
            format!(
                "{} processes and nothing stopped them (the probe's own cap)",
                kids.len()
            ),
        ),
    }
}

fn p_memory_bomb(o: &Opts) -> Res {
    let (r, w) = pipe();
    // SAFETY: single-threaded; the child allocates and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return (Error, format!("fork: {}", last()));
    }
    if pid == 0 {
        drop(r);
        let mut w = fs::File::from(w);
        let chunk = 16usize << 20;
        let mut total = 0usize;
        while total < o.mem_cap_mb << 20 {
            // SAFETY: an anonymous private mapping; only touched within its length.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    chunk,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                let _ = writeln!(w, "E {}", last());
                // SAFETY: end the child.
                unsafe { libc::_exit(0) };
            }
            let p = p as *mut u8;
            for off in (0..chunk).step_by(4096) {
                // SAFETY: within the mapping just created.
                unsafe { p.add(off).write_volatile(1) };
            }
            total += chunk;
            let _ = writeln!(w, "{}", total >> 20);
        }
        let _ = writeln!(w, "done");
        // SAFETY: end the child.
        unsafe { libc::_exit(0) };
    }
    drop(w);
    let mut text = String::new();
    let _ = fs::File::from(r).read_to_string(&mut text);
    let st = wait_status(pid);
    let lines: Vec<&str> = text.lines().collect();
    let mb = lines
        .iter()
        .rev()
        .find(|l| l.bytes().all(|b| b.is_ascii_digit()))
        .copied()
        .unwrap_or("0");
    if lines.last() == Some(&"done") {
        return (
            Succeeded,
            format!(
                "allocated {} MiB and nothing stopped it (the probe's own cap)",
                o.mem_cap_mb
            ),
        );
    }
    if let Some(e) = lines.iter().find_map(|l| l.strip_prefix("E ")) {
        return (Blocked, format!("mmap failed with {e} after {mb} MiB"));
    }
    if libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL {
        (Blocked, format!("OOM-killed after {mb} MiB"))
    } else {
        (
            Error,
            format!("allocator {} after {mb} MiB", describe_status(st)),
        )
    }
}

fn p_clone_ns() -> Res {
    let flags = (libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::SIGCHLD) as libc::c_long;
    // raw clone without CLONE_VM behaves like fork: the child returns 0 and exits at once
    let r = sys(libc::SYS_clone, [flags, 0, 0, 0, 0]);
    if r == 0 {
        // SAFETY: end the child.
        unsafe { libc::_exit(0) };
    }
    if r > 0 {
        wait_status(r as libc::pid_t);
        return (
            Succeeded,
            "child created in new user+mount namespaces".into(),
        );
    }
    (Blocked, last())
}

fn p_clone3_ns() -> Res {
    // struct clone_args (v0, 64 bytes): flags, pidfd, child_tid, parent_tid, exit_signal, …
    let mut args = [0u64; 8];
    args[0] = (libc::CLONE_NEWUSER | libc::CLONE_NEWNS) as u64;
    args[4] = libc::SIGCHLD as u64;
    let r = sys(
        libc::SYS_clone3,
        [args.as_mut_ptr() as libc::c_long, 64, 0, 0, 0],
    );
    if r == 0 {
        // SAFETY: end the child.
        unsafe { libc::_exit(0) };
    }
    if r > 0 {
        wait_status(r as libc::pid_t);
        return (
            Succeeded,
            "child created in new user+mount namespaces".into(),
        );
    }
    (Blocked, last())
}

fn p_personality() -> Res {
    in_child(|| {
        const ADDR_NO_RANDOMIZE: libc::c_ulong = 0x0040000;
        // SAFETY: personality in a throwaway child.
        let r = unsafe { libc::personality(ADDR_NO_RANDOMIZE) };
        if r < 0 {
            return (Blocked, last());
        }
        // SAFETY: querying the persona.
        let now = unsafe { libc::personality(0xffff_ffff) };
        if now >= 0 && (now as libc::c_ulong) & ADDR_NO_RANDOMIZE != 0 {
            (Succeeded, "ADDR_NO_RANDOMIZE set (ASLR off)".into())
        } else {
            (Blocked, format!("persona is {now:#x}"))
        }
    })
}

/// `probe syscall NR [ARG…]`: what the kernel (and the seccomp filter in front of it) answers to
/// one raw syscall. The caller picks arguments that make the call harmless (null pointers, bad
/// descriptors): this is how a test sees the errno a filter gives a syscall nobody wraps, such
/// as a number no kernel has.
fn raw_syscall(args: &[String]) -> String {
    let num = |s: &String| -> libc::c_long {
        let v = match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse::<i64>().map(|v| v as u64),
        };
        v.unwrap_or_else(|_| panic!("probe syscall: {s:?} is not a number")) as libc::c_long
    };
    let Some(nr) = args.first().map(num) else {
        panic!("probe syscall: NR missing");
    };
    let mut a = [0 as libc::c_long; 5];
    for (slot, s) in a.iter_mut().zip(&args[1..]) {
        *slot = num(s);
    }
    let r = sys(nr, a);
    if r >= 0 {
        format!("ok {r}")
    } else {
        last()
    }
}

/// `probe storm NR COUNT RATE [ARG…]`: COUNT raw syscalls NR (arguments as `probe syscall`), at
/// RATE calls a second (0: back to back), for the monitor bench. Prints one line per call:
/// `<CLOCK_REALTIME ns before the call> <errno name or ok>`, then `done COUNT SECONDS`.
fn storm(args: &[String]) {
    let count: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .expect("probe storm NR COUNT RATE [ARG...]");
    let rate: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut call = vec![args[0].clone()];
    call.extend(args.iter().skip(3).cloned());
    let mut out = String::with_capacity(count as usize * 32);
    let start = Instant::now();
    for i in 0..count {
        if rate > 0 {
            let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let r = raw_syscall(&call);
        let _ = writeln!(out, "{t} {r}");
    }
    let _ = writeln!(out, "done {count} {:.3}", start.elapsed().as_secs_f64());
    let _ = std::io::stdout().write_all(out.as_bytes());
}

/// `probe spin NR COUNT [ARG…]`: COUNT raw syscalls NR back to back; prints only
/// `done COUNT WALL_SECONDS CPU_SECONDS` (a syscall-heavy benign workload for the monitor bench;
/// CPU time, user + system, is what a filter costs, whatever else the machine runs).
fn spin(args: &[String]) {
    let count: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .expect("probe spin NR COUNT [ARG...]");
    let mut call = vec![args[0].clone()];
    call.extend(args.iter().skip(2).cloned());
    let cpu = || {
        // SAFETY: getrusage fills the zeroed struct it is given; both live on this stack.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
        t(ru.ru_utime) + t(ru.ru_stime)
    };
    let (start, cpu0) = (Instant::now(), cpu());
    for _ in 0..count {
        std::hint::black_box(raw_syscall(&call));
    }
    println!(
        "done {count} {:.6} {:.6}",
        start.elapsed().as_secs_f64(),
        cpu() - cpu0
    );
}

/// request_key(2) of a key that does not exist: ENOKEY means the call reached the key
/// subsystem (Docker's profile refuses it, with keyctl and add_key).
fn p_request_key() -> Res {
    in_child(|| {
        let (ty, desc) = (cstr("user"), cstr("hardrun-probe-absent"));
        classify(
            sys(
                libc::SYS_request_key,
                [
                    ty.as_ptr() as libc::c_long,
                    desc.as_ptr() as libc::c_long,
                    0,
                    0,
                    0,
                ],
            ),
            false,
            "reached the key subsystem",
        )
    })
}

/// Whether this process runs under a seccomp filter at all: the kernel's `Seccomp:` field
/// (0 none, 1 strict, 2 filter). Without one, every syscall-level defence of the profile is off
/// and the process may install (or stack) filters of its own choosing.
fn p_seccomp_filter() -> Res {
    // SAFETY: plain prctl query.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP) };
    let status = status_field("Seccomp:");
    match mode {
        2 => (
            Blocked,
            format!("under a seccomp filter (Seccomp: {status})"),
        ),
        0 => (
            Succeeded,
            format!("no seccomp filter (Seccomp: {status}): every syscall is open"),
        ),
        m => (Error, format!("PR_GET_SECCOMP {m} (Seccomp: {status})")),
    }
}

/// A syscall number past the last one this kernel (and any profile) knows, as a newer libc
/// would call a new syscall: the detail is the errno that came back. ENOSYS lets libc fall back
/// to an older call (runc answers ENOSYS); EPERM breaks images in ways users cannot diagnose.
fn p_unknown_syscall() -> Res {
    let r = sys(1000, [0, 0, 0, 0, 0]);
    if r >= 0 {
        return (Succeeded, format!("syscall 1000 returned {r}"));
    }
    (Blocked, last())
}

/// process_vm_readv of a child's memory: Docker allows it only with CAP_SYS_PTRACE.
fn p_process_vm_readv() -> Res {
    let (r, w) = pipe();
    // SAFETY: single-threaded; the child only blocks on a read and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return (Error, format!("fork: {}", last()));
    }
    if pid == 0 {
        drop(w);
        let mut b = [0u8; 1];
        let _ = fs::File::from(r).read(&mut b);
        // SAFETY: end the child.
        unsafe { libc::_exit(0) };
    }
    drop(r);
    // the child is a copy of us: the address of a static of ours is valid in it
    static MARK: [u8; 8] = *b"hardrun!";
    let mut buf = [0u8; 8];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: MARK.as_ptr() as *mut libc::c_void,
        iov_len: MARK.len(),
    };
    // SAFETY: valid iovecs of one element each; the remote address is only read by the kernel.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    let res = if n == 8 && buf == MARK {
        (Succeeded, "read 8 bytes of another process's memory".into())
    } else if n >= 0 {
        (Error, format!("read {n} bytes"))
    } else {
        let e = errno();
        if denied(e) {
            (Blocked, ename(e))
        } else {
            (
                Succeeded,
                format!("{}: past the permission checks", ename(e)),
            )
        }
    };
    drop(w);
    // SAFETY: our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_status(pid);
    res
}

/// name_to_handle_at(2): the first half of the open_by_handle_at escape ("shocker"); Docker
/// allows it only with CAP_DAC_READ_SEARCH.
fn p_name_to_handle_at() -> Res {
    // struct file_handle: handle_bytes, handle_type, then the handle (MAX_HANDLE_SZ 128)
    let mut fh = [0u32; 2 + 32];
    fh[0] = 128;
    let mut mount_id: libc::c_int = 0;
    let p = cstr("/");
    classify(
        sys(
            libc::SYS_name_to_handle_at,
            [
                libc::AT_FDCWD as libc::c_long,
                p.as_ptr() as libc::c_long,
                fh.as_mut_ptr() as libc::c_long,
                &mut mount_id as *mut libc::c_int as libc::c_long,
                0,
            ],
        ),
        false,
        "past the permission checks",
    )
}

/// Opens a file for writing and closes it without writing: blocked on a denial or when absent.
fn try_open_write(path: &str) -> Result<(), i32> {
    let p = cstr(path);
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd >= 0 {
        drop(own(fd));
        Ok(())
    } else {
        Err(errno())
    }
}

/// The container's own cgroup limits as the spec's /sys/fs/cgroup shows them (v1 controller
/// directories or the v2 root): opened for writing, nothing written. Writable means the
/// container can lift its own pids or memory limit.
fn p_write_cgroup() -> Res {
    let candidates = [
        "/sys/fs/cgroup/pids/pids.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids.max",
        "/sys/fs/cgroup/memory.max",
    ];
    let mut seen = Vec::new();
    for c in candidates {
        if fs::metadata(c).is_err() {
            continue;
        }
        match try_open_write(c) {
            Ok(()) => {
                return (
                    Succeeded,
                    format!("{c} opened for writing (nothing written)"),
                )
            }
            Err(e) if denied(e) => seen.push(format!("{c}: {}", ename(e))),
            Err(e) => return (Error, format!("{c}: {}", ename(e))),
        }
    }
    if seen.is_empty() {
        (Blocked, "no cgroup limit file visible".into())
    } else {
        (Blocked, seen.join("; "))
    }
}

/// The first file called one of `names` at most `depth` directories below `dir`.
fn find_file(dir: &str, names: &[&str], depth: usize) -> Option<String> {
    let mut subdirs = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = format!("{}/{name}", dir.trim_end_matches('/'));
        let ft = match e.file_type() {
            Ok(ft) => ft,
            Err(_) => continue,
        };
        if ft.is_file() && names.contains(&name.as_str()) {
            return Some(path);
        }
        if ft.is_dir() {
            subdirs.push(path);
        }
    }
    if depth == 0 {
        return None;
    }
    subdirs.iter().find_map(|d| find_file(d, names, depth - 1))
}

/// A cgroup controller file of the host through a read-only rbind of the host's
/// /sys/fs/cgroup at `/rbind/cgroup` (the test adds that mount): read-only must reach the
/// controller mounts below the top one.
fn p_write_cgroup_rbind() -> Res {
    let top = "/rbind/cgroup";
    if fs::metadata(top).is_err() {
        return (
            Error,
            format!("{top} is not mounted (the spec lacks the rbind)"),
        );
    }
    let file = ["pids", "memory"]
        .iter()
        .find_map(|c| {
            find_file(
                &format!("{top}/{c}"),
                &["pids.max", "memory.limit_in_bytes"],
                2,
            )
        })
        .or_else(|| find_file(top, &["pids.max", "memory.max"], 2));
    let Some(file) = file else {
        return (Error, format!("no controller file found under {top}"));
    };
    match try_open_write(&file) {
        Ok(()) => (
            Succeeded,
            format!("{file} opened for writing (nothing written)"),
        ),
        Err(e) if denied(e) => (Blocked, format!("{file}: {}", ename(e))),
        Err(e) => (Error, format!("{file}: {}", ename(e))),
    }
}

/// The host's /dev/shm through a read-only rbind of the host's /dev at `/rbind/dev` (the test
/// adds that mount): a file is created there and removed again at once.
fn p_write_dev_shm_rbind() -> Res {
    let dir = "/rbind/dev/shm";
    if fs::metadata(dir).is_err() {
        return (
            Error,
            format!("{dir} is not there (the spec lacks the rbind)"),
        );
    }
    p_write_file(dir)
}

/// Descriptors this process was started with beyond stdin, stdout and stderr (taken at the
/// probe's start): a descriptor of the caller's that reaches the container (CVE-2024-21626
/// class). `LISTEN_FDS` descriptors would be passed on purpose.
fn p_inherited_fds() -> Res {
    let fds = INHERITED.get().cloned().unwrap_or_default();
    if fds.is_empty() {
        (Blocked, "only 0, 1 and 2 open at start".into())
    } else {
        (Succeeded, fds.join(", "))
    }
}

static INHERITED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// The descriptors >= 3 open right now, with their targets (the directory being read excluded).
fn open_fds() -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return vec!["/proc/self/fd unreadable".into()];
    };
    for e in dir.flatten() {
        let n: i32 = match e.file_name().to_string_lossy().parse() {
            Ok(n) => n,
            Err(_) => continue,
        };
        if n < 3 {
            continue;
        }
        let target = fs::read_link(e.path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "?".into());
        // the descriptor of the directory being listed
        if target.ends_with("/fd") && target.starts_with("/proc/") {
            continue;
        }
        out.push(format!("{n} -> {target}"));
    }
    out.sort();
    out
}

// ---- driver -------------------------------------------------------------------------------

const NAMES: &[&str] = &[
    "mount",
    "unshare-user",
    "unshare-mnt",
    "unshare-pid",
    "unshare-net",
    "unshare-ipc",
    "unshare-uts",
    "unshare-cgroup",
    "unshare-time",
    "setns",
    "setns-host",
    "ptrace",
    "kernel-module",
    "kexec-load",
    "bpf",
    "perf-event-open",
    "keyctl",
    "add-key",
    "userfaultfd",
    "io-uring-setup",
    "raw-socket",
    "vsock-socket",
    "bind-port-80",
    "chown-to-root",
    "mknod-device",
    "open-host-disk",
    "write-root",
    "write-etc",
    "write-sysrq-trigger",
    "write-proc-sys-kernel",
    "write-sys",
    "read-proc-kcore",
    "read-proc-keys",
    "setuid-binary-euid-0",
    "setuid-0",
    "raise-rlimit",
    "sethostname",
    "chroot-escape",
    "host-proc-1-root",
    "runtime-exe-write",
    "clone-namespaces",
    "clone3-namespaces",
    "personality",
    "request-key",
    "seccomp-filter",
    "unknown-syscall",
    "process-vm-readv",
    "name-to-handle-at",
    "write-cgroup",
    "inherited-fds",
    "fork-bomb",
    "memory-bomb",
];

/// Probes that need a mount the test adds (`--only` names them; not run by default).
const EXTRA: &[&str] = &["write-cgroup-rbind", "write-dev-shm-rbind"];

fn run_probe(name: &str, o: &Opts) -> Res {
    match name {
        "mount" => in_child(p_mount),
        "unshare-user" => p_unshare(libc::CLONE_NEWUSER),
        "unshare-mnt" => p_unshare(libc::CLONE_NEWNS),
        "unshare-pid" => p_unshare(libc::CLONE_NEWPID),
        "unshare-net" => p_unshare(libc::CLONE_NEWNET),
        "unshare-ipc" => p_unshare(libc::CLONE_NEWIPC),
        "unshare-uts" => p_unshare(libc::CLONE_NEWUTS),
        "unshare-cgroup" => p_unshare(libc::CLONE_NEWCGROUP),
        "unshare-time" => p_unshare(0x80), // CLONE_NEWTIME
        "setns" => p_setns(),
        "setns-host" => p_setns_host(),
        "ptrace" => p_ptrace(),
        "kernel-module" => p_kmod(),
        "kexec-load" => p_kexec(),
        "bpf" => p_bpf(),
        "perf-event-open" => p_perf(),
        "keyctl" => p_keyctl(),
        "add-key" => p_add_key(),
        "userfaultfd" => p_userfaultfd(),
        "io-uring-setup" => p_io_uring(),
        "raw-socket" => p_raw_socket(),
        "vsock-socket" => p_vsock(),
        "bind-port-80" => p_bind_low(),
        "chown-to-root" => p_chown_root(),
        "mknod-device" => p_mknod(),
        "open-host-disk" => p_open_device(),
        "write-root" => p_write_file("/"),
        "write-etc" => p_write_file("/etc"),
        "write-sysrq-trigger" => p_open_write("/proc/sysrq-trigger"),
        "write-proc-sys-kernel" => p_open_write("/proc/sys/kernel/core_pattern"),
        "write-sys" => p_open_write("/sys/kernel/profiling"),
        "read-proc-kcore" => p_read("/proc/kcore"),
        "read-proc-keys" => p_read("/proc/keys"),
        "setuid-binary-euid-0" => p_setuid_exec(o),
        "setuid-0" => p_setuid0(),
        "raise-rlimit" => p_rlimit(),
        "sethostname" => in_child(p_hostname),
        "chroot-escape" => p_chroot(),
        "host-proc-1-root" => p_proc1_root(),
        "runtime-exe-write" => p_runtime_exe(),
        "clone-namespaces" => p_clone_ns(),
        "clone3-namespaces" => p_clone3_ns(),
        "personality" => p_personality(),
        "fork-bomb" => p_fork_bomb(o),
        "memory-bomb" => p_memory_bomb(o),
        "request-key" => p_request_key(),
        "seccomp-filter" => p_seccomp_filter(),
        "unknown-syscall" => p_unknown_syscall(),
        "process-vm-readv" => p_process_vm_readv(),
        "name-to-handle-at" => p_name_to_handle_at(),
        "write-cgroup" => p_write_cgroup(),
        "inherited-fds" => p_inherited_fds(),
        "write-cgroup-rbind" => p_write_cgroup_rbind(),
        "write-dev-shm-rbind" => p_write_dev_shm_rbind(),
        _ => (Error, format!("unknown probe {name}")),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn status_field(key: &str) -> String {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
        .unwrap_or_default()
}

fn emit(out: Option<&str>, doc: &str) {
    match out {
        Some(path) => {
            // written under a temporary name and renamed: a reader never sees half a report
            let tmp = format!("{path}.tmp");
            fs::write(&tmp, doc).expect("write the report");
            fs::rename(&tmp, path).expect("rename the report");
        }
        None => {
            let mut so = std::io::stdout().lock();
            let _ = so.write_all(doc.as_bytes());
            let _ = so.flush();
        }
    }
}

fn hold() -> ! {
    loop {
        // SAFETY: plain pause; the runtime kills us.
        unsafe { libc::pause() };
    }
}

fn watch(secs: u64, out: Option<&str>) {
    let mut s = Sighting::default();
    let mut scans = 0u64;
    let end = Instant::now() + Duration::from_secs(secs);
    // a marker that the watcher is running, for the driver to start its execs
    if let Some(path) = out {
        let _ = fs::write(format!("{path}.ready"), b"");
    }
    while Instant::now() < end {
        scan_runtime(&mut s);
        scans += 1;
    }
    let notes: Vec<String> = s.notes.iter().map(|n| json_str(n)).collect();
    let doc = format!(
        "{{\"scans\":{scans},\"runtime_seen\":{},\"container_binary\":{},\"exe_opened\":{},\"write_opened\":{},\"fds_listed\":{},\"fds_followed\":{},\"notes\":[{}]}}\n",
        s.seen,
        s.own,
        s.opened,
        s.writable,
        s.fds_listed,
        s.fds_followed,
        notes.join(",")
    );
    emit(out, &doc);
}

fn main() {
    // before anything of ours is opened
    let _ = INHERITED.set(open_fds());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Opts {
        suid: "/probe-suid".into(),
        fork_cap: 5000,
        mem_cap_mb: 1536,
    };
    let mut only: Option<Vec<String>> = None;
    let mut out: Option<String> = None;
    let mut do_hold = false;
    let mut i = 0;
    let val = |i: usize| args.get(i + 1).cloned().expect("option needs a value");
    match args.first().map(String::as_str) {
        Some("whoami") => {
            // SAFETY: plain getters.
            let (u, e) = unsafe { (libc::getuid(), libc::geteuid()) };
            println!("{u} {e}");
            return;
        }
        Some("syscall") => {
            println!("{}", raw_syscall(&args[1..]));
            return;
        }
        Some("storm") => {
            storm(&args[1..]);
            return;
        }
        Some("spin") => {
            spin(&args[1..]);
            return;
        }
        Some("list") => {
            let all = args.get(1).map(String::as_str) == Some("--all");
            for n in NAMES.iter().chain(if all { EXTRA } else { &[] }) {
                println!("{n}");
            }
            return;
        }
        Some("watch") => {
            let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
            let out = args
                .iter()
                .position(|a| a == "--out")
                .and_then(|p| args.get(p + 1))
                .map(String::as_str);
            watch(secs, out);
            if args.iter().any(|a| a == "--hold") {
                hold();
            }
            return;
        }
        _ => {}
    }
    while i < args.len() {
        match args[i].as_str() {
            "--only" => {
                only = Some(val(i).split(',').map(str::to_owned).collect());
                i += 1;
            }
            "--out" => {
                out = Some(val(i));
                i += 1;
            }
            "--suid" => {
                o.suid = val(i);
                i += 1;
            }
            "--fork-cap" => {
                o.fork_cap = val(i).parse().expect("--fork-cap N");
                i += 1;
            }
            "--mem-cap-mb" => {
                o.mem_cap_mb = val(i).parse().expect("--mem-cap-mb N");
                i += 1;
            }
            "--hold" => do_hold = true,
            a => {
                eprintln!("probe: unknown argument {a}");
                std::process::exit(2);
            }
        }
        i += 1;
    }
    let names: Vec<String> = only.unwrap_or_else(|| NAMES.iter().map(|s| s.to_string()).collect());
    let mut doc = String::from("{\n");
    // SAFETY: plain getters.
    let (uid, euid, pid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getpid()) };
    let _ = writeln!(
        doc,
        "  \"context\": {{\"uid\": {uid}, \"euid\": {euid}, \"pid\": {pid}, \"CapEff\": {}, \"CapBnd\": {}, \"NoNewPrivs\": {}, \"Seccomp\": {}}},",
        json_str(&status_field("CapEff:")),
        json_str(&status_field("CapBnd:")),
        json_str(&status_field("NoNewPrivs:")),
        json_str(&status_field("Seccomp:")),
    );
    doc.push_str("  \"probes\": {\n");
    for (k, name) in names.iter().enumerate() {
        let (res, detail) = run_probe(name, &o);
        let _ = write!(
            doc,
            "    {}: {{\"outcome\": {}, \"detail\": {}}}",
            json_str(name),
            json_str(res.as_str()),
            json_str(&detail)
        );
        doc.push_str(if k + 1 < names.len() { ",\n" } else { "\n" });
    }
    doc.push_str("  }\n}\n");
    emit(out.as_deref(), &doc);
    if do_hold {
        hold();
    }
}
