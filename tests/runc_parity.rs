//! runc parity under the `permissive` profile (issue 13): the same thing through Debian's runc
//! 1.1.5 and through hardrun, compared (exit code, stderr text, output shape).

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const RUNC: &str = "/usr/sbin/runc";

/// `runc --root <world>/runc-state <args…>`, stdout and stderr in files like [`World::hr`].
fn runc(w: &World, args: &[&str]) -> Output {
    let mut c = Command::new(RUNC);
    c.arg("--root").arg(w.dir.join("runc-state")).args(args);
    c.stdin(std::process::Stdio::null());
    output_via_files(c, &w.dir, Duration::from_secs(60))
}

/// hardrun without `--log`: what a user at a terminal sees on stderr.
fn hr_plain(w: &World, args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.arg("--root").arg(&w.root).args(args);
    c.stdin(std::process::Stdio::null());
    w.env(&mut c);
    output_via_files(c, &w.dir, Duration::from_secs(60))
}

/// The `msg` of runc's logrus line on stderr (`time=… level=error msg="…"`).
fn runc_msg(o: &Output) -> String {
    let e = stderr(o);
    let Some(i) = e.find("msg=\"") else {
        return e.trim().to_owned();
    };
    let rest = &e[i + 5..];
    let end = rest.rfind('"').unwrap_or(rest.len());
    rest[..end].replace("\\\"", "\"")
}

#[test]
fn usage_errors_exit_with_runcs_codes() {
    let w = World::new("usage");
    for args in [
        &["state"][..],
        &["state", "a", "b"],
        &["--bogus", "list"],
        &["list", "--bogus"],
        &["kill"],
        &["kill", "a", "b", "c"],
        &["exec"],
        &["delete"],
        &["events"],
        &["spec", "--bogus"],
        &["nosuchcmd"],
        &[],
    ] {
        let r = runc(&w, args);
        let h = hr_plain(&w, args);
        assert_eq!(
            h.status.code(),
            r.status.code(),
            "hardrun {args:?} exits as runc does; runc said {:?}, hardrun {:?}",
            runc_msg(&r),
            stderr(&h)
        );
        if r.status.code() != Some(0) {
            assert!(
                !stderr(&h).is_empty(),
                "hardrun {args:?} says why on stderr"
            );
        }
    }
}
