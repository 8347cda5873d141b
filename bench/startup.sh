#!/bin/bash
# Process start-up of a binary: the time from exec (sched:sched_process_exec) to its `main`
# (a uprobe), median over N runs. Issue 20 (bench/REPORT.md, part 5) measured the dynamic
# loader's share of hardrun's two starts per `run` this way.
#
# usage (as root, perf installed): bench/startup.sh BIN [N] [ARGS...]
#   bench/startup.sh target/release/hardrun 40 --version
# prints: exec->main median/p25/p75 in ms, and page faults before main (one run).
# The probe is added for the run and removed at exit; the binary needs a `main` symbol.
set -euo pipefail
die() { echo "startup.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: bench/startup.sh BIN [N] [ARGS...]"
BIN=$(readlink -f "$1") || die "no binary $1"
N=${2:-40}
shift $(( $# >= 2 ? 2 : 1 ))
[ "$(id -u)" = 0 ] || die "must run as root (perf probe)"
command -v perf >/dev/null || die "perf not found (apt-get install linux-perf)"
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || die "N must be a positive integer (got '$N')"

T=$(mktemp -d)
GROUP=hrstart$$
cleanup() { perf probe -q -d "$GROUP:*" >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
perf probe -q -x "$BIN" -a "$GROUP:$GROUP=main" >/dev/null 2>&1 || die "perf probe on main of $BIN failed"

COMM=$(basename "$BIN" | cut -c1-15)
perf record -q -o "$T/p.data" -e sched:sched_process_exec -e "$GROUP:$GROUP" -- \
  bash -c 'b=$1; n=$2; shift 2; for _ in $(seq "$n"); do "$b" "$@" >/dev/null 2>&1 || true; done' \
  _ "$BIN" "$N" "$@" >/dev/null 2>&1 || die "perf record failed"
perf script -i "$T/p.data" -F comm,pid,time,event 2>/dev/null | python3 -c '
import sys, statistics
comm = sys.argv[1]
start, out = {}, []
for line in sys.stdin:
    f = line.split()
    if len(f) < 4 or f[0] != comm:
        continue
    pid, t, ev = f[1], float(f[2].rstrip(":")), f[3]
    if "sched_process_exec" in ev:
        start[pid] = t
    elif pid in start:
        out.append((t - start.pop(pid)) * 1000)
if not out:
    sys.exit("startup.sh: no exec->main pairs recorded")
out.sort()
q = lambda p: out[min(len(out) - 1, int(p * len(out)))]
print(f"exec->main: median {statistics.median(out):.3f} ms, p25 {q(0.25):.3f}, p75 {q(0.75):.3f} (n={len(out)})")
' "$COMM"

perf record -q -o "$T/f.data" -e exceptions:page_fault_user -e "$GROUP:$GROUP" -- "$BIN" "$@" >/dev/null 2>&1 || true
perf script -i "$T/f.data" -F event 2>/dev/null |
  awk -v g="$GROUP" '$0 ~ g { print "page faults before main (one run): " n; found = 1; exit } /page_fault_user/ { n++ } END { if (!found) print "page faults before main: main not reached" }'
