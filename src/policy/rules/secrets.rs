//! `secrets` (CIS 4.10): no credentials in the process environment. An entry is reported when
//! its value has the shape of a known credential (AWS access key id, GitHub, Slack and Stripe
//! tokens, Google API key, a PEM private key, a JWT, a URL with a password) or its name says it
//! holds one (`*PASSWORD*`, `*SECRET*`, `*_TOKEN`, `*API_KEY*`, `*ACCESS_KEY*`, …). Names ending
//! in `_FILE`/`_PATH`/`_DIR` point at a secret rather than hold one and are judged by value only;
//! empty and boolean values, the profile's `secrets.ignore` names and plain variables (`PATH`,
//! `HOME`, `TERM`, …) are skipped.
//!
//! The value never appears in a message: only the variable's name (itself masked when it looks
//! like a credential or is not a plain name), the kind of credential and the value's length. The
//! finding points at `/process/env/<index>`, which *is* the value: the engine records the
//! before/after of `secrets` findings as `<redacted>`.
//!
//! Enforced, the fix removes the entry (the app then sees the variable unset). The built-in
//! profiles audit this rule: removing a credential breaks the app that needs it, and the fix for
//! a finding is to pass the secret another way (a mounted file). Removals are proposed from the
//! last index to the first, so each edit's index is still right when the earlier ones applied.

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "no credentials in the process environment or arguments (reported masked, never logged)",
    severity: Severity::Medium,
    process: true,
    evaluate: Some(evaluate),
};

/// Variables that are never credentials, whatever their value.
const PLAIN: &[&str] = &[
    "PATH",
    "HOME",
    "TERM",
    "HOSTNAME",
    "LANG",
    "LANGUAGE",
    "SHELL",
    "USER",
    "LOGNAME",
    "PWD",
    "OLDPWD",
    "TZ",
    "SHLVL",
    "container",
    "MAIL",
    "TMPDIR",
    "COLORTERM",
    "NO_COLOR",
];

/// Name fragments (upper case) that say the value is a credential: (fragment, kind).
const NAME_PARTS: &[(&str, &str)] = &[
    ("PASSWORD", "password"),
    ("PASSWD", "password"),
    ("PASSPHRASE", "passphrase"),
    ("SECRET", "secret"),
    ("API_KEY", "api key"),
    ("APIKEY", "api key"),
    ("PRIVATE_KEY", "private key"),
    ("PRIVATEKEY", "private key"),
    ("ACCESS_KEY", "access key"),
    ("ACCESSKEY", "access key"),
    ("AUTH_KEY", "auth key"),
    ("CREDENTIAL", "credential"),
];

/// Name suffixes of variables that point at a secret instead of holding it.
const POINTERS: &[&str] = &["_FILE", "_PATH", "_DIR", "_FILENAME", "_LOCATION"];

fn b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn upper_digit(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

/// Somewhere in `v`: `prefix` at a word start, followed by `len` characters of `set`, of which
/// at least `min` (and, with `exact`, exactly `min` and then no further letter or digit).
fn token(v: &str, prefix: &str, set: fn(u8) -> bool, min: usize, exact: bool) -> bool {
    let b = v.as_bytes();
    let mut from = 0;
    while let Some(off) = v[from..].find(prefix) {
        let i = from + off;
        from = i + 1;
        if i > 0 && b[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let rest = &b[i + prefix.len()..];
        let n = rest.iter().take_while(|c| set(**c)).count();
        let ok = if exact {
            n == min && !rest.get(n).is_some_and(|c| c.is_ascii_alphanumeric())
        } else {
            n >= min
        };
        if ok {
            return true;
        }
    }
    false
}

/// `eyJ…` `.` `eyJ…` `.` signature: a JWT (header and payload are base64url JSON objects).
fn jwt(v: &str) -> bool {
    let b = v.as_bytes();
    let mut from = 0;
    while let Some(off) = v[from..].find("eyJ") {
        let i = from + off;
        from = i + 1;
        let seg = |at: usize| {
            b[at.min(b.len())..]
                .iter()
                .take_while(|c| b64url(**c))
                .count()
        };
        let h = seg(i);
        let p = i + h + 1;
        if h >= 10 && b.get(i + h) == Some(&b'.') && v[p..].starts_with("eyJ") {
            let n = seg(p);
            if n >= 10 && b.get(p + n) == Some(&b'.') {
                return true;
            }
        }
    }
    false
}

/// `scheme://user:password@host`
fn url_password(v: &str) -> bool {
    let mut rest = v;
    while let Some(i) = rest.find("://") {
        rest = &rest[i + 3..];
        let authority = rest.split(['/', '?', '#', ' ']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, pass)) = userinfo.split_once(':') {
                if !pass.is_empty() {
                    return true;
                }
            }
        }
    }
    false
}

/// The kind of credential `v` looks like, by its format.
pub(super) fn value_kind(v: &str) -> Option<&'static str> {
    if v.contains("-----BEGIN ") && v.contains("PRIVATE KEY") {
        return Some("private key");
    }
    if token(v, "AKIA", upper_digit, 16, true) || token(v, "ASIA", upper_digit, 16, true) {
        return Some("aws access key id");
    }
    if ["ghp_", "gho_", "ghs_", "ghu_", "ghr_"]
        .iter()
        .any(|p| token(v, p, alnum, 30, false))
        || token(v, "github_pat_", b64url, 22, false)
    {
        return Some("github token");
    }
    if ["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"]
        .iter()
        .any(|p| token(v, p, |c| alnum(c) || c == b'-', 10, false))
    {
        return Some("slack token");
    }
    if token(v, "AIza", b64url, 35, true) {
        return Some("google api key");
    }
    if ["sk_live_", "rk_live_"]
        .iter()
        .any(|p| token(v, p, alnum, 16, false))
    {
        return Some("stripe key");
    }
    if jwt(v) {
        return Some("jwt");
    }
    if url_password(v) {
        return Some("url with a password");
    }
    None
}

/// The kind of credential a variable named `name` holds, by its name.
pub(super) fn name_kind(name: &str) -> Option<&'static str> {
    let up = name.to_ascii_uppercase();
    if POINTERS.iter().any(|s| up.ends_with(s)) {
        return None;
    }
    if let Some((_, kind)) = NAME_PARTS.iter().find(|(part, _)| up.contains(part)) {
        return Some(kind);
    }
    // word-wise: GITHUB_TOKEN, NPM_AUTHTOKEN, DB_PASS, MYSQL_PWD (not TOKENIZERS_*, not PWD)
    let words: Vec<&str> = up.split(['_', '-', '.']).collect();
    if words.iter().any(|w| w.ends_with("TOKEN")) {
        return Some("token");
    }
    if words.len() > 1 && words.iter().any(|w| *w == "PASS" || *w == "PWD") {
        return Some("password");
    }
    None
}

pub(super) fn trivial(v: &str) -> bool {
    [
        "true", "false", "yes", "no", "on", "off", "enabled", "disabled", "none", "null",
    ]
    .iter()
    .any(|t| v.eq_ignore_ascii_case(t))
}

/// The name as it may appear in a message: a plain identifier that is not itself credential-
/// shaped, else the entry's index.
fn shown(name: &str, i: usize) -> String {
    let plain = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-');
    if plain && value_kind(name).is_none() {
        name.to_owned()
    } else {
        format!("at index {i}")
    }
}

pub(super) fn chars(v: &str) -> String {
    match v.chars().count() {
        1 => "1 char".into(),
        n => format!("{n} chars"),
    }
}

pub fn evaluate(spec: &Value, profile: &Profile, _ctx: &RuleCtx) -> Vec<Proposal> {
    let mut out = args::findings(spec, profile);
    let Some(env) = spec.pointer("/process/env").and_then(Value::as_array) else {
        return out;
    };
    for (i, entry) in env.iter().enumerate().rev() {
        let Some((name, value)) = entry.as_str().and_then(|e| e.split_once('=')) else {
            continue;
        };
        if value.is_empty()
            || PLAIN.contains(&name)
            || name.starts_with("LC_")
            || profile.secrets.ignore.iter().any(|n| n == name)
        {
            continue;
        }
        // a credential-shaped name (`AKIA…=1`) is a credential too
        let kind = value_kind(value)
            .or_else(|| value_kind(name))
            .or_else(|| (!trivial(value)).then(|| name_kind(name)).flatten());
        let Some(kind) = kind else { continue };
        let ptr = format!("/process/env/{i}");
        out.push(Proposal::fix(
            ptr.clone(),
            format!(
                "environment variable {} looks like a credential ({kind}); value masked ({})",
                shown(name, i),
                chars(value)
            ),
            vec![Edit::remove(ptr)],
        ));
    }
    out
}

/// `process.args`: the same detectors, on the arguments
mod args;

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    fn env(entries: &[&str]) -> Value {
        json!({"root": {"path": "rootfs"}, "process": {"args": ["sh"], "env": entries}})
    }

    // fake credentials of the real shapes (none of them valid anywhere)
    const AWS_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const GHP: &str = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";
    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl";

    #[test]
    fn positives() {
        let p = profile("restricted");
        let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
        let cases: Vec<(String, &str)> = vec![
            (format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET}"), "secret"),
            (format!("AWS_ACCESS_KEY_ID={AWS_ID}"), "aws access key id"),
            (format!("S3_ID={AWS_ID}"), "aws access key id"),
            (format!("GITHUB_TOKEN={GHP}"), "github token"),
            (format!("CI_X=Bearer {GHP}"), "github token"),
            (
                "GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz".into(),
                "github token",
            ),
            ("HOOK=xoxb-123456789012-abcdefABCDEF".into(), "slack token"),
            (
                "MAPS=AIzaSyA1234567890abcdefghijklmnopqrstuv".into(),
                "google api key",
            ),
            ("PAY=sk_live_0123456789abcdefghij".into(), "stripe key"),
            (format!("SESSION={JWT}"), "jwt"),
            (format!("TLS_KEY={pem}"), "private key"),
            (
                "DATABASE_URL=postgres://app:hunter2@db:5432/app".into(),
                "url with a password",
            ),
            ("MYSQL_ROOT_PASSWORD=hunter2".into(), "password"),
            ("db_passwd=hunter2".into(), "password"),
            ("MYSQL_PWD=hunter2".into(), "password"),
            ("REDIS_PASS=hunter2".into(), "password"),
            ("GPG_PASSPHRASE=correct horse".into(), "passphrase"),
            ("DJANGO_SECRET_KEY=abc123".into(), "secret"),
            ("STRIPE_API_KEY=abc123".into(), "api key"),
            ("OPENAI_APIKEY=abc123".into(), "api key"),
            ("SSH_PRIVATE_KEY=abc123".into(), "private key"),
            ("NPM_AUTHTOKEN=abc123".into(), "token"),
            ("VAULT_TOKEN=s.abc123".into(), "token"),
            (
                "GOOGLE_APPLICATION_CREDENTIALS_JSON={\"k\":1}".into(),
                "credential",
            ),
            ("DB_PASSWORD=1234".into(), "password"),
        ];
        for (entry, kind) in &cases {
            let (name, value) = entry.split_once('=').unwrap();
            let r = run(evaluate, &env(&["PATH=/bin", entry]), &p);
            assert_eq!(r.len(), 1, "{entry}");
            assert_eq!(r[0].pointer, "/process/env/1");
            let want = format!(
                "environment variable {} looks like a credential ({kind}); value masked ({})",
                shown(name, 1),
                chars(value)
            );
            assert_eq!(r[0].message, want, "{entry}");
            assert!(!r[0].message.contains(value), "{entry}");
            // nor any 4-character piece of it (outside the name and the kind)
            let rest = r[0].message.replace(name, "").replace(kind, "");
            let cs: Vec<char> = value.chars().collect();
            for w in cs.windows(4) {
                let piece: String = w.iter().collect();
                assert!(
                    !rest.contains(&piece),
                    "{entry}: message {:?} shows {piece:?}",
                    r[0].message
                );
            }
        }
    }

    #[test]
    fn negatives() {
        let p = profile("restricted");
        for entry in [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root",
            "TERM=xterm",
            "HOSTNAME=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "LC_ALL=C.UTF-8",
            "PWD=/",
            "TOKENIZERS_PARALLELISM=false",
            "MYSQL_PASSWORD_FILE=/run/secrets/db",
            "SECRETS_DIR=/run/secrets",
            "GITHUB_TOKEN=",
            "USE_SECRETS=true",
            "CI_JOB_TOKEN_ENABLED=no",
            "PASSWORD",
            "NGINX_VERSION=1.25.3",
            "JAVA_OPTS=-Xmx512m -Dfile.encoding=UTF-8",
            "UPSTREAM=https://example.com/path?x=1",
            "PROXY=http://user@proxy:3128",
            "ID=AKIAIOSFODNN7EXAMPLEEXTRA",
            "KEYPASS_ENABLED=1",
            "MESSAGE=passport",
        ] {
            assert!(
                run(evaluate, &env(&[entry]), &p).is_empty(),
                "false positive: {entry}"
            );
        }
        assert!(run(evaluate, &json!({"process": {"args": ["sh"]}}), &p).is_empty());
        assert!(run(evaluate, &json!({"linux": {"resources": {}}}), &p).is_empty());
    }

    #[test]
    fn ignore_list_and_masked_names() {
        let mut p = profile("restricted");
        let spec = env(&[&format!("GITHUB_TOKEN={GHP}"), "DB_PASSWORD=hunter2"]);
        assert_eq!(run(evaluate, &spec, &p).len(), 2);
        p.secrets.ignore = vec!["GITHUB_TOKEN".into()];
        let r = run(evaluate, &spec, &p);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].pointer, "/process/env/1");
        // a name that is itself credential-shaped is not shown either
        let r = run(
            evaluate,
            &env(&["HOME=/", &format!("{AWS_ID}=x")]),
            &profile("restricted"),
        );
        assert_eq!(
            r[0].message,
            "environment variable at index 1 looks like a credential (aws access key id); value masked (1 char)"
        );
        assert!(!r[0].message.contains(AWS_ID));
    }

    #[test]
    fn enforced_fix_removes_entries_and_is_idempotent() {
        let p = profile("ci-runner");
        let spec = env(&[
            "PATH=/bin",
            "DB_PASSWORD=hunter2",
            "LANG=C",
            &format!("TOKEN={GHP}"),
            &format!("SESSION={JWT}"),
            "APP=1",
        ]);
        let r = run(evaluate, &spec, &p);
        let pointers: Vec<&str> = r.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/process/env/4", "/process/env/3", "/process/env/1"],
            "last first, so the indices hold while removing"
        );
        let out = fixed(evaluate, &spec, &p);
        assert_eq!(
            out["process"]["env"],
            json!(["PATH=/bin", "LANG=C", "APP=1"])
        );
        // exec's wrapper has only the process
        let exec = json!({"process": {"env": ["A=1", format!("X={AWS_ID}")]}});
        assert_eq!(
            fixed(evaluate, &exec, &p),
            json!({"process": {"env": ["A=1"]}})
        );
    }

    #[test]
    fn matchers() {
        assert!(token(
            "x AKIAIOSFODNN7EXAMPLE",
            "AKIA",
            upper_digit,
            16,
            true
        ));
        assert!(!token(
            "xAKIAIOSFODNN7EXAMPLE",
            "AKIA",
            upper_digit,
            16,
            true
        ));
        assert!(!token("AKIAIOSFODNN7EXAMPL", "AKIA", upper_digit, 16, true));
        assert!(jwt(JWT));
        assert!(!jwt("eyJhbGciOiJIUzI1NiJ9"));
        assert!(!jwt("eyJhbGciOiJIUzI1NiJ9.notjson.x"));
        assert!(url_password("amqp://guest:guest@rabbit/"));
        assert!(!url_password("https://host:443/a@b"));
        assert!(!url_password("https://user:@host/"));
        // multi-byte text around a prefix does not trip the scanner
        assert_eq!(value_kind("é AKIA é"), None);
        assert_eq!(value_kind("äeyJ"), None);
    }
}
