#!/bin/bash
# Latency of `hardrun isolate` on a container with 100 processes (issue 16: target <= 50 ms).
# Starts one container (own network namespace, 1 sh + 99 sleeps), then N times: isolate (timed,
# wall clock of the whole hardrun process), release (untimed). Prints min/median/p90/max in ms
# and checks after the last isolate that the cgroup is frozen and the table is in its netns.
# usage: bench/isolate.sh [N]   env: HARDRUN (binary, default target/release/hardrun)
# Run as root. Writes nothing outside a temporary directory (removed at exit).
set -euo pipefail
N=${1:-30}
HR=${HARDRUN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/hardrun}
[ -x "$HR" ] || { echo "isolate.sh: no hardrun binary at $HR (cargo build --release)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "isolate.sh: run as root" >&2; exit 2; }
W=$(mktemp -d /tmp/hardrun-bench-isolate.XXXXXX)
ID=bench-isolate-$$
cleanup() { "$HR" --root "$W/state" delete --force "$ID" >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
export HARDRUN_CONFIG=$W/config.toml
cat > "$W/config.toml" <<TOML
default_profile = "permissive"
audit_log = "$W/audit.jsonl"
incidents_dir = "$W/incidents"
TOML
mkdir -p "$W/bundle/rootfs/bin" "$W/bundle/rootfs/"{proc,dev,sys,tmp}
cp /bin/busybox "$W/bundle/rootfs/bin/"
for a in sh sleep; do ln -s busybox "$W/bundle/rootfs/bin/$a"; done
(cd "$W/bundle" && runc spec)
python3 - "$W/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s["process"]["terminal"] = False
# 99 sleeps in the background and sh waiting for them: 100 processes
s["process"]["args"] = ["sh", "-c", "for i in $(seq 99); do sleep 100000 & done; wait"]
s["linux"].setdefault("resources", {})["pids"] = {"limit": 200}
json.dump(s, open(p, "w"))
PY
"$HR" --root "$W/state" run -d --bundle "$W/bundle" "$ID" </dev/null >/dev/null 2>&1
for _ in $(seq 100); do
  n=$("$HR" --root "$W/state" ps "$ID" 2>/dev/null | tail -n +2 | wc -l)
  [ "$n" -ge 100 ] && break
  sleep 0.1
done
echo "processes in the container: $n"
[ "$n" -ge 100 ] || { echo "isolate.sh: the container never had 100 processes" >&2; exit 1; }
times=()
for i in $(seq "$N"); do
  t0=$(date +%s%N)
  "$HR" --root "$W/state" isolate "$ID" >/dev/null
  t1=$(date +%s%N)
  times+=($(( (t1 - t0) / 1000 )))
  if [ "$i" -lt "$N" ]; then "$HR" --root "$W/state" release "$ID" >/dev/null; fi
done
# the last isolate really froze it and cut the network
cg=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["cgroup_path"])' "$W/state/$ID/youki_config.json" 2>/dev/null || true)
pid=$("$HR" --root "$W/state" state "$ID" | python3 -c 'import json,sys;print(json.load(sys.stdin)["pid"])')
if [ -f /sys/fs/cgroup/freezer/"${cg#/}"/freezer.state ]; then
  echo "freezer.state: $(cat /sys/fs/cgroup/freezer/"${cg#/}"/freezer.state)"
else
  echo "cgroup.freeze: $(cat /sys/fs/cgroup/"${cg#/}"/cgroup.freeze 2>/dev/null || echo '?')"
fi
nsenter --net=/proc/"$pid"/ns/net nft list tables | grep -q hardrun_isolate && echo "table inet hardrun_isolate: present"
"$HR" --root "$W/state" release "$ID" >/dev/null
printf '%s\n' "${times[@]}" | sort -n | awk -v n="$N" '
  { v[NR] = $1 / 1000 }
  END {
    med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    p90 = v[int(0.9 * n + 0.999)]
    printf "isolate, %d runs (ms): min %.1f  median %.1f  p90 %.1f  max %.1f\n", n, v[1], med, p90, v[n]
  }'
