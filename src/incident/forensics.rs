//! Retention past delete: `delete` keeps a deleted container's original spec, hardened spec,
//! findings and any evidence collected into the default location under `forensics_dir`
//! (default `/var/lib/hardrun/forensics`), one directory per deleted container,
//! `<id>@<UTC time>`. `hardrun forensics list|prune` show and prune them: by age
//! (`forensics_retention`, default 7d; at most `forensics_retention_gdpr`, default 72h, for a
//! container whose profile names the `gdpr` regulatory pack), then by total size
//! (`forensics_max_size`, default 1 GiB), oldest first. Keeping never makes delete fail; each
//! pruning is an audit record.
//!
//! Evidence collected without `-o` goes to `<forensics_dir>/evidence/<id>/<time>/`; delete moves
//! `<forensics_dir>/evidence/<id>` into the container's record.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

/// The directory evidence of container `id` goes to when `-o` is not given.
pub fn default_evidence_dir(forensics: &Path, id: &str) -> PathBuf {
    let t = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    forensics.join("evidence").join(id).join(t.to_string())
}

fn mkdir(p: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
}

/// Keeps what incident response needs of container `id` (state directory `state_dir`) under
/// `forensics`; returns the record's directory. Files that are not there are left out.
pub fn keep(forensics: &Path, id: &str, state_dir: &Path) -> Result<PathBuf, String> {
    let record = crate::runtime::state_dir::read_record(state_dir);
    keep_with(forensics, id, state_dir, record.as_ref())
}

/// [`keep`] with the state directory's record already read (`delete` reads it once). The
/// state files are hard-linked into the record where they are on the same filesystem (they are
/// replaced by rename, never rewritten in place, and the state directory goes right after), and
/// copied where not.
pub fn keep_with(
    forensics: &Path,
    id: &str,
    state_dir: &Path,
    record: Option<&crate::runtime::state_dir::Record>,
) -> Result<PathBuf, String> {
    let now = chrono::Utc::now();
    let name = format!("{id}@{}", now.format("%Y%m%dT%H%M%S%.6fZ"));
    let dir = forensics.join(&name);
    let err = |e: std::io::Error| format!("cannot keep {id:?} in {}: {e}", dir.display());
    mkdir(forensics).map_err(err)?;
    // written beside, renamed into place: a record is whole or not there
    let tmp = forensics.join(format!(".{name}.partial"));
    mkdir(&tmp).map_err(err)?;
    let result = (|| -> std::io::Result<()> {
        // one refused link (another filesystem: state under /run, records under /var/lib)
        // answers for the rest: they are copied without trying
        let mut linkable = true;
        for (from, to) in [
            ("config.orig.json", "config.orig.json"),
            ("bundle/config.json", "config.json"),
            ("hardrun.json", "hardrun.json"),
        ] {
            let (from, to) = (state_dir.join(from), tmp.join(to));
            let copy = || std::fs::copy(&from, &to).map(drop);
            let linked = if linkable {
                std::fs::hard_link(&from, &to).or_else(|e| match e.raw_os_error() {
                    Some(libc::EXDEV) | Some(libc::EPERM) => {
                        linkable = false;
                        copy()
                    }
                    _ => Err(e),
                })
            } else {
                copy()
            };
            match linked {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(r) = record {
            std::fs::write(
                tmp.join("findings.json"),
                serde_json::to_vec_pretty(&r.findings).unwrap_or_default(),
            )?;
        }
        let evidence = forensics.join("evidence").join(id);
        if evidence.is_dir() {
            std::fs::rename(&evidence, tmp.join("evidence"))?;
        }
        std::fs::write(
            tmp.join("meta.json"),
            serde_json::to_vec_pretty(&json!({
                "id": id,
                "deleted_at": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "hardrun_version": env!("CARGO_PKG_VERSION"),
                "bundle": record.map(|r| r.bundle.display().to_string()),
                "profile": record.and_then(|r| r.profile.clone()),
                "regulatory": record.map(regulatory_of).unwrap_or_default(),
            }))
            .unwrap_or_default(),
        )?;
        std::fs::rename(&tmp, &dir)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(err(e));
    }
    Ok(dir)
}

/// The regulatory packs of the profile a container ran under: the stored policy's profile
/// (as created); a record from before stored policies names none.
pub fn regulatory_of(record: &crate::runtime::state_dir::Record) -> Vec<String> {
    record
        .policy
        .as_ref()
        .filter(|b| may_name_regulatory(&b.profile_toml))
        .and_then(|b| crate::profile::Profile::parse(&b.profile_toml, "hardrun.json").ok())
        .map(|p| p.regulatory)
        .unwrap_or_default()
}

/// Whether a profile's text can name regulatory packs at all: the key `regulatory` is spelled
/// out, or written with escapes in a quoted key (`"\u0072egulatory"`). Without either, parsing
/// the whole profile (on every delete) can only find none.
fn may_name_regulatory(toml: &str) -> bool {
    toml.contains("regulatory") || toml.contains("\\u") || toml.contains("\\U")
}

/// One kept record.
#[derive(Debug, Clone)]
pub struct Record {
    pub dir: PathBuf,
    pub id: String,
    pub deleted_at: SystemTime,
    pub size: u64,
    pub files: usize,
    /// the regulatory packs of the container's profile (`gdpr` shortens its retention)
    pub regulatory: Vec<String>,
}

impl Record {
    pub fn is_gdpr(&self) -> bool {
        self.regulatory.iter().any(|r| r == "gdpr")
    }
}

fn du(p: &Path) -> (u64, usize) {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return (0, 0);
    };
    if m.is_dir() {
        let mut t = (0, 0);
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let (s, n) = du(&e.path());
            t.0 += s;
            t.1 += n;
        }
        t
    } else {
        (m.len(), 1)
    }
}

/// The records under `forensics`, oldest first.
pub fn list(forensics: &Path) -> Result<Vec<Record>, String> {
    Ok(scan(forensics, &Cache::default())?
        .into_iter()
        .map(|e| e.record)
        .collect())
}

/// One record as [`scan`] found it: its directory's name, inode and change time, and whether
/// [`Cache`] had it.
struct Entry {
    record: Record,
    name: String,
    ino: u64,
    ctime: i128,
    cached: bool,
}

impl std::borrow::Borrow<Record> for Entry {
    fn borrow(&self) -> &Record {
        &self.record
    }
}

/// The records under `forensics`, oldest first; a record `cache` has (same name, inode and
/// change time) is taken from it, the others are read.
fn scan(forensics: &Path, cache: &Cache) -> Result<Vec<Entry>, String> {
    use std::os::unix::fs::MetadataExt;
    let entries = match std::fs::read_dir(forensics) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("cannot read {}: {e}", forensics.display())),
    };
    let mut out = vec![];
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((id, _)) = name.split_once('@') else {
            continue; // `evidence/`, partial records (leading dot)
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(m) = e.metadata() else {
            continue; // gone since the listing
        };
        let (ino, ctime) = (
            m.ino(),
            i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        );
        if let Some(c) = cache
            .records
            .get(&name)
            .filter(|c| c.ino == ino && c.ctime == ctime)
        {
            out.push(Entry {
                record: Record {
                    dir: e.path(),
                    id: id.to_owned(),
                    deleted_at: c.deleted_at,
                    size: c.size,
                    files: c.files,
                    regulatory: c.regulatory.clone(),
                },
                name,
                ino,
                ctime,
                cached: true,
            });
            continue;
        }
        if !e.path().is_dir() {
            continue;
        }
        let record = read_record(&e, &m, id);
        out.push(Entry {
            record,
            name,
            ino,
            ctime,
            cached: false,
        });
    }
    out.sort_by(|a, b| {
        (a.record.deleted_at.cmp(&b.record.deleted_at))
            .then_with(|| a.record.dir.cmp(&b.record.dir))
    });
    Ok(out)
}

/// Reads the record in directory `e` (its `meta.json`, its size); `m`: the directory's metadata,
/// whose mtime stands in for a deletion time that meta.json does not give.
fn read_record(e: &std::fs::DirEntry, m: &std::fs::Metadata, id: &str) -> Record {
    let meta: Option<Value> = std::fs::read(e.path().join("meta.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let deleted_at = meta
        .as_ref()
        .and_then(|m| m["deleted_at"].as_str())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(SystemTime::from)
        .or_else(|| m.modified().ok())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let (size, files) = du(&e.path());
    // meta.json says; a record kept before it did: the kept hardrun.json's stored profile
    let regulatory = match meta.as_ref().map(|m| &m["regulatory"]) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => std::fs::read(e.path().join("hardrun.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .map(|r| regulatory_of(&r))
            .unwrap_or_default(),
    };
    Record {
        dir: e.path(),
        id: id.to_owned(),
        deleted_at,
        size,
        files,
        regulatory,
    }
}

/// `<forensics>/.prune-cache`: what a prune needs of each record it has read (deletion time,
/// size, file count, regulatory packs), so that a prune reads only the records kept since the
/// last one. Reading every record (its meta.json and a walk of its files, 36–46 µs each) took
/// 0.36–0.46 s with 10 000 records, once a minute inside a `delete` (bench/PRUNE.md).
///
/// A line per record, tab-separated: directory name, its inode and change time (ns), deletion
/// time (ns since the epoch), size, files, packs (comma-separated). The cache is only a
/// shortcut, never the truth: a line whose directory is gone, has another inode or was changed
/// since (a file added or removed in it, or a directory put in its place) is ignored, a line
/// that does not parse is skipped, a missing cache only makes the prune read every record, and
/// `hardrun forensics list` always reads the records. Records are not changed once kept, so
/// what a line says stays true while its directory is there. Written only under the prune
/// lock: appended to, and rewritten whole when most of its lines are of pruned records.
const PRUNE_CACHE: &str = ".prune-cache";

#[derive(Debug, Clone, PartialEq)]
struct Cached {
    ino: u64,
    ctime: i128,
    deleted_at: SystemTime,
    size: u64,
    files: usize,
    regulatory: Vec<String>,
}

#[derive(Debug, Default)]
struct Cache {
    records: std::collections::HashMap<String, Cached>,
    /// lines in the file, stale ones included
    lines: usize,
}

impl Cache {
    fn parse(text: &[u8]) -> Cache {
        let mut c = Cache::default();
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            c.lines += 1;
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            let f: Vec<&str> = line.split('\t').collect();
            let [name, ino, ctime, at, size, files, packs] = f[..] else {
                continue;
            };
            let (Ok(ino), Ok(ctime), Ok(at), Ok(size), Ok(files)) = (
                ino.parse(),
                ctime.parse(),
                at.parse::<u64>(),
                size.parse(),
                files.parse(),
            ) else {
                continue;
            };
            let regulatory = packs
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            c.records.insert(
                name.to_owned(),
                Cached {
                    ino,
                    ctime,
                    deleted_at: SystemTime::UNIX_EPOCH + Duration::from_nanos(at),
                    size,
                    files,
                    regulatory,
                },
            );
        }
        c
    }

    /// The line for `e`; none where a field could not be read back (a tab, newline or comma
    /// in a name or pack, a time before the epoch or past 2554).
    fn line(e: &Entry) -> Option<String> {
        let bad = |s: &str| s.contains(['\t', '\n']);
        let r = &e.record;
        let at = r.deleted_at.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        let at = u64::try_from(at.as_nanos()).ok()?;
        if bad(&e.name)
            || r.regulatory
                .iter()
                .any(|p| bad(p) || p.contains(',') || p.is_empty())
        {
            return None;
        }
        Some(format!(
            "{}\t{}\t{}\t{at}\t{}\t{}\t{}\n",
            e.name,
            e.ino,
            e.ctime,
            r.size,
            r.files,
            r.regulatory.join(",")
        ))
    }
}

/// Brings the cache at `path` up to date with the records left after a prune (`live`): the
/// lines of records it lacked are appended; the file is rewritten when it holds more than
/// twice as many lines as there are records (plus some slack), so that pruned records'
/// lines do not pile up. A cache that cannot be written is left to the next prune.
fn update_cache(path: &Path, cache: &Cache, live: &[&Entry]) {
    use std::io::Write;
    let new: String = live
        .iter()
        .filter(|e| !e.cached)
        .filter_map(|e| Cache::line(e))
        .collect();
    let new_lines = new.matches('\n').count();
    let result = if cache.lines + new_lines > 2 * live.len() + 256 {
        let all: String = live.iter().filter_map(|e| Cache::line(e)).collect();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, all).and_then(|()| std::fs::rename(&tmp, path))
    } else if new.is_empty() {
        Ok(())
    } else {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut f| f.write_all(new.as_bytes()))
    };
    if let Err(e) = result {
        tracing::warn!("forensics: cannot write {}: {e}", path.display());
    }
}

/// Why a record was pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Age,
    /// older than `forensics_retention_gdpr`, under a `gdpr` profile
    Gdpr,
    Size,
}

/// Which records to prune (oldest first): those older than `older_than` (a `gdpr` record: older
/// than `gdpr` where that is shorter), then the oldest of the rest until the total is at most
/// `max_size`.
pub fn plan<R: std::borrow::Borrow<Record>>(
    records: &[R],
    now: SystemTime,
    older_than: Duration,
    gdpr: Duration,
    max_size: u64,
) -> Vec<(usize, Why)> {
    let mut out = vec![];
    let mut total: u64 = records.iter().map(|r| r.borrow().size).sum();
    for (i, r) in records.iter().map(std::borrow::Borrow::borrow).enumerate() {
        let age = now.duration_since(r.deleted_at).unwrap_or_default();
        if age >= older_than {
            out.push((i, Why::Age));
            total -= r.size;
        } else if r.is_gdpr() && age >= gdpr {
            out.push((i, Why::Gdpr));
            total -= r.size;
        }
    }
    let mut taken = vec![false; records.len()];
    for (i, _) in &out {
        taken[*i] = true;
    }
    for (i, r) in records.iter().map(std::borrow::Borrow::borrow).enumerate() {
        if total <= max_size {
            break;
        }
        if !taken[i] {
            out.push((i, Why::Size));
            total -= r.size;
        }
    }
    out
}

/// Prunes under a lock (`<forensics>/.lock`); returns what was removed.
pub fn prune(
    forensics: &Path,
    older_than: Duration,
    gdpr: Duration,
    max_size: u64,
) -> Result<Vec<(Record, Why)>, String> {
    if !forensics.is_dir() {
        return Ok(vec![]);
    }
    let lock_path = forensics.join(".lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let _lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("cannot lock {}: {e}", lock_path.display()))?;
    let cache_path = forensics.join(PRUNE_CACHE);
    let cache = std::fs::read(&cache_path)
        .map(|b| Cache::parse(&b))
        .unwrap_or_default();
    let entries = scan(forensics, &cache)?;
    let mut out = vec![];
    let mut gone = vec![false; entries.len()];
    let mut failed = None;
    for (i, why) in plan(&entries, SystemTime::now(), older_than, gdpr, max_size) {
        let r = &entries[i].record;
        match std::fs::remove_dir_all(&r.dir) {
            Ok(()) => out.push((r.clone(), why)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                failed = Some(format!("cannot prune {}: {e}", r.dir.display()));
                break;
            }
        }
        gone[i] = true;
    }
    let live: Vec<&Entry> = entries
        .iter()
        .zip(&gone)
        .filter(|(_, g)| !**g)
        .map(|(e, _)| e)
        .collect();
    update_cache(&cache_path, &cache, &live);
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_names_regulatory_packs_only_in_text_that_can_spell_the_key() {
        for (text, can) in [
            ("name = \"x\"\n[rootfs]\nnosuid = true\n", false),
            ("regulatory = [\"gdpr\"]\n", true),
            ("\"regulatory\" = [\"gdpr\"]\n", true),
            ("\"\\u0072egulatory\" = [\"gdpr\"]\n", true),
            ("\"\\U00000072egulatory\" = [\"gdpr\"]\n", true),
        ] {
            assert_eq!(may_name_regulatory(text), can, "{text}");
            // and where it says no, the profile indeed names none
            if !can {
                let parsed: toml::Value = toml::from_str(text).unwrap();
                assert!(parsed.get("regulatory").is_none());
            }
        }
        // the escaped key is the same key to TOML
        let parsed: toml::Value = toml::from_str("\"\\u0072egulatory\" = [\"gdpr\"]\n").unwrap();
        assert!(parsed.get("regulatory").is_some());
    }

    fn rec(age_s: u64, size: u64, now: SystemTime) -> Record {
        Record {
            dir: PathBuf::from(format!("/f/c@{age_s}")),
            id: "c".into(),
            deleted_at: now - Duration::from_secs(age_s),
            size,
            files: 1,
            regulatory: vec![],
        }
    }

    /// A `gdpr` record goes after `gdpr` where that is shorter than the retention; the others
    /// keep the retention; sizes still count.
    #[test]
    fn gdpr_records_are_pruned_after_the_shorter_retention() {
        let now = SystemTime::now();
        let gdpr = |mut r: Record| {
            r.regulatory = vec!["hipaa".into(), "gdpr".into()];
            r
        };
        let rs = vec![
            gdpr(rec(100, 10, now)),
            rec(50, 10, now),
            gdpr(rec(10, 10, now)),
            rec(1, 10, now),
        ];
        let (day, min) = (Duration::from_secs(86400), Duration::from_secs(60));
        assert!(rs[0].is_gdpr() && !rs[1].is_gdpr());
        assert_eq!(plan(&rs, now, day, min, 1000), vec![(0, Why::Gdpr)]);
        assert_eq!(
            plan(&rs, now, day, Duration::from_secs(5), 1000),
            vec![(0, Why::Gdpr), (2, Why::Gdpr)]
        );
        // the retention shorter than the gdpr limit: plain age
        assert_eq!(
            plan(&rs, now, Duration::from_secs(30), day, 1000),
            vec![(0, Why::Age), (1, Why::Age)]
        );
        // then by size, oldest first among the rest
        assert_eq!(
            plan(&rs, now, day, min, 15),
            vec![(0, Why::Gdpr), (1, Why::Size), (2, Why::Size)]
        );
        // nothing special about a record without the pack
        let plain: Vec<Record> = rs
            .iter()
            .cloned()
            .map(|mut r| {
                r.regulatory.clear();
                r
            })
            .collect();
        assert_eq!(plan(&plain, now, day, Duration::ZERO, 1000), vec![]);
    }

    #[test]
    fn prune_plan_by_age_then_size_oldest_first() {
        let now = SystemTime::now();
        let rs = vec![
            rec(100, 10, now),
            rec(50, 10, now),
            rec(10, 10, now),
            rec(1, 10, now),
        ];
        let day = Duration::from_secs(86400);
        // (retention, max size) → pruned
        type Case = (Duration, u64, Vec<(usize, Why)>);
        let cases: Vec<Case> = vec![
            (day, 1000, vec![]),
            (Duration::from_secs(60), 1000, vec![(0, Why::Age)]),
            (
                Duration::from_secs(0),
                1000,
                vec![(0, Why::Age), (1, Why::Age), (2, Why::Age), (3, Why::Age)],
            ),
            (day, 25, vec![(0, Why::Size), (1, Why::Size)]),
            (
                Duration::from_secs(60),
                15,
                vec![(0, Why::Age), (1, Why::Size), (2, Why::Size)],
            ),
            (day, 40, vec![]),
            (
                day,
                5,
                vec![
                    (0, Why::Size),
                    (1, Why::Size),
                    (2, Why::Size),
                    (3, Why::Size),
                ],
            ),
        ];
        for (ret, max, want) in cases {
            assert_eq!(plan(&rs, now, ret, ret, max), want, "{ret:?} {max}");
        }
    }

    /// The state files are hard-linked into the record where the state directory is on the
    /// forensics directory's filesystem, and copied (all three, the same bytes) where it is not:
    /// a state under `/run` (a tmpfs) and records under `/var/lib`.
    #[test]
    fn state_files_are_linked_on_one_filesystem_and_copied_across() {
        use std::os::unix::fs::MetadataExt;
        let base = std::env::temp_dir().join(format!("hardrun-keep-{}", std::process::id()));
        let forensics = base.join("forensics");
        let shm = PathBuf::from("/dev/shm").join(format!("hardrun-keep-{}", std::process::id()));
        let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
        let mut states = vec![(base.join("state"), true)];
        std::fs::create_dir_all(&base).unwrap();
        if std::fs::create_dir_all(&shm).is_ok() && dev(&shm) != dev(&base) {
            states.push((shm.join("state"), false));
        }
        for (i, (state, same_fs)) in states.iter().enumerate() {
            std::fs::create_dir_all(state.join("bundle")).unwrap();
            let files = [
                ("config.orig.json", "config.orig.json", format!("orig {i}")),
                ("bundle/config.json", "config.json", format!("hardened {i}")),
                ("hardrun.json", "hardrun.json", format!("record {i}")),
            ];
            for (from, _, text) in &files {
                std::fs::write(state.join(from), text).unwrap();
            }
            let dir = keep_with(&forensics, &format!("c{i}"), state, None).unwrap();
            for (_, to, text) in &files {
                let kept = dir.join(to);
                assert_eq!(
                    &std::fs::read_to_string(&kept).unwrap(),
                    text,
                    "{}",
                    kept.display()
                );
                let links = std::fs::metadata(&kept).unwrap().nlink();
                assert_eq!(links, if *same_fs { 2 } else { 1 }, "{}", kept.display());
            }
        }
        let _ = std::fs::remove_dir_all(&base);
        let _ = std::fs::remove_dir_all(&shm);
    }

    /// A record as `keep` leaves it: meta.json and one more file of `size` bytes.
    fn fake_record(forensics: &Path, name: &str, age: Duration, size: usize, gdpr: bool) {
        let d = forensics.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let at = chrono::DateTime::<chrono::Utc>::from(SystemTime::now() - age);
        let meta = json!({
            "id": name.split('@').next().unwrap(),
            "deleted_at": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "regulatory": if gdpr { vec!["hipaa", "gdpr"] } else { vec![] },
        });
        std::fs::write(d.join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
        std::fs::write(d.join("config.json"), vec![b'x'; size]).unwrap();
    }

    fn names(rs: &[Record]) -> Vec<String> {
        rs.iter()
            .map(|r| r.dir.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    /// What a prune takes from `.prune-cache` is what it would have read from the records; it
    /// reads only records the cache lacks; a line of a gone or replaced directory is ignored;
    /// lines of pruned records do not pile up.
    #[test]
    fn prune_cache_says_what_the_records_say_and_only_while_they_are_there() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("forensics");
        let day = Duration::from_secs(86400);
        let week = 7 * day;
        for (i, gdpr) in [false, true, false, false].into_iter().enumerate() {
            let age = Duration::from_secs(3600 * (10 - i as u64));
            fake_record(&f, &format!("c{i}@t{i}"), age, 1000 + i, gdpr);
        }
        let cache_path = f.join(PRUNE_CACHE);
        assert!(!cache_path.exists());
        // nothing to prune: the cache now has every record, and says what the records say
        assert!(prune(&f, week, week, u64::MAX).unwrap().is_empty());
        let cache = Cache::parse(&std::fs::read(&cache_path).unwrap());
        assert_eq!(cache.lines, 4);
        let read = list(&f).unwrap();
        let from_cache = scan(&f, &cache).unwrap();
        assert!(from_cache.iter().all(|e| e.cached));
        assert_eq!(read.len(), from_cache.len());
        for (r, e) in read.iter().zip(&from_cache) {
            let c = &e.record;
            assert_eq!(
                (&r.dir, &r.id, r.deleted_at, r.size, r.files, &r.regulatory),
                (&c.dir, &c.id, c.deleted_at, c.size, c.files, &c.regulatory)
            );
        }
        assert_eq!(read[1].regulatory, ["hipaa", "gdpr"]);
        assert_eq!(read[0].files, 2);
        assert!(read[0].size > 1000, "{}", read[0].size);

        // a new record is read and appended; the others are not read again
        fake_record(&f, "c4@t4", Duration::from_secs(60), 5000, false);
        assert!(prune(&f, week, week, u64::MAX).unwrap().is_empty());
        let cache = Cache::parse(&std::fs::read(&cache_path).unwrap());
        assert_eq!(cache.lines, 5);
        assert_eq!(cache.records["c4@t4"].size, read_size(&f.join("c4@t4")));

        // a record replaced under the same name (the inode may well be the same): its line is
        // not used
        std::fs::remove_dir_all(f.join("c3@t3")).unwrap();
        fake_record(&f, "c3@t3", Duration::from_secs(3600), 9_000_000, false);
        let e = scan(&f, &cache).unwrap();
        let c3 = e.iter().find(|e| e.name == "c3@t3").unwrap();
        assert!(!c3.cached);
        assert_eq!(c3.record.size, read_size(&f.join("c3@t3")));
        // … so the size limit sees its real size and prunes the oldest until under it
        let max = read_size(&f.join("c3@t3")) + read_size(&f.join("c4@t4"));
        let pruned = prune(&f, week, week, max).unwrap();
        assert_eq!(
            names(&pruned.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>()),
            ["c0@t0", "c1@t1", "c2@t2"]
        );
        assert_eq!(names(&list(&f).unwrap()), ["c3@t3", "c4@t4"]);

        // the gdpr record's shorter retention comes from the cache too
        fake_record(&f, "g5@t5", Duration::from_secs(7200), 10, true);
        assert!(prune(&f, week, week, u64::MAX).unwrap().is_empty());
        let cache = Cache::parse(&std::fs::read(&cache_path).unwrap());
        assert!(cache.records["g5@t5"]
            .regulatory
            .contains(&"gdpr".to_owned()));
        let pruned = prune(&f, week, Duration::from_secs(3600), u64::MAX).unwrap();
        assert_eq!(pruned.len(), 1);
        assert_eq!((pruned[0].0.id.as_str(), pruned[0].1), ("g5", Why::Gdpr));

        // many records pruned: the cache is rewritten with the live ones only
        for i in 0..400 {
            fake_record(&f, &format!("m{i}@t"), 2 * week, 1, false);
        }
        assert!(prune(&f, week * 4, week * 4, u64::MAX).unwrap().is_empty());
        // appended: the lines of the five records pruned above are still there
        let lines = Cache::parse(&std::fs::read(&cache_path).unwrap()).lines;
        assert_eq!(lines, 407);
        assert_eq!(prune(&f, week, week, u64::MAX).unwrap().len(), 400);
        let cache = Cache::parse(&std::fs::read(&cache_path).unwrap());
        assert_eq!(cache.lines, 2, "{:?}", cache.records.keys());
        assert_eq!(names(&list(&f).unwrap()), ["c3@t3", "c4@t4"]);
    }

    fn read_size(d: &Path) -> u64 {
        du(d).0
    }

    /// Lines that do not parse are skipped, the others kept; a name or pack that could not be
    /// read back gets no line.
    #[test]
    fn prune_cache_skips_what_it_cannot_read() {
        let good = "a@1\t7\t-3\t1000000000\t10\t2\tgdpr,hipaa\n";
        let mut text = format!("{good}garbage\nb@2\t8\t1\tx\t1\t1\t\n").into_bytes();
        text.extend_from_slice(b"\xff\nc@3\t9\t1\t5\t1\t1\t\n");
        let c = Cache::parse(&text);
        assert_eq!(c.lines, 5);
        assert_eq!(c.records.len(), 2);
        let a = &c.records["a@1"];
        assert_eq!(
            (a.ino, a.ctime, a.size, a.files, a.regulatory.clone()),
            (7, -3, 10, 2, vec!["gdpr".to_owned(), "hipaa".to_owned()])
        );
        assert_eq!(
            a.deleted_at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1)
        );
        let entry = |name: &str, packs: &[&str]| Entry {
            record: Record {
                dir: PathBuf::from("/f").join(name),
                id: "a".into(),
                deleted_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
                size: 10,
                files: 2,
                regulatory: packs.iter().map(|p| p.to_string()).collect(),
            },
            name: name.into(),
            ino: 7,
            ctime: -3,
            cached: false,
        };
        assert_eq!(
            Cache::line(&entry("a@1", &["gdpr", "hipaa"])).unwrap(),
            good
        );
        assert_eq!(Cache::line(&entry("a\t@1", &[])), None);
        assert_eq!(Cache::line(&entry("a@1", &["a,b"])), None);
        assert_eq!(Cache::line(&entry("a@1", &["a\nb"])), None);
    }
}
