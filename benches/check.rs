//! `cargo bench --bench check`: `hardrun check` throughput on 10,000 specs, one thread pinned to
//! one core. The specs are deterministic variations (a seeded generator) of four bases: the
//! containerd-generated fixture, runc's `spec` default, a privileged spec and a spec hardrun has
//! already hardened — users, rootfs, namespaces, capabilities, mounts, limits, seccomp and
//! no-new-privileges varied.
//!
//! Measured, 5 rounds each, median of the rounds:
//!   score    the CIS score of each spec (what `check --running` does per container)
//!   parse    JSON bytes → value → score (what `check --spec` does per file, without the read)
//!   check    score as given + harden under `restricted` (every rule but the gate) + score
//!            hardened: the whole per-spec work of `check --bundle/--spec`
//! Target (issue 6): ≥ 20,000 specs/s for the score.

use std::collections::BTreeMap;
use std::time::Instant;

use hardrun::base::RealHost;
use hardrun::compliance::score;
use hardrun::policy::rules::Granted;
use hardrun::policy::{evaluate, Run};
use hardrun::profile::config::Mode;
use hardrun::profile::Catalog;
use serde_json::{json, Value};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

fn bases() -> Vec<Value> {
    let containerd: Value =
        serde_json::from_str(include_str!("../tests/fixtures/containerd-spec.json")).unwrap();
    let runc: Value =
        serde_json::from_str(&hardrun::commands::spec::default_spec_text(false, 0, 0)).unwrap();
    let mut privileged = containerd.clone();
    privileged["process"]["capabilities"] = json!({
        "bounding": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE"],
        "effective": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE"],
        "permitted": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE"],
    });
    privileged["linux"]
        .as_object_mut()
        .unwrap()
        .remove("maskedPaths");
    privileged["linux"]
        .as_object_mut()
        .unwrap()
        .remove("seccomp");
    let catalog = Catalog::builtin();
    let hardened = harden(&containerd, &catalog).unwrap_or_else(|| containerd.clone());
    vec![containerd, runc, privileged, hardened]
}

fn vary(base: &Value, rng: &mut Rng) -> Value {
    let mut s = base.clone();
    if rng.coin() {
        s["process"]["user"]["uid"] = json!([0, 1000, 65534][rng.pick(3)]);
    }
    if rng.coin() {
        s["root"]["readonly"] = json!(rng.coin());
    }
    if rng.coin() {
        if let Some(ns) = s["linux"]["namespaces"].as_array_mut() {
            if !ns.is_empty() {
                let i = rng.pick(ns.len());
                ns.remove(i);
            }
        }
    }
    if rng.coin() {
        if let Some(m) = s["mounts"].as_array_mut() {
            let src = ["/var/run/docker.sock", "/etc", "/data", "/proc"][rng.pick(4)];
            m.push(json!({"destination": "/mnt/x", "type": "bind", "source": src, "options": ["rbind", if rng.coin() { "ro" } else { "rw" }]}));
        }
    }
    if rng.coin() {
        s["linux"]["resources"]["memory"] = json!({"limit": (rng.pick(1024) as u64 + 1) << 20});
    }
    if rng.coin() {
        s["linux"]["resources"]["pids"] = json!({"limit": rng.pick(4096) + 1});
    }
    if rng.coin() {
        s["process"]["noNewPrivileges"] = json!(rng.coin());
    }
    if rng.coin() {
        if let Some(l) = s["linux"].as_object_mut() {
            l.remove("seccomp");
        }
    }
    if rng.coin() {
        let caps = ["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_KILL"];
        let set: Vec<&str> = caps.iter().filter(|_| rng.coin()).copied().collect();
        s["process"]["capabilities"]["bounding"] = json!(set);
    }
    s
}

fn harden(spec: &Value, catalog: &Catalog) -> Option<Value> {
    let profile = catalog.get("restricted").unwrap();
    let ann = BTreeMap::new();
    let granted = Granted::default();
    let others = hardrun::base::rule::ungated();
    let run = Run {
        profile,
        mode: Mode::Enforce,
        id: "bench",
        annotations: &ann,
        granted: &granted,
        host: &RealHost,
        only: Some(&others),
        userns: None,
        sources: hardrun::bundle::Sources::none(),
        tripwires: None,
    };
    evaluate(spec, &run, vec![]).ok().map(|o| o.value)
}

fn pin_to_one_core() -> String {
    let mut set = nix::sched::CpuSet::new();
    if set.set(0).is_ok()
        && nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).is_ok()
    {
        "pinned to CPU 0".into()
    } else {
        "not pinned".into()
    }
}

fn rounds(n: usize, label: &str, count: usize, mut f: impl FnMut() -> usize) {
    let mut rates = vec![];
    let mut check = 0;
    for _ in 0..n {
        let t = Instant::now();
        check = f();
        rates.push(count as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = rates[rates.len() / 2];
    println!(
        "{label:<8} {:>12.0} specs/s  ({:>7.2} µs/spec; min {:.0}, max {:.0}; checksum {check})",
        median,
        1e6 / median,
        rates[0],
        rates[rates.len() - 1]
    );
}

fn main() {
    let n: usize = std::env::var("SPECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let pinned = pin_to_one_core();
    let catalog = Catalog::builtin();
    let bases = bases();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let specs: Vec<Value> = (0..n)
        .map(|i| vary(&bases[i % bases.len()], &mut rng))
        .collect();
    let bytes: Vec<Vec<u8>> = specs
        .iter()
        .map(|s| serde_json::to_vec(s).unwrap())
        .collect();
    let avg = bytes.iter().map(Vec::len).sum::<usize>() / n;
    println!("hardrun check throughput: {n} specs (avg {avg} bytes), one thread, {pinned}");
    rounds(5, "score", n, || {
        specs
            .iter()
            .map(|s| score(s, &RealHost).level1.passed)
            .sum()
    });
    rounds(5, "parse", n, || {
        bytes
            .iter()
            .map(|b| {
                let v: Value = serde_json::from_slice(b).unwrap();
                score(&v, &RealHost).level1.passed
            })
            .sum()
    });
    rounds(3, "check", n, || {
        specs
            .iter()
            .map(|s| {
                let given = score(s, &RealHost).level1.passed;
                let hardened = harden(s, &catalog)
                    .map(|h| score(&h, &RealHost).level1.passed)
                    .unwrap_or(0);
                given + hardened
            })
            .sum()
    });
}
