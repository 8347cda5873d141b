//! `hardrun audit verify [--head FILE] [FILE…]`: checks the keyed hash chain of audit logs, oldest
//! file first, as one chain (a rotated log's link to the file before it is checked too; every
//! record's MAC with the key its `kid` names, from the configuration's `audit_key` and its
//! retired keys), and the chain's end against the head file. Prints one line per file and one for
//! the head, then notes (unkeyed records); exit 1 when the chain is broken (naming the file and
//! the first broken record), the head does not match (naming the missing records), or a file
//! cannot be read.
//!
//! `hardrun audit show [--container ID] [--since T] [--decision D] [--k8s-namespace NS]
//! [--pod NAME|UID] [--k8s-container NAME] [--format text|json]`: the records, readably: one
//! header line per decision, then its findings.
//!
//! `hardrun audit rotate-key`: a new node key; the old one kept for verification.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::audit::{chain_files, head_path, key, verify_logs, HeadInput};
use crate::cli::{AuditCmd, GlobalOpts};

pub fn run(global: &GlobalOpts, cmd: &AuditCmd) -> Result<i32> {
    match cmd {
        AuditCmd::Verify { head, files } => verify(global, head.as_deref(), files),
        AuditCmd::RotateKey => rotate_key(global),
        AuditCmd::Show {
            container,
            since,
            decision,
            k8s_namespace,
            pod,
            k8s_container,
            format,
            files,
        } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            show(
                global,
                files,
                &Filter {
                    container: container.as_deref(),
                    since,
                    decision: decision.as_deref(),
                    namespace: k8s_namespace.as_deref(),
                    pod: pod.as_deref(),
                    k8s_container: k8s_container.as_deref(),
                },
                format == "json",
            )
        }
    }
}

/// The files to read: those named, else the configured log with its rotated files.
fn files_or_config(global: &GlobalOpts, files: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if !files.is_empty() {
        return Ok(files.to_vec());
    }
    let config = super::policy_config(global)?;
    match config.audit_log {
        Some(f) => {
            let all = chain_files(&f);
            if all.is_empty() {
                bail!("cannot read {}: no audit log yet", f.display());
            }
            Ok(all)
        }
        None => bail!(
            "{}: audit_log is off: name the files",
            config.path.display()
        ),
    }
}

fn read(f: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(f).map_err(|e| anyhow!("cannot read {}: {e}", f.display()))
}

fn verify(global: &GlobalOpts, head: Option<&std::path::Path>, files: &[PathBuf]) -> Result<i32> {
    let config = super::policy_config(global)?;
    let named = !files.is_empty();
    let files = files_or_config(global, files)?;
    let texts = files.iter().map(read).collect::<Result<Vec<_>>>()?;
    let keys = key::Keyring::load(&config.audit_key);
    // the head: named; else the configured log's (always checked: a missing one is a finding);
    // else one beside the last file named, where there is one
    let last = files.last().cloned().unwrap_or_default();
    let head_file = match head {
        Some(h) => Some(h.to_path_buf()),
        None if !named || config.audit_log.as_deref() == Some(last.as_path()) => {
            Some(head_path(&last))
        }
        None => Some(head_path(&last)).filter(|h| h.exists()),
    };
    let head_text = match &head_file {
        Some(h) => match std::fs::read(h) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => bail!("cannot read {}: {e}", h.display()),
        },
        None => None,
    };
    let input = match (&head_file, &head_text) {
        (None, _) => HeadInput::NotChecked,
        (Some(_), None) => HeadInput::Missing,
        (Some(_), Some(t)) => HeadInput::Present(t),
    };
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let r = verify_logs(&names, &texts, &keys, input);
    let mut report = String::new();
    let mut broken = vec![];
    for (f, r) in names.iter().zip(&r.files) {
        match r {
            Some(Ok(n)) => report.push_str(&format!("{f}: {n} records, chain intact\n")),
            Some(Err((record, why))) => {
                report.push_str(&format!("{f}: record {record}: {why}\n"));
                broken.push(format!("{f} (record {record})"));
            }
            None => report.push_str(&format!("{f}: not checked (an older file is broken)\n")),
        }
    }
    let head_name = head_file
        .as_ref()
        .map(|h| h.display().to_string())
        .unwrap_or_default();
    match &r.head {
        Some(Ok(what)) => report.push_str(&format!("{head_name}: {what}\n")),
        Some(Err(why)) => {
            report.push_str(&format!("{head_name}: {why}\n"));
            broken.push(format!("{head_name} ({why})"));
        }
        None => {}
    }
    for (file, record, why) in &r.anchors {
        let f = names.get(*file).map_or("", String::as_str);
        report.push_str(&format!(
            "{f}: record {record}: when it was written, {why}\n"
        ));
        broken.push(format!("{f} (record {record}: {why})"));
    }
    for note in &r.notes {
        report.push_str(&format!("note: {note}\n"));
    }
    super::out(report.as_bytes())?;
    if !broken.is_empty() {
        bail!("audit chain broken: {}", broken.join(", "));
    }
    Ok(0)
}

/// `audit rotate-key`: the old key into the keyring, a new one in its place, and a record of it
/// (MACed with the new key) in the audit log.
fn rotate_key(global: &GlobalOpts) -> Result<i32> {
    let config = super::policy_config(global)?;
    let (old, new) = key::rotate(&config.audit_key).map_err(|e| anyhow!(e))?;
    let note = match &old {
        Some(old) => format!(
            "audit key {old} retired to {}; new key {new}",
            key::retired_dir(&config.audit_key).display()
        ),
        None => format!("no audit key yet: created {new}"),
    };
    crate::audit::record_step(
        crate::audit::Sink::of(&config).as_ref(),
        &crate::audit::Step {
            command: "rotate-key",
            id: "",
            bundle: std::path::Path::new(""),
            workload: None,
            profile: "",
            profile_sha256: "",
            mode: "",
            failed: None,
        },
    )?;
    super::out(format!("{note}\n").as_bytes())?;
    Ok(0)
}

struct Filter<'a> {
    container: Option<&'a str>,
    since: Option<DateTime<Utc>>,
    decision: Option<&'a str>,
    namespace: Option<&'a str>,
    /// a pod's name or uid
    pod: Option<&'a str>,
    k8s_container: Option<&'a str>,
}

impl Filter<'_> {
    fn keeps(&self, r: &Value) -> bool {
        if r.get("rotated_from").is_some() {
            return false;
        }
        if let Some(id) = self.container {
            if r["id"].as_str() != Some(id) {
                return false;
            }
        }
        if let Some(d) = self.decision {
            if r["decision"].as_str() != Some(d) {
                return false;
            }
        }
        let w = &r["workload"];
        if let Some(ns) = self.namespace {
            if w["namespace"].as_str() != Some(ns) {
                return false;
            }
        }
        if let Some(pod) = self.pod {
            if w["pod"].as_str() != Some(pod) && w["pod_uid"].as_str() != Some(pod) {
                return false;
            }
        }
        if let Some(c) = self.k8s_container {
            if w["container"].as_str() != Some(c) {
                return false;
            }
        }
        if let Some(since) = self.since {
            let t = r["time"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            if t.is_none_or(|t| t.with_timezone(&Utc) < since) {
                return false;
            }
        }
        true
    }
}

/// `--since`: RFC 3339, a date (midnight UTC), or an age before now (`30s`, `15m`, `2h`, `7d`).
pub fn parse_since(s: &str) -> Result<DateTime<Utc>> {
    parse_since_at(s, Utc::now())
}

fn parse_since_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let bad = || {
        anyhow!("--since {s:?}: use RFC 3339 (2026-11-27T10:00:00Z), a date (2026-11-27) or an age (30s, 15m, 2h, 7d)")
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc());
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(bad()),
    };
    Ok(now - chrono::Duration::seconds(secs))
}

fn show(global: &GlobalOpts, files: &[PathBuf], filter: &Filter, json: bool) -> Result<i32> {
    let files = files_or_config(global, files)?;
    let mut out = String::new();
    for f in &files {
        let text = read(f)?;
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let r: Value = serde_json::from_slice(line).map_err(|e| {
                anyhow!("{}: record {}: not a JSON record: {e}", f.display(), i + 1)
            })?;
            if !filter.keeps(&r) {
                continue;
            }
            if json {
                out.push_str(&String::from_utf8_lossy(line));
                out.push('\n');
            } else {
                out.push_str(&render(&r));
            }
        }
    }
    super::out(out.as_bytes())?;
    Ok(0)
}

/// One record, readably: time, decision, command, container, profile, score; then the reason of a
/// refusal and one line per finding.
fn render(r: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut head = format!(
        "{}  {:<7} {:<6} {}  profile={} mode={}",
        s(&r["time"]),
        s(&r["decision"]),
        s(&r["command"]),
        s(&r["id"]),
        s(&r["profile"]),
        s(&r["mode"]),
    );
    if let Some(w) = r.get("workload").filter(|v| v.is_object()) {
        // the caller's claims: marked as such
        head.push_str(&format!(
            " pod={}/{}",
            w["namespace"].as_str().unwrap_or("?"),
            w["pod"].as_str().unwrap_or("?")
        ));
        if let Some(c) = w["container"].as_str() {
            head.push_str(&format!(" container={c}"));
        }
        if let Some(i) = w["image"].as_str() {
            head.push_str(&format!(" image={i}"));
        }
        head.push_str(" (claimed)");
    }
    if let Some(score) = r.get("score").filter(|v| v.is_object()) {
        head.push_str(&format!(
            " cis-l1={}% cis-l2={}%",
            score["level1"], score["level2"]
        ));
    }
    let mut out = head + "\n";
    if r["decision"] == "denied" {
        out.push_str(&format!(
            "    refused by rule {}: {}\n",
            s(&r["rule"]),
            s(&r["reason"])
        ));
    }
    for f in r["findings"].as_array().into_iter().flatten() {
        let cis = f["cis"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "    [{}] {}{} {}: {}\n",
            s(&f["action"]),
            s(&f["code"]),
            if cis.is_empty() {
                String::new()
            } else {
                format!(" (CIS {cis})")
            },
            s(&f["pointer"]),
            s(&f["message"]),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn since_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for (arg, want) in [
            ("2026-11-27T10:00:00Z", "2026-11-27T10:00:00+00:00"),
            ("2026-11-27T11:00:00+01:00", "2026-11-27T10:00:00+00:00"),
            ("2026-11-26", "2026-11-26T00:00:00+00:00"),
            ("90s", "2026-11-27T11:58:30+00:00"),
            ("15m", "2026-11-27T11:45:00+00:00"),
            ("2h", "2026-11-27T10:00:00+00:00"),
            ("7d", "2026-11-20T12:00:00+00:00"),
        ] {
            assert_eq!(
                parse_since_at(arg, now).unwrap().to_rfc3339(),
                want,
                "{arg}"
            );
        }
        for bad in ["", "yesterday", "5w", "-", "2026-13-01"] {
            let e = parse_since_at(bad, now).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--since {bad:?}:")), "{e}");
        }
    }

    #[test]
    fn filter_and_render() {
        let r = json!({"time": "2026-11-27T10:00:00.000001Z", "id": "web", "command": "create",
            "profile": "restricted", "mode": "enforce", "decision": "denied", "rule": "namespaces",
            "reason": "host network namespace", "score": {"level1": 95.0, "level2": 90.5},
            "findings": [{"action": "deny", "code": "namespaces", "cis": ["5.10"],
                          "pointer": "/linux/namespaces", "message": "joins the host's network namespace"}]});
        let f = |c, d, since: Option<&str>| Filter {
            container: c,
            decision: d,
            namespace: None,
            pod: None,
            k8s_container: None,
            since: since.map(|s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)),
        };
        assert!(f(None, None, None).keeps(&r));
        assert!(f(Some("web"), Some("denied"), Some("2026-11-27T10:00:00Z")).keeps(&r));
        assert!(!f(Some("db"), None, None).keeps(&r));
        assert!(!f(None, Some("allowed"), None).keeps(&r));
        assert!(!f(None, None, Some("2026-11-27T10:00:01Z")).keeps(&r));
        assert!(!f(None, None, None).keeps(&json!({"rotated_from": "a.1", "prev": ""})));
        assert_eq!(
            render(&r),
            "2026-11-27T10:00:00.000001Z  denied  create web  profile=restricted mode=enforce cis-l1=95.0% cis-l2=90.5%\n    refused by rule namespaces: host network namespace\n    [deny] namespaces (CIS 5.10) /linux/namespaces: joins the host's network namespace\n"
        );
    }
}
