//! `hardrun check --bundle DIR | --spec FILE | --running [ID…]`: the CIS score of a spec as given
//! and as hardrun would run it (under `--profile` or the configured default), each control's
//! verdict, and the deviations hardrun would make. Exit 0 when the gate passes (`--min-score`,
//! default 85 %, at `--level`), 1 when below, 2 on bad input.
//!
//! `hardrun check --running --live [ID…]`: verify, not trust. The kernel's view of every process
//! of each created, running or paused container, compared with its profile (see
//! [`crate::runtime::live`]); one line per drift. Exit 0 when every process holds its profile, 1 on any
//! drift (or anything that could not be read), 2 on bad input.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use serde_json::{json, Value};

use crate::base::RealHost;
use crate::cli::{CheckArgs, GlobalOpts};
use crate::compliance::score;
use crate::policy::rules::cis_score::score_as_run;
use crate::report::{self, Checked, Gate, LiveDrift, LiveInput};
use crate::runtime::live::{Kind, LiveReport};
use crate::runtime::state_dir::Root;

struct Input {
    name: String,
    id: String,
    bundle: PathBuf,
    spec: Value,
    /// already the spec hardrun runs (--running): not hardened again
    hardened: bool,
    /// --running: the caller's spec as it was given to create (`config.orig.json`), which the
    /// "as given" score is about; `None`: `spec` is the caller's
    original: Option<Value>,
    /// --running: the profile the container was created under (its gate applies)
    profile: Option<String>,
    /// the config.json the spec was read from (SARIF locations)
    file: PathBuf,
}

pub fn run(global: &GlobalOpts, args: &CheckArgs) -> Result<i32> {
    match check(global, args) {
        Ok(code) => Ok(code),
        Err(e) => {
            // bad input: exit 2, as the gate's own failure is 1
            // like every error: to the log, and on stderr too when the log is a file
            tracing::error!("{e:#}");
            if global.log.is_some() {
                eprintln!("{e:#}");
            }
            Ok(2)
        }
    }
}

fn inputs(global: &GlobalOpts, args: &CheckArgs) -> Result<Vec<Input>> {
    if let Some(dir) = &args.bundle {
        let loaded = crate::bundle::load(dir)?;
        return Ok(vec![Input {
            name: loaded.dir.join("config.json").display().to_string(),
            id: "check".into(),
            bundle: loaded.dir.clone(),
            file: loaded.dir.join("config.json"),
            spec: loaded.raw,
            hardened: false,
            original: None,
            profile: None,
        }]);
    }
    if let Some(file) = &args.spec {
        let bundle = file.parent().map(PathBuf::from).unwrap_or_default();
        return Ok(vec![Input {
            name: file.display().to_string(),
            id: "check".into(),
            bundle,
            spec: crate::bundle::load_spec_file(file)?,
            hardened: false,
            original: None,
            profile: None,
            file: file.clone(),
        }]);
    }
    if args.running {
        let root = Root::new(&global.root);
        let mut out = vec![];
        for id in selected(&root, args)? {
            let dir = global.root.join(&id);
            let (file, spec) = crate::bundle::load_staged(&dir)?;
            out.push(Input {
                name: format!("container {id}"),
                id: id.clone(),
                bundle: dir.join("bundle"),
                spec,
                file,
                hardened: true,
                original: Some(crate::bundle::load_staged_original(&dir)?),
                profile: crate::runtime::state_dir::read_record(&dir).and_then(|r| r.profile),
            });
        }
        return Ok(out);
    }
    Err(anyhow!(
        "check: give --bundle DIR, --spec FILE or --running"
    ))
}

/// The containers `--running` looks at: those named, else every one in the state root.
fn selected(root: &Root, args: &CheckArgs) -> Result<Vec<String>> {
    if args.ids.is_empty() {
        return Ok(root.list()?);
    }
    for id in &args.ids {
        root.existing(id)?;
    }
    Ok(args.ids.clone())
}

/// `--running --live`: the live check of each container, as text (one line per drift, then a
/// summary per container), JSON (one [`LiveReport`] per container) or SARIF.
fn live(global: &GlobalOpts, args: &CheckArgs) -> Result<i32> {
    if args.format == "xccdf" {
        anyhow::bail!(
            "--format xccdf scores CIS controls: use it without --live (text, json or sarif for the live check)"
        );
    }
    let config = super::policy_config(global)?;
    let root = Root::new(&global.root);
    let mut reports = vec![];
    for id in selected(&root, args)? {
        let dir = root.existing(&id)?;
        let created_under = crate::runtime::state_dir::read_record(&dir).and_then(|r| r.profile);
        let profile = created_under
            .as_deref()
            .and_then(|p| config.profile(Some(p)).ok());
        let report = crate::runtime::live::inspect(&dir, &id, profile)
            .map_err(|e| anyhow!("container {id}: {e}"))?;
        reports.push((dir.join("bundle").join("config.json"), report));
    }
    let clean = reports.iter().all(|(_, r)| r.clean());
    let views: Vec<LiveInput> = reports.iter().map(|(f, r)| live_view(f, r)).collect();
    let json: Vec<&LiveReport> = reports.iter().map(|(_, r)| r).collect();
    let kinds: Vec<(&str, &str)> = Kind::ALL
        .iter()
        .map(|k| (k.code(), k.description()))
        .collect();
    let text = report::live(
        &views,
        &json,
        &kinds,
        &args.format,
        if clean { 0 } else { 1 },
    )?;
    super::out(text.as_bytes())?;
    Ok(if clean { 0 } else { 1 })
}

/// What the reports show of one container's live check.
fn live_view(file: &Path, r: &LiveReport) -> LiveInput {
    let mut drifts = vec![];
    for p in &r.processes {
        for d in &p.drifts {
            drifts.push(LiveDrift {
                rule: d.kind.code(),
                pointer: d.pointer.clone(),
                field: d.field.clone(),
                comm: p.comm.clone(),
                message: format!("{} pid {} ({}): {d}", r.id, p.pid, p.comm),
                properties: json!({"container": r.id, "pid": p.pid, "tid": d.tid, "comm": p.comm, "init": p.init, "field": d.field, "actual": d.actual, "expected": d.expected}),
            });
        }
    }
    LiveInput {
        file: file.to_path_buf(),
        lines: r.lines(),
        summary: r.summary(),
        drifts,
        properties: json!({
            "container": r.id,
            "status": r.status,
            "profile": r.profile,
            "processes": r.processes.len(),
            "drifts": r.drift_count(),
            "unverified": r.unverified,
        }),
    }
}

fn check(global: &GlobalOpts, args: &CheckArgs) -> Result<i32> {
    if args.live {
        return live(global, args);
    }
    let config = super::policy_config(global)?;
    if let Some(m) = args.min_score {
        if !(0.0..=100.0).contains(&m) {
            return Err(anyhow!("--min-score {m}: not a percentage (0 to 100)"));
        }
    }
    let mut results = vec![];
    for input in inputs(global, args)? {
        // "as given" is the caller's spec; for --running, the one kept at create
        let given = score(input.original.as_ref().unwrap_or(&input.spec), &RealHost);
        let sources = crate::bundle::sources::resolve(&input.bundle, &input.spec)
            .map_err(|e| anyhow!("{}: {e}", input.file.display()))?;
        let mut ctx = super::policy_context(global, &config, &input.id, &input.bundle);
        ctx.sources = &sources;
        let (hardened, decision, profile_gate) = if input.hardened {
            let gate = config
                .profile(ctx.profile.or(input.profile.as_deref()))
                .map(|p| p.compliance.clone())
                .unwrap_or_default();
            (
                score(&input.spec, &RealHost),
                json!({"decision": "running"}),
                gate,
            )
        } else {
            match crate::policy::harden_spec_ungated(&input.spec, &ctx) {
                Ok((o, gate)) => {
                    // allowed by the policy, but refused by libcontainer at create: say so, as
                    // run would fail
                    let decision = match crate::runtime::delegate::user_namespace_refusal(&o.value)
                    {
                        Some(reason) => {
                            json!({"decision": "invalid", "profile": o.profile, "reason": reason, "findings": o.findings})
                        }
                        None => {
                            json!({"decision": "allowed", "profile": o.profile, "findings": o.findings})
                        }
                    };
                    (score_as_run(&o.value, &input.id, &RealHost), decision, gate)
                }
                Err(d) => (
                    given.clone(),
                    json!({"decision": "denied", "profile": d.profile, "rule": d.rule, "reason": d.reason, "findings": d.findings}),
                    config
                        .profile(Some(&d.profile))
                        .map(|p| p.compliance.clone())
                        .unwrap_or_default(),
                ),
            }
        };
        let level = args.level.unwrap_or(profile_gate.level);
        let min_score = args.min_score.unwrap_or(profile_gate.min_score);
        let s = if level == 1 {
            &hardened.level1
        } else {
            &hardened.level2
        };
        // a spec hardrun refuses (policy) or cannot run (invalid) does not pass, whatever it scores
        let passed = s.percent >= min_score
            && decision["decision"] != "denied"
            && decision["decision"] != "invalid";
        results.push(Checked {
            name: input.name,
            file: input.file,
            given,
            hardened,
            decision,
            gate: Gate {
                level,
                min_score,
                passed,
            },
        });
    }
    let gate_ok = results.iter().all(|r| r.gate.passed);
    let color = std::io::stdout().is_terminal();
    let text = report::check(&results, &args.format, color, if gate_ok { 0 } else { 1 })?;
    super::out(text.as_bytes())?;
    Ok(if gate_ok { 0 } else { 1 })
}
