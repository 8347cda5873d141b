//! hardrun's default seccomp profile, compiled and run.
//!
//! 1. The rendering is compiled to classic BPF with seccompiler (proving it well formed) and the
//!    programs are run by a small BPF interpreter on `seccomp_data` the way the kernel runs
//!    stacked filters. `SCMP_CMP_MASKED_EQ` is read as libcontainer 0.7 reads it (`valueTwo` is
//!    the mask), the way hardrun's rendering is written; Docker's rule is also read as runc reads
//!    it, to show the difference.
//! 2. On x86_64, the rendering is loaded into a test thread by libcontainer's own seccomp code
//!    (the code that runs containers) and real syscalls are made under it. A probe is compared
//!    with the same call made before the filter, so kernel answers that are EPERM anyway (a
//!    sysctl, a missing capability) are reported as inconclusive instead of passing by accident.

mod common;

use std::collections::{BTreeMap, HashMap};

use hardrun::policy::rules::seccomp::{libcontainer_compat, render_default};
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};
use serde_json::{json, Value};

use hardrun::policy::rules::DOCKER_CAPS;

fn rendered(caps: &[&str]) -> Value {
    let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
    render_default("SCMP_ARCH_X86_64", &caps).unwrap()
}

/// x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl, common and 64-bit ABI, up to
/// linux 6.15): `N:name` sets the number, a bare name takes the next one.
const X86_64: &str = "
0:read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction
rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select sched_yield
mremap msync mincore madvise shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm
setitimer getpid sendfile socket connect accept sendto recvfrom sendmsg recvmsg shutdown bind
listen getsockname getpeername socketpair setsockopt getsockopt clone fork vfork execve exit
wait4 kill uname semget semop semctl shmdt msgget msgsnd msgrcv msgctl fcntl flock fsync
fdatasync truncate ftruncate getdents getcwd chdir fchdir rename mkdir rmdir creat link unlink
symlink readlink chmod fchmod chown fchown lchown umask gettimeofday getrlimit getrusage sysinfo
times ptrace getuid syslog getgid setuid setgid geteuid getegid setpgid getppid getpgrp setsid
setreuid setregid getgroups setgroups setresuid getresuid setresgid getresgid getpgid setfsuid
setfsgid getsid capget capset rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend
sigaltstack utime mknod uselib personality ustat statfs fstatfs sysfs getpriority setpriority
sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_get_priority_max
sched_get_priority_min sched_rr_get_interval mlock munlock mlockall munlockall vhangup
modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex setrlimit chroot sync acct settimeofday
mount umount2 swapon swapoff reboot sethostname setdomainname iopl ioperm create_module
init_module delete_module get_kernel_syms query_module quotactl nfsservctl getpmsg putpmsg
afs_syscall tuxcall security gettid readahead setxattr lsetxattr fsetxattr getxattr lgetxattr
fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr tkill time futex
sched_setaffinity sched_getaffinity set_thread_area io_setup io_destroy io_getevents io_submit
io_cancel get_thread_area lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old
remap_file_pages getdents64 set_tid_address restart_syscall semtimedop fadvise64 timer_create
timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime
clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes vserver mbind
set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify
mq_getsetattr kexec_load waitid add_key request_key keyctl ioprio_set ioprio_get inotify_init
inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat fchownat futimesat
newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat pselect6 ppoll
unshare set_robust_list get_robust_list splice tee sync_file_range vmsplice move_pages utimensat
epoll_pwait signalfd timerfd_create eventfd fallocate timerfd_settime timerfd_gettime accept4
signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo
perf_event_open recvmmsg fanotify_init fanotify_mark prlimit64 name_to_handle_at
open_by_handle_at clock_adjtime syncfs sendmmsg setns getcpu process_vm_readv process_vm_writev
kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create
kexec_file_load bpf execveat userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2
pkey_mprotect pkey_alloc pkey_free statx io_pgetevents rseq uretprobe 424:pidfd_send_signal
io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount
fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2
mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule landlock_restrict_self
memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2
map_shadow_stack futex_wake futex_wait futex_requeue statmount listmount lsm_get_self_attr
lsm_set_self_attr lsm_list_modules mseal setxattrat getxattrat listxattrat removexattrat
open_tree_attr
";

fn x86_64_table() -> HashMap<&'static str, i64> {
    let mut t = HashMap::new();
    let mut next = 0;
    for tok in X86_64.split_whitespace() {
        let name = match tok.split_once(':') {
            Some((n, name)) => {
                next = n.parse().unwrap();
                name
            }
            None => tok,
        };
        t.insert(name, next);
        next += 1;
    }
    t
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Reading {
    /// runc, crun, the OCI spec: `(arg & value) == valueTwo`
    Oci,
    /// libcontainer 0.7: `(arg & valueTwo) == value`
    Libcontainer,
}

fn action(name: &str, errno: Option<u64>) -> SeccompAction {
    match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno.unwrap_or(1) as u32),
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        other => panic!("action {other} not modelled"),
    }
}

/// One argument comparison. Like libseccomp, seccompiler masks the datum as well as the argument,
/// so a zero mask matches everything.
fn condition(arg: &Value, reading: Reading) -> SeccompCondition {
    let index = arg["index"].as_u64().unwrap() as u8;
    let v = arg["value"].as_u64().unwrap();
    let w = arg["valueTwo"].as_u64().unwrap_or(0);
    let (op, datum) = match arg["op"].as_str().unwrap() {
        "SCMP_CMP_EQ" => (SeccompCmpOp::Eq, v),
        "SCMP_CMP_NE" => (SeccompCmpOp::Ne, v),
        "SCMP_CMP_LT" => (SeccompCmpOp::Lt, v),
        "SCMP_CMP_LE" => (SeccompCmpOp::Le, v),
        "SCMP_CMP_GT" => (SeccompCmpOp::Gt, v),
        "SCMP_CMP_GE" => (SeccompCmpOp::Ge, v),
        "SCMP_CMP_MASKED_EQ" => {
            let (mask, datum) = match reading {
                Reading::Oci => (v, w),
                Reading::Libcontainer => (w, v),
            };
            (SeccompCmpOp::MaskedEq(mask), datum)
        }
        op => panic!("op {op}"),
    };
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, datum).unwrap()
}

/// Syscall number → its rules; `None` matches unconditionally.
type Chains = BTreeMap<i64, Option<Vec<SeccompRule>>>;

/// The rendering as stacked BPF programs, in installation order: first the allow rules with the
/// default action as mismatch, then one program per other action.
fn compile(seccomp: &Value, reading: Reading) -> (Vec<BpfProgram>, Vec<String>) {
    let table = x86_64_table();
    let default = action(
        seccomp["defaultAction"].as_str().unwrap(),
        seccomp["defaultErrnoRet"].as_u64(),
    );
    assert_ne!(
        default,
        SeccompAction::Allow,
        "an allowing default is not modelled"
    );
    // action → syscall → rules (an empty list matches unconditionally)
    let mut groups: Vec<(SeccompAction, Chains)> = vec![];
    let mut unknown = vec![];
    for r in seccomp["syscalls"].as_array().unwrap() {
        let act = action(r["action"].as_str().unwrap(), r["errnoRet"].as_u64());
        let args = r["args"].as_array().cloned().unwrap_or_default();
        let conds: Vec<SeccompCondition> = args.iter().map(|a| condition(a, reading)).collect();
        let g = match groups.iter().position(|(a, _)| *a == act) {
            Some(i) => &mut groups[i].1,
            None => {
                groups.push((act, BTreeMap::new()));
                &mut groups.last_mut().unwrap().1
            }
        };
        for name in r["names"].as_array().unwrap() {
            let name = name.as_str().unwrap();
            let Some(nr) = table.get(name) else {
                unknown.push(name.to_owned());
                continue;
            };
            let slot = g.entry(*nr).or_insert_with(|| Some(vec![]));
            match (conds.is_empty(), slot) {
                (true, slot) => *slot = None,
                (false, Some(rules)) => rules.push(SeccompRule::new(conds.clone()).unwrap()),
                (false, None) => {}
            }
        }
    }
    groups.sort_by_key(|(a, _)| *a != SeccompAction::Allow);
    let progs = groups
        .into_iter()
        .map(|(act, rules)| {
            let rules = rules
                .into_iter()
                .map(|(nr, r)| (nr, r.unwrap_or_default()))
                .collect();
            let (mismatch, matched) = if act == SeccompAction::Allow {
                (default.clone(), act)
            } else {
                (SeccompAction::Allow, act)
            };
            let f = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64).unwrap();
            let p = BpfProgram::try_from(f).unwrap();
            assert!(p.len() < 4096, "{} instructions", p.len());
            p
        })
        .collect();
    (progs, unknown)
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const RET_ALLOW: u32 = 0x7fff_0000;
const fn errno(n: u32) -> u32 {
    0x0005_0000 | n
}

/// `struct seccomp_data` for x86_64.
struct Data {
    nr: i64,
    args: [u64; 6],
}

impl Data {
    fn word(&self, off: u32) -> u32 {
        match off {
            0 => self.nr as u32,
            4 => AUDIT_ARCH_X86_64,
            8 | 12 => 0, // instruction pointer
            16..=60 if off % 4 == 0 => {
                let a = self.args[(off as usize - 16) / 8];
                if off % 8 == 4 {
                    (a >> 32) as u32
                } else {
                    a as u32
                }
            }
            _ => panic!("load from offset {off}"),
        }
    }
}

/// A classic-BPF interpreter for the instructions seccomp filters use.
fn run_bpf(prog: &[sock_filter], d: &Data) -> u32 {
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let i = &prog[pc];
        pc += 1;
        let jump = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
        match i.code {
            0x20 => acc = d.word(i.k),          // ld [k]
            0x54 => acc &= i.k,                 // and #k
            0x05 => pc += i.k as usize,         // ja
            0x15 => pc += jump(acc == i.k),     // jeq #k
            0x25 => pc += jump(acc > i.k),      // jgt #k
            0x35 => pc += jump(acc >= i.k),     // jge #k
            0x45 => pc += jump(acc & i.k != 0), // jset #k
            0x06 => return i.k,                 // ret #k
            c => panic!("bpf opcode {c:#x} not modelled"),
        }
    }
}

/// Stacked filters, as the kernel runs them: every program, most recently installed first; the
/// lowest action wins, the first one seen among equal actions.
fn verdict(progs: &[BpfProgram], nr: i64, args: [u64; 6]) -> u32 {
    let d = Data { nr, args };
    let action = |r: u32| (r & 0xffff_0000) as i32;
    let mut best: Option<u32> = None;
    for p in progs.iter().rev() {
        let r = run_bpf(p, &d);
        if best.is_none_or(|b| action(r) < action(b)) {
            best = Some(r);
        }
    }
    best.unwrap()
}

const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWNS: u64 = 0x0002_0000;
const SIGCHLD: u64 = 17;
/// what glibc's pthread_create passes (CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|
/// PARENT_SETTID|CHILD_CLEARTID)
const THREAD_FLAGS: u64 = 0x003d_0f00;

#[test]
fn rendered_default_compiles_and_filters() {
    let t = x86_64_table();
    let nr = |n: &str| *t.get(n).unwrap_or_else(|| panic!("{n} not in the table"));
    let lc = Reading::Libcontainer;
    let (progs, unknown) = compile(&rendered(DOCKER_CAPS), lc);
    assert_eq!(progs.len(), 2, "allow rules, and clone3's ENOSYS");
    // names without an x86_64 number: the 32-bit compat and other architectures' syscalls
    for n in ["chown32", "socketcall", "mmap2", "_llseek", "fcntl64"] {
        assert!(
            !t.contains_key(n) && (n == "socketcall" || unknown.iter().any(|u| u == n)),
            "{n}"
        );
    }
    let v = |name: &str, args: [u64; 6]| verdict(&progs, nr(name), args);
    let z = [0; 6];
    for name in [
        "read",
        "write",
        "openat",
        "exit_group",
        "futex",
        "execve",
        "chroot",
        "ptrace",
    ] {
        assert_eq!(v(name, z), RET_ALLOW, "{name}");
    }
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "kexec_load",
        "kexec_file_load",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "userfaultfd",
        "perf_event_open",
        "open_by_handle_at",
        "pivot_root",
        "init_module",
        "finit_module",
        "delete_module",
        "swapon",
        "reboot",
        "syslog",
        "acct",
        "settimeofday",
        "clock_settime",
        "iopl",
        "move_pages",
        "modify_ldt",
    ] {
        assert_eq!(v(name, z), errno(1), "{name}");
    }
    // clone: plain forks and threads pass, any namespace flag is refused
    assert_eq!(v("clone", [SIGCHLD, 0, 0, 0, 0, 0]), RET_ALLOW, "fork");
    assert_eq!(
        v("clone", [THREAD_FLAGS, 0, 0, 0, 0, 0]),
        RET_ALLOW,
        "thread"
    );
    for flag in [
        CLONE_NEWUSER,
        CLONE_NEWNS,
        0x0200_0000,
        0x0400_0000,
        0x0800_0000,
        0x2000_0000,
        0x4000_0000,
    ] {
        assert_eq!(
            v("clone", [flag | SIGCHLD, 0, 0, 0, 0, 0]),
            errno(1),
            "clone {flag:#x}"
        );
    }
    assert_eq!(v("clone3", z), errno(38), "clone3 → ENOSYS");
    // socket: AF_ALG and AF_VSOCK refused, the rest allowed
    for (family, want) in [
        (1, RET_ALLOW),
        (2, RET_ALLOW),
        (10, RET_ALLOW),
        (16, RET_ALLOW),
        (37, RET_ALLOW),
        (38, errno(1)),
        (39, RET_ALLOW),
        (40, errno(1)),
        (44, RET_ALLOW),
    ] {
        assert_eq!(
            v("socket", [family, 1, 0, 0, 0, 0]),
            want,
            "socket family {family}"
        );
    }
    assert_eq!(v("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("personality", [8, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        v("personality", [0x0004_0000, 0, 0, 0, 0, 0]),
        errno(1),
        "ADDR_NO_RANDOMIZE"
    );
    assert_eq!(
        v("personality", [0x0040_0000, 0, 0, 0, 0, 0]),
        errno(1),
        "READ_IMPLIES_EXEC"
    );

    // with CAP_SYS_ADMIN: mounts and namespaces, clone3; still no keyctl or io_uring
    let (progs, _) = compile(&rendered(&["CAP_SYS_ADMIN"]), lc);
    assert_eq!(progs.len(), 1);
    let v = |name: &str, args: [u64; 6]| verdict(&progs, nr(name), args);
    for name in ["mount", "unshare", "setns", "clone3", "bpf"] {
        assert_eq!(v(name, z), RET_ALLOW, "{name} with CAP_SYS_ADMIN");
    }
    assert_eq!(
        v("clone", [CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    for name in [
        "keyctl",
        "io_uring_setup",
        "pivot_root",
        "kexec_load",
        "chroot",
    ] {
        assert_eq!(v(name, z), errno(1), "{name} with CAP_SYS_ADMIN");
    }
    // CAP_SYS_TIME
    let (progs, _) = compile(&rendered(&["CAP_SYS_TIME"]), lc);
    assert_eq!(verdict(&progs, nr("settimeofday"), z), RET_ALLOW);
    assert_eq!(verdict(&progs, nr("clock_settime"), z), RET_ALLOW);
    assert_eq!(verdict(&progs, nr("mount"), z), errno(1));
}

/// Docker's `clone` rule means different things to runc and to libcontainer 0.7: libcontainer
/// takes `valueTwo` (absent: 0) as the mask, and `(flags & 0) == (0x7E020000 & 0)` holds for every
/// clone. [`libcontainer_compat`] (the rule's rewrite) swaps value and valueTwo.
#[test]
fn docker_clone_rule_under_both_readings() {
    let t = x86_64_table();
    let docker_like = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]}]});
    let fork = [SIGCHLD, 0, 0, 0, 0, 0];
    let userns = [CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0, 0];
    let (oci, _) = compile(&docker_like, Reading::Oci);
    assert_eq!(verdict(&oci, t["clone"], fork), RET_ALLOW);
    assert_eq!(
        verdict(&oci, t["clone"], userns),
        errno(1),
        "runc refuses namespaces"
    );
    let (lc, _) = compile(&docker_like, Reading::Libcontainer);
    assert_eq!(verdict(&lc, t["clone"], fork), RET_ALLOW);
    assert_eq!(
        verdict(&lc, t["clone"], userns),
        RET_ALLOW,
        "libcontainer lets namespaces through"
    );
    let mut fixed = docker_like.clone();
    assert_eq!(libcontainer_compat(&mut fixed), 1);
    let (lc, _) = compile(&fixed, Reading::Libcontainer);
    assert_eq!(verdict(&lc, t["clone"], fork), RET_ALLOW);
    assert_eq!(verdict(&lc, t["clone"], userns), errno(1));
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    //! The rendering loaded by libcontainer into one test thread (no TSYNC flag: the filter stays
    //! on that thread), then real syscalls.

    use super::*;
    use libcontainer::oci_spec::runtime::LinuxSeccomp;

    /// A syscall that is harmless whether or not seccomp lets it through (bad arguments, a
    /// missing path, a no-op), and how the filter should answer it.
    struct Probe {
        name: &'static str,
        nr: libc::c_long,
        args: [libc::c_long; 4],
        /// `None`: let through (the kernel's own answer); `Some(e)`: refused with errno e
        want: Option<i32>,
    }

    fn cstr(s: &'static std::ffi::CStr) -> libc::c_long {
        s.as_ptr() as libc::c_long
    }

    fn probes() -> Vec<Probe> {
        let nowhere = cstr(c"/nonexistent-hardrun-probe");
        let p = |name, nr, args, want| Probe {
            name,
            nr,
            args,
            want,
        };
        let eperm = Some(libc::EPERM);
        vec![
            p("read", libc::SYS_read, [-1, 0, 0, 0], None),
            p("write", libc::SYS_write, [-1, 0, 0, 0], None),
            p("openat", libc::SYS_openat, [-1, cstr(c""), 0, 0], None),
            p("getpid", libc::SYS_getpid, [0; 4], None),
            p(
                "socket(AF_UNIX)",
                libc::SYS_socket,
                [libc::AF_UNIX as _, libc::SOCK_STREAM as _, 0, 0],
                None,
            ),
            p(
                "clone(CLONE_THREAD)",
                libc::SYS_clone,
                [libc::CLONE_THREAD as _, 0, 0, 0],
                None,
            ),
            p("mount", libc::SYS_mount, [0, nowhere, 0, 0], eperm),
            p("umount2", libc::SYS_umount2, [nowhere, 0, 0, 0], eperm),
            p("unshare(0)", libc::SYS_unshare, [0; 4], eperm),
            p("setns", libc::SYS_setns, [-1, 0, 0, 0], eperm),
            p("keyctl", libc::SYS_keyctl, [9999, 0, 0, 0], eperm),
            p("add_key", libc::SYS_add_key, [0; 4], eperm),
            p("request_key", libc::SYS_request_key, [0; 4], eperm),
            p("bpf", libc::SYS_bpf, [9999, 0, 0, 0], eperm),
            p("kexec_load", libc::SYS_kexec_load, [0, 0, 0, 0xffff], eperm),
            p("io_uring_setup", libc::SYS_io_uring_setup, [0; 4], eperm),
            p(
                "userfaultfd",
                libc::SYS_userfaultfd,
                [0xffff, 0, 0, 0],
                eperm,
            ),
            p(
                "perf_event_open",
                libc::SYS_perf_event_open,
                [0, 0, -1, -1],
                eperm,
            ),
            p(
                "open_by_handle_at",
                libc::SYS_open_by_handle_at,
                [-1, 0, 0, 0],
                eperm,
            ),
            p(
                "pivot_root",
                libc::SYS_pivot_root,
                [nowhere, nowhere, 0, 0],
                eperm,
            ),
            p(
                "delete_module",
                libc::SYS_delete_module,
                [cstr(c"nonexistent_hardrun"), 0, 0, 0],
                eperm,
            ),
            p("swapon", libc::SYS_swapon, [nowhere, 0, 0, 0], eperm),
            p("reboot(bad magic)", libc::SYS_reboot, [0, 0, 0, 0], eperm),
            p("syslog", libc::SYS_syslog, [9999, 0, 0, 0], eperm),
            p(
                "clock_settime",
                libc::SYS_clock_settime,
                [9999, 0, 0, 0],
                eperm,
            ),
            p(
                "clone(CLONE_NEWUSER|CLONE_THREAD)",
                libc::SYS_clone,
                [(libc::CLONE_NEWUSER | libc::CLONE_THREAD) as _, 0, 0, 0],
                eperm,
            ),
            p("clone3", libc::SYS_clone3, [0; 4], Some(libc::ENOSYS)),
            p(
                "socket(AF_ALG)",
                libc::SYS_socket,
                [libc::AF_ALG as _, libc::SOCK_SEQPACKET as _, 0, 0],
                eperm,
            ),
            p(
                "socket(AF_VSOCK)",
                libc::SYS_socket,
                [libc::AF_VSOCK as _, libc::SOCK_STREAM as _, 0, 0],
                eperm,
            ),
        ]
    }

    /// The call's result: `Ok(())` or `Err(errno)`; a returned descriptor is closed.
    fn call(p: &Probe) -> Result<(), i32> {
        let [a, b, c, d] = p.args;
        // SAFETY: every probe passes integers, null pointers or pointers to static NUL-terminated
        // strings that the kernel only reads; none can create a process or thread (CLONE_THREAD
        // without CLONE_SIGHAND, and clone3 with a null, zero-sized argument, are rejected before
        // anything is copied), unmap memory or write to our memory.
        let r = unsafe { libc::syscall(p.nr, a, b, c, d, 0 as libc::c_long, 0 as libc::c_long) };
        if r < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap());
        }
        if p.nr == libc::SYS_socket {
            // SAFETY: r is the descriptor the socket call just returned; nothing else uses it.
            unsafe { libc::close(r as libc::c_int) };
        }
        Ok(())
    }

    /// (probe, wanted, answer without filter, answer under the filter)
    type Outcome = (&'static str, Option<i32>, Result<(), i32>, Result<(), i32>);

    /// Every probe, made before and after libcontainer loads `seccomp` into a fresh thread.
    /// `None` when the filter cannot be loaded here.
    fn under(seccomp: &Value) -> Option<Vec<Outcome>> {
        let typed: LinuxSeccomp = serde_json::from_value(seccomp.clone()).unwrap();
        std::thread::spawn(move || {
            let before: Vec<_> = probes().iter().map(call).collect();
            if let Err(e) = nix::sys::prctl::set_no_new_privs() {
                eprintln!("seccomp kernel test skipped: no_new_privs: {e}");
                return None;
            }
            if let Err(e) = libcontainer::seccomp::initialize_seccomp(&typed) {
                eprintln!(
                    "seccomp kernel test skipped: libcontainer could not load the filter: {e}"
                );
                return None;
            }
            let after: Vec<_> = probes().iter().map(call).collect();
            Some(
                probes()
                    .into_iter()
                    .zip(before.into_iter().zip(after))
                    .map(|(p, (b, a))| (p.name, p.want, b, a))
                    .collect(),
            )
        })
        .join()
        .unwrap()
    }

    #[test]
    fn kernel_enforces_the_rendered_default_through_libcontainer() {
        let Some(results) = under(&rendered(DOCKER_CAPS)) else {
            return;
        };
        let mut inconclusive = vec![];
        for (name, want, before, after) in &results {
            match want {
                None => assert_eq!(after, before, "{name} must be let through"),
                Some(e) if *before == Err(*e) => inconclusive.push(*name),
                Some(e) => assert_eq!(
                    *after,
                    Err(*e),
                    "{name} must be refused (unfiltered: {before:?})"
                ),
            }
        }
        eprintln!(
            "seccomp kernel probes: {} conclusive, inconclusive: {inconclusive:?}",
            results.len() - inconclusive.len()
        );
        for name in [
            "mount",
            "unshare(0)",
            "keyctl",
            "clone3",
            "clone(CLONE_NEWUSER|CLONE_THREAD)",
            "read",
            "clone(CLONE_THREAD)",
        ] {
            assert!(!inconclusive.contains(&name), "{name} must be conclusive");
        }
    }

    /// The reason for the rewrite: under libcontainer, Docker's clone rule lets a clone with
    /// CLONE_NEWUSER through.
    #[test]
    fn kernel_lets_namespaces_through_dockers_clone_rule_until_rewritten() {
        let mut docker = rendered(DOCKER_CAPS);
        let rules = docker["syscalls"].as_array_mut().unwrap();
        rules.retain(|r| r["names"] != json!(["clone"]));
        rules.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]}));
        let userns = |r: &[Outcome]| {
            let x = r
                .iter()
                .find(|x| x.0 == "clone(CLONE_NEWUSER|CLONE_THREAD)")
                .unwrap();
            (x.2, x.3)
        };
        let Some(results) = under(&docker) else {
            return;
        };
        let (before, after) = userns(&results);
        assert_eq!(before, Err(libc::EINVAL));
        assert_eq!(
            after,
            Err(libc::EINVAL),
            "let through: libcontainer 0.7 reads valueTwo as the mask"
        );
        assert_eq!(libcontainer_compat(&mut docker), 1);
        let Some(results) = under(&docker) else {
            return;
        };
        assert_eq!(
            userns(&results).1,
            Err(libc::EPERM),
            "refused once rewritten"
        );
    }
}

/// End to end: a container under `baseline` (seccomp enforced) gets the filter; a shell forks
/// and runs pipelines under it; unshare is refused; a caller's Docker-shaped profile is kept,
/// with its clone condition rewritten, and still lets the shell fork.
#[test]
fn containers_run_under_the_filter() {
    use common::*;
    const PROBE: &str = r#"
grep '^Seccomp:' /proc/self/status | tr -d '\t'
echo forked | cat
(true) & wait $! && echo background=ok
if unshare -U true 2>/dev/null; then echo unshare=ok; else echo unshare=denied; fi
if mount -t tmpfs none /tmp 2>/dev/null; then echo mount=ok; else echo mount=denied; fi
"#;
    let w = World::new("seccomp");
    let mut docker_shaped = rendered(&[]);
    for r in docker_shaped["syscalls"].as_array_mut().unwrap() {
        if r["names"] == json!(["clone"]) {
            r["args"] = json!([{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]);
        }
    }
    for (id, seccomp, finding) in [
        (
            "sc1",
            None,
            "linux.seccomp is missing: hardrun's default seccomp profile applied",
        ),
        (
            "sc2",
            Some(docker_shaped),
            "seccomp masked comparisons on clone would let every call through libcontainer",
        ),
    ] {
        let b = w.bundle_with(&format!("b-{id}"), &["sh", "-c", PROBE], |spec| {
            if let Some(sc) = seccomp {
                spec["linux"]["seccomp"] = sc;
            }
        });
        let out = w.hr(&[
            "--profile",
            "baseline",
            "run",
            "--bundle",
            b.to_str().unwrap(),
            id,
        ]);
        assert_eq!(out.status.code(), Some(0), "{id}: {}", stderr(&out));
        assert_eq!(
            stdout(&out),
            "Seccomp:2\nforked\nbackground=ok\nunshare=denied\nmount=denied\n",
            "{id}"
        );
        let audit = w.audit();
        let findings = audit.last().unwrap()["findings"]
            .as_array()
            .unwrap()
            .clone();
        let f = findings
            .iter()
            .find(|f| f["code"] == "seccomp")
            .expect("a seccomp finding");
        assert!(
            f["message"].as_str().unwrap().starts_with(finding),
            "{id}: {f}"
        );
        assert_eq!(f["action"], "enforce");
    }
}
