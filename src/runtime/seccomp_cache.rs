//! The compiled seccomp programs of a state root (issue 20): libseccomp compiled the same
//! filter in every container's init, ≈3 ms of a restricted `run`. hardrun compiles each
//! distinct `linux.seccomp` once, keeps the BPF program in `<state root>/.seccomp/<key>.bpf`,
//! and hands it to libcontainer, whose init loads it with the flags libseccomp would have used
//! (third_party/libcontainer/HARDRUN-PATCHES.md §34).
//!
//! - The key is the SHA-256 of the filter as the spec states it (oci-spec's serialization of
//!   `linux.seccomp`), hardrun's version, libseccomp's version and API level (which decide what
//!   libseccomp generates on this kernel) and the architecture. A file starts with a header that
//!   names its key, so a file copied under another name is not used.
//! - The init loads a program only for exactly the `linux.seccomp` it was compiled from (the
//!   staged spec it reads); anything else, a program the kernel refuses included, is compiled
//!   there by libseccomp as before. No filter is ever left out for the cache.
//! - The directory is 0700 and each file 0600 and written whole (temporary file, rename): only
//!   root, who could replace the runtime itself, can change a program. A file that is not a
//!   whole program of 1 to 4096 instructions is compiled anew and replaced.
//! - At most [`KEEP`] programs: a new one beyond that empties the directory first (callers that
//!   send a new filter with every container cannot grow it).

use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::LinuxSeccomp;
use libcontainer::seccomp::CompiledSeccomp;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The cache's directory in the state root (a dot name: never a container).
pub const CACHE_DIR: &str = ".seccomp";
/// Programs kept.
pub const KEEP: usize = 64;
const MAGIC: &str = "hardrun-seccomp-bpf v1";

/// The key of `seccomp` on this host: hex SHA-256 (see the module doc).
pub fn key(seccomp: &LinuxSeccomp) -> String {
    let mut h = Sha256::new();
    h.update(MAGIC.as_bytes());
    h.update([0]);
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update([0]);
    h.update(libseccomp_version().unwrap_or_default().as_bytes());
    h.update([0]);
    h.update(libseccomp::get_api().to_le_bytes());
    h.update(std::env::consts::ARCH.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(seccomp).unwrap_or_default());
    crate::base::hex::hex(&h.finalize())
}

/// The version of the libseccomp this binary runs with (`major.minor.micro`), as the library
/// reports it (`seccomp_version`; linked statically, see build.rs, the one built in); `None`
/// where it cannot say.
pub fn libseccomp_version() -> Option<String> {
    libseccomp::ScmpVersion::current()
        .ok()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
}

fn path_of(root: &Path, key: &str) -> PathBuf {
    root.join(CACHE_DIR).join(format!("{key}.bpf"))
}

/// The program in a cache file's bytes, when the file is whole and for `key`.
fn parse(bytes: &[u8], key: &str) -> Option<Vec<u8>> {
    let header = format!("{MAGIC} {key}\n");
    let bpf = bytes.strip_prefix(header.as_bytes())?;
    libcontainer::seccomp::check_program(bpf).ok()?;
    Some(bpf.to_vec())
}

/// The compiled program for the spec's `linux.seccomp` (`spec` is the JSON libcontainer will
/// read), from the cache of `root` or compiled now and kept; `None` when the spec has no filter
/// or it cannot be compiled here (libcontainer's init then compiles it, and reports what is
/// wrong with it, as before).
pub fn compiled_for(spec: &serde_json::Value, root: &Path) -> Option<CompiledSeccomp> {
    let seccomp = LinuxSeccomp::deserialize(spec.pointer("/linux/seccomp")?).ok()?;
    compiled(seccomp, root)
}

/// [`compiled_for`] of a filter already parsed (`exec`: the process's own filter, or the
/// container's).
pub fn compiled(seccomp: LinuxSeccomp, root: &Path) -> Option<CompiledSeccomp> {
    let key = key(&seccomp);
    let path = path_of(root, &key);
    if let Some(bpf) = std::fs::read(&path).ok().and_then(|b| parse(&b, &key)) {
        return Some(CompiledSeccomp { seccomp, bpf });
    }
    let compiled = match libcontainer::seccomp::compile(&seccomp) {
        Ok(c) => c,
        Err(err) => {
            tracing::debug!(%err, "seccomp filter not compiled ahead");
            return None;
        }
    };
    if let Err(err) = keep(root, &key, &compiled.bpf) {
        tracing::debug!(%err, path = %path.display(), "compiled seccomp program not kept");
    }
    Some(compiled)
}

/// Writes the program for `key` into the cache (see the module doc).
fn keep(root: &Path, key: &str, bpf: &[u8]) -> std::io::Result<()> {
    use crate::base::atomic_file::{AtomicFile, Durability};
    use std::os::unix::fs::DirBuilderExt;
    let dir = root.join(CACHE_DIR);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let n = std::fs::read_dir(&dir)?.count();
            if n >= KEEP {
                for entry in std::fs::read_dir(&dir)?.flatten() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Err(e) => return Err(e),
    }
    let mut bytes = format!("{MAGIC} {key}\n").into_bytes();
    bytes.extend_from_slice(bpf);
    AtomicFile::new(Durability::None).write(&path_of(root, key), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(names: &[&str]) -> serde_json::Value {
        serde_json::json!({"linux": {"seccomp": {
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
        }}})
    }

    #[test]
    fn a_filter_is_compiled_once_then_read_back_and_keys_differ_by_filter() {
        let root = tempfile::tempdir().unwrap();
        let spec = filter(&["read", "write", "exit_group"]);
        let first = compiled_for(&spec, root.path()).expect("compiled");
        assert_eq!(first.bpf.len() % 8, 0);
        let files: Vec<_> = std::fs::read_dir(root.path().join(CACHE_DIR))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(files.len(), 1);
        let again = compiled_for(&spec, root.path()).expect("from the cache");
        assert_eq!(again.bpf, first.bpf);
        assert_eq!(again.seccomp, first.seccomp);
        let other = filter(&["read", "exit_group"]);
        let k1 = key(&first.seccomp);
        let k2 = key(&serde_json::from_value(other["linux"]["seccomp"].clone()).unwrap());
        assert_ne!(k1, k2);
    }

    #[test]
    fn a_damaged_or_misnamed_file_is_compiled_anew() {
        let root = tempfile::tempdir().unwrap();
        let spec = filter(&["read", "write", "exit_group"]);
        let good = compiled_for(&spec, root.path()).unwrap();
        let key = key(&good.seccomp);
        let path = path_of(root.path(), &key);
        for bad in [
            b"garbage".to_vec(),
            format!("{MAGIC} {key}\n1234567").into_bytes(),
            format!("{MAGIC} {key}\n").into_bytes(),
            format!("{MAGIC} {}\n{}", "0".repeat(64), "A".repeat(16)).into_bytes(),
        ] {
            std::fs::write(&path, &bad).unwrap();
            assert_eq!(parse(&bad, &key), None);
            let c = compiled_for(&spec, root.path()).unwrap();
            assert_eq!(c.bpf, good.bpf);
            assert_eq!(
                parse(&std::fs::read(&path).unwrap(), &key),
                Some(good.bpf.clone())
            );
        }
    }

    #[test]
    fn no_filter_no_program_and_the_directory_stays_bounded() {
        let root = tempfile::tempdir().unwrap();
        assert!(compiled_for(&serde_json::json!({"linux": {}}), root.path()).is_none());
        assert!(!root.path().join(CACHE_DIR).exists());
        let all = [
            "read",
            "write",
            "exit_group",
            "close",
            "openat",
            "mmap",
            "brk",
        ];
        for n in 0..(KEEP + 3) {
            // a different filter each time: an errno per call
            let spec = serde_json::json!({"linux": {"seccomp": {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": [all[n % all.len()]], "action": "SCMP_ACT_ERRNO", "errnoRet": n + 1}]
            }}});
            assert!(compiled_for(&spec, root.path()).is_some());
            let files = std::fs::read_dir(root.path().join(CACHE_DIR))
                .unwrap()
                .count();
            assert!(files <= KEEP, "{files} files");
        }
    }
}
