//! What rules and the CIS catalogue may know about the host ([`Host`]), the real host (namespace
//! inodes from /proc, rlimits from getrlimit) and a fixed one for unit tests.

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
