//! The runc-compatible command line.
//!
//! Global flags and subcommands follow runc 1.1 (`--root --log --log-format --debug
//! --systemd-cgroup`, both `--flag v` and `--flag=v`). Where liboci-cli's structs match runc they
//! are used as they are; `kill` (optional signal), `exec` (runc's `--user uid[:gid]`, `--env`) and
//! `update` (runc's size suffixes) have their own.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

pub use crate::base::paths::DEFAULT_ROOT;

#[derive(Parser, Debug)]
#[command(
    name = "hardrun",
    about = "an OCI runtime that hardens every container it starts (runc-compatible)",
    disable_version_flag = true,
    arg_required_else_help = true,
    max_term_width = 100,
    after_help = "The global options may also follow the command; a command's --help lists only those \
                  that change what it does."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,

    /// print the version
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// root directory for storage of container state (this should be located in tmpfs)
    #[arg(long, global = true, default_value = DEFAULT_ROOT, value_name = "DIR")]
    pub root: PathBuf,

    /// set the log file to write hardrun logs to (every warning and error, hardening findings
    /// included); without it, warnings and errors go to stderr, findings only with --debug (they
    /// are always in the audit log)
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// set the log format ('text' (default), or 'json')
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,

    /// enable systemd cgroup support (fails on a host where systemd is not running)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,

    /// accepted for runc compatibility (before the subcommand only, as in runc): hardrun decides
    /// rootless mode from its euid
    #[arg(
        long = "rootless",
        id = "global_rootless",
        hide = true,
        value_name = "VALUE"
    )]
    pub rootless: Option<String>,

    /// accepted for runc compatibility; checkpoint/restore is not supported
    #[arg(long, hide = true, value_name = "PATH")]
    pub criu: Option<String>,

    /// hardrun's configuration file (default /etc/hardrun/config.toml)
    #[arg(long, global = true, env = "HARDRUN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// the hardening profile for create/run/exec/update (default: the configuration's)
    #[arg(long, global = true, env = "HARDRUN_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// enforce (default: the configuration's), or audit: record what would change, change nothing
    #[arg(long, global = true, env = "HARDRUN_MODE", value_name = "MODE", value_parser = ["enforce", "audit"])]
    pub mode: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// create a container
    Create(liboci_cli::Create),
    /// execute the user-defined process in a created container
    Start(liboci_cli::Start),
    /// output the state of a container
    State(liboci_cli::State),
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(Kill),
    /// delete any resources held by the container, often used with detached containers
    Delete(liboci_cli::Delete),
    /// create and run a container
    Run(liboci_cli::Run),
    /// execute new process inside the container
    Exec(Exec),
    /// ps displays the processes running inside a container
    Ps(liboci_cli::Ps),
    /// pause suspends all processes inside the container
    Pause(liboci_cli::Pause),
    /// resumes all processes that have been previously paused
    Resume(liboci_cli::Resume),
    /// update container resource constraints
    Update(Update),
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events(Events),
    /// show the enabled features
    Features(liboci_cli::Features),
    /// create a new specification file
    Spec(liboci_cli::Spec),
    /// lists containers started by hardrun with the given root
    List(liboci_cli::List),
    /// hardrun's hardening profiles: list, show, lint
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// the audit log: verify its hash chain, show its records
    #[command(subcommand)]
    Audit(AuditCmd),
    /// score a bundle, a spec or the running containers against the CIS Docker Benchmark
    Check(CheckArgs),
    /// hardrun's configuration: show the effective values and where each came from
    #[command(subcommand)]
    Config(ConfigCmd),
    /// register hardrun with a client (containerd: merge its runtime entries into config.toml)
    #[command(subcommand)]
    Setup(SetupCmd),
    /// watch the node: policy events from the audit log, cgroup events, live drift; one JSON
    /// line per security event on stdout, Prometheus metrics on a loopback address
    Monitor(MonitorArgs),
    /// write the monitor's metrics once, for node_exporter's textfile collector
    Metrics(MetricsArgs),
    // --- incident response: isolate, release, incident (issue 16) ---
    /// isolate a running container: freeze every process, cut its network (nftables in its
    /// network namespace), refuse exec and update into it, open an incident
    Isolate(IsolateArgs),
    /// undo isolate: thaw, remove the network cut, allow exec and update again
    Release(ReleaseArgs),
    /// incidents and their timelines: list, show, close
    #[command(subcommand)]
    Incident(IncidentCmd),
    // --- end incident response ---
    /// collect signed evidence of a running container (frozen while read); verify a bundle;
    /// print the node's public key
    Evidence(EvidenceArgs),
    /// what delete kept of deleted containers: list, prune
    #[command(subcommand)]
    Forensics(ForensicsCmd),
    /// scanners' reports of images (the image-scan rule): import, list
    #[command(subcommand)]
    Scan(ScanCmd),
}

/// `hardrun scan …` (hardrun's own; not a runc command; see docs/scanning.md).
#[derive(Subcommand, Debug)]
pub enum ScanCmd {
    /// validate a Trivy or Grype JSON report and file it in scan_reports_dir, named by the
    /// image's digest (or reference) and the scanner
    Import {
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// the report (trivy image -f json, grype -o json)
        file: PathBuf,
    },
    /// the reports in scan_reports_dir: image, scanner, date, findings per severity
    List {
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
}

/// `hardrun evidence …` (hardrun's own; not a runc command).
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    pub command: Option<EvidenceCmd>,
    /// the container (running, created or paused)
    #[arg(required = true)]
    pub container_id: Option<String>,
    /// a new directory, or FILE.tar (default: <forensics_dir>/evidence/<id>/<time>)
    #[arg(short = 'o', long = "output", value_name = "DIR|FILE.tar")]
    pub output: Option<PathBuf>,
    /// also dump the processes' memory with CRIU (criu dump --leave-running)
    #[arg(long)]
    pub checkpoint: bool,
    /// the most bytes of file contents copied from writable places (default: evidence_max_size)
    #[arg(long = "max-size", value_name = "SIZE")]
    pub max_size: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum EvidenceCmd {
    /// check every file's sha256 and the manifest's signature; name what differs
    Verify {
        /// the evidence directory or tar file
        path: PathBuf,
        /// the signer's public key (`hardrun evidence public-key` on the node) to pin
        #[arg(long = "public-key", value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// print the node's evidence public key (created with the key on first use)
    PublicKey,
}

/// `hardrun forensics …` (hardrun's own; not a runc command).
#[derive(Subcommand, Debug)]
pub enum ForensicsCmd {
    /// the kept records of deleted containers, oldest first
    List {
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// remove records older than the retention (or --older-than), then the oldest beyond
    /// forensics_max_size
    Prune {
        /// an age: 0s, 30m, 12h, 7d (default: forensics_retention)
        #[arg(long = "older-than", value_name = "AGE")]
        older_than: Option<String>,
    },
}

// --- incident response: isolate, release, incident (issue 16) ---

/// `hardrun isolate` (hardrun's own; not a runc command).
#[derive(Args, Debug)]
pub struct IsolateArgs {
    /// why (recorded in the incident and shown when exec or update is refused)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    pub container_id: String,
}

/// `hardrun release` (hardrun's own; not a runc command).
#[derive(Args, Debug)]
pub struct ReleaseArgs {
    pub container_id: String,
}

/// `hardrun incident …` (hardrun's own; not a runc command).
#[derive(Subcommand, Debug)]
pub enum IncidentCmd {
    /// every incident, oldest first (json: with time to detect, time to respond and a summary)
    List {
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// one incident and its timeline
    Show {
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        id: String,
    },
    /// close an incident with a note (the last stage of its timeline)
    Close {
        /// what was found and done
        #[arg(long, value_name = "TEXT", required = true)]
        note: String,
        id: String,
    },
}

// --- end incident response ---

/// `hardrun monitor` (hardrun's own; not a runc command).
#[derive(Args, Debug)]
pub struct MonitorArgs {
    /// serve Prometheus metrics at http://ADDR:PORT/metrics (a loopback address unless
    /// --metrics-allow-remote)
    #[arg(long = "metrics-address", value_name = "ADDR:PORT")]
    pub metrics_address: Option<std::net::SocketAddr>,
    /// allow a --metrics-address that is not a loopback address
    #[arg(long = "metrics-allow-remote")]
    pub metrics_allow_remote: bool,
    /// the monitor's state file: where it is in the audit log, so a restart loses and repeats
    /// nothing
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/var/lib/hardrun/monitor/state.json"
    )]
    pub state: PathBuf,
    /// how often each running container gets the live check (a duration: 5s, 500ms, 1m)
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: GoDuration,
    // the sinks (issue 15); each flag overrides its key of `[monitor]` in config.toml
    /// push alerts to Alertmanager's v2 API at URL (http://HOST:PORT): critical at once, the
    /// others batched per --alert-window ("" turns off the configured one)
    #[arg(long, value_name = "URL")]
    pub alertmanager: Option<String>,
    /// POST each event as JSON to URL (http:// only; retried with backoff; "" turns off the
    /// configured one)
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// send each event to syslog (RFC 5424)
    #[arg(long)]
    pub syslog: bool,
    /// the syslog socket, a unix datagram socket [default: /dev/log]
    #[arg(long = "syslog-socket", value_name = "PATH")]
    pub syslog_socket: Option<PathBuf>,
    /// the syslog facility (daemon, auth, authpriv, local0 … local7, …) [default: authpriv]
    #[arg(long = "syslog-facility", value_name = "NAME")]
    pub syslog_facility: Option<String>,
    /// append each event as one JSON line to FILE (created 0600)
    #[arg(long = "events-file", value_name = "FILE")]
    pub events_file: Option<PathBuf>,
    /// Alertmanager's batching windows, any subset [default: high=1h,medium=4h,low=24h]
    #[arg(long = "alert-window", value_name = "SEVERITY=DURATION,...")]
    pub alert_window: Option<String>,
    /// events each network sink (Alertmanager, webhook) may hold unsent; more are dropped and
    /// counted [default: 1000]
    #[arg(long = "sink-queue", value_name = "N")]
    pub sink_queue: Option<u64>,
}

/// `hardrun metrics` (hardrun's own; not a runc command).
#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// the directory of node_exporter's textfile collector: writes DIR/hardrun.prom (atomically)
    #[arg(long, value_name = "DIR")]
    pub textfile: PathBuf,
}

/// `hardrun config …` (hardrun's own; not a runc command).
#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// print the effective configuration and where each value came from
    Show {
        /// text (TOML with the origins as comments) or json
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
}

/// `hardrun setup …` (hardrun's own; not a runc command).
#[derive(Subcommand, Debug)]
pub enum SetupCmd {
    /// add hardrun's runtimes to containerd's config.toml (backs it up; idempotent)
    Containerd(SetupContainerd),
}

#[derive(Args, Debug)]
pub struct SetupContainerd {
    /// containerd's configuration file (created when missing)
    #[arg(
        long,
        default_value = "/etc/containerd/config.toml",
        value_name = "FILE"
    )]
    pub config: PathBuf,
    /// one runtime hardrun-<profile> per profile, besides the runtime hardrun (restricted,
    /// baseline, ci, permissive)
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "restricted,baseline,ci",
        value_name = "LIST"
    )]
    pub profiles: Vec<String>,
    /// where hardrun and its hardrun-<profile> symlinks are installed
    #[arg(long = "bin-dir", default_value = "/usr/bin", value_name = "DIR")]
    pub bin_dir: PathBuf,
    /// the runtimes' state root (options.Root; "" leaves it to containerd)
    #[arg(long = "runtime-root", default_value = DEFAULT_ROOT, value_name = "DIR")]
    pub runtime_root: PathBuf,
    /// also make this runtime containerd's default_runtime_name (e.g. hardrun-restricted)
    #[arg(long = "default-runtime", value_name = "NAME")]
    pub default_runtime: Option<String>,
    /// print what would change; write nothing
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

/// `hardrun check` (hardrun's own; not a runc command).
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// a bundle directory (its config.json)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["spec", "running"])]
    pub bundle: Option<PathBuf>,
    /// an OCI config.json
    #[arg(long, value_name = "FILE", conflicts_with = "running")]
    pub spec: Option<PathBuf>,
    /// every container in the state root, from the spec it runs
    #[arg(long)]
    pub running: bool,
    /// with --running: read the kernel's view of every process of each container (seccomp,
    /// no_new_privs, capabilities, uids, namespaces, id maps, mount flags) and name each drift
    /// from its profile; exit 1 on any drift
    #[arg(long, requires = "running", conflicts_with_all = ["min_score", "level"])]
    pub live: bool,
    /// with --running: only these containers (default: all in the state root)
    #[arg(value_name = "ID", requires = "running")]
    pub ids: Vec<String>,
    /// text, json, sarif (SARIF 2.1.0, for code-scanning uploads) or xccdf (XCCDF 1.2 results
    /// for OpenSCAP; not with --live)
    #[arg(long, default_value = "text", value_parser = ["text", "json", "sarif", "xccdf"])]
    pub format: String,
    /// the gate: exit 1 when the score (as hardrun would run it) is below this percentage
    /// (default: the profile's `[compliance] min_score`, 85 unless it says otherwise)
    #[arg(long = "min-score", value_name = "PERCENT")]
    pub min_score: Option<f64>,
    /// the level the gate looks at (default: the profile's `[compliance] level`, 1)
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub level: Option<u8>,
}

/// `hardrun audit …` (hardrun's own; not a runc command).
#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// check the keyed hash chain of audit logs, oldest file first, and its end against the head
    /// file (default: the configuration's audit log, its rotated files and its head)
    Verify {
        /// the head file to check the last file's end against (default: `<last file>.head`
        /// where it exists; for the configuration's log, always its head)
        #[arg(long, value_name = "FILE")]
        head: Option<PathBuf>,
        /// audit log files, oldest first
        files: Vec<PathBuf>,
    },
    /// replace the node's audit key (the configuration's `audit_key`); the old key is kept in
    /// `<audit_key>.retired/` so the records it made still verify
    RotateKey,
    /// print audit records readably (default: the configuration's audit log and its rotated files)
    Show {
        /// only this container's records
        #[arg(long, value_name = "ID")]
        container: Option<String>,
        /// only records at or after this time: RFC 3339 (2026-11-27T10:00:00Z), a date
        /// (2026-11-27), or an age (30s, 15m, 2h, 7d)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// only allowed or denied decisions, or done or failed lifecycle steps
        #[arg(long, value_parser = ["allowed", "denied", "done", "failed"])]
        decision: Option<String>,
        /// only records of containers whose caller names this Kubernetes namespace
        /// (the `io.kubernetes.cri.sandbox-namespace` annotation; a claim, not verified)
        #[arg(long = "k8s-namespace", value_name = "NAMESPACE")]
        k8s_namespace: Option<String>,
        /// only records of containers of this pod: its name or its uid (CRI annotations)
        #[arg(long, value_name = "NAME|UID")]
        pod: Option<String>,
        /// only records of this container name in its pod (`io.kubernetes.cri.container-name`)
        #[arg(long = "k8s-container", value_name = "NAME")]
        k8s_container: Option<String>,
        /// text, or json (the records as they are, one per line)
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// audit log files, oldest first
        files: Vec<PathBuf>,
    },
}

/// `hardrun profile …` (hardrun's own; not a runc command).
#[derive(Subcommand, Debug)]
pub enum ProfileCmd {
    /// the profiles available: built in, and from the configuration's profile directory
    List,
    /// print a profile: its TOML, or the policy document auditors ask for (markdown), or JSON
    Show {
        /// profile name
        name: String,
        /// toml (the file as written), markdown (each rule: action, CIS controls, parameters,
        /// comments), or json (the same, with every parameter's effective value)
        #[arg(long, default_value = "toml", value_parser = ["toml", "markdown", "json"])]
        format: String,
    },
    /// check every profile, and report exception entries that no decision in the audit log used
    Lint {
        /// the audit log to read (default: the configuration's)
        #[arg(long = "audit-log", value_name = "FILE")]
        audit_log: Option<PathBuf>,
    },
}

/// `kill <container-id> [signal]`: the signal is optional, a name (`KILL`, `SIGKILL`) or a number.
#[derive(Args, Debug)]
pub struct Kill {
    /// send the specified signal to all processes inside the container
    #[arg(short, long)]
    pub all: bool,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct Exec {
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// set environment variables (KEY=VALUE)
    #[arg(short, long, value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short, long, value_parser = parse_user)]
    pub user: Option<(u32, Option<u32>)>,
    /// additional gids
    #[arg(long = "additional-gids", short = 'g')]
    pub additional_gids: Vec<u32>,
    /// path to the process.json
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// specify the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// set the asm process label for the process commonly used with selinux
    #[arg(long)]
    pub process_label: Option<String>,
    /// set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// set the no new privileges value for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// add a capability to the bounding set for the process
    #[arg(long)]
    pub cap: Vec<String>,
    /// pass N additional file descriptors to the container
    #[arg(long, default_value = "0")]
    pub preserve_fds: i32,
    /// allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,
    /// run the process in an (existing) sub-cgroup
    #[arg(long)]
    pub cgroup: Option<String>,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
    /// command and arguments (when no --process is given)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `events`: runc's flags; `--interval` is a Go duration, as runc's.
#[derive(Args, Debug)]
pub struct Events {
    /// set the stats collection interval: a duration with its unit (5s, 500ms, 1m30s)
    #[arg(long, default_value = "5s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub interval: GoDuration,
    /// display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
}

/// A duration as Go's `time.ParseDuration` reads it: signed nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub i64);

impl GoDuration {
    /// The duration, `None` when it is zero or negative.
    pub fn positive(self) -> Option<std::time::Duration> {
        u64::try_from(self.0)
            .ok()
            .filter(|n| *n > 0)
            .map(std::time::Duration::from_nanos)
    }
}

/// Parses a duration the way Go's `time.ParseDuration` does (runc's `events --interval`): a
/// sign, then one or more decimal numbers each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`,
/// `h`), e.g. `1h15m`, `1.5s`, `-2ms`; `0` alone. A bare number other than `0` is refused, as
/// runc refuses it (`invalid value "1" for flag -interval`): it names no unit.
pub fn parse_duration(s: &str) -> Result<GoDuration, String> {
    let bad = |why: &str| format!("invalid duration {s:?}: {why}");
    if s == "0" {
        return Ok(GoDuration(0));
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(&format!(
            "missing unit (ns, us, ms, s, m, h): {s}s for seconds"
        )));
    }
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.is_empty() {
        return Err(bad(
            "expected a number with a unit (ns, us, ms, s, m, h), e.g. 5s or 500ms",
        ));
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(bad("expected a number before each unit"));
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, next) = after.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(bad("missing unit (ns, us, ms, s, m, h)")),
            other => return Err(bad(&format!("unknown unit {other:?}"))),
        };
        // digits are capped so that the arithmetic below cannot overflow an i128
        if int.len() > 20 {
            return Err(bad("out of range"));
        }
        let whole: i128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad("out of range"))?
        };
        let mut part = whole * scale;
        let mut div: i128 = 1;
        for d in frac.bytes().take(18) {
            div *= 10;
            part += i128::from(d - b'0') * scale / div;
        }
        total += part;
        if total > i128::from(i64::MAX) {
            return Err(bad("out of range"));
        }
        rest = next;
    }
    let total = if neg { -total } else { total };
    Ok(GoDuration(total as i64))
}

/// `update`: runc's flags; sizes accept runc's suffixes (`64m`, `1g`). Every flag runc takes
/// `-1` ("unlimited") for takes it in both forms, `--memory -1` and `--memory=-1`; the policy
/// then holds it to the profile's ceiling.
#[derive(Args, Debug)]
pub struct Update {
    /// path to a file containing the resources to update, or '-' to read from stdin
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long)]
    pub cpu_share: Option<u64>,
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    #[arg(long, value_parser = parse_size, allow_negative_numbers = true)]
    pub memory: Option<i64>,
    #[arg(long, value_parser = parse_size, allow_negative_numbers = true)]
    pub memory_reservation: Option<i64>,
    #[arg(long, value_parser = parse_size, allow_negative_numbers = true)]
    pub memory_swap: Option<i64>,
    #[arg(long, value_parser = parse_size, allow_negative_numbers = true)]
    pub kernel_memory: Option<i64>,
    #[arg(long, value_parser = parse_size, allow_negative_numbers = true)]
    pub kernel_memory_tcp: Option<i64>,
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
}

/// The global options a subcommand's help lists: those that change what it does. runc's own
/// (`--root --log --log-format --debug --systemd-cgroup`) are listed once, in `hardrun --help`,
/// as runc lists them; every global option is still accepted before or after any command.
fn globals_shown(subcommand: &str) -> &'static [&'static str] {
    match subcommand {
        "create" | "run" | "exec" | "update" | "config" => &["config", "profile", "mode"],
        "check" | "monitor" | "metrics" => &["root", "config", "profile"],
        "profile" | "audit" | "evidence" | "forensics" => &["config"],
        _ => &[],
    }
}

const GLOBAL_IDS: &[&str] = &[
    "root",
    "log",
    "log_format",
    "debug",
    "systemd_cgroup",
    "config",
    "profile",
    "mode",
];

/// hardrun's command line: [`Cli`], with each subcommand's help trimmed to the global options
/// that mean something there ([`globals_shown`]).
pub fn command() -> clap::Command {
    fn hide(cmd: &mut clap::Command, shown: &[&str]) {
        let ids: Vec<String> = cmd
            .get_arguments()
            // a command's own option of the same name (setup containerd --config) stays
            .filter(|a| a.is_global_set())
            .map(|a| a.get_id().as_str().to_owned())
            .filter(|id| GLOBAL_IDS.contains(&id.as_str()) && !shown.contains(&id.as_str()))
            .collect();
        // mut_args keeps each argument in its place (clap's keys index them once built)
        let mut c = std::mem::take(cmd).mut_args(|a| {
            if ids.iter().any(|id| a.get_id() == id.as_str()) {
                a.hide(true)
            } else {
                a
            }
        });
        for sub in c.get_subcommands_mut() {
            hide(sub, shown);
        }
        *cmd = c;
    }
    let mut cmd = Cli::command();
    // propagates the global options into every subcommand, so they can be hidden there
    cmd.build();
    for sub in cmd.get_subcommands_mut() {
        let shown = globals_shown(sub.get_name());
        hide(sub, shown);
    }
    cmd
}

/// Parses `argv` as [`command`] does. Hiding the global options (what [`command`] adds) changes
/// only what help and usage print, never what a command line means, and it builds every
/// subcommand first: 1.2 ms, on every call, twice for the commands the binary protection
/// re-executes (issue 20). So a command line is parsed with the plain derived command, which
/// builds only the subcommand used; one that clap rejects or answers itself (help, version,
/// usage errors) is parsed again with [`command`], whose error is the one returned.
pub fn try_parse_from<I, T>(argv: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
    // the commands a shim sends on every container: only their own subcommand is built
    let words: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(cmd) = subcommand_of(&words).and_then(narrow_command) {
        if let Ok(cli) = cmd
            .try_get_matches_from(&argv)
            .and_then(|m| Cli::from_arg_matches(&m))
        {
            return Ok(cli);
        }
    }
    if let Ok(cli) = Cli::command()
        .try_get_matches_from(&argv)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        return Ok(cli);
    }
    let matches = command().try_get_matches_from(argv)?;
    Cli::from_arg_matches(&matches)
}

/// The root command with only subcommand `name` (one of those a shim sends on every container):
/// what the derived command would parse for it, without building every other subcommand's
/// arguments (issue 20: the whole tree is most of a parse's 0.7 ms in a fresh process). Errors
/// and help never come from it (see [`try_parse_from`]).
fn narrow_command(name: &str) -> Option<clap::Command> {
    use clap::Command as C;
    let sub = match name {
        "create" => <liboci_cli::Create as Args>::augment_args(C::new("create")),
        "start" => <liboci_cli::Start as Args>::augment_args(C::new("start")),
        "state" => <liboci_cli::State as Args>::augment_args(C::new("state")),
        "kill" => <Kill as Args>::augment_args(C::new("kill")),
        "delete" => <liboci_cli::Delete as Args>::augment_args(C::new("delete")),
        "run" => <liboci_cli::Run as Args>::augment_args(C::new("run")),
        "exec" => <Exec as Args>::augment_args(C::new("exec")),
        _ => return None,
    };
    let root = clap::Command::new("hardrun")
        .disable_version_flag(true)
        .arg(
            clap::Arg::new("version")
                .short('v')
                .long("version")
                .action(clap::ArgAction::SetTrue),
        );
    Some(<GlobalOpts as Args>::augment_args(root).subcommand(sub))
}

/// The exit code for a command line clap rejects or answers itself, as runc's: help and version
/// 0 (a bare `hardrun` prints its help, as a bare `runc` does), an unknown command 3 (runc's
/// "No help topic"), every other usage error 1 (clap's own is 2). hardrun's own `check` keeps 2
/// for bad input: its 1 means "below the gate".
pub fn usage_exit_code(kind: clap::error::ErrorKind, argv: &[String]) -> i32 {
    use clap::error::ErrorKind as K;
    match kind {
        K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        K::InvalidSubcommand => 3,
        _ if subcommand_of(argv) == Some("check") => 2,
        _ => 1,
    }
}

/// The first word of `argv` (program name excluded) that is not a global flag or its value.
pub fn subcommand_of(argv: &[String]) -> Option<&str> {
    const TAKES_VALUE: &[&str] = &[
        "--root",
        "--log",
        "--log-format",
        "--config",
        "--profile",
        "--mode",
        "--criu",
        "--rootless",
    ];
    let mut words = argv.iter().skip(1);
    while let Some(w) = words.next() {
        if TAKES_VALUE.contains(&w.as_str()) {
            words.next();
        } else if !w.starts_with('-') {
            return Some(w);
        }
    }
    None
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!(
            "invalid environment variable {s:?}: expected KEY=VALUE"
        )),
    }
}

fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let bad = || format!("invalid user {s:?}: expected <uid>[:<gid>] with numeric ids");
    match s.split_once(':') {
        Some((u, g)) => Ok((
            u.parse().map_err(|_| bad())?,
            Some(g.parse().map_err(|_| bad())?),
        )),
        None => Ok((s.parse().map_err(|_| bad())?, None)),
    }
}

/// Parses a size the way runc's `update` does: a plain number of bytes, `-1` for unlimited, or a
/// number with a binary suffix (`k`, `m`, `g`, `t`, optionally followed by `b`/`ib`).
pub fn parse_size(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let digits_end = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let num: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult: f64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("invalid size {s:?}: unknown unit {unit:?}")),
    };
    let v = num * mult;
    if !(0.0..=(i64::MAX as f64)).contains(&v) {
        return Err(format!("invalid size {s:?}: out of range"));
    }
    Ok(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast parse (the plain derived command) means what the full one (globals hidden) means,
    /// for every command the runtime's callers send; errors and help come from the full one.
    #[test]
    fn the_fast_parse_means_what_the_full_one_means() {
        let lines = [
            "hardrun --root /r --log /l --log-format json create --bundle /b --pid-file /p c1",
            "hardrun --root=/r run -d --bundle /b --console-socket /s --preserve-fds 2 c1",
            "hardrun run --bundle /b --keep --no-pivot c1",
            "hardrun --systemd-cgroup --debug start c1",
            "hardrun exec -t --cap CAP_NET_ADMIN --env A=b --cwd /tmp -u 1000:1000 c1 sh -c id",
            "hardrun exec --process /p.json --pid-file /x -d c1",
            "hardrun --profile baseline --mode audit create -b /b c1",
            "hardrun kill --all c1 KILL",
            "hardrun delete --force c1",
            "hardrun --root /r delete c1 --force",
            "hardrun start c1 --root /r",
            "hardrun kill c1",
            "hardrun kill c1 9",
            "hardrun state c1 --debug",
            "hardrun exec c1 -- sh -c --root",
            "hardrun run --bundle /b c1 --systemd-cgroup",
            "hardrun --config /c --profile restricted --mode enforce run -b /b c1",
            "hardrun update --memory 64m --pids-limit 10 c1",
            "hardrun state c1",
            "hardrun ps --format json c1",
            "hardrun check --format sarif --bundle /b",
            "hardrun check --running --live c1 c2",
            "hardrun list -q",
            "hardrun features",
        ];
        for line in lines {
            let argv: Vec<&str> = line.split(' ').collect();
            let full = command()
                .try_get_matches_from(&argv)
                .and_then(|m| Cli::from_arg_matches(&m));
            let fast = try_parse_from(&argv);
            assert_eq!(format!("{full:?}"), format!("{fast:?}"), "{line}");
            assert!(fast.is_ok(), "{line}: {fast:?}");
            // the shim's commands parse with their subcommand alone, to the same
            let words: Vec<String> = argv.iter().map(|w| w.to_string()).collect();
            if let Some(narrow) = subcommand_of(&words).and_then(narrow_command) {
                let narrow = narrow
                    .try_get_matches_from(&argv)
                    .and_then(|m| Cli::from_arg_matches(&m));
                assert_eq!(format!("{full:?}"), format!("{narrow:?}"), "{line}");
            }
        }
        for bad in [
            "hardrun run",
            "hardrun --help",
            "hardrun frobnicate",
            "hardrun create --bogus c1",
        ] {
            let argv: Vec<&str> = bad.split(' ').collect();
            let full = command().try_get_matches_from(&argv).unwrap_err();
            let fast = try_parse_from(&argv).unwrap_err();
            assert_eq!(full.kind(), fast.kind(), "{bad}");
            assert_eq!(
                full.render().to_string(),
                fast.render().to_string(),
                "{bad}"
            );
        }
    }

    #[test]
    fn sizes() {
        for (input, want) in [
            ("0", Ok(0)),
            ("1024", Ok(1024)),
            ("64m", Ok(64 << 20)),
            ("64M", Ok(64 << 20)),
            ("1g", Ok(1 << 30)),
            ("1GiB", Ok(1 << 30)),
            ("2kb", Ok(2048)),
            ("-1", Ok(-1)),
        ] {
            assert_eq!(parse_size(input), want, "{input}");
        }
        assert!(parse_size("12q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-5").is_err());
    }

    fn help(argv: &[&str]) -> String {
        let e = try_parse_from(argv).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{argv:?}");
        e.render().to_string()
    }

    #[test]
    fn help_lists_the_global_options_that_mean_something_there() {
        let top = help(&["hardrun", "--help"]);
        for flag in [
            "--root",
            "--log ",
            "--systemd-cgroup",
            "--profile",
            "--debug",
        ] {
            assert!(top.contains(flag), "{flag}: {top}");
        }
        assert!(!top.contains("default is stderr"), "{top}");
        let audit = top
            .lines()
            .find(|l| l.trim_start().starts_with("audit "))
            .unwrap();
        assert!(audit.contains("show"), "{audit}");
        assert!(help(&["hardrun", "audit", "--help"])
            .starts_with("the audit log: verify its hash chain, show its records"));
        let show = help(&["hardrun", "profile", "show", "--help"]);
        for flag in ["--systemd-cgroup", "--root", "--log-format", "--mode"] {
            assert!(!show.contains(flag), "{flag}: {show}");
        }
        assert!(show.contains("--format"), "{show}");
        let state = help(&["hardrun", "state", "--help"]);
        assert!(
            !state.contains("--profile") && !state.contains("--root"),
            "{state}"
        );
        let create = help(&["hardrun", "create", "--help"]);
        assert!(
            create.contains("--profile") && !create.contains("--systemd-cgroup"),
            "{create}"
        );
        assert!(help(&["hardrun", "check", "--help"]).contains("--root"));
        let setup = help(&["hardrun", "setup", "containerd", "--help"]);
        assert!(setup.contains("containerd's configuration file"), "{setup}");
        // hidden from the help, still accepted anywhere
        let c = try_parse_from([
            "hardrun",
            "profile",
            "show",
            "--systemd-cgroup",
            "--root",
            "/x",
            "p",
        ])
        .unwrap();
        assert!(c.global.systemd_cgroup);
        assert_eq!(c.global.root, PathBuf::from("/x"));
    }

    #[test]
    fn usage_errors_exit_as_runc_does() {
        let code = |argv: &[&str]| {
            let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
            usage_exit_code(try_parse_from(&argv).unwrap_err().kind(), &argv)
        };
        assert_eq!(code(&["hardrun", "state"]), 1);
        assert_eq!(code(&["hardrun", "state", "a", "b"]), 1);
        assert_eq!(code(&["hardrun", "--bogus", "list"]), 1);
        assert_eq!(code(&["hardrun", "list", "--bogus"]), 1);
        assert_eq!(code(&["hardrun", "kill", "a", "b", "c"]), 1);
        assert_eq!(code(&["hardrun", "nosuchcmd"]), 3);
        assert_eq!(code(&["hardrun"]), 0);
        assert_eq!(code(&["hardrun", "state", "--help"]), 0);
        // check's own convention: 1 is the gate, 2 bad input
        assert_eq!(code(&["hardrun", "--root", "check", "check", "--live"]), 2);
        assert_eq!(code(&["hardrun", "--root", "check", "state"]), 1);
    }

    #[test]
    fn durations_as_go_parses_them() {
        const S: i64 = 1_000_000_000;
        for (input, want) in [
            ("5s", 5 * S),
            ("1s", S),
            ("500ms", S / 2),
            ("100ms", S / 10),
            ("5m", 300 * S),
            ("1h15m", 4500 * S),
            ("1.5s", 3 * S / 2),
            (".5s", S / 2),
            ("2.s", 2 * S),
            ("10us", 10_000),
            ("10µs", 10_000),
            ("7ns", 7),
            ("0", 0),
            ("0s", 0),
            ("-1s", -S),
            ("+2ms", 2_000_000),
        ] {
            assert_eq!(parse_duration(input), Ok(GoDuration(want)), "{input}");
        }
        for bad in [
            "",
            "abc",
            "5x",
            "s",
            "-",
            "1.5",
            "5 s",
            "1e3s",
            "9999999999999h",
            ".s",
            // a bare number names no unit: runc 1.1.5 refuses `--interval 1` too
            "1",
            "30",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(
                e.starts_with(&format!("invalid duration {bad:?}")),
                "{bad}: {e}"
            );
        }
        assert_eq!(GoDuration(0).positive(), None);
        assert_eq!(GoDuration(-5).positive(), None);
        assert_eq!(
            GoDuration(S / 10).positive(),
            Some(std::time::Duration::from_millis(100))
        );
        let c = try_parse_from(["hardrun", "events", "x"]).unwrap();
        match c.command {
            Some(Command::Events(e)) => assert_eq!(e.interval, GoDuration(5 * S)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn users_and_env() {
        assert_eq!(parse_user("1000"), Ok((1000, None)));
        assert_eq!(parse_user("1000:100"), Ok((1000, Some(100))));
        assert!(parse_user("root").is_err());
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(parse_env("=x").is_err());
        assert!(parse_env("novalue").is_err());
    }

    #[test]
    fn both_flag_forms_and_client_argv_shapes() {
        // argv shapes seen from containerd, dockerd and podman (real-clients.md)
        let shapes: &[&[&str]] = &[
            &[
                "hardrun",
                "--root",
                "/r",
                "--log",
                "/b/log.json",
                "--log-format",
                "json",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/b/init.pid",
                "id1",
            ],
            &[
                "hardrun",
                "--root=/r",
                "--log-format=json",
                "--systemd-cgroup",
                "start",
                "id1",
            ],
            &[
                "hardrun",
                "--root",
                "/r",
                "exec",
                "--process",
                "/tmp/p.json",
                "--detach",
                "--pid-file",
                "/tmp/p.pid",
                "id1",
            ],
            &["hardrun", "--root", "/r", "kill", "id1", "15"],
            &["hardrun", "--root", "/r", "kill", "--all", "id1", "9"],
            &["hardrun", "--root", "/r", "kill", "id1"],
            &["hardrun", "--root", "/r", "delete", "--force", "id1"],
            &["hardrun", "--root", "/r", "ps", "--format", "json", "id1"],
            &[
                "hardrun",
                "--root",
                "/r",
                "update",
                "--resources",
                "-",
                "id1",
            ],
            &[
                "hardrun",
                "--root",
                "/r",
                "update",
                "--memory=64m",
                "--pids-limit",
                "-1",
                "id1",
            ],
            &["hardrun", "exec", "-t", "id1", "sh", "-c", "echo hi"],
            &["hardrun", "events", "--stats", "id1"],
            &["hardrun", "list", "--format", "json"],
            &["hardrun", "--version"],
            &["hardrun", "--rootless", "false", "spec", "--rootless"],
        ];
        for argv in shapes {
            try_parse_from(argv.iter()).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        }
        let c = try_parse_from(["hardrun", "--root=/x", "kill", "id1"]).unwrap();
        match c.command {
            Some(Command::Kill(k)) => assert_eq!(k.signal, "SIGTERM"),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.global.root, PathBuf::from("/x"));
        let c = try_parse_from(["hardrun", "exec", "id1", "sh", "-c", "echo hi"]).unwrap();
        match c.command {
            Some(Command::Exec(e)) => assert_eq!(e.command, ["sh", "-c", "echo hi"]),
            other => panic!("{other:?}"),
        }
        assert!(try_parse_from(["hardrun", "--log-format", "xml", "list"]).is_err());
    }
}
