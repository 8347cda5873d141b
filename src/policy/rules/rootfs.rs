//! `rootfs` (CIS 5.13): `root.readonly = true`. `hardrun.dev/writable-rootfs`, where
//! authorized, keeps it writable. Under a profile with `[rootfs] nosuid = true` the root is also
//! mounted `nosuid`: the OCI spec has no field for the root's mount options, so the rule sets the
//! annotation [`NOSUID_ANNOTATION`], which hardrun's libcontainer reads when it binds the rootfs
//! (third_party/libcontainer/HARDRUN-PATCHES.md §32).

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit::{self, Edit};
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "the root filesystem is mounted read-only",
    severity: Severity::Medium,
    process: false,
    evaluate: Some(evaluate),
};

/// The annotation that makes libcontainer bind the rootfs `nosuid` (value `true`). Not under
/// `hardrun.dev/`: it is the engine's instruction to libcontainer, not an exception a caller
/// requests (a caller that sets it only gets the stricter mount).
pub const NOSUID_ANNOTATION: &str = "run.hardrun.rootfs-nosuid";

/// Whether the spec mounts the rootfs `nosuid` (the annotation this rule sets).
pub fn nosuid(spec: &Value) -> bool {
    spec.pointer(&format!("/annotations/{}", edit::escape(NOSUID_ANNOTATION)))
        .and_then(Value::as_str)
        == Some("true")
}

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    if spec.get("root").is_none() {
        return vec![];
    }
    let mut out = vec![];
    if !ctx.granted.writable_rootfs
        && spec.pointer("/root/readonly").and_then(Value::as_bool) != Some(true)
    {
        out.push(Proposal::fix(
            "/root/readonly",
            "root filesystem is writable; made read-only",
            vec![Edit::set("/root/readonly", true)],
        ));
    }
    if profile.rootfs.nosuid && !nosuid(spec) {
        let pointer = format!("/annotations/{}", edit::escape(NOSUID_ANNOTATION));
        out.push(
            Proposal::fix(
                pointer.clone(),
                "root filesystem honours setuid and setgid bits; mounted nosuid",
                vec![Edit::set(pointer, "true")],
            )
            // not 5.13 (read-only): no control of the benchmark is about the root's nosuid
            .tagged(&[]),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Granted;
    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        // readonly alone (restricted's nosuid is tested below)
        let mut p = profile("restricted");
        p.rootfs.nosuid = false;
        for (spec, n) in [
            (json!({"root": {"path": "rootfs"}}), 1),
            (json!({"root": {"path": "rootfs", "readonly": false}}), 1),
            (json!({"root": {"path": "rootfs", "readonly": true}}), 0),
        ] {
            assert_eq!(run(evaluate, &spec, &p).len(), n);
            assert_eq!(
                fixed(evaluate, &spec, &p)["root"],
                json!({"path": "rootfs", "readonly": true})
            );
        }
        // [rootfs] nosuid: the annotation libcontainer reads, whatever readonly is
        let p = profile("restricted");
        assert!(p.rootfs.nosuid);
        let spec = json!({"root": {"path": "rootfs", "readonly": true}});
        assert_eq!(run(evaluate, &spec, &p).len(), 1);
        let done = fixed(evaluate, &spec, &p);
        assert!(nosuid(&done), "{done}");
        assert!(run(evaluate, &done, &p).is_empty());
        let g = Granted {
            writable_rootfs: true,
            ..Default::default()
        };
        // a granted writable root is still nosuid
        let p = run_granted(evaluate, &json!({"root": {"path": "r"}}), &p, &g);
        assert_eq!(p.len(), 1);
        assert!(p[0].pointer.ends_with(NOSUID_ANNOTATION), "{p:?}");
    }
}
