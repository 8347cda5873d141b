//! Image and process checks at create, with real busybox containers (issue 19; see
//! docs/image-checks.md): the root of a `restricted` or `ci-runner` container is mounted `nosuid`
//! (read from /proc/<pid>/mountinfo) and a setuid binary of the image gains nothing (read from
//! /proc/<pid>/status of the exec'd binary); the `image-files` rule reports setuid files and
//! open directories, bounded and cached; `[scan] allowed_registries` refuses images from
//! elsewhere; the monitor's `hardrun_image_vulnerabilities` gauge.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::monitor::{promtool_check, sample, Monitor};
use common::*;
use serde_json::{json, Value};

/// A profile `name` beside the world's configuration: the built-in `base`'s text with each
/// `(from, to)` replaced (each must be there).
fn profile_from(w: &World, base: &str, name: &str, edits: &[(&str, &str)]) {
    let mut text = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("profiles/{base}.toml")),
    )
    .unwrap();
    let name_line = format!("name = \"{base}\"");
    assert!(text.contains(&name_line));
    text = text.replace(&name_line, &format!("name = \"{name}\""));
    for (from, to) in edits {
        assert!(text.contains(from), "{base}.toml has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let dir = w.dir.join("profiles");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

/// A copy of the busybox rootfs at `<world>/<name>` with `/bin/suidbox`, a setuid-root copy of
/// busybox, and `/data`, world-writable without the sticky bit.
fn image(w: &World, name: &str) -> PathBuf {
    let r = w.dir.join(name);
    rootfs_copy(&r, &[]);
    let suid = r.join("bin/suidbox");
    fs::copy(r.join("bin/busybox"), &suid).unwrap();
    fs::set_permissions(&suid, fs::Permissions::from_mode(0o4755)).unwrap();
    fs::create_dir_all(r.join("data")).unwrap();
    fs::set_permissions(r.join("data"), fs::Permissions::from_mode(0o777)).unwrap();
    r
}

fn bundle_on(w: &World, name: &str, rootfs: &Path, args: &[&str]) -> PathBuf {
    w.bundle_with(name, args, |s| {
        s["root"]["path"] = json!(rootfs);
        // the caller asks for nothing: a setuid binary could gain privileges but for the mount
        s["process"]["noNewPrivileges"] = json!(false);
    })
}

/// The per-mount options of the mount at `/` in the process's mount namespace.
fn root_mount_options(pid: i32) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    // the last mount at `/` is the one the process sees
    text.lines()
        .rfind(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no mount at / in the mountinfo of {pid}:\n{text}"))
        .split(' ')
        .nth(5)
        .unwrap()
        .to_owned()
}

/// `Uid:` of /proc/<pid>/status: real, effective, saved, filesystem.
fn uids(pid: i32) -> [u32; 4] {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let v: Vec<u32> = line[4..]
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    [v[0], v[1], v[2], v[3]]
}

/// A static binary that only waits (`pause`), built once with the C toolchain: busybox cannot
/// stand in for it here, since busybox itself drops a setuid euid for its applets (`sleep` run
/// from a setuid-root copy by uid 65534 shows `Uid: 65534 65534 65534 65534` even on a mount
/// without nosuid), which would hide what the kernel gave it.
fn pause_binary() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("pause-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("pause.c");
        fs::write(
            &src,
            "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n",
        )
        .unwrap();
        let bin = dir.join("pause");
        let out = std::process::Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(&bin)
            .arg(&src)
            .output()
            .expect("cc is missing: apt-get install build-essential");
        assert!(
            out.status.success(),
            "cc: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

/// Runs a container under `profile` whose init waits for `/go`, then execs `/bin/suidpause` (a
/// copy of [`pause_binary`]) as the profile's user. Before it lets it go, the host makes it a
/// setuid binary of the container's root (the host uid the user namespace maps 0 to; a file of
/// an unmapped owner gains nothing anyway, which would prove nothing). Returns (pid, the host uid
/// of the container's root, the options of its `/` mount, the uids of the exec'd binary).
fn setuid_run(w: &World, profile: &str, id: &str) -> (i32, u32, String, [u32; 4]) {
    let rootfs = image(w, &format!("img-{id}"));
    let suid = rootfs.join("bin/suidpause");
    fs::copy(pause_binary(), &suid).unwrap();
    let b = bundle_on(
        w,
        &format!("b-{id}"),
        &rootfs,
        &[
            "sh",
            "-c",
            "while [ ! -e /go ]; do sleep 0.05; done; exec /bin/suidpause",
        ],
    );
    w.run_detached(profile, &b, id);
    let pid = w.state(id)["pid"].as_i64().unwrap() as i32;
    let map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let first: Vec<u32> = map.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert_eq!(first[0], 0, "{map}");
    let host_root = first[1];
    assert_ne!(host_root, 0, "the container's root is host root: {map}");
    nix::unistd::chown(
        &suid,
        Some(nix::unistd::Uid::from_raw(host_root)),
        Some(nix::unistd::Gid::from_raw(host_root)),
    )
    .unwrap();
    // chown clears the setuid bit: set it again
    fs::set_permissions(&suid, fs::Permissions::from_mode(0o4755)).unwrap();
    // written from the host into the image directory (the container's tmpfs takes no file of
    // host root: its owner would be unmapped)
    fs::write(rootfs.join("go"), "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmd == b"/bin/suidpause\0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{id}: suidpause never ran: cmdline {:?}, {}",
            String::from_utf8_lossy(&cmd),
            w.state(id)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (pid, host_root, root_mount_options(pid), uids(pid))
}

#[test]
fn the_root_is_nosuid_and_a_setuid_binary_gains_nothing() {
    let w = World::new("img-nosuid");
    // restricted without no-new-privileges (which alone would also stop the gain), so the mount
    // is what is tested; the control has no nosuid and must gain: the test can fail
    let no_nnp = [
        (
            "no-new-privileges = \"enforce\"",
            "no-new-privileges = \"audit\"",
        ),
        (
            "cis-score = { action = \"deny\"",
            "cis-score = { action = \"audit\"",
        ),
    ];
    profile_from(&w, "restricted", "nosuid-only", &no_nnp);
    let mut control = no_nnp.to_vec();
    control.push(("nosuid = true", "nosuid = false"));
    profile_from(&w, "restricted", "suid-control", &control);

    let (_, root, opts, ids) = setuid_run(&w, "suid-control", "ctl");
    assert!(!opts.split(',').any(|o| o == "nosuid"), "{opts}");
    // euid and saved uid became the file's owner: the container's root
    assert_eq!(ids[1], root, "the control gained nothing: {ids:?}");
    assert_eq!(ids[0], root + 65534);

    let (_, root, opts, ids) = setuid_run(&w, "nosuid-only", "ns");
    let o: Vec<&str> = opts.split(',').collect();
    assert!(o.contains(&"nosuid") && o.contains(&"ro"), "{opts}");
    assert_eq!(ids, [root + 65534; 4], "nosuid: the binary gained");

    // the built-in profiles, as they ship
    let (_, root, opts, ids) = setuid_run(&w, "restricted", "rs");
    let o: Vec<&str> = opts.split(',').collect();
    assert!(o.contains(&"nosuid") && o.contains(&"ro"), "{opts}");
    assert_eq!(ids, [root + 65534; 4]);
    let rec = w.state("rs");
    assert_eq!(rec["status"], "running");
    let ci = bundle_on(&w, "b-ci", &image(&w, "img-ci"), &["sleep", "1000"]);
    w.run_detached("ci-runner", &ci, "ci");
    let pid = w.state("ci")["pid"].as_i64().unwrap() as i32;
    let opts = root_mount_options(pid);
    let o: Vec<&str> = opts.split(',').collect();
    assert!(o.contains(&"nosuid") && o.contains(&"ro"), "{opts}");
    for id in ["ctl", "ns", "rs", "ci"] {
        let out = w.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

fn findings(record: &Value, code: &str) -> Vec<Value> {
    record["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .cloned()
        .collect()
}

fn messages(fs: &[Value]) -> Vec<String> {
    fs.iter()
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect()
}

/// `check --bundle --format json` under `profile`: the image-files findings.
fn check(w: &World, profile: &str, b: &Path) -> Vec<Value> {
    let out = w.hr(&[
        "--profile",
        profile,
        "check",
        "--format",
        "json",
        "--bundle",
        b.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check printed no JSON ({e}): {}", stderr(&out)));
    let mut found = vec![];
    fn collect(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(m) => {
                if m.get("code") == Some(&json!("image-files")) {
                    out.push(v.clone());
                }
                m.values().for_each(|x| collect(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    collect(&v, &mut found);
    found
}

#[test]
fn setuid_files_and_open_directories_are_findings() {
    let w = World::new("img-findings");
    let rootfs = image(&w, "img");
    let b = bundle_on(&w, "b", &rootfs, &["true"]);

    // restricted: recorded, the container runs
    let out = w.hr(&[
        "--profile",
        "restricted",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "r1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(last["decision"], "allowed");
    let f = findings(&last, "image-files");
    assert!(f.iter().all(|f| f["action"] == "audit"), "{f:#?}");
    assert_eq!(
        messages(&f),
        [
            "image file /bin/suidbox is setuid (mode 4755, owner 0:0); the root is mounted nosuid, so it gains nothing",
            "image directory /data is world-writable without the sticky bit (mode 0777, owner 0:0); the root is read-only, so nobody can write it",
        ]
    );
    assert!(findings(&last, "rootfs")
        .iter()
        .any(|f| f["pointer"] == "/annotations/run.hardrun.rootfs-nosuid" && f["after"] == "true"));

    // ci-runner with a root it does not make nosuid or read-only: refused, one line
    profile_from(
        &w,
        "ci-runner",
        "ci-open",
        &[("rootfs = \"enforce\"", "rootfs = \"audit\"")],
    );
    let out = w.hr(&[
        "--profile",
        "ci-open",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "r2",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("rule image-files: image file /bin/suidbox is setuid (mode 4755, owner 0:0) and the root is not mounted nosuid"),
        "{err}"
    );
    w.assert_nothing_left("r2");
    let last = w.audit().last().cloned().unwrap();
    assert_eq!(
        (&last["decision"], &last["rule"]),
        (&json!("denied"), &json!("image-files"))
    );
    // the built-in ci-runner neutralizes both and runs it
    let out = w.hr(&[
        "--profile",
        "ci-runner",
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "r3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // not followed, not crossed: a link to the host's /usr/bin (setuid su, passwd) and a tmpfs
    // mounted inside the image directory with a setuid file of its own
    std::os::unix::fs::symlink("/usr/bin", rootfs.join("hostbin")).unwrap();
    let mnt = rootfs.join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &mnt,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .unwrap();
    fs::write(mnt.join("su"), "x").unwrap();
    fs::set_permissions(mnt.join("su"), fs::Permissions::from_mode(0o4755)).unwrap();
    let seen = check(&w, "restricted", &b);
    nix::mount::umount(&mnt).unwrap();
    let m = messages(&seen);
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(
        m.iter()
            .all(|m| !m.contains("/hostbin") && !m.contains("/mnt")),
        "{m:#?}"
    );

    // the bound: a finding, and the container is still judged (and cached per bound)
    profile_from(
        &w,
        "restricted",
        "tiny-walk",
        &[("[scan]\n", "[image_files]\nmax_entries = 50\n\n[scan]\n")],
    );
    let m = messages(&check(&w, "tiny-walk", &b));
    assert!(
        m.iter().any(|m| m
            == "the walk of the image's files stopped after 50 entries at [image_files] max_entries = 50: the rest of the image was not checked"),
        "{m:#?}"
    );
}

/// The walk's time for a create, from the debug log: (entries, from the cache, milliseconds).
fn walk_times(w: &World) -> Vec<(u64, bool, f64)> {
    fs::read_to_string(w.log_path())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let m = v["msg"].as_str()?.strip_prefix("image-files: ")?.to_owned();
            let entries = m.split(' ').next()?.parse().ok()?;
            let cached = m.contains(" from the cache in ");
            let ms = m.rsplit(" in ").next()?.strip_suffix(" ms")?.parse().ok()?;
            Some((entries, cached, ms))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// First versus repeated create of an image of ~20k files: the repeated one finds the walk in
/// the cache. Prints the medians (docs/image-checks.md has them).
#[test]
fn a_repeated_create_of_the_same_image_walks_nothing() {
    let w = World::new("img-cache");
    let rootfs = w.dir.join("big");
    rootfs_copy(&rootfs, &[]);
    for d in 0..200 {
        let dir = rootfs.join(format!("usr/share/many/{d:03}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            fs::write(dir.join(format!("f{f:03}")), "").unwrap();
        }
    }
    let b = bundle_on(&w, "b", &rootfs, &["true"]);
    let cache = w.root.join(".image-files");
    let create = |id: &str| {
        let started = Instant::now();
        let out = w.hr(&[
            "--debug",
            "--profile",
            "restricted",
            "create",
            "--bundle",
            b.to_str().unwrap(),
            id,
        ]);
        let took = started.elapsed().as_secs_f64() * 1000.0;
        assert!(out.status.success(), "{}", stderr(&out));
        let out = w.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "{}", stderr(&out));
        took
    };
    let (mut first, mut again) = (vec![], vec![]);
    for i in 0..5 {
        let _ = fs::remove_dir_all(&cache);
        first.push(create(&format!("f{i}")));
        again.push(create(&format!("a{i}")));
    }
    let walks = walk_times(&w);
    assert_eq!(walks.len(), 10, "{walks:?}");
    let (walked, cached): (Vec<&(u64, bool, f64)>, Vec<_>) = walks.iter().partition(|(_, c, _)| !c);
    assert_eq!((walked.len(), cached.len()), (5, 5), "{walks:?}");
    assert!(walked.iter().all(|(n, ..)| *n > 20_000), "{walks:?}");
    let walk_ms = median(walked.iter().map(|w| w.2).collect());
    let cached_ms = median(cached.iter().map(|w| w.2).collect());
    println!(
        "image of {} entries: walk median {walk_ms:.2} ms, cached {cached_ms:.2} ms; create median first {:.1} ms, repeated {:.1} ms",
        walked[0].0,
        median(first),
        median(again)
    );
    assert!(cached_ms < walk_ms / 5.0, "{walks:?}");
    assert_eq!(fs::read_dir(&cache).unwrap().count(), 1);
}

#[test]
fn images_from_elsewhere_are_refused_where_an_allowlist_is_set() {
    let w = World::new("img-registry");
    profile_from(
        &w,
        "restricted",
        "registries",
        &[(
            "[scan]\n",
            "[scan]\nallowed_registries = [\"registry.example.com/\", \"docker.io/library/\"]\n",
        )],
    );
    let b = |name: &str, image: Option<&str>| {
        w.bundle_with(name, &["true"], |s| {
            if let Some(i) = image {
                s["annotations"] = json!({"hardrun.dev/image": i});
            }
        })
    };
    let run = |b: &Path, id: &str| {
        w.hr(&[
            "--profile",
            "registries",
            "run",
            "--bundle",
            b.to_str().unwrap(),
            id,
        ])
    };
    let out = run(&b("b1", Some("ghcr.io/acme/app:1")), "g1");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("rule image-scan: image ghcr.io/acme/app:1 (ghcr.io/acme/app:1) is from no allowed registry; [scan] allowed_registries = [\"registry.example.com/\", \"docker.io/library/\"]"),
        "{err}"
    );
    w.assert_nothing_left("g1");
    // Docker Hub's short names are docker.io/library/...; the allowed registry runs
    for (name, image) in [
        ("b2", Some("busybox")),
        ("b3", Some("registry.example.com/team/app:1")),
        // an image nobody names is not judged
        ("b4", None),
    ] {
        let out = run(&b(name, image), &format!("ok-{name}"));
        assert!(out.status.success(), "{image:?}: {}", stderr(&out));
    }
}

/// `hardrun_image_vulnerabilities{severity}`: the counts of the reports of the running
/// containers' images, each image once; promtool accepts the exposition.
#[test]
fn the_monitor_counts_the_running_images_vulnerabilities() {
    let w = World::new("img-metric");
    let cfg = w.dir.join("config.toml");
    let mut text = fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "scan_reports_dir = \"{}\"\n",
        w.dir.join("scans").display()
    ));
    fs::write(&cfg, text).unwrap();
    let out = w.hr(&[
        "scan",
        "import",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scans/trivy-busybox.json")
            .to_str()
            .unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mon = Monitor::start(&w, &w.dir.join("monitor-state.json"), &[]);
    let series = |sev: &str| format!("hardrun_image_vulnerabilities{{severity=\"{sev}\"}}");
    let wait_for = |sev: &str, want: f64| {
        let deadline = Instant::now() + Duration::from_secs(20 * u64::from(time_scale()));
        loop {
            let text = mon.scrape();
            if sample(&text, &series(sev)) == Some(want) {
                return text;
            }
            assert!(Instant::now() < deadline, "{sev} never {want}:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let text = wait_for("critical", 0.0);
    promtool_check(&text);
    // two containers of the image (baseline records the report's counts, refuses nothing)
    for id in ["v1", "v2"] {
        let b = w.bundle_with(id, &["sleep", "1000"], |s| {
            s["annotations"] = json!({"hardrun.dev/image": "busybox:1.36"});
        });
        w.run_detached("baseline", &b, id);
    }
    let text = wait_for("critical", 1.0);
    promtool_check(&text);
    for (sev, n) in [
        ("high", 1.0),
        ("medium", 0.0),
        ("low", 1.0),
        ("unknown", 0.0),
    ] {
        assert_eq!(sample(&text, &series(sev)), Some(n), "{sev}:\n{text}");
    }
    for id in ["v1", "v2"] {
        let out = w.hr(&["delete", "--force", id]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    wait_for("critical", 0.0);
    mon.stop();
}

/// A bad value in the new settings: `profile lint` names the file and the key (or, for a value
/// of the wrong type, its line and column), exits 1.
#[test]
fn bad_image_settings_are_named_by_lint() {
    let w = World::new("img-lint");
    for (edit, want) in [
        (
            ("[scan]\n", "[scan]\nallowed_registries = [\"registry.example.com\"]\n"),
            "bad.toml: scan.allowed_registries[0]: \"registry.example.com\" is not a registry prefix",
        ),
        (
            ("[scan]\n", "[image_files]\nmax_entries = 0\n\n[scan]\n"),
            "bad.toml: image_files.max_entries: must be at least 1",
        ),
        (
            ("nosuid = true", "nosuid = \"yes\""),
            // the line and column of the value, then serde's words
            "invalid type: string \"yes\", expected a boolean",
        ),
    ] {
        let _ = fs::remove_dir_all(w.dir.join("profiles"));
        profile_from(&w, "restricted", "bad", &[edit]);
        let out = w.hr(&["profile", "lint"]);
        assert_eq!(out.status.code(), Some(1), "{want}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{want}: {err}");
        assert!(err.contains("/profiles/bad.toml"), "{err}");
    }
}
