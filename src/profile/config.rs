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
/// Where incidents are kept (`incidents_dir`), one JSON file each.
pub const DEFAULT_INCIDENTS_DIR: &str = "/var/lib/hardrun/incidents";
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
    /// the incident store (`hardrun incident`, isolate, the monitor): one JSON file per incident
    #[serde(default)]
    pub incidents_dir: Option<String>,
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
    /// how long the record of a container whose profile names the `gdpr` pack is kept at most
    /// (default `72h`; shorter than `forensics_retention` wins)
    #[serde(default)]
    pub forensics_retention_gdpr: Option<String>,
    /// the most bytes all forensic records may take: the oldest are pruned beyond it (`1GiB`)
    #[serde(default)]
    pub forensics_max_size: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    /// `[monitor]`: the sinks of `hardrun monitor` (see [`MonitorFile`])
    #[serde(default)]
    pub monitor: Option<MonitorFile>,
    /// where scanners' reports are kept (the `image-scan` rule; docs/scanning.md)
    #[serde(default)]
    pub scan_reports_dir: Option<String>,
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
    /// the incident store (see `incident::store`)
    pub incidents_dir: PathBuf,
    /// evidence bundles and the forensic records `delete` keeps (see [`Retention`])
    pub retention: Retention,
    pub catalog: Catalog,
    /// `[monitor]`: the monitor's sinks (flags of `hardrun monitor` override them)
    pub monitor: MonitorConfig,
    /// scanners' reports and their index (see `scan`)
    pub scan_reports_dir: PathBuf,
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
        let mut merged_monitor = MonitorFile::default();
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
            if let Some(v) = &f.incidents_dir {
                merged.incidents_dir = Some(v.clone());
                origins.insert("incidents_dir", origin());
            }
            if let Some(v) = &f.scan_reports_dir {
                merged.scan_reports_dir = Some(v.clone());
                origins.insert("scan_reports_dir", origin());
            }
            if let Some(m) = &f.monitor {
                merge_monitor(&mut merged_monitor, m, &mut origins, origin());
            }
            for (key, value) in Retention::keys(f) {
                if let Some(v) = value {
                    Retention::set(&mut merged, key, v.clone());
                    origins.insert(key, origin());
                }
            }
        }
        for key in MONITOR_KEYS {
            origins.entry(key).or_insert(Origin::Default);
        }
        for key in [
            "default_profile",
            "mode",
            "audit_log",
            "audit_max_size",
            "audit_keep",
            "audit_key",
            "incidents_dir",
            "scan_reports_dir",
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
        let incidents_dir = match merged.incidents_dir.as_deref() {
            None => PathBuf::from(DEFAULT_INCIDENTS_DIR),
            Some(p) if p.starts_with('/') => PathBuf::from(p),
            Some(p) => {
                return Err(ProfileError::Invalid {
                    file: file_of("incidents_dir"),
                    key: "incidents_dir".into(),
                    msg: format!("{p:?} is not an absolute path"),
                })
            }
        };
        let scan_reports_dir = match merged.scan_reports_dir.as_deref() {
            None => PathBuf::from(crate::scan::DEFAULT_DIR),
            Some(p) if p.starts_with('/') => PathBuf::from(p),
            Some(p) => {
                return Err(ProfileError::Invalid {
                    file: file_of("scan_reports_dir"),
                    key: "scan_reports_dir".into(),
                    msg: format!("{p:?} is not an absolute path"),
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
        let monitor = MonitorConfig::resolve(&merged_monitor).map_err(|(key, msg)| {
            ProfileError::Invalid {
                file: file_of(key),
                key: key.into(),
                msg,
            }
        })?;
        Ok((
            Config {
                path,
                default_profile,
                mode: merged.mode.unwrap_or_default(),
                audit_log,
                audit_rotation,
                audit_key,
                incidents_dir,
                retention,
                catalog,
                monitor,
                scan_reports_dir,
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

// ---- [monitor]: the monitor's sinks (issue 15) -------------------------------------------------

/// The keys of `[monitor]`, as `hardrun config show` names them.
pub const MONITOR_KEYS: [&str; 8] = [
    "monitor.alertmanager",
    "monitor.webhook",
    "monitor.syslog",
    "monitor.syslog_socket",
    "monitor.syslog_facility",
    "monitor.events_file",
    "monitor.alert_window",
    "monitor.queue",
];

/// `[monitor]` as written in a file; each key a later file sets replaces the earlier value.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MonitorFile {
    /// Alertmanager's base URL (`http://127.0.0.1:9093`); `""`: none
    #[serde(default)]
    pub alertmanager: Option<String>,
    /// a URL each event is POSTed to as JSON; `""`: none
    #[serde(default)]
    pub webhook: Option<String>,
    /// send each event to syslog (RFC 5424)
    #[serde(default)]
    pub syslog: Option<bool>,
    /// the syslog socket (a unix datagram socket; default `/dev/log`)
    #[serde(default)]
    pub syslog_socket: Option<String>,
    /// the syslog facility by name (default `authpriv`)
    #[serde(default)]
    pub syslog_facility: Option<String>,
    /// append each event as one JSON line to this file (0600); `""`: none
    #[serde(default)]
    pub events_file: Option<String>,
    /// Alertmanager's batching windows: `high=1h,medium=4h,low=24h` (any subset)
    #[serde(default)]
    pub alert_window: Option<String>,
    /// the queue of each network sink (events waiting to be sent; more are dropped and counted)
    #[serde(default)]
    pub queue: Option<u64>,
    /// https sinks: the CA certificates (PEM) their servers' certificates must chain to
    /// (default: the system bundle, /etc/ssl/certs/ca-certificates.crt)
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// https sinks: a client certificate chain (PEM) for servers that ask for one (mutual TLS)
    #[serde(default)]
    pub tls_cert_file: Option<String>,
    /// https sinks: the client certificate's private key (PEM; keep it 0600)
    #[serde(default)]
    pub tls_key_file: Option<String>,
}

fn merge_monitor(into: &mut MonitorFile, f: &MonitorFile, origins: &mut Origins, o: Origin) {
    macro_rules! take {
        ($field:ident, $key:literal) => {
            if let Some(v) = &f.$field {
                into.$field = Some(v.clone());
                origins.insert($key, o.clone());
            }
        };
    }
    take!(alertmanager, "monitor.alertmanager");
    take!(webhook, "monitor.webhook");
    take!(syslog, "monitor.syslog");
    take!(syslog_socket, "monitor.syslog_socket");
    take!(syslog_facility, "monitor.syslog_facility");
    take!(events_file, "monitor.events_file");
    take!(alert_window, "monitor.alert_window");
    take!(queue, "monitor.queue");
    take!(tls_ca_file, "monitor.tls_ca_file");
    take!(tls_cert_file, "monitor.tls_cert_file");
    take!(tls_key_file, "monitor.tls_key_file");
}

/// Alertmanager's batching windows: critical events go at once; each lower severity is collected
/// from its first event for its window, then sent as one batch. A zero window sends at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertWindows {
    pub high: std::time::Duration,
    pub medium: std::time::Duration,
    pub low: std::time::Duration,
}

impl Default for AlertWindows {
    fn default() -> Self {
        let h = |n: u64| std::time::Duration::from_secs(n * 3600);
        AlertWindows {
            high: h(1),
            medium: h(4),
            low: h(24),
        }
    }
}

impl std::fmt::Display for AlertWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "high={},medium={},low={}",
            format_window(self.high),
            format_window(self.medium),
            format_window(self.low)
        )
    }
}

/// A window: a whole number of `ms`, `s`, `m`, `h` or `d` (`90s`, `1h`, `0s`).
pub fn parse_window(s: &str) -> Result<std::time::Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (a number and ms, s, m, h or d: 90s, 1h)"))?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "{s:?} is not a duration (a number and ms, s, m, h or d: 90s, 1h)"
            ))
        }
    };
    n.checked_mul(ms)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| format!("{s:?} is too long"))
}

fn format_window(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    for (unit, n) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= n && ms % n == 0 {
            return format!("{}{unit}", ms / n);
        }
    }
    if ms == 0 {
        "0s".into()
    } else {
        format!("{ms}ms")
    }
}

/// `high=1h,medium=4h,low=24h`, any subset, applied over `base`.
pub fn parse_windows(s: &str, base: AlertWindows) -> Result<AlertWindows, String> {
    let mut w = base;
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (sev, d) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected SEVERITY=DURATION (high=1h)"))?;
        let d = parse_window(d.trim())?;
        match sev.trim() {
            "high" => w.high = d,
            "medium" => w.medium = d,
            "low" => w.low = d,
            other => {
                return Err(format!(
                    "unknown severity {other:?}: windows are for high, medium and low (critical goes at once)"
                ))
            }
        }
    }
    Ok(w)
}

/// The syslog facilities by name (RFC 5424 section 6.2.1).
pub const SYSLOG_FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

pub fn parse_facility(s: &str) -> Result<u8, String> {
    SYSLOG_FACILITIES
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            let names: Vec<&str> = SYSLOG_FACILITIES.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown syslog facility {s:?} (known: {})",
                names.join(", ")
            )
        })
}

pub fn facility_name(f: u8) -> &'static str {
    SYSLOG_FACILITIES
        .iter()
        .find(|(_, n)| *n == f)
        .map_or("?", |(n, _)| n)
}

/// An `http://` or `https://HOST[:PORT][/PATH]` URL (see `monitor::sinks::http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `host` or `[v6]`, as written
    pub host: String,
    pub port: u16,
    /// starts with `/`
    pub path: String,
    /// `https://`: over TLS
    pub tls: bool,
}

impl HttpUrl {
    pub fn parse(s: &str) -> Result<HttpUrl, String> {
        let (rest, tls) = if s
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
        {
            (&s[8..], true)
        } else if s
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
        {
            (&s[7..], false)
        } else {
            return Err(format!("{s:?} is not an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(format!("{s:?}: credentials in the URL are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: unclosed [ in the host"))?;
            (format!("[{h}]"), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(format!("{s:?}: no host"));
        }
        let port = match port {
            None if tls => 443,
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{s:?}: bad port {p:?}"))?,
        };
        if path
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        {
            return Err(format!(
                "{s:?}: the path holds spaces or control characters"
            ));
        }
        Ok(HttpUrl {
            host,
            port,
            path: path.to_owned(),
            tls,
        })
    }

    /// `host:port`, for `Host:` and for resolving
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// `[monitor]`, resolved and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    pub alertmanager: Option<String>,
    pub webhook: Option<String>,
    pub syslog: bool,
    pub syslog_socket: PathBuf,
    /// the facility's number (authpriv: 10)
    pub syslog_facility: u8,
    pub events_file: Option<PathBuf>,
    pub windows: AlertWindows,
    /// each network sink's queue
    pub queue: usize,
    /// https sinks: CA bundle (`None`: the system's), client certificate and key
    pub tls_ca_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
}

pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";
/// authpriv: security events name containers, processes and files; Debian's rsyslog writes this
/// facility to /var/log/auth.log, which only root and adm read
pub const DEFAULT_SYSLOG_FACILITY: u8 = 10;
pub const DEFAULT_SINK_QUEUE: usize = 1000;

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            alertmanager: None,
            webhook: None,
            syslog: false,
            syslog_socket: PathBuf::from(DEFAULT_SYSLOG_SOCKET),
            syslog_facility: DEFAULT_SYSLOG_FACILITY,
            events_file: None,
            windows: AlertWindows::default(),
            queue: DEFAULT_SINK_QUEUE,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// A URL key: `""` is none; else an http:// or https:// URL.
pub fn check_url(s: &str) -> Result<Option<String>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    HttpUrl::parse(s).map(|_| Some(s.to_owned()))
}

impl MonitorConfig {
    /// Checks the merged section; an error names its key.
    pub fn resolve(f: &MonitorFile) -> Result<MonitorConfig, (&'static str, String)> {
        let mut c = MonitorConfig::default();
        if let Some(u) = &f.alertmanager {
            c.alertmanager = check_url(u).map_err(|e| ("monitor.alertmanager", e))?;
        }
        if let Some(u) = &f.webhook {
            c.webhook = check_url(u).map_err(|e| ("monitor.webhook", e))?;
        }
        c.syslog = f.syslog.unwrap_or(false);
        if let Some(p) = &f.syslog_socket {
            if !p.starts_with('/') {
                return Err((
                    "monitor.syslog_socket",
                    format!("{p:?} is not an absolute path"),
                ));
            }
            c.syslog_socket = PathBuf::from(p);
        }
        if let Some(n) = &f.syslog_facility {
            c.syslog_facility = parse_facility(n).map_err(|e| ("monitor.syslog_facility", e))?;
        }
        match f.events_file.as_deref() {
            None | Some("") => {}
            Some(p) if p.starts_with('/') && !p.ends_with('/') => {
                c.events_file = Some(PathBuf::from(p))
            }
            Some(p) => {
                return Err((
                    "monitor.events_file",
                    format!("{p:?} is not an absolute file path"),
                ))
            }
        }
        if let Some(w) = &f.alert_window {
            c.windows = parse_windows(w, c.windows).map_err(|e| ("monitor.alert_window", e))?;
        }
        if let Some(q) = f.queue {
            c.queue = usize::try_from(q)
                .ok()
                .filter(|q| (1..=1_000_000).contains(q))
                .ok_or(("monitor.queue", format!("{q}: must be 1 to 1000000")))?;
        }
        let file = |v: &Option<String>, key: &'static str| match v.as_deref() {
            None | Some("") => Ok(None),
            Some(p) if p.starts_with('/') && !p.ends_with('/') => Ok(Some(PathBuf::from(p))),
            Some(p) => Err((key, format!("{p:?} is not an absolute file path"))),
        };
        c.tls_ca_file = file(&f.tls_ca_file, "monitor.tls_ca_file")?;
        c.tls_cert_file = file(&f.tls_cert_file, "monitor.tls_cert_file")?;
        c.tls_key_file = file(&f.tls_key_file, "monitor.tls_key_file")?;
        match (&c.tls_cert_file, &c.tls_key_file) {
            // named by the key that is set, so the error names the file that set it
            (Some(_), None) => {
                return Err((
                    "monitor.tls_cert_file",
                    "set without monitor.tls_key_file (the client certificate's private key)"
                        .into(),
                ))
            }
            (None, Some(_)) => {
                return Err((
                    "monitor.tls_key_file",
                    "set without monitor.tls_cert_file (the certificate the key belongs to)".into(),
                ))
            }
            _ => {}
        }
        Ok(c)
    }

    /// The values as `hardrun config show` prints them (JSON values: strings, a bool, a number).
    pub fn values(&self) -> [(&'static str, serde_json::Value); 11] {
        use serde_json::json;
        let path = |p: &Option<PathBuf>| {
            json!(p
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default())
        };
        [
            (
                "monitor.alertmanager",
                json!(self.alertmanager.as_deref().unwrap_or("")),
            ),
            (
                "monitor.webhook",
                json!(self.webhook.as_deref().unwrap_or("")),
            ),
            ("monitor.syslog", json!(self.syslog)),
            (
                "monitor.syslog_socket",
                json!(self.syslog_socket.display().to_string()),
            ),
            (
                "monitor.syslog_facility",
                json!(facility_name(self.syslog_facility)),
            ),
            ("monitor.events_file", path(&self.events_file)),
            ("monitor.alert_window", json!(self.windows.to_string())),
            ("monitor.queue", json!(self.queue)),
            ("monitor.tls_ca_file", path(&self.tls_ca_file)),
            ("monitor.tls_cert_file", path(&self.tls_cert_file)),
            ("monitor.tls_key_file", path(&self.tls_key_file)),
        ]
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
/// How long a `gdpr` profile's forensic record is kept at most: 72 hours.
pub const DEFAULT_FORENSICS_RETENTION_GDPR: std::time::Duration =
    std::time::Duration::from_secs(72 * 3600);

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
    /// how long, at most, the record of a container under a `regulatory = ["gdpr"]` profile is
    /// kept (default 72 h: GDPR art. 33's window to notify a breach; art. 5(1)(e) storage
    /// limitation for what may be personal data in its spec)
    pub forensics_retention_gdpr: std::time::Duration,
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
            forensics_retention_gdpr: DEFAULT_FORENSICS_RETENTION_GDPR,
            forensics_max_size: 1 << 30,
        }
    }
}

impl Retention {
    pub const KEYS: [&'static str; 6] = [
        "evidence_key",
        "evidence_max_size",
        "forensics_dir",
        "forensics_retention",
        "forensics_retention_gdpr",
        "forensics_max_size",
    ];

    fn keys(f: &ConfigFile) -> [(&'static str, &Option<String>); 6] {
        [
            ("evidence_key", &f.evidence_key),
            ("evidence_max_size", &f.evidence_max_size),
            ("forensics_dir", &f.forensics_dir),
            ("forensics_retention", &f.forensics_retention),
            ("forensics_retention_gdpr", &f.forensics_retention_gdpr),
            ("forensics_max_size", &f.forensics_max_size),
        ]
    }

    fn set(merged: &mut ConfigFile, key: &str, v: String) {
        let slot = match key {
            "evidence_key" => &mut merged.evidence_key,
            "evidence_max_size" => &mut merged.evidence_max_size,
            "forensics_dir" => &mut merged.forensics_dir,
            "forensics_retention" => &mut merged.forensics_retention,
            "forensics_retention_gdpr" => &mut merged.forensics_retention_gdpr,
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
        if let Some(s) = merged.forensics_retention_gdpr.as_deref() {
            r.forensics_retention_gdpr =
                parse_age(s).map_err(|e| bad("forensics_retention_gdpr", e))?;
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
             forensics_retention = \"1s\"\nforensics_max_size = \"2k\"\n\
             forensics_retention_gdpr = \"12h\"\n",
        )
        .unwrap();
        let (c, src) = Config::load_with_sources(Some(&cfg)).unwrap();
        let r = c.retention;
        assert_eq!(r.evidence_key, Path::new("/k/e.key"));
        assert_eq!(r.evidence_max_size, 1 << 20);
        assert_eq!(r.forensics_dir.as_deref(), Some(Path::new("/f")));
        assert_eq!(r.forensics_retention, std::time::Duration::from_secs(1));
        assert_eq!(r.forensics_max_size, 2048);
        assert_eq!(
            r.forensics_retention_gdpr,
            std::time::Duration::from_secs(12 * 3600)
        );
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
                "forensics_retention_gdpr = \"3 days\"",
                "forensics_retention_gdpr: \"3 days\" is not a duration (e.g. 7d, 12h, 30m, 1s)",
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

    #[test]
    fn monitor_section_merges_validates_and_names_file_and_key() {
        let dir = tempdir("monitor");
        let cfg = dir.join("config.toml");
        let d = dir.join(DROPIN_DIR);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            &cfg,
            "[monitor]\nalertmanager = \"http://127.0.0.1:9093\"\nsyslog = true\nalert_window = \"low=30s\"\n",
        )
        .unwrap();
        std::fs::write(
            d.join("10-hook.toml"),
            "[monitor]\nwebhook = \"http://[::1]:8080/hook\"\nqueue = 5\n",
        )
        .unwrap();
        let (c, src) = Config::load_with_sources(Some(&cfg)).unwrap();
        assert_eq!(
            c.monitor.alertmanager.as_deref(),
            Some("http://127.0.0.1:9093")
        );
        assert_eq!(c.monitor.webhook.as_deref(), Some("http://[::1]:8080/hook"));
        assert!(c.monitor.syslog);
        assert_eq!(c.monitor.queue, 5);
        assert_eq!(c.monitor.syslog_facility, DEFAULT_SYSLOG_FACILITY);
        assert_eq!(c.monitor.windows.low, std::time::Duration::from_secs(30));
        assert_eq!(c.monitor.windows.high, std::time::Duration::from_secs(3600));
        assert_eq!(
            src.origins["monitor.webhook"],
            Origin::File(d.join("10-hook.toml"))
        );
        assert_eq!(src.origins["monitor.syslog"], Origin::File(cfg.clone()));
        assert_eq!(src.origins["monitor.events_file"], Origin::Default);

        for (text, key, msg) in [
            (
                "tls_cert_file = \"/etc/hardrun/client.pem\"",
                "monitor.tls_cert_file",
                "set without monitor.tls_key_file",
            ),
            (
                "tls_ca_file = \"ca.pem\"",
                "monitor.tls_ca_file",
                "\"ca.pem\" is not an absolute file path",
            ),
            (
                "webhook = \"ftp://x\"",
                "monitor.webhook",
                "is not an http:// or https:// URL",
            ),
            (
                "webhook = \"http://h:99999/\"",
                "monitor.webhook",
                "bad port",
            ),
            (
                "syslog_facility = \"loud\"",
                "monitor.syslog_facility",
                "unknown syslog facility \"loud\"",
            ),
            (
                "events_file = \"events.jsonl\"",
                "monitor.events_file",
                "not an absolute file path",
            ),
            (
                "alert_window = \"critical=1s\"",
                "monitor.alert_window",
                "unknown severity \"critical\"",
            ),
            (
                "alert_window = \"low=1y\"",
                "monitor.alert_window",
                "is not a duration",
            ),
            ("queue = 0", "monitor.queue", "must be 1 to 1000000"),
        ] {
            std::fs::write(d.join("20-bad.toml"), format!("[monitor]\n{text}\n")).unwrap();
            let e = Config::load(Some(&cfg)).unwrap_err().to_string();
            let want = format!("{}: {key}: ", d.join("20-bad.toml").display());
            assert!(e.starts_with(&want) && e.contains(msg), "{text}: {e}");
        }
        // an unknown key in the section names its line
        std::fs::write(d.join("20-bad.toml"), "[monitor]\nalertmanger = \"x\"\n").unwrap();
        let e = Config::load(Some(&cfg)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:2:1:", d.join("20-bad.toml").display())),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn windows_and_urls_parse() {
        let w = parse_windows("high=90s, low=2d", AlertWindows::default()).unwrap();
        assert_eq!(w.high, std::time::Duration::from_secs(90));
        assert_eq!(w.medium, std::time::Duration::from_secs(4 * 3600));
        assert_eq!(w.to_string(), "high=90s,medium=4h,low=2d");
        assert_eq!(
            parse_windows(&w.to_string(), AlertWindows::default()).unwrap(),
            w
        );
        assert_eq!(parse_window("0s").unwrap(), std::time::Duration::ZERO);
        assert_eq!(
            parse_window("250ms").unwrap(),
            std::time::Duration::from_millis(250)
        );
        for bad in ["", "1", "h", "-1s", "1.5h"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
        for (url, host, port, path, tls) in [
            ("http://127.0.0.1:9093", "127.0.0.1", 9093, "/", false),
            (
                "http://localhost/hook?x=1",
                "localhost",
                80,
                "/hook?x=1",
                false,
            ),
            ("HTTP://[::1]:8080/a/b", "[::1]", 8080, "/a/b", false),
            ("https://am.example.com", "am.example.com", 443, "/", true),
            (
                "HTTPS://hooks.example:8443/x",
                "hooks.example",
                8443,
                "/x",
                true,
            ),
        ] {
            let u = HttpUrl::parse(url).unwrap();
            assert_eq!(
                (u.host.as_str(), u.port, u.path.as_str(), u.tls),
                (host, port, path, tls),
                "{url}"
            );
        }
        for bad in [
            "https://",
            "httpx://h",
            "x:80",
            "http://",
            "http://:80/",
            "http://u:p@h/",
            "http://h:0/",
            "http://h/a b",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
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
