//! The `image-scan` rule with real containers: a scanner's report in `scan_reports_dir` refuses
//! the container whose image it finds critical, names the finding, and lets it run once the
//! finding is ignored until a future date (docs/scanning.md).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

const CRITICAL: &str = "CVE-2099-0001";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scans")
        .join(name)
}

/// A world whose configuration names a reports directory (`<dir>/scans`).
fn world(name: &str) -> World {
    let w = World::new(name);
    let cfg = w.dir.join("config.toml");
    let mut text = fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "scan_reports_dir = \"{}\"\n",
        w.dir.join("scans").display()
    ));
    fs::write(&cfg, text).unwrap();
    w
}

/// Replaces `restricted`'s `[scan]` with `scan` (a profile file of the same name beside the
/// configuration overrides the built-in).
fn restricted_with_scan(w: &World, scan: &str) {
    let builtin =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/restricted.toml"))
            .unwrap();
    let (head, _) = builtin
        .split_once("\n[scan]\n")
        .expect("restricted.toml ends with its [scan] section");
    let dir = w.dir.join("profiles");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("restricted.toml"),
        format!("{head}\n[scan]\n{scan}\n"),
    )
    .unwrap();
}

fn import(w: &World, file: &Path) {
    let out = w.hr(&["scan", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A bundle running `true` whose `hardrun.dev/image` annotation names `image`.
fn bundle(w: &World, name: &str, image: Option<&str>) -> PathBuf {
    w.bundle_with(name, &["true"], |s| {
        if let Some(i) = image {
            s["annotations"] = json!({"hardrun.dev/image": i});
        }
    })
}

fn run(w: &World, b: &Path, id: &str) -> std::process::Output {
    w.hr(&[
        "--profile",
        "restricted",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        id,
    ])
}

fn scan_findings(record: &Value) -> Vec<Value> {
    record["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "image-scan")
        .cloned()
        .collect()
}

fn refused(w: &World, out: &std::process::Output, id: &str, want: &str) -> Value {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("rule image-scan: "), "{err}");
    assert!(err.contains(want), "{err}");
    w.assert_nothing_left(id);
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "denied");
    assert_eq!(last["rule"], "image-scan");
    assert_eq!(last["id"], id);
    last
}

#[test]
fn a_critical_finding_refuses_the_image_and_names_the_cve() {
    let w = world("scan-critical");
    import(&w, &fixture("trivy-busybox.json"));
    let index = w.dir.join("scans/.index/index.json");
    let built = fs::metadata(&index).unwrap().modified().unwrap();
    let b = bundle(&w, "b1", Some("busybox:1.36"));
    let out = run(&w, &b, "sc1");
    // the index import wrote is used as it is: the directory has not changed since
    assert_eq!(fs::metadata(&index).unwrap().modified().unwrap(), built);
    let last = refused(
        &w,
        &out,
        "sc1",
        &format!("{CRITICAL} in libcrypto3 3.1.4-r0 is critical (fixed in 3.1.4-r1)"),
    );
    let f = scan_findings(&last);
    // the counts by severity and the refusal, both in the record
    assert!(
        f.iter().any(|f| f["action"] == "audit"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("1 critical, 1 high, 0 medium, 1 low, 0 unknown")),
        "{f:#?}"
    );
    assert!(
        f.iter().any(|f| f["action"] == "deny"
            && f["message"].as_str().unwrap().contains(CRITICAL)
            && f["pointer"] == "/annotations/hardrun.dev~1image"),
        "{f:#?}"
    );

    // the same image by its repository digest, as containerd's CRI plugin names it
    let digest = "sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7";
    let (b, root) = w.cri_bundle("sc2", &["true"], |s| {
        s["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.image-name": format!("docker.io/library/busybox@{digest}"),
        });
    });
    let out = w.hr_in(
        &root,
        &[
            "--profile",
            "restricted",
            "create",
            "--bundle",
            b.to_str().unwrap(),
            "sc2",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(CRITICAL), "{}", stderr(&out));
    assert!(!root.join("sc2").exists());

    // `check` reports the same findings, counts included
    let out = w.hr(&[
        "--profile",
        "restricted",
        "check",
        "--bundle",
        bundle(&w, "b3", Some("docker.io/library/busybox:1.36"))
            .to_str()
            .unwrap(),
        "--format",
        "json",
    ]);
    let text = stdout(&out);
    assert!(text.contains(CRITICAL), "{text}");
    assert!(
        text.contains("1 critical, 1 high, 0 medium, 1 low, 0 unknown"),
        "{text}"
    );
}

#[test]
fn an_ignore_until_a_future_date_lets_it_run_and_an_expired_one_refuses_again() {
    let w = world("scan-ignore");
    import(&w, &fixture("trivy-busybox.json"));
    let b = bundle(&w, "b1", Some("busybox:1.36"));
    restricted_with_scan(
        &w,
        &format!(
            "deny_at = \"critical\"\nrequire_report = \"audit\"\n\n[[scan.ignore]]\nid = \"{CRITICAL}\"\nreason = \"libcrypto is not used by the workload\"\nexpires = \"2999-12-31\"\n"
        ),
    );
    let out = run(&w, &b, "ig1");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "allowed");
    let f = scan_findings(&last);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["action"], "audit");
    assert!(
        f[0]["message"].as_str().unwrap().contains("; 1 ignored"),
        "{f:#?}"
    );
    assert!(w.hr(&["delete", "--force", "ig1"]).status.success());

    restricted_with_scan(
        &w,
        &format!(
            "deny_at = \"critical\"\n\n[[scan.ignore]]\nid = \"{CRITICAL}\"\nreason = \"until the rebuild\"\nexpires = \"2001-01-01\"\n"
        ),
    );
    let out = run(&w, &b, "ig2");
    refused(&w, &out, "ig2", "its [[scan.ignore]] expired 2001-01-01");
    assert!(stderr(&out).contains(CRITICAL));
}

#[test]
fn a_missing_report_refuses_where_required_and_a_clean_image_runs() {
    let w = world("scan-require");
    restricted_with_scan(&w, "deny_at = \"high\"\nrequire_report = \"refuse\"\n");
    // no reports directory at all
    let out = run(&w, &bundle(&w, "b1", Some("acme/unscanned:1")), "rq1");
    refused(&w, &out, "rq1", "no scan report for image acme/unscanned:1");
    // no annotation names the image
    let out = run(&w, &bundle(&w, "b2", None), "rq2");
    refused(&w, &out, "rq2", "no annotation names the container's image");

    // a clean report put in the directory by hand (no import): the index is rebuilt because
    // the directory changed
    import(&w, &fixture("grype-alpine.json"));
    let clean = json!({
        "SchemaVersion": 2,
        "ArtifactName": "registry.example.com/acme/clean:1",
        "Metadata": {"RepoDigests": []},
        "Results": [{"Target": "clean", "Class": "os-pkgs"}]
    });
    fs::write(
        w.dir.join("scans/clean.json"),
        serde_json::to_vec(&clean).unwrap(),
    )
    .unwrap();
    let out = run(
        &w,
        &bundle(&w, "b3", Some("registry.example.com/acme/clean:1")),
        "rq3",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "allowed");
    let f = scan_findings(&last);
    assert!(
        f[0]["message"]
            .as_str()
            .unwrap()
            .contains("0 critical, 0 high, 0 medium, 0 low, 0 unknown"),
        "{f:#?}"
    );
    assert!(w.hr(&["delete", "--force", "rq3"]).status.success());
    // grype's high finding refuses under deny_at = "high"
    let out = run(&w, &bundle(&w, "b4", Some("alpine:3.18")), "rq4");
    refused(
        &w,
        &out,
        "rq4",
        "CVE-2099-1001 in busybox 1.36.1-r0 is high (fixed in 1.36.1-r2)",
    );

    let list = stdout(&w.hr(&["scan", "list"]));
    assert!(list.contains("registry.example.com/acme/clean:1"), "{list}");
    assert!(list.contains("alpine:3.18"), "{list}");
}

#[test]
fn import_refuses_a_malformed_report_and_writes_nothing() {
    let w = world("scan-import");
    let bad = w.dir.join("bad.json");
    fs::write(
        &bad,
        r#"{"SchemaVersion": 2, "ArtifactName": "busybox:1.36", "Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1", "PkgName": "p", "Severity": "SEVERE"}]}]}"#,
    )
    .unwrap();
    let out = w.hr(&["scan", "import", bad.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "{}: field Results[0].Vulnerabilities[0].Severity: \\\"SEVERE\\\" is not a severity",
            bad.display()
        )) || err.contains(&format!(
            "{}: field Results[0].Vulnerabilities[0].Severity: \"SEVERE\" is not a severity",
            bad.display()
        )),
        "{err}"
    );
    assert!(!w.dir.join("scans").exists(), "nothing is written");

    import(&w, &fixture("trivy-busybox.json"));
    let before: Vec<_> = fs::read_dir(w.dir.join("scans"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let out = w.hr(&["scan", "import", bad.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let after: Vec<_> = fs::read_dir(w.dir.join("scans"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    let list = w.hr(&["scan", "list", "--format", "json"]);
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v["reports"].as_array().unwrap().len(), 1);
    assert_eq!(v["reports"][0]["counts"]["critical"], 1);
}

#[test]
fn a_trivy_sarif_report_gates_as_its_json_does() {
    let w = world("scan-sarif");
    import(&w, &fixture("trivy-busybox.sarif"));
    let out = run(&w, &bundle(&w, "b1", Some("busybox:1.36")), "sa1");
    refused(
        &w,
        &out,
        "sa1",
        &format!("{CRITICAL} in libcrypto3 3.1.4-r0 is critical (fixed in 3.1.4-r1)"),
    );
    // grype's SARIF names no image: refused at import, nothing written
    let g = w.dir.join("grype.sarif");
    fs::write(
        &g,
        r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "grype"}}, "results": []}]}"#,
    )
    .unwrap();
    let before = fs::read_dir(w.dir.join("scans")).unwrap().count();
    let out = w.hr(&["scan", "import", g.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("a sarif report of grype names no image"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_dir(w.dir.join("scans")).unwrap().count(), before);
}
