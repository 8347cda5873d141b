#!/bin/bash
# The runtimes on the same container: crun and runc running the spec hardrun stores for a
# container it created (its `restricted` hardening: user and cgroup namespaces, seccomp, tmpfs
# mounts, masked paths, limits), beside crun on the plain `runc spec` bundle and hardrun on that
# bundle. It splits what the hardened container costs (every runtime pays it) from what hardrun
# adds around the runtime (bench/REPORT.md, issue 20 part 6).
#
# Usage (as root, after one bench/run.sh has made bench/work/: bundle and config.toml):
#   bench/same-container.sh [RUNS]      (default 60; hyperfine -N, 3 warmup runs)
# Runs inside its own `unshare -m` without /sys/fs/cgroup/unified, as bench/run.sh does (crun
# 1.8.1 refuses the hybrid layout). HARDRUN_BIN (default target/release/hardrun), CRUN_BIN,
# RUNC_BIN as in bench/run.sh. Prints hyperfine's medians, user and system times.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-60}
HARDRUN_BIN=$(readlink -f "${HARDRUN_BIN:-$REPO/target/release/hardrun}")
CRUN_BIN=$(command -v "${CRUN_BIN:-crun}")
RUNC_BIN=$(command -v "${RUNC_BIN:-runc}")
WORK=$REPO/bench/work
[ "$(id -u)" = 0 ] || { echo "same-container.sh: run as root" >&2; exit 1; }
[ -f "$WORK/bundle/config.json" ] && [ -f "$WORK/config.toml" ] ||
  { echo "same-container.sh: run bench/run.sh once first (no $WORK/bundle or config.toml)" >&2; exit 1; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "same-container.sh: RUNS must be a positive number" >&2; exit 1; }

if [ "${SAME_CONTAINER_INNER:-}" != 1 ]; then
  exec env SAME_CONTAINER_INNER=1 HARDRUN_BIN="$HARDRUN_BIN" CRUN_BIN="$CRUN_BIN" RUNC_BIN="$RUNC_BIN" \
    unshare -m --propagation private "$0" "$RUNS"
fi
umount /sys/fs/cgroup/unified 2>/dev/null || true
export HARDRUN_CONFIG=$WORK/config.toml
ROOTS=$WORK/same-roots
HB=$WORK/bundle-hardened
mkdir -p "$ROOTS"
mountpoint -q "$ROOTS" || mount -t tmpfs tmpfs "$ROOTS"
# hardrun's audit log and records where bench/run.sh keeps them: its journaled ext4 image when
# it made one (VAR_FS=ext4), mounted again in this namespace
if [ -f "$WORK/var.img" ] && ! mountpoint -q "$WORK/var"; then
  mkdir -p "$WORK/var"
  mount -o loop "$WORK/var.img" "$WORK/var" || { echo "same-container.sh: mount -o loop $WORK/var.img failed" >&2; exit 1; }
fi

# the spec hardrun stores for a container it created, with a cgroup of its own for the others
"$HARDRUN_BIN" --root "$ROOTS/hardrun-spec" create --bundle "$WORK/bundle" same-spec </dev/null >/dev/null
mkdir -p "$HB"
# (python, not jq: jq 1.6 rounds the seccomp masks' 64-bit values to floats)
python3 - "$ROOTS/hardrun-spec/same-spec/bundle/config.json" "$HB/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["linux"]["cgroupsPath"] = "/hardrun-bench/same-container"
json.dump(spec, open(sys.argv[2], "w"))
PY
"$HARDRUN_BIN" --root "$ROOTS/hardrun-spec" delete --force same-spec

out=$WORK/same-container.json
hyperfine -N --style basic --runs "$RUNS" --warmup 3 --export-json "$out" \
  -n crun-plain "$CRUN_BIN --root $ROOTS/crun-plain run --bundle $WORK/bundle sc-cp" \
  -n crun-hardened "$CRUN_BIN --root $ROOTS/crun-hardened run --bundle $HB sc-ch" \
  -n hardrun "$HARDRUN_BIN --root $ROOTS/hardrun run --bundle $WORK/bundle sc-hr" \
  -n runc-hardened "$RUNC_BIN --root $ROOTS/runc-hardened run --bundle $HB sc-rh" >/dev/null
python3 - "$out" <<'PY'
import json, statistics, sys
d = json.load(open(sys.argv[1]))
med = {b["command"]: statistics.median(b["times"]) * 1000 for b in d["results"]}
for b in d["results"]:
    n = b["command"]
    print(f"{n:14s} median {med[n]:6.2f} ms  user {b['user'] * 1000:5.2f}  sys {b['system'] * 1000:5.2f}"
          f"  ×crun-hardened {med[n] / med['crun-hardened']:.2f}  ×crun-plain {med[n] / med['crun-plain']:.2f}")
PY
