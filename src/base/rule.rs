//! The one registry of rule codes: what each rule checks, the CIS Docker Benchmark controls it
//! serves, its severity, and where it runs in the engine. Profiles, the engine, the audit log and
//! `hardrun check` all read it; it imports nothing of theirs.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo {
    /// kebab-case code, the key in a profile's `[rules]` table
    pub code: &'static str,
    pub description: &'static str,
    /// the CIS Docker Benchmark v1.6.0 controls a container passes because this rule is
    /// enforced at create (a finding's tags; a finding may carry a narrower subset)
    pub cis: &'static [&'static str],
    /// the controls it serves when it judges a process started by `exec` (5.23, 5.24)
    pub cis_exec: &'static [&'static str],
    pub severity: Severity,
}

/// Every rule, in the order the engine runs them. The order matters: `privileged` looks at the
/// caller's spec before anything is rewritten; `seccomp` runs after `capabilities`, because the
/// syscalls it allows depend on the final capability set.
pub const RULES: &[RuleInfo] = &[
    RuleInfo {
        code: "privileged",
        description: "a privileged container (all capabilities, no seccomp, unmasked paths, all devices) is refused",
        cis: &["5.5"],
        cis_exec: &[],
        severity: Severity::Critical,
    },
    RuleInfo {
        code: "namespaces",
        description: "pid, ipc, uts, mount, network and cgroup namespaces are private, never the host's",
        cis: &["5.10", "5.16", "5.17", "5.21"],
        cis_exec: &[],
        severity: Severity::High,
    },
    RuleInfo {
        code: "user",
        description: "the process runs as a non-root user and group, without supplementary group 0",
        cis: &["4.1"],
        cis_exec: &["5.24"],
        severity: Severity::High,
    },
    RuleInfo {
        code: "userns",
        description: "the container runs in a user namespace mapped to a host id range of its own, never to host root",
        cis: &["5.31"],
        cis_exec: &[],
        severity: Severity::Medium,
    },
    RuleInfo {
        code: "rootfs",
        description: "the root filesystem is mounted read-only",
        cis: &["5.13"],
        cis_exec: &[],
        severity: Severity::Medium,
    },
    RuleInfo {
        code: "tmpfs",
        description: "writable scratch directories are nosuid,nodev,noexec tmpfs mounts of bounded size",
        cis: &[],
        cis_exec: &[],
        severity: Severity::Low,
    },
    RuleInfo {
        code: "mounts",
        description: "no sensitive host path or runtime socket is bind-mounted writable; no shared propagation; bind mounts are nosuid,nodev",
        cis: &["5.6", "5.20", "5.32"],
        cis_exec: &[],
        severity: Severity::High,
    },
    RuleInfo {
        code: "devices",
        description: "only the default device set; the device cgroup denies everything else",
        cis: &["5.18"],
        cis_exec: &[],
        severity: Severity::High,
    },
    RuleInfo {
        code: "paths",
        description: "Docker's masked and read-only /proc and /sys paths are in place",
        cis: &[],
        cis_exec: &[],
        severity: Severity::Medium,
    },
    RuleInfo {
        code: "capabilities",
        description: "capability sets are limited to the profile's allowlist; no ambient capabilities",
        cis: &["5.4"],
        cis_exec: &["5.23"],
        severity: Severity::High,
    },
    RuleInfo {
        code: "no-new-privileges",
        description: "the process cannot gain privileges through setuid binaries or file capabilities",
        cis: &["5.26"],
        cis_exec: &[],
        severity: Severity::Medium,
    },
    RuleInfo {
        code: "seccomp",
        description: "a seccomp filter at least as strict as Docker's default is applied",
        cis: &["5.22"],
        cis_exec: &[],
        severity: Severity::High,
    },
    RuleInfo {
        code: "resources",
        description: "memory, CPU and pids limits and the nofile/nproc rlimits are set and within the profile's ceilings",
        cis: &["5.11", "5.12", "5.19", "5.29"],
        cis_exec: &[],
        severity: Severity::Medium,
    },
    RuleInfo {
        code: "sysctls",
        description: "only namespaced sysctls that Kubernetes considers safe",
        cis: &[],
        cis_exec: &[],
        severity: Severity::Medium,
    },
    RuleInfo {
        code: "hooks",
        description: "OCI hooks (run on the host as root) only from the profile's allowlist",
        cis: &[],
        cis_exec: &[],
        severity: Severity::High,
    },
    RuleInfo {
        code: "secrets",
        description: "no credentials in the process environment or arguments (reported masked, never logged)",
        cis: &[],
        cis_exec: &[],
        severity: Severity::Medium,
    },
    RuleInfo {
        code: "image-scan",
        description: "the image has a scanner's report (Trivy, Grype) with no finding at or above the profile's [scan] deny_at, not older than max_age",
        cis: &[],
        cis_exec: &[],
        severity: Severity::High,
    },
    RuleInfo {
        code: "image-files",
        description: "the image has no setuid or setgid file the root does not mount nosuid, and no world-writable directory without the sticky bit on a writable root",
        cis: &[],
        cis_exec: &[],
        severity: Severity::Medium,
    },
    RuleInfo {
        code: "exception",
        description: "an exception requested by annotation that the profile does not authorize",
        cis: &[],
        cis_exec: &[],
        severity: Severity::Medium,
    },
    RuleInfo {
        code: "rego",
        description: "the company's policies in Rego (the profile's [rego] files, package hardrun): each deny message refuses the container, each warn message is recorded",
        cis: &[],
        cis_exec: &[],
        severity: Severity::High,
    },
    RuleInfo {
        code: "cis-score",
        description: "after hardening, the spec's CIS Docker Benchmark score reaches the profile's min_score; below it the container is refused, naming the failing controls",
        cis: &[],
        cis_exec: &[],
        severity: Severity::High,
    },
];

/// The gate's code: it scores the spec every other rule has finished with.
pub const GATE: &str = "cis-score";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.code), "duplicate code {}", r.code);
            assert!(
                r.code.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                r.code
            );
            assert!(!r.description.is_empty());
        }
        let pos = |c: &str| RULES.iter().position(|r| r.code == c).unwrap();
        assert!(pos("privileged") < pos("capabilities"));
        assert!(pos("capabilities") < pos("seccomp"));
        // the gate scores the spec every other rule has finished with
        assert_eq!(RULES.last().unwrap().code, GATE);
        assert_eq!(ungated().len(), RULES.len() - 1);
    }
}
