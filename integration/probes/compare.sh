#!/bin/bash
# Runs the in-container probes (integration/probes) under hardrun's restricted, baseline and
# ci-runner profiles and under plain runc with Docker's default spec (Docker's 14 capabilities,
# Docker's default seccomp profile rendered for them, Docker's masked/read-only paths and device
# rules), and writes the comparison table to docs/probes.md.
#
# Every runtime gets the same caller spec: what dockerd hands a runtime for `docker run busybox`
# (root, writable root filesystem, 14 capabilities, no no-new-privileges, no limits; RLIMIT_NOFILE
# 1024, since this host cannot raise it: CAP_SYS_RESOURCE is not in its bounding set). hardrun
# rewrites it per profile; runc runs it as given, plus Docker's seccomp profile.
#
#   integration/probes/compare.sh            (as root, from anywhere in the repository)
#   HARDRUN_BIN=… RUNC=… OUT=docs/probes.md integration/probes/compare.sh
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HARDRUN=${HARDRUN_BIN:-$REPO/target/debug/hardrun}
RUNC=${RUNC:-/usr/sbin/runc}
OUT=${OUT:-$REPO/docs/probes.md}
SECCOMP_TEMPLATE=${SECCOMP_TEMPLATE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/fixtures/seccomp/moby-default-seccomp.json}
WORK=$(mktemp -d /tmp/hardrun-probes.XXXXXX)

[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root" >&2; exit 1; }
[ -x "$HARDRUN" ] || { echo "compare.sh: $HARDRUN missing: cargo build" >&2; exit 1; }
[ -x "$RUNC" ] || { echo "compare.sh: runc missing ($RUNC)" >&2; exit 1; }
[ -f "$SECCOMP_TEMPLATE" ] || { echo "compare.sh: $SECCOMP_TEMPLATE missing" >&2; exit 1; }

cleanup() {
    for id in $(ls "$WORK/hr-state" 2>/dev/null); do
        "$HARDRUN" --root "$WORK/hr-state" delete --force "$id" >/dev/null 2>&1 || true
    done
    for id in $(ls "$WORK/runc-state" 2>/dev/null); do
        "$RUNC" --root "$WORK/runc-state" delete --force "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "building the probe…" >&2
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release --locked \
    --manifest-path "$REPO/integration/probes/Cargo.toml" --target x86_64-unknown-linux-gnu
PROBE=$REPO/integration/probes/target/x86_64-unknown-linux-gnu/release/probe

# a busybox root filesystem with the probe and a setuid-root copy of it
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS"/{bin,proc,sys,dev,tmp,etc,root,home/app,run,var/tmp}
chmod 1777 "$ROOTFS/tmp"
cp /bin/busybox "$ROOTFS/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$ROOTFS/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
install -m 0755 "$PROBE" "$ROOTFS/probe"
install -m 4755 -o root -g root "$PROBE" "$ROOTFS/probe-suid"

# the caller's spec (Docker's default for `docker run`), and the same with Docker's seccomp
python3 - "$WORK" "$ROOTFS" "$SECCOMP_TEMPLATE" <<'EOF'
import json, os, platform, sys
work, rootfs, template = sys.argv[1:4]
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
dev = lambda t, ma, mi, acc="rwm": {"allow": True, "type": t, "major": ma, "minor": mi, "access": acc}
spec = {
    "ociVersion": "1.0.2",
    "process": {
        "terminal": False, "user": {"uid": 0, "gid": 0},
        "args": ["/probe"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "cwd": "/",
        "capabilities": {k: caps for k in ["bounding", "effective", "permitted"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": False,
    },
    "root": {"path": rootfs, "readonly": False},
    "hostname": "probes",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    ],
    "linux": {
        "resources": {"devices": [
            {"allow": False, "access": "rwm"},
            dev("c", None, None, "m"), dev("b", None, None, "m"),
            dev("c", 1, 3), dev("c", 1, 8), dev("c", 1, 7), dev("c", 5, 0), dev("c", 1, 5),
            dev("c", 1, 9), dev("c", 5, 1), dev("c", 136, None), dev("c", 5, 2), dev("c", 10, 200),
        ]},
        "namespaces": [{"type": t} for t in ["mount", "network", "uts", "pid", "ipc", "cgroup"]],
        "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                        "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
}
for d in spec["linux"]["resources"]["devices"]:
    for k in ("major", "minor"):
        if k in d and d[k] is None:
            del d[k]

# Docker's seccomp template rendered the way dockerd renders it for this host
t = json.load(open(template))
kernel = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])
arch = {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}
out = {"defaultAction": t["defaultAction"], "defaultErrnoRet": t.get("defaultErrnoRet"),
       "architectures": [arch["architecture"]] + arch["subArchitectures"], "syscalls": []}
for s in t["syscalls"]:
    inc, exc = s.get("includes") or {}, s.get("excludes") or {}
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        continue
    if inc.get("arches") and "amd64" not in inc["arches"]:
        continue
    if inc.get("minKernel") and tuple(int(x) for x in inc["minKernel"].split(".")) > kernel:
        continue
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        continue
    if exc.get("arches") and "amd64" in exc["arches"]:
        continue
    r = {"names": s["names"], "action": s["action"]}
    if s.get("args"):
        r["args"] = [dict(a, valueTwo=a.get("valueTwo", 0)) for a in s["args"]]
    if s.get("errnoRet") is not None:
        r["errnoRet"] = s["errnoRet"]
    out["syscalls"].append(r)
for name, seccomp in [("caller", None), ("docker", out)]:
    b = os.path.join(work, "bundle-" + name)
    os.makedirs(b, exist_ok=True)
    s = json.loads(json.dumps(spec))
    if seccomp:
        s["linux"]["seccomp"] = seccomp
    json.dump(s, open(os.path.join(b, "config.json"), "w"), indent=2)
EOF

printf 'default_profile = "restricted"\naudit_log = ""\n' >"$WORK/config.toml"
export HARDRUN_CONFIG=$WORK/config.toml
unset HARDRUN_PROFILE HARDRUN_MODE

for p in restricted baseline ci-runner; do
    echo "probing hardrun --profile $p…" >&2
    "$HARDRUN" --root "$WORK/hr-state" --profile "$p" run --bundle "$WORK/bundle-caller" "probe-$p" \
        </dev/null >"$WORK/$p.json" 2>"$WORK/$p.err" || true
done
echo "probing runc with Docker's default spec…" >&2
"$RUNC" --root "$WORK/runc-state" run --bundle "$WORK/bundle-docker" probe-docker \
    </dev/null >"$WORK/docker.json" 2>"$WORK/docker.err" || true

mkdir -p "$(dirname "$OUT")"
python3 - "$WORK" "$REPO" "$OUT" "$("$RUNC" --version | head -1)" "$(uname -r)" <<'EOF'
import json, os, re, sys
work, repo, out, runc_version, kernel = sys.argv[1:6]
cols = [("restricted", "hardrun restricted"), ("baseline", "hardrun baseline"),
        ("ci-runner", "hardrun ci-runner"), ("docker", "runc + Docker default")]
res = {}
for key, _ in cols:
    try:
        res[key] = json.load(open(os.path.join(work, key + ".json")))
    except Exception as e:
        err = open(os.path.join(work, key + ".err")).read().strip()
        sys.exit(f"compare.sh: no report from {key}: {e}: {err}")

# the reason for each notable outcome, from the expected tables
why = {}
try:
    import tomllib
    for key in ("restricted", "baseline", "ci-runner"):
        for name, e in tomllib.load(open(os.path.join(repo, "integration/probes/expected", key + ".toml"), "rb")).items():
            if e.get("why"):
                why.setdefault(name, []).append((key, e["why"]))
except (ModuleNotFoundError, FileNotFoundError):
    pass

def cell(r):
    o, d = r["outcome"], r["detail"]
    short = d if len(d) <= 40 else d[:37] + "…"
    short = short.replace("|", "\\|")
    return f"**{o}** ({short})" if o != "blocked" else f"blocked ({short})"

names = list(res["restricted"]["probes"])
lines = [
    "# What a container can do: hardrun's profiles vs Docker's default under runc",
    "",
    "Generated by `integration/probes/compare.sh`; do not edit by hand. The probe program",
    "(`integration/probes/src/main.rs`) runs as the container's process and attempts each move;",
    "**succeeded** means the move got through (for `kexec-load` and `kernel-module`: got past the",
    "kernel's permission check; for host files: opened for writing, nothing written; for the",
    "bombs: reached the probe's own cap — 5000 processes, 1536 MiB — with nothing stopping it).",
    "",
    "Every runtime was handed the same spec, what dockerd hands a runtime for `docker run`: root,",
    "a writable root filesystem, Docker's 14 capabilities, no `noNewPrivileges`, no limits,",
    "Docker's masked and read-only paths and device rules. hardrun rewrote it per profile; runc",
    "ran it as given plus Docker's default seccomp profile (`moby-default-seccomp.json`, rendered",
    "for those capabilities and this kernel). The test `tests/probes.rs` holds hardrun's columns",
    "to `integration/probes/expected/*.toml`.",
    "",
    f"Host: kernel {kernel}, {runc_version}, cgroup v1.",
    "",
    "| probe | " + " | ".join(c for _, c in cols) + " |",
    "|---|" + "---|" * len(cols),
]
for n in names:
    lines.append(f"| `{n}` | " + " | ".join(cell(res[k]["probes"][n]) for k, _ in cols) + " |")
lines += ["", "Process context of each run (from `/proc/self/status`):", "",
          "| | uid | CapEff | NoNewPrivs | Seccomp |", "|---|---|---|---|---|"]
for k, c in cols:
    x = res[k]["context"]
    lines.append(f"| {c} | {x['uid']} | `{x['CapEff']}` | {x['NoNewPrivs']} | {x['Seccomp']} |")

diff = lambda a, b: [n for n in names if res[a]["probes"][n]["outcome"] == "blocked" and res[b]["probes"][n]["outcome"] != "blocked"]
lines += ["", "## Differences", "",
          "`baseline` keeps what Docker allows a root container (writable root, CHOWN, MKNOD, setuid",
          "binaries) and adds a pids limit and no NET_RAW; `restricted` and `ci-runner` add a non-root",
          "user, a read-only root, no capabilities in effect, no-new-privileges and memory limits. The",
          "runtime binary (CVE-2019-5736 class) is probed beyond this table in `tests/probes.rs`: from a",
          "container sharing the pid namespace of a *created* container (whose pid 1 is hardrun's",
          "init) and during `exec`s; `tests/protection.rs` replays the attack from the host side.", ""]
lines.append("Blocked by hardrun restricted, not by runc with Docker's default: " +
             (", ".join(f"`{n}`" for n in diff("restricted", "docker")) or "none") + ".")
lines.append("")
lines.append("Blocked by hardrun baseline, not by runc with Docker's default: " +
             (", ".join(f"`{n}`" for n in diff("baseline", "docker")) or "none") + ".")
lines.append("")
lines.append("Blocked by runc with Docker's default, not by hardrun restricted: " +
             (", ".join(f"`{n}`" for n in diff("docker", "restricted")) or "none") + ".")
lines.append("")
lines.append("Blocked by runc with Docker's default, not by hardrun baseline: " +
             (", ".join(f"`{n}`" for n in diff("docker", "baseline")) or "none") + ".")
if why:
    lines += ["", "## Notes from the expected tables", ""]
    for n in names:
        ws = why.get(n, [])
        if len(ws) == 3 and len({w for _, w in ws}) == 1:
            lines.append(f"- `{n}` — all three profiles: {ws[0][1]}")
        else:
            for k, w in ws:
                lines.append(f"- `{n}` — {k}: {w}")
open(out, "w").write("\n".join(lines) + "\n")
print(f"wrote {out}", file=sys.stderr)
EOF
