//! The audit record: one JSON line per create/run/exec/update decision, appended to the audit
//! log (default `/var/log/hardrun/audit.jsonl`, mode 0600), and the same findings as tracing
//! events (so they reach the caller's `--log` file too).
//!
//! A decision that cannot be recorded is not carried out: hardrun fails closed.
//!
//! The log is a hash chain: each record's `prev` is the sha256 (hex) of the previous line's
//! bytes (`""` for the first), so a changed, removed or reordered record breaks the chain at the
//! next one; [`verify`] finds the first break. Writers hold an exclusive `flock` on the log while
//! they read the last line and append theirs, so concurrent hardrun processes keep it intact.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use serde::Serialize;

use crate::policy::{Finding, Outcome, PolicyDenied};

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
    /// sha256 of the previous record's line (hex; empty for the first record)
    pub prev: String,
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
    let mut entry = Entry {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        id,
        command,
        bundle: bundle.display().to_string(),
        profile,
        profile_sha256: sha,
        mode: mode.to_string(),
        decision: verdict,
        rule,
        reason,
        findings,
        exceptions_used: match &decision {
            Decision::Allowed(o) => &o.exceptions_used,
            Decision::Denied(_) => &[],
        },
        prev: String::new(),
    };
    append(log, |prev| {
        entry.prev = prev;
        let mut line = serde_json::to_vec(&entry).unwrap_or_default();
        line.push(b'\n');
        line
    })
}

/// sha256 of a record line (without its newline), hex.
pub fn line_hash(line: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(line))
}

/// The last line of `f` (without its newline), read backwards in 64 KiB chunks.
fn last_line(f: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    const CHUNK: u64 = 64 * 1024;
    let mut pos = f.seek(SeekFrom::End(0))?;
    let mut tail: Vec<u8> = vec![];
    let mut trimmed = false;
    while pos > 0 {
        let n = CHUNK.min(pos);
        pos -= n;
        f.seek(SeekFrom::Start(pos))?;
        let mut buf = vec![0; n as usize];
        f.read_exact(&mut buf)?;
        buf.extend_from_slice(&tail);
        tail = buf;
        if !trimmed {
            // the log's final newline ends the last line; it does not start it
            if tail.last() == Some(&b'\n') {
                tail.pop();
            }
            trimmed = true;
        }
        if let Some(i) = tail.iter().rposition(|b| *b == b'\n') {
            return Ok(tail.split_off(i + 1));
        }
    }
    Ok(tail)
}

/// Appends the line `make(prev)` builds, with `prev` the hash of the log's last line, under an
/// exclusive lock; one `write(2)` on an O_APPEND file.
fn append(log: &Path, make: impl FnOnce(String) -> Vec<u8>) -> Result<(), AuditError> {
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
    let f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(log)
        .map_err(|e| err(e.to_string()))?;
    let mut f = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| err(format!("cannot lock it: {e}")))?;
    let last = last_line(&mut f).map_err(|e| err(e.to_string()))?;
    let prev = if last.is_empty() {
        String::new()
    } else {
        line_hash(&last)
    };
    f.write_all(&make(prev)).map_err(|e| err(e.to_string()))
}

/// Checks the hash chain of an audit log: Ok(number of records), or the first broken record
/// (1-based) and why.
pub fn verify(text: &[u8]) -> Result<usize, (usize, String)> {
    let mut prev_hash = String::new();
    let mut n = 0;
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            if i == text.split(|b| *b == b'\n').count() - 1 {
                break; // the final newline
            }
            return Err((i + 1, "empty line".into()));
        }
        let v: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| (i + 1, format!("not a JSON record: {e}")))?;
        let prev = v
            .get("prev")
            .and_then(|p| p.as_str())
            .ok_or((i + 1, "no prev field".to_string()))?;
        if prev != prev_hash {
            return Err((
                i + 1,
                if i == 0 {
                    "the first record links to a record that is not there (records removed from the start?)".into()
                } else {
                    format!("prev does not match record {}: that record was changed, removed or reordered", i)
                },
            ));
        }
        prev_hash = line_hash(line);
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Action, Severity};
    use crate::profile::config::Mode;

    /// An allowed decision whose record differs per container.
    fn allowed(id: &str) -> Outcome {
        Outcome {
            value: serde_json::json!({}),
            findings: vec![],
            profile: format!("restricted-{id}"),
            profile_sha256: "ab".into(),
            mode: Mode::Enforce,
            exceptions_used: vec![],
        }
    }

    fn temp_log(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hardrun-chain-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("audit.jsonl")
    }

    #[test]
    fn the_log_is_a_hash_chain_and_verify_names_the_first_broken_record() {
        let log = temp_log("tamper");
        for i in 0..5 {
            let id = format!("c{i}");
            record(
                Some(&log),
                "create",
                &id,
                Path::new("/b"),
                Decision::Allowed(&allowed(&id)),
            )
            .unwrap();
        }
        let good = std::fs::read(&log).unwrap();
        assert_eq!(verify(&good), Ok(5));
        let lines: Vec<&[u8]> = good
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let join = |ls: &[&[u8]]| {
            let mut v = ls.join(&b'\n');
            v.push(b'\n');
            v
        };
        // one byte changed in record 2 (c1 -> c9): record 3 no longer links to it
        let mut tampered = good.clone();
        let at = tampered.windows(4).position(|w| w == b"\"c1\"").unwrap();
        tampered[at + 2] = b'9';
        assert_eq!(verify(&tampered).unwrap_err().0, 3);
        // record 3 removed: record 4 is the first that breaks
        let removed = join(&[lines[0], lines[1], lines[3], lines[4]]);
        assert_eq!(verify(&removed).unwrap_err().0, 3);
        // records 2 and 3 swapped
        let swapped = join(&[lines[0], lines[2], lines[1], lines[3], lines[4]]);
        assert_eq!(verify(&swapped).unwrap_err().0, 2);
        // the first record removed
        let (n, why) = verify(&join(&lines[1..])).unwrap_err();
        assert_eq!(n, 1);
        assert!(why.contains("removed from the start"), "{why}");
        std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
    }

    #[test]
    fn concurrent_writers_keep_the_chain() {
        let log = temp_log("concurrent");
        std::thread::scope(|s| {
            for t in 0..20 {
                let log = &log;
                s.spawn(move || {
                    for i in 0..5 {
                        let id = format!("t{t}-{i}");
                        record(
                            Some(log),
                            "create",
                            &id,
                            Path::new("/b"),
                            Decision::Allowed(&allowed(&id)),
                        )
                        .unwrap();
                    }
                });
            }
        });
        assert_eq!(verify(&std::fs::read(&log).unwrap()), Ok(100));
        std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
    }

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
