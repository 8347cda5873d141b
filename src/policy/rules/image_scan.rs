//! `image-scan`: the container's image has a scanner's report (Trivy, Grype) without a finding
//! at or above the profile's `[scan] deny_at`, not older than `max_age` (see
//! `docs/rules/image-scan.md`, `docs/scanning.md`).
//!
//! The image is named by the container's annotations (`scan::image_of`). The reports are read
//! from the configured directory by [`preload`], which the engine calls before the rules of a
//! create, run or check (never on exec or update); the rule itself stays a pure function of the
//! report found, the profile and the clock.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;

use super::{Proposal, Rule, RuleCtx};
use crate::policy::edit;
use crate::policy::registry::Severity;
use crate::profile::Profile;
use crate::scan::cfg::{RequireReport, ScanCfg};
use crate::scan::{Image, Level, Lookup, Vuln};

/// The rule, as the registry lists it (its code and CIS tags are on its registry line).
pub const RULE: Rule = Rule {
    description: "the image has a scanner's report (Trivy, Grype) with no finding at or above the profile's [scan] deny_at, not older than max_age",
    severity: Severity::High,
    process: false,
    evaluate: Some(evaluate),
};

/// What [`preload`] found, per image (its name and base digest).
fn preloaded() -> &'static Mutex<BTreeMap<String, Lookup>> {
    static P: std::sync::OnceLock<Mutex<BTreeMap<String, Lookup>>> = std::sync::OnceLock::new();
    P.get_or_init(Default::default)
}

fn key_of(image: &Image) -> String {
    format!("{}\n{}", image.name, image.base.as_deref().unwrap_or(""))
}

/// Reads the report of the image `annotations` name (the index of `dir`, rebuilt if the
/// directory changed), for the rule to find in memory.
pub fn preload(dir: &Path, annotations: &BTreeMap<String, String>) {
    let Some(image) = crate::scan::image_of(annotations) else {
        return;
    };
    let found = crate::scan::lookup(dir, &image);
    preloaded()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key_of(&image), found);
}

pub fn evaluate(_spec: &Value, profile: &Profile, ctx: &RuleCtx) -> Vec<Proposal> {
    let image = crate::scan::image_of(ctx.annotations);
    let lookup = match &image {
        None => Lookup::Missing,
        Some(i) => preloaded()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key_of(i))
            .cloned()
            .unwrap_or_else(|| Lookup::Unavailable("the reports were not read".into())),
    };
    let mut out = registry(image.as_ref(), &profile.scan);
    out.extend(judge(
        image.as_ref(),
        &lookup,
        &profile.scan,
        chrono::Utc::now().timestamp(),
    ));
    out
}

/// Docker Hub's other names for itself: an image named through them is `docker.io`'s.
const DOCKER_HUB_ALIASES: &[&str] = &[
    "index.docker.io/",
    "registry-1.docker.io/",
    "registry.hub.docker.com/",
];

/// The reference an image's registry is judged by: Docker's normalized form
/// (`busybox` → `docker.io/library/busybox:latest`), Docker Hub's other host names as
/// `docker.io`. `None` for a bare digest (`sha256:…`), which names no registry.
pub fn registry_ref(name: &str) -> Option<String> {
    let n = name.trim();
    let bare_digest = n.split_once(':').is_some_and(|(alg, hex)| {
        !n.contains('/')
            && !alg.is_empty()
            && alg.chars().all(|c| c.is_ascii_alphanumeric())
            && hex.len() >= 32
            && hex.chars().all(|c| c.is_ascii_hexdigit())
    });
    if n.is_empty() || bare_digest {
        return None;
    }
    let norm = crate::scan::normalize(n);
    for alias in DOCKER_HUB_ALIASES {
        if let Some(rest) = norm.strip_prefix(alias) {
            let repo = rest.split([':', '@']).next().unwrap_or_default();
            return Some(if repo.contains('/') {
                format!("docker.io/{rest}")
            } else {
                format!("docker.io/library/{rest}")
            });
        }
    }
    Some(norm)
}

/// `[scan] allowed_registries`: the image, where an annotation names it, must come from one of
/// them. An image nobody names (or named by a digest alone) is not judged here.
pub fn registry(image: Option<&Image>, cfg: &ScanCfg) -> Vec<Proposal> {
    if cfg.allowed_registries.is_empty() {
        return vec![];
    }
    let Some(image) = image.filter(|i| i.annotation != crate::scan::BASE_DIGEST_ANNOTATION) else {
        return vec![];
    };
    let Some(reference) = registry_ref(&image.name) else {
        return vec![];
    };
    if cfg
        .allowed_registries
        .iter()
        .any(|r| reference.starts_with(r.as_str()))
    {
        return vec![];
    }
    vec![Proposal::refuse(
        format!("/annotations/{}", edit::escape(image.annotation)),
        format!(
            "image {} ({reference}) is from no allowed registry; [scan] allowed_registries = [{}]",
            image.name,
            cfg.allowed_registries
                .iter()
                .map(|r| format!("{r:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )]
}

/// The counts by severity in the message of the `image-scan` finding that names the report
/// (`… : 1 critical, 1 high, 0 medium, 1 low, 0 unknown; …`), as the audit record and the
/// container's state carry it; `None` for the rule's other messages. What the monitor's
/// `hardrun_image_vulnerabilities` reads.
pub fn counts_of(message: &str) -> Option<BTreeMap<Level, u64>> {
    let at = message.find(" critical, ")?;
    let start = message[..at]
        .rfind(|c: char| !c.is_ascii_digit())
        .map(|i| i + 1)
        .unwrap_or(0);
    let rest = &message[start..];
    let text = rest.split(';').next().unwrap_or_default();
    let mut out = BTreeMap::new();
    for (part, level) in text.split(", ").zip(Level::ALL) {
        let (n, name) = part.trim().split_once(' ')?;
        if name != level.name() {
            return None;
        }
        out.insert(level, n.parse().ok()?);
    }
    (out.len() == Level::ALL.len()).then_some(out)
}

/// The worst first: severity, then a finding with a fix before one without, then by id.
fn worse(a: &Vuln, b: &Vuln) -> std::cmp::Ordering {
    a.severity
        .cmp(&b.severity)
        .then(a.fixed.is_some().cmp(&b.fixed.is_some()))
        .then(b.id.cmp(&a.id))
}

fn describe(v: &Vuln) -> String {
    let installed = if v.installed.is_empty() {
        String::new()
    } else {
        format!(" {}", v.installed)
    };
    let fix = match &v.fixed {
        Some(f) => format!("fixed in {f}"),
        None => "no fixed version".into(),
    };
    format!(
        "{} in {}{installed} is {} ({fix})",
        v.id, v.package, v.severity
    )
}

fn age_text(secs: i64) -> String {
    match secs {
        s if s < 3600 => format!("{}m", s.max(0) / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The rule on what is known: the image (if any annotation names it), its report, the profile's
/// `[scan]` and the time (unix seconds).
pub fn judge(image: Option<&Image>, lookup: &Lookup, cfg: &ScanCfg, now: i64) -> Vec<Proposal> {
    let Some(image) = image else {
        if cfg.require_report == RequireReport::Refuse {
            return vec![Proposal::refuse(
                "/annotations",
                format!(
                    "no annotation names the container's image ({}), so no scan report can vouch for it; [scan] require_report = \"refuse\"",
                    crate::scan::IMAGE_ANNOTATIONS.join(", ")
                ),
            )];
        }
        return vec![];
    };
    let pointer = format!("/annotations/{}", edit::escape(image.annotation));
    let name = &image.name;
    let (entry, vulns, base) = match lookup {
        Lookup::Found { entry, vulns, base } => (entry, vulns, *base),
        Lookup::Missing | Lookup::Unavailable(_) => {
            let why = match lookup {
                Lookup::Unavailable(e) => format!("no scan report for image {name} ({e})"),
                _ => format!("no scan report for image {name}"),
            };
            return match cfg.require_report {
                RequireReport::Refuse => vec![Proposal::refuse(
                    pointer,
                    format!("{why}; [scan] require_report = \"refuse\""),
                )],
                RequireReport::Audit => vec![Proposal::note(pointer, why)],
                RequireReport::Ignore => vec![],
            };
        }
    };
    let today = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .date_naive();
    let counted: Vec<&Vuln> = vulns
        .iter()
        .filter(|v| cfg.ignored(&v.id, today).is_none())
        .collect();
    let ignored = vulns.len() - counted.len();
    let counts = crate::scan::report::counts(vulns);
    let counts_text = Level::ALL
        .iter()
        .map(|l| format!("{} {l}", counts.get(l).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ");
    let whose = if base { "base image's " } else { "" };
    let age = now - entry.created;
    let source = format!(
        "{whose}{} report {} of {}",
        entry.scanner,
        entry.file,
        chrono::DateTime::from_timestamp(entry.created, 0)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    );
    let mut out = vec![Proposal::note(
        pointer.clone(),
        format!(
            "image {name}: {source}: {counts_text}{}",
            if ignored > 0 {
                format!("; {ignored} ignored by [[scan.ignore]]")
            } else {
                String::new()
            }
        ),
    )];
    if let Some(max) = cfg.max_age_secs() {
        if age > max as i64 {
            out.push(Proposal::refuse(
                pointer.clone(),
                format!(
                    "image {name}: the {source} is {} old, older than [scan] max_age = {}",
                    age_text(age),
                    cfg.max_age.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    if let Some(at) = cfg.deny_at.and_then(|d| d.level()) {
        let over: Vec<&&Vuln> = counted.iter().filter(|v| v.severity >= at).collect();
        if let Some(worst) = over.iter().copied().max_by(|a, b| worse(a, b)) {
            let expired = cfg
                .expired(&worst.id, today)
                .map(|ig| format!("; its [[scan.ignore]] expired {}", ig.expires))
                .unwrap_or_default();
            out.push(Proposal::refuse(
                pointer,
                format!(
                    "image {name}: {}; the worst of {} finding{} at or above {at} in the {source}{expired}",
                    describe(worst),
                    over.len(),
                    if over.len() == 1 { "" } else { "s" },
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::cfg::{DenyAt, ScanIgnore};
    use crate::scan::Entry;

    fn fixture(name: &str) -> (Image, Lookup) {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/scans")
                .join(name),
        )
        .unwrap();
        let r = crate::scan::parse(&text, name, 0).unwrap();
        let image = crate::scan::image_of(
            &[(
                "io.kubernetes.cri.image-name".to_owned(),
                r.artifact.clone(),
            )]
            .into(),
        )
        .unwrap();
        let entry: Entry = r.entry(name);
        (
            image,
            Lookup::Found {
                entry,
                vulns: r.vulns,
                base: false,
            },
        )
    }

    fn cfg(deny_at: DenyAt) -> ScanCfg {
        ScanCfg {
            deny_at: Some(deny_at),
            ..Default::default()
        }
    }

    fn ignore(id: &str, expires: &str) -> ScanIgnore {
        ScanIgnore {
            id: id.into(),
            reason: "not reachable".into(),
            expires: expires.into(),
            comment: None,
        }
    }

    // 2026-12-06T00:00:00Z, 75 days after the fixtures' scans
    const NOW: i64 = 1_796_515_200;

    /// (refusals, notes, the refusal messages)
    fn run(image: Option<&Image>, l: &Lookup, c: &ScanCfg, now: i64) -> (usize, usize, String) {
        let p = judge(image, l, c, now);
        let refused: Vec<_> = p.iter().filter(|p| !p.fixable).collect();
        (
            refused.len(),
            p.iter().filter(|p| p.noted).count(),
            refused
                .iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
                .join(" | "),
        )
    }

    #[test]
    fn trivy_table() {
        let (image, found) = fixture("trivy-busybox.json");
        let with = |c: ScanCfg| run(Some(&image), &found, &c, NOW);
        // the worst finding is named: id, package, installed version, severity, fix
        let (n, notes, msg) = with(cfg(DenyAt::Critical));
        assert_eq!((n, notes), (1, 1));
        assert!(
            msg.contains("CVE-2099-0001 in libcrypto3 3.1.4-r0 is critical (fixed in 3.1.4-r1)"),
            "{msg}"
        );
        assert!(
            msg.contains("the worst of 1 finding at or above critical"),
            "{msg}"
        );
        let (n, _, msg) = with(cfg(DenyAt::High));
        assert_eq!(n, 1);
        assert!(msg.contains("CVE-2099-0001") && msg.contains("worst of 2 findings"));
        assert_eq!(with(cfg(DenyAt::None)).0, 0);
        assert_eq!(with(ScanCfg::default()).0, 0);
        // an ignore holds through its expiry day, and stops the day after
        let ignoring = |expires: &str| ScanCfg {
            ignore: vec![ignore("CVE-2099-0001", expires)],
            ..cfg(DenyAt::Critical)
        };
        assert_eq!(with(ignoring("2026-12-06")).0, 0);
        assert_eq!(with(ignoring("2027-01-01")).0, 0);
        let (n, _, msg) = with(ignoring("2026-12-05"));
        assert_eq!(n, 1);
        assert!(
            msg.contains("its [[scan.ignore]] expired 2026-12-05"),
            "{msg}"
        );
        // ignoring the critical one under deny_at high leaves the high one as the worst
        let (n, _, msg) = with(ScanCfg {
            deny_at: Some(DenyAt::High),
            ..ignoring("2027-01-01")
        });
        assert_eq!(n, 1);
        assert!(
            msg.contains("CVE-2099-0002 in busybox 1.36.1-r15 is high"),
            "{msg}"
        );
        // the counts note names every severity
        let notes = judge(Some(&image), &found, &ignoring("2027-01-01"), NOW);
        assert!(
            notes[0]
                .message
                .contains("1 critical, 1 high, 0 medium, 1 low, 0 unknown; 1 ignored"),
            "{}",
            notes[0].message
        );
        assert_eq!(
            notes[0].pointer,
            "/annotations/io.kubernetes.cri.image-name"
        );
    }

    #[test]
    fn grype_table() {
        let (image, found) = fixture("grype-alpine.json");
        let (n, _, msg) = run(Some(&image), &found, &cfg(DenyAt::High), NOW);
        assert_eq!(n, 1);
        assert!(
            msg.contains("CVE-2099-1001 in busybox 1.36.1-r0 is high (fixed in 1.36.1-r2)"),
            "{msg}"
        );
        assert_eq!(run(Some(&image), &found, &cfg(DenyAt::Critical), NOW).0, 0);
        // negligible counts as low, without a fix
        let (_, _, msg) = run(Some(&image), &found, &cfg(DenyAt::Low), NOW);
        assert!(msg.contains("CVE-2099-1001"), "{msg}");
    }

    #[test]
    fn max_age() {
        let (image, found) = fixture("trivy-busybox.json");
        let aged = |max: &str| ScanCfg {
            max_age: Some(max.into()),
            ..Default::default()
        };
        // the report is 75 days (and some hours) old at NOW
        assert_eq!(run(Some(&image), &found, &aged("90d"), NOW).0, 0);
        let (n, _, msg) = run(Some(&image), &found, &aged("30d"), NOW);
        assert_eq!(n, 1);
        assert!(
            msg.contains("is 75d old, older than [scan] max_age = 30d"),
            "{msg}"
        );
    }

    #[test]
    fn require_report() {
        let image = crate::scan::image_of(
            &[("hardrun.dev/image".to_owned(), "acme/app:1".to_owned())].into(),
        )
        .unwrap();
        let req = |r: RequireReport| ScanCfg {
            require_report: r,
            ..cfg(DenyAt::Critical)
        };
        for (l, r, want) in [
            (Lookup::Missing, RequireReport::Refuse, (1, 0)),
            (Lookup::Missing, RequireReport::Audit, (0, 1)),
            (Lookup::Missing, RequireReport::Ignore, (0, 0)),
            (
                Lookup::Unavailable("gone".into()),
                RequireReport::Refuse,
                (1, 0),
            ),
        ] {
            let (n, notes, msg) = run(Some(&image), &l, &req(r), NOW);
            assert_eq!((n, notes), want, "{l:?} {r:?}");
            if n > 0 {
                assert!(
                    msg.starts_with("no scan report for image acme/app:1"),
                    "{msg}"
                );
            }
        }
        let p = judge(
            Some(&image),
            &Lookup::Missing,
            &req(RequireReport::Audit),
            NOW,
        );
        assert_eq!(p[0].pointer, "/annotations/hardrun.dev~1image");
        // an image nobody names: refused only where a report is required
        assert_eq!(
            run(None, &Lookup::Missing, &req(RequireReport::Refuse), NOW).0,
            1
        );
        assert!(judge(None, &Lookup::Missing, &req(RequireReport::Audit), NOW).is_empty());
    }

    #[test]
    fn counts_read_back_from_the_message() {
        let (image, found) = fixture("trivy-busybox.json");
        let p = judge(Some(&image), &found, &cfg(DenyAt::Critical), NOW);
        let c = counts_of(&p[0].message).unwrap();
        let n = |l| c.get(&l).copied();
        assert_eq!(
            [
                Level::Critical,
                Level::High,
                Level::Medium,
                Level::Low,
                Level::Unknown
            ]
            .map(n),
            [Some(1), Some(1), Some(0), Some(1), Some(0)]
        );
        // the refusal and other messages carry no counts
        assert_eq!(counts_of(&p[1].message), None);
        assert_eq!(counts_of("no scan report for image acme/app:1"), None);
        assert_eq!(counts_of("image x: r: 1 critical, 2 high"), None);
    }

    #[test]
    fn registry_references_normalize() {
        for (name, want) in [
            ("busybox", Some("docker.io/library/busybox:latest")),
            ("busybox:1.36", Some("docker.io/library/busybox:1.36")),
            ("library/busybox", Some("docker.io/library/busybox:latest")),
            (
                "docker.io/library/busybox",
                Some("docker.io/library/busybox:latest"),
            ),
            (
                "index.docker.io/busybox:1",
                Some("docker.io/library/busybox:1"),
            ),
            (
                "registry-1.docker.io/acme/app",
                Some("docker.io/acme/app:latest"),
            ),
            ("acme/app:2", Some("docker.io/acme/app:2")),
            (
                "registry.example.com/team/app:1",
                Some("registry.example.com/team/app:1"),
            ),
            ("localhost:5000/app", Some("localhost:5000/app:latest")),
            (" quay.io/x/y@sha256:abc ", Some("quay.io/x/y@sha256:abc")),
            (&format!("sha256:{}", "a".repeat(64)), None),
            ("", None),
        ] {
            assert_eq!(registry_ref(name).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn registry_allowlist() {
        let image = |a: &str, v: &str| {
            crate::scan::image_of(&[(a.to_owned(), v.to_owned())].into()).unwrap()
        };
        let cri = "io.kubernetes.cri.image-name";
        let cfg = |r: &[&str]| ScanCfg {
            allowed_registries: r.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let allow = cfg(&["registry.example.com/", "docker.io/library/"]);
        for (a, v, refused) in [
            (cri, "busybox", false),
            (cri, "docker.io/library/busybox:1.36", false),
            (cri, "index.docker.io/library/busybox", false),
            (cri, "registry.example.com/team/app:1", false),
            (cri, "acme/app", true),
            (cri, "registry.example.com.evil.io/team/app", true),
            ("hardrun.dev/image", "ghcr.io/acme/app:1", true),
            ("org.opencontainers.image.ref.name", "quay.io/x/y:1", true),
            // named by a digest alone: no registry is known
            (cri, &format!("sha256:{}", "c".repeat(64)), false),
            (
                crate::scan::BASE_DIGEST_ANNOTATION,
                &format!("sha256:{}", "d".repeat(64)),
                false,
            ),
        ] {
            let p = registry(Some(&image(a, v)), &allow);
            assert_eq!(p.len(), usize::from(refused), "{a}={v}");
            if refused {
                assert!(!p[0].fixable);
                assert!(
                    p[0].message.starts_with(&format!("image {v} (")),
                    "{}",
                    p[0].message
                );
                assert!(
                    p[0].message.ends_with(
                        "is from no allowed registry; [scan] allowed_registries = [\"registry.example.com/\", \"docker.io/library/\"]"
                    ),
                    "{}",
                    p[0].message
                );
            }
        }
        // no image named, or no allowlist: nothing
        assert!(registry(None, &allow).is_empty());
        assert!(registry(Some(&image(cri, "acme/app")), &cfg(&[])).is_empty());
        // a prefix must end in '/': `registry.example.com` would admit registry.example.com.evil.io
        let bad = cfg(&["registry.example.com"]);
        assert_eq!(bad.validate().unwrap_err().0, ".allowed_registries[0]");
        assert!(allow.validate().is_ok());
    }

    #[test]
    fn builtin_profiles_gate_critical_findings() {
        let p = super::super::testing::profile("restricted");
        assert_eq!(p.scan.deny_at, Some(DenyAt::Critical));
        assert_eq!(p.scan.require_report, RequireReport::Audit);
    }
}
