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
use libcgroups::stats::{BlkioDeviceStat, MemoryData, Stats};
use serde_json::{json, Map, Value};

use crate::cli::{Events, GlobalOpts};
use crate::delegate::{self, Status};

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
        if !emit(event_line("stats", id, Some(&runc_stats(&stats))))? {
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

fn nonzero(m: &mut Map<String, Value>, k: &str, v: u64) {
    if v != 0 {
        m.insert(k.into(), v.into());
    }
}

fn memory_entry(d: &MemoryData) -> Value {
    let mut m = Map::new();
    m.insert("limit".into(), d.limit.into());
    nonzero(&mut m, "usage", d.usage);
    nonzero(&mut m, "max", d.max_usage);
    m.insert("failcnt".into(), d.fail_count.into());
    Value::Object(m)
}

fn blkio(entries: &[BlkioDeviceStat]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| {
                let mut m = Map::new();
                nonzero(&mut m, "major", e.major);
                nonzero(&mut m, "minor", e.minor);
                if let Some(op) = &e.op_type {
                    m.insert("op".into(), op.clone().into());
                }
                nonzero(&mut m, "value", e.value);
                Value::Object(m)
            })
            .collect(),
    )
}

/// Converts libcgroups' stats into runc's `types.Stats` JSON.
pub fn runc_stats(s: &Stats) -> Value {
    let u = &s.cpu.usage;
    let mut usage = Map::new();
    usage.insert("kernel".into(), u.usage_kernel.into());
    usage.insert("user".into(), u.usage_user.into());
    nonzero(&mut usage, "total", u.usage_total);
    for (k, v) in [
        ("percpu", &u.per_core_usage_total),
        ("percpu_kernel", &u.per_core_usage_kernel),
        ("percpu_user", &u.per_core_usage_user),
    ] {
        if !v.is_empty() {
            usage.insert(k.into(), json!(v));
        }
    }
    let mut throttling = Map::new();
    nonzero(&mut throttling, "periods", s.cpu.throttling.periods);
    nonzero(
        &mut throttling,
        "throttledPeriods",
        s.cpu.throttling.throttled_periods,
    );
    nonzero(
        &mut throttling,
        "throttledTime",
        s.cpu.throttling.throttled_time,
    );

    let mut memory = Map::new();
    nonzero(&mut memory, "cache", s.memory.cache);
    memory.insert("usage".into(), memory_entry(&s.memory.memory));
    memory.insert("swap".into(), memory_entry(&s.memory.memswap));
    memory.insert("kernel".into(), memory_entry(&s.memory.kernel));
    memory.insert("kernelTCP".into(), memory_entry(&s.memory.kernel_tcp));
    if !s.memory.stats.is_empty() {
        memory.insert("raw".into(), json!(s.memory.stats));
    }

    let mut pids = Map::new();
    nonzero(&mut pids, "current", s.pids.current);
    nonzero(&mut pids, "limit", s.pids.limit);

    let mut b = Map::new();
    for (k, v) in [
        ("ioServiceBytesRecursive", &s.blkio.service_bytes),
        ("ioServicedRecursive", &s.blkio.serviced),
        ("ioQueueRecursive", &s.blkio.queued),
        ("ioServiceTimeRecursive", &s.blkio.service_time),
        ("ioWaitTimeRecursive", &s.blkio.wait_time),
        ("ioMergedRecursive", &s.blkio.merged),
        ("ioTimeRecursive", &s.blkio.time),
        ("sectorsRecursive", &s.blkio.sectors),
    ] {
        if !v.is_empty() {
            b.insert(k.into(), blkio(v));
        }
    }

    let hugetlb: Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(size, h)| {
            let mut m = Map::new();
            nonzero(&mut m, "usage", h.usage);
            nonzero(&mut m, "max", h.max_usage);
            m.insert("failcnt".into(), h.fail_count.into());
            (size.clone(), Value::Object(m))
        })
        .collect();

    json!({
        "cpu": {"usage": usage, "throttling": throttling},
        "cpuset": {},
        "memory": memory,
        "pids": pids,
        "blkio": b,
        "hugetlb": hugetlb,
        "intel_rdt": {},
        "network_interfaces": null,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_lines_in_runcs_key_order() {
        assert_eq!(
            super::event_line("oom", "c1", None),
            "{\"type\":\"oom\",\"id\":\"c1\"}\n"
        );
        let data = super::runc_stats(&libcgroups::stats::Stats::default());
        let line = super::event_line("stats", "c\"2", Some(&data));
        assert!(
            line.starts_with("{\"type\":\"stats\",\"id\":\"c\\\"2\",\"data\":{\"cpu\":"),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["data"], data);
    }

    #[test]
    fn stats_have_runc_keys() {
        let mut s = libcgroups::stats::Stats::default();
        s.pids.current = 3;
        s.memory.memory.limit = 1 << 20;
        s.memory.memory.usage = 4096;
        s.cpu.usage.usage_total = 77;
        let v = super::runc_stats(&s);
        assert_eq!(v["pids"]["current"], 3);
        assert_eq!(v["memory"]["usage"]["limit"], 1 << 20);
        assert_eq!(v["memory"]["usage"]["usage"], 4096);
        assert_eq!(v["memory"]["usage"]["failcnt"], 0);
        assert_eq!(v["cpu"]["usage"]["total"], 77);
        assert_eq!(v["cpu"]["usage"]["kernel"], 0);
        assert!(v["pids"].get("limit").is_none());
    }
}
