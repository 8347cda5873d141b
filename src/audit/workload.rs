//! The workload a container belongs to, as its caller names it: on the CRI path (containerd's
//! Kubernetes plugin), the pod's namespace, name and uid, the container's name and its image,
//! from the `io.kubernetes.cri.*` annotations of the spec. hardrun cannot check them (whoever
//! calls the runtime writes the annotations), so a record marks them as the caller's claims:
//! `"vouched_by": "caller"`.

use serde::Serialize;

/// The annotations read, and the field each fills.
pub const ANNOTATIONS: [(&str, &str); 5] = [
    ("io.kubernetes.cri.sandbox-namespace", "namespace"),
    ("io.kubernetes.cri.sandbox-name", "pod"),
    ("io.kubernetes.cri.sandbox-uid", "pod_uid"),
    ("io.kubernetes.cri.container-name", "container"),
    ("io.kubernetes.cri.image-name", "image"),
];

/// A value longer than this is cut (a record stays a readable line).
const MAX_LEN: usize = 512;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Workload {
    /// who vouches for these values: always `caller` (hardrun records them as given)
    pub vouched_by: &'static str,
    /// where they were read: `cri-annotations`
    pub source: &'static str,
    /// the Kubernetes namespace of the pod
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl Workload {
    /// The workload a spec's annotations name; `None` when it carries none of
    /// [`ANNOTATIONS`] (a non-CRI caller).
    pub fn from_spec(spec: &serde_json::Value) -> Option<Workload> {
        let ann = spec.get("annotations")?.as_object()?;
        let get = |k: &str| {
            ann.get(k).and_then(|v| v.as_str()).map(|s| {
                let mut s = s.to_owned();
                if s.len() > MAX_LEN {
                    let mut cut = MAX_LEN;
                    while !s.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    s.truncate(cut);
                    s.push('…');
                }
                s
            })
        };
        let w = Workload {
            vouched_by: "caller",
            source: "cri-annotations",
            namespace: get(ANNOTATIONS[0].0),
            pod: get(ANNOTATIONS[1].0),
            pod_uid: get(ANNOTATIONS[2].0),
            container: get(ANNOTATIONS[3].0),
            image: get(ANNOTATIONS[4].0),
        };
        if w.namespace.is_none()
            && w.pod.is_none()
            && w.pod_uid.is_none()
            && w.container.is_none()
            && w.image.is_none()
        {
            return None;
        }
        Some(w)
    }

    /// The workload of a container from its stored spec (`config.json` in its state directory);
    /// `None` where it cannot be read or names none.
    pub fn of_container(container_dir: &std::path::Path) -> Option<Workload> {
        let (_, spec) = crate::bundle::load_staged(container_dir).ok()?;
        Workload::from_spec(&spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_cri_annotations_only() {
        let spec = json!({"annotations": {
            "io.kubernetes.cri.sandbox-namespace": "shop",
            "io.kubernetes.cri.sandbox-name": "web-1",
            "io.kubernetes.cri.sandbox-uid": "0b7c",
            "io.kubernetes.cri.container-name": "nginx",
            "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.27",
            "other": "x"}});
        let w = Workload::from_spec(&spec).unwrap();
        assert_eq!(
            serde_json::to_value(&w).unwrap(),
            json!({"vouched_by": "caller", "source": "cri-annotations", "namespace": "shop",
                   "pod": "web-1", "pod_uid": "0b7c", "container": "nginx",
                   "image": "docker.io/library/nginx:1.27"})
        );
        assert_eq!(
            Workload::from_spec(&json!({"annotations": {"a": "b"}})),
            None
        );
        assert_eq!(Workload::from_spec(&json!({})), None);
        let long = "é".repeat(400);
        let w =
            Workload::from_spec(&json!({"annotations": {"io.kubernetes.cri.sandbox-name": long}}))
                .unwrap();
        assert!(w.pod.unwrap().len() <= MAX_LEN + 3);
    }
}
