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
        if name.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        let meta: Option<Value> = std::fs::read(e.path().join("meta.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let deleted_at = meta
            .as_ref()
            .and_then(|m| m["deleted_at"].as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(SystemTime::from)
            .or_else(|| e.metadata().and_then(|m| m.modified()).ok())
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
        out.push(Record {
            dir: e.path(),
            id: id.to_owned(),
            deleted_at,
            size,
            files,
            regulatory,
        });
    }
    out.sort_by(|a, b| a.deleted_at.cmp(&b.deleted_at).then(a.dir.cmp(&b.dir)));
    Ok(out)
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
pub fn plan(
    records: &[Record],
    now: SystemTime,
    older_than: Duration,
    gdpr: Duration,
    max_size: u64,
) -> Vec<(usize, Why)> {
    let mut out = vec![];
    let mut total: u64 = records.iter().map(|r| r.size).sum();
    for (i, r) in records.iter().enumerate() {
        let age = now.duration_since(r.deleted_at).unwrap_or_default();
        if age >= older_than {
            out.push((i, Why::Age));
            total -= r.size;
        } else if r.is_gdpr() && age >= gdpr {
            out.push((i, Why::Gdpr));
            total -= r.size;
        }
    }
    for (i, r) in records.iter().enumerate() {
        if total <= max_size {
            break;
        }
        if !out.iter().any(|(j, _)| *j == i) {
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
    let records = list(forensics)?;
    let mut out = vec![];
    for (i, why) in plan(&records, SystemTime::now(), older_than, gdpr, max_size) {
        let r = &records[i];
        match std::fs::remove_dir_all(&r.dir) {
            Ok(()) => out.push((r.clone(), why)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot prune {}: {e}", r.dir.display())),
        }
    }
    Ok(out)
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
}
