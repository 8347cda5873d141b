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
//!
//! **Who the container is** (its Kubernetes namespace and image) also comes from annotations,
//! which whoever writes the spec writes: podman, ctr or Docker callers set
//! `io.kubernetes.cri.sandbox-namespace: kube-system` as freely as any other. They count only
//! where something outside the spec vouches for them: containerd's CRI plugin, recognised by the
//! paths its runc shim calls the runtime with ([`Caller::from_paths`]). Anywhere else they are
//! claims: recorded as such ([`Identity`]), never authorizing. See docs/identity.md.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use super::rules::{Granted, Proposal};
use crate::profile::{Catalog, ExceptionCfg, ExceptionKind, Profile};

pub const PREFIX: &str = "hardrun.dev/";

/// containerd's CRI plugin's annotations: the container's Kubernetes namespace and image.
pub const CRI_NAMESPACE_KEY: &str = "io.kubernetes.cri.sandbox-namespace";
pub const CRI_IMAGE_KEY: &str = "io.kubernetes.cri.image-name";

/// Where a spec may claim its Kubernetes namespace and image name (containerd's CRI keys, then
/// CRI-O's).
const NAMESPACE_KEYS: &[&str] = &[CRI_NAMESPACE_KEY, "io.kubernetes.cri-o.Namespace"];
const IMAGE_KEYS: &[&str] = &[CRI_IMAGE_KEY, "io.kubernetes.cri-o.ImageName"];

/// containerd's namespace for the CRI plugin's containers (fixed in containerd).
pub const CRI_CONTAINERD_NAMESPACE: &str = "k8s.io";
/// The directory of containerd's v2 shims' bundles: `<state>/io.containerd.runtime.v2.task/<ns>/<id>`.
const SHIM_V2_TASKS: &str = "io.containerd.runtime.v2.task";

/// Who called the runtime, as far as something outside the spec can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Caller {
    /// containerd's CRI plugin (through its runc shim): the container lives in containerd's
    /// `k8s.io` namespace
    ContainerdCri,
    /// anyone else: a direct call, podman/conmon, CRI-O, dockerd, ctr or nerdctl in a namespace
    /// other than `k8s.io`
    #[default]
    Other,
}

impl Caller {
    /// containerd's runc shim (v2, containerd 1.6 and 2.x) calls the runtime with the bundle
    /// `<containerd state>/io.containerd.runtime.v2.task/<namespace>/<id>` (and that as its
    /// working directory) and the state root `<runc root>/<namespace>`; the CRI plugin's
    /// namespace is `k8s.io`. Both paths must say `k8s.io`, and the bundle must end in the
    /// container's own id. `bundle` and `root` are canonical (symlinks and `..` resolved), so a
    /// spec cannot move them: dockerd's containers live in `…/moby/<id>` under
    /// `/run/docker/runtime-runc/moby`, podman's and CRI-O's in `…/overlay-containers/<id>/userdata`,
    /// `ctr -n default` in `…/default/<id>`.
    pub fn from_paths(bundle: &Path, root: &Path, id: &str) -> Caller {
        let mut up = bundle.components().rev();
        let name = |c: Option<Component>| match c {
            Some(Component::Normal(n)) => Some(n.to_owned()),
            _ => None,
        };
        let (last, ns, tasks) = (name(up.next()), name(up.next()), name(up.next()));
        let shaped = last.as_deref() == Some(OsStr::new(id))
            && ns.as_deref() == Some(OsStr::new(CRI_CONTAINERD_NAMESPACE))
            && tasks.as_deref() == Some(OsStr::new(SHIM_V2_TASKS));
        let rooted = matches!(
            root.components().next_back(),
            Some(Component::Normal(n)) if n == CRI_CONTAINERD_NAMESPACE
        );
        if shaped && rooted {
            Caller::ContainerdCri
        } else {
            Caller::Other
        }
    }
}

/// The container's Kubernetes identity as the spec states it, and who vouches for it. Stored
/// with the container (`hardrun.json`); only a vouched-for identity authorizes exceptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Identity {
    /// the Kubernetes namespace the annotations name
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// the image name the annotations name
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// who vouches for them (`containerd-cri`); absent: they are the spec's own claim
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vouched_by: Option<String>,
}

impl Identity {
    pub fn trusted(&self) -> bool {
        self.vouched_by.is_some()
    }

    /// Whether the spec names a namespace or an image at all.
    pub fn claimed(&self) -> bool {
        self.namespace.is_some() || self.image.is_some()
    }
}

/// The identity of a container with annotations `ann`, called by `caller`. On containerd's CRI
/// path only containerd's own keys are read (the plugin writes them after any pod annotation it
/// passes through, so a pod cannot set them); elsewhere any known key is read, as a claim.
pub fn identify(ann: &BTreeMap<String, String>, caller: Caller) -> Identity {
    match caller {
        Caller::ContainerdCri => Identity {
            namespace: ann.get(CRI_NAMESPACE_KEY).cloned(),
            image: ann.get(CRI_IMAGE_KEY).cloned(),
            vouched_by: Some("containerd-cri".into()),
        },
        Caller::Other => Identity {
            namespace: first(ann, NAMESPACE_KEYS).map(str::to_owned),
            image: first(ann, IMAGE_KEYS).map(str::to_owned),
            vouched_by: None,
        },
    }
}

/// The identity annotations of `ann` that are claims nobody vouched for: (key, value).
pub fn untrusted_claims(
    ann: &BTreeMap<String, String>,
    identity: &Identity,
) -> Vec<(String, String)> {
    if identity.trusted() {
        return vec![];
    }
    NAMESPACE_KEYS
        .iter()
        .chain(IMAGE_KEYS)
        .filter_map(|k| ann.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

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

/// A malformed exception request (the container is refused, naming the annotation).
#[derive(Debug, thiserror::Error)]
pub enum ExceptionError {
    #[error("annotation {key}: {value:?} is not true or false")]
    NotBoolean { key: String, value: String },
    #[error("annotation {key}: {err}")]
    Profile {
        key: String,
        err: crate::profile::ProfileError,
    },
    #[error("annotation {key}: unknown capability {value:?}")]
    UnknownCapability { key: String, value: String },
    #[error("unknown annotation {0} (known: {PREFIX}profile, {PREFIX}allow-capabilities, {PREFIX}allow-root, {PREFIX}writable-rootfs, {PREFIX}image)")]
    Unknown(String),
}

fn boolean(key: &str, v: &str) -> Result<bool, ExceptionError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ExceptionError::NotBoolean {
            key: key.to_owned(),
            value: v.to_owned(),
        }),
    }
}

/// The index of the first exception entry of `profile` that authorizes `value` of `kind` for a
/// container of Kubernetes namespace `ns` and image `image` (both `None` unless vouched for).
fn entry(
    profile: &Profile,
    kind: ExceptionKind,
    value: &str,
    ns: Option<&str>,
    image: Option<&str>,
) -> Option<usize> {
    profile
        .exceptions
        .iter()
        .enumerate()
        .find(|(_, e): &(usize, &ExceptionCfg)| {
            e.kind == kind
                && (e.values.is_empty()
                    && !matches!(
                        kind,
                        ExceptionKind::AllowCapabilities
                            | ExceptionKind::Profile
                            | ExceptionKind::HostNamespaces
                            | ExceptionKind::DeviceClass
                    )
                    || e.values.iter().any(|v| match kind {
                        ExceptionKind::AllowCapabilities => cap_name(v) == value,
                        _ => v == value,
                    }))
                && (matches(&e.namespaces, ns) || matches(&e.images, image))
        })
        .map(|(i, _)| i)
}

/// The host namespaces a spec asks for by leaving them out (`omitted`, kinds of
/// [`crate::profile::HOST_NAMESPACE_KINDS`]) that a `host-namespaces` exception of `profile`
/// authorizes for a container of `identity` (vouched for only: containerd's CRI), and the entries
/// used. A `network` grant covers `uts`: Kubernetes' `hostNetwork` shares both, and containerd
/// leaves both out. The request is the omission itself (the pod's `hostNetwork: true`), no
/// annotation.
pub fn host_namespaces(
    omitted: &[&str],
    identity: &Identity,
    profile: &Profile,
) -> (Vec<String>, Vec<usize>) {
    if !identity.trusted() {
        return (vec![], vec![]);
    }
    let (ns, image) = (identity.namespace.as_deref(), identity.image.as_deref());
    let (mut granted, mut used) = (vec![], vec![]);
    for kind in omitted {
        let hit = entry(profile, ExceptionKind::HostNamespaces, kind, ns, image).or_else(|| {
            (*kind == "uts" && omitted.contains(&"network"))
                .then(|| entry(profile, ExceptionKind::HostNamespaces, "network", ns, image))
                .flatten()
        });
        if let Some(i) = hit {
            granted.push((*kind).to_owned());
            if !used.contains(&i) {
                used.push(i);
            }
        }
    }
    (granted, used)
}

/// The device classes of `profile` that a spec asks for by listing their devices (`devices`:
/// normalized paths of `linux.devices` that are neither default nor in `devices.allow`) and that
/// a `device-class` exception authorizes for a container of `identity` (vouched for only), with
/// their majors resolved on `host`; and the entries used. The request is the device list itself
/// (what a device plugin hands the runtime), no annotation.
pub fn device_classes(
    devices: &[String],
    identity: &Identity,
    profile: &Profile,
    host: &dyn crate::base::host::Host,
) -> (Vec<super::rules::GrantedDeviceClass>, Vec<usize>) {
    if !identity.trusted() {
        return (vec![], vec![]);
    }
    let (ns, image) = (identity.namespace.as_deref(), identity.image.as_deref());
    let (mut granted, mut used) = (vec![], vec![]);
    for class in &profile.devices.classes {
        if !devices.iter().any(|d| class.matches_path(d)) {
            continue;
        }
        let Some(i) = entry(profile, ExceptionKind::DeviceClass, &class.name, ns, image) else {
            continue;
        };
        let majors = class
            .majors
            .iter()
            .filter_map(|m| {
                m.parse::<i64>()
                    .ok()
                    .or_else(|| host.device_major(&class.typ, m))
            })
            .collect();
        granted.push(super::rules::GrantedDeviceClass {
            name: class.name.clone(),
            typ: class.typ.clone(),
            paths: class.paths.clone(),
            majors,
        });
        if !used.contains(&i) {
            used.push(i);
        }
    }
    (granted, used)
}

/// Decides which requested exceptions `profile` authorizes for a container of `identity`: an
/// exception is authorized by its namespace or image only when the identity is vouched for.
/// Err: a malformed request.
pub fn decide(
    ann: &BTreeMap<String, String>,
    identity: &Identity,
    profile: &Profile,
    catalog: &Catalog,
) -> Result<Decided, ExceptionError> {
    let (ns, image) = if identity.trusted() {
        (identity.namespace.as_deref(), identity.image.as_deref())
    } else {
        (None, None)
    };
    let mut d = Decided::default();
    let authorized = |kind: ExceptionKind, value: &str, used: &mut Vec<usize>| -> bool {
        let hit = entry(profile, kind, value, ns, image);
        if let Some(i) = hit {
            used.push(i);
        }
        hit.is_some()
    };
    let who = || {
        let named = match (identity.namespace.as_deref(), identity.image.as_deref()) {
            (Some(n), Some(i)) => format!("namespace {n:?}, image {i:?}"),
            (Some(n), None) => format!("namespace {n:?}"),
            (None, Some(i)) => format!("image {i:?}"),
            (None, None) => return "a container with no namespace or image annotation".to_owned(),
        };
        if identity.trusted() {
            named
        } else {
            format!("{named} claimed by the spec (not trusted: only containerd's CRI vouches for a namespace or image)")
        }
    };
    for (key, value) in ann.range(PREFIX.to_owned()..) {
        let Some(name) = key.strip_prefix(PREFIX) else {
            break;
        };
        match name {
            "profile" => {
                catalog.get(value).map_err(|err| ExceptionError::Profile {
                    key: key.clone(),
                    err,
                })?;
                if value == &profile.name {
                    continue;
                }
                if authorized(ExceptionKind::Profile, value, &mut d.used) {
                    d.profile = Some(value.clone());
                } else {
                    d.unauthorized.push(Proposal::refuse(
                        pointer(key),
                        format!(
                            "annotation {key}={value} is not authorized by profile {} for {}",
                            profile.name,
                            who()
                        ),
                    ));
                }
            }
            "allow-capabilities" => {
                for v in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                    let cap = cap_name(v);
                    if cap.parse::<caps::Capability>().is_err() {
                        return Err(ExceptionError::UnknownCapability {
                            key: key.clone(),
                            value: v.to_owned(),
                        });
                    }
                    if authorized(ExceptionKind::AllowCapabilities, &cap, &mut d.used) {
                        d.granted.capabilities.push(cap);
                    } else {
                        d.unauthorized.push(Proposal::refuse(
                            pointer(key),
                            format!(
                                "annotation {key}: {cap} is not authorized by profile {} for {}",
                                profile.name,
                                who()
                            ),
                        ));
                    }
                }
            }
            "allow-root" | "writable-rootfs" => {
                if !boolean(key, value)? {
                    continue;
                }
                let kind = if name == "allow-root" {
                    ExceptionKind::AllowRoot
                } else {
                    ExceptionKind::WritableRootfs
                };
                if authorized(kind, value, &mut d.used) {
                    if kind == ExceptionKind::AllowRoot {
                        d.granted.allow_root = true;
                    } else {
                        d.granted.writable_rootfs = true;
                    }
                } else {
                    d.unauthorized.push(Proposal::refuse(
                        pointer(key),
                        format!(
                            "annotation {key}=true is not authorized by profile {} for {}",
                            profile.name,
                            who()
                        ),
                    ));
                }
            }
            // names the image for the `image-scan` rule; no exception
            "image" => {}
            _ => return Err(ExceptionError::Unknown(key.clone())),
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

    /// The identity the annotations state, as if a trusted caller vouched for it.
    fn vouched(a: &BTreeMap<String, String>) -> Identity {
        Identity {
            vouched_by: Some("test".into()),
            ..identify(a, Caller::Other)
        }
    }

    #[test]
    fn only_containerds_cri_paths_vouch_for_an_identity() {
        use std::path::Path;
        let task = "/run/containerd/io.containerd.runtime.v2.task";
        let cri_root = "/run/containerd/runc/k8s.io";
        for (bundle, root, id, want) in [
            // containerd's CRI, through the runc shim (containerd 1.6 and 2.x, any state dir)
            (
                format!("{task}/k8s.io/abc"),
                cri_root,
                "abc",
                Caller::ContainerdCri,
            ),
            (
                "/tmp/stack/ctrd/state/io.containerd.runtime.v2.task/k8s.io/abc".into(),
                "/tmp/stack/runc/k8s.io",
                "abc",
                Caller::ContainerdCri,
            ),
            // ctr / nerdctl in another namespace
            (
                format!("{task}/default/abc"),
                "/run/containerd/runc/default",
                "abc",
                Caller::Other,
            ),
            // the k8s.io bundle shape under a root that is not the shim's, and the reverse
            (
                format!("{task}/k8s.io/abc"),
                "/run/containerd/runc/default",
                "abc",
                Caller::Other,
            ),
            (
                format!("{task}/default/abc"),
                cri_root,
                "abc",
                Caller::Other,
            ),
            // the bundle must be the container's own
            (
                format!("{task}/k8s.io/other"),
                cri_root,
                "abc",
                Caller::Other,
            ),
            (
                format!("{task}/k8s.io/abc/sub"),
                cri_root,
                "abc",
                Caller::Other,
            ),
            (
                "/run/containerd/io.containerd.runtime.v1.linux/k8s.io/abc".into(),
                cri_root,
                "abc",
                Caller::Other,
            ),
            ("/k8s.io/abc".into(), cri_root, "abc", Caller::Other),
            // dockerd (namespace moby), podman and CRI-O (containers/storage)
            (
                "/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby/abc".into(),
                "/run/docker/runtime-runc/moby",
                "abc",
                Caller::Other,
            ),
            (
                "/var/lib/containers/storage/overlay-containers/abc/userdata".into(),
                "/run/runc",
                "abc",
                Caller::Other,
            ),
            // a plain call
            (
                "/home/me/bundle".into(),
                "/run/hardrun",
                "abc",
                Caller::Other,
            ),
        ] {
            assert_eq!(
                Caller::from_paths(Path::new(&bundle), Path::new(root), id),
                want,
                "{bundle} {root} {id}"
            );
        }
    }

    #[test]
    fn a_claimed_identity_authorizes_nothing() {
        let cat = Catalog::builtin();
        let p = profile();
        let a = ann(&[
            ("io.kubernetes.cri.sandbox-namespace", "kube-system"),
            (
                "io.kubernetes.cri.image-name",
                "registry.local/legacy/app:1",
            ),
            ("hardrun.dev/allow-capabilities", "NET_ADMIN"),
            ("hardrun.dev/profile", "baseline"),
        ]);
        // the same annotations, vouched for by containerd's CRI: both granted
        let cri = identify(&a, Caller::ContainerdCri);
        assert!(cri.trusted());
        assert_eq!(cri.namespace.as_deref(), Some("kube-system"));
        assert!(untrusted_claims(&a, &cri).is_empty());
        let d = decide(&a, &cri, &p, &cat).unwrap();
        assert_eq!(d.granted.capabilities, ["CAP_NET_ADMIN"]);
        assert_eq!(d.profile.as_deref(), Some("baseline"));
        assert!(d.unauthorized.is_empty());

        // claimed by the spec: refused, and the refusal says why
        let claim = identify(&a, Caller::Other);
        assert!(!claim.trusted() && claim.claimed());
        assert_eq!(claim.namespace.as_deref(), Some("kube-system"));
        let d = decide(&a, &claim, &p, &cat).unwrap();
        assert_eq!(d.granted, Granted::default());
        assert_eq!(d.profile, None);
        assert_eq!(d.unauthorized.len(), 2);
        for u in &d.unauthorized {
            assert!(
                u.message.contains("namespace \"kube-system\", image \"registry.local/legacy/app:1\" claimed by the spec (not trusted"),
                "{}",
                u.message
            );
        }
        assert_eq!(
            untrusted_claims(&a, &claim),
            [
                (
                    "io.kubernetes.cri.sandbox-namespace".to_owned(),
                    "kube-system".to_owned()
                ),
                (
                    "io.kubernetes.cri.image-name".to_owned(),
                    "registry.local/legacy/app:1".to_owned()
                )
            ]
        );

        // on containerd's CRI path, CRI-O's keys are not containerd's: not read at all
        let crio = ann(&[
            ("io.kubernetes.cri-o.Namespace", "ops"),
            ("hardrun.dev/allow-root", "true"),
        ]);
        let id = identify(&crio, Caller::ContainerdCri);
        assert_eq!(id.namespace, None);
        assert!(!decide(&crio, &id, &p, &cat).unwrap().granted.allow_root);
        // nor, claimed, anywhere else
        let id = identify(&crio, Caller::Other);
        assert_eq!(id.namespace.as_deref(), Some("ops"));
        assert!(!decide(&crio, &id, &p, &cat).unwrap().granted.allow_root);
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
            let d = decide(&a, &vouched(&a), &p, &cat).unwrap();
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
            let a = ann(&pairs);
            let err = decide(&a, &vouched(&a), &p, &cat).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
    }
}
