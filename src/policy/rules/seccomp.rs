//! `seccomp` (CIS 5.22): every container runs under a seccomp filter at least as strict as
//! Docker's default.
//!
//! hardrun's default profile is `profiles/seccomp-default.json`, compiled in. It is an OCI
//! `linux.seccomp` document plus a few hardrun keys (`comment`, `archMap`, `knownAction` and
//! `knownErrnoRet`, and per entry `when` and `unless` conditions on the container's capabilities
//! and architecture). It is rendered per container — the host's architecture and the companions
//! `archMap` gives it (none in the default), the final bounding set (this rule runs after
//! `capabilities`) — into a plain OCI object that libcontainer runs.
//!
//! Errnos, as runc gives them: a syscall the profile does not name at all (newer than the
//! profile, or a number no kernel has) gets the default action, ENOSYS in the default profile,
//! so that libc falls back to an older call; a syscall the profile names and does not allow gets
//! EPERM (`knownAction`/`knownErrnoRet`: the rendering lists every named syscall that no applying
//! entry names — a capability or architecture condition not met — in one rule with that answer),
//! or the errno its own entry gives. libcontainer has no equivalent of runc's BPF patch for
//! syscalls newer than the profile, so the distinction is written into the OCI object itself.
//! A rule that repeats the default's answer is left out of the rendering (libcontainer would skip
//! it with a warning); its names still count as named.
//!
//! The default profile is at least as strict as Docker's for every capability set: whatever
//! Docker's profile blocks, on any kernel, it blocks too (tests/seccomp_profile.rs evaluates both
//! compiled filters). Where Docker's answer depends on the kernel (`ptrace` and `process_vm_*`,
//! allowed to everyone from 4.8 on, to CAP_SYS_PTRACE holders before), it takes the stricter one.
//!
//! Decisions:
//! - no `linux.seccomp`: the rendered default is set;
//! - a profile that is not a valid OCI seccomp object, that is unconfined (an allowing default
//!   action and no refusing rule), or that is *weaker* than the rendered default: replaced;
//! - anything else (Docker's or containerd's default, a tailored profile) is kept, only its
//!   masked comparisons are rewritten for libcontainer (below).
//!
//! *Weaker* is decided cheaply on a fixed list, [`DANGEROUS`]: the caller's profile allows one
//! of those syscalls without condition (a rule with an allowing action — `SCMP_ACT_ALLOW`,
//! `SCMP_ACT_LOG`, `SCMP_ACT_TRACE` — and no `args`, or an allowing default action and no
//! unconditional refusing rule for it) while the rendered default does not. Rules with `args` are
//! taken as conditional, unless every comparison is a masked one with a zero mask. Narrowings the
//! default makes on top of that (socket families, personality values) are not compared, and
//! neither are `ptrace` and `process_vm_*` (Docker's profile allows them on current kernels), so
//! Docker's own profile passes.
//!
//! `profile.seccomp.profile` may name an absolute path instead of `default`. Rules never touch
//! the disk: the engine (or the profile loader) reads such a file with [`preload`], and the rule
//! then finds it in memory; a path that was not preloaded refuses the container rather than
//! running it unconfined.
//!
//! libcontainer 0.7 reads `SCMP_CMP_MASKED_EQ` the other way round from runc and the OCI spec:
//! it takes `valueTwo` as the mask and `value` as the expected result, and libseccomp masks the
//! expected result too. Docker's `clone` rule (`value` 0x7E020000, no `valueTwo`) thus becomes
//! `(flags & 0) == 0` under libcontainer and lets every `clone` through, namespaces included
//! (tests/seccomp_profile.rs shows it on the kernel). So:
//! - the template is written in the OCI dialect, and the rendering, which only libcontainer
//!   runs, in libcontainer's ([`libcontainer_compat`] swaps `value` and `valueTwo`);
//! - a caller's masked comparison in the OCI dialect (`valueTwo`'s bits a strict subset of
//!   `value`'s, as in Docker's and containerd's profiles) is a finding: it is rewritten into
//!   libcontainer's dialect, and the rest of the caller's profile is kept;
//! - when judging a caller's profile, a masked comparison with a zero mask (as libcontainer reads
//!   it) counts as no condition at all.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use libcontainer::oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Proposal, Rule, RuleCtx, strings};
use crate::policy::edit::Edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "a seccomp filter at least as strict as Docker's default is applied",
    severity: Severity::High,
    process: false,
    evaluate: Some(evaluate),
};

const PTR: &str = "/linux/seccomp";

/// hardrun's default profile (a template; see the module documentation).
pub const BUILTIN_JSON: &str = include_str!("../../../profiles/seccomp-default.json");

/// Syscalls whose unconditional allowance, where hardrun's default refuses them for the
/// container, makes a caller's profile weaker than the default: mounts and namespaces, kernel
/// keyrings, bpf and perf, io_uring and userfaultfd, modules and kexec, handles, other processes'
/// resources, swap, reboot, the kernel log, accounting, the clock, raw i/o, quotas, numa policy
/// and legacy interfaces.
pub const DANGEROUS: &[&str] = &[
    "mount",
    "umount",
    "umount2",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "clone",
    "clone3",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "open_by_handle_at",
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "acct",
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    "iopl",
    "ioperm",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    "fanotify_init",
    "vhangup",
    "move_pages",
    "migrate_pages",
    "mbind",
    "set_mempolicy",
    "uselib",
    "nfsservctl",
    "_sysctl",
    "vm86",
    "vm86old",
];

// ---------------------------------------------------------------------------------------------
// the template

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TemplateFile {
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<Value>,
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    /// what a syscall the template names gets when no rule of the rendering allows it (a
    /// capability or architecture condition not met); without it, such a syscall gets the default
    #[serde(default)]
    known_action: Option<LinuxSeccompAction>,
    #[serde(default)]
    known_errno_ret: Option<u32>,
    /// main architecture → companion architectures
    #[serde(default)]
    arch_map: BTreeMap<String, Vec<String>>,
    /// a plain OCI profile's fixed list, used instead of the host's architecture and `archMap`
    #[serde(default)]
    architectures: Option<Vec<Arch>>,
    #[serde(default)]
    flags: Option<Vec<LinuxSeccompFilterFlag>>,
    syscalls: Vec<EntryFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EntryFile {
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<Value>,
    names: Vec<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    when: Cond,
    #[serde(default)]
    unless: Cond,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct Cond {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
}

#[derive(Debug)]
struct Entry {
    /// the plain OCI syscall rule, ready to copy into a rendering
    rule: Value,
    /// the rule repeats the default's answer: libcontainer would skip it (with a warning), so
    /// the rendering leaves it out; its names still count as named
    redundant: bool,
    /// all of `when.caps` in the bounding set; the architecture one of `when.arches` (if any)
    when: Cond,
    /// none of `unless.caps` in the bounding set; the architecture none of `unless.arches`
    unless: Cond,
}

impl Entry {
    fn applies(&self, arch: &str, caps: &[String]) -> bool {
        let has = |c: &String| caps.contains(c);
        self.when.caps.iter().all(has)
            && (self.when.arches.is_empty() || self.when.arches.iter().any(|a| a == arch))
            && !self.unless.caps.iter().any(has)
            && !self.unless.arches.iter().any(|a| a == arch)
    }
}

/// A parsed seccomp template, rendered per container with [`Template::render`].
#[derive(Debug)]
pub struct Template {
    default_action: Value,
    default_errno_ret: Option<u32>,
    /// `knownAction`/`knownErrnoRet`, as a rule without names
    known_rule: Option<Map<String, Value>>,
    /// every name of every entry, in order, once
    names: Vec<String>,
    arch_map: HashMap<String, Vec<String>>,
    architectures: Option<Value>,
    flags: Option<Value>,
    entries: Vec<Entry>,
    /// every capability a condition names: only these tell renderings apart
    cond_caps: BTreeSet<String>,
    /// renderings by architecture and the condition capabilities in the bounding set
    cache: Mutex<HashMap<RenderKey, Arc<Rendered>>>,
}

/// (architecture, the condition capabilities in the bounding set)
type RenderKey = (String, Vec<String>);

/// A rendering, with which of [`DANGEROUS`] it allows without condition.
#[derive(Debug)]
struct Rendered {
    value: Value,
    allows: Vec<bool>,
}

/// Renderings kept per template; more distinct (architecture, capabilities) pairs than this in
/// one process start the cache afresh.
const CACHE_MAX: usize = 64;

fn check_arch(a: &str) -> Result<(), String> {
    serde_json::from_value::<Arch>(Value::from(a))
        .map(|_| ())
        .map_err(|_| format!("unknown seccomp architecture {a:?}"))
}

/// (action, errno) as libcontainer 0.7 loads them: an errno-carrying action without one gets
/// EPERM.
fn loaded(action: LinuxSeccompAction, errno: Option<u32>) -> (LinuxSeccompAction, Option<u32>) {
    match action {
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace => {
            (action, Some(errno.unwrap_or(1)))
        }
        _ => (action, None),
    }
}

fn check_caps(caps: &[String]) -> Result<(), String> {
    match caps.iter().find(|c| !c.starts_with("CAP_")) {
        Some(c) => Err(format!("capability {c:?} does not start with CAP_")),
        None => Ok(()),
    }
}

impl Template {
    /// Parses a template (or a plain OCI `linux.seccomp` object, which is one without
    /// conditions); `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Template, String> {
        let file: TemplateFile = serde_json::from_str(text)
            .map_err(|e| format!("{source}: invalid seccomp profile: {e}"))?;
        Self::of_file(file, source)
    }

    /// The built-in template from build.rs's parts (`None` where there are none or they do not
    /// parse): each piece read with the template's own types, the names put back in order.
    fn of_parts(parts: &SeccompParts, source: &str) -> Option<Template> {
        let mut file: TemplateFile = serde_json::from_str(parts.head).ok()?;
        file.syscalls.reserve(parts.entries.len());
        for (names, rest) in parts.entries {
            let mut e: EntryFile = serde_json::from_str(rest).ok()?;
            e.names = names.iter().map(|n| (*n).to_owned()).collect();
            file.syscalls.push(e);
        }
        Self::of_file(file, source).ok()
    }

    fn of_file(file: TemplateFile, source: &str) -> Result<Template, String> {
        let err = |e: String| format!("{source}: {e}");
        for (main, companions) in &file.arch_map {
            check_arch(main).map_err(err)?;
            for c in companions {
                check_arch(c).map_err(err)?;
            }
        }
        let default = loaded(file.default_action, file.default_errno_ret);
        let mut entries = Vec::with_capacity(file.syscalls.len() + 2);
        // every name once, in order (the set borrows them: one copy of each, not two)
        let names: Vec<String> = {
            let mut seen: HashSet<&str> = HashSet::new();
            let all = file.syscalls.iter().flat_map(|e| &e.names);
            all.filter(|n| seen.insert(n.as_str())).cloned().collect()
        };
        for (i, e) in file.syscalls.into_iter().enumerate() {
            if e.names.is_empty() {
                return Err(format!("{source}: syscalls[{i}] names no syscall"));
            }
            let redundant = loaded(e.action, e.errno_ret) == default;
            for c in [&e.when, &e.unless] {
                check_caps(&c.caps).map_err(err)?;
                for a in &c.arches {
                    check_arch(a).map_err(err)?;
                }
            }
            // the OCI rule, built by moving the names (no second copy of ~400 strings)
            let mut rule = Map::new();
            rule.insert(
                "names".into(),
                Value::Array(e.names.into_iter().map(Value::String).collect()),
            );
            rule.insert(
                "action".into(),
                serde_json::to_value(e.action).map_err(|e| err(e.to_string()))?,
            );
            if let Some(n) = e.errno_ret {
                rule.insert("errnoRet".into(), n.into());
            }
            if let Some(args) = e.args {
                let mut args = serde_json::to_value(args).map_err(|e| err(e.to_string()))?;
                for a in args.as_array_mut().into_iter().flatten() {
                    if let Some(swapped) = oci_to_libcontainer(a) {
                        *a = swapped;
                    }
                }
                rule.insert("args".into(), args);
            }
            let rule = Value::Object(rule);
            entries.push(Entry {
                rule,
                redundant,
                when: e.when,
                unless: e.unless,
            });
        }
        let cond_caps = entries
            .iter()
            .flat_map(|e| e.when.caps.iter().chain(&e.unless.caps))
            .cloned()
            .collect();
        let known_rule = match file.known_action {
            None if file.known_errno_ret.is_some() => {
                return Err(format!("{source}: knownErrnoRet without knownAction"))
            }
            None => None,
            Some(a) => {
                let mut r = Map::new();
                r.insert(
                    "action".into(),
                    serde_json::to_value(a).map_err(|e| err(e.to_string()))?,
                );
                if let Some(n) = file.known_errno_ret {
                    r.insert("errnoRet".into(), n.into());
                }
                // a known answer equal to the default's adds nothing
                (loaded(a, file.known_errno_ret) != default).then_some(r)
            }
        };
        Ok(Template {
            default_action: serde_json::to_value(file.default_action)
                .map_err(|e| err(e.to_string()))?,
            default_errno_ret: file.default_errno_ret,
            known_rule,
            names,
            arch_map: file.arch_map.into_iter().collect(),
            architectures: match file.architectures {
                Some(a) => Some(serde_json::to_value(a).map_err(|e| err(e.to_string()))?),
                None => None,
            },
            flags: match file.flags {
                Some(f) => Some(serde_json::to_value(f).map_err(|e| err(e.to_string()))?),
                None => None,
            },
            entries,
            cond_caps,
            cache: Mutex::default(),
        })
    }

    /// The plain `linux.seccomp` object for a container on `arch` (an OCI architecture name,
    /// `SCMP_ARCH_X86_64`) with the bounding set `caps`; masked comparisons are in libcontainer
    /// 0.7's dialect.
    ///
    /// The rules of the entries that apply, in template order, except those that repeat the
    /// default's answer (libcontainer skips them); then, with `knownAction`, one rule giving it
    /// to every name the template has that no applying entry names (a capability or
    /// architecture condition not met), so that only syscalls the template never names get the
    /// default.
    pub fn render(&self, arch: &str, caps: &[String]) -> Value {
        let architectures = match &self.architectures {
            Some(fixed) => fixed.clone(),
            None => {
                let mut a = vec![Value::from(arch)];
                if let Some(companions) = self.arch_map.get(arch) {
                    a.extend(companions.iter().map(|c| Value::from(c.as_str())));
                }
                Value::Array(a)
            }
        };
        let applying: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.applies(arch, caps))
            .collect();
        let mut syscalls: Vec<Value> = applying
            .iter()
            .filter(|e| !e.redundant)
            .map(|e| e.rule.clone())
            .collect();
        if let Some(known) = &self.known_rule {
            let named: HashSet<&str> = applying
                .iter()
                .flat_map(|e| e.rule["names"].as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .collect();
            let rest: Vec<Value> = self
                .names
                .iter()
                .filter(|n| !named.contains(n.as_str()))
                .map(|n| Value::from(n.as_str()))
                .collect();
            if !rest.is_empty() {
                let mut r = Map::new();
                r.insert("names".into(), Value::Array(rest));
                r.extend(known.clone());
                syscalls.push(Value::Object(r));
            }
        }
        let mut out = Map::new();
        out.insert("defaultAction".into(), self.default_action.clone());
        if let Some(n) = self.default_errno_ret {
            out.insert("defaultErrnoRet".into(), n.into());
        }
        out.insert("architectures".into(), architectures);
        if let Some(f) = &self.flags {
            out.insert("flags".into(), f.clone());
        }
        out.insert("syscalls".into(), syscalls.into());
        Value::Object(out)
    }

    /// [`Template::render`], cached, with what the rendering allows of [`DANGEROUS`].
    fn rendered(&self, arch: &str, caps: &[String]) -> Arc<Rendered> {
        let key = (
            arch.to_owned(),
            self.cond_caps
                .iter()
                .filter(|c| caps.contains(c))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = cache.get(&key) {
            return r.clone();
        }
        let value = self.render(arch, caps);
        let open = Open::of(&value);
        let allows = DANGEROUS.iter().map(|n| open.allows(n)).collect();
        let r = Arc::new(Rendered { value, allows });
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, r.clone());
        r
    }
}

/// `profiles/seccomp-default.json` in the parts build.rs cut it into: the template without
/// comments and entries (`head`), and each entry's names apart from the rest of it.
pub struct SeccompParts {
    head: &'static str,
    entries: &'static [(&'static [&'static str], &'static str)],
}

include!(concat!(env!("OUT_DIR"), "/seccomp_default.rs"));

/// The built-in template, made once: from build.rs's parts, which read ≈5× faster than the file
/// (issue 20; the same template, unit-tested: `builtin_from_parts_is_the_parsed_file`), or from
/// the file where they are missing.
fn builtin() -> Result<Arc<Template>, String> {
    static T: OnceLock<Result<Arc<Template>, String>> = OnceLock::new();
    const SOURCE: &str = "profiles/seccomp-default.json";
    T.get_or_init(|| {
        SECCOMP_DEFAULT_PARTS
            .as_ref()
            .and_then(|p| Template::of_parts(p, SOURCE))
            .map(Ok)
            .unwrap_or_else(|| Template::parse(BUILTIN_JSON, SOURCE))
            .map(Arc::new)
    })
    .clone()
}

fn custom() -> &'static Mutex<HashMap<String, Arc<Template>>> {
    static C: OnceLock<Mutex<HashMap<String, Arc<Template>>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// Reads and parses a custom seccomp profile (hardrun template or plain OCI `linux.seccomp`).
/// This touches the disk: it is for the engine or the profile loader, never for a rule.
pub fn load_custom(path: &Path) -> Result<Template, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read seccomp profile {}: {e}", path.display()))?;
    Template::parse(&text, &path.display().to_string())
}

/// Loads the custom profile at `path` (a profile's `seccomp.profile`) so that the rule finds it;
/// `default` needs no preloading. Loading again replaces the earlier version.
pub fn preload(path: &str) -> Result<(), String> {
    if path == "default" {
        return Ok(());
    }
    let t = load_custom(Path::new(path))?;
    custom()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_owned(), Arc::new(t));
    Ok(())
}

fn template_for(name: &str) -> Result<Arc<Template>, String> {
    if name == "default" {
        return builtin();
    }
    custom()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .cloned()
        .ok_or_else(|| {
            format!("seccomp profile {name} was not loaded (custom profiles must be preloaded by the engine)")
        })
}

/// hardrun's default profile rendered for `arch` and the bounding set `caps`.
pub fn render_default(arch: &str, caps: &[String]) -> Result<Value, String> {
    Ok(builtin()?.render(arch, caps))
}

// ---------------------------------------------------------------------------------------------
// masked comparisons: OCI versus libcontainer 0.7

const MASKED_EQ: &str = "SCMP_CMP_MASKED_EQ";

/// The libcontainer 0.7 form of an OCI-dialect masked comparison; `None` for any other argument.
///
/// OCI (runc, crun): `(arg & value) == valueTwo`; libcontainer 0.7: `(arg & valueTwo) == value`.
/// An argument is taken to be in the OCI dialect when `valueTwo`'s bits are a strict subset of
/// `value`'s (the expected bits lie inside the mask and are not all of it); swapping the two then
/// gives libcontainer the same condition. The swapped form is never swapped back, and a
/// comparison both dialects read alike (`value == valueTwo`) is left alone.
fn oci_to_libcontainer(arg: &Value) -> Option<Value> {
    if arg.get("op").and_then(Value::as_str) != Some(MASKED_EQ) {
        return None;
    }
    let v = arg.get("value").and_then(Value::as_u64)?;
    let w = arg.get("valueTwo").and_then(Value::as_u64).unwrap_or(0);
    if w == v || w & !v != 0 {
        return None;
    }
    let mut out = arg.clone();
    let o = out.as_object_mut()?;
    o.insert("value".into(), w.into());
    o.insert("valueTwo".into(), v.into());
    Some(out)
}

/// Where a `linux.seccomp` object has OCI-dialect masked comparisons: (rule index, argument
/// index, the libcontainer form).
fn oci_masks(seccomp: &Value) -> Vec<(usize, usize, Value)> {
    let mut out = vec![];
    let rules = seccomp.get("syscalls").and_then(Value::as_array);
    for (i, r) in rules.into_iter().flatten().enumerate() {
        let args = r.get("args").and_then(Value::as_array);
        for (j, a) in args.into_iter().flatten().enumerate() {
            if let Some(swapped) = oci_to_libcontainer(a) {
                out.push((i, j, swapped));
            }
        }
    }
    out
}

/// Rewrites every OCI-dialect masked comparison of a `linux.seccomp` object into libcontainer
/// 0.7's dialect (see [`oci_to_libcontainer`]); returns how many were rewritten. Idempotent. The
/// rule proposes the same rewrite as a finding; this is for callers that must apply it whatever
/// the rule's action (the object must then only be run by libcontainer 0.7).
pub fn libcontainer_compat(seccomp: &mut Value) -> usize {
    let found = oci_masks(seccomp);
    for (i, j, swapped) in &found {
        seccomp["syscalls"][i]["args"][j] = swapped.clone();
    }
    found.len()
}

// ---------------------------------------------------------------------------------------------
// comparing profiles

fn allowing(action: &str) -> bool {
    matches!(action, "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" | "SCMP_ACT_TRACE")
}

/// Which syscalls a profile allows without condition.
struct Open<'a> {
    default_action: &'a str,
    default_allows: bool,
    allowed: HashSet<&'a str>,
    refused: HashSet<&'a str>,
    any_refusing_rule: bool,
}

impl<'a> Open<'a> {
    fn of(seccomp: &'a Value) -> Open<'a> {
        let default_action = seccomp
            .get("defaultAction")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut o = Open {
            default_action,
            default_allows: allowing(default_action),
            allowed: HashSet::new(),
            refused: HashSet::new(),
            any_refusing_rule: false,
        };
        let rules = seccomp.get("syscalls").and_then(Value::as_array);
        for r in rules.into_iter().flatten() {
            let action = r.get("action").and_then(Value::as_str).unwrap_or("");
            let allows = allowing(action);
            o.any_refusing_rule |= !allows;
            // a masked comparison whose mask (as libcontainer reads it) is zero is no condition
            let conditional = r.get("args").and_then(Value::as_array).is_some_and(|a| {
                a.iter().any(|a| {
                    a.get("op").and_then(Value::as_str) != Some(MASKED_EQ)
                        || a.get("valueTwo").and_then(Value::as_u64).unwrap_or(0) != 0
                })
            });
            if conditional {
                continue;
            }
            let set = if allows {
                &mut o.allowed
            } else {
                &mut o.refused
            };
            let names = r.get("names").and_then(Value::as_array);
            set.extend(names.into_iter().flatten().filter_map(Value::as_str));
        }
        o
    }

    fn allows(&self, name: &str) -> bool {
        if self.default_allows {
            !self.refused.contains(name)
        } else {
            self.allowed.contains(name)
        }
    }
}

/// Why the caller's `linux.seccomp` must be replaced by `rendered`; `None` when it is kept.
fn weakness(theirs: &Value, rendered: &Rendered) -> Option<String> {
    if *theirs == rendered.value {
        return None;
    }
    if !theirs.is_object() {
        return Some("linux.seccomp is not an object".into());
    }
    if let Err(e) = LinuxSeccomp::deserialize(theirs) {
        return Some(format!(
            "linux.seccomp is not a valid oci seccomp profile ({e})"
        ));
    }
    let t = Open::of(theirs);
    if t.default_allows && !t.any_refusing_rule {
        return Some(format!(
            "seccomp defaultAction {} allows every syscall",
            t.default_action
        ));
    }
    let weaker: Vec<&str> = DANGEROUS
        .iter()
        .zip(&rendered.allows)
        .filter(|(n, ours)| !**ours && t.allows(n))
        .map(|(n, _)| *n)
        .collect();
    if weaker.is_empty() {
        return None;
    }
    const SHOWN: usize = 8;
    let mut list = weaker[..weaker.len().min(SHOWN)].join(", ");
    if weaker.len() > SHOWN {
        list.push_str(&format!(" and {} more", weaker.len() - SHOWN));
    }
    Some(if t.default_allows {
        format!(
            "seccomp defaultAction {} allows {list} which the default refuses",
            t.default_action
        )
    } else {
        format!("seccomp allows {list} which the default refuses")
    })
}

// ---------------------------------------------------------------------------------------------
// the rule

/// The finding for a kept profile whose masked comparisons are in the OCI dialect.
fn mask_rewrite(theirs: &Value, masks: Vec<(usize, usize, Value)>) -> Proposal {
    let mut names: Vec<&str> = vec![];
    for (i, _, _) in &masks {
        let rule_names = theirs["syscalls"][i]["names"].as_array();
        for n in rule_names.into_iter().flatten().filter_map(Value::as_str) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    // the finding is about the smallest value holding every rewrite (the audit log records it
    // before and after)
    let pointer = match masks.first() {
        Some((i, _, _)) if masks.iter().all(|m| m.0 == *i) => format!("{PTR}/syscalls/{i}/args"),
        _ => format!("{PTR}/syscalls"),
    };
    let edits = masks
        .into_iter()
        .map(|(i, j, swapped)| Edit::set(format!("{PTR}/syscalls/{i}/args/{j}"), swapped))
        .collect();
    Proposal::fix(
        pointer,
        format!(
            "seccomp masked comparisons on {} would let every call through libcontainer, which takes valueTwo as the mask: value and valueTwo swapped",
            names.join(", ")
        ),
        edits,
    )
}

pub fn evaluate(spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    if spec.get("process").is_none() {
        return vec![];
    }
    let name = profile.seccomp.profile.as_str();
    let template = match template_for(name) {
        Ok(t) => t,
        Err(e) => return vec![Proposal::refuse(PTR, e)],
    };
    let what = if name == "default" {
        "hardrun's default seccomp profile".to_owned()
    } else {
        format!("seccomp profile {name}")
    };
    let caps = strings(spec, "/process/capabilities/bounding");
    let rendered = template.rendered(ctx.host.seccomp_arch(), &caps);
    let reason = match spec.pointer(PTR) {
        None | Some(Value::Null) => "linux.seccomp is missing".to_owned(),
        Some(theirs) => {
            // judged as libcontainer will run it once its masked comparisons are rewritten
            let masks = oci_masks(theirs);
            let rewritten;
            let judged = if masks.is_empty() {
                theirs
            } else {
                let mut t = theirs.clone();
                libcontainer_compat(&mut t);
                rewritten = t;
                &rewritten
            };
            match weakness(judged, &rendered) {
                Some(r) => r,
                None if masks.is_empty() => {
                    return tripwires(theirs, profile, ctx).into_iter().collect()
                }
                None => {
                    let mut out = vec![mask_rewrite(theirs, masks)];
                    out.extend(tripwires(judged, profile, ctx));
                    return out;
                }
            }
        }
    };
    let mut out = vec![Proposal::fix(
        PTR,
        format!("{reason}: {what} applied"),
        vec![Edit::set(PTR, rendered.value.clone())],
    )];
    out.extend(tripwires(&rendered.value, profile, ctx));
    out
}

/// The metadata key that marks a filter whose tripwires hardrun armed (in
/// `linux.seccomp.listenerMetadata`, which libcontainer hands to the listener with the notify fd).
pub const TRIPWIRE_MARK: &str = "hardrun-tripwires";

/// What the monitor reads from `listenerMetadata`: the profile, and the errno the filter gave
/// each armed syscall before it was armed, which the monitor answers with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct TripwireMeta {
    #[serde(rename = "hardrun-tripwires")]
    pub version: u32,
    pub profile: String,
    pub errno: BTreeMap<String, u32>,
}

impl TripwireMeta {
    /// The metadata of an armed filter; `None` for any other (no metadata, a caller's own).
    pub fn of(seccomp: &Value) -> Option<TripwireMeta> {
        let m = seccomp.get("listenerMetadata")?.as_str()?;
        serde_json::from_str(m).ok()
    }
}

/// The tripwire proposal for `seccomp` (the filter as this rule leaves it): none unless a
/// monitor listens and the profile names tripwires that the filter refuses outright.
fn tripwires(seccomp: &Value, profile: &Profile, ctx: &RuleCtx) -> Option<Proposal> {
    let socket = ctx.tripwires?;
    let (armed, meta) = arm_tripwires(seccomp, &profile.seccomp.tripwires, socket, &profile.name)?;
    let names: Vec<&str> = meta.errno.keys().map(String::as_str).collect();
    Some(Proposal::fix(
        format!("{PTR}/listenerPath"),
        format!(
            "seccomp tripwires armed for {}: still refused with the same errno, answered and \
             reported by hardrun monitor",
            names.join(", ")
        ),
        vec![Edit::set(PTR, armed)],
    ))
}

/// Arms `tripwires` in `seccomp` (a plain OCI `linux.seccomp`): each named syscall the filter
/// refuses outright with an errno — no rule allows it under any condition, no rule refuses it
/// only on some arguments, and its answer is `SCMP_ACT_ERRNO` (its rule's or the default) —
/// becomes `SCMP_ACT_NOTIFY` towards `socket`, and the errno it got goes into the listener's
/// metadata for the monitor to answer with. `None` when nothing can be armed, or when the
/// filter already has a listener of the caller's (never taken over).
pub fn arm_tripwires(
    seccomp: &Value,
    tripwires: &[String],
    socket: &Path,
    profile: &str,
) -> Option<(Value, TripwireMeta)> {
    const ERRNO: &str = "SCMP_ACT_ERRNO";
    const EPERM: u32 = 1;
    if tripwires.is_empty()
        || seccomp.get("listenerPath").is_some_and(|v| !v.is_null())
        || seccomp
            .get("listenerMetadata")
            .is_some_and(|v| !v.is_null())
    {
        return None;
    }
    let rules = seccomp.get("syscalls").and_then(Value::as_array);
    let rules: Vec<&Value> = rules.into_iter().flatten().collect();
    let action = |r: &Value| {
        r.get("action")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    if rules.iter().any(|r| action(r) == "SCMP_ACT_NOTIFY") {
        return None;
    }
    let errno_of = |v: Option<&Value>| v.and_then(Value::as_u64).map_or(EPERM, |e| e as u32);
    let mut errno = BTreeMap::new();
    for t in tripwires {
        let naming: Vec<&&Value> = rules
            .iter()
            .filter(|r| {
                r.get("names")
                    .and_then(Value::as_array)
                    .is_some_and(|n| n.iter().any(|n| n.as_str() == Some(t)))
            })
            .collect();
        let answer = if naming.is_empty() {
            (seccomp.get("defaultAction").and_then(Value::as_str) == Some(ERRNO))
                .then(|| errno_of(seccomp.get("defaultErrnoRet")))
        } else {
            let outright = naming.iter().all(|r| {
                action(r) == ERRNO
                    && r.get("args")
                        .and_then(Value::as_array)
                        .is_none_or(|a| a.is_empty())
            });
            // the last rule naming it is the one libseccomp keeps
            outright.then(|| errno_of(naming.last().and_then(|r| r.get("errnoRet"))))
        };
        if let Some(e) = answer {
            errno.insert(t.clone(), e);
        }
    }
    if errno.is_empty() {
        return None;
    }
    let mut out = seccomp.clone();
    let mut kept: Vec<Value> = vec![];
    for r in rules {
        let mut r = r.clone();
        if let Some(names) = r.get_mut("names").and_then(Value::as_array_mut) {
            names.retain(|n| n.as_str().is_none_or(|n| !errno.contains_key(n)));
            if names.is_empty() {
                continue;
            }
        }
        kept.push(r);
    }
    kept.push(serde_json::json!({
        "names": errno.keys().collect::<Vec<_>>(),
        "action": "SCMP_ACT_NOTIFY",
    }));
    let meta = TripwireMeta {
        version: 1,
        profile: profile.to_owned(),
        errno,
    };
    out["syscalls"] = Value::Array(kept);
    out["listenerPath"] = Value::String(socket.display().to_string());
    out["listenerMetadata"] = Value::String(serde_json::to_string(&meta).unwrap_or_default());
    Some((out, meta))
}

/// The filter of an armed one as it was before arming: each tripwire refused again with its
/// errno, no listener. What an `exec` gets when no monitor listens (its filter would otherwise
/// need a listener to start). `None` for a filter hardrun did not arm.
pub fn disarm_tripwires(seccomp: &Value) -> Option<Value> {
    let meta = TripwireMeta::of(seccomp)?;
    let mut out = seccomp.clone();
    let mut rules: Vec<Value> = out
        .get("syscalls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    rules.retain(|r| r.get("action").and_then(Value::as_str) != Some("SCMP_ACT_NOTIFY"));
    let mut by_errno: BTreeMap<u32, Vec<&String>> = BTreeMap::new();
    for (name, e) in &meta.errno {
        by_errno.entry(*e).or_default().push(name);
    }
    for (e, names) in by_errno {
        rules.push(serde_json::json!({
            "names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": e,
        }));
    }
    let o = out.as_object_mut()?;
    o.insert("syscalls".into(), Value::Array(rules));
    o.remove("listenerPath");
    o.remove("listenerMetadata");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn spec(bounding: &[&str], seccomp: Option<Value>) -> Value {
        let mut s = json!({"process": {"args": ["sh"], "capabilities": {"bounding": bounding}}, "linux": {}});
        if let Some(sc) = seccomp {
            s["linux"]["seccomp"] = sc;
        }
        s
    }

    fn render(arch: &str, bounding: &[&str]) -> Value {
        render_default(arch, &caps(bounding)).unwrap()
    }

    /// Syscall names allowed without condition in a rendering.
    fn open(seccomp: &Value) -> HashSet<String> {
        let o = Open::of(seccomp);
        o.allowed.iter().map(|s| s.to_string()).collect()
    }

    fn rules_for<'a>(seccomp: &'a Value, name: &str) -> Vec<&'a Value> {
        seccomp["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"].as_array().unwrap().iter().any(|n| n == name))
            .collect()
    }

    /// A reference profile (tests/fixtures/seccomp, see its SOURCE). The fixtures are part of
    /// the repository: a missing or broken one fails the test that needs it, naming the file.
    fn reference(name: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/seccomp")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "reference seccomp profile {}: {e} (vendored in the repository, see SOURCE)",
                path.display()
            )
        });
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("reference seccomp profile {}: {e}", path.display()))
    }

    #[test]
    #[should_panic(expected = "tests/fixtures/seccomp/no-such-profile.json")]
    fn a_missing_reference_profile_fails_the_test_naming_the_file() {
        // the Docker and podman cases depend on the vendored profiles: without them a test
        // must fail, never quietly drop its cases
        let _ = reference("no-such-profile.json");
    }

    /// A Docker-like profile: the ordinary allowlist, `clone` masked, socket families filtered,
    /// `chroot` with CAP_SYS_CHROOT, nothing of CAP_SYS_ADMIN's.
    fn docker_like(bounding: &[&str]) -> Value {
        let mut syscalls = vec![
            json!({"names": ["read", "write", "openat", "close", "exit_group", "futex", "execve",
                             "mmap", "ptrace", "setuid", "socketcall"], "action": "SCMP_ACT_ALLOW", "args": []}),
            json!({"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 38, "op": "SCMP_CMP_LT"}]}),
            json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]}),
            json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": []}),
        ];
        if bounding.contains(&"CAP_SYS_CHROOT") {
            syscalls.push(json!({"names": ["chroot"], "action": "SCMP_ACT_ALLOW"}));
        }
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
               "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
               "syscalls": syscalls})
    }

    /// Docker's template rendered the way dockerd renders it for `bounding` on x86_64.
    fn docker_rendered(bounding: &[&str]) -> Value {
        let t = reference("moby-default-seccomp.json");
        let mut syscalls = vec![];
        for r in t["syscalls"].as_array().unwrap() {
            let inc = &r["includes"];
            let exc = &r["excludes"];
            let caps_ok = |v: &Value| {
                v["caps"]
                    .as_array()
                    .is_none_or(|c| c.iter().all(|c| bounding.contains(&c.as_str().unwrap())))
            };
            let arches_in = |v: &Value| {
                v["arches"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a == "amd64"))
            };
            let any_cap = exc["caps"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| bounding.contains(&c.as_str().unwrap())));
            if !caps_ok(inc)
                || (inc["arches"].is_array() && !arches_in(inc))
                || any_cap
                || arches_in(exc)
            {
                continue;
            }
            let mut r = r.clone();
            let o = r.as_object_mut().unwrap();
            for k in ["includes", "excludes", "comment"] {
                o.remove(k);
            }
            syscalls.push(r);
        }
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
               "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
               "syscalls": syscalls})
    }

    /// The template made from build.rs's parts is the one the file parses to: every field, and
    /// the same renderings.
    #[test]
    fn builtin_from_parts_is_the_parsed_file() {
        let parts = SECCOMP_DEFAULT_PARTS.as_ref().expect("build.rs cut the template");
        let from_parts = Template::of_parts(parts, "t").expect("the parts parse");
        let parsed = Template::parse(BUILTIN_JSON, "t").unwrap();
        let fields = |t: &Template| {
            (
                format!("{:?}", t.default_action),
                t.default_errno_ret,
                format!("{:?}", t.known_rule),
                t.names.clone(),
                t.arch_map.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>(),
                format!("{:?} {:?}", t.architectures, t.flags),
                format!("{:?}", t.entries),
                t.cond_caps.clone(),
            )
        };
        assert_eq!(fields(&from_parts), fields(&parsed));
        for arch in ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64", "SCMP_ARCH_X86"] {
            for bounding in [&[][..], DOCKER_CAPS, &["CAP_SYS_ADMIN", "CAP_SYS_TIME"]] {
                let c = caps(bounding);
                assert_eq!(from_parts.render(arch, &c), parsed.render(arch, &c), "{arch}");
            }
        }
    }

    #[test]
    fn builtin_parses_and_renders_plain_oci() {
        assert!(builtin().is_ok(), "{:?}", builtin().err());
        for (arch, companions) in [
            // native only: see archMap in profiles/seccomp-default.json
            ("SCMP_ARCH_X86_64", Vec::<&str>::new()),
            ("SCMP_ARCH_AARCH64", vec![]),
        ] {
            for bounding in [&[][..], DOCKER_CAPS, &["CAP_SYS_ADMIN", "CAP_SYS_TIME"]] {
                let r = render(arch, bounding);
                let typed: LinuxSeccomp = serde_json::from_value(r.clone()).unwrap();
                // the round trip through oci-spec loses nothing: no key is unknown to it
                assert_eq!(serde_json::to_value(&typed).unwrap(), r, "{arch}");
                assert_eq!(typed.default_action(), LinuxSeccompAction::ScmpActErrno);
                // a syscall the profile does not name: ENOSYS, as runc answers it
                assert_eq!(typed.default_errno_ret(), Some(38));
                let mut want = vec![arch];
                want.extend(companions.iter().copied());
                assert_eq!(r["architectures"], json!(want));
                let text = r.to_string();
                for k in [
                    "comment",
                    "when",
                    "unless",
                    "archMap",
                    "includes",
                    "knownAction",
                    "knownErrnoRet",
                ] {
                    assert!(!text.contains(&format!("\"{k}\"")), "{k} left in rendering");
                }
            }
        }
        let x86 = open(&render("SCMP_ARCH_X86_64", &[]));
        let arm = open(&render("SCMP_ARCH_AARCH64", &[]));
        assert!(x86.contains("arch_prctl") && !arm.contains("arch_prctl"));
        assert!(arm.contains("set_tls") && !x86.contains("set_tls"));
    }

    /// How a rendering answers `name` when its arguments do not matter: `allow`, `errno N`, or
    /// `conditional` (only rules with arguments name it); a name no rule names gets the default.
    fn answer(seccomp: &Value, name: &str) -> String {
        let rules = rules_for(seccomp, name);
        let plain: Vec<_> = rules.iter().filter(|r| r.get("args").is_none()).collect();
        let of = |r: &Value| match r["action"].as_str().unwrap() {
            "SCMP_ACT_ALLOW" => "allow".to_owned(),
            "SCMP_ACT_ERRNO" => format!("errno {}", r["errnoRet"].as_u64().unwrap_or(1)),
            a => a.to_owned(),
        };
        match (plain.as_slice(), rules.is_empty()) {
            ([one], _) => of(one),
            ([], false) => "conditional".to_owned(),
            ([], true) => format!(
                "default errno {}",
                seccomp["defaultErrnoRet"].as_u64().unwrap()
            ),
            _ => panic!("{name} named by {} unconditional rules", plain.len()),
        }
    }

    #[test]
    fn tripwires_arm_what_the_filter_refuses_outright_with_its_errno() {
        let sock = Path::new("/run/hardrun/.tripwires.sock");
        let tw = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // restricted's bounding set: mount and chroot refused (EPERM), an unnamed syscall gets
        // the default ENOSYS, read is allowed, clone only conditionally refused
        let r = render("SCMP_ARCH_X86_64", &["CAP_NET_BIND_SERVICE"]);
        let (armed, meta) = arm_tripwires(
            &r,
            &tw(&["mount", "chroot", "read", "clone", "not_a_syscall_x"]),
            sock,
            "restricted",
        )
        .unwrap();
        let want: BTreeMap<String, u32> = [
            ("chroot".to_string(), 1),
            ("mount".to_string(), 1),
            ("not_a_syscall_x".to_string(), 38),
        ]
        .into();
        assert_eq!(meta.errno, want);
        assert_eq!(armed["listenerPath"], "/run/hardrun/.tripwires.sock");
        assert_eq!(TripwireMeta::of(&armed), Some(meta.clone()));
        assert_eq!(answer(&armed, "mount"), "SCMP_ACT_NOTIFY");
        assert_eq!(answer(&armed, "chroot"), "SCMP_ACT_NOTIFY");
        assert_eq!(answer(&armed, "read"), "allow");
        assert_eq!(answer(&armed, "clone"), "conditional");
        // every other syscall's answer is untouched
        for name in ["umount2", "ptrace", "bpf", "write", "socket", "kexec_load"] {
            assert_eq!(answer(&armed, name), answer(&r, name), "{name}");
        }
        // disarmed, each tripwire gets its old answer back and there is no listener
        let back = disarm_tripwires(&armed).unwrap();
        for name in ["mount", "chroot", "read", "umount2", "write"] {
            assert_eq!(answer(&back, name), answer(&r, name), "{name}");
        }
        assert_eq!(answer(&back, "not_a_syscall_x"), "errno 38");
        assert!(back.get("listenerPath").is_none());
        assert!(
            disarm_tripwires(&r).is_none(),
            "not armed: nothing to disarm"
        );

        // baseline keeps CAP_SYS_CHROOT: chroot is allowed, so not a tripwire there
        let b = render("SCMP_ARCH_X86_64", DOCKER_CAPS);
        let (_, meta) = arm_tripwires(&b, &tw(&["mount", "chroot"]), sock, "baseline").unwrap();
        assert_eq!(meta.errno.keys().collect::<Vec<_>>(), ["mount"]);

        // nothing to arm; a caller's own listener is never taken over; no list, no arming
        assert!(arm_tripwires(&r, &tw(&["read", "clone"]), sock, "x").is_none());
        let mut theirs = r.clone();
        theirs["listenerPath"] = json!("/run/agent.sock");
        assert!(arm_tripwires(&theirs, &tw(&["mount"]), sock, "x").is_none());
        assert!(arm_tripwires(&r, &[], sock, "x").is_none());
        // an allowing default: nothing is refused outright
        let allow = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]});
        let (_, meta) = arm_tripwires(&allow, &tw(&["mount", "chroot"]), sock, "x").unwrap();
        assert_eq!(meta.errno, [("mount".to_string(), 13)].into());
    }

    #[test]
    fn the_rule_arms_tripwires_only_while_a_monitor_listens() {
        let p = profile("restricted");
        assert!(!p.seccomp.tripwires.is_empty());
        let s = spec(&["CAP_NET_BIND_SERVICE"], None);
        let without = run(evaluate, &s, &p);
        assert_eq!(without.len(), 1, "{without:?}");
        let annotations = BTreeMap::new();
        let sock = Path::new("/run/hardrun/.tripwires.sock");
        let ctx = RuleCtx {
            id: "t",
            annotations: &annotations,
            granted: &Default::default(),
            host: &crate::base::host::TestHost,
            userns: None,
            sources: Sources::none(),
            tripwires: Some(sock),
        };
        let with = evaluate(&s, &p, &ctx);
        assert_eq!(with.len(), 2, "{with:?}");
        assert_eq!(with[1].pointer, "/linux/seccomp/listenerPath");
        assert!(with[1].message.contains("mount"), "{}", with[1].message);
        let mut out = s.clone();
        for pr in &with {
            for e in &pr.edits {
                crate::policy::edit::apply(&mut out, e).unwrap();
            }
        }
        assert_eq!(
            out["linux"]["seccomp"]["listenerPath"],
            sock.to_str().unwrap()
        );
        // permissive names no tripwires
        assert!(profile("permissive").seccomp.tripwires.is_empty());
    }

    #[test]
    fn what_the_default_allows_and_refuses() {
        let r = render("SCMP_ARCH_X86_64", DOCKER_CAPS);
        let o = open(&r);
        for n in ["read", "write", "openat", "exit_group", "execve", "futex"] {
            assert!(o.contains(n), "{n}");
        }
        // refused, whatever the capabilities say, with EPERM
        for n in [
            "keyctl",
            "add_key",
            "request_key",
            "kexec_load",
            "kexec_file_load",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "userfaultfd",
            "pivot_root",
            "swapon",
            "swapoff",
            "socketcall",
        ] {
            for caps in [DOCKER_CAPS, &["CAP_SYS_ADMIN"]] {
                assert_eq!(
                    answer(&render("SCMP_ARCH_X86_64", caps), n),
                    "errno 1",
                    "{n}"
                );
            }
        }
        // refused without their capability, with EPERM
        for n in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "bpf",
            "init_module",
            "finit_module",
            "delete_module",
            "perf_event_open",
            "open_by_handle_at",
            "reboot",
            "syslog",
            "acct",
            "settimeofday",
            "clock_settime",
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
        ] {
            assert!(!o.contains(n), "{n}");
            assert_eq!(answer(&r, n), "errno 1", "{n}");
        }
        // chroot: CAP_SYS_CHROOT is in Docker's set
        assert!(o.contains("chroot"));
        assert!(!open(&render("SCMP_ARCH_X86_64", &[])).contains("chroot"));
        // clone: masked (in libcontainer's dialect), each namespace flag refused with EPERM;
        // clone3: ENOSYS, the default's answer, so no rule; socket, personality: conditional
        let clone = rules_for(&r, "clone");
        assert_eq!(clone.len(), 8);
        assert_eq!(
            clone[0]["args"],
            json!([{"index": 0, "value": 0, "valueTwo": 0x7E02_0000u64, "op": "SCMP_CMP_MASKED_EQ"}])
        );
        let flags: u64 = clone[1..]
            .iter()
            .map(|r| {
                assert_eq!(r["action"], "SCMP_ACT_ERRNO");
                let bit = r["args"][0]["value"].as_u64().unwrap();
                assert_eq!(r["args"][0]["valueTwo"], bit);
                bit
            })
            .sum();
        assert_eq!(flags, 0x7E02_0000);
        assert_eq!(answer(&r, "clone3"), "default errno 38");
        let socket: Vec<_> = rules_for(&r, "socket")
            .iter()
            .map(|r| {
                (
                    r["action"].as_str().unwrap(),
                    r["args"][0]["op"].as_str().unwrap(),
                    r["args"][0]["value"].as_u64().unwrap(),
                    r["args"][0]["valueTwo"].as_u64(),
                )
            })
            .collect();
        let (allow, errno) = ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO");
        assert_eq!(
            socket,
            [
                (allow, "SCMP_CMP_LT", 38, None),
                (allow, "SCMP_CMP_EQ", 39, None),
                (allow, "SCMP_CMP_EQ", 41, None),
                (allow, MASKED_EQ, 42, Some(!1)),
                (allow, MASKED_EQ, 44, Some(!3)),
                (allow, MASKED_EQ, 48, Some(!15)),
                (errno, "SCMP_CMP_EQ", 38, None),
                (errno, "SCMP_CMP_EQ", 40, None),
                (errno, "SCMP_CMP_GE", 64, None),
            ]
        );
        assert_eq!(rules_for(&r, "personality").len(), 6);
        for n in ["socket", "personality", "clone"] {
            assert!(!o.contains(n), "{n}");
            assert_eq!(answer(&r, n), "conditional", "{n}");
        }
    }

    /// The errno each kind of syscall gets: ENOSYS for what the profile does not name (newer
    /// than the profile, or no syscall at all) and for what it answers with ENOSYS on purpose;
    /// EPERM for what it names and refuses, capability- and architecture-gated names included.
    #[test]
    fn errnos_by_what_the_profile_knows() {
        let (x, arm) = ("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64");
        let table: &[(&str, &[&str], &str, &str)] = &[
            (x, &[], "read", "allow"),
            (x, &[], "keyctl", "errno 1"),
            (x, &[], "mount", "errno 1"),
            (x, &["CAP_SYS_ADMIN"], "mount", "allow"),
            (x, &[], "ptrace", "errno 1"),
            (x, &["CAP_SYS_PTRACE"], "ptrace", "allow"),
            (x, &["CAP_SYS_PTRACE"], "process_vm_writev", "allow"),
            (x, &[], "clone3", "default errno 38"),
            (x, &["CAP_SYS_ADMIN"], "clone3", "allow"),
            (x, &[], "open_tree_attr", "default errno 38"),
            (x, &["CAP_SYS_ADMIN"], "open_tree_attr", "default errno 38"),
            (x, &[], "file_getattr", "default errno 38"),
            (x, &[], "no_such_syscall", "default errno 38"),
            (x, &[], "arch_prctl", "allow"),
            (arm, &[], "arch_prctl", "errno 1"),
            (arm, &[], "set_tls", "allow"),
            (x, &[], "set_tls", "errno 1"),
            (x, &[], "name_to_handle_at", "errno 1"),
            (x, &["CAP_DAC_READ_SEARCH"], "name_to_handle_at", "allow"),
            (x, &[], "open_by_handle_at", "errno 1"),
            (x, &["CAP_DAC_READ_SEARCH"], "open_by_handle_at", "allow"),
        ];
        for (arch, bounding, name, want) in table {
            assert_eq!(
                answer(&render(arch, bounding), name),
                *want,
                "{arch} {bounding:?} {name}"
            );
        }
        // every name of the template is answered in every rendering: allowed, refused with an
        // errno, conditional, or (ENOSYS on purpose) the default
        let t: Value = serde_json::from_str(BUILTIN_JSON).unwrap();
        let names: BTreeSet<&str> = t["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["names"].as_array().unwrap())
            .filter_map(Value::as_str)
            .collect();
        let on_purpose = ["clone3", "open_tree_attr", "file_getattr", "file_setattr"];
        for arch in [x, arm] {
            for bounding in [&[][..], DOCKER_CAPS, &["CAP_SYS_ADMIN"]] {
                let r = render(arch, bounding);
                for n in &names {
                    let a = answer(&r, n);
                    assert!(
                        a != "default errno 38" || on_purpose.contains(n),
                        "{arch} {bounding:?}: {n} falls to the default"
                    );
                }
            }
        }
    }

    #[test]
    fn known_action_and_redundant_rules() {
        let t = Template::parse(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                "knownAction": "SCMP_ACT_ERRNO", "knownErrnoRet": 1, "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "when": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
            "t",
        )
        .unwrap();
        let x = "SCMP_ARCH_X86_64";
        assert_eq!(
            t.render(x, &[]),
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": [x],
                   "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                                {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                                {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})
        );
        let r = t.render(x, &caps(&["CAP_SYS_ADMIN"]));
        assert_eq!(r["syscalls"].as_array().unwrap().len(), 3, "{r}");
        assert_eq!(answer(&r, "mount"), "allow");
        // without knownAction: a name whose condition fails gets the default, as before
        let plain = Template::parse(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "when": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]}"#,
            "t",
        )
        .unwrap();
        assert_eq!(
            plain.render(x, &[]),
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": [x], "syscalls": []})
        );
        // a known answer equal to the default adds no rule
        let same = Template::parse(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "knownAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "when": {"caps": ["CAP_SYS_ADMIN"]}}]}"#,
            "t",
        )
        .unwrap();
        assert_eq!(same.render(x, &[])["syscalls"], json!([]));
        let e = Template::parse(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "knownErrnoRet": 1, "syscalls": []}"#,
            "mine.json",
        )
        .unwrap_err();
        assert_eq!(e, "mine.json: knownErrnoRet without knownAction");
    }

    #[test]
    fn capability_gating() {
        let x = "SCMP_ARCH_X86_64";
        let admin = render(x, &["CAP_SYS_ADMIN"]);
        let none = render(x, &[]);
        for n in [
            "mount", "umount2", "unshare", "setns", "bpf", "clone", "clone3",
        ] {
            assert!(open(&admin).contains(n), "{n} with CAP_SYS_ADMIN");
            assert!(!open(&none).contains(n), "{n} without");
        }
        assert!(rules_for(&admin, "clone3")
            .iter()
            .all(|r| r["action"] == "SCMP_ACT_ALLOW"));
        assert_eq!(
            rules_for(&admin, "clone").len(),
            1,
            "no mask with CAP_SYS_ADMIN"
        );
        // refused even with CAP_SYS_ADMIN
        for n in [
            "keyctl",
            "pivot_root",
            "io_uring_setup",
            "userfaultfd",
            "kexec_load",
        ] {
            assert!(!open(&admin).contains(n), "{n}");
        }
        for (cap, names) in [
            ("CAP_SYS_TIME", &["settimeofday", "clock_settime"][..]),
            (
                "CAP_SYS_MODULE",
                &["init_module", "finit_module", "delete_module"],
            ),
            ("CAP_SYS_BOOT", &["reboot"]),
            (
                "CAP_SYS_PTRACE",
                &[
                    "kcmp",
                    "pidfd_getfd",
                    "ptrace",
                    "process_vm_readv",
                    "process_vm_writev",
                ],
            ),
            ("CAP_SYSLOG", &["syslog"]),
            ("CAP_BPF", &["bpf"]),
            ("CAP_PERFMON", &["perf_event_open"]),
            ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
            ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
            ("CAP_SYS_NICE", &["mbind", "set_mempolicy"]),
            ("CAP_SYS_PACCT", &["acct"]),
        ] {
            let with = open(&render(x, &[cap]));
            for n in names {
                assert!(with.contains(*n), "{n} with {cap}");
                assert!(!open(&none).contains(*n), "{n} without {cap}");
            }
        }
    }

    #[test]
    fn decisions() {
        let p = profile("restricted");
        let x = "SCMP_ARCH_X86_64";
        let nb = ["CAP_NET_BIND_SERVICE"];
        // missing → set
        let r = run(evaluate, &spec(&nb, None), &p);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].pointer, "/linux/seccomp");
        assert_eq!(
            r[0].message,
            "linux.seccomp is missing: hardrun's default seccomp profile applied"
        );
        let out = fixed(evaluate, &spec(&nb, None), &p);
        assert_eq!(out["linux"]["seccomp"], render(x, &nb));
        // no process: nothing to confine
        assert!(run(evaluate, &json!({"linux": {}}), &p).is_empty());

        let mount_allowed = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "write", "mount"], "action": "SCMP_ACT_ALLOW", "args": []}]});
        // None: kept; Some(message start): replaced by the rendered default
        let table: &[(&str, &[&str], Value, Option<&str>)] = &[
            (
                "unconfined",
                &nb,
                json!({"defaultAction": "SCMP_ACT_ALLOW"}),
                Some("seccomp defaultAction SCMP_ACT_ALLOW allows every syscall"),
            ),
            (
                "unconfined with only allow rules",
                &nb,
                json!({"defaultAction": "SCMP_ACT_LOG", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}),
                Some("seccomp defaultAction SCMP_ACT_LOG allows every syscall"),
            ),
            (
                "allow by default but a few refused",
                &nb,
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount", "unshare"], "action": "SCMP_ACT_ERRNO"}]}),
                Some("seccomp defaultAction SCMP_ACT_ALLOW allows umount, umount2, mount_setattr, move_mount, open_tree, fsopen, fsconfig, fsmount and 49 more which the default refuses"),
            ),
            (
                "mount without CAP_SYS_ADMIN",
                &nb,
                mount_allowed.clone(),
                Some("seccomp allows mount which the default refuses"),
            ),
            ("mount with CAP_SYS_ADMIN", &["CAP_SYS_ADMIN"], mount_allowed, None),
            ("docker-like, libcontainer dialect", &nb, lc(docker_like(&nb)), None),
            ("docker-like for docker's caps", DOCKER_CAPS, lc(docker_like(DOCKER_CAPS)), None),
            ("docker-like missing chroot's cap", &nb, docker_like(DOCKER_CAPS), Some("seccomp allows chroot which the default refuses")),
            ("docker's for docker's caps", DOCKER_CAPS, lc(docker_rendered(DOCKER_CAPS)), None),
            ("docker's for one cap", &nb, lc(docker_rendered(&nb)), None),
            (
                "a zero mask is no condition",
                &nb,
                json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["unshare"], "action": "SCMP_ACT_ALLOW",
                       "args": [{"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}),
                Some("seccomp allows unshare which the default refuses"),
            ),
            ("ours for docker's caps is stronger than needed", &nb, render(x, DOCKER_CAPS), Some("seccomp allows chroot which the default refuses")),
            ("stricter: kill by default", &nb, json!({"defaultAction": "SCMP_ACT_KILL_PROCESS"}), None),
            (
                "unconditional clone",
                &nb,
                json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["clone", "keyctl"], "action": "SCMP_ACT_ALLOW"}]}),
                Some("seccomp allows clone, keyctl which the default refuses"),
            ),
            (
                "not an oci profile",
                &nb,
                json!({"defaultAction": "SCMP_ACT_NOPE"}),
                Some("linux.seccomp is not a valid oci seccomp profile"),
            ),
            ("not an object", &nb, json!("unconfined"), Some("linux.seccomp is not an object")),
        ];
        let mut table = table.to_vec();
        table.push((
            "podman's",
            &nb,
            reference("containers-common-seccomp.json"),
            Some("seccomp allows mount, umount, umount2, mount_setattr, move_mount, open_tree, fsopen, fsconfig and 34 more which the default refuses"),
        ));
        for (case, bounding, theirs, want) in &table {
            let s = spec(bounding, Some(theirs.clone()));
            let r = run(evaluate, &s, &p);
            match want {
                None => assert!(
                    r.is_empty(),
                    "{case}: {:?}",
                    r.iter().map(|p| &p.message).collect::<Vec<_>>()
                ),
                Some(w) => {
                    assert_eq!(r.len(), 1, "{case}");
                    assert!(r[0].message.starts_with(w), "{case}: {}", r[0].message);
                    assert!(r[0]
                        .message
                        .ends_with(": hardrun's default seccomp profile applied"));
                    let out = fixed(evaluate, &s, &p);
                    assert_eq!(out["linux"]["seccomp"], render(x, bounding), "{case}");
                }
            }
        }
    }

    /// The caller's profile with its masked comparisons in libcontainer's dialect.
    fn lc(mut seccomp: Value) -> Value {
        libcontainer_compat(&mut seccomp);
        seccomp
    }

    #[test]
    fn oci_masks_are_rewritten_for_libcontainer() {
        let p = profile("restricted");
        let nb = ["CAP_NET_BIND_SERVICE"];
        let cases = vec![
            ("docker-like", docker_like(&nb), DOCKER_CAPS),
            ("docker-like, fewer caps", docker_like(&[]), &nb[..]),
            ("docker's", docker_rendered(DOCKER_CAPS), DOCKER_CAPS),
        ];
        for (case, theirs, bounding) in cases {
            let s = spec(bounding, Some(theirs.clone()));
            let r = run(evaluate, &s, &p);
            assert_eq!(r.len(), 1, "{case}");
            let i = theirs["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .position(|r| r["names"] == json!(["clone"]))
                .unwrap();
            assert_eq!(
                r[0].pointer,
                format!("/linux/seccomp/syscalls/{i}/args"),
                "{case}"
            );
            assert_eq!(
                r[0].message,
                "seccomp masked comparisons on clone would let every call through libcontainer, which takes valueTwo as the mask: value and valueTwo swapped"
            );
            let out = fixed(evaluate, &s, &p);
            // only the clone condition changed, the rest of the caller's profile is kept
            assert_eq!(out["linux"]["seccomp"], lc(theirs), "{case}");
            let clone = rules_for(&out["linux"]["seccomp"], "clone");
            assert_eq!(clone[0]["args"][0]["value"], 0);
            assert_eq!(clone[0]["args"][0]["valueTwo"], 0x7E02_0000u64);
        }
        // a rewrite is not offered when the profile is replaced anyway
        let r = run(evaluate, &spec(&nb, Some(docker_like(DOCKER_CAPS))), &p);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].pointer, "/linux/seccomp");
    }

    #[test]
    fn idempotent_and_custom_paths() {
        let p = profile("restricted");
        for bounding in [&[][..], DOCKER_CAPS, &["CAP_SYS_ADMIN"]] {
            let once = fixed(evaluate, &spec(bounding, None), &p);
            assert!(run(evaluate, &once, &p).is_empty());
        }
        // a custom path that was not preloaded refuses; a preloaded one renders
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.json");
        let mut custom = p.clone();
        custom.seccomp.profile = path.display().to_string();
        let r = run(evaluate, &spec(&[], None), &custom);
        assert!(!r[0].fixable);
        assert!(r[0].message.contains("was not loaded"), "{}", r[0].message);
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "when": {"caps": ["CAP_SYS_ADMIN"]}}]}"#)
        .unwrap();
        preload(&custom.seccomp.profile).unwrap();
        let out = fixed(evaluate, &spec(&[], None), &custom);
        assert_eq!(
            out["linux"]["seccomp"],
            json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                   "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]})
        );
        assert!(run(evaluate, &out, &custom).is_empty());
        // a plain OCI profile keeps its architectures and flags
        std::fs::write(&path, r#"{"defaultAction": "SCMP_ACT_KILL_PROCESS", "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#)
        .unwrap();
        preload(&custom.seccomp.profile).unwrap();
        let out = fixed(evaluate, &spec(&[], None), &custom);
        assert_eq!(
            out["linux"]["seccomp"],
            json!({"defaultAction": "SCMP_ACT_KILL_PROCESS", "architectures": ["SCMP_ARCH_X86_64"],
                   "flags": ["SECCOMP_FILTER_FLAG_LOG"], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
        );
        // errors name the file and the key
        std::fs::write(
            &path,
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [], "extra": 1}"#,
        )
        .unwrap();
        let e = preload(&custom.seccomp.profile).unwrap_err();
        assert!(e.contains("mine.json") && e.contains("extra"), "{e}");
        assert!(Template::parse(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "when": {"caps": ["SYS_ADMIN"]}}]}"#,
            "t"
        )
        .unwrap_err()
        .contains("CAP_"));
        assert!(Template::parse(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "archMap": {"SCMP_ARCH_Z80": []}, "syscalls": []}"#,
            "t"
        )
        .unwrap_err()
        .contains("SCMP_ARCH_Z80"));
    }

    #[test]
    fn libcontainer_compat_swaps_oci_masks_once() {
        let mut d = docker_like(DOCKER_CAPS);
        assert_eq!(libcontainer_compat(&mut d), 1, "the clone rule");
        assert_eq!(libcontainer_compat(&mut d), 0, "idempotent");
        assert_eq!(
            rules_for(&d, "clone")[0]["args"],
            json!([{"index": 0, "value": 0, "valueTwo": 0x7E02_0000u64, "op": "SCMP_CMP_MASKED_EQ"}])
        );
        // the rendering is already in libcontainer's dialect
        let mut r = render("SCMP_ARCH_X86_64", DOCKER_CAPS);
        assert_eq!(libcontainer_compat(&mut r), 0);
        // comparisons both dialects read alike, or that are not OCI-shaped, are left alone
        for (v, w) in [(3u64, 3u64), (1, 2), (0, 0)] {
            let a = json!({"index": 0, "value": v, "valueTwo": w, "op": "SCMP_CMP_MASKED_EQ"});
            assert!(oci_to_libcontainer(&a).is_none(), "{v} {w}");
        }
        let a = json!({"index": 0, "value": 38, "op": "SCMP_CMP_LT"});
        assert!(oci_to_libcontainer(&a).is_none());
        let a = json!({"index": 0, "value": 0xff, "valueTwo": 0x0f, "op": "SCMP_CMP_MASKED_EQ"});
        assert_eq!(
            oci_to_libcontainer(&a).unwrap(),
            json!({"index": 0, "value": 0x0f, "valueTwo": 0xff, "op": "SCMP_CMP_MASKED_EQ"})
        );
    }

    /// Prints timings (run with --nocapture; `--release` for numbers that mean something).
    #[test]
    fn rendering_time() {
        fn median(mut ns: Vec<u128>) -> f64 {
            ns.sort_unstable();
            ns[ns.len() / 2] as f64 / 1000.0
        }
        let time = |f: &mut dyn FnMut()| {
            let ns: Vec<u128> = (0..301)
                .map(|_| {
                    let t = std::time::Instant::now();
                    f();
                    t.elapsed().as_nanos()
                })
                .collect();
            median(ns)
        };
        let t = std::time::Instant::now();
        let parsed = Template::parse(BUILTIN_JSON, "t").unwrap();
        let parse = t.elapsed().as_nanos() as f64 / 1000.0;
        let parse_warm = time(&mut || {
            std::hint::black_box(Template::parse(BUILTIN_JSON, "t").unwrap());
        });
        let value_only = time(&mut || {
            std::hint::black_box(serde_json::from_str::<Value>(BUILTIN_JSON).unwrap());
        });
        let parts_warm = time(&mut || {
            let parts = SECCOMP_DEFAULT_PARTS.as_ref().unwrap();
            std::hint::black_box(Template::of_parts(parts, "t").unwrap());
        });
        println!(
            "seccomp µs: parse warm {parse_warm:.1}, from build.rs's parts {parts_warm:.1}, json to value {value_only:.1}"
        );
        let c = caps(DOCKER_CAPS);
        let p = profile("restricted");
        let render = time(&mut || {
            std::hint::black_box(parsed.render("SCMP_ARCH_X86_64", &c));
        });
        let missing = spec(DOCKER_CAPS, None);
        let rule_missing = time(&mut || {
            std::hint::black_box(run(evaluate, &missing, &p));
        });
        let hardened = fixed(evaluate, &missing, &p);
        let rule_hardened = time(&mut || {
            std::hint::black_box(run(evaluate, &hardened, &p));
        });
        let docker = spec(DOCKER_CAPS, Some(lc(docker_rendered(DOCKER_CAPS))));
        let rule_docker = time(&mut || {
            std::hint::black_box(run(evaluate, &docker, &p));
        });
        println!(
            "seccomp µs: parse once {parse:.0}; median render {render:.1}; median rule: no profile {rule_missing:.1}, already hardened {rule_hardened:.1}, docker's kept {rule_docker:.1}"
        );
    }
}
