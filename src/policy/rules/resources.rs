//! `resources` (CIS 5.11 memory, 5.12 CPU, 5.19 ulimits, 5.25 cgroup, 5.29 pids): the memory,
//! CPU and pids limits and the `RLIMIT_NOFILE`/`RLIMIT_NPROC` rlimits are set and within the
//! profile's ceilings.
//!
//! The rule sees two shapes:
//! - a **full spec** (`create`/`run`: it has `process` or `root`). A limit that is absent or
//!   unlimited gets the profile's default (or, with no default, its ceiling); one above the
//!   ceiling is clamped. Missing rlimits are added.
//! - an **update request** (`update`: `{"linux": {"resources": …}}`, neither `process` nor
//!   `root`). A field absent from the request (or `0`, which libcgroups does not write) means
//!   "unchanged", so nothing is added; a value present and above the ceiling, or unlimited
//!   (`-1`), is clamped to the ceiling. A `pids` object whose limit is `0`/`-1` is unlimited
//!   (libcgroups writes `max`). There are no rlimits in an update.
//!
//! Swap: OCI's `memory.swap` is the memory+swap limit. Whenever the rule sets or clamps the
//! memory limit it also sets `swap` to that limit (no swap beyond it), so a clamped container
//! cannot page its way around the clamp and cgroup v1 never sees memsw < limit (raising the
//! limit of a running container above its memsw is EINVAL). When the caller's own memory limit
//! is within the ceiling, swap is the caller's choice and left alone (`docker update --memory 64m
//! --memory-swap -1` passes unchanged).
//!
//! Rlimits: the runtime cannot raise a hard limit above its caller's without CAP_SYS_RESOURCE
//! (libcontainer's setrlimit fails with EPERM), so the ceiling is the lower of the profile's and
//! the caller's hard limit (`Host::hard_rlimit`). A soft limit above its hard limit is lowered.

use serde_json::{json, Value};

use super::{Proposal, RuleCtx};
use crate::policy::edit::Edit;
use crate::profile::{parse_size, Profile};

const DEFAULT_PERIOD: u64 = 100_000;
/// the kernel's smallest CFS quota (µs)
const MIN_QUOTA: u64 = 1_000;

/// A limit as read from the spec.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lim {
    /// absent, null or 0 (libcgroups writes nothing for 0)
    Unset,
    /// negative (`-1`): no limit
    Unlimited,
    Set(u64),
    /// not an integer: not ours to judge
    Odd,
}

fn read(spec: &Value, ptr: &str) -> Lim {
    match spec.pointer(ptr) {
        None | Some(Value::Null) => Lim::Unset,
        Some(v) => {
            if let Some(n) = v.as_i64() {
                match n {
                    0 => Lim::Unset,
                    n if n < 0 => Lim::Unlimited,
                    n => Lim::Set(n as u64),
                }
            } else if let Some(n) = v.as_u64() {
                Lim::Set(n)
            } else {
                Lim::Odd
            }
        }
    }
}

/// What the spec says, for messages.
fn describe(l: Lim, show: impl Fn(u64) -> String) -> String {
    match l {
        Lim::Unset => "absent".into(),
        Lim::Unlimited => "-1 (unlimited)".into(),
        Lim::Set(v) => show(v),
        Lim::Odd => "not a number".into(),
    }
}

/// `8g`, `512m`, `64k` when exact, else the byte count.
fn size(b: u64) -> String {
    for (unit, shift) in [("t", 40), ("g", 30), ("m", 20), ("k", 10)] {
        if b >= 1 << shift && b % (1 << shift) == 0 {
            return format!("{}{unit}", b >> shift);
        }
    }
    b.to_string()
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The value to set for a limit `cur` given the profile's `default` and `max`, and whether that
/// is a clamp to the ceiling; `None` when the value stands.
fn decide(full: bool, cur: Lim, default: Option<u64>, max: Option<u64>) -> Option<(u64, bool)> {
    let default = min_opt(default, max);
    match cur {
        Lim::Odd => None,
        Lim::Unset if full => default.map(|v| (v, false)),
        Lim::Unset => None,
        Lim::Unlimited if full => default.map(|v| (v, false)),
        Lim::Unlimited => max.map(|v| (v, true)),
        Lim::Set(v) => max.filter(|m| v > *m).map(|m| (m, true)),
    }
}

fn message(what: &str, cur: Lim, new: u64, clamped: bool, show: impl Fn(u64) -> String) -> String {
    if clamped {
        let max = show(new);
        format!(
            "{what} {} above the profile's ceiling {max}; clamped",
            describe(cur, show)
        )
    } else {
        let new = show(new);
        format!("{what} {}; set to {new}", describe(cur, show))
    }
}

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    let full = spec.get("process").is_some() || spec.get("root").is_some();
    let cfg = &profile.resources;
    let mut out = vec![];
    memory(spec, profile, full, &mut out);
    cpu(spec, profile, full, &mut out);

    // pids: on update a pids object with limit 0 is "max" to libcgroups, so it counts
    let ptr = "/linux/resources/pids/limit";
    let mut cur = read(spec, ptr);
    if !full && cur == Lim::Unset && spec.pointer("/linux/resources/pids").is_some() {
        cur = Lim::Unlimited;
    }
    let (default, max) = (cfg.pids.map(|v| v as u64), cfg.pids_max.map(|v| v as u64));
    if let Some((new, clamped)) = decide(full, cur, default, max) {
        out.push(Proposal::fix(
            ptr,
            message("pids limit", cur, new, clamped, |v| v.to_string()),
            vec![Edit::set(ptr, new)],
        ));
    }

    if spec.get("process").is_some_and(Value::is_object) {
        rlimit(
            spec,
            ctx,
            "RLIMIT_NOFILE",
            cfg.nofile,
            cfg.nofile_max,
            &mut out,
        );
        rlimit(
            spec,
            ctx,
            "RLIMIT_NPROC",
            cfg.nproc,
            cfg.nproc_max,
            &mut out,
        );
    }
    out
}

fn memory(spec: &Value, profile: &Profile, full: bool, out: &mut Vec<Proposal>) {
    let cfg = &profile.resources;
    let default = cfg.memory.as_deref().and_then(|s| parse_size(s).ok());
    let max = cfg.memory_max.as_deref().and_then(|s| parse_size(s).ok());
    let ptr = "/linux/resources/memory/limit";
    let cur = read(spec, ptr);
    let Some((new, clamped)) = decide(full, cur, default, max) else {
        return;
    };
    out.push(Proposal::fix(
        ptr,
        message("memory limit", cur, new, clamped, size),
        vec![Edit::set(ptr, new)],
    ));
    let sptr = "/linux/resources/memory/swap";
    let swap = read(spec, sptr);
    if swap != Lim::Set(new) {
        out.push(Proposal::fix(
            sptr,
            format!(
                "memory+swap limit {} with the memory limit now {}; set to {} (no swap beyond the memory limit)",
                describe(swap, size),
                size(new),
                size(new)
            ),
            vec![Edit::set(sptr, new)],
        ));
    }
}

fn cpus(quota: u64, period: u64) -> String {
    let c = quota as f64 / period as f64;
    // two decimals at most: 1.5, 2, 0.33
    let s = format!("{:.2}", c);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn cpu(spec: &Value, profile: &Profile, full: bool, out: &mut Vec<Proposal>) {
    let cfg = &profile.resources;
    let sptr = "/linux/resources/cpu/shares";
    if let (true, Lim::Unset, Some(v)) = (full, read(spec, sptr), cfg.cpu_shares) {
        out.push(Proposal::fix(
            sptr,
            format!("cpu shares absent; set to {v}"),
            vec![Edit::set(sptr, v)],
        ));
    }

    let pptr = "/linux/resources/cpu/period";
    let (period, period_set) = match read(spec, pptr) {
        Lim::Set(p) => (p, true),
        _ => (DEFAULT_PERIOD, false),
    };
    let quota_of = |c: f64| ((c * period as f64).round() as u64).max(MIN_QUOTA);
    let qptr = "/linux/resources/cpu/quota";
    let cur = read(spec, qptr);
    let Some((new, clamped)) = decide(
        full,
        cur,
        cfg.cpus.map(quota_of),
        cfg.cpus_max.map(quota_of),
    ) else {
        return;
    };
    let show = |q: u64| format!("{q}/{period} ({} cpus)", cpus(q, period));
    let mut edits = vec![Edit::set(qptr, new)];
    if !period_set {
        // the quota is meant against this period: set it with the quota
        edits.push(Edit::set(pptr, period));
    }
    out.push(Proposal::fix(
        qptr,
        message("cpu quota", cur, new, clamped, show),
        edits,
    ));
}

fn rlimit(
    spec: &Value,
    ctx: &RuleCtx,
    kind: &str,
    default: Option<u64>,
    max: Option<u64>,
    out: &mut Vec<Proposal>,
) {
    let host = ctx.host.hard_rlimit(kind);
    let ceiling = min_opt(max, host);
    // why a value is too high, for messages
    let why = |c: u64| {
        if host == Some(c) && max.is_none_or(|m| m > c) {
            format!("the caller's hard limit {c} (the runtime cannot raise it: setrlimit would fail with EPERM)")
        } else {
            format!("the profile's ceiling {c}")
        }
    };
    let entries = spec
        .pointer("/process/rlimits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut found = false;
    for (i, e) in entries.iter().enumerate() {
        if e.get("type").and_then(Value::as_str) != Some(kind) {
            continue;
        }
        found = true;
        let (Some(hard), Some(soft)) = (
            e.get("hard").and_then(Value::as_u64),
            e.get("soft").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let mut new_hard = hard;
        if let Some(c) = ceiling.filter(|c| hard > *c) {
            new_hard = c;
            let ptr = format!("/process/rlimits/{i}/hard");
            out.push(Proposal::fix(
                ptr.clone(),
                format!("rlimit {kind} hard {hard} above {}; clamped", why(c)),
                vec![Edit::set(ptr, c)],
            ));
        }
        if soft > new_hard {
            let ptr = format!("/process/rlimits/{i}/soft");
            out.push(Proposal::fix(
                ptr.clone(),
                format!("rlimit {kind} soft {soft} above its hard limit {new_hard}; clamped"),
                vec![Edit::set(ptr, new_hard)],
            ));
        }
    }
    if found {
        return;
    }
    // absent: the container inherits the caller's limits
    let (value, msg) = match default.map(|d| max.map_or(d, |m| d.min(m))) {
        Some(d) => match host.filter(|h| *h < d) {
            Some(h) => (
                h,
                format!("rlimit {kind} absent; set to {h} (the caller's hard limit: the profile's {d} cannot be granted)"),
            ),
            None => (d, format!("rlimit {kind} absent; set to {d}")),
        },
        // RLIMIT_NPROC without a default is left alone: the kernel counts it per host uid, so
        // any value set here is one budget shared by every container running as that uid
        None if kind == "RLIMIT_NPROC" => return,
        // no default: only a ceiling below what would be inherited matters
        None => match (host, max) {
            (Some(h), Some(m)) if h > m => (
                m,
                format!("rlimit {kind} absent, inheriting the caller's hard limit {h} above the profile's ceiling {m}; set to {m}"),
            ),
            _ => return,
        },
    };
    out.push(Proposal::fix(
        "/process/rlimits",
        msg,
        vec![Edit::push(
            "/process/rlimits",
            json!({"type": kind, "hard": value, "soft": value}),
        )],
    ));
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::testing::*;
    use super::super::{Granted, Host};
    use super::*;
    use crate::policy::edit::apply;

    fn full(resources: Value, rlimits: Value) -> Value {
        json!({"root": {"path": "rootfs"}, "process": {"args": ["sh"], "rlimits": rlimits}, "linux": {"resources": resources}})
    }

    fn update(resources: Value) -> Value {
        json!({"linux": {"resources": resources}})
    }

    fn messages(spec: &Value, p: &Profile) -> Vec<String> {
        run(evaluate, spec, p)
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn full_spec_gets_the_profiles_defaults() {
        let spec = json!({"root": {"path": "rootfs"}, "process": {"args": ["sh"]}});
        let out = fixed(evaluate, &spec, &profile("restricted"));
        assert_eq!(
            out["linux"]["resources"],
            json!({
                "memory": {"limit": 512u64 << 20, "swap": 512u64 << 20},
                "cpu": {"shares": 1024, "quota": 200000, "period": 100000},
                "pids": {"limit": 1024}
            })
        );
        assert_eq!(
            out["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}])
        );
        let r = run(evaluate, &spec, &profile("restricted"));
        let pointers: Vec<&str> = r.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/linux/resources/memory/limit",
                "/linux/resources/memory/swap",
                "/linux/resources/cpu/shares",
                "/linux/resources/cpu/quota",
                "/linux/resources/pids/limit",
                "/process/rlimits"
            ]
        );
        assert_eq!(
            messages(&spec, &profile("restricted")),
            [
                "memory limit absent; set to 512m",
                "memory+swap limit absent with the memory limit now 512m; set to 512m (no swap beyond the memory limit)",
                "cpu shares absent; set to 1024",
                "cpu quota absent; set to 200000/100000 (2 cpus)",
                "pids limit absent; set to 1024",
                "rlimit RLIMIT_NOFILE absent; set to 1024",
            ]
        );
    }

    #[test]
    fn values_per_profile() {
        // (profile, memory, swap, shares, quota, pids, rlimits)
        let spec = full(json!({"memory": {}}), json!([]));
        let out = fixed(evaluate, &spec, &profile("ci-runner"));
        assert_eq!(
            out["linux"]["resources"],
            json!({
                "memory": {"limit": 1u64 << 30, "swap": 1u64 << 30},
                "cpu": {"shares": 512, "quota": 100000, "period": 100000},
                "pids": {"limit": 512}
            })
        );
        assert_eq!(
            out["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}])
        );
        // baseline: only a pids limit
        let out = fixed(evaluate, &spec, &profile("baseline"));
        assert_eq!(
            out["linux"]["resources"],
            json!({"memory": {}, "pids": {"limit": 4096}})
        );
        assert_eq!(out["process"]["rlimits"], json!([]));
        // permissive proposes what restricted would do (the engine only audits it)
        assert_eq!(
            run(evaluate, &spec, &profile("permissive")),
            run(evaluate, &spec, &profile("restricted"))
        );
    }

    #[test]
    fn full_spec_unlimited_gets_defaults_and_excess_is_clamped() {
        let p = profile("restricted");
        let cases = [
            // unlimited → the default
            (
                json!({"memory": {"limit": -1, "swap": -1}, "cpu": {"shares": 512, "quota": -1, "period": 50000}, "pids": {"limit": -1}}),
                json!({"memory": {"limit": 512u64 << 20, "swap": 512u64 << 20}, "cpu": {"shares": 512, "quota": 100000, "period": 50000}, "pids": {"limit": 1024}}),
            ),
            // above the ceiling → the ceiling; swap follows the clamped limit
            (
                json!({"memory": {"limit": 16u64 << 30, "swap": 32u64 << 30}, "cpu": {"shares": 2, "quota": 1600000, "period": 100000}, "pids": {"limit": 100000}}),
                json!({"memory": {"limit": 8u64 << 30, "swap": 8u64 << 30}, "cpu": {"shares": 2, "quota": 800000, "period": 100000}, "pids": {"limit": 8192}}),
            ),
            // within: untouched, swap included (docker run --memory 64m: swap 2x)
            (
                json!({"memory": {"limit": 64u64 << 20, "swap": 128u64 << 20}, "cpu": {"shares": 2, "quota": 50000, "period": 100000}, "pids": {"limit": 100}}),
                json!({"memory": {"limit": 64u64 << 20, "swap": 128u64 << 20}, "cpu": {"shares": 2, "quota": 50000, "period": 100000}, "pids": {"limit": 100}}),
            ),
        ];
        let rl = json!([
            {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
            {"type": "RLIMIT_NPROC", "hard": 100, "soft": 100}
        ]);
        for (res, want) in cases {
            let out = fixed(evaluate, &full(res.clone(), rl.clone()), &p);
            assert_eq!(out["linux"]["resources"], want, "{res}");
            assert_eq!(out["process"]["rlimits"], rl, "{res}");
        }
        let m = messages(
            &full(
                json!({"memory": {"limit": 16u64 << 30, "swap": 32u64 << 30}, "cpu": {"quota": 1600000, "period": 100000}, "pids": {"limit": 100000}}),
                rl.clone(),
            ),
            &p,
        );
        assert_eq!(
            m,
            [
                "memory limit 16g above the profile's ceiling 8g; clamped",
                "memory+swap limit 32g with the memory limit now 8g; set to 8g (no swap beyond the memory limit)",
                "cpu shares absent; set to 1024",
                "cpu quota 1600000/100000 (16 cpus) above the profile's ceiling 800000/100000 (8 cpus); clamped",
                "pids limit 100000 above the profile's ceiling 8192; clamped",
            ]
        );
        let m = messages(
            &full(
                json!({"memory": {"limit": -1}, "cpu": {"shares": 2, "quota": -1}, "pids": {"limit": 1024}}),
                rl,
            ),
            &p,
        );
        assert_eq!(m[0], "memory limit -1 (unlimited); set to 512m");
        assert_eq!(
            m[2],
            "cpu quota -1 (unlimited); set to 200000/100000 (2 cpus)"
        );
    }

    #[test]
    fn update_clamps_only_what_is_requested() {
        let p = profile("restricted");
        let cases = [
            // docker update --memory 64m --memory-swap -1 (dockerd sends zeros for unset cpu)
            (
                json!({"memory": {"limit": 67108864, "swap": -1}, "cpu": {"quota": 0, "period": 0, "realtimePeriod": 0, "realtimeRuntime": 0, "cpus": "", "mems": ""}}),
                json!({"memory": {"limit": 67108864, "swap": -1}, "cpu": {"quota": 0, "period": 0, "realtimePeriod": 0, "realtimeRuntime": 0, "cpus": "", "mems": ""}}),
                0,
            ),
            (json!({}), json!({}), 0),
            (
                json!({"memory": {"swap": -1}}),
                json!({"memory": {"swap": -1}}),
                0,
            ),
            // unlimited requests get the ceiling, not the default
            (
                json!({"memory": {"limit": -1}, "cpu": {"quota": -1}, "pids": {"limit": -1}}),
                json!({"memory": {"limit": 8u64 << 30, "swap": 8u64 << 30}, "cpu": {"quota": 800000, "period": 100000}, "pids": {"limit": 8192}}),
                4,
            ),
            // runc update --pids-limit 0 is "max" to libcgroups
            (
                json!({"pids": {"limit": 0}}),
                json!({"pids": {"limit": 8192}}),
                1,
            ),
            (
                json!({"memory": {"limit": 16u64 << 30}, "cpu": {"quota": 9000000, "period": 1000000}, "pids": {"limit": 9000}}),
                json!({"memory": {"limit": 8u64 << 30, "swap": 8u64 << 30}, "cpu": {"quota": 8000000, "period": 1000000}, "pids": {"limit": 8192}}),
                4,
            ),
            (
                json!({"memory": {"limit": 1u64 << 30}, "cpu": {"shares": 2, "quota": 150000, "period": 100000}, "pids": {"limit": 200}}),
                json!({"memory": {"limit": 1u64 << 30}, "cpu": {"shares": 2, "quota": 150000, "period": 100000}, "pids": {"limit": 200}}),
                0,
            ),
        ];
        for (res, want, n) in cases {
            let spec = update(res.clone());
            assert_eq!(run(evaluate, &spec, &p).len(), n, "{res}");
            let out = fixed(evaluate, &spec, &p);
            assert_eq!(out, update(want), "{res}");
            assert!(out.get("process").is_none(), "no rlimits on update");
        }
        // baseline has no memory/cpu values: an unlimited update stays unlimited
        assert!(run(
            evaluate,
            &update(json!({"memory": {"limit": -1}, "cpu": {"quota": -1}})),
            &profile("baseline")
        )
        .is_empty());
        assert_eq!(
            messages(&update(json!({"memory": {"limit": -1}})), &p)[0],
            "memory limit -1 (unlimited) above the profile's ceiling 8g; clamped"
        );
    }

    #[test]
    fn rlimits_clamped_to_profile_and_soft_to_hard() {
        let p = profile("restricted");
        let spec = full(
            json!({}),
            json!([
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                {"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576},
                {"type": "RLIMIT_NPROC", "hard": 4096, "soft": 8192}
            ]),
        );
        let out = fixed(evaluate, &spec, &p);
        assert_eq!(
            out["process"]["rlimits"],
            json!([
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                {"type": "RLIMIT_NOFILE", "hard": 65536, "soft": 65536},
                {"type": "RLIMIT_NPROC", "hard": 4096, "soft": 4096}
            ])
        );
        let r: Vec<(String, String)> = run(evaluate, &spec, &p)
            .into_iter()
            .filter(|p| p.pointer.starts_with("/process"))
            .map(|p| (p.pointer, p.message))
            .collect();
        assert_eq!(
            r,
            [
                (
                    "/process/rlimits/1/hard".to_owned(),
                    "rlimit RLIMIT_NOFILE hard 1048576 above the profile's ceiling 65536; clamped"
                        .to_owned()
                ),
                (
                    "/process/rlimits/1/soft".to_owned(),
                    "rlimit RLIMIT_NOFILE soft 1048576 above its hard limit 65536; clamped"
                        .to_owned()
                ),
                (
                    "/process/rlimits/2/soft".to_owned(),
                    "rlimit RLIMIT_NPROC soft 8192 above its hard limit 4096; clamped".to_owned()
                ),
            ]
        );
    }

    /// A caller like the one in real-clients.md: `ulimit -Hn` 20000, `ulimit -Hu` 96365.
    struct LowHost;
    impl Host for LowHost {
        fn host_ns(&self, _: &str) -> Option<u64> {
            None
        }
        fn ns_at(&self, _: &str) -> Option<u64> {
            None
        }
        fn hard_rlimit(&self, r: &str) -> Option<u64> {
            match r {
                "RLIMIT_NOFILE" => Some(20000),
                "RLIMIT_NPROC" => Some(96365),
                _ => None,
            }
        }
        fn seccomp_arch(&self) -> &'static str {
            "SCMP_ARCH_X86_64"
        }
    }

    fn run_low(spec: &Value, p: &Profile) -> Vec<Proposal> {
        let annotations = BTreeMap::new();
        let granted = Granted::default();
        let ctx = RuleCtx {
            id: "t",
            annotations: &annotations,
            granted: &granted,
            host: &LowHost,
            userns: None,
            sources: crate::bundle::Sources::none(),
        };
        evaluate(spec, p, &ctx)
    }

    fn fixed_low(spec: &Value, p: &Profile) -> Value {
        let mut out = spec.clone();
        for prop in run_low(spec, p) {
            for e in &prop.edits {
                apply(&mut out, e).unwrap();
            }
        }
        let again = run_low(&out, p);
        assert!(again.is_empty(), "not idempotent: {again:?}");
        out
    }

    #[test]
    fn rlimits_clamped_to_the_callers_hard_limit() {
        let mut p = profile("restricted");
        // requests within the profile but above what the caller can hand out
        let spec = full(
            json!({}),
            json!([{"type": "RLIMIT_NOFILE", "hard": 65536, "soft": 65536}]),
        );
        let out = fixed_low(&spec, &p);
        assert_eq!(
            out["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}])
        );
        // RLIMIT_NPROC is counted per host uid: never added, but a request is held to the ceiling
        let spec_nproc = full(
            json!({}),
            json!([{"type": "RLIMIT_NPROC", "hard": 100000, "soft": 100000}]),
        );
        assert_eq!(
            fixed_low(&spec_nproc, &p)["process"]["rlimits"][0],
            json!({"type": "RLIMIT_NPROC", "hard": 8192, "soft": 8192})
        );
        let m: Vec<String> = run_low(&spec, &p)
            .into_iter()
            .filter(|p| p.pointer.starts_with("/process"))
            .map(|p| p.message)
            .collect();
        assert_eq!(m[0], "rlimit RLIMIT_NOFILE hard 65536 above the caller's hard limit 20000 (the runtime cannot raise it: setrlimit would fail with EPERM); clamped");

        // a profile default above the caller's hard limit: the caller's limit is added
        p.resources.nofile = Some(32768);
        let spec = full(json!({}), json!([]));
        let out = fixed_low(&spec, &p);
        assert_eq!(
            out["process"]["rlimits"][0],
            json!({"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000})
        );
        let r = run_low(&spec, &p);
        assert!(r.iter().any(|p| p.message == "rlimit RLIMIT_NOFILE absent; set to 20000 (the caller's hard limit: the profile's 32768 cannot be granted)"));

        // no default, only a ceiling: absent is fine when the caller's limit is within it
        p.resources.nofile = None;
        p.resources.nproc = None;
        p.resources.nofile_max = Some(4096);
        p.resources.nproc_max = Some(200000);
        let out = fixed_low(&spec, &p);
        assert_eq!(
            out["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096}])
        );
        // and with no ceiling at all, only the caller's hard limit counts
        p.resources.nofile_max = None;
        let spec = full(
            json!({}),
            json!([{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1024}]),
        );
        let out = fixed_low(&spec, &p);
        assert_eq!(
            out["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 1024}])
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(size(8 << 30), "8g");
        assert_eq!(size(512 << 20), "512m");
        assert_eq!(size(1536 << 20), "1536m");
        assert_eq!(size(1000), "1000");
        assert_eq!(cpus(150000, 100000), "1.5");
        assert_eq!(cpus(33333, 100000), "0.33");
        assert_eq!(read(&json!({"a": "x"}), "/a"), Lim::Odd);
        assert_eq!(read(&json!({"a": u64::MAX}), "/a"), Lim::Set(u64::MAX));
        // a value that is not a number is left to libcontainer's parser
        let p = profile("restricted");
        assert!(run(evaluate, &update(json!({"memory": {"limit": "1g"}})), &p).is_empty());
    }
}
