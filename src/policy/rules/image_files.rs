//! `image-files`: the image's setuid and setgid files and its world-writable directories without
//! the sticky bit (see `docs/rules/image-files.md`, `docs/image-checks.md`).
//!
//! The rootfs is walked by [`preload`], which the engine calls before the rules of a create, run
//! or check (never on exec or update), so the rule stays a pure function of the walk, the spec
//! and the profile. The walk never follows a symlink, never descends into another filesystem,
//! and stops after `[image_files] max_entries` entries or `max_walk_ms` milliseconds (reaching
//! either is a finding, never a hang). Its result is cached under the state root by the rootfs's
//! identity ([`identity`]), so a repeated create of the same image walks nothing.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Proposal, Rule, RuleCtx};
use crate::policy::registry::Severity;
use crate::profile::{ImageFilesCfg, Profile};

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "the image has no setuid or setgid file the root does not mount nosuid, and no world-writable directory without the sticky bit on a writable root",
    severity: Severity::Medium,
    process: false,
    evaluate: Some(evaluate),
};

/// The cache's directory in the state root (a dot name: never a container).
pub const CACHE_DIR: &str = ".image-files";
/// Bumped when [`Walk`] or the identity changes: older cache files are never read.
const CACHE_VERSION: u32 = 2;
/// Cache files kept; beyond it the oldest are removed.
const CACHE_KEEP: usize = 256;
/// Files of each kind named one by one; the rest are counted.
pub const LISTED: usize = 16;

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;

/// One file or directory the walk found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    /// the path inside the image (`/bin/su`)
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Where the walk stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Entries,
    Time,
}

/// What one walk of a rootfs found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Walk {
    /// entries looked at (files, directories, links, ...)
    pub entries: u64,
    /// setuid or setgid regular files (the first [`LISTED`]), and how many in all
    pub special: Vec<Found>,
    pub special_count: u64,
    /// world-writable directories without the sticky bit (the first [`LISTED`]), and how many
    pub open_dirs: Vec<Found>,
    pub open_dirs_count: u64,
    /// directories that could not be read
    pub unreadable: u64,
    /// set when the walk stopped at a bound
    pub bound: Option<Bound>,
}

/// Walks `root`: lstat only (no symlink is followed), nothing on another device than `root`'s,
/// at most `max_entries` entries and `max_time`.
pub fn walk(root: &Path, max_entries: u64, max_time: Duration) -> std::io::Result<Walk> {
    let start = Instant::now();
    let dev = std::fs::metadata(root)?.dev();
    let mut w = Walk::default();
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, inside)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(_) => {
                w.unreadable += 1;
                continue;
            }
        };
        for e in entries {
            if w.entries >= max_entries {
                w.bound = Some(Bound::Entries);
                return Ok(w);
            }
            if w.entries % 64 == 0 && start.elapsed() >= max_time {
                w.bound = Some(Bound::Time);
                return Ok(w);
            }
            let Ok(e) = e else {
                w.unreadable += 1;
                continue;
            };
            w.entries += 1;
            // DirEntry::metadata is lstat: a symlink is looked at as a link, never followed
            let Ok(m) = e.metadata() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            let path = format!("{inside}/{name}");
            let mode = m.mode();
            let found = || Found {
                path: path.clone(),
                mode: mode & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
            };
            let ft = m.file_type();
            if ft.is_file() && (mode & S_ISUID != 0 || (mode & S_ISGID != 0 && mode & 0o010 != 0)) {
                // setgid without group execute is mandatory locking, not a privilege
                w.special_count += 1;
                if w.special.len() < LISTED {
                    w.special.push(found());
                }
            } else if ft.is_dir() {
                if mode & 0o002 != 0 && mode & S_ISVTX == 0 {
                    w.open_dirs_count += 1;
                    if w.open_dirs.len() < LISTED {
                        w.open_dirs.push(found());
                    }
                }
                // another filesystem (a mount inside the image directory) is not the image
                if m.dev() == dev {
                    stack.push((e.path(), path));
                }
            }
        }
    }
    Ok(w)
}

/// The rootfs's identity, for the cache: its directory's device, inode and mtime, a cheap
/// fingerprint of the two levels below it (names, inodes, modes, owners, mtimes, sizes), and
/// the bounds (a walk cut by other bounds is another result). A symbolic link is fingerprinted
/// by its name and inode from the directory entry, without a stat: a link cannot be made
/// setuid or rewritten in place, and replacing it (by another link or a file) gives another
/// inode and changes its directory's mtime (issue 20: a busybox image's 270 `/bin` links were
/// 270 `statx` calls on every create).
pub fn identity(root: &Path, cfg: &ImageFilesCfg) -> std::io::Result<String> {
    let m = std::fs::metadata(root)?;
    let mut h = Sha256::new();
    h.update(format!(
        "v{CACHE_VERSION} {} {} {}.{} {} {}\n",
        m.dev(),
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
        cfg.max_entries,
        cfg.max_walk_ms
    ));
    let dev = m.dev();
    let level = |dir: &Path, h: &mut Sha256| -> Vec<PathBuf> {
        let mut rows = vec![];
        let mut dirs = vec![];
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_symlink()) {
                rows.push(format!(
                    "{} {} link",
                    e.file_name().to_string_lossy(),
                    std::os::unix::fs::DirEntryExt::ino(&e)
                ));
                continue;
            }
            let Ok(m) = e.metadata() else { continue };
            rows.push(format!(
                "{} {} {:o} {}:{} {}.{} {}",
                e.file_name().to_string_lossy(),
                m.ino(),
                m.mode(),
                m.uid(),
                m.gid(),
                m.mtime(),
                m.mtime_nsec(),
                m.len()
            ));
            if m.is_dir() && m.dev() == dev {
                dirs.push(e.path());
            }
        }
        rows.sort();
        for r in rows {
            h.update(r.as_bytes());
            h.update(b"\n");
        }
        dirs
    };
    let mut below = level(root, &mut h);
    below.sort();
    for d in below {
        h.update(format!("{}\n", d.display()).as_bytes());
        level(&d, &mut h);
    }
    Ok(crate::base::hex::hex(&h.finalize()))
}

/// The walk of `root`: from the cache in `cache_dir` when the rootfs's identity is there, else
/// walked and stored. `(walk, whether it came from the cache)`.
pub fn walk_cached(
    root: &Path,
    cache_dir: Option<&Path>,
    cfg: &ImageFilesCfg,
) -> Result<(Walk, bool), String> {
    let shown = root.display();
    let key =
        identity(root, cfg).map_err(|e| format!("rootfs {shown}: {}", crate::scan::io_msg(&e)))?;
    let file = cache_dir.map(|d| d.join(format!("{key}.json")));
    if let Some(f) = &file {
        if let Ok(w) = std::fs::read(f)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Walk>(&b).map_err(|e| e.to_string()))
        {
            return Ok((w, true));
        }
    }
    let w = walk(
        root,
        cfg.max_entries,
        Duration::from_millis(cfg.max_walk_ms),
    )
    .map_err(|e| format!("rootfs {shown}: {}", crate::scan::io_msg(&e)))?;
    if let (Some(dir), Some(f)) = (cache_dir, &file) {
        // best effort: without a cache the next create walks again. Only inside a state root
        // that exists: `check` must not make the root (create makes it 0700)
        let made = dir.is_dir()
            || (dir.parent().is_some_and(Path::is_dir) && std::fs::create_dir(dir).is_ok());
        if made {
            let _ = crate::scan::write_atomic(f, &serde_json::to_vec(&w).unwrap_or_default());
            prune(dir);
        }
    }
    Ok((w, false))
}

/// Keeps the newest [`CACHE_KEEP`] cache files.
fn prune(dir: &Path) {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() <= CACHE_KEEP {
        return;
    }
    files.sort();
    for (_, p) in &files[..files.len() - CACHE_KEEP] {
        let _ = std::fs::remove_file(p);
    }
}

/// What [`preload`] found, by the spec's `root.path` as given.
fn preloaded() -> &'static Mutex<BTreeMap<String, Result<Walk, String>>> {
    static P: std::sync::OnceLock<Mutex<BTreeMap<String, Result<Walk, String>>>> =
        std::sync::OnceLock::new();
    P.get_or_init(Default::default)
}

/// The rootfs a spec names, resolved against its bundle.
pub fn rootfs_of(spec: &Value, bundle: &Path) -> Option<(String, PathBuf)> {
    let given = spec.pointer("/root/path")?.as_str()?.to_owned();
    let p = Path::new(&given);
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        bundle.join(p)
    };
    Some((given, full))
}

/// Walks (or finds in the cache under `state_root`) the rootfs `spec` names, for the rule to
/// find in memory.
pub fn preload(spec: &Value, bundle: &Path, state_root: Option<&Path>, cfg: &ImageFilesCfg) {
    let Some((given, full)) = rootfs_of(spec, bundle) else {
        return;
    };
    // `check --spec` of a spec without its bundle: no image to look at (create and run refuse a
    // missing rootfs before this matters)
    if !full.exists() {
        preloaded()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&given);
        return;
    }
    let cache = state_root.map(|r| r.join(CACHE_DIR));
    let started = Instant::now();
    let found = walk_cached(&full, cache.as_deref(), cfg);
    if let Ok((w, cached)) = &found {
        tracing::debug!(
            "image-files: {} entries of {} {} in {:.3} ms",
            w.entries,
            full.display(),
            if *cached { "from the cache" } else { "walked" },
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    preloaded()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(given, found.map(|(w, _)| w));
}

pub fn evaluate(spec: &Value, profile: &Profile, _ctx: &RuleCtx) -> Vec<Proposal> {
    let Some(given) = spec.pointer("/root/path").and_then(Value::as_str) else {
        return vec![];
    };
    let found = preloaded()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(given)
        .cloned();
    match found {
        // nothing walked: the engine's own tests, which evaluate specs without a rootfs (create,
        // run and check always preload; exec and update never run this rule)
        None => vec![],
        Some(Err(e)) => vec![Proposal::note(
            "/root/path",
            format!("the image's files could not be walked: {e}"),
        )],
        Some(Ok(w)) => judge(
            &w,
            super::rootfs::nosuid(spec),
            spec.pointer("/root/readonly").and_then(Value::as_bool) == Some(true),
            &profile.image_files,
        ),
    }
}

fn more(listed: usize, count: u64) -> String {
    let rest = count.saturating_sub(listed as u64);
    if rest > 0 {
        format!(" ({rest} more not named)")
    } else {
        String::new()
    }
}

/// The rule on a walk: `nosuid` and `readonly`, how the rootfs will be mounted. A setuid or
/// setgid file on a `nosuid` root gains nothing, and a world-writable directory on a read-only
/// root cannot be written: those are recorded (audit), never refused. On a root that honours
/// them they are deviations, refused where the rule is `deny` or `enforce` (no rewrite can fix an
/// image). Reaching a bound of the walk is recorded.
pub fn judge(w: &Walk, nosuid: bool, readonly: bool, cfg: &ImageFilesCfg) -> Vec<Proposal> {
    let mut out = vec![];
    for f in &w.special {
        let what = match (f.mode & S_ISUID != 0, f.mode & S_ISGID != 0) {
            (true, true) => "setuid and setgid",
            (true, false) => "setuid",
            _ => "setgid",
        };
        let base = format!(
            "image file {} is {what} (mode {:04o}, owner {}:{})",
            f.path, f.mode, f.uid, f.gid
        );
        out.push(if nosuid {
            Proposal::note(
                "/root/path",
                format!("{base}; the root is mounted nosuid, so it gains nothing"),
            )
        } else {
            Proposal::refuse(
                "/root/path",
                format!("{base} and the root is not mounted nosuid"),
            )
        });
    }
    if let Some(last) = out.last_mut() {
        last.message
            .push_str(&more(w.special.len(), w.special_count));
    }
    let n = out.len();
    for d in &w.open_dirs {
        let base = format!(
            "image directory {} is world-writable without the sticky bit (mode {:04o}, owner {}:{})",
            d.path, d.mode, d.uid, d.gid
        );
        out.push(if readonly {
            Proposal::note(
                "/root/path",
                format!("{base}; the root is read-only, so nobody can write it"),
            )
        } else {
            Proposal::refuse(
                "/root/path",
                format!("{base}: any user can remove or replace another's files in it"),
            )
        });
    }
    if out.len() > n {
        if let Some(last) = out.last_mut() {
            last.message
                .push_str(&more(w.open_dirs.len(), w.open_dirs_count));
        }
    }
    if w.unreadable > 0 {
        out.push(Proposal::note(
            "/root/path",
            format!(
                "{} director{} of the image could not be read and {} not checked",
                w.unreadable,
                if w.unreadable == 1 { "y" } else { "ies" },
                if w.unreadable == 1 { "was" } else { "were" }
            ),
        ));
    }
    if let Some(b) = w.bound {
        let why = match b {
            Bound::Entries => format!("[image_files] max_entries = {}", cfg.max_entries),
            Bound::Time => format!("[image_files] max_walk_ms = {}", cfg.max_walk_ms),
        };
        out.push(Proposal::note(
            "/root/path",
            format!(
                "the walk of the image's files stopped after {} entries at {why}: the rest of the image was not checked",
                w.entries
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in ["bin", "tmp", "open", "deep/a/b", "outside/sub"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        for f in [
            "bin/su",
            "bin/wall",
            "bin/locked",
            "bin/plain",
            "outside/sub/su",
        ] {
            std::fs::write(r.join(f), b"x").unwrap();
        }
        chmod(&r.join("bin/su"), 0o4755);
        chmod(&r.join("bin/wall"), 0o2755);
        // setgid without group execute: mandatory locking, not a privilege
        chmod(&r.join("bin/locked"), 0o2644);
        chmod(&r.join("bin/plain"), 0o755);
        chmod(&r.join("tmp"), 0o1777);
        chmod(&r.join("open"), 0o777);
        chmod(&r.join("outside/sub/su"), 0o6755);
        t
    }

    fn paths(v: &[Found]) -> Vec<&str> {
        let mut p: Vec<&str> = v.iter().map(|f| f.path.as_str()).collect();
        p.sort();
        p
    }

    #[test]
    fn walk_table() {
        let t = tree();
        let r = t.path();
        // a symlink to a directory full of setuid files is not followed
        let elsewhere = tree();
        std::os::unix::fs::symlink(elsewhere.path(), r.join("link")).unwrap();
        std::os::unix::fs::symlink("/bin/su", r.join("bin/su-link")).unwrap();
        let w = walk(r, 1000, Duration::from_secs(5)).unwrap();
        assert_eq!(
            paths(&w.special),
            ["/bin/su", "/bin/wall", "/outside/sub/su"],
            "{w:?}"
        );
        assert_eq!(w.special_count, 3);
        assert_eq!(paths(&w.open_dirs), ["/open"]);
        assert_eq!(w.open_dirs_count, 1);
        assert_eq!(w.bound, None);
        // 5 files + 2 links + bin tmp open deep deep/a deep/a/b outside outside/sub
        assert_eq!(w.entries, 15);
        let su = w.special.iter().find(|f| f.path == "/bin/su").unwrap();
        assert_eq!(su.mode, 0o4755);
    }

    #[test]
    fn bounds_are_findings() {
        let t = tree();
        let w = walk(t.path(), 3, Duration::from_secs(5)).unwrap();
        assert_eq!((w.entries, w.bound), (3, Some(Bound::Entries)));
        let w = walk(t.path(), 1000, Duration::ZERO).unwrap();
        assert_eq!((w.entries, w.bound), (0, Some(Bound::Time)));
        let cfg = ImageFilesCfg {
            max_walk_ms: 1,
            ..Default::default()
        };
        let p = judge(&w, true, true, &cfg);
        assert_eq!(p.len(), 1);
        assert!(p[0].noted);
        assert!(
            p[0].message
                .contains("stopped after 0 entries at [image_files] max_walk_ms = 1"),
            "{}",
            p[0].message
        );
    }

    #[test]
    fn judge_table() {
        let t = tree();
        let w = walk(t.path(), 1000, Duration::from_secs(5)).unwrap();
        let cfg = ImageFilesCfg::default();
        // (nosuid, readonly) -> (refusals, notes)
        for (nosuid, readonly, want) in [
            (true, true, (0, 4)),
            (false, true, (3, 1)),
            (true, false, (1, 3)),
            (false, false, (4, 0)),
        ] {
            let p = judge(&w, nosuid, readonly, &cfg);
            let refused = p.iter().filter(|p| !p.fixable).count();
            let noted = p.iter().filter(|p| p.noted).count();
            assert_eq!(
                (refused, noted),
                want,
                "nosuid {nosuid} readonly {readonly}"
            );
        }
        let p = judge(&w, true, true, &cfg);
        let su = p.iter().find(|p| p.message.contains("/bin/su ")).unwrap();
        assert_eq!(
            su.message,
            "image file /bin/su is setuid (mode 4755, owner 0:0); the root is mounted nosuid, so it gains nothing"
                .replace("0:0", &format!("{}:{}", nix::unistd::getuid(), nix::unistd::getgid()))
        );
        assert!(p.iter().any(|p| p.message.starts_with(
            "image directory /open is world-writable without the sticky bit (mode 0777"
        )));
        // more than LISTED: the last one says how many more
        let many = Walk {
            special: vec![w.special[0].clone(); LISTED],
            special_count: LISTED as u64 + 5,
            ..Default::default()
        };
        let p = judge(&many, true, true, &cfg);
        assert_eq!(p.len(), LISTED);
        assert!(p[LISTED - 1].message.ends_with(" (5 more not named)"));
    }

    #[test]
    fn the_rule_reads_what_preload_found() {
        let t = tree();
        let bundle = t.path().parent().unwrap();
        let name = t.path().file_name().unwrap().to_str().unwrap();
        let p = super::super::testing::profile("restricted");
        let spec = serde_json::json!({"root": {"path": name, "readonly": true}});
        preload(&spec, bundle, None, &p.image_files);
        // readonly, not nosuid: the setuid files are deviations, the open directory is not
        let found = super::super::testing::run(evaluate, &spec, &p);
        assert_eq!(found.len(), 4, "{found:?}");
        assert_eq!(found.iter().filter(|p| !p.fixable).count(), 3);
        // a spec whose rootfs is not there (check --spec alone): nothing to say
        let gone = serde_json::json!({"root": {"path": format!("{name}-gone")}});
        preload(&gone, bundle, None, &p.image_files);
        assert!(super::super::testing::run(evaluate, &gone, &p).is_empty());
    }

    #[test]
    fn cache_by_identity() {
        let t = tree();
        let cache = tempfile::tempdir().unwrap();
        let cfg = ImageFilesCfg::default();
        let (w1, cached) = walk_cached(t.path(), Some(cache.path()), &cfg).unwrap();
        assert!(!cached);
        let (w2, cached) = walk_cached(t.path(), Some(cache.path()), &cfg).unwrap();
        assert!(cached);
        assert_eq!(w1, w2);
        // other bounds: another result
        let other = ImageFilesCfg {
            max_entries: 2,
            ..Default::default()
        };
        let (w3, cached) = walk_cached(t.path(), Some(cache.path()), &other).unwrap();
        assert!(!cached);
        assert_eq!(w3.bound, Some(Bound::Entries));
        // a setuid bit added two levels down changes the identity
        chmod(&t.path().join("bin/plain"), 0o4755);
        let (w4, cached) = walk_cached(t.path(), Some(cache.path()), &cfg).unwrap();
        assert!(!cached);
        assert_eq!(w4.special_count, 4);
        // links are fingerprinted without a stat: one replaced by a setuid file two levels down
        // (a rename: another inode, the directory's mtime moves) changes the identity too
        let link = t.path().join("bin/link-to-plain");
        std::os::unix::fs::symlink("plain", &link).unwrap();
        let before = identity(t.path(), &cfg).unwrap();
        assert_eq!(before, identity(t.path(), &cfg).unwrap());
        let staged = t.path().join("staged-suid");
        std::fs::write(&staged, b"x").unwrap();
        chmod(&staged, 0o4755);
        std::fs::rename(&staged, &link).unwrap();
        assert_ne!(before, identity(t.path(), &cfg).unwrap());
        // no cache directory: walked each time
        assert!(!walk_cached(t.path(), None, &cfg).unwrap().1);
        // a state root that does not exist is not made
        let absent = cache.path().join("no-root/.image-files");
        walk_cached(t.path(), Some(&absent), &cfg).unwrap();
        assert!(!absent.parent().unwrap().exists());
        // a rootfs that does not exist is named
        let e = walk_cached(&t.path().join("nope"), None, &cfg).unwrap_err();
        assert!(e.ends_with("/nope: does not exist"), "{e}");
    }
}
