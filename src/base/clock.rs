//! When this runtime process started, for the time its policy decision took (the audit
//! record's `decision_ms`, the monitor's `hardrun_policy_decision_seconds`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static START: OnceLock<Instant> = OnceLock::new();

/// Marks the process's start; the first call wins. `main` calls it first thing (after the
/// binary protection's re-exec, so that step is not counted).
pub fn mark_start() {
    let _ = START.get_or_init(Instant::now);
}

/// Time since [`mark_start`]; `None` where it was never called (library use, tests).
pub fn since_start() -> Option<Duration> {
    START.get().map(Instant::elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_mark_counts() {
        mark_start();
        let a = since_start().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        mark_start();
        assert!(since_start().unwrap() >= a + Duration::from_millis(5));
    }
}
