//! How `hardrun check` shows what it found: text for a terminal ([`text`]), JSON for scripts
//! ([`json`]), SARIF 2.1.0 for code-scanning uploads ([`sarif`]) and XCCDF 1.2 for OpenSCAP
//! ([`xccdf`]). The command decides; this
//! layer only renders what it is handed, so a new format is one file here and one arm in
//! [`check`] and [`live`].
//!
//! Layer: above `audit` (it uses `compliance` and the rule registry in `base`), below the runtime
//! glue. The live check's reports belong to the runtime (`crate::runtime::live`), so `check --live` hands
//! them over as the plain views below ([`LiveInput`]).

pub mod json;
pub mod sarif;
pub mod text;
pub mod xccdf;

use std::path::PathBuf;

use serde_json::Value;

use crate::compliance::Report;

/// The gate applied to one input: the level, the minimum, and whether it passed.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    pub level: u8,
    pub min_score: f64,
    pub passed: bool,
}

/// One input of `check`, decided: its scores as given and as hardrun runs it, hardrun's decision
/// (`{"decision": "allowed" | "denied" | "invalid" | "running", "profile", "findings", …}`) and
/// the gate.
#[derive(Debug, Clone)]
pub struct Checked {
    /// how the input is named in text and JSON (`deploy/config.json`, `container c1`)
    pub name: String,
    /// the config.json the spec was read from (SARIF locations)
    pub file: PathBuf,
    pub given: Report,
    pub hardened: Report,
    pub decision: Value,
    pub gate: Gate,
}

/// `check`'s report of its inputs in `format` (`json`, `sarif`, anything else: text, in colour
/// when `color`); `exit_code` is the one the command returns (SARIF records it).
pub fn check(
    results: &[Checked],
    format: &str,
    color: bool,
    exit_code: i32,
) -> serde_json::Result<String> {
    match format {
        "sarif" => json::pretty(&sarif::check(results, exit_code)),
        "json" => json::pretty(&json::check(results)),
        "xccdf" => Ok(xccdf::check(results)),
        _ => Ok(results.iter().map(|c| text::check(c, color)).collect()),
    }
}

/// One drift of the live check, as its reports show it (`crate::runtime::live::Drift` of a process).
#[derive(Debug, Clone)]
pub struct LiveDrift {
    /// the kind's rule code (`live-seccomp`)
    pub rule: &'static str,
    /// the spec field that requires what the kernel does not show
    pub pointer: String,
    /// what was read (`Seccomp`, `CapEff`)
    pub field: String,
    /// the process's command name
    pub comm: String,
    /// `c1 pid 4242 (sh): Seccomp 0, profile restricted requires 2`
    pub message: String,
    /// the SARIF result's properties
    pub properties: Value,
}

/// One container of the live check, as its reports show it (`crate::runtime::live::LiveReport`).
#[derive(Debug, Clone)]
pub struct LiveInput {
    /// the container's hardened config.json (SARIF locations)
    pub file: PathBuf,
    /// one line per drift or unverified read, then the summary line
    pub lines: Vec<String>,
    pub summary: String,
    pub drifts: Vec<LiveDrift>,
    /// the SARIF run's entry for this container (`container`, `status`, `drifts`, …)
    pub properties: Value,
}

/// `check --live`'s report in `format` (`json`: the runtime's own `reports`, serialized as they
/// are; `sarif`; anything else: text). `rules` are the kinds of drift, as (code, description).
pub fn live<T: serde::Serialize + ?Sized>(
    inputs: &[LiveInput],
    reports: &T,
    rules: &[(&'static str, &'static str)],
    format: &str,
    exit_code: i32,
) -> serde_json::Result<String> {
    match format {
        "json" => json::pretty(reports),
        "sarif" => json::pretty(&sarif::live(inputs, rules, exit_code)),
        _ => Ok(text::live(inputs)),
    }
}
