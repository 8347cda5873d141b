#!/bin/bash
# Load benchmark: N containers created, started, exec'd into and deleted concurrently, through
# hardrun (its default `restricted` profile) and through runc, in the same run; writes
# bench/LOAD.md. Not a timed test: it reports, and exits non-zero only when a container failed,
# something leaked or the audit chain does not verify.
#
# usage: bench/load.sh        (as root)
# environment:
#   N            containers per round and runtime, all at once (default 50)
#   ROUNDS       rounds per runtime; the order alternates (runc first in odd rounds) (default 3)
#   HARDRUN_BIN  default <repo>/target/release/hardrun (built when missing); copied to
#                bench/work/load/ so a rebuild during the run cannot change it
#   RUNC_BIN     default /usr/sbin/runc
#
# One container's life (bench/work/load/worker.sh): `create --bundle B ID` (stdio detached),
# `start ID`, `exec ID /bin/echo ok` (the output must be "ok"), `delete --force ID`. Each step's
# failure counts as the container's failure. After each round: leftover state directories in
# the round's --root, cgroup directories of the round's ids (every v1 hierarchy and v2, both
# /<id> and /hardrun/<id>), mounts naming bench/work/load, user namespace leases of the run.
# hardrun writes its decisions to a fresh audit log (bench/work/load/audit.jsonl), verified
# with `hardrun audit verify` at the end: 2 decisions per container (create, exec).
set -euo pipefail
export LC_ALL=C

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH")
WORK=$BENCH/work/load
REPORT=$BENCH/LOAD.md
N=${N:-50}
ROUNDS=${ROUNDS:-3}
RUNC_BIN=${RUNC_BIN:-/usr/sbin/runc}
HARDRUN_SRC=${HARDRUN_BIN:-$REPO/target/release/hardrun}

log() { echo "[load] $*" >&2; }
die() { echo "[load] ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || die "N must be a positive integer"
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] || die "ROUNDS must be a positive integer"
for t in jq /bin/busybox; do command -v "$t" >/dev/null || die "$t not found"; done
[ -x "$RUNC_BIN" ] || die "runc not found at $RUNC_BIN"
if [ ! -x "$HARDRUN_SRC" ]; then
  log "building $HARDRUN_SRC"
  (cd "$REPO" && cargo build --release) || die "cargo build --release failed"
fi

rm -rf "$WORK"
mkdir -p "$WORK"
HARDRUN_BIN=$WORK/hardrun
cp "$HARDRUN_SRC" "$HARDRUN_BIN"
declare -A BIN=([runc]=$RUNC_BIN [hardrun]=$HARDRUN_BIN)
AUDIT=$WORK/audit.jsonl
export HARDRUN_CONFIG=$WORK/config.toml
printf 'default_profile = "restricted"\nmode = "enforce"\naudit_log = "%s"\n' "$AUDIT" > "$HARDRUN_CONFIG"
export HARDRUN_USERNS_DIR=$WORK/userns
unset HARDRUN_PROFILE HARDRUN_MODE

# bundle: busybox rootfs, `runc spec`, a process that stays up so exec has something to enter
BUNDLE=$WORK/bundle
mkdir -p "$BUNDLE/rootfs"/{bin,dev,proc,sys,tmp,etc,root}
cp /bin/busybox "$BUNDLE/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$BUNDLE/rootfs/bin/$a"; done
(cd "$BUNDLE" && "$RUNC_BIN" spec)
jq '.process.terminal = false | .process.args = ["/bin/sleep", "60"]' "$BUNDLE/config.json" > "$BUNDLE/c.json"
mv "$BUNDLE/c.json" "$BUNDLE/config.json"

cat > "$WORK/worker.sh" <<'EOF'
#!/bin/bash
# worker.sh <runtime> <root> <bundle> <id> <result file>: one container's life; writes
# "<id> <status> <create ms> <start ms> <exec ms> <delete ms> <step>" to the result file
RT=$1 ROOT=$2 B=$3 ID=$4 OUT=$5
now() { date +%s%N; }
t0=$(now); step=create
"$RT" --root "$ROOT" create --bundle "$B" "$ID" </dev/null >/dev/null 2>"$OUT.err" || { echo "$ID fail 0 0 0 0 $step" >"$OUT"; exit 1; }
t1=$(now); step=start
"$RT" --root "$ROOT" start "$ID" 2>>"$OUT.err" || { echo "$ID fail 0 0 0 0 $step" >"$OUT"; "$RT" --root "$ROOT" delete --force "$ID" >/dev/null 2>&1; exit 1; }
t2=$(now); step=exec
o=$("$RT" --root "$ROOT" exec "$ID" /bin/echo ok 2>>"$OUT.err") && [ "$o" = ok ] || { echo "exec printed '$o'" >>"$OUT.err"; echo "$ID fail 0 0 0 0 $step" >"$OUT"; "$RT" --root "$ROOT" delete --force "$ID" >/dev/null 2>&1; exit 1; }
t3=$(now); step=delete
"$RT" --root "$ROOT" delete --force "$ID" 2>>"$OUT.err" || { echo "$ID fail 0 0 0 0 $step" >"$OUT"; exit 1; }
t4=$(now)
ms() { echo $(( ($2 - $1) / 1000000 )); }
echo "$ID ok $(ms "$t0" "$t1") $(ms "$t1" "$t2") $(ms "$t2" "$t3") $(ms "$t3" "$t4") done" >"$OUT"
EOF
chmod +x "$WORK/worker.sh"

ids_of() { local l=$1 r=$2 i; for i in $(seq 1 "$N"); do echo "load-$l-r$r-$i"; done; }
leaks() { # label round -> prints "<state dirs> <cgroups> <mounts>"
  local l=$1 r=$2 root=$WORK/state-$1-r$2 s=0 c=0 m id d
  if [ -d "$root" ]; then s=$(find "$root" -mindepth 1 -maxdepth 1 ! -name .staging | wc -l)
    s=$((s + $(find "$root/.staging" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l))); fi
  for id in $(ids_of "$l" "$r"); do
    for d in /sys/fs/cgroup/*/"$id" /sys/fs/cgroup/*/hardrun/"$id" /sys/fs/cgroup/"$id" /sys/fs/cgroup/hardrun/"$id"; do
      [ -d "$d" ] && c=$((c + 1))
    done
  done
  m=$(grep -c "$WORK" /proc/self/mountinfo || true)
  echo "$s $c $m"
}

round() { # label round -> one line: label round wall_ms ok failed state_leaks cgroup_leaks mount_leaks
  local l=$1 r=$2 root=$WORK/state-$1-r$2 res=$WORK/res-$1-r$2 t0 t1 ok fail
  mkdir -p "$res"
  t0=$(date +%s%N)
  for id in $(ids_of "$l" "$r"); do
    "$WORK/worker.sh" "${BIN[$l]}" "$root" "$BUNDLE" "$id" "$res/$id" &
  done
  wait || true
  t1=$(date +%s%N)
  ok=$(cat "$res"/load-* 2>/dev/null | grep -c ' ok ' || true)
  fail=$((N - ok))
  echo "$l $r $(( (t1 - t0) / 1000000 )) $ok $fail $(leaks "$l" "$r")"
}

median() { sort -n | awk '{a[NR]=$1} END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
count_slots() { local n=0 f; for f in "$HARDRUN_USERNS_DIR"/slot-*; do [ -e "$f" ] && n=$((n + 1)); done; echo "$n"; }
SLOTS_BEFORE=$(count_slots)
log "warmup: one container per runtime"
for l in runc hardrun; do
  "$WORK/worker.sh" "${BIN[$l]}" "$WORK/state-warm" "$BUNDLE" "load-warm-$l" "$WORK/warm-$l" || die "$l: warmup failed: $(cat "$WORK/warm-$l" "$WORK/warm-$l.err")"
done
: > "$AUDIT" # the audit chain of the timed rounds only
RESULTS=$WORK/results.txt
: > "$RESULTS"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order=(runc hardrun); else order=(hardrun runc); fi
  for l in "${order[@]}"; do
    log "round $r: $N x $l"
    line=$(round "$l" "$r")
    log "  $line"
    echo "$line" >> "$RESULTS"
    sleep 1
  done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
SLOTS_AFTER=$(count_slots)

VERIFY_OUT=$("$HARDRUN_BIN" audit verify "$AUDIT" 2>&1) && VERIFY_RC=0 || VERIFY_RC=$?
AUDIT_LINES=$(wc -l < "$AUDIT")
AUDIT_WANT=$(( N * ROUNDS * 2 ))

# per-step latencies of all hardrun/runc containers (ms)
steps() { # label column -> median
  cat "$WORK"/res-"$1"-r*/load-* 2>/dev/null | awk -v c="$2" '$2 == "ok" { print $c }' | median
}
col() { awk -v l="$1" -v c="$2" '$1 == l { print $c }' "$RESULTS"; }
sum() { awk '{ s += $1 } END { print s + 0 }'; }
wall_med() { col "$1" 3 | median; }
rate() { awk -v n="$N" -v ms="$1" 'BEGIN { printf "%.1f", n / (ms / 1000) }'; }

FAIL_TOTAL=$(( $(col runc 5 | sum) + $(col hardrun 5 | sum) ))
LEAK_TOTAL=$(( $(col runc 6 | sum) + $(col runc 7 | sum) + $(col runc 8 | sum) + $(col hardrun 6 | sum) + $(col hardrun 7 | sum) + $(col hardrun 8 | sum) ))

{
  echo "# hardrun load benchmark"
  echo
  echo "Generated: $DATE by \`N=$N ROUNDS=$ROUNDS bench/load.sh\` (regenerated by every run)"
  echo
  echo "## Machine"
  echo "- CPUs: $(nproc) — $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
  echo "- kernel: $(uname -srm); cgroup: $(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup$( [ -d /sys/fs/cgroup/unified ] && echo ' (v1 hybrid)')"
  echo "- load average: $LOAD_START at start, $LOAD_END at end"
  echo "- runc: $("$RUNC_BIN" --version | head -n1); hardrun: $("$HARDRUN_BIN" --version | head -n1) (release build, \`restricted\` profile: userns audited, seccomp, limits, read-only root, non-root user…)"
  echo
  echo "## Method"
  echo "$N containers at once per round and runtime (one \`bench/work/load/worker.sh\` each: \`create\`,"
  echo "\`start\`, \`exec ID /bin/echo ok\` checked for \`ok\`, \`delete --force\`), $ROUNDS rounds, the order"
  echo "alternating; wall time from the first launch to the last worker's exit. Same busybox bundle"
  echo "(\`runc spec\`, \`/bin/sleep 60\`) for both; runc runs the spec as given, hardrun its hardened"
  echo "version. Leaks are counted after every round: state directories (and staging) left in the"
  echo "round's \`--root\`, cgroup directories of the round's ids in every hierarchy, mounts naming"
  echo "\`bench/work/load\`; user namespace leases in \`HARDRUN_USERNS_DIR\` before/after the run."
  echo
  echo "## Rounds"
  echo "| runtime | round | wall (ms) | containers/s | ok | failed | state dirs left | cgroups left | mounts left |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  while read -r l r ms ok fail s c m; do
    echo "| $l | $r | $ms | $(rate "$ms") | $ok | $fail | $s | $c | $m |"
  done < "$RESULTS"
  echo
  echo "## Summary (medians over rounds)"
  echo "| runtime | wall (ms) | containers/s | create (ms) | start (ms) | exec (ms) | delete (ms) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for l in runc hardrun; do
    w=$(wall_med "$l")
    echo "| $l | $w | $(rate "$w") | $(steps "$l" 3) | $(steps "$l" 4) | $(steps "$l" 5) | $(steps "$l" 6) |"
  done
  echo
  echo "Per-step columns: the median over every container of every round, measured inside the worker"
  echo "while all $N run at once (so they include waiting for the 2 CPUs)."
  echo
  echo "**hardrun/runc wall time (medians): $(awk -v a="$(wall_med hardrun)" -v b="$(wall_med runc)" 'BEGIN { printf "%.2f", a / b }')**"
  echo
  echo "## Checks"
  echo "- failures: $FAIL_TOTAL (of $(( N * ROUNDS * 2 )) containers)"
  echo "- leaks (state dirs + cgroups + mounts, all rounds): $LEAK_TOTAL"
  echo "- user namespace leases: $SLOTS_BEFORE before, $SLOTS_AFTER after"
  echo "- audit log: $AUDIT_LINES decisions (expected $AUDIT_WANT: create + exec per container); \`hardrun audit verify\`: exit $VERIFY_RC"
  echo '  ```'
  printf '%s\n' "$VERIFY_OUT" | head -n 5 | sed 's/^/  /'
  echo '  ```'
  if [ "$FAIL_TOTAL" != 0 ]; then
    echo
    echo "## First errors"
    echo '```'
    for f in "$WORK"/res-*/load-*; do
      case $f in *.err) continue ;; esac
      grep -q ' fail ' "$f" && { cat "$f"; head -c 600 "$f.err"; echo; }
    done | head -n 30
    echo '```'
  fi
} > "$REPORT"
log "report: $REPORT"
grep -A4 '^## Summary' "$REPORT" | tail -n2 >&2
status=0
[ "$FAIL_TOTAL" = 0 ] || { log "$FAIL_TOTAL containers failed"; status=1; }
[ "$LEAK_TOTAL" = 0 ] || { log "$LEAK_TOTAL leaks"; status=1; }
[ "$SLOTS_AFTER" = "$SLOTS_BEFORE" ] || { log "user namespace leases left"; status=1; }
[ "$VERIFY_RC" = 0 ] || { log "audit verify failed: $VERIFY_OUT"; status=1; }
[ "$AUDIT_LINES" = "$AUDIT_WANT" ] || { log "audit log has $AUDIT_LINES decisions, expected $AUDIT_WANT"; status=1; }
exit $status
