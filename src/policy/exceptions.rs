//! Per-container exceptions requested by annotations under [`PREFIX`], honoured only where the
//! profile authorizes them for the container's Kubernetes namespace or image.
//!
//! | annotation | value | grants |
//! |---|---|---|
//! | `hardrun.dev/profile` | a profile name | evaluation under that profile |
//! | `hardrun.dev/allow-capabilities` | `NET_ADMIN,SYS_TIME` (with or without `CAP_`) | those capabilities kept |
//! | `hardrun.dev/allow-root` | `true` | the process may run as uid/gid 0 |
//! | `hardrun.dev/writable-rootfs` | `true` | the root filesystem stays writable |
//!
//! An unknown annotation under the prefix, or a malformed value, refuses the container (a typo
//! must not silently run the container under other rules than its owner meant). An unauthorized
//! request is a finding of rule `exception`, whose action the profile sets (deny in restricted).

use std::collections::BTreeMap;

use super::rules::{Granted, Proposal};
use crate::profile::{Catalog, ExceptionCfg, ExceptionKind, Profile};

pub const PREFIX: &str = "hardrun.dev/";

/// Where the container's Kubernetes namespace and image name come from (containerd's CRI, then
/// CRI-O's).
const NAMESPACE_KEYS: &[&str] = &[
    "io.kubernetes.cri.sandbox-namespace",
    "io.kubernetes.cri-o.Namespace",
];
const IMAGE_KEYS: &[&str] = &[
    "io.kubernetes.cri.image-name",
    "io.kubernetes.cri-o.ImageName",
];

#[derive(Debug, Default, PartialEq)]
pub struct Decided {
    pub profile: Option<String>,
    pub granted: Granted,
    pub unauthorized: Vec<Proposal>,
    /// indexes into the profile's `exceptions` that were used (for `profile lint`)
    pub used: Vec<usize>,
}

fn matches(patterns: &[String], value: Option<&str>) -> bool {
    let Some(value) = value else { return false };
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => p == value,
    })
}

fn first<'a>(ann: &'a BTreeMap<String, String>, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| ann.get(*k).map(String::as_str))
}

fn pointer(key: &str) -> String {
    format!("/annotations/{}", super::edit::escape(key))
}

fn cap_name(v: &str) -> String {
    let v = v.trim().to_ascii_uppercase();
    if v.starts_with("CAP_") {
        v
    } else {
        format!("CAP_{v}")
    }
}

fn boolean(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("annotation {key}: {v:?} is not true or false")),
    }
}

/// Decides which requested exceptions `profile` authorizes. Err: a malformed request.
pub fn decide(
    ann: &BTreeMap<String, String>,
    profile: &Profile,
    catalog: &Catalog,
) -> Result<Decided, String> {
    let ns = first(ann, NAMESPACE_KEYS);
    let image = first(ann, IMAGE_KEYS);
    let mut d = Decided::default();
    let authorized = |kind: ExceptionKind, value: &str, used: &mut Vec<usize>| -> bool {
        let hit = profile
            .exceptions
            .iter()
            .enumerate()
            .find(|(_, e): &(usize, &ExceptionCfg)| {
                e.kind == kind
                    && (e.values.is_empty()
                        && kind != ExceptionKind::AllowCapabilities
                        && kind != ExceptionKind::Profile
                        || e.values.iter().any(|v| match kind {
                            ExceptionKind::AllowCapabilities => cap_name(v) == value,
                            _ => v == value,
                        }))
                    && (matches(&e.namespaces, ns) || matches(&e.images, image))
            });
        if let Some((i, _)) = hit {
            used.push(i);
        }
        hit.is_some()
    };
    let who = || match (ns, image) {
        (Some(n), Some(i)) => format!("namespace {n:?}, image {i:?}"),
        (Some(n), None) => format!("namespace {n:?}"),
        (None, Some(i)) => format!("image {i:?}"),
        (None, None) => "a container with no namespace or image annotation".to_owned(),
    };
    for (key, value) in ann.range(PREFIX.to_owned()..) {
        let Some(name) = key.strip_prefix(PREFIX) else {
            break;
        };
        match name {
            "profile" => {
                catalog.get(value).map_err(|e| format!("annotation {key}: {e}"))?;
                if value == &profile.name {
                    continue;
                }
                if authorized(ExceptionKind::Profile, value, &mut d.used) {
                    d.profile = Some(value.clone());
                } else {
                    d.unauthorized.push(Proposal::refuse(
                        pointer(key),
                        format!("annotation {key}={value} is not authorized by profile {} for {}", profile.name, who()),
                    ));
                }
            }
            "allow-capabilities" => {
                for v in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                    let cap = cap_name(v);
                    if cap.parse::<caps::Capability>().is_err() {
                        return Err(format!("annotation {key}: unknown capability {v:?}"));
                    }
                    if authorized(ExceptionKind::AllowCapabilities, &cap, &mut d.used) {
                        d.granted.capabilities.push(cap);
                    } else {
                        d.unauthorized.push(Proposal::refuse(
                            pointer(key),
                            format!("annotation {key}: {cap} is not authorized by profile {} for {}", profile.name, who()),
                        ));
                    }
                }
            }
            "allow-root" | "writable-rootfs" => {
                if !boolean(key, value)? {
                    continue;
                }
                let kind = if name == "allow-root" { ExceptionKind::AllowRoot } else { ExceptionKind::WritableRootfs };
                if authorized(kind, value, &mut d.used) {
                    if kind == ExceptionKind::AllowRoot {
                        d.granted.allow_root = true;
                    } else {
                        d.granted.writable_rootfs = true;
                    }
                } else {
                    d.unauthorized.push(Proposal::refuse(
                        pointer(key),
                        format!("annotation {key}=true is not authorized by profile {} for {}", profile.name, who()),
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "unknown annotation {key} (known: {PREFIX}profile, {PREFIX}allow-capabilities, {PREFIX}allow-root, {PREFIX}writable-rootfs)"
                ))
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn profile() -> Profile {
        Profile::parse(
            r#"name = "p"
[[exceptions]]
kind = "allow-capabilities"
values = ["NET_ADMIN"]
namespaces = ["kube-system"]
[[exceptions]]
kind = "profile"
values = ["baseline"]
images = ["registry.local/legacy/*"]
[[exceptions]]
kind = "allow-root"
namespaces = ["ops"]
"#,
            "p.toml",
        )
        .unwrap()
    }

    #[test]
    fn table() {
        let cat = Catalog::builtin();
        let p = profile();
        let ns = |n: &str| ("io.kubernetes.cri.sandbox-namespace", n.to_string());
        struct Case {
            ann: Vec<(&'static str, String)>,
            profile: Option<&'static str>,
            caps: Vec<&'static str>,
            root: bool,
            unauthorized: usize,
        }
        let cases = vec![
            Case {
                ann: vec![],
                profile: None,
                caps: vec![],
                root: false,
                unauthorized: 0,
            },
            Case {
                ann: vec![
                    ns("kube-system"),
                    ("hardrun.dev/allow-capabilities", "net_admin".into()),
                ],
                profile: None,
                caps: vec!["CAP_NET_ADMIN"],
                root: false,
                unauthorized: 0,
            },
            Case {
                ann: vec![
                    ns("default"),
                    ("hardrun.dev/allow-capabilities", "NET_ADMIN".into()),
                ],
                profile: None,
                caps: vec![],
                root: false,
                unauthorized: 1,
            },
            Case {
                ann: vec![
                    ns("kube-system"),
                    (
                        "hardrun.dev/allow-capabilities",
                        "NET_ADMIN,SYS_TIME".into(),
                    ),
                ],
                profile: None,
                caps: vec!["CAP_NET_ADMIN"],
                root: false,
                unauthorized: 1,
            },
            Case {
                ann: vec![
                    (
                        "io.kubernetes.cri.image-name",
                        "registry.local/legacy/app:1".into(),
                    ),
                    ("hardrun.dev/profile", "baseline".into()),
                ],
                profile: Some("baseline"),
                caps: vec![],
                root: false,
                unauthorized: 0,
            },
            Case {
                ann: vec![
                    ("io.kubernetes.cri.image-name", "docker.io/app".into()),
                    ("hardrun.dev/profile", "baseline".into()),
                ],
                profile: None,
                caps: vec![],
                root: false,
                unauthorized: 1,
            },
            Case {
                ann: vec![
                    ("io.kubernetes.cri-o.Namespace", "ops".into()),
                    ("hardrun.dev/allow-root", "true".into()),
                ],
                profile: None,
                caps: vec![],
                root: true,
                unauthorized: 0,
            },
            Case {
                ann: vec![("hardrun.dev/allow-root", "false".into())],
                profile: None,
                caps: vec![],
                root: false,
                unauthorized: 0,
            },
            Case {
                ann: vec![("hardrun.dev/writable-rootfs", "true".into())],
                profile: None,
                caps: vec![],
                root: false,
                unauthorized: 1,
            },
            // annotations of others are none of our business
            Case {
                ann: vec![("hardrun.devx/foo", "1".into()), ("io.x/y", "z".into())],
                profile: None,
                caps: vec![],
                root: false,
                unauthorized: 0,
            },
        ];
        for c in cases {
            let a: BTreeMap<String, String> = c
                .ann
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            let d = decide(&a, &p, &cat).unwrap();
            assert_eq!(d.profile.as_deref(), c.profile, "{a:?}");
            assert_eq!(d.granted.capabilities, c.caps, "{a:?}");
            assert_eq!(d.granted.allow_root, c.root, "{a:?}");
            assert_eq!(d.unauthorized.len(), c.unauthorized, "{a:?}");
            for u in &d.unauthorized {
                assert!(
                    u.message.contains("not authorized by profile p"),
                    "{}",
                    u.message
                );
                assert!(!u.fixable);
            }
        }
    }

    #[test]
    fn malformed_requests_are_errors() {
        let cat = Catalog::builtin();
        let p = profile();
        for (pairs, want) in [
            (
                vec![("hardrun.dev/allow-everything", "true")],
                "unknown annotation hardrun.dev/allow-everything",
            ),
            (
                vec![("hardrun.dev/allow-root", "yes")],
                "annotation hardrun.dev/allow-root: \"yes\" is not true or false",
            ),
            (
                vec![("hardrun.dev/allow-capabilities", "FLY")],
                "annotation hardrun.dev/allow-capabilities: unknown capability \"FLY\"",
            ),
            (
                vec![("hardrun.dev/profile", "nope")],
                "annotation hardrun.dev/profile: unknown profile \"nope\"",
            ),
        ] {
            let err = decide(&ann(&pairs), &p, &cat).unwrap_err();
            assert!(err.starts_with(want), "{err}");
        }
    }
}
