//! hardrun's entry point: parse, set up logging, protect the binary where a container could
//! reach it, dispatch, and map errors to runc's exit codes (1; 255 for `exec`).

use hardrun::cli::Command;
use hardrun::commands as cmd;
use hardrun::observability::{self, Format};

fn main() {
    // a process re-executed from the read-only binding (protect): back to the caller's mount
    // namespace, before anything else touches descriptors or starts a thread
    let returned = hardrun::runtime::protect::return_to_caller_namespace();
    // HARDRUN_TRACE_TIMING=1: per-stage times on stderr (issue 20)
    hardrun::runtime::timing::start();
    hardrun::base::clock::mark_start();
    // create, run and exec re-execute from a read-only binding of the binary before the parse
    // where they can (the re-executed process parses); otherwise protection is decided below
    let words: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if matches!(
        hardrun::cli::subcommand_of(&words),
        Some("create" | "run" | "exec")
    ) && !words.iter().any(|a| a == "--help" || a == "-h")
    {
        hardrun::runtime::protect::reexec_early();
    }
    let cli = match hardrun::cli::try_parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            // runc's exit codes for usage errors (1, 3 for an unknown command), not clap's 2;
            // help and version go to stdout with 0
            let argv: Vec<String> = std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let code = hardrun::cli::usage_exit_code(e.kind(), &argv);
            if code == 0 {
                let _ = cmd::out(e.render().to_string().as_bytes());
            } else {
                let _ = e.print();
            }
            std::process::exit(code);
        }
    };
    if cli.version {
        let _ = cmd::out(hardrun::version_text().as_bytes());
        return;
    }
    // Before anything is opened: the caller's descriptors, but those passed on purpose, must not
    // reach the processes libcontainer clones from this one (see caller_fds).
    let preserve_fds = match &cli.command {
        Some(Command::Create(a)) => Some(a.preserve_fds),
        Some(Command::Run(a)) => Some(a.preserve_fds),
        Some(Command::Exec(a)) => Some(a.preserve_fds),
        _ => None,
    };
    if let Some(n) = preserve_fds {
        let listen_fds = std::env::var("LISTEN_FDS").ok();
        let keep = hardrun::runtime::caller_fds::passed_on_purpose(n, listen_fds.as_deref());
        if let Err(msg) = hardrun::runtime::caller_fds::close_inherited(keep) {
            eprintln!("{msg}");
            std::process::exit(1);
        }
    }
    hardrun::runtime::timing::stage("cli-parse-fds");
    let g = &cli.global;
    let format = if g.log_format == "json" {
        Format::Json
    } else {
        Format::Text
    };
    let logging = match observability::init(g.log.as_deref(), format, g.debug) {
        Ok(l) => l,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(1);
        }
    };
    if let Err(msg) = returned {
        fail(&msg.to_string(), logging);
    }
    let Some(command) = cli.command else {
        // `--debug` & co. with no subcommand: runc prints its help and exits 0
        let help = hardrun::cli::command().render_help();
        let _ = cmd::out(help.to_string().as_bytes());
        std::process::exit(0);
    };

    if matches!(
        command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    ) {
        // SIGPIPE stays ignored (Rust's default) in the runtime: a hook that exits without
        // reading the state on its stdin must make the write fail with EPIPE, which
        // libcontainer expects, not kill hardrun. The container's process gets the default
        // disposition back right before its execve (executor::reset_signals), hooks get it
        // from std's Command.
        hardrun::runtime::timing::stage("logging-init");
        // a non-root caller is refused before the binary's protection (which needs root) and
        // before anything is made (docs/install.md, "Rootless")
        if matches!(command, Command::Create(_) | Command::Run(_)) {
            if let Err(e) = cmd::create::check_rootless(nix::unistd::geteuid().as_raw()) {
                fail(&e.to_string(), logging);
            }
        }
        if let Err(msg) = hardrun::runtime::protect::ensure_read_only_exe() {
            fail(&msg.to_string(), logging);
        }
        hardrun::runtime::timing::stage("protect-check");
    }

    // every step that changes a container reaches the audit log, done or failed
    let result = cmd::lifecycle::recorded(g, &command, || match &command {
        Command::Create(a) => cmd::create::run(g, a),
        Command::Start(a) => cmd::start::run(g, a),
        Command::State(a) => cmd::state::run(g, a),
        Command::Kill(a) => cmd::kill::run(g, a),
        Command::Delete(a) => cmd::delete::run(g, a),
        Command::Run(a) => cmd::run::run(g, a),
        Command::Exec(a) => cmd::exec::run(g, a),
        Command::Ps(a) => cmd::ps::run(g, a),
        Command::Pause(a) => cmd::pause::pause(g, a),
        Command::Resume(a) => cmd::pause::resume(g, a),
        Command::Update(a) => cmd::update::run(g, a),
        Command::Events(a) => cmd::events::run(g, a),
        Command::Features(a) => cmd::features::run(g, a),
        Command::Spec(a) => cmd::spec::run(g, a),
        Command::List(a) => cmd::list::run(g, a),
        Command::Profile(a) => cmd::profile::run(g, a),
        Command::Audit(a) => cmd::audit::run(g, a),
        Command::Check(a) => cmd::check::run(g, a),
        Command::Config(a) => cmd::config::run(g, a),
        Command::Setup(a) => cmd::setup::run(g, a),
        Command::Monitor(a) => cmd::monitor::run(g, a),
        Command::Metrics(a) => cmd::monitor::metrics(g, a),
        Command::Isolate(a) => cmd::isolate::isolate(g, a),
        Command::Release(a) => cmd::isolate::release(g, a),
        Command::Incident(a) => cmd::incident::run(g, a),
        Command::Evidence(a) => cmd::evidence::run(g, a),
        Command::Forensics(a) => cmd::forensics::run(g, a),
        Command::Scan(a) => cmd::scan::run(g, a),
    });
    hardrun::runtime::timing::total();
    match result {
        Ok(code) => std::process::exit(code),
        // runc 1.1.5: whatever stops an exec (no such container, a process that cannot start)
        // is "exec failed: …" with status 255, told apart from the process's own exit status
        Err(e) if matches!(command, Command::Exec(_)) => {
            fail_with(&format!("exec failed: {e:#}"), logging, 255)
        }
        Err(e) => fail(&format!("{e:#}"), logging),
    }
}

/// Reports a fatal error the way runc does: to the log (where containerd and podman read it)
/// and, when the log is a file, on stderr too.
fn fail(msg: &str, logging: observability::Logging) -> ! {
    fail_with(msg, logging, 1)
}

/// [`fail`] with another exit status.
fn fail_with(msg: &str, logging: observability::Logging, code: i32) -> ! {
    tracing::error!("{msg}");
    if logging.to_file {
        eprintln!("{msg}");
    }
    std::process::exit(code)
}
