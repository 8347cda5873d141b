//! Bind mount sources, resolved to the host objects they name: the stage between loading a
//! bundle and judging it (DESIGN.md, "Paths are judged after resolution").
//!
//! For each bind mount (type `bind`, or a `bind`/`rbind` option) the source is
//! - joined to the bundle directory when relative (runc resolves a relative source against the
//!   bundle, never against the caller's working directory);
//! - resolved to its real path: every symlink followed, `.` and `..` applied on the real
//!   directories (not lexically);
//! - described by the kind of object found there: directory, regular file, unix socket,
//!   character or block device, fifo, or nothing at all.
//!
//! The `mounts` rule judges that real path and kind (it stays pure: the resolution comes in
//! through its context), and the spec handed to libcontainer carries the real path
//! ([`rewrite`]), so what is mounted is the object that was judged. A window remains between
//! this resolution and libcontainer's own `open_tree` on the path: whoever can rename or
//! replace a component of the path on the host in that window (milliseconds) can swap the object.
//! Only host users who can already write into the directories on the path can do that.
//!
//! A source that does not exist is recorded as [`Kind::Missing`] (with the real path it would
//! have): `hardrun check` still judges such a bundle; `create` refuses it ([`Sources::missing`])
//! before anything is made, as runc fails to mount it.

use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

/// What a bind mount source is on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
    Socket,
    CharDevice,
    BlockDevice,
    Fifo,
    /// nothing exists at the path
    Missing,
}

impl Kind {
    /// Whether a recursive bind of this object can carry submounts (a directory can; a file,
    /// socket or device node is the one mount it is).
    pub fn may_have_submounts(self) -> bool {
        matches!(self, Kind::Directory | Kind::Missing)
    }

    pub fn is_device(self) -> bool {
        matches!(self, Kind::CharDevice | Kind::BlockDevice)
    }
}

/// A source as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// the real host path: absolute, no symlink, no `.` or `..` (for a missing source: its
    /// deepest existing ancestor resolved, the rest appended)
    pub real: String,
    pub kind: Kind,
}

/// One bind mount of the spec as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// the index in `mounts`
    pub index: usize,
    /// the source as written in the spec
    pub given: String,
    pub destination: String,
    pub resolved: Resolved,
}

/// The resolution of every bind mount source of a spec. A source string resolves the same way
/// wherever it appears, so rules look sources up by the string they see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    entries: Vec<Entry>,
}

static NONE: Sources = Sources { entries: vec![] };

impl Sources {
    /// No resolution (exec, update, and unit tests of rules that do not look at mounts).
    pub fn none() -> &'static Sources {
        &NONE
    }

    /// The resolution of `source` as written in the spec.
    pub fn get(&self, source: &str) -> Option<&Resolved> {
        self.entries
            .iter()
            .find(|e| e.given == source)
            .map(|e| &e.resolved)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Adds a resolution by hand (unit tests of the rules).
    pub fn with(mut self, given: &str, real: &str, kind: Kind) -> Sources {
        let index = self.entries.len();
        self.entries.push(Entry {
            index,
            given: given.into(),
            destination: String::new(),
            resolved: Resolved {
                real: real.into(),
                kind,
            },
        });
        self
    }

    /// The first bind mount whose source does not exist.
    pub fn missing(&self) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.resolved.kind == Kind::Missing)
    }
}

/// Whether a mount entry is a bind mount (type `bind`, or a `bind`/`rbind` option): the one
/// definition the resolution and the `mounts` rule share.
pub fn is_bind(m: &Value) -> bool {
    m.get("type").and_then(Value::as_str) == Some("bind")
        || m.get("options")
            .and_then(Value::as_array)
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
}

/// A source that could not be resolved for another reason than its absence (a symlink loop,
/// a path that is not UTF-8, a directory hardrun may not search).
#[derive(Debug, thiserror::Error)]
#[error("field mounts[{index}].source: cannot resolve {given}: {why}")]
pub struct SourceError {
    pub index: usize,
    pub given: String,
    pub why: ResolveError,
}

/// Why one source path could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// the kernel's answer, lower-case as every hardrun error ("too many levels of symbolic
    /// links (os error 40)")
    #[error("{}", lower(.0))]
    Io(io::Error),
    /// the resolved object's type could not be read: the kernel's text as it is
    #[error("{0}")]
    Stat(io::Error),
    #[error("it resolves to {0}, which is not UTF-8")]
    NotUtf8(String),
}

/// Resolves the source of every bind mount of `spec` (raw JSON) against `bundle` (canonical).
pub fn resolve(bundle: &Path, spec: &Value) -> Result<Sources, SourceError> {
    let mut entries = vec![];
    let mounts = spec
        .get("mounts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (index, m) in mounts.iter().enumerate() {
        let Some(given) = m.get("source").and_then(Value::as_str) else {
            continue;
        };
        if !is_bind(m) || given.is_empty() {
            continue;
        }
        let resolved = resolve_one(bundle, given).map_err(|why| SourceError {
            index,
            given: given.to_owned(),
            why,
        })?;
        entries.push(Entry {
            index,
            given: given.to_owned(),
            destination: m
                .get("destination")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            resolved,
        });
    }
    Ok(Sources { entries })
}

/// Resolves one source: relative to `bundle`, symlinks followed.
pub fn resolve_one(bundle: &Path, given: &str) -> Result<Resolved, ResolveError> {
    let joined = bundle.join(given);
    let (real, kind) = match fs::canonicalize(&joined) {
        Ok(real) => {
            let kind = kind_of(&real).map_err(ResolveError::Stat)?;
            (real, kind)
        }
        Err(e) if absent(&e) => (resolve_missing(&joined)?, Kind::Missing),
        Err(e) => return Err(ResolveError::Io(e)),
    };
    let real = real
        .into_os_string()
        .into_string()
        .map_err(|p| ResolveError::NotUtf8(p.to_string_lossy().into_owned()))?;
    Ok(Resolved { real, kind })
}

fn absent(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

fn lower(e: &io::Error) -> String {
    let s = e.to_string();
    // "Too many levels of symbolic links (os error 40)" → lower-case, as every hardrun error
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

fn kind_of(real: &Path) -> io::Result<Kind> {
    let t = fs::metadata(real)?.file_type();
    Ok(if t.is_dir() {
        Kind::Directory
    } else if t.is_socket() {
        Kind::Socket
    } else if t.is_char_device() {
        Kind::CharDevice
    } else if t.is_block_device() {
        Kind::BlockDevice
    } else if t.is_fifo() {
        Kind::Fifo
    } else {
        Kind::File
    })
}

/// The path a missing source would have: its deepest existing ancestor resolved, the missing
/// components appended (a `..` among them goes up lexically: nothing below it exists to follow).
fn resolve_missing(joined: &Path) -> Result<PathBuf, ResolveError> {
    let mut rest: Vec<Component> = vec![];
    let mut base = joined;
    let real_base = loop {
        match base.parent() {
            Some(parent) => {
                rest.push(base.components().next_back().expect("a path with a parent"));
                base = parent;
            }
            None => break PathBuf::from("/"),
        }
        match fs::canonicalize(base) {
            Ok(p) => break p,
            Err(e) if absent(&e) => continue,
            Err(e) => return Err(ResolveError::Io(e)),
        }
    };
    let mut out = real_base;
    for c in rest.into_iter().rev() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    Ok(out)
}

/// Replaces the source of every bind mount of `spec` by the real path it resolved to (once the
/// policy has decided, whatever its mode): libcontainer then mounts what was judged, whatever
/// the caller's working directory. Mounts the resolution does not know are left as they are.
pub fn rewrite(spec: &mut Value, sources: &Sources) {
    let Some(mounts) = spec.get_mut("mounts").and_then(Value::as_array_mut) else {
        return;
    };
    for m in mounts.iter_mut() {
        if !is_bind(m) {
            continue;
        }
        let real = m
            .get("source")
            .and_then(Value::as_str)
            .and_then(|s| sources.get(s))
            .map(|r| r.real.clone());
        if let Some(real) = real {
            m["source"] = Value::String(real);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::symlink;
    use std::os::unix::net::UnixListener;

    fn spec(sources: &[(&str, &str)]) -> Value {
        let mounts: Vec<Value> = sources
            .iter()
            .map(|(s, d)| json!({"destination": d, "type": "bind", "source": s, "options": ["rbind"]}))
            .collect();
        json!({"mounts": mounts})
    }

    #[test]
    fn sources_resolve_against_the_bundle_through_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let b = fs::canonicalize(d.path()).unwrap().join("bundle");
        fs::create_dir_all(b.join("hostfiles")).unwrap();
        fs::write(b.join("hostfiles/hosts"), "").unwrap();
        let outside = b.parent().unwrap().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let _l = UnixListener::bind(outside.join("api.sock")).unwrap();
        symlink(outside.join("api.sock"), b.join("link")).unwrap();
        symlink("hostfiles", b.join("rel-link")).unwrap();
        symlink("../outside", b.join("up")).unwrap();
        symlink("/etc", b.join("etc-link")).unwrap();
        let p = |s: &Path| s.to_str().unwrap().to_owned();
        let cases: Vec<(&str, String, Kind)> = vec![
            ("hostfiles/hosts", p(&b.join("hostfiles/hosts")), Kind::File),
            ("./hostfiles/", p(&b.join("hostfiles")), Kind::Directory),
            (
                "hostfiles/../hostfiles/hosts",
                p(&b.join("hostfiles/hosts")),
                Kind::File,
            ),
            ("rel-link/hosts", p(&b.join("hostfiles/hosts")), Kind::File),
            ("link", p(&outside.join("api.sock")), Kind::Socket),
            ("up/api.sock", p(&outside.join("api.sock")), Kind::Socket),
            // `..` through a symlink is applied on the real directory, not the name
            ("up/../outside", p(&outside), Kind::Directory),
            ("etc-link", "/etc".into(), Kind::Directory),
            ("..", p(b.parent().unwrap()), Kind::Directory),
            ("/dev/null", "/dev/null".into(), Kind::CharDevice),
            ("/etc/passwd", "/etc/passwd".into(), Kind::File),
            ("//usr/./share/", "/usr/share".into(), Kind::Directory),
            // missing: the deepest existing ancestor resolved, the rest appended
            ("nope/hosts", p(&b.join("nope/hosts")), Kind::Missing),
            ("rel-link/nope", p(&b.join("hostfiles/nope")), Kind::Missing),
            ("up/nope/../x", p(&outside.join("x")), Kind::Missing),
            (
                "hostfiles/hosts/below",
                p(&b.join("hostfiles/hosts/below")),
                Kind::Missing,
            ),
            ("/nonexistent/a", "/nonexistent/a".into(), Kind::Missing),
        ];
        for (given, real, kind) in cases {
            let r = resolve_one(&b, given).unwrap();
            assert_eq!((r.real.as_str(), r.kind), (real.as_str(), kind), "{given}");
        }
        // a symlink loop is an error that names the mount
        symlink("loop", b.join("loop")).unwrap();
        let e = resolve(&b, &spec(&[("hostfiles", "/a"), ("loop", "/l")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field mounts[1].source: cannot resolve loop: too many levels of symbolic links (os error 40)"
        );
    }

    #[test]
    fn only_binds_are_resolved_and_rewritten() {
        let d = tempfile::tempdir().unwrap();
        let b = fs::canonicalize(d.path()).unwrap();
        fs::create_dir(b.join("shm")).unwrap();
        let mut s = json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev/shm", "source": "shm", "options": ["rbind", "rprivate"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/etc/hosts", "type": "bind", "source": "hostfiles/hosts"},
            {"destination": "/x", "type": "bind", "options": ["bind"]},
        ]});
        let sources = resolve(&b, &s).unwrap();
        let got: Vec<(usize, &str, &str, Kind)> = sources
            .entries()
            .iter()
            .map(|e| {
                (
                    e.index,
                    e.given.as_str(),
                    e.destination.as_str(),
                    e.resolved.kind,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, "shm", "/dev/shm", Kind::Directory),
                (3, "hostfiles/hosts", "/etc/hosts", Kind::Missing)
            ]
        );
        assert_eq!(sources.missing().unwrap().index, 3);
        rewrite(&mut s, &sources);
        assert_eq!(s["mounts"][0]["source"], "proc");
        assert_eq!(s["mounts"][1]["source"], b.join("shm").to_str().unwrap());
        assert_eq!(s["mounts"][2]["source"], "tmpfs");
        assert_eq!(
            s["mounts"][3]["source"],
            b.join("hostfiles/hosts").to_str().unwrap()
        );
        assert!(s["mounts"][4].get("source").is_none());
        assert!(resolve(&b, &json!({})).unwrap().entries().is_empty());
    }
}
