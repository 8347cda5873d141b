//! Evidence bundles: `hardrun evidence <id> -o DIR|FILE.tar` collects what incident response
//! needs about a running (or paused) container while its processes are frozen, and signs a
//! manifest of every file with the node's ed25519 key; `hardrun evidence verify` checks it.
//!
//! What is collected (see docs/evidence.md):
//!
//! ```text
//! spec/config.orig.json     the caller's spec; spec/config.json the hardened one (credentials in
//! spec/findings.json        /process/env masked); what hardening changed; spec/hardrun.json
//! audit/records.jsonl       this container's audit records, byte for byte; audit/proof.json the
//! audit/head                chain proof (each record's seq, prev, hash, kid, mac, file and line;
//!                           the verification of the whole log as `audit verify` sees it)
//! processes/<pid>/…         status, cmdline, environ (credentials masked), maps, cgroup,
//!                           mountinfo, fds.json (readlink of every fd), namespaces.json
//! net/<netns inode>/…       tcp, tcp6, udp, udp6, unix, raw, dev, route, ipv6_route, if_inet6,
//!                           and `ip -j addr|route` run inside that network namespace
//! fs/index.json, blobs/<sha256>   every writable place (tmpfs, writable binds, a writable rootfs
//!                           or its overlay upper layer): each entry, and each regular file's
//!                           content by its sha256, up to the size cap
//! checkpoint/               --checkpoint: CRIU's images and dump.log
//! manifest.json, manifest.sig
//! ```
//!
//! Collecting changes nothing in the container: its cgroup is frozen first (v1 `freezer.state`,
//! v2 `cgroup.freeze`, the files `pause` writes, without touching libcontainer's state) and
//! thawed at the end only when it was not frozen before; files are opened read-only, without
//! following symlinks (each path walked one component at a time from the container's root,
//! never resolved by the host) and with `O_NOATIME`.

use crate::base::hex::{hex, unhex};
use crate::base::keyfile;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::profile::config::Config;
use crate::runtime::delegate::{Container, Status};

/// The manifest's `format`.
pub const FORMAT: &str = "hardrun-evidence/1";
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.sig";

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// the node key cannot be read or created (names the file)
    #[error(transparent)]
    Key(#[from] crate::base::keyfile::KeyFileError),
    /// the container cannot be collected (not running, no cgroup)
    #[error("{0}")]
    Container(String),
    /// the output cannot be written (names the path)
    #[error("{0}")]
    Output(String),
    /// what was given to verify cannot be read (names the path)
    #[error("{0}")]
    Input(String),
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

// ---------------------------------------------------------------------------------------------
// the node's signing key

/// The id of a public key: 16 hex digits of its sha256.
pub fn key_id(key: &VerifyingKey) -> String {
    sha256_hex(key.as_bytes())[..16].to_owned()
}

/// A public key as `hardrun evidence public-key` prints it (and `--public-key FILE` reads it):
/// `ed25519:<64 hex digits>`.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("ed25519:{}", hex(key.as_bytes()))
}

/// Parses [`public_key_text`] (the `ed25519:` prefix is optional; whitespace around is ignored).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let t = text.trim();
    let t = t.strip_prefix("ed25519:").unwrap_or(t);
    let bytes: [u8; 32] = unhex(t)
        .and_then(|b| b.try_into().ok())
        .ok_or("not an ed25519 public key (ed25519: and 64 hex digits)")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid ed25519 public key".to_owned())
}

/// Reads the signing key at `path`: 32 bytes (the ed25519 seed), mode 0600 or tighter.
/// `Ok(None)`: there is none.
pub fn read_key(path: &Path) -> Result<Option<SigningKey>, EvidenceError> {
    let seed = keyfile::read(path, "evidence key").map_err(EvidenceError::Key)?;
    Ok(seed.map(|s| SigningKey::from_bytes(&s)))
}

/// The node's signing key, created (32 random bytes, 0600, in a 0700 directory) where there is
/// none yet; concurrent first uses agree on one key.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, EvidenceError> {
    let seed = keyfile::load_or_create(path, "evidence key").map_err(EvidenceError::Key)?;
    Ok(SigningKey::from_bytes(&seed))
}

// ---------------------------------------------------------------------------------------------
// the manifest's canonical form

/// The canonical JSON of `v`: object keys sorted by their bytes, no whitespace, strings and
/// numbers as serde_json writes them. The manifest file is this and a newline; its signature is
/// over those bytes.
pub fn canonical(v: &Value) -> Vec<u8> {
    let mut out = vec![];
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&serde_json::to_vec(k).unwrap_or_default());
                out.push(b':');
                write_canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(&serde_json::to_vec(other).unwrap_or_default()),
    }
}

/// The manifest file's bytes: canonical JSON and a newline.
pub fn manifest_bytes(v: &Value) -> Vec<u8> {
    let mut b = canonical(v);
    b.push(b'\n');
    b
}

/// The signature file's bytes for manifest bytes `m`.
pub fn sign(key: &SigningKey, m: &[u8]) -> Vec<u8> {
    let public = key.verifying_key();
    let sig = key.sign(m);
    manifest_bytes(&json!({
        "algorithm": "ed25519",
        "key_id": key_id(&public),
        "public_key": public_key_text(&public),
        "signature": hex(&sig.to_bytes()),
        "signed": MANIFEST,
    }))
}

// ---------------------------------------------------------------------------------------------
// a small ustar writer and reader

pub mod tar {
    //! Plain POSIX ustar: regular files and directories, names split into prefix and name,
    //! owner 0:0, a fixed mtime, two zero blocks at the end. The reader takes what this writer
    //! (or GNU tar for short names) writes, and reports any other entry type by name.

    use std::io::{Read, Write};

    const BLOCK: usize = 512;

    /// The (prefix, name) fields of `path`, or why it does not fit ustar.
    pub fn split_name(path: &str) -> Result<(&str, &str), String> {
        if path.len() <= 100 {
            return Ok(("", path));
        }
        for (i, c) in path.char_indices() {
            if c == '/' && i <= 155 && path.len() - i - 1 <= 100 && i > 0 {
                return Ok((&path[..i], &path[i + 1..]));
            }
        }
        Err(format!("{path}: too long for a ustar name"))
    }

    fn octal(field: &mut [u8], value: u64) -> Result<(), String> {
        let digits = field.len() - 1;
        let s = format!("{value:0digits$o}");
        if s.len() > digits {
            return Err(format!("{value} does not fit a {digits}-digit ustar field"));
        }
        field[..digits].copy_from_slice(s.as_bytes());
        field[digits] = 0;
        Ok(())
    }

    /// One header block.
    pub fn header(path: &str, size: u64, dir: bool, mtime: u64) -> Result<[u8; BLOCK], String> {
        let mut h = [0u8; BLOCK];
        let (prefix, name) = split_name(path)?;
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], if dir { 0o700 } else { 0o600 })?;
        octal(&mut h[108..116], 0)?;
        octal(&mut h[116..124], 0)?;
        octal(&mut h[124..136], size)?;
        octal(&mut h[136..148], mtime)?;
        h[156] = if dir { b'5' } else { b'0' };
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
        h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|b| *b as u64).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        Ok(h)
    }

    /// Writes one entry: a directory (`data` None, `path` ending in `/`) or a file of `size`
    /// bytes read from `data`.
    pub fn append(
        out: &mut impl Write,
        path: &str,
        data: Option<(&mut dyn Read, u64)>,
        mtime: u64,
    ) -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        match data {
            None => {
                out.write_all(&header(path, 0, true, mtime)?).map_err(io)?;
            }
            Some((r, size)) => {
                out.write_all(&header(path, size, false, mtime)?)
                    .map_err(io)?;
                let n = std::io::copy(&mut r.take(size), out).map_err(io)?;
                if n != size {
                    return Err(format!("{path}: changed size while archived"));
                }
                let pad = (BLOCK - (size as usize % BLOCK)) % BLOCK;
                out.write_all(&vec![0u8; pad]).map_err(io)?;
            }
        }
        Ok(())
    }

    /// The end of the archive.
    pub fn finish(out: &mut impl Write) -> Result<(), String> {
        out.write_all(&[0u8; BLOCK * 2]).map_err(|e| e.to_string())
    }

    /// An entry the reader found.
    pub enum Entry<'a> {
        File(&'a mut dyn Read, u64),
        Dir,
        /// any other type (its typeflag)
        Other(u8),
    }

    fn parse_octal(f: &[u8]) -> Option<u64> {
        let s: String = f
            .iter()
            .take_while(|b| **b != 0)
            .map(|b| *b as char)
            .collect();
        let s = s.trim();
        if s.is_empty() {
            return Some(0);
        }
        u64::from_str_radix(s, 8).ok()
    }

    fn cstr(f: &[u8]) -> String {
        let end = f.iter().position(|b| *b == 0).unwrap_or(f.len());
        String::from_utf8_lossy(&f[..end]).into_owned()
    }

    /// Reads an archive, calling `each` with every entry's path (directories without their
    /// trailing `/`); errors name the entry.
    pub fn read(
        input: &mut impl Read,
        mut each: impl FnMut(&str, Entry) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut h = [0u8; BLOCK];
        loop {
            match input.read_exact(&mut h) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err("the archive ends without its end blocks (cut short?)".into())
                }
                Err(e) => return Err(e.to_string()),
            }
            if h.iter().all(|b| *b == 0) {
                return Ok(());
            }
            let mut check = h;
            check[148..156].copy_from_slice(b"        ");
            let sum: u64 = check.iter().map(|b| *b as u64).sum();
            let name = cstr(&h[..100]);
            if parse_octal(&h[148..156]) != Some(sum) {
                return Err(format!("entry {name:?}: bad header checksum"));
            }
            if &h[257..262] != b"ustar" {
                return Err(format!("entry {name:?}: not a ustar header"));
            }
            let prefix = cstr(&h[345..500]);
            let mut path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let size = parse_octal(&h[124..136])
                .ok_or_else(|| format!("entry {path:?}: bad size field"))?;
            let flag = h[156];
            let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
            match flag {
                b'0' | 0 => {
                    let mut r = Read::by_ref(input).take(size);
                    each(&path, Entry::File(&mut r, size))?;
                    // what the callback left unread
                    std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| e.to_string())?;
                    let got = size - r.limit();
                    if got != size {
                        return Err(format!("entry {path:?}: cut short"));
                    }
                }
                b'5' => {
                    while path.ends_with('/') {
                        path.pop();
                    }
                    each(&path, Entry::Dir)?;
                }
                other => each(&path, Entry::Other(other))?,
            }
            let skip = if matches!(flag, b'0' | 0) {
                padded - size
            } else {
                padded
            };
            let n = std::io::copy(&mut Read::by_ref(input).take(skip), &mut std::io::sink())
                .map_err(|e| e.to_string())?;
            if n != skip {
                return Err(format!("entry {path:?}: cut short"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the output being written

/// The staging directory files are written to, and what was written (path → size, sha256).
struct Out {
    dir: PathBuf,
    files: BTreeMap<String, (u64, String)>,
}

impl Out {
    fn mkdirs(&self, rel: &str) -> std::io::Result<()> {
        if let Some(parent) = Path::new(rel).parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(self.dir.join(parent))?;
        }
        Ok(())
    }

    fn put(&mut self, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
        if self.files.contains_key(rel) {
            return Ok(());
        }
        self.mkdirs(rel)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.dir.join(rel))?;
        f.write_all(bytes)?;
        self.files
            .insert(rel.to_owned(), (bytes.len() as u64, sha256_hex(bytes)));
        Ok(())
    }

    fn put_json(&mut self, rel: &str, v: &Value) -> std::io::Result<()> {
        let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
        b.push(b'\n');
        self.put(rel, &b)
    }

    /// Adds a file something else wrote into the staging directory (CRIU's images).
    fn adopt(&mut self, rel: &str) -> std::io::Result<()> {
        let bytes = std::fs::read(self.dir.join(rel))?;
        self.files
            .insert(rel.to_owned(), (bytes.len() as u64, sha256_hex(&bytes)));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// the freezer

/// The container's freezer: v1's `freezer.state` or v2's `cgroup.freeze`.
#[derive(Debug, Clone)]
enum Freezer {
    V1(PathBuf),
    V2(PathBuf),
}

impl Freezer {
    fn of(cgroup_path: &Path) -> Option<Freezer> {
        let dirs = crate::runtime::cgroup_tree::dirs_of(cgroup_path);
        if let Some(d) = dirs.iter().find(|d| d.join("freezer.state").exists()) {
            return Some(Freezer::V1(d.clone()));
        }
        dirs.iter()
            .find(|d| d.join("cgroup.freeze").exists())
            .map(|d| Freezer::V2(d.clone()))
    }

    fn dir(&self) -> &Path {
        match self {
            Freezer::V1(d) | Freezer::V2(d) => d,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Freezer::V1(_) => "cgroup v1 freezer.state",
            Freezer::V2(_) => "cgroup v2 cgroup.freeze",
        }
    }

    /// `THAWED`, `FREEZING` or `FROZEN`, as the kernel says.
    fn state(&self) -> String {
        match self {
            Freezer::V1(d) => std::fs::read_to_string(d.join("freezer.state"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|e| format!("unreadable: {e}")),
            Freezer::V2(d) => {
                let events = std::fs::read_to_string(d.join("cgroup.events")).unwrap_or_default();
                let want = std::fs::read_to_string(d.join("cgroup.freeze")).unwrap_or_default();
                if events.lines().any(|l| l.trim() == "frozen 1") {
                    "FROZEN".into()
                } else if want.trim() == "1" {
                    "FREEZING".into()
                } else {
                    "THAWED".into()
                }
            }
        }
    }

    fn freeze(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = match self {
                Freezer::V1(d) => std::fs::write(d.join("freezer.state"), "FROZEN"),
                Freezer::V2(d) => std::fs::write(d.join("cgroup.freeze"), "1"),
            };
            if let Err(e) = r {
                return Err(format!("cannot freeze {}: {e}", self.dir().display()));
            }
            if self.state() == "FROZEN" {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "cannot freeze {}: it stays {}",
                    self.dir().display(),
                    self.state()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn thaw(&self) -> Result<(), String> {
        let r = match self {
            Freezer::V1(d) => std::fs::write(d.join("freezer.state"), "THAWED"),
            Freezer::V2(d) => std::fs::write(d.join("cgroup.freeze"), "0"),
        };
        r.map_err(|e| format!("cannot thaw {}: {e}", self.dir().display()))
    }
}

/// Thaws the freezer when dropped, if this collection froze it.
struct Frozen {
    freezer: Freezer,
    thaw: bool,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if self.thaw {
            self.thaw = false;
            if let Err(e) = self.freezer.thaw() {
                tracing::error!("{e}");
            }
        }
    }
}

/// The pids of a cgroup and every cgroup below it.
fn cgroup_pids(dir: &Path) -> Vec<i32> {
    let mut out: Vec<i32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(cgroup_pids(&e.path()));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

// ---------------------------------------------------------------------------------------------
// masking credentials, as the audit log does

/// Masks environment entries the `secrets` rule reports (the rule the audit log's redaction
/// follows: a credential's value is never recorded), under the container's profile (its
/// `secrets.ignore`): `NAME=<redacted>`, or `<redacted>` where the name itself looks like one.
pub struct Masker {
    profile: crate::profile::Profile,
}

pub const REDACTED: &str = "<redacted>";

impl Masker {
    pub fn new(profile: crate::profile::Profile) -> Masker {
        Masker { profile }
    }

    /// The entries, masked, and the indices that were.
    pub fn mask(&self, entries: &[String]) -> (Vec<String>, Vec<usize>) {
        use crate::policy::rules::{secrets, Granted, RuleCtx};
        let spec = json!({"process": {"env": entries}});
        let annotations = BTreeMap::new();
        let granted = Granted::default();
        let ctx = RuleCtx {
            id: "",
            annotations: &annotations,
            granted: &granted,
            host: &crate::base::RealHost,
            userns: None,
            sources: crate::bundle::Sources::none(),
            tripwires: None,
        };
        let mut out = entries.to_vec();
        let mut masked = vec![];
        for p in secrets::evaluate(&spec, &self.profile, &ctx) {
            let Some(i) = p
                .pointer
                .strip_prefix("/process/env/")
                .and_then(|i| i.parse::<usize>().ok())
            else {
                continue;
            };
            let Some(entry) = out.get_mut(i) else {
                continue;
            };
            let name = entry.split_once('=').map(|(n, _)| n).unwrap_or("");
            // the rule's message names the variable unless the name itself is credential-shaped
            *entry = if !name.is_empty()
                && p.message
                    .starts_with(&format!("environment variable {name} looks like"))
            {
                format!("{name}={REDACTED}")
            } else {
                REDACTED.to_owned()
            };
            masked.push(i);
        }
        masked.sort_unstable();
        (out, masked)
    }

    /// A spec with its `/process/env` masked; the indices masked.
    fn mask_spec(&self, spec: &mut Value) -> Vec<usize> {
        let Some(env) = spec.pointer("/process/env").and_then(Value::as_array) else {
            return vec![];
        };
        let entries: Vec<String> = env
            .iter()
            .map(|e| e.as_str().unwrap_or("").to_owned())
            .collect();
        let (masked_env, idx) = self.mask(&entries);
        if let Some(env) = spec
            .pointer_mut("/process/env")
            .and_then(Value::as_array_mut)
        {
            for i in &idx {
                env[*i] = Value::String(masked_env[*i].clone());
            }
        }
        idx
    }
}

// ---------------------------------------------------------------------------------------------
// collecting

/// Where the bundle goes: a directory, or a tar file (`-o` ending in `.tar`).
#[derive(Debug, Clone)]
pub enum Output {
    Dir(PathBuf),
    Tar(PathBuf),
}

impl Output {
    pub fn from_path(p: &Path) -> Output {
        if p.extension().is_some_and(|x| x == "tar") {
            Output::Tar(p.to_path_buf())
        } else {
            Output::Dir(p.to_path_buf())
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Output::Dir(p) | Output::Tar(p) => p,
        }
    }
}

/// What `collect` needs.
pub struct Request<'a> {
    pub container: &'a mut Container,
    pub config: &'a Config,
    pub output: Output,
    pub checkpoint: bool,
    /// the most bytes of file contents copied from writable places
    pub max_size: u64,
}

/// What was collected.
#[derive(Debug)]
pub struct Collected {
    pub path: PathBuf,
    pub files: usize,
    pub processes: usize,
    pub skipped: usize,
    pub key_id: String,
    /// problems that did not stop the collection (also in the manifest's `errors`)
    pub errors: Vec<String>,
    /// `--checkpoint` that failed: why (also in the manifest's `checkpoint`)
    pub checkpoint_failed: Option<String>,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The node's name (its hostname).
pub fn node_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// Checks that `output` can be created (nothing there yet, an existing parent) and makes the
/// staging directory beside it.
fn prepare(output: &Output) -> Result<tempfile::TempDir, EvidenceError> {
    let p = output.path();
    let bad = |m: String| EvidenceError::Output(m);
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() && matches!(output, Output::Dir(_)) => {
            let empty = std::fs::read_dir(p)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if !empty {
                return Err(bad(format!(
                    "{}: exists and is not empty: name a new directory",
                    p.display()
                )));
            }
        }
        Ok(_) => {
            return Err(bad(format!(
                "{}: exists: name a new {}",
                p.display(),
                if matches!(output, Output::Tar(_)) {
                    "file"
                } else {
                    "directory"
                }
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(bad(format!("{}: {e}", p.display()))),
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(bad(format!(
            "{}: its directory {} does not exist",
            p.display(),
            parent.display()
        )));
    }
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&parent)
        .map_err(|e| bad(format!("cannot write in {}: {e}", parent.display())))
}

/// Collects the evidence of a running, created or paused container.
pub fn collect(req: Request) -> Result<Collected, EvidenceError> {
    let Request {
        container,
        config,
        output,
        checkpoint,
        max_size,
    } = req;
    let id = container.id().to_owned();
    let _ = container.refresh_status();
    let status = container.status();
    if !matches!(status, Status::Running | Status::Paused | Status::Created) {
        return Err(EvidenceError::Container(format!(
            "container {id:?} is {status}: it has no processes to collect (delete keeps its specs and findings in the forensics directory)"
        )));
    }
    let key = load_or_create_key(&config.retention.evidence_key)?;
    let cgroup = container.cgroup_path().ok_or_else(|| {
        EvidenceError::Container(format!("container {id:?}: its cgroup path cannot be read"))
    })?;
    let freezer = Freezer::of(&cgroup).ok_or_else(|| {
        EvidenceError::Container(format!(
            "container {id:?}: no freezer for cgroup {} (neither freezer.state nor cgroup.freeze)",
            cgroup.display()
        ))
    })?;
    let staging = prepare(&output)?;
    let mut out = Out {
        dir: staging.path().to_path_buf(),
        files: BTreeMap::new(),
    };
    let wr = |e: std::io::Error| {
        EvidenceError::Output(format!("cannot write {}: {e}", staging.path().display()))
    };
    let started = now_rfc3339();
    let mut errors: Vec<String> = vec![];

    // 1. freeze (unless it is frozen already), so nothing moves while it is read
    let before = freezer.state();
    let mut guard = Frozen {
        freezer: freezer.clone(),
        thaw: false,
    };
    if before != "FROZEN" {
        guard.thaw = true;
        freezer.freeze().map_err(EvidenceError::Container)?;
    }
    let during = freezer.state();

    // 2. the specs and findings from the state directory, credentials masked
    let dir = container.dir().to_path_buf();
    let record = crate::runtime::state_dir::read_record(&dir);
    let profile = record
        .as_ref()
        .and_then(|r| r.policy.as_ref())
        .and_then(|b| crate::policy::binding::Stored::from_bound(b, "hardrun.json").ok())
        .map(|s| s.profile)
        .or_else(|| {
            config
                .profile(record.as_ref().and_then(|r| r.profile.as_deref()))
                .ok()
                .cloned()
        })
        .or_else(|| config.profile(None).ok().cloned())
        .unwrap_or_else(|| {
            crate::profile::Catalog::builtin()
                .get("restricted")
                .expect("restricted is built in")
                .clone()
        });
    let masker = Masker::new(profile);
    let mut masked_notes: Vec<String> = vec![];
    for (from, to) in [
        ("config.orig.json", "spec/config.orig.json"),
        ("bundle/config.json", "spec/config.json"),
    ] {
        match std::fs::read(dir.join(from)) {
            Ok(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(mut spec) => {
                    for i in masker.mask_spec(&mut spec) {
                        masked_notes.push(format!("{to}: /process/env/{i}"));
                    }
                    out.put_json(to, &spec).map_err(wr)?;
                }
                Err(e) => errors.push(format!("{}: not JSON: {e}", dir.join(from).display())),
            },
            Err(e) => errors.push(format!("cannot read {}: {e}", dir.join(from).display())),
        }
    }
    match &record {
        Some(r) => {
            out.put_json("spec/findings.json", &Value::Array(r.findings.clone()))
                .map_err(wr)?;
            out.put_json(
                "spec/hardrun.json",
                &serde_json::to_value(r).unwrap_or_default(),
            )
            .map_err(wr)?;
        }
        None => errors.push(format!(
            "cannot read {}: no findings collected",
            dir.join("hardrun.json").display()
        )),
    }

    // 3. the audit records of this container and the chain proof
    if let Err(e) = collect_audit(&mut out, config, &id) {
        errors.push(e);
    }

    // 4. every process of the cgroup
    let pids = cgroup_pids(freezer.dir());
    let mut processes = vec![];
    let mut netns_seen = BTreeSet::new();
    let host_net = std::fs::read_link("/proc/self/ns/net")
        .map(|l| l.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut network = vec![];
    for &pid in &pids {
        let p =
            collect_process(&mut out, pid, &masker, &mut masked_notes, &mut errors).map_err(wr)?;
        if let Some(net) = p["namespaces"]["net"].as_str() {
            if netns_seen.insert(net.to_owned()) {
                network.push(
                    collect_net(&mut out, pid, net, net == host_net, &mut errors).map_err(wr)?,
                );
            }
        }
        processes.push(json!({
            "pid": pid,
            "name": p["name"],
            "state": p["state"],
            "ppid": p["ppid"],
            "nspid": p["nspid"],
        }));
    }

    // 5. the writable places, read through the container's root
    let mut budget = Budget {
        left: max_size,
        copied: 0,
        skipped: vec![],
    };
    let init = container
        .pid()
        .map(|p| p.as_raw())
        .filter(|p| pids.contains(p))
        .or_else(|| pids.first().copied());
    let writable = match init {
        Some(pid) => collect_writable(&mut out, pid, &mut budget, &mut errors).map_err(wr)?,
        None => {
            errors.push("no process in the cgroup: no writable place read".into());
            vec![]
        }
    };

    // 6. CRIU, last (it may resume what it froze)
    let mut checkpoint_value = Value::Null;
    let mut checkpoint_failed = None;
    if checkpoint {
        let r = match init {
            Some(pid) => run_criu(&mut out, pid, &freezer),
            None => Err("no process to checkpoint".to_owned()),
        };
        match r {
            Ok(v) => checkpoint_value = v,
            Err(why) => {
                checkpoint_value = json!({"ok": false, "error": why, "log": "checkpoint/dump.log"});
                checkpoint_failed = Some(why);
            }
        }
        // whatever CRIU did with the freezer: back to frozen until the end of the collection
        if freezer.state() != "FROZEN" {
            if let Err(e) = freezer.freeze() {
                errors.push(e);
            }
        }
    }
    let completed = now_rfc3339();

    // 7. thaw (only what this collection froze), then the manifest
    let thawed = guard.thaw;
    drop(guard);
    let after = freezer.state();
    if !thawed && after != before {
        errors.push(format!(
            "freezer state was {before}, is {after} after collection"
        ));
    }

    let public = key.verifying_key();
    let files: Vec<Value> = out
        .files
        .iter()
        .map(|(p, (size, sha))| json!({"path": p, "size": size, "sha256": sha}))
        .collect();
    let manifest = json!({
        "format": FORMAT,
        "hardrun_version": env!("CARGO_PKG_VERSION"),
        "hardrun_commit": env!("HARDRUN_COMMIT"),
        "node": node_name(),
        "container": {
            "id": id,
            "status": status.name(),
            "pid": container.pid().map(|p| p.as_raw()),
            "bundle": record.as_ref().map(|r| r.bundle.display().to_string()),
            "profile": record.as_ref().and_then(|r| r.profile.clone()),
            "cgroup": cgroup.display().to_string(),
            "state_dir": dir.display().to_string(),
        },
        "collected_at": started,
        "completed_at": completed,
        "freezer": {
            "kind": freezer.kind(),
            "path": freezer.dir().display().to_string(),
            "before": before,
            "during": during,
            "after": after,
        },
        "processes": processes,
        "network_namespaces": network,
        "writable": writable,
        "max_size": max_size,
        "copied_bytes": budget.copied,
        "skipped": budget.skipped,
        "masked": masked_notes,
        "errors": errors,
        "checkpoint": checkpoint_value,
        "files": files,
        "public_key": public_key_text(&public),
        "key_id": key_id(&public),
    });
    let mbytes = manifest_bytes(&manifest);
    let sig = sign(&key, &mbytes);
    std::fs::write(out.dir.join(MANIFEST), &mbytes).map_err(wr)?;
    std::fs::write(out.dir.join(SIGNATURE), &sig).map_err(wr)?;

    // 8. into place: the directory renamed, or the tar written beside and renamed
    let path = output.path().to_path_buf();
    match &output {
        Output::Dir(p) => {
            let _ = std::fs::remove_dir(p); // an empty directory named by the caller
            let kept = staging.keep();
            std::fs::rename(&kept, p).map_err(|e| {
                let _ = std::fs::remove_dir_all(&kept);
                EvidenceError::Output(format!("cannot create {}: {e}", p.display()))
            })?;
        }
        Output::Tar(p) => {
            write_tar(&out, p, &mbytes, &sig)?;
            drop(staging);
        }
    }
    Ok(Collected {
        path,
        files: out.files.len(),
        processes: pids.len(),
        skipped: budget.skipped.len(),
        key_id: key_id(&public),
        errors,
        checkpoint_failed,
    })
}

fn write_tar(out: &Out, p: &Path, manifest: &[u8], sig: &[u8]) -> Result<(), EvidenceError> {
    let err = |m: String| EvidenceError::Output(format!("cannot write {}: {m}", p.display()));
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".evidence-tar-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(parent)
        .map_err(|e| err(e.to_string()))?;
    let mtime = chrono::Utc::now().timestamp().max(0) as u64;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        tar::append(
            &mut w,
            MANIFEST,
            Some((&mut &manifest[..], manifest.len() as u64)),
            mtime,
        )
        .map_err(err)?;
        tar::append(
            &mut w,
            SIGNATURE,
            Some((&mut &sig[..], sig.len() as u64)),
            mtime,
        )
        .map_err(err)?;
        let mut dirs = BTreeSet::new();
        for (rel, (size, _)) in &out.files {
            let mut acc = String::new();
            let parts: Vec<&str> = rel.split('/').collect();
            for part in &parts[..parts.len() - 1] {
                acc.push_str(part);
                acc.push('/');
                if dirs.insert(acc.clone()) {
                    tar::append(&mut w, &acc, None, mtime).map_err(err)?;
                }
            }
            let mut f = std::fs::File::open(out.dir.join(rel)).map_err(|e| err(e.to_string()))?;
            tar::append(&mut w, rel, Some((&mut f, *size)), mtime).map_err(err)?;
        }
        tar::finish(&mut w).map_err(err)?;
        w.flush().map_err(|e| err(e.to_string()))?;
    }
    tmp.as_file().sync_all().map_err(|e| err(e.to_string()))?;
    tmp.persist_noclobber(p)
        .map_err(|e| err(e.error.to_string()))?;
    Ok(())
}

/// The audit records of container `id` (byte for byte) and their place in the chain.
fn collect_audit(out: &mut Out, config: &Config, id: &str) -> Result<(), String> {
    let Some(log) = config.audit_log.as_deref() else {
        return Err("audit_log is off: no audit records collected".into());
    };
    // a shared lock on the log: no append (which holds it exclusively) between reading the
    // files and the head
    let lock = std::fs::File::open(log)
        .ok()
        .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockShared).ok());
    let files = crate::audit::chain_files(log);
    let mut texts = vec![];
    for f in &files {
        texts.push(std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?);
    }
    let head_path = crate::audit::head_path(log);
    let head = std::fs::read(&head_path).ok();
    drop(lock);
    let keys = crate::audit::key::Keyring::load(&config.audit_key);
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let input = match &head {
        Some(h) => crate::audit::HeadInput::Present(h),
        None => crate::audit::HeadInput::Missing,
    };
    let report = crate::audit::verify_logs(&names, &texts, &keys, input);
    let mut records = vec![];
    let mut proof = vec![];
    for (name, text) in names.iter().zip(&texts) {
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let Ok(v) = serde_json::from_slice::<Value>(line) else {
                continue;
            };
            if v["id"].as_str() != Some(id) {
                continue;
            }
            records.extend_from_slice(line);
            records.push(b'\n');
            proof.push(json!({
                "file": name,
                "line": i + 1,
                "seq": v["seq"],
                "kid": v["kid"],
                "prev": v["prev"],
                "hash": crate::audit::line_hash(line),
                "mac": v["mac"],
                "command": v["command"],
                "decision": v["decision"],
                "time": v["time"],
            }));
        }
    }
    let files_json: Vec<Value> = names
        .iter()
        .zip(&texts)
        .zip(&report.files)
        .map(|((n, t), r)| {
            json!({
                "file": n,
                "sha256": sha256_hex(t),
                "size": t.len(),
                "result": match r {
                    Some(Ok(n)) => format!("{n} records, chain intact"),
                    Some(Err((rec, why))) => format!("record {rec}: {why}"),
                    None => "not checked".into(),
                },
            })
        })
        .collect();
    let verification = json!({
        "intact": report.intact(),
        "files": files_json,
        "head": match &report.head {
            Some(Ok(s)) => json!({"ok": s}),
            Some(Err(s)) => json!({"error": s}),
            None => Value::Null,
        },
        "anchor_broken": report.anchors.iter().map(|(f, r, why)| json!({"file": names.get(*f), "record": r, "why": why})).collect::<Vec<_>>(),
        "notes": report.notes,
    });
    out.put("audit/records.jsonl", &records)
        .map_err(|e| e.to_string())?;
    if let Some(h) = &head {
        out.put("audit/head", h).map_err(|e| e.to_string())?;
    }
    out.put_json(
        "audit/proof.json",
        &json!({
            "log": log.display().to_string(),
            "head_file": head_path.display().to_string(),
            "head": head.as_deref().and_then(|h| crate::audit::Head::parse(h).ok()).map(|h| json!({"seq": h.seq, "hash": h.hash, "kid": h.kid})),
            "records": proof,
            "verification": verification,
        }),
    )
    .map_err(|e| e.to_string())
}

/// `/proc/<pid>/status` fields.
fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
}

/// One process: its /proc files, its fds and namespaces. Returns its summary.
fn collect_process(
    out: &mut Out,
    pid: i32,
    masker: &Masker,
    masked_notes: &mut Vec<String>,
    errors: &mut Vec<String>,
) -> std::io::Result<Value> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let base = format!("processes/{pid}");
    let read = |name: &str, errors: &mut Vec<String>| match std::fs::read(proc.join(name)) {
        Ok(b) => Some(b),
        Err(e) => {
            errors.push(format!("{}: {e}", proc.join(name).display()));
            None
        }
    };
    let status = read("status", errors);
    for name in ["status", "cmdline", "maps", "cgroup", "mountinfo"] {
        let bytes = if name == "status" {
            status.clone()
        } else {
            read(name, errors)
        };
        if let Some(b) = bytes {
            out.put(&format!("{base}/{name}"), &b)?;
        }
    }
    if let Some(env) = read("environ", errors) {
        let entries: Vec<String> = env
            .split(|b| *b == 0)
            .filter(|e| !e.is_empty())
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect();
        let (masked, idx) = masker.mask(&entries);
        for i in idx {
            masked_notes.push(format!("{base}/environ: entry {i}"));
        }
        let mut b = vec![];
        for e in masked {
            b.extend_from_slice(e.as_bytes());
            b.push(0);
        }
        out.put(&format!("{base}/environ"), &b)?;
    }
    let link = |p: PathBuf| {
        std::fs::read_link(&p)
            .map(|l| l.to_string_lossy().into_owned())
            .ok()
    };
    let mut fds = vec![];
    match std::fs::read_dir(proc.join("fd")) {
        Ok(entries) => {
            let mut names: Vec<(u64, PathBuf)> = entries
                .flatten()
                .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
                .collect();
            names.sort();
            for (fd, p) in names {
                fds.push(json!({"fd": fd, "target": link(p)}));
            }
        }
        Err(e) => errors.push(format!("{}: {e}", proc.join("fd").display())),
    }
    out.put_json(&format!("{base}/fds.json"), &Value::Array(fds))?;
    let mut ns = serde_json::Map::new();
    if let Ok(entries) = std::fs::read_dir(proc.join("ns")) {
        let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            ns.insert(name, json!(link(p)));
        }
    }
    out.put_json(
        &format!("{base}/namespaces.json"),
        &Value::Object(ns.clone()),
    )?;
    let st = String::from_utf8_lossy(status.as_deref().unwrap_or_default()).into_owned();
    let summary = json!({
        "pid": pid,
        "name": status_field(&st, "Name"),
        "state": status_field(&st, "State"),
        "ppid": status_field(&st, "PPid").and_then(|p| p.parse::<i64>().ok()),
        "nspid": status_field(&st, "NSpid"),
        "exe": link(proc.join("exe")),
        "cwd": link(proc.join("cwd")),
        "root": link(proc.join("root")),
    });
    out.put_json(&format!("{base}/process.json"), &summary)?;
    let mut s = summary;
    s["namespaces"] = Value::Object(ns);
    Ok(s)
}

/// The network namespace of `pid`: its socket tables, interfaces, addresses and routes.
fn collect_net(
    out: &mut Out,
    pid: i32,
    ns: &str,
    host: bool,
    errors: &mut Vec<String>,
) -> std::io::Result<Value> {
    let inode: String = ns.chars().filter(|c| c.is_ascii_digit()).collect();
    let base = format!("net/{inode}");
    for name in [
        "tcp",
        "tcp6",
        "udp",
        "udp6",
        "unix",
        "raw",
        "raw6",
        "packet",
        "dev",
        "route",
        "ipv6_route",
        "if_inet6",
        "fib_trie",
        "arp",
        "snmp",
    ] {
        let p = PathBuf::from(format!("/proc/{pid}/net/{name}"));
        match std::fs::read(&p) {
            Ok(b) => out.put(&format!("{base}/{name}"), &b)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(format!("{}: {e}", p.display())),
        }
    }
    let mut ip_files = vec![];
    for (file, args) in [
        ("ip-addr.json", &["-j", "addr", "show"][..]),
        (
            "ip-route.json",
            &["-j", "route", "show", "table", "all"][..],
        ),
        (
            "ip-route6.json",
            &["-j", "-6", "route", "show", "table", "all"][..],
        ),
    ] {
        match ip_in_netns(pid, args) {
            Ok(b) => {
                out.put(&format!("{base}/{file}"), &b)?;
                ip_files.push(format!("{base}/{file}"));
            }
            Err(e) => errors.push(format!(
                "ip {} in the netns of pid {pid}: {e}",
                args.join(" ")
            )),
        }
    }
    Ok(json!({"namespace": ns, "host": host, "pid": pid, "dir": base, "ip": ip_files}))
}

/// Runs `ip ARGS` inside the network namespace of `pid` (setns in the child, before exec).
fn ip_in_netns(pid: i32, args: &[&str]) -> Result<Vec<u8>, String> {
    use std::os::unix::process::CommandExt;
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| e.to_string())?;
    let fd = ns.as_raw_fd();
    let mut cmd = std::process::Command::new("ip");
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: setns(2) is async-signal-safe and only affects the forked child, which holds no
    // locks; `fd` stays open in the parent (and so in the child) until `output` returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().map_err(|e| format!("cannot run ip: {e}"))?;
    drop(ns);
    if !o.status.success() {
        return Err(format!(
            "{}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(o.stdout)
}

/// How much file content may still be copied, and what was not.
struct Budget {
    left: u64,
    copied: u64,
    skipped: Vec<Value>,
}

/// File systems that hold no files of the container's own making.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "securityfs",
    "debugfs",
    "tracefs",
    "bpf",
    "fusectl",
    "configfs",
    "pstore",
    "nsfs",
    "binfmt_misc",
    "autofs",
    "hugetlbfs",
    "efivarfs",
    "selinuxfs",
    "rpc_pipefs",
];

/// A mount the container can write to.
#[derive(Debug, Clone, PartialEq)]
pub struct Writable {
    pub mount_point: String,
    pub fstype: String,
    pub source: String,
    /// `tmpfs`, `rootfs` or `bind`
    pub kind: &'static str,
    /// an overlay's upper layer (a host path): where a writable overlay rootfs keeps its changes
    pub upperdir: Option<String>,
}

/// The writable places of a mount table (`/proc/<pid>/mountinfo`) and every mount point in it.
pub fn writable_mounts(mountinfo: &str) -> (Vec<Writable>, BTreeSet<String>) {
    let mut out = vec![];
    let mut points = BTreeSet::new();
    // line by line: a line that does not parse is skipped, not the whole table
    for m in mountinfo
        .lines()
        .filter_map(|l| crate::runtime::live::parse_mountinfo(l).ok()?.pop())
    {
        let mp = m.mount_point;
        points.insert(mp.clone());
        let rw = m.options.iter().any(|o| o == "rw") && !m.super_options.iter().any(|o| o == "ro");
        let under = |p: &str| mp == p || mp.starts_with(&format!("{p}/"));
        let fstype = m.fstype.as_str();
        if !rw || PSEUDO.contains(&fstype) || under("/proc") || under("/sys") {
            continue;
        }
        let kind = if fstype == "tmpfs" {
            "tmpfs"
        } else if mp == "/" {
            "rootfs"
        } else {
            "bind"
        };
        let upperdir = (fstype == "overlay")
            .then(|| {
                m.super_options
                    .iter()
                    .find_map(|o| o.strip_prefix("upperdir="))
                    .map(crate::runtime::live::unescape)
            })
            .flatten();
        out.push(Writable {
            mount_point: mp,
            fstype: fstype.to_owned(),
            source: m.source,
            kind,
            upperdir,
        });
    }
    (out, points)
}

fn openat_dir(parent: Option<i32>, name: &str) -> nix::Result<nix::dir::Dir> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match nix::dir::Dir::openat(
        parent,
        name,
        flags | OFlag::O_NOATIME,
        nix::sys::stat::Mode::empty(),
    ) {
        Err(nix::errno::Errno::EPERM) => {
            nix::dir::Dir::openat(parent, name, flags, nix::sys::stat::Mode::empty())
        }
        r => r,
    }
}

fn openat_file(parent: i32, name: &str) -> nix::Result<std::fs::File> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let fd = match nix::fcntl::openat(
        Some(parent),
        name,
        flags | OFlag::O_NOATIME,
        nix::sys::stat::Mode::empty(),
    ) {
        Err(nix::errno::Errno::EPERM) => {
            nix::fcntl::openat(Some(parent), name, flags, nix::sys::stat::Mode::empty())
        }
        r => r,
    }?;
    // SAFETY: `fd` was just returned by openat(2) and is owned by nothing else.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Opens directory `path` (absolute) below `root`, one component at a time, following no
/// symlink: a path is never resolved by the host.
fn walk_to(root: &nix::dir::Dir, path: &str) -> nix::Result<nix::dir::Dir> {
    let mut cur = openat_dir(Some(root.as_raw_fd()), ".")?;
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        if comp == ".." {
            return Err(nix::errno::Errno::EINVAL);
        }
        cur = openat_dir(Some(cur.as_raw_fd()), comp)?;
    }
    Ok(cur)
}

/// Every writable place of the container whose process is `pid`: an index of its entries, and
/// each regular file's content as a blob, while the budget lasts.
fn collect_writable(
    out: &mut Out,
    pid: i32,
    budget: &mut Budget,
    errors: &mut Vec<String>,
) -> std::io::Result<Vec<Value>> {
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
    let (mounts, points) = writable_mounts(&mountinfo);
    let root = match nix::dir::Dir::open(
        format!("/proc/{pid}/root").as_str(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        Ok(d) => d,
        Err(e) => {
            errors.push(format!("/proc/{pid}/root: {e}"));
            return Ok(vec![]);
        }
    };
    let mut entries = vec![];
    let mut summary = vec![];
    let mut seen = BTreeSet::new();
    for m in &mounts {
        // an overlay rootfs: its upper layer holds what the container changed
        let (dir, label) = match &m.upperdir {
            Some(upper) => (
                nix::dir::Dir::open(
                    upper.as_str(),
                    nix::fcntl::OFlag::O_RDONLY
                        | nix::fcntl::OFlag::O_DIRECTORY
                        | nix::fcntl::OFlag::O_NOFOLLOW
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                ),
                format!("{} (overlay upper layer {upper})", m.mount_point),
            ),
            None => (walk_to(&root, &m.mount_point), m.mount_point.clone()),
        };
        let dir = match dir {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("writable place {label}: {e}"));
                continue;
            }
        };
        let st = match nix::sys::stat::fstat(dir.as_raw_fd()) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("writable place {label}: {e}"));
                continue;
            }
        };
        // the same mount seen twice (over-mounted, bound twice)
        if !seen.insert((st.st_dev, st.st_ino)) {
            continue;
        }
        summary.push(json!({
            "mount_point": m.mount_point,
            "kind": m.kind,
            "fstype": m.fstype,
            "source": m.source,
            "upperdir": m.upperdir,
        }));
        // other mounts below this one are walked on their own (or are not writable)
        let below: BTreeSet<String> = if m.upperdir.is_some() {
            BTreeSet::new()
        } else {
            points
                .iter()
                .filter(|p| {
                    *p != &m.mount_point
                        && (m.mount_point == "/" || p.starts_with(&format!("{}/", m.mount_point)))
                })
                .cloned()
                .collect()
        };
        let mut w = Walker {
            out: &mut *out,
            budget: &mut *budget,
            errors: &mut *errors,
            entries: &mut entries,
            mount: &m.mount_point,
            dev: st.st_dev,
            below: &below,
        };
        w.dir(dir, &m.mount_point)?;
    }
    out.put_json(
        "fs/index.json",
        &json!({"mounts": summary, "entries": entries}),
    )?;
    Ok(summary)
}

struct Walker<'a> {
    out: &'a mut Out,
    budget: &'a mut Budget,
    errors: &'a mut Vec<String>,
    entries: &'a mut Vec<Value>,
    mount: &'a str,
    dev: u64,
    below: &'a BTreeSet<String>,
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Walker<'_> {
    fn dir(&mut self, mut dir: nix::dir::Dir, path: &str) -> std::io::Result<()> {
        let fd = dir.as_raw_fd();
        let mut names: Vec<String> = vec![];
        for e in dir.iter() {
            match e {
                Ok(e) => {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if n != "." && n != ".." {
                        names.push(n);
                    }
                }
                Err(err) => self.errors.push(format!("{path}: {err}")),
            }
        }
        names.sort();
        for name in names {
            let p = join(path, &name);
            let st = match nix::sys::stat::fstatat(
                Some(fd),
                name.as_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(s) => s,
                Err(e) => {
                    self.errors.push(format!("{p}: {e}"));
                    continue;
                }
            };
            let fmt = st.st_mode & libc::S_IFMT;
            let mut entry = json!({
                "mount": self.mount,
                "path": p,
                "mode": format!("{:04o}", st.st_mode & 0o7777),
                "uid": st.st_uid,
                "gid": st.st_gid,
                "size": st.st_size,
                "mtime": chrono::DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            });
            match fmt {
                libc::S_IFDIR => {
                    entry["type"] = json!("dir");
                    if st.st_dev != self.dev || self.below.contains(&p) {
                        entry["note"] = json!("another mount: not walked here");
                        self.entries.push(entry);
                        continue;
                    }
                    self.entries.push(entry);
                    match openat_dir(Some(fd), &name) {
                        Ok(d) => self.dir(d, &p)?,
                        Err(e) => self.errors.push(format!("{p}: {e}")),
                    }
                }
                libc::S_IFREG => {
                    entry["type"] = json!("file");
                    self.file(fd, &name, &p, st.st_size as u64, &mut entry)?;
                    self.entries.push(entry);
                }
                libc::S_IFLNK => {
                    entry["type"] = json!("symlink");
                    entry["target"] = json!(nix::fcntl::readlinkat(Some(fd), name.as_str())
                        .map(|t| t.to_string_lossy().into_owned())
                        .ok());
                    self.entries.push(entry);
                }
                other => {
                    let (t, rdev) = match other {
                        libc::S_IFCHR => ("char", true),
                        libc::S_IFBLK => ("block", true),
                        libc::S_IFIFO => ("fifo", false),
                        _ => ("socket", false),
                    };
                    entry["type"] = json!(t);
                    if rdev {
                        entry["rdev"] = json!(format!(
                            "{}:{}",
                            libc::major(st.st_rdev),
                            libc::minor(st.st_rdev)
                        ));
                    }
                    self.entries.push(entry);
                }
            }
        }
        Ok(())
    }

    fn file(
        &mut self,
        dirfd: i32,
        name: &str,
        path: &str,
        size: u64,
        entry: &mut Value,
    ) -> std::io::Result<()> {
        if size > self.budget.left {
            let reason = format!("over the size cap ({} bytes left)", self.budget.left);
            entry["skipped"] = json!(reason);
            self.budget
                .skipped
                .push(json!({"path": path, "size": size, "reason": reason}));
            return Ok(());
        }
        let mut f = match openat_file(dirfd, name) {
            Ok(f) => f,
            Err(e) => {
                let reason = format!("cannot open: {e}");
                entry["skipped"] = json!(reason);
                self.budget
                    .skipped
                    .push(json!({"path": path, "size": size, "reason": reason}));
                return Ok(());
            }
        };
        let mut bytes = Vec::with_capacity(size as usize);
        // at most what the budget allows: a file that grows (a host writer on a bind) is cut
        if let Err(e) = Read::by_ref(&mut f)
            .take(self.budget.left)
            .read_to_end(&mut bytes)
        {
            let reason = format!("cannot read: {e}");
            entry["skipped"] = json!(reason);
            self.budget
                .skipped
                .push(json!({"path": path, "size": size, "reason": reason}));
            return Ok(());
        }
        let sha = sha256_hex(&bytes);
        if bytes.len() as u64 != size {
            entry["note"] = json!(format!(
                "{} bytes read (the size changed while read)",
                bytes.len()
            ));
        }
        self.budget.left -= bytes.len() as u64;
        self.budget.copied += bytes.len() as u64;
        entry["sha256"] = json!(sha);
        entry["blob"] = json!(format!("blobs/{sha}"));
        self.out.put(&format!("blobs/{sha}"), &bytes)
    }
}

/// `criu dump --leave-running` of the process tree of `pid` into `checkpoint/`.
fn run_criu(out: &mut Out, pid: i32, freezer: &Freezer) -> Result<Value, String> {
    let dir = out.dir.join("checkpoint");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut cmd = std::process::Command::new("criu");
    cmd.arg("dump")
        .arg("--tree")
        .arg(pid.to_string())
        .arg("--images-dir")
        .arg(&dir)
        .args([
            "--leave-running",
            "--tcp-established",
            "--ext-unix-sk",
            "--shell-job",
            "--file-locks",
            "--manage-cgroups=ignore",
            "-v4",
            "--log-file",
            "dump.log",
        ])
        .arg("--freeze-cgroup")
        .arg(freezer.dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let result = cmd.output();
    // whatever CRIU wrote goes into the manifest, its log first of all
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for n in names {
            out.adopt(&format!("checkpoint/{n}"))
                .map_err(|e| format!("checkpoint/{n}: {e}"))?;
        }
    }
    let o = result.map_err(|e| format!("cannot run criu: {e}"))?;
    if o.status.success() {
        return Ok(json!({"ok": true, "dir": "checkpoint", "log": "checkpoint/dump.log"}));
    }
    let log = std::fs::read_to_string(dir.join("dump.log")).unwrap_or_default();
    let first_error = log
        .lines()
        .find(|l| l.contains("Error"))
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&o.stderr).trim().to_owned());
    Err(format!("criu dump failed ({}): {first_error}", o.status))
}

// ---------------------------------------------------------------------------------------------
// verifying

/// One thing that does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Missing(String),
    Extra(String),
    Changed {
        path: String,
        why: String,
    },
    /// manifest.json or manifest.sig: what is wrong with it
    Signature {
        file: &'static str,
        why: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing(p) => write!(f, "missing file {p}"),
            Problem::Extra(p) => write!(f, "extra file {p}: not in the manifest"),
            Problem::Changed { path, why } => write!(f, "changed file {path}: {why}"),
            Problem::Signature { file, why } => write!(f, "{file}: {why}"),
        }
    }
}

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Verified {
    pub problems: Vec<Problem>,
    pub files: usize,
    pub key_id: Option<String>,
    pub pinned: bool,
    pub manifest: Option<Value>,
}

/// The files of an evidence bundle: path → (size, sha256), and manifest/sig bytes.
#[derive(Default)]
struct Found {
    files: BTreeMap<String, (u64, String)>,
    manifest: Option<Vec<u8>>,
    sig: Option<Vec<u8>>,
    others: Vec<String>,
}

fn hash_reader(r: &mut dyn Read) -> std::io::Result<(u64, String, Vec<u8>, bool)> {
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut head = vec![];
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        if head.len() < 4 << 20 {
            head.extend_from_slice(&buf[..k]);
        }
        n += k as u64;
    }
    let small = n <= 4 << 20;
    Ok((n, hex(&h.finalize()), head, small))
}

fn found_file(found: &mut Found, rel: &str, r: &mut dyn Read) -> Result<(), String> {
    let (n, sha, bytes, small) = hash_reader(r).map_err(|e| format!("{rel}: {e}"))?;
    if rel == MANIFEST || rel == SIGNATURE {
        if !small {
            return Err(format!("{rel}: larger than 4 MiB"));
        }
        if rel == MANIFEST {
            found.manifest = Some(bytes);
        } else {
            found.sig = Some(bytes);
        }
    } else {
        found.files.insert(rel.to_owned(), (n, sha));
    }
    Ok(())
}

fn scan_dir(found: &mut Found, root: &Path, rel: &str) -> Result<(), String> {
    let dir = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let t = e
            .file_type()
            .map_err(|err| format!("{}: {err}", e.path().display()))?;
        if t.is_dir() {
            scan_dir(found, root, &r)?;
        } else if t.is_file() {
            let mut f = std::fs::File::open(e.path())
                .map_err(|err| format!("cannot read {}: {err}", e.path().display()))?;
            found_file(found, &r, &mut f)?;
        } else {
            found.others.push(r);
        }
    }
    Ok(())
}

/// Verifies an evidence directory or tar file: every file's size and sha256 against the
/// manifest, no file missing or extra, the manifest canonical and its signature good (with the
/// pinned key, when given; else the key the bundle names).
pub fn verify(path: &Path, pinned: Option<&VerifyingKey>) -> Result<Verified, EvidenceError> {
    let mut found = Found::default();
    let meta = std::fs::metadata(path)
        .map_err(|e| EvidenceError::Input(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_dir() {
        scan_dir(&mut found, path, "").map_err(EvidenceError::Input)?;
    } else {
        let f = std::fs::File::open(path)
            .map_err(|e| EvidenceError::Input(format!("cannot read {}: {e}", path.display())))?;
        let mut r = std::io::BufReader::new(f);
        let others = &mut found.others;
        let mut files = Found::default();
        tar::read(&mut r, |p, entry| match entry {
            tar::Entry::File(rd, _) => {
                if files.files.contains_key(p)
                    || (p == MANIFEST && files.manifest.is_some())
                    || (p == SIGNATURE && files.sig.is_some())
                {
                    others.push(format!("{p} (a second entry of that name)"));
                    return Ok(());
                }
                found_file(&mut files, p, rd)
            }
            tar::Entry::Dir => Ok(()),
            tar::Entry::Other(t) => {
                others.push(format!("{p} (tar entry type {:?})", t as char));
                Ok(())
            }
        })
        .map_err(|e| EvidenceError::Input(format!("{}: {e}", path.display())))?;
        found.files = files.files;
        found.manifest = files.manifest;
        found.sig = files.sig;
    }
    Ok(check(found, pinned))
}

fn check(found: Found, pinned: Option<&VerifyingKey>) -> Verified {
    let mut v = Verified {
        pinned: pinned.is_some(),
        ..Default::default()
    };
    let sig_problem = |why: String| Problem::Signature {
        file: SIGNATURE,
        why,
    };
    let man_problem = |why: String| Problem::Signature {
        file: MANIFEST,
        why,
    };
    let Some(mbytes) = found.manifest else {
        v.problems.push(Problem::Missing(MANIFEST.into()));
        for p in found.files.keys() {
            v.problems.push(Problem::Extra(p.clone()));
        }
        return v;
    };
    // the manifest itself: JSON, canonical
    let manifest: Option<Value> = match serde_json::from_slice::<Value>(&mbytes) {
        Ok(m) if manifest_bytes(&m) == mbytes => Some(m),
        Ok(m) => {
            v.problems.push(man_problem(
                "not in canonical form: it was edited or re-serialized after signing".into(),
            ));
            Some(m)
        }
        Err(e) => {
            v.problems
                .push(man_problem(format!("not valid JSON: {e}: it was changed")));
            None
        }
    };
    // the signature
    match found.sig {
        None => v.problems.push(Problem::Missing(SIGNATURE.into())),
        Some(sbytes) => match serde_json::from_slice::<Value>(&sbytes) {
            Err(e) => v
                .problems
                .push(sig_problem(format!("not valid JSON: {e}: it was changed"))),
            Ok(s) => {
                let named = s["public_key"].as_str().map(parse_public_key);
                let sig = s["signature"]
                    .as_str()
                    .and_then(unhex)
                    .and_then(|b| <[u8; 64]>::try_from(b).ok())
                    .map(|b| ed25519_dalek::Signature::from_bytes(&b));
                if manifest_bytes(&s) != sbytes {
                    v.problems.push(sig_problem(
                        "not in canonical form: it was edited after signing".into(),
                    ));
                }
                match (named, sig, s["algorithm"].as_str()) {
                    (Some(Ok(named)), Some(sig), Some("ed25519")) => {
                        v.key_id = Some(key_id(&named));
                        // every field as the signer writes it: nothing in the file may vary
                        if s["key_id"].as_str() != Some(key_id(&named).as_str())
                            || s["public_key"].as_str() != Some(public_key_text(&named).as_str())
                            || s["signature"].as_str() != Some(hex(&sig.to_bytes()).as_str())
                            || s["signed"] != MANIFEST
                            || s.as_object().is_none_or(|o| o.len() != 5)
                        {
                            v.problems.push(sig_problem(
                                "its fields are not as signed (key_id, public_key, signature, signed): it was changed".into(),
                            ));
                        }
                        let key = match pinned {
                            Some(p) if p != &named => {
                                v.problems.push(sig_problem(format!(
                                    "signed by key {}, not by the pinned key {}",
                                    key_id(&named),
                                    key_id(p)
                                )));
                                Some(*p)
                            }
                            Some(p) => Some(*p),
                            None => Some(named),
                        };
                        if let Some(k) = key {
                            if k.verify(&mbytes, &sig).is_err() {
                                v.problems.push(man_problem(format!(
                                    "bad signature: the manifest was changed, or not signed by key {}",
                                    key_id(&k)
                                )));
                            }
                        }
                        if let Some(m) = &manifest {
                            if m["public_key"].as_str() != Some(public_key_text(&named).as_str()) {
                                v.problems.push(man_problem(
                                    "names another public key than manifest.sig".into(),
                                ));
                            }
                        }
                    }
                    (Some(Err(e)), _, _) => {
                        v.problems.push(sig_problem(format!("public_key: {e}")))
                    }
                    _ => v.problems.push(sig_problem(
                        "not an ed25519 signature record (algorithm, public_key, signature)".into(),
                    )),
                }
            }
        },
    }
    // every file
    let mut listed: BTreeMap<String, (u64, String)> = BTreeMap::new();
    if let Some(m) = &manifest {
        if m["format"] != FORMAT {
            v.problems
                .push(man_problem(format!("format is not {FORMAT}")));
        }
        for f in m["files"].as_array().into_iter().flatten() {
            if let (Some(p), Some(n), Some(s)) =
                (f["path"].as_str(), f["size"].as_u64(), f["sha256"].as_str())
            {
                listed.insert(p.to_owned(), (n, s.to_owned()));
            }
        }
    }
    for (p, (n, sha)) in &listed {
        match found.files.get(p) {
            None => v.problems.push(Problem::Missing(p.clone())),
            Some((fn_, fsha)) if fn_ != n || fsha != sha => v.problems.push(Problem::Changed {
                path: p.clone(),
                why: format!(
                    "{fn_} bytes, sha256 {}…; the manifest says {n} bytes, sha256 {}…",
                    &fsha[..12.min(fsha.len())],
                    &sha[..12.min(sha.len())]
                ),
            }),
            Some(_) => {}
        }
    }
    if manifest.is_some() {
        for p in found.files.keys() {
            if !listed.contains_key(p) {
                v.problems.push(Problem::Extra(p.clone()));
            }
        }
    }
    for o in found.others {
        v.problems.push(Problem::Extra(o));
    }
    v.files = listed.len();
    v.manifest = manifest;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_keys_and_has_no_whitespace() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"b": 1, "a": [true, null, "x"]}),
                r#"{"a":[true,null,"x"],"b":1}"#,
            ),
            (json!({"z": {"y": 1, "x": 2}}), r#"{"z":{"x":2,"y":1}}"#),
            (
                json!({"é": "a\nb", "e": "\"q\""}),
                r#"{"e":"\"q\"","é":"a\nb"}"#,
            ),
            (json!([]), "[]"),
            (json!({}), "{}"),
            (json!(1.5), "1.5"),
            (json!({"B": 0, "a": 0, "A": 0}), r#"{"A":0,"B":0,"a":0}"#),
        ];
        for (v, want) in cases {
            assert_eq!(String::from_utf8(canonical(&v)).unwrap(), want);
            // parse and write again: the same bytes
            let again: Value = serde_json::from_str(want).unwrap();
            assert_eq!(String::from_utf8(canonical(&again)).unwrap(), want);
        }
        assert_eq!(manifest_bytes(&json!({"a": 1})), b"{\"a\":1}\n");
    }

    #[test]
    fn signature_covers_every_byte_of_the_manifest() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let m = manifest_bytes(
            &json!({"format": FORMAT, "files": [], "public_key": public_key_text(&key.verifying_key())}),
        );
        let s = sign(&key, &m);
        let found = |m: &[u8], s: &[u8]| Found {
            manifest: Some(m.to_vec()),
            sig: Some(s.to_vec()),
            ..Default::default()
        };
        assert_eq!(check(found(&m, &s), None).problems, vec![]);
        assert_eq!(
            check(found(&m, &s), Some(&key.verifying_key())).problems,
            vec![]
        );
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        let p = check(found(&m, &s), Some(&other)).problems;
        assert!(
            p[0].to_string().starts_with("manifest.sig: signed by key"),
            "{p:?}"
        );
        for i in 0..s.len() {
            let mut bad = s.clone();
            bad[i] ^= 0x20;
            let p = check(found(&m, &bad), None).problems;
            assert!(
                p.iter().any(|p| p.to_string().starts_with("manifest.sig: ")
                    || p.to_string().starts_with("manifest.json: bad signature")),
                "sig byte {i}: {p:?}"
            );
        }
        for i in 0..m.len() {
            let mut bad = m.clone();
            bad[i] ^= 1;
            let p = check(found(&bad, &s), None).problems;
            assert!(
                p.iter()
                    .any(|p| p.to_string().starts_with("manifest.json: ")),
                "byte {i}: {p:?}"
            );
        }
    }

    #[test]
    fn public_keys_round_trip() {
        let k = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
        assert_eq!(parse_public_key(&public_key_text(&k)).unwrap(), k);
        assert_eq!(
            parse_public_key(&format!("  {}\n", hex(k.as_bytes()))).unwrap(),
            k
        );
        assert!(parse_public_key("ed25519:abc").is_err());
        assert!(parse_public_key("").is_err());
    }

    #[test]
    fn tar_writer_writes_ustar_that_tar_and_the_reader_read() {
        let mut buf = vec![];
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let files: Vec<(String, Vec<u8>)> = vec![
            ("manifest.json".into(), b"{}\n".to_vec()),
            ("a/b/c.txt".into(), b"hello".to_vec()),
            ("empty".into(), vec![]),
            ("block".into(), vec![9u8; 512]),
            (long.clone(), vec![1u8; 1000]),
        ];
        tar::append(&mut buf, "a/", None, 1_700_000_000).unwrap();
        for (p, b) in &files {
            tar::append(
                &mut buf,
                p,
                Some((&mut &b[..], b.len() as u64)),
                1_700_000_000,
            )
            .unwrap();
        }
        tar::finish(&mut buf).unwrap();
        assert_eq!(buf.len() % 512, 0);
        // our reader
        let mut got = vec![];
        tar::read(&mut &buf[..], |p, e| {
            match e {
                tar::Entry::File(r, _) => {
                    let mut b = vec![];
                    r.read_to_end(&mut b).unwrap();
                    got.push((p.to_owned(), b));
                }
                tar::Entry::Dir => got.push((format!("{p}/"), vec![])),
                tar::Entry::Other(_) => panic!("other"),
            }
            Ok(())
        })
        .unwrap();
        let mut want = vec![("a/".to_owned(), vec![])];
        want.extend(files.iter().cloned());
        assert_eq!(got, want);
        // GNU tar reads it (names, sizes) without a warning
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("x.tar");
        std::fs::write(&t, &buf).unwrap();
        let o = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&t)
            .arg("-C")
            .arg(d.path())
            .output()
            .unwrap();
        assert!(o.status.success() && o.stderr.is_empty(), "{o:?}");
        for (p, b) in &files {
            assert_eq!(&std::fs::read(d.path().join(p)).unwrap(), b, "{p}");
        }
        // a name that fits nowhere, a cut-short archive, a bad checksum
        assert!(tar::split_name(&"x".repeat(101)).is_err());
        assert!(tar::read(&mut &buf[..1024], |_, _| Ok(())).is_err());
        let mut bad = buf.clone();
        bad[0] ^= 1;
        let e = tar::read(&mut &bad[..], |_, _| Ok(())).unwrap_err();
        assert!(e.contains("bad header checksum"), "{e}");
    }

    #[test]
    fn writable_places_from_mountinfo() {
        let mi = "\
1 0 8:1 /rootfs / ro,relatime - ext4 /dev/sda1 rw
2 1 0:5 / /proc rw,nosuid - proc proc rw
3 1 0:6 / /dev rw,nosuid - tmpfs tmpfs rw,mode=755
4 3 0:7 / /dev/shm rw,nosuid - tmpfs shm rw
5 1 0:8 / /tmp rw,nosuid - tmpfs tmpfs rw
6 1 8:1 /data /data\\040x rw,relatime - ext4 /dev/sda1 rw
7 1 8:1 /cfg /cfg ro,relatime - ext4 /dev/sda1 rw
8 2 0:9 / /proc/kcore rw - tmpfs tmpfs rw
9 1 0:10 / /sys ro - sysfs sysfs ro
10 1 0:11 / /ro rw - tmpfs tmpfs ro
";
        let (w, points) = writable_mounts(mi);
        let got: Vec<(&str, &str)> = w.iter().map(|w| (w.mount_point.as_str(), w.kind)).collect();
        assert_eq!(
            got,
            [
                ("/dev", "tmpfs"),
                ("/dev/shm", "tmpfs"),
                ("/tmp", "tmpfs"),
                ("/data x", "bind")
            ]
        );
        assert!(points.contains("/cfg") && points.contains("/"));
        let (w, _) = writable_mounts(
            "1 0 0:40 / / rw - overlay overlay rw,lowerdir=/l,upperdir=/u/diff,workdir=/u/work\n",
        );
        assert_eq!(w[0].kind, "rootfs");
        assert_eq!(w[0].upperdir.as_deref(), Some("/u/diff"));
    }

    #[test]
    fn credentials_are_masked_as_the_audit_log_masks_them() {
        let m = Masker::new(
            crate::profile::Catalog::builtin()
                .get("restricted")
                .unwrap()
                .clone(),
        );
        let env: Vec<String> = [
            "PATH=/bin",
            "DB_PASSWORD=hunter2",
            "HOME=/root",
            "AKIAIOSFODNN7EXAMPLE=1",
            "URL=postgres://a:b@h/db",
            "DEBUG=true",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (out, idx) = m.mask(&env);
        assert_eq!(idx, [1, 3, 4]);
        assert_eq!(
            out,
            [
                "PATH=/bin",
                "DB_PASSWORD=<redacted>",
                "HOME=/root",
                "<redacted>",
                "URL=<redacted>",
                "DEBUG=true"
            ]
        );
    }
}
