//! The `rego` rule with real containers: a profile's `[rego]` policy refuses a container with
//! its `deny` message (stderr, the JSON log, the audit record) and leaves nothing behind; a
//! `warn` message is recorded and the container runs; a policy that does not compile fails its
//! profile with `file:line`; `input.original` is the caller's spec, `input.spec` the hardened one
//! (docs/policies.md).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

/// `restricted` as built in, with `[rego] files = ["acme.rego"]` and `policy` in
/// `<dir>/profiles/acme.rego` (a profile file of the same name overrides the built-in).
fn restricted_with_policy(w: &World, policy: &str) -> PathBuf {
    let builtin =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/restricted.toml"))
            .unwrap();
    let dir = w.dir.join("profiles");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("restricted.toml"),
        format!("{builtin}\n[rego]\nfiles = [\"acme.rego\"]\n"),
    )
    .unwrap();
    let file = dir.join("acme.rego");
    fs::write(&file, policy).unwrap();
    file
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

fn rego_findings(record: &Value) -> Vec<Value> {
    record["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "rego")
        .cloned()
        .collect()
}

const ENV_AND_NAMESPACE: &str = r#"package hardrun

deny contains msg if {
    some e in input.spec.process.env
    startswith(e, "DEBUG_BACKDOOR=")
    msg := "process.env sets DEBUG_BACKDOOR"
}

deny contains msg if {
    input.context.namespace == "untrusted"
    msg := sprintf("no containers from namespace %s (image %s)", [input.context.namespace, input.context.image])
}
"#;

#[test]
fn a_deny_refuses_with_its_message_and_leaves_nothing() {
    let w = World::new("rego-deny");
    let file = restricted_with_policy(&w, ENV_AND_NAMESPACE);
    let want = format!("{}: process.env sets DEBUG_BACKDOOR", file.display());

    let b = w.bundle_with("b1", &["true"], |s| {
        s["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("DEBUG_BACKDOOR=1"));
    });
    let out = run(&w, &b, "rd1");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("rule rego: {want}")), "{err}");
    assert!(
        w.last_log_error().is_some_and(|l| l.contains(&want)),
        "{:?}",
        w.last_log_error()
    );
    w.assert_nothing_left("rd1");
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "denied");
    assert_eq!(last["rule"], "rego");
    let f = rego_findings(&last);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["action"], "deny");
    assert_eq!(f[0]["message"], want.as_str());

    // the same spec without the variable runs
    let ok = w.bundle("b2", &["true"]);
    let out = run(&w, &ok, "rd2");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "allowed");
    assert!(rego_findings(&last).is_empty(), "{last:#}");
    assert!(w.hr(&["delete", "--force", "rd2"]).status.success());

    // the namespace containerd's CRI plugin names (vouched for on its path)
    let (b, root) = w.cri_bundle("rd3", &["true"], |s| {
        s["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-namespace": "untrusted",
            "io.kubernetes.cri.image-name": "docker.io/library/busybox:1.36",
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
            "rd3",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "no containers from namespace untrusted (image docker.io/library/busybox:1.36)"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!root.join("rd3").exists());

    // `check` evaluates the policy too
    let out = w.hr(&[
        "--profile",
        "restricted",
        "check",
        "--bundle",
        b.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let text = stdout(&out);
    assert!(
        text.contains("no containers from namespace untrusted"),
        "{text}"
    );
}

#[test]
fn a_warn_is_recorded_and_the_container_runs() {
    let w = World::new("rego-warn");
    let file = restricted_with_policy(
        &w,
        r#"package hardrun

warn contains msg if {
    not input.context.image
    msg := "no annotation names the image"
}
"#,
    );
    let b = w.bundle("b1", &["true"]);
    let out = run(&w, &b, "rw1");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "allowed");
    let f = rego_findings(&last);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["action"], "audit");
    assert_eq!(
        f[0]["message"],
        format!("{}: warn: no annotation names the image", file.display())
    );
    assert!(w.hr(&["delete", "--force", "rw1"]).status.success());
}

#[test]
fn a_broken_policy_fails_its_profile_with_file_and_line() {
    let w = World::new("rego-broken");
    let file = restricted_with_policy(
        &w,
        "package hardrun\n\ndeny contains msg if {\n    msg := \n}\n",
    );
    let b = w.bundle("b1", &["true"]);
    let out = run(&w, &b, "rb1");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("rule profile: {}:4: ", file.display())),
        "{err}"
    );
    w.assert_nothing_left("rb1");
    // `profile lint` names it; the other profiles' containers still run
    let out = w.hr(&["profile", "lint"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("{}:4: ", file.display())),
        "{}",
        stderr(&out)
    );
    let out = w.hr(&[
        "--profile",
        "baseline",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "rb2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(w.hr(&["delete", "--force", "rb2"]).status.success());

    // a semantic error, found at load too (not at the first container): an unknown function
    fs::write(
        &file,
        "package hardrun\n\ndeny contains msg if {\n    msg := no_such_function(input.spec)\n}\n",
    )
    .unwrap();
    let out = run(&w, &b, "rb3");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{}:4: ", file.display())),
        "{}",
        stderr(&out)
    );
    w.assert_nothing_left("rb3");

    // a missing file names itself
    fs::remove_file(&file).unwrap();
    let out = run(&w, &b, "rb4");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("cannot read {}", file.display())),
        "{}",
        stderr(&out)
    );
    w.assert_nothing_left("rb4");
}

#[test]
fn original_is_the_callers_spec_and_spec_the_hardened_one() {
    let w = World::new("rego-original");
    restricted_with_policy(
        &w,
        r#"package hardrun

deny contains "the hardened process runs as root" if input.spec.process.user.uid == 0

deny contains "the caller asked for root" if input.original.process.user.uid == 0
"#,
    );
    // uid 0 as given: restricted's `user` rule makes it 65534, so only the rule on `original`
    // fires
    let b = w.bundle("b1", &["true"]);
    let out = run(&w, &b, "ro1");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(": the caller asked for root"), "{err}");
    w.assert_nothing_left("ro1");
    let last = w.audit().last().cloned().unwrap();
    let f = rego_findings(&last);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0]["message"]
            .as_str()
            .unwrap()
            .ends_with(": the caller asked for root"),
        "{f:#?}"
    );
    // the user rule ran before and rewrote the uid the policy saw in `spec`
    assert!(
        last["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "user" && f["action"] == "enforce"),
        "{last:#}"
    );

    // asked as uid 1000: neither fires, and the container runs, not as host root (the kernel's
    // view)
    let b = w.bundle_with("b2", &["sleep", "30"], |s| {
        s["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    w.run_detached("restricted", &b, "ro2");
    let pid = w.state("ro2")["pid"].as_i64().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_ne!(uid_line.split_whitespace().nth(1), Some("0"), "{uid_line}");
    let last = w.audit().into_iter().rfind(|r| r["id"] == "ro2").unwrap();
    assert_eq!(last["decision"], "allowed");
    assert!(rego_findings(&last).is_empty(), "{last:#}");
    assert!(w.hr(&["delete", "--force", "ro2"]).status.success());
}

/// `restricted` with both example policies of `profiles/examples/` (copied as an operator would
/// into the profiles directory).
fn restricted_with_examples(w: &World) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/examples");
    let builtin =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/restricted.toml"))
            .unwrap();
    let dir = w.dir.join("profiles");
    fs::create_dir_all(&dir).unwrap();
    for f in ["required-team-label.rego", "registry-allowlist.rego"] {
        fs::copy(examples.join(f), dir.join(f)).unwrap();
    }
    fs::write(
        dir.join("restricted.toml"),
        format!(
            "{builtin}\n[rego]\nfiles = [\"required-team-label.rego\", \"registry-allowlist.rego\"]\n"
        ),
    )
    .unwrap();
}

/// The two shipped example policies: a container with a team annotation and an image from the
/// allowed registry runs; without the team, with a malformed team, or from another registry it
/// is refused with the policy's message; without any image it runs with a warning recorded.
#[test]
fn the_example_policies_refuse_what_they_say_and_let_the_rest_run() {
    let w = World::new("rego-examples");
    restricted_with_examples(&w);
    let dir = w.dir.join("profiles");
    let case = |id: &str, annotations: Value| {
        let b = w.bundle_with(&format!("b-{id}"), &["true"], |s| {
            s["annotations"] = annotations;
        });
        run(&w, &b, id)
    };

    let ok = case(
        "ex-ok",
        json!({"example.com/team": "payments", "hardrun.dev/image": "registry.example.com/pay/api:1.2"}),
    );
    assert!(ok.status.success(), "{}", stderr(&ok));

    for (id, annotations, want) in [
        (
            "ex-noteam",
            json!({"hardrun.dev/image": "registry.example.com/pay/api:1.2"}),
            "annotation example.com/team is missing: every container names its owning team (container ex-noteam)",
        ),
        (
            "ex-badteam",
            json!({"example.com/team": "Payments Team", "hardrun.dev/image": "registry.example.com/pay/api:1.2"}),
            "annotation example.com/team = \"Payments Team\" is not a team name",
        ),
        (
            "ex-hub",
            json!({"example.com/team": "payments", "hardrun.dev/image": "docker.io/library/busybox:latest"}),
            "image docker.io/library/busybox:latest is not from an allowed registry (registry.example.com/, mirror.example.com/library/)",
        ),
    ] {
        let out = case(id, annotations);
        assert_eq!(out.status.code(), Some(1), "{id}: {}", stderr(&out));
        let err = stderr(&out);
        // the message after the policy files of the package (both files are one package)
        let files = format!(
            "rule rego: {}, {}: ",
            dir.join("required-team-label.rego").display(),
            dir.join("registry-allowlist.rego").display()
        );
        assert!(err.contains(&format!("{files}{want}")), "{id}: want {want:?} in {err}");
        assert_eq!(err.trim().lines().count(), 1, "{id}: {err}");
        w.assert_nothing_left(id);
    }

    // no image named: runs, the allowlist's warning on record
    let out = case("ex-noimage", json!({"example.com/team": "payments"}));
    assert!(out.status.success(), "{}", stderr(&out));
    let create = w
        .audit()
        .into_iter()
        .rev()
        .find(|r| r["decision"] == "allowed" && r["id"] == "ex-noimage")
        .unwrap_or_else(|| panic!("no decision on ex-noimage: {:#?}", w.audit()));
    let found = rego_findings(&create);
    assert!(
        found.iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .ends_with("warn: no image named for this container: the registry allowlist could not be applied")),
        "{create:#}"
    );
}
