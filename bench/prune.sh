#!/bin/bash
# The forensics prune a `delete` runs once a minute: `hardrun forensics prune` over N kept
# records (default 10000: about what the default `forensics_max_size` of 1 GiB holds at ≈90 KB
# a record), nothing of them due, so the time is the scan of the records. BASELINE reads every
# record (meta.json, a walk of its files); HARDRUN takes what it read before from
# `<forensics>/.prune-cache`. Writes bench/PRUNE.md.
#
#   bench/prune.sh [N]        as root
#   env: HARDRUN (default target/release/hardrun), BASELINE (required: a build without the
#        cache, e.g. of 28c5246), RUNS (default 15), COLD_RUNS (default 5)
#
# The records are copies of one record that a real `run` of a busybox container left: each
# its own directory and meta.json (deletion times spread over the last six days), the other
# files hard links to the first record's (a prune stats them all the same). They are on the
# filesystem of bench/work. Scenarios:
#   warm     the records' inodes in the kernel's caches (a busy node that pruned a minute ago)
#   first    HARDRUN only, no .prune-cache yet: the first prune after an upgrade, which reads
#            every record as BASELINE does and writes the cache
#   cold     `echo 3 > drop_caches` before each run: the records read from the disk
set -euo pipefail
N=${1:-10000}
RUNS=${RUNS:-15}
COLD_RUNS=${COLD_RUNS:-5}
REPO=$(cd "$(dirname "$0")/.." && pwd)
HR=$(realpath "${HARDRUN:-$REPO/target/release/hardrun}")
[ -n "${BASELINE:-}" ] || { echo "prune.sh: set BASELINE to a hardrun binary without the prune cache" >&2; exit 2; }
BASE=$(realpath "$BASELINE")
[ "$(id -u)" = 0 ] || { echo "prune.sh: run as root" >&2; exit 2; }
for b in "$HR" "$BASE"; do
  [ -x "$b" ] || { echo "prune.sh: no hardrun binary at $b" >&2; exit 2; }
done
command -v hyperfine >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q hyperfine >/dev/null
W=$REPO/bench/work/prune
rm -rf "$W"
mkdir -p "$W/b/rootfs/bin" "$W/b/rootfs/"{proc,dev,sys,tmp,etc}
[ -n "${KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
F=$W/forensics
export HARDRUN_CONFIG=$W/config.toml
printf 'audit_log = "%s"\nforensics_dir = "%s"\n' "$W/audit.jsonl" "$F" > "$HARDRUN_CONFIG"
cp /bin/busybox "$W/b/rootfs/bin/"
ln -s busybox "$W/b/rootfs/bin/true"
"$HR" spec --bundle "$W/b" 2>/dev/null || (cd "$W/b" && "$HR" spec)
jq '.process.terminal = false | .process.args = ["/bin/true"]' "$W/b/config.json" > "$W/b/c.json"
mv "$W/b/c.json" "$W/b/config.json"
"$HR" --root "$W/state" run --bundle "$W/b" tpl </dev/null >/dev/null 2>&1
TPL=$(find "$F" -mindepth 1 -maxdepth 1 -name 'tpl@*' | head -1)
[ -d "$TPL" ] || { echo "prune.sh: the run kept no forensic record in $F" >&2; exit 1; }
echo "template record: $(du -sb "$TPL" | cut -f1) bytes, $(ls "$TPL" | wc -l) files" >&2

python3 - "$F" "$TPL" "$N" <<'PY'
import datetime, json, os, sys
f, tpl, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = [x for x in os.listdir(tpl) if x != "meta.json"]
now = datetime.datetime.now(datetime.timezone.utc)
for i in range(n):
    at = now - datetime.timedelta(seconds=6 * 86400 * (n - i) / n)
    name = f"c{i}@{at.strftime('%Y%m%dT%H%M%S.%fZ')}"
    d = os.path.join(f, name)
    os.mkdir(d, 0o700)
    for x in files:
        os.link(os.path.join(tpl, x), os.path.join(d, x))
    meta = {"id": f"c{i}", "deleted_at": at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "hardrun_version": "bench", "bundle": None, "profile": "restricted", "regulatory": []}
    with open(os.path.join(d, "meta.json"), "w") as o:
        json.dump(meta, o, indent=2)
PY
COUNT=$(find "$F" -mindepth 1 -maxdepth 1 -name '*@*' | wc -l)
# what a prune counts: every record its files' full size (the hard links each count)
SIZE=$(( $(du -sb "$TPL" | cut -f1) * COUNT ))
echo "records: $COUNT" >&2

# nothing pruned, by either binary: the same records before and after
check() {
  local got
  got=$("$1" forensics prune)
  [ -z "$got" ] || { echo "prune.sh: $1 pruned records: $got" >&2; exit 1; }
}
check "$BASE"; check "$HR"
[ "$(find "$F" -mindepth 1 -maxdepth 1 -name '*@*' | wc -l)" = "$COUNT" ]
[ -s "$F/.prune-cache" ] || { echo "prune.sh: $HR wrote no $F/.prune-cache" >&2; exit 1; }

J=$W/json; mkdir -p "$J"
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$J/warm.json" \
  -n baseline "$BASE forensics prune" -n hardrun "$HR forensics prune" >&2
hyperfine -N --style basic --runs "$RUNS" --export-json "$J/first.json" \
  --prepare "rm -f $F/.prune-cache" -n "hardrun-first" "$HR forensics prune" >&2
"$HR" forensics prune >/dev/null # the cache back for the cold runs
hyperfine --style basic --runs "$COLD_RUNS" --export-json "$J/cold.json" \
  --prepare 'sync; echo 3 > /proc/sys/vm/drop_caches' \
  -n baseline "$BASE forensics prune" -n hardrun "$HR forensics prune" >&2

FS=$(findmnt -n -o FSTYPE,OPTIONS --target "$W" | tr -s ' ')
python3 - "$J" "$COUNT" "$SIZE" "$RUNS" "$COLD_RUNS" "$FS" "$BASE" "$HR" > "$REPO/bench/PRUNE.md" <<'PY'
import json, os, statistics, sys, platform
j, count, size, runs, cold_runs, fs, base, hr = sys.argv[1:]
def med(name, cmd):
    for r in json.load(open(os.path.join(j, name + ".json")))["results"]:
        if r["command"] == cmd:
            t = r["times"]
            return statistics.median(t) * 1000, min(t) * 1000, max(t) * 1000
w_b, w_h = med("warm", "baseline"), med("warm", "hardrun")
f_h = med("first", "hardrun-first")
c_b, c_h = med("cold", "baseline"), med("cold", "hardrun")
print("# The forensics prune over kept records (bench/prune.sh)\n")
print(f"`hardrun forensics prune` over {int(count)} kept records ({int(size) // 2**20} MiB as a prune counts them), none due: "
      "the scan a `delete` runs once a minute (`AUTO_PRUNE_EVERY`). Generated by `bench/prune.sh`; "
      "medians, min–max in brackets, milliseconds.\n")
print("| scenario | baseline (reads every record) | hardrun (.prune-cache) | ratio |")
print("|---|---|---|---|")
fmt = lambda m: f"{m[0]:.1f} ({m[1]:.1f}–{m[2]:.1f})"
print(f"| warm, {runs} runs | {fmt(w_b)} | {fmt(w_h)} | {w_h[0] / w_b[0]:.3f} |")
print(f"| first prune, no cache yet, {runs} runs | — | {fmt(f_h)} | {f_h[0] / w_b[0]:.3f} of warm baseline |")
print(f"| cold (drop_caches before each), {cold_runs} runs | {fmt(c_b)} | {fmt(c_h)} | {c_h[0] / c_b[0]:.3f} |")
print()
print(f"- per record, warm: baseline {w_b[0] * 1000 / int(count):.1f} µs, hardrun {w_h[0] * 1000 / int(count):.2f} µs")
print(f"- binaries: baseline `{base}`, hardrun `{hr}`")
print(f"- records on: {fs}")
print(f"- host: {platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}")
print("- each record: its own directory and meta.json, its other four files hard links to those "
      "of one record a real `run` kept; the cold runs include loading the binary")
PY
cat "$REPO/bench/PRUNE.md"
