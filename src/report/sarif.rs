//! SARIF 2.1.0, what GitHub code scanning and other SARIF consumers upload: `check`'s document
//! ([`check`]) and `check --live`'s ([`live`]), one run of the `hardrun` tool each.
//!
//! Hand-written with `serde_json::json!` rather than the `serde-sarif` crate's types: the output
//! is a `serde_json::Value`, whose keys serde_json writes sorted, and serde-sarif's structs
//! would write them in declaration order, so `check --format sarif` would no longer be
//! byte-identical to what users and their baselines have; every extra the document carries
//! (`security-severity`, the gate's `inputs`, the live check's processes) would go through
//! serde-sarif's untyped property bags anyway; and it would add a code generator's worth of
//! dependencies (typed-builder, strum) for one output format. `tests/sarif.rs` validates the
//! documents against the official SARIF 2.1.0 schema instead.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::compliance::{Verdict, CONTROLS};
use crate::policy::code::RULES;

use super::{Checked, LiveInput};

/// One SARIF log of one run of the `hardrun` tool: its `rules`, `results`, the inputs it looked
/// at (the run's properties) and the command's exit code.
fn document(
    automation_id: &str,
    rules: Vec<Value>,
    results: Vec<Value>,
    inputs: Vec<Value>,
    exit_code: i32,
) -> Value {
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
            "automationDetails": {"id": automation_id},
            "invocations": [{"executionSuccessful": true, "exitCode": exit_code}],
            "results": results,
            "properties": {"inputs": inputs},
        }],
    })
}

/// A result's partial fingerprint: the first 128 bits of the SHA-256 of `parts` joined by NULs,
/// in hex, so re-uploads update alerts instead of duplicating them.
fn fingerprint(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(parts.join("\0").as_bytes());
    format!("{h:x}")[..32].to_owned()
}

/// SARIF 2.1.0: one run of the `hardrun` tool. Rules are hardrun's rule codes (CIS controls in
/// their properties) plus `cis-<id>` for the controls that still fail as hardrun runs the spec.
/// Results are located in the input file: a relative path (or a `file://` URI outside the
/// working directory), the line of the value the JSON pointer names (or of its nearest parent
/// that exists), and the pointer as a logical location; each carries a fingerprint of rule,
/// pointer and file, so re-uploads update alerts instead of duplicating them. The gate's outcome
/// is in the run's properties and invocation.
pub fn check(results: &[Checked], exit_code: i32) -> Value {
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
    for c in CONTROLS.iter().filter(|c| c.decide.is_some()) {
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
    for Checked {
        file,
        given,
        hardened,
        decision,
        gate,
        ..
    } in results
    {
        let uri = artifact_uri(file);
        let text = std::fs::read_to_string(file).unwrap_or_default();
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
        let fingerprint = |rule: &str, pointer: &str| fingerprint(&[rule, pointer, &uri]);
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
    document("hardrun-check/", rules, out, inputs, exit_code)
}

/// SARIF 2.1.0 for the live check: one rule per kind of drift (`live-seccomp`, …), one result
/// per drift, located at the spec field of the container's hardened config.json that requires
/// what the kernel does not show.
pub fn live(inputs: &[LiveInput], kinds: &[(&str, &str)], exit_code: i32) -> Value {
    let rules: Vec<Value> = kinds
        .iter()
        .map(|(code, description)| {
            json!({
                "id": code,
                "name": code,
                "shortDescription": {"text": description},
                "help": {"text": "`hardrun check --running --live` compares the kernel's view of each process (/proc/<pid>/status, ns, uid_map, mountinfo) with the container's profile."},
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["security", "container", "runtime"], "security-severity": "8.0"},
            })
        })
        .collect();
    let mut results = vec![];
    let mut runs_inputs = vec![];
    for input in inputs {
        let uri = artifact_uri(&input.file);
        let lines = pointer_lines(&std::fs::read_to_string(&input.file).unwrap_or_default());
        for d in &input.drifts {
            results.push(json!({
                "ruleId": d.rule,
                "level": "error",
                "message": {"text": d.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri},
                        "region": {"startLine": line_of(&lines, &d.pointer)},
                    },
                    "logicalLocations": [{"fullyQualifiedName": d.pointer, "kind": "member"}],
                }],
                "partialFingerprints": {"hardrunLive/v1": fingerprint(&[d.rule, &d.pointer, &d.field, &d.comm, &uri])},
                "properties": d.properties,
            }));
        }
        let mut entry = input.properties.clone();
        entry["uri"] = json!(uri);
        runs_inputs.push(entry);
    }
    document(
        "hardrun-check-live/",
        rules,
        results,
        runs_inputs,
        exit_code,
    )
}

/// The JSON pointer a CIS control is decided at (its first field).
pub fn control_pointer(id: &str) -> &'static str {
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
pub fn artifact_uri(file: &Path) -> String {
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
pub fn line_of(lines: &HashMap<String, usize>, pointer: &str) -> usize {
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
pub fn pointer_lines(text: &str) -> HashMap<String, usize> {
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
    let mut out = HashMap::new();
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
            artifact_uri(Path::new("a b/config.json")),
            "a%20b/config.json"
        );
        assert_eq!(
            artifact_uri(Path::new("/nonexistent-root/x y/config.json")),
            "file:///nonexistent-root/x%20y/config.json"
        );
    }
}
