//! The policy is bound to the container: its profile (the content as used), mode and granted
//! exceptions are fixed at create, and `exec`/`update` are judged against them whatever the
//! caller's flags, environment, configuration or program name say. Identity annotations
//! (`io.kubernetes.cri.sandbox-namespace`) authorize exceptions only when containerd's CRI
//! vouches for them. Every check reads the kernel's view from the host: `/proc/<pid>/status`
//! and the cgroup files.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// restricted keeps CAP_NET_BIND_SERVICE (bit 10) and nothing else
const RESTRICTED_CAPS: u64 = 1 << 10;

/// `/proc/<pid>/status` as a map of field → value.
fn status(pid: i32) -> BTreeMap<String, String> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"))
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// The uid a host uid is inside the process's user namespace (its `uid_map`).
fn inside_uid(pid: i32, host: u64) -> Option<u64> {
    let map = fs::read_to_string(format!("/proc/{pid}/uid_map")).ok()?;
    map.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let (inside, outside, count) = (*f.first()?, *f.get(1)?, *f.get(2)?);
        (host >= outside && host - outside < count).then(|| inside + (host - outside))
    })
}

/// The process's real, effective, saved and fs uids as the container sees them.
fn container_uids(pid: i32) -> Vec<u64> {
    status(pid)["Uid"]
        .split_whitespace()
        .map(|u| {
            let host: u64 = u.parse().unwrap();
            assert_ne!(host, 0, "pid {pid} runs as host uid 0");
            inside_uid(pid, host).unwrap_or(host)
        })
        .collect()
}

fn caps(pid: i32, set: &str) -> u64 {
    u64::from_str_radix(&status(pid)[set], 16).unwrap()
}

/// What restricted promises of every process of the container, read from the host.
fn assert_held_to_restricted(pid: i32, what: &str) {
    for uid in container_uids(pid) {
        assert_ne!(uid, 0, "{what}: pid {pid} runs as uid 0: {:?}", status(pid));
    }
    for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"] {
        let have = caps(pid, set);
        assert_eq!(
            have & !RESTRICTED_CAPS,
            0,
            "{what}: pid {pid} {set} {have:016x} holds more than restricted allows"
        );
    }
    assert_eq!(status(pid)["NoNewPrivs"], "1", "{what}: pid {pid}");
}

fn wait_pid_file(path: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn init_pid(w: &World, id: &str) -> i32 {
    w.state(id)["pid"].as_i64().unwrap() as i32
}

/// A running `restricted` container that sleeps.
fn restricted_sleeper(w: &World, id: &str) {
    let b = w.bundle(&format!("b-{id}"), &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_held_to_restricted(init_pid(w, id), "init");
}

/// `hardrun [--root R] [--log …] <args>` run as `program` (argv[0]), with `env` on top of the
/// world's environment.
fn hr_as(w: &World, program: &Path, root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(program);
    c.arg("--root").arg(root);
    c.arg("--log")
        .arg(w.log_path())
        .arg("--log-format")
        .arg("json");
    c.args(args);
    c.stdin(Stdio::null());
    w.env(&mut c);
    for (k, v) in env {
        c.env(k, v);
    }
    output_via_files(c, &w.dir, Duration::from_secs(60))
}

/// The lines of `out`'s stderr that contain `needle`.
fn lines_with(out: &Output, needle: &str) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// An exec that asks for root and CAP_SYS_ADMIN, detached, under some caller setting; the
/// exec'd process must still be held to restricted, and stderr must say once, in one line, that
/// the caller's setting was not applied (naming where it came from) and what was rewritten.
fn exec_is_held(
    w: &World,
    id: &str,
    program: &Path,
    global: &[&str],
    env: &[(&str, &str)],
    source: &str,
) {
    let pid_file = w.dir.join(format!("exec-{id}.pid"));
    let _ = fs::remove_file(&pid_file);
    let pf = pid_file.to_str().unwrap();
    let mut args: Vec<&str> = global.to_vec();
    args.extend([
        "exec",
        "-d",
        "--pid-file",
        pf,
        "--user",
        "0:0",
        "--cap",
        "CAP_SYS_ADMIN",
        id,
        "sleep",
        "1000",
    ]);
    let out = hr_as(w, program, &w.root, &args, env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "stdout stays clean: {}",
        stdout(&out)
    );
    let pid = wait_pid_file(&pid_file);
    assert_held_to_restricted(pid, source);

    let refused = lines_with(&out, "not applied");
    assert_eq!(refused.len(), 1, "one line on stderr: {}", stderr(&out));
    assert!(
        refused[0].contains(&format!("exec \"{id}\"")) && refused[0].contains(source),
        "the line names the container and where the setting came from ({source}): {}",
        refused[0]
    );
    assert!(refused[0].contains("restricted"), "{}", refused[0]);
    let changed = lines_with(&out, "changed the process");
    assert_eq!(changed.len(), 1, "{}", stderr(&out));
    assert!(
        changed[0].contains("moved to uid 65534") && changed[0].contains("CAP_SYS_ADMIN"),
        "{}",
        changed[0]
    );
    for l in stderr(&out).lines() {
        assert!(
            l.contains("not applied") || l.contains("changed the process"),
            "unexpected stderr line: {l}"
        );
    }
    // the audit record of this exec names the refused loosening
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["command"], "exec");
    assert_eq!(last["profile"], "restricted");
    let findings = last["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["code"] == "exception" && f["message"].as_str().unwrap().contains(source)),
        "{last}"
    );
}

#[test]
fn exec_with_profile_permissive_flag_is_held_to_the_containers_profile() {
    let w = World::new("pb-flag");
    restricted_sleeper(&w, "pbf1");
    exec_is_held(
        &w,
        "pbf1",
        &bin(),
        &["--profile", "permissive"],
        &[],
        "--profile",
    );
}

#[test]
fn exec_with_hardrun_profile_env_is_held_to_the_containers_profile() {
    let w = World::new("pb-env");
    restricted_sleeper(&w, "pbe1");
    exec_is_held(
        &w,
        "pbe1",
        &bin(),
        &[],
        &[("HARDRUN_PROFILE", "permissive")],
        "HARDRUN_PROFILE",
    );
}

#[test]
fn exec_with_mode_audit_is_held_to_the_containers_mode() {
    let w = World::new("pb-mode");
    restricted_sleeper(&w, "pbm1");
    exec_is_held(&w, "pbm1", &bin(), &["--mode", "audit"], &[], "--mode");
    // HARDRUN_MODE the same
    exec_is_held(
        &w,
        "pbm1",
        &bin(),
        &[],
        &[("HARDRUN_MODE", "audit")],
        "HARDRUN_MODE",
    );
}

/// A caller's configuration whose default profile is permissive, whose mode is audit, and whose
/// profile directory holds a `restricted` of its own that enforces nothing: none of it reaches a
/// container created under the real restricted.
#[test]
fn exec_with_a_callers_config_is_held_to_the_profile_content_stored_at_create() {
    let w = World::new("pb-config");
    restricted_sleeper(&w, "pbc1");
    let other = w.dir.join("other");
    fs::create_dir_all(other.join("profiles")).unwrap();
    fs::write(
        other.join("config.toml"),
        format!(
            "default_profile = \"permissive\"\nmode = \"audit\"\naudit_log = \"{}\"\n",
            w.dir.join("audit.jsonl").display()
        ),
    )
    .unwrap();
    fs::write(
        other.join("profiles/restricted.toml"),
        "name = \"restricted\"\n[rules]\nuser = \"audit\"\ncapabilities = \"audit\"\nno-new-privileges = \"audit\"\n",
    )
    .unwrap();
    let cfg = other.join("config.toml");
    exec_is_held(
        &w,
        "pbc1",
        &bin(),
        &[],
        &[("HARDRUN_CONFIG", cfg.to_str().unwrap())],
        &cfg.display().to_string(),
    );
    // --config, the flag, the same
    exec_is_held(
        &w,
        "pbc1",
        &bin(),
        &["--config", cfg.to_str().unwrap()],
        &[],
        &cfg.display().to_string(),
    );
}

#[test]
fn exec_through_a_program_name_is_held_to_the_containers_profile() {
    let w = World::new("pb-argv0");
    restricted_sleeper(&w, "pba1");
    let link = w.dir.join("hardrun-baseline");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    exec_is_held(&w, "pba1", &link, &[], &[], "hardrun-baseline");
}

/// A profile file edited after create (made permissive in place) does not loosen the running
/// container: exec uses the content stored at create.
#[test]
fn exec_after_the_profile_file_was_loosened_uses_the_stored_content() {
    let w = World::new("pb-edit");
    let dir = w.dir.join("profiles");
    fs::create_dir_all(&dir).unwrap();
    let restricted =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/restricted.toml"))
            .unwrap();
    let team = restricted.replace("name = \"restricted\"", "name = \"team\"");
    fs::write(dir.join("team.toml"), &team).unwrap();
    let b = w.bundle("b", &["sleep", "1000"]);
    let out = w.hr(&[
        "--profile",
        "team",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "pbt1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // loosen the file in place: same name, nothing enforced
    fs::write(
        dir.join("team.toml"),
        "name = \"team\"\n[rules]\nuser = \"audit\"\ncapabilities = \"audit\"\nno-new-privileges = \"audit\"\n",
    )
    .unwrap();
    let pid_file = w.dir.join("pbt1.pid");
    let out = w.hr(&[
        "--profile",
        "team",
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--user",
        "0:0",
        "--cap",
        "CAP_SYS_ADMIN",
        "pbt1",
        "sleep",
        "1000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_held_to_restricted(wait_pid_file(&pid_file), "edited profile");
    assert_eq!(
        lines_with(&out, "not applied").len(),
        1,
        "the edited team is not the team the container was created under: {}",
        stderr(&out)
    );
}

/// A container whose hardrun.json predates the stored policy (only the profile's name and
/// sha256): exec falls back to the recorded profile, never to the caller's flags.
#[test]
fn a_container_without_a_stored_policy_falls_back_to_its_recorded_profile() {
    let w = World::new("pb-legacy");
    restricted_sleeper(&w, "pbl1");
    let path = w.root.join("pbl1/hardrun.json");
    let mut record: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    record.as_object_mut().unwrap().remove("policy");
    assert_eq!(record["profile"], "restricted");
    fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
    let pid_file = w.dir.join("pbl1.pid");
    let out = w.hr(&[
        "--profile",
        "permissive",
        "--mode",
        "audit",
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--user",
        "0:0",
        "--cap",
        "CAP_SYS_ADMIN",
        "pbl1",
        "sleep",
        "1000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_held_to_restricted(wait_pid_file(&pid_file), "legacy record");
}

/// A flag that is at least as strict is honoured: ci-runner keeps no capability at all.
#[test]
fn exec_with_a_stricter_profile_is_tightened() {
    let w = World::new("pb-strict");
    restricted_sleeper(&w, "pbs1");
    let pid_file = w.dir.join("pbs1.pid");
    let out = w.hr(&[
        "--profile",
        "ci-runner",
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "pbs1",
        "sleep",
        "1000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = wait_pid_file(&pid_file);
    assert_held_to_restricted(pid, "ci-runner");
    for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert_eq!(caps(pid, set), 0, "{set}");
    }
    assert!(
        lines_with(&out, "not applied").is_empty(),
        "{}",
        stderr(&out)
    );
}

#[test]
fn update_with_profile_permissive_stays_within_the_containers_ceilings() {
    let w = World::new("pb-update");
    restricted_sleeper(&w, "pbu1");
    let out = w.hr(&[
        "--profile",
        "permissive",
        "update",
        "--memory=-1",
        "--pids-limit=-1",
        "pbu1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let read = |ctl: &str, file: &str| w.cgroup_read(ctl, "pbu1", file).trim().to_owned();
    let memory: u64 = read("memory", "memory.limit_in_bytes").parse().unwrap();
    assert!(
        memory <= 8 << 30,
        "memory limit {memory} above restricted's 8g"
    );
    let pids = read("pids", "pids.max");
    assert_ne!(pids, "max");
    assert!(pids.parse::<u64>().unwrap() <= 8192, "pids.max {pids}");
    let refused = lines_with(&out, "not applied");
    assert_eq!(refused.len(), 1, "{}", stderr(&out));
    assert!(
        refused[0].starts_with("update \"pbu1\"") && refused[0].contains("--profile"),
        "{}",
        refused[0]
    );
    assert_eq!(
        lines_with(&out, "changed the resources").len(),
        1,
        "{}",
        stderr(&out)
    );
}

/// A profile like restricted whose `exception` rule only records, with an allow-root exception
/// for Kubernetes' kube-system namespace.
fn k8s_profile(w: &World, exception: &str) {
    let dir = w.dir.join("profiles");
    fs::create_dir_all(&dir).unwrap();
    let restricted =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/restricted.toml"))
            .unwrap();
    let text = restricted
        .replace("name = \"restricted\"", "name = \"k8s\"")
        .replace(
            "exception = \"deny\"",
            &format!("exception = \"{exception}\""),
        )
        + "\n[[exceptions]]\nkind = \"allow-root\"\nnamespaces = [\"kube-system\"]\n";
    fs::write(dir.join("k8s.toml"), text).unwrap();
}

fn claims_kube_system(spec: &mut Value) {
    spec["annotations"] = json!({
        "io.kubernetes.cri.sandbox-namespace": "kube-system",
        "io.kubernetes.cri.container-type": "container",
        "hardrun.dev/allow-root": "true"
    });
}

#[test]
fn a_kubernetes_namespace_claimed_by_the_spec_is_not_trusted() {
    let w = World::new("pb-claim");
    k8s_profile(&w, "audit");
    let b = w.bundle_with("b", &["sleep", "1000"], claims_kube_system);
    let out = w.hr(&[
        "--profile",
        "k8s",
        "run",
        "-d",
        "--bundle",
        b.to_str().unwrap(),
        "pbk1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = init_pid(&w, "pbk1");
    for uid in container_uids(pid) {
        assert_ne!(uid, 0, "a claimed kube-system got root");
    }
    let create = w.audit().last().cloned().unwrap();
    assert_eq!(create["command"], "create", "run -d records a create");
    assert!(
        create.get("exceptions_used").is_none(),
        "no exception was used: {create}"
    );
    let claim = create["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["pointer"] == "/annotations/io.kubernetes.cri.sandbox-namespace")
        .cloned()
        .unwrap_or_else(|| panic!("no finding about the identity claim: {create}"));
    assert_eq!(claim["code"], "exception");
    let msg = claim["message"].as_str().unwrap();
    assert!(
        msg.contains("not trusted") && msg.contains("kube-system"),
        "{msg}"
    );

    // where the profile refuses unauthorized exceptions, the refusal says why
    let w2 = World::new("pb-claim-deny");
    k8s_profile(&w2, "deny");
    let b = w2.bundle_with("b", &["sleep", "1000"], claims_kube_system);
    let out = w2.hr(&[
        "--profile",
        "k8s",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "pbk2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("rule exception") && err.contains("claimed by the spec"),
        "{err}"
    );
    w2.assert_nothing_left("pbk2");
}

/// The same bundle where containerd's CRI puts it (`…/io.containerd.runtime.v2.task/k8s.io/<id>`,
/// state root `…/k8s.io`, as containerd's runc shim passes them): the namespace is trusted.
#[test]
fn a_kubernetes_namespace_on_containerds_cri_path_is_trusted() {
    let w = World::new("pb-cri");
    k8s_profile(&w, "audit");
    let id = "pbk8s1";
    let (b, root) = w.cri_bundle(id, &["sleep", "1000"], claims_kube_system);
    let run = |root: &Path, b: &Path, id: &str| {
        let out = w.hr_in(
            root,
            &[
                "--profile",
                "k8s",
                "run",
                "-d",
                "--bundle",
                b.to_str().unwrap(),
                id,
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let st = w.hr_in(root, &["state", id]);
        serde_json::from_slice::<Value>(&st.stdout).unwrap()["pid"]
            .as_i64()
            .unwrap() as i32
    };
    let pid = run(&root, &b, id);
    let host: u64 = status(pid)["Uid"]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        inside_uid(pid, host),
        Some(0),
        "kube-system's allow-root applies"
    );
    let create = w.audit().last().cloned().unwrap();
    assert_eq!(create["exceptions_used"], json!(["k8s#0"]), "{create}");
    let record: Value =
        serde_json::from_slice(&fs::read(root.join(id).join("hardrun.json")).unwrap()).unwrap();
    assert_eq!(
        record["policy"]["identity"],
        json!({"namespace": "kube-system", "vouchedBy": "containerd-cri"})
    );
    assert_eq!(record["policy"]["granted"]["allowRoot"], true);

    // the same shape under a state root that is not the shim's (…/default) is not trusted
    let (b2, _) = w.cri_bundle("pbk8s2", &["sleep", "1000"], claims_kube_system);
    let pid = run(&w.dir.join("runc/default"), &b2, "pbk8s2");
    for uid in container_uids(pid) {
        assert_ne!(uid, 0);
    }
}
