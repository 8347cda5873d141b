//! `hardrun check --bundle DIR | --spec FILE | --running [ID…]`: the CIS score of a spec as given
//! and as hardrun would run it (under `--profile` or the configured default), each control's
//! verdict, and the deviations hardrun would make. Exit 0 when the gate passes (`--min-score`,
//! default 85 %, at `--level`), 1 when below, 2 on bad input.
//!
//! `hardrun check --running --live [ID…]`: verify, not trust. The kernel's view of every process
//! of each created, running or paused container, compared with its profile (see
//! [`crate::live`]); one line per drift. Exit 0 when every process holds its profile, 1 on any
//! drift (or anything that could not be read), 2 on bad input.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, Result};
use serde_json::{json, Value};

use crate::base::RealHost;
use crate::cli::{CheckArgs, GlobalOpts};
use crate::compliance::{score, Report, Verdict};
use crate::live::LiveReport;
use crate::policy::rules::cis_score::score_as_run;
use crate::state_dir::Root;

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
            spec: read(file)?,
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
            let cfg = global.root.join(&id).join("bundle").join("config.json");
            out.push(Input {
                name: format!("container {id}"),
                id: id.clone(),
                bundle: global.root.join(&id).join("bundle"),
                spec: read(&cfg)?,
                file: cfg.clone(),
                hardened: true,
                original: Some(read(&global.root.join(&id).join("config.orig.json"))?),
                profile: crate::state_dir::read_record(&global.root.join(&id))
                    .and_then(|r| r.profile),
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
    let config = super::policy_config(global)?;
    let root = Root::new(&global.root);
    let mut reports = vec![];
    for id in selected(&root, args)? {
        let dir = root.existing(&id)?;
        let created_under = crate::state_dir::read_record(&dir).and_then(|r| r.profile);
        let profile = created_under
            .as_deref()
            .and_then(|p| config.profile(Some(p)).ok());
        let report =
            crate::live::inspect(&dir, &id, profile).map_err(|e| anyhow!("container {id}: {e}"))?;
        reports.push((dir.join("bundle").join("config.json"), report));
    }
    let clean = reports.iter().all(|(_, r)| r.clean());
    let text = match args.format.as_str() {
        "json" => {
            let v: Vec<&LiveReport> = reports.iter().map(|(_, r)| r).collect();
            let mut s = serde_json::to_string_pretty(&v)?;
            s.push('\n');
            s
        }
        "sarif" => {
            let mut s =
                serde_json::to_string_pretty(&live_sarif(&reports, if clean { 0 } else { 1 }))?;
            s.push('\n');
            s
        }
        _ => {
            let mut s = String::new();
            for (_, r) in &reports {
                for l in r.lines() {
                    s.push_str(&l);
                    s.push('\n');
                }
                s.push_str(&r.summary());
                s.push('\n');
            }
            s
        }
    };
    super::out(text.as_bytes())?;
    Ok(if clean { 0 } else { 1 })
}

/// SARIF 2.1.0 for the live check: one rule per kind of drift (`live-seccomp`, …), one result
/// per drift, located at the spec field of the container's hardened config.json that requires
/// what the kernel does not show.
fn live_sarif(reports: &[(PathBuf, LiveReport)], exit_code: i32) -> Value {
    use crate::live::Kind;
    let rules: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| {
            json!({
                "id": k.code(),
                "name": k.code(),
                "shortDescription": {"text": k.description()},
                "help": {"text": "`hardrun check --running --live` compares the kernel's view of each process (/proc/<pid>/status, ns, uid_map, mountinfo) with the container's profile."},
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["security", "container", "runtime"], "security-severity": "8.0"},
            })
        })
        .collect();
    let mut results = vec![];
    let mut inputs = vec![];
    for (file, r) in reports {
        let uri = artifact_uri(file);
        let lines = pointer_lines(&std::fs::read_to_string(file).unwrap_or_default());
        for p in &r.processes {
            for d in &p.drifts {
                let fingerprint = {
                    use sha2::{Digest, Sha256};
                    let h = Sha256::digest(
                        format!(
                            "{}\0{}\0{}\0{}\0{}",
                            d.kind.code(),
                            d.pointer,
                            d.field,
                            p.comm,
                            uri
                        )
                        .as_bytes(),
                    );
                    format!("{h:x}")[..32].to_owned()
                };
                results.push(json!({
                    "ruleId": d.kind.code(),
                    "level": "error",
                    "message": {"text": format!("{} pid {} ({}): {d}", r.id, p.pid, p.comm)},
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri},
                            "region": {"startLine": line_of(&lines, &d.pointer)},
                        },
                        "logicalLocations": [{"fullyQualifiedName": d.pointer, "kind": "member"}],
                    }],
                    "partialFingerprints": {"hardrunLive/v1": fingerprint},
                    "properties": {"container": r.id, "pid": p.pid, "tid": d.tid, "comm": p.comm, "init": p.init, "field": d.field, "actual": d.actual, "expected": d.expected},
                }));
            }
        }
        inputs.push(json!({
            "uri": uri,
            "container": r.id,
            "status": r.status,
            "profile": r.profile,
            "processes": r.processes.len(),
            "drifts": r.drift_count(),
            "unverified": r.unverified,
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "hardrun",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "automationDetails": {"id": "hardrun-check-live/"},
            "invocations": [{"executionSuccessful": true, "exitCode": exit_code}],
            "results": results,
            "properties": {"inputs": inputs},
        }],
    })
}

/// The gate applied to one input: the level, the minimum, and whether it passed.
#[derive(Debug, Clone, Copy)]
struct Gate {
    level: u8,
    min_score: f64,
    passed: bool,
}

type Checked = (Input, Report, Report, Value, Gate);

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
    let mut results: Vec<Checked> = vec![];
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
                    let decision = match crate::delegate::user_namespace_refusal(&o.value) {
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
        results.push((
            input,
            given,
            hardened,
            decision,
            Gate {
                level,
                min_score,
                passed,
            },
        ));
    }
    let gate_ok = results.iter().all(|r| r.4.passed);
    let text = if args.format == "sarif" {
        let mut s = serde_json::to_string_pretty(&sarif(&results, if gate_ok { 0 } else { 1 }))?;
        s.push('\n');
        s
    } else if args.format == "json" {
        let v: Vec<Value> = results
            .iter()
            .map(|(i, g, h, d, p)| json!({"input": i.name, "given": g, "hardened": h, "hardrun": d, "gate": {"level": p.level, "min_score": p.min_score, "passed": p.passed}}))
            .collect();
        let mut s = serde_json::to_string_pretty(&v)?;
        s.push('\n');
        s
    } else {
        let color = std::io::stdout().is_terminal();
        results
            .iter()
            .map(|(i, g, h, d, p)| render_text(&i.name, g, h, d, *p, color))
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
    gate_of: Gate,
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
    if decision["decision"] == "invalid" {
        out.push_str(&format!(
            "  hardrun cannot run it: {}\n",
            decision["reason"].as_str().unwrap_or("")
        ));
    }
    let gate = if gate_of.level == 1 {
        &hardened.level1
    } else {
        &hardened.level2
    };
    out.push_str(&format!(
        "  gate (level {} ≥ {}%): {}\n\n",
        gate_of.level,
        gate_of.min_score,
        if gate_of.passed {
            paint("pass", "32")
        } else {
            paint(&format!("FAIL ({:.1}%)", gate.percent), "31")
        }
    ));
    out
}

/// SARIF 2.1.0: one run of the `hardrun` tool. Rules are hardrun's rule codes (CIS controls in
/// their properties) plus `cis-<id>` for the controls that still fail as hardrun runs the spec.
/// Results are located in the input file: a relative path (or a `file://` URI outside the
/// working directory), the line of the value the JSON pointer names (or of its nearest parent
/// that exists), and the pointer as a logical location; each carries a fingerprint of rule,
/// pointer and file, so re-uploads update alerts instead of duplicating them. The gate's outcome
/// is in the run's properties and invocation.
fn sarif(results: &[Checked], exit_code: i32) -> Value {
    use crate::base::rule::RULES;
    let sev_score = |sev: &str| match sev {
        "critical" => "9.5",
        "high" => "8.0",
        "medium" => "5.5",
        _ => "3.0",
    };
    let level = |sev: &str| match sev {
        "critical" | "high" => "error",
        "medium" => "warning",
        _ => "note",
    };
    let mut rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let sev = serde_json::to_value(r.severity).unwrap_or_default();
            let sev = sev.as_str().unwrap_or("low");
            json!({
                "id": r.code,
                "name": r.code,
                "shortDescription": {"text": r.description},
                "fullDescription": {"text": format!("hardrun rule {}: {}. CIS Docker Benchmark: {}.", r.code, r.description, if r.cis.is_empty() { "-".to_owned() } else { r.cis.join(", ") })},
                "help": {
                    "text": format!("See docs/rules/{}.md in hardrun's repository, or `hardrun profile show <profile> --format markdown`.", r.code),
                    "markdown": format!("See [docs/rules/{0}.md](docs/rules/{0}.md) in hardrun's repository, or `hardrun profile show <profile> --format markdown`.", r.code),
                },
                "defaultConfiguration": {"level": level(sev)},
                "properties": {"cis": r.cis, "severity": sev, "tags": ["security", "container"], "security-severity": sev_score(sev)},
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
            "fullDescription": {"text": format!("CIS Docker Benchmark v1.6.0 control {} (Level {}): {}. hardrun rules that satisfy it: {}.", c.id, c.level, c.title, if c.rules().is_empty() { "-".to_owned() } else { c.rules().join(", ") })},
            "help": {"text": format!("Fails as hardrun would run the spec. Rules that satisfy it: {}.", if c.rules().is_empty() { "-".to_owned() } else { c.rules().join(", ") })},
            "defaultConfiguration": {"level": "error"},
            "properties": {"cis": [c.id], "level": c.level, "satisfiedBy": c.rules(), "tags": ["security", "compliance", "cis"], "security-severity": "7.0"},
        }));
    }
    let mut out = vec![];
    let mut inputs = vec![];
    for (input, given, hardened, decision, gate) in results {
        let uri = artifact_uri(&input.file);
        let text = std::fs::read_to_string(&input.file).unwrap_or_default();
        let lines = pointer_lines(&text);
        let location = |pointer: &str| {
            let mut loc = json!({
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": line_of(&lines, pointer)},
                },
            });
            if !pointer.is_empty() {
                loc["logicalLocations"] =
                    json!([{"fullyQualifiedName": pointer, "kind": "member"}]);
            }
            loc
        };
        let fingerprint = |rule: &str, pointer: &str| {
            use sha2::{Digest, Sha256};
            let h = Sha256::digest(format!("{rule}\0{pointer}\0{uri}").as_bytes());
            format!("{h:x}")[..32].to_owned()
        };
        for f in decision["findings"].as_array().into_iter().flatten() {
            let code = f["code"].as_str().unwrap_or("");
            let sev = f["severity"].as_str().unwrap_or("low");
            let pointer = f["pointer"].as_str().unwrap_or("");
            out.push(json!({
                "ruleId": code,
                "level": level(sev),
                "message": {"text": format!("{} ({})", f["message"].as_str().unwrap_or(""), f["action"].as_str().unwrap_or(""))},
                "locations": [location(pointer)],
                "partialFingerprints": {"hardrunFinding/v1": fingerprint(code, pointer)},
                "properties": {"cis": f["cis"], "action": f["action"], "before": f["before"], "after": f["after"]},
            }));
        }
        for c in hardened
            .controls
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
        {
            let pointer = control_pointer(c.id);
            let rule = format!("cis-{}", c.id);
            out.push(json!({
                "ruleId": rule,
                "level": "error",
                "message": {"text": format!("CIS {} fails as hardrun runs it: {}", c.id, c.reason)},
                "locations": [location(pointer)],
                "partialFingerprints": {"hardrunFinding/v1": fingerprint(&rule, pointer)},
                "properties": {"cis": [c.id], "level": c.level},
            }));
        }
        inputs.push(json!({
            "uri": uri,
            "given": {"level1": given.level1.percent, "level2": given.level2.percent},
            "hardened": {"level1": hardened.level1.percent, "level2": hardened.level2.percent},
            "gate": {"level": gate.level, "min_score": gate.min_score, "passed": gate.passed},
            "decision": decision["decision"],
            "deniedBy": decision.get("rule"),
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "hardrun",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "automationDetails": {"id": "hardrun-check/"},
            "invocations": [{"executionSuccessful": true, "exitCode": exit_code}],
            "results": out,
            "properties": {"inputs": inputs},
        }],
    })
}

/// The JSON pointer a CIS control is decided at (its first field).
fn control_pointer(id: &str) -> &'static str {
    match id {
        "4.1" => "/process/user/uid",
        "5.2" => "/process/apparmorProfile",
        "5.3" => "/process/selinuxLabel",
        "5.4" | "5.5" => "/process/capabilities",
        "5.6" | "5.32" => "/mounts",
        "5.10" | "5.16" | "5.17" | "5.21" => "/linux/namespaces",
        "5.11" => "/linux/resources/memory",
        "5.12" => "/linux/resources/cpu",
        "5.13" => "/root/readonly",
        "5.18" => "/linux/devices",
        "5.19" => "/process/rlimits",
        "5.20" => "/linux/rootfsPropagation",
        "5.22" => "/linux/seccomp",
        "5.25" => "/linux/cgroupsPath",
        "5.26" => "/process/noNewPrivileges",
        "5.29" => "/linux/resources/pids",
        "5.31" => "/linux/uidMappings",
        _ => "",
    }
}

/// A SARIF artifact URI for `file`: relative to the working directory when it is inside it (what
/// code-scanning uploads match against the repository), else an absolute `file://` URI;
/// percent-encoded either way.
fn artifact_uri(file: &std::path::Path) -> String {
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let cwd = std::env::current_dir().ok();
    let (prefix, path) = match cwd.as_deref().and_then(|c| abs.strip_prefix(c).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => ("", rel.to_string_lossy().into_owned()),
        _ => ("file://", abs.to_string_lossy().into_owned()),
    };
    let mut out = String::from(prefix);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The line (1-based) of the value the pointer names, else of its nearest parent in `lines`.
fn line_of(lines: &std::collections::HashMap<String, usize>, pointer: &str) -> usize {
    let mut p = pointer;
    loop {
        if let Some(l) = lines.get(p) {
            return *l;
        }
        match p.rfind('/') {
            Some(i) => p = &p[..i],
            None => return 1,
        }
    }
}

/// Where each value of a JSON text starts: JSON pointer → line (1-based). Built by one scan of
/// the text (serde_json keeps no positions); invalid JSON gives what was seen up to the error.
pub fn pointer_lines(text: &str) -> std::collections::HashMap<String, usize> {
    enum Frame {
        Obj(Option<String>),
        Arr(usize),
    }
    let pointer = |stack: &[Frame]| -> String {
        let mut p = String::new();
        for f in stack {
            match f {
                Frame::Obj(Some(k)) => {
                    p.push('/');
                    p.push_str(&k.replace('~', "~0").replace('/', "~1"));
                }
                Frame::Obj(None) => {}
                Frame::Arr(i) => p.push_str(&format!("/{i}")),
            }
        }
        p
    };
    let mut out = std::collections::HashMap::new();
    let mut stack: Vec<Frame> = vec![];
    let mut expect_key = false;
    let b = text.as_bytes();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => line += 1,
            b' ' | b'\t' | b'\r' | b':' => {}
            b',' => match stack.last_mut() {
                Some(Frame::Arr(n)) => *n += 1,
                Some(Frame::Obj(_)) => expect_key = true,
                None => {}
            },
            b'{' | b'[' => {
                out.entry(pointer(&stack)).or_insert(line);
                stack.push(if c == b'{' {
                    Frame::Obj(None)
                } else {
                    Frame::Arr(0)
                });
                expect_key = c == b'{';
            }
            b'}' | b']' => {
                stack.pop();
                expect_key = false;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let raw = &text[start..(i + 1).min(text.len())];
                if expect_key {
                    let key: String = serde_json::from_str(raw).unwrap_or_default();
                    if let Some(Frame::Obj(k)) = stack.last_mut() {
                        *k = Some(key);
                    }
                    expect_key = false;
                } else {
                    out.entry(pointer(&stack)).or_insert(line);
                }
            }
            _ => {
                // a number or a literal: up to the next delimiter
                out.entry(pointer(&stack)).or_insert(line);
                while i + 1 < b.len() && !b",}] \t\r\n".contains(&b[i + 1]) {
                    i += 1;
                }
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_lines_finds_every_value_and_escapes_keys() {
        let text = "{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": {\n    \"user\": {\"uid\": 0},\n    \"args\": [\n      \"sh\",\n      \"-c\"\n    ]\n  },\n  \"annotations\": {\"a/b~c\": \"x,]}\\\"\"},\n  \"n\": -1.5e3\n}\n";
        let v: Value = serde_json::from_str(text).unwrap();
        let lines = pointer_lines(text);
        for (p, l) in [
            ("", 1),
            ("/ociVersion", 2),
            ("/process", 3),
            ("/process/user", 4),
            ("/process/user/uid", 4),
            ("/process/args", 5),
            ("/process/args/0", 6),
            ("/process/args/1", 7),
            ("/annotations/a~1b~0c", 10),
            ("/n", 11),
        ] {
            assert!(v.pointer(p).is_some(), "{p}");
            assert_eq!(lines.get(p), Some(&l), "{p}: {lines:?}");
        }
        assert_eq!(lines.len(), 11, "{lines:?}");
        // a pointer to an absent field lands on its nearest parent
        assert_eq!(line_of(&lines, "/process/noNewPrivileges"), 3);
        assert_eq!(line_of(&lines, "/linux/seccomp"), 1);
    }

    #[test]
    fn artifact_uris() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            artifact_uri(&cwd.join("deploy/config.json")),
            "deploy/config.json"
        );
        assert_eq!(
            artifact_uri(std::path::Path::new("a b/config.json")),
            "a%20b/config.json"
        );
        assert_eq!(
            artifact_uri(std::path::Path::new("/nonexistent-root/x y/config.json")),
            "file:///nonexistent-root/x%20y/config.json"
        );
    }
}
