//! `hardrun setup containerd`: registers hardrun's runtimes in containerd's `config.toml`.
//!
//! The config is edited with `toml_edit`, so comments, order and quoting of everything else stay
//! as they were; hardrun's tables are added (or the keys it owns corrected) and nothing else is
//! touched. The layout is read from the file's `version` key:
//!
//! | `version` | containerd | CRI runtimes table |
//! |---|---|---|
//! | 2 | 1.x (and 2.x, which migrates it) | `plugins."io.containerd.grpc.v1.cri".containerd.runtimes` |
//! | 3 | 2.x | `plugins."io.containerd.cri.v1.runtime".containerd.runtimes` |
//!
//! An empty or missing file gets `version = 2`, or 3 when the installed containerd is 2.x. A file
//! without `version` that has `plugins` is containerd's version 1 layout and is refused, as is a
//! file that is not TOML (the error names `file:line:col`). The original is backed up as
//! `config.toml.hardrun-bak.<UTC time>` only when something changes; a second run reports
//! "already configured" and writes nothing.

use std::path::Path;

use anyhow::{anyhow, Result};
use toml_edit::{Array, DocumentMut, Item, Table, Value};

use super::{names, replace_backed_up, runtimes, Runtime};
use crate::cli::SetupContainerd;

/// What every hardrun runtime entry sets.
pub const RUNTIME_TYPE: &str = "io.containerd.runc.v2";
/// The annotations the CRI plugin passes from a pod to the runtime (exceptions, profile).
pub const POD_ANNOTATIONS: &str = "hardrun.dev/*";

#[derive(Debug, Clone)]
pub struct Options {
    pub runtimes: Vec<Runtime>,
    /// `options.Root` of every entry (the runtime's state root)
    pub root: Option<String>,
    /// make this runtime containerd's `default_runtime_name`
    pub default_runtime: Option<String>,
    /// the `version` an empty file gets
    pub new_file_version: i64,
}

/// The result of merging: the new text and what changed (empty: already configured).
#[derive(Debug, Clone)]
pub struct Merge {
    pub version: i64,
    /// the dotted path of the runtimes table, for messages
    pub runtimes_table: String,
    pub changes: Vec<String>,
    pub notes: Vec<String>,
    pub text: String,
}

fn plugin_for(version: i64) -> Option<&'static str> {
    match version {
        2 => Some("io.containerd.grpc.v1.cri"),
        3 => Some("io.containerd.cri.v1.runtime"),
        _ => None,
    }
}

/// `line:col` (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

/// Walks (creating implicit tables where missing) to the table at `keys`.
fn table_at<'a>(doc: &'a mut Table, keys: &[&str], file: &str) -> Result<&'a mut Table> {
    let mut cur = doc;
    for (i, k) in keys.iter().enumerate() {
        let item = cur.entry(k).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        cur = match item {
            Item::Table(t) => t,
            _ => {
                return Err(anyhow!(
                    "{file}: {} is not a [table] (hardrun setup edits only the [table] layout \
                     containerd writes); add the runtime entries by hand",
                    dotted(&keys[..=i])
                ))
            }
        };
    }
    Ok(cur)
}

fn dotted(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| {
            if k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                k.to_string()
            } else {
                format!("{k:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Indents a new runtime table and its `options` (headers at `h`, keys two deeper), with a
/// comment naming it.
fn indent(entry: &mut Table, name: &str, h: usize) {
    let pad = |n: usize| " ".repeat(n);
    entry.decor_mut().set_prefix(format!(
        "\n{}# {name}: added by `hardrun setup containerd`\n{}",
        pad(h),
        pad(h)
    ));
    let keys: Vec<String> = entry
        .iter()
        .filter(|(_, v)| !v.is_table())
        .map(|(k, _)| k.to_owned())
        .collect();
    for k in keys {
        if let Some(mut key) = entry.key_mut(&k) {
            key.leaf_decor_mut().set_prefix(pad(h + 2));
        }
    }
    if let Some(Item::Table(options)) = entry.get_mut("options") {
        options.decor_mut().set_prefix(pad(h + 2));
        let keys: Vec<String> = options.iter().map(|(k, _)| k.to_owned()).collect();
        for k in keys {
            if let Some(mut key) = options.key_mut(&k) {
                key.leaf_decor_mut().set_prefix(pad(h + 4));
            }
        }
    }
}

/// Sets `table[key] = want` unless it already is; records the change.
fn set_str(table: &mut Table, key: &str, want: &str, what: &str, changes: &mut Vec<String>) {
    match table.get(key).and_then(Item::as_str) {
        Some(v) if v == want => {}
        Some(v) => {
            changes.push(format!("{what}.{key}: {v:?} -> {want:?}"));
            table[key] = toml_edit::value(want);
        }
        None => {
            if table.contains_key(key) {
                changes.push(format!("{what}.{key}: (not a string) -> {want:?}"));
            } else {
                changes.push(format!("{what}.{key} = {want:?}"));
            }
            table[key] = toml_edit::value(want);
        }
    }
}

/// Merges hardrun's runtime entries into the containerd config `text` (read from `file`, for
/// messages).
pub fn merge(text: &str, file: &str, opts: &Options) -> Result<Merge> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let (line, col) = line_col(text, e.span().map(|s| s.start).unwrap_or(0));
        anyhow!(
            "{file}:{line}:{col}: not valid TOML, refusing to edit it: {}",
            e.message().split_whitespace().collect::<Vec<_>>().join(" ")
        )
    })?;
    let mut notes = Vec::new();
    let mut changes = Vec::new();

    let version = match doc.get("version") {
        Some(v) => v.as_integer().ok_or_else(|| {
            // DocumentMut keeps no spans: find the top-level `version =` line
            let (line, col) = text
                .lines()
                .enumerate()
                .find_map(|(i, l)| {
                    let rest = l.strip_prefix("version")?.trim_start().strip_prefix('=')?;
                    Some((i + 1, l.len() - rest.trim_start().len() + 1))
                })
                .unwrap_or((1, 1));
            anyhow!("{file}:{line}:{col}: version is not an integer")
        })?,
        None if doc.contains_key("plugins") => {
            return Err(anyhow!(
                "{file}: no version key: this is containerd's version 1 layout, which hardrun \
                 setup does not edit; migrate it first (`containerd config migrate` on \
                 containerd >= 1.7, or `containerd config default` and carry your settings over)"
            ))
        }
        None => {
            // nothing containerd-specific yet: start the layout of the installed containerd
            let v = opts.new_file_version;
            doc.insert("version", toml_edit::value(v));
            // `version` first, as containerd writes it
            doc.sort_values_by(|a, _, b, _| (a.get() != "version").cmp(&(b.get() != "version")));
            changes.push(format!("version = {v} (the file had no layout yet)"));
            v
        }
    };
    let plugin = plugin_for(version).ok_or_else(|| {
        anyhow!(
            "{file}: version = {version}: hardrun setup knows containerd config versions 2 \
             (containerd 1.x) and 3 (containerd 2.x)"
        )
    })?;

    if let Some(disabled) = doc.get("disabled_plugins").and_then(Item::as_array) {
        let off: Vec<&str> = disabled
            .iter()
            .filter_map(Value::as_str)
            .filter(|p| *p == "cri" || *p == plugin || *p == "io.containerd.grpc.v1.cri")
            .collect();
        if !off.is_empty() {
            notes.push(format!(
                "disabled_plugins lists {off:?}: the CRI plugin is off, so Kubernetes and \
                 crictl will not see these runtimes until it is removed from disabled_plugins"
            ));
        }
    }

    // new tables follow the file's style: indented like the runtimes already there (containerd's
    // `config default` indents by nesting), else like the shipped snippets
    let header_indent = text
        .lines()
        .find(|l| {
            let t = l.trim_start();
            t.starts_with("[plugins")
                && t.contains(".containerd.runtimes.")
                && !t.contains(".options]")
        })
        .map(|l| l.len() - l.trim_start().len())
        .unwrap_or(0);
    let base = ["plugins", plugin, "containerd"];
    let runtimes_path = ["plugins", plugin, "containerd", "runtimes"];
    let runtimes_table = dotted(&runtimes_path);
    for rt in &opts.runtimes {
        let runtimes = table_at(doc.as_table_mut(), &runtimes_path, file)?;
        let what = format!("runtimes.{}", rt.name);
        let is_new = !runtimes.contains_key(&rt.name);
        let entry = match runtimes
            .entry(&rt.name)
            .or_insert_with(|| Item::Table(Table::new()))
        {
            Item::Table(t) => t,
            _ => {
                return Err(anyhow!(
                    "{file}: {runtimes_table}.{} is not a [table]; fix or remove it by hand",
                    rt.name
                ))
            }
        };
        let mut local = Vec::new();
        set_str(entry, "runtime_type", RUNTIME_TYPE, &what, &mut local);
        match entry.get_mut("pod_annotations") {
            Some(item) => match item.as_array_mut() {
                Some(a) => {
                    if !a.iter().any(|v| v.as_str() == Some(POD_ANNOTATIONS)) {
                        a.push(POD_ANNOTATIONS);
                        local.push(format!("{what}.pod_annotations: + {POD_ANNOTATIONS:?}"));
                    }
                }
                None => {
                    return Err(anyhow!(
                        "{file}: {runtimes_table}.{}.pod_annotations is not an array",
                        rt.name
                    ))
                }
            },
            None => {
                let mut a = Array::new();
                a.push(POD_ANNOTATIONS);
                entry.insert("pod_annotations", toml_edit::value(a));
                local.push(format!("{what}.pod_annotations = [{POD_ANNOTATIONS:?}]"));
            }
        }
        let options = table_at(entry, &["options"], file).map_err(|_| {
            anyhow!(
                "{file}: {runtimes_table}.{}.options is not a [table]; fix it by hand",
                rt.name
            )
        })?;
        options.set_implicit(false);
        let what_opts = format!("{what}.options");
        set_str(options, "BinaryName", &rt.binary, &what_opts, &mut local);
        if let Some(root) = &opts.root {
            set_str(options, "Root", root, &what_opts, &mut local);
        }
        if is_new {
            indent(entry, &rt.name, header_indent);
            changes.push(format!(
                "added runtime {}: BinaryName = {:?}",
                rt.name, rt.binary
            ));
        } else {
            changes.extend(local);
        }
    }
    if let Some(name) = &opts.default_runtime {
        if !opts.runtimes.iter().any(|r| &r.name == name) {
            return Err(anyhow!(
                "--default-runtime: {name:?} is not one of the runtimes being added ({})",
                opts.runtimes
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let t = table_at(doc.as_table_mut(), &base, file)?;
        set_str(
            t,
            "default_runtime_name",
            name,
            &dotted(&base),
            &mut changes,
        );
    }
    let text = if changes.is_empty() {
        text.to_owned()
    } else {
        doc.to_string()
    };
    Ok(Merge {
        version,
        runtimes_table,
        changes,
        notes,
        text,
    })
}

/// The `version` a new config gets: 3 when the installed containerd is 2.x, else 2.
fn installed_containerd_version() -> i64 {
    let out = std::process::Command::new("containerd")
        .arg("--version")
        .output();
    let Ok(out) = out else { return 2 };
    // "containerd github.com/containerd/containerd v1.6.20 ..." / "containerd containerd.io 2.0.0 ..."
    let s = String::from_utf8_lossy(&out.stdout);
    let major = s
        .split_whitespace()
        .nth(2)
        .map(|v| v.trim_start_matches('v'))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_some_and(|m| m >= 2) {
        3
    } else {
        2
    }
}

/// `hardrun setup containerd`.
pub fn run(a: &SetupContainerd) -> Result<i32> {
    // edit the file a symlink points to, not the symlink
    let path = std::fs::canonicalize(&a.config).unwrap_or_else(|_| a.config.clone());
    let file = path.display().to_string();
    let (text, meta) = match std::fs::read_to_string(&path) {
        Ok(t) => (t, Some(std::fs::metadata(&path)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), None),
        Err(e) => return Err(anyhow!("cannot read {file}: {e}")),
    };
    let opts = Options {
        runtimes: runtimes(&a.bin_dir, &a.profiles)?,
        root: (!a.runtime_root.as_os_str().is_empty())
            .then(|| a.runtime_root.display().to_string()),
        default_runtime: a.default_runtime.clone(),
        new_file_version: installed_containerd_version(),
    };
    let m = merge(&text, &file, &opts)?;
    let mut report = String::new();
    let layout = if m.version == 3 {
        "containerd 2.x"
    } else {
        "containerd 1.x"
    };
    report.push_str(&format!(
        "{file}: config version {} ({layout}), runtimes under {}\n",
        m.version, m.runtimes_table
    ));
    for r in &opts.runtimes {
        if !Path::new(&r.binary).exists() {
            report.push_str(&format!(
                "  note: {} does not exist (yet): runtime {} will fail until it does\n",
                r.binary, r.name
            ));
        }
    }
    for n in &m.notes {
        report.push_str(&format!("  note: {n}\n"));
    }
    if !oom_score_adj_ok(&text) {
        report.push_str(
            "  note: CAP_SYS_RESOURCE is not in this host's bounding set: pod sandboxes fail with \
             \"write /proc/self/oom_score_adj: permission denied\" unless the CRI section sets \
             restrict_oom_score_adj = true\n",
        );
    }
    if m.changes.is_empty() {
        report.push_str(&format!(
            "already configured ({}); nothing changed\n",
            names(&opts.runtimes)
        ));
        crate::commands::out(report.as_bytes())?;
        return Ok(0);
    }
    for c in &m.changes {
        report.push_str(&format!("  {c}\n"));
    }
    if a.dry_run {
        report.push_str("dry run: nothing written\n");
        crate::commands::out(report.as_bytes())?;
        return Ok(0);
    }
    replace_backed_up(&path, &m.text, meta.as_ref(), &mut report)?;
    report.push_str(&format!(
        "wrote {file}\nrestart containerd to load it (systemctl restart containerd, or \
         service containerd restart); Kubernetes: one RuntimeClass per handler ({}), see \
         /usr/share/doc/hardrun/examples/runtimeclasses.yaml\n",
        names(&opts.runtimes)
    ));
    crate::commands::out(report.as_bytes())?;
    Ok(0)
}

/// False when the host's bounding set lacks CAP_SYS_RESOURCE and the config does not restrict
/// oom_score_adj (a text check: the key set to true anywhere).
fn oom_score_adj_ok(text: &str) -> bool {
    let has = caps::has_cap(
        None,
        caps::CapSet::Bounding,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(true);
    has || text.lines().any(|l| {
        let l = l.trim().replace(' ', "");
        l == "restrict_oom_score_adj=true"
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/containerd");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
    }

    fn opts() -> Options {
        Options {
            runtimes: runtimes(
                Path::new("/usr/bin"),
                &["restricted".into(), "baseline".into(), "ci".into()],
            )
            .unwrap(),
            root: Some("/run/hardrun".into()),
            default_runtime: None,
            new_file_version: 2,
        }
    }

    /// Compares with `tests/fixtures/containerd/<name>` (HARDRUN_UPDATE_SNAPSHOTS=1 rewrites it).
    fn snapshot(name: &str, got: &str) {
        let path = Path::new(FIXTURES).join(name);
        if std::env::var_os("HARDRUN_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (HARDRUN_UPDATE_SNAPSHOTS=1)", path.display()));
        assert_eq!(got, want, "snapshot {name} differs");
    }

    /// The original's lines are all in the output, in order (nothing removed or reordered).
    fn keeps_every_line(before: &str, after: &str) {
        let mut it = after.lines();
        for l in before.lines() {
            assert!(it.any(|a| a == l), "line {l:?} lost or reordered");
        }
    }

    /// The entries as containerd would read them.
    fn check_entries(text: &str, plugin: &str, root: Option<&str>) {
        let v: toml::Value = toml::from_str(text).unwrap();
        let rts = &v["plugins"][plugin]["containerd"]["runtimes"];
        for (name, bin) in [
            ("hardrun", "/usr/bin/hardrun"),
            ("hardrun-restricted", "/usr/bin/hardrun-restricted"),
            ("hardrun-baseline", "/usr/bin/hardrun-baseline"),
            ("hardrun-ci", "/usr/bin/hardrun-ci"),
        ] {
            let e = &rts[name];
            assert_eq!(e["runtime_type"].as_str(), Some(RUNTIME_TYPE), "{name}");
            assert_eq!(e["options"]["BinaryName"].as_str(), Some(bin), "{name}");
            assert_eq!(e["options"].get("Root").and_then(|r| r.as_str()), root);
            let ann: Vec<_> = e["pod_annotations"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a.as_str())
                .collect();
            assert!(ann.contains(&POD_ANNOTATIONS), "{name}: {ann:?}");
        }
    }

    #[test]
    fn merges_each_layout_and_is_idempotent() {
        for (input, version, plugin, snap) in [
            (
                "containerd-1.6-default.toml",
                2,
                "io.containerd.grpc.v1.cri",
                "containerd-1.6-default.merged.toml",
            ),
            (
                "containerd-2.0-layout.toml",
                3,
                "io.containerd.cri.v1.runtime",
                "containerd-2.0-layout.merged.toml",
            ),
            (
                "empty.toml",
                2,
                "io.containerd.grpc.v1.cri",
                "empty.merged.toml",
            ),
            (
                "docker-containerd-io.toml",
                2,
                "io.containerd.grpc.v1.cri",
                "docker-containerd-io.merged.toml",
            ),
        ] {
            let text = fixture(input);
            let m = merge(&text, input, &opts()).unwrap();
            assert_eq!(m.version, version, "{input}");
            assert!(m.runtimes_table.contains(plugin), "{input}");
            assert!(
                m.changes
                    .iter()
                    .any(|c| c.starts_with("added runtime hardrun-ci")),
                "{input}: {:?}",
                m.changes
            );
            keeps_every_line(&text, &m.text);
            check_entries(&m.text, plugin, Some("/run/hardrun"));
            snapshot(snap, &m.text);
            // the runc entry and the rest of the document are untouched
            let before: toml::Value = toml::from_str(&text).unwrap();
            let after: toml::Value = toml::from_str(&m.text).unwrap();
            if let Some(runc) = before
                .get("plugins")
                .and_then(|p| p.get(plugin))
                .map(|c| &c["containerd"]["runtimes"]["runc"])
            {
                assert_eq!(
                    runc,
                    &after["plugins"][plugin]["containerd"]["runtimes"]["runc"]
                );
            }
            // second run: nothing to do, text unchanged
            let again = merge(&m.text, input, &opts()).unwrap();
            assert!(again.changes.is_empty(), "{input}: {:?}", again.changes);
            assert_eq!(again.text, m.text);
        }
    }

    #[test]
    fn new_files_take_the_installed_layout() {
        let mut o = opts();
        o.new_file_version = 3;
        let m = merge("", "empty.toml", &o).unwrap();
        assert!(m.text.starts_with("version = 3\n"), "{}", m.text);
        check_entries(
            &m.text,
            "io.containerd.cri.v1.runtime",
            Some("/run/hardrun"),
        );
        // with only top-level keys and comments, version still goes first
        let m = merge(&fixture("docker-containerd-io.toml"), "d.toml", &opts()).unwrap();
        assert!(m.text.starts_with("version = 2\n"), "{}", m.text);
        assert!(
            m.notes.iter().any(|n| n.contains("the CRI plugin is off")),
            "{:?}",
            m.notes
        );
    }

    #[test]
    fn corrects_owned_keys_and_keeps_the_others() {
        let text = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun]
  runtime_type = "io.containerd.runc.v2"
  pod_annotations = ["example.com/x"]
  privileged_without_host_devices = true # mine
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun.options]
    BinaryName = "/usr/local/sbin/hardrun"
    SystemdCgroup = false
"#;
        let mut o = opts();
        o.runtimes.truncate(1);
        o.root = None;
        o.default_runtime = Some("hardrun".into());
        let m = merge(text, "c.toml", &o).unwrap();
        assert_eq!(
            m.changes,
            [
                "runtimes.hardrun.pod_annotations: + \"hardrun.dev/*\"",
                "runtimes.hardrun.options.BinaryName: \"/usr/local/sbin/hardrun\" -> \"/usr/bin/hardrun\"",
                "plugins.\"io.containerd.grpc.v1.cri\".containerd.default_runtime_name = \"hardrun\"",
            ]
        );
        assert!(m
            .text
            .contains("privileged_without_host_devices = true # mine"));
        assert!(m.text.contains("SystemdCgroup = false"));
        assert!(m
            .text
            .contains(r#"pod_annotations = ["example.com/x", "hardrun.dev/*"]"#));
        let v: toml::Value = toml::from_str(&m.text).unwrap();
        assert_eq!(
            v["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["default_runtime_name"]
                .as_str(),
            Some("hardrun")
        );
        assert!(merge(&m.text, "c.toml", &o).unwrap().changes.is_empty());
        o.default_runtime = Some("runc".into());
        let e = merge(text, "c.toml", &o).unwrap_err().to_string();
        assert!(
            e.starts_with("--default-runtime: \"runc\" is not one of"),
            "{e}"
        );
    }

    #[test]
    fn refuses_what_it_cannot_edit_safely() {
        for (input, text, want) in [
            (
                "broken.toml",
                fixture("broken.toml"),
                "broken.toml:4:31: not valid TOML, refusing to edit it: invalid basic string",
            ),
            (
                "version1.toml",
                fixture("version1.toml"),
                "version1.toml: no version key: this is containerd's version 1 layout",
            ),
            (
                "v4.toml",
                "version = 4\n".to_owned(),
                "v4.toml: version = 4: hardrun setup knows containerd config versions 2",
            ),
            (
                "vs.toml",
                "version = \"2\"\n".to_owned(),
                "vs.toml:1:11: version is not an integer",
            ),
            (
                "inline.toml",
                "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nruntimes = { runc = {} }\n"
                    .to_owned(),
                "inline.toml: plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes is not a [table]",
            ),
        ] {
            let e = merge(&text, input, &opts()).unwrap_err().to_string();
            assert!(e.starts_with(want), "{input}: {e}");
        }
    }

    /// The snippets the package ships are exactly what `setup` writes into an empty file.
    #[test]
    fn shipped_snippets_match_the_merge() {
        let ex = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/examples");
        for (snippet, version) in [("containerd-1.x.toml", 2), ("containerd-2.x.toml", 3)] {
            let want: toml::Value =
                toml::from_str(&std::fs::read_to_string(Path::new(ex).join(snippet)).unwrap())
                    .unwrap();
            let mut o = opts();
            o.new_file_version = version;
            let got: toml::Value = toml::from_str(&merge("", snippet, &o).unwrap().text).unwrap();
            assert_eq!(got, want, "{snippet}");
            // and merging the snippet itself changes nothing
            let text = std::fs::read_to_string(Path::new(ex).join(snippet)).unwrap();
            assert!(
                merge(&text, snippet, &o).unwrap().changes.is_empty(),
                "{snippet}"
            );
        }
    }

    /// The command on files: a backup only when changing, the mode kept, a missing file created.
    #[test]
    fn writes_backs_up_once_and_keeps_the_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hardrun-setup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config.toml");
        let original = fixture("containerd-1.6-default.toml");
        std::fs::write(&cfg, &original).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
        let args = |config: PathBuf, dry_run: bool| SetupContainerd {
            config,
            profiles: vec!["restricted".into()],
            bin_dir: "/usr/bin".into(),
            runtime_root: crate::cli::DEFAULT_ROOT.into(),
            default_runtime: None,
            dry_run,
        };
        let backups = || {
            std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(".hardrun-bak."))
                .map(|e| e.path())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(&args(cfg.clone(), true)).unwrap(), 0);
        assert_eq!(
            std::fs::read_to_string(&cfg).unwrap(),
            original,
            "dry run wrote"
        );
        assert!(backups().is_empty());
        assert_eq!(run(&args(cfg.clone(), false)).unwrap(), 0);
        let merged = std::fs::read_to_string(&cfg).unwrap();
        assert!(merged.contains("BinaryName = \"/usr/bin/hardrun-restricted\""));
        assert_eq!(
            std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let b = backups();
        assert_eq!(b.len(), 1);
        assert_eq!(std::fs::read_to_string(&b[0]).unwrap(), original);
        assert_eq!(run(&args(cfg.clone(), false)).unwrap(), 0);
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), merged);
        assert_eq!(backups().len(), 1, "a second run made a backup");
        // a missing file is created (no backup), a broken one left alone
        let new = dir.join("new/config.toml");
        assert_eq!(run(&args(new.clone(), false)).unwrap(), 0);
        assert!(std::fs::read_to_string(&new)
            .unwrap()
            .starts_with("version = "));
        let broken = dir.join("broken.toml");
        std::fs::write(&broken, "[plugins\n").unwrap();
        assert!(run(&args(broken.clone(), false)).is_err());
        assert_eq!(std::fs::read_to_string(&broken).unwrap(), "[plugins\n");
        assert_eq!(backups().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
