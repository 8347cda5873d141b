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
//! limit of a running container above its memsw is EINVAL). Under a profile with a memory
//! ceiling, memory+swap always lies between the memory limit and the ceiling: absent → the
//! memory limit, unlimited or above the ceiling → the ceiling, below the memory limit → the
//! memory limit. An update is first completed with the values in force ([`complete_update`]),
//! so the pair is judged, and written, together.
//!
//! `unified` (cgroup v2 files, applied by libcgroups after everything else): each key is judged
//! by [`classify`]: the ones that duplicate a limit the profile sets (`memory.max`,
//! `memory.swap.max`, `pids.max`, `cpu.max`) are held to it like the typed fields; known keys that
//! cannot widen a profile limit pass; the core `cgroup.*` files, `devices.*`, exclusive cpusets
//! and every key hardrun does not know are refused.
//!
//! Rlimits: the runtime cannot raise a hard limit above its caller's without CAP_SYS_RESOURCE
//! (libcontainer's setrlimit fails with EPERM), so the ceiling is the lower of the profile's and
//! the caller's hard limit (`Host::hard_rlimit`). A soft limit above its hard limit is lowered.

use serde_json::{json, Value};

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::{parse_size, Profile};

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "memory, CPU and pids limits and the nofile/nproc rlimits are set and within the profile's ceilings",
    severity: Severity::Medium,
    process: false,
    evaluate: Some(evaluate),
};

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
    let described = describe(cur, &show);
    message_of(what, &described, &show(new), clamped)
}

fn message_of(what: &str, described: &str, new: &str, clamped: bool) -> String {
    if clamped {
        format!("{what} {described} above the profile's ceiling {new}; clamped")
    } else {
        format!("{what} {described}; set to {new}")
    }
}

/// `16 GiB`, `512 MiB`, `64 KiB` when exact, else the byte count.
fn bytes(b: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if b >= 1 << shift && b % (1 << shift) == 0 {
            return format!("{} {unit}", b >> shift);
        }
    }
    format!("{b} bytes")
}

/// One line per memory, CPU or pids limit the profile set or lowered on create (the `resources`
/// findings enforced), for the caller's stderr, which containerd's shim logs:
/// `hardrun: memory limit 16 GiB lowered to 8 GiB by profile restricted (rule resources)`.
/// `spec` is the hardened spec (its CPU period).
pub fn notices(findings: &[crate::policy::Finding], spec: &Value, profile: &str) -> Vec<String> {
    let period = spec
        .pointer("/linux/resources/cpu/period")
        .and_then(Value::as_u64)
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_PERIOD);
    let mut out = vec![];
    for f in findings
        .iter()
        .filter(|f| f.code == crate::policy::code::codes::resources && f.action == crate::policy::Action::Enforce)
    {
        let (what, show): (&str, Box<dyn Fn(u64) -> String>) = match f.pointer.as_str() {
            LIMIT => ("memory limit", Box::new(bytes)),
            "/linux/resources/cpu/quota" => (
                "cpu limit",
                Box::new(move |q| format!("{} cpus", cpus(q, period))),
            ),
            "/linux/resources/pids/limit" => ("pids limit", Box::new(|v| v.to_string())),
            _ => continue,
        };
        let Some(after) = f.after.as_u64() else {
            continue;
        };
        let line = match read_value(&f.before) {
            Lim::Set(b) if b > after => format!("{what} {} lowered to {}", show(b), show(after)),
            Lim::Unlimited => format!("{what} unlimited, set to {}", show(after)),
            Lim::Unset => format!("{what} unset, set to {}", show(after)),
            _ => continue,
        };
        out.push(format!(
            "hardrun: {line} by profile {profile} (rule resources)"
        ));
    }
    out
}

/// [`read`] of a value itself.
fn read_value(v: &Value) -> Lim {
    read(&json!({ "v": v }), "/v")
}

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    let full = spec.get("process").is_some() || spec.get("root").is_some();
    let cfg = &profile.resources;
    let mut out = vec![];
    // a pod's container whose limits its pod's cgroup bounds (`pod_limits = "pod-cgroup"`): what
    // it leaves unset stays unset, what it sets is held to the ceilings (as on update)
    let defaults = full && !ctx.granted.pod_cgroup_limits;
    let mem = memory(spec, profile, defaults, full && !defaults, &mut out);
    cpu(spec, profile, defaults, &mut out);
    unified(spec, profile, defaults, &mem, &mut out);

    // pids: on update a pids object with limit 0 is "max" to libcgroups, so it counts
    let ptr = "/linux/resources/pids/limit";
    let mut cur = read(spec, ptr);
    if !full && cur == Lim::Unset && spec.pointer("/linux/resources/pids").is_some() {
        cur = Lim::Unlimited;
    }
    let (default, max) = (cfg.pids.map(|v| v as u64), cfg.pids_max.map(|v| v as u64));
    if let Some((new, clamped)) = decide(defaults, cur, default, max) {
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

/// The memory limit and memory+swap the spec leaves in force (when known), for `unified`.
#[derive(Debug, Default, Clone, Copy)]
struct Mem {
    limit: Option<u64>,
    swap: Option<u64>,
}

const LIMIT: &str = "/linux/resources/memory/limit";
const SWAP: &str = "/linux/resources/memory/swap";

/// `leave_unset`: a pod whose cgroup bounds it; without a memory limit of its own its
/// memory+swap is left alone too (a ceiling on memory+swap below an unlimited memory limit is
/// EINVAL on cgroup v1).
fn memory(
    spec: &Value,
    profile: &Profile,
    full: bool,
    leave_unset: bool,
    out: &mut Vec<Proposal>,
) -> Mem {
    let cfg = &profile.resources;
    let default = cfg.memory.as_deref().and_then(|s| parse_size(s).ok());
    let max = cfg.memory_max.as_deref().and_then(|s| parse_size(s).ok());
    let cur = read(spec, LIMIT);
    let decided = decide(full, cur, default, max);
    if let Some((new, clamped)) = decided {
        out.push(Proposal::fix(
            LIMIT,
            message("memory limit", cur, new, clamped, size),
            vec![Edit::set(LIMIT, new)],
        ));
    }
    let limit = match (decided, cur) {
        (Some((v, _)), _) | (None, Lim::Set(v)) => Some(v),
        _ => None,
    };
    let swap = read(spec, SWAP);
    let fix = if leave_unset && limit.is_none() {
        None
    } else {
        swap_fix(decided.is_some(), limit, swap, max)
    };
    if let Some((new, msg)) = &fix {
        out.push(Proposal::fix(
            SWAP,
            msg.clone(),
            vec![Edit::set(SWAP, *new)],
        ));
    }
    Mem {
        limit,
        swap: fix.map(|(v, _)| v).or(match swap {
            Lim::Set(v) => Some(v),
            _ => None,
        }),
    }
}

/// The memory+swap to set, given whether the rule set the memory `limit` itself, and the
/// profile's `ceiling` (memory and memory+swap alike); `None` when the value stands.
fn swap_fix(
    set_by_rule: bool,
    limit: Option<u64>,
    swap: Lim,
    ceiling: Option<u64>,
) -> Option<(u64, String)> {
    if swap == Lim::Odd {
        return None;
    }
    if let (true, Some(l)) = (set_by_rule, limit) {
        return (swap != Lim::Set(l)).then(|| {
            (
                l,
                format!(
                    "memory+swap limit {} with the memory limit now {}; set to {} (no swap beyond the memory limit)",
                    describe(swap, size),
                    size(l),
                    size(l)
                ),
            )
        });
    }
    let c = ceiling?;
    match (swap, limit) {
        (Lim::Unlimited, _) => Some((c, message("memory+swap limit", swap, c, true, size))),
        (Lim::Set(s), _) if s > c => Some((c, message("memory+swap limit", swap, c, true, size))),
        (Lim::Set(s), Some(l)) if s < l => Some((
            l,
            format!(
                "memory+swap limit {} below the memory limit {}; set to {} (the kernel requires memory+swap >= memory)",
                size(s),
                size(l),
                size(l)
            ),
        )),
        (Lim::Unset, Some(l)) => Some((
            l,
            format!(
                "memory+swap limit absent with the memory limit {}; set to {} (no swap beyond the memory limit)",
                size(l),
                size(l)
            ),
        )),
        _ => None,
    }
}

/// An `update` request as the kernel must see it: one that changes the memory limit or
/// memory+swap (typed or `unified`) carries both, and one that changes the CPU quota or period
/// carries both, the value left out taken from `in_force` (the container's `linux.resources`).
/// The rule then judges the pair the container will run with: a new period alone cannot stretch
/// the quota in force past the ceiling, a larger memory limit alone raises a memory+swap below
/// it instead of failing with EINVAL, and libcgroups, given both, writes them in the order the
/// kernel accepts (memory+swap first when it grows past the current limit).
pub fn complete_update(request: &Value, in_force: &Value) -> Value {
    let mut out = request.clone();
    let limit = read(request, "/memory/limit");
    let swap = read(request, "/memory/swap");
    let unified_memory = ["memory.max", "memory.swap.max"]
        .iter()
        .any(|k| request.get("unified").and_then(|u| u.get(k)).is_some());
    let touched = limit != Lim::Unset || swap != Lim::Unset || unified_memory;
    if touched && limit != Lim::Odd && swap != Lim::Odd {
        let mut limit_set = matches!(limit, Lim::Set(_));
        if limit == Lim::Unset {
            if let Lim::Set(v) = read(in_force, "/memory/limit") {
                limit_set = put(&mut out, "memory", "limit", v.into());
            }
        }
        // with an unlimited limit libcgroups lifts memory+swap too; without any limit, cgroup v2
        // refuses a swap value
        if swap == Lim::Unset && limit_set {
            match read(in_force, "/memory/swap") {
                Lim::Set(v) => {
                    put(&mut out, "memory", "swap", v.into());
                }
                Lim::Unlimited => {
                    put(&mut out, "memory", "swap", (-1).into());
                }
                _ => {}
            }
        }
    }
    let quota = read(request, "/cpu/quota");
    let period = read(request, "/cpu/period");
    if (quota != Lim::Unset || period != Lim::Unset) && quota != Lim::Odd && period != Lim::Odd {
        if quota == Lim::Unset {
            match read(in_force, "/cpu/quota") {
                Lim::Set(v) => {
                    put(&mut out, "cpu", "quota", v.into());
                }
                Lim::Unlimited => {
                    put(&mut out, "cpu", "quota", (-1).into());
                }
                _ => {}
            }
        }
        if period == Lim::Unset {
            if let Lim::Set(v) = read(in_force, "/cpu/period") {
                put(&mut out, "cpu", "period", v.into());
            }
        }
    }
    out
}

/// Sets `doc[ctl][key]`, making `ctl` an object when it is absent or null; false when `doc` or
/// `ctl` is something else (left to libcontainer's parser to name).
fn put(doc: &mut Value, ctl: &str, key: &str, v: Value) -> bool {
    let Some(obj) = doc.as_object_mut() else {
        return false;
    };
    let entry = obj.entry(ctl).or_insert_with(|| json!({}));
    if entry.is_null() {
        *entry = json!({});
    }
    match entry.as_object_mut() {
        Some(o) => {
            o.insert(key.to_owned(), v);
            true
        }
        None => false,
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

/// What the rule does with a `linux.resources.unified` key (a cgroup v2 file name).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Class {
    /// held to `memory_max` (and `memory`, on create)
    MemoryMax,
    /// swap alone on cgroup v2: memory + swap held to `memory_max`
    SwapMax,
    /// held to `pids_max` (and `pids`)
    PidsMax,
    /// `"$QUOTA $PERIOD"`: held to `cpus_max` (and `cpus`)
    CpuMax,
    /// cannot widen a limit the profile sets
    Pass,
    /// refused, with why
    Refuse(&'static str),
}

/// Whether a `unified` key is a file name of the form `<controller>.<file>`: no `/`, no `..`,
/// nothing that could name a file outside the container's cgroup directory.
pub fn cgroup_file_name(key: &str) -> bool {
    !key.contains("..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && key
            .split_once('.')
            .is_some_and(|(c, f)| !c.is_empty() && !f.is_empty())
}

/// The one table of `unified` keys (documented in docs/rules/resources.md).
pub fn classify(key: &str) -> Class {
    let Some((ctl, file)) = key.split_once('.').filter(|_| cgroup_file_name(key)) else {
        return Class::Refuse("not a cgroup file name (<controller>.<file>, nothing else)");
    };
    match (ctl, file) {
        ("memory", "max") => Class::MemoryMax,
        ("memory", "swap.max") => Class::SwapMax,
        ("pids", "max") => Class::PidsMax,
        ("cpu", "max") => Class::CpuMax,
        (
            "memory",
            "high" | "low" | "min" | "oom.group" | "swap.high" | "zswap.max" | "zswap.writeback",
        )
        | ("cpu", "weight" | "weight.nice" | "idle" | "max.burst" | "uclamp.min" | "uclamp.max")
        | ("cpuset", "cpus" | "mems")
        | ("io", "max" | "weight" | "bfq.weight" | "latency" | "prio.class")
        | ("rdma" | "misc", "max") => Class::Pass,
        ("hugetlb", f)
            if f.split_once('.').is_some_and(|(size, limit)| {
                size.ends_with('B') && matches!(limit, "max" | "rsvd.max")
            }) =>
        {
            Class::Pass
        }
        ("cpuset", "cpus.partition" | "cpus.exclusive") => {
            Class::Refuse("an exclusive cpuset takes cpus away from the rest of the host")
        }
        ("cgroup", _) => Class::Refuse(
            "a core cgroup file (processes, controllers, freezing, killing) is the runtime's alone",
        ),
        ("devices", _) => {
            Class::Refuse("device access is linux.resources.devices, judged by the devices rule")
        }
        _ => Class::Refuse(
            "not a cgroup v2 file hardrun knows the effect of; use the linux.resources fields",
        ),
    }
}

/// A `unified` value: `max` is unlimited, an integer is a value (0 included: it is written).
fn unified_lim(v: &str) -> Lim {
    match v.trim() {
        "max" => Lim::Unlimited,
        t => t.parse().map_or(Lim::Odd, Lim::Set),
    }
}

fn describe_unified(l: Lim, show: impl Fn(u64) -> String) -> String {
    match l {
        Lim::Unlimited => "max (unlimited)".into(),
        l => describe(l, show),
    }
}

/// JSON pointer token of a map key.
fn token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unified(spec: &Value, profile: &Profile, full: bool, mem: &Mem, out: &mut Vec<Proposal>) {
    let base = "/linux/resources/unified";
    let Some(map) = spec.pointer(base).and_then(Value::as_object) else {
        return;
    };
    let cfg = &profile.resources;
    let mem_default = cfg.memory.as_deref().and_then(|s| parse_size(s).ok());
    let ceiling = cfg.memory_max.as_deref().and_then(|s| parse_size(s).ok());
    // the unified memory.max the container will have, when it has one
    let mut memory_max = None;
    for (key, value) in map {
        let ptr = format!("{base}/{}", token(key));
        let class = classify(key);
        if let Class::Refuse(why) = class {
            out.push(Proposal::refuse(ptr, format!("unified key {key:?}: {why}")));
            continue;
        }
        // not a string: libcontainer's parser names it
        let Some(v) = value.as_str() else { continue };
        let cur = unified_lim(v);
        let what = format!("unified {key}");
        let fix = |new: String, msg: String| {
            Proposal::fix(ptr.clone(), msg, vec![Edit::set(ptr.clone(), new)])
        };
        match class {
            Class::MemoryMax => {
                memory_max = match decide(full, cur, mem_default, ceiling) {
                    Some((new, clamped)) => {
                        let d = describe_unified(cur, size);
                        out.push(fix(
                            new.to_string(),
                            message_of(&what, &d, &size(new), clamped),
                        ));
                        Some(new)
                    }
                    None => match cur {
                        Lim::Set(v) => Some(v),
                        _ => None,
                    },
                };
            }
            Class::PidsMax => {
                let (d, m) = (cfg.pids.map(|v| v as u64), cfg.pids_max.map(|v| v as u64));
                if let Some((new, clamped)) = decide(full, cur, d, m) {
                    let desc = describe_unified(cur, |v| v.to_string());
                    out.push(fix(
                        new.to_string(),
                        message_of(&what, &desc, &new.to_string(), clamped),
                    ));
                }
            }
            Class::CpuMax => {
                let mut fields = v.split_whitespace();
                let (Some(q), p, None) = (fields.next(), fields.next(), fields.next()) else {
                    continue;
                };
                let period = match p.map(str::parse::<u64>) {
                    Some(Ok(p)) if p > 0 => p,
                    Some(_) => continue,
                    None => match read(spec, "/linux/resources/cpu/period") {
                        Lim::Set(p) => p,
                        _ => DEFAULT_PERIOD,
                    },
                };
                let cur = unified_lim(q);
                let quota_of = |c: f64| ((c * period as f64).round() as u64).max(MIN_QUOTA);
                if let Some((new, clamped)) = decide(
                    full,
                    cur,
                    cfg.cpus.map(quota_of),
                    cfg.cpus_max.map(quota_of),
                ) {
                    let show = |q: u64| format!("{q} {period} ({} cpus)", cpus(q, period));
                    let desc = match cur {
                        Lim::Unlimited => format!("max {period} (unlimited)"),
                        c => describe(c, show),
                    };
                    out.push(fix(
                        format!("{new} {period}"),
                        message_of(&what, &desc, &show(new), clamped),
                    ));
                }
            }
            Class::SwapMax | Class::Pass | Class::Refuse(_) => {}
        }
    }
    // cgroup v2 counts swap alone: memory + swap stays within the ceiling
    let Some(c) = ceiling else { return };
    let limit = memory_max.or(mem.limit);
    let budget = limit.map_or(c, |l| c.saturating_sub(l));
    let ptr = format!("{base}/memory.swap.max");
    let why = |l: Option<u64>| match l {
        Some(l) => format!(
            "memory+swap within the profile's ceiling {} with memory at {}",
            size(c),
            size(l)
        ),
        None => format!("swap within the profile's ceiling {}", size(c)),
    };
    match map
        .get("memory.swap.max")
        .map(|v| v.as_str().map(unified_lim))
    {
        Some(Some(cur)) if cur == Lim::Unlimited || cur.gt(budget) => {
            out.push(Proposal::fix(
                ptr.clone(),
                format!(
                    "unified memory.swap.max {}; set to {} ({})",
                    describe_unified(cur, size),
                    size(budget),
                    why(limit)
                ),
                vec![Edit::set(ptr, budget.to_string())],
            ));
        }
        Some(_) => {}
        // libcgroups turns the typed memory+swap into swap = memory+swap - limit (the typed
        // limit): with a larger unified memory.max the sum would pass the ceiling
        None if memory_max.is_some() => {
            let extra = match (mem.swap, mem.limit) {
                (Some(s), Some(l)) => Some(s.saturating_sub(l)),
                _ => None,
            };
            if extra.is_none_or(|e| e > budget) {
                out.push(Proposal::fix(
                    ptr.clone(),
                    format!(
                        "unified memory.swap.max absent with unified memory.max; set to {} ({})",
                        size(budget),
                        why(limit)
                    ),
                    vec![Edit::set(ptr, budget.to_string())],
                ));
            }
        }
        None => {}
    }
}

impl Lim {
    fn gt(self, n: u64) -> bool {
        matches!(self, Lim::Set(v) if v > n)
    }
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
    fn a_pod_left_to_its_pod_cgroup_keeps_its_unset_limits_and_its_ceilings() {
        let granted = Granted {
            pod_cgroup_limits: true,
            ..Default::default()
        };
        let p = profile("restricted");
        let bare = json!({"root": {"path": "rootfs"}, "process": {"args": ["sh"]},
            "linux": {"resources": {"memory": {"swap": -1}}}});
        let r = run_granted(evaluate, &bare, &p, &granted);
        let pointers: Vec<&str> = r.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, ["/process/rlimits"], "{r:?}");
        let big = json!({"root": {"path": "rootfs"}, "process": {"args": ["sh"]},
            "linux": {"resources": {"memory": {"limit": 16u64 << 30}, "pids": {"limit": 100000}}}});
        let r = run_granted(evaluate, &big, &p, &granted);
        let pointers: Vec<&str> = r.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/linux/resources/memory/limit",
                "/linux/resources/memory/swap",
                "/linux/resources/pids/limit",
                "/process/rlimits"
            ],
            "{r:?}"
        );
    }

    #[test]
    fn notices_name_each_limit_set_or_lowered() {
        use crate::policy::{Action, Finding, Severity};
        let f = |pointer: &str, before: Value, after: Value, action: Action| Finding {
            code: "resources".into(),
            cis: vec![],
            severity: Severity::Medium,
            action,
            pointer: pointer.into(),
            before,
            after,
            message: String::new(),
        };
        let findings = [
            f(
                LIMIT,
                json!(16u64 << 30),
                json!(8u64 << 30),
                Action::Enforce,
            ),
            f(SWAP, json!(16u64 << 30), json!(8u64 << 30), Action::Enforce),
            f(
                "/linux/resources/cpu/quota",
                json!(-1),
                json!(150000),
                Action::Enforce,
            ),
            f(
                "/linux/resources/pids/limit",
                Value::Null,
                json!(1024),
                Action::Enforce,
            ),
            f(
                "/linux/resources/pids/limit",
                Value::Null,
                json!(1024),
                Action::Audit,
            ),
        ];
        let spec = json!({"linux": {"resources": {"cpu": {"period": 100000}}}});
        assert_eq!(
            notices(&findings, &spec, "restricted"),
            [
                "hardrun: memory limit 16 GiB lowered to 8 GiB by profile restricted (rule resources)",
                "hardrun: cpu limit unlimited, set to 1.5 cpus by profile restricted (rule resources)",
                "hardrun: pids limit unset, set to 1024 by profile restricted (rule resources)",
            ]
        );
        assert_eq!(bytes(100_000_000), "100000000 bytes");
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
            // docker update --memory 64m --memory-swap -1 (dockerd sends zeros for unset cpu):
            // unlimited memory+swap is the ceiling
            (
                json!({"memory": {"limit": 67108864, "swap": -1}, "cpu": {"quota": 0, "period": 0, "realtimePeriod": 0, "realtimeRuntime": 0, "cpus": "", "mems": ""}}),
                json!({"memory": {"limit": 67108864, "swap": 8u64 << 30}, "cpu": {"quota": 0, "period": 0, "realtimePeriod": 0, "realtimeRuntime": 0, "cpus": "", "mems": ""}}),
                1,
            ),
            (json!({}), json!({}), 0),
            (
                json!({"memory": {"swap": -1}}),
                json!({"memory": {"swap": 8u64 << 30}}),
                1,
            ),
            (
                json!({"memory": {"swap": 16u64 << 30}}),
                json!({"memory": {"swap": 8u64 << 30}}),
                1,
            ),
            // memory+swap below memory: the kernel's EINVAL, raised to the memory limit
            (
                json!({"memory": {"limit": 1u64 << 30, "swap": 512u64 << 20}}),
                json!({"memory": {"limit": 1u64 << 30, "swap": 1u64 << 30}}),
                1,
            ),
            // memory alone with no memory+swap known: no swap beyond it
            (
                json!({"memory": {"limit": 1u64 << 30}}),
                json!({"memory": {"limit": 1u64 << 30, "swap": 1u64 << 30}}),
                1,
            ),
            (
                json!({"memory": {"limit": 1u64 << 30, "swap": 2u64 << 30}}),
                json!({"memory": {"limit": 1u64 << 30, "swap": 2u64 << 30}}),
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
                json!({"memory": {"limit": 1u64 << 30, "swap": 1u64 << 30}, "cpu": {"shares": 2, "quota": 150000, "period": 100000}, "pids": {"limit": 200}}),
                json!({"memory": {"limit": 1u64 << 30, "swap": 1u64 << 30}, "cpu": {"shares": 2, "quota": 150000, "period": 100000}, "pids": {"limit": 200}}),
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
            &update(json!({"memory": {"limit": -1, "swap": -1}, "cpu": {"quota": -1}})),
            &profile("baseline")
        )
        .is_empty());
        let m = messages(
            &update(json!({"memory": {"limit": 1u64 << 30, "swap": 512u64 << 20}})),
            &p,
        );
        assert_eq!(m, ["memory+swap limit 512m below the memory limit 1g; set to 1g (the kernel requires memory+swap >= memory)"]);
        let m = messages(&update(json!({"memory": {"swap": -1}})), &p);
        assert_eq!(
            m,
            ["memory+swap limit -1 (unlimited) above the profile's ceiling 8g; clamped"]
        );
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
            tripwires: None,
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
    fn full_spec_swap_lies_between_memory_and_the_ceiling() {
        let p = profile("restricted");
        // (memory, swap) asked → (memory, swap) run: the caller's memory within the ceiling
        for (limit, swap, want) in [
            (64u64 << 20, json!(null), 64u64 << 20),
            (64 << 20, json!(-1), 8 << 30),
            (64 << 20, json!(16u64 << 30), 8 << 30),
            (64 << 20, json!(32u64 << 20), 64 << 20),
            (64 << 20, json!(128u64 << 20), 128 << 20),
            (8 << 30, json!(8u64 << 30), 8 << 30),
        ] {
            let mut memory = json!({"limit": limit});
            if !swap.is_null() {
                memory["swap"] = swap.clone();
            }
            let out = fixed(evaluate, &full(json!({"memory": memory}), json!([])), &p);
            assert_eq!(
                out["linux"]["resources"]["memory"],
                json!({"limit": limit, "swap": want}),
                "{limit} {swap}"
            );
        }
        // without a memory ceiling, swap is the caller's (baseline)
        let spec = full(
            json!({"memory": {"limit": 1u64 << 20, "swap": -1}}),
            json!([]),
        );
        assert!(run(evaluate, &spec, &profile("baseline"))
            .iter()
            .all(|p| !p.pointer.starts_with("/linux/resources/memory")));
    }

    #[test]
    fn an_update_is_completed_with_the_values_in_force() {
        let in_force = json!({"memory": {"limit": 512u64 << 20, "swap": 512u64 << 20},
            "cpu": {"shares": 1024, "quota": 200000, "period": 100000}, "pids": {"limit": 1024}});
        // (request, completed)
        let cases = [
            // nothing of a pair asked: nothing added
            (json!({}), json!({})),
            (json!({"pids": {"limit": 5}}), json!({"pids": {"limit": 5}})),
            (
                json!({"cpu": {"shares": 2, "quota": 0, "period": 0}}),
                json!({"cpu": {"shares": 2, "quota": 0, "period": 0}}),
            ),
            (
                json!({"memory": {"reservation": 1}}),
                json!({"memory": {"reservation": 1}}),
            ),
            // one of a pair: the other from what is in force
            (
                json!({"memory": {"limit": 1u64 << 30}}),
                json!({"memory": {"limit": 1u64 << 30, "swap": 512u64 << 20}}),
            ),
            (
                json!({"memory": {"swap": -1}}),
                json!({"memory": {"limit": 512u64 << 20, "swap": -1}}),
            ),
            (
                json!({"memory": {"limit": 0, "swap": 1u64 << 30}, "cpu": null}),
                json!({"memory": {"limit": 512u64 << 20, "swap": 1u64 << 30}, "cpu": null}),
            ),
            (
                json!({"cpu": {"period": 10000}}),
                json!({"cpu": {"period": 10000, "quota": 200000}}),
            ),
            (
                json!({"cpu": {"quota": 50000}}),
                json!({"cpu": {"quota": 50000, "period": 100000}}),
            ),
            // unlimited memory: libcgroups lifts memory+swap with it (the rule clamps both)
            (
                json!({"memory": {"limit": -1}}),
                json!({"memory": {"limit": -1}}),
            ),
            // a unified memory key needs the typed limit beside it to be judged
            (
                json!({"unified": {"memory.swap.max": "max"}}),
                json!({"unified": {"memory.swap.max": "max"},
                    "memory": {"limit": 512u64 << 20, "swap": 512u64 << 20}}),
            ),
            // not ours to judge: left to libcontainer's parser
            (
                json!({"memory": {"limit": "1g"}}),
                json!({"memory": {"limit": "1g"}}),
            ),
            (
                json!({"memory": 5, "cpu": {"period": 1}}),
                json!({"memory": 5, "cpu": {"period": 1, "quota": 200000}}),
            ),
        ];
        for (req, want) in cases {
            assert_eq!(complete_update(&req, &in_force), want, "{req}");
        }
        // a container with nothing in force (created with no limits): nothing to add
        for req in [
            json!({"memory": {"swap": 1}}),
            json!({"cpu": {"period": 1}}),
        ] {
            assert_eq!(complete_update(&req, &Value::Null), req);
        }
        // memory+swap unlimited in force (created by an older hardrun) comes along as -1 and is
        // then clamped by the rule
        let legacy = json!({"memory": {"limit": 512u64 << 20, "swap": -1}});
        let req = complete_update(&json!({"memory": {"limit": 256u64 << 20}}), &legacy);
        assert_eq!(req, json!({"memory": {"limit": 256u64 << 20, "swap": -1}}));
        assert_eq!(
            fixed(evaluate, &update(req), &profile("restricted")),
            update(json!({"memory": {"limit": 256u64 << 20, "swap": 8u64 << 30}}))
        );
    }

    #[test]
    fn unified_key_table() {
        use Class::*;
        for (key, want) in [
            ("memory.max", MemoryMax),
            ("memory.swap.max", SwapMax),
            ("pids.max", PidsMax),
            ("cpu.max", CpuMax),
            ("memory.high", Pass),
            ("memory.low", Pass),
            ("memory.min", Pass),
            ("memory.oom.group", Pass),
            ("memory.swap.high", Pass),
            ("memory.zswap.max", Pass),
            ("cpu.weight", Pass),
            ("cpu.weight.nice", Pass),
            ("cpu.idle", Pass),
            ("cpu.max.burst", Pass),
            ("cpu.uclamp.min", Pass),
            ("cpuset.cpus", Pass),
            ("cpuset.mems", Pass),
            ("io.max", Pass),
            ("io.weight", Pass),
            ("io.latency", Pass),
            ("hugetlb.2MB.max", Pass),
            ("hugetlb.1GB.rsvd.max", Pass),
            ("rdma.max", Pass),
            ("misc.max", Pass),
        ] {
            assert_eq!(classify(key), want, "{key}");
        }
        for (key, why) in [
            ("cgroup.procs", "runtime's alone"),
            ("cgroup.threads", "runtime's alone"),
            ("cgroup.subtree_control", "runtime's alone"),
            ("cgroup.freeze", "runtime's alone"),
            ("cgroup.kill", "runtime's alone"),
            ("cgroup.type", "runtime's alone"),
            ("cgroup.max.descendants", "runtime's alone"),
            ("devices.allow", "devices rule"),
            ("devices.deny", "devices rule"),
            ("cpuset.cpus.partition", "exclusive"),
            ("cpuset.cpus.exclusive", "exclusive"),
            // cgroup v1 file names, read-only files, unknown controllers and files
            ("memory.limit_in_bytes", "knows the effect"),
            ("memory.memsw.limit_in_bytes", "knows the effect"),
            ("cpu.cfs_quota_us", "knows the effect"),
            ("memory.current", "knows the effect"),
            ("memory.reclaim", "knows the effect"),
            ("hugetlb.max", "knows the effect"),
            ("net_cls.classid", "knows the effect"),
            ("foo.bar", "knows the effect"),
            // not a file name at all
            ("../../cgroup.procs", "not a cgroup file name"),
            ("memory.max/../../x", "not a cgroup file name"),
            ("memory", "not a cgroup file name"),
            (".max", "not a cgroup file name"),
            ("memory.", "not a cgroup file name"),
            ("", "not a cgroup file name"),
            ("memory..max", "not a cgroup file name"),
            ("memory.max\n", "not a cgroup file name"),
        ] {
            match classify(key) {
                Refuse(w) => assert!(w.contains(why), "{key}: {w}"),
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    fn unified_out(full_spec: bool, resources: Value, p: &Profile) -> Value {
        let spec = if full_spec {
            full(
                resources,
                json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]),
            )
        } else {
            update(resources)
        };
        fixed(evaluate, &spec, p)["linux"]["resources"]["unified"].clone()
    }

    #[test]
    fn unified_limits_are_held_to_the_profile() {
        let p = profile("restricted");
        let g = |n: u64| (n << 30).to_string();
        let m = |n: u64| (n << 20).to_string();
        // (full spec?, typed resources, unified asked, unified run)
        let cases = [
            // create: unlimited is the default, above the ceiling is the ceiling
            (
                true,
                json!({}),
                json!({"memory.max": "max"}),
                json!({"memory.max": m(512)}),
            ),
            (
                true,
                json!({}),
                json!({"memory.max": g(16)}),
                json!({"memory.max": g(8)}),
            ),
            (
                true,
                json!({}),
                json!({"memory.max": g(4)}),
                json!({"memory.max": g(4)}),
            ),
            (
                true,
                json!({}),
                json!({"pids.max": "max"}),
                json!({"pids.max": "1024"}),
            ),
            (
                true,
                json!({}),
                json!({"pids.max": "100000"}),
                json!({"pids.max": "8192"}),
            ),
            (
                true,
                json!({}),
                json!({"pids.max": "10"}),
                json!({"pids.max": "10"}),
            ),
            (
                true,
                json!({}),
                json!({"cpu.max": "max"}),
                json!({"cpu.max": "200000 100000"}),
            ),
            (
                true,
                json!({}),
                json!({"cpu.max": "max 50000"}),
                json!({"cpu.max": "100000 50000"}),
            ),
            (
                true,
                json!({}),
                json!({"cpu.max": "1600000 100000"}),
                json!({"cpu.max": "800000 100000"}),
            ),
            (
                true,
                json!({}),
                json!({"cpu.max": "1600000"}),
                json!({"cpu.max": "800000 100000"}),
            ),
            (
                true,
                json!({"cpu": {"period": 10000}}),
                json!({"cpu.max": "1600000"}),
                json!({"cpu.max": "80000 10000"}),
            ),
            (
                true,
                json!({}),
                json!({"cpu.max": "150000 100000"}),
                json!({"cpu.max": "150000 100000"}),
            ),
            // update: unlimited is the ceiling
            (
                false,
                json!({}),
                json!({"memory.max": "max"}),
                json!({"memory.max": g(8), "memory.swap.max": "0"}),
            ),
            (
                false,
                json!({}),
                json!({"pids.max": "max"}),
                json!({"pids.max": "8192"}),
            ),
            (
                false,
                json!({}),
                json!({"cpu.max": "max"}),
                json!({"cpu.max": "800000 100000"}),
            ),
            (
                false,
                json!({}),
                json!({"pids.max": "50"}),
                json!({"pids.max": "50"}),
            ),
            // swap (alone, on v2): memory + swap within the ceiling
            (
                true,
                json!({}),
                json!({"memory.swap.max": "max"}),
                json!({"memory.swap.max": (8u64 * 1024 - 512).to_string() + "m"}),
            ),
            (
                true,
                json!({"memory": {"limit": 1u64 << 30}}),
                json!({"memory.swap.max": g(16)}),
                json!({"memory.swap.max": g(7)}),
            ),
            (
                true,
                json!({"memory": {"limit": 1u64 << 30}}),
                json!({"memory.swap.max": g(1)}),
                json!({"memory.swap.max": g(1)}),
            ),
            (
                true,
                json!({}),
                json!({"memory.max": g(2), "memory.swap.max": "max"}),
                json!({"memory.max": g(2), "memory.swap.max": g(6)}),
            ),
            // a larger unified memory.max beside a typed memory+swap: swap trimmed to fit
            (
                true,
                json!({"memory": {"limit": 1u64 << 30, "swap": 8u64 << 30}}),
                json!({"memory.max": g(4)}),
                json!({"memory.max": g(4), "memory.swap.max": g(4)}),
            ),
            (
                true,
                json!({"memory": {"limit": 1u64 << 30, "swap": 2u64 << 30}}),
                json!({"memory.max": g(4)}),
                json!({"memory.max": g(4)}),
            ),
            // keys that cannot widen a profile limit pass untouched
            (
                true,
                json!({}),
                json!({"memory.high": "max", "cpu.weight": "10000", "io.max": "8:0 rbps=max"}),
                json!({"memory.high": "max", "cpu.weight": "10000", "io.max": "8:0 rbps=max"}),
            ),
            (
                false,
                json!({}),
                json!({"memory.low": "max"}),
                json!({"memory.low": "max"}),
            ),
        ];
        for (is_full, typed, asked, want) in cases {
            let mut res = typed.clone();
            res["unified"] = asked.clone();
            // the sizes above in "NNNNm" form are for reading; compare bytes
            let want: Value = want
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let v = v.as_str().unwrap();
                    let v = match v.strip_suffix('m') {
                        Some(n) => (n.parse::<u64>().unwrap() << 20).to_string(),
                        None => v.to_owned(),
                    };
                    (k.clone(), Value::String(v))
                })
                .collect::<serde_json::Map<_, _>>()
                .into();
            assert_eq!(
                unified_out(is_full, res, &p),
                want,
                "full {is_full}: {typed} {asked}"
            );
        }
        // baseline: no memory or cpu values, a pids default only
        let b = profile("baseline");
        assert_eq!(
            unified_out(
                true,
                json!({"unified": {"memory.max": "max", "cpu.max": "max", "pids.max": "max"}}),
                &b
            ),
            json!({"memory.max": "max", "cpu.max": "max", "pids.max": "4096"})
        );
        assert_eq!(
            unified_out(
                false,
                json!({"unified": {"memory.max": "max", "pids.max": "max"}}),
                &b
            ),
            json!({"memory.max": "max", "pids.max": "max"})
        );
        // values that are not the kernel's syntax are left to the kernel to refuse
        assert!(run(
            evaluate,
            &update(json!({"unified": {"memory.max": "lots", "cpu.max": "1 2 3", "pids.max": 5}})),
            &p
        )
        .is_empty());
    }

    #[test]
    fn unified_refusals_and_messages() {
        let p = profile("restricted");
        let r = run(
            evaluate,
            &update(
                json!({"unified": {"cgroup.procs": "1", "memory.high": "1g", "../x": "1", "a/b": "1"}}),
            ),
            &p,
        );
        let got: Vec<(&str, bool, &str)> = r
            .iter()
            .map(|p| (p.pointer.as_str(), p.fixable, p.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/linux/resources/unified/..~1x", false, "unified key \"../x\": not a cgroup file name (<controller>.<file>, nothing else)"),
                ("/linux/resources/unified/a~1b", false, "unified key \"a/b\": not a cgroup file name (<controller>.<file>, nothing else)"),
                ("/linux/resources/unified/cgroup.procs", false, "unified key \"cgroup.procs\": a core cgroup file (processes, controllers, freezing, killing) is the runtime's alone"),
            ]
        );
        let m = messages(
            &update(json!({"unified": {"memory.max": "max", "pids.max": "max", "cpu.max": "max"}})),
            &p,
        );
        assert_eq!(
            m,
            [
                "unified cpu.max max 100000 (unlimited) above the profile's ceiling 800000 100000 (8 cpus); clamped",
                "unified memory.max max (unlimited) above the profile's ceiling 8g; clamped",
                "unified pids.max max (unlimited) above the profile's ceiling 8192; clamped",
                "unified memory.swap.max absent with unified memory.max; set to 0 (memory+swap within the profile's ceiling 8g with memory at 8g)",
            ]
        );
        let m = messages(
            &full(
                json!({"unified": {"memory.max": "max"}}),
                json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]),
            ),
            &p,
        );
        assert!(
            m.contains(&"unified memory.max max (unlimited); set to 512m".to_owned()),
            "{m:?}"
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
