//! Embeds the git commit for `hardrun --version` (dockerd reads its `commit:` line), and links
//! the runtime so that it starts fast (issue 20, see [`link_for_start_up`]).
use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=HARDRUN_COMMIT={commit}");
    link_for_start_up();
    // Re-run when the commit moves: HEAD itself only names the branch, so watch the branch's ref
    // (loose or packed) and the index (for --dirty) too.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/packed-refs");
    println!("cargo:rerun-if-changed=.git/index");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            if Path::new(".git").join(r).exists() {
                println!("cargo:rerun-if-changed=.git/{r}");
            }
        }
    }
}

/// Every `create`, `run` and `exec` starts the binary twice (the protection's re-exec), and the
/// dynamic loader's work before `main` was ≈1.2 ms of each start (issue 20, bench/REPORT.md):
/// five shared libraries and 29 837 relative relocations. Two things here take most of it:
///
/// - the relocations are packed (`DT_RELR`, glibc ≥ 2.36 and binutils ≥ 2.38, Debian 12): the
///   loader walks an 8 KB bitmap instead of a 720 KB table; the binary stays position-independent
///   (ASLR unchanged);
/// - the unwinder comes from libgcc's static archive (`libgcc_eh.a`, what `-static-libgcc` does
///   for C programs) instead of `libgcc_s.so.1`: one shared library fewer to find, map and
///   relocate. It is named as a native library of this crate, so the linker meets it before
///   std's `-lgcc_s` and, linking `--as-needed`, then leaves `libgcc_s` out.
///
/// libseccomp is linked statically the same way, through `.cargo/config.toml`
/// (`LIBSECCOMP_LINK_TYPE=static`, read by libseccomp-sys). libm is not linked at all (glibc's
/// static libm needs the loader's private CPU-feature table): its only users, libcgroups' shares
/// → weight fit, load `log2` and `pow` when they need them (libcgroups HARDRUN-PATCHES.md §7).
fn link_for_start_up() {
    let target = |v: &str| std::env::var(v).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") != "linux" || target("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let found = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    // without the archive, cc prints the bare name back: then libgcc_s stays
    if let Some(dir) = found
        .as_deref()
        .map(Path::new)
        .filter(|p| p.is_absolute() && p.exists())
        .and_then(Path::parent)
    {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
    println!("cargo:rerun-if-env-changed=CC");
}
