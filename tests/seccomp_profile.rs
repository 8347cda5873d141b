//! hardrun's default seccomp profile, compiled and run.
//!
//! How a filter is evaluated here. [`compile`] hands a `linux.seccomp` object to libseccomp the
//! way libcontainer 0.7's `initialize_seccomp` does (the same translation of actions and
//! operators, the same skipping of names libseccomp does not know and of rules equal to the
//! default action, the same split of a rule that compares one argument twice), but exports the
//! BPF program instead of loading it; [`run_bpf`] runs that program on a `struct seccomp_data`
//! as the kernel does. What is evaluated is therefore the filter itself, not a model of the OCI
//! semantics: libseccomp decides how overlapping rules, masks, 64-bit comparisons and foreign
//! ABIs become BPF. `the_kernel_holds_the_filter_evaluated_here` checks the link to reality: the
//! program the kernel holds for a real container (read back with PTRACE_SECCOMP_GET_FILTER) is,
//! instruction for instruction, the one [`compile`] builds from that container's hardened spec.
//!
//! 1. The rendering blocks what it should, with the errno it should (`rendered_default_…`,
//!    `syscalls_the_profile_does_not_name_…`).
//! 2. The property (`at_least_as_strict_as_docker_…`): whatever Docker's default profile blocks
//!    for a capability set, hardrun's filter blocks too, for every built-in profile.
//! 3. On x86_64, the rendering is loaded into a test thread by libcontainer's own seccomp code
//!    and real syscalls are made under it; a probe is compared with the same call made before
//!    the filter, so kernel answers that are EPERM anyway are reported as inconclusive.
//! 4. Real containers: the kernel's view from the host (`Seccomp: 2`, the filter program) and
//!    the errno a process in the container gets.
#![cfg(target_arch = "x86_64")]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Seek};
use std::str::FromStr;

use hardrun::policy::rules::seccomp::{libcontainer_compat, render_default, BUILTIN_JSON};
use libcontainer::oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde_json::{json, Value};

use hardrun::policy::rules::DOCKER_CAPS;

fn rendered(caps: &[&str]) -> Value {
    let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
    render_default("SCMP_ARCH_X86_64", &caps).unwrap()
}

/// x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl, common and 64-bit ABI, up to
/// linux 6.18): `N:name` sets the number, a bare name takes the next one.
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
open_tree_attr file_getattr file_setattr
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

// ---------------------------------------------------------------------------------------------
// compiling as libcontainer does, and running the program

/// One classic-BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// libcontainer 0.7's `translate_action`.
fn lc_action(action: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
    }
}

/// libcontainer 0.7's `translate_op`: a masked comparison takes `valueTwo` as the mask.
fn lc_op(op: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

/// The BPF program libcontainer 0.7 would load for `seccomp` (see the module documentation):
/// `initialize_seccomp` step by step, with `export_bpf` in place of `load`.
fn compile(seccomp: &Value) -> Vec<Insn> {
    let typed: LinuxSeccomp =
        serde_json::from_value(seccomp.clone()).expect("an OCI linux.seccomp object");
    let default = lc_action(typed.default_action(), typed.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).unwrap();
    // filter flags (log, tsync…) change how the kernel installs a program, not the program
    for arch in typed.architectures().iter().flatten() {
        let name = serde_json::to_value(arch).unwrap();
        ctx.add_arch(ScmpArch::from_str(name.as_str().unwrap()).unwrap())
            .unwrap();
    }
    ctx.set_ctl_nnp(false).unwrap();
    for rule in typed.syscalls().iter().flatten() {
        let action = lc_action(rule.action(), rule.errno_ret());
        if action == default {
            continue;
        }
        for name in rule.names() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                continue;
            };
            match rule.args() {
                Some(args) => {
                    let cmps: Vec<ScmpArgCompare> = args
                        .iter()
                        .map(|a| {
                            ScmpArgCompare::new(
                                a.index() as u32,
                                lc_op(a.op(), a.value_two()),
                                a.value(),
                            )
                        })
                        .collect();
                    let mut seen = HashSet::new();
                    if args.iter().all(|a| seen.insert(a.index())) {
                        ctx.add_rule_conditional(action, nr, &cmps).unwrap();
                    } else {
                        for c in &cmps {
                            ctx.add_rule_conditional(action, nr, std::slice::from_ref(c))
                                .unwrap();
                        }
                    }
                }
                None => {
                    ctx.add_rule(action, nr).unwrap();
                }
            }
        }
    }
    let mut f = tempfile::tempfile().unwrap();
    ctx.export_bpf(&f).unwrap();
    f.rewind().unwrap();
    let mut bytes = vec![];
    f.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes.len() % 8, 0);
    bytes
        .chunks_exact(8)
        .map(|c| Insn {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// An ABI a process on an x86_64 kernel can call the kernel through.
#[derive(Clone, Copy, Debug)]
struct Abi {
    name: &'static str,
    audit_arch: u32,
    scmp: ScmpArch,
    /// added to the syscall number (`__X32_SYSCALL_BIT`)
    bit: u32,
}

const X86_64_ABI: Abi = Abi {
    name: "x86_64",
    audit_arch: 0xC000_003E,
    scmp: ScmpArch::X8664,
    bit: 0,
};
const ABIS: [Abi; 3] = [
    X86_64_ABI,
    Abi {
        name: "x32",
        audit_arch: 0xC000_003E,
        scmp: ScmpArch::X32,
        bit: 0x4000_0000,
    },
    Abi {
        name: "i386",
        audit_arch: 0x4000_0003,
        scmp: ScmpArch::X86,
        bit: 0,
    },
];

/// `struct seccomp_data` (little-endian).
struct Data {
    nr: u32,
    arch: u32,
    args: [u64; 6],
}

impl Data {
    fn word(&self, off: u32) -> u32 {
        match off {
            0 => self.nr,
            4 => self.arch,
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

/// A classic-BPF interpreter for the instructions libseccomp emits.
fn run_bpf(prog: &[Insn], d: &Data) -> u32 {
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

fn verdict(prog: &[Insn], abi: Abi, nr: u32, args: [u64; 6]) -> u32 {
    let d = Data {
        nr: nr | abi.bit,
        arch: abi.audit_arch,
        args,
    };
    run_bpf(prog, &d)
}

const RET_ALLOW: u32 = 0x7fff_0000;
const fn errno(n: u32) -> u32 {
    0x0005_0000 | n
}
const EPERM: u32 = errno(1);
const ENOSYS: u32 = errno(38);

/// The call does not reach the kernel: an errno, a trap or a kill.
fn blocked(ret: u32) -> bool {
    matches!(
        ret & 0xffff_0000,
        0x0005_0000 | 0x0003_0000 | 0 | 0x8000_0000
    )
}

/// A syscall's name on an ABI, as libseccomp knows it.
fn syscall_name(abi: Abi, nr: u32) -> Option<String> {
    ScmpSyscall::from(nr as i32).get_name_by_arch(abi.scmp).ok()
}

// ---------------------------------------------------------------------------------------------
// Docker's default profile, rendered as dockerd renders it

/// moby's `profiles/seccomp/default.json` (tests/fixtures/seccomp, see its SOURCE). The property below is
/// meaningless without it, so its absence fails the tests that need it.
fn docker_template() -> &'static Value {
    static T: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let path = std::env::var_os("HARDRUN_DOCKER_SECCOMP")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/seccomp/moby-default-seccomp.json")
            });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (Docker's default seccomp profile; set HARDRUN_DOCKER_SECCOMP)",
                path.display()
            )
        });
        serde_json::from_str(&text).unwrap()
    })
}

fn kernel_at_least(kernel: (u32, u32), min: &Value) -> bool {
    let min = min.as_str().unwrap();
    let mut parts = min.split('.').map(|p| p.parse::<u32>().unwrap());
    let want = (parts.next().unwrap(), parts.next().unwrap_or(0));
    kernel >= want
}

/// The running kernel's (major, minor).
fn host_kernel() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>());
    (
        parts.next().unwrap().unwrap(),
        parts.next().unwrap().unwrap(),
    )
}

/// Docker's template for an amd64 container with bounding set `caps` on a kernel of version
/// `kernel`, as moby's `setupSeccomp` renders it (an entry applies when the architecture is
/// among `includes.arches`, every `includes.caps` is held and the kernel is at least
/// `includes.minKernel`, and no `excludes` matches); masked comparisons in the OCI dialect, as
/// runc reads them.
fn docker(caps: &[String], kernel: (u32, u32)) -> Value {
    let t = docker_template();
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let mut syscalls = vec![];
    for r in t["syscalls"].as_array().unwrap() {
        let (inc, exc) = (&r["includes"], &r["excludes"]);
        if strs(&exc["arches"]).iter().any(|a| a == "amd64") {
            continue;
        }
        let arches = strs(&inc["arches"]);
        if !arches.is_empty() && !arches.iter().any(|a| a == "amd64") {
            continue;
        }
        if strs(&exc["caps"]).iter().any(|c| caps.contains(c)) {
            continue;
        }
        if exc
            .get("minKernel")
            .is_some_and(|m| kernel_at_least(kernel, m))
        {
            continue;
        }
        if !strs(&inc["caps"]).iter().all(|c| caps.contains(c)) {
            continue;
        }
        if inc
            .get("minKernel")
            .is_some_and(|m| !kernel_at_least(kernel, m))
        {
            continue;
        }
        let mut r = r.clone();
        let o = r.as_object_mut().unwrap();
        for k in ["includes", "excludes", "comment"] {
            o.remove(k);
        }
        syscalls.push(r);
    }
    json!({"defaultAction": t["defaultAction"], "defaultErrnoRet": t["defaultErrnoRet"],
           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
           "syscalls": syscalls})
}

/// Docker's rendering as runc runs it: compiled with its masks swapped into libcontainer's
/// dialect, which gives libcontainer runc's reading.
fn compile_docker(docker: &Value) -> Vec<Insn> {
    let mut d = docker.clone();
    libcontainer_compat(&mut d);
    compile(&d)
}

// ---------------------------------------------------------------------------------------------
// the points every filter is evaluated at

/// One call: (ABI, number, arguments).
type Point = (Abi, u32, [u64; 6]);

const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWNS: u64 = 0x0002_0000;
const SIGCHLD: u64 = 17;
/// what glibc's pthread_create passes (CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|
/// PARENT_SETTID|CHILD_CLEARTID)
const THREAD_FLAGS: u64 = 0x003d_0f00;

/// Every syscall number 0..1024 of each ABI with zero arguments, and, for every syscall that
/// either template conditions on its arguments, each conditioned argument set to values around
/// every constant of those conditions (the constant, its neighbours, each of its bits alone, the
/// same with high 32 bits set: `int` arguments are truncated by the kernel, not by the filter)
/// and to a fixed list (0..=70, each single bit, namespace and thread flags).
fn points() -> &'static [Point] {
    static P: std::sync::OnceLock<Vec<Point>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let ours: Value = serde_json::from_str(BUILTIN_JSON).unwrap();
        // name → argument index → values
        let mut conds: BTreeMap<String, BTreeMap<u64, BTreeSet<u64>>> = BTreeMap::new();
        for t in [&ours, docker_template()] {
            for r in t["syscalls"].as_array().unwrap() {
                for a in r["args"].as_array().into_iter().flatten() {
                    let index = a["index"].as_u64().unwrap();
                    let mut consts = vec![a["value"].as_u64().unwrap()];
                    consts.extend(a["valueTwo"].as_u64());
                    for n in r["names"].as_array().unwrap() {
                        let vals = conds
                            .entry(n.as_str().unwrap().to_owned())
                            .or_default()
                            .entry(index)
                            .or_default();
                        for &c in &consts {
                            let mut around = vec![c, c.wrapping_sub(1), c.wrapping_add(1)];
                            around.extend((0..64).map(|b| c & (1u64 << b)).filter(|b| *b != 0));
                            for v in around {
                                vals.insert(v);
                                vals.insert(v | (1 << 32));
                            }
                        }
                    }
                }
            }
        }
        let mut fixed: Vec<u64> = (0..=70).collect();
        fixed.extend((0..64).map(|b| 1u64 << b));
        fixed.extend([
            u32::MAX as u64,
            u64::MAX,
            SIGCHLD,
            THREAD_FLAGS,
            CLONE_NEWUSER | SIGCHLD,
            CLONE_NEWNS | THREAD_FLAGS,
            0x7E02_0000 | SIGCHLD,
        ]);
        let mut out = vec![];
        for abi in ABIS {
            out.extend((0..1024).map(|nr| (abi, nr, [0; 6])));
            for (name, by_index) in &conds {
                let Ok(nr) = ScmpSyscall::from_name_by_arch(name, abi.scmp) else {
                    continue;
                };
                let nr = nr.as_raw_syscall();
                if nr < 0 {
                    continue; // not on this ABI
                }
                for (index, vals) in by_index {
                    for v in vals.iter().chain(&fixed) {
                        let mut args = [0; 6];
                        args[*index as usize] = *v;
                        out.push((abi, nr as u32 & !abi.bit, args));
                    }
                }
            }
        }
        out
    })
}

fn label(p: &Point) -> String {
    let (abi, nr, args) = p;
    let name = syscall_name(*abi, nr | abi.bit).unwrap_or_else(|| format!("#{nr}"));
    if *args == [0; 6] {
        format!("{} {name}", abi.name)
    } else {
        let shown: Vec<String> = args.iter().map(|a| format!("{a:#x}")).collect();
        format!("{} {name}({})", abi.name, shown.join(", "))
    }
}

/// A program's verdict at every point of [`points`].
fn verdicts(prog: &[Insn]) -> Vec<u32> {
    points()
        .iter()
        .map(|(abi, nr, args)| verdict(prog, *abi, *nr, *args))
        .collect()
}

/// (how many points Docker blocks, the points among them that ours lets through)
fn weaker_than(ours: &[u32], docker: &[u32]) -> (usize, Vec<String>) {
    let mut blocked_by_docker = 0;
    let mut through = vec![];
    for (i, (o, d)) in ours.iter().zip(docker).enumerate() {
        if blocked(*d) {
            blocked_by_docker += 1;
            if !blocked(*o) {
                through.push(label(&points()[i]));
            }
        }
    }
    (blocked_by_docker, through)
}

// ---------------------------------------------------------------------------------------------
// the rendering, evaluated

#[test]
fn rendered_default_compiles_and_filters() {
    let t = x86_64_table();
    let nr = |n: &str| *t.get(n).unwrap_or_else(|| panic!("{n} not in the table")) as u32;
    let prog = compile(&rendered(DOCKER_CAPS));
    assert!(prog.len() < 4096, "{} instructions", prog.len());
    eprintln!(
        "rendering for Docker's capabilities: {} BPF instructions",
        prog.len()
    );
    let v = |name: &str, args: [u64; 6]| verdict(&prog, X86_64_ABI, nr(name), args);
    let z = [0; 6];
    for name in [
        "read",
        "write",
        "openat",
        "exit_group",
        "futex",
        "execve",
        "chroot",
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
        // CAP_SYS_PTRACE is not among Docker's 14
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "kcmp",
        "pidfd_getfd",
    ] {
        assert_eq!(v(name, z), EPERM, "{name}");
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
            EPERM,
            "clone {flag:#x}"
        );
    }
    assert_eq!(v("clone3", z), ENOSYS, "clone3 → ENOSYS");
    // socket: AF_ALG and AF_VSOCK refused, also with high bits the kernel's `int` drops
    for (family, want) in [
        (1, RET_ALLOW),
        (2, RET_ALLOW),
        (10, RET_ALLOW),
        (16, RET_ALLOW),
        (37, RET_ALLOW),
        (38, EPERM),
        (39, RET_ALLOW),
        (40, EPERM),
        (41, RET_ALLOW),
        (44, RET_ALLOW),
        (45, RET_ALLOW),
        (63, RET_ALLOW),
        (64, EPERM),
        (0x1_0000_0026, EPERM),
        (0x1_0000_0028, EPERM),
        (0x1_0000_0002, EPERM),
        (u64::MAX, EPERM),
    ] {
        assert_eq!(
            v("socket", [family, 1, 0, 0, 0, 0]),
            want,
            "socket family {family:#x}"
        );
    }
    assert_eq!(v("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("personality", [8, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        v("personality", [0x0004_0000, 0, 0, 0, 0, 0]),
        EPERM,
        "ADDR_NO_RANDOMIZE"
    );
    assert_eq!(
        v("personality", [0x0040_0000, 0, 0, 0, 0, 0]),
        EPERM,
        "READ_IMPLIES_EXEC"
    );
    // native only: the 32-bit ABIs are killed at their first syscall
    for abi in &ABIS[1..] {
        assert_eq!(verdict(&prog, *abi, 0, z) & 0xffff_0000, 0, "{}", abi.name);
    }

    // with CAP_SYS_ADMIN: mounts and namespaces, clone3; still no keyctl or io_uring
    let prog = compile(&rendered(&["CAP_SYS_ADMIN"]));
    let v = |name: &str, args: [u64; 6]| verdict(&prog, X86_64_ABI, nr(name), args);
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
        "ptrace",
    ] {
        assert_eq!(v(name, z), EPERM, "{name} with CAP_SYS_ADMIN");
    }
    // CAP_SYS_TIME, CAP_SYS_PTRACE
    let prog = compile(&rendered(&["CAP_SYS_TIME"]));
    assert_eq!(verdict(&prog, X86_64_ABI, nr("settimeofday"), z), RET_ALLOW);
    assert_eq!(
        verdict(&prog, X86_64_ABI, nr("clock_settime"), z),
        RET_ALLOW
    );
    assert_eq!(verdict(&prog, X86_64_ABI, nr("mount"), z), EPERM);
    let prog = compile(&rendered(&["CAP_SYS_PTRACE"]));
    for name in ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp"] {
        assert_eq!(verdict(&prog, X86_64_ABI, nr(name), z), RET_ALLOW, "{name}");
    }
}

/// Docker's `clone` rule means different things to runc and to libcontainer 0.7: libcontainer
/// takes `valueTwo` (absent: 0) as the mask, and `(flags & 0) == (0x7E020000 & 0)` holds for every
/// clone. [`libcontainer_compat`] (the rule's rewrite) swaps value and valueTwo.
#[test]
fn docker_clone_rule_under_both_readings() {
    let t = x86_64_table();
    let clone = t["clone"] as u32;
    let docker_like = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]}]});
    let fork = [SIGCHLD, 0, 0, 0, 0, 0];
    let userns = [CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0, 0];
    // as runc reads it
    let runc = compile_docker(&docker_like);
    assert_eq!(verdict(&runc, X86_64_ABI, clone, fork), RET_ALLOW);
    assert_eq!(
        verdict(&runc, X86_64_ABI, clone, userns),
        EPERM,
        "runc refuses namespaces"
    );
    // as libcontainer reads it unchanged
    let lc = compile(&docker_like);
    assert_eq!(verdict(&lc, X86_64_ABI, clone, fork), RET_ALLOW);
    assert_eq!(
        verdict(&lc, X86_64_ABI, clone, userns),
        RET_ALLOW,
        "libcontainer lets namespaces through"
    );
    let mut fixed = docker_like.clone();
    assert_eq!(libcontainer_compat(&mut fixed), 1);
    let lc = compile(&fixed);
    assert_eq!(verdict(&lc, X86_64_ABI, clone, fork), RET_ALLOW);
    assert_eq!(verdict(&lc, X86_64_ABI, clone, userns), EPERM);
}

// ---------------------------------------------------------------------------------------------
// the property: at least as strict as Docker

const ALL_CAPS: &str = "CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID
CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE
CAP_NET_BROADCAST CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_IPC_OWNER CAP_SYS_MODULE
CAP_SYS_RAWIO CAP_SYS_CHROOT CAP_SYS_PTRACE CAP_SYS_PACCT CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE
CAP_SYS_RESOURCE CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE CAP_AUDIT_WRITE
CAP_AUDIT_CONTROL CAP_SETFCAP CAP_MAC_OVERRIDE CAP_MAC_ADMIN CAP_SYSLOG CAP_WAKE_ALARM
CAP_BLOCK_SUSPEND CAP_AUDIT_READ CAP_PERFMON CAP_BPF CAP_CHECKPOINT_RESTORE";

/// The capability sets the property is checked for: none, Docker's 14, all, and each capability
/// that Docker's profile conditions on, alone and added to Docker's 14.
fn capability_sets() -> Vec<(String, Vec<String>)> {
    let docker14: Vec<String> = DOCKER_CAPS.iter().map(|c| c.to_string()).collect();
    let mut unlocking = BTreeSet::new();
    for r in docker_template()["syscalls"].as_array().unwrap() {
        for k in ["includes", "excludes"] {
            for c in r[k]["caps"].as_array().into_iter().flatten() {
                unlocking.insert(c.as_str().unwrap().to_owned());
            }
        }
    }
    assert!(unlocking.len() >= 12, "{unlocking:?}");
    let mut sets = vec![
        ("none".to_owned(), vec![]),
        ("docker's 14".to_owned(), docker14.clone()),
        (
            "all".to_owned(),
            ALL_CAPS.split_whitespace().map(str::to_owned).collect(),
        ),
    ];
    for c in unlocking {
        sets.push((c.clone(), vec![c.clone()]));
        let mut plus = docker14.clone();
        if !plus.contains(&c) {
            plus.push(c.clone());
        }
        sets.push((format!("docker's 14 + {c}"), plus));
    }
    sets
}

/// `profile` hardening a runc-shaped spec whose process holds `caps` (no seccomp of its own), by
/// the engine with every rule but the gate: (the bounding set it leaves, the filter the seccomp
/// rule applies — for an `audit` profile, the one it would have applied).
fn hardened(profile: &str, caps: &[String]) -> (Vec<String>, Value) {
    use hardrun::policy::{code, evaluate, host::RealHost, rules::Granted, Action, Run};
    let catalog = hardrun::profile::Catalog::builtin();
    let p = catalog.get(profile).unwrap();
    let mut spec = common::default_spec();
    spec["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    let others = code::ungated();
    let run = Run {
        profile: p,
        mode: hardrun::profile::config::Mode::Enforce,
        id: "property",
        annotations: &BTreeMap::new(),
        granted: &Granted::default(),
        host: &RealHost,
        only: Some(&others),
        // as create: a profile that enforces userns has a host id range leased for the container
        userns: Some(p.userns.range(0)),
        sources: hardrun::bundle::Sources::none(),
        tripwires: None,
    };
    let out =
        evaluate(&spec, &run, vec![]).unwrap_or_else(|e| panic!("{profile} refused the spec: {e}"));
    let f = out
        .findings
        .iter()
        .find(|f| f.code == "seccomp" && f.pointer == "/linux/seccomp")
        .unwrap_or_else(|| panic!("{profile}: no seccomp finding"));
    if f.action == Action::Enforce {
        assert_eq!(out.value["linux"]["seccomp"], f.after, "{profile}");
    } else {
        assert_eq!(profile, "permissive");
        assert_eq!(f.action, Action::Audit);
    }
    let bounding = out.value["process"]["capabilities"]["bounding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (bounding, f.after.clone())
}

const PROFILES: [&str; 4] = ["restricted", "baseline", "ci-runner", "permissive"];

/// Compiles and evaluates each distinct filter once.
#[derive(Default)]
struct Verdicts(HashMap<String, std::rc::Rc<Vec<u32>>>);

impl Verdicts {
    fn of(&mut self, seccomp: &Value, docker_dialect: bool) -> std::rc::Rc<Vec<u32>> {
        let key = format!("{docker_dialect}{seccomp}");
        self.0
            .entry(key)
            .or_insert_with(|| {
                let prog = if docker_dialect {
                    compile_docker(seccomp)
                } else {
                    compile(seccomp)
                };
                std::rc::Rc::new(verdicts(&prog))
            })
            .clone()
    }
}

/// The property: for each built-in profile and each of [`capability_sets`], every call (syscall
/// number of the x86_64, x32 and i386 ABIs, with the argument values of [`points`]) that
/// Docker's default profile blocks is blocked by the filter hardrun gives that container.
///
/// Both sides are real filters: hardrun's rendering as the engine leaves it, Docker's template
/// as dockerd renders it, each compiled by libseccomp the way its runtime would and run as BPF
/// (module documentation). Docker is rendered for the bounding set the container ends up with
/// after the profile's capabilities rule (fewer capabilities: a stricter Docker) and for the one
/// the caller asked for, and for two kernels: this one, and one older than 4.8. On kernels from
/// 4.8 on Docker allows `ptrace` and `process_vm_readv/writev` to everyone; below, only with
/// CAP_SYS_PTRACE. hardrun renders one filter whatever the kernel, and holds itself to the
/// stricter of the two: seccomp stopped being bypassable through ptrace in 4.8, but a process
/// that may ptrace its neighbours in the container reads and writes their memory (an `exec`'d
/// process's secrets included) — the risk Docker's condition still describes.
///
/// It cannot pass vacuously: the number of (profile, capability set, kernel, bounding set)
/// comparisons is asserted, every comparison must find at least 1000 calls that Docker blocks,
/// and `the_property_catches_weakened_filters` runs the same check on filters weakened on
/// purpose and requires it to fail, naming the call.
#[test]
fn at_least_as_strict_as_docker_for_every_builtin_profile_and_capability_set() {
    let sets = capability_sets();
    let kernels = [(3, 10), host_kernel()];
    assert!(
        host_kernel() >= (4, 8),
        "this host's kernel is the newer one"
    );
    let mut cache = Verdicts::default();
    let (mut comparisons, mut blocked_total) = (0, 0);
    let mut failures = vec![];
    for profile in PROFILES {
        for (set, caps) in &sets {
            let (bounding, ours) = hardened(profile, caps);
            let mine = cache.of(&ours, false);
            for kernel in kernels {
                for docker_caps in [&bounding, caps] {
                    let theirs = cache.of(&docker(docker_caps, kernel), true);
                    let (blocked_by_docker, through) = weaker_than(&mine, &theirs);
                    assert!(
                        blocked_by_docker >= 1000,
                        "{profile}, {set}: Docker blocks only {blocked_by_docker} calls"
                    );
                    blocked_total += blocked_by_docker;
                    comparisons += 1;
                    for t in through.iter().take(5) {
                        failures.push(format!(
                            "{profile}, caps {set}, kernel {}.{}: {t}",
                            kernel.0, kernel.1
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(comparisons, PROFILES.len() * sets.len() * kernels.len() * 2);
    eprintln!(
        "seccomp property: {comparisons} comparisons over {} calls each, {blocked_total} \
         calls blocked by Docker, all blocked by hardrun; {} distinct filters compiled",
        points().len(),
        cache.0.len()
    );
    assert!(
        failures.is_empty(),
        "hardrun lets through what Docker blocks ({}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The property's check, on filters weakened on purpose: each must fail it, at the call the
/// weakening opened.
#[test]
fn the_property_catches_weakened_filters() {
    let caps: Vec<String> = DOCKER_CAPS.iter().map(|c| c.to_string()).collect();
    let (_, ours) = hardened("baseline", &caps);
    let mut cache = Verdicts::default();
    let old = cache.of(&docker(&caps, (3, 10)), true);
    let (_, through) = weaker_than(&cache.of(&ours, false), &old);
    assert!(through.is_empty(), "{through:?}");
    let drop_rules = |s: &mut Value, name: &str| {
        s["syscalls"]
            .as_array_mut()
            .unwrap()
            .retain(|r| !r["names"].as_array().unwrap().iter().any(|n| n == name));
        for r in s["syscalls"].as_array_mut().unwrap() {
            r["names"].as_array_mut().unwrap().retain(|n| n != name);
        }
    };
    let allow = |name: &str| json!({"names": [name], "action": "SCMP_ACT_ALLOW"});
    type Weaken = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Weaken, &str)> = vec![
        (
            "keyctl allowed",
            Box::new(move |s: &mut Value| {
                drop_rules(s, "keyctl");
                s["syscalls"].as_array_mut().unwrap().push(allow("keyctl"));
            }),
            "x86_64 keyctl",
        ),
        (
            "ptrace allowed (Docker on kernels before 4.8 refuses it)",
            Box::new(move |s: &mut Value| {
                drop_rules(s, "ptrace");
                s["syscalls"].as_array_mut().unwrap().push(allow("ptrace"));
            }),
            "x86_64 ptrace",
        ),
        (
            "clone without its condition",
            Box::new(move |s: &mut Value| {
                drop_rules(s, "clone");
                s["syscalls"].as_array_mut().unwrap().push(allow("clone"));
            }),
            "x86_64 clone(0x2000000,",
        ),
        (
            "socket without its conditions",
            Box::new(move |s: &mut Value| {
                drop_rules(s, "socket");
                s["syscalls"].as_array_mut().unwrap().push(allow("socket"));
            }),
            "x86_64 socket(0x26,",
        ),
        (
            "the i386 ABI admitted with everything allowed",
            Box::new(|s: &mut Value| {
                s["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
                s["defaultAction"] = json!("SCMP_ACT_ALLOW");
                s["syscalls"] = json!([]);
            }),
            "i386 ",
        ),
    ];
    for (case, weaken, want) in cases {
        let mut weak = ours.clone();
        weaken(&mut weak);
        let (_, through) = weaker_than(&cache.of(&weak, false), &old);
        assert!(
            through.iter().any(|t| t.starts_with(want)),
            "{case}: the property must fail at {want:?}; it found {:?}",
            &through[..through.len().min(10)]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// ENOSYS for what the profile does not know

/// Names the template names, and those it answers with ENOSYS on purpose.
fn template_names() -> (BTreeSet<String>, BTreeSet<String>) {
    let t: Value = serde_json::from_str(BUILTIN_JSON).unwrap();
    let (mut named, mut enosys) = (BTreeSet::new(), BTreeSet::new());
    for r in t["syscalls"].as_array().unwrap() {
        for n in r["names"].as_array().unwrap() {
            let n = n.as_str().unwrap().to_owned();
            if r["action"] == "SCMP_ACT_ERRNO" && r["errnoRet"] == 38 {
                enosys.insert(n.clone());
            }
            named.insert(n);
        }
    }
    (named, enosys)
}

/// runc's behaviour, in the filter itself: a syscall the profile does not name (a number no
/// kernel has, a syscall newer than the profile, one libseccomp cannot name) gets ENOSYS, so that
/// libc falls back to an older call; every syscall the profile names and does not allow gets
/// EPERM (or the errno the profile gives it), whatever its arguments.
#[test]
fn syscalls_the_profile_does_not_name_get_enosys_the_rest_keep_their_errno() {
    let (named, enosys_on_purpose) = template_names();
    let t = x86_64_table();
    // the profile has decided on every x86_64 syscall of the kernel it was reviewed against
    let undecided: Vec<&&str> = t.keys().filter(|n| !named.contains(**n)).collect();
    assert!(
        undecided.is_empty(),
        "not named by the profile: {undecided:?}"
    );
    let kernel_names: HashMap<u32, &str> = t.iter().map(|(n, nr)| (*nr as u32, *n)).collect();
    for caps in [
        &[][..],
        DOCKER_CAPS,
        &["CAP_SYS_ADMIN"],
        &["CAP_SYS_PTRACE"],
    ] {
        let r = rendered(caps);
        assert_eq!(r["defaultErrnoRet"], 38, "{caps:?}");
        let prog = compile(&r);
        let (mut unknown, mut known_refused) = (0, 0);
        for (i, (abi, nr, args)) in points().iter().enumerate() {
            if abi.name != "x86_64" {
                continue;
            }
            let v = verdict(&prog, *abi, *nr, *args);
            let what = label(&points()[i]);
            match syscall_name(*abi, *nr) {
                // libseccomp cannot name it: no rule can be written for it
                None => {
                    assert_eq!(v, ENOSYS, "{caps:?}: {what} ({:?})", kernel_names.get(nr));
                    unknown += 1;
                }
                Some(n) if !named.contains(&n) => {
                    panic!(
                        "{n}: libseccomp knows it, profiles/seccomp-default.json does not name it"
                    )
                }
                Some(n) if enosys_on_purpose.contains(&n) && v == ENOSYS => {}
                Some(_) => {
                    assert!(
                        v == RET_ALLOW || v == EPERM,
                        "{caps:?}: {what}: {v:#x}, want ALLOW or EPERM"
                    );
                    known_refused += usize::from(v == EPERM);
                }
            }
        }
        assert!(unknown >= 1024 - 470, "{caps:?}: {unknown}");
        assert!(known_refused >= 60, "{caps:?}: {known_refused}");
    }
    // the kernel has these; libseccomp 2.5 cannot name them: ENOSYS, not EPERM
    let prog = compile(&rendered(DOCKER_CAPS));
    for name in [
        "listmount",
        "statmount",
        "mseal",
        "file_getattr",
        "uretprobe",
    ] {
        if ScmpSyscall::from_name(name).is_err() {
            assert_eq!(
                verdict(&prog, X86_64_ABI, t[name] as u32, [0; 6]),
                ENOSYS,
                "{name}"
            );
        }
    }
    assert_eq!(verdict(&prog, X86_64_ABI, 1000, [0; 6]), ENOSYS);
    assert_eq!(
        verdict(&prog, X86_64_ABI, t["keyctl"] as u32, [0; 6]),
        EPERM
    );
}

mod kernel {
    //! The rendering loaded by libcontainer into one test thread (no TSYNC flag: the filter stays
    //! on that thread), then real syscalls.

    use super::*;

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
            // the kernel's socket() takes an int: high bits are dropped after the filter
            p(
                "socket(AF_VSOCK | 1 << 32)",
                libc::SYS_socket,
                [
                    (1 << 32) | libc::AF_VSOCK as libc::c_long,
                    libc::SOCK_STREAM as _,
                    0,
                    0,
                ],
                eperm,
            ),
            // PTRACE_PEEKDATA of no process; CAP_SYS_PTRACE is not among Docker's 14
            p(
                "ptrace",
                libc::SYS_ptrace,
                [libc::PTRACE_PEEKDATA as _, -1, 0, 0],
                eperm,
            ),
            p(
                "process_vm_readv",
                libc::SYS_process_vm_readv,
                [-1, 0, 0, 0],
                eperm,
            ),
            // ENOSYS: no syscall has this number; file_getattr (linux 6.17) is newer than the
            // profile (and than libseccomp 2.5)
            p("syscall 1000", 1000, [0; 4], Some(libc::ENOSYS)),
            p("file_getattr", 468, [-1, 0, 0, 0], Some(libc::ENOSYS)),
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

    /// Why this kernel cannot run a seccomp filter at all (no `Seccomp:` line in
    /// /proc/self/status: built without CONFIG_SECCOMP_FILTER), or `None` when it can.
    fn no_seccomp_here() -> Option<String> {
        let status = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_else(|e| panic!("/proc/self/status: {e}"));
        (!status.lines().any(|l| l.starts_with("Seccomp_filters:"))).then(|| {
            "the kernel has no seccomp filters (no Seccomp_filters in /proc/self/status)".into()
        })
    }

    /// Every probe, made before and after libcontainer loads `seccomp` into a fresh thread.
    /// `None` (with the reason printed) only when the kernel has no seccomp filters; a filter
    /// that cannot be loaded on a kernel that has them fails the test, naming the error.
    fn under(seccomp: &Value) -> Option<Vec<Outcome>> {
        if let Some(why) = no_seccomp_here() {
            eprintln!("SKIPPED seccomp kernel test: {why}");
            return None;
        }
        let typed: LinuxSeccomp = serde_json::from_value(seccomp.clone()).unwrap();
        let loaded = std::thread::spawn(move || {
            let before: Vec<_> = probes().iter().map(call).collect();
            nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
            libcontainer::seccomp::initialize_seccomp(&typed)
                .map_err(|e| format!("libcontainer could not load the filter: {e}"))?;
            let after: Vec<_> = probes().iter().map(call).collect();
            Ok::<_, String>(
                probes()
                    .into_iter()
                    .zip(before.into_iter().zip(after))
                    .map(|(p, (b, a))| (p.name, p.want, b, a))
                    .collect(),
            )
        })
        .join()
        .unwrap();
        Some(loaded.unwrap_or_else(|e| panic!("seccomp kernel test: {e}")))
    }

    /// A filter libcontainer refuses fails the test instead of passing it unexamined. (On a
    /// kernel without seccomp filters `under` skips, and this test fails: nothing there can
    /// show that a load failure is reported.)
    #[test]
    #[should_panic(expected = "libcontainer could not load the filter")]
    fn a_filter_that_cannot_be_loaded_fails_loudly() {
        let mut seccomp = rendered(DOCKER_CAPS);
        // libcontainer refuses a notify default action before it loads anything
        seccomp["defaultAction"] = json!("SCMP_ACT_NOTIFY");
        under(&seccomp);
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
                Some(e) => {
                    assert_eq!(
                        *after,
                        Err(*e),
                        "{name} must be refused (unfiltered: {before:?})"
                    );
                    // the kernel's own answer would have been the same
                    if *before == Err(*e) {
                        inconclusive.push(*name);
                    }
                }
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
            "file_getattr",
            "ptrace",
            "socket(AF_VSOCK | 1 << 32)",
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
        // Docker's shape: EPERM by default, one clone rule
        let mut docker = rendered(DOCKER_CAPS);
        docker["defaultErrnoRet"] = json!(1);
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

// ---------------------------------------------------------------------------------------------
// real containers

/// The seccomp programs the kernel holds for process `pid`, most recent first
/// (PTRACE_SECCOMP_GET_FILTER: the tracer needs CAP_SYS_ADMIN, the tracee must be stopped).
fn kernel_filters(pid: libc::pid_t) -> Vec<Vec<Insn>> {
    const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
    let null = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: seizing a process of a container this test started; no memory is passed.
    let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, null, null) };
    assert_eq!(
        r,
        0,
        "PTRACE_SEIZE {pid}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: as above.
    let r = unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, pid, null, null) };
    assert_eq!(
        r,
        0,
        "PTRACE_INTERRUPT: {}",
        std::io::Error::last_os_error()
    );
    let mut st = 0;
    // SAFETY: waits for the interrupt stop of the tracee.
    let w = unsafe { libc::waitpid(pid, &mut st, libc::__WALL) };
    assert_eq!(w, pid, "waitpid: {}", std::io::Error::last_os_error());
    let mut out = vec![];
    for index in 0.. {
        // SAFETY: a null buffer asks for the program's length.
        let n = unsafe {
            libc::ptrace(
                PTRACE_SECCOMP_GET_FILTER,
                pid,
                index as *mut libc::c_void,
                null,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "filter {index}: {e}");
            break;
        }
        let mut buf = vec![
            libc::sock_filter {
                code: 0,
                jt: 0,
                jf: 0,
                k: 0
            };
            n as usize
        ];
        // SAFETY: buf holds the n instructions the kernel said the program has.
        let m = unsafe {
            libc::ptrace(
                PTRACE_SECCOMP_GET_FILTER,
                pid,
                index as *mut libc::c_void,
                buf.as_mut_ptr() as *mut libc::c_void,
            )
        };
        assert_eq!(m, n);
        out.push(
            buf.iter()
                .map(|i| Insn {
                    code: i.code,
                    jt: i.jt,
                    jf: i.jf,
                    k: i.k,
                })
                .collect(),
        );
    }
    // SAFETY: releases the tracee, which continues where it was.
    let r = unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, null, null) };
    assert_eq!(r, 0, "PTRACE_DETACH: {}", std::io::Error::last_os_error());
    out
}

fn status_field(pid: i64, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// The link between the evaluations above and a real container: the kernel holds one filter
/// for the container's process (`Seccomp: 2`, `Seccomp_filters: 1`, read from the host), and
/// that program is, instruction for instruction, what [`compile`] makes of the hardened spec in
/// the container's state directory; evaluated, it answers ENOSYS for an unknown number and EPERM
/// for `keyctl` and `ptrace`.
#[test]
fn the_kernel_holds_the_filter_evaluated_here() {
    use common::*;
    let w = World::new("seccomp-kernel");
    let t = x86_64_table();
    // sk3 loads the program compiled for sk1 from the state root's cache (same filter); sk4
    // comes after the cached programs were damaged, and gets a program compiled anew
    let cache = w.root.join(hardrun::runtime::seccomp_cache::CACHE_DIR);
    for (id, profile) in [
        ("sk1", "restricted"),
        ("sk2", "baseline"),
        ("sk3", "restricted"),
        ("sk4", "restricted"),
    ] {
        if id == "sk3" {
            let kept = std::fs::read_dir(&cache).unwrap().count();
            assert_eq!(kept, 2, "one program per distinct filter");
        }
        if id == "sk4" {
            for f in std::fs::read_dir(&cache).unwrap().flatten() {
                let mut bytes = std::fs::read(f.path()).unwrap();
                bytes.truncate(bytes.len() - 3);
                std::fs::write(f.path(), bytes).unwrap();
            }
        }
        let b = w.bundle_with(&format!("b-{id}"), &["sleep", "60"], |s| {
            s["process"]["capabilities"] = json!({
                "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS
            });
        });
        let out = w.hr(&[
            "--profile",
            profile,
            "run",
            "-d",
            "--bundle",
            b.to_str().unwrap(),
            id,
        ]);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
        let pid = w.state(id)["pid"].as_i64().unwrap();
        assert_eq!(status_field(pid, "Seccomp:"), "2", "{id}");
        assert_eq!(status_field(pid, "Seccomp_filters:"), "1", "{id}");
        assert_eq!(status_field(pid, "NoNewPrivs:"), "1", "{id}");
        let held = kernel_filters(pid as libc::pid_t);
        assert_eq!(held.len(), 1, "{id}");
        let spec: Value = serde_json::from_slice(
            &std::fs::read(w.root.join(id).join("bundle/config.json")).unwrap(),
        )
        .unwrap();
        let ours = compile(&spec["linux"]["seccomp"]);
        assert!(
            held[0] == ours,
            "{id}: the kernel holds {} instructions, the compiled rendering has {}",
            held[0].len(),
            ours.len()
        );
        let v = |nr: u32| verdict(&held[0], X86_64_ABI, nr, [0; 6]);
        assert_eq!(v(1000), ENOSYS, "{id}");
        assert_eq!(v(t["keyctl"] as u32), EPERM, "{id}");
        assert_eq!(v(t["ptrace"] as u32), EPERM, "{id}");
        assert_eq!(v(t["read"] as u32), RET_ALLOW, "{id}");
        // a process `exec` starts holds the same program (loaded from the cache too)
        if id == "sk3" {
            let epid = w.exec_detached(id, &["sleep", "60"]);
            let held = kernel_filters(epid);
            assert_eq!(held.len(), 1, "exec");
            assert!(held[0] == ours, "the exec'd process holds another program");
        }
        let out = w.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
    }
}

/// What a process in a real container gets (the static probe makes raw syscalls): ENOSYS for a
/// number no kernel has, for `clone3` (libc falls back to `clone`) and for `file_getattr`
/// (newer than the profile); EPERM for what the profile refuses (`keyctl`; `ptrace` without
/// CAP_SYS_PTRACE; AF_VSOCK, also with high bits the kernel drops); busybox works.
#[test]
fn a_container_process_gets_enosys_for_unknown_syscalls_and_eperm_for_refused_ones() {
    use common::*;
    let w = World::new("seccomp-errno");
    let probe = rootfs().join("probe");
    if !probe.exists() {
        std::fs::copy(probe_binary(), &probe).unwrap();
    }
    const SCRIPT: &str = r#"
for c in '1000' '435 0 0' '468 -1 0 0 0 0' '250 9999' '101 2 -1' '310 -1 0 0 0 0' \
         '41 40 1 0' '41 0x100000028 1 0' '24'; do
    echo "$c: $(/probe syscall $c)"
done
echo forked | cat
grep '^Seccomp:' /proc/self/status | tr -d '\t'
"#;
    const WANT: &str = "1000: ENOSYS
435 0 0: ENOSYS
468 -1 0 0 0 0: ENOSYS
250 9999: EPERM
101 2 -1: EPERM
310 -1 0 0 0 0: EPERM
41 40 1 0: EPERM
41 0x100000028 1 0: EPERM
24: ok 0
forked
Seccomp:2
";
    for (id, profile) in [("se1", "restricted"), ("se2", "baseline")] {
        let b = w.bundle_with(&format!("b-{id}"), &["sh", "-c", SCRIPT], |s| {
            s["process"]["capabilities"] = json!({
                "bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS
            });
        });
        let out = w.hr(&[
            "--profile",
            profile,
            "run",
            "--bundle",
            b.to_str().unwrap(),
            id,
        ]);
        assert_eq!(out.status.code(), Some(0), "{id}: {}", stderr(&out));
        assert_eq!(stdout(&out), WANT, "{id}");
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
        if r["names"] == json!(["clone"]) && r["action"] == "SCMP_ACT_ALLOW" {
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
