//! Replays every input in `fuzz/regressions/<target>/` through the fuzz target's own checks
//! (`fuzz/checks.rs`), so a crash the fuzzer once found (and the hostile inputs kept beside them)
//! stays fixed on every `cargo test`, without cargo-fuzz or nightly.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut n = 0;
    let mut failed: Vec<String> = vec![];
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let data = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            eprintln!("^ {name}");
            failed.push(name);
        }
        n += 1;
    }
    assert!(
        failed.is_empty(),
        "the {target} check failed on (panics above): {failed:#?}"
    );
    n
}

#[test]
fn spec_loader_regressions() {
    assert!(replay("spec_loader", checks::spec_loader) > 0);
}

#[test]
fn profile_loader_regressions() {
    assert!(replay("profile_loader", checks::profile_loader) > 0);
}

#[test]
fn engine_regressions() {
    assert!(replay("engine", checks::engine) > 0);
}

/// The fixtures and built-in profiles, the fuzzers' seeds, pass every check too.
#[test]
fn seeds_pass_the_checks() {
    let spec = include_bytes!("fixtures/containerd-spec.json");
    checks::spec_loader(spec);
    for settings in [0u8, 1, 2, 3, 0x10, 0x20, 0x21] {
        let mut input = vec![settings];
        input.extend_from_slice(spec);
        checks::engine(&input);
    }
    for (_, text) in hardrun::profile::BUILTIN {
        checks::profile_loader(text.as_bytes());
    }
}
