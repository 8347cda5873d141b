//! `check --format xccdf` as OpenSCAP reads it (issue 19): Debian's `oscap` validates the document
//! against the XCCDF 1.2 schema and renders it as an HTML report, and each rule-result says what
//! `check --format json` says about the same control, for a spec file and for a running
//! container.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn oscap(args: &[&str]) -> std::process::Output {
    Command::new("oscap")
        .args(args)
        .output()
        .expect("oscap is missing: apt-get install openscap-scanner")
}

/// `(control id, result)` of each rule-result, in document order.
fn rule_results(xml: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut rest = xml;
    while let Some(i) = rest.find("<xccdf:rule-result idref=\"xccdf_dev.hardrun_rule_cis-docker-") {
        rest = &rest[i..];
        let id_start = rest.find("cis-docker-").unwrap() + "cis-docker-".len();
        let id_end = id_start + rest[id_start..].find('"').unwrap();
        let id = rest[id_start..id_end].to_owned();
        let r0 = rest.find("<xccdf:result>").unwrap() + "<xccdf:result>".len();
        let r1 = r0 + rest[r0..].find("</xccdf:result>").unwrap();
        out.push((id, rest[r0..r1].to_owned()));
        rest = &rest[r1..];
    }
    out
}

/// What `check --format json` says of the spec as hardrun runs it, in XCCDF's words.
fn json_results(json: &Value, input: usize) -> Vec<(String, String)> {
    json[input]["hardened"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let v = match c["verdict"].as_str().unwrap() {
                "not-applicable" => "notapplicable",
                v => v,
            };
            (c["id"].as_str().unwrap().to_owned(), v.to_owned())
        })
        .collect()
}

/// oscap accepts the document (exit 0, no error) and renders it.
fn assert_oscap_reads(w: &World, xml: &str, name: &str) {
    let file = w.dir.join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    let v = oscap(&["xccdf", "validate", file.to_str().unwrap()]);
    let said = format!("{}{}", stdout(&v), stderr(&v));
    assert_eq!(v.status.code(), Some(0), "oscap xccdf validate: {said}");
    assert!(!said.contains("Error"), "{said}");
    let r = oscap(&["xccdf", "generate", "report", file.to_str().unwrap()]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "oscap generate report: {}",
        stderr(&r)
    );
    let html = stdout(&r);
    assert!(html.contains("<html"), "not HTML");
    assert!(
        html.contains("xccdf_dev.hardrun_rule_cis-docker-5.10"),
        "the report lacks the rules"
    );
    assert!(
        html.contains("Evaluation target") && html.contains("urn:dev.hardrun:scoring:cis-level1"),
        "the report lacks the test result"
    );
}

#[test]
fn a_spec_checked_as_xccdf_is_what_oscap_validates_and_renders_and_agrees_with_json() {
    let w = World::new("xccdf-spec");
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/containerd-spec.json");
    let spec = spec.to_str().unwrap();
    let x = w.hr(&["check", "--spec", spec, "--format", "xccdf"]);
    let j = w.hr(&["check", "--spec", spec, "--format", "json"]);
    assert_eq!(x.status.code(), j.status.code(), "{}", stderr(&x));
    let xml = stdout(&x);
    let json: Value = serde_json::from_str(&stdout(&j)).unwrap();
    let got = rule_results(&xml);
    assert_eq!(got, json_results(&json, 0));
    // a Rule per control, one TestResult, the scores as hardrun runs it and as given
    assert_eq!(xml.matches("<xccdf:Rule ").count(), got.len());
    assert_eq!(xml.matches("<xccdf:TestResult ").count(), 1);
    let l1 = json[0]["hardened"]["level1"]["percent"].as_f64().unwrap();
    assert!(
        xml.contains(&format!(
            "<xccdf:score system=\"urn:dev.hardrun:scoring:cis-level1\" maximum=\"100\">{l1:.2}</xccdf:score>"
        )),
        "{xml}"
    );
    assert!(xml.contains("cis-level1-as-given"));
    assert!(got.iter().any(|(_, r)| r == "pass") && got.iter().any(|(_, r)| r == "notapplicable"));
    assert_oscap_reads(&w, &xml, "spec");
}

#[test]
fn running_containers_are_test_results_and_live_refuses_xccdf() {
    let w = World::new("xccdf-running");
    let b = w.bundle("b", &["sleep", "1000"]);
    for id in ["x1", "x2"] {
        w.run_detached("restricted", &b, id);
    }
    let x = w.hr(&["check", "--running", "--format", "xccdf"]);
    let xml = stdout(&x);
    assert_eq!(
        xml.matches("<xccdf:TestResult ").count(),
        2,
        "{}",
        stderr(&x)
    );
    for id in ["x1", "x2"] {
        assert!(
            xml.contains(&format!("<xccdf:target>container {id}</xccdf:target>")),
            "{xml}"
        );
    }
    let j = w.hr(&["check", "--running", "--format", "json"]);
    let json: Value = serde_json::from_str(&stdout(&j)).unwrap();
    let per = rule_results(&xml);
    let n = per.len() / 2;
    assert_eq!(per[..n], json_results(&json, 0));
    assert_eq!(per[n..], json_results(&json, 1));
    assert_oscap_reads(&w, &xml, "running");

    let live = w.hr(&["check", "--running", "--live", "--format", "xccdf"]);
    assert_ne!(live.status.code(), Some(0));
    assert!(
        stderr(&live).contains("--format xccdf scores CIS controls"),
        "{}",
        stderr(&live)
    );
    for id in ["x1", "x2"] {
        let out = w.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
}
