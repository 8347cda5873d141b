//! Vulnerability scanner reports (Trivy's and Grype's JSON) and their index: what the
//! `image-scan` rule gates on (see `docs/scanning.md`).
//!
//! Scanners run in the build pipeline or at the registry, never in the runtime. Their reports
//! are put in `scan_reports_dir` (`config.toml`, default [`DEFAULT_DIR`]), by `hardrun scan
//! import` or by any tool that drops `*.json` files there. hardrun keeps an index beside them
//! (`.index/`): one small file that maps image references and digests to reports, and one file
//! per report with its findings in a normalized form. The index records the directory's mtime it
//! was built at; a create that finds the directory changed since rebuilds it (and writes it back
//! when it can), so a report is parsed once, not on every create.

pub mod cfg;
pub mod report;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use report::{parse, Level, Report, Vuln};

/// Where reports are kept unless `config.toml` says `scan_reports_dir`.
pub const DEFAULT_DIR: &str = "/var/lib/hardrun/scans";
/// The index's directory inside the reports directory.
pub const INDEX_DIR: &str = ".index";
const INDEX_FILE: &str = "index.json";
/// The largest report file read (Trivy's report of a large image with every package listed
/// stays well below it).
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// The annotations that name a container's image, in the order they are believed:
/// containerd's CRI plugin, hardrun's own for clients that set nothing else, the OCI image
/// annotation (only when it holds a whole reference, not a bare tag).
pub const IMAGE_ANNOTATIONS: &[&str] = &[
    "io.kubernetes.cri.image-name",
    "hardrun.dev/image",
    "org.opencontainers.image.ref.name",
];
/// The OCI annotation with the digest of the image's base image: its report is used when the
/// image has none of its own.
pub const BASE_DIGEST_ANNOTATION: &str = "org.opencontainers.image.base.digest";

/// The image a container runs, as its annotations tell it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// the annotation that named it
    pub annotation: &'static str,
    /// the value as given
    pub name: String,
    /// the index keys of the image itself (normalized reference, digest)
    pub keys: Vec<String>,
    /// the index key of its base image's digest, if annotated
    pub base: Option<String>,
}

/// The container's image from its annotations; `None` when no annotation names one.
pub fn image_of(annotations: &BTreeMap<String, String>) -> Option<Image> {
    let base = annotations
        .get(BASE_DIGEST_ANNOTATION)
        .map(|d| d.trim())
        .filter(|d| is_digest(d))
        .map(str::to_owned);
    for a in IMAGE_ANNOTATIONS {
        let Some(v) = annotations.get(*a).map(|v| v.trim()) else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        // the OCI annotation is often a bare tag (`1.36`): not an image reference
        if *a == "org.opencontainers.image.ref.name" && !v.contains(['/', ':', '@']) {
            continue;
        }
        return Some(Image {
            annotation: a,
            name: v.to_owned(),
            keys: keys(v),
            base,
        });
    }
    base.map(|d| Image {
        annotation: BASE_DIGEST_ANNOTATION,
        name: d.clone(),
        keys: vec![],
        base: Some(d),
    })
}

fn is_digest(s: &str) -> bool {
    s.split_once(':').is_some_and(|(alg, hex)| {
        !alg.is_empty()
            && alg.chars().all(|c| c.is_ascii_alphanumeric())
            && hex.len() >= 32
            && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// The reference in Docker's normalized form: a registry host (`docker.io` when none is given),
/// `library/` for Docker Hub's official images, and `:latest` when neither a tag nor a digest is.
pub fn normalize(reference: &str) -> String {
    let r = reference.trim();
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    // a tag is after the last ':' that follows the last '/' (a registry port is before it)
    let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..])),
        None => (name, None),
    };
    let first = repo.split('/').next().unwrap_or_default();
    let has_host =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut out = if has_host {
        repo.to_owned()
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    if let Some(t) = tag {
        out.push(':');
        out.push_str(t);
    } else if digest.is_none() {
        out.push_str(":latest");
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    out
}

/// The index keys of an image reference: its normalized form, and its digest if it has one (a
/// bare digest is its own key).
pub fn keys(reference: &str) -> Vec<String> {
    let r = reference.trim();
    if r.is_empty() {
        return vec![];
    }
    if is_digest(r) {
        return vec![r.to_owned()];
    }
    let mut k = vec![normalize(r)];
    if let Some((_, d)) = r.split_once('@') {
        if is_digest(d) {
            k.push(d.to_owned());
        }
    }
    k
}

/// One report in the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// the report's file name in the reports directory
    pub file: String,
    pub scanner: String,
    /// when the scan ran (unix seconds): the report's own time, else its file's mtime
    pub created: i64,
    /// the image name the scanner was given
    pub artifact: String,
    /// the keys it is indexed under (normalized references, digests)
    pub keys: Vec<String>,
    /// findings per severity
    pub counts: BTreeMap<Level, usize>,
}

/// A report's file that could not be indexed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Broken {
    pub file: String,
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// the reports directory's mtime (`secs.nanos`) this index was built at
    pub dir_mtime: String,
    pub entries: Vec<Entry>,
    #[serde(default)]
    pub broken: Vec<Broken>,
}

/// What the index knows about one image.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// the reports directory could not be read (the message says why)
    Unavailable(String),
    /// no report names the image
    Missing,
    /// the newest report of the image (or of its base image), and its findings
    Found {
        entry: Entry,
        vulns: Vec<Vuln>,
        /// the report is its base image's (`org.opencontainers.image.base.digest`)
        base: bool,
    },
}

/// An i/o error as one lower-case phrase (`does not exist`, `permission denied`).
pub fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => s,
            }
        }
    }
}

fn mtime_of(dir: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir)?;
    Ok(format!("{}.{:09}", m.mtime(), m.mtime_nsec()))
}

fn vulns_file(file: &str) -> String {
    format!("{file}.vulns.json")
}

/// The index of `dir`: the stored one while the directory has not changed since it was built,
/// else rebuilt from the reports (and stored, when the directory is writable). Rebuilding keeps
/// the findings of each report in memory and returns them too.
pub fn load(dir: &Path) -> Result<(Index, BTreeMap<String, Vec<Vuln>>), String> {
    let shown = dir.display();
    let mtime =
        mtime_of(dir).map_err(|e| format!("scan reports directory {shown}: {}", io_msg(&e)))?;
    let idx_path = dir.join(INDEX_DIR).join(INDEX_FILE);
    if let Ok(text) = std::fs::read_to_string(&idx_path) {
        if let Ok(idx) = serde_json::from_str::<Index>(&text) {
            if idx.dir_mtime == mtime {
                return Ok((idx, BTreeMap::new()));
            }
        }
    }
    rebuild(dir)
}

/// Parses every report of `dir` and writes the index (best effort: a read-only directory still
/// gets an index for this process).
pub fn rebuild(dir: &Path) -> Result<(Index, BTreeMap<String, Vec<Vuln>>), String> {
    let shown = dir.display();
    let index_dir = dir.join(INDEX_DIR);
    // the index's own directory first: creating it changes the reports directory's mtime, what
    // is written inside it later does not
    let _ = std::fs::create_dir(&index_dir);
    let mtime =
        mtime_of(dir).map_err(|e| format!("scan reports directory {shown}: {}", io_msg(&e)))?;
    let mut names = vec![];
    for e in std::fs::read_dir(dir)
        .map_err(|e| format!("scan reports directory {shown}: {}", io_msg(&e)))?
    {
        let e = e.map_err(|e| format!("scan reports directory {shown}: {}", io_msg(&e)))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            names.push(name);
        }
    }
    names.sort();
    let mut idx = Index {
        dir_mtime: mtime,
        ..Default::default()
    };
    let mut all = BTreeMap::new();
    for name in names {
        match read_report(&dir.join(&name)) {
            Ok(r) => {
                let entry = r.entry(&name);
                all.insert(name.clone(), r.vulns);
                idx.entries.push(entry);
            }
            Err(error) => {
                tracing::warn!("{error}");
                idx.broken.push(Broken { file: name, error });
            }
        }
    }
    // stored for the next create; failing that, this process still has it
    if std::fs::create_dir_all(&index_dir).is_ok() {
        for (name, vulns) in &all {
            let _ = write_atomic(
                &index_dir.join(vulns_file(name)),
                &serde_json::to_vec(vulns).unwrap_or_default(),
            );
        }
        let _ = write_atomic(
            &index_dir.join(INDEX_FILE),
            &serde_json::to_vec_pretty(&idx).unwrap_or_default(),
        );
    }
    Ok((idx, all))
}

/// Reads and parses one report file (size-capped); the error names the file.
pub fn read_report(path: &Path) -> Result<Report, String> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let shown = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| format!("{shown}: {}", io_msg(&e)))?;
    let meta = f
        .metadata()
        .map_err(|e| format!("{shown}: {}", io_msg(&e)))?;
    if meta.len() > MAX_REPORT_BYTES {
        return Err(format!(
            "{shown}: {} bytes, more than the {} a report may have",
            meta.len(),
            MAX_REPORT_BYTES
        ));
    }
    let mut text = String::new();
    f.take(MAX_REPORT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{shown}: {}", io_msg(&e)))?;
    parse(&text, &shown, meta.mtime())
}

/// Writes `bytes` to `path` through a temporary file beside it (0644), renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let parent = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(parent)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The newest report for `image` in `dir`: the image's own, else its base image's.
pub fn lookup(dir: &Path, image: &Image) -> Lookup {
    let (idx, mut fresh) = match load(dir) {
        Ok(x) => x,
        Err(e) => return Lookup::Unavailable(e),
    };
    let newest = |keys: &[String]| {
        idx.entries
            .iter()
            .filter(|e| e.keys.iter().any(|k| keys.contains(k)))
            .max_by(|a, b| a.created.cmp(&b.created).then(a.file.cmp(&b.file)))
            .cloned()
    };
    let (entry, base) = match newest(&image.keys) {
        Some(e) => (e, false),
        None => match image
            .base
            .as_ref()
            .and_then(|b| newest(std::slice::from_ref(b)))
        {
            Some(e) => (e, true),
            None => return Lookup::Missing,
        },
    };
    let vulns = match fresh.remove(&entry.file) {
        Some(v) => v,
        None => {
            let p = dir.join(INDEX_DIR).join(vulns_file(&entry.file));
            match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(v) => v,
                // the index and its files disagree (a crash between writes): read the report
                Err(_) => match read_report(&dir.join(&entry.file)) {
                    Ok(r) => r.vulns,
                    Err(e) => return Lookup::Unavailable(e),
                },
            }
        }
    };
    Lookup::Found { entry, vulns, base }
}

/// The file name `hardrun scan import` gives a report: its digest (or reference) made safe,
/// then the scanner.
pub fn file_name_for(r: &Report) -> String {
    let key = r
        .keys
        .iter()
        .find(|k| is_digest(k))
        .or(r.keys.first())
        .cloned()
        .unwrap_or_else(|| "unnamed".into());
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.{}.json", r.scanner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalize_as_docker_does() {
        for (r, want) in [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox:1.36", "docker.io/library/busybox:1.36"),
            (
                "docker.io/library/busybox:1.36",
                "docker.io/library/busybox:1.36",
            ),
            ("acme/app", "docker.io/acme/app:latest"),
            ("ghcr.io/acme/app:v2", "ghcr.io/acme/app:v2"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("registry:5000/app:1", "registry:5000/app:1"),
        ] {
            assert_eq!(normalize(r), want, "{r}");
        }
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            keys(&format!("busybox@{d}")),
            vec![format!("docker.io/library/busybox@{d}"), d.clone()]
        );
        assert_eq!(keys(&d), vec![d.clone()]);
    }

    #[test]
    fn the_image_comes_from_the_annotations_in_order() {
        let m = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(image_of(&m(&[])), None);
        let i = image_of(&m(&[
            ("hardrun.dev/image", "acme/app:1"),
            (
                "io.kubernetes.cri.image-name",
                "docker.io/library/busybox:1.36",
            ),
        ]))
        .unwrap();
        assert_eq!(i.annotation, "io.kubernetes.cri.image-name");
        assert_eq!(i.keys, vec!["docker.io/library/busybox:1.36"]);
        // a bare tag in the OCI annotation names no image
        assert_eq!(
            image_of(&m(&[("org.opencontainers.image.ref.name", "1.36")])),
            None
        );
        let d = format!("sha256:{}", "b".repeat(64));
        let i = image_of(&m(&[(BASE_DIGEST_ANNOTATION, &d)])).unwrap();
        assert_eq!((i.keys.len(), i.base), (0, Some(d)));
    }
}
