//! `/etc/hardrun/config.toml`: the default profile, the mode, the audit log, the profile directory.
//!
//! The path comes from `--config`, else `HARDRUN_CONFIG`, else `/etc/hardrun/config.toml`. A
//! missing default file means the built-in defaults; a missing file that was asked for by name is
//! an error.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Catalog, Profile, ProfileError, DEFAULT_PROFILE};

pub const DEFAULT_CONFIG: &str = "/etc/hardrun/config.toml";
pub const DEFAULT_AUDIT_LOG: &str = "/var/log/hardrun/audit.jsonl";

/// `enforce`: profiles act as written; `audit`: every enforce and deny only records (a dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
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

#[derive(Debug, Clone, Deserialize)]
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
    #[serde(default)]
    pub comment: Option<String>,
}

/// Everything the policy needs from configuration, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub default_profile: String,
    pub mode: Mode,
    pub audit_log: Option<PathBuf>,
    pub catalog: Catalog,
}

impl Config {
    /// Loads the configuration. `explicit` is `--config` or `HARDRUN_CONFIG`.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ProfileError> {
        let path = explicit
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        let file_name = path.display().to_string();
        let parsed = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<ConfigFile>(&text)
                .map_err(|e| super::parse_error(&text, &file_name, &e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                ConfigFile {
                    default_profile: None,
                    mode: None,
                    audit_log: None,
                    profiles_dir: None,
                    comment: None,
                }
            }
            Err(e) => {
                return Err(ProfileError::Io {
                    file: file_name,
                    msg: e.to_string(),
                })
            }
        };
        let dir = parsed
            .profiles_dir
            .clone()
            .unwrap_or_else(|| path.parent().unwrap_or(Path::new("/")).join("profiles"));
        let catalog = Catalog::load(Some(&dir))?;
        let default_profile = parsed
            .default_profile
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
        catalog
            .get(&default_profile)
            .map_err(|e| ProfileError::Invalid {
                file: file_name.clone(),
                key: "default_profile".into(),
                msg: e.to_string(),
            })?;
        let audit_log = match parsed.audit_log.as_deref() {
            None => Some(PathBuf::from(DEFAULT_AUDIT_LOG)),
            Some("") => None,
            Some(p) if p.starts_with('/') => Some(PathBuf::from(p)),
            Some(p) => {
                return Err(ProfileError::Invalid {
                    file: file_name,
                    key: "audit_log".into(),
                    msg: format!("{p:?} is not an absolute path"),
                })
            }
        };
        Ok(Config {
            path,
            default_profile,
            mode: parsed.mode.unwrap_or_default(),
            audit_log,
            catalog,
        })
    }

    pub fn profile(&self, name: Option<&str>) -> Result<&Profile, ProfileError> {
        self.catalog.get(name.unwrap_or(&self.default_profile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
