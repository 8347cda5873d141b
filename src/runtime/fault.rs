//! Deterministic fault points for the crash tests (`tests/faults.rs`).
//!
//! `fault::point("after-state-dir")` is a no-op unless hardrun is a debug build *and* the
//! environment variable `HARDRUN_FAULT` names that point: then hardrun sends itself SIGKILL right
//! there, exactly as an OOM kill or a `kill -9` from a shim would, so the tests can show that
//! `delete --force` and a new `create` with the same id recover from every stage. Release builds
//! compile every point to nothing.
//!
//! The points of `create`, in order:
//!
//! | point | where |
//! |---|---|
//! | `after-state-dir` | the staging directory holds the hardened spec and the record (and a userns lease is held) |
//! | `after-namespaces` | libcontainer has made the container: cgroup, namespaces, an init process waiting for `start` |
//! | `mid-commit` | the staged bundle has moved into the container's directory, the other files not yet |
//! | `before-start` | the container is committed (state directory, pid file); create has not returned |

/// The environment variable that arms a fault point (debug builds only).
pub const ENV: &str = "HARDRUN_FAULT";

/// Whether `HARDRUN_FAULT`'s value `env` arms the point `name`: exactly its name, never empty.
#[cfg_attr(not(debug_assertions), allow(dead_code))]
fn armed(env: Option<&std::ffi::OsStr>, name: &str) -> bool {
    !name.is_empty() && env.is_some_and(|v| v == name)
}

/// SIGKILLs this process when `HARDRUN_FAULT` is `name` (debug builds only).
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    {
        if armed(std::env::var_os(ENV).as_deref(), name) {
            tracing::debug!(point = name, "fault point: SIGKILL");
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    const CHILD: &str = "runtime::fault::tests::child_reaches_a_point";
    const MARK: &str = "fault-child: survived the point";

    #[test]
    fn a_point_is_armed_only_by_its_own_name() {
        assert!(super::armed(
            Some(OsStr::new("after-state-dir")),
            "after-state-dir"
        ));
        assert!(!super::armed(None, "after-state-dir"));
        assert!(!super::armed(
            Some(OsStr::new("mid-commit")),
            "after-state-dir"
        ));
        assert!(!super::armed(
            Some(OsStr::new("after-state-dir ")),
            "after-state-dir"
        ));
        // `HARDRUN_FAULT=` (set, empty) arms nothing, not a point with an empty name
        assert!(!super::armed(Some(OsStr::new("")), ""));
    }

    /// Run by [`an_armed_point_kills_and_an_unarmed_one_does_not`] in a child process (this
    /// test binary again); ignored in a plain `cargo test`, where it would prove nothing.
    #[test]
    #[ignore = "a child of an_armed_point_kills_and_an_unarmed_one_does_not"]
    fn child_reaches_a_point() {
        super::point("test-point");
        println!("{MARK}");
    }

    fn child(fault: Option<&str>) -> std::process::Output {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut cmd = Command::new(&exe);
        cmd.args([
            CHILD,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        match fault {
            Some(v) => cmd.env(super::ENV, v),
            None => cmd.env_remove(super::ENV),
        };
        cmd.output()
            .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()))
    }

    #[test]
    fn an_armed_point_kills_and_an_unarmed_one_does_not() {
        let out = child(None);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(MARK),
            "unarmed: {:?}\n{stdout}",
            out.status
        );
        let out = child(Some("another-point"));
        assert!(out.status.success(), "armed elsewhere: {:?}", out.status);
        let out = child(Some("test-point"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        if cfg!(debug_assertions) {
            assert_eq!(
                out.status.signal(),
                Some(nix::sys::signal::Signal::SIGKILL as i32),
                "armed: {:?}\n{stdout}",
                out.status
            );
            assert!(!stdout.contains(MARK), "{stdout}");
        } else {
            // release builds compile every point to nothing
            assert!(out.status.success() && stdout.contains(MARK), "{stdout}");
        }
    }
}
