//! Embeds the git commit for `hardrun --version` (dockerd reads its `commit:` line), and links
//! the runtime so that it starts fast (issue 20, see [`link_for_start_up`]).
use std::path::Path;
use std::process::Command;

fn main() {
    // `describe --dirty` refreshes the index and writes it back (a fresh clone's index has racy
    // entries), with --no-optional-locks too (git 2.39): the next cargo call then saw .git/index
    // changed, ran this again and compiled the whole crate once more. `status` leaves the index
    // alone under --no-optional-locks and says the same: tracked files changed or staged.
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = match git(&["describe", "--always", "--abbrev=12"]).filter(|s| !s.is_empty()) {
        None => "unknown".to_owned(),
        Some(c) => {
            let status = ["--no-optional-locks", "status", "--porcelain", "-uno"];
            match git(&status) {
                Some(s) if !s.is_empty() => format!("{c}-dirty"),
                _ => c,
            }
        }
    };
    println!("cargo:rustc-env=HARDRUN_COMMIT={commit}");
    link_for_start_up();
    order_hot_code();
    builtin_profiles_json();
    seccomp_default_parts();
    // Re-run when the commit moves: HEAD itself only names the branch, so watch the branch's ref
    // (loose or packed) and the index (for --dirty) too. Only files that are there: cargo takes a
    // missing one as changed, so the build script ran and the whole crate was compiled again on
    // every cargo call (a checkout without packed-refs; a source tree without .git).
    for f in [".git/HEAD", ".git/packed-refs", ".git/index"] {
        if Path::new(f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
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

/// A release binary puts the functions a container's start runs next to each other
/// (`link/symbol-order.txt`, lld's `--symbol-ordering-file`; `scripts/symbol-order.sh` makes the
/// list from where `run` spends its time and which code pages it faults in). Each fault in the
/// text maps a whole page-cache folio, and before this a `run` touched code spread over 9 of the
/// 12 MB of text: peak RSS 12.8 → 8.5–9.1 MB (runc's: 10.1), `run` 21.53 → 21.09 ms median in
/// `bench/ab.py 80` (issue 20). Only where the linker is lld, which rustc uses for this target
/// since 1.90 unless told otherwise (GNU ld does not know the option); `HARDRUN_SYMBOL_ORDER=0`
/// turns it off. A symbol the list names and the binary lacks is skipped: a stale list only
/// orders less.
fn order_hot_code() {
    let env = |v: &str| std::env::var(v).unwrap_or_default();
    println!("cargo:rerun-if-changed=link/symbol-order.txt");
    println!("cargo:rerun-if-env-changed=HARDRUN_SYMBOL_ORDER");
    if env("PROFILE") != "release"
        || env("TARGET") != "x86_64-unknown-linux-gnu"
        || env("HARDRUN_SYMBOL_ORDER") == "0"
    {
        return;
    }
    // another linker chosen (`-C linker=`, `-C linker-features=-lld`, a target linker in cargo's
    // configuration): it may not know the option
    let flags = env("CARGO_ENCODED_RUSTFLAGS");
    if flags.contains("linker")
        || flags.contains("link-self-contained")
        || !env("RUSTC_LINKER").is_empty()
    {
        return;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let minor = Command::new(rustc).arg("-vV").output().ok().and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let release = text
            .lines()
            .find_map(|l| l.strip_prefix("release: "))?
            .to_owned();
        let mut parts = release.split('.');
        (parts.next()? == "1").then_some(())?;
        parts.next()?.parse::<u32>().ok()
    });
    if minor.is_none_or(|m| m < 90) {
        return;
    }
    let list = Path::new(&env("CARGO_MANIFEST_DIR")).join("link/symbol-order.txt");
    if list.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// The built-in profiles (`profiles/*.toml`, embedded as text by `src/profile/mod.rs`) converted
/// to JSON, written to `$OUT_DIR/builtin_profiles.rs` as `BUILTIN_JSON`. The runtime reads a
/// built-in from this JSON: the `toml` parse of `restricted` was 0.4 ms of every create, a JSON
/// parse of the same values ≈10× less (issue 20). The TOML stays the profile's text (its
/// sha256, what a container's policy binding stores). A file that does not parse here is left
/// out, and the runtime parses its TOML (and reports its error) as before.
fn builtin_profiles_json() {
    let mut rows = String::new();
    for name in ["restricted", "baseline", "ci-runner", "permissive"] {
        let path = format!("profiles/{name}.toml");
        println!("cargo:rerun-if-changed={path}");
        let json = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| toml::from_str::<toml::Value>(&text).ok())
            .and_then(|v| serde_json::to_string(&v).ok());
        if let Some(json) = json {
            rows.push_str(&format!("    ({name:?}, {json:?}),\n"));
        }
    }
    write_generated(
        "builtin_profiles.rs",
        format!(
            "/// (name, JSON) of the built-in profiles, from their TOML (build.rs)\n\
             pub const BUILTIN_JSON: &[(&str, &str)] = &[\n{rows}];\n"
        ),
    );
}

/// The built-in seccomp template (`profiles/seccomp-default.json`) cut into parts the runtime
/// reads faster than the whole file (issue 20: its parse was ≈0.5 ms of every create), written to
/// `$OUT_DIR/seccomp_default.rs` as `SECCOMP_DEFAULT_PARTS`: the template without its comments
/// and with no syscall entry (`head`), and each entry's syscall names apart from the rest of the
/// entry (as JSON without comments, its `names` empty). The runtime parses the small pieces with
/// the template's own types and puts the names back (`seccomp::builtin`), and a unit test checks
/// that the result is the template `Template::parse` makes of the file. `None` where the file
/// does not parse here: the runtime then parses the file (and reports its error).
fn seccomp_default_parts() {
    let path = "profiles/seccomp-default.json";
    println!("cargo:rerun-if-changed={path}");
    let parts = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|mut v| {
            let head = v.as_object_mut()?;
            head.remove("comment");
            let syscalls = head.insert("syscalls".into(), serde_json::json!([]))?;
            let mut rows = String::new();
            for mut e in syscalls.as_array()?.iter().cloned() {
                let e = e.as_object_mut()?;
                e.remove("comment");
                let names: Vec<String> = e
                    .insert("names".into(), serde_json::json!([]))?
                    .as_array()?
                    .iter()
                    .map(|n| n.as_str().map(str::to_owned))
                    .collect::<Option<_>>()?;
                let rest = serde_json::to_string(e).ok()?;
                rows.push_str(&format!("        (&{names:?}, {rest:?}),\n"));
            }
            let head = serde_json::to_string(&v).ok()?;
            Some(format!(
                "Some(SeccompParts {{\n    head: {head:?},\n    entries: &[\n{rows}    ],\n}})"
            ))
        })
        .unwrap_or_else(|| "None".to_owned());
    write_generated(
        "seccomp_default.rs",
        format!(
            "/// profiles/seccomp-default.json in parts (build.rs)\n\
             pub const SECCOMP_DEFAULT_PARTS: Option<SeccompParts> = {parts};\n"
        ),
    );
}

/// Writes Rust source the crate `include!`s from `$OUT_DIR`.
fn write_generated(file: &str, code: String) {
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(file);
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
