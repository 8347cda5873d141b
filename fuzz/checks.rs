//! The invariants the fuzz targets check, shared with `tests/fuzz_regressions.rs` (which replays
//! `fuzz/regressions/<target>/*` through the same functions on every `cargo test`).
//!
//! Each function takes one fuzz input and panics when an invariant does not hold:
//! - `spec_loader`: `bundle::parse` never panics; an error names the file; an accepted spec
//!   survives a write/read round trip unchanged (unknown fields included).
//! - `profile_loader`: `Profile::parse` never panics; an error names the file; an accepted
//!   profile drives the engine over the containerd fixture without a panic.
//! - `engine`: `policy::evaluate` never panics; enforced output re-evaluated under the same
//!   profile is allowed and yields no `enforce` finding; fields no rule knows survive; audit
//!   mode changes nothing.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hardrun::policy::rules::{Granted, Host};
use hardrun::policy::{evaluate, Action, Outcome, PolicyDenied, Run};
use hardrun::profile::config::Mode;
use hardrun::profile::{Catalog, Profile};
use serde_json::{json, Value};

/// A fixed host: host namespaces have inode 1000+index, `/proc/1/ns/*` is the host's, any other
/// namespace path some container's; nothing is read from the real machine.
pub struct FuzzHost;

impl Host for FuzzHost {
    fn host_ns(&self, kind: &str) -> Option<u64> {
        ["net", "pid", "ipc", "uts", "mnt", "cgroup", "user", "time"]
            .iter()
            .position(|k| *k == kind)
            .map(|i| 1000 + i as u64)
    }
    fn ns_at(&self, path: &str) -> Option<u64> {
        let kind = path.rsplit('/').next()?;
        if path.starts_with("/proc/1/") {
            self.host_ns(kind)
        } else {
            Some(5000)
        }
    }
    fn hard_rlimit(&self, _resource: &str) -> Option<u64> {
        Some(1 << 20)
    }
    fn seccomp_arch(&self) -> &'static str {
        "SCMP_ARCH_X86_64"
    }
    fn process_exe(&self, _pid: u32) -> Option<PathBuf> {
        None
    }
}

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(Catalog::builtin)
}

pub const PROFILES: [&str; 4] = ["restricted", "baseline", "ci-runner", "permissive"];

/// containerd's spec for a plain pod container, the engine's seed.
pub fn containerd_spec() -> Value {
    serde_json::from_str(include_str!("../tests/fixtures/containerd-spec.json"))
        .expect("fixture is JSON")
}

// ------------------------------------------------------------------------------------------
// spec loader

pub fn spec_loader(data: &[u8]) {
    let path = Path::new("/bundle/config.json");
    match hardrun::bundle::parse(path, data) {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("/bundle/config.json: "),
                "the error does not name the file: {msg}"
            );
        }
        Ok((raw, spec)) => {
            assert!(raw.is_object(), "accepted a non-object: {raw}");
            assert!(spec.version().starts_with("1."), "{}", spec.version());
            // what hardrun writes (the staged spec) reads back as the same value
            let bytes = serde_json::to_vec_pretty(&raw).expect("a parsed value serializes");
            let (again, _) = hardrun::bundle::parse(path, &bytes)
                .unwrap_or_else(|e| panic!("the re-serialized spec is refused: {e}"));
            assert!(
                same_json(&again, &raw),
                "the spec changed in a write/read round trip:\n{again}\n{raw}"
            );
        }
    }
}

/// Equal JSON values, except that a floating-point number may differ in its last bits.
///
/// KNOWN BUG (found by this target, `fuzz/regressions/spec_loader/float-roundtrip-*`): the
/// hardrun binary's serde_json lacks the `float_roundtrip` feature, so a number that is not an
/// i64/u64 (e.g. the integer 118446744073709551615 in an unknown field) reads back 1-2 ULP off
/// after hardrun writes the staged spec: 1.1844674407370957e20 becomes 1.1844674407370955e20.
/// (`cargo test` does not see it: the `jsonschema` dev-dependency turns the feature on for test
/// builds only.) Drop this tolerance once Cargo.toml enables `serde_json/float_roundtrip` (exact
/// f64 round trips) or `arbitrary_precision` (number text kept as written).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

// ------------------------------------------------------------------------------------------
// profile loader

pub fn profile_loader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // profiles are TOML text: the loader reads them as UTF-8 strings
    };
    match Profile::parse(text, "fuzz.toml") {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("fuzz.toml"),
                "the error does not name the file: {msg}"
            );
        }
        Ok(profile) => {
            for info in hardrun::policy::code::RULES {
                let _ = profile.action(info.code);
            }
            let spec = containerd_spec();
            for mode in [Mode::Enforce, Mode::Audit] {
                let _ = run_engine(&spec, &profile, mode, None);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// engine

// the engine's own signature (see `policy::evaluate`): a refusal is rare
#[allow(clippy::result_large_err)]
fn run_engine(
    spec: &Value,
    profile: &Profile,
    mode: Mode,
    userns: Option<(u32, u32)>,
) -> Result<Outcome, PolicyDenied> {
    let annotations: BTreeMap<String, String> = spec
        .get("annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let granted = Granted::default();
    let run = Run {
        profile,
        mode,
        id: "fuzz",
        annotations: &annotations,
        granted: &granted,
        host: &FuzzHost,
        only: None,
        userns,
        sources: hardrun::bundle::Sources::none(),
        tripwires: None,
    };
    evaluate(spec, &run, vec![])
}

/// Fields no OCI library and no rule knows, planted in the input; they must come out unchanged.
const SENTINEL: &str = "x-hardrun-fuzz-unknown";

fn plant(spec: &mut Value) -> Vec<String> {
    let marker = json!({"keep": [1, "two", null], "nested": {"deep": true}});
    let mut planted = vec![];
    for ptr in ["", "/process", "/linux", "/linux/resources", "/root"] {
        if let Some(obj) = spec.pointer_mut(ptr).and_then(Value::as_object_mut) {
            obj.insert(SENTINEL.into(), marker.clone());
            planted.push(format!("{ptr}/{SENTINEL}"));
        }
    }
    planted
}

/// RFC 7396 merge patch: small fuzz inputs reach deep into a realistic spec.
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Input: one byte of settings (bits 0-1 the profile, 0x10 audit mode, 0x20 a userns range,
/// 0x40 the JSON is a merge patch over containerd's spec), then JSON.
pub fn engine(data: &[u8]) {
    let Some((&settings, json)) = data.split_first() else {
        return;
    };
    let Ok(input) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let mut spec = if settings & 0x40 != 0 {
        let mut base = containerd_spec();
        merge(&mut base, &input);
        base
    } else {
        input
    };
    if !spec.is_object() {
        return;
    }
    let profile = catalog()
        .get(PROFILES[settings as usize % 4])
        .expect("built-in profile");
    let mode = if settings & 0x10 != 0 {
        Mode::Audit
    } else {
        Mode::Enforce
    };
    let userns = (settings & 0x20 != 0).then_some((100_000, 65536));
    let planted = plant(&mut spec);
    let marker = spec.pointer(&planted[0]).cloned();

    let out = match run_engine(&spec, profile, mode, userns) {
        Ok(out) => out,
        Err(denied) => {
            assert_eq!(mode, Mode::Enforce, "audit mode refused: {denied}");
            assert!(
                hardrun::policy::code::info(&denied.rule).is_some(),
                "a refusal names an unknown rule: {denied}"
            );
            return;
        }
    };
    for p in &planted {
        assert_eq!(
            out.value.pointer(p),
            marker.as_ref(),
            "unknown field {p} did not survive"
        );
    }
    if mode == Mode::Audit || profile.name == "permissive" {
        assert_eq!(out.value, spec, "audit changed the spec");
        assert!(
            out.findings.iter().all(|f| f.action == Action::Audit),
            "{:?}",
            out.findings
        );
        return;
    }
    // the hardened spec satisfies the profile: a second pass is allowed and enforces nothing
    let again = match run_engine(&out.value, profile, mode, userns) {
        Ok(a) => a,
        Err(d) => panic!(
            "profile {}: the hardened spec is refused on re-evaluation: {d}\nspec: {}",
            profile.name, out.value
        ),
    };
    let enforced: Vec<_> = again
        .findings
        .iter()
        .filter(|f| f.action == Action::Enforce)
        .collect();
    assert!(
        enforced.is_empty(),
        "profile {}: re-evaluating the hardened spec enforces again: {enforced:#?}\nfirst pass: {:#?}",
        profile.name,
        out.findings
    );
    assert_eq!(
        again.value, out.value,
        "profile {}: a second pass changed the hardened spec",
        profile.name
    );
}
