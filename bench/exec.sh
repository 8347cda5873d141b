#!/bin/bash
# exec latency (issue 18 item 8: exec probes are a node's hot path): `exec ID /bin/true` into a
# running busybox container, hardrun (profile restricted: the exec'd process gets the
# container's seccomp filter, capabilities, user namespace) against runc 1.1.5 and crun with the
# same runc-made spec, in one hyperfine run.
#
#   bench/exec.sh [RUNS]      as root; RUNS per runtime (default 60), in ROUNDS (env, default 6)
#                             hyperfine rounds with the order rotated; writes bench/EXEC.md
#   env: HARDRUN (default target/release/hardrun)
#
# crun 1.8.1 refuses this host's hybrid cgroup layout ("cgroups in hybrid mode not supported"):
# everything here runs inside one `unshare -m` in which /sys/fs/cgroup/unified (the hybrid
# layout's cgroup2 mount, which holds no controller) is unmounted, so the three runtimes see
# the same cgroup v1 hierarchies. crun is installed from Debian when missing.
set -euo pipefail
RUNS=${1:-60}
ROUNDS=${ROUNDS:-6}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HR=$(realpath "${HARDRUN:-$REPO/target/release/hardrun}")
[ "$(id -u)" = 0 ] || { echo "exec.sh: run as root" >&2; exit 2; }
[ -x "$HR" ] || { echo "exec.sh: no hardrun binary at $HR (cargo build --release)" >&2; exit 2; }
for p in runc crun hyperfine; do
  command -v "$p" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/dev/null
done
W=$(mktemp -d /var/tmp/hardrun-bench-exec.XXXXXX)
chmod 755 "$W"
export W HR RUNS ROUNDS
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
  # ROUNDS hyperfine runs of RUNS/ROUNDS each, the runtimes in a rotated order each round, so
  # that a change of the load during the bench hits all three alike
  hr=("hardrun restricted" "$HR --root $W/hr exec hr-exec /bin/true")
  rc=("runc" "runc --root $W/runc exec runc-exec /bin/true")
  cr=("crun" "crun --root $W/crun exec crun-exec /bin/true")
  per=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
  for r in $(seq "$ROUNDS"); do
    case $((r % 3)) in
      1) order=(-n "${hr[0]}" "${hr[1]}" -n "${rc[0]}" "${rc[1]}" -n "${cr[0]}" "${cr[1]}") ;;
      2) order=(-n "${rc[0]}" "${rc[1]}" -n "${cr[0]}" "${cr[1]}" -n "${hr[0]}" "${hr[1]}") ;;
      0) order=(-n "${cr[0]}" "${cr[1]}" -n "${hr[0]}" "${hr[1]}" -n "${rc[0]}" "${rc[1]}") ;;
    esac
    hyperfine -N --warmup 3 --runs "$per" --export-json "$W/exec-$r.json" "${order[@]}" \
      >"$W/hyperfine.txt" 2>&1 || { cat "$W/hyperfine.txt" >&2; exit 1; }
  done
' 2>&1 | grep -v "^$" || true
ls "$W"/exec-*.json >/dev/null 2>&1 || { echo "exec.sh: the benchmark did not run" >&2; exit 1; }
python3 - "$W" "$RUNS" "$HR" "$ROUNDS" > "$REPO/bench/EXEC.md" <<'PY'
import glob, json, statistics, subprocess, sys, datetime, os
res = {}
for f in sorted(glob.glob(sys.argv[1] + "/exec-*.json")):
    for r in json.load(open(f))["results"]:
        d = res.setdefault(r["command"], {"times": [], "cpu": []})
        d["times"].extend(r["times"])
        d["cpu"].append(r["user"] + r["system"])  # hyperfine 1.15: the round's mean
res = {k: res[k] for k in ("hardrun restricted", "runc", "crun")}
med = {k: statistics.median(v["times"]) * 1000 for k, v in res.items()}
ver = lambda c: subprocess.run(c, capture_output=True, text=True).stdout.splitlines()[0]
load = open("/proc/loadavg").read().split()[:3]
print("# exec latency: hardrun against runc and crun\n")
print(f"`bench/exec.sh {sys.argv[2]}` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC: {os.cpu_count()} CPUs, "
      f"load {' '.join(load)} at the end; {ver([sys.argv[3], '--version'])}, {ver(['runc', '--version'])}, "
      f"{ver(['crun', '--version'])}. `exec ID /bin/true` into a running busybox `sleep`, "
      f"{len(res['runc']['times'])} runs each in {sys.argv[4]} hyperfine rounds (`-N`, 3 warm-ups each) with the "
      "runtimes in a rotated order, all three inside one "
      "`unshare -m` without `/sys/fs/cgroup/unified` (crun needs it). hardrun under `restricted` "
      "(the exec'd process joins the container's user namespace and gets its seccomp filter and "
      "capabilities), runc and crun with the spec as `runc spec` made it.\n")
cpu = {k: statistics.median(v["cpu"]) * 1000 for k, v in res.items()}
print("| runtime | median ms | min ms | p90 ms | ratio to runc | ratio to crun | CPU ms (user+sys) | CPU ratio to runc |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for k, v in res.items():
    t = sorted(x * 1000 for x in v["times"])
    p90 = t[min(len(t) - 1, int(0.9 * len(t)))]
    print(f"| {k} | {med[k]:.1f} | {t[0]:.1f} | {p90:.1f} | {med[k] / med['runc']:.2f} | {med[k] / med['crun']:.2f} "
          f"| {cpu[k]:.1f} | {cpu[k] / cpu['runc']:.2f} |")
print("\nCPU is the median over the rounds of hyperfine's mean user + system time of the runtime and every process it waited for (the "
      "exec'd process included); on this 2-CPU machine under load, wall time also holds the waits "
      "for a CPU at each hand-over between processes (hardrun: runtime, its re-exec for the binary "
      "protection, libcontainer's intermediate and init processes).")
PY
cat "$REPO/bench/EXEC.md"
