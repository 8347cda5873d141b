//! What rules, the CIS catalogue and the preflight may know about the host ([`Host`]: namespaces,
//! limits, LSMs), the real host (namespace inodes from /proc, rlimits from getrlimit, LSMs from
//! /sys) and a fixed one for unit tests.

use std::os::unix::fs::MetadataExt;

/// What rules may know about the host. The real one reads /proc; tests use fixed values.
pub trait Host {
    /// inode of the host's (pid 1's) namespace of `kind` (`net`, `pid`, `ipc`, `uts`, `mnt`,
    /// `cgroup`, `user`, `time`)
    fn host_ns(&self, kind: &str) -> Option<u64>;
    /// inode of the namespace file at `path` (e.g. `/proc/123/ns/net`)
    fn ns_at(&self, path: &str) -> Option<u64>;
    /// the caller's hard limit of an rlimit (`RLIMIT_NOFILE`…): limits cannot be raised above it
    fn hard_rlimit(&self, resource: &str) -> Option<u64>;
    /// the OCI architecture name of this host (`SCMP_ARCH_X86_64`)
    fn seccomp_arch(&self) -> &'static str;
    /// the executable of a running host process (`/proc/<pid>/exe`), if it can be read
    fn process_exe(&self, _pid: u32) -> Option<std::path::PathBuf> {
        None
    }
    /// the gid map of the user namespace at `/proc/<pid>/ns/user`, as (container gid, count)
    /// blocks read from `/proc/<pid>/gid_map`; `None` when unknown
    fn gid_map(&self, _userns_path: &str) -> Option<Vec<(u64, u64)>> {
        None
    }
    /// the major number the kernel gave driver `name` for devices of type `typ` (`c` or `b`),
    /// from `/proc/devices`; `None` when the driver is not loaded
    fn device_major(&self, _typ: &str, _name: &str) -> Option<i64> {
        None
    }
    /// what the runtime process may hand a container's process (oomScoreAdj, rlimits) without
    /// CAP_SYS_RESOURCE; a host that says nothing refuses nothing
    fn limits(&self) -> HostLimits {
        HostLimits::unrestricted()
    }
    /// whether a Linux security module is enabled, so that a spec's AppArmor profile or SELinux
    /// label is applied; a host that says nothing has none
    fn lsm_enabled(&self, _lsm: Lsm) -> bool {
        false
    }
}

/// The Linux security modules a spec names a confinement for (`process.apparmorProfile`,
/// `process.selinuxLabel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lsm {
    AppArmor,
    SELinux,
}

/// What the runtime process may hand a container without CAP_SYS_RESOURCE.
pub struct HostLimits {
    /// CAP_SYS_RESOURCE in hardrun's effective set
    pub sys_resource: bool,
    /// hardrun's own /proc/self/oom_score_adj
    pub oom_score_adj: Option<i64>,
    /// whether the kernel lets this process set oom_score_adj to a value below its own (it may
    /// go back down to the lowest a privileged process gave it, which /proc does not show)
    pub may_lower_oom_score_adj: fn(i64) -> bool,
    /// hardrun's hard limit of an rlimit (`RLIMIT_NOFILE` …), None when unknown
    pub hard_limit: fn(&str) -> Option<u64>,
}

impl HostLimits {
    /// hardrun's own, read from the kernel (what [`RealHost::limits`] gives)
    pub fn read() -> HostLimits {
        HostLimits {
            sys_resource: ::caps::has_cap(
                None,
                ::caps::CapSet::Effective,
                ::caps::Capability::CAP_SYS_RESOURCE,
            )
            .unwrap_or(false),
            oom_score_adj: std::fs::read_to_string("/proc/self/oom_score_adj")
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            may_lower_oom_score_adj: try_oom_score_adj,
            hard_limit: hard_limit_of,
        }
    }

    /// A runtime with CAP_SYS_RESOURCE: the kernel refuses it no limit (a test host's)
    pub fn unrestricted() -> HostLimits {
        HostLimits {
            sys_resource: true,
            oom_score_adj: None,
            may_lower_oom_score_adj: |_| true,
            hard_limit: |_| None,
        }
    }
}

/// Tries `want` on hardrun's own oom_score_adj and puts the old value back (raising is always
/// allowed). Only EACCES/EPERM say no; anything else is left for libcontainer to report.
fn try_oom_score_adj(want: i64) -> bool {
    let path = "/proc/self/oom_score_adj";
    let Ok(own) = std::fs::read_to_string(path) else {
        return true;
    };
    match std::fs::write(path, want.to_string()) {
        Ok(()) => {
            let _ = std::fs::write(path, own.trim());
            true
        }
        Err(e) => !matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)),
    }
}

/// hardrun's hard limit of the rlimit `name` (`RLIMIT_NOFILE` …), from getrlimit
pub fn hard_limit_of(name: &str) -> Option<u64> {
    use nix::sys::resource::{getrlimit, Resource};
    let r = match name {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    };
    getrlimit(r).ok().map(|(_, hard)| hard)
}

/// The major of driver `name` among the `typ` devices (`c`: "Character devices:", `b`: "Block
/// devices:") of a `/proc/devices` text.
pub fn parse_proc_devices(text: &str, typ: &str, name: &str) -> Option<i64> {
    let header = match typ {
        "c" => "Character devices:",
        "b" => "Block devices:",
        _ => return None,
    };
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.ends_with("devices:") {
            inside = line == header;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((major, driver)) = line.split_once(char::is_whitespace) {
            if driver.trim() == name {
                return major.parse().ok();
            }
        }
    }
    None
}

/// A fixed host for unit tests: host namespaces have inode 1000+index, nothing else is known.
#[cfg(test)]
pub struct TestHost;

#[cfg(test)]
impl Host for TestHost {
    fn host_ns(&self, kind: &str) -> Option<u64> {
        ["net", "pid", "ipc", "uts", "mnt", "cgroup", "user", "time"]
            .iter()
            .position(|k| *k == kind)
            .map(|i| 1000 + i as u64)
    }
    fn ns_at(&self, path: &str) -> Option<u64> {
        // "/proc/1/ns/<kind>" is the host's (and so is "/proc/7/", a host process that is not
        // pid 1); "/proc/<other>/ns/<kind>" some container's
        let kind = path.rsplit('/').next()?;
        if path.starts_with("/proc/1/") || path.starts_with("/proc/7/") {
            self.host_ns(kind)
        } else {
            Some(5000)
        }
    }
    fn hard_rlimit(&self, _resource: &str) -> Option<u64> {
        Some(1 << 20)
    }
    fn gid_map(&self, path: &str) -> Option<Vec<(u64, u64)>> {
        // a container's user namespace maps 65536 gids from 0
        (self.ns_at(path)? == 5000).then(|| vec![(0, 65536)])
    }
    fn seccomp_arch(&self) -> &'static str {
        "SCMP_ARCH_X86_64"
    }
    fn device_major(&self, typ: &str, name: &str) -> Option<i64> {
        // a GPU host with NVIDIA's driver loaded
        parse_proc_devices(
            "Character devices:\n  1 mem\n195 nvidia-frontend\n236 nvidia-caps\n508 nvidia-uvm\n\nBlock devices:\n  8 sd\n",
            typ,
            name,
        )
    }
}

/// Where the kernel says whether AppArmor is enabled: the file libcontainer reads before it
/// applies a spec's `process.apparmorProfile` (`libcontainer::apparmor::is_enabled`).
pub const APPARMOR_ENABLED: &str = "/sys/module/apparmor/parameters/enabled";

/// Whether AppArmor is enabled on this host, as `create` sees it: `features` reports it and
/// `check` judges CIS 5.2 by it, so the two cannot disagree (read once per process).
pub fn apparmor_enabled() -> bool {
    use std::sync::OnceLock;
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED
        .get_or_init(|| std::fs::read_to_string(APPARMOR_ENABLED).is_ok_and(|v| v.starts_with('Y')))
}

/// Whether SELinux is enabled on this host (selinuxfs mounted; read once per process).
pub fn selinux_enabled() -> bool {
    use std::sync::OnceLock;
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::path::Path::new("/sys/fs/selinux/enforce").exists())
}

pub struct RealHost;

impl Host for RealHost {
    fn host_ns(&self, kind: &str) -> Option<u64> {
        // the host's namespaces do not change while hardrun runs: read each once
        use std::sync::OnceLock;
        const KINDS: [&str; 8] = ["net", "pid", "ipc", "uts", "mnt", "cgroup", "user", "time"];
        static CACHE: [OnceLock<Option<u64>>; 8] = [const { OnceLock::new() }; 8];
        match KINDS.iter().position(|k| *k == kind) {
            Some(i) => *CACHE[i].get_or_init(|| read_host_ns(kind)),
            None => read_host_ns(kind),
        }
    }
    fn ns_at(&self, path: &str) -> Option<u64> {
        std::fs::metadata(path).ok().map(|m| m.ino())
    }

    fn hard_rlimit(&self, resource: &str) -> Option<u64> {
        use nix::sys::resource::{getrlimit, Resource};
        let r = match resource {
            "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
            "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
            _ => return None,
        };
        getrlimit(r).ok().map(|(_, hard)| hard)
    }

    fn limits(&self) -> HostLimits {
        HostLimits::read()
    }

    fn lsm_enabled(&self, lsm: Lsm) -> bool {
        match lsm {
            // as create and `features` see it (securityfs may be mounted where the module is off)
            Lsm::AppArmor => apparmor_enabled(),
            Lsm::SELinux => selinux_enabled(),
        }
    }

    fn process_exe(&self, pid: u32) -> Option<std::path::PathBuf> {
        std::fs::read_link(format!("/proc/{pid}/exe")).ok()
    }

    fn device_major(&self, typ: &str, name: &str) -> Option<i64> {
        parse_proc_devices(&std::fs::read_to_string("/proc/devices").ok()?, typ, name)
    }

    fn gid_map(&self, userns_path: &str) -> Option<Vec<(u64, u64)>> {
        let dir = userns_path.strip_suffix("/ns/user")?;
        let text = std::fs::read_to_string(format!("{dir}/gid_map")).ok()?;
        Some(
            text.lines()
                .filter_map(|l| {
                    let mut f = l.split_whitespace().map(str::parse::<u64>);
                    let (Some(Ok(inside)), Some(Ok(_host)), Some(Ok(n))) =
                        (f.next(), f.next(), f.next())
                    else {
                        return None;
                    };
                    Some((inside, n))
                })
                .collect(),
        )
    }

    fn seccomp_arch(&self) -> &'static str {
        match std::env::consts::ARCH {
            "x86_64" => "SCMP_ARCH_X86_64",
            "aarch64" => "SCMP_ARCH_AARCH64",
            "x86" => "SCMP_ARCH_X86",
            "arm" => "SCMP_ARCH_ARM",
            "powerpc64" => "SCMP_ARCH_PPC64LE",
            "s390x" => "SCMP_ARCH_S390X",
            "riscv64" => "SCMP_ARCH_RISCV64",
            _ => "SCMP_ARCH_NATIVE",
        }
    }
}

/// pid 1's namespaces are the host's; where /proc/1/ns cannot be read (a sandbox that hides pid
/// 1), hardrun's own are: a runtime runs in the host's namespaces (except its private mount
/// namespace, see protect.rs).
fn read_host_ns(kind: &str) -> Option<u64> {
    std::fs::metadata(format!("/proc/1/ns/{kind}"))
        .or_else(|e| {
            if kind == "mnt" {
                Err(e)
            } else {
                std::fs::metadata(format!("/proc/self/ns/{kind}"))
            }
        })
        .ok()
        .map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    #[test]
    fn apparmor_is_enabled_exactly_where_libcontainer_applies_profiles() {
        // create applies a spec's AppArmor profile only where this says so
        let theirs = libcontainer::apparmor::is_enabled().unwrap_or(false);
        assert_eq!(super::apparmor_enabled(), theirs);
    }
}

#[cfg(test)]
mod device_tests {
    use super::parse_proc_devices;

    #[test]
    fn majors_are_read_per_type_by_driver_name() {
        let text = "Character devices:\n  1 mem\n203 cpu/cpuid\n508 nvidia-uvm\n\nBlock devices:\n  7 loop\n259 blkext\n";
        for (typ, name, want) in [
            ("c", "mem", Some(1)),
            ("c", "cpu/cpuid", Some(203)),
            ("c", "nvidia-uvm", Some(508)),
            ("c", "loop", None),
            ("b", "loop", Some(7)),
            ("b", "mem", None),
            ("c", "nvidia", None),
            ("x", "mem", None),
        ] {
            assert_eq!(parse_proc_devices(text, typ, name), want, "{typ} {name}");
        }
    }
}

#[cfg(test)]
mod limits_tests {
    use super::{Host, HostLimits, Lsm, RealHost, TestHost};

    #[test]
    fn the_real_hosts_limits_and_lsms_are_the_kernels() {
        let own = RealHost.limits();
        assert_eq!(
            (own.hard_limit)("RLIMIT_NOFILE"),
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .ok()
                .map(|(_, hard)| hard)
        );
        assert_eq!((own.hard_limit)("RLIMIT_BOGUS"), None);
        let adj: Option<i64> = std::fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse().ok());
        assert_eq!(own.oom_score_adj, adj);
        assert_eq!(
            RealHost.lsm_enabled(Lsm::AppArmor),
            super::apparmor_enabled()
        );
        assert_eq!(
            RealHost.lsm_enabled(Lsm::SELinux),
            std::path::Path::new("/sys/fs/selinux/enforce").exists()
        );
        // a host that says nothing refuses nothing and confines nothing
        let test = TestHost.limits();
        assert!(test.sys_resource && (test.hard_limit)("RLIMIT_NOFILE").is_none());
        assert!(!TestHost.lsm_enabled(Lsm::AppArmor) && !TestHost.lsm_enabled(Lsm::SELinux));
        let _: HostLimits = HostLimits::unrestricted();
    }
}
