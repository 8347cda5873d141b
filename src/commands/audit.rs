//! `hardrun audit verify [FILE…]`: checks the hash chain of audit logs, oldest file first, as one
//! chain (a rotated log's link to the file before it is checked too). Prints one line per file;
//! exit 1 when the chain is broken (naming the file and the first broken record) or a file cannot
//! be read.
//!
//! `hardrun audit show [--container ID] [--since T] [--decision D] [--format text|json]`: the
//! records, readably: one header line per decision, then its findings.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::audit::{chain_files, verify_chain};
use crate::cli::{AuditCmd, GlobalOpts};

pub fn run(global: &GlobalOpts, cmd: &AuditCmd) -> Result<i32> {
    match cmd {
        AuditCmd::Verify { files } => verify(global, files),
        AuditCmd::Show {
            container,
            since,
            decision,
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

fn verify(global: &GlobalOpts, files: &[PathBuf]) -> Result<i32> {
    let files = files_or_config(global, files)?;
    let texts = files.iter().map(read).collect::<Result<Vec<_>>>()?;
    let mut report = String::new();
    let mut broken = vec![];
    for (f, r) in files.iter().zip(verify_chain(&texts)) {
        match r {
            Some(Ok(n)) => {
                report.push_str(&format!("{}: {n} records, chain intact\n", f.display()))
            }
            Some(Err((record, why))) => {
                report.push_str(&format!("{}: record {record}: {why}\n", f.display()));
                broken.push(format!("{} (record {record})", f.display()));
            }
            None => report.push_str(&format!(
                "{}: not checked (an older file is broken)\n",
                f.display()
            )),
        }
    }
    super::out(report.as_bytes())?;
    if !broken.is_empty() {
        bail!("audit chain broken: {}", broken.join(", "));
    }
    Ok(0)
}

struct Filter<'a> {
    container: Option<&'a str>,
    since: Option<DateTime<Utc>>,
    decision: Option<&'a str>,
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
