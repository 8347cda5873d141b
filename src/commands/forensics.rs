//! `hardrun forensics list [--format json]` and `hardrun forensics prune [--older-than AGE]`:
//! the records `delete` kept of deleted containers (see `incident::forensics`).

use anyhow::{anyhow, Result};
use serde_json::json;

use crate::cli::{ForensicsCmd, GlobalOpts};
use crate::incident::forensics;
use crate::profile::config::Config;

pub fn run(global: &GlobalOpts, cmd: &ForensicsCmd) -> Result<i32> {
    let config = super::policy_config(global)?;
    let Some(dir) = config.retention.forensics_dir.clone() else {
        anyhow::bail!("{}: forensics_dir is off (\"\")", config.path.display());
    };
    match cmd {
        ForensicsCmd::List { format } => {
            let records = forensics::list(&dir).map_err(|e| anyhow!(e))?;
            let text = if format == "json" {
                let v: Vec<_> = records
                    .iter()
                    .map(|r| {
                        json!({
                            "id": r.id,
                            "dir": r.dir,
                            "deleted_at": chrono::DateTime::<chrono::Utc>::from(r.deleted_at)
                                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                            "size": r.size,
                            "files": r.files,
                            "regulatory": r.regulatory,
                        })
                    })
                    .collect();
                format!("{}\n", serde_json::to_string_pretty(&v)?)
            } else {
                let mut t = format!(
                    "{:<24} {:<28} {:>10} {:>6}  DIR\n",
                    "ID", "DELETED", "BYTES", "FILES"
                );
                for r in &records {
                    t.push_str(&format!(
                        "{:<24} {:<28} {:>10} {:>6}  {}\n",
                        r.id,
                        chrono::DateTime::<chrono::Utc>::from(r.deleted_at)
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        r.size,
                        r.files,
                        r.dir.display()
                    ));
                }
                t
            };
            super::out(text.as_bytes())?;
            Ok(0)
        }
        ForensicsCmd::Prune { older_than } => {
            let age = match older_than {
                Some(s) => crate::profile::config::parse_age(s)
                    .map_err(|e| anyhow!("--older-than: {e}"))?,
                None => config.retention.forensics_retention,
            };
            let pruned = prune(&config, age)?;
            let mut t = String::new();
            for (r, why) in &pruned {
                t.push_str(&format!("pruned {} ({why})\n", r.dir.display()));
            }
            super::out(t.as_bytes())?;
            Ok(0)
        }
    }
}

/// Prunes by age `age`, then by `forensics_max_size`; each removal is an audit record
/// (`forensics-prune`, the record's directory as its bundle).
pub fn prune(
    config: &Config,
    age: std::time::Duration,
) -> Result<Vec<(forensics::Record, String)>> {
    let Some(dir) = &config.retention.forensics_dir else {
        return Ok(vec![]);
    };
    let pruned = forensics::prune(
        dir,
        age,
        config.retention.forensics_retention_gdpr,
        config.retention.forensics_max_size,
    )
    .map_err(|e| anyhow!(e))?;
    let mut out = vec![];
    for (r, why) in pruned {
        let why = match why {
            forensics::Why::Age => format!("older than {}s", age.as_secs()),
            forensics::Why::Gdpr => format!(
                "gdpr profile: older than forensics_retention_gdpr {}s",
                config.retention.forensics_retention_gdpr.as_secs()
            ),
            forensics::Why::Size => format!(
                "forensics_max_size {} bytes exceeded",
                config.retention.forensics_max_size
            ),
        };
        tracing::info!(dir = %r.dir.display(), "forensics: pruned ({why})");
        let step = crate::audit::Step {
            command: "forensics-prune",
            id: &r.id,
            bundle: &r.dir,
            workload: None,
            profile: "",
            profile_sha256: "",
            mode: "",
            failed: None,
        };
        if let Err(e) = crate::audit::record_step(crate::audit::Sink::of(config).as_ref(), &step) {
            tracing::error!("forensics-prune {:?}: not recorded: {e}", r.id);
        }
        out.push((r, why));
    }
    Ok(out)
}

/// On delete, before the state directory goes: keep the container's record, then prune
/// (cheap). Never fails: a failure is logged and recorded in the audit log.
pub fn keep_on_delete(
    global: &GlobalOpts,
    id: &str,
    state_dir: &std::path::Path,
    record: Option<&crate::runtime::state_dir::Record>,
) -> Option<std::path::PathBuf> {
    let config = match super::policy_config(global) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("delete {id:?}: forensic record not kept: configuration: {e:#}");
            return None;
        }
    };
    let dir = config.retention.forensics_dir.clone()?;
    let kept = match forensics::keep_with(&dir, id, state_dir, record) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::error!("delete {id:?}: forensic record not kept: {e}");
            let step = crate::audit::Step {
                command: "forensics-keep",
                id,
                bundle: &dir,
                workload: None,
                profile: "",
                profile_sha256: "",
                mode: "",
                failed: Some(&e),
            };
            if let Err(e) =
                crate::audit::record_step(crate::audit::Sink::of(&config).as_ref(), &step)
            {
                tracing::error!("forensics-keep {id:?}: not recorded: {e}");
            }
            None
        }
    };
    if prune_due(&dir) {
        if let Err(e) = prune(&config, config.retention.forensics_retention) {
            tracing::warn!("delete {id:?}: forensics prune: {e:#}");
        }
    }
    kept
}

/// How often `delete` prunes the forensics directory by itself: a prune lists every kept
/// record (with its `.prune-cache`, ≈6 µs each; reading each record was ≈33–46 µs, which a
/// delete paid each time: 9 ms of CPU with 272 records; bench/REPORT.md, bench/PRUNE.md).
/// Retention is counted in hours and days, and `forensics_max_size` may be exceeded by at most
/// what one minute of deletes keeps; `hardrun forensics prune` prunes now.
const AUTO_PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether a delete should prune now: no prune for [`AUTO_PRUNE_EVERY`] (the mtime of
/// `<forensics_dir>/.last-prune`, touched here when it says yes).
fn prune_due(dir: &std::path::Path) -> bool {
    let stamp = dir.join(".last-prune");
    let recent = std::fs::metadata(&stamp)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < AUTO_PRUNE_EVERY);
    if recent {
        return false;
    }
    // a stamp that cannot be written only means the next delete prunes too
    let _ = std::fs::write(&stamp, b"");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_prunes_at_most_once_a_minute() {
        let dir = std::env::temp_dir().join(format!("hardrun-prune-due-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join(".last-prune"));
        assert!(prune_due(&dir), "never pruned");
        assert!(!prune_due(&dir), "pruned a moment ago");
        // a stamp older than the interval: due again, and stamped anew
        let old =
            std::time::SystemTime::now() - AUTO_PRUNE_EVERY - std::time::Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(dir.join(".last-prune"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(prune_due(&dir));
        assert!(!prune_due(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
