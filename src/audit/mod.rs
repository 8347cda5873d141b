//! The audit record: one JSON line per create/run/exec/update decision and per lifecycle step
//! (start, kill, pause, resume, delete; a failure after `allowed`), appended to the audit
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
    /// `allowed` or `denied` (a policy decision); `done` or `failed` (a lifecycle step: start,
    /// kill, pause, resume, delete; and `failed` for a create, run, exec or update that failed
    /// after it was allowed)
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
    /// create/run: the CIS score of the spec that runs
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<&'a crate::compliance::Summary>,
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
    rotation: &Rotation,
    command: &str,
    id: &str,
    bundle: &Path,
    decision: Decision,
) -> Result<(), AuditError> {
    let findings = match &decision {
        Decision::Allowed(o) => &o.findings,
        Decision::Denied(d) => &d.findings,
    };
    trace_findings(id, findings);
    append_decision(log, rotation, command, id, bundle, decision)
}

/// The findings of a decision as tracing events (so they reach the caller's `--log` file too).
pub fn trace_findings(id: &str, findings: &[Finding]) {
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
}

/// Appends a decision to the audit log (`None`: no log), without the tracing events of
/// [`record`] (a caller that traced them when it decided).
pub fn append_decision(
    log: Option<&Path>,
    rotation: &Rotation,
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
    let Some(log) = log else { return Ok(()) };
    let entry = Entry {
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
        score: match &decision {
            Decision::Allowed(o) => o.score.as_ref(),
            Decision::Denied(_) => None,
        },
        prev: String::new(),
    };
    append_entry(log, rotation, entry)
}

/// A lifecycle step of a container, recorded after it ran (see [`record_step`]).
pub struct Step<'a> {
    /// `start`, `kill`, `pause`, `resume`, `delete`, or the command that failed after `allowed`
    pub command: &'a str,
    pub id: &'a str,
    /// the caller's bundle, where the container's record names it
    pub bundle: &'a Path,
    /// the profile, its sha256 and the mode fixed at create ("" where unknown)
    pub profile: &'a str,
    pub profile_sha256: &'a str,
    pub mode: &'a str,
    /// `None`: done; `Some(error)`: failed, and why
    pub failed: Option<&'a str>,
}

/// Records a lifecycle step in the audit log (`None`: no log), in the same hash chain as the
/// decisions: `decision` is `done` or `failed` (with the error as `reason`), no findings.
pub fn record_step(log: Option<&Path>, rotation: &Rotation, step: &Step) -> Result<(), AuditError> {
    let (decision, reason) = match step.failed {
        None => ("done", None),
        Some(e) => ("failed", Some(e)),
    };
    tracing::info!(
        target: "hardrun::audit",
        id = step.id,
        command = step.command,
        decision,
        reason = reason.unwrap_or(""),
        "lifecycle step"
    );
    let Some(log) = log else { return Ok(()) };
    let entry = Entry {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        id: step.id,
        command: step.command,
        bundle: step.bundle.display().to_string(),
        profile: step.profile,
        profile_sha256: step.profile_sha256,
        mode: step.mode.to_owned(),
        decision,
        rule: None,
        reason,
        findings: &[],
        exceptions_used: &[],
        score: None,
        prev: String::new(),
    };
    append_entry(log, rotation, entry)
}

/// sha256 of a record line (without its newline), hex.
pub fn line_hash(line: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(line))
}

/// The last line of `f` (without its newline), read backwards in 64 KiB chunks.
pub fn last_line(f: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
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

pub use crate::profile::config::Rotation;

/// `<log>.<n>`: the n-th most recent rotated file.
pub fn rotated_name(log: &Path, n: u32) -> std::path::PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(format!(".{n}"));
    s.into()
}

/// The audit log and its rotated files that exist, oldest first: the order to verify them in.
pub fn chain_files(log: &Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![];
    let mut n = 1;
    while rotated_name(log, n).exists() {
        files.push(rotated_name(log, n));
        n += 1;
    }
    files.reverse();
    if log.exists() {
        files.push(log.to_path_buf());
    }
    files
}

/// Appends the line `make(prev)` builds, with `prev` the hash of the log's last line, under an
/// exclusive lock; one `write(2)` on an O_APPEND file. A write that fails part-way (a full disk)
/// is cut off again, so the log stays a chain of whole records.
/// Appends `entry` to the log, chained to the line before it (`prev`).
fn append_entry(log: &Path, rotation: &Rotation, mut entry: Entry) -> Result<(), AuditError> {
    append(log, rotation, |prev| {
        entry.prev = prev;
        let mut line = serde_json::to_vec(&entry).unwrap_or_default();
        line.push(b'\n');
        line
    })
}

fn append(
    log: &Path,
    rotation: &Rotation,
    mut make: impl FnMut(String) -> Vec<u8>,
) -> Result<(), AuditError> {
    use std::os::unix::fs::MetadataExt;
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
    // the log may be rotated while this process waits for its lock: then the lock is on the
    // old file, and the append must go to the new one
    for _ in 0..100 {
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
        let held = f.metadata().map_err(|e| err(e.to_string()))?;
        match std::fs::symlink_metadata(log) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {}
            _ => continue,
        }
        let last = last_line(&mut f).map_err(|e| err(e.to_string()))?;
        let prev = if last.is_empty() {
            String::new()
        } else {
            line_hash(&last)
        };
        let size = held.len();
        if rotation.max_bytes > 0
            && size > 0
            && size + make(prev.clone()).len() as u64 > rotation.max_bytes
        {
            return rotate(log, rotation, &prev, &mut make).map_err(|e| err(e.to_string()));
        }
        let line = make(prev);
        if let Err(e) = f.write_all(&line) {
            // cut a partial record off again (we hold the lock: nobody appended after it)
            let _ = f.set_len(size);
            return Err(err(e.to_string()));
        }
        return Ok(());
    }
    Err(err(
        "the log keeps being replaced while waiting for its lock".into(),
    ))
}

/// Rotates `log` (its lock held by the caller) and writes the link record and `make`'s record
/// to the new log. The new log is written beside the old one and renamed into place, so the
/// log's path never goes missing for a concurrent writer.
fn rotate(
    log: &Path,
    rotation: &Rotation,
    prev: &str,
    make: &mut impl FnMut(String) -> Vec<u8>,
) -> std::io::Result<()> {
    let keep = rotation.keep.max(1);
    let name = log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let link = serde_json::json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "rotated_from": format!("{name}.1"),
        "prev": prev,
    });
    let mut content = serde_json::to_vec(&link).unwrap_or_default();
    let link_hash = line_hash(&content);
    content.push(b'\n');
    content.extend_from_slice(&make(link_hash));
    // the new log, beside the old one: created exclusively (O_EXCL: no symlink followed), 0600,
    // synced; removed if anything below fails
    let mut tmp = {
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .prefix(&format!(".{name}.rotate-"))
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(log.parent().unwrap_or(Path::new(".")))?
    };
    tmp.write_all(&content)?;
    tmp.as_file().sync_data()?;
    // .keep-1 → .keep (the oldest dropped), …, .1 → .2; then the log → .1, the new one → log
    for n in (1..keep).rev() {
        let from = rotated_name(log, n);
        if from.exists() {
            std::fs::rename(&from, rotated_name(log, n + 1))?;
        }
    }
    let _ = std::fs::remove_file(rotated_name(log, 1));
    std::fs::hard_link(log, rotated_name(log, 1))?;
    tmp.persist(log).map(drop).map_err(|e| e.error)
}

/// Checks the hash chain of an audit log: Ok(number of records), or the first broken record
/// (1-based) and why. A log that starts with a rotation link continues a rotated file that is
/// not given: its link is taken on trust (see [`verify_chain`] to check it).
pub fn verify(text: &[u8]) -> Result<usize, (usize, String)> {
    verify_from(text, None).map(|(n, _)| n)
}

/// [`verify`] with the hash the first record must link to (`Some`: the previous file's last
/// record, or `""` for a log that must start the chain). Returns the number of records and the
/// hash of the last one.
pub fn verify_from(text: &[u8], expect: Option<&str>) -> Result<(usize, String), (usize, String)> {
    let mut prev_hash = String::new();
    let mut n = 0;
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            if i == lines.len() - 1 {
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
        if i == 0 {
            let link = v.get("rotated_from").is_some();
            match expect {
                Some(e) if prev != e => {
                    return Err((
                        1,
                        if link {
                            "the rotation link does not match the previous file's last record (records or files removed?)".into()
                        } else {
                            "the first record links to a record that is not there (records removed from the start?)".into()
                        },
                    ))
                }
                None if !link && !prev.is_empty() => {
                    return Err((
                        1,
                        "the first record links to a record that is not there (records removed from the start?)".into(),
                    ))
                }
                _ => {}
            }
        } else if prev != prev_hash {
            return Err((
                i + 1,
                format!(
                    "prev does not match record {i}: that record was changed, removed or reordered"
                ),
            ));
        } else if v.get("rotated_from").is_some() {
            return Err((i + 1, "a rotation link in the middle of a log".into()));
        }
        prev_hash = line_hash(line);
        n += 1;
    }
    Ok((n, prev_hash))
}

/// Verifies files in order (oldest first) as one chain: each file's first record must link to
/// the previous file's last. Per file: Ok(records) or Err((record, why)); stops at the first
/// broken file (`None` for the files after it).
pub fn verify_chain(texts: &[Vec<u8>]) -> Vec<Option<Result<usize, (usize, String)>>> {
    let mut out = vec![];
    let mut expect: Option<String> = None;
    for t in texts {
        if out
            .iter()
            .any(|r: &Option<Result<usize, _>>| matches!(r, Some(Err(_))))
        {
            out.push(None);
            continue;
        }
        match verify_from(t, expect.as_deref()) {
            Ok((n, last)) => {
                // an empty file links nothing: the next one must still link to the last record
                if n > 0 {
                    expect = Some(last);
                }
                out.push(Some(Ok(n)));
            }
            Err(e) => out.push(Some(Err(e))),
        }
    }
    out
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
            score: None,
            ..Default::default()
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
                &Rotation::default(),
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
                            &Rotation::default(),
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
            score: None,
            ..Default::default()
        };
        record(
            Some(&log),
            &Rotation::default(),
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
            &Rotation::default(),
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

    #[test]
    fn rotation_keeps_one_chain_across_files_under_concurrency() {
        let log = temp_log("rotate");
        let rot = Rotation {
            max_bytes: 2000,
            keep: 50,
        };
        std::thread::scope(|s| {
            for t in 0..10 {
                let (log, rot) = (&log, &rot);
                s.spawn(move || {
                    for i in 0..10 {
                        let id = format!("t{t}-{i}");
                        record(
                            Some(log),
                            rot,
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
        let files = chain_files(&log);
        assert!(files.len() > 5, "{files:?}");
        let texts: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let results = verify_chain(&texts);
        let mut records = 0;
        for (f, r) in files.iter().zip(&results) {
            let n = r
                .clone()
                .unwrap()
                .unwrap_or_else(|e| panic!("{f:?}: {e:?}"));
            assert!(std::fs::metadata(f).unwrap().len() <= 2000, "{f:?}");
            records += n;
        }
        // every decision is there once, plus one link record per rotated-to file
        assert_eq!(records, 100 + files.len() - 1);
        let all: String = texts.iter().map(|t| String::from_utf8_lossy(t)).collect();
        for t in 0..10 {
            for i in 0..10 {
                assert_eq!(all.matches(&format!("\"id\":\"t{t}-{i}\"")).count(), 1);
            }
        }
        // a rotated file alone: its link is taken on trust; given after the wrong file, it breaks
        assert!(verify(&texts[1]).is_ok());
        let skipped = verify_chain(&[texts[0].clone(), texts[2].clone()]);
        let (n, why) = skipped[1].clone().unwrap().unwrap_err();
        assert_eq!(n, 1);
        assert!(why.contains("rotation link does not match"), "{why}");
        std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
    }

    #[test]
    fn rotation_keeps_at_most_keep_files() {
        let log = temp_log("keep");
        let rot = Rotation {
            max_bytes: 600,
            keep: 3,
        };
        for i in 0..40 {
            let id = format!("c{i}");
            record(
                Some(&log),
                &rot,
                "create",
                &id,
                Path::new("/b"),
                Decision::Allowed(&allowed(&id)),
            )
            .unwrap();
        }
        let files = chain_files(&log);
        assert_eq!(files.len(), 4, "{files:?}"); // .3 .2 .1 and the log
        assert!(!rotated_name(&log, 4).exists());
        let texts: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        assert!(verify_chain(&texts)
            .iter()
            .all(|r| matches!(r, Some(Ok(_)))));
        // the newest record is in the log itself
        assert!(String::from_utf8_lossy(&texts[3]).contains("\"id\":\"c39\""));
        std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
    }
}
