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

/// SIGKILLs this process when `HARDRUN_FAULT` is `name` (debug builds only).
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    {
        if std::env::var_os(ENV).is_some_and(|v| v == name) {
            tracing::debug!(point = name, "fault point: SIGKILL");
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unarmed_point_does_nothing() {
        // HARDRUN_FAULT is not set for the unit tests: the process must survive
        super::point("after-state-dir");
        super::point("");
    }
}
