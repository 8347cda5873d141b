//! Verify, not trust: the kernel's view of every process of a container, compared with what its
//! profile requires.
//!
//! The hardened spec in `<root>/<id>/bundle/config.json` is what the profile decided for this
//! container (its mode and granted exceptions included), so most requirements come from it: a
//! seccomp filter when it has `linux.seccomp`, `no_new_privs` when it says so, capability sets
//! within its sets, the init's user, its namespaces and id mappings, its root, masked, read-only
//! and mount flags. Three come from the profile itself, because they bind every process and not
//! only the init: no root (`user`), a user namespace (`userns`) and private namespaces
//! (`namespaces`), each where the profile enforces the rule and the container's record does not
//! say it was only audited.
//!
//! The module is split in two. The pure half ([`Expect`], the parsers, the `compare_*`
//! functions and [`check`]) takes parsed data and names each drift; it is what the future
//! monitor's drift scan reuses. The thin reader ([`inspect`]) finds the container's processes
//! (its cgroup through [`crate::runtime::delegate::pids`], plus any process in both its pid and mount
//! namespaces) and reads `/proc/<pid>/{status,ns,uid_map,gid_map,mountinfo}` and
//! `/proc/<pid>/task/*/status`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::base::rule::Action;
use crate::profile::Profile;

// ---------------------------------------------------------------------------------------------
// What the kernel shows: parsed /proc files
// ---------------------------------------------------------------------------------------------

/// The fields of `/proc/<pid>/status` (or `/proc/<pid>/task/<tid>/status`) the check reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Status {
    /// `Name`: the command name (comm)
    pub name: String,
    /// `State`: the first letter (`R`, `S`, `Z`, …)
    pub state: char,
    /// `Uid`: real, effective, saved, filesystem (as the host sees them)
    pub uid: [u32; 4],
    pub gid: [u32; 4],
    pub groups: Vec<u32>,
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
    /// `NoNewPrivs` (absent on kernels before 4.10)
    pub no_new_privs: Option<u8>,
    /// `Seccomp`: 0 none, 1 strict, 2 filter (absent without CONFIG_SECCOMP)
    pub seccomp: Option<u8>,
}

/// Parses `/proc/<pid>/status`. Every field the check needs but `NoNewPrivs` and `Seccomp` must
/// be there; an error names the field.
pub fn parse_status(text: &str) -> Result<Status, String> {
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            fields.insert(k.trim(), v.trim());
        }
    }
    let get = |k: &str| fields.get(k).copied().ok_or(format!("no {k} field"));
    let ids = |k: &str| -> Result<[u32; 4], String> {
        let v: Vec<u32> = get(k)?
            .split_whitespace()
            .map(|n| n.parse().map_err(|_| format!("{k}: {n:?} is not a number")))
            .collect::<Result<_, _>>()?;
        v.try_into()
            .map_err(|v: Vec<u32>| format!("{k}: {} values, not 4", v.len()))
    };
    let cap = |k: &str| -> Result<u64, String> {
        let v = get(k)?;
        u64::from_str_radix(v, 16).map_err(|_| format!("{k}: {v:?} is not a hexadecimal mask"))
    };
    let small = |k: &str| -> Result<Option<u8>, String> {
        fields
            .get(k)
            .map(|v| v.parse().map_err(|_| format!("{k}: {v:?} is not a number")))
            .transpose()
    };
    Ok(Status {
        name: get("Name")?.to_owned(),
        state: get("State")?.chars().next().unwrap_or('?'),
        uid: ids("Uid")?,
        gid: ids("Gid")?,
        groups: fields
            .get("Groups")
            .copied()
            .unwrap_or("")
            .split_whitespace()
            .map(|n| {
                n.parse()
                    .map_err(|_| format!("Groups: {n:?} is not a number"))
            })
            .collect::<Result<_, _>>()?,
        cap_inh: cap("CapInh")?,
        cap_prm: cap("CapPrm")?,
        cap_eff: cap("CapEff")?,
        cap_bnd: cap("CapBnd")?,
        cap_amb: cap("CapAmb")?,
        no_new_privs: small("NoNewPrivs")?,
        seccomp: small("Seccomp")?,
    })
}

/// One line of `uid_map`/`gid_map` (or one OCI mapping): `inside outside count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The map of a process in the host's user namespace.
pub const IDENTITY: [IdRange; 1] = [IdRange {
    inside: 0,
    outside: 0,
    count: u32::MAX,
}];

pub fn parse_id_map(text: &str) -> Result<Vec<IdRange>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let n: Vec<u32> = l
                .split_whitespace()
                .map(|n| n.parse().map_err(|_| format!("{n:?} is not an id")))
                .collect::<Result<_, _>>()?;
            match n[..] {
                [inside, outside, count] => Ok(IdRange {
                    inside,
                    outside,
                    count,
                }),
                _ => Err(format!("{l:?}: not `inside outside count`")),
            }
        })
        .collect()
}

fn show_map(map: &[IdRange]) -> String {
    map.iter()
        .map(|r| format!("{} {} {}", r.inside, r.outside, r.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The id inside the namespace that host id `outside` is, by `map` (None: not mapped).
pub fn to_inside(map: &[IdRange], outside: u32) -> Option<u32> {
    map.iter().find_map(|r| {
        let off = outside.checked_sub(r.outside)?;
        (off < r.count).then(|| r.inside + off)
    })
}

/// One line of `/proc/<pid>/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    /// the path inside the filesystem that is mounted (`/null` for a masked file)
    pub root: String,
    /// where, relative to the process's root
    pub mount_point: String,
    /// per-mount options (`ro`, `nosuid`, `nodev`, `noexec`, …)
    pub options: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_options: Vec<String>,
}

impl Mount {
    /// Whether the mount has a flag, per mount or (for `ro`, `nosuid`, …) on its superblock.
    pub fn has(&self, flag: &str) -> bool {
        self.options.iter().any(|o| o == flag) || self.super_options.iter().any(|o| o == flag)
    }

    pub fn read_only(&self) -> bool {
        self.has("ro")
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\134` for a backslash); a backslash
/// not followed by three octal digits of a byte stays as it is.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = (b[i] == b'\\')
            .then(|| b.get(i + 1..i + 4))
            .flatten()
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| {
                u8::try_from(d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0'))).ok()
            });
        match code {
            Some(n) => {
                out.push(n);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (left, right) = l
                .split_once(" - ")
                .ok_or_else(|| format!("{l:?}: no ` - ` separator"))?;
            let f: Vec<&str> = left.split_whitespace().collect();
            let r: Vec<&str> = right.split_whitespace().collect();
            if f.len() < 6 || r.len() < 2 {
                return Err(format!("{l:?}: too few fields"));
            }
            let num = |s: &str| s.parse::<u32>().map_err(|_| format!("{l:?}: bad mount id"));
            let opts = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
            Ok(Mount {
                id: num(f[0])?,
                parent: num(f[1])?,
                root: unescape(f[3]),
                mount_point: unescape(f[4]),
                options: opts(f[5]),
                fstype: r[0].to_owned(),
                source: unescape(r[1]),
                super_options: r.get(2).map(|s| opts(s)).unwrap_or_default(),
            })
        })
        .collect()
}

/// The mount the kernel shows at exactly `point` (the last one mounted there), if any.
pub fn mount_at<'a>(mounts: &'a [Mount], point: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == point)
}

/// Whether `path` is `dir` or below it (by components).
fn under(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The mount that holds `path`: the deepest mount point above it, the last one mounted there.
pub fn mount_of<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    // max_by_key keeps the last of equals: the mount on top
    mounts
        .iter()
        .filter(|m| under(path, &m.mount_point))
        .max_by_key(|m| m.mount_point.len())
}

// ---------------------------------------------------------------------------------------------
// What the profile requires of this container
// ---------------------------------------------------------------------------------------------

/// Capability sets as masks (bit n = capability n).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// A namespace the spec asks for: new (`path` none) or joined (`path`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NsExpect {
    /// the name under /proc/<pid>/ns (`net`, `mnt`, …)
    pub kind: String,
    pub path: Option<String>,
    pub pointer: String,
}

/// Flags a spec mount asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountExpect {
    pub destination: String,
    pub fstype: String,
    /// of `ro`, `nosuid`, `nodev`, `noexec`
    pub flags: Vec<String>,
    /// an `rbind` or a `cgroup` mount (one mount per controller on cgroup v1): what is mounted
    /// below it is part of it, and must be read-only too when it is
    pub recursive: bool,
    pub pointer: String,
}

/// Everything the kernel must show for this container, from its hardened spec and profile.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Expect {
    /// who requires it, for messages: `profile restricted` or `its spec`
    pub by: String,
    pub seccomp: bool,
    pub no_new_privs: bool,
    /// None: the spec sets no capabilities (the runtime leaves them), so nothing to hold them to
    pub caps: Option<CapSets>,
    /// the init's user: uid, gid, additional gids (container ids)
    pub user: (u32, u32, Vec<u32>),
    /// no process may be (container) uid or gid 0
    pub forbid_root: bool,
    pub namespaces: Vec<NsExpect>,
    /// namespace kinds the profile requires to be private (not the host's)
    pub private: Vec<String>,
    pub userns_required: bool,
    /// the spec's mappings, when it has a user namespace with mappings
    pub uid_map: Option<Vec<IdRange>>,
    pub gid_map: Option<Vec<IdRange>>,
    pub root_readonly: bool,
    /// the rootfs rule asked libcontainer for a nosuid root (`[rootfs] nosuid`)
    pub root_nosuid: bool,
    pub masked: Vec<String>,
    pub readonly: Vec<String>,
    pub mounts: Vec<MountExpect>,
    pub cgroup: Option<String>,
}

/// The /proc/<pid>/ns name of an OCI namespace type.
pub fn ns_file(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "pid" => "pid",
        "network" => "net",
        "mount" => "mnt",
        "ipc" => "ipc",
        "uts" => "uts",
        "user" => "user",
        "cgroup" => "cgroup",
        "time" => "time",
        _ => return None,
    })
}

/// The mask of a list of capability names (unknown names are left out: the runtime refuses
/// them at create).
pub fn cap_mask(names: Option<&Value>) -> u64 {
    use std::str::FromStr;
    names
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|n| caps::Capability::from_str(n).ok())
        .fold(0, |m, c| m | (1u64 << c.index()))
}

/// The capability names of a mask, `cap 41` for bits the crate does not know.
pub fn cap_names(mask: u64) -> Vec<String> {
    let known: BTreeMap<u8, String> = caps::all()
        .into_iter()
        .map(|c| (c.index(), c.to_string()))
        .collect();
    (0..64u8)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| known.get(&b).cloned().unwrap_or(format!("cap {b}")))
        .collect()
}

/// Whether the profile enforces rule `code` for this container: the profile says `enforce`
/// and no finding recorded at create says the rule was only audited (a `--mode audit` create).
pub fn enforced(profile: Option<&Profile>, findings: &[Value], code: &str) -> bool {
    profile
        .and_then(|p| p.rules.get(code))
        .is_some_and(|s| s.action() == Action::Enforce)
        && !findings
            .iter()
            .any(|f| f["code"] == code && f["action"] != "enforce")
}

fn mappings(spec: &Value, kind: &str) -> Option<Vec<IdRange>> {
    let a = spec
        .pointer(&format!("/linux/{kind}Mappings"))
        .and_then(Value::as_array)?;
    let n = |m: &Value, k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0) as u32;
    let mut v: Vec<IdRange> = a
        .iter()
        .map(|m| IdRange {
            inside: n(m, "containerID"),
            outside: n(m, "hostID"),
            count: n(m, "size"),
        })
        .collect();
    v.sort();
    (!v.is_empty()).then_some(v)
}

impl Expect {
    /// The requirements of a container: its hardened spec, the profile it was created under
    /// (if it still exists) and the findings recorded at create.
    pub fn new(spec: &Value, profile: Option<&Profile>, findings: &[Value]) -> Expect {
        let by = profile.map_or("its spec".to_owned(), |p| format!("profile {}", p.name));
        let caps = spec.pointer("/process/capabilities").map(|c| CapSets {
            bounding: cap_mask(c.get("bounding")),
            effective: cap_mask(c.get("effective")),
            permitted: cap_mask(c.get("permitted")),
            inheritable: cap_mask(c.get("inheritable")),
            ambient: cap_mask(c.get("ambient")),
        });
        let id = |p: &str| spec.pointer(p).and_then(Value::as_u64).unwrap_or(0) as u32;
        let extra: Vec<u32> = spec
            .pointer("/process/user/additionalGids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .map(|g| g as u32)
            .collect();
        let user = (id("/process/user/uid"), id("/process/user/gid"), extra);
        let namespaces: Vec<NsExpect> = spec
            .pointer("/linux/namespaces")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, n)| {
                Some(NsExpect {
                    kind: ns_file(n.get("type")?.as_str()?)?.to_owned(),
                    path: n
                        .get("path")
                        .and_then(Value::as_str)
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned),
                    pointer: format!("/linux/namespaces/{i}"),
                })
            })
            .collect();
        let has_userns = namespaces.iter().any(|n| n.kind == "user");
        let private = match profile {
            Some(p) if enforced(profile, findings, "namespaces") => p
                .namespaces
                .required
                .iter()
                .filter_map(|k| ns_file(k))
                .map(str::to_owned)
                .collect(),
            _ => vec![],
        };
        let strings = |p: &str| -> Vec<String> {
            spec.pointer(p)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        // the last spec mount at a destination is the one that shows
        let mut mounts: Vec<MountExpect> = vec![];
        for (i, m) in spec
            .pointer("/mounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let Some(dest) = m.get("destination").and_then(Value::as_str) else {
                continue;
            };
            let dest = normalize(dest);
            let opts: Vec<&str> = m
                .get("options")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            // options apply in order: a later `rw`/`suid`/… undoes an earlier flag
            let mut flags: Vec<String> = vec![];
            for o in &opts {
                let (set, clear) = match *o {
                    "ro" => ("ro", ""),
                    "rw" => ("", "ro"),
                    "nosuid" => ("nosuid", ""),
                    "suid" => ("", "nosuid"),
                    "nodev" => ("nodev", ""),
                    "dev" => ("", "nodev"),
                    "noexec" => ("noexec", ""),
                    "exec" => ("", "noexec"),
                    _ => continue,
                };
                flags.retain(|f| f != clear && f != set);
                if !set.is_empty() {
                    flags.push(set.to_owned());
                }
            }
            let fstype = m.get("type").and_then(Value::as_str).unwrap_or("");
            mounts.retain(|e| e.destination != dest);
            mounts.push(MountExpect {
                destination: dest,
                fstype: fstype.to_owned(),
                flags,
                recursive: opts.contains(&"rbind") || fstype == "cgroup",
                pointer: format!("/mounts/{i}"),
            });
        }
        let forbid_root = enforced(profile, findings, "user") && user.0 != 0 && user.1 != 0;
        Expect {
            by,
            seccomp: spec.pointer("/linux/seccomp").is_some_and(Value::is_object),
            no_new_privs: spec.pointer("/process/noNewPrivileges") == Some(&Value::Bool(true)),
            caps,
            user,
            forbid_root,
            private,
            userns_required: has_userns || enforced(profile, findings, "userns"),
            uid_map: if has_userns {
                mappings(spec, "uid")
            } else {
                None
            },
            gid_map: if has_userns {
                mappings(spec, "gid")
            } else {
                None
            },
            namespaces,
            root_readonly: spec.pointer("/root/readonly") == Some(&Value::Bool(true)),
            root_nosuid: spec
                .get("annotations")
                .and_then(|a| a.get(crate::policy::rules::rootfs::NOSUID_ANNOTATION))
                .and_then(Value::as_str)
                == Some("true"),
            masked: strings("/linux/maskedPaths"),
            readonly: strings("/linux/readonlyPaths"),
            mounts,
            cgroup: spec
                .pointer("/linux/cgroupsPath")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }
}

/// `/a//b/` → `/a/b`.
fn normalize(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

// ---------------------------------------------------------------------------------------------
// Drifts
// ---------------------------------------------------------------------------------------------

/// What kind of requirement a drift breaks (also the SARIF rule: `live-<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Seccomp,
    NoNewPrivs,
    Capabilities,
    User,
    Namespaces,
    IdMap,
    Mounts,
    Cgroup,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Seccomp,
        Kind::NoNewPrivs,
        Kind::Capabilities,
        Kind::User,
        Kind::Namespaces,
        Kind::IdMap,
        Kind::Mounts,
        Kind::Cgroup,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Kind::Seccomp => "live-seccomp",
            Kind::NoNewPrivs => "live-no-new-privs",
            Kind::Capabilities => "live-capabilities",
            Kind::User => "live-user",
            Kind::Namespaces => "live-namespaces",
            Kind::IdMap => "live-id-map",
            Kind::Mounts => "live-mounts",
            Kind::Cgroup => "live-cgroup",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Kind::Seccomp => "a process of the container runs without the seccomp filter its profile requires",
            Kind::NoNewPrivs => "a process of the container can gain privileges (no_new_privs is off)",
            Kind::Capabilities => "a process of the container holds capabilities beyond its profile's sets",
            Kind::User => "a process of the container runs as a user its profile does not allow",
            Kind::Namespaces => "a process of the container is in a host namespace or not in the container's",
            Kind::IdMap => "a process of the container has user namespace id mappings other than its profile's",
            Kind::Mounts => "the container's mounts are not as read-only, masked or restricted as its profile requires",
            Kind::Cgroup => "a process in the container's namespaces is outside the container's cgroup",
        }
    }
}

/// One difference between the kernel's view and what the profile requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub kind: Kind,
    /// what was read (`Seccomp`, `CapEff`, `net namespace`, `mount /`)
    pub field: String,
    /// what the kernel shows
    pub actual: String,
    /// what is required
    pub expected: String,
    /// who requires it (`profile restricted`, `its spec`)
    pub by: String,
    /// more words, e.g. the extra capabilities' names
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// the spec field the requirement comes from
    pub pointer: String,
    /// the thread, when it is not the process's main thread
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<i32>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}, {} requires {}",
            self.field, self.actual, self.by, self.expected
        )?;
        if let Some(d) = &self.detail {
            write!(f, "; {d}")?;
        }
        Ok(())
    }
}

fn drift(
    e: &Expect,
    kind: Kind,
    field: impl Into<String>,
    actual: impl Into<String>,
    expected: impl Into<String>,
    pointer: &str,
) -> Drift {
    Drift {
        kind,
        field: field.into(),
        actual: actual.into(),
        expected: expected.into(),
        by: e.by.clone(),
        detail: None,
        pointer: pointer.to_owned(),
        tid: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The comparisons (pure)
// ---------------------------------------------------------------------------------------------

/// Seccomp, no_new_privs, capabilities and user of one process (or thread). `uid_map` and
/// `gid_map` are the process's own (as the kernel shows them), used to see its ids as the
/// container does; `init` says whether it is the container's init (held to the spec's user).
pub fn compare_status(
    e: &Expect,
    st: &Status,
    uid_map: &[IdRange],
    gid_map: &[IdRange],
    init: bool,
) -> Vec<Drift> {
    let mut out = vec![];
    if e.seccomp && st.seccomp != Some(2) {
        out.push(drift(
            e,
            Kind::Seccomp,
            "Seccomp",
            st.seccomp.map_or("absent".into(), |s| s.to_string()),
            "2 (filter)",
            "/linux/seccomp",
        ));
    }
    if e.no_new_privs && st.no_new_privs != Some(1) {
        out.push(drift(
            e,
            Kind::NoNewPrivs,
            "NoNewPrivs",
            st.no_new_privs.map_or("absent".into(), |s| s.to_string()),
            "1",
            "/process/noNewPrivileges",
        ));
    }
    if let Some(c) = &e.caps {
        for (field, have, allowed, set) in [
            ("CapEff", st.cap_eff, c.effective, "effective"),
            ("CapPrm", st.cap_prm, c.permitted, "permitted"),
            ("CapBnd", st.cap_bnd, c.bounding, "bounding"),
            ("CapAmb", st.cap_amb, c.ambient, "ambient"),
            ("CapInh", st.cap_inh, c.inheritable, "inheritable"),
        ] {
            let extra = have & !allowed;
            if extra != 0 {
                let names = cap_names(allowed);
                let mut d = drift(
                    e,
                    Kind::Capabilities,
                    field,
                    format!("{have:016x}"),
                    format!(
                        "at most {allowed:016x} ({})",
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ),
                    &format!("/process/capabilities/{set}"),
                );
                let names = cap_names(extra);
                d.detail = Some(if names.len() > 6 {
                    format!(
                        "extra: {} and {} more",
                        names[..6].join(", "),
                        names.len() - 6
                    )
                } else {
                    format!("extra: {}", names.join(", "))
                });
                out.push(d);
            }
        }
    }
    // ids as the container sees them (a host id outside the map is shown as itself)
    let inside = |map: &[IdRange], ids: [u32; 4]| ids.map(|i| to_inside(map, i).unwrap_or(i));
    let show = |ids: [u32; 4]| ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
    let (uids, gids) = (inside(uid_map, st.uid), inside(gid_map, st.gid));
    let as_seen = |host: [u32; 4], seen: [u32; 4]| {
        if host == seen {
            show(host)
        } else {
            format!("{} (in the container {})", show(host), show(seen))
        }
    };
    let (uid, gid, extra) = &e.user;
    // the init of a spec that names a non-root user stays exactly that user; a root init may
    // become anyone (dropping root is not a drift)
    if init && *uid != 0 {
        if uids != [*uid; 4] {
            out.push(drift(
                e,
                Kind::User,
                "Uid",
                as_seen(st.uid, uids),
                show([*uid; 4]),
                "/process/user/uid",
            ));
        }
        if gids != [*gid; 4] {
            out.push(drift(
                e,
                Kind::User,
                "Gid",
                as_seen(st.gid, gids),
                show([*gid; 4]),
                "/process/user/gid",
            ));
        }
        let groups: BTreeSet<u32> = st
            .groups
            .iter()
            .map(|g| to_inside(gid_map, *g).unwrap_or(*g))
            .collect();
        let allowed: BTreeSet<u32> = extra.iter().copied().chain([*gid]).collect();
        let beyond: Vec<String> = groups.difference(&allowed).map(u32::to_string).collect();
        if !beyond.is_empty() {
            out.push(drift(
                e,
                Kind::User,
                "Groups",
                beyond.join(" "),
                format!(
                    "only {}",
                    allowed
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                "/process/user/additionalGids",
            ));
        }
    } else if e.forbid_root {
        if uids.contains(&0) {
            out.push(drift(
                e,
                Kind::User,
                "Uid",
                as_seen(st.uid, uids),
                "no root (uid 0)",
                "/process/user/uid",
            ));
        }
        if gids.contains(&0) {
            out.push(drift(
                e,
                Kind::User,
                "Gid",
                as_seen(st.gid, gids),
                "no root group (gid 0)",
                "/process/user/gid",
            ));
        }
        if st.groups.iter().any(|g| to_inside(gid_map, *g) == Some(0)) {
            out.push(drift(
                e,
                Kind::User,
                "Groups",
                "0",
                "no root group (gid 0)",
                "/process/user/additionalGids",
            ));
        }
    }
    out
}

/// The namespaces the host and the runtime are in, and those the spec joins by path:
/// `kind` → `net:[4026531840]`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reference {
    /// pid 1's (the host's, as far as hardrun can see)
    pub host: BTreeMap<String, String>,
    /// hardrun's own
    pub own: BTreeMap<String, String>,
    /// the namespace each spec path names; None where it cannot be read
    pub joined: BTreeMap<String, Option<String>>,
}

/// The namespaces of one process against the spec's, the profile's and the init's.
pub fn compare_namespaces(
    e: &Expect,
    ns: &BTreeMap<String, String>,
    init_ns: &BTreeMap<String, String>,
    r: &Reference,
) -> Vec<Drift> {
    let mut out = vec![];
    let mut judged = BTreeSet::new();
    let hostish = |kind: &str, id: &str| {
        if r.host.get(kind).is_some_and(|h| h == id) {
            Some("the host's")
        } else if r.own.get(kind).is_some_and(|h| h == id) {
            Some("hardrun's own")
        } else {
            None
        }
    };
    for n in &e.namespaces {
        let Some(id) = ns.get(&n.kind) else { continue };
        judged.insert(n.kind.clone());
        match &n.path {
            None => {
                if let Some(whose) = hostish(&n.kind, id) {
                    out.push(drift(
                        e,
                        Kind::Namespaces,
                        format!("{} namespace", n.kind),
                        format!("{id} ({whose})"),
                        "a new one",
                        &n.pointer,
                    ));
                }
            }
            Some(path) => {
                if let Some(Some(want)) = r.joined.get(path) {
                    if want != id {
                        out.push(drift(
                            e,
                            Kind::Namespaces,
                            format!("{} namespace", n.kind),
                            id.clone(),
                            format!("{want} ({path})"),
                            &n.pointer,
                        ));
                    }
                }
            }
        }
    }
    for kind in &e.private {
        if judged.contains(kind) {
            continue;
        }
        if let Some(id) = ns.get(kind) {
            if let Some(whose) = hostish(kind, id) {
                out.push(drift(
                    e,
                    Kind::Namespaces,
                    format!("{kind} namespace"),
                    format!("{id} ({whose})"),
                    "a private one",
                    "/linux/namespaces",
                ));
            }
        }
    }
    for (kind, want) in init_ns {
        match ns.get(kind) {
            Some(id) if id != want => out.push(drift(
                e,
                Kind::Namespaces,
                format!("{kind} namespace"),
                id.clone(),
                format!("the init's {want}"),
                "/linux/namespaces",
            )),
            _ => {}
        }
    }
    out
}

/// A user namespace's maps against the spec's and the profile's.
pub fn compare_id_maps(e: &Expect, uid_map: &[IdRange], gid_map: &[IdRange]) -> Vec<Drift> {
    let mut out = vec![];
    for (field, have, want, pointer) in [
        ("uid_map", uid_map, &e.uid_map, "/linux/uidMappings"),
        ("gid_map", gid_map, &e.gid_map, "/linux/gidMappings"),
    ] {
        let mut have_sorted = have.to_vec();
        have_sorted.sort();
        if e.userns_required && have_sorted == IDENTITY {
            out.push(drift(
                e,
                Kind::IdMap,
                field,
                format!("{} (the host's identity map)", show_map(have)),
                "a user namespace",
                pointer,
            ));
        } else if let Some(want) = want {
            if &have_sorted != want {
                out.push(drift(
                    e,
                    Kind::IdMap,
                    field,
                    show_map(have),
                    show_map(want),
                    pointer,
                ));
            }
        }
    }
    out
}

/// The mount table one mount namespace of the container shows, and where the spec's paths are
/// inside its root.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MountView {
    pub mounts: Vec<Mount>,
    /// each spec path (masked, read-only, mount destination) → the path it resolves to inside
    /// the container's root (symlinks followed), None when it does not exist there
    pub resolved: BTreeMap<String, Option<String>>,
}

impl MountView {
    fn resolve<'a>(&'a self, path: &'a str) -> Option<&'a str> {
        match self.resolved.get(path) {
            Some(r) => r.as_deref(),
            None => Some(path),
        }
    }
}

/// The spec paths [`compare_mounts`] looks up: masked, read-only and mount destinations.
pub fn mount_paths(e: &Expect) -> Vec<String> {
    let mut v: Vec<String> = e
        .masked
        .iter()
        .chain(&e.readonly)
        .cloned()
        .chain(e.mounts.iter().map(|m| m.destination.clone()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The root, masked paths, read-only paths and spec mounts against a mount table.
pub fn compare_mounts(e: &Expect, v: &MountView) -> Vec<Drift> {
    let mut out = vec![];
    let ms = &v.mounts;
    if e.root_readonly {
        match mount_at(ms, "/") {
            Some(m) if m.read_only() => {}
            Some(_) => out.push(drift(
                e,
                Kind::Mounts,
                "mount /",
                "rw",
                "ro (root.readonly)",
                "/root/readonly",
            )),
            None => out.push(drift(
                e,
                Kind::Mounts,
                "mount /",
                "not found",
                "ro (root.readonly)",
                "/root/readonly",
            )),
        }
    }
    if e.root_nosuid {
        if let Some(m) = mount_at(ms, "/").filter(|m| !m.has("nosuid")) {
            out.push(drift(
                e,
                Kind::Mounts,
                "mount /",
                m.options.join(","),
                "nosuid ([rootfs] nosuid)",
                &format!(
                    "/annotations/{}",
                    crate::policy::rules::rootfs::NOSUID_ANNOTATION
                ),
            ));
        }
    }
    for (i, p) in e.masked.iter().enumerate() {
        let Some(at) = v.resolve(p) else { continue };
        let masked = mount_at(ms, at)
            .is_some_and(|m| m.root.ends_with("/null") || (m.read_only() && m.fstype == "tmpfs"));
        if !masked {
            out.push(drift(
                e,
                Kind::Mounts,
                format!("masked path {p}"),
                "visible",
                "masked",
                &format!("/linux/maskedPaths/{i}"),
            ));
        }
    }
    for (i, p) in e.readonly.iter().enumerate() {
        let Some(at) = v.resolve(p) else { continue };
        if mount_of(ms, at).is_some_and(|m| !m.read_only()) {
            out.push(drift(
                e,
                Kind::Mounts,
                format!("read-only path {p}"),
                "rw",
                "ro",
                &format!("/linux/readonlyPaths/{i}"),
            ));
        }
    }
    let owned: BTreeSet<&str> = e
        .mounts
        .iter()
        .map(|m| m.destination.as_str())
        .chain(e.masked.iter().map(String::as_str))
        .chain(e.readonly.iter().map(String::as_str))
        .filter_map(|p| v.resolve(p))
        .collect();
    for m in &e.mounts {
        let dest = v.resolve(&m.destination).unwrap_or(&m.destination);
        let Some(k) = mount_at(ms, dest) else {
            out.push(drift(
                e,
                Kind::Mounts,
                format!("mount {}", m.destination),
                "not mounted",
                if m.flags.is_empty() {
                    "a mount".to_owned()
                } else {
                    m.flags.join(",")
                },
                &m.pointer,
            ));
            continue;
        };
        let missing: Vec<&str> = m
            .flags
            .iter()
            .map(String::as_str)
            .filter(|f| !k.has(f))
            .collect();
        if !missing.is_empty() {
            out.push(drift(
                e,
                Kind::Mounts,
                format!("mount {}", m.destination),
                k.options.join(","),
                m.flags.join(","),
                &m.pointer,
            ));
        }
        // a read-only rbind or cgroup mount: what is mounted below it must be read-only too
        if m.recursive && m.flags.iter().any(|f| f == "ro") {
            let mut seen = BTreeSet::new();
            for sub in ms.iter().rev() {
                let p = sub.mount_point.as_str();
                if p == dest || !under(p, dest) || owned.contains(p) || !seen.insert(p) {
                    continue;
                }
                if !sub.read_only() {
                    out.push(drift(
                        e,
                        Kind::Mounts,
                        format!("mount {p}"),
                        sub.options.join(","),
                        format!("ro (below the read-only mount {})", m.destination),
                        &m.pointer,
                    ));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// One container
// ---------------------------------------------------------------------------------------------

/// What was read of one process.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessView {
    pub pid: i32,
    pub status: Status,
    /// the other threads' status: (tid, status)
    pub threads: Vec<(i32, Status)>,
    /// `net` → `net:[4026531840]`
    pub ns: BTreeMap<String, String>,
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
    /// the first process of each mount namespace carries its mount table
    pub mounts: Option<MountView>,
    /// listed in the container's cgroup (false: found by its pid and mount namespaces only)
    pub in_cgroup: bool,
}

/// The drifts of one process.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessReport {
    pub pid: i32,
    pub comm: String,
    pub init: bool,
    pub drifts: Vec<Drift>,
}

/// The live check of one container.
#[derive(Debug, Clone, Serialize)]
pub struct LiveReport {
    pub id: String,
    pub status: String,
    pub profile: Option<String>,
    pub init_pid: Option<i32>,
    pub processes: Vec<ProcessReport>,
    /// what could not be read, so was not verified (each makes the check fail)
    pub unverified: Vec<String>,
}

impl LiveReport {
    pub fn drift_count(&self) -> usize {
        self.processes.iter().map(|p| p.drifts.len()).sum()
    }

    /// Clean: every process read and none drifts.
    pub fn clean(&self) -> bool {
        self.drift_count() == 0 && self.unverified.is_empty()
    }

    /// One line per drift: `c1 pid 4242 (sh): Seccomp 0, profile restricted requires 2 (filter)`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![];
        for p in &self.processes {
            for d in &p.drifts {
                let thread = d.tid.map(|t| format!(" thread {t}")).unwrap_or_default();
                out.push(format!(
                    "{} pid {}{thread} ({}): {d}",
                    self.id, p.pid, p.comm
                ));
            }
        }
        for u in &self.unverified {
            out.push(format!("{}: not verified: {u}", self.id));
        }
        out
    }

    /// The one-line summary: `c1 (running, profile restricted): 2 processes, no drift`.
    pub fn summary(&self) -> String {
        let n = self.processes.len();
        let d = self.drift_count();
        format!(
            "{} ({}{}): {n} process{}, {}{}",
            self.id,
            self.status,
            self.profile
                .as_deref()
                .map(|p| format!(", profile {p}"))
                .unwrap_or_default(),
            if n == 1 { "" } else { "es" },
            match d {
                0 => "no drift".to_owned(),
                1 => "1 drift".to_owned(),
                _ => format!("{d} drifts"),
            },
            if self.unverified.is_empty() {
                String::new()
            } else {
                format!(", {} not verified", self.unverified.len())
            }
        )
    }
}

/// The drifts of a container's processes: `procs` as read (the init first, if it is alive).
pub fn check(
    e: &Expect,
    init_pid: Option<i32>,
    procs: &[ProcessView],
    r: &Reference,
) -> Vec<ProcessReport> {
    let init_ns = procs
        .iter()
        .find(|p| Some(p.pid) == init_pid)
        .map(|p| p.ns.clone())
        .unwrap_or_default();
    let mut maps_seen = BTreeSet::new();
    procs
        .iter()
        .map(|p| {
            let init = Some(p.pid) == init_pid;
            let mut drifts = compare_status(e, &p.status, &p.uid_map, &p.gid_map, init);
            for (tid, st) in &p.threads {
                for mut d in compare_status(e, st, &p.uid_map, &p.gid_map, init) {
                    d.tid = Some(*tid);
                    drifts.push(d);
                }
            }
            drifts.extend(compare_namespaces(e, &p.ns, &init_ns, r));
            // one user namespace's maps are judged once
            if maps_seen.insert(p.ns.get("user").cloned().unwrap_or_default()) {
                drifts.extend(compare_id_maps(e, &p.uid_map, &p.gid_map));
            }
            if let Some(m) = &p.mounts {
                drifts.extend(compare_mounts(e, m));
            }
            if !p.in_cgroup {
                let cg = e.cgroup.as_deref().unwrap_or("the container's cgroup");
                drifts.push(drift(
                    e,
                    Kind::Cgroup,
                    "cgroup",
                    format!("outside {cg} (found in the container's pid and mount namespaces)"),
                    format!("{cg} (the container's limits)"),
                    "/linux/cgroupsPath",
                ));
            }
            ProcessReport {
                pid: p.pid,
                comm: p.status.name.clone(),
                init,
                drifts,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The reader
// ---------------------------------------------------------------------------------------------

const NS_KINDS: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/// The namespaces of `/proc/<pid>` (`self`, `1`, …); kinds the kernel lacks are left out.
pub fn read_ns(proc_dir: &Path) -> BTreeMap<String, String> {
    NS_KINDS
        .iter()
        .filter_map(|k| {
            let l = std::fs::read_link(proc_dir.join("ns").join(k)).ok()?;
            Some((k.to_string(), l.to_string_lossy().into_owned()))
        })
        .collect()
}

/// The namespace a file names (`/proc/123/ns/net`, a bind-mounted `/run/netns/x`).
fn ns_of_path(kind: &str, path: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(format!("{kind}:[{}]", m.ino()))
}

/// Resolves `path` inside the root at `root` (`/proc/<pid>/root`) the way the container sees
/// it: symlinks, absolute ones included, stay inside that root. None when it does not exist.
pub fn resolve_in(root: &Path, path: &str) -> Option<String> {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .rev()
        .map(str::to_owned)
        .collect();
    let mut done: Vec<String> = vec![];
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let here = root.join(done.join("/")).join(&part);
        let meta = std::fs::symlink_metadata(&here).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = std::fs::read_link(&here).ok()?;
            let target = target.to_string_lossy();
            if target.starts_with('/') {
                done.clear();
            }
            todo.extend(
                target
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .rev()
                    .map(str::to_owned),
            );
        } else {
            done.push(part);
        }
    }
    Some(format!("/{}", done.join("/")))
}

/// Reading a process that has exited is not an error: it is simply not there any more.
fn gone(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// Whether `pid` has exited (or is a zombie) by now: what could not be read of it then is not a
/// failure to verify, it is a process that no longer runs.
fn exited(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| parse_status(&t).ok())
        .is_none_or(|s| s.state == 'Z' || s.state == 'X')
}

enum Read {
    View(Box<ProcessView>),
    /// exited, or a zombie (it runs no code)
    Gone,
    Failed(String),
}

fn read_process(pid: i32, e: &Expect, mnt_seen: &mut BTreeSet<String>) -> Read {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let text = |name: &str| std::fs::read_to_string(dir.join(name));
    let status = match text("status") {
        Ok(t) => match parse_status(&t) {
            Ok(s) => s,
            Err(m) => return Read::Failed(format!("/proc/{pid}/status: {m}")),
        },
        Err(err) if gone(&err) => return Read::Gone,
        Err(err) => return Read::Failed(format!("cannot read /proc/{pid}/status: {err}")),
    };
    if status.state == 'Z' || status.state == 'X' {
        return Read::Gone;
    }
    let mut threads = vec![];
    if let Ok(entries) = std::fs::read_dir(dir.join("task")) {
        for t in entries.flatten() {
            let Some(tid) = t.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if tid == pid {
                continue;
            }
            if let Ok(st) = std::fs::read_to_string(t.path().join("status"))
                .map_err(|e| e.to_string())
                .and_then(|t| parse_status(&t))
            {
                threads.push((tid, st));
            }
        }
    }
    threads.sort_by_key(|(t, _)| *t);
    // an exiting process loses its namespaces and mount table first
    let failed = |m: String| {
        if exited(pid) {
            Read::Gone
        } else {
            Read::Failed(m)
        }
    };
    let ns = read_ns(&dir);
    if ns.is_empty() {
        return failed(format!("cannot read /proc/{pid}/ns"));
    }
    let map = |name: &str| -> Result<Vec<IdRange>, String> {
        let t = text(name).map_err(|e| format!("cannot read /proc/{pid}/{name}: {e}"))?;
        parse_id_map(&t).map_err(|m| format!("/proc/{pid}/{name}: {m}"))
    };
    let (uid_map, gid_map) = match (map("uid_map"), map("gid_map")) {
        (Ok(u), Ok(g)) => (u, g),
        (Err(m), _) | (_, Err(m)) => return failed(m),
    };
    let mut mounts = None;
    let mnt = ns.get("mnt").cloned().unwrap_or_default();
    if !mnt_seen.contains(&mnt) {
        let table = match text("mountinfo") {
            Ok(t) if t.trim().is_empty() => {
                return failed(format!("/proc/{pid}/mountinfo is empty"))
            }
            Ok(t) => match parse_mountinfo(&t) {
                Ok(m) => m,
                Err(m) => return failed(format!("/proc/{pid}/mountinfo: {m}")),
            },
            Err(err) => return failed(format!("cannot read /proc/{pid}/mountinfo: {err}")),
        };
        let root = dir.join("root");
        let resolved = mount_paths(e)
            .into_iter()
            .map(|p| {
                let r = resolve_in(&root, &p);
                (p, r)
            })
            .collect();
        mnt_seen.insert(mnt);
        mounts = Some(MountView {
            mounts: table,
            resolved,
        });
    }
    Read::View(Box::new(ProcessView {
        pid,
        status,
        threads,
        ns,
        uid_map,
        gid_map,
        mounts,
        in_cgroup: true,
    }))
}

/// The pids in both the pid and the mount namespace of the container's init: its processes,
/// wherever their cgroup is. A pod neighbour that shares only the pid namespace has a mount
/// namespace of its own (every container does), so it is not counted.
fn pids_in_namespaces_of(init: i32) -> Vec<i32> {
    let link = |pid: i32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok();
    let (Some(pid_ns), Some(mnt_ns)) = (link(init, "pid"), link(init, "mnt")) else {
        return vec![];
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            link(*pid, "pid").as_ref() == Some(&pid_ns)
                && link(*pid, "mnt").as_ref() == Some(&mnt_ns)
        })
        .collect()
}

/// Reads the kernel's view of every process of the container in `container_dir` and compares
/// it with what `profile` (the one it was created under, if it still exists) requires.
pub fn inspect(
    container_dir: &Path,
    id: &str,
    profile: Option<&Profile>,
) -> Result<LiveReport, String> {
    use crate::runtime::delegate::Status;
    let container = crate::runtime::delegate::load(container_dir, id).map_err(|e| e.to_string())?;
    let (_, spec) = crate::bundle::load_staged(container_dir).map_err(|e| e.to_string())?;
    let record = crate::runtime::state_dir::read_record(container_dir);
    let findings = record
        .as_ref()
        .map(|r| r.findings.clone())
        .unwrap_or_default();
    let mut report = LiveReport {
        id: id.to_owned(),
        status: container.status().name().to_owned(),
        profile: record.as_ref().and_then(|r| r.profile.clone()),
        init_pid: container.pid().map(|p| p.as_raw()),
        processes: vec![],
        unverified: vec![],
    };
    if report.profile.is_some() && profile.is_none() {
        report.unverified.push(format!(
            "profile {} is not known any more: only the spec's requirements were checked",
            report.profile.as_deref().unwrap_or_default()
        ));
    }
    if !matches!(
        container.status(),
        Status::Created | Status::Running | Status::Paused
    ) {
        return Ok(report);
    }
    let e = Expect::new(&spec, profile, &findings);
    let reference = Reference {
        host: read_ns(Path::new("/proc/1")),
        own: read_ns(Path::new("/proc/self")),
        joined: e
            .namespaces
            .iter()
            .filter_map(|n| {
                let p = n.path.clone()?;
                let ns = ns_of_path(&n.kind, &p);
                Some((p, ns))
            })
            .collect(),
    };
    let in_cgroup: BTreeSet<i32> = match crate::runtime::delegate::pids(&container) {
        Ok(p) => p.iter().map(|p| p.as_raw()).collect(),
        Err(err) => {
            report
                .unverified
                .push(format!("cannot list the container's cgroup: {err}"));
            BTreeSet::new()
        }
    };
    // the init first (its namespaces and mounts are the reference), then the cgroup, then any
    // process that is in the container's own pid and mount namespaces without being in its cgroup
    let mut order: Vec<i32> = report.init_pid.into_iter().collect();
    order.extend(
        in_cgroup
            .iter()
            .copied()
            .filter(|p| Some(*p) != report.init_pid),
    );
    if let Some(init) = report.init_pid {
        if let Ok(pid_ns) = std::fs::read_link(format!("/proc/{init}/ns/pid")) {
            let pid_ns = pid_ns.to_string_lossy().into_owned();
            let shared = |m: &BTreeMap<String, String>| m.get("pid") == Some(&pid_ns);
            if !shared(&reference.host) && !shared(&reference.own) {
                let mut extra = pids_in_namespaces_of(init);
                extra.sort();
                extra.retain(|p| !order.contains(p));
                order.extend(extra);
            }
        }
    }
    let mut views = vec![];
    let mut mnt_seen = BTreeSet::new();
    for pid in order {
        match read_process(pid, &e, &mut mnt_seen) {
            Read::View(mut v) => {
                v.in_cgroup = in_cgroup.is_empty() || in_cgroup.contains(&pid);
                views.push(*v);
            }
            Read::Gone => {}
            Read::Failed(m) => report.unverified.push(m),
        }
    }
    if views.is_empty() {
        report
            .unverified
            .push("no process of the container could be read".to_owned());
    }
    report.processes = check(&e, report.init_pid, &views, &reference);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `/proc/<pid>/status` of a restricted container's init on this machine (kernel 6.18).
    const STATUS_RESTRICTED: &str = "Name:\tsleep
Umask:\t0022
State:\tS (sleeping)
Tgid:\t9835
Ngid:\t0
Pid:\t9835
PPid:\t9815
TracerPid:\t0
Uid:\t65534\t65534\t65534\t65534
Gid:\t65534\t65534\t65534\t65534
FDSize:\t64
Groups:\t 
NStgid:\t9835\t1
NSpid:\t9835\t1
NSpgid:\t9835\t1
NSsid:\t9835\t1
Kthread:\t0
VmPeak:\t    1116 kB
Threads:\t1
SigQ:\t0/7633
CapInh:\t0000000000000400
CapPrm:\t0000000000000400
CapEff:\t0000000000000400
CapBnd:\t0000000000000400
CapAmb:\t0000000000000400
NoNewPrivs:\t1
Seccomp:\t2
Seccomp_filters:\t1
Speculation_Store_Bypass:\tthread vulnerable
Cpus_allowed_list:\t0-1
voluntary_ctxt_switches:\t2
nonvoluntary_ctxt_switches:\t1
";

    /// The same container, a process `nsenter -t <pid> -a` started in it from the host.
    fn nsentered() -> Status {
        let t = STATUS_RESTRICTED
            .replace("Name:\tsleep", "Name:\tsh")
            .replace("65534\t65534\t65534\t65534", "0\t0\t0\t0")
            .replace("CapInh:\t0000000000000400", "CapInh:\t0000000000000000")
            .replace("CapPrm:\t0000000000000400", "CapPrm:\t000001fffeffffff")
            .replace("CapEff:\t0000000000000400", "CapEff:\t000001fffeffffff")
            .replace("CapBnd:\t0000000000000400", "CapBnd:\t000001fffeffffff")
            .replace("CapAmb:\t0000000000000400", "CapAmb:\t0000000000000000")
            .replace("NoNewPrivs:\t1", "NoNewPrivs:\t0")
            .replace("Seccomp:\t2", "Seccomp:\t0");
        parse_status(&t).unwrap()
    }

    fn restricted_spec() -> Value {
        json!({
            "process": {
                "user": {"uid": 65534, "gid": 65534},
                "capabilities": {
                    "bounding": ["CAP_NET_BIND_SERVICE"], "effective": ["CAP_NET_BIND_SERVICE"],
                    "permitted": ["CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"],
                    "ambient": ["CAP_NET_BIND_SERVICE"]
                },
                "noNewPrivileges": true
            },
            "root": {"path": "/r", "readonly": true},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "mode=1777"]},
                {"destination": "/sys/fs/cgroup", "type": "bind", "source": "/sys/fs/cgroup", "options": ["rbind", "ro", "nosuid"]},
                {"destination": "/data dir", "type": "bind", "source": "/srv", "options": ["bind", "ro", "rw"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}, {"type": "ipc", "path": "/proc/77/ns/ipc"}],
                "seccomp": {"defaultAction": "SCMP_ACT_ERRNO"},
                "maskedPaths": ["/proc/keys", "/sys/firmware", "/proc/kcore"],
                "readonlyPaths": ["/proc/sys"],
                "cgroupsPath": "/hardrun/c1"
            }
        })
    }

    fn restricted() -> Profile {
        crate::profile::Catalog::builtin()
            .get("restricted")
            .unwrap()
            .clone()
    }

    fn expect() -> Expect {
        Expect::new(&restricted_spec(), Some(&restricted()), &[])
    }

    fn text(drifts: &[Drift]) -> Vec<String> {
        drifts.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn status_fixture_parses() {
        let s = parse_status(STATUS_RESTRICTED).unwrap();
        assert_eq!(
            s,
            Status {
                name: "sleep".into(),
                state: 'S',
                uid: [65534; 4],
                gid: [65534; 4],
                groups: vec![],
                cap_inh: 0x400,
                cap_prm: 0x400,
                cap_eff: 0x400,
                cap_bnd: 0x400,
                cap_amb: 0x400,
                no_new_privs: Some(1),
                seccomp: Some(2),
            }
        );
        for (broken, msg) in [
            (STATUS_RESTRICTED.replace("Uid:", "Uix:"), "no Uid field"),
            (
                STATUS_RESTRICTED.replace("CapEff:\t0000000000000400", "CapEff:\tzz"),
                "CapEff: \"zz\" is not a hexadecimal mask",
            ),
            (
                STATUS_RESTRICTED.replace("Gid:\t65534\t65534\t65534\t65534", "Gid:\t1\t2"),
                "Gid: 2 values, not 4",
            ),
        ] {
            assert_eq!(parse_status(&broken).unwrap_err(), msg);
        }
        // old kernels: no NoNewPrivs / Seccomp lines
        let old = STATUS_RESTRICTED
            .replace("NoNewPrivs:\t1\n", "")
            .replace("Seccomp:\t2\n", "");
        let s = parse_status(&old).unwrap();
        assert_eq!((s.no_new_privs, s.seccomp), (None, None));
        assert_eq!(parse_status("Name:\tx\nState:\tS\nUid:\t0 0 0 0\nGid:\t0 0 0 0\nGroups:\t0 10\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nCapAmb:\t0\n").unwrap().groups, vec![0, 10]);
    }

    #[test]
    fn expectations_from_spec_and_profile() {
        let e = expect();
        assert_eq!(e.by, "profile restricted");
        assert!(e.seccomp && e.no_new_privs && e.forbid_root && e.root_readonly);
        assert_eq!(e.caps.unwrap().bounding, 0x400);
        assert_eq!(e.user, (65534, 65534, vec![]));
        assert_eq!(
            e.namespaces
                .iter()
                .map(|n| n.kind.as_str())
                .collect::<Vec<_>>(),
            ["pid", "net", "mnt", "ipc"]
        );
        assert_eq!(e.namespaces[3].path.as_deref(), Some("/proc/77/ns/ipc"));
        assert_eq!(e.private, ["pid", "ipc", "uts", "mnt", "net", "cgroup"]);
        // restricted enforces userns: a user namespace is required even where the spec has none
        assert!(e.userns_required);
        let flags: Vec<(&str, Vec<String>, bool)> = e
            .mounts
            .iter()
            .map(|m| (m.destination.as_str(), m.flags.clone(), m.recursive))
            .collect();
        assert_eq!(
            flags,
            [
                ("/proc", vec![], false),
                (
                    "/tmp",
                    vec!["nosuid".into(), "nodev".into(), "noexec".into()],
                    false
                ),
                ("/sys/fs/cgroup", vec!["ro".into(), "nosuid".into()], true),
                // a later `rw` undoes the `ro`
                ("/data dir", vec![], false),
            ]
        );
        // a root init (an exception or an audit-mode create) is not held to "no root"
        let mut spec = restricted_spec();
        spec["process"]["user"] = json!({"uid": 0, "gid": 0});
        assert!(!Expect::new(&spec, Some(&restricted()), &[]).forbid_root);
        // no profile: the spec alone
        let e = Expect::new(&restricted_spec(), None, &[]);
        assert_eq!(e.by, "its spec");
        assert!(!e.forbid_root && e.private.is_empty() && e.seccomp);
        // a rule the record says was only audited is not enforced
        let audited = [json!({"code": "user", "action": "audit"})];
        assert!(!Expect::new(&restricted_spec(), Some(&restricted()), &audited).forbid_root);
        // a profile that only audits userns does not require it (where the spec has none)
        let mut p = restricted();
        p.rules.insert(
            "userns".into(),
            crate::profile::RuleSetting::Action(Action::Audit),
        );
        assert!(!Expect::new(&restricted_spec(), Some(&p), &[]).userns_required);
        // no capabilities in the spec: nothing to hold them to
        let mut spec = restricted_spec();
        spec["process"]
            .as_object_mut()
            .unwrap()
            .remove("capabilities");
        assert_eq!(Expect::new(&spec, None, &[]).caps, None);
    }

    #[test]
    fn status_table() {
        let e = expect();
        let init = parse_status(STATUS_RESTRICTED).unwrap();
        let id = IDENTITY.to_vec();
        let mapped = vec![IdRange {
            inside: 0,
            outside: 100000,
            count: 65536,
        }];
        let with = |f: &dyn Fn(&mut Status)| {
            let mut s = init.clone();
            f(&mut s);
            s
        };
        // (what, status, the process's uid/gid map, is it the init, the drifts)
        type Case<'a> = (&'a str, Status, &'a Vec<IdRange>, bool, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            ("the restricted init is clean", init.clone(), &id, true, vec![]),
            ("as an exec'd process too", init.clone(), &id, false, vec![]),
            (
                "a process started from the host with nsenter",
                nsentered(),
                &id,
                false,
                vec![
                    "Seccomp 0, profile restricted requires 2 (filter)",
                    "NoNewPrivs 0, profile restricted requires 1",
                    "CapEff 000001fffeffffff, profile restricted requires at most 0000000000000400 (CAP_NET_BIND_SERVICE)",
                    "CapPrm 000001fffeffffff, profile restricted requires at most 0000000000000400 (CAP_NET_BIND_SERVICE)",
                    "CapBnd 000001fffeffffff, profile restricted requires at most 0000000000000400 (CAP_NET_BIND_SERVICE)",
                    "Uid 0 0 0 0, profile restricted requires no root (uid 0)",
                    "Gid 0 0 0 0, profile restricted requires no root group (gid 0)",
                ],
            ),
            (
                "the init under another user",
                with(&|s| s.uid = [1000, 1000, 0, 1000]),
                &id,
                true,
                vec!["Uid 1000 1000 0 1000, profile restricted requires 65534 65534 65534 65534"],
            ),
            (
                "a saved uid 0 in an exec'd process",
                with(&|s| s.uid = [65534, 65534, 0, 65534]),
                &id,
                false,
                vec!["Uid 65534 65534 0 65534, profile restricted requires no root (uid 0)"],
            ),
            (
                "root inside a user namespace is still root",
                with(&|s| {
                    s.uid = [100000; 4];
                    s.gid = [165534; 4];
                }),
                &mapped,
                false,
                vec!["Uid 100000 100000 100000 100000 (in the container 0 0 0 0), profile restricted requires no root (uid 0)"],
            ),
            (
                "the init with supplementary groups beyond the spec's",
                with(&|s| s.groups = vec![0, 27]),
                &id,
                true,
                vec!["Groups 0 27, profile restricted requires only 65534"],
            ),
            (
                "an exec'd process in group 0",
                with(&|s| s.groups = vec![0, 27]),
                &id,
                false,
                vec!["Groups 0, profile restricted requires no root group (gid 0)"],
            ),
            (
                "fewer capabilities are fine; seccomp strict is not a filter",
                with(&|s| {
                    s.cap_eff = 0;
                    s.cap_amb = 0;
                    s.seccomp = Some(1);
                }),
                &id,
                false,
                vec!["Seccomp 1, profile restricted requires 2 (filter)"],
            ),
            (
                "a kernel that does not say",
                with(&|s| {
                    s.seccomp = None;
                    s.no_new_privs = None;
                }),
                &id,
                false,
                vec![
                    "Seccomp absent, profile restricted requires 2 (filter)",
                    "NoNewPrivs absent, profile restricted requires 1",
                ],
            ),
        ];
        // the extra capabilities are named after the line (checked once below)
        let short = |d: &[Drift]| -> Vec<String> {
            text(d)
                .into_iter()
                .map(|l| l.split("; extra:").next().unwrap().to_owned())
                .collect()
        };
        for (what, st, map, init, want) in cases {
            assert_eq!(
                short(&compare_status(&e, &st, map, map, init)),
                want,
                "{what}"
            );
        }
        let d = compare_status(&e, &nsentered(), &id, &id, false);
        let extra = d[2].detail.as_deref().unwrap();
        assert_eq!(
            extra,
            "extra: CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_KILL and 33 more"
        );
        // bit 10 is allowed, bit 24 (CAP_SYS_RESOURCE) is not in 000001fffeffffff
        let all = cap_names(0x000001fffeffffff & !0x400);
        assert_eq!(all.len(), 39);
        assert!(
            all.contains(&"CAP_SYS_ADMIN".to_owned())
                && !all.contains(&"CAP_SYS_RESOURCE".to_owned())
        );
        assert_eq!(
            cap_names(1 << 40 | 1 << 50),
            ["CAP_CHECKPOINT_RESTORE", "cap 50"]
        );
        assert_eq!(cap_mask(Some(&json!(["CAP_KILL", "CAP_BOGUS", 7]))), 1 << 5);
        // the spec's own (permissive) requirements: a root init may be anyone, no seccomp asked
        let mut spec = restricted_spec();
        spec["process"]["user"] = json!({"uid": 0, "gid": 0});
        spec["linux"].as_object_mut().unwrap().remove("seccomp");
        spec["process"]["noNewPrivileges"] = json!(false);
        let e = Expect::new(&spec, None, &[]);
        let mut st = nsentered();
        st.cap_eff = 0x400;
        st.cap_prm = 0x400;
        st.cap_bnd = 0x400;
        assert!(compare_status(&e, &st, &id, &id, true).is_empty());
        let d = &compare_status(&e, &nsentered(), &id, &id, false)[0];
        assert_eq!(
            (d.kind, d.pointer.as_str(), d.by.as_str()),
            (
                Kind::Capabilities,
                "/process/capabilities/effective",
                "its spec"
            )
        );
    }

    fn ns(pairs: &[(&str, u64)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, n)| (k.to_string(), format!("{k}:[{n}]")))
            .collect()
    }

    #[test]
    fn namespaces_table() {
        let e = expect();
        let r = Reference {
            host: ns(&[
                ("pid", 1),
                ("net", 2),
                ("mnt", 3),
                ("ipc", 4),
                ("uts", 5),
                ("cgroup", 6),
                ("user", 7),
            ]),
            own: ns(&[
                ("pid", 1),
                ("net", 2),
                ("mnt", 30),
                ("ipc", 4),
                ("uts", 5),
                ("cgroup", 6),
                ("user", 7),
            ]),
            joined: [("/proc/77/ns/ipc".to_owned(), Some("ipc:[44]".to_owned()))].into(),
        };
        let init = ns(&[
            ("pid", 11),
            ("net", 12),
            ("mnt", 13),
            ("ipc", 44),
            ("uts", 15),
            ("cgroup", 16),
            ("user", 7),
        ]);
        let cases: Vec<(&str, BTreeMap<String, String>, Vec<&str>)> = vec![
            ("the init", init.clone(), vec![]),
            (
                "host network",
                ns(&[("pid", 11), ("net", 2), ("mnt", 13), ("ipc", 44), ("uts", 15), ("cgroup", 16), ("user", 7)]),
                vec![
                    "net namespace net:[2] (the host's), profile restricted requires a new one",
                    "net namespace net:[2], profile restricted requires the init's net:[12]",
                ],
            ),
            (
                "hardrun's own mount namespace, and not the joined ipc",
                ns(&[("pid", 11), ("net", 12), ("mnt", 30), ("ipc", 45), ("uts", 15), ("cgroup", 16), ("user", 7)]),
                vec![
                    "mnt namespace mnt:[30] (hardrun's own), profile restricted requires a new one",
                    "ipc namespace ipc:[45], profile restricted requires ipc:[44] (/proc/77/ns/ipc)",
                    "ipc namespace ipc:[45], profile restricted requires the init's ipc:[44]",
                    "mnt namespace mnt:[30], profile restricted requires the init's mnt:[13]",
                ],
            ),
            (
                // uts and cgroup are not in this spec, but the profile requires them private
                "the host's uts and cgroup namespaces",
                ns(&[("pid", 11), ("net", 12), ("mnt", 13), ("ipc", 44), ("uts", 5), ("cgroup", 6), ("user", 7)]),
                vec![
                    "uts namespace uts:[5] (the host's), profile restricted requires a private one",
                    "cgroup namespace cgroup:[6] (the host's), profile restricted requires a private one",
                    "cgroup namespace cgroup:[6], profile restricted requires the init's cgroup:[16]",
                    "uts namespace uts:[5], profile restricted requires the init's uts:[15]",
                ],
            ),
        ];
        for (what, have, want) in cases {
            assert_eq!(
                text(&compare_namespaces(&e, &have, &init, &r)),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn id_maps_table() {
        // restricted with userns audited (as before it was enforced): no user namespace required
        let mut audited = restricted();
        audited.rules.insert(
            "userns".into(),
            crate::profile::RuleSetting::Action(Action::Audit),
        );
        let e = Expect::new(&restricted_spec(), Some(&audited), &[]);
        let m = |i, o, c| IdRange {
            inside: i,
            outside: o,
            count: c,
        };
        let mut spec = restricted_spec();
        spec["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        let userns = Expect::new(&spec, Some(&restricted()), &[]);
        // restricted itself enforces userns
        let required = expect();
        assert!(required.userns_required);
        let good = vec![m(0, 100000, 65536)];
        let cases: Vec<(&str, &Expect, Vec<IdRange>, Vec<&str>)> = vec![
            ("no user namespace asked, none there", &e, IDENTITY.to_vec(), vec![]),
            ("the spec's map", &userns, good.clone(), vec![]),
            (
                "another map",
                &userns,
                vec![m(0, 200000, 65536)],
                vec![
                    "uid_map 0 200000 65536, profile restricted requires 0 100000 65536",
                    "gid_map 0 200000 65536, profile restricted requires 0 100000 65536",
                ],
            ),
            (
                "the identity map where a user namespace is required",
                &required,
                IDENTITY.to_vec(),
                vec![
                    "uid_map 0 0 4294967295 (the host's identity map), profile restricted requires a user namespace",
                    "gid_map 0 0 4294967295 (the host's identity map), profile restricted requires a user namespace",
                ],
            ),
            ("any private map where one is required", &required, good, vec![]),
        ];
        for (what, e, map, want) in cases {
            assert_eq!(text(&compare_id_maps(e, &map, &map)), want, "{what}");
        }
        assert_eq!(
            parse_id_map("         0          0 4294967295\n").unwrap(),
            IDENTITY
        );
        assert_eq!(
            parse_id_map("0 100000 65536\n65536 1 1\n").unwrap(),
            [m(0, 100000, 65536), m(65536, 1, 1)]
        );
        assert!(parse_id_map("0 1\n")
            .unwrap_err()
            .contains("not `inside outside count`"));
        assert_eq!(to_inside(&good_map(), 100005), Some(5));
        assert_eq!(to_inside(&good_map(), 99999), None);
    }

    fn good_map() -> Vec<IdRange> {
        vec![IdRange {
            inside: 0,
            outside: 100000,
            count: 65536,
        }]
    }

    /// The mount table of a restricted container on this machine (trimmed), with a cgroup rbind.
    const MOUNTINFO: &str = r"91 69 254:0 /tmp/livex/rootfs / ro,relatime - ext4 /dev/vda rw,discard
92 91 0:42 / /proc rw,relatime - proc proc rw
93 91 0:43 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
95 91 0:45 / /tmp rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=65536k
96 91 0:50 / /sys/fs/cgroup ro,nosuid,relatime - tmpfs tmpfs ro
97 96 0:51 / /sys/fs/cgroup/pids ro,nosuid,relatime - cgroup cgroup rw,pids
98 96 0:52 / /sys/fs/cgroup/memory ro,nosuid,relatime - cgroup cgroup rw,memory
70 92 0:42 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
74 92 0:43 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
75 91 0:48 / /sys/firmware ro,relatime - tmpfs tmpfs ro
99 91 254:0 /srv /data\040dir rw,relatime - ext4 /dev/vda rw
";

    #[test]
    fn mountinfo_parses() {
        let m = parse_mountinfo(MOUNTINFO).unwrap();
        assert_eq!(m.len(), 11);
        assert_eq!(m[0].mount_point, "/");
        assert!(m[0].read_only());
        assert_eq!(m[8].root, "/null");
        assert_eq!(m[10].mount_point, "/data dir");
        assert_eq!(
            m[3].options,
            ["rw", "nosuid", "nodev", "noexec", "relatime"]
        );
        assert!(m[9].read_only(), "a read-only superblock is read-only");
        assert_eq!(mount_of(&m, "/proc/sys/kernel").unwrap().id, 70);
        assert_eq!(mount_of(&m, "/procx").unwrap().id, 91);
        // a mount stacked on another at the same point is the one that shows
        let stacked = parse_mountinfo(&format!(
            "{MOUNTINFO}200 70 0:42 /sys /proc/sys rw,relatime - proc proc rw\n"
        ))
        .unwrap();
        assert_eq!(mount_of(&stacked, "/proc/sys/kernel").unwrap().id, 200);
        assert_eq!(mount_at(&stacked, "/proc/sys").unwrap().id, 200);
        assert!(parse_mountinfo("1 2 3")
            .unwrap_err()
            .contains("no ` - ` separator"));
    }

    #[test]
    fn mounts_table() {
        let e = expect();
        let base = parse_mountinfo(MOUNTINFO).unwrap();
        let view = |edit: &dyn Fn(&mut Vec<Mount>)| {
            let mut mounts = base.clone();
            edit(&mut mounts);
            MountView {
                mounts,
                // /proc/kcore does not exist on this kernel: nothing to mask
                resolved: [("/proc/kcore".to_owned(), None)].into(),
            }
        };
        let set = |point: &'static str, opts: &'static str| {
            move |ms: &mut Vec<Mount>| {
                for m in ms.iter_mut().filter(|m| m.mount_point == point) {
                    m.options = opts.split(',').map(str::to_owned).collect();
                    m.super_options = vec!["rw".into()];
                }
            }
        };
        let cases: Vec<(&str, MountView, Vec<&str>)> = vec![
            ("as created", view(&|_| {}), vec![]),
            (
                "root remounted rw from the host",
                view(&set("/", "rw,relatime")),
                vec!["mount / rw, profile restricted requires ro (root.readonly)"],
            ),
            (
                "a masked path unmounted",
                view(&|ms| ms.retain(|m| m.mount_point != "/proc/keys")),
                vec!["masked path /proc/keys visible, profile restricted requires masked"],
            ),
            (
                "a masked directory's tmpfs made writable",
                view(&set("/sys/firmware", "rw,relatime")),
                vec!["masked path /sys/firmware visible, profile restricted requires masked"],
            ),
            (
                "a read-only path remounted rw",
                view(&set("/proc/sys", "rw,nosuid,nodev,noexec,relatime")),
                vec!["read-only path /proc/sys rw, profile restricted requires ro"],
            ),
            (
                "tmpfs without noexec",
                view(&set("/tmp", "rw,nosuid,nodev,relatime")),
                vec!["mount /tmp rw,nosuid,nodev,relatime, profile restricted requires nosuid,nodev,noexec"],
            ),
            (
                "a submount of a read-only rbind left writable (the issue 12 item 5 gap)",
                view(&set("/sys/fs/cgroup/pids", "rw,nosuid,relatime")),
                vec!["mount /sys/fs/cgroup/pids rw,nosuid,relatime, profile restricted requires ro (below the read-only mount /sys/fs/cgroup)"],
            ),
            (
                "a spec mount that is not there",
                view(&|ms| ms.retain(|m| m.mount_point != "/tmp")),
                vec!["mount /tmp not mounted, profile restricted requires nosuid,nodev,noexec"],
            ),
        ];
        for (what, v, want) in cases {
            assert_eq!(text(&compare_mounts(&e, &v)), want, "{what}");
        }
        // a root the rootfs rule made nosuid, remounted without it from the host
        let mut spec = restricted_spec();
        spec["annotations"] = json!({ crate::policy::rules::rootfs::NOSUID_ANNOTATION: "true" });
        let e2 = Expect::new(&spec, Some(&restricted()), &[]);
        assert!(e2.root_nosuid && !e.root_nosuid);
        assert_eq!(
            text(&compare_mounts(&e2, &view(&set("/", "ro,nosuid,relatime")))),
            Vec::<String>::new()
        );
        assert_eq!(
            text(&compare_mounts(&e2, &view(&set("/", "ro,relatime")))),
            ["mount / ro,relatime, profile restricted requires nosuid ([rootfs] nosuid)"]
        );
        // Docker's `cgroup` mount, read-only, as libcontainer 0.7 mounts it on cgroup v1 on this
        // machine: the tmpfs and every controller writable
        let mut spec = restricted_spec();
        spec["mounts"] = json!([{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}]);
        spec["linux"]["maskedPaths"] = json!([]);
        spec["linux"]["readonlyPaths"] = json!([]);
        let e = Expect::new(&spec, Some(&restricted()), &[]);
        let v = MountView {
            mounts: parse_mountinfo(
                "91 69 254:0 /r / ro,relatime - ext4 /dev/vda rw
157 91 0:45 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
158 157 0:29 /hardrun/lx3 /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
165 157 0:36 /hardrun/lx3 /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
",
            )
            .unwrap(),
            resolved: BTreeMap::new(),
        };
        assert_eq!(
            text(&compare_mounts(&e, &v)),
            [
                "mount /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime, profile restricted requires ro,nosuid,noexec,nodev",
                "mount /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime, profile restricted requires ro (below the read-only mount /sys/fs/cgroup)",
                "mount /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime, profile restricted requires ro (below the read-only mount /sys/fs/cgroup)",
            ]
        );
        // a destination behind a symlink is looked up where it resolves
        let mut spec = restricted_spec();
        spec["mounts"] = json!([{"destination": "/var/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["noexec"]}]);
        let e = Expect::new(&spec, None, &[]);
        let v = MountView {
            mounts: parse_mountinfo(MOUNTINFO).unwrap(),
            resolved: [
                ("/var/tmp".to_owned(), Some("/tmp".to_owned())),
                ("/proc/kcore".to_owned(), None),
            ]
            .into(),
        };
        assert_eq!(text(&compare_mounts(&e, &v)), Vec::<String>::new());
    }

    #[test]
    fn a_whole_container() {
        let e = expect();
        let r = Reference {
            host: ns(&[("pid", 1), ("net", 2), ("mnt", 3)]),
            own: ns(&[("pid", 1), ("net", 2), ("mnt", 3)]),
            joined: [("/proc/77/ns/ipc".to_owned(), Some("ipc:[44]".to_owned()))].into(),
        };
        let init_ns = ns(&[
            ("pid", 11),
            ("net", 12),
            ("mnt", 13),
            ("ipc", 44),
            ("uts", 15),
            ("cgroup", 16),
        ]);
        // restricted runs it in a user namespace of its own (a leased range)
        let init = ProcessView {
            pid: 100,
            status: parse_status(STATUS_RESTRICTED).unwrap(),
            ns: init_ns.clone(),
            uid_map: good_map(),
            gid_map: good_map(),
            mounts: Some(MountView {
                mounts: parse_mountinfo(MOUNTINFO).unwrap(),
                resolved: [("/proc/kcore".to_owned(), None)].into(),
            }),
            in_cgroup: true,
            ..Default::default()
        };
        let mut thread = parse_status(STATUS_RESTRICTED).unwrap();
        thread.seccomp = Some(0);
        let worker = ProcessView {
            pid: 101,
            threads: vec![(103, thread)],
            mounts: None,
            ..init.clone()
        };
        let intruder = ProcessView {
            pid: 102,
            status: nsentered(),
            mounts: None,
            in_cgroup: false,
            ..init.clone()
        };
        let procs = check(&e, Some(100), &[init, worker, intruder], &r);
        let report = LiveReport {
            id: "c1".into(),
            status: "running".into(),
            profile: Some("restricted".into()),
            init_pid: Some(100),
            processes: procs,
            unverified: vec![],
        };
        let lines = report.lines();
        assert_eq!(
            lines[0],
            "c1 pid 101 thread 103 (sleep): Seccomp 0, profile restricted requires 2 (filter)"
        );
        assert_eq!(
            lines[1],
            "c1 pid 102 (sh): Seccomp 0, profile restricted requires 2 (filter)"
        );
        assert_eq!(
            lines.last().unwrap(),
            "c1 pid 102 (sh): cgroup outside /hardrun/c1 (found in the container's pid and mount namespaces), profile restricted requires /hardrun/c1 (the container's limits)"
        );
        assert_eq!(report.drift_count(), 9);
        assert!(report.processes[0].init && report.processes[0].drifts.is_empty());
        assert_eq!(
            report.summary(),
            "c1 (running, profile restricted): 3 processes, 9 drifts"
        );
        assert!(!report.clean());
        let j = serde_json::to_value(&report).unwrap();
        assert_eq!(j["processes"][1]["drifts"][0]["kind"], "seccomp");
        assert_eq!(j["processes"][1]["drifts"][0]["tid"], 103);
        assert_eq!(j["processes"][2]["drifts"][0]["pointer"], "/linux/seccomp");
    }

    #[test]
    fn resolving_inside_a_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("run/lock")).unwrap();
        std::fs::create_dir_all(r.join("var")).unwrap();
        std::os::unix::fs::symlink("/run", r.join("var/run")).unwrap();
        std::os::unix::fs::symlink("../../run/lock", r.join("var/lock")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("escape")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        for (p, want) in [
            ("/run/lock", Some("/run/lock")),
            ("/var/run/lock", Some("/run/lock")),
            ("/var/lock", Some("/run/lock")),
            ("/var/../run", Some("/run")),
            ("/../../run", Some("/run")),
            // an absolute link stays inside the root: the host's /etc is not looked at
            ("/escape/passwd", None),
            ("/nothing", None),
            ("/loop", None),
            ("/", Some("/")),
        ] {
            assert_eq!(resolve_in(r, p).as_deref(), want, "{p}");
        }
    }

    #[test]
    fn mountinfo_escapes_are_undone_and_nothing_else() {
        for (raw, want) in [
            (r"/a\040b", "/a b"),
            (r"/tab\011x\012y", "/tab\tx\ny"),
            (r"/back\134slash", r"/back\slash"),
            (r"/end\04", r"/end\04"),
            (r"/end\", r"/end\"),
            (r"/not\08x", r"/not\08x"),
            (r"/big\777", r"/big\777"),
            ("/plain", "/plain"),
        ] {
            assert_eq!(unescape(raw), want, "{raw}");
        }
    }
}
