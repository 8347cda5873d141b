#!/bin/bash
# The monitor's numbers (issue 15): tripwire detection latency, events per second without
# loss, what armed tripwires cost a benign syscall-heavy workload, the monitor's memory with
# 100 containers. Real containers, a real `hardrun monitor`, the static probe as the workload.
#
#   bench/monitor.sh                 as root; writes nothing outside a temporary directory
#   env: HARDRUN (default target/release/hardrun), PROBE (default the static probe's release
#        build), LAT_N (latency samples, default 2000, at LAT_RATE/s, default 200),
#        STORM_RATE (default 1000) and STORM_SECS (default 10), SPIN_N (benign syscalls per
#        run, default 2000000) and SPIN_RUNS (runs with and without the monitor, default 7),
#        CONTAINERS (default 100)
#
# 1. latency: a restricted container makes LAT_N unshare(CLONE_NEWUSER) calls (a tripwire: the
#    filter answers through the monitor, EPERM), each stamped with CLOCK_REALTIME just before
#    the call; latency = the event's `time` minus that stamp (attempt -> event recorded, the
#    container's and the monitor's clocks are the host's). Also the monitor's own histogram
#    (notification received -> event written).
# 2. throughput: STORM_RATE attempts a second for STORM_SECS seconds, paced; every attempt must
#    be refused and be one event, and no sink may drop one.
# 3. benign cost: SPIN_N getpid calls in a restricted container, SPIN_RUNS times with the
#    monitor running (tripwires armed: SCMP_ACT_NOTIFY rules) and as many without (the same
#    syscalls plain SCMP_ACT_ERRNO), alternating; the probe reports its loop's CPU time (user +
#    system, what the filter costs whatever else the machine runs) and wall time.
# 4. memory: a fresh monitor, then CONTAINERS containers under baseline (each armed, one notify
#    descriptor each), drift scans every second; the monitor's VmRSS and VmHWM after 10 s.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
HR=$(realpath "${HARDRUN:-$REPO/target/release/hardrun}")
PROBE=$(realpath -m "${PROBE:-$REPO/integration/probes/target/x86_64-unknown-linux-gnu/release/probe}")
LAT_N=${LAT_N:-2000}
LAT_RATE=${LAT_RATE:-200}
STORM_RATE=${STORM_RATE:-1000}
STORM_SECS=${STORM_SECS:-10}
SPIN_N=${SPIN_N:-2000000}
SPIN_RUNS=${SPIN_RUNS:-7}
CONTAINERS=${CONTAINERS:-100}
[ "$(id -u)" = 0 ] || { echo "monitor.sh: run as root" >&2; exit 2; }
[ -x "$HR" ] || { echo "monitor.sh: no hardrun binary at $HR (cargo build --release)" >&2; exit 2; }
if [ ! -x "$PROBE" ]; then
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked -q \
    --manifest-path "$REPO/integration/probes/Cargo.toml" --target x86_64-unknown-linux-gnu
fi
W=$(mktemp -d /var/tmp/hardrun-bench-monitor.XXXXXX)
chmod 755 "$W"
MON=
cleanup() {
  [ -n "$MON" ] && kill "$MON" 2>/dev/null && wait "$MON" 2>/dev/null
  for id in $("$HR" --root "$W/state" list -q 2>/dev/null); do
    "$HR" --root "$W/state" delete --force "$id" >/dev/null 2>&1 || true
  done
  rm -rf "$W"
}
trap cleanup EXIT
export HARDRUN_CONFIG=$W/config.toml
cat > "$W/config.toml" <<TOML
default_profile = "restricted"
audit_log = "$W/audit.jsonl"
forensics_dir = "$W/forensics"
incidents_dir = "$W/incidents"
TOML
mkdir -p "$W/rootfs/bin" "$W/rootfs/"{proc,dev,sys,tmp,etc}
cp /bin/busybox "$W/rootfs/bin/"
for a in sh sleep cat; do ln -s busybox "$W/rootfs/bin/$a"; done
install -m 0755 "$PROBE" "$W/rootfs/probe"
# bundle NAME ARGS…: a runc-style spec on the shared rootfs, no terminal
bundle() {
  local b=$W/b-$1; shift
  mkdir -p "$b"
  (cd "$b" && "$HR" spec)
  python3 - "$b/config.json" "$W/rootfs" "$@" <<'PY'
import json, sys
p, root, args = sys.argv[1], sys.argv[2], sys.argv[3:]
s = json.load(open(p))
s["process"]["terminal"] = False
s["process"]["args"] = args
s["root"] = {"path": root, "readonly": True}
json.dump(s, open(p, "w"))
PY
  echo "$b"
}
start_monitor() {
  : > "$W/events.jsonl"
  "$HR" --root "$W/state" monitor --metrics-address 127.0.0.1:0 --interval 1s \
    --state "$W/monitor-state.json" > "$W/events.jsonl" 2> "$W/monitor.err" &
  MON=$!
  for _ in $(seq 100); do
    ADDR=$(sed -n 's|^hardrun monitor: metrics at http://\(.*\)/metrics$|\1|p' "$W/monitor.err")
    [ -n "$ADDR" ] && return 0
    sleep 0.1
  done
  echo "monitor.sh: the monitor did not start:" >&2; cat "$W/monitor.err" >&2; exit 1
}
stop_monitor() { kill "$MON"; wait "$MON" 2>/dev/null || true; MON=; }
scrape() { python3 -c 'import sys,urllib.request;print(urllib.request.urlopen("http://"+sys.argv[1]+"/metrics").read().decode())' "$ADDR"; }
# wait_events CONTAINER N: until N events of that container are in the file (60 s at most)
wait_events() {
  for _ in $(seq 600); do
    [ "$(grep -c "\"container\":\"$1\"" "$W/events.jsonl" || true)" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
UNSHARE=272 CLONE_NEWUSER=0x10000000 GETPID=39

echo "hardrun monitor bench, $(date -u +%FT%TZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$HR" --version | head -1

start_monitor
# 1. latency
b=$(bundle lat /probe storm $UNSHARE "$LAT_N" "$LAT_RATE" $CLONE_NEWUSER)
"$HR" --root "$W/state" run --bundle "$b" lat > "$W/lat.out" 2> "$W/lat.err" </dev/null
wait_events lat "$LAT_N" || echo "latency: only $(grep -c '"container":"lat"' "$W/events.jsonl") of $LAT_N events"
python3 - "$W/lat.out" "$W/events.jsonl" lat <<'PY'
import json, sys, datetime
attempts = [l.split() for l in open(sys.argv[1]) if l[0].isdigit()]
refused = sum(1 for a in attempts if a[1] == "EPERM")
evs = [json.loads(l) for l in open(sys.argv[2])]
evs = [e for e in evs if e.get("container") == sys.argv[3] and e.get("details", {}).get("syscall") == "unshare"]
def ns(t):
    d = datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    return int(d.timestamp()) * 10**9 + d.microsecond * 1000
lat = sorted((ns(e["time"]) - int(a[0])) / 1e6 for a, e in zip(attempts, evs))
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"1. detection latency, attempt -> event (ms), {len(lat)} of {len(attempts)} attempts "
      f"({refused} refused with EPERM): median {q(0.5):.3f}  p90 {q(0.9):.3f}  p99 {q(0.99):.3f}  max {lat[-1]:.3f}")
PY
scrape > "$W/metrics1.txt"
awk '/^hardrun_tripwire_detection_seconds_(sum|count)/ {v[$1]=$2} END {
  if (v["hardrun_tripwire_detection_seconds_count"] > 0)
    printf "   monitor histogram (received -> written): %d events, mean %.3f ms\n",
      v["hardrun_tripwire_detection_seconds_count"], 1000 * v["hardrun_tripwire_detection_seconds_sum"] / v["hardrun_tripwire_detection_seconds_count"] }' "$W/metrics1.txt"

# 2. throughput
n=$((STORM_RATE * STORM_SECS))
b=$(bundle storm /probe storm $UNSHARE "$n" "$STORM_RATE" $CLONE_NEWUSER)
"$HR" --root "$W/state" run --bundle "$b" storm > "$W/storm.out" 2> "$W/storm.err" </dev/null
wait_events storm "$n" || true
got=$(grep -c '"container":"storm"' "$W/events.jsonl" || true)
refused=$(grep -c ' EPERM$' "$W/storm.out" || true)
secs=$(awk '/^done/ {print $3}' "$W/storm.out")
dropped=$(scrape | awk '/^hardrun_events_dropped_total/ {s += $2} END {print s + 0}')
echo "2. throughput: $n attempts in ${secs} s ($(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')/s), $refused refused, $got events, $dropped dropped by sinks"

# 3. benign cost: with the monitor (armed) and without (plain errno), alternating, so both see
#    the same machine; the probe's CPU time (user + system) of its loop is compared
b=$(bundle spin /probe spin $GETPID "$SPIN_N")
: > "$W/on.txt"; : > "$W/off.txt"
for i in $(seq "$SPIN_RUNS"); do
  [ -n "$MON" ] || start_monitor
  "$HR" --root "$W/state" run --bundle "$b" spin-on > "$W/spin.out" 2>&1 </dev/null
  awk '/^done/ {print $3, $4}' "$W/spin.out" >> "$W/on.txt"
  stop_monitor
  "$HR" --root "$W/state" run --bundle "$b" spin-off > "$W/spin.out" 2>&1 </dev/null
  awk '/^done/ {print $3, $4}' "$W/spin.out" >> "$W/off.txt"
done
armed=$(python3 - "$W/audit.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
arm = lambda r: any("tripwires armed" in f.get("message", "") for f in r.get("findings", []))
on = [r for r in recs if r.get("id") == "spin-on" and r.get("decision") == "allowed"]
off = [r for r in recs if r.get("id") == "spin-off" and r.get("decision") == "allowed"]
miss = [i + 1 for i, r in enumerate(on) if not arm(r)]
print(f"{sum(map(arm, on))}/{len(on)} armed with the monitor"
      + (f" (not run {miss})" if miss else "") + f", {sum(map(arm, off))}/{len(off)} without")
PY
)
python3 - "$W/on.txt" "$W/off.txt" "$SPIN_N" "$armed" <<'PY'
import statistics, sys
rd = lambda p: [tuple(map(float, l.split())) for l in open(p) if l.strip()]
on, off, n = rd(sys.argv[1]), rd(sys.argv[2]), int(sys.argv[3])
wa, wb = statistics.median(w for w, _ in on), statistics.median(w for w, _ in off)
ca, cb = statistics.median(c for _, c in on), statistics.median(c for _, c in off)
print(f"3. benign: {n} getpid calls, median of {len(on)} alternating runs ({sys.argv[4]}): "
      f"CPU armed {ca:.4f} s ({ca/n*1e9:.0f} ns/call), not armed {cb:.4f} s ({cb/n*1e9:.0f} ns/call): {100*(ca-cb)/cb:+.1f} %; "
      f"wall {wa:.4f} s vs {wb:.4f} s: {100*(wa-wb)/wb:+.1f} %")
PY

# 4. memory with CONTAINERS containers (baseline: no user namespace range per container)
start_monitor
b=$(bundle idle sleep 100000)
t0=$(date +%s%N)
for i in $(seq "$CONTAINERS"); do
  "$HR" --root "$W/state" --profile baseline run -d --bundle "$b" "idle-$i" </dev/null >/dev/null 2>"$W/idle.err" \
    || { echo "monitor.sh: container idle-$i: $(cat "$W/idle.err")" >&2; exit 1; }
done
t1=$(date +%s%N)
sleep 10
armed=$(python3 - "$W/audit.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
print(sum(1 for r in recs if str(r.get("id", "")).startswith("idle-") and r.get("decision") == "allowed"
          and any("tripwires armed" in f.get("message", "") for f in r.get("findings", []))))
PY
)
running=$(scrape | awk '/^hardrun_containers_running/ {s += $2} END {print s + 0}')
rss=$(awk '/^VmRSS/ {print $2}' /proc/"$MON"/status)
hwm=$(awk '/^VmHWM/ {print $2}' /proc/"$MON"/status)
threads=$(awk '/^Threads/ {print $2}' /proc/"$MON"/status)
cpu=$(awk '{print ($14 + $15) / 100}' /proc/"$MON"/stat)
echo "4. memory: $CONTAINERS containers started in $(( (t1 - t0) / 1000000 )) ms, $running running by the monitor's gauge, $armed with tripwires armed, $threads monitor threads: VmRSS $((rss / 1024)) MiB, VmHWM $((hwm / 1024)) MiB, CPU ${cpu} s in all"
