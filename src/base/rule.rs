//! The rule registry ([`registry!`]: one line per rule, in engine order) and the words every
//! layer shares about rules: [`Action`], [`Severity`]. A rule itself — description, severity,
//! `evaluate` — is its file under `src/policy/rules/`; the engine expands this list into those
//! modules. Imports nothing of hardrun's.

use serde::{Deserialize, Serialize};

/// What a profile tells the engine to do about a rule's deviation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// rewrite the spec and record the change
    Enforce,
    /// record what would change, leave the spec alone
    Audit,
    /// refuse the container, naming the rule
    Deny,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Enforce => "enforce",
            Action::Audit => "audit",
            Action::Deny => "deny",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// The rule registry: every rule, one line each, in the order the engine runs them. The order
/// matters: `privileged` looks at the caller's spec before anything is rewritten; `seccomp` runs
/// after `capabilities`, because the syscalls it allows depend on the final capability set; the
/// gate (`cis-score`) scores the spec every other rule has finished with.
///
/// A line names the rule's file under `src/policy/rules/` (which holds its description, its
/// severity, whether `exec` is held to it, and `evaluate`), its code (kebab-case, the key in a
/// profile's `[rules]` table) and the CIS Docker Benchmark v1.6.0 controls a container passes
/// because the rule is enforced: at create (`cis`; a finding may carry a narrower subset) and
/// when it judges a process started by `exec` (`exec`: 5.23, 5.24). Those two facts are here, in
/// `base`, because layers below the engine need them: `profile` checks a profile's `[rules]`
/// keys and the CIS catalogue (`compliance`) derives which rules satisfy a control. The engine
/// expands the same list into its rule modules and its [`RULES`]-ordered units
/// (`policy::registry`), so this is the only list.
///
/// `$then` is a macro that receives the lines; see `policy::rules`.
macro_rules! registry {
    ($then:ident) => {
        $then! {
            privileged: "privileged", cis ["5.5"], exec [];
            namespaces: "namespaces", cis ["5.10", "5.16", "5.17", "5.21"], exec [];
            user: "user", cis ["4.1"], exec ["5.24"];
            userns: "userns", cis ["5.31"], exec [];
            rootfs: "rootfs", cis ["5.13"], exec [];
            tmpfs: "tmpfs", cis [], exec [];
            mounts: "mounts", cis ["5.6", "5.20", "5.32"], exec [];
            devices: "devices", cis ["5.18"], exec [];
            paths: "paths", cis [], exec [];
            capabilities: "capabilities", cis ["5.4"], exec ["5.23"];
            no_new_privileges: "no-new-privileges", cis ["5.26"], exec [];
            seccomp: "seccomp", cis ["5.22"], exec [];
            resources: "resources", cis ["5.11", "5.12", "5.19", "5.29"], exec [];
            sysctls: "sysctls", cis [], exec [];
            hooks: "hooks", cis [], exec [];
            secrets: "secrets", cis [], exec [];
            image_scan: "image-scan", cis [], exec [];
            image_files: "image-files", cis [], exec [];
            exception: "exception", cis [], exec [];
            rego: "rego", cis [], exec [];
            cis_score: "cis-score", cis [], exec [];
        }
    };
}
pub(crate) use registry;

/// A line of the registry: what the layers below the engine know of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo {
    /// kebab-case code, the key in a profile's `[rules]` table
    pub code: &'static str,
    /// the CIS controls a container passes because this rule is enforced at create
    pub cis: &'static [&'static str],
    /// the controls it serves when it judges a process started by `exec` (5.23, 5.24)
    pub cis_exec: &'static [&'static str],
}

macro_rules! lines {
    ($($file:ident: $code:literal, cis [$($cis:literal),*], exec [$($exec:literal),*];)*) => {
        /// Every rule's registry line, in the order the engine runs them.
        pub const RULES: &[RuleInfo] = &[$(RuleInfo {
            code: $code,
            cis: &[$($cis),*],
            cis_exec: &[$($exec),*],
        }),*];

        /// Each rule's code, by the name of its file: `codes::secrets` rather than a loose
        /// `"secrets"`, so a misspelt code does not compile.
        #[allow(non_upper_case_globals)]
        pub mod codes {
            $(pub const $file: &str = $code;)*
        }
    };
}
registry!(lines);

/// The gate's code: it scores the spec every other rule has finished with.
pub const GATE: &str = codes::cis_score;

/// Every rule but the gate, in registry order: the spec as hardening leaves it, before it is
/// scored (`hardrun check` applies its own `--min-score`; a dry run scores this).
pub fn ungated() -> Vec<&'static str> {
    RULES
        .iter()
        .map(|r| r.code)
        .filter(|c| *c != GATE)
        .collect()
}

/// The rules whose CIS tags (at create or on exec) name control `id`: what `check` and SARIF
/// say satisfies it.
pub fn rules_for(id: &str) -> Vec<&'static str> {
    RULES
        .iter()
        .filter(|r| r.cis.contains(&id) || r.cis_exec.contains(&id))
        .map(|r| r.code)
        .collect()
}

pub fn info(code: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.code == code)
}
