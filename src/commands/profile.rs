//! `hardrun profile list|show|lint`: the hardening profiles as the configuration sees them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Result};

use crate::cli::{GlobalOpts, ProfileCmd};
use crate::profile::{Catalog, ProfileError, BUILTIN};

pub fn run(global: &GlobalOpts, cmd: &ProfileCmd) -> Result<i32> {
    let config = super::policy_config(global)?;
    let mut text = String::new();
    match cmd {
        ProfileCmd::List => {
            text.push_str(&format!(
                "{:<2}{:<14} {:<14} {:<40} {}\n",
                "", "NAME", "SHA256", "SOURCE", "DESCRIPTION"
            ));
            for p in config.catalog.profiles.values() {
                let mark = if p.name == config.default_profile {
                    "*"
                } else {
                    ""
                };
                text.push_str(&format!(
                    "{mark:<2}{:<14} {:<14} {:<40} {}\n",
                    p.name,
                    &p.sha256[..12],
                    p.source,
                    p.description
                ));
            }
            for (name, e) in &config.catalog.broken {
                let mark = if *name == config.default_profile {
                    "*"
                } else {
                    ""
                };
                text.push_str(&format!("{mark:<2}{name:<14} {:<14} broken: {e}\n", "-"));
            }
        }
        ProfileCmd::Show { name, format } => {
            let p = config.catalog.get(name)?;
            let toml = match p.source.strip_prefix("builtin:") {
                Some(b) => BUILTIN
                    .iter()
                    .find(|(n, _)| *n == b)
                    .map(|(_, t)| t.to_string())
                    .unwrap_or_default(),
                None => std::fs::read_to_string(&p.source)
                    .map_err(|e| anyhow!("cannot read {}: {e}", p.source))?,
            };
            text = match format.as_str() {
                "markdown" => super::profile_doc::markdown(p, &toml),
                "json" => {
                    let mut s = serde_json::to_string_pretty(&super::profile_doc::json(p, &toml))?;
                    s.push('\n');
                    s
                }
                _ => toml,
            };
        }
        ProfileCmd::Lint { audit_log } => {
            let log = audit_log.clone().or_else(|| config.audit_log.clone());
            let usage = log.as_deref().map(read_usage).transpose()?;
            text = lint_report(&config.catalog, usage.as_ref(), log.as_deref());
            if !config.catalog.broken.is_empty() {
                super::out(text.as_bytes())?;
                let files: Vec<String> = config
                    .catalog
                    .broken
                    .values()
                    .map(ProfileError::to_string)
                    .collect();
                return Err(anyhow!(
                    "{} profile file(s) do not load: {}",
                    files.len(),
                    files.join("; ")
                ));
            }
        }
    }
    super::out(text.as_bytes())?;
    Ok(0)
}

/// How often each exception entry (`<profile>#<index>`) was used, and how many decisions the log
/// holds. A missing log counts as empty.
pub fn read_usage(log: &Path) -> Result<(BTreeMap<String, usize>, usize)> {
    let text = match std::fs::read_to_string(log) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(anyhow!("cannot read the audit log {}: {e}", log.display())),
    };
    let mut used = BTreeMap::new();
    let mut decisions = 0;
    for (n, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| anyhow!("{}: line {}: invalid JSON: {e}", log.display(), n + 1))?;
        decisions += 1;
        for label in v["exceptions_used"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str())
        {
            *used.entry(label.to_owned()).or_insert(0) += 1;
        }
    }
    Ok((used, decisions))
}

/// The lint report: every profile is valid (the catalog loaded), and which exception entries no
/// decision used.
pub fn lint_report(
    catalog: &Catalog,
    usage: Option<&(BTreeMap<String, usize>, usize)>,
    log: Option<&Path>,
) -> String {
    let mut out = String::new();
    let mut entries = 0;
    let mut unused = 0;
    for p in catalog.profiles.values() {
        out.push_str(&format!("ok      {} ({})\n", p.name, p.source));
        for (i, e) in p.exceptions.iter().enumerate() {
            entries += 1;
            let label = format!("{}#{i}", p.name);
            let Some((used, _)) = usage else { continue };
            if used.get(&label).copied().unwrap_or(0) == 0 {
                unused += 1;
                out.push_str(&format!(
                    "unused  {}: exceptions[{i}] ({} {:?} for namespaces {:?}, images {:?}) authorized nothing that was asked for\n",
                    p.name,
                    e.kind.name(),
                    e.values,
                    e.namespaces,
                    e.images
                ));
            }
        }
    }
    for e in catalog.broken.values() {
        out.push_str(&format!("broken  {e}\n"));
    }
    match (usage, log) {
        (Some((_, decisions)), Some(log)) => out.push_str(&format!(
            "{} profiles valid; {entries} exception entries, {unused} unused in {decisions} decisions of {}\n",
            catalog.profiles.len(),
            log.display()
        )),
        _ => out.push_str(&format!(
            "{} profiles valid; {entries} exception entries (no audit log: usage not checked)\n",
            catalog.profiles.len()
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lint_reports_unused_exception_entries() {
        let mut cat = Catalog::builtin();
        let team = crate::profile::Profile::parse(
            "name = \"team\"\n[[exceptions]]\nkind = \"allow-root\"\nnamespaces = [\"ops\"]\n[[exceptions]]\nkind = \"allow-capabilities\"\nvalues = [\"NET_ADMIN\"]\nnamespaces = [\"net\"]\n",
            "/etc/hardrun/profiles/team.toml",
        )
        .unwrap();
        cat.profiles.insert("team".into(), team);
        let used: BTreeMap<String, usize> = [("team#0".to_string(), 3)].into();
        let report = lint_report(&cat, Some(&(used, 10)), Some(Path::new("/var/log/a.jsonl")));
        assert!(
            report.contains("ok      team (/etc/hardrun/profiles/team.toml)"),
            "{report}"
        );
        assert!(!report.contains("team: exceptions[0]"), "{report}");
        assert!(
            report.contains("unused  team: exceptions[1] (allow-capabilities [\"NET_ADMIN\"]"),
            "{report}"
        );
        assert!(report.ends_with("5 profiles valid; 2 exception entries, 1 unused in 10 decisions of /var/log/a.jsonl\n"), "{report}");
        let report = lint_report(&cat, None, None);
        assert!(
            report.ends_with("(no audit log: usage not checked)\n"),
            "{report}"
        );
    }
}
