//! `hardrun check --format sarif` against the official SARIF 2.1.0 JSON schema
//! (`tests/fixtures/sarif-schema-2.1.0.json`, provenance in `sarif-schema-2.1.0.SOURCE`), with
//! format validation on and no remote references. No container is started: this runs as any
//! user.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jsonschema::Validator;
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The official schema's `language` pattern (of `run` and `toolComponent`) has a stray `]`. ECMA-262 (Annex B) reads a lone
/// `]` as a literal, but the jsonschema crate checks the schema against the draft-07 meta-schema
/// with a strict "regex" format and refuses to compile it. The test escapes that one `]`, which
/// keeps the pattern's meaning; the file itself stays byte for byte the published one.
const LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";

fn validator() -> Validator {
    let text = std::fs::read_to_string(fixtures().join("sarif-schema-2.1.0.json")).unwrap();
    let mut schema: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        schema["$schema"], "http://json-schema.org/draft-07/schema#",
        "the fixture is the draft-07 SARIF schema"
    );
    for def in ["run", "toolComponent"] {
        let pattern = &mut schema["definitions"][def]["properties"]["language"]["pattern"];
        assert_eq!(
            pattern, LANGUAGE_PATTERN,
            "the fixture changed: revisit the fix-up"
        );
        *pattern = json!(LANGUAGE_PATTERN.replace("]?$", "\\]?$"));
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

/// Every schema violation, one per line (empty when the document is valid).
fn violations(v: &Validator, doc: &Value) -> String {
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}\n", e.instance_path()))
        .collect()
}

/// A temporary directory with a config that writes no audit log.
struct Tmp(tempfile::TempDir);

impl Tmp {
    fn new() -> Tmp {
        let t = Tmp(tempfile::tempdir().unwrap());
        std::fs::write(t.config(), "audit_log = \"\"\n").unwrap();
        t
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn config(&self) -> PathBuf {
        self.path().join("config.toml")
    }
    fn hardrun(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hardrun"))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .env_remove("HARDRUN_CONFIG")
            .env_remove("HARDRUN_PROFILE")
            .env_remove("HARDRUN_MODE")
            .current_dir(self.path())
            .output()
            .unwrap()
    }
    /// `check --spec FILE --format sarif`: the parsed document and the exit code.
    fn sarif(&self, spec: &Path) -> (Value, Option<i32>) {
        let out = self.hardrun(&[
            "check",
            "--spec",
            spec.to_str().unwrap(),
            "--format",
            "sarif",
        ]);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0) | Some(1)),
            "exit {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        (doc, code)
    }
    /// runc's default spec, as `hardrun spec` writes it, edited by `edit`.
    fn default_spec(&self, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let dir = self.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let out = self.hardrun(&["spec", "--bundle", dir.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = dir.join("config.json");
        let mut spec: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        edit(&mut spec);
        std::fs::write(&file, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        file
    }
}

/// What GitHub code scanning needs beyond the schema and hardrun already gives: a tool name,
/// a ruleId that names a rule of the run, a message, and a physical location with a URI and a
/// start line in every result.
fn assert_uploadable(doc: &Value) {
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "hardrun");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for code in hardrun::policy::code::RULES.iter().map(|r| r.code) {
        assert!(
            rules.contains(&code),
            "rule {code} not in the driver's rules"
        );
    }
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty(), "no results");
    for r in results {
        let id = r["ruleId"].as_str().unwrap_or_default();
        assert!(rules.contains(&id), "result with unknown ruleId: {r}");
        assert!(
            !r["message"]["text"].as_str().unwrap_or_default().is_empty(),
            "{r}"
        );
        let locs = r["locations"].as_array().unwrap();
        assert!(!locs.is_empty(), "no location: {r}");
        for l in locs {
            let p = &l["physicalLocation"];
            assert!(
                !p["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty(),
                "no artifact uri: {r}"
            );
            assert!(p["region"]["startLine"].as_u64().unwrap_or(0) >= 1, "{r}");
        }
    }
}

#[test]
fn the_schema_rejects_broken_sarif() {
    let v = validator();
    let t = Tmp::new();
    let (doc, _) = t.sarif(&fixtures().join("containerd-spec.json"));
    assert_eq!(violations(&v, &doc), "");

    let mut no_version = doc.clone();
    no_version.as_object_mut().unwrap().remove("version");
    assert!(!v.is_valid(&no_version), "a log without version passes");
    assert!(violations(&v, &no_version).contains("version"));

    let mut wrong_version = doc.clone();
    wrong_version["version"] = json!("2.0.0");
    assert!(!v.is_valid(&wrong_version), "version 2.0.0 passes");

    let mut no_message = doc.clone();
    no_message["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!v.is_valid(&no_message), "a result without message passes");

    let mut bad_level = doc.clone();
    bad_level["runs"][0]["results"][0]["level"] = json!("critical");
    assert!(!v.is_valid(&bad_level), "level \"critical\" passes");

    let mut unknown = doc.clone();
    unknown["runs"][0]["tool"]["driver"]["severity"] = json!("high");
    assert!(!v.is_valid(&unknown), "an unknown driver property passes");

    let mut bad_uri = doc;
    bad_uri["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"] = json!("container one two");
    assert!(!v.is_valid(&bad_uri), "a uri with spaces passes");
}

#[test]
fn containerd_spec_sarif_is_valid() {
    let v = validator();
    let t = Tmp::new();
    let (doc, _) = t.sarif(&fixtures().join("containerd-spec.json"));
    assert_eq!(violations(&v, &doc), "", "{doc:#}");
    assert_eq!(doc["version"], "2.1.0");
    assert_uploadable(&doc);
}

#[test]
fn runc_default_spec_sarif_is_valid() {
    let v = validator();
    let t = Tmp::new();
    let spec = t.default_spec("default", |_| {});
    let (doc, code) = t.sarif(&spec);
    assert_eq!(violations(&v, &doc), "", "{doc:#}");
    assert_uploadable(&doc);
    // runc's default spec runs as root: the user rule rewrites it
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "user"), "{doc:#}");
    assert_eq!(
        code,
        Some(0),
        "restricted lifts runc's default spec over its gate"
    );
}

#[test]
fn privileged_spec_sarif_is_valid_and_names_the_refusal() {
    let v = validator();
    let t = Tmp::new();
    let spec = t.default_spec("privileged", |s| {
        // what `docker run --privileged` looks like: every capability, no seccomp, nothing
        // masked, every device
        let all: Vec<Value> = [
            "CHOWN",
            "DAC_OVERRIDE",
            "DAC_READ_SEARCH",
            "FOWNER",
            "FSETID",
            "KILL",
            "SETGID",
            "SETUID",
            "SETPCAP",
            "LINUX_IMMUTABLE",
            "NET_BIND_SERVICE",
            "NET_BROADCAST",
            "NET_ADMIN",
            "NET_RAW",
            "IPC_LOCK",
            "IPC_OWNER",
            "SYS_MODULE",
            "SYS_RAWIO",
            "SYS_CHROOT",
            "SYS_PTRACE",
            "SYS_PACCT",
            "SYS_ADMIN",
            "SYS_BOOT",
            "SYS_NICE",
            "SYS_RESOURCE",
            "SYS_TIME",
            "SYS_TTY_CONFIG",
            "MKNOD",
            "LEASE",
            "AUDIT_WRITE",
            "AUDIT_CONTROL",
            "SETFCAP",
            "MAC_OVERRIDE",
            "MAC_ADMIN",
            "SYSLOG",
            "WAKE_ALARM",
            "BLOCK_SUSPEND",
            "AUDIT_READ",
            "PERFMON",
            "BPF",
            "CHECKPOINT_RESTORE",
        ]
        .iter()
        .map(|c| json!(format!("CAP_{c}")))
        .collect();
        for set in ["bounding", "effective", "permitted"] {
            s["process"]["capabilities"][set] = json!(all);
        }
        let linux = s["linux"].as_object_mut().unwrap();
        linux.remove("seccomp");
        linux.remove("maskedPaths");
        linux.remove("readonlyPaths");
        s["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    });
    let (doc, code) = t.sarif(&spec);
    assert_eq!(violations(&v, &doc), "", "{doc:#}");
    assert_uploadable(&doc);
    assert_eq!(code, Some(1), "restricted refuses a privileged container");
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "privileged" && r["level"] == "error"),
        "{doc:#}"
    );
}

#[test]
fn results_point_at_the_line_of_their_field_and_have_stable_fingerprints() {
    let v = validator();
    let t = Tmp::new();
    // a directory with a space, inside the working directory: a relative, encoded uri
    let spec = t.default_spec("my bundle", |_| {});
    let (doc, _) = t.sarif(&spec);
    assert_eq!(violations(&v, &doc), "", "{doc:#}");
    let text = std::fs::read_to_string(&spec).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let user = results
        .iter()
        .find(|r| r["ruleId"] == "user")
        .expect("a user finding");
    let loc = &user["locations"][0];
    assert_eq!(
        loc["physicalLocation"]["artifactLocation"]["uri"],
        "my%20bundle/config.json"
    );
    let pointer = loc["logicalLocations"][0]["fullyQualifiedName"]
        .as_str()
        .unwrap();
    assert!(pointer.starts_with("/process/user"), "{pointer}");
    let line = loc["physicalLocation"]["region"]["startLine"]
        .as_u64()
        .unwrap() as usize;
    let field = pointer.rsplit('/').next().unwrap();
    assert!(
        text.lines()
            .nth(line - 1)
            .unwrap()
            .contains(&format!("\"{field}\"")),
        "line {line} of {pointer}: {text}"
    );
    // fingerprints: present, distinct per (rule, pointer), the same on a second run
    let prints: Vec<&str> = results
        .iter()
        .map(|r| {
            r["partialFingerprints"]["hardrunFinding/v1"]
                .as_str()
                .unwrap()
        })
        .collect();
    let mut unique = prints.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), prints.len(), "{prints:?}");
    let (again, _) = t.sarif(&spec);
    let again: Vec<&str> = again["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["partialFingerprints"]["hardrunFinding/v1"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(prints, again);
    // the gate's outcome travels with the run
    let run = &doc["runs"][0];
    assert_eq!(run["invocations"][0]["exitCode"], 0);
    assert_eq!(run["properties"]["inputs"][0]["gate"]["passed"], true);
    assert_eq!(run["automationDetails"]["id"], "hardrun-check/");
}
