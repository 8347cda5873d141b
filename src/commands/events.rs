//! `events [--stats] [--interval DURATION] <id>`: runc's event stream. `--stats` prints one stats
//! event; otherwise one every interval (a Go duration, default 5s) until the container stops, and
//! an `{"type":"oom","id":…}` event as soon as (within 100 ms) the container's cgroup hits OOM:
//! its OOM counter grows (`oom_kill` of v1's `memory.oom_control`, `oom` of v2's
//! `memory.events`) or, with the OOM killer disabled, v1's `under_oom` turns on. Each event is one JSON line (`{"type":"stats",
//! "id":…,"data":{…}}`, runc's `types.Stats` shape). A reader that goes away (`| head -1`) ends
//! the stream quietly.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::cli::{Events, GlobalOpts};
use crate::runtime::delegate::{self, Status};

pub fn run(global: &GlobalOpts, args: &Events) -> Result<i32> {
    let (_, mut container) = super::load(global, &args.container_id)?;
    // runc's order: the interval is judged before the container's status
    let interval = match args.interval.positive() {
        Some(d) => d,
        None if args.stats => Duration::ZERO,
        None => bail!("duration interval must be greater than 0"),
    };
    if container.status() != Status::Running {
        bail!(
            "container {:?} is not running (it is {})",
            args.container_id,
            container.status().name()
        );
    }
    let mut stdout = std::io::stdout().lock();
    // false: the reader went away
    let mut emit = |line: String| -> Result<bool> {
        match stdout
            .write_all(line.as_bytes())
            .and_then(|_| stdout.flush())
        {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => bail!("cannot write to stdout: {e}"),
        }
    };
    let id = args.container_id.as_str();
    let mut oom = delegate::oom_state(&container);
    loop {
        let stats = delegate::stats(&container)?;
        if !emit(event_line("stats", id, Some(&stats)))? {
            return Ok(0);
        }
        if args.stats {
            return Ok(0);
        }
        // wait out the interval in short steps, watching the cgroup's OOM state
        let start = Instant::now();
        loop {
            let left = interval.saturating_sub(start.elapsed());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
            let now = delegate::oom_state(&container);
            if let (Some(before), Some(after)) = (oom, now) {
                if after.is_new_oom_since(&before) && !emit(event_line("oom", id, None))? {
                    return Ok(0);
                }
            }
            oom = now.or(oom);
        }
        container.refresh_status().ok();
        if container.status() == Status::Stopped {
            return Ok(0);
        }
    }
}

/// One event line in runc's key order, `{"type":…,"id":…,"data":…}` (`data` omitted when there
/// is none, as runc's `omitempty`): readers match lines by their prefix. `data`'s own keys come
/// in the order of runc's `types.Stats`.
pub fn event_line(kind: &str, id: &str, data: Option<&Value>) -> String {
    let mut line = format!("{{\"type\":{},\"id\":{}", json!(kind), json!(id));
    if let Some(data) = data {
        line.push_str(",\"data\":");
        line.push_str(&ordered(data, RUNC_STATS_ORDER));
    }
    line.push_str("}\n");
    line
}

/// runc's `types.Stats` fields, in its order.
const RUNC_STATS_ORDER: &[&str] = &[
    "cpu",
    "cpuset",
    "memory",
    "pids",
    "blkio",
    "hugetlb",
    "intel_rdt",
    "network_interfaces",
];

/// An object's JSON with the keys in `order` first (then any other, sorted).
fn ordered(v: &Value, order: &[&str]) -> String {
    let Some(m) = v.as_object() else {
        return v.to_string();
    };
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(order.len()));
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{}:{}", json!(k), m[k.as_str()]))
        .collect();
    format!("{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_lines_in_runcs_key_order() {
        assert_eq!(
            super::event_line("oom", "c1", None),
            "{\"type\":\"oom\",\"id\":\"c1\"}\n"
        );
        let data = crate::runtime::cgroup_stats::runc_stats(&Default::default());
        let line = super::event_line("stats", "c\"2", Some(&data));
        assert!(
            line.starts_with("{\"type\":\"stats\",\"id\":\"c\\\"2\",\"data\":{\"cpu\":"),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["data"], data);
    }
}
