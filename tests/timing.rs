//! `HARDRUN_TRACE_TIMING=1` (issue 20): a real `run` prints one line per stage on stderr, the
//! binary protection's re-exec included, and nothing of it reaches stdout (the container's and
//! the caller's protocol); without the variable, no line at all.

mod common;

use common::*;

/// The value of the `key=` field of a trace line.
fn field(line: &str, key: &str) -> String {
    line.split(' ')
        .find_map(|f| f.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        .to_owned()
}

/// (pid, step, at_ms) of every `hardrun-timing … step=` line in `text`: the steps of
/// libcontainer's main, intermediate and init processes, on the monotonic clock.
fn steps(text: &str) -> Vec<(u32, String, f64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("hardrun-timing "))
        .filter(|l| l.contains(" step="))
        .map(|l| {
            (
                field(l, "pid=").parse().expect("pid is a number"),
                field(l, "step="),
                field(l, "at_ms=").parse().expect("at_ms is a number"),
            )
        })
        .collect()
}

/// (stage, ms) of every `hardrun-timing … stage=` line in `text` (hardrun's own stages).
fn stages(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("hardrun-timing "))
        .filter(|l| l.contains(" stage="))
        .map(|l| {
            let ms: f64 = field(l, "ms=").parse().expect("ms is a number");
            (field(l, "stage="), ms)
        })
        .collect()
}

#[test]
fn the_trace_names_every_stage_on_stderr_only() {
    let w = World::new("timing-trace");
    let b = w.bundle("b", &["/bin/echo", "timing-marker"]);
    let mut c = w.hr_cmd(&[
        "--profile",
        "restricted",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "timing",
    ]);
    c.env("HARDRUN_TRACE_TIMING", "1");
    let out = output_via_files(c, &w.dir, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "run: {}", stderr(&out));
    // stdout is the container's: the marker, and no trace line
    assert_eq!(stdout(&out).trim(), "timing-marker");
    let got = stages(&stderr(&out));
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    // the test binary is on a writable path: the protection re-executes, and says so
    for want in [
        "cli-parse-fds",
        "protect-reexec",
        "protect-check",
        "bundle-load",
        "rules-gate",
        "staging-writes",
        "audit-write",
        "libcontainer-namespaces",
        "egress-nft",
        "libcontainer-create",
        "start",
        "wait",
        "delete",
        "total",
    ] {
        assert!(names.contains(&want), "no stage {want} in {names:?}");
    }
    assert_eq!(names.last(), Some(&"total"), "{names:?}");
    // the protection re-executes before the command line is parsed: only the re-executed
    // process parses it
    let parses = names.iter().filter(|n| **n == "cli-parse-fds").count();
    assert_eq!(parses, 1, "{names:?}");
    // the stages add up to the total (both from the same clock; the lines are rounded)
    let sum: f64 = got
        .iter()
        .filter(|(n, _)| n != "total")
        .map(|(_, ms)| ms)
        .sum();
    let total = got.last().unwrap().1;
    assert!(
        (sum - total).abs() < 0.1 + 0.001 * got.len() as f64,
        "stages add up to {sum} ms, total {total} ms"
    );
    assert!(total > 0.0);
    // the container's processes: the steps of libcontainer's main, intermediate and init
    // processes (three pids), each process's in order on the one clock
    let st = steps(&stderr(&out));
    let step_names: Vec<&str> = st.iter().map(|(_, n, _)| n.as_str()).collect();
    for want in [
        "build-start",
        "main-clone-inter",
        "inter-cgroups",
        "inter-clone-init",
        "init-namespaces",
        "init-rootfs",
        "main-namespaces-ready",
        "main-namespaces-done",
        "init-seccomp-done",
        "main-init-ready",
        "build-done",
    ] {
        assert!(
            step_names.contains(&want),
            "no step {want} in {step_names:?}"
        );
    }
    // the loopback and egress table are done in the init's namespaces (libcontainer §35): after
    // the init entered them, and before it reported ready
    let at = |name: &str| st.iter().find(|s| s.1 == name).map(|s| s.2).unwrap();
    assert!(
        at("init-namespaces") <= at("main-namespaces-ready"),
        "{st:?}"
    );
    assert!(
        at("main-namespaces-done") <= at("main-init-ready"),
        "{st:?}"
    );
    // and the egress stage lies inside libcontainer's create (its stage ends after egress-nft)
    let egress = names.iter().position(|n| *n == "egress-nft").unwrap();
    let create = names
        .iter()
        .position(|n| *n == "libcontainer-create")
        .unwrap();
    assert!(egress < create, "{names:?}");
    let pids: std::collections::BTreeSet<u32> = st.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(pids.len(), 3, "{st:?}");
    for p in pids {
        let at: Vec<f64> = st.iter().filter(|s| s.0 == p).map(|s| s.2).collect();
        assert!(at.windows(2).all(|w| w[0] <= w[1]), "{st:?}");
    }
}

#[test]
fn without_the_variable_nothing_is_traced() {
    let w = World::new("timing-off");
    let b = w.bundle("b", &["/bin/true"]);
    let mut c = w.hr_cmd(&["run", "--bundle", b.to_str().unwrap(), "timing-off"]);
    c.env_remove("HARDRUN_TRACE_TIMING");
    let out = output_via_files(c, &w.dir, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "run: {}", stderr(&out));
    assert!(
        !stderr(&out).contains("hardrun-timing") && !stdout(&out).contains("hardrun-timing"),
        "{}",
        stderr(&out)
    );
}
