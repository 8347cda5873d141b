//! The policy bound to a container: its profile, mode and granted exceptions are fixed at create
//! and stored with it ([`Bound`], `policy` in the state directory's `hardrun.json`); `exec` and
//! `update` are judged against them ([`judge`]), never against whatever the caller's flags,
//! environment, configuration file or program name select today.
//!
//! **Stored content, not the name.** The profile is stored as the TOML text it was used as (with
//! its sha256), and exec/update re-parse that text. Looking the name up again would let an edit of
//! `/etc/hardrun/profiles/<name>.toml` after create, or any caller's `--config`/`HARDRUN_CONFIG`
//! whose profile directory holds a file of the same name, loosen a running container. A profile
//! tightened after create does not reach running containers by itself; an operator who wants it
//! to passes it explicitly (`--profile`), which tightens (below).
//!
//! **A caller's choice can only tighten.** The stored decision runs first. A caller's profile or
//! mode that differs from the stored one is then judged on its own:
//! - it is *not at least as strict* when, for a rule the command runs, its action is weaker
//!   (audit < enforce < deny; `--mode audit` makes every action audit), or when its own decision
//!   on this request lets through more than the stored decision does (a uid 0 the stored profile
//!   moved, a capability it dropped, `noNewPrivileges` it set, a limit above it);
//! - one that is not is **not applied**: one line on stderr and a finding of rule `exception`
//!   in the audit record;
//! - one that is, and that the caller chose explicitly (`--profile`/`HARDRUN_PROFILE`,
//!   `--mode`/`HARDRUN_MODE`), runs on the stored decision's result, so the result satisfies both.
//!   Its result is checked once more field by field ([`no_looser`]); a rewrite that is not
//!   provably stricter is dropped (not applied, with the same line). A configuration's default
//!   profile or mode (`HARDRUN_CONFIG`, `--config`, a program name like `hardrun-ci`) is never
//!   applied to a running container; it only gets the line when it is weaker.
//!
//! **Records from before** (only the profile's name and sha256): the profile is looked up by name
//! where its sha256 still matches (the caller's catalog, the system's, the built-ins); otherwise
//! the system configuration's or the built-in profile of that name, else the built-in
//! `restricted` (never the caller's catalog by name alone), in mode enforce, with the grants
//! decided again from the stored spec's annotations and the identity its recorded bundle path
//! vouches for.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::exceptions::{self, Caller, Identity};
use super::rules::Granted;
use super::{annotations_of, code, evaluate, Action, Context, Finding, Outcome, PolicyDenied, Run};
use crate::profile::config::Mode;
use crate::profile::{Catalog, Profile};

/// The rules `update` is held to (an update can widen device access too).
pub const UPDATE_RULES: &[&str] = &["resources", "devices"];

/// What is fixed at create, stored as `policy` in `hardrun.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bound {
    /// the profile the container ran under (after an authorized `hardrun.dev/profile`)
    pub profile: String,
    pub profile_sha256: String,
    /// where the profile came from at create (`builtin:restricted`, a path)
    pub profile_source: String,
    /// the profile's TOML text as used; its sha256 is `profile_sha256`
    pub profile_toml: String,
    pub mode: Mode,
    /// what authorized exceptions granted
    #[serde(default)]
    pub granted: Granted,
    /// the profile's exception entries that granted it (`<profile>#<index>`)
    #[serde(default)]
    pub exceptions_used: Vec<String>,
    /// the Kubernetes identity the spec stated, and who vouched for it
    #[serde(default)]
    pub identity: Identity,
}

impl Bound {
    /// The policy `outcome` (of create/run) was decided under; `profile` is the profile it names.
    pub fn new(outcome: &Outcome, profile: &Profile) -> Bound {
        debug_assert_eq!(outcome.profile, profile.name);
        Bound {
            profile: profile.name.clone(),
            profile_sha256: profile.sha256.clone(),
            profile_source: profile.source.clone(),
            profile_toml: profile.text.clone(),
            mode: outcome.mode,
            granted: outcome.granted.clone(),
            exceptions_used: outcome.exceptions_used.clone(),
            identity: outcome.identity.clone(),
        }
    }
}

/// The policy a running container is held to, as read from its record.
#[derive(Debug, Clone)]
pub struct Stored {
    pub profile: Profile,
    pub mode: Mode,
    pub granted: Granted,
    /// a line for stderr when the record could not say exactly which profile content applied
    pub note: Option<String>,
}

/// Why the policy stored with a container cannot hold it.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    /// the stored profile text does not parse (or the built-in fallback is missing)
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    #[error("{file}: policy.profileToml is not profile {profile} with sha256 {sha256}: the stored policy was altered")]
    Altered {
        file: String,
        profile: String,
        sha256: String,
    },
}

impl Stored {
    /// The stored policy: the profile re-parsed from its stored text, which must still hash to
    /// the stored sha256 and carry the stored name (`file` names the record in errors).
    pub fn from_bound(b: &Bound, file: &str) -> Result<Stored, StoredError> {
        let profile = Profile::parse(
            &b.profile_toml,
            &format!("{file}: policy.profileToml (profile {})", b.profile),
        )?;
        if profile.sha256 != b.profile_sha256 || profile.name != b.profile {
            return Err(StoredError::Altered {
                file: file.to_owned(),
                profile: b.profile.clone(),
                sha256: b.profile_sha256.clone(),
            });
        }
        Ok(Stored {
            profile,
            mode: b.mode,
            granted: b.granted.clone(),
            note: None,
        })
    }

    /// A record written before policies were stored: the profile's `name` and `sha256` (either
    /// may be missing). `exact` are searched for that name with that sha256 (the caller's
    /// catalog may be among them: the sha256 pins the content); failing that, the profile of
    /// that name in `fallback` (the system's catalog, the built-ins: never the caller's), else
    /// the built-in `restricted`. The grants are decided again from `spec`'s annotations for the
    /// identity `caller` vouches for.
    pub fn legacy(
        name: Option<&str>,
        sha256: Option<&str>,
        exact: &[&Catalog],
        fallback: &[&Catalog],
        spec: &Value,
        caller: Caller,
        label: &str,
    ) -> Result<Stored, StoredError> {
        let pinned = name.zip(sha256).and_then(|(n, s)| {
            exact
                .iter()
                .find_map(|c| c.profiles.get(n).filter(|p| p.sha256 == s))
        });
        let (profile, note) = match pinned {
            Some(p) => (p.clone(), None),
            None => {
                let by_name = name.and_then(|n| fallback.iter().find_map(|c| c.profiles.get(n)));
                let p = match by_name {
                    Some(p) => p.clone(),
                    None => Catalog::builtin()
                        .get(crate::profile::DEFAULT_PROFILE)?
                        .clone(),
                };
                let note = format!(
                    "{label}: the container's record predates stored policies and its profile {} is not available as created; held to profile {} from {}",
                    name.unwrap_or("(unrecorded)"),
                    p.name,
                    p.source
                );
                (p, Some(note))
            }
        };
        let ann = annotations_of(spec);
        let identity = exceptions::identify(&ann, caller);
        let granted = exceptions::decide(&ann, &identity, &profile, &Catalog::builtin())
            .map(|d| d.granted)
            .unwrap_or_default();
        Ok(Stored {
            profile,
            mode: Mode::Enforce,
            granted,
            note,
        })
    }
}

/// A setting the caller asks for, and where it came from.
#[derive(Debug, Clone)]
pub struct Asked<T> {
    pub value: T,
    /// `--profile`, `HARDRUN_PROFILE`, `the program name hardrun-ci`,
    /// `default_profile in /etc/hardrun/config.toml`, …
    pub from: String,
    /// chosen for this call (flag or its environment variable), not a configured default
    pub explicit: bool,
}

/// exec/update: the policy fixed at create, and what the caller asks for.
#[derive(Debug, Clone)]
pub struct Held<'a> {
    pub profile: &'a Profile,
    pub mode: Mode,
    pub granted: &'a Granted,
    pub ask_profile: Option<Asked<&'a Profile>>,
    pub ask_mode: Option<Asked<Mode>>,
}

/// Which command is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    Exec,
    Update,
}

impl Running {
    fn command(self) -> &'static str {
        match self {
            Running::Exec => "exec",
            Running::Update => "update",
        }
    }

    /// The rules the command is held to.
    pub fn rules(self) -> &'static [&'static str] {
        match self {
            Running::Exec => super::PROCESS_RULES,
            Running::Update => UPDATE_RULES,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Running::Exec => "process",
            Running::Update => "resources",
        }
    }
}

fn rank(a: Action) -> u8 {
    match a {
        Action::Audit => 0,
        Action::Enforce => 1,
        Action::Deny => 2,
    }
}

fn effective(p: &Profile, mode: Mode, rule: &str) -> Action {
    if mode == Mode::Audit {
        Action::Audit
    } else {
        p.action(rule)
    }
}

/// The first of `rules` whose action under (`p`, `mode`) is weaker than under (`held`, `held_mode`).
fn weaker_rule<'r>(
    p: &Profile,
    mode: Mode,
    held: &Profile,
    held_mode: Mode,
    rules: &[&'r str],
) -> Option<&'r str> {
    rules
        .iter()
        .find(|r| rank(effective(p, mode, r)) < rank(effective(held, held_mode, r)))
        .copied()
}

/// Judges an exec (`{"process": …}`) or update (`{"linux": {"resources": …}}`) request against
/// the policy fixed at create, then the caller's choices (see the module documentation).
pub fn judge(
    what: Running,
    wrapped: &Value,
    spec: &Value,
    ctx: &Context,
    held: &Held,
) -> Result<Outcome, PolicyDenied> {
    let annotations = annotations_of(spec);
    let rules = what.rules();
    let eval = |profile: &Profile, mode: Mode, input: &Value| {
        evaluate(
            input,
            &Run {
                profile,
                mode,
                id: ctx.id,
                annotations: &annotations,
                granted: held.granted,
                host: ctx.host,
                only: Some(rules),
                userns: None,
                sources: ctx.sources,
                tripwires: ctx.tripwires,
            },
            vec![],
        )
    };
    let stored = eval(held.profile, held.mode, wrapped)?;

    // each setting the caller asks for: refused (weaker), applied (explicit), or left alone
    let mut refused: Vec<(String, Value)> = vec![];
    let mut apply_profile: Option<&Profile> = None;
    let mut apply_mode: Option<Mode> = None;
    if let Some(a) = &held.ask_profile {
        if a.value.sha256 != held.profile.sha256 {
            let weaker = weaker_rule(a.value, held.mode, held.profile, held.mode, rules).is_some()
                || eval(a.value, held.mode, wrapped)
                    .is_ok_and(|o| !no_looser(what, &o.value, &stored.value));
            if weaker {
                refused.push((
                    format!(
                        "profile {} from {} (not at least as strict)",
                        a.value.name, a.from
                    ),
                    json!({"profile": a.value.name, "from": a.from}),
                ));
            } else if a.explicit {
                apply_profile = Some(a.value);
            }
        }
    }
    if let Some(a) = &held.ask_mode {
        if a.value != held.mode {
            if weaker_rule(held.profile, a.value, held.profile, held.mode, rules).is_some() {
                refused.push((
                    format!("mode {} from {} (it only records)", a.value, a.from),
                    json!({"mode": a.value.to_string(), "from": a.from}),
                ));
            } else if a.explicit {
                apply_mode = Some(a.value);
            }
        }
    }

    let mut out = stored.clone();
    let mut by = vec![held.profile.name.clone()];
    if apply_profile.is_some() || apply_mode.is_some() {
        let p = apply_profile.unwrap_or(held.profile);
        let m = apply_mode.unwrap_or(held.mode);
        let tightened = eval(p, m, &stored.value).map_err(|mut d| {
            d.findings.splice(0..0, stored.findings.iter().cloned());
            d
        })?;
        if no_looser(what, &tightened.value, &stored.value) {
            out.value = tightened.value;
            out.findings.extend(tightened.findings);
            out.mode = m;
            if p.name != held.profile.name {
                by.push(p.name.clone());
            }
        } else {
            let from: Vec<&str> = [
                apply_profile.and(held.ask_profile.as_ref().map(|a| a.from.as_str())),
                apply_mode.and(held.ask_mode.as_ref().map(|a| a.from.as_str())),
            ]
            .into_iter()
            .flatten()
            .collect();
            refused.push((
                format!(
                    "profile {} (mode {m}) from {} (its rewrite is not provably at least as strict)",
                    p.name,
                    from.join(" and ")
                ),
                json!({"profile": p.name, "mode": m.to_string()}),
            ));
        }
    }

    let label = format!("{} {:?}", what.command(), ctx.id);
    let held_as = json!({"profile": held.profile.name, "mode": held.mode.to_string()});
    let info = code::info(code::codes::exception).expect("a registered code");
    let mut notices = vec![];
    if !refused.is_empty() {
        for (text, before) in &refused {
            out.findings.push(Finding {
                code: info.code.to_owned(),
                cis: vec![],
                severity: info.severity,
                action: Action::Enforce,
                pointer: String::new(),
                before: before.clone(),
                after: held_as.clone(),
                message: format!(
                    "{label}: {text} not applied: the container is held to profile {} (mode {}) fixed at create",
                    held.profile.name, held.mode
                ),
            });
        }
        notices.push(format!(
            "{label}: held to profile {} (mode {}) fixed at create; not applied: {}",
            held.profile.name,
            held.mode,
            refused
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let changes: Vec<&str> = out
        .findings
        .iter()
        .filter(|f| f.action == Action::Enforce && !f.pointer.is_empty() && f.before != f.after)
        .map(|f| f.message.as_str())
        .collect();
    if !changes.is_empty() {
        notices.push(format!(
            "{label}: profile {} changed the {}: {}",
            by.join(" and "),
            what.what(),
            changes.join("; ")
        ));
    }
    out.notices = notices;
    out.profile = held.profile.name.clone();
    out.profile_sha256 = held.profile.sha256.clone();
    out.granted = held.granted.clone();
    Ok(out)
}

/// Whether `a` (a request after some decision) lets the container do nothing that `b` does not:
/// the field-by-field check that makes "a caller's choice can only tighten" hold whatever the
/// rules do. Anything it does not understand must be equal.
pub fn no_looser(what: Running, a: &Value, b: &Value) -> bool {
    match what {
        Running::Exec => {
            others_equal(a, b, "process")
                && process_no_looser(
                    a.get("process").unwrap_or(&Value::Null),
                    b.get("process").unwrap_or(&Value::Null),
                )
        }
        Running::Update => {
            let ra = a.pointer("/linux/resources").unwrap_or(&Value::Null);
            let rb = b.pointer("/linux/resources").unwrap_or(&Value::Null);
            let strip_linux = |v: &Value| {
                let mut v = v.clone();
                if let Some(l) = v.get_mut("linux").and_then(Value::as_object_mut) {
                    l.remove("resources");
                }
                v
            };
            strip_linux(a) == strip_linux(b) && resources_no_looser(ra, rb)
        }
    }
}

/// The top-level keys of `a` and `b` but `key` are equal.
fn others_equal(a: &Value, b: &Value, key: &str) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove(key);
        }
        v
    };
    strip(a) == strip(b)
}

fn set_at(v: &Value, ptr: &str) -> Option<std::collections::BTreeSet<String>> {
    v.pointer(ptr).map(|s| {
        s.as_array()
            .into_iter()
            .flatten()
            .map(|x| x.to_string())
            .collect()
    })
}

fn process_no_looser(a: &Value, b: &Value) -> bool {
    const TIGHTENED: &[&str] = &[
        "/user/uid",
        "/user/gid",
        "/user/additionalGids",
        "/capabilities",
        "/noNewPrivileges",
        "/env",
    ];
    let strip = |v: &Value| {
        let mut v = v.clone();
        for p in TIGHTENED {
            let (parent, key) = p.rsplit_once('/').unwrap_or(("", p));
            if let Some(o) = v.pointer_mut(parent).and_then(Value::as_object_mut) {
                o.remove(key);
            }
        }
        v
    };
    if strip(a) != strip(b) {
        return false;
    }
    // an id may stay, or leave 0; never become 0 or another id
    let id = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    for p in ["/user/uid", "/user/gid"] {
        let (x, y) = (id(a, p), id(b, p));
        if !(x == y || (y == 0 && x != 0)) {
            return false;
        }
    }
    // absent groups and variables are none
    let subset = |p: &str| match (set_at(a, p), set_at(b, p)) {
        (None, _) => true,
        (Some(x), Some(y)) => x.is_subset(&y),
        (Some(x), None) => x.is_empty(),
    };
    if !subset("/user/additionalGids") || !subset("/env") {
        return false;
    }
    // capabilities as libcontainer applies them: no `capabilities` object changes nothing (the
    // runtime's own, all of root's); an absent bounding set is empty; any other absent set is
    // left as the runtime's own (`None`)
    let caps = |v: &Value, set: &str| -> Option<std::collections::BTreeSet<String>> {
        v.get("capabilities")?;
        match set_at(v, &format!("/capabilities/{set}")) {
            Some(s) => Some(s),
            None if set == "bounding" => Some(Default::default()),
            None => None,
        }
    };
    for set in [
        "bounding",
        "effective",
        "inheritable",
        "permitted",
        "ambient",
    ] {
        let ok = match (caps(a, set), caps(b, set)) {
            (Some(x), Some(y)) => x.is_subset(&y),
            (None, None) => true,
            (None, Some(_)) => false,
            (Some(x), None) => match set {
                // capset only lowers these: any set is within the runtime's own
                "effective" | "permitted" => true,
                // the kernel raises an ambient capability only if it is inheritable: b's
                // inheritable set holds at least b's ambient set
                "inheritable" => caps(b, "ambient").map_or(x.is_empty(), |amb| x.is_subset(&amb)),
                _ => x.is_empty(),
            },
        };
        if !ok {
            return false;
        }
    }
    let nnp = |v: &Value| v.get("noNewPrivileges").and_then(Value::as_bool) == Some(true);
    !nnp(b) || nnp(a)
}

/// A limit of an update request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lim {
    /// absent, null or 0: the current value stays
    Unset,
    Unlimited,
    Set(u64),
}

fn limit(r: &Value, ctl: &str, key: &str) -> Lim {
    let lim = match r.get(ctl).and_then(|c| c.get(key)) {
        None | Some(Value::Null) => Lim::Unset,
        Some(v) => match (v.as_i64(), v.as_u64()) {
            (Some(0), _) => Lim::Unset,
            (Some(n), _) if n < 0 => Lim::Unlimited,
            (_, Some(n)) => Lim::Set(n),
            _ => Lim::Unlimited, // not a number: assume the worst
        },
    };
    // libcgroups writes "max" for a pids object whose limit is 0 or absent
    if ctl == "pids" && key == "limit" && lim == Lim::Unset && r.get("pids").is_some() {
        return Lim::Unlimited;
    }
    lim
}

/// The limits of an update where lower is stricter.
const LIMITS: &[(&str, &str)] = &[
    ("memory", "limit"),
    ("memory", "reservation"),
    ("memory", "swap"),
    ("memory", "kernel"),
    ("memory", "kernelTCP"),
    ("cpu", "quota"),
    ("cpu", "shares"),
    ("cpu", "realtimeRuntime"),
    ("pids", "limit"),
];

fn resources_no_looser(a: &Value, b: &Value) -> bool {
    for (ctl, key) in LIMITS {
        let ok = match (limit(a, ctl, key), limit(b, ctl, key)) {
            (x, y) if x == y => true,
            (Lim::Set(x), Lim::Set(y)) => x <= y,
            (Lim::Set(_), Lim::Unlimited) => true,
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    // everything else (devices, cpusets, periods, unified, …) must be equal
    let strip = |v: &Value| {
        let mut v = v.clone();
        for (ctl, key) in LIMITS {
            if let Some(c) = v.get_mut(*ctl).and_then(Value::as_object_mut) {
                c.remove(*key);
            }
        }
        if let Some(o) = v.as_object_mut() {
            o.retain(|_, c| !c.as_object().is_some_and(|c| c.is_empty()));
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rules::TestHost;
    use crate::profile::config::Config;

    fn config() -> Config {
        Config {
            path: "/etc/hardrun/config.toml".into(),
            default_profile: "restricted".into(),
            mode: Mode::Enforce,
            audit_log: None,
            audit_rotation: Default::default(),
            audit_key: Default::default(),
            incidents_dir: Default::default(),
            retention: Default::default(),
            catalog: Catalog::builtin(),
            monitor: Default::default(),
            scan_reports_dir: Default::default(),
        }
    }

    fn ctx<'a>(config: &'a Config, held: Held<'a>) -> Context<'a> {
        Context {
            id: "c1",
            bundle: std::path::Path::new("/b"),
            config,
            profile: None,
            mode: None,
            host: &TestHost,
            userns: None,
            caller: Caller::Other,
            held: Some(held),
            sources: crate::bundle::Sources::none(),
            tripwires: None,
            state_root: None,
        }
    }

    fn asked<T>(value: T, from: &str, explicit: bool) -> Option<Asked<T>> {
        Some(Asked {
            value,
            from: from.into(),
            explicit,
        })
    }

    /// `exec --user 0:0 --cap CAP_SYS_ADMIN` on a process restricted has hardened.
    fn root_process() -> Value {
        let caps = json!(["CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"]);
        json!({"process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "noNewPrivileges": true}})
    }

    #[test]
    fn a_weaker_profile_or_mode_is_not_applied_whatever_its_source() {
        let config = config();
        let cat = &config.catalog;
        let restricted = cat.get("restricted").unwrap();
        let granted = Granted::default();
        // a `restricted` of the caller's own (same name, other content) that enforces nothing
        let mut fake = Profile::parse(
            "name = \"restricted\"\n[rules]\nuser = \"audit\"\n",
            "/tmp/x/restricted.toml",
        )
        .unwrap();
        fake.source = "/tmp/x/restricted.toml".into();
        for (ask_profile, ask_mode, from) in [
            (
                asked(cat.get("permissive").unwrap(), "--profile", true),
                None,
                "--profile",
            ),
            (
                asked(cat.get("baseline").unwrap(), "HARDRUN_PROFILE", true),
                None,
                "HARDRUN_PROFILE",
            ),
            (asked(&fake, "--profile", true), None, "--profile"),
            (None, asked(Mode::Audit, "--mode", true), "--mode"),
            (
                asked(
                    cat.get("baseline").unwrap(),
                    "the program name hardrun-baseline",
                    false,
                ),
                None,
                "hardrun-baseline",
            ),
            (
                None,
                asked(Mode::Audit, "mode in /x/config.toml", false),
                "/x/config.toml",
            ),
        ] {
            let held = Held {
                profile: restricted,
                mode: Mode::Enforce,
                granted: &granted,
                ask_profile,
                ask_mode,
            };
            let c = ctx(&config, held.clone());
            let out = judge(Running::Exec, &root_process(), &json!({}), &c, &held).unwrap();
            let p = &out.value["process"];
            assert_eq!(p["user"]["uid"], 65534, "{from}");
            assert_eq!(
                p["capabilities"]["bounding"],
                json!(["CAP_NET_BIND_SERVICE"]),
                "{from}"
            );
            assert_eq!(out.profile, "restricted");
            assert_eq!(out.mode, Mode::Enforce);
            assert_eq!(out.notices.len(), 2, "{from}: {:?}", out.notices);
            assert!(
                out.notices[0].starts_with("exec \"c1\": held to profile restricted (mode enforce) fixed at create; not applied: ")
                    && out.notices[0].contains(from),
                "{}",
                out.notices[0]
            );
            assert!(
                out.notices[1].starts_with("exec \"c1\": profile restricted changed the process: process runs as uid 0; moved to uid 65534"),
                "{}",
                out.notices[1]
            );
            let refusal = out.findings.iter().find(|f| f.code == "exception").unwrap();
            assert!(refusal.message.contains(from), "{}", refusal.message);
            assert_eq!(
                refusal.after,
                json!({"profile": "restricted", "mode": "enforce"})
            );
        }
    }

    #[test]
    fn a_stricter_explicit_choice_tightens_and_an_implicit_one_is_left_alone() {
        let config = config();
        let cat = &config.catalog;
        let baseline = cat.get("baseline").unwrap();
        let granted = Granted::default();
        // created under baseline: --profile ci-runner (explicit, stricter) applies on top
        for (explicit, want_uid, want_caps) in [
            (true, json!(65534), json!([])),
            (false, json!(0), json!(["CAP_NET_BIND_SERVICE"])),
        ] {
            let held = Held {
                profile: baseline,
                mode: Mode::Enforce,
                granted: &granted,
                ask_profile: asked(cat.get("ci-runner").unwrap(), "--profile", explicit),
                ask_mode: None,
            };
            let c = ctx(&config, held.clone());
            let out = judge(Running::Exec, &root_process(), &json!({}), &c, &held).unwrap();
            let p = &out.value["process"];
            assert_eq!(p["user"]["uid"], want_uid, "explicit {explicit}");
            assert_eq!(
                p["capabilities"]["bounding"], want_caps,
                "explicit {explicit}"
            );
            assert!(
                out.notices.iter().all(|n| !n.contains("not applied")),
                "{:?}",
                out.notices
            );
            assert_eq!(out.profile, "baseline");
            if explicit {
                assert!(
                    out.notices
                        .last()
                        .unwrap()
                        .contains("profile baseline and ci-runner changed the process"),
                    "{:?}",
                    out.notices
                );
            }
        }
        // created in audit mode: --mode enforce (explicit) enforces
        let restricted = cat.get("restricted").unwrap();
        let held = Held {
            profile: restricted,
            mode: Mode::Audit,
            granted: &granted,
            ask_profile: None,
            ask_mode: asked(Mode::Enforce, "--mode", true),
        };
        let c = ctx(&config, held.clone());
        let out = judge(Running::Exec, &root_process(), &json!({}), &c, &held).unwrap();
        assert_eq!(out.value["process"]["user"]["uid"], 65534);
        assert_eq!(out.mode, Mode::Enforce);
    }

    #[test]
    fn the_same_profile_and_mode_print_only_the_rewrites() {
        let config = config();
        let restricted = config.catalog.get("restricted").unwrap();
        let granted = Granted::default();
        let held = Held {
            profile: restricted,
            mode: Mode::Enforce,
            granted: &granted,
            ask_profile: asked(restricted, "--profile", true),
            ask_mode: asked(Mode::Enforce, "mode in /etc/hardrun/config.toml", false),
        };
        let c = ctx(&config, held.clone());
        let out = judge(Running::Exec, &root_process(), &json!({}), &c, &held).unwrap();
        assert_eq!(out.notices.len(), 1, "{:?}", out.notices);
        assert!(out.findings.iter().all(|f| f.code != "exception"));
        // a request the profile leaves alone prints nothing
        let out = judge(Running::Exec, &out.value, &json!({}), &c, &held).unwrap();
        assert!(out.notices.is_empty(), "{:?}", out.notices);
    }

    #[test]
    fn grants_stored_at_create_hold_for_exec() {
        let config = config();
        let restricted = config.catalog.get("restricted").unwrap();
        let granted = Granted {
            allow_root: true,
            ..Default::default()
        };
        let held = Held {
            profile: restricted,
            mode: Mode::Enforce,
            granted: &granted,
            ask_profile: None,
            ask_mode: None,
        };
        let c = ctx(&config, held.clone());
        let out = judge(Running::Exec, &root_process(), &json!({}), &c, &held).unwrap();
        assert_eq!(out.value["process"]["user"]["uid"], 0);
        assert_eq!(
            out.value["process"]["capabilities"]["bounding"],
            json!(["CAP_NET_BIND_SERVICE"])
        );
        assert_eq!(out.granted, granted);
    }

    #[test]
    fn update_under_a_weaker_profile_keeps_the_stored_ceilings() {
        let config = config();
        let cat = &config.catalog;
        let granted = Granted::default();
        let held = Held {
            profile: cat.get("restricted").unwrap(),
            mode: Mode::Enforce,
            granted: &granted,
            ask_profile: asked(cat.get("permissive").unwrap(), "--profile", true),
            ask_mode: None,
        };
        let c = ctx(&config, held.clone());
        let req = json!({"linux": {"resources": {"memory": {"limit": -1}, "pids": {"limit": -1}}}});
        let out = judge(Running::Update, &req, &json!({}), &c, &held).unwrap();
        let r = &out.value["linux"]["resources"];
        assert_eq!(r["memory"]["limit"], 8u64 << 30);
        assert_eq!(r["pids"]["limit"], 8192);
        assert_eq!(out.notices.len(), 2, "{:?}", out.notices);
        assert!(
            out.notices[0].starts_with("update \"c1\": held to profile restricted"),
            "{:?}",
            out.notices
        );
        assert!(
            out.notices[1].starts_with("update \"c1\": profile restricted changed the resources: "),
            "{:?}",
            out.notices
        );
    }

    #[test]
    fn no_looser_tables() {
        let p = |v: Value| json!({"process": v});
        let caps = |c: &[&str]| json!({"bounding": c, "effective": c, "permitted": c});
        let base = json!({"args": ["sh"], "user": {"uid": 65534, "gid": 65534, "additionalGids": [10]},
            "capabilities": caps(&["CAP_NET_BIND_SERVICE"]), "noNewPrivileges": true, "env": ["A=1"]});
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = base.clone();
            f(&mut v);
            p(v)
        };
        let b = p(base.clone());
        for (a, want, why) in [
            (b.clone(), true, "equal"),
            (
                with(&|v| v["capabilities"] = caps(&[])),
                true,
                "fewer capabilities",
            ),
            (
                with(&|v| v["capabilities"] = caps(&["CAP_NET_BIND_SERVICE", "CAP_KILL"])),
                false,
                "a capability more",
            ),
            (
                with(&|v| {
                    v["capabilities"]
                        .as_object_mut()
                        .unwrap()
                        .remove("effective");
                }),
                false,
                "an absent effective set is the runtime's own",
            ),
            (
                with(&|v| {
                    v["capabilities"]
                        .as_object_mut()
                        .unwrap()
                        .remove("bounding");
                }),
                true,
                "an absent bounding set is empty",
            ),
            (
                with(&|v| v["capabilities"]["inheritable"] = json!([])),
                true,
                "an inheritable set where the runtime's stood",
            ),
            (
                with(&|v| {
                    v.as_object_mut().unwrap().remove("capabilities");
                }),
                false,
                "absent capabilities",
            ),
            (
                with(&|v| v["capabilities"]["ambient"] = json!(["CAP_NET_BIND_SERVICE"])),
                false,
                "ambient raised",
            ),
            (with(&|v| v["user"]["uid"] = json!(0)), false, "root"),
            (
                with(&|v| v["user"]["uid"] = json!(1000)),
                false,
                "another uid",
            ),
            (
                with(&|v| v["user"]["additionalGids"] = json!([])),
                true,
                "fewer groups",
            ),
            (
                with(&|v| v["user"]["additionalGids"] = json!([10, 0])),
                false,
                "group 0",
            ),
            (
                with(&|v| v["noNewPrivileges"] = json!(false)),
                false,
                "privileges",
            ),
            (with(&|v| v["env"] = json!([])), true, "a variable removed"),
            (
                with(&|v| v["args"] = json!(["bash"])),
                false,
                "another command",
            ),
            (
                with(&|v| v["apparmorProfile"] = json!("unconfined")),
                false,
                "an unknown field",
            ),
        ] {
            assert_eq!(no_looser(Running::Exec, &a, &b), want, "{why}");
        }
        // leaving root is tighter
        let rootb = with(&|v| v["user"]["uid"] = json!(0));
        assert!(no_looser(Running::Exec, &b, &rootb));
        assert!(!no_looser(
            Running::Exec,
            &json!({"process": base, "linux": {"seccomp": {}}}),
            &b
        ));

        let r = |v: Value| json!({"linux": {"resources": v}});
        let b = r(json!({"memory": {"limit": 1000, "swap": 1000}, "pids": {"limit": 100}}));
        for (a, want, why) in [
            (b.clone(), true, "equal"),
            (
                r(json!({"memory": {"limit": 500, "swap": 1000}, "pids": {"limit": 100}})),
                true,
                "lower",
            ),
            (
                r(json!({"memory": {"limit": 2000, "swap": 1000}, "pids": {"limit": 100}})),
                false,
                "higher",
            ),
            (
                r(json!({"memory": {"limit": -1, "swap": 1000}, "pids": {"limit": 100}})),
                false,
                "unlimited",
            ),
            (
                r(json!({"memory": {"swap": 1000}, "pids": {"limit": 100}})),
                false,
                "dropped: stays at the current value",
            ),
            (
                r(json!({"memory": {"limit": 1000, "swap": 1000}, "pids": {}})),
                false,
                "a pids object without a limit is max",
            ),
            (
                r(
                    json!({"memory": {"limit": 1000, "swap": 1000}, "pids": {"limit": 100}, "devices": [{"allow": true, "access": "rwm"}]}),
                ),
                false,
                "devices",
            ),
            (
                r(
                    json!({"memory": {"limit": 1000, "swap": 1000}, "pids": {"limit": 100}, "cpu": {"quota": 1000}}),
                ),
                false,
                "a limit the stored decision left alone",
            ),
        ] {
            assert_eq!(no_looser(Running::Update, &a, &b), want, "{why}");
        }
        let unlimited = r(json!({"pids": {"limit": -1}}));
        assert!(no_looser(
            Running::Update,
            &r(json!({"pids": {"limit": 5}})),
            &unlimited
        ));
    }

    #[test]
    fn the_stored_profile_must_hash_to_its_sha256() {
        let p = Catalog::builtin().get("restricted").unwrap().clone();
        let out = Outcome {
            profile: "restricted".into(),
            profile_sha256: p.sha256.clone(),
            ..Default::default()
        };
        let mut b = Bound::new(&out, &p);
        let s = Stored::from_bound(&b, "/run/hardrun/c1/hardrun.json").unwrap();
        assert_eq!(s.profile.sha256, p.sha256);
        assert_eq!(s.profile.name, "restricted");
        b.profile_toml = b
            .profile_toml
            .replace("user = \"enforce\"", "user = \"audit\"");
        let e = Stored::from_bound(&b, "/run/hardrun/c1/hardrun.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/run/hardrun/c1/hardrun.json: policy.profileToml is not profile restricted with sha256"),
            "{e}"
        );
        // round trip through JSON
        let b = Bound::new(&out, &p);
        let text = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Bound>(&text).unwrap(), b);
    }

    #[test]
    fn a_legacy_record_is_pinned_by_sha256_never_by_the_callers_name() {
        let builtin = Catalog::builtin();
        let restricted = builtin.get("restricted").unwrap();
        // the caller's catalog has a `restricted` of its own
        let mut caller = Catalog::builtin();
        let loose = Profile::parse("name = \"restricted\"\n", "/tmp/x/restricted.toml").unwrap();
        caller.profiles.insert("restricted".into(), loose.clone());
        let spec = json!({"annotations": {"io.kubernetes.cri.sandbox-namespace": "kube-system", "hardrun.dev/allow-root": "true"}});
        // name and sha: the built-in with that content
        let s = Stored::legacy(
            Some("restricted"),
            Some(&restricted.sha256),
            &[&caller, &builtin],
            &[&builtin],
            &spec,
            Caller::Other,
            "exec \"c1\"",
        )
        .unwrap();
        assert_eq!(s.profile.sha256, restricted.sha256);
        assert!(s.note.is_none());
        assert_eq!(s.mode, Mode::Enforce);
        assert!(!s.granted.allow_root);
        // a sha256 nobody has: the fallback by name, with a note
        let s = Stored::legacy(
            Some("restricted"),
            Some("00"),
            &[&caller, &builtin],
            &[&builtin],
            &spec,
            Caller::Other,
            "exec \"c1\"",
        )
        .unwrap();
        assert_eq!(s.profile.sha256, restricted.sha256);
        assert!(s
            .note
            .as_deref()
            .unwrap()
            .contains("held to profile restricted from builtin:restricted"));
        // the caller's content is used only when it is the content recorded
        let s = Stored::legacy(
            Some("restricted"),
            Some(&loose.sha256),
            &[&caller, &builtin],
            &[&builtin],
            &spec,
            Caller::Other,
            "exec \"c1\"",
        )
        .unwrap();
        assert_eq!(s.profile.sha256, loose.sha256);
        // nothing recorded: built-in restricted
        let s = Stored::legacy(
            None,
            None,
            &[&caller],
            &[&builtin],
            &spec,
            Caller::Other,
            "exec \"c1\"",
        )
        .unwrap();
        assert_eq!(s.profile.name, "restricted");
        assert!(s.note.is_some());
    }
}
