//! The hardening seam. Every path that starts or widens a process goes through one function
//! here: `create`/`run` ([`harden_spec`]), `exec` ([`harden_exec`]) and `update`
//! ([`harden_update`]). The policy engine (profiles, rules, findings) plugs in behind these
//! signatures; until it lands they return their input unchanged and record nothing.

use serde::Serialize;

/// What the engine knows about the container it is deciding on.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub id: &'a str,
    pub bundle: &'a std::path::Path,
}

/// One deviation from what the caller asked for.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: String,
    pub pointer: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub action: String,
}

#[derive(Debug)]
pub struct Outcome {
    /// the spec (or process, or resources) to hand to libcontainer
    pub value: serde_json::Value,
    pub findings: Vec<Finding>,
}

#[derive(Debug, thiserror::Error)]
#[error("policy refused container {id:?}: rule {rule}: {reason}")]
pub struct PolicyDenied {
    pub id: String,
    pub rule: String,
    pub reason: String,
}

/// `create`/`run`: the whole spec, as raw JSON.
pub fn harden_spec(raw: &serde_json::Value, _ctx: &Context) -> Result<Outcome, PolicyDenied> {
    Ok(Outcome {
        value: raw.clone(),
        findings: vec![],
    })
}

/// `exec`: the process to start inside a running container.
pub fn harden_exec(process: &serde_json::Value, _ctx: &Context) -> Result<Outcome, PolicyDenied> {
    Ok(Outcome {
        value: process.clone(),
        findings: vec![],
    })
}

/// `update`: new cgroup resources (`linux.resources` shape).
pub fn harden_update(
    resources: &serde_json::Value,
    _ctx: &Context,
) -> Result<Outcome, PolicyDenied> {
    Ok(Outcome {
        value: resources.clone(),
        findings: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seam_returns_input_unchanged_for_now() {
        let spec = serde_json::json!({"ociVersion": "1.0.2", "x-keep": [1, 2]});
        let ctx = Context {
            id: "c",
            bundle: std::path::Path::new("/b"),
        };
        let out = harden_spec(&spec, &ctx).unwrap();
        assert_eq!(out.value, spec);
        assert!(out.findings.is_empty());
    }
}
