//! The audit record: one JSON line per create/run/exec/update decision and per lifecycle step
//! (start, kill, pause, resume, delete; a failure after `allowed`), appended to the audit
//! log (default `/var/log/hardrun/audit.jsonl`, mode 0600), and the same findings as tracing
//! events (so they reach the caller's `--log` file too).
//!
//! A decision that cannot be recorded is not carried out: hardrun fails closed.
//!
//! The log is a keyed hash chain: each record's `prev` is the sha256 (hex) of the previous line's
//! bytes (`""` for the first), its `seq` the previous record's plus one, and its `mac` (the last
//! field) the HMAC-SHA256, with the node's audit key named by `kid` (see [`key`]), of the line up
//! to that field. A changed, removed or reordered record breaks the chain at the next one, and a
//! record re-hashed or re-written without the key fails its own MAC. The head of the chain (the
//! last `seq` and the hash of its line, MACed too) is written to `<log>.head` on every append,
//! under the same lock, so records removed from the end are named by their sequence numbers
//! ([`verify_logs`]). Writers hold an exclusive `flock` on the log while they read the last line,
//! append theirs and write the head, so concurrent hardrun processes keep it intact.
//!
//! Records written before the log was keyed (no `mac`) still verify as a chain, with a note that
//! their integrity cannot be proven; after the first keyed record, every record must be keyed.

pub mod key;
pub mod workload;

pub use workload::Workload;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::policy::{Finding, Outcome, PolicyDenied};

#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub id: &'a str,
    pub command: &'a str,
    pub bundle: String,
    /// the Kubernetes workload the caller says the container belongs to (its claims)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<&'a Workload>,
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
    /// a decision (`allowed`/`denied`): milliseconds from the runtime's start to this record
    /// (config, spec and profile loaded, rules run, and for `allowed` every stage before
    /// libcontainer passed)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_ms: Option<f64>,
    /// sha256 of the previous record's line (hex; empty for the first record); then `seq`,
    /// `kid`, the head's state when the writer found it broken (`anchor_broken`) and `mac`,
    /// added by the writer (see [`Link`])
    pub prev: String,
}

/// Where the chain stands when a record is appended: what the writer adds to it.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub prev: String,
    pub seq: u64,
    pub kid: String,
    /// the writer found the head not matching the log (records removed from its end, the head
    /// removed or replaced): kept in the chain as evidence, and reported by every verify
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor_broken: Option<String>,
}

/// The audit log, its rotation and the key its records are MACed with (from config.toml:
/// `audit_log`, `audit_max_size`/`audit_keep`, `audit_key`).
#[derive(Debug, Clone, Copy)]
pub struct Sink<'a> {
    pub log: &'a Path,
    pub rotation: &'a Rotation,
    pub key: &'a Path,
}

impl<'a> Sink<'a> {
    /// Where a configuration's audit records go (`None`: the audit log is off).
    pub fn of(config: &'a crate::profile::config::Config) -> Option<Sink<'a>> {
        config.audit_log.as_deref().map(|log| Sink {
            log,
            rotation: &config.audit_rotation,
            key: &config.audit_key,
        })
    }
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
    sink: Option<&Sink>,
    command: &str,
    id: &str,
    bundle: &Path,
    workload: Option<&Workload>,
    decision: Decision,
) -> Result<(), AuditError> {
    let findings = match &decision {
        Decision::Allowed(o) => &o.findings,
        Decision::Denied(d) => &d.findings,
    };
    trace_findings(id, findings);
    let decided = crate::base::clock::since_start();
    append_decision(sink, command, id, bundle, workload, decision, decided)
}

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
/// `decided`: when the decision was made, after the runtime's start (the record's `decision_ms`;
/// create writes its `allowed` record later, while libcontainer's children start).
pub fn append_decision(
    sink: Option<&Sink>,
    command: &str,
    id: &str,
    bundle: &Path,
    workload: Option<&Workload>,
    decision: Decision,
    decided: Option<std::time::Duration>,
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
    let Some(sink) = sink else { return Ok(()) };
    let entry = Entry {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        id,
        command,
        bundle: bundle.display().to_string(),
        workload,
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
        decision_ms: decided.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
        prev: String::new(),
    };
    append_entry(sink, entry)
}

/// A lifecycle step of a container, recorded after it ran (see [`record_step`]).
pub struct Step<'a> {
    /// `start`, `kill`, `pause`, `resume`, `delete`, or the command that failed after `allowed`
    pub command: &'a str,
    pub id: &'a str,
    /// the caller's bundle, where the container's record names it
    pub bundle: &'a Path,
    /// the workload the container's spec names (the caller's claims)
    pub workload: Option<&'a Workload>,
    /// the profile, its sha256 and the mode fixed at create ("" where unknown)
    pub profile: &'a str,
    pub profile_sha256: &'a str,
    pub mode: &'a str,
    /// `None`: done; `Some(error)`: failed, and why
    pub failed: Option<&'a str>,
}

/// Records a lifecycle step in the audit log (`None`: no log), in the same hash chain as the
/// decisions: `decision` is `done` or `failed` (with the error as `reason`), no findings.
pub fn record_step(sink: Option<&Sink>, step: &Step) -> Result<(), AuditError> {
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
    let Some(sink) = sink else { return Ok(()) };
    let entry = Entry {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        id: step.id,
        command: step.command,
        bundle: step.bundle.display().to_string(),
        workload: step.workload,
        profile: step.profile,
        profile_sha256: step.profile_sha256,
        mode: step.mode.to_owned(),
        decision,
        rule: None,
        reason,
        findings: &[],
        exceptions_used: &[],
        score: None,
        decision_ms: None,
        prev: String::new(),
    };
    append_entry(sink, entry)
}

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

/// `<log>.head`: the head of the chain, anchored outside the log.
pub fn head_path(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_owned();
    s.push(".head");
    s.into()
}

/// A line sealed with `key`: `body` (a JSON object) with `,"mac":"<hmac of body>"` as its last
/// field.
pub fn seal(key: &key::Key, mut body: Vec<u8>) -> Vec<u8> {
    let mac = key.mac(&body);
    if body.last() == Some(&b'}') {
        body.pop();
    }
    body.extend_from_slice(format!(",\"mac\":\"{mac}\"}}").as_bytes());
    body
}

const MAC_FIELD: &[u8] = b",\"mac\":\"";
const MAC_SUFFIX_LEN: usize = MAC_FIELD.len() + 64 + 2;

/// The body a sealed line's MAC covers, and the MAC; `None` when `mac` is not its last field.
pub fn unseal(line: &[u8]) -> Option<(Vec<u8>, &str)> {
    if line.len() <= MAC_SUFFIX_LEN {
        return None;
    }
    let (body, tail) = line.split_at(line.len() - MAC_SUFFIX_LEN);
    if !tail.starts_with(MAC_FIELD) || !tail.ends_with(b"\"}") {
        return None;
    }
    let mac = std::str::from_utf8(&tail[MAC_FIELD.len()..MAC_FIELD.len() + 64]).ok()?;
    let mut body = body.to_vec();
    body.push(b'}');
    Some((body, mac))
}

/// The head file's content: the last record's `seq` and the sha256 of its line, sealed.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    pub kid: String,
    #[serde(default, skip_serializing)]
    pub mac: String,
}

/// Why a head file does not vouch for the log.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("not a head record: {0}")]
    NotARecord(serde_json::Error),
    #[error("its mac is missing or not its last field")]
    NoMac,
    /// `problems`: what could not be read of the keyring, `" (…)"`, or empty
    #[error("made with key {kid}, which is not in the keyring{problems}")]
    UnknownKey { kid: String, problems: String },
    #[error("its MAC does not verify with key {0}: the head was changed")]
    Changed(String),
}

impl Head {
    /// Parses a head file (unchecked: see [`Head::check`]).
    pub fn parse(text: &[u8]) -> Result<Head, HeadError> {
        let line = text.strip_suffix(b"\n").unwrap_or(text);
        serde_json::from_slice(line).map_err(HeadError::NotARecord)
    }

    /// Whether the head's MAC verifies with the key it names.
    pub fn check(text: &[u8], keys: &key::Keyring) -> Result<Head, HeadError> {
        let head = Head::parse(text)?;
        let line = text.strip_suffix(b"\n").unwrap_or(text);
        let Some((body, mac)) = unseal(line) else {
            return Err(HeadError::NoMac);
        };
        let Some(k) = keys.get(&head.kid) else {
            return Err(HeadError::UnknownKey {
                kid: head.kid,
                problems: problems(keys),
            });
        };
        if !k.check(&body, mac) {
            return Err(HeadError::Changed(head.kid));
        }
        Ok(head)
    }
}

fn problems(keys: &key::Keyring) -> String {
    if keys.problems.is_empty() {
        String::new()
    } else {
        format!(" ({})", keys.problems.join("; "))
    }
}

/// Writes the head (temp file beside it, renamed over it: a reader sees the old or the new one;
/// not synced, as before: the log it vouches for is the durable record).
fn write_head(log: &Path, key: &key::Key, seq: u64, hash: String) -> std::io::Result<()> {
    use crate::base::atomic_file::{AtomicFile, Durability};
    let path = head_path(log);
    let head = Head {
        seq,
        hash,
        kid: key.id.clone(),
        mac: String::new(),
    };
    let mut line = seal(key, serde_json::to_vec(&head).unwrap_or_default());
    line.push(b'\n');
    AtomicFile::new(Durability::None).write(&path, &line)
}

/// The range `a..=b` of sequence numbers, in words.
fn seq_range(a: u64, b: u64) -> String {
    if a == b {
        format!("record {a} is missing")
    } else {
        format!("records {a}..{b} are missing")
    }
}

/// What [`next_link`] reads of the log's last line: its `seq` (any JSON value; only an unsigned
/// integer counts) and whether it has a `mac`. Every other field is skipped, not built: a line is
/// ≈15 KB (issue 20).
#[derive(serde::Deserialize)]
struct Tail {
    #[serde(default)]
    seq: Option<serde_json::Value>,
    #[serde(default)]
    mac: Present,
}

/// Whether a field is there at all, whatever its value (`null` included).
#[derive(Default)]
struct Present(bool);

impl<'de> serde::Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Present, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// The next record's `seq`, and what was wrong with the head (if anything), from the log's last
/// line and the head file as the writer finds them (under the lock).
fn next_link(last: &[u8], head: std::io::Result<Vec<u8>>) -> (u64, Option<String>) {
    let last_seq = serde_json::from_slice::<Tail>(last)
        .ok()
        .filter(|t| t.mac.0)
        .and_then(|t| t.seq.and_then(|s| s.as_u64()));
    let last_hash = line_hash(last);
    let head = match head {
        Ok(text) => Some(Head::parse(&text).map_err(|e| e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("cannot read it: {e}"))),
    };
    match (last_seq, head) {
        (None, None) => (1, None),
        (Some(l), None) => (
            l + 1,
            Some(format!(
                "the head file was missing (the log's last record, {l}, was not anchored)"
            )),
        ),
        (l, Some(Err(e))) => (
            l.unwrap_or(0) + 1,
            Some(format!("the head file was broken: {e}")),
        ),
        (l, Some(Ok(h))) => {
            let l0 = l.unwrap_or(0);
            if h.seq > l0 {
                (
                    h.seq + 1,
                    Some(format!(
                        "{} from the end of the log (it ended at record {l0}; its head named {})",
                        seq_range(l0 + 1, h.seq),
                        h.seq
                    )),
                )
            } else if h.seq == l0 && l.is_some() && h.hash != last_hash {
                (
                    l0 + 1,
                    Some(format!(
                        "the log's last record ({l0}) was not the one its head named (replaced?)"
                    )),
                )
            } else {
                // the head behind the log: a crash between an append and its head update
                (l0 + 1, None)
            }
        }
    }
}

/// Appends `entry` to the log, chained to the line before it (`prev`).
fn append_entry(sink: &Sink, mut entry: Entry) -> Result<(), AuditError> {
    append(sink, |link| {
        entry.prev = link.prev.clone();
        with_link(serde_json::to_vec(&entry).unwrap_or_default(), link)
    })
}

/// A record's JSON object with the writer's fields added last (`seq`, `kid`, `anchor_broken`):
/// the record's own fields keep their order.
fn with_link(mut body: Vec<u8>, link: &Link) -> Vec<u8> {
    if body.last() == Some(&b'}') {
        body.pop();
    }
    body.extend_from_slice(format!(",\"seq\":{},\"kid\":", link.seq).as_bytes());
    body.extend_from_slice(&serde_json::to_vec(&link.kid).unwrap_or_default());
    if let Some(why) = &link.anchor_broken {
        body.extend_from_slice(b",\"anchor_broken\":");
        body.extend_from_slice(&serde_json::to_vec(why).unwrap_or_default());
    }
    body.push(b'}');
    body
}

/// Appends the record `make(link)` builds (a JSON object, sealed here with the node key), with
/// `link.prev` the hash of the log's last line, under an exclusive lock; one `write(2)` on an
/// O_APPEND file; then the head. A write that fails part-way (a full disk), or a head that
/// cannot be written, cuts the record off again, so the log stays a chain of whole records and
/// the decision fails closed.
fn append(sink: &Sink, mut make: impl FnMut(&Link) -> Vec<u8>) -> Result<(), AuditError> {
    use std::os::unix::fs::MetadataExt;
    let log = sink.log;
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
    let key = key::load_or_create(sink.key).map_err(err)?;
    let mut seal_line = |link: &Link| {
        let mut line = seal(&key, make(link));
        line.push(b'\n');
        line
    };
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
        let (seq, anchor_broken) = next_link(&last, std::fs::read(head_path(log)));
        let link = Link {
            prev,
            seq,
            kid: key.id.clone(),
            anchor_broken,
        };
        let size = held.len();
        let line = seal_line(&link);
        if sink.rotation.max_bytes > 0
            && size > 0
            && size + line.len() as u64 > sink.rotation.max_bytes
        {
            return rotate(log, sink.rotation, &key, &link, &mut seal_line)
                .map_err(|e| err(e.to_string()));
        }
        if let Err(e) = f.write_all(&line) {
            // cut a partial record off again (we hold the lock: nobody appended after it)
            let _ = f.set_len(size);
            return Err(err(e.to_string()));
        }
        if let Err(e) = write_head(log, &key, seq, line_hash(&line[..line.len() - 1])) {
            let _ = f.set_len(size);
            return Err(err(format!(
                "cannot write its head {}: {e}",
                head_path(log).display()
            )));
        }
        return Ok(());
    }
    Err(err(
        "the log keeps being replaced while waiting for its lock".into(),
    ))
}

/// Rotates `log` (its lock held by the caller) and writes the link record (sealed, `link.seq`)
/// and the record `make` builds (the next seq) to the new log, then the head. The new log is
/// written beside the old one and renamed into place, so the log's path never goes missing for
/// a concurrent writer; the head is written before the renames, so a head that cannot be
/// written leaves the old log as it was.
fn rotate(
    log: &Path,
    rotation: &Rotation,
    key: &key::Key,
    link: &Link,
    make: &mut impl FnMut(&Link) -> Vec<u8>,
) -> std::io::Result<()> {
    let keep = rotation.keep.max(1);
    let name = log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rec = serde_json::json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "rotated_from": format!("{name}.1"),
        "prev": link.prev,
    });
    let mut content = seal(
        key,
        with_link(serde_json::to_vec(&rec).unwrap_or_default(), link),
    );
    let next = Link {
        prev: line_hash(&content),
        seq: link.seq + 1,
        kid: key.id.clone(),
        anchor_broken: None,
    };
    content.push(b'\n');
    let line = make(&next);
    let last_hash = line_hash(line.strip_suffix(b"\n").unwrap_or(&line));
    content.extend_from_slice(&line);
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
    write_head(log, key, next.seq, last_hash)?;
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

/// The head a verification checks the chain's end against.
#[derive(Debug, Clone, Copy)]
pub enum HeadInput<'a> {
    /// the head file's content
    Present(&'a [u8]),
    /// there is no head file where the log's head should be
    Missing,
    /// no head belongs to these files (a rotated file checked alone): the end is not checked
    NotChecked,
}

/// What [`verify_logs`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// per file: Ok(records) or Err((first broken record, 1-based; why)); `None`: not checked
    /// (an older file is broken)
    pub files: Vec<Option<Result<usize, (usize, String)>>>,
    /// the head: Ok(what matched) or Err(what is wrong); `None`: not checked
    pub head: Option<Result<String, String>>,
    /// records that say the head was broken when they were written: (file index, record, why)
    pub anchors: Vec<(usize, usize, String)>,
    /// what verifies but cannot be proven (unkeyed records), or was not checked
    pub notes: Vec<String>,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.files.iter().all(|f| matches!(f, Some(Ok(_))))
            && !matches!(self.head, Some(Err(_)))
            && self.anchors.is_empty()
    }
}

/// The chain as a verifier walks it, across files.
#[derive(Default)]
struct Walk {
    prev_hash: String,
    last_seq: Option<u64>,
    keyed: bool,
    /// the hash of the record with the head's seq (and of the last record)
    head_seq: Option<u64>,
    hash_at_head: Option<String>,
    /// the files started so far
    files: usize,
}

impl Walk {
    /// One file: Ok((records, unkeyed records)) or the first broken record and why.
    fn file(
        &mut self,
        text: &[u8],
        keys: &key::Keyring,
        anchors: &mut Vec<(usize, usize, String)>,
    ) -> Result<(usize, usize), (usize, String)> {
        let first_file = self.files == 0;
        let file_index = self.files;
        self.files += 1;
        let mut n = 0;
        let mut unkeyed = 0;
        let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let at = i + 1;
            if line.is_empty() {
                if i == lines.len() - 1 {
                    break; // the final newline
                }
                return Err((at, "empty line".into()));
            }
            let v: serde_json::Value = serde_json::from_slice(line)
                .map_err(|e| (at, format!("not a JSON record: {e}")))?;
            let prev = v
                .get("prev")
                .and_then(|p| p.as_str())
                .ok_or((at, "no prev field".to_string()))?;
            let link = v.get("rotated_from").is_some();
            let chain_start = first_file && i == 0;
            if chain_start {
                if !link && !prev.is_empty() {
                    return Err((
                        1,
                        "the first record links to a record that is not there (records removed from the start?)".into(),
                    ));
                }
            } else if i == 0 {
                if prev != self.prev_hash {
                    return Err((
                        1,
                        if link {
                            "the rotation link does not match the previous file's last record (records or files removed?)".into()
                        } else {
                            "the first record links to a record that is not there (records removed from the start?)".into()
                        },
                    ));
                }
            } else if prev != self.prev_hash {
                return Err((
                    at,
                    format!(
                        "prev does not match record {i}: that record was changed, removed or reordered"
                    ),
                ));
            } else if link {
                return Err((at, "a rotation link in the middle of a log".into()));
            }
            if v.get("mac").is_some() {
                let Some((body, mac)) = unseal(line) else {
                    return Err((at, "its mac is not its last field".into()));
                };
                let kid = v
                    .get("kid")
                    .and_then(|k| k.as_str())
                    .ok_or((at, "a keyed record without kid".to_string()))?;
                let Some(k) = keys.get(kid) else {
                    return Err((
                        at,
                        format!(
                            "made with key {kid}, which is not in the keyring{}",
                            problems(keys)
                        ),
                    ));
                };
                if !k.check(&body, mac) {
                    return Err((
                        at,
                        format!("its MAC does not verify with key {kid}: the record was changed"),
                    ));
                }
                let seq = v
                    .get("seq")
                    .and_then(|s| s.as_u64())
                    .ok_or((at, "a keyed record without seq".to_string()))?;
                match self.last_seq {
                    Some(l) if seq > l + 1 => {
                        return Err((
                            at,
                            format!("{} (seq {seq} follows {l})", seq_range(l + 1, seq - 1)),
                        ))
                    }
                    Some(l) if seq <= l => {
                        return Err((at, format!("seq {seq} follows {l}: reordered or replayed")))
                    }
                    // the chain's first record, or the first after unkeyed ones: from 1, unless
                    // a rotation link continues a file rotated away
                    None if !(chain_start && link) && seq != 1 => {
                        return Err((at, format!("{} before seq {seq}", seq_range(1, seq - 1))))
                    }
                    _ => {}
                }
                if let Some(why) = v.get("anchor_broken").and_then(|w| w.as_str()) {
                    anchors.push((file_index, at, why.to_owned()));
                }
                self.last_seq = Some(seq);
                self.keyed = true;
            } else if self.keyed {
                return Err((
                    at,
                    "a record without a MAC after keyed ones: written without the key, or its MAC removed".into(),
                ));
            } else {
                unkeyed += 1;
            }
            self.prev_hash = line_hash(line);
            if self.last_seq.is_some() && self.last_seq == self.head_seq && v.get("mac").is_some() {
                self.hash_at_head = Some(self.prev_hash.clone());
            }
            n += 1;
        }
        Ok((n, unkeyed))
    }
}

/// Verifies audit log files in order (oldest first) as one keyed chain, and its end against the
/// head: each file's first record must link to the previous file's last, every keyed record's
/// MAC must verify with the key its `kid` names, sequence numbers must run on without a gap, and
/// the last record must be the one the head names (records removed from the end are named by
/// their sequence numbers). Unkeyed records (from before the log was keyed) verify as a plain
/// hash chain, with a note. Stops at the first broken file.
pub fn verify_logs(
    names: &[String],
    texts: &[Vec<u8>],
    keys: &key::Keyring,
    head: HeadInput,
) -> Report {
    let mut report = Report::default();
    let (head, check_head) = match head {
        HeadInput::Present(t) => (Some(Head::check(t, keys)), true),
        HeadInput::Missing => (None, true),
        HeadInput::NotChecked => {
            report.notes.push(
                "the head was not checked: records removed from the end of the last file cannot be detected"
                    .into(),
            );
            (None, false)
        }
    };
    let mut walk = Walk {
        head_seq: head.as_ref().and_then(|h| h.as_ref().ok()).map(|h| h.seq),
        ..Walk::default()
    };
    for (i, t) in texts.iter().enumerate() {
        if report.files.iter().any(|r| matches!(r, Some(Err(_)))) {
            report.files.push(None);
            continue;
        }
        match walk.file(t, keys, &mut report.anchors) {
            Ok((n, unkeyed)) => {
                if unkeyed > 0 {
                    report.notes.push(format!(
                        "{}: unkeyed records 1..{unkeyed}: integrity not provable (written before the log was keyed)",
                        names.get(i).map_or("", String::as_str)
                    ));
                }
                report.files.push(Some(Ok(n)));
            }
            Err(e) => report.files.push(Some(Err(e))),
        }
    }
    if !check_head || report.files.iter().any(|r| !matches!(r, Some(Ok(_)))) {
        return report;
    }
    let last = walk.last_seq.unwrap_or(0);
    report.head = Some(match head {
        None if walk.keyed => Err(format!(
            "the head file is missing: records removed from the end cannot be ruled out (the log ends at record {last})"
        )),
        None if keys.current.is_some() => Err(
            "the head file is missing and the log has no keyed record, though the node has an audit key: the log was replaced or its head removed".into(),
        ),
        None => {
            report
                .notes
                .push("no head file: the log was never keyed".into());
            Ok("no head (unkeyed log)".into())
        }
        Some(Err(e)) => Err(e.to_string()),
        Some(Ok(h)) if h.seq > last => Err(format!(
            "{} from the end of the log: it ends at record {last}, its head names record {}",
            seq_range(last + 1, h.seq),
            h.seq
        )),
        Some(Ok(h)) if walk.hash_at_head.as_deref() != Some(h.hash.as_str()) => Err(format!(
            "record {} is not the one its head names: it was replaced",
            h.seq
        )),
        Some(Ok(h)) if h.seq < last => {
            report.notes.push(format!(
                "records {}..{last} come after the head (record {}): an append whose head update was lost (a crash?)",
                h.seq + 1,
                h.seq
            ));
            Ok(format!("record {} anchored", h.seq))
        }
        Some(Ok(h)) => Ok(format!("record {} anchored, the last", h.seq)),
    });
    report
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

    fn key_of(log: &Path) -> PathBuf {
        log.parent().unwrap().join("keys/audit.key")
    }

    /// The log, with a key of its own beside it.
    fn sink<'a>(log: &'a Path, rotation: &'a Rotation) -> Sink<'a> {
        Sink {
            log,
            rotation,
            key: Box::leak(key_of(log).into_boxed_path()),
        }
    }

    fn add(log: &Path, id: &str) {
        record(
            Some(&sink(log, &Rotation::default())),
            "create",
            id,
            Path::new("/b"),
            None,
            Decision::Allowed(&allowed(id)),
        )
        .unwrap();
    }

    /// The log's files verified as `audit verify` does by default: with the log's keys and head.
    fn check_files(log: &Path, texts: &[Vec<u8>], head: Option<&[u8]>) -> Report {
        let keys = key::Keyring::load(&key_of(log));
        let head = head.map_or(HeadInput::Missing, HeadInput::Present);
        verify_logs(&[], texts, &keys, head)
    }

    fn check(log: &Path, text: &[u8], head: Option<&[u8]>) -> Report {
        check_files(log, &[text.to_vec()], head)
    }

    fn split(text: &[u8]) -> Vec<Vec<u8>> {
        text.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn join(lines: &[Vec<u8>]) -> Vec<u8> {
        let mut v = lines.join(&b'\n');
        v.push(b'\n');
        v
    }

    /// Record `i` (0-based) changed by `edit`, and every record after it re-linked: `prev`
    /// re-hashed with plain sha256, its MAC made by `reseal` (or left as it was); the head too.
    fn forge(
        lines: &[Vec<u8>],
        head: &[u8],
        i: usize,
        edit: impl Fn(&str) -> String,
        reseal: Option<&key::Key>,
    ) -> (Vec<u8>, Vec<u8>) {
        let mut out: Vec<Vec<u8>> = lines.to_vec();
        let redo = |line: &[u8], prev: Option<String>| -> Vec<u8> {
            let mut v: serde_json::Value = serde_json::from_slice(line).unwrap();
            if let Some(p) = prev {
                v["prev"] = p.into();
            }
            let o = v.as_object_mut().unwrap();
            let mac = o.remove("mac");
            let body = serde_json::to_vec(&v).unwrap();
            match (reseal, mac) {
                (Some(k), _) => seal(k, body),
                (None, Some(m)) => {
                    let mut b = body;
                    b.pop();
                    b.extend_from_slice(format!(",\"mac\":{m}}}").as_bytes());
                    b
                }
                (None, None) => body,
            }
        };
        let edited = edit(std::str::from_utf8(&out[i]).unwrap());
        out[i] = redo(edited.as_bytes(), None);
        for j in i + 1..out.len() {
            let prev = line_hash(&out[j - 1]);
            out[j] = redo(&out[j], Some(prev));
        }
        let mut h: serde_json::Value = serde_json::from_slice(head).unwrap();
        h["hash"] = line_hash(out.last().unwrap()).into();
        let h = redo(&serde_json::to_vec(&h).unwrap(), None);
        (join(&out), h)
    }

    /// The first broken record of a one-file report, or the head's problem.
    fn broken(r: &Report) -> String {
        match &r.files[0] {
            Some(Err((n, why))) => format!("record {n}: {why}"),
            _ => match &r.head {
                Some(Err(why)) => format!("head: {why}"),
                _ => match r.anchors.first() {
                    Some((_, n, why)) => format!("anchor {n}: {why}"),
                    None => "intact".into(),
                },
            },
        }
    }

    #[test]
    fn the_log_is_a_keyed_chain_anchored_by_its_head() {
        let log = temp_log("tamper");
        for i in 0..5 {
            add(&log, &format!("c{i}"));
        }
        let good = std::fs::read(&log).unwrap();
        let head = std::fs::read(head_path(&log)).unwrap();
        let lines = split(&good);
        let seqs: Vec<u64> = lines
            .iter()
            .map(|l| {
                serde_json::from_slice::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let intact = check(&log, &good, Some(&head));
        assert!(intact.intact(), "{intact:?}");
        assert_eq!(intact.files, [Some(Ok(5))]);
        assert_eq!(intact.head, Some(Ok("record 5 anchored, the last".into())));
        let real = key::read(&key_of(&log)).unwrap().unwrap();
        let wrong = key::Key::from_bytes([9u8; 32]);
        let c1_to_c9 = |l: &str| l.replacen("\"c1\"", "\"c9\"", 1);
        let (rehashed, rehashed_head) = forge(&lines, &head, 1, c1_to_c9, None);
        let (wrong_mac, wrong_head) = forge(&lines, &head, 1, c1_to_c9, Some(&wrong));
        let kid = format!("\"kid\":\"{}\"", real.id);
        let other_kid = format!("\"kid\":\"{}\"", wrong.id);
        let (wrong_kid, wrong_kid_head) = forge(
            &lines,
            &head,
            1,
            |l| c1_to_c9(l).replace(&kid, &other_kid),
            Some(&wrong),
        );
        let mut byte = good.clone();
        let at = byte.windows(4).position(|w| w == b"\"c1\"").unwrap();
        byte[at + 2] = b'9';
        // (case, log, head, what verify names)
        type Case<'a> = (&'a str, Vec<u8>, Option<Vec<u8>>, &'a str);
        let cases: Vec<Case> = vec![
            ("intact", good.clone(), Some(head.clone()), "intact"),
            (
                "last record removed",
                join(&lines[..4]),
                Some(head.clone()),
                "head: record 5 is missing from the end of the log: it ends at record 4, its head names record 5",
            ),
            (
                "last two records removed",
                join(&lines[..3]),
                Some(head.clone()),
                "head: records 4..5 are missing from the end of the log: it ends at record 3, its head names record 5",
            ),
            (
                "last record removed, head removed",
                join(&lines[..4]),
                None,
                "head: the head file is missing: records removed from the end cannot be ruled out (the log ends at record 4)",
            ),
            (
                "middle record edited, chain re-hashed with sha256",
                rehashed,
                Some(rehashed_head),
                "record 2: its MAC does not verify with key KID: the record was changed",
            ),
            (
                "middle record edited, re-MACed with another key",
                wrong_mac,
                Some(wrong_head),
                "record 2: its MAC does not verify with key KID: the record was changed",
            ),
            (
                "middle record edited, re-MACed with another key named as its kid",
                wrong_kid,
                Some(wrong_kid_head),
                "record 2: made with key WRONG, which is not in the keyring",
            ),
            (
                "one byte changed",
                byte,
                Some(head.clone()),
                "record 2: its MAC does not verify with key KID: the record was changed",
            ),
            (
                "middle record removed",
                join(&[lines[0].clone(), lines[1].clone(), lines[3].clone(), lines[4].clone()]),
                Some(head.clone()),
                "record 3: prev does not match record 2: that record was changed, removed or reordered",
            ),
            (
                "records swapped",
                join(&[lines[0].clone(), lines[2].clone(), lines[1].clone(), lines[3].clone(), lines[4].clone()]),
                Some(head.clone()),
                "record 2: prev does not match record 1: that record was changed, removed or reordered",
            ),
            (
                "first record removed",
                join(&lines[1..]),
                Some(head.clone()),
                "record 1: the first record links to a record that is not there (records removed from the start?)",
            ),
            (
                "mac removed from the last record",
                {
                    let mut ls = lines.clone();
                    let (body, _) = unseal(&ls[4]).unwrap();
                    ls[4] = body;
                    join(&ls)
                },
                Some(head.clone()),
                "record 5: a record without a MAC after keyed ones: written without the key, or its MAC removed",
            ),
        ];
        for (case, text, head, want) in cases {
            let want = want.replace("KID", &real.id).replace("WRONG", &wrong.id);
            assert_eq!(broken(&check(&log, &text, head.as_deref())), want, "{case}");
        }

        // the next writer finds the head ahead of the log: its record says so, for ever, and
        // the gap in the sequence stays
        std::fs::write(&log, join(&lines[..4])).unwrap();
        add(&log, "after");
        let text = std::fs::read(&log).unwrap();
        let head = std::fs::read(head_path(&log)).unwrap();
        let r = check(&log, &text, Some(&head));
        assert_eq!(
            r.files,
            [Some(Err((
                5,
                "record 5 is missing (seq 6 follows 4)".into()
            )))]
        );
        assert!(String::from_utf8_lossy(&text).contains(
            "\"anchor_broken\":\"record 5 is missing from the end of the log (it ended at record 4; its head named 5)\""
        ));
        std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_rotated_key_still_verifies_its_records() {
        let log = temp_log("rekey");
        add(&log, "a");
        add(&log, "b");
        let (old, new) = key::rotate(&key_of(&log)).unwrap();
        add(&log, "c");
        let text = std::fs::read(&log).unwrap();
        let head = std::fs::read(head_path(&log)).unwrap();
        let kids: Vec<String> = split(&text)
            .iter()
            .map(|l| {
                serde_json::from_slice::<serde_json::Value>(l).unwrap()["kid"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let old = old.unwrap();
        assert_eq!(kids, [old.clone(), old.clone(), new.clone()]);
        let r = check(&log, &text, Some(&head));
        assert!(r.intact(), "{r:?}");
        // without the retired key, the old records cannot be verified
        std::fs::remove_dir_all(key::retired_dir(&key_of(&log))).unwrap();
        assert_eq!(
            broken(&check(&log, &text, Some(&head))),
            format!("record 1: made with key {old}, which is not in the keyring")
        );
        std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
    }

    #[test]
    fn unkeyed_records_from_before_verify_with_a_note() {
        let log = temp_log("legacy");
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        // two records as hardrun wrote them before the log was keyed
        let r1 = br#"{"time":"t","id":"old1","decision":"allowed","prev":""}"#.to_vec();
        let r2 = format!(
            r#"{{"time":"t","id":"old2","decision":"allowed","prev":"{}"}}"#,
            line_hash(&r1)
        )
        .into_bytes();
        let legacy = join(&[r1, r2]);
        let r = check(&log, &legacy, None);
        assert!(r.intact(), "{r:?}");
        assert_eq!(
            r.notes,
            [
                ": unkeyed records 1..2: integrity not provable (written before the log was keyed)",
                "no head file: the log was never keyed"
            ]
        );
        std::fs::write(&log, &legacy).unwrap();
        add(&log, "new");
        let text = std::fs::read(&log).unwrap();
        let head = std::fs::read(head_path(&log)).unwrap();
        let r = check(&log, &text, Some(&head));
        assert!(r.intact(), "{r:?}");
        assert_eq!(r.files, [Some(Ok(3))]);
        assert_eq!(r.head, Some(Ok("record 1 anchored, the last".into())));
        assert_eq!(r.notes.len(), 1, "{r:?}");
        // the whole log replaced by unkeyed records and its head removed: the key gives it away
        let r = check(&log, &legacy, None);
        assert_eq!(
            broken(&r),
            "head: the head file is missing and the log has no keyed record, though the node has an audit key: the log was replaced or its head removed"
        );
        std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_head_that_cannot_be_written_fails_closed_and_leaves_the_log_as_it_was() {
        let log = temp_log("headfail");
        add(&log, "a");
        let before = std::fs::read(&log).unwrap();
        // a directory where the head file goes: the rename over it fails
        std::fs::remove_file(head_path(&log)).unwrap();
        std::fs::create_dir(head_path(&log)).unwrap();
        std::fs::write(head_path(&log).join("x"), "").unwrap();
        let e = record(
            Some(&sink(&log, &Rotation::default())),
            "create",
            "b",
            Path::new("/b"),
            None,
            Decision::Allowed(&allowed("b")),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot write its head"), "{e}");
        assert_eq!(std::fs::read(&log).unwrap(), before);
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
                            Some(&sink(log, &Rotation::default())),
                            "create",
                            &id,
                            Path::new("/b"),
                            None,
                            Decision::Allowed(&allowed(&id)),
                        )
                        .unwrap();
                    }
                });
            }
        });
        let head = std::fs::read(head_path(&log)).unwrap();
        let r = check(&log, &std::fs::read(&log).unwrap(), Some(&head));
        assert!(r.intact(), "{r:?}");
        assert_eq!(r.files, [Some(Ok(100))]);
        assert_eq!(r.head, Some(Ok("record 100 anchored, the last".into())));
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
            Some(&sink(&log, &Rotation::default())),
            "create",
            "c1",
            Path::new("/b"),
            None,
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
            Some(&sink(&log, &Rotation::default())),
            "run",
            "c2",
            Path::new("/b"),
            None,
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
                            Some(&sink(log, rot)),
                            "create",
                            &id,
                            Path::new("/b"),
                            None,
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
        let head = std::fs::read(head_path(&log)).unwrap();
        let report = check_files(&log, &texts, Some(&head));
        assert!(report.intact(), "{report:?}");
        let results = report.files;
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
        let keys = key::Keyring::load(&key_of(&log));
        assert!(verify_logs(&[], &texts[1..2], &keys, HeadInput::NotChecked).intact());
        let skipped = verify_logs(
            &[],
            &[texts[0].clone(), texts[2].clone()],
            &keys,
            HeadInput::NotChecked,
        )
        .files;
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
                Some(&sink(&log, &rot)),
                "create",
                &id,
                Path::new("/b"),
                None,
                Decision::Allowed(&allowed(&id)),
            )
            .unwrap();
        }
        let files = chain_files(&log);
        assert_eq!(files.len(), 4, "{files:?}"); // .3 .2 .1 and the log
        assert!(!rotated_name(&log, 4).exists());
        let texts: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let head = std::fs::read(head_path(&log)).unwrap();
        let r = check_files(&log, &texts, Some(&head));
        assert!(r.intact(), "{r:?}");
        // the newest record is in the log itself
        assert!(String::from_utf8_lossy(&texts[3]).contains("\"id\":\"c39\""));
        std::fs::remove_dir_all(log.parent().unwrap()).unwrap();
    }
}
