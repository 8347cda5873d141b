//! `rego`: the company's policies of the profile's `[rego]` (package `hardrun`), evaluated on
//! the spec as hardening leaves it, after every other rule and before the CIS gate (see
//! `docs/policies.md`, `docs/rules/rego.md`).
//!
//! The input document is `{"spec": <hardened spec>, "original": <spec as given>, "context":
//! {...}}` ([`input`]). Each `deny` message is a refusal, each `warn` message an audit finding.
//! The policy was compiled when the profile was loaded (`profile::rego`); this only evaluates it.

use serde_json::{json, Value};

use super::exceptions::Identity;
use super::rules::{Proposal, RuleCtx};
use crate::profile::Profile;

/// The rule function of the registry: the spec as given is not known here, so `original` is
/// the spec the rule sees. The engine calls [`evaluate`] with both.
pub fn rule(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    evaluate(spec, spec, profile, ctx, None)
}

/// The input document the policies read.
pub fn input(
    spec: &Value,
    original: &Value,
    profile: &Profile,
    ctx: &RuleCtx,
    identity: Option<&Identity>,
) -> Value {
    let identity = identity.cloned().unwrap_or_else(|| {
        super::exceptions::identify(ctx.annotations, super::exceptions::Caller::Other)
    });
    let image = identity
        .image
        .clone()
        .or_else(|| crate::scan::image_of(ctx.annotations).map(|i| i.name));
    // a value nobody names is absent (undefined in Rego: `not input.context.image` holds)
    let mut context = serde_json::Map::new();
    context.insert("profile".into(), json!(profile.name));
    context.insert("container_id".into(), json!(ctx.id));
    if let Some(n) = identity.namespace {
        context.insert("namespace".into(), json!(n));
    }
    if let Some(i) = image {
        context.insert("image".into(), json!(i));
    }
    // who vouches for namespace and image (`containerd-cri`); absent: the spec's own claim
    if let Some(v) = identity.vouched_by {
        context.insert("identity_vouched_by".into(), json!(v));
    }
    // what authorized exceptions granted this container
    context.insert(
        "exceptions".into(),
        serde_json::to_value(ctx.granted).unwrap_or(Value::Null),
    );
    json!({
        "spec": spec,
        "original": original,
        "context": context,
    })
}

/// Evaluates the profile's policy on `spec` (hardened) and `original` (as given).
pub fn evaluate(
    spec: &Value,
    original: &Value,
    profile: &Profile,
    ctx: &RuleCtx,
    identity: Option<&Identity>,
) -> Vec<Proposal> {
    let cfg = &profile.rego;
    if cfg.files.is_empty() {
        return vec![];
    }
    let Some(compiled) = &cfg.compiled else {
        return vec![Proposal::refuse(
            "",
            format!(
                "the [rego] policies of profile {} were not loaded from its file",
                profile.name
            ),
        )];
    };
    let files = compiled.files.join(", ");
    let mut engine = compiled.clone();
    let verdict = match engine.eval(input(spec, original, profile, ctx, identity)) {
        Ok(v) => v,
        Err(e) => {
            // a policy that cannot decide refuses: a deny rule that did not run is no pass
            let text = format!("{e:#}");
            let line = text
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("unknown error");
            return vec![Proposal::refuse(
                "",
                format!("{files}: evaluation failed: {line}"),
            )];
        }
    };
    let mut out: Vec<Proposal> = verdict
        .warn
        .iter()
        .map(|m| Proposal::note("", format!("{files}: warn: {m}")))
        .collect();
    out.extend(
        verdict
            .deny
            .iter()
            .map(|m| Proposal::refuse("", format!("{files}: {m}"))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::rego::Compiled;
    use std::collections::BTreeMap;

    fn profile_with(policy: &str) -> Profile {
        let mut p = crate::policy::rules::testing::profile("restricted");
        p.rego.files = vec!["acme.rego".into()];
        p.rego.compiled =
            Some(Compiled::new(&[("/etc/hardrun/acme.rego".into(), policy.into())]).unwrap());
        p
    }

    fn run(p: &Profile, spec: &Value, original: &Value, ann: &[(&str, &str)]) -> Vec<Proposal> {
        let annotations: BTreeMap<String, String> = ann
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let granted = Default::default();
        let ctx = RuleCtx {
            id: "c1",
            annotations: &annotations,
            granted: &granted,
            host: &crate::base::TestHost,
            userns: None,
            sources: crate::bundle::Sources::none(),
            tripwires: None,
        };
        let identity = super::super::exceptions::identify(
            &annotations,
            super::super::exceptions::Caller::Other,
        );
        evaluate(spec, original, p, &ctx, Some(&identity))
    }

    #[test]
    fn deny_refuses_and_warn_notes_with_the_file() {
        let p = profile_with(
            r#"package hardrun
deny contains msg if {
    some e in input.spec.process.env
    startswith(e, "X=")
    msg := "env X is not allowed"
}
warn contains msg if {
    not input.spec.process.user.uid == 0
    msg := sprintf("runs as uid %d", [input.spec.process.user.uid])
}
"#,
        );
        let spec = json!({"process": {"env": ["X=1"], "user": {"uid": 1000, "gid": 1000}}});
        let out = run(&p, &spec, &spec, &[]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].noted && out[0].fixable);
        assert_eq!(
            out[0].message,
            "/etc/hardrun/acme.rego: warn: runs as uid 1000"
        );
        assert!(!out[1].fixable && !out[1].noted);
        assert_eq!(
            out[1].message,
            "/etc/hardrun/acme.rego: env X is not allowed"
        );
        // nothing to say: nothing found
        let clean = json!({"process": {"env": [], "user": {"uid": 0, "gid": 0}}});
        assert!(run(&p, &clean, &clean, &[]).is_empty());
    }

    #[test]
    fn input_has_spec_original_and_context() {
        let p = profile_with(
            r#"package hardrun
deny contains "original root" if input.original.process.user.uid == 0
deny contains "hardened root" if input.spec.process.user.uid == 0
deny contains msg if {
    input.context.namespace == "kube-system"
    msg := sprintf("namespace %s image %s profile %s id %s", [input.context.namespace, input.context.image, input.context.profile, input.context.container_id])
}
warn contains "no grants" if count(input.context.exceptions.capabilities) == 0
"#,
        );
        let original = json!({"process": {"user": {"uid": 0, "gid": 0}}});
        let hardened = json!({"process": {"user": {"uid": 65534, "gid": 65534}}});
        let msgs: Vec<String> = run(
            &p,
            &hardened,
            &original,
            &[
                ("io.kubernetes.cri.sandbox-namespace", "kube-system"),
                ("hardrun.dev/image", "acme/app:1"),
            ],
        )
        .into_iter()
        .map(|p| p.message)
        .collect();
        let f = "/etc/hardrun/acme.rego";
        assert_eq!(
            msgs,
            [
                format!("{f}: warn: no grants"),
                format!("{f}: namespace kube-system image acme/app:1 profile restricted id c1"),
                format!("{f}: original root"),
            ]
        );
    }

    #[test]
    fn not_loaded_refuses_and_no_files_is_silent() {
        let mut p = crate::policy::rules::testing::profile("restricted");
        let spec = json!({});
        assert!(run(&p, &spec, &spec, &[]).is_empty());
        p.rego.files = vec!["acme.rego".into()];
        let out = run(&p, &spec, &spec, &[]);
        assert_eq!(out.len(), 1);
        assert!(!out[0].fixable);
        assert!(
            out[0].message.contains("were not loaded"),
            "{}",
            out[0].message
        );
    }

    #[test]
    fn an_evaluation_error_refuses() {
        // a conflict: a complete rule with two values is an error when it is evaluated
        let p = profile_with(
            r#"package hardrun
level := 1 if input.spec.a
level := 2 if input.spec.a
deny contains "x" if level == 3
"#,
        );
        let spec = json!({"a": true});
        let out = run(&p, &spec, &spec, &[]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(!out[0].fixable);
        assert!(
            out[0]
                .message
                .starts_with("/etc/hardrun/acme.rego: evaluation failed: "),
            "{}",
            out[0].message
        );
    }
}
