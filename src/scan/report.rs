//! Reading one scanner report: Trivy's JSON (`trivy image -f json`, `SchemaVersion` 2) and SARIF, and
//! Grype's (`grype -o json`). Every error names the file and the field (`Results[1].
//! Vulnerabilities[0].Severity`), in one lower-case line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A finding's severity, as both scanners grade them (Grype's `Negligible` counts as low).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Critical,
        Level::High,
        Level::Medium,
        Level::Low,
        Level::Unknown,
    ];

    /// A scanner's severity name, in any case.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "critical" => Level::Critical,
            "high" => Level::High,
            "medium" | "moderate" => Level::Medium,
            "low" | "negligible" => Level::Low,
            "unknown" | "" => Level::Unknown,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Unknown => "unknown",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One vulnerability of one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vuln {
    pub id: String,
    pub package: String,
    #[serde(default)]
    pub installed: String,
    /// the version that fixes it, if there is one
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    pub severity: Level,
}

/// A parsed report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `trivy` or `grype`
    pub scanner: String,
    /// the image name the scanner was given
    pub artifact: String,
    /// index keys: normalized references and digests of the image
    pub keys: Vec<String>,
    /// unix seconds: the report's own time, else the fallback (the file's mtime)
    pub created: i64,
    pub vulns: Vec<Vuln>,
}

impl Report {
    pub fn counts(&self) -> BTreeMap<Level, usize> {
        counts(&self.vulns)
    }

    pub fn entry(&self, file: &str) -> super::Entry {
        super::Entry {
            file: file.to_owned(),
            scanner: self.scanner.clone(),
            created: self.created,
            artifact: self.artifact.clone(),
            keys: self.keys.clone(),
            counts: self.counts(),
        }
    }
}

/// Findings per severity, every severity present (zero where none).
pub fn counts(vulns: &[Vuln]) -> BTreeMap<Level, usize> {
    let mut c: BTreeMap<Level, usize> = Level::ALL.iter().map(|l| (*l, 0)).collect();
    for v in vulns {
        *c.entry(v.severity).or_default() += 1;
    }
    c
}

/// Parses a report; `file` names it in errors, `fallback_time` is used when the report carries
/// no time of its own.
pub fn parse(text: &str, file: &str, fallback_time: i64) -> Result<Report, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "{file}: not json: {}",
            e.to_string().to_lowercase().replace('\n', " ")
        )
    })?;
    let Some(obj) = doc.as_object() else {
        return Err(format!(
            "{file}: not a scan report (the top level is no object)"
        ));
    };
    if obj.contains_key("SchemaVersion") {
        trivy(&doc, file, fallback_time)
    } else if obj.contains_key("matches") {
        grype(&doc, file, fallback_time)
    } else if obj.contains_key("runs") {
        sarif(&doc, file, fallback_time)
    } else {
        Err(format!(
            "{file}: neither trivy's report (no SchemaVersion) nor grype's (no matches)"
        ))
    }
}

fn err(file: &str, field: &str, what: &str) -> String {
    format!("{file}: field {field}: {what}")
}

fn string<'a>(v: &'a Value, file: &str, field: &str) -> Result<&'a str, String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s),
        Value::Null => Err(err(file, field, "missing")),
        Value::String(_) => Err(err(file, field, "empty")),
        _ => Err(err(file, field, "not a string")),
    }
}

fn opt_string(v: &Value, file: &str, field: &str) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(err(file, field, "not a string")),
    }
}

fn array<'a>(v: &'a Value, file: &str, field: &str) -> Result<&'a [Value], String> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        _ => Err(err(file, field, "not an array")),
    }
}

fn time(v: &Value, file: &str, field: &str) -> Result<Option<i64>, String> {
    match opt_string(v, file, field)? {
        None => Ok(None),
        Some(s) => chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| Some(t.timestamp()))
            .map_err(|_| err(file, field, &format!("{s:?} is not an rfc 3339 time"))),
    }
}

fn severity(v: &Value, file: &str, field: &str) -> Result<Level, String> {
    let s = string(v, file, field)?;
    Level::parse(s).ok_or_else(|| err(file, field, &format!("{s:?} is not a severity")))
}

fn add_keys(keys: &mut Vec<String>, reference: &str) {
    for k in super::keys(reference) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
}

fn trivy(doc: &Value, file: &str, fallback_time: i64) -> Result<Report, String> {
    match doc["SchemaVersion"].as_i64() {
        Some(2) => {}
        _ => {
            return Err(err(
                file,
                "SchemaVersion",
                &format!("{} is not 2 (trivy 0.20 or later)", doc["SchemaVersion"]),
            ))
        }
    }
    let artifact = string(&doc["ArtifactName"], file, "ArtifactName")?.to_owned();
    let mut keys = vec![];
    add_keys(&mut keys, &artifact);
    let meta = &doc["Metadata"];
    for (i, d) in array(&meta["RepoDigests"], file, "Metadata.RepoDigests")?
        .iter()
        .enumerate()
    {
        add_keys(
            &mut keys,
            string(d, file, &format!("Metadata.RepoDigests[{i}]"))?,
        );
    }
    for (i, d) in array(&meta["RepoTags"], file, "Metadata.RepoTags")?
        .iter()
        .enumerate()
    {
        add_keys(
            &mut keys,
            string(d, file, &format!("Metadata.RepoTags[{i}]"))?,
        );
    }
    if let Some(id) = opt_string(&meta["ImageID"], file, "Metadata.ImageID")? {
        add_keys(&mut keys, &id);
    }
    let created = time(&doc["CreatedAt"], file, "CreatedAt")?.unwrap_or(fallback_time);
    let mut vulns = vec![];
    for (i, r) in array(&doc["Results"], file, "Results")?.iter().enumerate() {
        if !r.is_object() {
            return Err(err(file, &format!("Results[{i}]"), "not an object"));
        }
        let field = format!("Results[{i}].Vulnerabilities");
        for (j, v) in array(&r["Vulnerabilities"], file, &field)?
            .iter()
            .enumerate()
        {
            let f = |k: &str| format!("{field}[{j}].{k}");
            vulns.push(Vuln {
                id: string(&v["VulnerabilityID"], file, &f("VulnerabilityID"))?.to_owned(),
                package: string(&v["PkgName"], file, &f("PkgName"))?.to_owned(),
                installed: opt_string(&v["InstalledVersion"], file, &f("InstalledVersion"))?
                    .unwrap_or_default(),
                fixed: opt_string(&v["FixedVersion"], file, &f("FixedVersion"))?,
                severity: severity(&v["Severity"], file, &f("Severity"))?,
            });
        }
    }
    Ok(Report {
        scanner: "trivy".into(),
        artifact,
        keys,
        created,
        vulns,
    })
}

fn grype(doc: &Value, file: &str, fallback_time: i64) -> Result<Report, String> {
    let matches = match &doc["matches"] {
        Value::Array(a) => a,
        _ => return Err(err(file, "matches", "not an array")),
    };
    let target = &doc["source"]["target"];
    let mut keys = vec![];
    // an image source has an object target; a directory scan a plain string
    let artifact = match target {
        Value::Object(_) => string(&target["userInput"], file, "source.target.userInput")?,
        _ => {
            return Err(err(
                file,
                "source.target",
                "not an image (missing or not an object)",
            ))
        }
    }
    .to_owned();
    add_keys(&mut keys, &artifact);
    for (i, d) in array(&target["repoDigests"], file, "source.target.repoDigests")?
        .iter()
        .enumerate()
    {
        add_keys(
            &mut keys,
            string(d, file, &format!("source.target.repoDigests[{i}]"))?,
        );
    }
    for (i, d) in array(&target["tags"], file, "source.target.tags")?
        .iter()
        .enumerate()
    {
        add_keys(
            &mut keys,
            string(d, file, &format!("source.target.tags[{i}]"))?,
        );
    }
    for k in ["imageID", "manifestDigest"] {
        if let Some(id) = opt_string(&target[k], file, &format!("source.target.{k}"))? {
            add_keys(&mut keys, &id);
        }
    }
    let created = time(
        &doc["descriptor"]["timestamp"],
        file,
        "descriptor.timestamp",
    )?
    .unwrap_or(fallback_time);
    let mut vulns = vec![];
    for (i, m) in matches.iter().enumerate() {
        let f = |k: &str| format!("matches[{i}].{k}");
        let v = &m["vulnerability"];
        let a = &m["artifact"];
        let fixed = array(
            &v["fix"]["versions"],
            file,
            &f("vulnerability.fix.versions"),
        )?
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ");
        let vuln = Vuln {
            id: string(&v["id"], file, &f("vulnerability.id"))?.to_owned(),
            package: string(&a["name"], file, &f("artifact.name"))?.to_owned(),
            installed: opt_string(&a["version"], file, &f("artifact.version"))?.unwrap_or_default(),
            fixed: (!fixed.is_empty()).then_some(fixed),
            severity: severity(&v["severity"], file, &f("vulnerability.severity"))?,
        };
        // grype lists a vulnerability once per matcher that found it
        if !vulns.contains(&vuln) {
            vulns.push(vuln);
        }
    }
    Ok(Report {
        scanner: "grype".into(),
        artifact,
        keys,
        created,
        vulns,
    })
}

/// Trivy's SARIF (`trivy image -f sarif`): the image in `runs[0].properties` (`imageName`,
/// `repoTags`, `repoDigests`, `imageID`, written for container images), one result per
/// vulnerability whose message has `Package:`, `Installed Version:`, `Severity:` and `Fixed
/// Version:` lines (misconfiguration, secret and license results have none and are skipped).
/// Grype's SARIF names no image and is refused.
fn sarif(doc: &Value, file: &str, fallback_time: i64) -> Result<Report, String> {
    let run = match &doc["runs"] {
        Value::Array(a) if !a.is_empty() => &a[0],
        _ => return Err(err(file, "runs", "not an array with a run")),
    };
    let tool = run["tool"]["driver"]["name"].as_str().unwrap_or_default();
    if !tool.eq_ignore_ascii_case("trivy") {
        return Err(format!(
            "{file}: a sarif report of {} names no image; use its json (grype -o json, trivy image -f json)",
            if tool.is_empty() { "an unnamed tool" } else { tool }
        ));
    }
    let props = &run["properties"];
    let artifact = string(&props["imageName"], file, "runs[0].properties.imageName")
        .map_err(|e| format!("{e} (trivy writes it for container images only)"))?
        .to_owned();
    let mut keys = vec![];
    add_keys(&mut keys, &artifact);
    for k in ["repoTags", "repoDigests"] {
        let field = format!("runs[0].properties.{k}");
        for (i, d) in array(&props[k], file, &field)?.iter().enumerate() {
            add_keys(&mut keys, string(d, file, &format!("{field}[{i}]"))?);
        }
    }
    if let Some(id) = opt_string(&props["imageID"], file, "runs[0].properties.imageID")? {
        add_keys(&mut keys, &id);
    }
    let mut vulns = vec![];
    for (i, r) in array(&run["results"], file, "runs[0].results")?
        .iter()
        .enumerate()
    {
        let f = |k: &str| format!("runs[0].results[{i}].{k}");
        let text = string(&r["message"]["text"], file, &f("message.text"))?;
        let line = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
        };
        let Some(package) = line("Package: ") else {
            continue;
        };
        let sev = line("Severity: ").unwrap_or_default();
        let vuln = Vuln {
            id: string(&r["ruleId"], file, &f("ruleId"))?.to_owned(),
            package,
            installed: line("Installed Version: ").unwrap_or_default(),
            fixed: line("Fixed Version: ").filter(|v| !v.is_empty()),
            severity: Level::parse(&sev).ok_or_else(|| {
                err(
                    file,
                    &f("message.text"),
                    &format!("severity {sev:?} is not a severity"),
                )
            })?,
        };
        // one result per location of the same finding
        if !vulns.contains(&vuln) {
            vulns.push(vuln);
        }
    }
    Ok(Report {
        scanner: "trivy".into(),
        artifact,
        keys,
        created: fallback_time,
        vulns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/scans")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn trivy_report() {
        let r = parse(&fixture("trivy-busybox.json"), "t.json", 7).unwrap();
        assert_eq!(r.scanner, "trivy");
        assert!(r
            .keys
            .contains(&"docker.io/library/busybox:1.36".to_owned()));
        assert!(r.keys.iter().any(|k| k.starts_with("sha256:")));
        assert_eq!(r.created, 1_790_000_000);
        let c = r.counts();
        assert_eq!(
            (c[&Level::Critical], c[&Level::High], c[&Level::Low]),
            (1, 1, 1)
        );
        let crit = r
            .vulns
            .iter()
            .find(|v| v.severity == Level::Critical)
            .unwrap();
        assert_eq!(crit.id, "CVE-2099-0001");
        assert_eq!(crit.package, "libcrypto3");
        assert_eq!(crit.fixed.as_deref(), Some("3.1.4-r1"));
    }

    #[test]
    fn grype_report() {
        let r = parse(&fixture("grype-alpine.json"), "g.json", 7).unwrap();
        assert_eq!(r.scanner, "grype");
        assert!(r.keys.contains(&"docker.io/library/alpine:3.18".to_owned()));
        assert_eq!(r.vulns.len(), 2, "the duplicate match counts once");
        let c = r.counts();
        assert_eq!((c[&Level::High], c[&Level::Low]), (1, 1));
        assert_eq!(r.vulns[0].fixed.as_deref(), Some("1.36.1-r2"));
    }

    #[test]
    fn trivy_sarif_report() {
        let r = parse(&fixture("trivy-busybox.sarif"), "t.sarif", 7).unwrap();
        assert_eq!(r.scanner, "trivy");
        assert_eq!(r.created, 7, "sarif carries no time: the file's");
        assert!(r
            .keys
            .contains(&"docker.io/library/busybox:1.36".to_owned()));
        assert!(r.keys.iter().any(|k| k.starts_with("sha256:9ae9")));
        // the misconfiguration result is no vulnerability; the second location counts once
        assert_eq!(r.vulns.len(), 2, "{:?}", r.vulns);
        assert_eq!(
            r.vulns[0],
            Vuln {
                id: "CVE-2099-0001".into(),
                package: "libcrypto3".into(),
                installed: "3.1.4-r0".into(),
                fixed: Some("3.1.4-r1".into()),
                severity: Level::Critical,
            }
        );
        assert_eq!(r.vulns[1].fixed, None);
    }

    #[test]
    fn malformed_reports_name_file_and_field() {
        for (text, want) in [
            ("not json", "x.json: not json"),
            ("[]", "x.json: not a scan report"),
            ("{}", "neither trivy's report"),
            (r#"{"SchemaVersion": 1}"#, "field SchemaVersion: 1 is not 2"),
            (r#"{"SchemaVersion": 2}"#, "field ArtifactName: missing"),
            (
                r#"{"SchemaVersion": 2, "ArtifactName": "a", "Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1", "PkgName": "p", "Severity": "BAD"}]}]}"#,
                "field Results[0].Vulnerabilities[0].Severity: \"BAD\" is not a severity",
            ),
            (
                r#"{"SchemaVersion": 2, "ArtifactName": "a", "Results": [{"Vulnerabilities": [{"PkgName": "p", "Severity": "LOW"}]}]}"#,
                "field Results[0].Vulnerabilities[0].VulnerabilityID: missing",
            ),
            (
                r#"{"SchemaVersion": 2, "ArtifactName": "a", "CreatedAt": "yesterday"}"#,
                "field CreatedAt: \"yesterday\" is not an rfc 3339 time",
            ),
            (r#"{"matches": 3}"#, "field matches: not an array"),
            (r#"{"matches": []}"#, "field source.target: not an image"),
            (
                r#"{"matches": [{"vulnerability": {"id": "CVE-1"}, "artifact": {"name": "p"}}], "source": {"target": {"userInput": "a"}}}"#,
                "field matches[0].vulnerability.severity: missing",
            ),
            (r#"{"runs": []}"#, "field runs: not an array with a run"),
            (
                r#"{"runs": [{"tool": {"driver": {"name": "grype"}}}]}"#,
                "a sarif report of grype names no image",
            ),
            (
                r#"{"runs": [{"tool": {"driver": {"name": "Trivy"}}}]}"#,
                "field runs[0].properties.imageName: missing",
            ),
        ] {
            let e = parse(text, "x.json", 0).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
