//! A non-root user runs `hardrun run` (issue 17, rootless): on a host without cgroup delegation
//! (this one: cgroup v1, no systemd) no profile's limits can be set, so hardrun refuses, in one
//! line naming why, before anything is made: no state root, no container, exit 1. Run for real
//! as `nobody` (util-linux's `setpriv`), with `runc spec --rootless`'s spec, under every profile.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

#[test]
fn a_non_root_user_is_refused_in_one_line_and_nothing_is_made() {
    let w = World::new("rootless");
    // a directory nobody can write in, so that a state root it would make there shows
    let dir = w.dir.join("user");
    fs::create_dir_all(dir.join("bundle")).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    let spec = Command::new(bin())
        .args(["spec", "--rootless", "--bundle"])
        .arg(dir.join("bundle"))
        .output()
        .unwrap();
    assert!(spec.status.success(), "{}", stderr(&spec));
    let cfg = dir.join("bundle/config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&cfg).unwrap()).unwrap();
    v["root"]["path"] = serde_json::json!(rootfs());
    v["process"]["args"] = serde_json::json!(["id"]);
    v["process"]["terminal"] = serde_json::json!(false);
    fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();
    let state = dir.join("state");
    for (i, profile) in ["restricted", "baseline", "ci-runner", "permissive"]
        .iter()
        .enumerate()
    {
        for cmd in ["run", "create"] {
            let id = format!("rl{i}{cmd}");
            let mut c = Command::new("setpriv");
            c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
                .arg(bin())
                .arg("--root")
                .arg(&state)
                .args(["--profile", profile, cmd, "--bundle"])
                .arg(dir.join("bundle"))
                .arg(&id)
                .current_dir(&dir);
            w.env(&mut c);
            let out = c.output().expect("setpriv (util-linux)");
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{profile} {cmd}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{profile} {cmd}: {err}");
            assert!(
                err.contains("rootless containers are not supported: hardrun runs as uid 65534")
                    && err.contains("cgroup limits"),
                "{profile} {cmd}: {err}"
            );
            assert!(stdout(&out).is_empty(), "{profile} {cmd}: {}", stdout(&out));
            assert!(!state.exists(), "{profile} {cmd}: a state root was made");
        }
    }
    // the refusal is for the caller, not the spec: root runs the same bundle
    let out = w.hr(&[
        "run",
        "--bundle",
        dir.join("bundle").to_str().unwrap(),
        "rlroot",
    ]);
    assert!(out.status.success(), "root: {}", stderr(&out));
    assert!(stdout(&out).contains("uid="), "{}", stdout(&out));
}
