//! specconv: what libcontainer needs of a spec once the policy has had its say. The policy
//! judges and rewrites the spec as the OCI runtime spec reads; libcontainer 0.7 reads a few
//! things its own way, and this is the one place that converts for it (create and exec alike):
//!
//! - seccomp masked comparisons in its dialect (`value` and `valueTwo` swapped), whatever the
//!   seccomp rule's action ([`crate::policy::rules::seccomp::libcontainer_compat`], which the rule
//!   also uses to judge a profile as libcontainer will run it);
//! - `noNewPrivileges: false` left out ([`process`]);
//! - an absolute, resolved `root.path` (the staged bundle is elsewhere) and a `cgroupsPath`;
//! - a device cgroup that is default-deny ([`device_default_deny`]).

use std::path::Path;

use serde_json::Value;

/// A spec that cannot be converted (a field of the wrong JSON type).
#[derive(Debug, thiserror::Error)]
pub enum SpecconvError {
    #[error("the hardened spec is not a JSON object")]
    NotAnObject,
    #[error("field {field}: expected {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

/// Converts the hardened spec for libcontainer: an absolute, resolved rootfs, a cgroup path
/// (`default_cgroup` when the spec names none), seccomp in libcontainer's dialect, the process
/// as libcontainer orders it, and a default-deny device cgroup. Returns the cgroup path.
pub fn convert(
    spec: &mut Value,
    default_cgroup: &str,
    rootfs: &Path,
) -> Result<String, SpecconvError> {
    let Some(obj) = spec.as_object_mut() else {
        return Err(SpecconvError::NotAnObject);
    };
    // libcontainer 0.7 reads SCMP_CMP_MASKED_EQ with value and valueTwo swapped: Docker's clone
    // rule would let every namespace flag through. Whatever the policy's action, hand it the
    // condition in its own dialect (see policy::rules::seccomp).
    if let Some(seccomp) = obj
        .get_mut("linux")
        .and_then(|l| l.get_mut("seccomp"))
        .filter(|s| s.is_object())
    {
        let n = crate::policy::rules::seccomp::libcontainer_compat(seccomp);
        if n > 0 {
            tracing::debug!(
                conditions = n,
                "seccomp masked comparisons rewritten for libcontainer"
            );
        }
    }
    if let Some(p) = obj.get_mut("process") {
        process(p);
    }
    let root = obj.entry("root").or_insert_with(|| serde_json::json!({}));
    root["path"] = Value::String(rootfs.to_string_lossy().into_owned());
    let linux = obj.entry("linux").or_insert_with(|| serde_json::json!({}));
    let Some(linux) = linux.as_object_mut() else {
        return Err(SpecconvError::WrongType {
            field: "linux",
            expected: "an object",
        });
    };
    device_default_deny(linux)?;
    let path = match linux.get("cgroupsPath").and_then(|v| v.as_str()) {
        Some(p) if !p.is_empty() => p.to_owned(),
        _ => {
            linux.insert("cgroupsPath".into(), default_cgroup.into());
            default_cgroup.to_owned()
        }
    };
    Ok(path)
}

/// A process (the spec's, or one exec starts) as libcontainer 0.7 must get it: it orders
/// seccomp by whether `noNewPrivileges` is present, not by its value, so with `false` it loads
/// the filter after dropping capabilities, which fails (EACCES) for a process without
/// CAP_SYS_ADMIN. false is the OCI default: the field is left out.
pub fn process(process: &mut Value) {
    if let Some(p) = process.as_object_mut() {
        if p.get("noNewPrivileges") == Some(&Value::Bool(false)) {
            p.remove("noNewPrivileges");
        }
    }
}

/// The device cgroup is default-deny for every container, whatever the profile, as with runc:
/// libcontainer applies cgroup settings only when `linux.resources` exists, and on cgroup v1 it
/// only appends the spec's rules to an allow-all parent. So `linux.resources` is always present
/// (on cgroup v2 libcgroups then loads its eBPF device program: default-deny plus the default
/// devices) and its `devices` list always starts with a deny-all rule. The spec's own rules
/// follow unchanged, so a spec that allows a device (or every device: `privileged`, where the
/// profile lets it run) keeps what it asked for.
fn device_default_deny(linux: &mut serde_json::Map<String, Value>) -> Result<(), SpecconvError> {
    let resources = linux
        .entry("resources")
        .or_insert_with(|| serde_json::json!({}));
    let Some(resources) = resources.as_object_mut() else {
        return Err(SpecconvError::WrongType {
            field: "linux.resources",
            expected: "an object",
        });
    };
    let devices = resources
        .entry("devices")
        .or_insert_with(|| serde_json::json!([]));
    let Some(devices) = devices.as_array_mut() else {
        return Err(SpecconvError::WrongType {
            field: "linux.resources.devices",
            expected: "an array",
        });
    };
    let deny_all = |r: &Value| {
        r.get("allow") == Some(&Value::Bool(false))
            && r.get("type").is_none_or(|t| t == "a")
            && r.get("major").is_none_or(|m| m.is_null() || m == -1)
            && r.get("minor").is_none_or(|m| m.is_null() || m == -1)
            && r.get("access")
                .and_then(|a| a.as_str())
                .is_some_and(|a| a.contains('r') && a.contains('w') && a.contains('m'))
    };
    if !devices.first().is_some_and(deny_all) {
        devices.insert(0, serde_json::json!({"allow": false, "access": "rwm"}));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_normalization_sets_rootfs_and_default_cgroup() {
        let mut spec = serde_json::json!({"root": {"path": "rootfs", "readonly": true}});
        let p = convert(&mut spec, "/hardrun/c1", Path::new("/b/rootfs")).unwrap();
        assert_eq!(p, "/hardrun/c1");
        assert_eq!(spec["root"]["path"], "/b/rootfs");
        assert_eq!(spec["root"]["readonly"], true);
        assert_eq!(spec["linux"]["cgroupsPath"], "/hardrun/c1");

        // runc's device cgroup: deny-all first, whatever the spec (and profile) left
        assert_eq!(
            spec["linux"]["resources"]["devices"],
            serde_json::json!([{"allow": false, "access": "rwm"}])
        );
        for (devices, want) in [
            // already default-deny: unchanged
            (
                serde_json::json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]),
                serde_json::json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]),
            ),
            (
                serde_json::json!([{"allow": false, "type": "a", "major": -1, "minor": -1, "access": "rwm"}]),
                serde_json::json!([{"allow": false, "type": "a", "major": -1, "minor": -1, "access": "rwm"}]),
            ),
            // an allow rule alone would be appended to an allow-all parent on v1
            (
                serde_json::json!([{"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}]),
                serde_json::json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}]),
            ),
            // a deny of one device is not a deny-all
            (
                serde_json::json!([{"allow": false, "type": "b", "major": 8, "minor": 0, "access": "rwm"}]),
                serde_json::json!([{"allow": false, "access": "rwm"}, {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "rwm"}]),
            ),
            // privileged keeps every device: deny-all, then allow-all
            (
                serde_json::json!([{"allow": true, "access": "rwm"}]),
                serde_json::json!([{"allow": false, "access": "rwm"}, {"allow": true, "access": "rwm"}]),
            ),
        ] {
            let mut spec = serde_json::json!({"linux": {"resources": {"devices": devices}}});
            convert(&mut spec, "c1", Path::new("/r")).unwrap();
            assert_eq!(spec["linux"]["resources"]["devices"], want);
        }
        let mut bad = serde_json::json!({"linux": {"resources": {"devices": {}}}});
        let e = convert(&mut bad, "c1", Path::new("/r")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field linux.resources.devices: expected an array"
        );

        let mut spec =
            serde_json::json!({"root": {"path": "r"}, "linux": {"cgroupsPath": "/docker/abc"}});
        assert_eq!(
            convert(&mut spec, "/hardrun/c1", Path::new("/r")).unwrap(),
            "/docker/abc"
        );
    }

    #[test]
    fn other_wrong_types_are_named() {
        let e = convert(&mut serde_json::json!([]), "c1", Path::new("/r")).unwrap_err();
        assert_eq!(e.to_string(), "the hardened spec is not a JSON object");
        let e = convert(&mut serde_json::json!({"linux": 1}), "c1", Path::new("/r")).unwrap_err();
        assert_eq!(e.to_string(), "field linux: expected an object");
        let mut s = serde_json::json!({"linux": {"resources": []}});
        let e = convert(&mut s, "c1", Path::new("/r")).unwrap_err();
        assert_eq!(e.to_string(), "field linux.resources: expected an object");
    }

    #[test]
    fn no_new_privileges_false_is_left_out_for_create_and_exec() {
        let mut spec = serde_json::json!({"process": {"noNewPrivileges": false, "args": ["sh"]}});
        convert(&mut spec, "c1", Path::new("/r")).unwrap();
        assert_eq!(spec["process"], serde_json::json!({"args": ["sh"]}));
        let mut p = serde_json::json!({"noNewPrivileges": true});
        process(&mut p);
        assert_eq!(p, serde_json::json!({"noNewPrivileges": true}));
        let mut p = serde_json::json!({"noNewPrivileges": false, "cwd": "/"});
        process(&mut p);
        assert_eq!(p, serde_json::json!({"cwd": "/"}));
    }

    #[test]
    fn seccomp_masks_are_handed_over_in_libcontainers_dialect() {
        // Docker's clone rule: OCI reads (mask 0x7E020000, value 0); libcontainer 0.7 the reverse
        let rule = serde_json::json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]});
        let mut spec = serde_json::json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [rule]}}});
        let mut want = spec["linux"]["seccomp"].clone();
        crate::policy::rules::seccomp::libcontainer_compat(&mut want);
        assert_ne!(want, spec["linux"]["seccomp"], "the rule is rewritten");
        convert(&mut spec, "c1", Path::new("/r")).unwrap();
        assert_eq!(spec["linux"]["seccomp"], want);
    }
}
