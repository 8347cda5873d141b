//! `check --format json`: one object per input (`input`, `given`, `hardened`, `hardrun`,
//! `gate`), pretty-printed, keys in serde_json's (sorted) order.

use serde::Serialize;
use serde_json::{json, Value};

use super::Checked;

/// `value` pretty-printed, with a final newline.
pub fn pretty<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// The JSON document of `check`: an array, one entry per input.
pub fn check(results: &[Checked]) -> Value {
    results
        .iter()
        .map(|c| {
            json!({
                "input": c.name,
                "given": c.given,
                "hardened": c.hardened,
                "hardrun": c.decision,
                "gate": {"level": c.gate.level, "min_score": c.gate.min_score, "passed": c.gate.passed},
            })
        })
        .collect()
}
