//! `docs/rules/`: one page per rule code of `hardrun::policy::code::RULES`, no page for a code
//! that does not exist, and an index that lists them all.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hardrun::policy::code::{RuleInfo, RULES};

/// The sections every page has, in this order.
const SECTIONS: &[&str] = &[
    "## What it does",
    "## Why",
    "## Settings",
    "## Exceptions",
    "## Audit record",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `id` occurs in `text` as a whole control id: "5.1" is not found in "5.10" or "15.1".
fn mentions(text: &str, id: &str) -> bool {
    let part = |c: char| c.is_ascii_digit() || c == '.';
    text.match_indices(id).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + id.len()..].chars().next();
        // a sentence may end right after the id: "5.5." is still 5.5
        let after_ok = match after {
            None => true,
            Some('.') => !text[i + id.len() + 1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit()),
            Some(c) => !part(c),
        };
        !before.is_some_and(part) && after_ok
    })
}

fn severity(r: &RuleInfo) -> String {
    serde_json::to_value(r.severity)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn every_rule_code_has_a_page_with_every_section() {
    let mut problems = vec![];
    for r in RULES {
        let path = dir().join(format!("{}.md", r.code));
        if !path.exists() {
            problems.push(format!("{}: no page {}", r.code, path.display()));
            continue;
        }
        let text = read(&path);
        let first = text.lines().next().unwrap_or_default();
        if first != format!("# {}", r.code) {
            problems.push(format!(
                "{}: first line is {first:?}, not \"# {}\"",
                r.code, r.code
            ));
        }
        let mut at = 0;
        for s in SECTIONS {
            match text.lines().position(|l| l.trim_end() == *s) {
                None => problems.push(format!("{}: no section {s:?}", r.code)),
                Some(line) if line < at => {
                    problems.push(format!("{}: section {s:?} out of order", r.code))
                }
                Some(line) => at = line,
            }
        }
        for id in r.cis {
            if !mentions(&text, id) {
                problems.push(format!("{}: CIS {id} not mentioned", r.code));
            }
        }
        if !text.contains(&format!("\"code\": \"{}\"", r.code)) {
            problems.push(format!(
                "{}: the audit record example has no \"code\": \"{}\"",
                r.code, r.code
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_page_for_a_code_that_does_not_exist() {
    let codes: BTreeSet<&str> = RULES.iter().map(|r| r.code).collect();
    let mut stale = vec![];
    for e in std::fs::read_dir(dir()).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name == "README.md" {
            continue;
        }
        match name.strip_suffix(".md") {
            Some(code) if codes.contains(code) => {}
            _ => stale.push(name),
        }
    }
    assert!(
        stale.is_empty(),
        "pages in docs/rules/ that are no rule code of RULES: {stale:?}"
    );
}

#[test]
fn the_index_lists_every_code() {
    let index = read(&dir().join("README.md"));
    let mut problems = vec![];
    for r in RULES {
        let link = format!("[`{}`]({}.md)", r.code, r.code);
        let Some(row) = index
            .lines()
            .find(|l| l.starts_with('|') && l.contains(&link))
        else {
            problems.push(format!("{}: no table row with {link}", r.code));
            continue;
        };
        let sev = severity(r);
        if !row.contains(&format!("| {sev} |")) {
            problems.push(format!(
                "{}: row does not give severity {sev}: {row}",
                r.code
            ));
        }
        for id in r.cis {
            if !mentions(row, id) {
                problems.push(format!("{}: row does not give CIS {id}: {row}", r.code));
            }
        }
    }
    let rows = index.lines().filter(|l| l.starts_with("| [`")).count();
    if rows != RULES.len() {
        problems.push(format!(
            "the index has {rows} rule rows, RULES has {} codes",
            RULES.len()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn control_ids_match_whole() {
    assert!(mentions("CIS 5.10 and 5.1", "5.1"));
    assert!(!mentions("CIS 5.10", "5.1"));
    assert!(!mentions("CIS 15.1", "5.1"));
    assert!(mentions("(CIS 5.5).", "5.5"));
    assert!(mentions("ends with 5.5.", "5.5"));
    assert!(!mentions("5.5.1", "5.5"));
}

/// The CIS ids a table row gives in its CIS column (`—` for none).
fn ids_in(cell: &str) -> BTreeSet<String> {
    cell.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|t| t.trim_end_matches('.'))
        .filter(|t| t.contains('.') && t.split('.').all(|p| !p.is_empty()))
        .map(str::to_owned)
        .collect()
}

/// The README's rule table and the index of `docs/rules/` give exactly the registry's CIS tags
/// (at create and on exec), so the two maps can never drift from the code again.
#[test]
fn rule_tables_give_exactly_the_registry_cis_tags() {
    let readme = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"));
    let index = read(&dir().join("README.md"));
    let mut problems = vec![];
    for r in RULES.iter().filter(|r| r.code != "cis-score") {
        let want: BTreeSet<String> = r
            .cis
            .iter()
            .chain(r.cis_exec)
            .map(|s| s.to_string())
            .collect();
        for (name, text, prefix, column) in [
            ("README.md", &readme, format!("| `{}` |", r.code), 1),
            (
                "docs/rules/README.md",
                &index,
                format!("| [`{}`]({}.md) |", r.code, r.code),
                2,
            ),
        ] {
            let Some(row) = text.lines().find(|l| l.starts_with(&prefix)) else {
                // the README's table lists the hardening rules; `exception` is no rewrite
                if name == "README.md" && r.code == "exception" {
                    continue;
                }
                problems.push(format!("{name}: no row for {}", r.code));
                continue;
            };
            let cell = row.split('|').nth(column + 1).unwrap_or_default();
            let got = ids_in(cell);
            if got != want {
                problems.push(format!(
                    "{name}: {} gives CIS {got:?}, the registry {want:?}",
                    r.code
                ));
            }
        }
        let page = read(&dir().join(format!("{}.md", r.code)));
        for id in r.cis_exec {
            if !mentions(&page, id) {
                problems.push(format!("{}: exec control {id} not mentioned", r.code));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The index's `[response]` row gives each built-in profile's automatic isolation as it is.
#[test]
fn the_index_gives_each_builtins_automatic_isolation() {
    let index = read(&dir().join("README.md"));
    let header = index
        .lines()
        .find(|l| l.starts_with("| setting | "))
        .expect("no `| setting |` header in docs/rules/README.md");
    let row = index
        .lines()
        .find(|l| l.starts_with("| `[response] isolate_on` |"))
        .expect("no `[response] isolate_on` row in docs/rules/README.md");
    let cells = |l: &str| -> Vec<String> {
        l.trim_matches('|')
            .split('|')
            .skip(1)
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let cat = hardrun::profile::Catalog::builtin();
    let names = cells(header);
    let values = cells(row);
    assert_eq!(names.len(), hardrun::profile::BUILTIN.len(), "{header}");
    for (name, value) in names.iter().zip(&values) {
        let p = cat.get(name).unwrap();
        assert_eq!(&p.response.describe(), value, "{name}");
    }
}
