#!/bin/bash
# exec latency (issue 18 item 8: exec probes are a node's hot path): `exec ID /bin/true` into a
# running busybox container, hardrun (profile restricted: the exec'd process gets the
# container's seccomp filter, capabilities, user namespace) against runc 1.1.5 and crun with the
# same runc-made spec, in one hyperfine run.
#
#   bench/exec.sh [RUNS]      as root; RUNS per runtime (default 60); writes bench/EXEC.md
#   env: HARDRUN (default target/release/hardrun)
#
# crun 1.8.1 refuses this host's hybrid cgroup layout ("cgroups in hybrid mode not supported"):
# everything here runs inside one `unshare -m` in which /sys/fs/cgroup/unified (the hybrid
# layout's cgroup2 mount, which holds no controller) is unmounted, so the three runtimes see
# the same cgroup v1 hierarchies. crun is installed from Debian when missing.
set -euo pipefail
RUNS=${1:-60}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HR=$(realpath "${HARDRUN:-$REPO/target/release/hardrun}")
[ "$(id -u)" = 0 ] || { echo "exec.sh: run as root" >&2; exit 2; }
[ -x "$HR" ] || { echo "exec.sh: no hardrun binary at $HR (cargo build --release)" >&2; exit 2; }
for p in runc crun hyperfine; do
  command -v "$p" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/dev/null
done
W=$(mktemp -d /var/tmp/hardrun-bench-exec.XXXXXX)
chmod 755 "$W"
export W HR RUNS
export HARDRUN_CONFIG=$W/config.toml
cat > "$W/config.toml" <<TOML
default_profile = "restricted"
audit_log = "$W/audit.jsonl"
forensics_dir = "$W/forensics"
TOML
mkdir -p "$W/b/rootfs/bin" "$W/b/rootfs/"{proc,dev,sys,tmp,etc}
cp /bin/busybox "$W/b/rootfs/bin/"
for a in sh sleep true id; do ln -s busybox "$W/b/rootfs/bin/$a"; done
(cd "$W/b" && runc spec)
python3 - "$W/b/config.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s["process"]["terminal"] = False
s["process"]["args"] = ["sleep", "100000"]
json.dump(s, open(p, "w"))
PY
trap 'rm -rf "$W"' EXIT
unshare -m bash -euo pipefail -c '
  umount /sys/fs/cgroup/unified 2>/dev/null || true
  cleanup() {
    "$HR" --root "$W/hr" delete --force hr-exec >/dev/null 2>&1 || true
    runc --root "$W/runc" delete --force runc-exec >/dev/null 2>&1 || true
    crun --root "$W/crun" delete --force crun-exec >/dev/null 2>&1 || true
  }
  trap cleanup EXIT
  "$HR" --root "$W/hr" run -d --bundle "$W/b" hr-exec </dev/null >/dev/null 2>&1
  runc --root "$W/runc" run -d --bundle "$W/b" runc-exec </dev/null >/dev/null
  crun --root "$W/crun" run -d --bundle "$W/b" crun-exec </dev/null >/dev/null
  # each exec really runs, as what each runtime makes of the spec
  echo "uid in the exec (hardrun, runc, crun): $("$HR" --root "$W/hr" exec hr-exec id -u) $(runc --root "$W/runc" exec runc-exec id -u) $(crun --root "$W/crun" exec crun-exec id -u)"
  hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$W/exec.json" \
    -n "hardrun restricted" "$HR --root $W/hr exec hr-exec /bin/true" \
    -n "runc" "runc --root $W/runc exec runc-exec /bin/true" \
    -n "crun" "crun --root $W/crun exec crun-exec /bin/true" >"$W/hyperfine.txt" 2>&1 \
    || { cat "$W/hyperfine.txt" >&2; exit 1; }
' 2>&1 | grep -v "^$" || true
[ -s "$W/exec.json" ] || { echo "exec.sh: the benchmark did not run" >&2; exit 1; }
python3 - "$W/exec.json" "$RUNS" "$HR" > "$REPO/bench/EXEC.md" <<'PY'
import json, statistics, subprocess, sys, datetime, os
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: statistics.median(v["times"]) * 1000 for k, v in res.items()}
ver = lambda c: subprocess.run(c, capture_output=True, text=True).stdout.splitlines()[0]
load = open("/proc/loadavg").read().split()[:3]
print("# exec latency: hardrun against runc and crun\n")
print(f"`bench/exec.sh {sys.argv[2]}` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC: {os.cpu_count()} CPUs, "
      f"load {' '.join(load)} at the end; {ver([sys.argv[3], '--version'])}, {ver(['runc', '--version'])}, "
      f"{ver(['crun', '--version'])}. `exec ID /bin/true` into a running busybox `sleep`, "
      f"{sys.argv[2]} runs each after 5 warm-ups, one hyperfine run (`-N`), all three runtimes inside one "
      "`unshare -m` without `/sys/fs/cgroup/unified` (crun needs it). hardrun under `restricted` "
      "(the exec'd process joins the container's user namespace and gets its seccomp filter and "
      "capabilities), runc and crun with the spec as `runc spec` made it.\n")
print("| runtime | median ms | min ms | p90 ms | ratio to runc | ratio to crun |")
print("|---|---:|---:|---:|---:|---:|")
for k, v in res.items():
    t = sorted(x * 1000 for x in v["times"])
    p90 = t[min(len(t) - 1, int(0.9 * len(t)))]
    print(f"| {k} | {med[k]:.1f} | {t[0]:.1f} | {p90:.1f} | {med[k] / med['runc']:.2f} | {med[k] / med['crun']:.2f} |")
PY
cat "$REPO/bench/EXEC.md"
