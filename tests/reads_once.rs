//! Each spec is read once: `create` (and `run`, whose terminal question used to re-read it)
//! opens the caller's `config.json` once; `exec` opens the container's stored spec once, and
//! libcontainer builds the exec'd process on that same read (HARDRUN-PATCHES.md §31). One read
//! is one view: what the policy judged is what runs, whatever changes the file in between.
//!
//! Counted from the kernel's side: `strace` records every `open`/`openat` of a real create,
//! run and exec, of hardrun and of every process it forks.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// Runs hardrun with `args` under `strace` (following forks when `follow`) and returns its
/// output and how many times it opened `file` (successfully or not).
fn opens(w: &World, args: &[&str], follow: bool, file: &Path) -> (Output, usize) {
    assert!(
        Path::new("/usr/bin/strace").exists(),
        "/usr/bin/strace is missing: apt-get install strace"
    );
    let trace = w.dir.join(format!("strace-{}.txt", args[0]));
    let inner = w.hr_cmd(args);
    let mut c = Command::new("/usr/bin/strace");
    c.args(["-qq", "-e", "trace=open,openat,openat2", "-o"])
        .arg(&trace);
    if follow {
        c.arg("-f");
    }
    c.arg(inner.get_program()).args(inner.get_args());
    w.env(&mut c);
    let out = output_via_files(c, &w.dir, Duration::from_secs(120));
    let text = fs::read_to_string(&trace).unwrap();
    let needle = format!("\"{}\"", file.display());
    let n = text.lines().filter(|l| l.contains(&needle)).count();
    (out, n)
}

#[test]
fn create_and_run_read_the_callers_spec_once() {
    let w = World::new("reads-once-create");
    let b = w.bundle("b", &["sleep", "30"]);
    let config = fs::canonicalize(b.join("config.json")).unwrap();
    assert_eq!(config, b.join("config.json"), "no symlink in the test path");

    // create, in hardrun's own process (its forks wait for `start`, which strace -f would too)
    let (out, n) = opens(
        &w,
        &["create", "--bundle", b.to_str().unwrap(), "c1"],
        false,
        &config,
    );
    assert!(out.status.success(), "create: {}", stderr(&out));
    assert_eq!(n, 1, "create opened {} {n} times", config.display());
    assert_eq!(w.state("c1")["status"], "created");
    let out = w.hr(&["delete", "--force", "c1"]);
    assert!(out.status.success(), "delete: {}", stderr(&out));

    // run in the foreground, every process followed: the terminal question is answered from
    // the spec create loaded
    let b2 = w.bundle("b2", &["true"]);
    let config2 = b2.join("config.json");
    let (out, n) = opens(
        &w,
        &["run", "--bundle", b2.to_str().unwrap(), "r1"],
        true,
        &config2,
    );
    assert!(out.status.success(), "run: {}", stderr(&out));
    assert_eq!(n, 1, "run opened {} {n} times", config2.display());
    w.assert_nothing_left("r1");
}

#[test]
fn exec_reads_the_stored_spec_once() {
    let w = World::new("reads-once-exec");
    let b = w.bundle("b", &["sleep", "60"]);
    let out = w.hr(&["run", "-d", "--bundle", b.to_str().unwrap(), "c1"]);
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    w.wait_status("c1", "running");
    let stored = w.root.join("c1/bundle/config.json");
    assert!(stored.is_file());
    let record = w.root.join("c1/hardrun.json");
    let (out, n) = opens(&w, &["exec", "c1", "true"], true, &stored);
    assert!(out.status.success(), "exec: {}", stderr(&out));
    assert_eq!(n, 1, "exec opened {} {n} times", stored.display());
    // the policy bound at create, read once too
    let (out, n) = opens(&w, &["exec", "c1", "true"], true, &record);
    assert!(out.status.success(), "exec: {}", stderr(&out));
    assert_eq!(n, 1, "exec opened {} {n} times", record.display());
    let out = w.hr(&["delete", "--force", "c1"]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
}
