#!/bin/bash
# Regenerates link/symbol-order.txt: the functions that lld lays out first, next to each other, in
# the release binary (build.rs, `order_hot_code`), so that a container's start touches a few MB of
# text instead of most of it. The list is what `run` of a busybox `/bin/true` container under
# `restricted` executes, found two ways on the release build of the tree as it is:
#   1. sampled: `perf record -F 25000` over RUNS runs; every function with a sample, most first;
#   2. faulted: `perf record -e exceptions:page_fault_user` over FAULT_RUNS runs of the build laid
#      out by the list so far; every function whose instruction fetch faulted outside the ordered
#      part (code the samples missed, around which the fault then mapped a whole page-cache folio),
#      appended; PASSES times, rebuilding in between.
# Names the binary no longer has are dropped. Rerun after large changes: a stale list orders less
# but breaks nothing (lld skips what it does not find).
#
# usage: scripts/symbol-order.sh [RUNS]      (root; needs perf from linux-perf, busybox-static, nm)
# environment: FAULT_RUNS (default 30), PASSES (default 2)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-150}
FAULT_RUNS=${FAULT_RUNS:-30}
PASSES=${PASSES:-2}
LIST=$REPO/link/symbol-order.txt

die() { echo "symbol-order: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (containers are started)"
command -v perf >/dev/null || die "perf is missing (apt-get install -y linux-perf)"
[ -x /bin/busybox ] || die "/bin/busybox is missing (apt-get install -y busybox-static)"

WORK=$(mktemp -d /tmp/hardrun-symbol-order.XXXXXX)
cleanup() {
  umount "$WORK/ro" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# the binary runs from a read-only bind mount: no protection re-exec (whose detached mount perf
# cannot resolve symbols in), and perf finds the file by its path
mkdir -p "$WORK/bin" "$WORK/ro" "$WORK/state" "$WORK/bundle/rootfs/bin"
mount --bind "$WORK/bin" "$WORK/ro"
mount -o remount,bind,ro "$WORK/ro"
BIN=$WORK/ro/hardrun

build() {
  (cd "$REPO" && cargo build --release --bin hardrun >&2)
  cp "$REPO/target/release/hardrun" "$WORK/bin/hardrun"
}

cp /bin/busybox "$WORK/bundle/rootfs/bin/busybox"
ln -s busybox "$WORK/bundle/rootfs/bin/true"
export HARDRUN_CONFIG=$WORK/config.toml
printf 'default_profile = "restricted"\naudit_log = "%s"\nforensics_dir = "%s"\n' \
  "$WORK/audit.jsonl" "$WORK/forensics" > "$HARDRUN_CONFIG"

runs() { # n
  local i
  for i in $(seq "$1"); do
    "$BIN" --root "$WORK/state" run --bundle "$WORK/bundle" "order$i" >/dev/null 2>&1 \
      || die "run $i failed: $("$BIN" --root "$WORK/state" run --bundle "$WORK/bundle" "order-diag" 2>&1 | tail -n 3)"
  done
}

build
(cd "$WORK/bundle" && "$BIN" spec)
python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"))
PY
runs 3

echo "symbol-order: sampling $RUNS runs" >&2
perf record -q -F 25000 -o "$WORK/samples.data" -- bash -c "$(declare -f runs die); BIN=$BIN WORK=$WORK runs $RUNS" >/dev/null 2>&1
perf script --no-demangle -i "$WORK/samples.data" -F ip,sym,dso 2>/dev/null \
  | awk -v dso="($BIN)" '$NF == dso { print $2 }' | sort | uniq -c | sort -rn | awk '{ print $2 }' \
  > "$WORK/order.txt"
echo "symbol-order: $(wc -l < "$WORK/order.txt") functions sampled" >&2

# the instruction fetches that faulted, as functions of the binary (text address = fault address
# - mapping start + file offset + the executable segment's vaddr - offset)
faulted() { # perf data -> new functions (not in order.txt), most faults first, appended to it
  python3 - "$BIN" "$1" "$WORK/order.txt" <<'PY'
import bisect, collections, re, subprocess, sys
binary, data, order_file = sys.argv[1:]
syms = []
for line in subprocess.run(["nm", "-n", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    p = line.split()
    if len(p) == 3 and p[1] in "tTwW":
        syms.append((int(p[0], 16), p[2]))
addrs = [a for a, _ in syms]
delta = None
for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    p = line.split()
    if p and p[0] == "LOAD" and "E" in p[6:-1]:
        delta = int(p[2], 16) - int(p[1], 16)
maps, faults = [], []
out = subprocess.run(["perf", "script", "--no-demangle", "--show-mmap-events", "-i", data, "-F", "comm,pid,trace"],
                     capture_output=True, text=True).stdout
for line in out.splitlines():
    m = re.search(r"MMAP2? \d+/\d+: \[0x([0-9a-f]+)\(0x([0-9a-f]+)\) @ 0x([0-9a-f]+) .*r-xp (\S+)$", line)
    if m and m.group(4) == binary:
        maps.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16)))
        continue
    m = re.search(r"address=0x([0-9a-f]+) ip=0x[0-9a-f]+ error_code=0x([0-9a-f]+)", line)
    if m and int(m.group(2), 16) & 0x10:  # an instruction fetch
        faults.append(int(m.group(1), 16))
count = collections.Counter()
for a in faults:
    for start, size, off in maps:
        if start <= a < start + size:
            i = bisect.bisect_right(addrs, a - start + off + delta) - 1
            if i >= 0:
                count[syms[i][1]] += 1
            break
known = set(l.strip() for l in open(order_file))
new = [s for s, _ in count.most_common() if s not in known]
with open(order_file, "a") as f:
    for s in new:
        f.write(s + "\n")
print(f"symbol-order: {sum(count.values())} instruction-fetch faults in {len(count)} functions, {len(new)} new", file=sys.stderr)
PY
}

for pass in $(seq "$PASSES"); do
  cp "$WORK/order.txt" "$LIST"
  build
  echo "symbol-order: pass $pass: faults of $FAULT_RUNS runs" >&2
  perf record -q -e exceptions:page_fault_user -o "$WORK/faults.data" \
    -- bash -c "$(declare -f runs die); BIN=$BIN WORK=$WORK runs $FAULT_RUNS" >/dev/null 2>&1
  faulted "$WORK/faults.data"
done

# names the binary has (the list may carry ones from an older build)
nm "$BIN" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | sort -u > "$WORK/have.txt"
awk 'NR == FNR { have[$0] = 1; next } have[$0] && !seen[$0]++' "$WORK/have.txt" "$WORK/order.txt" > "$LIST"
echo "symbol-order: $(wc -l < "$LIST") functions in $LIST; rebuild (cargo build --release) to lay them out" >&2
