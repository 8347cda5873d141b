//! `/etc/hardrun/config.toml`: the default profile, the mode, the audit log, the profile directory.
//!
//! The path comes from `--config`, else `HARDRUN_CONFIG`, else `/etc/hardrun/config.toml`. A
//! missing default file means the built-in defaults; a missing file that was asked for by name is
//! an error. Then the drop-ins: `config.d/*.toml` beside that file (`/etc/hardrun/config.d/` for
//! the default), in lexical order of their names; each key a later file sets replaces the earlier
//! value. Every value remembers where it came from (`hardrun config show`).
//!
//! The name hardrun is invoked as can choose the default profile too (`hardrun-restricted`,
//! `hardrun-baseline`, `hardrun-ci`: containerd's `BinaryName` cannot pass arguments):
//! [`Config::apply_program_name`]. It replaces the configuration's `default_profile`, so
//! `--profile`/`HARDRUN_PROFILE`, and for `exec`/`update` the profile a container was created
//! under, still win.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Catalog, Profile, ProfileError, DEFAULT_PROFILE};

pub const DEFAULT_CONFIG: &str = "/etc/hardrun/config.toml";
pub const DEFAULT_AUDIT_LOG: &str = "/var/log/hardrun/audit.jsonl";
/// The node key the audit log's records are MACed with (created by the first append).
pub const DEFAULT_AUDIT_KEY: &str = "/var/lib/hardrun/audit.key";
/// The drop-in directory's name, beside the configuration file.
pub const DROPIN_DIR: &str = "config.d";

/// `enforce`: profiles act as written; `audit`: every enforce and deny only records (a dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "enforce" => Ok(Mode::Enforce),
            "audit" => Ok(Mode::Audit),
            _ => Err(format!("unknown mode {s:?}: use enforce or audit")),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        })
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub default_profile: Option<String>,
    #[serde(default)]
    pub mode: Option<Mode>,
    /// where decisions are appended; `""` turns the audit log off
    #[serde(default)]
    pub audit_log: Option<String>,
    /// extra and overriding profiles (default: `profiles/` beside the config file)
    #[serde(default)]
    pub profiles_dir: Option<PathBuf>,
    /// rotate the audit log when a record would take it past this size (`100m`; `0`: never)
    #[serde(default)]
    pub audit_max_size: Option<String>,
    /// rotated audit logs kept (`audit.jsonl.1` … `.N`)
    #[serde(default)]
    pub audit_keep: Option<u32>,
    /// the node key of the audit log's MACs (32 bytes, 0600; retired keys in `<path>.retired/`)
    #[serde(default)]
    pub audit_key: Option<String>,
    // evidence and forensics retention (docs/evidence.md): see [`Retention`]
    /// the node's ed25519 key evidence manifests are signed with (32 bytes, 0600)
    #[serde(default)]
    pub evidence_key: Option<String>,
    /// the most bytes of writable files (tmpfs, writable binds, rootfs) one evidence bundle copies
    #[serde(default)]
    pub evidence_max_size: Option<String>,
    /// where `delete` keeps a deleted container's specs, findings and evidence (`""`: nowhere)
    #[serde(default)]
    pub forensics_dir: Option<String>,
    /// how long a deleted container's forensic record is kept (`7d`, `12h`, `30m`, `1s`)
    #[serde(default)]
    pub forensics_retention: Option<String>,
    /// the most bytes all forensic records may take: the oldest are pruned beyond it (`1GiB`)
    #[serde(default)]
    pub forensics_max_size: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// hardrun's built-in default
    Default,
    /// derived from the configuration file's location (`profiles_dir`)
    BesideConfig,
    /// set in this file (the main file or a drop-in)
    File(PathBuf),
    /// the name the binary was invoked as (`hardrun-ci`)
    ProgramName(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("built-in default"),
            Origin::BesideConfig => f.write_str("default: beside the configuration file"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::ProgramName(n) => write!(f, "invoked as {n}"),
        }
    }
}

/// The origin of each configuration key (`default_profile`, `mode`, `audit_log`,
/// `profiles_dir`).
pub type Origins = BTreeMap<&'static str, Origin>;

/// Everything the policy needs from configuration, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// the main configuration file (it may not exist: the default path)
    pub path: PathBuf,
    pub default_profile: String,
    pub mode: Mode,
    pub audit_log: Option<PathBuf>,
    pub audit_rotation: Rotation,
    /// the node key of the audit log (see `audit::key`)
    pub audit_key: PathBuf,
    /// evidence bundles and the forensic records `delete` keeps (see [`Retention`])
    pub retention: Retention,
    pub catalog: Catalog,
}

/// Where a loaded [`Config`] came from (`hardrun config show`).
#[derive(Debug, Clone)]
pub struct Sources {
    /// the files that were read, in order: the main file if it exists, then the drop-ins
    pub files: Vec<PathBuf>,
    /// the profile directory that was read
    pub profiles_dir: PathBuf,
    pub origins: Origins,
}

/// The profile a program name selects: `hardrun-restricted` → restricted, `hardrun-baseline` →
/// baseline, `hardrun-ci` (or `hardrun-ci-runner`) → ci-runner, `hardrun-permissive` →
/// permissive. Any other name (`hardrun`, `runc`, a test binary) selects nothing.
pub fn profile_for_program(argv0: &OsStr) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    match name.strip_prefix("hardrun-")? {
        "restricted" => Some("restricted"),
        "baseline" => Some("baseline"),
        "ci" | "ci-runner" => Some("ci-runner"),
        "permissive" => Some("permissive"),
        _ => None,
    }
}

/// Reads one configuration file; `Ok(None)` when it does not exist and `missing_ok`.
fn read_file(path: &Path, missing_ok: bool) -> Result<Option<ConfigFile>, ProfileError> {
    let file_name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str::<ConfigFile>(&text)
            .map(Some)
            .map_err(|e| super::parse_error(&text, &file_name, &e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => Ok(None),
        Err(e) => Err(ProfileError::Io {
            file: file_name,
            msg: e.to_string(),
        }),
    }
}

/// The drop-ins of a configuration file: `config.d/*.toml` beside it, sorted by name (byte
/// order). A missing directory has none; other names (`x.toml.dpkg-old`, `README`) are ignored.
pub fn dropins(config: &Path) -> Result<Vec<PathBuf>, ProfileError> {
    let dir = config.parent().unwrap_or(Path::new("/")).join(DROPIN_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(ProfileError::Io {
                file: dir.display().to_string(),
                msg: e.to_string(),
            })
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && !p.is_dir())
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

impl Config {
    /// Loads the configuration. `explicit` is `--config` or `HARDRUN_CONFIG`.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ProfileError> {
        Config::load_with_sources(explicit).map(|(c, _)| c)
    }

    /// [`Config::load`], and where each value came from.
    pub fn load_with_sources(explicit: Option<&Path>) -> Result<(Config, Sources), ProfileError> {
        match explicit {
            Some(p) => Config::load_path(p, true),
            None => Config::load_path(Path::new(DEFAULT_CONFIG), false),
        }
    }

    /// Loads the configuration from `path` and its drop-ins. A missing `path` is an error when
    /// `must_exist` (it was named), else the built-in defaults (plus any drop-ins).
    pub fn load_path(path: &Path, must_exist: bool) -> Result<(Config, Sources), ProfileError> {
        let path = path.to_path_buf();
        let mut layers: Vec<(PathBuf, ConfigFile)> = Vec::new();
        if let Some(f) = read_file(&path, !must_exist)? {
            layers.push((path.clone(), f));
        }
        for d in dropins(&path)? {
            // a drop-in that vanished between listing and reading is skipped
            if let Some(f) = read_file(&d, true)? {
                layers.push((d, f));
            }
        }

        // each key: the last file that sets it
        let mut origins = Origins::new();
        let mut merged = ConfigFile::default();
        for (file, f) in &layers {
            let origin = || Origin::File(file.clone());
            if let Some(v) = &f.default_profile {
                merged.default_profile = Some(v.clone());
                origins.insert("default_profile", origin());
            }
            if let Some(v) = f.mode {
                merged.mode = Some(v);
                origins.insert("mode", origin());
            }
            if let Some(v) = &f.audit_log {
                merged.audit_log = Some(v.clone());
                origins.insert("audit_log", origin());
            }
            if let Some(v) = &f.profiles_dir {
                merged.profiles_dir = Some(v.clone());
                origins.insert("profiles_dir", origin());
            }
            if let Some(v) = &f.audit_max_size {
                merged.audit_max_size = Some(v.clone());
                origins.insert("audit_max_size", origin());
            }
            if let Some(v) = f.audit_keep {
                merged.audit_keep = Some(v);
                origins.insert("audit_keep", origin());
            }
            if let Some(v) = &f.audit_key {
                merged.audit_key = Some(v.clone());
                origins.insert("audit_key", origin());
            }
            for (key, value) in Retention::keys(f) {
                if let Some(v) = value {
                    Retention::set(&mut merged, key, v.clone());
                    origins.insert(key, origin());
                }
            }
        }
        for key in [
            "default_profile",
            "mode",
            "audit_log",
            "audit_max_size",
            "audit_keep",
            "audit_key",
        ]
        .into_iter()
        .chain(Retention::KEYS)
        {
            origins.entry(key).or_insert(Origin::Default);
        }
        origins
            .entry("profiles_dir")
            .or_insert(Origin::BesideConfig);
        // errors about a value name the file that set it
        let file_of = |key: &str| match origins.get(key) {
            Some(Origin::File(p)) => p.display().to_string(),
            _ => path.display().to_string(),
        };

        let profiles_dir = merged
            .profiles_dir
            .clone()
            .unwrap_or_else(|| path.parent().unwrap_or(Path::new("/")).join("profiles"));
        let catalog = Catalog::load(Some(&profiles_dir))?;
        let retention = Retention::resolve(&merged, &file_of)?;
        let default_profile = merged
            .default_profile
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
        // a default that names a broken profile file fails the containers that use the default,
        // when they ask (the catalog names the file); those that select another profile go on
        if !catalog.broken.contains_key(&default_profile) {
            catalog
                .get(&default_profile)
                .map_err(|e| ProfileError::Invalid {
                    file: file_of("default_profile"),
                    key: "default_profile".into(),
                    msg: e.to_string(),
                })?;
        }
        let audit_log = match merged.audit_log.as_deref() {
            None => Some(PathBuf::from(DEFAULT_AUDIT_LOG)),
            Some("") => None,
            Some(p) if p.starts_with('/') => Some(PathBuf::from(p)),
            Some(p) => {
                return Err(ProfileError::Invalid {
                    file: file_of("audit_log"),
                    key: "audit_log".into(),
                    msg: format!("{p:?} is not an absolute path"),
                })
            }
        };
        let audit_key = match merged.audit_key.as_deref() {
            None => PathBuf::from(DEFAULT_AUDIT_KEY),
            Some(p) if p.starts_with('/') && !p.ends_with('/') => PathBuf::from(p),
            Some(p) => {
                return Err(ProfileError::Invalid {
                    file: file_of("audit_key"),
                    key: "audit_key".into(),
                    msg: format!("{p:?} is not an absolute file path"),
                })
            }
        };
        let mut audit_rotation = Rotation::default();
        if let Some(size) = merged.audit_max_size.as_deref() {
            audit_rotation.max_bytes =
                super::parse_size(size).map_err(|e| ProfileError::Invalid {
                    file: file_of("audit_max_size"),
                    key: "audit_max_size".into(),
                    msg: e,
                })?;
        }
        if let Some(keep) = merged.audit_keep {
            if keep == 0 {
                return Err(ProfileError::Invalid {
                    file: file_of("audit_keep"),
                    key: "audit_keep".into(),
                    msg: "must be at least 1 (audit_max_size = \"0\" turns rotation off)".into(),
                });
            }
            audit_rotation.keep = keep;
        }
        Ok((
            Config {
                path,
                default_profile,
                mode: merged.mode.unwrap_or_default(),
                audit_log,
                audit_rotation,
                audit_key,
                retention,
                catalog,
            },
            Sources {
                files: layers.into_iter().map(|(p, _)| p).collect(),
                profiles_dir,
                origins,
            },
        ))
    }

    /// Makes the profile that the program name selects (see [`profile_for_program`]) the
    /// default profile. Returns its origin when it did.
    pub fn apply_program_name(&mut self, argv0: &OsStr) -> Option<Origin> {
        let name = profile_for_program(argv0)?;
        // a broken file still counts: its containers fail naming it, rather than silently
        // running under another default
        if !self.catalog.knows(name) {
            return None;
        }
        self.default_profile = name.to_owned();
        let program = Path::new(argv0)
            .file_name()
            .unwrap_or(argv0)
            .to_string_lossy()
            .into_owned();
        Some(Origin::ProgramName(program))
    }

    pub fn profile(&self, name: Option<&str>) -> Result<&Profile, ProfileError> {
        self.catalog.get(name.unwrap_or(&self.default_profile))
    }
}

/// The audit log's rotation (`[audit] rotate_size`, `rotate_keep`). Size-based rotation: when a record would take the log past `max_bytes`, the log becomes
/// `<log>.1` (`.1` → `.2` …, the oldest beyond `keep` removed) and a new log starts with a link
/// record whose `prev` is the hash of the old log's last record, so the chain runs on across
/// files. `max_bytes` 0: never rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_bytes: u64,
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 100 << 20,
            keep: 10,
        }
    }
}

/// The node's ed25519 evidence key (created by the first use).
pub const DEFAULT_EVIDENCE_KEY: &str = "/var/lib/hardrun/evidence.key";
/// Where `delete` keeps what incident response needs after the state directory is gone.
pub const DEFAULT_FORENSICS_DIR: &str = "/var/lib/hardrun/forensics";

/// Evidence bundles and forensic retention (`evidence_key`, `evidence_max_size`,
/// `forensics_dir`, `forensics_retention`, `forensics_max_size`; see docs/evidence.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// the ed25519 key evidence manifests are signed with
    pub evidence_key: PathBuf,
    /// the most bytes of file contents one evidence bundle copies (default 64 MiB)
    pub evidence_max_size: u64,
    /// `None`: `forensics_dir = ""`, delete keeps nothing
    pub forensics_dir: Option<PathBuf>,
    /// how long a forensic record is kept (default 7 days)
    pub forensics_retention: std::time::Duration,
    /// the most bytes all forensic records together may take (default 1 GiB)
    pub forensics_max_size: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            evidence_key: PathBuf::from(DEFAULT_EVIDENCE_KEY),
            evidence_max_size: 64 << 20,
            forensics_dir: Some(PathBuf::from(DEFAULT_FORENSICS_DIR)),
            forensics_retention: std::time::Duration::from_secs(7 * 86400),
            forensics_max_size: 1 << 30,
        }
    }
}

impl Retention {
    pub const KEYS: [&'static str; 5] = [
        "evidence_key",
        "evidence_max_size",
        "forensics_dir",
        "forensics_retention",
        "forensics_max_size",
    ];

    fn keys(f: &ConfigFile) -> [(&'static str, &Option<String>); 5] {
        [
            ("evidence_key", &f.evidence_key),
            ("evidence_max_size", &f.evidence_max_size),
            ("forensics_dir", &f.forensics_dir),
            ("forensics_retention", &f.forensics_retention),
            ("forensics_max_size", &f.forensics_max_size),
        ]
    }

    fn set(merged: &mut ConfigFile, key: &str, v: String) {
        let slot = match key {
            "evidence_key" => &mut merged.evidence_key,
            "evidence_max_size" => &mut merged.evidence_max_size,
            "forensics_dir" => &mut merged.forensics_dir,
            "forensics_retention" => &mut merged.forensics_retention,
            _ => &mut merged.forensics_max_size,
        };
        *slot = Some(v);
    }

    fn resolve(
        merged: &ConfigFile,
        file_of: &dyn Fn(&str) -> String,
    ) -> Result<Retention, ProfileError> {
        let bad = |key: &str, msg: String| ProfileError::Invalid {
            file: file_of(key),
            key: key.into(),
            msg,
        };
        let mut r = Retention::default();
        if let Some(p) = merged.evidence_key.as_deref() {
            if !p.starts_with('/') || p.ends_with('/') {
                return Err(bad(
                    "evidence_key",
                    format!("{p:?} is not an absolute file path"),
                ));
            }
            r.evidence_key = PathBuf::from(p);
        }
        if let Some(s) = merged.evidence_max_size.as_deref() {
            r.evidence_max_size = parse_iec_size(s).map_err(|e| bad("evidence_max_size", e))?;
        }
        match merged.forensics_dir.as_deref() {
            None => {}
            Some("") => r.forensics_dir = None,
            Some(p) if p.starts_with('/') && p != "/" => r.forensics_dir = Some(PathBuf::from(p)),
            Some(p) => {
                return Err(bad(
                    "forensics_dir",
                    format!("{p:?} is not an absolute directory path (\"\" keeps nothing)"),
                ))
            }
        }
        if let Some(s) = merged.forensics_retention.as_deref() {
            r.forensics_retention = parse_age(s).map_err(|e| bad("forensics_retention", e))?;
        }
        if let Some(s) = merged.forensics_max_size.as_deref() {
            r.forensics_max_size = parse_iec_size(s).map_err(|e| bad("forensics_max_size", e))?;
        }
        Ok(r)
    }
}

/// A size: `64m`, `1g`, `1GiB`, `512KiB`, `1048576` (bytes).
pub fn parse_iec_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let t = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('i'))
        .unwrap_or(&lower);
    super::parse_size(t).map_err(|_| format!("{s:?} is not a size (e.g. 64MiB, 1GiB, 512m)"))
}

/// An age: a whole number and a unit, `s`, `m`, `h`, `d` or `w` (`0s`, `90m`, `7d`).
pub fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{s:?} is not a duration (e.g. 7d, 12h, 30m, 1s)");
    let t = s.trim();
    let unit = t.chars().last().ok_or_else(bad)?;
    let n: u64 = t[..t.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        'w' => 7 * 86400,
        _ => return Err(bad()),
    };
    n.checked_mul(mult)
        .map(std::time::Duration::from_secs)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_keys_validate_and_name_file_and_key() {
        let dir = tempdir("retention");
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, "").unwrap();
        assert_eq!(
            Config::load(Some(&cfg)).unwrap().retention,
            Retention::default()
        );
        std::fs::write(
            &cfg,
            "evidence_key = \"/k/e.key\"\nevidence_max_size = \"1MiB\"\nforensics_dir = \"/f\"\n\
             forensics_retention = \"1s\"\nforensics_max_size = \"2k\"\n",
        )
        .unwrap();
        let (c, src) = Config::load_with_sources(Some(&cfg)).unwrap();
        let r = c.retention;
        assert_eq!(r.evidence_key, Path::new("/k/e.key"));
        assert_eq!(r.evidence_max_size, 1 << 20);
        assert_eq!(r.forensics_dir.as_deref(), Some(Path::new("/f")));
        assert_eq!(r.forensics_retention, std::time::Duration::from_secs(1));
        assert_eq!(r.forensics_max_size, 2048);
        assert_eq!(src.origins["forensics_dir"], Origin::File(cfg.clone()));
        std::fs::write(&cfg, "forensics_dir = \"\"\n").unwrap();
        assert_eq!(
            Config::load(Some(&cfg)).unwrap().retention.forensics_dir,
            None
        );
        for (text, want) in [
            (
                "evidence_key = \"e.key\"",
                "evidence_key: \"e.key\" is not an absolute file path",
            ),
            (
                "evidence_max_size = \"lots\"",
                "evidence_max_size: \"lots\" is not a size (e.g. 64MiB, 1GiB, 512m)",
            ),
            (
                "forensics_dir = \"rel\"",
                "forensics_dir: \"rel\" is not an absolute directory path (\"\" keeps nothing)",
            ),
            (
                "forensics_retention = \"7y\"",
                "forensics_retention: \"7y\" is not a duration (e.g. 7d, 12h, 30m, 1s)",
            ),
            (
                "forensics_max_size = \"0\"",
                "forensics_max_size: \"0\" is not a size (e.g. 64MiB, 1GiB, 512m)",
            ),
        ] {
            std::fs::write(&cfg, format!("{text}\n")).unwrap();
            let e = Config::load(Some(&cfg)).unwrap_err().to_string();
            assert_eq!(e, format!("{}: {want}", cfg.display()), "{text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sizes_and_ages() {
        for (s, want) in [
            ("1GiB", Some(1u64 << 30)),
            ("64MiB", Some(64 << 20)),
            ("512m", Some(512 << 20)),
            ("10", Some(10)),
            ("1Ki", Some(1024)),
            ("x", None),
            ("", None),
        ] {
            assert_eq!(parse_iec_size(s).ok(), want, "{s}");
        }
        for (s, want) in [
            ("0s", Some(0u64)),
            ("7d", Some(604800)),
            ("2w", Some(1209600)),
            ("90m", Some(5400)),
            ("1h", Some(3600)),
            ("d", None),
            ("1.5h", None),
            ("", None),
            ("-1s", None),
        ] {
            assert_eq!(parse_age(s).ok().map(|d| d.as_secs()), want, "{s}");
        }
    }

    #[test]
    fn config_file_picks_profile_mode_and_log() {
        let dir = std::env::temp_dir().join(format!("hardrun-cfg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("profiles")).unwrap();
        let cfg = dir.join("config.toml");
        std::fs::write(
            &cfg,
            "default_profile = \"mine\"\nmode = \"audit\"\naudit_log = \"/tmp/a.jsonl\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("profiles/mine.toml"), "name = \"mine\"\n").unwrap();
        let c = Config::load(Some(&cfg)).unwrap();
        assert_eq!(c.default_profile, "mine");
        assert_eq!(c.mode, Mode::Audit);
        assert_eq!(c.audit_log.as_deref(), Some(Path::new("/tmp/a.jsonl")));
        assert_eq!(c.profile(None).unwrap().name, "mine");
        assert_eq!(c.profile(Some("baseline")).unwrap().name, "baseline");

        std::fs::write(&cfg, "default_profile = \"nope\"\n").unwrap();
        let e = Config::load(Some(&cfg)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: default_profile: unknown profile \"nope\"",
                cfg.display()
            )),
            "{e}"
        );
        std::fs::write(&cfg, "mode = \"loud\"\n").unwrap();
        let e = Config::load(Some(&cfg)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:1:8:", cfg.display())), "{e}");
        std::fs::write(&cfg, "audit_key = \"/k/audit.key\"\n").unwrap();
        assert_eq!(
            Config::load(Some(&cfg)).unwrap().audit_key,
            Path::new("/k/audit.key")
        );
        std::fs::write(&cfg, "audit_key = \"audit.key\"\n").unwrap();
        let e = Config::load(Some(&cfg)).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: audit_key: \"audit.key\" is not an absolute file path",
                cfg.display()
            )
        );
        std::fs::write(&cfg, "audit_log = \"\"\n").unwrap();
        assert_eq!(Config::load(Some(&cfg)).unwrap().audit_log, None);
        let e = Config::load(Some(&dir.join("missing.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot read") && e.contains("missing.toml"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hardrun-cfg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn dropins_apply_in_lexical_order_and_record_origins() {
        let dir = tempdir("dropins");
        let cfg = dir.join("config.toml");
        let d = dir.join(DROPIN_DIR);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(&cfg, "default_profile = \"baseline\"\nmode = \"enforce\"\n").unwrap();
        // byte order of the names, not creation order: "10-…" < "20-…" < "9-…"
        std::fs::write(d.join("9-last.toml"), "audit_log = \"/tmp/nine.jsonl\"\n").unwrap();
        std::fs::write(
            d.join("20-audit.toml"),
            "mode = \"audit\"\naudit_log = \"\"\n",
        )
        .unwrap();
        std::fs::write(d.join("10-ci.toml"), "default_profile = \"ci-runner\"\n").unwrap();
        std::fs::write(d.join("ignored.toml.dpkg-old"), "this is not toml").unwrap();
        std::fs::create_dir_all(d.join("sub.toml")).unwrap();
        let (c, src) = Config::load_with_sources(Some(&cfg)).unwrap();
        assert_eq!(
            src.files,
            [
                cfg.clone(),
                d.join("10-ci.toml"),
                d.join("20-audit.toml"),
                d.join("9-last.toml")
            ]
        );
        assert_eq!(c.default_profile, "ci-runner");
        assert_eq!(c.mode, Mode::Audit);
        assert_eq!(c.audit_log.as_deref(), Some(Path::new("/tmp/nine.jsonl")));
        assert_eq!(src.profiles_dir, dir.join("profiles"));
        assert_eq!(
            src.origins["default_profile"],
            Origin::File(d.join("10-ci.toml"))
        );
        assert_eq!(src.origins["mode"], Origin::File(d.join("20-audit.toml")));
        assert_eq!(
            src.origins["audit_log"],
            Origin::File(d.join("9-last.toml"))
        );
        assert_eq!(src.origins["profiles_dir"], Origin::BesideConfig);

        // an error in a drop-in names the drop-in, with line and column
        std::fs::write(d.join("99-bad.toml"), "mode = \"audit\"\nbogus = 1\n").unwrap();
        let e = Config::load(Some(&cfg)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:2:1:", d.join("99-bad.toml").display())),
            "{e}"
        );
        // a bad value names the drop-in that set it
        std::fs::write(d.join("99-bad.toml"), "default_profile = \"nope\"\n").unwrap();
        let e = Config::load(Some(&cfg)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}: default_profile: unknown profile \"nope\"",
                d.join("99-bad.toml").display()
            )),
            "{e}"
        );
        std::fs::write(d.join("99-bad.toml"), "audit_log = \"rel.jsonl\"\n").unwrap();
        let e = Config::load(Some(&cfg)).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: audit_log: \"rel.jsonl\" is not an absolute path",
                d.join("99-bad.toml").display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_main_file_still_reads_dropins_when_not_named() {
        // the default path may be absent (the package's file removed): drop-ins still count
        let dir = tempdir("nomain");
        let cfg = dir.join("config.toml");
        std::fs::create_dir_all(dir.join(DROPIN_DIR)).unwrap();
        std::fs::write(dir.join(DROPIN_DIR).join("a.toml"), "mode = \"audit\"\n").unwrap();
        let (c, src) = Config::load_path(&cfg, false).unwrap();
        assert_eq!(src.files, [dir.join(DROPIN_DIR).join("a.toml")]);
        assert_eq!(c.mode, Mode::Audit);
        assert_eq!(
            src.origins["mode"],
            Origin::File(dir.join(DROPIN_DIR).join("a.toml"))
        );
        assert_eq!(c.default_profile, "restricted");
        // named explicitly and missing: an error, even with drop-ins present
        let e = Config::load(Some(&cfg)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("cannot read {}", cfg.display())),
            "{e}"
        );
        std::fs::write(&cfg, "").unwrap();
        let (c, src) = Config::load_with_sources(Some(&cfg)).unwrap();
        assert_eq!(c.mode, Mode::Audit);
        assert_eq!(c.default_profile, "restricted");
        assert_eq!(src.origins["default_profile"], Origin::Default);
        assert_eq!(c.audit_log.as_deref(), Some(Path::new(DEFAULT_AUDIT_LOG)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn program_name_picks_the_default_profile() {
        for (argv0, want) in [
            ("hardrun-restricted", Some("restricted")),
            ("/usr/bin/hardrun-baseline", Some("baseline")),
            ("/usr/bin/hardrun-ci", Some("ci-runner")),
            ("hardrun-ci-runner", Some("ci-runner")),
            ("hardrun-permissive", Some("permissive")),
            ("/usr/bin/hardrun", None),
            ("hardrun-gen", None),
            ("hardrun-1a2b3c4d", None),
            ("runc", None),
            ("/opt/hardrun-ci/bin/hardrun", None),
        ] {
            assert_eq!(profile_for_program(OsStr::new(argv0)), want, "{argv0}");
        }
        let dir = tempdir("argv0");
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, "default_profile = \"baseline\"\n").unwrap();
        let mut c = Config::load(Some(&cfg)).unwrap();
        assert_eq!(c.apply_program_name(OsStr::new("/usr/bin/hardrun")), None);
        assert_eq!(c.default_profile, "baseline");
        assert_eq!(
            c.apply_program_name(OsStr::new("/usr/bin/hardrun-ci")),
            Some(Origin::ProgramName("hardrun-ci".into()))
        );
        assert_eq!(c.default_profile, "ci-runner");
        // an explicit --profile still wins over the program name
        assert_eq!(c.profile(Some("baseline")).unwrap().name, "baseline");
        assert_eq!(c.profile(None).unwrap().name, "ci-runner");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The package's /etc/hardrun/config.toml is all comments: it loads as the built-in
    /// defaults, and each commented line, uncommented, is a valid setting of that default.
    #[test]
    fn packaged_config_is_the_defaults() {
        let text = include_str!("../../packaging/config.toml");
        let f: ConfigFile = toml::from_str(text).unwrap();
        assert!(f.default_profile.is_none() && f.mode.is_none() && f.audit_log.is_none());
        let settings: String = text
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| l.contains(" = \"") && !l.starts_with(' '))
            .map(|l| format!("{l}\n"))
            .collect();
        let f: ConfigFile = toml::from_str(&settings).unwrap_or_else(|e| panic!("{e}\n{settings}"));
        assert_eq!(f.default_profile.as_deref(), Some(DEFAULT_PROFILE));
        assert_eq!(f.mode, Some(Mode::Enforce));
        assert_eq!(f.audit_log.as_deref(), Some(DEFAULT_AUDIT_LOG));
        assert_eq!(f.audit_key.as_deref(), Some(DEFAULT_AUDIT_KEY));
        assert_eq!(
            f.profiles_dir.as_deref(),
            Some(Path::new("/etc/hardrun/profiles"))
        );
    }
}
