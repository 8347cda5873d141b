//! `hardrun config show`: the effective configuration and where each value came from.
//!
//! Precedence, lowest first: built-in defaults, the configuration file (`--config`, else
//! `HARDRUN_CONFIG`, else /etc/hardrun/config.toml), its drop-ins (`config.d/*.toml` beside it,
//! in lexical order), the program name (`hardrun-ci` & co., for the default profile), and for one
//! call `--profile`/`HARDRUN_PROFILE` and `--mode`/`HARDRUN_MODE`.

use anyhow::Result;
use serde_json::json;

use crate::cli::{ConfigCmd, GlobalOpts};
use crate::profile::config::{Config, Origin, Sources};

/// Whether the command line itself carries `--flag` (else a value of a flag with `env = …` came
/// from the environment).
fn on_command_line(flag: &str) -> bool {
    let eq = format!("{flag}=");
    std::env::args()
        .skip(1)
        .any(|a| a == flag || a.starts_with(&eq))
}

fn source_of(flag: &str, env: &str) -> String {
    if on_command_line(flag) {
        flag.to_owned()
    } else {
        env.to_owned()
    }
}

pub fn run(global: &GlobalOpts, cmd: &ConfigCmd) -> Result<i32> {
    let ConfigCmd::Show { format } = cmd;
    // what policy_config loads, step by step, keeping the origins
    let (mut config, mut sources) = Config::load_with_sources(global.config.as_deref())?;
    if let Some(argv0) = std::env::args_os().next() {
        if let Some(o) = config.apply_program_name(&argv0) {
            sources.origins.insert("default_profile", o);
        }
    }
    let path_source = match &global.config {
        Some(_) => source_of("--config", "HARDRUN_CONFIG"),
        None => "default path".to_owned(),
    };
    let profile = match &global.profile {
        Some(p) => (p.clone(), source_of("--profile", "HARDRUN_PROFILE")),
        None => (
            config.default_profile.clone(),
            format!("default_profile ({})", origin(&sources, "default_profile")),
        ),
    };
    let mode = match &global.mode {
        Some(m) => (m.clone(), source_of("--mode", "HARDRUN_MODE")),
        None => (
            config.mode.to_string(),
            format!("mode ({})", origin(&sources, "mode")),
        ),
    };
    let text = if format == "json" {
        let mut v = serde_json::to_string_pretty(&to_json(
            &config,
            &sources,
            &path_source,
            &profile,
            &mode,
        ))?;
        v.push('\n');
        v
    } else {
        to_text(&config, &sources, &path_source, &profile, &mode)
    };
    super::out(text.as_bytes())?;
    Ok(0)
}

fn values(config: &Config, sources: &Sources) -> [(&'static str, String); 15] {
    [
        ("default_profile", config.default_profile.clone()),
        ("mode", config.mode.to_string()),
        (
            "audit_log",
            config
                .audit_log
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("profiles_dir", sources.profiles_dir.display().to_string()),
        (
            "audit_max_size",
            config.audit_rotation.max_bytes.to_string(),
        ),
        ("audit_keep", config.audit_rotation.keep.to_string()),
        ("audit_key", config.audit_key.display().to_string()),
        ("incidents_dir", config.incidents_dir.display().to_string()),
        (
            "scan_reports_dir",
            config.scan_reports_dir.display().to_string(),
        ),
        // evidence and forensics (docs/evidence.md): sizes in bytes, the retention in seconds
        (
            "evidence_key",
            config.retention.evidence_key.display().to_string(),
        ),
        (
            "evidence_max_size",
            config.retention.evidence_max_size.to_string(),
        ),
        (
            "forensics_dir",
            config
                .retention
                .forensics_dir
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        (
            "forensics_retention",
            format!("{}s", config.retention.forensics_retention.as_secs()),
        ),
        (
            "forensics_retention_gdpr",
            format!("{}s", config.retention.forensics_retention_gdpr.as_secs()),
        ),
        (
            "forensics_max_size",
            config.retention.forensics_max_size.to_string(),
        ),
    ]
}

fn origin(sources: &Sources, key: &str) -> String {
    sources
        .origins
        .get(key)
        .unwrap_or(&Origin::Default)
        .to_string()
}

/// TOML that could be saved as a configuration file, with the origins as comments.
pub fn to_text(
    config: &Config,
    sources: &Sources,
    path_source: &str,
    profile: &(String, String),
    mode: &(String, String),
) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut t = String::new();
    let exists = if config.path.exists() {
        ""
    } else {
        ", not present"
    };
    t.push_str(&format!(
        "# configuration file: {} ({path_source}{exists})\n",
        config.path.display()
    ));
    if sources.files.is_empty() {
        t.push_str("# files read: none (built-in defaults)\n");
    } else {
        t.push_str("# files read, in order (a later file's keys win):\n");
        for f in &sources.files {
            t.push_str(&format!("#   {}\n", f.display()));
        }
    }
    let rows: Vec<(String, String)> = values(config, sources)
        .iter()
        .map(|(k, v)| {
            // numbers stay numbers, so the output can be saved as a configuration file
            let value = if *k == "audit_keep" { v.clone() } else { q(v) };
            (format!("{k} = {value}"), origin(sources, k))
        })
        // [monitor] as dotted keys: still a configuration file that reads back
        .chain(
            config
                .monitor
                .values()
                .into_iter()
                .map(|(k, v)| (format!("{k} = {v}"), origin(sources, k))),
        )
        .collect();
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (line, from) in rows {
        t.push_str(&format!("{line:<width$}  # {from}\n"));
    }
    t.push_str("\n# this call: create, run, exec and update use\n");
    t.push_str(&format!("#   profile {}  ({})\n", profile.0, profile.1));
    t.push_str(&format!("#   mode {}  ({})\n", mode.0, mode.1));
    t.push_str("# profiles:\n");
    for p in config.catalog.profiles.values() {
        t.push_str(&format!(
            "#   {:<12} {}  sha256:{}\n",
            p.name,
            p.source,
            &p.sha256[..12]
        ));
    }
    t
}

pub fn to_json(
    config: &Config,
    sources: &Sources,
    path_source: &str,
    profile: &(String, String),
    mode: &(String, String),
) -> serde_json::Value {
    let mut vals = serde_json::Map::new();
    for (k, v) in values(config, sources) {
        vals.insert(
            k.to_owned(),
            json!({ "value": v, "source": origin(sources, k) }),
        );
    }
    for (k, v) in config.monitor.values() {
        vals.insert(
            k.to_owned(),
            json!({ "value": v, "source": origin(sources, k) }),
        );
    }
    json!({
        "config_file": { "path": config.path, "source": path_source, "exists": config.path.exists() },
        "files": sources.files,
        "values": vals,
        "call": {
            "profile": { "value": profile.0, "source": profile.1 },
            "mode": { "value": mode.0, "source": mode.1 },
        },
        "profiles": config.catalog.profiles.values().map(|p| json!({
            "name": p.name, "source": p.source, "sha256": p.sha256,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn text_names_every_origin() {
        let dir = std::env::temp_dir().join(format!("hardrun-cfgshow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config.d")).unwrap();
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, "mode = \"audit\"\n").unwrap();
        std::fs::write(
            dir.join("config.d/50-log.toml"),
            "audit_log = \"/tmp/x.jsonl\"\n",
        )
        .unwrap();
        let (mut c, mut src) = Config::load_with_sources(Some(&cfg)).unwrap();
        let o = c
            .apply_program_name(std::ffi::OsStr::new("/usr/bin/hardrun-baseline"))
            .unwrap();
        src.origins.insert("default_profile", o);
        let t = to_text(
            &c,
            &src,
            "--config",
            &(
                "baseline".into(),
                "default_profile (invoked as hardrun-baseline)".into(),
            ),
            &("enforce".into(), "--mode".into()),
        );
        let d = dir.display();
        let want = format!(
            "# configuration file: {d}/config.toml (--config)\n\
             # files read, in order (a later file's keys win):\n\
             #   {d}/config.toml\n\
             #   {d}/config.d/50-log.toml\n"
        );
        assert!(t.starts_with(&want), "{t}");
        for (key, from) in [
            (
                "default_profile = \"baseline\"",
                "# invoked as hardrun-baseline",
            ),
            ("mode = \"audit\"", &format!("# {d}/config.toml")),
            (
                "audit_log = \"/tmp/x.jsonl\"",
                &format!("# {d}/config.d/50-log.toml"),
            ),
            (
                &format!("profiles_dir = \"{d}/profiles\""),
                "# default: beside the configuration file",
            ),
        ] {
            let line = t
                .lines()
                .find(|l| l.starts_with(key))
                .unwrap_or_else(|| panic!("no {key} in\n{t}"));
            assert!(line.ends_with(from), "{line}");
        }
        assert!(t.contains("#   mode enforce  (--mode)\n"), "{t}");
        // the values part is a configuration file hardrun reads back to the same values
        let body: String = t
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let again = dir.join("again.toml");
        std::fs::write(&again, body).unwrap();
        let (c2, _) = Config::load_path(&again, true).unwrap();
        assert_eq!(c2.default_profile, "baseline");
        assert_eq!(c2.audit_log.as_deref(), Some(Path::new("/tmp/x.jsonl")));
        assert_eq!(c2.monitor, c.monitor);
        assert!(t.contains("\nmonitor.alertmanager = \"\""), "{t}");
        assert!(t.contains("\nmonitor.queue = 1000 "), "{t}");
        let j = to_json(
            &c,
            &src,
            "--config",
            &("a".into(), "b".into()),
            &("c".into(), "d".into()),
        );
        assert_eq!(j["values"]["mode"]["value"], "audit");
        assert_eq!(j["files"].as_array().unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
