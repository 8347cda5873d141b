//! `devices` (CIS 5.18): the container sees only the default device set, and the device cgroup
//! denies everything else.
//!
//! - `linux.devices`: the default set is `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`,
//!   `/dev/urandom`, `/dev/tty`, `/dev/console` and `/dev/ptmx`, each with its real numbers (a
//!   `/dev/null` entry that is really `b 8:0` is a disk under a harmless name), plus the paths of
//!   the profile's `devices.allow`. For a few well-known allowed paths (`/dev/fuse`,
//!   `/dev/net/tun`, `/dev/kvm`, `/dev/vhost-net`, `/dev/vhost-vsock`) the numbers are checked
//!   too; for other allowed paths they cannot be known and the caller's are taken. Every other
//!   entry is removed (the array is rewritten, so indexes never go stale).
//! - `linux.resources.devices` must start with a deny-all rule (`{"allow": false, "access":
//!   "rwm"}`); after it, deny rules are always fine, and an allow rule is fine when it grants
//!   only `m` (mknod: Docker's and runc's `c *:* m`, `b *:* m` — creating a node is harmless
//!   while reading and writing it stays denied), or names a default device by number (`c 1:3`,
//!   `1:5`, `1:7`, `1:8`, `1:9`, `5:0`, `5:1`, `5:2`, `136:*`, `10:200`), or names exactly a
//!   device of `linux.devices` that this rule keeps. Otherwise the list is rewritten as deny-all
//!   followed by the acceptable rules, in their order.
//!
//! Decisions:
//! - `c 10:200` (tun/tap) is accepted in the cgroup list: libcontainer 0.7 appends it (with the
//!   rest of its default allow list) to every container's rules regardless of the spec, as runc
//!   does, and containerd's default spec lists it; removing it would record a change that
//!   changes nothing. The `/dev/net/tun` node itself is not in the default set (the profile must
//!   allow it), and using tun needs `CAP_NET_ADMIN`.
//! - When the caller's list had no leading deny-all (every device was allowed), the rewrite adds
//!   an allow rule for each kept non-default device of `linux.devices` that no kept rule covers,
//!   so a device the profile allows keeps working.
//! - A full spec (one with `root`) without `linux.resources.devices` allows every device on
//!   cgroup v1 and gets the list; a spec fragment without `root` (an `update`) is judged only on
//!   the rules it carries.

use serde_json::{json, Value};

use super::{GrantedDeviceClass, Proposal, Rule, RuleCtx};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "only the default device set; the device cgroup denies everything else",
    severity: Severity::High,
    process: false,
    evaluate: Some(evaluate),
};

/// The default device set: path, type, major, minor.
pub(crate) const DEFAULT_DEVICES: &[(&str, &str, i64, i64)] = &[
    ("/dev/null", "c", 1, 3),
    ("/dev/zero", "c", 1, 5),
    ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8),
    ("/dev/urandom", "c", 1, 9),
    ("/dev/tty", "c", 5, 0),
    ("/dev/console", "c", 5, 1),
    ("/dev/ptmx", "c", 5, 2),
];

/// Character devices whose numbers are fixed by the kernel: an allowed path must carry them.
const WELL_KNOWN: &[(&str, &str, i64, i64)] = &[
    ("/dev/fuse", "c", 10, 229),
    ("/dev/net/tun", "c", 10, 200),
    ("/dev/kvm", "c", 10, 232),
    ("/dev/vhost-net", "c", 10, 238),
    ("/dev/vhost-vsock", "c", 10, 241),
];

/// Character device numbers the cgroup may allow without a `linux.devices` entry (`-1`: any
/// minor): the default set, the pty slaves, and tun (see the module doc).
const DEFAULT_NUMBERS: &[(i64, i64)] = &[
    (1, 3),
    (1, 5),
    (1, 7),
    (1, 8),
    (1, 9),
    (5, 0),
    (5, 1),
    (5, 2),
    (136, -1),
    (10, 200),
];

/// Is `path` (normalized) a device the container may see: the default set or the profile's?
pub(crate) fn allowed_path(path: &str, profile: &Profile) -> bool {
    DEFAULT_DEVICES.iter().any(|d| d.0 == path)
        || profile
            .devices
            .allow
            .iter()
            .any(|a| super::mounts::normalize(a) == path)
}

/// A device's type as the cgroup sees it (`u`, unbuffered character, is `c`).
fn cgroup_type(t: &str) -> &str {
    if t == "u" {
        "c"
    } else {
        t
    }
}

/// `-1` for a wildcard (absent, null or negative).
fn number(v: &Value, key: &str) -> i64 {
    v.get(key)
        .and_then(Value::as_i64)
        .filter(|n| *n >= 0)
        .unwrap_or(-1)
}

fn kind(t: &str) -> &str {
    match t {
        "c" => "character",
        "b" => "block",
        other => other,
    }
}

fn show_number(n: i64) -> String {
    if n < 0 {
        "*".into()
    } else {
        n.to_string()
    }
}

/// The normalized paths of the `linux.devices` entries that are neither in the default set nor in
/// the profile's `devices.allow`: what a device class may ask for.
pub fn extra_device_paths(spec: &Value, profile: &Profile) -> Vec<String> {
    spec.pointer("/linux/devices")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|d| d.get("path").and_then(Value::as_str))
                .map(super::mounts::normalize)
                .filter(|p| !allowed_path(p, profile))
                .collect()
        })
        .unwrap_or_default()
}

/// Why a `linux.devices` entry is not allowed, or `None` when it is. A device of a granted class
/// (path, type and major of the class) is allowed.
fn device_problem(d: &Value, profile: &Profile, granted: &[GrantedDeviceClass]) -> Option<String> {
    let raw = d.get("path").and_then(Value::as_str).unwrap_or("");
    let path = super::mounts::normalize(raw);
    let typ = d.get("type").and_then(Value::as_str).unwrap_or("");
    let (major, minor) = (number(d, "major"), number(d, "minor"));
    let what = format!(
        "{raw} ({typ} {}:{})",
        show_number(major),
        show_number(minor)
    );
    let expected = DEFAULT_DEVICES
        .iter()
        .chain(WELL_KNOWN)
        .find(|k| k.0 == path);
    if !allowed_path(&path, profile) {
        if granted
            .iter()
            .any(|c| c.covers(&path, cgroup_type(typ), major))
        {
            return None;
        }
        // a class's path with other numbers (`/dev/nvidia0` that is really `c 1:1`, /dev/mem),
        // or a class no exception authorizes: say which, so the owner knows what to ask for
        if let Some(c) = granted.iter().find(|c| {
            c.paths
                .iter()
                .any(|p| crate::profile::glob_segment_match(p, &path))
        }) {
            let majors: Vec<String> = c.majors.iter().map(i64::to_string).collect();
            return Some(format!(
                "{what}, which is not a {} device of class {} (majors {})",
                kind(&c.typ),
                c.name,
                if majors.is_empty() {
                    "none loaded".to_owned()
                } else {
                    majors.join(", ")
                }
            ));
        }
        if let Some(c) = profile
            .devices
            .classes
            .iter()
            .find(|c| c.matches_path(&path))
        {
            return Some(format!(
                "{what}: device class {} needs a device-class exception of profile {} for this container",
                c.name, profile.name
            ));
        }
        return Some(what);
    }
    match expected {
        Some(&(_, t, ma, mi)) if (cgroup_type(typ), major, minor) != (t, ma, mi) => {
            Some(format!("{what}, which is not {t} {ma}:{mi}"))
        }
        _ => None,
    }
}

/// Rule shape: (allow, type, major, minor, access), with the OCI defaults filled in.
struct CgroupRule {
    allow: bool,
    typ: String,
    major: i64,
    minor: i64,
    access: String,
}

impl CgroupRule {
    fn read(v: &Value) -> CgroupRule {
        let typ = v
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or("a");
        let access = v
            .get("access")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .unwrap_or("rwm");
        CgroupRule {
            allow: v.get("allow").and_then(Value::as_bool).unwrap_or(false),
            typ: cgroup_type(typ).to_owned(),
            major: number(v, "major"),
            minor: number(v, "minor"),
            access: access.to_owned(),
        }
    }

    fn is_deny_all(&self) -> bool {
        !self.allow && self.typ == "a" && ["r", "w", "m"].iter().all(|c| self.access.contains(c))
    }

    fn show(&self) -> String {
        format!(
            "{} {}:{} {}",
            self.typ,
            show_number(self.major),
            show_number(self.minor),
            self.access
        )
    }
}

/// Whether an allow rule is acceptable, given the devices kept in `linux.devices`.
fn acceptable(r: &CgroupRule, kept: &[(String, i64, i64)]) -> bool {
    if !r.allow || r.access.chars().all(|c| c == 'm') {
        return true;
    }
    if r.typ == "c"
        && r.major >= 0
        && DEFAULT_NUMBERS
            .iter()
            .any(|&(ma, mi)| ma == r.major && (mi < 0 || mi == r.minor))
    {
        return true;
    }
    r.major >= 0
        && r.minor >= 0
        && kept
            .iter()
            .any(|(t, ma, mi)| *t == r.typ && *ma == r.major && *mi == r.minor)
}

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    let mut out = vec![];
    let granted = &ctx.granted.device_classes;

    // linux.devices
    let devices = spec
        .pointer("/linux/devices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut kept_devices = vec![];
    let mut removed = vec![];
    for d in &devices {
        match device_problem(d, profile, granted) {
            Some(why) => removed.push(why),
            None => kept_devices.push(d.clone()),
        }
    }
    // what a device-class exception kept: on record, as the host namespaces a pod shares are
    for c in granted {
        let kept: Vec<&str> = kept_devices
            .iter()
            .filter_map(|d| {
                let path = super::mounts::normalize(d.get("path").and_then(Value::as_str)?);
                let typ = cgroup_type(d.get("type").and_then(Value::as_str).unwrap_or(""));
                (!allowed_path(&path, profile) && c.covers(&path, typ, number(d, "major")))
                    .then(|| d.get("path").and_then(Value::as_str))
                    .flatten()
            })
            .collect();
        if !kept.is_empty() {
            out.push(Proposal::note(
                "/linux/devices",
                format!(
                    "device class {} kept ({}), authorized by a device-class exception of profile {}",
                    c.name,
                    kept.join(", "),
                    profile.name
                ),
            ));
        }
    }
    if !removed.is_empty() {
        out.push(Proposal::fix(
            "/linux/devices",
            format!(
                "host devices removed (not in the default set or the profile's devices.allow): {}",
                removed.join(", ")
            ),
            vec![Edit::set("/linux/devices", kept_devices.clone())],
        ));
    }
    // the kept devices by number, for the cgroup check
    let kept: Vec<(String, i64, i64)> = kept_devices
        .iter()
        .map(|d| {
            (
                cgroup_type(d.get("type").and_then(Value::as_str).unwrap_or("")).to_owned(),
                number(d, "major"),
                number(d, "minor"),
            )
        })
        .collect();

    // linux.resources.devices
    let ptr = "/linux/resources/devices";
    let rules = match spec.pointer(ptr).and_then(Value::as_array) {
        Some(r) => r.clone(),
        None if spec.get("root").is_none() => return out,
        None => vec![],
    };
    let parsed: Vec<CgroupRule> = rules.iter().map(CgroupRule::read).collect();
    let leading_deny = parsed.first().is_some_and(CgroupRule::is_deny_all);
    let mut reasons = vec![];
    if !leading_deny {
        reasons.push(if rules.is_empty() {
            "no rules, every device is allowed".to_owned()
        } else {
            "no leading deny-all".to_owned()
        });
    }
    let mut new_rules = vec![json!({"allow": false, "access": "rwm"})];
    for (i, (raw, r)) in rules.iter().zip(&parsed).enumerate() {
        if r.is_deny_all() {
            continue;
        }
        if acceptable(r, &kept) {
            new_rules.push(raw.clone());
        } else if r.typ == "a" {
            reasons.push(format!("rule {i} allows all devices ({})", r.show()));
        } else if r.major < 0 {
            reasons.push(format!(
                "rule {i} allows all {} devices ({})",
                kind(&r.typ),
                r.show()
            ));
        } else {
            reasons.push(format!("rule {i} allows {}", r.show()));
        }
    }
    if reasons.is_empty() {
        return out;
    }
    if !leading_deny {
        // every device was allowed: the kept extra devices keep their access
        for (t, ma, mi) in &kept {
            let is_default = t == "c"
                && DEFAULT_NUMBERS
                    .iter()
                    .any(|&(a, b)| a == *ma && (b < 0 || b == *mi));
            let covered = new_rules.iter().map(CgroupRule::read).any(|r| {
                r.allow
                    && r.typ == *t
                    && r.major == *ma
                    && (r.minor < 0 || r.minor == *mi)
                    && r.access.contains('r')
                    && r.access.contains('w')
            });
            if !is_default && !covered && *ma >= 0 && *mi >= 0 {
                new_rules.push(
                    json!({"allow": true, "type": t, "major": ma, "minor": mi, "access": "rwm"}),
                );
            }
        }
    }
    out.push(Proposal::fix(
        ptr,
        format!("device cgroup: {}", reasons.join("; ")),
        vec![Edit::set(ptr, new_rules)],
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::privileged::tests::{docker_default, docker_privileged};
    use super::super::testing::*;
    use super::*;

    const DENY_ALL: &str = r#"{"allow": false, "access": "rwm"}"#;

    fn deny_all() -> Value {
        serde_json::from_str(DENY_ALL).unwrap()
    }

    fn dev(path: &str, typ: &str, major: i64, minor: i64) -> Value {
        json!({"path": path, "type": typ, "major": major, "minor": minor, "fileMode": 438, "uid": 0, "gid": 0})
    }

    fn allow(typ: &str, major: i64, minor: Option<i64>, access: &str) -> Value {
        let mut r = json!({"allow": true, "type": typ, "major": major, "access": access});
        if let Some(m) = minor {
            r["minor"] = json!(m);
        }
        r
    }

    /// What containerd 1.6 (`ctr run`, CRI) generates: WithDefaultUnixDevices.
    fn containerd_default() -> Value {
        let devices = json!([
            dev("/dev/null", "c", 1, 3),
            dev("/dev/random", "c", 1, 8),
            dev("/dev/full", "c", 1, 7),
            dev("/dev/tty", "c", 5, 0),
            dev("/dev/zero", "c", 1, 5),
            dev("/dev/urandom", "c", 1, 9)
        ]);
        let mut rules = vec![deny_all()];
        for (ma, mi) in [(1, 3), (1, 8), (1, 7), (5, 0), (1, 5), (1, 9), (5, 2)] {
            rules.push(allow("c", ma, Some(mi), "rwm"));
        }
        rules.push(allow("c", 136, None, "rwm"));
        rules.push(allow("c", 10, Some(200), "rwm"));
        json!({"root": {"path": "rootfs"}, "linux": {"devices": devices, "resources": {"devices": rules}}})
    }

    #[test]
    fn client_defaults_pass() {
        for name in ["restricted", "baseline", "permissive"] {
            let p = profile(name);
            assert!(run(evaluate, &docker_default(), &p).is_empty(), "docker");
            assert!(
                run(evaluate, &containerd_default(), &p).is_empty(),
                "containerd"
            );
            // runc spec's default, and runc's own allow list with the mknod wildcards
            let runc = json!({"root": {"path": "rootfs"}, "linux": {"resources": {"devices": [
                deny_all(),
                {"allow": true, "type": "c", "access": "m"},
                {"allow": true, "type": "b", "access": "m"},
                allow("c", 136, None, "rwm"),
                allow("c", 5, Some(2), "rwm"),
                allow("c", 10, Some(200), "rwm"),
            ]}}});
            assert!(run(evaluate, &runc, &p).is_empty(), "runc");
            let bare = json!({"root": {"path": "rootfs"}, "linux": {"resources": {"devices": [deny_all()]}}});
            assert!(run(evaluate, &bare, &p).is_empty(), "runc spec");
        }
    }

    #[test]
    fn host_devices_are_removed() {
        let p = profile("restricted");
        let mut s = containerd_default();
        let list = s["linux"]["devices"].as_array_mut().unwrap();
        list.insert(1, dev("/dev/sda", "b", 8, 0));
        list.push(dev("/dev/kvm", "c", 10, 232));
        // a disk under a harmless name
        list.push(dev("/dev/console", "b", 8, 1));
        s["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(allow("b", 8, Some(0), "rw"));
        let r = run(evaluate, &s, &p);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].pointer, "/linux/devices");
        assert_eq!(
            r[0].message,
            "host devices removed (not in the default set or the profile's devices.allow): /dev/sda (b 8:0), /dev/kvm (c 10:232), /dev/console (b 8:1), which is not c 5:1"
        );
        assert_eq!(r[1].pointer, "/linux/resources/devices");
        assert_eq!(r[1].message, "device cgroup: rule 10 allows b 8:0 rw");
        let out = fixed(evaluate, &s, &p);
        assert_eq!(
            out["linux"]["devices"],
            containerd_default()["linux"]["devices"]
        );
        assert_eq!(
            out["linux"]["resources"]["devices"],
            containerd_default()["linux"]["resources"]["devices"]
        );
    }

    #[test]
    fn profile_allowed_devices() {
        let mut p = profile("baseline");
        p.devices.allow = vec!["/dev/fuse".into(), "/dev/dri/card0".into()];
        let mut s = containerd_default();
        s["linux"]["devices"].as_array_mut().unwrap().extend([
            dev("/dev/fuse", "c", 10, 229),
            dev("/dev/dri/card0", "c", 226, 0),
        ]);
        s["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .extend([
                allow("c", 10, Some(229), "rwm"),
                allow("c", 226, Some(0), "rw"),
            ]);
        assert!(run(evaluate, &s, &p).is_empty());
        // the same in restricted, which allows neither
        let r = run(evaluate, &s, &profile("restricted"));
        assert_eq!(r.len(), 2);
        assert!(r[0]
            .message
            .ends_with("/dev/fuse (c 10:229), /dev/dri/card0 (c 226:0)"));
        assert_eq!(
            r[1].message,
            "device cgroup: rule 10 allows c 10:229 rwm; rule 11 allows c 226:0 rw"
        );
        // a well-known allowed path must carry its numbers
        s["linux"]["devices"][6] = dev("/dev/fuse", "b", 8, 0);
        let r = run(evaluate, &s, &p);
        assert!(r[0]
            .message
            .ends_with("/dev/fuse (b 8:0), which is not c 10:229"));
        fixed(evaluate, &s, &p);
    }

    #[test]
    fn cgroup_rules() {
        let p = profile("restricted");
        // docker --privileged: everything allowed
        let r = run(evaluate, &docker_privileged(), &p);
        let cg = r
            .iter()
            .find(|p| p.pointer == "/linux/resources/devices")
            .unwrap();
        assert_eq!(
            cg.message,
            "device cgroup: no leading deny-all; rule 0 allows all devices (a *:* rwm)"
        );
        let out = fixed(evaluate, &docker_privileged(), &p);
        assert_eq!(out["linux"]["resources"]["devices"], json!([deny_all()]));
        assert_eq!(out["linux"]["devices"], json!([]));

        let cases = [
            // no list at all in a full spec: every device allowed on cgroup v1
            (
                json!({"root": {"path": "r"}}),
                "device cgroup: no rules, every device is allowed",
                json!([deny_all()]),
            ),
            // allows, but no deny-all first
            (
                json!({"root": {"path": "r"}, "linux": {"resources": {"devices": [allow("c", 1, Some(3), "rwm"), deny_all()]}}}),
                "device cgroup: no leading deny-all",
                json!([deny_all(), allow("c", 1, Some(3), "rwm")]),
            ),
            // every character device; fuse; the deny rules stay in place
            (
                json!({"root": {"path": "r"}, "linux": {"resources": {"devices": [
                    deny_all(),
                    {"allow": true, "type": "c", "access": "rw"},
                    {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"},
                    allow("c", 10, Some(229), "rwm"),
                    allow("c", 136, Some(4), "rw"),
                ]}}}),
                "device cgroup: rule 1 allows all character devices (c *:* rw); rule 3 allows c 10:229 rwm",
                json!([
                    deny_all(),
                    {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"},
                    allow("c", 136, Some(4), "rw"),
                ]),
            ),
            // a deny of only rw is not deny-all
            (
                json!({"root": {"path": "r"}, "linux": {"resources": {"devices": [{"allow": false, "access": "rw"}]}}}),
                "device cgroup: no leading deny-all",
                json!([deny_all(), {"allow": false, "access": "rw"}]),
            ),
        ];
        for (spec, msg, want) in cases {
            let r = run(evaluate, &spec, &p);
            assert_eq!(r.len(), 1, "{spec}");
            assert_eq!(r[0].message, msg);
            assert_eq!(
                fixed(evaluate, &spec, &p)["linux"]["resources"]["devices"],
                want
            );
        }
        // an update's fragment without device rules is not judged
        assert!(run(
            evaluate,
            &json!({"linux": {"resources": {"pids": {"limit": 5}}}}),
            &p
        )
        .is_empty());
        let upd = json!({"linux": {"resources": {"devices": [{"allow": true, "access": "rwm"}]}}});
        assert_eq!(run(evaluate, &upd, &p).len(), 1);
    }

    #[test]
    fn allowed_devices_keep_access_when_deny_all_is_added() {
        let mut p = profile("restricted");
        p.devices.allow = vec!["/dev/fuse".into()];
        let spec = json!({"root": {"path": "r"}, "linux": {
            "devices": [dev("/dev/fuse", "c", 10, 229), dev("/dev/null", "c", 1, 3)],
            "resources": {"devices": [{"allow": true, "access": "rwm"}]}}});
        let out = fixed(evaluate, &spec, &p);
        assert_eq!(
            out["linux"]["resources"]["devices"],
            json!([deny_all(), {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}])
        );
        // with a deny-all already first, the caller's choice not to allow it stands
        let spec = json!({"root": {"path": "r"}, "linux": {
            "devices": [dev("/dev/fuse", "c", 10, 229)],
            "resources": {"devices": [deny_all(), allow("c", 10, Some(1), "rwm")]}}});
        let out = fixed(evaluate, &spec, &p);
        assert_eq!(out["linux"]["resources"]["devices"], json!([deny_all()]));
    }

    /// A GPU pod's spec as containerd's CRI writes it from NVIDIA's device plugin: the nodes in
    /// `linux.devices` and one cgroup rule per node.
    fn gpu_pod(uvm_major: i64) -> Value {
        let mut s = containerd_default();
        let gpu = [
            ("/dev/nvidiactl", 195, 255),
            ("/dev/nvidia0", 195, 0),
            ("/dev/nvidia-uvm", uvm_major, 0),
            ("/dev/nvidia-uvm-tools", uvm_major, 1),
        ];
        for (path, ma, mi) in gpu {
            s["linux"]["devices"]
                .as_array_mut()
                .unwrap()
                .push(dev(path, "c", ma, mi));
            s["linux"]["resources"]["devices"]
                .as_array_mut()
                .unwrap()
                .push(allow("c", ma, Some(mi), "rw"));
        }
        s
    }

    fn granted_gpu(majors: &[i64]) -> super::super::Granted {
        super::super::Granted {
            device_classes: vec![GrantedDeviceClass {
                name: "nvidia-gpu".into(),
                typ: "c".into(),
                paths: profile("restricted").devices.classes[0].paths.clone(),
                majors: majors.to_vec(),
            }],
            ..Default::default()
        }
    }

    fn kept_paths(spec: &Value, proposals: &[Proposal]) -> Vec<String> {
        let mut s = spec.clone();
        for p in proposals {
            for e in &p.edits {
                crate::policy::edit::apply(&mut s, e).unwrap();
            }
        }
        s["linux"]["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["path"].as_str().unwrap().to_owned())
            .filter(|p| p.contains("nvidia"))
            .collect()
    }

    #[test]
    fn a_device_class_is_kept_only_where_granted_and_only_with_its_numbers() {
        let p = profile("restricted");
        // no exception: every GPU node and its cgroup rule go, and the finding names the class
        let spec = gpu_pod(508);
        let r = run(evaluate, &spec, &p);
        assert!(kept_paths(&spec, &r).is_empty(), "{r:?}");
        let msg = &r[0].message;
        assert!(
            msg.contains("/dev/nvidia0 (c 195:0): device class nvidia-gpu needs a device-class exception of profile restricted"),
            "{msg}"
        );
        assert!(
            r.iter().any(|x| x.pointer == "/linux/resources/devices"),
            "{r:?}"
        );

        // granted, the driver loaded (nvidia-uvm's major 508 read from /proc/devices): all kept,
        // the cgroup rules for exactly those nodes kept, and a note on record
        let r = run_granted(evaluate, &spec, &p, &granted_gpu(&[195, 508]));
        assert_eq!(
            kept_paths(&spec, &r),
            [
                "/dev/nvidiactl",
                "/dev/nvidia0",
                "/dev/nvidia-uvm",
                "/dev/nvidia-uvm-tools"
            ],
            "{r:?}"
        );
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].edits.is_empty(), "{r:?}");
        assert!(r[0].message.contains("device class nvidia-gpu kept (/dev/nvidiactl, /dev/nvidia0, /dev/nvidia-uvm, /dev/nvidia-uvm-tools)"), "{}", r[0].message);

        // granted, but nvidia-uvm's major is not the one the host gave the driver: those go
        let r = run_granted(evaluate, &gpu_pod(509), &p, &granted_gpu(&[195, 508]));
        assert_eq!(
            kept_paths(&gpu_pod(509), &r),
            ["/dev/nvidiactl", "/dev/nvidia0"],
            "{r:?}"
        );
        let removed = r
            .iter()
            .find(|x| x.pointer == "/linux/devices" && !x.edits.is_empty())
            .unwrap();
        assert!(removed.message.contains("/dev/nvidia-uvm (c 509:0), which is not a character device of class nvidia-gpu (majors 195, 508)"), "{}", removed.message);

        // a class's name on another device: /dev/nvidia0 that is really /dev/mem, or a block
        // device, or a path no pattern of the class matches
        for (path, typ, ma, mi) in [
            ("/dev/nvidia0", "c", 1, 1),
            ("/dev/nvidia0", "b", 195, 0),
            ("/dev/nvidia", "c", 195, 0),
            ("/dev/nvidia0/../sda", "b", 8, 0),
        ] {
            let mut s = containerd_default();
            s["linux"]["devices"]
                .as_array_mut()
                .unwrap()
                .push(dev(path, typ, ma, mi));
            s["linux"]["resources"]["devices"]
                .as_array_mut()
                .unwrap()
                .push(allow(typ, ma, Some(mi), "rw"));
            let r = run_granted(evaluate, &s, &p, &granted_gpu(&[195, 508]));
            let mut after = s.clone();
            for x in &r {
                for e in &x.edits {
                    crate::policy::edit::apply(&mut after, e).unwrap();
                }
            }
            let n = after["linux"]["devices"].as_array().unwrap().len();
            assert_eq!(n, 6, "{path} {typ} {ma}:{mi} kept: {r:?}");
            let rules = after["linux"]["resources"]["devices"].as_array().unwrap();
            assert!(
                !rules.iter().any(|x| x["major"] == json!(ma)
                    && x["minor"] == json!(mi)
                    && x["allow"] == json!(true)
                    && ma != 1),
                "{path}: cgroup rule kept: {rules:?}"
            );
        }
    }
}
