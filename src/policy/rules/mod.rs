//! The rules: one file per hardening area, each a pure function of (spec, profile, context) that
//! proposes edits. Rules never touch the disk or the host; what they need of the host comes in
//! through [`Host`], so they stay unit-testable without root.

use std::collections::BTreeMap;

use serde_json::Value;

use super::edit::Edit;
use super::registry::Severity;
use crate::profile::Profile;

pub use crate::base::caps::{ALL_CAPS, DOCKER_CAPS};
pub use crate::base::json::{at, strings};
pub use crate::base::Host;
#[cfg(test)]
pub use crate::base::TestHost;

// one module per line of the registry (`crate::base::rule::registry!`): `pub mod <file>;`
macro_rules! modules {
    ($($file:ident: $code:literal, cis [$($cis:literal),*], exec [$($exec:literal),*];)*) => {
        $(pub mod $file;)*
    };
}
crate::base::rule::registry!(modules);

/// What a rule's file says of it, beside `evaluate` itself: `pub const RULE: Rule` in
/// `src/policy/rules/<file>.rs`. Its code and CIS tags are on its registry line
/// (`crate::base::rule::registry!`); [`super::registry::RULES`] joins the two.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// what a spec that passes looks like, in one line (`hardrun profile show`, SARIF, docs)
    pub description: &'static str,
    pub severity: Severity,
    /// it looks at the process: `exec` is held to it too (`policy::PROCESS_RULES`)
    pub process: bool,
    /// `None`: decided by the engine itself, not by a function of the spec (`exception`)
    pub evaluate: Option<RuleFn>,
}

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
    /// a deviation an authorized exception allows (a granted host namespace): recorded with
    /// action `audit` whatever the rule's action, never rewritten, never refusing
    pub noted: bool,
}

impl Proposal {
    pub fn fix(pointer: impl Into<String>, message: impl Into<String>, edits: Vec<Edit>) -> Self {
        Proposal {
            pointer: pointer.into(),
            message: message.into(),
            edits,
            fixable: true,
            cis: None,
            noted: false,
        }
    }
    pub fn refuse(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Proposal {
            pointer: pointer.into(),
            message: message.into(),
            edits: vec![],
            fixable: false,
            cis: None,
            noted: false,
        }
    }
    /// A deviation an authorized exception allows: recorded (action `audit`), nothing changed.
    pub fn note(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Proposal {
            noted: true,
            fixable: true,
            ..Proposal::refuse(pointer, message)
        }
    }
    /// The same proposal, tagged with the CIS controls of this deviation alone.
    pub fn tagged(mut self, cis: &'static [&'static str]) -> Self {
        self.cis = Some(cis);
        self
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
    /// namespace kinds the spec leaves out (the host's) that a `host-namespaces` exception
    /// authorized: the container runs in the host's (see `rules::namespaces`)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_namespaces: Vec<String>,
    /// a pod's container on containerd's CRI path under a profile with `[resources] pod_limits =
    /// "pod-cgroup"`: limits it leaves unset stay unset (see `rules::resources`)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pod_cgroup_limits: bool,
    /// device classes of the profile whose devices the spec lists and that a `device-class`
    /// exception authorized, with their majors resolved on the host at create (see
    /// `rules::devices`)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_classes: Vec<GrantedDeviceClass>,
}

/// A device class granted to a container: `linux.devices` entries of type `typ` whose path
/// matches one of `paths` and whose major is one of `majors` are kept.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantedDeviceClass {
    pub name: String,
    #[serde(rename = "type")]
    pub typ: String,
    pub paths: Vec<String>,
    pub majors: Vec<i64>,
}

impl GrantedDeviceClass {
    /// Whether a device (normalized path, cgroup type, major) belongs to the class.
    pub fn covers(&self, path: &str, typ: &str, major: i64) -> bool {
        self.typ == typ
            && self.majors.contains(&major)
            && self
                .paths
                .iter()
                .any(|p| crate::profile::glob_segment_match(p, path))
    }
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
    /// create/run: the tripwire socket of a `hardrun monitor` listening now (see
    /// `seccomp::arm_tripwires`); `None`: no monitor, or a command that does not arm them
    pub tripwires: Option<&'a std::path::Path>,
}

pub type RuleFn = fn(&Value, &Profile, &RuleCtx) -> Vec<Proposal>;

/// The rule function for a code; `None` for codes evaluated elsewhere (`exception`).
pub fn lookup(code: &str) -> Option<RuleFn> {
    super::registry::info(code)?.evaluate
}

#[cfg(test)]
mod registry_tests {
    /// A rule in the registry that `lookup` does not know would be skipped without a word:
    /// every code but `exception` (decided by the engine itself) has its function.
    #[test]
    fn every_registered_rule_has_its_function() {
        for r in crate::base::rule::RULES {
            assert_eq!(
                super::lookup(r.code).is_some(),
                r.code != "exception",
                "rule {}: RULES and lookup disagree",
                r.code
            );
        }
        assert!(super::lookup("no-such-rule").is_none());
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
            tripwires: None,
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
