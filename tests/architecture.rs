//! The layers of `src/` import downward only (see `docs/architecture.md`): a module may use its
//! own layer and the layers below it, never one above. This is what keeps the engine readable
//! and free of import circles; a `use` that breaks it fails here, naming the file and the line.

use std::path::{Path, PathBuf};

/// Bottom to top. Modules of one layer may use each other; `runtime` is the glue around
/// libcontainer and the host, which the commands drive.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["base"]),
    ("bundle/profile", &["bundle", "profile", "scan"]),
    ("compliance", &["compliance"]),
    ("policy", &["policy"]),
    ("audit", &["audit"]),
    ("report", &["report"]),
    ("runtime", &["runtime", "observability"]),
    // monitor and incident (store, evidence, forensics) sit beside each other, above the runtime
    ("monitor/incident", &["monitor", "incident"]),
    ("cli", &["cli"]),
    ("commands", &["commands"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a line of code names as `crate::<module>`.
fn crate_refs(line: &str) -> Vec<&str> {
    line.match_indices("crate::")
        .filter(|(i, _)| {
            // `hardrun_crate::` or `some_crate::` are not this crate
            !line[..*i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(i, m)| {
            let rest = &line[i + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn layers_import_downward_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = vec![];
    let mut checked = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs");
        // lib.rs, main.rs and the generator binary sit above every layer
        let Some(own) = layer_of(top) else {
            assert!(
                ["lib", "main", "bin"].contains(&top),
                "{}: module {top} is in no layer of LAYERS",
                rel.display()
            );
            continue;
        };
        checked += 1;
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for used in crate_refs(code) {
                match layer_of(used) {
                    Some(l) if l > own => problems.push(format!(
                        "{}:{}: the {} layer uses crate::{used} ({} layer): {}",
                        rel.display(),
                        n + 1,
                        LAYERS[own].0,
                        LAYERS[l].0,
                        code
                    )),
                    _ => {}
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} files checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// libcontainer's types (and libcgroups', its cgroup layer) stay behind `delegate`: the commands
/// hold hardrun's own handle (`delegate::Container`, `delegate::Status`), call `delegate`'s
/// functions and get JSON back, so what libcontainer is and how it is driven is the runtime
/// layer's business.
#[test]
fn commands_never_name_libcontainer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let mut files = vec![];
    rust_files(&dir, &mut files);
    files.sort();
    assert!(
        files.len() > 10,
        "only {} files under src/commands",
        files.len()
    );
    let mut problems = vec![];
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for name in ["libcontainer", "libcgroups"] {
                if names_crate(code, name) {
                    problems.push(format!(
                        "{}:{}: names {name} (use crate::runtime::delegate): {code}",
                        file.strip_prefix(&dir).unwrap().display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Whether a line of code names crate `name` as a path (`name::…`).
fn names_crate(line: &str, name: &str) -> bool {
    let pat = format!("{name}::");
    line.match_indices(&pat).any(|(i, _)| {
        !line[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn crate_refs_are_found() {
    assert_eq!(
        crate_refs("use crate::policy::{a, b}; x = crate::base::at(s)"),
        ["policy", "base"]
    );
    assert_eq!(
        crate_refs("oci_crate::x and libcontainer::y"),
        Vec::<&str>::new()
    );
    assert!(names_crate(
        "use libcontainer::container::Container;",
        "libcontainer"
    ));
    assert!(names_crate(
        "x: &mut libcontainer::container::Container,",
        "libcontainer"
    ));
    assert!(names_crate(
        "let s = ::libcontainer::oci_spec::x();",
        "libcontainer"
    ));
    assert!(!names_crate(
        "hardrun_libcontainer::x and libcontainer_y::z",
        "libcontainer"
    ));
}
