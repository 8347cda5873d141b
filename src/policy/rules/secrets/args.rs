//! Credentials in `process.args`, by the detectors the environment is judged by: a
//! credential-named option with its value (`--password=…`, `--db-password …`,
//! `-Dspring.datasource.password=…`, `PASSWORD=…` for `env`), the short password options of
//! tools known to take one (`mysql -p…`, `sshpass -p …`, `redis-cli -a …`), a value that has the
//! shape of a credential anywhere (tokens, keys, a URL with a password), and the same inside a
//! shell's `-c` script. The finding points at the argument that holds the value; its message
//! names the option (never the value) and the value's length, and the engine records its
//! before/after as `<redacted>` like every `secrets` finding.
//!
//! An argument cannot be dropped without changing the command: the proposal is unfixable, so a
//! profile that enforces `secrets` refuses such a container (the built-ins audit it).

use serde_json::Value;

use super::super::Proposal;
use super::{chars, name_kind, trivial, value_kind};
use crate::profile::Profile;

/// Tools whose short option carries a password: (program, option letter, whether the value must
/// be attached: `mysql -p` alone prompts, and `mysql -p db` names a database).
const SHORT: &[(&str, char, bool)] = &[
    ("mysql", 'p', true),
    ("mysqladmin", 'p', true),
    ("mysqldump", 'p', true),
    ("mysqlimport", 'p', true),
    ("mysqlshow", 'p', true),
    ("mysqlcheck", 'p', true),
    ("mysqlpump", 'p', true),
    ("mariadb", 'p', true),
    ("mariadb-admin", 'p', true),
    ("mariadb-dump", 'p', true),
    ("sshpass", 'p', false),
    ("redis-cli", 'a', false),
];

/// Shells whose `-c` argument is a script to look into.
const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh", "busybox"];

/// Option names that say how a secret is passed, not the secret (`--password-stdin`,
/// `--token-file`).
const POINTER_SUFFIXES: &[&str] = &[
    "_FILE",
    "_PATH",
    "_DIR",
    "_FILENAME",
    "_LOCATION",
    "_STDIN",
    "_PROMPT",
    "_ENV",
    "_COMMAND",
    "_CMD",
];

fn program(arg: &str) -> &str {
    arg.rsplit('/').next().unwrap_or(arg)
}

/// A name as a message may show it: a plain option or variable name, else nothing.
fn plain(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
        && value_kind(name).is_none();
    ok.then_some(name)
}

/// The credential kind of an option or variable name (`--db-password`, `spring.datasource.
/// password`, `API_TOKEN`), with pointer-like names (`--password-stdin`) left out.
fn option_kind(name: &str, profile: &Profile) -> Option<&'static str> {
    let bare = name.trim_start_matches('-');
    // Java's system properties: -Dkey=value
    let bare = if name.starts_with("-D") && !name.starts_with("--") {
        &name[2..]
    } else {
        bare
    };
    if bare.is_empty()
        || profile
            .secrets
            .ignore
            .iter()
            .any(|n| n == bare || n == name)
    {
        return None;
    }
    let up = bare.to_ascii_uppercase().replace(['-', '.'], "_");
    if POINTER_SUFFIXES.iter().any(|s| up.ends_with(s)) {
        return None;
    }
    name_kind(&up).or_else(|| (up == "PASS" || up == "PASSWD").then_some("password"))
}

/// One credential found in a list of words: (index of the word holding the value, the option
/// that named it if any, kind, the value's length).
struct Hit {
    at: usize,
    option: Option<String>,
    kind: &'static str,
    len: String,
}

/// The credentials in `words` (`words[0]` is the program).
fn scan(words: &[&str], profile: &Profile) -> Vec<Hit> {
    let mut hits = vec![];
    let prog = words.first().map(|w| program(w)).unwrap_or("");
    let short = SHORT.iter().find(|(p, _, _)| *p == prog);
    let mut i = 1;
    while i < words.len() {
        let w = words[i];
        // mysql -phunter2, sshpass -p hunter2
        if let Some((_, letter, attached_only)) = short {
            let flag = format!("-{letter}");
            if let Some(v) = w.strip_prefix(&flag).filter(|_| !w.starts_with("--")) {
                if !v.is_empty() {
                    hits.push(Hit {
                        at: i,
                        option: Some(flag),
                        kind: "password",
                        len: chars(v),
                    });
                } else if !attached_only && i + 1 < words.len() {
                    hits.push(Hit {
                        at: i + 1,
                        option: Some(flag),
                        kind: "password",
                        len: chars(words[i + 1]),
                    });
                    i += 1;
                }
                i += 1;
                continue;
            }
        }
        // --password=hunter2, PASSWORD=hunter2, -Dapp.secret=…
        if let Some((name, value)) = w
            .split_once('=')
            .filter(|(n, _)| !n.contains(char::is_whitespace))
        {
            let kind = value_kind(value).or_else(|| {
                (!value.is_empty() && !trivial(value))
                    .then(|| option_kind(name, profile))
                    .flatten()
            });
            if let Some(kind) = kind {
                hits.push(Hit {
                    at: i,
                    option: plain(name).map(str::to_owned),
                    kind,
                    len: chars(value),
                });
                i += 1;
                continue;
            }
        }
        // --token abc (a long option whose value is the next word; mysql's --password takes
        // none that way)
        if w.starts_with("--") && !w.contains('=') && short.is_none_or(|(_, _, att)| !att) {
            if let (Some(kind), Some(next)) = (option_kind(w, profile), words.get(i + 1)) {
                if !next.starts_with('-') && !next.is_empty() && !trivial(next) {
                    hits.push(Hit {
                        at: i + 1,
                        option: plain(w).map(str::to_owned),
                        kind,
                        len: chars(next),
                    });
                    i += 2;
                    continue;
                }
            }
        }
        if let Some(kind) = value_kind(w) {
            hits.push(Hit {
                at: i,
                option: None,
                kind,
                len: chars(w),
            });
        }
        i += 1;
    }
    hits
}

/// Splits a shell script into words (quotes removed, good enough to find options) and its
/// commands (`;`, `&&`, `||`, `|`, newlines): each command's words on their own.
fn commands(script: &str) -> Vec<Vec<String>> {
    let mut out = vec![vec![]];
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    let flush = |word: &mut String, has: &mut bool, out: &mut Vec<Vec<String>>| {
        if *has {
            out.last_mut().unwrap().push(std::mem::take(word));
            *has = false;
        }
    };
    for c in script.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                has = true;
            }
            (None, ';' | '&' | '|' | '\n' | '(' | ')') => {
                flush(&mut word, &mut has, &mut out);
                if !out.last().unwrap().is_empty() {
                    out.push(vec![]);
                }
            }
            (None, c) if c.is_whitespace() => flush(&mut word, &mut has, &mut out),
            (None, c) => {
                word.push(c);
                has = true;
            }
        }
    }
    flush(&mut word, &mut has, &mut out);
    out.retain(|c| !c.is_empty());
    out
}

pub fn findings(spec: &Value, profile: &Profile) -> Vec<Proposal> {
    let Some(args) = spec.pointer("/process/args").and_then(Value::as_array) else {
        return vec![];
    };
    let words: Vec<&str> = args.iter().map(|a| a.as_str().unwrap_or("")).collect();
    let mut out = vec![];
    for h in scan(&words, profile) {
        let what = match &h.option {
            Some(o) => format!("argument {} ({o})", h.at),
            None => format!("argument {}", h.at),
        };
        out.push(Proposal::refuse(
            format!("/process/args/{}", h.at),
            format!(
                "{what} looks like a credential ({}); value masked ({})",
                h.kind, h.len
            ),
        ));
    }
    // sh -c 'mysql -phunter2 …': the script's commands, each on its own
    let shell = words.first().is_some_and(|w| SHELLS.contains(&program(w)));
    if shell {
        if let Some(c) = words.iter().position(|w| *w == "-c") {
            if let Some(script) = words.get(c + 1) {
                let i = c + 1;
                let already = out
                    .iter()
                    .any(|p| p.pointer == format!("/process/args/{i}"));
                let found = commands(script).into_iter().find_map(|cmd| {
                    let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
                    scan(&refs, profile).into_iter().next()
                });
                if let (Some(h), false) = (found, already) {
                    let what = match &h.option {
                        Some(o) => format!("argument {i} (a shell script, {o})"),
                        None => format!("argument {i} (a shell script)"),
                    };
                    out.push(Proposal::refuse(
                        format!("/process/args/{i}"),
                        format!(
                            "{what} looks like a credential ({}); value masked ({})",
                            h.kind, h.len
                        ),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::*;
    use super::*;
    use serde_json::json;

    fn args(a: &[&str]) -> Vec<Proposal> {
        findings(&json!({"process": {"args": a}}), &profile("restricted"))
    }

    #[test]
    fn positives_name_the_option_never_the_value() {
        for (a, at, want) in [
            (
                &["app", "--password=hunter2"][..],
                1,
                "argument 1 (--password) looks like a credential (password); value masked (7 chars)",
            ),
            (&["app", "--db-password", "hunter2"], 2, "(--db-password)"),
            (&["app", "--api-token", "hunter2"], 2, "(token)"),
            (&["java", "-Dspring.datasource.password=hunter2", "-jar", "a.jar"], 1, "(password)"),
            (&["env", "MYSQL_PWD=hunter2", "mysql"], 1, "(MYSQL_PWD)"),
            (&["/usr/bin/mysql", "-uroot", "-phunter2", "db"], 2, "argument 2 (-p)"),
            (&["mysqldump", "-phunter2"], 1, "(password)"),
            (&["sshpass", "-p", "hunter2", "ssh", "host"], 2, "argument 2 (-p)"),
            (&["redis-cli", "-a", "hunter2", "ping"], 2, "(-a)"),
            (&["psql", "postgres://app:hunter2@db/app"], 1, "(url with a password)"),
            (&["curl", "-H", "Authorization: Bearer ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"], 2, "(github token)"),
            (&["sh", "-c", "mysql -uroot -phunter2 -e 'select 1'"], 2, "argument 2 (a shell script, -p)"),
            (&["/bin/bash", "-c", "cd /app && ./run --password=\"hunter2\""], 2, "(a shell script, --password)"),
        ] {
            let p = args(a);
            assert_eq!(p.len(), 1, "{a:?}: {p:?}");
            assert_eq!(p[0].pointer, format!("/process/args/{at}"), "{a:?}");
            assert!(p[0].message.contains(want), "{a:?}: {}", p[0].message);
            assert!(!p[0].message.contains("hunter2"), "{}", p[0].message);
            assert!(!p[0].fixable);
        }
    }

    #[test]
    fn negatives() {
        for a in [
            &["mysql", "-p", "db"][..],
            &["mysql", "--password", "db"],
            &["mysql", "-uroot", "db"],
            &[
                "docker",
                "login",
                "--password-stdin",
                "registry.example.com",
            ],
            &["app", "--token-file", "/run/secrets/token"],
            &["app", "--password-file=/run/secrets/pw"],
            &["app", "--password="],
            &["app", "--secret", "--verbose"],
            &["app", "--enable-tokens=true"],
            &["ls", "-p", "/"],
            &["app", "-phunter2"],
            &["sh", "-c", "echo hello; ls -p /"],
            &["curl", "https://example.com/path?q=1"],
            &["app", "--pwd", "/srv"],
        ] {
            assert!(args(a).is_empty(), "{a:?}: {:?}", args(a));
        }
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            commands("a 'b c' \"d\";e&&f|g\nh"),
            vec![
                vec!["a", "b c", "d"],
                vec!["e"],
                vec!["f"],
                vec!["g"],
                vec!["h"]
            ]
        );
    }
}
