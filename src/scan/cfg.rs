//! A profile's `[scan]` section: when a scanner's report refuses a container.
//!
//! ```toml
//! [scan]
//! deny_at = "critical"        # a finding at or above it is a deviation ("none": never)
//! max_age = "7d"              # a report older than this is itself a deviation
//! require_report = "audit"    # no report for the image: "refuse", "audit" or "ignore"
//!
//! [[scan.ignore]]
//! id = "CVE-2023-12345"
//! reason = "not reachable: the daemon is never started"
//! expires = "2027-03-31"      # the day after, the finding counts again
//! ```
//!
//! `allowed_registries = ["registry.example.com/"]` refuses an image whose normalized reference
//! starts with none of them (see `scan::registry_allowed`).

use serde::{Deserialize, Serialize};

use super::Level;

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanCfg {
    /// the lowest severity that is a deviation; `None`: no finding is
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_at: Option<DenyAt>,
    /// the oldest a report may be (`7d`, `12h`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    #[serde(default)]
    pub require_report: RequireReport,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<ScanIgnore>,
    /// where images may come from: prefixes of the normalized reference
    /// (`registry.example.com/`, `docker.io/library/`); empty: anywhere
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_registries: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DenyAt {
    Critical,
    High,
    Medium,
    Low,
    /// no severity is a deviation (the counts are still recorded)
    None,
}

impl DenyAt {
    /// The lowest level that is a deviation.
    pub fn level(self) -> Option<Level> {
        match self {
            DenyAt::Critical => Some(Level::Critical),
            DenyAt::High => Some(Level::High),
            DenyAt::Medium => Some(Level::Medium),
            DenyAt::Low => Some(Level::Low),
            DenyAt::None => None,
        }
    }
}

/// What a container whose image has no report gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequireReport {
    /// a deviation (refused where the rule is `deny` or `enforce`); an image no annotation names
    /// is one too
    Refuse,
    /// recorded, never refused
    Audit,
    /// nothing
    #[default]
    Ignore,
}

/// A vulnerability id not counted until `expires` (a date, `YYYY-MM-DD`, the last day it holds).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanIgnore {
    pub id: String,
    pub reason: String,
    pub expires: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ScanCfg {
    pub fn is_default(&self) -> bool {
        *self == ScanCfg::default()
    }

    /// The oldest a report may be, in seconds.
    pub fn max_age_secs(&self) -> Option<u64> {
        self.max_age
            .as_deref()
            .and_then(|s| crate::profile::config::parse_age(s).ok())
            .map(|d| d.as_secs())
    }

    /// Checks the section: Err((key below `scan`, message)).
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let Some(a) = &self.max_age {
            crate::profile::config::parse_age(a).map_err(|e| (".max_age".to_owned(), e))?;
        }
        for (i, r) in self.allowed_registries.iter().enumerate() {
            if r.is_empty() || r.chars().any(char::is_whitespace) || !r.ends_with('/') {
                return Err((
                    format!(".allowed_registries[{i}]"),
                    format!("{r:?} is not a registry prefix (a host or repository path ending in '/', e.g. \"registry.example.com/\")"),
                ));
            }
        }
        for (i, ig) in self.ignore.iter().enumerate() {
            let key = |k: &str| format!(".ignore[{i}].{k}");
            if ig.id.trim().is_empty() || ig.id.chars().any(char::is_whitespace) {
                return Err((key("id"), format!("{:?} is not a vulnerability id", ig.id)));
            }
            if ig.reason.trim().is_empty() {
                return Err((
                    key("reason"),
                    "is empty (say why the finding may be ignored)".into(),
                ));
            }
            expiry(&ig.expires).map_err(|m| (key("expires"), m))?;
        }
        Ok(())
    }

    /// The ignore entry for `id` that still holds on day `today` (`None`: counted).
    pub fn ignored(&self, id: &str, today: chrono::NaiveDate) -> Option<&ScanIgnore> {
        self.ignore.iter().find(|ig| {
            ig.id.eq_ignore_ascii_case(id) && expiry(&ig.expires).is_ok_and(|d| today <= d)
        })
    }

    /// Ignore entries for `id` whose expiry has passed.
    pub fn expired(&self, id: &str, today: chrono::NaiveDate) -> Option<&ScanIgnore> {
        self.ignore.iter().find(|ig| {
            ig.id.eq_ignore_ascii_case(id) && expiry(&ig.expires).is_ok_and(|d| today > d)
        })
    }
}

/// An ignore's expiry date.
pub fn expiry(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(id: &str, expires: &str) -> ScanIgnore {
        ScanIgnore {
            id: id.into(),
            reason: "r".into(),
            expires: expires.into(),
            comment: None,
        }
    }

    #[test]
    fn validation_names_the_key() {
        for (cfg, key) in [
            (
                ScanCfg {
                    max_age: Some("soon".into()),
                    ..Default::default()
                },
                ".max_age",
            ),
            (
                ScanCfg {
                    ignore: vec![ig("CVE-1", "31.12.2026")],
                    ..Default::default()
                },
                ".ignore[0].expires",
            ),
            (
                ScanCfg {
                    ignore: vec![ig("", "2026-12-31")],
                    ..Default::default()
                },
                ".ignore[0].id",
            ),
            (
                ScanCfg {
                    ignore: vec![ScanIgnore {
                        reason: " ".into(),
                        ..ig("CVE-1", "2026-12-31")
                    }],
                    ..Default::default()
                },
                ".ignore[0].reason",
            ),
        ] {
            assert_eq!(cfg.validate().unwrap_err().0, key);
        }
    }

    #[test]
    fn an_ignore_holds_through_its_expiry_day() {
        let cfg = ScanCfg {
            ignore: vec![ig("CVE-2099-0001", "2026-12-06")],
            ..Default::default()
        };
        let d = |s| expiry(s).unwrap();
        assert!(cfg.ignored("cve-2099-0001", d("2026-12-05")).is_some());
        assert!(cfg.ignored("CVE-2099-0001", d("2026-12-06")).is_some());
        assert!(cfg.ignored("CVE-2099-0001", d("2026-12-07")).is_none());
        assert!(cfg.expired("CVE-2099-0001", d("2026-12-07")).is_some());
        assert!(cfg.ignored("CVE-2099-0002", d("2026-12-01")).is_none());
    }
}
