//! The rules: one file per hardening area, each a pure function of (spec, profile, context) that
//! proposes edits. Rules never touch the disk or the host; what they need of the host comes in
//! through [`Host`], so they stay unit-testable without root.

use std::collections::BTreeMap;

use serde_json::Value;

use super::edit::Edit;
use crate::profile::Profile;

pub mod capabilities;
pub mod cis_score;
pub mod devices;
pub mod hooks;
pub mod mounts;
pub mod namespaces;
pub mod no_new_privileges;
pub mod paths;
pub mod privileged;
pub mod resources;
pub mod rootfs;
pub mod seccomp;
pub mod secrets;
pub mod sysctls;
pub mod tmpfs;
pub mod user;
pub mod userns;

/// One deviation a rule found, with the edits that would bring the spec to the profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// JSON pointer of the value the finding is about (before/after are read there)
    pub pointer: String,
    /// lower-case, names the value; never contains a secret
    pub message: String,
    pub edits: Vec<Edit>,
    /// false when no rewrite can make the spec acceptable (e.g. a host namespace): under
    /// `enforce` the container is then refused
    pub fixable: bool,
    /// the CIS controls this one deviation concerns, where they are narrower than the rule's
    /// (a missing network namespace is 5.10, not every namespace control); `None`: the rule's
    pub cis: Option<&'static [&'static str]>,
}

impl Proposal {
    pub fn fix(pointer: impl Into<String>, message: impl Into<String>, edits: Vec<Edit>) -> Self {
        Proposal {
            pointer: pointer.into(),
            message: message.into(),
            edits,
            fixable: true,
            cis: None,
        }
    }
    pub fn refuse(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Proposal {
            pointer: pointer.into(),
            message: message.into(),
            edits: vec![],
            fixable: false,
            cis: None,
        }
    }
    /// The same proposal, tagged with the CIS controls of this deviation alone.
    pub fn tagged(mut self, cis: &'static [&'static str]) -> Self {
        self.cis = Some(cis);
        self
    }
}

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
}

/// What was granted to this container by authorized annotations (see `policy::exceptions`).
/// Stored with the container at create (`hardrun.json`): exec and update honour the same grants.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Granted {
    /// extra capabilities (`CAP_` names)
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub allow_root: bool,
    #[serde(default)]
    pub writable_rootfs: bool,
}

/// What a rule knows about the container.
pub struct RuleCtx<'a> {
    pub id: &'a str,
    pub annotations: &'a BTreeMap<String, String>,
    pub granted: &'a Granted,
    pub host: &'a dyn Host,
    /// the host id range (first host id, count) allocated to this container's user namespace,
    /// when the `userns` rule is enforced; `None` otherwise
    pub userns: Option<(u32, u32)>,
    /// the bind mount sources resolved to host objects by the stage before the engine
    /// (`bundle::sources`): their real paths and kinds, which the `mounts` rule judges
    pub sources: &'a crate::bundle::Sources,
}

/// Docker's and containerd's default capability set (14): the yardstick of CIS 5.4.
pub const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows (6.18: 41, up to `CAP_CHECKPOINT_RESTORE`): what a process
/// started by a root runtime holds in a set the spec leaves out.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub type RuleFn = fn(&Value, &Profile, &RuleCtx) -> Vec<Proposal>;

/// The rule function for a code; `None` for codes evaluated elsewhere (`exception`).
pub fn lookup(code: &str) -> Option<RuleFn> {
    Some(match code {
        "namespaces" => namespaces::evaluate,
        "user" => user::evaluate,
        "userns" => userns::evaluate,
        "rootfs" => rootfs::evaluate,
        "tmpfs" => tmpfs::evaluate,
        "paths" => paths::evaluate,
        "capabilities" => capabilities::evaluate,
        "no-new-privileges" => no_new_privileges::evaluate,
        "privileged" => privileged::evaluate,
        "mounts" => mounts::evaluate,
        "devices" => devices::evaluate,
        "seccomp" => seccomp::evaluate,
        "resources" => resources::evaluate,
        "sysctls" => sysctls::evaluate,
        "hooks" => hooks::evaluate,
        "secrets" => secrets::evaluate,
        "cis-score" => cis_score::evaluate,
        _ => return None,
    })
}

/// `spec.pointer(ptr)` without its allocations (serde_json unescapes every token into a new
/// String): tokens are looked up in place; only a token with `~` is unescaped.
pub fn at<'a>(spec: &'a Value, ptr: &str) -> Option<&'a Value> {
    if ptr.is_empty() {
        return Some(spec);
    }
    let rest = ptr.strip_prefix('/')?;
    let mut v = spec;
    for token in rest.split('/') {
        v = match v {
            Value::Object(m) => {
                if token.contains('~') {
                    m.get(&token.replace("~1", "/").replace("~0", "~"))?
                } else {
                    m.get(token)?
                }
            }
            Value::Array(a) => {
                if token.len() > 1 && token.starts_with('0') {
                    return None;
                }
                a.get(token.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(v)
}

/// Reads an array of strings at `ptr` (missing or wrong type: empty).
pub fn strings(spec: &Value, ptr: &str) -> Vec<String> {
    at(spec, ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
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
}

#[cfg(test)]
pub mod testing {
    //! Helpers for the rules' table tests.
    use super::*;
    use crate::policy::edit::apply;

    pub use super::DOCKER_CAPS;
    pub use crate::bundle::sources::{Kind, Sources};

    pub fn profile(name: &str) -> Profile {
        crate::profile::Catalog::builtin()
            .get(name)
            .unwrap()
            .clone()
    }

    pub fn run(rule: RuleFn, spec: &Value, profile: &Profile) -> Vec<Proposal> {
        run_granted(rule, spec, profile, &Granted::default())
    }

    pub fn run_granted(
        rule: RuleFn,
        spec: &Value,
        profile: &Profile,
        granted: &Granted,
    ) -> Vec<Proposal> {
        run_with(rule, spec, profile, granted, None)
    }

    /// With an allocated user namespace range in the context.
    pub fn run_with(
        rule: RuleFn,
        spec: &Value,
        profile: &Profile,
        granted: &Granted,
        userns: Option<(u32, u32)>,
    ) -> Vec<Proposal> {
        run_ctx(rule, spec, profile, granted, userns, Sources::none())
    }

    /// With bind mount sources resolved (what the stage before the engine finds on the host).
    pub fn run_sources(
        rule: RuleFn,
        spec: &Value,
        profile: &Profile,
        sources: &Sources,
    ) -> Vec<Proposal> {
        run_ctx(rule, spec, profile, &Granted::default(), None, sources)
    }

    fn run_ctx(
        rule: RuleFn,
        spec: &Value,
        profile: &Profile,
        granted: &Granted,
        userns: Option<(u32, u32)>,
        sources: &Sources,
    ) -> Vec<Proposal> {
        let annotations = BTreeMap::new();
        let ctx = RuleCtx {
            id: "t",
            annotations: &annotations,
            granted,
            host: &TestHost,
            userns,
            sources,
        };
        rule(spec, profile, &ctx)
    }

    /// Applies every proposal's edits and returns the result; checks idempotence on the way.
    pub fn fixed(rule: RuleFn, spec: &Value, profile: &Profile) -> Value {
        fixed_sources(rule, spec, profile, Sources::none())
    }

    /// [`fixed`] with bind mount sources resolved.
    pub fn fixed_sources(
        rule: RuleFn,
        spec: &Value,
        profile: &Profile,
        sources: &Sources,
    ) -> Value {
        let mut out = spec.clone();
        for p in run_sources(rule, spec, profile, sources) {
            assert!(p.fixable, "unexpected refusal: {}", p.message);
            for e in &p.edits {
                apply(&mut out, e).unwrap();
            }
        }
        let again = run_sources(rule, &out, profile, sources);
        assert!(again.is_empty(), "not idempotent: {again:?}");
        out
    }
}

#[cfg(test)]
mod at_tests {
    use super::at;
    use serde_json::json;

    #[test]
    fn at_agrees_with_serde_json_pointer() {
        let v = json!({"a": {"b/c": [10, {"d~e": true}], "": 1}, "x": [[1, 2]]});
        for p in [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/0",
            "/a/b~1c/1/d~0e",
            "/a/",
            "/x/0/1",
            "/x/01",
            "/x/-",
            "/x/0/2",
            "/nope",
            "a",
            "/a/b~1c/1/d~0e/deeper",
            "/x/18446744073709551616",
        ] {
            assert_eq!(at(&v, p), v.pointer(p), "{p:?}");
        }
    }
}
