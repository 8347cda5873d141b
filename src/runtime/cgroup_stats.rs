//! libcgroups' statistics of a container's cgroup as runc's `types.Stats` JSON (the `data` of
//! `events`): runc's keys, and its `omitempty` (a zero counter is left out where runc leaves it).

use libcgroups::stats::{BlkioDeviceStat, MemoryData, Stats};
use serde_json::{json, Map, Value};

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
    use super::*;

    #[test]
    fn stats_have_runc_keys() {
        let mut s = Stats::default();
        s.pids.current = 3;
        s.memory.memory.limit = 1 << 20;
        s.memory.memory.usage = 4096;
        s.cpu.usage.usage_total = 77;
        let v = runc_stats(&s);
        assert_eq!(v["pids"]["current"], 3);
        assert_eq!(v["memory"]["usage"]["limit"], 1 << 20);
        assert_eq!(v["memory"]["usage"]["usage"], 4096);
        assert_eq!(v["memory"]["usage"]["failcnt"], 0);
        assert_eq!(v["cpu"]["usage"]["total"], 77);
        assert_eq!(v["cpu"]["usage"]["kernel"], 0);
        assert!(v["pids"].get("limit").is_none());
    }
}
