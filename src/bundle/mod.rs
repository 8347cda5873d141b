//! The bundle on disk: load `config.json` (raw JSON for edits, a typed oci-spec view for reading),
//! resolve and confine the rootfs, and stage the spec that libcontainer will run.
//!
//! Only this module reads the caller's bundle. It never writes into it: the hardened spec is
//! written under hardrun's state root (see `state_dir`).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::Spec;

pub mod sources;

pub use sources::Sources;

/// A `config.json` larger than this is refused before it is parsed (bounded memory on hostile
/// input). Real specs are a few KiB; Kubernetes caps all annotations of an object at 256 KiB.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle {0} does not exist")]
    NoBundle(PathBuf),
    #[error("bundle {0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("bundle {} is not valid UTF-8: its path is recorded as JSON text (by libcontainer too); use a UTF-8 path", .0.to_string_lossy())]
    NotUtf8(PathBuf),
    // the cause is in the message, so it is not also the error's source: `{e:#}` (how main
    // prints errors) would name it twice
    #[error("cannot read bundle {path}: {err}")]
    BundleIo { path: PathBuf, err: std::io::Error },
    #[error("{0} does not exist")]
    NoConfig(PathBuf),
    #[error("cannot read {path}: {err}")]
    ConfigIo { path: PathBuf, err: std::io::Error },
    #[error("{path}: {size} bytes is larger than the {max} bytes hardrun accepts")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    #[error("{path}: invalid JSON at line {line} column {column}: {msg}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        msg: String,
    },
    #[error("{path}: field {field}: {msg}")]
    Field {
        path: PathBuf,
        field: String,
        msg: String,
    },
    #[error("{path}: field root.path: rootfs {rootfs} does not exist")]
    NoRootfs { path: PathBuf, rootfs: PathBuf },
    #[error("{path}: field root.path: rootfs {rootfs} is not a directory")]
    RootfsNotDir { path: PathBuf, rootfs: PathBuf },
    #[error("{path}: {err}")]
    Source {
        path: PathBuf,
        err: sources::SourceError,
    },
    #[error("{path}: field mounts[{index}].source: {given} ({real}) does not exist (bind mount on {destination})")]
    MissingSource {
        path: PathBuf,
        index: usize,
        given: String,
        real: String,
        destination: String,
    },
    #[error("{path}: field root.path: rootfs {rootfs} resolves to {resolved}, outside the bundle {bundle}")]
    RootfsEscapes {
        path: PathBuf,
        rootfs: PathBuf,
        resolved: PathBuf,
        bundle: PathBuf,
    },
}

/// A bundle as read: the raw JSON (edits are made on it, so fields oci-spec does not model
/// survive) and a typed view for reading.
#[derive(Debug)]
pub struct Bundle {
    /// the bundle directory, canonical
    pub dir: PathBuf,
    /// `<dir>/config.json`
    pub config_path: PathBuf,
    /// the file's bytes exactly as read, kept in the state directory as the original
    pub original: Vec<u8>,
    pub raw: serde_json::Value,
    pub spec: Spec,
    /// capabilities the spec names that hardrun does not know, dropped from `raw` and `spec`
    /// (runc ignores them with a warning; an unknown capability cannot widen anything)
    pub ignored_caps: Vec<String>,
    /// the container's root filesystem, canonical and confined
    pub rootfs: PathBuf,
    /// every bind mount source, resolved against the bundle to the host object it names
    pub sources: Sources,
}

impl Bundle {
    /// `create`: a bind mount source that does not exist fails the container before anything is
    /// made (runc fails to mount it); `hardrun check` still judges such a bundle.
    pub fn require_sources(&self) -> Result<(), BundleError> {
        match self.sources.missing() {
            None => Ok(()),
            Some(e) => Err(BundleError::MissingSource {
                path: self.config_path.clone(),
                index: e.index,
                given: e.given.clone(),
                real: e.resolved.real.clone(),
                destination: e.destination.clone(),
            }),
        }
    }
}

/// Loads and validates `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Bundle, BundleError> {
    let dir = match fs::canonicalize(bundle) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BundleError::NoBundle(bundle.to_path_buf()))
        }
        Err(err) => {
            return Err(BundleError::BundleIo {
                path: bundle.to_path_buf(),
                err,
            })
        }
    };
    if !dir.is_dir() {
        return Err(BundleError::NotADirectory(bundle.to_path_buf()));
    }
    // named here, not later by the staged record that cannot hold it
    if dir.to_str().is_none() {
        return Err(BundleError::NotUtf8(dir));
    }
    let config_path = dir.join("config.json");
    let original = read_config(&config_path)?;
    let (raw, spec, ignored_caps) = parse_lenient(&config_path, &original)?;
    let rootfs = resolve_rootfs(&dir, &config_path, &spec)?;
    let sources = sources::resolve(&dir, &raw).map_err(|err| BundleError::Source {
        path: config_path.clone(),
        err,
    })?;
    Ok(Bundle {
        dir,
        config_path,
        original,
        raw,
        spec,
        ignored_caps,
        rootfs,
        sources,
    })
}

/// `<bundle>/config.json`'s bytes: [`read_bounded`], a missing file named as the bundle's.
fn read_config(path: &Path) -> Result<Vec<u8>, BundleError> {
    read_bounded(path).map_err(|e| match e {
        BundleError::ConfigIo { path, err } if err.kind() == std::io::ErrorKind::NotFound => {
            BundleError::NoConfig(path)
        }
        e => e,
    })
}

/// A JSON file's bytes, refused past [`MAX_CONFIG_BYTES`] before anything is parsed.
fn read_bounded(path: &Path) -> Result<Vec<u8>, BundleError> {
    let io = |err| BundleError::ConfigIo {
        path: path.to_path_buf(),
        err,
    };
    let file = fs::File::open(path).map_err(io)?;
    let mut buf = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > MAX_CONFIG_BYTES {
        let size = fs::metadata(path)
            .map(|m| m.len())
            .unwrap_or(buf.len() as u64);
        return Err(BundleError::TooLarge {
            path: path.to_path_buf(),
            size,
            max: MAX_CONFIG_BYTES,
        });
    }
    Ok(buf)
}

/// A spec file named directly (`check --spec FILE`): read with the size cap, parsed and
/// validated as a bundle's `config.json` is (its rootfs and mount sources are not looked at:
/// the file may have no bundle around it). Unknown capabilities are dropped, as [`load`] does.
pub fn load_spec_file(path: &Path) -> Result<serde_json::Value, BundleError> {
    let bytes = read_bounded(path)?;
    parse_lenient(path, &bytes).map(|(raw, _, _)| raw)
}

/// Where a container's state directory keeps the spec hardrun runs (hardened), relative to it.
pub const STAGED_CONFIG: &str = "bundle/config.json";
/// Where a container's state directory keeps the caller's spec as create was given it.
pub const STAGED_ORIGINAL: &str = "config.orig.json";

/// The spec a container runs, as staged in its state directory `container_dir` (what `check
/// --running`, `exec` and `update` read): the path and the raw JSON, read with the size cap,
/// parsed and validated as at create.
pub fn load_staged(container_dir: &Path) -> Result<(PathBuf, serde_json::Value), BundleError> {
    let path = container_dir.join(STAGED_CONFIG);
    let raw = load_spec_file(&path)?;
    Ok((path, raw))
}

/// The caller's spec of a container as create was given it (`config.orig.json` in its state
/// directory), read as [`load_staged`] reads the staged one.
pub fn load_staged_original(container_dir: &Path) -> Result<serde_json::Value, BundleError> {
    load_spec_file(&container_dir.join(STAGED_ORIGINAL))
}

/// A typed view failed at one field.
#[derive(Debug, thiserror::Error)]
#[error("field {field}: {msg}")]
pub struct FieldError {
    /// `process.user.uid`; `(top level)` for the document itself
    pub field: String,
    pub msg: String,
}

/// A typed view of `raw` (a spec, a process, resources), or the field it fails at: the one
/// formatter of serde's errors for every typed view hardrun takes of JSON it was given.
pub fn typed<T: serde::de::DeserializeOwned>(raw: &serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let p = e.path().to_string();
        FieldError {
            field: if p == "." { "(top level)".into() } else { p },
            msg: e.into_inner().to_string(),
        }
    })
}

/// A syntax error of the JSON file `path`, with its position.
fn json_error(path: &Path, e: serde_json::Error) -> BundleError {
    BundleError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        msg: strip_position(&e.to_string()),
    }
}

/// Parses the bytes of a config file into the raw value and the typed view; errors name the
/// file and the line/column (syntax) or the field (types). Unknown capabilities are dropped
/// (see [`parse_lenient`]).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<(serde_json::Value, Spec), BundleError> {
    parse_lenient(path, bytes).map(|(raw, spec, _)| (raw, spec))
}

/// [`parse`], also returning the unknown capability names it dropped from `process.capabilities`
/// (sorted, each once), which runc 1.1 ignores with a warning.
pub fn parse_lenient(
    path: &Path,
    bytes: &[u8],
) -> Result<(serde_json::Value, Spec, Vec<String>), BundleError> {
    let mut raw: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| json_error(path, e))?;
    let field = |field: &str, msg: String| BundleError::Field {
        path: path.to_path_buf(),
        field: field.to_owned(),
        msg,
    };
    if !raw.is_object() {
        return Err(field("(top level)", "expected a JSON object".into()));
    }
    let ignored = match raw.get_mut("process") {
        Some(p) => drop_unknown_capabilities(p),
        None => vec![],
    };
    let spec: Spec = typed(&raw).map_err(|e| field(&e.field, e.msg))?;
    if !spec.version().starts_with("1.") {
        return Err(field(
            "ociVersion",
            format!(
                "unsupported version {:?}: only 1.x is supported",
                spec.version()
            ),
        ));
    }
    match spec.root() {
        Some(root) if !root.path().as_os_str().is_empty() => {}
        _ => {
            return Err(field(
                "root.path",
                "missing: the spec names no root filesystem".into(),
            ))
        }
    }
    Ok((raw, spec, ignored))
}

/// Removes from a process's `capabilities` sets every name oci-spec (and so libcontainer) does
/// not know, and returns them, sorted and each once. runc 1.1 does the same ("ignoring unknown
/// or unavailable capabilities"); a name no kernel knows grants nothing, so dropping it cannot
/// widen a container under any profile. Values that are not strings are left for the typed
/// parse to reject.
pub fn drop_unknown_capabilities(process: &mut serde_json::Value) -> Vec<String> {
    use libcontainer::oci_spec::runtime::Capability;
    let mut dropped = std::collections::BTreeSet::new();
    let Some(sets) = process
        .get_mut("capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return vec![];
    };
    for list in sets.values_mut() {
        if let Some(a) = list.as_array_mut() {
            a.retain(|v| match v.as_str() {
                Some(name) if !is_known_capability(name) => {
                    dropped.insert(name.to_owned());
                    false
                }
                _ => true,
            });
        }
    }
    fn is_known_capability(name: &str) -> bool {
        serde_json::from_value::<Capability>(serde_json::Value::String(name.to_owned())).is_ok()
    }
    dropped.into_iter().collect()
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Resolves `root.path`: a relative path must stay inside the bundle once symlinks are resolved;
/// an absolute path (podman's storage, a containerd snapshot) is taken as the caller gave it.
fn resolve_rootfs(bundle: &Path, config_path: &Path, spec: &Spec) -> Result<PathBuf, BundleError> {
    let given = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    let joined = if given.is_absolute() {
        given.clone()
    } else {
        bundle.join(&given)
    };
    let resolved = match fs::canonicalize(&joined) {
        Ok(p) => p,
        Err(_) => {
            return Err(BundleError::NoRootfs {
                path: config_path.to_path_buf(),
                rootfs: given,
            })
        }
    };
    if !given.is_absolute() && !resolved.starts_with(bundle) {
        return Err(BundleError::RootfsEscapes {
            path: config_path.to_path_buf(),
            rootfs: given,
            resolved,
            bundle: bundle.to_path_buf(),
        });
    }
    if !resolved.is_dir() {
        return Err(BundleError::RootfsNotDir {
            path: config_path.to_path_buf(),
            rootfs: given,
        });
    }
    Ok(resolved)
}

/// Parses a process JSON (`exec --process FILE`) with the same bounded, field-naming errors;
/// unknown capabilities are dropped and returned, as [`parse_lenient`] does.
#[allow(clippy::type_complexity)]
pub fn load_process(
    path: &Path,
) -> Result<
    (
        serde_json::Value,
        libcontainer::oci_spec::runtime::Process,
        Vec<String>,
    ),
    BundleError,
> {
    let bytes = read_config(path)?;
    let mut raw: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| json_error(path, e))?;
    let ignored = drop_unknown_capabilities(&mut raw);
    // runc reads the file into Go's specs.Process, whose zero user is uid 0, gid 0; the
    // container's profile then judges that user like any other
    if let Some(p) = raw.as_object_mut() {
        p.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    let process = typed(&raw).map_err(|e| BundleError::Field {
        path: path.to_path_buf(),
        field: e.field,
        msg: e.msg,
    })?;
    Ok((raw, process, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}]},
            "x-unknown": {"kept": true}
        })
    }

    fn write_bundle(v: &serde_json::Value) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("rootfs")).unwrap();
        fs::write(d.path().join("config.json"), serde_json::to_vec(v).unwrap()).unwrap();
        d
    }

    #[test]
    fn unknown_capabilities_are_dropped_and_named_once() {
        let mut p = serde_json::json!({"capabilities": {
            "bounding": ["CAP_KILL", "CAP_UNKNOWN", "CAP_ZZZ"],
            "effective": ["CAP_UNKNOWN", "CAP_CHOWN"],
            "ambient": [],
        }});
        assert_eq!(
            drop_unknown_capabilities(&mut p),
            ["CAP_UNKNOWN", "CAP_ZZZ"]
        );
        assert_eq!(
            p["capabilities"],
            serde_json::json!({"bounding": ["CAP_KILL"], "effective": ["CAP_CHOWN"], "ambient": []})
        );
        // every name the kernel knows is kept, whatever its spelling in runc's table
        let mut p = serde_json::json!({"capabilities": {"bounding": [
            "CAP_SYS_ADMIN", "CAP_BPF", "CAP_PERFMON", "CAP_CHECKPOINT_RESTORE", "CAP_AUDIT_READ"
        ]}});
        assert!(drop_unknown_capabilities(&mut p).is_empty());
        assert!(drop_unknown_capabilities(&mut serde_json::json!({"args": ["sh"]})).is_empty());

        let mut v = minimal();
        v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_UNKNOWN"]});
        let d = write_bundle(&v);
        let b = load(d.path()).unwrap();
        assert_eq!(b.ignored_caps, ["CAP_UNKNOWN"]);
        assert_eq!(
            b.raw["process"]["capabilities"]["bounding"],
            serde_json::json!([])
        );
    }

    #[test]
    fn loads_and_keeps_unknown_fields() {
        let d = write_bundle(&minimal());
        let b = load(d.path()).unwrap();
        assert_eq!(b.raw["x-unknown"]["kept"], true);
        assert_eq!(b.rootfs, fs::canonicalize(d.path().join("rootfs")).unwrap());
    }

    #[test]
    fn errors_name_file_and_field() {
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (
                serde_json::json!([1]),
                "(top level): expected a JSON object",
            ),
            (
                {
                    let mut v = minimal();
                    v["process"]["user"]["uid"] = "root".into();
                    v
                },
                "field process.user.uid:",
            ),
            (
                {
                    let mut v = minimal();
                    v["ociVersion"] = "2.0.0".into();
                    v
                },
                "field ociVersion: unsupported version",
            ),
            (
                {
                    let mut v = minimal();
                    v.as_object_mut().unwrap().remove("root");
                    v
                },
                "field root.path: missing",
            ),
            (
                {
                    let mut v = minimal();
                    v["root"]["path"] = "nope".into();
                    v
                },
                "rootfs nope does not exist",
            ),
        ];
        for (value, want) in cases {
            let d = write_bundle(&value);
            let err = load(d.path()).unwrap_err().to_string();
            assert!(err.contains(want), "{err} does not contain {want}");
            assert!(err.contains("config.json"), "{err}");
        }
    }

    #[test]
    fn syntax_error_has_position() {
        let d = tempfile::tempdir().unwrap();
        fs::write(
            d.path().join("config.json"),
            "{\n  \"ociVersion\": \"1.0.2\",\n  oops\n}",
        )
        .unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(err.contains("invalid JSON at line 3 column"), "{err}");
    }

    #[test]
    fn rootfs_symlink_escaping_bundle_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let mut v = minimal();
        v["root"]["path"] = "link".into();
        let d = write_bundle(&v);
        std::os::unix::fs::symlink(outside.path(), d.path().join("link")).unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(err.contains("outside the bundle"), "{err}");
        // ../ escapes too
        let mut v = minimal();
        v["root"]["path"] = "../".into();
        let d = write_bundle(&v);
        let err = load(d.path()).unwrap_err().to_string();
        assert!(err.contains("outside the bundle"), "{err}");
    }

    #[test]
    fn oversized_config_is_refused_before_parsing() {
        let d = tempfile::tempdir().unwrap();
        let big = vec![b' '; (MAX_CONFIG_BYTES + 10) as usize];
        fs::write(d.path().join("config.json"), big).unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn spec_files_and_staged_specs_are_read_as_bundles_are() {
        let d = tempfile::tempdir().unwrap();
        // a spec file alone: no rootfs needed, unknown capabilities dropped
        let file = d.path().join("spec.json");
        let mut v = minimal();
        v["root"]["path"] = "no-such-rootfs".into();
        v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_UNKNOWN"]});
        fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
        let raw = load_spec_file(&file).unwrap();
        assert_eq!(
            raw["process"]["capabilities"]["bounding"],
            serde_json::json!([])
        );
        // a missing file is a read error naming it (what `check --spec` has always said)
        let err = load_spec_file(&d.path().join("none.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "cannot read {}: ",
                d.path().join("none.json").display()
            )),
            "{err}"
        );
        // validated
        v["ociVersion"] = "0.9".into();
        fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
        let err = load_spec_file(&file).unwrap_err().to_string();
        assert!(err.contains("spec.json: field ociVersion"), "{err}");
        // bounded
        fs::write(&file, vec![b' '; (MAX_CONFIG_BYTES + 1) as usize]).unwrap();
        assert!(load_spec_file(&file)
            .unwrap_err()
            .to_string()
            .contains("larger than"));

        // a container's state directory: the staged spec and the caller's
        let c = d.path().join("c1");
        fs::create_dir_all(c.join("bundle")).unwrap();
        fs::write(
            c.join(STAGED_CONFIG),
            serde_json::to_vec(&minimal()).unwrap(),
        )
        .unwrap();
        let (path, raw) = load_staged(&c).unwrap();
        assert_eq!(path, c.join("bundle/config.json"));
        assert_eq!(raw["x-unknown"]["kept"], true);
        let err = load_staged_original(&c).unwrap_err().to_string();
        assert!(err.contains("config.orig.json"), "{err}");
    }

    #[test]
    fn typed_views_name_the_field() {
        use libcontainer::oci_spec::runtime::Process;
        let e = typed::<Process>(
            &serde_json::json!({"args": ["sh"], "cwd": "/", "user": {"uid": "x", "gid": 0}}),
        )
        .unwrap_err();
        assert_eq!(e.field, "user.uid");
        assert!(
            e.to_string().starts_with("field user.uid: invalid type"),
            "{e}"
        );
        let e = typed::<Process>(&serde_json::json!(1)).unwrap_err();
        assert_eq!(e.field, "(top level)");
    }

    #[test]
    fn missing_bundle_and_config() {
        let err = load(Path::new("/nonexistent/bundle"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "bundle /nonexistent/bundle does not exist");
        let d = tempfile::tempdir().unwrap();
        let err = load(d.path()).unwrap_err().to_string();
        assert!(err.ends_with("config.json does not exist"), "{err}");
    }
}
