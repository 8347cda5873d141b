//! Per-stage timing trace (issue 20): with `HARDRUN_TRACE_TIMING=1` in the environment, every
//! stage of create/run/delete prints one line to stderr (never stdout, which belongs to the
//! caller's protocol):
//!
//! ```text
//! hardrun-timing pid=4711 stage=config-load ms=0.412
//! ```
//!
//! `ms` is the time since the previous stage ended (or since the process started, for the first
//! one). The clock is `CLOCK_MONOTONIC`, which is system-wide, so the first process of the
//! binary protection's re-exec hands its start over ([`T0_ENV`]) and the re-executed process
//! reports the re-exec itself as the stage `protect-reexec`. Without the variable, nothing is
//! measured or printed: each call is one relaxed atomic load.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// The switch.
pub const ENV: &str = "HARDRUN_TRACE_TIMING";
/// `T0,LAST`: the monotonic times (ns) at which the first process of a re-exec started and
/// ended its last stage, handed over.
pub const T0_ENV: &str = "_HARDRUN_TRACE_T0";

static ON: OnceLock<bool> = OnceLock::new();
static LAST: AtomicU64 = AtomicU64::new(0);
static T0: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicBool = AtomicBool::new(false);

/// Monotonic time in nanoseconds.
fn now_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the valid, exclusively borrowed `t`.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) } != 0 {
        return 0;
    }
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// Whether the trace is on (`HARDRUN_TRACE_TIMING` set to anything but empty or `0`).
pub fn enabled() -> bool {
    *ON.get_or_init(|| std::env::var_os(ENV).is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Called first thing in `main`. In a process the binary protection re-executed, reports the
/// time since the first process's last stage as `protect-reexec` (and keeps the first
/// process's start for `total`); otherwise starts the clock.
pub fn start() {
    if !enabled() || STARTED.swap(true, Ordering::Relaxed) {
        return;
    }
    let handed = std::env::var(T0_ENV).ok().and_then(|v| parse_handed(&v));
    std::env::remove_var(T0_ENV);
    match handed {
        Some((t0, last)) => {
            T0.store(t0, Ordering::Relaxed);
            LAST.store(last, Ordering::Relaxed);
            stage("protect-reexec");
        }
        None => {
            let t0 = now_ns();
            T0.store(t0, Ordering::Relaxed);
            LAST.store(t0, Ordering::Relaxed);
        }
    }
}

/// Before the binary protection re-executes: hands this process's start and the end of its
/// last stage to the next one.
pub fn hand_over() {
    if enabled() {
        let (t0, last) = (T0.load(Ordering::Relaxed), LAST.load(Ordering::Relaxed));
        std::env::set_var(T0_ENV, format!("{t0},{last}"));
    }
}

/// Ends the stage `name`: prints the time since the previous stage ended.
pub fn stage(name: &str) {
    if !enabled() {
        return;
    }
    let now = now_ns();
    let last = LAST.swap(now, Ordering::Relaxed);
    let ms = now.saturating_sub(last) as f64 / 1e6;
    let line = format_line(std::process::id(), name, ms);
    // stderr only; a failed write must not change what the command does
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Prints the time since the process started (the first process, across the re-exec) as the
/// stage `total`; `main` calls it right before it exits.
pub fn total() {
    if !enabled() {
        return;
    }
    let ms = now_ns().saturating_sub(T0.load(Ordering::Relaxed)) as f64 / 1e6;
    let line = format_line(std::process::id(), "total", ms);
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A [`T0_ENV`] value: `T0,LAST`, LAST not before T0.
fn parse_handed(v: &str) -> Option<(u64, u64)> {
    let (a, b) = v.split_once(',')?;
    let (t0, last) = (a.parse().ok()?, b.parse().ok()?);
    (last >= t0).then_some((t0, last))
}

/// One trace line.
fn format_line(pid: u32, stage: &str, ms: f64) -> String {
    format!("hardrun-timing pid={pid} stage={stage} ms={ms:.3}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_pid_stage_and_milliseconds() {
        assert_eq!(
            format_line(42, "config-load", 1.23456),
            "hardrun-timing pid=42 stage=config-load ms=1.235\n"
        );
    }

    #[test]
    fn the_handed_over_times_are_start_then_last_stage() {
        assert_eq!(parse_handed("10,25"), Some((10, 25)));
        for bad in ["", "10", "25,10", "a,1", "1,2,3"] {
            assert_eq!(parse_handed(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(now_ns() >= a + 2_000_000);
    }
}
