//! The audit record: one JSON line per create/run/exec/update decision, appended to the audit
//! log (default `/var/log/hardrun/audit.jsonl`, mode 0600), and the same findings as tracing
//! events (so they reach the caller's `--log` file too).
//!
//! A decision that cannot be recorded is not carried out: hardrun fails closed.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use serde::Serialize;

use crate::policy::{Finding, Outcome, PolicyDenied};
use crate::profile::config::Mode;

#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub id: &'a str,
    pub command: &'a str,
    pub bundle: String,
    pub profile: &'a str,
    pub profile_sha256: &'a str,
    pub mode: String,
    /// `allowed` or `denied`
    pub decision: &'static str,
    /// the refusing rule, for `denied`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    pub findings: &'a [Finding],
    /// the profile exception entries that granted something (`<profile>#<index>`)
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub exceptions_used: &'a [String],
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write the audit log {path}: {msg}")]
pub struct AuditError {
    pub path: String,
    pub msg: String,
}

/// The decision to record.
pub enum Decision<'a> {
    Allowed(&'a Outcome),
    Denied(&'a PolicyDenied),
}

/// Records a decision in the audit log (`None`: no log) and as tracing events.
pub fn record(
    log: Option<&Path>,
    command: &str,
    id: &str,
    bundle: &Path,
    decision: Decision,
) -> Result<(), AuditError> {
    let (profile, sha, mode, findings, verdict, rule, reason) = match &decision {
        Decision::Allowed(o) => (
            &o.profile,
            &o.profile_sha256,
            o.mode,
            &o.findings,
            "allowed",
            None,
            None,
        ),
        Decision::Denied(d) => (
            &d.profile,
            &d.profile_sha256,
            d.mode,
            &d.findings,
            "denied",
            Some(d.rule.as_str()),
            Some(d.reason.as_str()),
        ),
    };
    // long values (a whole mounts array) stay in the audit log only
    let short = |v: &serde_json::Value| {
        let s = v.to_string();
        if s.len() <= 160 {
            s
        } else {
            format!("({} bytes, see the audit log)", s.len())
        }
    };
    for f in findings.iter() {
        tracing::warn!(
            target: "hardrun::finding",
            id,
            rule = f.code.as_str(),
            cis = f.cis.join(",").as_str(),
            action = %f.action,
            pointer = f.pointer.as_str(),
            before = short(&f.before).as_str(),
            after = short(&f.after).as_str(),
            "hardening: {}",
            f.message
        );
    }
    let Some(log) = log else { return Ok(()) };
    let entry = Entry {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        id,
        command,
        bundle: bundle.display().to_string(),
        profile,
        profile_sha256: sha,
        mode: mode_name(mode),
        decision: verdict,
        rule,
        reason,
        findings,
        exceptions_used: match &decision {
            Decision::Allowed(o) => &o.exceptions_used,
            Decision::Denied(_) => &[],
        },
    };
    let mut line = serde_json::to_vec(&entry).map_err(|e| AuditError {
        path: log.display().to_string(),
        msg: e.to_string(),
    })?;
    line.push(b'\n');
    append(log, &line)
}

fn mode_name(m: Mode) -> String {
    m.to_string()
}

/// One `write(2)` on an O_APPEND file: lines of concurrent hardrun processes never interleave.
fn append(log: &Path, line: &[u8]) -> Result<(), AuditError> {
    let err = |msg: String| AuditError {
        path: log.display().to_string(),
        msg,
    };
    if let Some(dir) = log.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| err(e.to_string()))?;
        }
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(log)
        .map_err(|e| err(e.to_string()))?;
    f.write_all(line).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Action, Severity};

    #[test]
    fn one_json_line_per_decision() {
        let dir = std::env::temp_dir().join(format!("hardrun-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = dir.join("sub/audit.jsonl");
        let f = Finding {
            code: "user".into(),
            cis: vec!["4.1".into()],
            severity: Severity::High,
            action: Action::Enforce,
            pointer: "/process/user/uid".into(),
            before: 0.into(),
            after: 65534.into(),
            message: "process runs as uid 0; moved to uid 65534".into(),
        };
        let o = Outcome {
            value: serde_json::json!({}),
            findings: vec![f.clone()],
            profile: "restricted".into(),
            profile_sha256: "ab".into(),
            mode: Mode::Enforce,
            exceptions_used: vec![],
        };
        record(
            Some(&log),
            "create",
            "c1",
            Path::new("/b"),
            Decision::Allowed(&o),
        )
        .unwrap();
        let d = PolicyDenied {
            id: "c2".into(),
            rule: "namespaces".into(),
            pointer: "/linux/namespaces/0/path".into(),
            reason: "pid namespace /proc/1/ns/pid is the host's".into(),
            findings: vec![f],
            profile: "restricted".into(),
            profile_sha256: "ab".into(),
            mode: Mode::Enforce,
        };
        record(
            Some(&log),
            "run",
            "c2",
            Path::new("/b"),
            Decision::Denied(&d),
        )
        .unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["decision"], "allowed");
        assert_eq!(lines[0]["findings"][0]["after"], 65534);
        assert_eq!(lines[0]["findings"][0]["cis"], serde_json::json!(["4.1"]));
        assert_eq!(lines[1]["decision"], "denied");
        assert_eq!(lines[1]["rule"], "namespaces");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
