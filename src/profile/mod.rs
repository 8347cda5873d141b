//! Profiles: TOML data that says, per rule, what to enforce and with which parameters.
//!
//! Built-in profiles (`profiles/*.toml`) are compiled into the binary; `<config dir>/profiles/*.toml`
//! add profiles or replace a built-in of the same name. Every table rejects unknown keys; TOML
//! itself rejects duplicate keys; names of rules and capabilities are checked at load. Errors
//! name the file, line, column and key. Any table may carry a `comment`.

pub mod config;
pub mod egress;
pub mod rego;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::rule::{self as code, Action};

/// The built-in profiles: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("restricted", include_str!("../../profiles/restricted.toml")),
    ("baseline", include_str!("../../profiles/baseline.toml")),
    ("ci-runner", include_str!("../../profiles/ci-runner.toml")),
    ("permissive", include_str!("../../profiles/permissive.toml")),
];

// `BUILTIN_JSON`: (name, JSON) of each of [`BUILTIN`], converted by build.rs
include!(concat!(env!("OUT_DIR"), "/builtin_profiles.rs"));

pub const DEFAULT_PROFILE: &str = "restricted";

/// The regulatory packs a profile can name in `regulatory`.
pub const REGULATORY_PACKS: &[&str] = &["gdpr", "hipaa"];

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProfileError {
    #[error("{file}:{line}:{column}: {msg}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        msg: String,
    },
    #[error("{file}: {key}: {msg}")]
    Invalid {
        file: String,
        key: String,
        msg: String,
    },
    /// a `[rego]` policy that does not compile: `file:line: message`
    #[error("{file}:{line}: {msg}")]
    Rego {
        file: String,
        line: usize,
        msg: String,
    },
    #[error("cannot read {file}: {msg}")]
    Io { file: String, msg: String },
    #[error("unknown profile {name:?} (known: {known})")]
    Unknown { name: String, known: String },
}

/// A rule's setting: `code = "enforce"` or `code = { action = "enforce", comment = "…" }`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RuleSetting {
    Action(Action),
    Detailed(DetailedSetting),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetailedSetting {
    pub action: Action,
    #[serde(default)]
    pub comment: Option<String>,
}

impl RuleSetting {
    pub fn action(&self) -> Action {
        match self {
            RuleSetting::Action(a) => *a,
            RuleSetting::Detailed(d) => d.action,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub comment: Option<String>,
    /// action per rule code; a rule not listed is audited (recorded, never changed)
    #[serde(default)]
    pub rules: BTreeMap<String, RuleSetting>,
    #[serde(default)]
    pub user: UserCfg,
    #[serde(default)]
    pub namespaces: NamespacesCfg,
    #[serde(default)]
    pub userns: UserNsCfg,
    /// `[rootfs]`: how the root filesystem is mounted (the `rootfs` rule)
    #[serde(default, skip_serializing_if = "RootfsCfg::is_default")]
    pub rootfs: RootfsCfg,
    /// `[image_files]`: the bounds of the `image-files` walk of the rootfs
    #[serde(default, skip_serializing_if = "ImageFilesCfg::is_default")]
    pub image_files: ImageFilesCfg,
    #[serde(default)]
    pub tmpfs: TmpfsCfg,
    #[serde(default)]
    pub mounts: MountsCfg,
    #[serde(default)]
    pub devices: DevicesCfg,
    #[serde(default)]
    pub capabilities: CapabilitiesCfg,
    #[serde(default)]
    pub seccomp: SeccompCfg,
    #[serde(default)]
    pub resources: ResourcesCfg,
    #[serde(default)]
    pub sysctls: SysctlsCfg,
    #[serde(default)]
    pub hooks: HooksCfg,
    #[serde(default)]
    pub secrets: SecretsCfg,
    #[serde(default)]
    pub compliance: ComplianceCfg,
    /// per-container exceptions that annotations may request
    #[serde(default)]
    pub exceptions: Vec<ExceptionCfg>,
    /// regulatory packs (`gdpr`, `hipaa`): records name the fields that can carry personal data
    /// (environment, arguments, annotations, hostname, mount sources, user names) but never
    /// their values
    #[serde(default)]
    pub regulatory: Vec<String>,
    /// `[monitor]`: how `hardrun monitor` rates the events of this profile's containers
    #[serde(default, skip_serializing_if = "MonitorCfg::is_empty")]
    pub monitor: MonitorCfg,
    /// `[scan]`: when a scanner's report refuses a container (the `image-scan` rule)
    #[serde(default, skip_serializing_if = "crate::scan::cfg::ScanCfg::is_default")]
    pub scan: crate::scan::cfg::ScanCfg,
    /// `[response]`: what `hardrun monitor` does by itself about this profile's containers
    /// (automatic isolation; off unless the profile asks)
    #[serde(default, skip_serializing_if = "ResponseCfg::is_off")]
    pub response: ResponseCfg,
    /// `[egress]`: where the container may send (an nftables table in its network namespace);
    /// absent: no table (see `docs/egress.md`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<egress::EgressCfg>,
    /// `[rego]`: company policies in Rego, compiled when the profile is loaded from its file
    /// (the `rego` rule; see `docs/policies.md`)
    #[serde(default, skip_serializing_if = "rego::RegoCfg::is_empty")]
    pub rego: rego::RegoCfg,

    /// where the profile came from (`builtin:restricted` or a path); not part of the TOML
    #[serde(skip)]
    pub source: String,
    /// sha256 of the profile's TOML text
    #[serde(skip)]
    pub sha256: String,
    /// the TOML text itself: stored with a container at create, so that `exec` and `update` are
    /// judged by the content the container was created under (see `policy::binding`)
    #[serde(skip)]
    pub text: String,
}

/// `[monitor]` of a profile: `severity = { refusal = "high", exec = "medium" }` replaces the
/// monitor's default severity of those event kinds for this profile's containers.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorCfg {
    #[serde(default)]
    pub severity: BTreeMap<String, String>,
}

impl MonitorCfg {
    pub fn is_empty(&self) -> bool {
        self.severity.is_empty()
    }
}

/// The monitor's event kinds (`monitor::events::KINDS` holds the same names, checked by its
/// tests), for `[monitor.severity]`.
pub const MONITOR_EVENT_KINDS: &[&str] = &[
    "refusal",
    "exception-used",
    "exec",
    "loosening-refused",
    "oom-kill",
    "pids-limit",
    "memory-near-limit",
    "drift",
    "escalation-attempt",
    "tripwire",
    "limit-changed",
    "isolated",
    "isolation-failed",
    "audit-head",
    "egress-denied",
];

/// The severities of `[monitor.severity]`.
pub const MONITOR_SEVERITIES: &[&str] = &["critical", "high", "medium", "low"];

/// The event kinds the monitor's own response produces (automatic isolation, the audit head):
/// never a trigger of `[response] isolate_on`.
pub const RESPONSE_EVENT_KINDS: &[&str] = &["isolated", "isolation-failed", "audit-head"];

/// `[response]` of a profile: `isolate_on = "critical"` (any event of that severity or above,
/// as the profile rates it) or `isolate_on = ["escalation-attempt", "drift"]` (those kinds)
/// makes `hardrun monitor` isolate the container by itself, as `hardrun isolate` does. `"off"`
/// (the default, and every built-in profile's) leaves isolation to the operator.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseCfg {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub isolate_on: IsolateOn,
}

/// When the monitor isolates a container by itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum IsolateOn {
    /// `"off"`, or a severity: events of that severity or above
    Severity(String),
    /// events of these kinds, whatever their severity
    Kinds(Vec<String>),
}

impl<'de> Deserialize<'de> for IsolateOn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<IsolateOn, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = IsolateOn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "\"off\", a severity (critical, high, medium, low) or a list of event kinds",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IsolateOn, E> {
                Ok(IsolateOn::Severity(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<IsolateOn, A::Error> {
                let mut kinds = vec![];
                while let Some(k) = seq.next_element::<String>()? {
                    kinds.push(k);
                }
                Ok(IsolateOn::Kinds(kinds))
            }
        }
        d.deserialize_any(V)
    }
}

impl Default for IsolateOn {
    fn default() -> Self {
        IsolateOn::Severity("off".into())
    }
}

impl ResponseCfg {
    pub fn is_off(&self) -> bool {
        self.comment.is_none()
            && match &self.isolate_on {
                IsolateOn::Severity(s) => s == "off",
                IsolateOn::Kinds(k) => k.is_empty(),
            }
    }

    /// Whether an event of `kind` rated `severity` makes the monitor isolate the container.
    pub fn isolates(&self, kind: &str, severity: &str) -> bool {
        if RESPONSE_EVENT_KINDS.contains(&kind) {
            return false;
        }
        let rank = |s: &str| MONITOR_SEVERITIES.iter().position(|v| *v == s);
        match &self.isolate_on {
            IsolateOn::Severity(at) => match (rank(at), rank(severity)) {
                // MONITOR_SEVERITIES runs from critical down
                (Some(at), Some(sev)) => sev <= at,
                _ => false,
            },
            IsolateOn::Kinds(kinds) => kinds.iter().any(|k| k == kind),
        }
    }

    /// One line for documents: what triggers automatic isolation.
    pub fn describe(&self) -> String {
        match &self.isolate_on {
            IsolateOn::Severity(s) if s == "off" => "off".to_owned(),
            IsolateOn::Severity(s) => format!("on any monitor event of severity {s} or above"),
            IsolateOn::Kinds(k) if k.is_empty() => "off".to_owned(),
            IsolateOn::Kinds(k) => format!("on monitor events of kind {}", k.join(", ")),
        }
    }

    fn validate(&self) -> Result<(), String> {
        match &self.isolate_on {
            IsolateOn::Severity(s) if s == "off" || MONITOR_SEVERITIES.contains(&s.as_str()) => {
                Ok(())
            }
            IsolateOn::Severity(s) => Err(format!(
                "{s:?} is neither \"off\" nor a severity ({}) nor a list of event kinds",
                MONITOR_SEVERITIES.join(", ")
            )),
            IsolateOn::Kinds(kinds) => {
                for k in kinds {
                    if RESPONSE_EVENT_KINDS.contains(&k.as_str()) {
                        return Err(format!(
                            "{k:?} is the monitor's own response, not a trigger"
                        ));
                    }
                    if !MONITOR_EVENT_KINDS.contains(&k.as_str()) {
                        let known: Vec<&str> = MONITOR_EVENT_KINDS
                            .iter()
                            .filter(|k| !RESPONSE_EVENT_KINDS.contains(k))
                            .copied()
                            .collect();
                        return Err(format!(
                            "unknown event kind {k:?} (known: {})",
                            known.join(", ")
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserCfg {
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub comment: Option<String>,
}

impl Default for UserCfg {
    fn default() -> Self {
        UserCfg {
            uid: 65534,
            gid: 65534,
            comment: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NamespacesCfg {
    /// namespaces that must be present and not the host's
    pub required: Vec<String>,
    /// namespaces that must be new: joining any existing one (a pod's, another container's) is
    /// refused
    #[serde(default)]
    pub private: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

impl Default for NamespacesCfg {
    fn default() -> Self {
        NamespacesCfg {
            required: ["pid", "ipc", "uts", "mount", "network", "cgroup"]
                .map(String::from)
                .to_vec(),
            private: vec![],
            comment: None,
        }
    }
}

/// `userns` (CIS 5.31): the host id pool that containers' user namespaces are mapped into. Each
/// container gets its own `ids_per_container` ids, allocated from
/// `[pool_start, pool_start + pool_size)` (see `crate::runtime::userns`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserNsCfg {
    #[serde(default = "UserNsCfg::default_pool_start")]
    pub pool_start: u32,
    #[serde(default = "UserNsCfg::default_pool_size")]
    pub pool_size: u32,
    #[serde(default = "UserNsCfg::default_ids_per_container")]
    pub ids_per_container: u32,
    #[serde(default)]
    pub comment: Option<String>,
}

impl UserNsCfg {
    fn default_pool_start() -> u32 {
        100_000
    }
    fn default_pool_size() -> u32 {
        65536 * 64
    }
    fn default_ids_per_container() -> u32 {
        65536
    }
    /// How many containers the pool holds.
    pub fn slots(&self) -> u32 {
        self.pool_size / self.ids_per_container.max(1)
    }
    /// The host range of slot `n`: (first host id, count).
    pub fn range(&self, n: u32) -> (u32, u32) {
        (
            self.pool_start + n * self.ids_per_container,
            self.ids_per_container,
        )
    }
}

impl Default for UserNsCfg {
    fn default() -> Self {
        UserNsCfg {
            pool_start: Self::default_pool_start(),
            pool_size: Self::default_pool_size(),
            ids_per_container: Self::default_ids_per_container(),
            comment: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfsCfg {
    pub paths: Vec<String>,
    pub options: Vec<String>,
    pub mode: String,
    pub size: String,
    #[serde(default)]
    pub comment: Option<String>,
}

impl Default for TmpfsCfg {
    fn default() -> Self {
        TmpfsCfg {
            paths: ["/tmp", "/var/tmp", "/run"].map(String::from).to_vec(),
            options: ["nosuid", "nodev", "noexec"].map(String::from).to_vec(),
            mode: "1777".into(),
            size: "64m".into(),
            comment: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MountsCfg {
    /// host paths that must not be bind-mounted writable (nor anything below them for `/`)
    pub sensitive: Vec<String>,
    /// file names of runtime sockets that must never be mounted
    pub sockets: Vec<String>,
    /// real host paths (after symlinks) of unix sockets that may be bind-mounted (a log or
    /// metrics agent's); every other socket is refused. A runtime socket (`sockets`) stays
    /// refused even when listed. No built-in profile lists one.
    #[serde(default)]
    pub allow_sockets: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

impl Default for MountsCfg {
    fn default() -> Self {
        MountsCfg {
            sensitive: [
                "/", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sys", "/usr",
                "/var/run", "/run",
            ]
            .map(String::from)
            .to_vec(),
            sockets: ["docker.sock", "containerd.sock", "crio.sock", "podman.sock"]
                .map(String::from)
                .to_vec(),
            allow_sockets: vec![],
            comment: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesCfg {
    /// device paths allowed beyond the default set (null, zero, full, random, urandom, tty, …)
    #[serde(default)]
    pub allow: Vec<String>,
    /// device classes (accelerators a Kubernetes device plugin hands over): kept only for a
    /// container that a `device-class` exception authorizes, never by default
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<DeviceClassCfg>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A class of host devices, e.g. NVIDIA's GPUs: `linux.devices` entries whose path matches one of
/// `paths` (`*` matches any run of characters but `/`) and whose type and major number are the
/// class's. A major is a number or the name of a driver in `/proc/devices` (`nvidia-uvm` gets a
/// major at load time), read on the host at create.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceClassCfg {
    pub name: String,
    pub paths: Vec<String>,
    pub majors: Vec<String>,
    /// `c` (character, the default) or `b` (block)
    #[serde(default = "default_device_type", rename = "type")]
    pub typ: String,
    #[serde(default)]
    pub comment: Option<String>,
}

fn default_device_type() -> String {
    "c".into()
}

impl DeviceClassCfg {
    /// Whether `path` (normalized) matches one of the class's patterns.
    pub fn matches_path(&self, path: &str) -> bool {
        self.paths.iter().any(|p| glob_segment_match(p, path))
    }
}

/// `pattern` against `text`, shell-style within one path component: `*` matches any run of
/// characters but `/`, `[0-9]` (ranges, `!` or `^` to negate) one character but `/`.
pub fn glob_segment_match(pattern: &str, text: &str) -> bool {
    glob(pattern.as_bytes(), text.as_bytes())
}

fn glob(p: &[u8], t: &[u8]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some(b'*') => {
            let run = t.iter().position(|&c| c == b'/').unwrap_or(t.len());
            (0..=run).any(|n| glob(&p[1..], &t[n..]))
        }
        Some(b'[') => match p.iter().skip(2).position(|&c| c == b']') {
            Some(end) => {
                let (set, rest) = (&p[1..end + 2], &p[end + 3..]);
                let (negate, set) = match set.first() {
                    Some(b'!' | b'^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let Some((&c, tail)) = t.split_first() else {
                    return false;
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == b'-' {
                        hit |= (set[i]..=set[i + 2]).contains(&c);
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                c != b'/' && hit != negate && glob(rest, tail)
            }
            None => t.first() == Some(&b'[') && glob(&p[1..], &t[1..]),
        },
        Some(&c) => t.first() == Some(&c) && glob(&p[1..], &t[1..]),
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesCfg {
    /// the capabilities a container may keep (`CAP_` names)
    pub allow: Vec<String>,
    /// capabilities of `allow` that a non-root process gets in its ambient set, so it can use
    /// them without file capabilities (a non-root process loses its permitted and effective
    /// sets at exec): `CAP_NET_BIND_SERVICE` lets a uid-65534 server bind port 80
    #[serde(default)]
    pub ambient: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

impl Default for CapabilitiesCfg {
    fn default() -> Self {
        CapabilitiesCfg {
            allow: vec!["CAP_NET_BIND_SERVICE".into()],
            ambient: vec![],
            comment: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeccompCfg {
    /// `default` (hardrun's built-in profile) or an absolute path to an OCI seccomp JSON file
    pub profile: String,
    /// syscalls a normal workload never makes whose refusal `hardrun monitor` reports: while a
    /// monitor listens on the state root's tripwire socket at create, each one the filter
    /// refuses outright becomes `SCMP_ACT_NOTIFY` and the monitor answers it with the same errno
    /// (see `policy::rules::seccomp::arm_tripwires`); without a monitor the filter is unchanged
    #[serde(default)]
    pub tripwires: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

impl Default for SeccompCfg {
    fn default() -> Self {
        SeccompCfg {
            profile: "default".into(),
            tripwires: vec![],
            comment: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesCfg {
    /// memory limit set when the spec has none (`512m`, `1g`, bytes)
    #[serde(default)]
    pub memory: Option<String>,
    /// the highest memory limit allowed
    #[serde(default)]
    pub memory_max: Option<String>,
    #[serde(default)]
    pub cpu_shares: Option<u64>,
    /// CPU quota set when absent, in CPUs (`1.5` = 150000/100000)
    #[serde(default)]
    pub cpus: Option<f64>,
    #[serde(default)]
    pub cpus_max: Option<f64>,
    #[serde(default)]
    pub pids: Option<i64>,
    #[serde(default)]
    pub pids_max: Option<i64>,
    /// RLIMIT_NOFILE set when absent, and its ceiling
    #[serde(default)]
    pub nofile: Option<u64>,
    #[serde(default)]
    pub nofile_max: Option<u64>,
    /// RLIMIT_NPROC set when absent, and its ceiling
    #[serde(default)]
    pub nproc: Option<u64>,
    #[serde(default)]
    pub nproc_max: Option<u64>,
    /// what a Kubernetes pod's container (on containerd's CRI path) that sets no memory limit,
    /// CPU quota or pids limit gets: the defaults above, or none (its pod's cgroup bounds it)
    #[serde(default)]
    pub pod_limits: PodLimits,
    #[serde(default)]
    pub comment: Option<String>,
}

/// `[resources] pod_limits`: the limits of a pod's container that sets none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PodLimits {
    /// the profile's `memory`, `cpus`, `pids` (and `cpu_shares`), as for any container
    #[default]
    Default,
    /// none: the kubelet's pod cgroup (and its QoS class's) bounds the container; a limit the
    /// pod does set is still held to the ceilings
    PodCgroup,
}

/// `[rootfs]`: `nosuid = true` mounts the container's root filesystem `nosuid` where the
/// `rootfs` rule is enforced (a setuid or setgid file in the image gains nothing).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RootfsCfg {
    #[serde(default)]
    pub nosuid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl RootfsCfg {
    pub fn is_default(&self) -> bool {
        *self == RootfsCfg::default()
    }
}

/// `[image_files]`: the `image-files` walk of the rootfs stops after `max_entries` entries or
/// `max_walk_ms` milliseconds, whichever comes first (reaching either is itself a finding).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFilesCfg {
    #[serde(default = "ImageFilesCfg::default_entries")]
    pub max_entries: u64,
    #[serde(default = "ImageFilesCfg::default_ms")]
    pub max_walk_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ImageFilesCfg {
    fn default_entries() -> u64 {
        200_000
    }
    fn default_ms() -> u64 {
        2_000
    }
    pub fn is_default(&self) -> bool {
        *self == ImageFilesCfg::default()
    }
}

impl Default for ImageFilesCfg {
    fn default() -> Self {
        ImageFilesCfg {
            max_entries: Self::default_entries(),
            max_walk_ms: Self::default_ms(),
            comment: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlsCfg {
    pub allow: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

impl Default for SysctlsCfg {
    fn default() -> Self {
        // Kubernetes' "safe" set (namespaced, isolated from the host)
        SysctlsCfg {
            allow: [
                "kernel.shm_rmid_forced",
                "net.ipv4.ip_local_port_range",
                "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range",
                "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time",
                "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes",
            ]
            .map(String::from)
            .to_vec(),
            comment: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HooksCfg {
    /// absolute paths of hook binaries that may run
    #[serde(default)]
    pub allow: Vec<String>,
    /// keep dockerd's own network hook (`/proc/<pid>/exe libnetwork-setkey …`) when that pid
    /// really is a running dockerd: without it Docker containers get no network
    #[serde(default)]
    pub docker_network: bool,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsCfg {
    /// environment variable names never reported (e.g. a documented public token)
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// The CIS gate (rule `cis-score`): after hardening, the spec's CIS Docker Benchmark score at
/// `level` must be at least `min_score` percent.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceCfg {
    #[serde(default = "default_min_score")]
    pub min_score: f64,
    /// 1: Level 1 controls only; 2: all
    #[serde(default = "default_level")]
    pub level: u8,
    #[serde(default)]
    pub comment: Option<String>,
}

fn default_min_score() -> f64 {
    85.0
}

fn default_level() -> u8 {
    1
}

impl Default for ComplianceCfg {
    fn default() -> Self {
        ComplianceCfg {
            min_score: default_min_score(),
            level: default_level(),
            comment: None,
        }
    }
}

/// An exception that annotations may request: `kind` names what (see [`ExceptionKind`]),
/// `values` what may be granted, and `namespaces`/`images` for whom (glob `*` at the end allowed).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionCfg {
    pub kind: ExceptionKind,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// The namespaces a spec asks to share with the host by leaving them out (Kubernetes'
/// `hostNetwork` — network and uts —, `hostPID`, `hostIPC`; Docker's and podman's `--network`,
/// `--pid`, `--ipc`, `--uts host`): the values a `host-namespaces` exception may list.
pub const HOST_NAMESPACE_KINDS: &[&str] = &["network", "pid", "ipc", "uts"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExceptionKind {
    /// `hardrun.dev/allow-capabilities: NET_ADMIN,SYS_TIME`
    AllowCapabilities,
    /// `hardrun.dev/profile: baseline`
    Profile,
    /// `hardrun.dev/allow-root: "true"`
    AllowRoot,
    /// `hardrun.dev/writable-rootfs: "true"`
    WritableRootfs,
    /// no annotation: a Kubernetes pod that leaves a namespace out of its spec (`hostNetwork`,
    /// `hostPID`, `hostIPC`) asks for the host's; `values` lists the kinds authorized
    /// (`network`, which covers the UTS namespace Kubernetes shares with it, `pid`, `ipc`, `uts`)
    HostNamespaces,
    /// no annotation: a spec whose `linux.devices` has devices of a class of `[devices]
    /// classes` (a device plugin's GPUs) asks for them; `values` lists the classes authorized
    DeviceClass,
}

impl ExceptionKind {
    /// the name used in profiles (`allow-capabilities`)
    pub fn name(self) -> &'static str {
        match self {
            ExceptionKind::AllowCapabilities => "allow-capabilities",
            ExceptionKind::Profile => "profile",
            ExceptionKind::AllowRoot => "allow-root",
            ExceptionKind::WritableRootfs => "writable-rootfs",
            ExceptionKind::HostNamespaces => "host-namespaces",
            ExceptionKind::DeviceClass => "device-class",
        }
    }
}

/// Checks one `[[devices.classes]]` entry: Err((key suffix, message)).
fn validate_device_class(c: &DeviceClassCfg) -> Result<(), (String, String)> {
    if c.name.is_empty()
        || !c
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        return Err((
            ".name".into(),
            format!("{:?} is not a valid class name", c.name),
        ));
    }
    if c.typ != "c" && c.typ != "b" {
        return Err((
            ".type".into(),
            format!("{:?} is not a device type (c or b)", c.typ),
        ));
    }
    if c.paths.is_empty() {
        return Err((".paths".into(), "names no device path".into()));
    }
    for (j, p) in c.paths.iter().enumerate() {
        // a class names device nodes, never a directory or anything outside /dev
        if !p.starts_with("/dev/") || p.contains("..") || p.ends_with('/') || p.contains("//") {
            return Err((
                format!(".paths[{j}]"),
                format!("{p:?} is not a device path under /dev/"),
            ));
        }
    }
    if c.majors.is_empty() {
        return Err((".majors".into(), "names no major number".into()));
    }
    for (j, m) in c.majors.iter().enumerate() {
        let ok = match m.parse::<u32>() {
            Ok(n) => n < 4096,
            Err(_) => {
                !m.is_empty() && m.parse::<i64>().is_err() && !m.chars().any(char::is_whitespace)
            }
        };
        if !ok {
            return Err((
                format!(".majors[{j}]"),
                format!("{m:?} is neither a major number (0 to 4095) nor a driver name of /proc/devices"),
            ));
        }
    }
    Ok(())
}

impl Profile {
    /// The action for `code`: the profile's setting, else audit.
    pub fn action(&self, code: &str) -> Action {
        self.rules
            .get(code)
            .map(RuleSetting::action)
            .unwrap_or(Action::Audit)
    }

    /// Parses and validates a profile's TOML text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
        // `hardrun profile show x > profiles/x.toml` truncates the file before hardrun reads it
        if text.trim().is_empty() {
            return Err(ProfileError::Invalid {
                file: file.to_owned(),
                key: "name".into(),
                msg: "the file is empty (a profile needs at least `name`)".into(),
            });
        }
        let p: Profile = toml::from_str(text).map_err(|e| parse_error(text, file, &e))?;
        p.of_text(text, file)
    }

    /// A profile just deserialized from `text` (named `file`), given what is not part of the
    /// TOML (its source, the text and its sha256), then validated.
    fn of_text(mut self, text: &str, file: &str) -> Result<Profile, ProfileError> {
        self.source = file.to_owned();
        self.sha256 = format!("{:x}", Sha256::digest(text.as_bytes()));
        self.text = text.to_owned();
        self.validate(file)?;
        Ok(self)
    }

    /// A built-in profile from the JSON form of its TOML that build.rs made (`None` where
    /// there is none): the same values (unit-tested: `builtin_json_parses_as_the_toml`), read
    /// ≈10× faster. The TOML text stays the profile's text and its sha256's input. Issue 20:
    /// the `toml` parse of `restricted` was 0.4 ms of every create.
    fn parse_builtin_json(name: &str, text: &str, source: &str) -> Option<Profile> {
        let json = BUILTIN_JSON.iter().find(|(n, _)| *n == name)?.1;
        let p: Profile = serde_json::from_str(json).ok()?;
        p.of_text(text, source).ok()
    }

    fn validate(&self, file: &str) -> Result<(), ProfileError> {
        let invalid = |key: &str, msg: String| ProfileError::Invalid {
            file: file.to_owned(),
            key: key.to_owned(),
            msg,
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "name",
                format!("{:?} is not a valid profile name", self.name),
            ));
        }
        for code in self.rules.keys() {
            if code::info(code).is_none() {
                let known: Vec<&str> = code::RULES.iter().map(|r| r.code).collect();
                return Err(invalid(
                    &format!("rules.{code}"),
                    format!("unknown rule (known: {})", known.join(", ")),
                ));
            }
        }
        if !self.rego.files.is_empty() && file.starts_with("builtin:") {
            return Err(invalid(
                "rego.files",
                "a built-in profile names no policy files; copy it to <config dir>/profiles/ and name them there, relative to that file".into(),
            ));
        }
        self.scan
            .validate()
            .map_err(|(k, m)| invalid(&format!("scan{k}"), m))?;
        if self.image_files.max_entries == 0 || self.image_files.max_walk_ms == 0 {
            let key = if self.image_files.max_entries == 0 {
                "image_files.max_entries"
            } else {
                "image_files.max_walk_ms"
            };
            return Err(invalid(key, "must be at least 1".into()));
        }
        for (i, c) in self.devices.classes.iter().enumerate() {
            validate_device_class(c)
                .map_err(|(k, m)| invalid(&format!("devices.classes[{i}]{k}"), m))?;
            if self.devices.classes[..i].iter().any(|o| o.name == c.name) {
                return Err(invalid(
                    &format!("devices.classes[{i}].name"),
                    format!("{:?} is defined twice", c.name),
                ));
            }
        }
        for (i, cap) in self.capabilities.allow.iter().enumerate() {
            if cap.parse::<caps::Capability>().is_err() {
                return Err(invalid(
                    &format!("capabilities.allow[{i}]"),
                    format!("unknown capability {cap:?}"),
                ));
            }
        }
        for (i, cap) in self.capabilities.ambient.iter().enumerate() {
            if !self.capabilities.allow.contains(cap) {
                return Err(invalid(
                    &format!("capabilities.ambient[{i}]"),
                    format!("{cap:?} is not in capabilities.allow"),
                ));
            }
        }
        for (list, key) in [
            (&self.namespaces.required, "required"),
            (&self.namespaces.private, "private"),
        ] {
            for (i, ns) in list.iter().enumerate() {
                if ![
                    "pid", "ipc", "uts", "mount", "network", "cgroup", "user", "time",
                ]
                .contains(&ns.as_str())
                {
                    return Err(invalid(
                        &format!("namespaces.{key}[{i}]"),
                        format!("unknown namespace {ns:?}"),
                    ));
                }
            }
        }
        let u = &self.userns;
        if u.ids_per_container == 0 {
            return Err(invalid(
                "userns.ids_per_container",
                "must be positive".into(),
            ));
        }
        if u.pool_size == 0 || u.pool_size % u.ids_per_container != 0 {
            return Err(invalid(
                "userns.pool_size",
                format!(
                    "{} is not a positive multiple of userns.ids_per_container {}",
                    u.pool_size, u.ids_per_container
                ),
            ));
        }
        if u.pool_start.checked_add(u.pool_size).is_none() {
            return Err(invalid(
                "userns.pool_size",
                format!(
                    "pool {}+{} overflows the 32-bit id space",
                    u.pool_start, u.pool_size
                ),
            ));
        }
        if u.pool_start == 0 {
            return Err(invalid(
                "userns.pool_start",
                "0 would map containers onto host root".into(),
            ));
        }
        for (i, p) in self.tmpfs.paths.iter().enumerate() {
            if !p.starts_with('/') {
                return Err(invalid(
                    &format!("tmpfs.paths[{i}]"),
                    format!("{p:?} is not an absolute path"),
                ));
            }
        }
        parse_size(&self.tmpfs.size).map_err(|e| invalid("tmpfs.size", e))?;
        if u32::from_str_radix(&self.tmpfs.mode, 8).is_err() {
            return Err(invalid(
                "tmpfs.mode",
                format!("{:?} is not an octal mode", self.tmpfs.mode),
            ));
        }
        let r = &self.resources;
        for (key, v) in [
            ("resources.memory", &r.memory),
            ("resources.memory_max", &r.memory_max),
        ] {
            if let Some(v) = v {
                parse_size(v).map_err(|e| invalid(key, e))?;
            }
        }
        if let (Some(a), Some(b)) = (&r.memory, &r.memory_max) {
            if parse_size(a).ok() > parse_size(b).ok() {
                return Err(invalid(
                    "resources.memory",
                    format!("{a} is above resources.memory_max {b}"),
                ));
            }
        }
        for (key, v) in [
            ("resources.cpus", r.cpus),
            ("resources.cpus_max", r.cpus_max),
        ] {
            if v.is_some_and(|c| !(c > 0.0 && c <= 4096.0)) {
                return Err(invalid(
                    key,
                    format!("{} is not a CPU count", v.unwrap_or_default()),
                ));
            }
        }
        for (key, v) in [
            ("resources.pids", r.pids),
            ("resources.pids_max", r.pids_max),
        ] {
            if v.is_some_and(|p| p <= 0) {
                return Err(invalid(key, "must be positive".into()));
            }
        }
        for (i, p) in self.mounts.allow_sockets.iter().enumerate() {
            if !p.starts_with('/') {
                return Err(invalid(
                    &format!("mounts.allow_sockets[{i}]"),
                    format!("{p:?} is not an absolute path"),
                ));
            }
        }
        for (i, h) in self.hooks.allow.iter().enumerate() {
            if !h.starts_with('/') {
                return Err(invalid(
                    &format!("hooks.allow[{i}]"),
                    format!("{h:?} is not an absolute path"),
                ));
            }
        }
        if self.seccomp.profile != "default" && !self.seccomp.profile.starts_with('/') {
            return Err(invalid(
                "seccomp.profile",
                format!(
                    "{:?}: use \"default\" or an absolute path",
                    self.seccomp.profile
                ),
            ));
        }
        for (i, name) in self.seccomp.tripwires.iter().enumerate() {
            if libseccomp::ScmpSyscall::from_name(name).is_err() {
                return Err(invalid(
                    &format!("seccomp.tripwires[{i}]"),
                    format!("{name:?} is not a syscall name libseccomp knows"),
                ));
            }
        }
        if let Some(e) = &self.egress {
            e.validate(&self.name).map_err(|(k, m)| invalid(&k, m))?;
        }
        for (kind, sev) in &self.monitor.severity {
            let key = format!("monitor.severity.{kind}");
            if !MONITOR_EVENT_KINDS.contains(&kind.as_str()) {
                return Err(invalid(
                    &key,
                    format!(
                        "unknown event kind {kind:?} (known: {})",
                        MONITOR_EVENT_KINDS.join(", ")
                    ),
                ));
            }
            if !MONITOR_SEVERITIES.contains(&sev.as_str()) {
                return Err(invalid(
                    &key,
                    format!(
                        "unknown severity {sev:?} (known: {})",
                        MONITOR_SEVERITIES.join(", ")
                    ),
                ));
            }
        }
        self.response
            .validate()
            .map_err(|m| invalid("response.isolate_on", m))?;
        for (i, r) in self.regulatory.iter().enumerate() {
            if !REGULATORY_PACKS.contains(&r.as_str()) {
                return Err(invalid(
                    &format!("regulatory[{i}]"),
                    format!(
                        "unknown regulatory pack {r:?} (known: {})",
                        REGULATORY_PACKS.join(", ")
                    ),
                ));
            }
        }
        let c = &self.compliance;
        if !(0.0..=100.0).contains(&c.min_score) {
            return Err(invalid(
                "compliance.min_score",
                format!("{} is not a percentage (0 to 100)", c.min_score),
            ));
        }
        if !(1..=2).contains(&c.level) {
            return Err(invalid(
                "compliance.level",
                format!("{} is not a CIS level (1 or 2)", c.level),
            ));
        }
        for (i, e) in self.exceptions.iter().enumerate() {
            if e.kind == ExceptionKind::AllowCapabilities {
                for v in &e.values {
                    let name = if v.starts_with("CAP_") {
                        v.clone()
                    } else {
                        format!("CAP_{v}")
                    };
                    if name.parse::<caps::Capability>().is_err() {
                        return Err(invalid(
                            &format!("exceptions[{i}].values"),
                            format!("unknown capability {v:?}"),
                        ));
                    }
                }
            }
            if e.kind == ExceptionKind::HostNamespaces {
                if e.values.is_empty() {
                    return Err(invalid(
                        &format!("exceptions[{i}].values"),
                        "names no namespace kind (network, pid, ipc, uts)".into(),
                    ));
                }
                if let Some(v) = e
                    .values
                    .iter()
                    .find(|v| !HOST_NAMESPACE_KINDS.contains(&v.as_str()))
                {
                    return Err(invalid(
                        &format!("exceptions[{i}].values"),
                        format!("{v:?} is not a namespace kind a pod can share with the host (network, pid, ipc, uts)"),
                    ));
                }
            }
            if e.kind == ExceptionKind::DeviceClass {
                if e.values.is_empty() {
                    return Err(invalid(
                        &format!("exceptions[{i}].values"),
                        "names no device class".into(),
                    ));
                }
                if let Some(v) = e
                    .values
                    .iter()
                    .find(|v| !self.devices.classes.iter().any(|c| &c.name == *v))
                {
                    let known: Vec<&str> = self
                        .devices
                        .classes
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect();
                    return Err(invalid(
                        &format!("exceptions[{i}].values"),
                        format!(
                            "{v:?} is not a device class of this profile (devices.classes: {})",
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
            }
            if e.namespaces.is_empty() && e.images.is_empty() {
                return Err(invalid(
                    &format!("exceptions[{i}]"),
                    "names no namespaces and no images: it would authorize nobody".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Byte sizes like runc's and Docker's: `512`, `64k`, `64m`, `1g` (case-insensitive, optional `b`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 64m, 1g)"))
}

pub(crate) fn parse_error(text: &str, file: &str, e: &toml::de::Error) -> ProfileError {
    let (line, column) = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            (line, column)
        }
        None => (0, 0),
    };
    ProfileError::Parse {
        file: file.to_owned(),
        line,
        column,
        msg: e.message().replace('\n', " ").trim().to_owned(),
    }
}

/// All profiles available: the built-ins, then `dir/*.toml` (which may replace a built-in).
/// A file that does not load is kept aside in `broken`, under its file name: it fails only the
/// containers that select that profile (a broken override of a built-in hides the built-in),
/// never the others, and `hardrun profile lint` reports it.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub profiles: Profiles,
    /// profile name (the file's stem) → why its file does not load
    pub broken: BTreeMap<String, ProfileError>,
}

/// The profiles of a [`Catalog`] by name. A built-in is parsed when it is first asked for
/// (issue 20: parsing all four on every `create` was ≈0.6 ms of a `run`, which uses one); a
/// profile from a file is parsed when it is loaded, so that a broken file is found then.
#[derive(Debug, Clone, Default)]
pub struct Profiles(BTreeMap<String, Slot>);

#[derive(Debug, Clone)]
enum Slot {
    Loaded(Box<Profile>),
    /// shared by the catalog's clones (a configuration is cloned per use), parsed once
    Builtin(&'static str, Arc<OnceLock<Profile>>),
}

impl Slot {
    fn profile(&self, name: &str) -> &Profile {
        match self {
            Slot::Loaded(p) => p,
            Slot::Builtin(text, parsed) => parsed.get_or_init(|| parse_builtin(name, text)),
        }
    }
}

/// A built-in profile, parsed; a rule the file does not name is audited (what `action` answers
/// for it anyway), so a new rule needs no line in each built-in until one should enforce it.
fn parse_builtin(name: &str, text: &str) -> Profile {
    let source = format!("builtin:{name}");
    let mut p = Profile::parse_builtin_json(name, text, &source).unwrap_or_else(|| {
        Profile::parse(text, &source).expect("built-in profiles are valid (unit-tested)")
    });
    for r in code::RULES {
        p.rules
            .entry(r.code.to_owned())
            .or_insert(RuleSetting::Action(Action::Audit));
    }
    p
}

impl Profiles {
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.0.get(name).map(|s| s.profile(name))
    }

    /// Every profile, by name (each built-in parsed now).
    pub fn values(&self) -> impl Iterator<Item = &Profile> {
        self.0.iter().map(|(name, s)| s.profile(name))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn insert(&mut self, name: String, profile: Profile) {
        self.0.insert(name, Slot::Loaded(Box::new(profile)));
    }

    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }
}

impl Catalog {
    pub fn builtin() -> Catalog {
        let profiles = BUILTIN
            .iter()
            .map(|(name, text)| {
                let slot = Slot::Builtin(text, Arc::default());
                ((*name).to_owned(), slot)
            })
            .collect();
        Catalog {
            profiles: Profiles(profiles),
            broken: BTreeMap::new(),
        }
    }

    /// Built-ins plus the `.toml` files in `dir` (a missing directory adds nothing). Only a
    /// directory that cannot be listed is an error; a file that does not load goes to `broken`.
    pub fn load(dir: Option<&Path>) -> Result<Catalog, ProfileError> {
        let mut cat = Catalog::builtin();
        let Some(dir) = dir else { return Ok(cat) };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cat),
            Err(e) => {
                return Err(ProfileError::Io {
                    file: dir.display().to_string(),
                    msg: e.to_string(),
                })
            }
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in files {
            let stem = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match Self::load_file(&f, &stem) {
                Ok(p) => {
                    cat.profiles.insert(p.name.clone(), p);
                }
                Err(e) => {
                    cat.profiles.remove(&stem);
                    cat.broken.insert(stem, e);
                }
            }
        }
        Ok(cat)
    }

    fn load_file(f: &Path, stem: &str) -> Result<Profile, ProfileError> {
        let file = f.display().to_string();
        let text = std::fs::read_to_string(f).map_err(|e| ProfileError::Io {
            file: file.clone(),
            msg: e.to_string(),
        })?;
        let mut p = Profile::parse(&text, &file)?;
        if p.name != stem {
            return Err(ProfileError::Invalid {
                file,
                key: "name".into(),
                msg: format!("{:?} does not match the file name {stem:?}", p.name),
            });
        }
        // `[rego]`: read and compiled once, here, relative to the profile's file
        p.rego.compile(f)?;
        Ok(p)
    }

    /// Whether `name` is a profile here, loaded or broken.
    pub fn knows(&self, name: &str) -> bool {
        self.profiles.contains_key(name) || self.broken.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Result<&Profile, ProfileError> {
        if let Some(e) = self.broken.get(name) {
            return Err(e.clone());
        }
        self.profiles
            .get(name)
            .ok_or_else(|| ProfileError::Unknown {
                name: name.to_owned(),
                known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// One warning per broken profile file other than `selected`'s: the containers of the other
    /// profiles go on, and whoever runs them learns which file is wrong.
    pub fn broken_warnings(&self, selected: &str) -> Vec<String> {
        self.broken
            .iter()
            .filter(|(name, _)| name.as_str() != selected)
            .map(|(name, e)| format!("ignoring profile {name:?}, which does not load: {e}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builtin_is_parsed_when_first_asked_for_once_for_all_clones() {
        let parsed = |c: &Catalog, name: &str| match &c.profiles.0[name] {
            Slot::Builtin(_, once) => once.get().is_some(),
            Slot::Loaded(_) => panic!("{name} is a built-in"),
        };
        let cat = Catalog::builtin();
        let early = cat.clone();
        assert!(!parsed(&cat, "restricted"));
        let p = cat.get("restricted").unwrap();
        assert!(parsed(&cat, "restricted"));
        assert!(
            !parsed(&cat, "baseline"),
            "asking for one parses only that one"
        );
        // a clone made before the parse shares it: the same profile, not a second parse
        assert!(std::ptr::eq(p, early.get("restricted").unwrap()));
        assert_eq!(cat.profiles.values().count(), BUILTIN.len());
        assert!(BUILTIN.iter().all(|(n, _)| parsed(&early, n)));
    }

    /// Each built-in read from build.rs's JSON is the profile its TOML parses to, field for
    /// field (text and sha256 included), and every built-in has its JSON.
    #[test]
    fn builtin_json_parses_as_the_toml() {
        assert_eq!(
            BUILTIN_JSON.len(),
            BUILTIN.len(),
            "a built-in without its JSON"
        );
        for (name, text) in BUILTIN {
            let source = format!("builtin:{name}");
            let from_toml = Profile::parse(text, &source).unwrap();
            let from_json = Profile::parse_builtin_json(name, text, &source)
                .unwrap_or_else(|| panic!("{name}: the JSON form does not parse"));
            assert_eq!(format!("{from_json:?}"), format!("{from_toml:?}"), "{name}");
            assert_eq!(
                serde_json::to_value(&from_json).unwrap(),
                serde_json::to_value(&from_toml).unwrap(),
                "{name}"
            );
        }
    }

    #[test]
    fn builtins_parse_and_cover_every_rule() {
        let cat = Catalog::builtin();
        for name in ["restricted", "baseline", "ci-runner", "permissive"] {
            let p = cat.get(name).unwrap();
            assert_eq!(p.name, name, "a built-in is filed under its own name");
            assert_eq!(p.source, format!("builtin:{name}"));
            assert_eq!(p.sha256.len(), 64);
            for r in code::RULES {
                assert!(
                    p.rules.contains_key(r.code),
                    "{name} does not set rule {}",
                    r.code
                );
            }
        }
        let permissive = cat.get("permissive").unwrap();
        assert!(code::RULES
            .iter()
            .all(|r| permissive.action(r.code) == Action::Audit));
    }

    /// `[response] isolate_on`: off in every built-in; a severity isolates at or above it, a list
    /// on exactly those kinds; the monitor's own response kinds never trigger it; bad values
    /// name the file and the field.
    #[test]
    fn response_isolate_on() {
        let cat = Catalog::builtin();
        for (name, _) in BUILTIN {
            let p = cat.get(name).unwrap();
            assert!(p.response.is_off(), "{name}");
            assert!(
                !p.response.isolates("escalation-attempt", "critical"),
                "{name}"
            );
            assert_eq!(p.response.describe(), "off");
        }
        let parse = |t: &str| Profile::parse(&format!("name = \"x\"\n[response]\n{t}\n"), "f.toml");
        let high = parse("isolate_on = \"high\"").unwrap().response;
        for (kind, sev, want) in [
            ("drift", "critical", true),
            ("tripwire", "high", true),
            ("oom-kill", "medium", false),
            ("exec", "low", false),
            ("isolation-failed", "critical", false),
            ("audit-head", "critical", false),
        ] {
            assert_eq!(high.isolates(kind, sev), want, "{kind} {sev}");
        }
        let kinds = parse("isolate_on = [\"escalation-attempt\"]")
            .unwrap()
            .response;
        assert!(kinds.isolates("escalation-attempt", "low"));
        assert!(!kinds.isolates("drift", "critical"));
        assert!(parse("isolate_on = \"off\"").unwrap().response.is_off());
        for (t, want) in [
            (
                "isolate_on = \"urgent\"",
                "f.toml: response.isolate_on: \"urgent\" is neither",
            ),
            (
                "isolate_on = [\"nope\"]",
                "f.toml: response.isolate_on: unknown event kind \"nope\"",
            ),
            (
                "isolate_on = [\"isolated\"]",
                "f.toml: response.isolate_on: \"isolated\" is the monitor's own response",
            ),
            (
                "isolate_after = \"high\"",
                "f.toml:3:1: unknown field `isolate_after`",
            ),
        ] {
            let e = parse(t).unwrap_err().to_string();
            assert!(e.starts_with(want), "{t}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases: &[(&str, &str)] = &[
            ("name = \"x\"\nbogus = 1\n", "f.toml:2:1: unknown field `bogus`"),
            ("name = \"x\"\nname = \"y\"\n", "f.toml:2:1: duplicate key `name`"),
            ("name = \"x\"\n[user]\nuid = \"root\"\ngid = 0\n", "f.toml:3:7: invalid type: string \"root\", expected u32"),
            ("name = \"x\"\n[rules]\nuser = \"enforcee\"\n", "f.toml:3:8:"),
            ("name = \"x\"\n[rules]\nnope = \"enforce\"\n", "f.toml: rules.nope: unknown rule"),
            ("name = \"x\"\n[capabilities]\nallow = [\"CAP_NET_BIND_SERVICE\", \"CAP_FLY\"]\n", "f.toml: capabilities.allow[1]: unknown capability \"CAP_FLY\""),
            ("name = \"x\"\n[tmpfs]\npaths = [\"tmp\"]\noptions = []\nmode = \"1777\"\nsize = \"1m\"\n", "f.toml: tmpfs.paths[0]"),
            ("name = \"x\"\n[resources]\nmemory = \"lots\"\n", "f.toml: resources.memory: \"lots\" is not a size"),
            ("name = \"x\"\n[resources]\nmemory = \"2g\"\nmemory_max = \"1g\"\n", "f.toml: resources.memory: 2g is above resources.memory_max 1g"),
            ("name = \"x\"\n[[exceptions]]\nkind = \"allow-capabilities\"\nvalues = [\"NET_ADMIN\"]\n", "f.toml: exceptions[0]: names no namespaces"),
            ("name = \"x\"\n[[exceptions]]\nkind = \"allow-everything\"\nnamespaces = [\"a\"]\n", "f.toml:3:8: unknown variant `allow-everything`"),
            ("name = \"x\"\n[seccomp]\nprofile = \"mine.json\"\n", "f.toml: seccomp.profile"),
            ("name = \"x y\"\n", "f.toml: name:"),
            ("name = \"x\"\n[userns]\nids_per_container = 0\n", "f.toml: userns.ids_per_container: must be positive"),
            ("name = \"x\"\n[userns]\npool_size = 100000\n", "f.toml: userns.pool_size: 100000 is not a positive multiple"),
            ("name = \"x\"\n[userns]\npool_start = 4294000000\n", "f.toml: userns.pool_size: pool 4294000000+4194304 overflows"),
            ("name = \"x\"\n[userns]\npool_start = 0\n", "f.toml: userns.pool_start:"),
            ("name = \"x\"\n[userns]\nbogus = 1\n", "f.toml:3:1: unknown field `bogus`"),
        ];
        for (text, want) in cases {
            let err = Profile::parse(text, "f.toml").unwrap_err().to_string();
            assert!(
                err.starts_with(want),
                "{text:?}\n got: {err}\nwant: {want}…"
            );
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn rule_settings_and_comments() {
        let p = Profile::parse(
            "name = \"t\"\ncomment = \"why\"\n[rules]\nuser = \"deny\"\nrootfs = { action = \"enforce\", comment = \"apps write to /tmp only\" }\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(p.action("user"), Action::Deny);
        assert_eq!(p.action("rootfs"), Action::Enforce);
        assert_eq!(
            p.action("seccomp"),
            Action::Audit,
            "unlisted rules are audited"
        );
    }

    #[test]
    fn sizes() {
        for (s, want) in [
            ("512", Some(512)),
            ("64k", Some(65536)),
            ("64m", Some(64 << 20)),
            ("1G", Some(1 << 30)),
            ("1gb", Some(1 << 30)),
            ("0", None),
            ("x", None),
            ("-1m", None),
        ] {
            assert_eq!(parse_size(s).ok(), want, "{s}");
        }
    }

    #[test]
    fn directory_profiles_add_and_override() {
        let dir = std::env::temp_dir().join(format!("hardrun-prof-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("restricted.toml"),
            "name = \"restricted\"\n[rules]\nuser = \"audit\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("team.toml"), "name = \"team\"\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let cat = Catalog::load(Some(&dir)).unwrap();
        assert_eq!(cat.get("restricted").unwrap().action("user"), Action::Audit);
        assert!(cat.get("team").unwrap().source.ends_with("team.toml"));
        assert!(cat.get("baseline").is_ok());
        std::fs::write(dir.join("wrong.toml"), "name = \"other\"\n").unwrap();
        // a broken file fails its own profile only
        let cat = Catalog::load(Some(&dir)).unwrap();
        let err = cat.get("wrong").unwrap_err().to_string();
        assert!(err.contains("wrong.toml: name:"), "{err}");
        assert!(cat.get("team").is_ok());
        assert_eq!(cat.broken_warnings("wrong"), Vec::<String>::new());
        let warn = cat.broken_warnings("team");
        assert_eq!(warn.len(), 1);
        assert!(
            warn[0].starts_with("ignoring profile \"wrong\", which does not load: ")
                && warn[0].contains("wrong.toml: name:"),
            "{warn:?}"
        );
        // an empty override hides the built-in it meant to replace
        std::fs::write(dir.join("restricted.toml"), "").unwrap();
        let cat = Catalog::load(Some(&dir)).unwrap();
        assert_eq!(
            cat.get("restricted").unwrap_err().to_string(),
            format!(
                "{}: name: the file is empty (a profile needs at least `name`)",
                dir.join("restricted.toml").display()
            )
        );
        assert!(cat.knows("restricted") && !cat.profiles.contains_key("restricted"));
        assert!(cat.get("baseline").is_ok());
        assert!(Catalog::load(Some(Path::new("/nonexistent/profiles"))).is_ok());
        assert_eq!(
            Catalog::builtin().get("nope").unwrap_err().to_string(),
            "unknown profile \"nope\" (known: baseline, ci-runner, permissive, restricted)"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn device_class_patterns_match_one_path_component() {
        for (pattern, path, want) in [
            ("/dev/nvidiactl", "/dev/nvidiactl", true),
            ("/dev/nvidia[0-9]*", "/dev/nvidia0", true),
            ("/dev/nvidia[0-9]*", "/dev/nvidia15", true),
            ("/dev/nvidia[0-9]*", "/dev/nvidiactl", false),
            ("/dev/nvidia[0-9]*", "/dev/nvidia-uvm", false),
            ("/dev/nvidia[0-9]*", "/dev/nvidia", false),
            (
                "/dev/nvidia-caps/nvidia-cap*",
                "/dev/nvidia-caps/nvidia-cap1",
                true,
            ),
            ("/dev/nvidia*", "/dev/nvidia-caps/nvidia-cap1", false),
            ("/dev/nvidia[!0-9]*", "/dev/nvidiactl", true),
            ("/dev/nvidia[!0-9]*", "/dev/nvidia1", false),
            ("/dev/dri/card*", "/dev/dri/card0", true),
            ("/dev/sd[a", "/dev/sd[a", true),
            ("/dev/*", "/dev/../etc/shadow", false),
            ("/dev/x", "/dev/xy", false),
        ] {
            assert_eq!(glob_segment_match(pattern, path), want, "{pattern} {path}");
        }
    }

    #[test]
    fn broken_device_classes_are_named() {
        let base = "name = \"x\"\n[[devices.classes]]\nname = \"gpu\"\n";
        for (rest, want) in [
            ("paths = []\nmajors = [\"195\"]\n", "f.toml: devices.classes[0].paths: names no device path"),
            ("paths = [\"/etc/shadow\"]\nmajors = [\"195\"]\n", "f.toml: devices.classes[0].paths[0]: \"/etc/shadow\" is not a device path under /dev/"),
            ("paths = [\"/dev/../etc\"]\nmajors = [\"195\"]\n", "is not a device path under /dev/"),
            ("paths = [\"/dev/gpu*\"]\nmajors = []\n", "devices.classes[0].majors: names no major number"),
            ("paths = [\"/dev/gpu*\"]\nmajors = [\"99999\"]\n", "devices.classes[0].majors[0]: \"99999\" is neither a major number"),
            ("paths = [\"/dev/gpu*\"]\nmajors = [\"195\"]\ntype = \"p\"\n", "devices.classes[0].type: \"p\" is not a device type (c or b)"),
            ("paths = [\"/dev/gpu*\"]\nmajors = [\"195\"]\n[[exceptions]]\nkind = \"device-class\"\nvalues = [\"tpu\"]\nnamespaces = [\"ml\"]\n", "exceptions[0].values: \"tpu\" is not a device class of this profile (devices.classes: gpu)"),
            ("paths = [\"/dev/gpu*\"]\nmajors = [\"195\"]\n[[exceptions]]\nkind = \"device-class\"\nnamespaces = [\"ml\"]\n", "exceptions[0].values: names no device class"),
        ] {
            let err = Profile::parse(&format!("{base}{rest}"), "f.toml").unwrap_err().to_string();
            assert!(err.contains(want), "{rest}: {err}");
        }
        let ok = format!("{base}paths = [\"/dev/gpu[0-9]*\"]\nmajors = [\"195\", \"nvidia-uvm\"]\n[[exceptions]]\nkind = \"device-class\"\nvalues = [\"gpu\"]\nnamespaces = [\"ml\"]\n");
        Profile::parse(&ok, "f.toml").unwrap();
    }
}
