//! `hardrun check --bundle DIR | --spec FILE | --running`: the CIS score of a spec as given and as
//! hardrun would run it (under `--profile` or the configured default), each control's verdict,
//! and the deviations hardrun would make. Exit 0 when the gate passes (`--min-score`, default
//! 85 %, at `--level`), 1 when below, 2 on bad input.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, Result};
use serde_json::{json, Value};

use crate::cli::{CheckArgs, GlobalOpts};
use crate::compliance::{score, Report, Verdict};
use crate::policy::host::RealHost;
use crate::state_dir::Root;

struct Input {
    name: String,
    id: String,
    bundle: PathBuf,
    spec: Value,
    /// already the spec hardrun runs (--running): not hardened again
    hardened: bool,
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
    let read = |path: &std::path::Path| -> Result<Value> {
        let bytes =
            std::fs::read(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| anyhow!("{}: invalid JSON: {e}", path.display()))
    };
    if let Some(dir) = &args.bundle {
        let loaded = crate::bundle::load(dir)?;
        return Ok(vec![Input {
            name: loaded.dir.join("config.json").display().to_string(),
            id: "check".into(),
            bundle: loaded.dir,
            spec: loaded.raw,
            hardened: false,
        }]);
    }
    if let Some(file) = &args.spec {
        let bundle = file.parent().map(PathBuf::from).unwrap_or_default();
        return Ok(vec![Input {
            name: file.display().to_string(),
            id: "check".into(),
            bundle,
            spec: read(file)?,
            hardened: false,
        }]);
    }
    if args.running {
        let root = Root::new(&global.root);
        let mut out = vec![];
        for id in root.list()? {
            let cfg = global.root.join(&id).join("bundle").join("config.json");
            out.push(Input {
                name: format!("container {id}"),
                id: id.clone(),
                bundle: global.root.join(&id).join("bundle"),
                spec: read(&cfg)?,
                hardened: true,
            });
        }
        return Ok(out);
    }
    Err(anyhow!(
        "check: give --bundle DIR, --spec FILE or --running"
    ))
}

fn check(global: &GlobalOpts, args: &CheckArgs) -> Result<i32> {
    let config = super::policy_config(global)?;
    let mut results = vec![];
    let mut gate_ok = true;
    for input in inputs(global, args)? {
        let given = score(&input.spec, &RealHost);
        let (hardened, decision) = if input.hardened {
            (given.clone(), json!({"decision": "running"}))
        } else {
            let ctx = super::policy_context(global, &config, &input.id, &input.bundle);
            match crate::policy::harden_spec(&input.spec, &ctx) {
                Ok(o) => (
                    score(&o.value, &RealHost),
                    json!({"decision": "allowed", "profile": o.profile, "findings": o.findings}),
                ),
                Err(d) => (
                    given.clone(),
                    json!({"decision": "denied", "profile": d.profile, "rule": d.rule, "reason": d.reason, "findings": d.findings}),
                ),
            }
        };
        let gate = if args.level == 1 {
            &hardened.level1
        } else {
            &hardened.level2
        };
        let passes = gate.percent >= args.min_score && decision["decision"] != "denied";
        gate_ok &= passes;
        results.push((input, given, hardened, decision, passes));
    }
    let text = if args.format == "sarif" {
        let mut s = serde_json::to_string_pretty(&sarif(&results))?;
        s.push('\n');
        s
    } else if args.format == "json" {
        let v: Vec<Value> = results
            .iter()
            .map(|(i, g, h, d, p)| json!({"input": i.name, "given": g, "hardened": h, "hardrun": d, "gate": {"level": args.level, "min_score": args.min_score, "passed": p}}))
            .collect();
        let mut s = serde_json::to_string_pretty(&v)?;
        s.push('\n');
        s
    } else {
        let color = std::io::stdout().is_terminal();
        results
            .iter()
            .map(|(i, g, h, d, p)| render_text(&i.name, g, h, d, *p, args, color))
            .collect()
    };
    super::out(text.as_bytes())?;
    Ok(if gate_ok { 0 } else { 1 })
}

fn render_text(
    name: &str,
    given: &Report,
    hardened: &Report,
    decision: &Value,
    passes: bool,
    args: &CheckArgs,
    color: bool,
) -> String {
    let paint = |s: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let mut out = format!("{name}\n");
    out.push_str(&format!(
        "  score as given:      level 1 {:>5.1}% ({}/{})   level 2 {:>5.1}% ({}/{})\n",
        given.level1.percent,
        given.level1.passed,
        given.level1.applicable,
        given.level2.percent,
        given.level2.passed,
        given.level2.applicable
    ));
    out.push_str(&format!(
        "  score as hardrun runs it ({}): level 1 {:>5.1}% ({}/{})   level 2 {:>5.1}% ({}/{})\n",
        decision["profile"].as_str().unwrap_or("stored spec"),
        hardened.level1.percent,
        hardened.level1.passed,
        hardened.level1.applicable,
        hardened.level2.percent,
        hardened.level2.passed,
        hardened.level2.applicable
    ));
    out.push_str(&format!(
        "  {:<6} {:<3} {:<10} {:<10} {}\n",
        "CIS", "L", "GIVEN", "HARDENED", "CONTROL"
    ));
    for (g, h) in given.controls.iter().zip(&hardened.controls) {
        let v = |c: &crate::compliance::ControlResult| match c.verdict {
            Verdict::Pass => paint("pass", "32"),
            Verdict::Fail => paint("FAIL", "31"),
            Verdict::NotApplicable => "n/a".to_owned(),
        };
        let pad = |s: String, w: usize| {
            let visible = if color && s.starts_with('\x1b') {
                s.len() - 9
            } else {
                s.len()
            };
            format!("{s}{}", " ".repeat(w.saturating_sub(visible)))
        };
        let reason = if h.verdict == Verdict::Fail {
            format!(" — {}", h.reason)
        } else if g.verdict == Verdict::Fail {
            format!(" — was: {}", g.reason)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {:<6} {:<3} {} {} {}{}\n",
            g.id,
            g.level,
            pad(v(g), 10),
            pad(v(h), 10),
            g.title,
            reason
        ));
    }
    if let Some(findings) = decision["findings"].as_array() {
        out.push_str(&format!(
            "  deviations hardrun makes ({}):\n",
            findings.len()
        ));
        for f in findings {
            out.push_str(&format!(
                "    [{}] {} {}: {}\n",
                f["action"].as_str().unwrap_or(""),
                f["code"].as_str().unwrap_or(""),
                f["pointer"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            ));
        }
    }
    if decision["decision"] == "denied" {
        out.push_str(&format!(
            "  hardrun refuses it: rule {}: {}\n",
            decision["rule"].as_str().unwrap_or(""),
            decision["reason"].as_str().unwrap_or("")
        ));
    }
    let gate = if args.level == 1 {
        &hardened.level1
    } else {
        &hardened.level2
    };
    out.push_str(&format!(
        "  gate (level {} ≥ {}%): {}\n\n",
        args.level,
        args.min_score,
        if passes {
            paint("pass", "32")
        } else {
            paint(&format!("FAIL ({:.1}%)", gate.percent), "31")
        }
    ));
    out
}

/// SARIF 2.1.0: one run of the `hardrun` tool. Rules are hardrun's rule codes (CIS controls in
/// their properties) plus `cis-<id>` for controls no rule fixes; results are the deviations
/// hardrun makes and the controls that still fail as hardrun runs the spec, located in the input
/// file by JSON pointer (a logical location).
fn sarif(results: &[(Input, Report, Report, Value, bool)]) -> Value {
    use crate::policy::code::RULES;
    let mut rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.code,
                "name": r.code,
                "shortDescription": {"text": r.description},
                "properties": {"cis": r.cis, "severity": r.severity},
            })
        })
        .collect();
    for c in crate::compliance::CONTROLS
        .iter()
        .filter(|c| c.decide.is_some())
    {
        rules.push(json!({
            "id": format!("cis-{}", c.id),
            "name": format!("cis-{}", c.id),
            "shortDescription": {"text": format!("CIS Docker Benchmark {}: {}", c.id, c.title)},
            "properties": {"cis": [c.id], "level": c.level, "satisfiedBy": c.rules},
        }));
    }
    let level = |sev: &str| match sev {
        "critical" | "high" => "error",
        "medium" => "warning",
        _ => "note",
    };
    let location = |uri: &str, pointer: &str| {
        json!({
            "physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": 1}},
            "logicalLocations": [{"fullyQualifiedName": pointer, "kind": "member"}],
        })
    };
    let mut out = vec![];
    for (input, _, hardened, decision, _) in results {
        for f in decision["findings"].as_array().into_iter().flatten() {
            let code = f["code"].as_str().unwrap_or("");
            let sev = f["severity"].as_str().unwrap_or("low");
            out.push(json!({
                "ruleId": code,
                "level": level(sev),
                "message": {"text": format!("{} ({})", f["message"].as_str().unwrap_or(""), f["action"].as_str().unwrap_or(""))},
                "locations": [location(&input.name, f["pointer"].as_str().unwrap_or(""))],
                "properties": {"cis": f["cis"], "action": f["action"], "before": f["before"], "after": f["after"]},
            }));
        }
        for c in hardened
            .controls
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
        {
            out.push(json!({
                "ruleId": format!("cis-{}", c.id),
                "level": "error",
                "message": {"text": format!("CIS {} fails as hardrun runs it: {}", c.id, c.reason)},
                "locations": [location(&input.name, "")],
                "properties": {"cis": [c.id], "level": c.level},
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "hardrun",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": out,
        }],
    })
}
