//! `scan import FILE` and `scan list`: the scanners' reports the `image-scan` rule gates on, in
//! the configuration's `scan_reports_dir` (see `docs/scanning.md`).

use anyhow::Result;
use serde_json::json;

use crate::cli::{GlobalOpts, ScanCmd};
use crate::scan::{self, Entry, Level};

pub fn run(global: &GlobalOpts, cmd: &ScanCmd) -> Result<i32> {
    let config = crate::profile::config::Config::load(global.config.as_deref())?;
    let dir = &config.scan_reports_dir;
    match cmd {
        ScanCmd::Import { format, file } => {
            // everything is checked before anything is written
            let report =
                scan::read_report(file).map_err(|e| anyhow::anyhow!("scan import: {e}"))?;
            if report.keys.is_empty() {
                anyhow::bail!(
                    "scan import: {}: the report names no image (no reference, no digest)",
                    file.display()
                );
            }
            let bytes = std::fs::read(file).map_err(|e| {
                anyhow::anyhow!("scan import: {}: {}", file.display(), scan::io_msg(&e))
            })?;
            std::fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!("scan import: {}: {}", dir.display(), scan::io_msg(&e))
            })?;
            let name = scan::file_name_for(&report);
            let target = dir.join(&name);
            let replaced = target.exists();
            scan::write_atomic(&target, &bytes).map_err(|e| {
                anyhow::anyhow!("scan import: {}: {}", target.display(), scan::io_msg(&e))
            })?;
            // the next create finds the index ready
            let (idx, _) = scan::rebuild(dir).map_err(|e| anyhow::anyhow!("scan import: {e}"))?;
            let entry = idx
                .entries
                .iter()
                .find(|e| e.file == name)
                .cloned()
                .unwrap_or_else(|| report.entry(&name));
            let text = if format == "json" {
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&json!({
                        "path": target,
                        "replaced": replaced,
                        "report": entry_json(&entry),
                    }))?
                )
            } else {
                format!(
                    "{} {} report of {} as {}: {}\n",
                    if replaced { "replaced" } else { "imported" },
                    entry.scanner,
                    entry.artifact,
                    target.display(),
                    counts_text(&entry)
                )
            };
            super::out(text.as_bytes())?;
        }
        ScanCmd::List { format } => {
            let (idx, _) = if dir.exists() {
                scan::load(dir).map_err(|e| anyhow::anyhow!("scan list: {e}"))?
            } else {
                Default::default()
            };
            let mut entries = idx.entries.clone();
            entries.sort_by(|a, b| b.created.cmp(&a.created).then(a.file.cmp(&b.file)));
            let text = if format == "json" {
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&json!({
                        "dir": dir,
                        "reports": entries.iter().map(entry_json).collect::<Vec<_>>(),
                        "broken": idx.broken,
                    }))?
                )
            } else {
                let mut t = format!("# {}: {} report(s)\n", dir.display(), entries.len());
                for e in &entries {
                    t.push_str(&format!(
                        "{}  {}  {}  {}  {}\n    keys: {}\n",
                        date(e.created),
                        e.scanner,
                        e.artifact,
                        e.file,
                        counts_text(e),
                        e.keys.join(" ")
                    ));
                }
                for b in &idx.broken {
                    t.push_str(&format!("broken  {}  {}\n", b.file, b.error));
                }
                t
            };
            super::out(text.as_bytes())?;
        }
    }
    Ok(0)
}

fn date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn counts_text(e: &Entry) -> String {
    Level::ALL
        .iter()
        .map(|l| format!("{} {l}", e.counts.get(l).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn entry_json(e: &Entry) -> serde_json::Value {
    json!({
        "file": e.file,
        "scanner": e.scanner,
        "created": date(e.created),
        "artifact": e.artifact,
        "keys": e.keys,
        "counts": e.counts,
    })
}
