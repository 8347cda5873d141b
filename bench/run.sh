#!/bin/bash
# Latency benchmark: hardrun vs runc and crun, measured with hyperfine, report in bench/REPORT.md.
#
# usage: bench/run.sh            (as root)
#
# crun 1.8.1 (Debian 12) refuses this host's hybrid cgroup layout ("cgroups in hybrid mode not
# supported, drop all controllers from cgroupv2"). So the whole script re-executes itself inside
# one `unshare -m` (private propagation) and, when /sys/fs/cgroup/unified is a mount point there,
# unmounts it (the hybrid layout's cgroup2 mount holds no controller): every runtime sees the
# same cgroup v1 hierarchies, and the host's mounts are not touched. bench/exec.sh does the same.
# environment:
#   HARDRUN_BIN  hardrun binary (default <repo>/target/release/hardrun, built with
#                `cargo build --release` when missing). HARDRUN_BIN=/usr/sbin/runc validates
#                the harness itself (runc in both slots).
#   RUNC_BIN     runc binary (default /usr/sbin/runc)
#   CRUN_BIN     crun binary (default crun, installed with apt-get when missing); CRUN=0 leaves
#                crun out
#   BASELINE_BIN another hardrun binary (e.g. a build before an optimization), benchmarked in the
#                same rounds as "hardrun-base" (protection paid, like hardrun): the ratio
#                hardrun/hardrun-base within one run is what judges a change on a loaded machine
#   PROFILE      hardrun's profile (default restricted); the script writes a configuration in
#                bench/work/ (audit log there too) unless HARDRUN_CONFIG is set
#   RSS_RUNS     runs of `run` per variant under GNU time (%M, peak RSS), untimed (default 5)
#   STAGE_RUNS   runs of `run` per hardrun variant with HARDRUN_TRACE_TIMING=1, untimed, for the
#                per-stage breakdown (median per stage; default 15)
#   STATE_TMPFS  1 (default): every runtime's --root on a tmpfs, as containerd and Docker keep
#                theirs under /run; 0: in bench/work on the disk
#   VAR_FS       where hardrun's audit log and forensic records go (what /var/log/hardrun and
#                /var/lib/hardrun are on a host): ext4 (default) a journaled ext4, as Debian
#                installs /var, made fresh for each bench in bench/work/var.img and loop-mounted
#                on bench/work/var inside the bench's mount namespace; disk: bench/work/var on
#                whatever filesystem bench/work is on. An ext4 without a journal (this VM's root
#                is one) does not reuse an inode freed in the last 5 s (5 min more while its
#                inode-table block is dirty): each file creation looks up and skips every such
#                inode it finds free. After a bench's thousands of records are removed, hardrun's
#                file creations there cost up to ms each (bench/REPORT.md part 7)
#   RUNS         timed runs per runtime and scenario (default 30, >= 2)
#   WARMUP       warmup runs per runtime and scenario, before the first round (default 5)
#   ROUND_SIZE   runs per hyperfine round (default 5). The runs are split into rounds; every
#                round benchmarks all variants, and the order rotates from round to round, so a
#                load change on the machine hits all variants alike.
#   PROTECT_VARIANT  1 (default): also benchmark "hardrun-ro", the same hardrun binary (a copy in
#                bench/work/robin-src) run from bench/work/robin, a read-only bind mount the
#                script sets up and unmounts at exit. hardrun skips its binary protection
#                (a read-only clone of its mount + re-exec, on create/run/exec) when its binary
#                is already on a read-only mount, so hardrun - hardrun-ro = the protection's
#                cost. 0: runc and hardrun only.
#
# Scenarios (same bundle for all variants: busybox rootfs, /bin/true, terminal=false; a separate
# --root state dir per variant; container ids differ per variant so default cgroup paths differ):
#   run    <rt> --root R run --bundle B <id>          (run without --detach deletes at exit)
#   cycle  bench/cycle.sh <rt> R B <id>               (create, start, poll state until
#                                                      "stopped", delete)
# Work files (bundle, state dirs, hyperfine JSON, logs) go to bench/work/ (git-ignored).
# Exits non-zero when the preflight or any timed run fails; REPORT.md then says what failed.
set -euo pipefail
export LC_ALL=C

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH")
WORK=$BENCH/work
REPORT=$BENCH/REPORT.md
# the hand-written sections below this line survive every regeneration, a failed run's included
KEEP_MARKER='<!-- not regenerated: everything below this line is kept by bench/run.sh -->'
BUNDLE=$WORK/bundle
CHECK_BUNDLE=$WORK/bundle-check
CYCLE=$BENCH/cycle.sh

RUNC_BIN=${RUNC_BIN:-/usr/sbin/runc}
HARDRUN_BIN=${HARDRUN_BIN:-}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-5}
ROUND_SIZE=${ROUND_SIZE:-5}
PROTECT_VARIANT=${PROTECT_VARIANT:-1}
CRUN=${CRUN:-1}
CRUN_BIN=${CRUN_BIN:-crun}
BASELINE_BIN=${BASELINE_BIN:-}
PROFILE=${PROFILE:-restricted}
RSS_RUNS=${RSS_RUNS:-5}
STAGE_RUNS=${STAGE_RUNS:-15}
STATE_TMPFS=${STATE_TMPFS:-1}
VAR_FS=${VAR_FS:-ext4}

INVOCATION="${BASELINE_BIN:+BASELINE_BIN=$BASELINE_BIN }STATE_TMPFS=$STATE_TMPFS VAR_FS=$VAR_FS RUNS=$RUNS WARMUP=$WARMUP ROUND_SIZE=$ROUND_SIZE PROTECT_VARIANT=$PROTECT_VARIANT CRUN=$CRUN PROFILE=$PROFILE RSS_RUNS=$RSS_RUNS STAGE_RUNS=$STAGE_RUNS RUNC_BIN=$RUNC_BIN HARDRUN_BIN=${HARDRUN_BIN:-<default>} bench/run.sh"

log() { echo "[bench] $*" >&2; }
die() { echo "[bench] ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# checks
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
if ! is_uint "$RUNS" || [ "$RUNS" -lt 2 ]; then die "RUNS must be an integer >= 2 (got '$RUNS')"; fi
is_uint "$WARMUP" || die "WARMUP must be an integer >= 0 (got '$WARMUP')"
if ! is_uint "$ROUND_SIZE" || [ "$ROUND_SIZE" -lt 1 ]; then die "ROUND_SIZE must be an integer >= 1 (got '$ROUND_SIZE')"; fi
[[ $PROTECT_VARIANT =~ ^[01]$ ]] || die "PROTECT_VARIANT must be 0 or 1 (got '$PROTECT_VARIANT')"
[[ $CRUN =~ ^[01]$ ]] || die "CRUN must be 0 or 1 (got '$CRUN')"
is_uint "$RSS_RUNS" || die "RSS_RUNS must be an integer >= 0 (got '$RSS_RUNS')"
is_uint "$STAGE_RUNS" || die "STAGE_RUNS must be an integer >= 0 (got '$STAGE_RUNS')"
case "$STATE_TMPFS" in 0|1) ;; *) die "STATE_TMPFS must be 0 or 1 (got '$STATE_TMPFS')" ;; esac
case "$VAR_FS" in ext4|disk) ;; *) die "VAR_FS must be ext4 or disk (got '$VAR_FS')" ;; esac
[ "$(id -u)" = 0 ] || die "must run as root"
for t in hyperfine jq findmnt mountpoint unshare python3; do command -v "$t" >/dev/null || die "$t not found"; done
[ "$VAR_FS" = disk ] || command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 not found (apt-get install e2fsprogs), or VAR_FS=disk"
[ "$RSS_RUNS" = 0 ] || [ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) not found (apt-get install time)"
if [ "$CRUN" = 1 ] && ! command -v "$CRUN_BIN" >/dev/null; then
  log "$CRUN_BIN missing: apt-get install crun"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q crun >/dev/null || die "apt-get install crun failed"
fi
# one private mount namespace for the whole bench, without the hybrid cgroup2 mount (see above)
if [ -z "${HRBENCH_IN_MNTNS:-}" ]; then
  # the report names the host's layout, not the namespace's
  HRBENCH_HOST_CGMODE=$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null || true)
  export HRBENCH_HOST_CGMODE
  exec env HRBENCH_IN_MNTNS=1 unshare -m --propagation private -- "$0" "$@"
fi
CGROUP_UNIFIED_UNMOUNTED=0
if mountpoint -q /sys/fs/cgroup/unified; then
  umount /sys/fs/cgroup/unified || die "umount /sys/fs/cgroup/unified failed (inside unshare -m)"
  CGROUP_UNIFIED_UNMOUNTED=1
fi
[ -x /bin/busybox ] || die "/bin/busybox not found (apt-get install busybox-static)"
[ -x "$CYCLE" ] || die "$CYCLE missing or not executable"

abspath() { # binary name or path -> absolute path
  local p
  p=$(command -v -- "$1") || return 1
  readlink -f -- "$p"
}
RUNC_BIN=$(abspath "$RUNC_BIN") || die "runc binary not found: ${RUNC_BIN}"
if [ -z "$HARDRUN_BIN" ]; then
  HARDRUN_BIN=$REPO/target/release/hardrun
  if [ ! -x "$HARDRUN_BIN" ]; then
    log "$HARDRUN_BIN missing: cargo build --release"
    (cd "$REPO" && cargo build --release) || die "cargo build --release failed"
  fi
fi
HARDRUN_BIN=$(abspath "$HARDRUN_BIN") || die "hardrun binary not found: ${HARDRUN_BIN}"
[ "$CRUN" = 1 ] && { CRUN_BIN=$(abspath "$CRUN_BIN") || die "crun binary not found: ${CRUN_BIN}"; }
[ -z "$BASELINE_BIN" ] || { BASELINE_BIN=$(abspath "$BASELINE_BIN") || die "baseline binary not found: ${BASELINE_BIN}"; }

# hardrun-ro: a copy of the hardrun binary in RO_SRC, run through RO_DIR, a read-only bind mount
# of RO_SRC
RO_SRC=$WORK/robin-src
RO_DIR=$WORK/robin
RO_BIN=$RO_DIR/$(basename "$HARDRUN_BIN")
ALL_LABELS=(runc hardrun hardrun-ro crun hardrun-base)
LABELS=(runc hardrun)
[ "$PROTECT_VARIANT" = 1 ] && LABELS+=(hardrun-ro)
[ "$CRUN" = 1 ] && LABELS+=(crun)
declare -A BIN=([runc]=$RUNC_BIN [hardrun]=$HARDRUN_BIN [hardrun-ro]=$RO_BIN [crun]=$CRUN_BIN [hardrun-base]=$BASELINE_BIN)
HR_LABELS=(hardrun)
[ "$PROTECT_VARIANT" = 1 ] && HR_LABELS+=(hardrun-ro)
[ -n "$BASELINE_BIN" ] && { LABELS+=(hardrun-base); HR_LABELS+=(hardrun-base); }
id_of() { echo "hrbench-$1-$2"; } # label scenario

mkdir -p "$WORK"
# every runtime's --root on a tmpfs mounted for the bench (in its own mount namespace), as
# containerd (/run/containerd/runc/<ns>) and Docker (/run/docker/runtime-runc) keep theirs: /run
# is a tmpfs on a Debian host, not on this VM. The audit log and the forensic records go where
# /var/log/hardrun and /var/lib/hardrun are: bench/work/var (VAR_FS). STATE_TMPFS=0: on the disk.
ROOTS=$WORK/roots
mkdir -p "$ROOTS"
if [ "$STATE_TMPFS" = 1 ]; then
  mount -t tmpfs -o mode=0700,size=512m hrbench-roots "$ROOTS" || die "mount -t tmpfs on $ROOTS failed"
fi
root_of() { echo "$ROOTS/state-$1"; }
# hardrun's configuration: the profile under test; the audit log and the forensic records under
# bench/work/var (VAR_FS: a fresh journaled ext4, or the disk bench/work is on)
VAR=$WORK/var
VAR_IMG=$WORK/var.img
fs_of() { # dir -> "ext4 (/dev/vda, no journal)" and the like
  local t src j=""
  t=$(findmnt -n -o FSTYPE -T "$1" 2>/dev/null | head -n1)
  src=$(findmnt -n -o SOURCE -T "$1" 2>/dev/null | head -n1)
  if [ "$t" = ext4 ] && [ -d /proc/fs/jbd2 ]; then
    if compgen -G "/proc/fs/jbd2/$(basename "$src")-*" >/dev/null; then j=", with a journal"; else j=", no journal"; fi
  fi
  echo "${t:-?} ($src$j)"
}
VAR_FS_TEXT="the disk bench/work is on: $(fs_of "$WORK")"
OWN_CONFIG=0
if [ -z "${HARDRUN_CONFIG:-}" ]; then
  OWN_CONFIG=1
  export HARDRUN_CONFIG=$WORK/config.toml
  printf 'default_profile = "%s"\naudit_log = "%s"\nforensics_dir = "%s"\n' \
    "$PROFILE" "$VAR/log/hardrun/audit.jsonl" "$VAR/lib/hardrun/forensics" > "$HARDRUN_CONFIG"
  # every delete keeps a forensic record there and prunes the directory, reading every record
  # (about 33 us of CPU per kept record on this machine): start empty, so the numbers do not
  # depend on how many runs came before (VAR is made, and mounted, after the cleanup of
  # leftovers below)
else
  VAR_FS_TEXT="where \$HARDRUN_CONFIG ($HARDRUN_CONFIG) puts them"
fi

on_ro_mount() { # path: is it on a read-only mount (what statvfs reports as ST_RDONLY)?
  local o
  o=$(findmnt -n -o OPTIONS -T "$1" 2>/dev/null | head -n1) || return 1
  [[ ,$o, == *,ro,* ]]
}
unmount_ro() {
  local i
  for i in 1 2 3 4 5; do
    mountpoint -q "$RO_DIR" 2>/dev/null || return 0
    umount "$RO_DIR" 2>/dev/null && continue
    sleep 0.2
    [ "$i" = 5 ] && { log "umount $RO_DIR failed, detaching it lazily"; umount -l "$RO_DIR" || true; }
  done
  if mountpoint -q "$RO_DIR" 2>/dev/null; then log "WARNING: $RO_DIR is still mounted"; fi
}

# remove what an interrupted earlier run may have left behind; also the EXIT trap
cleanup() {
  local l s b
  for l in "${ALL_LABELS[@]}"; do
    # hardrun-ro's containers are deleted with the original binary (same bytes, same state
    # format), so this works even when the read-only mount is already gone
    b=${BIN[$l]}; [ "$l" = hardrun-ro ] && b=$HARDRUN_BIN
    [ "$l" = crun ] && [ "$CRUN" = 0 ] && continue
    [ "$l" = hardrun-base ] && [ -z "$BASELINE_BIN" ] && continue
    for s in run cycle check rss stage; do
      timeout 20 "$b" --root "$(root_of "$l")" delete --force "$(id_of "$l" "$s")" >/dev/null 2>&1 || true
    done
  done
  unmount_ro
  if mountpoint -q "$VAR" 2>/dev/null; then
    umount "$VAR" 2>/dev/null || umount -l "$VAR" || log "WARNING: $VAR is still mounted"
  fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
cleanup

# bench/work/var (only with the bench's own configuration), empty: a fresh journaled ext4
# (VAR_FS=ext4) or a directory on the disk
mount_var() {
  [ "$OWN_CONFIG" = 1 ] || return 0
  rm -rf "$VAR" "$WORK/forensics" "$WORK/audit.jsonl" "$WORK/audit.jsonl.head"
  mkdir -p "$VAR"
  [ "$VAR_FS" = ext4 ] || return 0
  # sparse, 1 GiB; inode tables and journal written now, so no lazy-init thread writes during
  # the runs; the loop device goes with the unmount (cleanup, or the namespace's end)
  rm -f "$VAR_IMG"
  truncate -s 1G "$VAR_IMG" || die "cannot create $VAR_IMG"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$VAR_IMG" >/dev/null 2>&1 \
    || die "mkfs.ext4 $VAR_IMG failed"
  mount -o loop "$VAR_IMG" "$VAR" || die "mount -o loop $VAR_IMG $VAR failed (VAR_FS=disk avoids it)"
  VAR_FS_TEXT="an ext4 made for this bench (\`mkfs.ext4\` defaults, a 1 GiB loop image), as Debian installs /var: $(fs_of "$VAR")"
  log "audit log and forensic records on $VAR: $VAR_FS_TEXT"
}
mount_var

if [ "$PROTECT_VARIANT" = 1 ]; then
  log "read-only bind mount: $RO_SRC -> $RO_DIR"
  rm -rf "$RO_SRC"
  mkdir -p "$RO_SRC" "$RO_DIR"
  cp "$HARDRUN_BIN" "$RO_SRC/"
  mount --bind "$RO_SRC" "$RO_DIR" || die "mount --bind $RO_SRC $RO_DIR failed"
  mount -o remount,bind,ro "$RO_DIR" || die "remounting $RO_DIR read-only failed"
  cmp -s "$HARDRUN_BIN" "$RO_BIN" || die "$RO_BIN differs from $HARDRUN_BIN"
  on_ro_mount "$RO_BIN" || die "$RO_BIN is not on a read-only mount after the remount"
  [ ! -w "$RO_BIN" ] || die "$RO_BIN is still writable after the remount"
fi
# the hardrun variant must pay for the protection, or the cost comes out as ~0
HARDRUN_ON_RO=0
if on_ro_mount "$HARDRUN_BIN"; then
  HARDRUN_ON_RO=1
  log "WARNING: $HARDRUN_BIN is itself on a read-only mount: hardrun skips its re-exec too"
fi

# Every benchmarked binary's page cache is dropped and read back with read(2), so that all start
# from the state an installed binary is in (written by dpkg or cp, or read from disk after a
# boot). A binary just linked is not: lld writes its output through a shared mapping, and
# target/release/hardrun fresh from the linker ran a `run` 1.3 ms slower than a cp'd copy of
# the same bytes (bench/ab.py, 80 rounds: 27.19 against 25.90 ms median), 0.8 ms faster once
# its page cache was read back like this (25.19 against 26.02). Before this, that penalised the
# hardrun variant against hardrun-ro (a cp'd copy) and hardrun-base.
refresh_page_cache() { # file...
  python3 - "$@" <<'PY'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)
PY
}
REFRESH=()
for l in "${LABELS[@]}"; do # the variants of this run (no hardrun-ro copy with PROTECT_VARIANT=0)
  REFRESH+=("$(readlink -f "${BIN[$l]}")")
done
refresh_page_cache "${REFRESH[@]}" || die "cannot refresh the page cache of ${REFRESH[*]}"
log "page cache dropped and read back: ${REFRESH[*]}"

# ---------------------------------------------------------------------------------------------
# machine and versions (collected before any failure can happen, for the report)
first_lines() { # n cmd...: first n lines of the output, or a note
  local n=$1 out; shift
  out=$(timeout 10 "$@" 2>&1 | head -n "$n") || true
  [ -n "$out" ] && printf '%s\n' "$out" || echo "(no output)"
}
cgroup_mode() {
  case "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" in
    cgroup2fs) echo "v2 (unified)" ;;
    tmpfs)
      if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
        echo "v1 hybrid (v1 controllers + cgroup2 at /sys/fs/cgroup/unified)"
      else echo "v1 (legacy)"; fi ;;
    *) echo "unknown" ;;
  esac
}
DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
NPROC=$(nproc)
KERNEL=$(uname -srm)
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
CGMODE=$(cgroup_mode)
if [ "${HRBENCH_HOST_CGMODE:-}" = cgroup2fs ] && [ "$CGROUP_UNIFIED_UNMOUNTED" = 1 ]; then
  CGMODE="v1 hybrid (v1 controllers + cgroup2 at /sys/fs/cgroup/unified, unmounted in the bench's mount namespace)"
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
V_RUNC=$(first_lines 1 "$RUNC_BIN" --version)
V_CRUN="(not benchmarked)"
[ "$CRUN" = 1 ] && V_CRUN=$(first_lines 1 "$CRUN_BIN" --version)
V_HARDRUN=$(first_lines 3 "$HARDRUN_BIN" --version)
V_HYPERFINE=$(first_lines 1 hyperfine --version)

# ---------------------------------------------------------------------------------------------
# bundle: busybox rootfs, config from `runc spec`
log "building bundle in $BUNDLE"
rm -rf "$BUNDLE" "$CHECK_BUNDLE"
mkdir -p "$BUNDLE/rootfs"/{bin,dev,proc,sys,tmp,etc,root} "$CHECK_BUNDLE"
cp /bin/busybox "$BUNDLE/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -s busybox "$BUNDLE/rootfs/bin/$a"
done
(cd "$BUNDLE" && "$RUNC_BIN" spec)
jq '.process.terminal = false | .process.args = ["/bin/true"]' "$BUNDLE/config.json" > "$BUNDLE/config.json.new"
mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
# check bundle: same rootfs, prints a marker, so a runtime that exits 0 without running
# anything cannot pass the preflight
jq --arg r "$BUNDLE/rootfs" '.root.path = $r | .process.args = ["/bin/echo", "hrbench-ok"]' \
  "$BUNDLE/config.json" > "$CHECK_BUNDLE/config.json"

# the commands that get timed
cmd_argv() { # label scenario -> argv, one per line
  local l=$1 s=$2 r
  r=$(root_of "$l")
  case $s in
    run) printf '%s\n' "${BIN[$l]}" --root "$r" run --bundle "$BUNDLE" "$(id_of "$l" run)" ;;
    cycle) printf '%s\n' "$CYCLE" "${BIN[$l]}" "$r" "$BUNDLE" "$(id_of "$l" cycle)" ;;
  esac
}
cmd_line() { # label scenario -> one shell-quoted line (hyperfine -N splits it shell-style)
  local a out=()
  while IFS= read -r a; do out+=("$(printf '%q' "$a")"); done < <(cmd_argv "$1" "$2")
  echo "${out[*]}"
}

shquote() { # args -> one readable shell command line
  local a out=()
  for a; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+=("$a")
    elif [[ $a != *\'* ]]; then out+=("'$a'")
    else out+=("$(printf '%q' "$a")"); fi
  done
  echo "${out[*]}"
}

# hand-written sections (analysis, other benches) below the marker survive a regeneration: the
# current report's part from the marker on, on stdout
keep_below_marker() {
  if [ -f "$REPORT" ] && grep -qxF -- "$KEEP_MARKER" "$REPORT"; then
    echo
    awk -v m="$KEEP_MARKER" '$0 == m { on = 1 } on' "$REPORT"
  fi
}

# ---------------------------------------------------------------------------------------------
# failure report
FAIL_TEXT=
write_failure_report() { # headline
  {
    echo "# hardrun latency benchmark — FAILED"
    echo
    echo "Generated: $DATE by \`$INVOCATION\`"
    echo
    local ro=
    [ "$PROTECT_VARIANT" = 1 ] && ro="; hardrun-ro: \`$RO_BIN\` (copy of hardrun on a read-only bind mount)"
    echo "runc: \`$RUNC_BIN\` ($V_RUNC); hardrun: \`$HARDRUN_BIN\` ($(head -n1 <<<"$V_HARDRUN"))$ro"
    echo
    echo "**$1**"
    echo
    echo '```'
    printf '%s\n' "$FAIL_TEXT"
    echo '```'
    keep_below_marker
  } > "$WORK/REPORT.md.new"
  mv "$WORK/REPORT.md.new" "$REPORT"
  log "failure written to $REPORT"
}

DIAG_TIMEOUT=60
# run one scenario once, untimed, with --log and captured stderr; append the details to FAIL_TEXT.
# returns the command's exit status
diag_once() { # label scenario
  local l=$1 s=$2 logf=$WORK/diag-$1-$2.log errf=$WORK/diag-$1-$2.stderr rc=0 argv=()
  rm -f "$logf" "$errf"
  case $s in
    check) timeout "$DIAG_TIMEOUT" "${BIN[$l]}" --root "$(root_of "$l")" --log "$logf" run --bundle "$CHECK_BUNDLE" "$(id_of "$l" check)" \
             </dev/null >"$WORK/diag-$l-check.stdout" 2>"$errf" || rc=$? ;;
    run) argv=(timeout "$DIAG_TIMEOUT" "${BIN[$l]}" --root "$(root_of "$l")" --log "$logf" run --bundle "$BUNDLE" "$(id_of "$l" run)")
         "${argv[@]}" </dev/null >/dev/null 2>"$errf" || rc=$? ;;
    cycle) CYCLE_LOG=$logf timeout "$DIAG_TIMEOUT" "$CYCLE" "${BIN[$l]}" "$(root_of "$l")" "$BUNDLE" "$(id_of "$l" cycle)" \
             </dev/null >/dev/null 2>"$errf" || rc=$? ;;
  esac
  if [ "$s" = check ] && [ $rc = 0 ] && [ "$(cat "$WORK/diag-$l-check.stdout")" != hrbench-ok ]; then
    rc=99
    echo "[bench] $l: check container exited 0 but printed '$(head -c 200 "$WORK/diag-$l-check.stdout")' instead of 'hrbench-ok'" >>"$errf"
  fi
  if [ $rc != 0 ]; then
    FAIL_TEXT+="== $l ($(basename "${BIN[$l]}")), scenario $s: exit status $rc"$'\n'
    FAIL_TEXT+="-- stderr ($errf):"$'\n'"$(head -c 4000 "$errf" 2>/dev/null)"$'\n'
    FAIL_TEXT+="-- --log file ($logf):"$'\n'"$(tail -c 4000 "$logf" 2>/dev/null || echo '(none)')"$'\n\n'
  fi
  [ $rc = 124 ] && FAIL_TEXT+="(exit status 124: timed out after ${DIAG_TIMEOUT}s)"$'\n\n'
  timeout 20 "${BIN[$l]}" --root "$(root_of "$l")" delete --force "$(id_of "$l" "$s")" >/dev/null 2>&1 || true
  return $rc
}

# ---------------------------------------------------------------------------------------------
# preflight: every variant must really run a container, and each scenario must succeed once
log "preflight"
ok=1
for l in "${LABELS[@]}"; do
  for s in check run cycle; do
    if diag_once "$l" "$s"; then log "  $l $s: ok"; else log "  $l $s: FAILED"; ok=0; fi
  done
done
if [ $ok = 0 ]; then
  printf '%s' "$FAIL_TEXT" >&2
  write_failure_report "Preflight failed (untimed single runs with --log):"
  exit 1
fi

# ---------------------------------------------------------------------------------------------
# timed rounds
rm -f "$WORK"/hf-*.json
SCENARIOS=(run cycle)
declare -A HF_EXAMPLE
done_runs=0 round=0
while [ $done_runs -lt "$RUNS" ]; do
  n=$((RUNS - done_runs)); [ $n -gt "$ROUND_SIZE" ] && n=$ROUND_SIZE
  w=0; [ $round = 0 ] && w=$WARMUP
  k=$((round % ${#LABELS[@]})) # rotate: round r starts with LABELS[r mod n]
  order=("${LABELS[@]:k}" "${LABELS[@]:0:k}")
  for s in "${SCENARIOS[@]}"; do
    json=$WORK/hf-$s-r$round.json
    hf=(hyperfine -N --style basic --runs "$n" --warmup "$w" --export-json "$json")
    for l in "${order[@]}"; do hf+=(-n "$l" "$(cmd_line "$l" "$s")"); done
    [ $round = 0 ] && HF_EXAMPLE[$s]=$(shquote "${hf[@]}")
    log "round $round ($n runs, warmup $w, order ${order[*]}): $s"
    if ! "${hf[@]}"; then
      log "hyperfine failed in round $round, scenario $s; re-running each runtime untimed with --log"
      FAIL_TEXT="hyperfine: $(shquote "${hf[@]}")"$'\n\n'
      for l in "${LABELS[@]}"; do # up to 5 untimed tries each, to catch an intermittent failure
        for _ in 1 2 3 4 5; do diag_once "$l" "$s" || break; done
      done
      [ -n "${FAIL_TEXT#*$'\n\n'}" ] || FAIL_TEXT+="(5 untimed re-runs per variant all succeeded: the failure was intermittent)"$'\n'
      printf '%s' "$FAIL_TEXT" >&2
      write_failure_report "A timed run failed (round $round, scenario $s); details from untimed re-runs with --log:"
      exit 1
    fi
  done
  done_runs=$((done_runs + n)); round=$((round + 1))
done

# ---------------------------------------------------------------------------------------------
# peak RSS (GNU time %M: the largest resident set of the runtime process and the processes it
# waited for), untimed runs of `run`
declare -A RSS_MED RSS_MAX
if [ "$RSS_RUNS" -gt 0 ]; then
  log "peak RSS: $RSS_RUNS runs of run per variant under /usr/bin/time -f %M"
  for l in "${LABELS[@]}"; do
    vals=()
    for _ in $(seq "$RSS_RUNS"); do
      /usr/bin/time -f %M -o "$WORK/rss.txt" "${BIN[$l]}" --root "$(root_of "$l")" run --bundle "$BUNDLE" "$(id_of "$l" rss)" \
        </dev/null >/dev/null 2>&1 || die "$l: run under /usr/bin/time failed"
      vals+=("$(tail -n1 "$WORK/rss.txt")")
    done
    RSS_MED[$l]=$(printf '%s\n' "${vals[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
    RSS_MAX[$l]=$(printf '%s\n' "${vals[@]}" | sort -n | tail -n1)
  done
fi

# ---------------------------------------------------------------------------------------------
# per-stage breakdown: HARDRUN_TRACE_TIMING=1 prints "hardrun-timing pid=P stage=S ms=X" lines on
# stderr; untimed runs of `run`, the median per stage
STAGES_MD=$WORK/stages.md
: > "$STAGES_MD"
if [ "$STAGE_RUNS" -gt 0 ]; then
  log "stage breakdown: $STAGE_RUNS runs of run per hardrun variant with HARDRUN_TRACE_TIMING=1"
  # interleaved (one run of each variant per round), so that the machine's drift over the runs
  # falls on all variants alike, as in the timed rounds
  for l in "${HR_LABELS[@]}"; do : > "$WORK/stages-$l.txt"; done
  for i in $(seq "$STAGE_RUNS"); do
    for l in "${HR_LABELS[@]}"; do
      HARDRUN_TRACE_TIMING=1 "${BIN[$l]}" --root "$(root_of "$l")" run --bundle "$BUNDLE" "$(id_of "$l" stage)" \
        </dev/null >/dev/null 2>"$WORK/stage-err.txt" || die "$l: run with HARDRUN_TRACE_TIMING=1 failed: $(head -c 2000 "$WORK/stage-err.txt")"
      grep '^hardrun-timing ' "$WORK/stage-err.txt" | sed "s/^/run=$i /" >> "$WORK/stages-$l.txt"
    done
  done
  python3 - "$WORK" "${HR_LABELS[@]}" > "$STAGES_MD" <<'PY'
import re, statistics, sys
work, labels = sys.argv[1], sys.argv[2:]
order, data = [], {}
for l in labels:
    seen = {}
    for line in open(f"{work}/stages-{l}.txt"):
        m = re.match(r"run=(\d+) hardrun-timing pid=(\d+) stage=(\S+) ms=([0-9.]+)", line)
        if not m:
            continue
        run, _pid, stage, ms = m.groups()
        # a stage that repeats within one run (the re-executed process) gets a suffix
        n = seen.setdefault((run, stage), 0) + 1
        seen[(run, stage)] = n
        key = stage if n == 1 else f"{stage} ({n})"
        if key not in order:
            order.append(key)
        data.setdefault(key, {}).setdefault(l, []).append(float(ms))
order = [k for k in order if k != "total"] + ["total"]
print("| stage | " + " | ".join(f"{l} median ms" for l in labels) + " |")
print("|---|" + "---:|" * len(labels))
for k in order:
    cells = []
    for l in labels:
        v = data.get(k, {}).get(l)
        cells.append(f"{statistics.median(v):.2f}" if v else "–")
    name = f"**{k}**" if k == "total" else k
    print(f"| {name} | " + " | ".join(cells) + " |")
PY
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# merge the rounds and compute statistics (seconds) with jq
for s in "${SCENARIOS[@]}"; do
  jq -s --arg scenario "$s" '
    def stats: sort as $t | ($t | length) as $n | ($t | add / $n) as $mean
      | { n: $n, mean: $mean,
          median: (if $n % 2 == 1 then $t[($n - 1) / 2] else ($t[$n / 2 - 1] + $t[$n / 2]) / 2 end),
          stddev: (if $n > 1 then (($t | map((. - $mean) * (. - $mean)) | add) / ($n - 1) | sqrt) else 0 end),
          min: $t[0], max: $t[-1] };
    { scenario: $scenario, unit: "s",
      results: ([ .[].results[] ] | group_by(.command)
        | map({ command: .[0].command, times: (map(.times[])),
                 cpu: (map(.user + .system) | stats | .median) }
              | . + (.times | stats))) }' "$WORK"/hf-"$s"-r*.json > "$WORK/$s.json"
done

row() { # scenario label -> markdown table row
  local to_crun=
  [ "$CRUN" = 1 ] && to_crun=" $(ratio "$1" "$2" crun) |"
  jq -r --arg l "$2" '.results[] | select(.command == $l)
    | [.median, .mean, .stddev, .min, .max, .cpu, .n] | map(tostring) | join(" ")' "$WORK/$1.json" |
  { read -r med mean sd min max cpu n
    printf '| %s | %.1f | %.1f ± %.1f | %.1f | %.1f | %.1f | %s |%s %d |\n' "$2" \
      "$(ms "$med")" "$(ms "$mean")" "$(ms "$sd")" "$(ms "$min")" "$(ms "$max")" "$(ms "$cpu")" \
      "$(ratio "$1" "$2" runc)" "$to_crun" "$n"; }
}
ms() { awk -v s="$1" 'BEGIN { printf "%.3f", s * 1000 }'; }
median_of() { jq -r --arg l "$2" '.results[] | select(.command == $l) | .median' "$WORK/$1.json"; }
ratio() { # scenario label [base] -> median(label) / median(base), base runc by default
  awk -v a="$(median_of "$1" "${2:-hardrun}")" -v b="$(median_of "$1" "${3:-runc}")" 'BEGIN { printf "%.2f", a / b }'
}
protect_cost() { # scenario -> median hardrun - median hardrun-ro, in ms
  awk -v a="$(median_of "$1" hardrun)" -v b="$(median_of "$1" hardrun-ro)" 'BEGIN { printf "%.1f", (a - b) * 1000 }'
}

declare -A TITLE=([run]="run of a /bin/true container" [cycle]="create + start + wait + delete")
declare -A DESC=(
  [run]="\`<rt> --root <state> run --bundle <bundle> <id>\` (no --detach: the runtime deletes the container at exit)"
  [cycle]="\`bench/cycle.sh <rt> <state> <bundle> <id>\`: \`create --bundle B ID </dev/null >/dev/null 2>&1\`, \`start ID\`, \`state ID\` polled without sleep until \`\"status\": \"stopped\"\` (max 2000 polls), \`delete ID\`"
)

{
  echo "# hardrun latency benchmark"
  echo
  echo "Generated: $DATE (regenerated by every run of \`bench/run.sh\`)"
  echo
  echo "## Machine"
  echo "- CPUs (nproc): $NPROC${CPU:+ — $CPU}"
  echo "- kernel: $KERNEL"
  echo "- cgroup mode: $CGMODE"
  echo "- load average (1/5/15 min): $LOAD_START at start, $LOAD_END at end"
  echo
  echo "## Versions"
  echo "- runc (\`$RUNC_BIN\`): $V_RUNC"
  echo "- hardrun (\`$HARDRUN_BIN\`):"
  echo '  ```'
  while IFS= read -r line; do echo "  $line"; done <<<"$V_HARDRUN"
  echo '  ```'
  echo "- $V_HYPERFINE"
  if [ "$RUNC_BIN" = "$HARDRUN_BIN" ]; then
    echo
    echo "**Note: the hardrun slot is runc itself — this is a validation run of the harness, not a comparison.**"
  fi
  [ "$PROTECT_VARIANT" = 1 ] && echo "- hardrun-ro (\`$RO_BIN\`): byte-identical copy of the hardrun binary on a read-only bind mount"
  [ "$CRUN" = 1 ] && echo "- crun (\`$CRUN_BIN\`): $V_CRUN"
  [ -n "$BASELINE_BIN" ] && echo "- hardrun-base (\`$BASELINE_BIN\`): the baseline build, same profile and protection as hardrun"
  echo "- hardrun profile: \`$PROFILE\` (configuration \`$HARDRUN_CONFIG\`)"
  echo
  echo "## Method"
  echo "- Bundle: busybox-static rootfs (\`busybox --list\` applet symlinks), config from \`runc spec\` with"
  echo "  \`process.terminal=false\`, \`process.args=[\"/bin/true\"]\` (read-only rootfs, default namespaces)."
  echo "  The same bundle serves all variants; each variant has its own \`--root\` state dir and container ids."
  echo "- $RUNS timed runs per variant and scenario after $WARMUP warmup run(s), measured with \`hyperfine -N\`"
  echo "  (no shell) in rounds of $ROUND_SIZE runs; each round benchmarks all ${#LABELS[@]} variants (${LABELS[*]}),"
  echo "  rotating which goes first, so load changes on the machine hit all alike. Times are wall-clock, in ms."
  echo "- All variants run inside one \`unshare -m\` (private propagation) in which \`/sys/fs/cgroup/unified\`,"
  echo "  the hybrid layout's empty cgroup2 mount, is unmounted (unmounted here: $CGROUP_UNIFIED_UNMOUNTED): crun 1.8.1"
  echo "  refuses the hybrid layout otherwise. All runtimes see the same cgroup v1 hierarchies."
  echo "- CPU ms: user + system time of the runtime and every process it waited for (the container's"
  echo "  included), hyperfine's per-round mean, median over the rounds. On a loaded 2-CPU machine wall time"
  echo "  also holds the waits for a CPU at every hand-over between processes; CPU time is the steadier number."
  echo "- A preflight runs each scenario once per variant (untimed) and checks that a container printing a"
  echo "  marker really prints it."
  if [ "$STATE_TMPFS" = 1 ]; then
    echo "- Every runtime's \`--root\` is on a tmpfs mounted for the bench, as containerd and Docker keep theirs"
    echo "  under /run (a tmpfs on a Debian host; this VM's /run is on its disk)."
  else
    echo "- Every runtime's \`--root\` is in bench/work, on the disk (STATE_TMPFS=0)."
  fi
  echo "- hardrun's audit log and forensic records (/var/log/hardrun, /var/lib/hardrun on a host) are on"
  echo "  $VAR_FS_TEXT (VAR_FS=$VAR_FS; see run.sh)."
  echo "- Before any run, every benchmarked binary's page cache is dropped (\`POSIX_FADV_DONTNEED\`) and read"
  echo "  back with read(2): all start as an installed binary does. One fresh from the linker (written"
  echo "  through a shared mapping) ran \`run\` ≈1.3 ms slower than a copy of the same bytes (see run.sh)."
  if [ "$PROTECT_VARIANT" = 1 ]; then
    echo "- Cost of the binary protection (CVE-2019-5736 class): on \`create\`, \`run\` and \`exec\`, hardrun"
    echo "  checks statvfs(/proc/self/exe) and, unless the binary is on a read-only mount, re-executes itself"
    echo "  from a read-only clone of its binary's mount (or, before Linux 5.12, from a read-only binding in a"
    echo "  private mount namespace). **hardrun** is the"
    echo "  normal case (binary on a read-write path, protection paid); **hardrun-ro** is the same binary (a"
    echo "  byte-identical copy in \`bench/work/robin-src\`) run from \`bench/work/robin\`, a read-only bind mount"
    echo "  of that directory that the script creates and unmounts at exit, so only the statvfs remains."
    echo "  median hardrun − median hardrun-ro estimates the protection's cost (in \`cycle\` only \`create\`"
    echo "  pays it). It is a difference of two noisy medians: compare it with the spread (σ, min, max)."
    if [ "$HARDRUN_ON_RO" = 1 ]; then
      echo "  **Warning: \`$HARDRUN_BIN\` is itself on a read-only mount, so hardrun skipped the protection"
      echo "  too; the cost below is not meaningful.**"
    fi
  fi
  for s in "${SCENARIOS[@]}"; do
    echo
    echo "## ${TITLE[$s]}"
    echo "${DESC[$s]}"
    echo
    if [ "$CRUN" = 1 ]; then
      echo "| runtime | median | mean ± σ | min | max | CPU ms | ×runc | ×crun | runs |"
      echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    else
      echo "| runtime | median | mean ± σ | min | max | CPU ms | ×runc | runs |"
      echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    fi
    for l in "${LABELS[@]}"; do row "$s" "$l"; done
    echo
    echo "**hardrun/runc (medians): $(ratio "$s")**"
    [ "$CRUN" = 1 ] && { echo; echo "**hardrun/crun (medians): $(ratio "$s" hardrun crun)**"; }
    [ -n "$BASELINE_BIN" ] && { echo; echo "**hardrun/hardrun-base (medians, same rounds): $(ratio "$s" hardrun hardrun-base)**"; }
    if [ "$PROTECT_VARIANT" = 1 ]; then
      echo
      echo "hardrun-ro/runc (medians): $(ratio "$s" hardrun-ro)"
      echo
      echo "**binary protection cost (median hardrun − median hardrun-ro): $(protect_cost "$s") ms**"
    fi
  done
  if [ "$RSS_RUNS" -gt 0 ]; then
    echo
    echo "## Peak RSS"
    echo "GNU time \`%M\` of \`<rt> run\` ($RSS_RUNS untimed runs per variant): the largest resident set of the"
    echo "runtime process and of the processes it waited for, in KiB."
    echo
    echo "| runtime | median KiB | max KiB |"
    echo "|---|---:|---:|"
    for l in "${LABELS[@]}"; do echo "| $l | ${RSS_MED[$l]} | ${RSS_MAX[$l]} |"; done
  fi
  if [ -s "$STAGES_MD" ]; then
    echo
    echo "## Where hardrun's time goes (run, per stage)"
    echo "\`HARDRUN_TRACE_TIMING=1 hardrun run …\`, $STAGE_RUNS untimed runs per variant after the timed rounds, interleaved (one run of each variant per round);"
    echo "median per stage, in ms (each stage: time since the previous one ended). \`protect-reexec\` is the"
    echo "binary protection's mount clone (or unshare and mounts) and execve up to \`main\` of the re-executed process; a stage"
    echo "with a \`(2)\` ran again in the re-executed process; \`total\` is \`main\` of the first process to"
    echo "just before exit (process start-up before \`main\`, i.e. execve and dynamic linking, is not in it)."
    echo
    cat "$STAGES_MD"
  fi
  echo
  echo "## How this was produced"
  echo '```'
  echo "$INVOCATION"
  echo '```'
  echo "First-round hyperfine commands (later rounds: same commands, \`--warmup 0\`, order rotated by one each round):"
  echo '```'
  for s in "${SCENARIOS[@]}"; do echo "${HF_EXAMPLE[$s]}"; done
  echo '```'
  echo "Raw data: \`bench/work/hf-<scenario>-r<round>.json\` (hyperfine exports), merged per scenario into"
  echo "\`bench/work/run.json\` and \`bench/work/cycle.json\` (times in seconds)."
  keep_below_marker
} > "$WORK/REPORT.md.new"
mv "$WORK/REPORT.md.new" "$REPORT"

log "report: $REPORT"
for s in "${SCENARIOS[@]}"; do
  msg="$s: runc median $(ms "$(median_of "$s" runc)") ms, hardrun median $(ms "$(median_of "$s" hardrun)") ms, ratio $(ratio "$s")"
  if [ "$PROTECT_VARIANT" = 1 ]; then
    msg+="; hardrun-ro median $(ms "$(median_of "$s" hardrun-ro)") ms, ratio $(ratio "$s" hardrun-ro), protection cost $(protect_cost "$s") ms"
  fi
  [ -n "$BASELINE_BIN" ] && msg+="; hardrun/hardrun-base $(ratio "$s" hardrun hardrun-base)"
  [ "$CRUN" = 1 ] && msg+="; crun median $(ms "$(median_of "$s" crun)") ms, hardrun/crun $(ratio "$s" hardrun crun)"
  log "$msg"
done
