//! `cargo bench --bench policy`: policy evaluation + rewrite of a containerd-generated spec under
//! each built-in profile. Prints median, p90 and p99 per profile (target: median ≤ 1 ms).
//! No criterion: a plain harness keeps the build light; each sample is one full evaluation.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hardrun::base::RealHost;
use hardrun::policy::rules::Granted;
use hardrun::policy::{evaluate, Run};
use hardrun::profile::config::Mode;
use hardrun::profile::Catalog;

fn main() {
    let spec: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/containerd-spec.json"))
            .expect("fixture is JSON");
    let catalog = Catalog::builtin();
    let samples: usize = std::env::var("SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    println!("policy evaluation of tests/fixtures/containerd-spec.json, {samples} samples each");
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>9}",
        "profile", "median", "p90", "p99", "findings"
    );
    for name in ["restricted", "baseline", "ci-runner", "permissive"] {
        let profile = catalog.get(name).unwrap();
        let ann = BTreeMap::new();
        let granted = Granted::default();
        let run = Run {
            profile,
            mode: Mode::Enforce,
            id: "bench",
            annotations: &ann,
            granted: &granted,
            host: &RealHost,
            only: None,
            userns: None,
            sources: hardrun::bundle::Sources::none(),
            tripwires: None,
        };
        let mut times: Vec<Duration> = Vec::with_capacity(samples);
        let mut findings = 0;
        for _ in 0..samples {
            let t = Instant::now();
            let out = evaluate(&spec, &run, vec![]);
            times.push(t.elapsed());
            findings = match out {
                Ok(o) => o.findings.len(),
                Err(d) => d.findings.len(),
            };
        }
        times.sort();
        let q = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize];
        println!(
            "{:<12} {:>10.3?} {:>10.3?} {:>10.3?} {:>9}",
            name,
            q(0.5),
            q(0.9),
            q(0.99),
            findings
        );
    }
}
