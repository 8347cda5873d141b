//! `cis-score`: the gate. After every other rule, the spec's CIS Docker Benchmark score (at the
//! profile's `[compliance] level`) must reach `min_score` percent; below it the container is
//! refused, naming the controls that fail. Nothing can be rewritten here: the rules before it
//! are what lift a spec, so the proposal is always unfixable (enforce and deny both refuse).
//!
//! The score is of the spec as it will run: a spec without `linux.cgroupsPath` is scored with
//! the path the runtime gives it.

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx};
use crate::compliance::{self, Verdict};
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "after hardening, the spec's CIS Docker Benchmark score reaches the profile's min_score; below it the container is refused, naming the failing controls",
    severity: Severity::High,
    process: false,
    evaluate: Some(evaluate),
};

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    gate(spec, profile, ctx).0
}

/// The gate's proposals and the report they come from: the engine keeps the report as the
/// container's score, so a spec is scored once.
pub fn gate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> (Vec<Proposal>, compliance::Report) {
    let report = score_as_run(spec, ctx.id, ctx.host);
    let proposals = judge(&report, profile);
    (proposals, report)
}

fn judge(report: &compliance::Report, profile: &Profile) -> Vec<Proposal> {
    let cfg = &profile.compliance;
    let score = if cfg.level == 1 {
        &report.level1
    } else {
        &report.level2
    };
    if score.percent >= cfg.min_score {
        return vec![];
    }
    let failing: Vec<String> = report
        .controls
        .iter()
        .filter(|c| c.verdict == Verdict::Fail && c.level <= cfg.level)
        .map(|c| format!("{} ({})", c.id, c.reason))
        .collect();
    vec![Proposal::refuse(
        "",
        format!(
            "CIS level {} score {}% ({} of {} controls) is below the profile's min_score {}%; failing: {}",
            cfg.level,
            score.percent,
            score.passed,
            score.applicable,
            cfg.min_score,
            failing.join(", ")
        ),
    )]
}

/// The score of `spec` as the runtime will run it (its default cgroup path filled in).
pub fn score_as_run(spec: &Value, id: &str, host: &dyn super::Host) -> compliance::Report {
    let has_cgroup = spec
        .pointer("/linux/cgroupsPath")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    if has_cgroup || spec.get("linux").is_some_and(|l| !l.is_object()) {
        return compliance::score(spec, host);
    }
    let mut s = spec.clone();
    if let Some(obj) = s.as_object_mut() {
        let linux = obj
            .entry("linux")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(l) = linux.as_object_mut() {
            // the runtime always gives one (its path depends on the state root, which the
            // policy does not know; 5.25 only asks that there is one)
            l.insert(
                "cgroupsPath".into(),
                Value::String(crate::base::paths::default_cgroups_path(
                    std::path::Path::new(crate::base::paths::DEFAULT_ROOT),
                    id,
                )),
            );
        }
    }
    compliance::score(&s, host)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../../tests/fixtures/containerd-spec.json")).unwrap()
    }

    #[test]
    fn gate_table() {
        let mut low = profile("restricted");
        // containerd's spec as given scores 65 % at level 1
        for (min, level, refused) in [
            (85.0, 1, true),
            (65.0, 1, false),
            (66.0, 1, true),
            (0.0, 2, false),
        ] {
            low.compliance.min_score = min;
            low.compliance.level = level;
            let p = run(evaluate, &fixture(), &low);
            assert_eq!(p.len(), usize::from(refused), "min {min} level {level}");
            if refused {
                assert!(!p[0].fixable);
                let m = &p[0].message;
                assert!(m.starts_with("CIS level 1 score 65% (13 of 20 controls) is below the profile's min_score"), "{m}");
                assert!(m.contains("4.1 (the process runs as uid 0)"), "{m}");
                assert!(m.contains("5.29 (no pids limit)"), "{m}");
            }
        }
    }

    #[test]
    fn missing_cgroup_path_is_scored_as_the_runtime_sets_it() {
        let mut spec = fixture();
        spec["linux"].as_object_mut().unwrap().remove("cgroupsPath");
        let r = score_as_run(&spec, "c1", &crate::policy::rules::TestHost);
        let c = r.controls.iter().find(|c| c.id == "5.25").unwrap();
        assert_eq!(c.verdict, Verdict::Pass);
        assert_eq!(
            compliance::score(&json!({"linux": {}}), &crate::policy::rules::TestHost)
                .controls
                .iter()
                .find(|c| c.id == "5.25")
                .unwrap()
                .verdict,
            Verdict::Fail
        );
    }
}
