//! `hardrun setup <client>`: registers hardrun's runtimes in a container client's own
//! configuration, one file per client (today: [`containerd`]). What every client shares is here:
//! the runtime entries to register (one per profile), and replacing the client's file with a
//! backup of the original, atomically, keeping its mode and owner.

pub mod containerd;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use crate::cli::{GlobalOpts, SetupCmd};
use crate::profile::config::profile_for_program;

pub fn run(_global: &GlobalOpts, cmd: &SetupCmd) -> Result<i32> {
    match cmd {
        SetupCmd::Containerd(a) => containerd::run(a),
    }
}

/// One runtime entry: `runtimes.<name>` with `options.BinaryName = binary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    pub name: String,
    pub binary: String,
}

/// The runtime entries for `--profiles`: `hardrun` (the configuration's default profile) and one
/// `hardrun-<p>` per profile, each pointing at the binary of that name in `bin_dir` (the
/// package's symlinks).
pub fn runtimes(bin_dir: &Path, profiles: &[String]) -> Result<Vec<Runtime>> {
    let mut out = vec![Runtime {
        name: "hardrun".into(),
        binary: bin_dir.join("hardrun").display().to_string(),
    }];
    for p in profiles {
        let name = format!("hardrun-{p}");
        if profile_for_program(name.as_ref()).is_none() {
            return Err(anyhow!(
                "--profiles: unknown profile {p:?} (use restricted, baseline, ci, permissive)"
            ));
        }
        if out.iter().any(|r| r.name == name) {
            continue;
        }
        out.push(Runtime {
            binary: bin_dir.join(&name).display().to_string(),
            name,
        });
    }
    Ok(out)
}

/// The runtimes' names, for messages: `hardrun, hardrun-restricted`.
pub fn names(r: &[Runtime]) -> String {
    r.iter()
        .map(|r| r.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Replaces the client's file `path` with `text`: a backup of the original first when there is
/// one (`like`, its metadata), then an atomic write keeping its mode and owner. What was done is
/// added to `report`.
pub fn replace_backed_up(
    path: &Path,
    text: &str,
    like: Option<&std::fs::Metadata>,
    report: &mut String,
) -> Result<()> {
    if like.is_some() {
        let bak = backup_path(path);
        std::fs::copy(path, &bak).map_err(|e| {
            anyhow!(
                "cannot back up {} to {}: {e}",
                path.display(),
                bak.display()
            )
        })?;
        report.push_str(&format!("backed up the original to {}\n", bak.display()));
    }
    write_atomically(path, text, like)
}

/// `config.toml.hardrun-bak.<UTC time>`, not yet existing.
fn backup_path(file: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let base = format!("{}.hardrun-bak.{stamp}", file.display());
    let mut p = PathBuf::from(&base);
    let mut n = 1;
    while p.exists() {
        p = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    p
}

/// Replaces `path` with `text` atomically, keeping its mode and owner (as before hardrun: no
/// fsync, like the clients' own config writers). The temporary file beside it is removed on any
/// failure.
fn write_atomically(path: &Path, text: &str, like: Option<&std::fs::Metadata>) -> Result<()> {
    use crate::base::atomic_file::{AtomicFile, Durability};
    use std::os::unix::fs::MetadataExt;
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    AtomicFile::new(Durability::None)
        .mode(like.map(|m| m.mode() & 0o7777).unwrap_or(0o644))
        .owner(like.map(|m| (m.uid(), m.gid())))
        .write(path, text.as_bytes())
        .map_err(|e| anyhow!("cannot replace {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_names_follow_the_profiles() {
        let r = runtimes(Path::new("/opt/bin"), &["ci".into(), "ci".into()]).unwrap();
        assert_eq!(
            r,
            [
                Runtime {
                    name: "hardrun".into(),
                    binary: "/opt/bin/hardrun".into()
                },
                Runtime {
                    name: "hardrun-ci".into(),
                    binary: "/opt/bin/hardrun-ci".into()
                }
            ]
        );
        let e = runtimes(Path::new("/usr/bin"), &["gen".into()])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--profiles: unknown profile \"gen\""), "{e}");
    }
}
