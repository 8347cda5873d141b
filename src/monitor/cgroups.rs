//! cgroup events of a container: OOM kills (`oom_kill` of v1's `memory.oom_control`, of v2's
//! `memory.events`), a reached pids limit (`max` of `pids.events`, v1 and v2), memory near its
//! limit (90% of `memory.limit_in_bytes` / `memory.max`). Read in every hierarchy where the
//! container's cgroup exists (`cgroup_tree::dirs_of`): v1, v2 and hybrid hosts alike.

use std::path::Path;

/// What one reading of a container's cgroup shows (`None`: the file is not there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub oom_kill: Option<u64>,
    pub pids_max: Option<u64>,
    pub memory_usage: Option<u64>,
    /// `None` also when unlimited
    pub memory_limit: Option<u64>,
}

/// The value of `key` in a flat-keyed cgroup file (`oom_kill 3`).
pub fn field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse().ok())
}

fn number(dir: &Path, file: &str) -> Option<u64> {
    let t = std::fs::read_to_string(dir.join(file)).ok()?;
    let n: u64 = t.trim().parse().ok()?;
    // v1's "unlimited" is a page-rounded i64::MAX
    (n < 1 << 60).then_some(n)
}

/// Reads the cgroup `cgroup_path` (as in `linux.cgroupsPath`) in every hierarchy.
pub fn read(cgroup_path: &Path) -> Reading {
    let mut r = Reading::default();
    for dir in crate::runtime::cgroup_tree::dirs_of(cgroup_path) {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        if let Some(t) = read("memory.oom_control") {
            r.oom_kill = r.oom_kill.or(field(&t, "oom_kill"));
            r.memory_usage = r.memory_usage.or(number(&dir, "memory.usage_in_bytes"));
            r.memory_limit = r.memory_limit.or(number(&dir, "memory.limit_in_bytes"));
        } else if let Some(t) = read("memory.events") {
            r.oom_kill = r.oom_kill.or(field(&t, "oom_kill"));
            r.memory_usage = r.memory_usage.or(number(&dir, "memory.current"));
            r.memory_limit = r.memory_limit.or(number(&dir, "memory.max"));
        }
        if let Some(t) = read("pids.events") {
            r.pids_max = r.pids_max.or(field(&t, "max"));
        }
    }
    r
}

/// What changed between two readings: (kind, message) of each event.
pub fn changes(before: &Reading, now: &Reading, near_before: bool) -> Vec<(&'static str, String)> {
    use super::events::{MEMORY_NEAR_LIMIT, OOM_KILL, PIDS_LIMIT};
    let mut out = vec![];
    let grew = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (a, Some(b)) if b > a.unwrap_or(0) => Some(b - a.unwrap_or(0)),
        _ => None,
    };
    if let Some(n) = grew(before.oom_kill, now.oom_kill) {
        out.push((
            OOM_KILL,
            format!(
                "the OOM killer killed {n} process{} of the container (oom_kill {})",
                if n == 1 { "" } else { "es" },
                now.oom_kill.unwrap_or(0)
            ),
        ));
    }
    if let Some(n) = grew(before.pids_max, now.pids_max) {
        out.push((
            PIDS_LIMIT,
            format!(
                "the pids limit refused {n} fork{} (pids.events max {})",
                if n == 1 { "" } else { "s" },
                now.pids_max.unwrap_or(0)
            ),
        ));
    }
    if near(now) && !near_before {
        out.push((
            MEMORY_NEAR_LIMIT,
            format!(
                "memory use {} bytes is at {}% of its limit {} bytes",
                now.memory_usage.unwrap_or(0),
                now.memory_usage.unwrap_or(0) * 100 / now.memory_limit.unwrap_or(1).max(1),
                now.memory_limit.unwrap_or(0)
            ),
        ));
    }
    out
}

/// Memory use at 90% of the limit or above.
pub fn near(r: &Reading) -> bool {
    match (r.memory_usage, r.memory_limit) {
        (Some(u), Some(l)) if l > 0 => u.saturating_mul(10) >= l.saturating_mul(9),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_that_grow_are_events_once() {
        assert_eq!(
            field("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "oom_kill"),
            Some(2)
        );
        let a = Reading {
            oom_kill: Some(0),
            pids_max: None,
            memory_usage: Some(10),
            memory_limit: Some(100),
        };
        let b = Reading {
            oom_kill: Some(1),
            pids_max: Some(3),
            memory_usage: Some(95),
            memory_limit: Some(100),
        };
        let kinds: Vec<_> = changes(&a, &b, near(&a)).iter().map(|c| c.0).collect();
        assert_eq!(kinds, ["oom-kill", "pids-limit", "memory-near-limit"]);
        assert!(changes(&b, &b, near(&b)).is_empty());
    }
}
