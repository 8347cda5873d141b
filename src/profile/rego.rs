//! `[rego]` of a profile: company policies in Rego (package `hardrun`, see `docs/policies.md`).
//! The files are read and compiled once, when the profile is loaded from its file
//! ([`RegoCfg::compile`]); the `rego` rule (`policy::rego`) evaluates the compiled policy for
//! each container. A policy that does not compile fails its profile to load, with one line that
//! names the file and the line.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ProfileError;

/// The package every policy file must declare: `deny` and `warn` are read from it.
pub const PACKAGE: &str = "data.hardrun";

/// `[rego] files = ["acme.rego"]`: paths relative to the profile's file (or absolute).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegoCfg {
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// the policy compiled from `files` at load; `None` until [`RegoCfg::compile`] ran (a profile
    /// parsed from stored text, as `exec` does, carries no policy)
    #[serde(skip)]
    pub compiled: Option<Compiled>,
}

impl RegoCfg {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Reads and compiles `files`, resolved against the directory of `profile_file`.
    pub fn compile(&mut self, profile_file: &Path) -> Result<(), ProfileError> {
        if self.files.is_empty() {
            return Ok(());
        }
        let dir = profile_file.parent().unwrap_or(Path::new("/"));
        let paths: Vec<PathBuf> = self.files.iter().map(|f| dir.join(f)).collect();
        let mut sources = vec![];
        for p in &paths {
            let text = std::fs::read_to_string(p).map_err(|e| ProfileError::Io {
                file: p.display().to_string(),
                msg: format!(
                    "{} ([rego] files of {})",
                    lower_first(&e.to_string()),
                    profile_file.display()
                ),
            })?;
            sources.push((p.display().to_string(), text));
        }
        self.compiled = Some(Compiled::new(&sources)?);
        Ok(())
    }
}

/// A compiled policy: the engine with every file of `[rego]` added and prepared.
#[derive(Clone)]
pub struct Compiled {
    engine: regorus::Engine,
    /// the files, as named in findings and errors
    pub files: Vec<String>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// What a policy says about one input document.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Verdict {
    /// `deny` messages: each refuses the container
    pub deny: Vec<String>,
    /// `warn` messages: audit findings
    pub warn: Vec<String>,
}

impl Compiled {
    /// Compiles `sources` (file name, text): parse errors, a package other than `hardrun` and the
    /// errors the engine finds in preparing the rules (an unsafe variable, an unknown function)
    /// name the file and the line.
    pub fn new(sources: &[(String, String)]) -> Result<Compiled, ProfileError> {
        let first = sources.first().map(|s| s.0.as_str()).unwrap_or("[rego]");
        let mut engine = regorus::Engine::new();
        // a runtime error in a builtin (a bad regex) is an error, not an undefined value that
        // silently lets a deny rule fail to fire
        engine.set_strict_builtin_errors(true);
        for (file, text) in sources {
            let package = engine
                .add_policy(file.clone(), text.clone())
                .map_err(|e| rego_error(file, &e))?;
            if package != PACKAGE {
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with("package"))
                    .map(|i| i + 1)
                    .unwrap_or(1);
                return Err(ProfileError::Rego {
                    file: file.clone(),
                    line,
                    msg: format!(
                        "package {}: hardrun reads its rules from package hardrun",
                        package.trim_start_matches("data.")
                    ),
                });
            }
        }
        engine
            .add_policy("<hardrun>".to_owned(), VERDICT.to_owned())
            .map_err(|e| rego_error(first, &e))?;
        let mut c = Compiled {
            engine,
            files: sources.iter().map(|(f, _)| f.clone()).collect(),
        };
        // prepares the rules once (the engine checks them on the first evaluation): what is
        // wrong in them is found at load, not in the first container's create
        c.eval(serde_json::json!({}))
            .map_err(|e| rego_error(first, &e))?;
        Ok(c)
    }

    /// Evaluates `deny` and `warn` of package `hardrun` for `input`. The messages are sorted
    /// (sets in Rego); a message that is not a string is written as JSON.
    pub fn eval(&mut self, input: serde_json::Value) -> anyhow::Result<Verdict> {
        self.engine.set_input(regorus::Value::from(input));
        let all = self.engine.eval_rule(PACKAGE_RULES.to_owned())?;
        let all = serde_json::to_value(&all)?;
        let messages = |key: &str| -> Vec<String> {
            let mut v: Vec<String> = match all.get(key) {
                Some(serde_json::Value::Array(a)) => a.iter().map(message_text).collect(),
                Some(serde_json::Value::Null) | None => vec![],
                Some(other) => vec![message_text(other)],
            };
            v.sort();
            v.dedup();
            v
        };
        Ok(Verdict {
            deny: messages("deny"),
            warn: messages("warn"),
        })
    }
}

/// The rule every evaluation reads: one object with `deny` and `warn` (an undefined set is
/// empty), so a policy may define either or both.
const PACKAGE_RULES: &str = "data.hardrun_verdict.verdict";

/// The module that defines [`PACKAGE_RULES`], added after the company's files.
const VERDICT: &str = "package hardrun_verdict\n\
verdict := {\"deny\": object.get(data.hardrun, \"deny\", set()), \"warn\": object.get(data.hardrun, \"warn\", set())}\n";

fn message_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One line from the engine's error: `file:line: message`. The engine writes
/// `--> file:line:col`, the source line with a caret, then `error: message`.
fn rego_error(default_file: &str, e: &anyhow::Error) -> ProfileError {
    let text = format!("{e:#}");
    let mut file = default_file.to_owned();
    let mut line = 0;
    let mut msg = None;
    for l in text.lines() {
        let l = l.trim();
        if let Some(at) = l.strip_prefix("--> ") {
            // file:line:col, the file may itself contain ':'
            let mut parts = at.rsplitn(3, ':');
            let _col = parts.next();
            if let (Some(n), Some(f)) = (parts.next(), parts.next()) {
                if let Ok(n) = n.parse() {
                    line = n;
                    file = f.to_owned();
                }
            }
        } else if let Some(m) = l.strip_prefix("error: ") {
            msg = Some(m.to_owned());
        }
    }
    let msg = msg.unwrap_or_else(|| {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("does not compile")
            .to_owned()
    });
    ProfileError::Rego {
        file,
        line,
        msg: lower_first(&msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<Compiled, String> {
        Compiled::new(&[("/etc/hardrun/acme.rego".into(), text.into())]).map_err(|e| e.to_string())
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        // a parse error
        let e = compile("package hardrun\n\ndeny contains msg if {\n    msg := \n}\n").unwrap_err();
        assert!(e.starts_with("/etc/hardrun/acme.rego:4: "), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        // a package other than hardrun
        let e = compile("# acme\npackage acme\n\ndeny contains \"x\" if true\n").unwrap_err();
        assert_eq!(
            e,
            "/etc/hardrun/acme.rego:2: package acme: hardrun reads its rules from package hardrun"
        );
        // found when the rules are prepared, at load: an unknown function, an unsafe variable
        let e =
            compile("package hardrun\n\ndeny contains msg if {\n    msg := nope(input.spec)\n}\n")
                .unwrap_err();
        assert!(e.starts_with("/etc/hardrun/acme.rego:4: "), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        let e =
            compile("package hardrun\n\ndeny contains msg if {\n    x > 1\n    msg := \"m\"\n}\n")
                .unwrap_err();
        assert!(e.starts_with("/etc/hardrun/acme.rego:4: "), "{e}");
        // deny, warn, both or neither
        for ok in [
            "package hardrun\n",
            "package hardrun\ndeny contains \"d\" if input.spec.x\n",
            "package hardrun\nwarn contains \"w\" if input.spec.x\n",
        ] {
            compile(ok).unwrap();
        }
    }

    #[test]
    fn verdicts_are_sorted_sets_of_strings() {
        let mut c = compile(
            "package hardrun\nimport rego.v1\ndeny contains \"b\" if input.spec.x\ndeny contains \"a\" if input.spec.x\ndeny contains {\"k\": 1} if input.spec.x\nwarn contains \"w\" if not input.spec.x\n",
        )
        .unwrap();
        let v = c.eval(serde_json::json!({"spec": {"x": true}})).unwrap();
        assert_eq!(v.deny, ["a", "b", "{\"k\":1}"]);
        assert!(v.warn.is_empty());
        let v = c.eval(serde_json::json!({"spec": {}})).unwrap();
        assert!(v.deny.is_empty());
        assert_eq!(v.warn, ["w"]);
    }

    #[test]
    fn files_are_resolved_beside_the_profile_and_built_ins_name_none() {
        let dir = std::env::temp_dir().join(format!("hardrun-rego-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("policies")).unwrap();
        std::fs::write(
            dir.join("policies/acme.rego"),
            "package hardrun\ndeny contains \"no\" if input.spec.x\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("acme.toml"),
            "name = \"acme\"\n[rego]\nfiles = [\"policies/acme.rego\"]\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("gone.toml"),
            "name = \"gone\"\n[rego]\nfiles = [\"missing.rego\"]\n",
        )
        .unwrap();
        let cat = super::super::Catalog::load(Some(&dir)).unwrap();
        let p = cat.get("acme").unwrap();
        let c = p.rego.compiled.as_ref().expect("compiled at load");
        assert_eq!(
            c.files,
            [dir.join("policies/acme.rego").display().to_string()]
        );
        let e = cat.get("gone").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "cannot read {}: ",
                dir.join("missing.rego").display()
            )),
            "{e}"
        );
        assert!(e.contains("([rego] files of "), "{e}");
        // the text alone (as exec re-reads a stored profile) compiles nothing
        let p = super::super::Profile::parse(
            "name = \"acme\"\n[rego]\nfiles = [\"acme.rego\"]\n",
            "x: policy.profileToml",
        )
        .unwrap();
        assert!(p.rego.compiled.is_none());
        let e = super::super::Profile::parse(
            "name = \"restricted\"\n[rego]\nfiles = [\"acme.rego\"]\n",
            "builtin:restricted",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("builtin:restricted: rego.files: "), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
