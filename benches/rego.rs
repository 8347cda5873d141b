//! `cargo bench --bench rego`: the `rego` rule with a policy of 20 typical rules
//! (`tests/fixtures/rego/typical.rego`) on a containerd-generated spec: what compiling it costs
//! (once per profile load) and what evaluating it costs (per container), and the whole engine
//! under `restricted` with and without it. Prints median, p90 and p99 (target: evaluation under
//! 1 ms per container). No criterion: a plain harness keeps the build light.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hardrun::base::RealHost;
use hardrun::policy::rules::{Granted, RuleCtx};
use hardrun::policy::{evaluate, Run};
use hardrun::profile::config::Mode;
use hardrun::profile::rego::Compiled;
use hardrun::profile::Catalog;

const POLICY: &str = include_str!("../tests/fixtures/rego/typical.rego");

fn quantiles(mut times: Vec<Duration>) -> String {
    times.sort();
    let q = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize];
    format!("{:>10.3?} {:>10.3?} {:>10.3?}", q(0.5), q(0.9), q(0.99))
}

fn main() {
    let spec: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/containerd-spec.json"))
            .expect("fixture is JSON");
    let samples: usize = std::env::var("SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let sources = [("typical.rego".to_owned(), POLICY.to_owned())];
    println!("rego: tests/fixtures/rego/typical.rego (20 rules) on tests/fixtures/containerd-spec.json, {samples} samples each");
    println!("{:<28} {:>10} {:>10} {:>10}", "", "median", "p90", "p99");

    let compile: Vec<Duration> = (0..samples.min(500))
        .map(|_| {
            let t = Instant::now();
            Compiled::new(&sources).expect("the policy compiles");
            t.elapsed()
        })
        .collect();
    println!(
        "{:<28} {}",
        "compile (per profile load)",
        quantiles(compile)
    );

    let catalog = Catalog::builtin();
    let plain = catalog.get("restricted").unwrap().clone();
    let mut with = plain.clone();
    with.rego.files = vec!["typical.rego".into()];
    with.rego.compiled = Some(Compiled::new(&sources).unwrap());
    let ann = BTreeMap::new();
    let granted = Granted::default();
    let ctx = RuleCtx {
        id: "bench",
        annotations: &ann,
        granted: &granted,
        host: &RealHost,
        userns: None,
        sources: hardrun::bundle::Sources::none(),
        tripwires: None,
    };
    let mut found = 0;
    let rule: Vec<Duration> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            found = hardrun::policy::rego::evaluate(&spec, &spec, &with, &ctx, None).len();
            t.elapsed()
        })
        .collect();
    println!(
        "{:<28} {}   ({found} messages)",
        "evaluate (per container)",
        quantiles(rule)
    );

    for (name, profile) in [
        ("engine, restricted", &plain),
        ("engine, restricted + rego", &with),
    ] {
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
        let times: Vec<Duration> = (0..samples)
            .map(|_| {
                let t = Instant::now();
                let _ = evaluate(&spec, &run, vec![]);
                t.elapsed()
            })
            .collect();
        println!("{name:<28} {}", quantiles(times));
    }
}
