//! `hardrun-gen OUT_DIR`: writes hardrun's man pages (`OUT_DIR/man/hardrun.1` and one
//! `hardrun-<subcommand>.1` per subcommand, nested ones as `hardrun-profile-show.1`) and its shell
//! completions (`OUT_DIR/completions/{hardrun.bash,_hardrun,hardrun.fish}`) from the clap
//! definition in `hardrun::cli::Cli`. Built only with `--features gen` (scripts/package.sh), so
//! the normal build does not compile clap_mangen and clap_complete.
//!
//! The output depends only on the CLI definition and the crate version (no dates, no paths), so
//! two runs on the same source produce the same bytes.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: hardrun-gen OUT_DIR");
        std::process::exit(2);
    };
    if let Err(e) = generate(Path::new(&out)) {
        eprintln!("hardrun-gen: {e}");
        std::process::exit(1);
    }
}

fn generate(out: &Path) -> Result<(), String> {
    let man = out.join("man");
    let completions = out.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let cmd = hardrun::cli::Cli::command()
        .version(env!("CARGO_PKG_VERSION"))
        .disable_version_flag(true);
    let mut written = Vec::new();
    // no `help` subcommand in the pages: it has no page of its own
    let man_cmd = cmd.clone().disable_help_subcommand(true);
    write_man(&man_cmd, "hardrun", &man, &mut written)?;
    for (shell, file) in [
        (Shell::Bash, "hardrun.bash"),
        (Shell::Zsh, "_hardrun"),
        (Shell::Fish, "hardrun.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "hardrun", &mut buf);
        let path = completions.join(file);
        write(&path, &buf)?;
        written.push(path);
    }
    for p in written {
        println!("{}", p.display());
    }
    Ok(())
}

/// The man page of `cmd` (named `name`, e.g. `hardrun-profile-show`) and, recursively, of its
/// subcommands.
fn write_man(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), String> {
    // a subcommand's page is titled with its full name, so `man hardrun-create` works
    // clap names are &'static str without its "string" feature; a generator can leak a few
    let static_name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let page_cmd = cmd
        .clone()
        .name(static_name)
        .bin_name(name.replace('-', " "));
    let mut buf = Vec::new();
    clap_mangen::Man::new(page_cmd)
        .section("1")
        .source(format!("hardrun {}", env!("CARGO_PKG_VERSION")))
        .manual("hardrun manual")
        .render(&mut buf)
        .map_err(|e| format!("cannot render the man page of {name}: {e}"))?;
    if name == "hardrun" {
        buf.extend_from_slice(SEE_ALSO.as_bytes());
    }
    let path = dir.join(format!("{name}.1"));
    write(&path, &buf)?;
    written.push(path);
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        write_man(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

const SEE_ALSO: &str = r#".SH FILES
.TP
\fI/etc/hardrun/config.toml\fR
the configuration (\fB\-\-config\fR, \fBHARDRUN_CONFIG\fR), then \fI/etc/hardrun/config.d/*.toml\fR in lexical order; \fBhardrun config show\fR prints the result and where each value came from
.TP
\fI/etc/hardrun/profiles/*.toml\fR
profiles that add to or replace the built\-in ones
.TP
\fI/var/log/hardrun/audit.jsonl\fR
the audit log (a hash chain; \fBhardrun audit verify\fR)
.TP
\fI/usr/bin/hardrun\-restricted\fR, \fI/usr/bin/hardrun\-baseline\fR, \fI/usr/bin/hardrun\-ci\fR
invoked by one of these names, hardrun uses that profile (restricted, baseline, ci\-runner) unless \fB\-\-profile\fR or \fBHARDRUN_PROFILE\fR names another
.TP
\fI/usr/share/doc/hardrun/examples/\fR
registration snippets for containerd, Docker, podman and Kubernetes
.SH SEE ALSO
\fBrunc\fR(8), \fBcontainerd\fR(8), \fBdockerd\fR(8), \fBpodman\fR(1)
"#;

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
