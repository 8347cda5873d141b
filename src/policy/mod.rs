//! The hardening engine. Every path that starts or widens a process goes through here:
//! `create`/`run` ([`harden_spec`]), `exec` ([`harden_exec`]) and `update` ([`harden_update`]).
//!
//! The engine runs the rules of [`code::RULES`] in order on the raw JSON spec. Each rule proposes
//! edits; the profile's action for the rule decides: `enforce` applies them and records the real
//! before/after, `audit` records what they would have done, `deny` refuses the container. A
//! proposal no rewrite can satisfy (a host namespace, a runtime socket) refuses under `enforce`
//! too. The record of a decision is a list of [`Finding`]s.
//!
//! `exec` and `update` are judged against the policy fixed at create ([`binding`]): the profile
//! content, mode and grants stored with the container. A caller's flags can only tighten them.

// A refusal carries the findings up to it for the audit record; it is rare and not on a hot path,
// so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod binding;
pub mod edit;
pub mod egress;
pub mod exceptions;
pub mod finding;
pub mod registry;
pub mod rego;
pub mod rules;

use std::collections::BTreeMap;

use serde_json::Value;

pub use finding::{Action, Finding, Severity};

pub use crate::base::host;
use crate::profile::config::{Config, Mode};
use crate::profile::Profile;
pub use registry as code;
pub use registry::PROCESS_RULES;
use rules::{Granted, Host, Proposal, RuleCtx};

/// What the engine knows about the container it is deciding on.
pub struct Context<'a> {
    pub id: &'a str,
    pub bundle: &'a std::path::Path,
    pub config: &'a Config,
    /// `--profile`: overrides the configured default (annotations may still pick another, if
    /// authorized)
    pub profile: Option<&'a str>,
    /// `--mode`: overrides the configured mode
    pub mode: Option<Mode>,
    pub host: &'a dyn Host,
    /// the host id range allocated for the container's user namespace (see [`userns_pool`])
    pub userns: Option<(u32, u32)>,
    /// the bind mount sources resolved against the bundle (create, run, check)
    pub sources: &'a crate::bundle::Sources,
    /// who called the runtime (create/run/check): whether the spec's Kubernetes identity is
    /// vouched for (see [`exceptions::Caller`])
    pub caller: exceptions::Caller,
    /// exec/update: the policy fixed at create and what the caller asks; `None` (tests only):
    /// the profile is selected as at create
    pub held: Option<binding::Held<'a>>,
    /// create/run: the tripwire socket of a `hardrun monitor` listening now, where the
    /// profile's seccomp tripwires are armed; `None` otherwise
    pub tripwires: Option<&'a std::path::Path>,
    /// the state root (`--root`): the `image-files` rule caches its walks there; `None` (tests,
    /// commands without one): no cache
    pub state_root: Option<&'a std::path::Path>,
}

/// The engine's decision on an allowed container.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// the spec (or process, or resources) to hand to libcontainer
    pub value: Value,
    pub findings: Vec<Finding>,
    pub profile: String,
    pub profile_sha256: String,
    pub mode: Mode,
    /// the profile's exception entries this decision used (`<profile>#<index>`), for
    /// `hardrun profile lint`
    pub exceptions_used: Vec<String>,
    /// create/run: the CIS score of the spec that will run
    pub score: Option<crate::compliance::Summary>,
    /// what authorized exceptions granted (stored with the container at create)
    pub granted: Granted,
    /// create/run: the container's Kubernetes identity and whether it is vouched for
    pub identity: exceptions::Identity,
    /// exec/update: one-line messages for the caller's stderr (a refused loosening, the rewrites)
    pub notices: Vec<String>,
}

/// A refused container: the rule, where, why, and everything found up to the refusal.
#[derive(Debug, thiserror::Error)]
#[error("policy refused container {id:?}: rule {rule}: {reason}")]
pub struct PolicyDenied {
    pub id: String,
    pub rule: String,
    pub pointer: String,
    pub reason: String,
    pub findings: Vec<Finding>,
    pub profile: String,
    pub profile_sha256: String,
    pub mode: Mode,
}

/// One evaluation: the profile, the mode and what is known about the container.
pub struct Run<'a> {
    pub profile: &'a Profile,
    pub mode: Mode,
    pub id: &'a str,
    pub annotations: &'a BTreeMap<String, String>,
    pub granted: &'a Granted,
    pub host: &'a dyn Host,
    /// only these rules (exec and update); `None`: all
    pub only: Option<&'a [&'a str]>,
    /// the host id range allocated for the container's user namespace
    pub userns: Option<(u32, u32)>,
    /// the bind mount sources resolved to host objects
    pub sources: &'a crate::bundle::Sources,
    /// the tripwire socket of a monitor listening now (create/run)
    pub tripwires: Option<&'a std::path::Path>,
}

/// Runs the rules on `spec` in registry order; each rule sees the spec as the rules before it
/// left it. `pre` are proposals made before the rules (unauthorized exceptions).
pub fn evaluate(
    spec: &Value,
    run: &Run,
    pre: Vec<(String, Proposal)>,
) -> Result<Outcome, PolicyDenied> {
    evaluate_as(spec, run, pre, None)
}

/// [`evaluate`] for a container whose Kubernetes identity is known (create, run, check): the
/// `rego` rule's input names its namespace and image as the identity rules read them.
fn evaluate_as(
    spec: &Value,
    run: &Run,
    pre: Vec<(String, Proposal)>,
    identity: Option<&exceptions::Identity>,
) -> Result<Outcome, PolicyDenied> {
    let profile = run.profile;
    let mut current = spec.clone();
    let mut findings: Vec<Finding> = vec![];
    let ctx = RuleCtx {
        id: run.id,
        annotations: run.annotations,
        granted: run.granted,
        host: run.host,
        userns: run.userns,
        sources: run.sources,
        tripwires: run.tripwires,
    };
    // A dry run (`--mode audit`, every rule) records what enforcing would do and runs the spec
    // unchanged. In one pass: `current` is the spec as enforcing would leave it, rule by rule —
    // what each rule sees and the gate scores — and the caller's spec is what is returned. A dry
    // run leases no host id range, so the user namespace is mapped to the pool's first range
    // (enforcing would lease some range of the same size) and a profile that enforces userns is
    // judged and scored as it would run. Once enforcing would refuse, the gate is not scored
    // (the findings already say why).
    let dry_run = run.mode == Mode::Audit && run.only.is_none();
    let mut would_refuse = false;
    let ctx = RuleCtx {
        userns: if dry_run {
            run.userns.or(Some(profile.userns.range(0)))
        } else {
            run.userns
        },
        ..ctx
    };
    // a process started by `exec` is judged by the exec controls (5.23, 5.24)
    let on_exec = run.only == Some(PROCESS_RULES);
    // the gate's report of the spec that runs (enforcing, every rule)
    let mut scored: Option<crate::compliance::Report> = None;
    let mut pending = pre;
    let mut rules_left = code::RULES.iter();
    loop {
        // the next batch: the pre-proposals first, then one rule at a time
        let (code, proposals) = if !pending.is_empty() {
            let (code, p) = pending.remove(0);
            (code, vec![p])
        } else {
            let Some(info) = rules_left.next() else { break };
            if run.only.is_some_and(|only| !only.contains(&info.code)) {
                continue;
            }
            let Some(rule) = info.evaluate else {
                continue;
            };
            if info.code == code::GATE {
                if would_refuse {
                    continue;
                }
                // the gate is the last rule: what it scored is what runs, unless it scored a
                // dry run's projection
                let (proposals, report) = rules::cis_score::gate(&current, profile, &ctx);
                if !dry_run {
                    scored = Some(report);
                }
                (info.code.to_owned(), proposals)
            } else if info.code == "rego" {
                // the company's policies read the spec as given too
                let p = rego::evaluate(&current, spec, profile, &ctx, identity);
                (info.code.to_owned(), p)
            } else {
                (info.code.to_owned(), rule(&current, profile, &ctx))
            }
        };
        let info = code::info(&code).expect("rule codes come from the registry");
        let action = if run.mode == Mode::Audit {
            Action::Audit
        } else {
            profile.action(&code)
        };
        // what enforcing would do (a dry run projects it onto `current`)
        let enforcing = profile.action(&code);
        let mut refused: Option<Proposal> = None;
        // a credential's value must never reach the record: secrets findings keep only the
        // rule's masked message
        let redact = |v: Value, pointer: &str| {
            if v.is_null() {
                v
            } else if code == code::codes::secrets {
                Value::String("<redacted>".into())
            } else if !profile.regulatory.is_empty() && personal_data(pointer) {
                Value::String(format!(
                    "<withheld: personal data ({})>",
                    profile.regulatory.join(", ")
                ))
            } else {
                v
            }
        };
        for p in proposals {
            // a finding about the whole spec (the gate) records no value: the spec itself is in
            // the container's state directory, not the log
            let whole = p.pointer.is_empty();
            let before = if whole {
                Value::Null
            } else {
                current.pointer(&p.pointer).cloned().unwrap_or(Value::Null)
            };
            let (taken, after) = match action {
                _ if p.noted => (Action::Audit, before.clone()),
                Action::Enforce if p.fixable => {
                    for e in &p.edits {
                        // an edit that cannot apply is a rule bug: refuse rather than run unhardened
                        if let Err(err) = edit::apply(&mut current, e) {
                            refused.get_or_insert(Proposal::refuse(
                                p.pointer.clone(),
                                format!("cannot apply edit: {err}"),
                            ));
                        }
                    }
                    (
                        Action::Enforce,
                        current.pointer(&p.pointer).cloned().unwrap_or(Value::Null),
                    )
                }
                Action::Audit if whole => {
                    would_refuse |= dry_run && enforcing != Action::Audit;
                    (Action::Audit, Value::Null)
                }
                Action::Audit if dry_run && enforcing == Action::Enforce && p.fixable => {
                    for e in &p.edits {
                        would_refuse |= edit::apply(&mut current, e).is_err();
                    }
                    (
                        Action::Audit,
                        current.pointer(&p.pointer).cloned().unwrap_or(Value::Null),
                    )
                }
                Action::Audit => {
                    would_refuse |= dry_run && enforcing != Action::Audit;
                    let mut scratch = current.clone();
                    for e in &p.edits {
                        let _ = edit::apply(&mut scratch, e);
                    }
                    (
                        Action::Audit,
                        scratch.pointer(&p.pointer).cloned().unwrap_or(Value::Null),
                    )
                }
                Action::Enforce | Action::Deny => (Action::Deny, before.clone()),
            };
            let after = if whole { Value::Null } else { after };
            let message = if !profile.regulatory.is_empty() && personal_data(&p.pointer) {
                format!(
                    "{} at {}: details withheld (personal data, {})",
                    if taken == Action::Deny {
                        "refused"
                    } else {
                        "deviation"
                    },
                    if p.pointer.is_empty() {
                        "/"
                    } else {
                        &p.pointer
                    },
                    profile.regulatory.join(", ")
                )
            } else {
                p.message.clone()
            };
            findings.push(Finding {
                code: code.clone(),
                cis: p
                    .cis
                    .unwrap_or(if on_exec && !info.cis_exec.is_empty() {
                        info.cis_exec
                    } else {
                        info.cis
                    })
                    .iter()
                    .map(|c| c.to_string())
                    .collect(),
                severity: info.severity,
                action: taken,
                pointer: p.pointer.clone(),
                before: redact(before, &p.pointer),
                after: redact(after, &p.pointer),
                message,
            });
            if taken == Action::Deny && refused.is_none() {
                refused = Some(p);
            }
        }
        if let Some(p) = refused {
            return Err(PolicyDenied {
                id: run.id.to_owned(),
                rule: code,
                pointer: p.pointer,
                reason: p.message,
                findings,
                profile: profile.name.clone(),
                profile_sha256: profile.sha256.clone(),
                mode: run.mode,
            });
        }
    }
    Ok(Outcome {
        // a dry run runs the caller's spec
        value: if dry_run { spec.clone() } else { current },
        findings,
        profile: profile.name.clone(),
        profile_sha256: profile.sha256.clone(),
        mode: run.mode,
        exceptions_used: vec![],
        score: scored
            .as_ref()
            .map(|r| crate::compliance::Summary::of(r, &profile.compliance)),
        granted: run.granted.clone(),
        identity: Default::default(),
        notices: vec![],
    })
}

/// Fields of a spec that can carry personal data: under a regulatory pack the record names them
/// (the pointer) but never holds their values.
pub fn personal_data(pointer: &str) -> bool {
    const FIELDS: &[&str] = &[
        "/process/env",
        "/process/args",
        "/process/commandLine",
        "/process/cwd",
        "/process/user/username",
        "/annotations",
        "/hostname",
        "/domainname",
        "/mounts",
    ];
    pointer.is_empty()
        || FIELDS
            .iter()
            .any(|f| pointer == *f || pointer.starts_with(&format!("{f}/")))
}

pub(crate) fn annotations_of(spec: &Value) -> BTreeMap<String, String> {
    spec.get("annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The profile and grants picked for a spec ([`select`]): `--profile` or the default, possibly
/// replaced by an authorized `hardrun.dev/profile` annotation. `create` selects once and uses the
/// selection for the user namespace lease and the rules.
pub struct Selected<'c> {
    profile: &'c Profile,
    mode: Mode,
    annotations: BTreeMap<String, String>,
    granted: Granted,
    pre: Vec<(String, Proposal)>,
    /// the exception entries that granted something (`<profile>#<index>`)
    used: Vec<String>,
    identity: exceptions::Identity,
}

pub fn select<'c>(spec: &Value, ctx: &Context<'c>) -> Result<Selected<'c>, PolicyDenied> {
    let mode = ctx.mode.unwrap_or(ctx.config.mode);
    let base = ctx.config.profile(ctx.profile).map_err(|e| PolicyDenied {
        id: ctx.id.to_owned(),
        rule: "profile".into(),
        pointer: String::new(),
        reason: e.to_string(),
        findings: vec![],
        profile: ctx
            .profile
            .unwrap_or(&ctx.config.default_profile)
            .to_owned(),
        profile_sha256: String::new(),
        mode,
    })?;
    let annotations = annotations_of(spec);
    let identity = exceptions::identify(&annotations, ctx.caller);
    let decided =
        exceptions::decide(&annotations, &identity, base, &ctx.config.catalog).map_err(|e| {
            PolicyDenied {
                id: ctx.id.to_owned(),
                rule: code::codes::exception.into(),
                pointer: "/annotations".into(),
                reason: e.to_string(),
                findings: vec![],
                profile: base.name.clone(),
                profile_sha256: base.sha256.clone(),
                mode,
            }
        })?;
    let mut decided = decided;
    // a namespace the spec leaves out is the host's: authorized host namespaces are granted here
    // (the `namespaces` rule refuses the others)
    // (or joins by a path that is the host's: the containers of such a pod join its sandbox's)
    let mut omitted = rules::namespaces::omitted_host_kinds(spec);
    for k in rules::namespaces::host_joined_kinds(spec, ctx.host) {
        if !omitted.contains(&k) {
            omitted.push(k);
        }
    }
    let (host_ns, host_used) = exceptions::host_namespaces(&omitted, &identity, base);
    decided.granted.host_namespaces = host_ns;
    for i in host_used {
        if !decided.used.contains(&i) {
            decided.used.push(i);
        }
    }
    // devices of a class (a device plugin's GPUs) are kept where a device-class exception
    // authorizes the class (the `devices` rule removes the others)
    let requested = rules::devices::extra_device_paths(spec, base);
    let (classes, class_used) = exceptions::device_classes(&requested, &identity, base, ctx.host);
    decided.granted.device_classes = classes;
    for i in class_used {
        if !decided.used.contains(&i) {
            decided.used.push(i);
        }
    }
    let profile = match &decided.profile {
        Some(name) => ctx.config.catalog.get(name).unwrap_or(base),
        None => base,
    };
    // only containerd's CRI vouches that a pod's cgroup bounds the container
    decided.granted.pod_cgroup_limits = identity.trusted()
        && profile.resources.pod_limits == crate::profile::PodLimits::PodCgroup
        && rules::namespaces::is_pod(&annotations);
    // the selected profile's custom seccomp file is read here, so the rules stay pure; one that
    // cannot be read refuses this container (the seccomp rule names it), no other
    if let Err(e) = rules::seccomp::preload(&profile.seccomp.profile) {
        tracing::warn!("profile {}: {e}", profile.name);
    }
    let pre = decided
        .unauthorized
        .into_iter()
        .map(|p| (code::codes::exception.to_owned(), p))
        .collect();
    let used = decided
        .used
        .iter()
        .map(|i| format!("{}#{i}", base.name))
        .collect();
    Ok(Selected {
        profile,
        mode,
        annotations,
        granted: decided.granted,
        pre,
        used,
        identity,
    })
}

/// `create`/`run`, before [`harden_spec`]: the user namespace pool to allocate a host id range
/// from, when the container's profile enforces `userns` (not in audit mode) and the spec has no
/// user namespace with mappings of its own. `None`: allocate nothing (an error in selecting the profile is
/// reported by `harden_spec`).
pub fn userns_pool(raw: &Value, ctx: &Context) -> Option<crate::profile::UserNsCfg> {
    select(raw, ctx).ok()?.userns_pool(raw, ctx.host)
}

impl Selected<'_> {
    /// See [`userns_pool`]: the pool of the selected profile, when it leases a range for `raw`.
    pub fn userns_pool(&self, raw: &Value, host: &dyn Host) -> Option<crate::profile::UserNsCfg> {
        if self.mode == Mode::Audit || self.profile.action(code::codes::userns) != Action::Enforce {
            return None;
        }
        if !rules::userns::needs_range(raw, host)
            || rules::userns::shares_host(&self.granted).is_some()
        {
            return None;
        }
        Some(self.profile.userns.clone())
    }

    /// Runs the engine on `input` with this selection: all rules (`only` None, create/run), or a
    /// subset (exec, update), which gets neither the exception pre-proposals nor the userns range.
    fn evaluate(
        self,
        input: &Value,
        ctx: &Context,
        only: Option<&[&str]>,
    ) -> Result<(Outcome, Vec<String>), PolicyDenied> {
        let run = Run {
            profile: self.profile,
            mode: self.mode,
            id: ctx.id,
            annotations: &self.annotations,
            granted: &self.granted,
            host: ctx.host,
            only,
            userns: if only.is_none() { ctx.userns } else { None },
            sources: ctx.sources,
            tripwires: ctx.tripwires,
        };
        let claims = self.claims();
        if only.is_none() {
            self.preload_scan(ctx, input);
        }
        let pre = if only.is_none() { self.pre } else { vec![] };
        let out = evaluate_as(input, &run, pre, Some(&self.identity))
            .map_err(|d| with_claims(d, &claims))?;
        Ok((with_identity(out, self.identity, claims), self.used))
    }

    /// Create, run and check: the image's scan report is read here, for the `image-scan` rule
    /// (exec and update never run it, and never read it).
    fn preload_scan(&self, ctx: &Context, spec: &Value) {
        rules::image_scan::preload(&ctx.config.scan_reports_dir, &self.annotations);
        // and the image's files are walked (or found in the cache), for `image-files`
        rules::image_files::preload(spec, ctx.bundle, ctx.state_root, &self.profile.image_files);
    }

    /// Findings that record the spec's identity annotations as claims nobody vouched for.
    fn claims(&self) -> Vec<Finding> {
        let info = code::info(code::codes::exception).expect("a registered code");
        exceptions::untrusted_claims(&self.annotations, &self.identity)
            .into_iter()
            .map(|(key, value)| {
                let pointer = format!("/annotations/{}", edit::escape(&key));
                let withheld = !self.profile.regulatory.is_empty();
                let shown = if withheld {
                    Value::String(format!(
                        "<withheld: personal data ({})>",
                        self.profile.regulatory.join(", ")
                    ))
                } else {
                    Value::String(value.clone())
                };
                let message = if withheld {
                    format!("identity claim not trusted: {key} comes from the spec, not from containerd's CRI; it authorizes no exception")
                } else {
                    format!("identity claim not trusted: {key}={value:?} comes from the spec, not from containerd's CRI; it authorizes no exception")
                };
                Finding {
                    code: info.code.to_owned(),
                    cis: vec![],
                    severity: info.severity,
                    action: Action::Audit,
                    pointer,
                    before: shown.clone(),
                    after: shown,
                    message,
                }
            })
            .collect()
    }

    /// The whole spec (create/run) through every rule but the `cis-score` gate. For `check`,
    /// which never runs what it hardens and leases no host id range: where create would lease one
    /// (`userns` enforced, the spec without mappings of its own), the namespace is mapped to the
    /// pool's first range and its findings say that range is a placeholder, so the spec is
    /// decided and scored as it would run instead of being refused for want of a range.
    fn evaluate_ungated(
        self,
        input: &Value,
        ctx: &Context,
    ) -> Result<(Outcome, Vec<String>), PolicyDenied> {
        let others = code::ungated();
        self.preload_scan(ctx, input);
        // a placeholder range exactly where create would lease one (see `userns_pool`): a
        // profile that only audits `userns` maps nothing at create, so check maps nothing either
        let leases = self.mode != Mode::Audit
            && self.profile.action(code::codes::userns) == Action::Enforce
            && rules::userns::needs_range(input, ctx.host);
        let placeholder = ctx.userns.is_none() && leases;
        let run = Run {
            profile: self.profile,
            mode: self.mode,
            id: ctx.id,
            annotations: &self.annotations,
            granted: &self.granted,
            host: ctx.host,
            only: Some(&others),
            userns: ctx
                .userns
                .or(placeholder.then(|| self.profile.userns.range(0))),
            sources: ctx.sources,
            tripwires: ctx.tripwires,
        };
        let claims = self.claims();
        let out = evaluate_as(input, &run, self.pre, Some(&self.identity))
            .map_err(|d| with_claims(d, &claims))?;
        let mut out = with_identity(out, self.identity, claims);
        if placeholder {
            mark_placeholder(&mut out.findings);
        }
        Ok((out, self.used))
    }
}

/// What `check` appends to a `userns` finding that names the placeholder range: `create` leases
/// a free range of the same size, which need not be the pool's first.
pub const USERNS_PLACEHOLDER: &str =
    " (placeholder: check leases nothing; create maps a free range of this size)";

/// Marks the `userns` findings that map to the placeholder range as such.
fn mark_placeholder(findings: &mut [Finding]) {
    for f in findings
        .iter_mut()
        .filter(|f| f.code == code::codes::userns && f.message.contains("mapped to host ids"))
    {
        f.message.push_str(USERNS_PLACEHOLDER);
    }
}

/// The identity claims first in the record of a refusal.
fn with_claims(mut d: PolicyDenied, claims: &[Finding]) -> PolicyDenied {
    d.findings.splice(0..0, claims.iter().cloned());
    d
}

fn with_identity(
    mut out: Outcome,
    identity: exceptions::Identity,
    claims: Vec<Finding>,
) -> Outcome {
    out.findings.splice(0..0, claims);
    out.identity = identity;
    out
}

/// `create`/`run`: the whole spec, as raw JSON.
pub fn harden_spec(raw: &Value, ctx: &Context) -> Result<Outcome, PolicyDenied> {
    harden_selected(select(raw, ctx)?, raw, ctx)
}

/// [`harden_spec`] with the profile already selected (`create` selects once, before it leases a
/// host id range).
pub fn harden_selected(sel: Selected, raw: &Value, ctx: &Context) -> Result<Outcome, PolicyDenied> {
    let gate = sel.profile.compliance.clone();
    let (out, used) = sel.evaluate(raw, ctx, None)?;
    // the gate scored the spec that runs, except in a dry run (it scores the projection there)
    let score = out.score.clone().unwrap_or_else(|| {
        let report = rules::cis_score::score_as_run(&out.value, ctx.id, ctx.host);
        crate::compliance::Summary::of(&report, &gate)
    });
    Ok(Outcome {
        exceptions_used: used,
        score: Some(score),
        ..out
    })
}

/// `hardrun check`: the spec hardened by every rule but the gate (which check applies itself,
/// with its own `--min-score`), and the profile's gate settings.
pub fn harden_spec_ungated(
    raw: &Value,
    ctx: &Context,
) -> Result<(Outcome, crate::profile::ComplianceCfg), PolicyDenied> {
    let sel = select(raw, ctx)?;
    let gate = sel.profile.compliance.clone();
    let (out, used) = sel.evaluate_ungated(raw, ctx)?;
    Ok((
        Outcome {
            exceptions_used: used,
            ..out
        },
        gate,
    ))
}

/// `harden_exec` / `harden_update`: (request, the container's spec, context).
pub type HardenFn = fn(&Value, &Value, &Context) -> Result<Outcome, PolicyDenied>;

/// `exec`: the process to start inside a running container, held to the process rules of the
/// container's profile. `spec` is the container's hardened spec (its annotations pick the
/// profile and the grants, as they did at create).
pub fn harden_exec(process: &Value, spec: &Value, ctx: &Context) -> Result<Outcome, PolicyDenied> {
    let wrapped = serde_json::json!({ "process": process });
    if let Some(held) = &ctx.held {
        let gate = held.profile.compliance.clone();
        let out = binding::judge(binding::Running::Exec, &wrapped, spec, ctx, held)?;
        let process = out.value["process"].clone();
        let report = crate::compliance::score_exec(&process, spec);
        return Ok(Outcome {
            value: process,
            score: Some(crate::compliance::Summary::of(&report, &gate)),
            ..out
        });
    }
    let sel = select(spec, ctx)?;
    let gate = sel.profile.compliance.clone();
    let (out, _) = sel.evaluate(&wrapped, ctx, Some(PROCESS_RULES))?;
    let process = out.value["process"].clone();
    let report = crate::compliance::score_exec(&process, spec);
    Ok(Outcome {
        value: process,
        score: Some(crate::compliance::Summary::of(&report, &gate)),
        ..out
    })
}

/// `update`: new cgroup resources (`linux.resources` shape), held to the resources and devices
/// rules (an update can widen device access too).
pub fn harden_update(
    resources: &Value,
    spec: &Value,
    ctx: &Context,
) -> Result<Outcome, PolicyDenied> {
    // the memory and CPU pairs are judged (and written) together: complete them from the
    // container's resources in force
    let resources = rules::resources::complete_update(
        resources,
        spec.pointer("/linux/resources").unwrap_or(&Value::Null),
    );
    let wrapped = serde_json::json!({ "linux": { "resources": resources } });
    if let Some(held) = &ctx.held {
        let out = binding::judge(binding::Running::Update, &wrapped, spec, ctx, held)?;
        return Ok(Outcome {
            value: out.value["linux"]["resources"].clone(),
            ..out
        });
    }
    let (out, _) = select(spec, ctx)?.evaluate(&wrapped, ctx, Some(binding::UPDATE_RULES))?;
    Ok(Outcome {
        value: out.value["linux"]["resources"].clone(),
        ..out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Catalog;
    use rules::TestHost;
    use serde_json::json;

    /// A spec as containerd's CRI plugin generates it for a plain pod container (abridged), with
    /// a field no OCI library knows.
    fn containerd_spec() -> Value {
        json!({
            "ociVersion": "1.0.2-dev",
            "process": {
                "user": {"uid": 0, "gid": 0, "additionalGids": [0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27]},
                "args": ["/bin/sh", "-c", "sleep 1000"],
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=pod"],
                "cwd": "/",
                "capabilities": {
                    "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"],
                    "effective": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"],
                    "permitted": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
                },
                "apparmorProfile": "cri-containerd.apparmor.d",
                "oomScoreAdj": 1000
            },
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
                {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/hosts", "options": ["rbind", "rprivate", "rw"]},
                {"destination": "/etc/resolv.conf", "type": "bind", "source": "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/resolv.conf", "options": ["rbind", "rprivate", "rw"]},
                {"destination": "/dev/shm", "type": "bind", "source": "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/shm", "options": ["rbind", "rprivate", "rw"]}
            ],
            "annotations": {
                "io.kubernetes.cri.container-type": "container",
                "io.kubernetes.cri.sandbox-namespace": "default",
                "io.kubernetes.cri.image-name": "docker.io/library/busybox:latest"
            },
            "linux": {
                "resources": {"devices": [{"allow": false, "access": "rwm"}], "memory": {}, "cpu": {"shares": 2}},
                "cgroupsPath": "/kubepods/besteffort/pod1/abc",
                "namespaces": [{"type": "pid"}, {"type": "ipc", "path": "/proc/4242/ns/ipc"}, {"type": "uts", "path": "/proc/4242/ns/uts"}, {"type": "mount"}, {"type": "network", "path": "/proc/4242/ns/net"}],
                "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
                "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
                "x-vendor-extension": {"keep": true}
            },
            "x-top-level-unknown": [1, 2, 3]
        })
    }

    fn eval(spec: &Value, profile: &str, mode: Mode) -> Result<Outcome, PolicyDenied> {
        eval_with(spec, Catalog::builtin().get(profile).unwrap(), mode)
    }

    fn eval_with(spec: &Value, p: &Profile, mode: Mode) -> Result<Outcome, PolicyDenied> {
        let ann = annotations_of(spec);
        let granted = Granted::default();
        let run = Run {
            profile: p,
            mode,
            id: "c1",
            annotations: &ann,
            granted: &granted,
            host: &TestHost,
            only: None,
            userns: None,
            sources: crate::bundle::Sources::none(),
            tripwires: None,
        };
        evaluate(spec, &run, vec![])
    }

    /// A dry run records exactly what enforcing would do — each rule sees the spec the rules
    /// before it would have left, as under enforce (seccomp is rendered for the capabilities
    /// enforcing keeps) — and runs the caller's spec unchanged; its gate scores that projection.
    #[test]
    fn a_dry_run_records_what_enforcing_does_in_one_pass() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/containerd-spec.json"))
                .unwrap();
        let enforced = eval(&fixture, "restricted", Mode::Enforce).unwrap();
        let dry = eval(&fixture, "restricted", Mode::Audit).unwrap();
        assert_eq!(dry.value, fixture, "a dry run changed the spec");
        let key = |f: &Finding| (f.code.clone(), f.pointer.clone(), f.after.clone());
        assert_eq!(dry.findings.len(), enforced.findings.len());
        let differ: Vec<String> = dry
            .findings
            .iter()
            .zip(&enforced.findings)
            .filter(|(d, e)| key(d) != key(e))
            .map(|(d, _)| format!("{} {}", d.code, d.pointer))
            .collect();
        assert!(differ.is_empty(), "the dry run differs at {differ:?}");
        assert!(dry.findings.iter().all(|f| f.action == Action::Audit));
        // the seccomp finding is the filter rendered for the trimmed capability set
        let seccomp = |o: &Outcome| {
            o.findings
                .iter()
                .find(|f| f.code == "seccomp")
                .map(|f| f.after.clone())
        };
        assert!(seccomp(&dry).is_some());
        assert_eq!(seccomp(&dry), seccomp(&enforced));
    }

    #[test]
    fn each_namespace_finding_carries_the_cis_control_of_its_own_namespace() {
        // a bare spec: every required namespace is missing; a host path is refused
        let bare = eval(&json!({"root": {"path": "r"}}), "baseline", Mode::Audit).unwrap();
        let by_kind = |findings: &[Finding], kind: &str| -> Vec<String> {
            let f = findings
                .iter()
                .find(|f| f.code == "namespaces" && f.message.starts_with(&format!("{kind} ")))
                .unwrap_or_else(|| panic!("no finding for the {kind} namespace: {findings:#?}"));
            f.cis.clone()
        };
        assert_eq!(by_kind(&bare.findings, "network"), ["5.10"]);
        assert_eq!(by_kind(&bare.findings, "pid"), ["5.16"]);
        assert_eq!(by_kind(&bare.findings, "ipc"), ["5.17"]);
        assert_eq!(by_kind(&bare.findings, "uts"), ["5.21"]);
        // no CIS Docker Benchmark control is about the mount or cgroup namespace
        assert!(by_kind(&bare.findings, "cgroup").is_empty());
        assert!(by_kind(&bare.findings, "mount").is_empty());
        for f in bare.findings.iter().filter(|f| f.code == "namespaces") {
            assert!(f.cis.len() <= 1, "{f:#?}");
        }
        // a refusal is tagged the same way
        let host = json!({"root": {"path": "r"}, "linux": {"namespaces": [
            {"type": "pid", "path": "/proc/1/ns/pid"}, {"type": "ipc"}, {"type": "uts"},
            {"type": "mount"}, {"type": "network"}, {"type": "cgroup"}]}});
        let denied = eval(&host, "baseline", Mode::Enforce).unwrap_err();
        assert_eq!(by_kind(&denied.findings, "pid"), ["5.16"]);
    }

    #[test]
    fn a_regulatory_pack_names_personal_fields_but_withholds_their_values() {
        let mut spec = containerd_spec();
        spec["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": "/home/alice.smith/records",
            "options": ["rbind", "rw", "shared"]
        }));
        spec["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("DB_PASSWORD=hunter2"));
        let mut p = Catalog::builtin().get("restricted").unwrap().clone();
        let plain = eval_with(&spec, &p, Mode::Enforce).unwrap();
        p.regulatory = vec!["gdpr".into()];
        let packed = eval_with(&spec, &p, Mode::Enforce).unwrap();
        // the same decisions, the same spec: only the record differs
        assert_eq!(plain.value, packed.value);
        assert_eq!(plain.findings.len(), packed.findings.len());
        let plain_text = serde_json::to_string(&plain.findings).unwrap();
        assert!(plain_text.contains("alice.smith"), "{plain_text}");
        let text = serde_json::to_string(&packed.findings).unwrap();
        assert!(
            !text.contains("alice.smith") && !text.contains("hunter2"),
            "{text}"
        );
        let mount = packed
            .findings
            .iter()
            .find(|f| f.code == "mounts" && f.pointer.starts_with("/mounts/"))
            .unwrap();
        assert_eq!(mount.before, json!("<withheld: personal data (gdpr)>"));
        assert!(
            mount.message.starts_with("deviation at /mounts/"),
            "{}",
            mount.message
        );
        // fields that carry no personal data keep their values
        let user = packed.findings.iter().find(|f| f.code == "user").unwrap();
        assert_eq!(user.after, json!(65534));
        assert!(personal_data("/process/env/3") && personal_data("/annotations"));
        assert!(!personal_data("/process/envx") && !personal_data("/linux/resources"));
    }

    #[test]
    fn restricted_hardens_a_containerd_spec_and_keeps_unknown_fields() {
        let spec = containerd_spec();
        let out = eval(&spec, "restricted", Mode::Enforce).unwrap();
        let v = &out.value;
        assert_eq!(v["process"]["user"]["uid"], 65534);
        assert_eq!(v["root"]["readonly"], true);
        assert_eq!(v["process"]["noNewPrivileges"], true);
        assert_eq!(
            v["process"]["capabilities"]["bounding"],
            json!(["CAP_NET_BIND_SERVICE"])
        );
        assert_eq!(v["linux"]["x-vendor-extension"], json!({"keep": true}));
        assert_eq!(v["x-top-level-unknown"], json!([1, 2, 3]));
        assert!(v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "cgroup"));
        // a CRI container joins its sandbox's namespaces (pid 4242, in a user namespace of
        // the test host): it joins the sandbox's user namespace too, no range needed
        assert!(v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "user", "path": "/proc/4242/ns/user"})));
        // `image-scan` records what is known of the image (here: no report), rewriting nothing
        let edits = |o: &Outcome| -> Vec<Finding> {
            o.findings
                .iter()
                .filter(|f| f.code != "image-scan")
                .cloned()
                .collect()
        };
        assert!(out
            .findings
            .iter()
            .any(|f| f.code == "image-scan" && f.action == Action::Audit));
        for f in &edits(&out) {
            assert_eq!(f.action, Action::Enforce, "{f:?}");
            assert!(code::info(&f.code).is_some());
            assert_ne!(f.before, f.after, "{f:?}");
        }
        // idempotent: the hardened spec yields no further edits
        let again = eval(v, "restricted", Mode::Enforce).unwrap();
        assert!(edits(&again).is_empty(), "{:#?}", again.findings);
        assert_eq!(&again.value, v);
    }

    #[test]
    fn a_dry_run_of_restricted_scores_what_enforcing_would_run_without_a_range() {
        // runc's spec: no namespace to join, so enforcing would lease a range; a dry run leases
        // none, yet the gate is judged on the projection (user namespace included), not skipped
        // (restricted with no-new-privileges only audited: CIS 5.26 fails even as enforcing
        // would run it, and a gate of 100 % would refuse that)
        let spec = json!({"process": {"args": ["sh"], "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}});
        let mut p = Catalog::builtin().get("restricted").unwrap().clone();
        p.compliance.min_score = 100.0;
        p.rules.insert(
            "no-new-privileges".into(),
            crate::profile::RuleSetting::Action(Action::Audit),
        );
        let out = eval_with(&spec, &p, Mode::Audit).unwrap();
        assert_eq!(out.value, spec);
        assert!(out.findings.iter().any(|f| f.code == "userns"));
        let gate: Vec<&Finding> = out
            .findings
            .iter()
            .filter(|f| f.code == "cis-score")
            .collect();
        assert_eq!(gate.len(), 1, "{:#?}", out.findings);
        assert_eq!(gate[0].action, Action::Audit);
        assert!(gate[0].message.contains("5.26"), "{}", gate[0].message);
        assert!(!gate[0].message.contains("5.31"), "{}", gate[0].message);
    }

    #[test]
    fn permissive_and_audit_mode_change_nothing_but_record_the_same() {
        let spec = containerd_spec();
        let enforced = eval(&spec, "restricted", Mode::Enforce).unwrap();
        for (profile, mode) in [("permissive", Mode::Enforce), ("restricted", Mode::Audit)] {
            let out = eval(&spec, profile, mode).unwrap();
            assert_eq!(out.value, spec, "{profile} {mode}");
            assert!(out.findings.iter().all(|f| f.action == Action::Audit));
            // the same rules fire (permissive uses restricted's parameters as its yardstick)
            let codes = |o: &Outcome| {
                o.findings
                    .iter()
                    .map(|f| f.code.clone())
                    .collect::<std::collections::BTreeSet<_>>()
            };
            assert!(
                codes(&out).is_superset(
                    &codes(&enforced)
                        .into_iter()
                        .filter(|c| c != "capabilities" && c != "user" && c != "tmpfs")
                        .collect()
                ),
                "{profile}"
            );
        }
    }

    #[test]
    fn deny_names_the_rule_and_keeps_the_findings_so_far() {
        let mut spec = containerd_spec();
        spec["linux"]["namespaces"][4]["path"] = json!("/proc/1/ns/net");
        let err = eval(&spec, "restricted", Mode::Enforce).unwrap_err();
        assert_eq!(err.rule, "namespaces");
        assert_eq!(err.pointer, "/linux/namespaces/4/path");
        assert_eq!(err.to_string(), "policy refused container \"c1\": rule namespaces: network namespace /proc/1/ns/net is the host's");
        assert!(err
            .findings
            .iter()
            .any(|f| f.action == Action::Deny && f.code == "namespaces"));
        // audit mode records the same and lets it run
        let out = eval(&spec, "restricted", Mode::Audit).unwrap();
        assert!(out
            .findings
            .iter()
            .any(|f| f.code == "namespaces" && f.action == Action::Audit));
    }

    /// The built-in catalog with restricted as the default, no audit log.
    fn restricted_config() -> Config {
        Config {
            path: "/x".into(),
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

    fn context(config: &Config) -> Context<'_> {
        Context {
            id: "c1",
            bundle: std::path::Path::new("/b"),
            config,
            profile: None,
            mode: None,
            host: &TestHost,
            sources: crate::bundle::Sources::none(),
            tripwires: None,
            userns: None,
            caller: Default::default(),
            held: None,
            state_root: None,
        }
    }

    #[test]
    fn exec_is_held_to_the_process_rules() {
        let config = restricted_config();
        let ctx = context(&config);
        let process = json!({"args": ["sh"], "user": {"uid": 0, "gid": 0}, "capabilities": {"bounding": ["CAP_SYS_ADMIN", "CAP_NET_BIND_SERVICE"]}, "cwd": "/"});
        let out = harden_exec(&process, &json!({}), &ctx).unwrap();
        assert_eq!(out.value["user"]["uid"], 65534);
        assert_eq!(
            out.value["capabilities"]["bounding"],
            json!(["CAP_NET_BIND_SERVICE"])
        );
        assert_eq!(out.value["noNewPrivileges"], true);
        assert!(
            out.findings
                .iter()
                .all(|f| PROCESS_RULES.contains(&f.code.as_str())),
            "{:?}",
            out.findings
        );
    }

    #[test]
    fn unauthorized_exception_is_refused_and_unknown_annotation_is_an_error() {
        let config = restricted_config();
        let ctx = context(&config);
        let mut spec = containerd_spec();
        spec["annotations"]["hardrun.dev/allow-capabilities"] = json!("SYS_ADMIN");
        let err = harden_spec(&spec, &ctx).unwrap_err();
        assert_eq!(err.rule, "exception");
        assert!(
            err.reason.contains(
                "CAP_SYS_ADMIN is not authorized by profile restricted for namespace \"default\""
            ),
            "{}",
            err.reason
        );
        spec["annotations"]["hardrun.dev/allow-capabilities"] = json!("SYS_ADMIN");
        spec["annotations"]["hardrun.dev/alow-root"] = json!("true");
        let err = harden_spec(&spec, &ctx).unwrap_err();
        assert!(
            err.reason
                .starts_with("unknown annotation hardrun.dev/alow-root"),
            "{}",
            err.reason
        );
    }

    /// The containerd fixture as `restricted` runs it passes every applicable CIS control.
    #[test]
    fn restricted_hardening_passes_every_cis_control() {
        use crate::compliance::{score, Verdict};
        use serde_json::json;
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/containerd-spec.json"))
                .unwrap();
        let verdicts = |r: &crate::compliance::Report| -> Vec<(&'static str, Verdict)> {
            r.controls
                .iter()
                .filter(|c| c.verdict != Verdict::NotApplicable)
                .map(|c| (c.id, c.verdict))
                .collect()
        };
        // the fixture as restricted runs it passes every control: a CRI container, it joins its
        // sandbox's user namespace (pid 4242 of the test host, not the host's)
        let cat = crate::profile::Catalog::builtin();
        let ann = std::collections::BTreeMap::new();
        let granted = rules::Granted::default();
        let run = Run {
            profile: cat.get("restricted").unwrap(),
            mode: crate::profile::config::Mode::Enforce,
            id: "c",
            annotations: &ann,
            granted: &granted,
            host: &TestHost,
            only: None,
            userns: None,
            sources: crate::bundle::Sources::none(),
            tripwires: None,
        };
        let hardened = evaluate(&fixture, &run, vec![]).unwrap().value;
        let r2 = score(&hardened, &TestHost);
        let fails: Vec<&str> = verdicts(&r2)
            .into_iter()
            .filter(|(_, v)| *v == Verdict::Fail)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(fails, Vec::<&str>::new(), "{r2:#?}");
        assert_eq!(r2.level1.percent, 100.0);
        // joining the host's user namespace fails 5.31, as having none does
        let mut host_user = hardened.clone();
        for n in host_user["linux"]["namespaces"].as_array_mut().unwrap() {
            if n["type"] == "user" {
                n["path"] = json!("/proc/1/ns/user");
            }
        }
        assert!(verdicts(&score(&host_user, &TestHost)).contains(&("5.31", Verdict::Fail)));
    }
}
