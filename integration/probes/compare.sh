#!/bin/bash
# Writes docs/probes.md: what the in-container probes (integration/probes) got through under
# hardrun, per profile, client spec and door (init / exec), next to plain runc running Docker's
# own spec (with Docker's own seccomp profile) through the same two doors.
#
# hardrun's side is tests/probes.rs itself (probes_match_the_expected_table_per_profile_spec_
# and_door), run with HARDRUN_PROBES_OUT so it keeps every report: the captured client specs
# (tests/fixtures/specs/), each probed as the container's init and through exec, the runtime
# called from /. runc's side: Docker's captured spec (docker.json) with the same test-local
# rewrites (rootfs, host files, cgroup path, no hook), `runc run -d` with the probe as init, then
# `runc exec --process` with Docker's captured exec process (docker.exec.json).
#
#   integration/probes/compare.sh            (as root, from anywhere in the repository)
#   RUNC=… OUT=docs/probes.md integration/probes/compare.sh
# The test's outcome does not stop the comparison: the table shows what happened.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
RUNC=${RUNC:-/usr/sbin/runc}
OUT=${OUT:-$REPO/docs/probes.md}
SECCOMP_TEMPLATE=${SECCOMP_TEMPLATE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/fixtures/seccomp/moby-default-seccomp.json}
WORK=$(mktemp -d /tmp/hardrun-probes.XXXXXX)
CG=hrprobes-cmp-$$

[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root" >&2; exit 1; }
[ -x "$RUNC" ] || { echo "compare.sh: runc missing ($RUNC)" >&2; exit 1; }

cleanup() {
    for id in $(ls "$WORK/runc-state" 2>/dev/null); do
        "$RUNC" --root "$WORK/runc-state" delete --force "$id" >/dev/null 2>&1 || true
    done
    for d in /sys/fs/cgroup/*/"$CG"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "running tests/probes.rs (keeps its reports)…" >&2
(cd "$REPO" && HARDRUN_PROBES_OUT=$WORK/hardrun cargo test --quiet --test probes \
    probes_match_the_expected_table_per_profile_spec_and_door >"$WORK/test.log" 2>&1) ||
    echo "compare.sh: the test failed (see the differences below); the table shows what happened" >&2
ls "$WORK/hardrun"/*.json >/dev/null 2>&1 || { tail -30 "$WORK/test.log" >&2; exit 1; }
sed -n '/^== differences/,/^$/p' "$WORK/test.log" >&2 || true

PROBE=$REPO/integration/probes/target/x86_64-unknown-linux-gnu/release/probe
[ -x "$PROBE" ] || { echo "compare.sh: $PROBE missing" >&2; exit 1; }

# runc with Docker's own spec: a busybox root filesystem with the probe and a setuid-root copy
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS"/{bin,proc,sys,dev,tmp,etc,root,home/app,run,var/tmp,out}
chmod 1777 "$ROOTFS/tmp"
cp /bin/busybox "$ROOTFS/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$ROOTFS/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
install -m 0755 "$PROBE" "$ROOTFS/probe"
install -m 4755 -o root -g root "$PROBE" "$ROOTFS/probe-suid"
mkdir -m 0777 "$WORK/out"

python3 - "$REPO" "$WORK" "$ROOTFS" "$CG" <<'EOF'
import json, os, sys
repo, work, rootfs, cg = sys.argv[1:5]
fx = lambda n: json.load(open(os.path.join(repo, "tests/fixtures/specs", n)))
s = fx("docker.json")
s["root"]["path"] = rootfs
host = os.path.join(work, "hostfiles")
os.makedirs(host, exist_ok=True)
for m in s["mounts"]:
    if m.get("type") == "bind" and m["source"].startswith("/"):
        local = os.path.join(host, os.path.basename(m["source"]))
        open(local, "w").write({"hosts": "127.0.0.1\tlocalhost\n", "hostname": "probes\n"}.get(os.path.basename(local), ""))
        m["source"] = local
s["mounts"].append({"destination": "/out", "type": "bind", "source": os.path.join(work, "out"), "options": ["rbind", "rw"]})
s.pop("hooks", None)
s["linux"]["cgroupsPath"] = f"/{cg}/runc-docker"
s["process"]["args"] = ["/probe", "--out", "/out/init.json", "--hold"]
b = os.path.join(work, "bundle")
os.makedirs(b, exist_ok=True)
json.dump(s, open(os.path.join(b, "config.json"), "w"), indent=2)
p = fx("docker.exec.json")
p["args"] = ["/probe", "--out", "/out/exec.json", "--hold"]
json.dump(p, open(os.path.join(work, "process.json"), "w"), indent=2)
EOF

wait_for() { for _ in $(seq 1 3000); do [ -s "$1" ] && return 0; sleep 0.02; done; return 1; }
echo "probing runc with Docker's spec, init and exec…" >&2
(cd / && "$RUNC" --root "$WORK/runc-state" run -d --bundle "$WORK/bundle" runc-docker </dev/null >"$WORK/runc.out" 2>&1) ||
    { cat "$WORK/runc.out" >&2; exit 1; }
wait_for "$WORK/out/init.json" || { echo "compare.sh: no report from runc's init" >&2; exit 1; }
INIT_PID=$("$RUNC" --root "$WORK/runc-state" state runc-docker | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
(cd / && "$RUNC" --root "$WORK/runc-state" exec --process "$WORK/process.json" --detach \
    --pid-file "$WORK/exec.pid" runc-docker </dev/null >>"$WORK/runc.out" 2>&1) || { cat "$WORK/runc.out" >&2; exit 1; }
wait_for "$WORK/out/exec.json" || { echo "compare.sh: no report from runc's exec" >&2; exit 1; }
view() { awk '/^(Uid|Seccomp|NoNewPrivs|CapEff):/ { v[$1] = $2 } END { printf "uid %s Seccomp %s NoNewPrivs %s CapEff %s", v["Uid:"], v["Seccomp:"], v["NoNewPrivs:"], v["CapEff:"] }' "/proc/$1/status"; }
mkdir -p "$WORK/runc"
for door in init exec; do
    pid=$INIT_PID; [ $door = exec ] && pid=$(cat "$WORK/exec.pid")
    python3 - "$WORK/out/$door.json" "$(view "$pid")" "$door" >"$WORK/runc/runc.docker.$door.json" <<'EOF'
import json, sys
print(json.dumps({"profile": "runc", "spec": "docker", "door": sys.argv[3], "host": sys.argv[2],
                  "report": json.load(open(sys.argv[1])), "error": None}))
EOF
done
"$RUNC" --root "$WORK/runc-state" delete --force runc-docker

mkdir -p "$(dirname "$OUT")"
python3 - "$WORK" "$REPO" "$OUT" "$("$RUNC" --version | head -1)" "$(uname -r)" <<'EOF'
import glob, json, os, sys, tomllib
work, repo, out, runc_version, kernel = sys.argv[1:6]
runs = {}
for f in glob.glob(os.path.join(work, "hardrun", "*.*.*.json")) + glob.glob(os.path.join(work, "runc", "*.json")):
    d = json.load(open(f))
    runs[(d["profile"], d["spec"], d["door"])] = d
profiles = ["restricted", "baseline", "ci-runner"]
expected = {p: tomllib.load(open(os.path.join(repo, "integration/probes/expected", p + ".toml"), "rb")) for p in profiles}
specs_of = {p: sorted({s for (q, s, _) in runs if q == p and s != "rbinds"}, key=lambda s: ["runc", "docker", "podman", "ctr", "cri"].index(s)) for p in profiles}
names = list(expected["restricted"])  # the table's order

def outcome(d, n):
    if d is None:
        return None
    if d["report"] is None:
        return ("error", d["error"] or "no report")
    p = d["report"]["probes"].get(n)
    return (p["outcome"], p["detail"]) if p else None

def want(profile, n, spec, door):
    e = expected[profile].get(n, {})
    for w in e.get("when", []):
        if w.get("spec", spec) == spec and w.get("door", door) == door:
            return w
    return e

def short(d, k=38):
    d = d.replace("|", "\\|")
    return d if len(d) <= k else d[:k - 1] + "…"

def cell(profile, n, door):
    specs = ["rbinds"] if expected[profile].get(n, {}).get("extra") else specs_of[profile]
    got = {s: outcome(runs.get((profile, s, door)), n) for s in specs}
    got = {s: g for s, g in got.items() if g}
    if not got:
        return "–"
    bad = [s for s, g in got.items() if g[0] != "blocked"]
    if not bad:
        details = {g[1] for g in got.values()}
        return f"blocked ({short(details.pop())})" if len(details) == 1 else "blocked"
    where = "every spec" if len(bad) == len(got) and len(got) > 1 else ", ".join(bad)
    return f"**{got[bad[0]][0]}** ({where}: {short(got[bad[0]][1], 30)})"

cols = [(p, door) for p in profiles for door in ("init", "exec")]
L = [
    "# What a container can do: hardrun, per profile, client spec and door, vs runc with Docker's spec",
    "",
    "Generated by `integration/probes/compare.sh`; do not edit by hand. The probe program",
    "(`integration/probes/src/main.rs`) attempts each move from inside a container; **succeeded**",
    "means it got through (for `kexec-load` and `kernel-module`: past the kernel's permission check;",
    "for host files: opened for writing, nothing written; for the bombs: reached the probe's own cap",
    "— 5000 processes, 1536 MiB — with nothing stopping it).",
    "",
    "Every run starts from a client's **own default spec**, captured from the real client",
    "(`tests/fixtures/specs/`: `runc spec`, `ctr run`, `docker run --network none`, `podman run`, a",
    "containerd CRI pod container), and probes through **both doors**: as the container's init",
    "(`create` + `start`) and through `exec` into the running container, in the client's shape",
    "(`exec --process FILE --detach` with the process JSON the client wrote; runc's: `exec ID ARGS`).",
    "hardrun is called from `/`, not from the bundle. `restricted` runs every client's spec,",
    "`baseline` and `ci-runner` Docker's; the `write-*-rbind` probes run under runc's spec plus",
    "read-only rbinds of the host's `/sys/fs/cgroup` and `/dev`. A hardrun cell is `blocked` when",
    "every spec of that profile was; otherwise it names the specs the move got through under.",
    "The last two columns: runc 1.1 running Docker's captured spec as it is (Docker's 14",
    "capabilities, Docker's own seccomp profile) and Docker's captured exec process.",
    "`tests/probes.rs` holds hardrun's outcomes to `integration/probes/expected/*.toml`; the",
    "differences that fixes of issue 12 still to be merged close are its `KNOWN_OPEN` list.",
    "",
    f"Host: kernel {kernel}, {runc_version}, cgroup v1.",
    "",
    "| probe | " + " | ".join(f"{p} {d}" for p, d in cols) + " | runc + Docker init | runc + Docker exec |",
    "|---|" + "---|" * (len(cols) + 2),
]
for n in names + [k for k in expected["restricted"] if k not in names]:
    row = [cell(p, n, d) for p, d in cols]
    for door in ("init", "exec"):
        g = outcome(runs.get(("runc", "docker", door)), n)
        row.append("–" if g is None else (f"blocked ({short(g[1])})" if g[0] == "blocked" else f"**{g[0]}** ({short(g[1])})"))
    L.append(f"| `{n}` | " + " | ".join(row) + " |")

L += ["", "## The processes, as the host's `/proc/<pid>/status` shows them", "",
      "| profile | spec | init | exec |", "|---|---|---|---|"]
for p in profiles + ["runc"]:
    for s in (specs_of[p] + ["rbinds"] if p != "runc" else ["docker"]):
        i, e = runs.get((p, s, "init")), runs.get((p, s, "exec"))
        if i or e:
            L.append(f"| {p} | {s} | {(i or {}).get('host') or '–'} | {(e or {}).get('host') or '–'} |")

diffs = json.load(open(os.path.join(work, "hardrun", "diffs.json")))
ITEMS = {
    "1": "exec has no seccomp filter: the exec'd process runs with Seccomp 0",
    "5": "read-only is not recursive: submounts of a read-only (r)bind stay writable",
    "7": "ptrace, process_vm_* and name_to_handle_at are allowed without the capability Docker asks for",
    "1, 7": "no filter through exec (1), and the filter allows them without the capability (7)",
    "12": "a syscall the filter does not know gets EPERM, not ENOSYS",
}
def specs_text(specs, of):
    return "every spec" if len(specs) == len(of) and len(of) > 1 else ", ".join(specs)

L += ["", "## What gets through, and why", "",
      "Per profile and door: the moves allowed on purpose (the reason is the expected table's),",
      "and the differences from what the profile demands, grouped by the item of issue 12 whose",
      "fix closes them (`tests/probes.rs` `KNOWN_OPEN`). Under `restricted` the issue demands that",
      "nothing but `bind-port-80` gets through, as init and through exec, for every client's spec.", ""]
for p in profiles:
    for door in ("init", "exec"):
        allowed = []
        for n in expected[p]:
            specs = ["rbinds"] if expected[p][n].get("extra") else specs_of[p]
            ok = [s for s in specs if (g := outcome(runs.get((p, s, door)), n)) and g[0] != "blocked"
                  and want(p, n, s, door).get("outcome") == "succeeded"]
            if ok:
                allowed.append(f"`{n}` ({specs_text(ok, specs)}): {want(p, n, ok[0], door).get('why', '')}")
        rows = [d for d in diffs if d["profile"] == p and d["door"] == door]
        by_item = {}
        for d in rows:
            by_item.setdefault(d["known"] or "not known", {}).setdefault(d["probe"], []).append(d)
        L.append(f"### {p}, {door}")
        L.append("")
        L.append("Allowed on purpose:" + ("" if allowed else " nothing."))
        L += [f"- {a}" for a in allowed]
        L.append("")
        if not by_item:
            L += ["Open: nothing.", ""]
            continue
        L.append("Open:")
        for item in sorted(by_item):
            probes = by_item[item]
            parts = []
            for n, ds in probes.items():
                of = ["rbinds"] if expected[p].get(n, {}).get("extra") else specs_of[p]
                got = ds[0]["actual"] if ds[0]["actual"] != "blocked" else f"blocked with {ds[0]['detail']}"
                parts.append(f"`{n}` ({specs_text([d['spec'] for d in ds], of)}: {got}, demanded {ds[0]['expected']})")
            head = f"item {item} — {ITEMS.get(item, '')}" if item in ITEMS else item.upper()
            L.append(f"- {head}: " + "; ".join(parts))
        L.append("")

L += ["## Notes", "",
      "- The specs differ where it shows: Docker's sets `net.ipv4.ip_unprivileged_port_start = 0`",
      "  (a namespaced sysctl of Kubernetes' safe set, kept by every profile), so under `ci-runner`,",
      "  which grants no capability, a process still binds port 80 of the container's own network",
      "  namespace; podman's asks for a pids limit of 2048, kept under `restricted` (default 1024,",
      "  ceiling 8192); ctr's and the CRI's carry no seccomp profile and no `/sys/fs/cgroup` mount",
      "  (ctr) — hardrun's filter and read-only paths apply to them all the same.",
      "- The runtime binary (CVE-2019-5736 class) and the runtime's descriptors (CVE-2024-21626",
      "  class) are probed beyond this table in `tests/probes.rs`: from a container sharing the pid",
      "  namespace of a *created* container (whose pid 1 is hardrun's init) and during `exec`s. A",
      "  root neighbour can list the numbers of the descriptors the created init holds (the kernel",
      "  lets it read the directory), but neither read their targets nor open them.",
      ""]
open(out, "w").write("\n".join(L))
print(f"wrote {out}", file=sys.stderr)
EOF
