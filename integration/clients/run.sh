#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2001,SC2015,SC2317
# (SC2016: single-quoted $(...) are for the container's shell; SC2015: "A && B || true" is meant;
#  SC2317: functions called through wait_for; SC2001: sed for indenting multi-line text)
# integration/clients/run.sh - end-to-end tests of hardrun under real OCI-runtime clients:
#   containerd 1.6 (ctr), containerd's CRI plugin (a small Python CRI v1 client), dockerd 20.10
#   and podman 4.3, as packaged by Debian 12.
#
# usage: integration/clients/run.sh [all|containerd|cri|docker|podman]...   (default: all)
#
# environment:
#   HARDRUN_BIN   runtime under test (default <repo>/target/release/hardrun); any runc-compatible
#                 binary works, e.g. HARDRUN_BIN=/usr/sbin/runc to validate the harness itself
#   WORK          private work dir (default <repo>/integration/work/clients, gitignored); daemon
#                 state in it is wiped at the start of every run, the CRI venv/proto are kept
#   HARDRUN_WRAP  1 (default): clients call $WORK/bin/hardrun, a wrapper that logs every argv and
#                 exit code to $WORK/logs/argv.log, runs HARDRUN_BIN and keeps a copy of the
#                 runtime's --log file in $WORK/logs/runtime-logs/ (the shims delete bundles).
#                 0: clients call HARDRUN_BIN directly.
#   TMO           timeout in seconds of each client command (default 60)
#   VERBOSE       1: also print every client command's output
#
# Must run as root on a host where containerd, dockerd and podman are installed but whose
# system-wide instances are not needed: containerd and dockerd are started here by hand with all
# state in $WORK and stopped again by PID at exit (dockerd uses our containerd). The system's
# /var/lib/{docker,containerd}, /var/lib/containers/storage, /etc/containers, ~/.docker are not
# used. Hard-coded in the tools and so outside $WORK: containerd 1.6 shim sockets
# (/run/containerd/s), dockerd's /run/docker/plugins, podman's /run/containers/networks and
# /var/lib/containers/cache/blob-info-cache-v1.boltdb, and the runtime's default state root
# (podman's cleanup process never passes --root). What did not exist before is removed again.
#
# Output: one "PASS  <section>: <check>" / "FAIL  <section>: <check>" line per check (a FAIL is
# followed by details: client output, failing runtime calls, runtime --log error lines), then a
# summary and a last line "<N> passed, <N> failed". Exit status 1 if anything failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))
HARDRUN_BIN=${HARDRUN_BIN:-$REPO/target/release/hardrun}
WORK=${WORK:-$REPO/integration/work/clients}
HARDRUN_WRAP=${HARDRUN_WRAP:-1}
TMO=${TMO:-60}
VERBOSE=${VERBOSE:-0}

NS=hardrun-itest                      # containerd namespace of the ctr tests; cgroup name prefix
IMG_CTR=localhost/busybox-itest:latest
IMG_PAUSE=localhost/busybox-itest:pause
IMG_IMPORT=localhost/busybox-import:latest
K8S_CRI_VERSION=0.11.0                # crate that ships the CRI v1 proto

CTRD_DIR=$WORK/containerd
CTRD_SOCK=$CTRD_DIR/containerd.sock
DOCKER_DIR=$WORK/docker
DOCKER_SOCK=$DOCKER_DIR/docker.sock
PODMAN_DIR=$WORK/podman
LOGS=$WORK/logs
T=$WORK/tmp
CRI_DIR=$WORK/cri                     # kept between runs (proto, generated code)
VENV=$WORK/venv                       # kept between runs
DOCKER=/usr/bin/docker                # Debian's docker.io client (not some other docker in PATH)
CNI_BRIDGE=hrtest0                    # the CRI pods' bridge, made and removed by section_cri
CNI_SUBNET=10.237.0                   # its /24: private, checked unused on the host first
BRIDGE_MADE=0

PASSED=0
FAILED=0
FAIL_LIST=()
SECTION=setup
CTRD_PID=
DOCKERD_PID=
CLEANED=0
START_TS=$(date +%s)

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { say "ERROR: $*" >&2; exit 2; }

# ------------------------------------------------------------------------------------------------
# checks

pass() {
  PASSED=$((PASSED + 1))
  printf 'PASS  %s: %s\n' "$SECTION" "$1"
}

fail() {  # name [details]
  FAILED=$((FAILED + 1))
  FAIL_LIST+=("$SECTION: $1")
  printf 'FAIL  %s: %s\n' "$SECTION" "$1"
  if [ -n "${2:-}" ]; then printf '%b\n' "$2" | tail -n 25 | sed 's/^/      | /'; fi
  show_diagnostics
}

# Remember where every log was when a check started, so a FAIL can show what happened since.
begin_check() {
  touch "$T/check.mark"
  CK_ARGV=$(fsize "$LOGS/argv.log")
  CK_CTRD=$(fsize "$LOGS/containerd.log")
  CK_DOCKERD=$(fsize "$LOGS/dockerd.log")
}
fsize() { if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi; }
since() { if [ -f "$1" ]; then tail -c +"$(($2 + 1))" "$1"; fi; }   # file from a byte offset

show_diagnostics() {
  show_diagnostics_ | sed "s|$WORK|\$WORK|g"
}
show_diagnostics_() {
  local x
  x=$(since "$LOGS/argv.log" "${CK_ARGV:-0}" | grep -E '^[^ ]+ end rc=[1-9]' | cut -c1-400 | tail -n 8 || true)
  [ -n "$x" ] && { echo "      runtime calls that failed:"; sed 's/^/      | /' <<<"$x"; }
  local logs
  logs=$(runtime_logs_newer "$T/check.mark")
  if [ -n "$logs" ]; then
    x=$(xargs -r cat <<<"$logs" 2>/dev/null | grep -E '"level":"(error|fatal|panic)"|^[^{]' | cut -c1-400 | tail -n 10 || true)
    [ -n "$x" ] && { echo "      runtime --log errors:"; sed 's/^/      | /' <<<"$x"; }
    x=$(xargs -r cat <<<"$logs" 2>/dev/null | grep -E '"level":"warn' | sed -E 's/,?"time":"[^"]*"//' |
        sort | uniq -c | sort -rn | head -n 5 || true)
    [ -n "$x" ] && { echo "      runtime --log warnings (count, message):"; sed 's/^ */      | /' <<<"$x"; }
  fi
  x=$(since "$LOGS/containerd.log" "${CK_CTRD:-0}" | grep -E 'level=(error|fatal|panic)' | cut -c1-400 | tail -n 5 || true)
  [ -n "$x" ] && { echo "      containerd errors:"; sed 's/^/      | /' <<<"$x"; }
  x=$(since "$LOGS/dockerd.log" "${CK_DOCKERD:-0}" | grep -E 'level=(error|fatal|panic)' | cut -c1-400 | tail -n 5 || true)
  [ -n "$x" ] && { echo "      dockerd errors:"; sed 's/^/      | /' <<<"$x"; }
  return 0
}

# Runtime --log files modified after a marker: the wrapper's copies (HARDRUN_WRAP=1), or the
# --log files of bundles that still exist (HARDRUN_WRAP=0; the shims delete them with the bundle).
runtime_logs_newer() {
  if [ "$HARDRUN_WRAP" = 1 ]; then
    find "$LOGS/runtime-logs" -type f -newer "$1" 2>/dev/null || true
  else
    find "$CTRD_DIR/state" "$PODMAN_DIR/root" "$PODMAN_DIR/runroot" \( -name log.json -o -name oci-log \) \
      -newer "$1" 2>/dev/null || true
  fi
}

# capture CMD...: run with a timeout, stdin from /dev/null; sets OUT, ERR, RC
capture() {
  RC=0
  timeout -k 5 "$TMO" "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
  OUT=$(cat "$T/out")
  ERR=$(cat "$T/err")
  CMDLINE=$(printf '%q ' "$@")
  { printf '$ %s\n' "$CMDLINE"; cat "$T/out" "$T/err"; echo "[rc=$RC]"; } >>"$LOGS/client-$SECTION.log"
  if [ "$VERBOSE" = 1 ]; then printf '      $ %s\n' "$CMDLINE"; cat "$T/out" "$T/err" | sed 's/^/      > /'; echo "      [rc=$RC]"; fi
  return 0
}

# expect NAME WANT_RC ERE CMD...: the command exits WANT_RC and its stdout matches the extended
# regex (empty regex: no output check; STREAM=err expect ...: match stderr instead).
# Returns 0 on PASS, 1 on FAIL.
expect() {
  local name=$1 want_rc=$2 re=$3 stream=${STREAM:-out} text
  shift 3
  begin_check
  capture "$@"
  local why=
  [ "$RC" = "$want_rc" ] || why="exit code $RC, want $want_rc"
  if [ "$stream" = err ]; then text=$ERR; else text=$OUT; fi
  if [ -n "$re" ] && ! grep -qE -- "$re" <<<"$text"; then why="${why:+$why; }std$stream does not match /$re/"; fi
  if [ -z "$why" ]; then pass "$name"; return 0; fi
  fail "$name" "$why\n\$ ${CMDLINE//\\/\\\\}\nstdout: $(tail -n 8 <<<"$OUT")\nstderr: $(tail -n 8 <<<"$ERR")"
  return 1
}

# out_has NAME ERE: the stdout of the last expect/capture has a line matching ERE
out_has() {
  if grep -qE -- "$2" <<<"$OUT"; then pass "$1"; return 0; fi
  fail "$1" "stdout does not match /$2/\nstdout: $(tail -n 8 <<<"$OUT")"
  return 1
}

# check_eq NAME WANT GOT [details]
check_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; return 0; fi
  fail "$1" "got '$3', want '$2'${4:+\n$4}"
  return 1
}

# wait_for SECS CMD...: poll until CMD succeeds
wait_for() {
  local end=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.2
  done
}

# cgroup v1 file of a process: cgfile PID CONTROLLER FILE
cgfile() {
  local rel
  rel=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$1/cgroup" 2>/dev/null | head -n 1)
  [ -n "$rel" ] && echo "/sys/fs/cgroup/$2$rel/$3"
}

# Section bookkeeping: the panic scan looks at everything logged since the section started.
begin_section() {
  SECTION=$1
  SEC_START=$(date +%s)
  touch "$T/section.mark"
  SEC_ARGV=$(fsize "$LOGS/argv.log")
  SEC_CTRD=$(fsize "$LOGS/containerd.log")
  SEC_DOCKERD=$(fsize "$LOGS/dockerd.log")
  echo
  say "=== section $SECTION"
}

PANIC_RE='panicked at|^panic: |[^a-z_]panic: |fatal runtime error|SIGSEGV|SIGABRT|stack backtrace:|core dumped'

end_section() {
  local calls=0 files errs bad=
  if [ -f "$LOGS/argv.log" ]; then
    calls=$(since "$LOGS/argv.log" "$SEC_ARGV" | grep -c ' start ' || true)
    # a runtime killed by a signal (134 = SIGABRT: a Rust panic with panic=abort, 139 = SIGSEGV)
    bad=$(since "$LOGS/argv.log" "$SEC_ARGV" | grep -E ' end rc=(129|13[0-9]|14[0-9]|15[0-9]) ' | cut -c1-300 || true)
  fi
  files=$(runtime_logs_newer "$T/section.mark")
  local hits
  hits=$({
    [ -n "$files" ] && xargs -r grep -HE "$PANIC_RE" <<<"$files" 2>/dev/null
    since "$LOGS/containerd.log" "$SEC_CTRD" | grep -E "$PANIC_RE" | sed 's/^/containerd.log: /'
    since "$LOGS/dockerd.log" "$SEC_DOCKERD" | grep -E "$PANIC_RE" | sed 's/^/dockerd.log: /'
    [ -f "$LOGS/client-$SECTION.log" ] && grep -E "$PANIC_RE" "$LOGS/client-$SECTION.log" | sed 's/^/client output: /'
  } 2>/dev/null | cut -c1-400 | head -n 20 || true)
  [ -n "$bad" ] && hits="${hits:+$hits
}runtime died by a signal: $bad"
  local nfiles=0
  [ -n "$files" ] && nfiles=$(wc -l <<<"$files")
  errs=0
  [ -n "$files" ] && errs=$(xargs -r cat <<<"$files" 2>/dev/null | grep -cE '"level":"(error|fatal|panic)"' || true)
  begin_check
  if [ -z "$hits" ]; then
    pass "no runtime panic/abort ($calls runtime calls, $nfiles --log files, $errs error lines)"
  else
    fail "no runtime panic/abort ($calls runtime calls, $nfiles --log files)" "$hits"
  fi
  say "section $SECTION took $(($(date +%s) - SEC_START)) s"
}

# ------------------------------------------------------------------------------------------------
# process helpers (only processes this script started, checked by PID and command line)

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# userns_host_check NAME PID: from the host, the restricted container's process PID runs in a user
# namespace mapped to a leased range (uid_map "0 START 65536", START >= 100000, not the identity
# map) as host uid START+65534 (the profile's uid 65534). Sets USERNS_START to START.
userns_host_check() {
  local name=$1 pid=$2 map uids
  USERNS_START=
  map=$(awk 'NR == 1 { print $1, $2, $3 }' "/proc/$pid/uid_map" 2>/dev/null)
  uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status" 2>/dev/null)
  if [[ $map =~ ^0\ ([0-9]+)\ 65536$ ]] && [ "${BASH_REMATCH[1]}" -ge 100000 ]; then
    USERNS_START=${BASH_REMATCH[1]}
    local u=$((USERNS_START + 65534))
    check_eq "$name: host uid of pid $pid is in its leased range (uid_map $map)" "$u $u $u $u" "$uids" || true
  else
    fail "$name: pid $pid runs in a user namespace with a leased range" "uid_map '$map', Uid '$uids'"
  fi
}

# restricted_exec_checks NAME EXEC...: what an exec'd process of a restricted container sees
# (EXEC... is the client's exec command up to the container; the command is appended): uid
# 65534 inside the container's user namespace (the map START from the host), the client's bind
# mounts readable, /dev/shm, /tmp and /dev/mqueue usable.
restricted_exec_checks() {
  local name=$1
  shift
  expect "$name: exec runs as 65534 in the container's user namespace" 0 "^65534 0 $USERNS_START 65536\$" \
    "$@" sh -c 'echo $(id -u) $(cat /proc/self/uid_map)' || true
  expect "$name: exec reads the client's bind mounts (hosts, resolv.conf, hostname)" 0 '^read-ok$' \
    "$@" sh -c 'for f in /etc/hosts /etc/resolv.conf /etc/hostname; do [ ! -e $f ] || cat $f >/dev/null || exit 1; done; echo read-ok' || true
  expect "$name: exec writes /dev/shm and /tmp, sees /dev/mqueue" 0 '^shm tmp mqueue$' \
    "$@" sh -c 'echo shm >/dev/shm/t && echo tmp >/tmp/t && grep -q " /dev/mqueue .* - mqueue " /proc/self/mountinfo && echo $(cat /dev/shm/t /tmp/t) mqueue' || true
}

# Daemons, shims, conmon, clients and runtime processes whose command line mentions the work dir
# (i.e. started by this harness): "PID COMM CMDLINE" lines. Other processes (an editor on a log
# file, ...) are never listed.
our_procs() {
  local p cmd comm rtcomm
  rtcomm=$(basename "$HARDRUN_BIN" | cut -c1-15)
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
    case "$comm" in
      containerd|containerd-shim|dockerd|conmon|podman|ctr|docker|hardrun|runc|"$rtcomm") ;;
      *) continue ;;
    esac
    cmd=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
    case "$cmd" in *"$WORK/"*) echo "$p $comm ${cmd:0:160}" ;; esac
  done
}

stop_pid() {  # pid name: TERM, wait, KILL; only if /proc/pid/comm is name and it uses our WORK
  local pid=$1 name=$2 i
  alive "$pid" || return 0
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || { say "pid $pid is not $name; not touching it"; return 0; }
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$WORK/" || { say "pid $pid ($name) is not ours; not touching it"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do alive "$pid" || break; sleep 0.2; done
  if alive "$pid"; then say "$name (pid $pid) ignored SIGTERM for 20 s, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
  say "$name (pid $pid) stopped"
}

mounts_under_work() { awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo; }

umount_work() {  # unmount everything under $WORK, deepest first
  local m
  mounts_under_work | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}

# our cgroups: /sys/fs/cgroup/<ctrl>/hardrun-itest* (ctr: /hardrun-itest/<id>, CRI, docker, podman parents)
# (only in hierarchies that are mounted: see plain_cgroup_dirs for the others)
# dirs_named_ns mounted|plain: our directories under the controllers that are (not) mounted
dirs_named_ns() {
  local c
  for c in /sys/fs/cgroup/*/; do
    if mountpoint -q "$c"; then [ "$1" = mounted ] || continue; else [ "$1" = plain ] || continue; fi
    find "$c"/"$NS"* -depth -type d 2>/dev/null || true
  done | sed 's#//*#/#g'
}
our_cgroups() { dirs_named_ns mounted; }

# podman (cgroupfs manager, cgroup v1) makes its conmon cgroup in every controller /proc/cgroups
# lists, mounted or not: for a controller with no hierarchy (hugetlb, net_cls, net_prio,
# perf_event on this kernel) it makes plain directories on the /sys/fs/cgroup tmpfs and writes
# conmon's pid into a plain file "tasks" there. Nothing is limited by them and no runtime made
# them; remove them (only such directories and their "tasks" files) so a run leaves nothing.
plain_cgroup_dirs() { dirs_named_ns plain; }
tidy_plain_cgroup_dirs() {
  local d left=()
  while read -r d; do
    [ -n "$d" ] || continue
    [ -f "$d/tasks" ] && rm -f "$d/tasks"
    rmdir "$d" 2>/dev/null || left+=("$d")
  done < <(plain_cgroup_dirs)
  [ ${#left[@]} -eq 0 ] || say "could not remove podman's plain directories: ${left[*]}"
}

# ------------------------------------------------------------------------------------------------
# clients: small scripts in $WORK/bin (usable by hand for debugging, and by "timeout")

CTR=$WORK/bin/itest-ctr          # ctr --address <our containerd>
CTRN=$WORK/bin/itest-ctrn        # ... -n hardrun-itest
DOCKER_C=$WORK/bin/itest-docker  # docker -H <our dockerd>, own DOCKER_CONFIG
PODMAN=$WORK/bin/itest-podman    # podman with our configs, --runtime <runtime under test>
# (podman gets no --runtime-flag root=...: its cleanup process, spawned by conmon, drops runtime
# flags ("delete --force ID" without --root), so the runtime's default state root is used, as for
# any podman user.)

make_client_scripts() {
  printf '#!/bin/sh\nexec ctr --address %q "$@"\n' "$CTRD_SOCK" >"$CTR"
  printf '#!/bin/sh\nexec ctr --address %q -n %q "$@"\n' "$CTRD_SOCK" "$NS" >"$CTRN"
  printf '#!/bin/sh\nDOCKER_CONFIG=%q exec %q -H %q "$@"\n' "$DOCKER_DIR/cli" "$DOCKER" "unix://$DOCKER_SOCK" >"$DOCKER_C"
  cat >"$PODMAN" <<EOF
#!/bin/sh
export CONTAINERS_CONF=$PODMAN_DIR/containers.conf
export CONTAINERS_STORAGE_CONF=$PODMAN_DIR/storage.conf
export CONTAINERS_REGISTRIES_CONF=$PODMAN_DIR/registries.conf
export TMPDIR=$PODMAN_DIR/tmp
exec podman --runtime '$RT' "\$@"
EOF
  chmod 755 "$CTR" "$CTRN" "$DOCKER_C" "$PODMAN"
}

# ------------------------------------------------------------------------------------------------
# preparation

preflight() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  [ -x "$HARDRUN_BIN" ] || die "HARDRUN_BIN=$HARDRUN_BIN is not an executable file (cargo build --release?)"
  HARDRUN_BIN=$(readlink -f "$HARDRUN_BIN")
  local t
  for t in ctr containerd containerd-shim-runc-v2 dockerd "$DOCKER" podman conmon umoci jq setsid timeout; do
    command -v "$t" >/dev/null || die "missing tool: $t (apt-get install runc containerd podman docker.io umoci jq busybox-static python3-venv)"
  done
  [ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"
  /bin/busybox --list >/dev/null 2>&1 || die "/bin/busybox is not a busybox with --list"
  case "$WORK" in /*) ;; *) die "WORK must be an absolute path" ;; esac
  [ ${#WORK} -le 64 ] || say "WARN: WORK path is long (${#WORK} chars); unix socket paths under it may exceed 108 bytes"
}

# Remove what a previous (crashed) run left, then wipe the per-run state. Keeps venv + cri.
clean_previous() {
  local p line
  mkdir -p "$WORK"
  for p in "$WORK"/docker/dockerd.pid "$WORK"/containerd/containerd.pid; do
    [ -s "$p" ] || continue
    line=$(cat "$p")
    case $p in *dockerd.pid) stop_pid "$line" dockerd ;; *) stop_pid "$line" containerd ;; esac
  done
  while read -r line; do
    [ -n "$line" ] || continue
    p=${line%% *}
    say "leftover process from an earlier run: $line; killing it"
    kill -KILL "$p" 2>/dev/null || true
  done < <(our_procs)
  umount_work
  [ -z "$(mounts_under_work)" ] || die "cannot unmount everything under $WORK: $(mounts_under_work | head -3)"
  our_cgroups | xargs -r rmdir 2>/dev/null || true
  tidy_plain_cgroup_dirs
  rm -rf "${WORK:?}"/{containerd,docker,podman,logs,tmp,bin,images,rootfs,rootfs-ctr,cri-logs}
  mkdir -p "$LOGS/runtime-logs" "$T" "$WORK/bin" "$WORK/images" "$CTRD_DIR" "$DOCKER_DIR"/{data,exec,cli} \
           "$PODMAN_DIR"/{root,runroot,tmp,networks} "$CRI_DIR"
  : >"$LOGS/argv.log"
}

# The path clients are given: a logging wrapper named "hardrun" (podman names the runtime after
# the basename), or the binary itself.
make_runtime() {
  # hardrun's policy for the client tests: the runtime-compatibility checks run under
  # HARDRUN_TEST_PROFILE (default permissive: every finding recorded in $LOGS/audit.jsonl,
  # nothing changed). Exported, so daemons, shims and conmon pass it on even without the wrapper.
  HARDRUN_CONFIG=$WORK/hardrun-config.toml
  # a copy of the restricted profile (as an operator makes one in /etc/hardrun/profiles) that
  # authorizes host network/PID/IPC namespaces for CRI pods of Kubernetes namespace kube-system
  rm -rf "${WORK:?}/profiles"
  mkdir -p "$WORK/profiles"
  if [ "$(basename "$HARDRUN_BIN")" = hardrun ]; then
    HARDRUN_CONFIG=/dev/null "$HARDRUN_BIN" profile show restricted >"$WORK/profiles/restricted.toml.new" ||
      die "$HARDRUN_BIN profile show restricted failed"
    cat >>"$WORK/profiles/restricted.toml.new" <<'EOF'

[[exceptions]]
kind = "host-namespaces"
values = ["network", "pid", "ipc"]
namespaces = ["kube-system"]
comment = "hardrun client harness: node agents (the kube-system pods of cri_test.py)"
EOF
    mv "$WORK/profiles/restricted.toml.new" "$WORK/profiles/restricted.toml"
  fi
  printf 'default_profile = "%s"\naudit_log = "%s"\nprofiles_dir = "%s"\n' "${HARDRUN_TEST_PROFILE:-permissive}" \
    "$LOGS/audit.jsonl" "$WORK/profiles" >"$HARDRUN_CONFIG"
  export HARDRUN_CONFIG
  if [ "$HARDRUN_WRAP" = 1 ]; then
    RT=$WORK/bin/hardrun
    cat >"$RT" <<EOF
#!/bin/sh
# Generated by integration/clients/run.sh. Logs argv + exit code of every runtime call to
# $LOGS/argv.log and runs the runtime (not exec: afterwards it copies the runtime's --log file,
# which the shim deletes together with the bundle, to $LOGS/runtime-logs/). Keeps the
# stdin of "update --resources -" (update-PID.json) and records created containers (creates.tsv).
REAL='$HARDRUN_BIN'
LOGDIR='$LOGS'
HARDRUN_CONFIG='$HARDRUN_CONFIG'
export HARDRUN_CONFIG
EOF
    cat >>"$RT" <<'EOF'
args=""
for a in "$@"; do args="$args '$a'"; done
printf '%s start pid=%s parent=%s(%s) ARGV:%s\n' "$(date +%H:%M:%S.%N)" "$$" "$(cat /proc/$PPID/comm 2>/dev/null)" "$PPID" "$args" >>"$LOGDIR/argv.log"
logf="" root="" prev="" last=""
for a in "$@"; do
  case "$prev" in --log) logf=$a ;; --root) root=$a ;; esac
  case "$a" in --log=*) logf=${a#--log=} ;; --root=*) root=${a#--root=} ;; esac
  prev=$a
  last=$a
done
case " $args " in
  *" 'create' "*|*" 'run' "*) printf '%s\t%s\n' "$root" "$last" >>"$LOGDIR/creates.tsv" ;;
esac
stdin=""
case " $args " in
  *" 'update'"*" '--resources' '-' "*|*" 'update'"*" '--resources=-' "*|*" 'update'"*" '-r' '-' "*)
    stdin="$LOGDIR/update-$$.json"; cat >"$stdin" ;;
esac
if [ -n "$stdin" ]; then "$REAL" "$@" <"$stdin"; else "$REAL" "$@"; fi
rc=$?
printf '%s end rc=%s pid=%s ARGV:%s%s\n' "$(date +%H:%M:%S.%N)" "$rc" "$$" "$args" "${stdin:+ STDIN:$(tr -d '\n' <"$stdin")}" >>"$LOGDIR/argv.log"
if [ -n "$logf" ] && [ -s "$logf" ]; then
  cp "$logf" "$LOGDIR/runtime-logs/$(printf '%s' "$logf" | sed 's|^/||; s|/|_|g')" 2>/dev/null
fi
exit $rc
EOF
    chmod 755 "$RT"
  else
    RT=$HARDRUN_BIN
  fi
  RT_NAME=$(basename "$RT")
  # the runtime under hardrun's restricted profile, for clients that cannot pass runtime flags
  # (ctr --runc-binary, the CRI's BinaryName)
  RR=$WORK/bin/hardrun-restricted
  printf '#!/bin/sh\nexec %s --profile=restricted "$@"\n' "$RT" >"$RR"
  chmod 755 "$RR"
  # the CRI's per-profile handlers hardrun-baseline and hardrun-ci (the names `hardrun setup
  # containerd` gives them; the package's program-name links, here wrappers keeping the argv log)
  printf '#!/bin/sh\nexec %s --profile=baseline "$@"\n' "$RT" >"$WORK/bin/hardrun-baseline"
  printf '#!/bin/sh\nexec %s --profile=ci-runner "$@"\n' "$RT" >"$WORK/bin/hardrun-ci"
  chmod 755 "$WORK/bin/hardrun-baseline" "$WORK/bin/hardrun-ci"
}

build_rootfs() {
  local r=$WORK/rootfs a
  mkdir -p "$r"/{bin,dev,etc,proc,sys,tmp,root,home/app}
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
  done
  chmod 1777 "$r/tmp"
  chmod 700 "$r/root"
  chown 1000:1000 "$r/home/app"
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$r/etc/group" <<'EOF'
root:x:0:
app:x:1000:
nogroup:x:65534:
EOF
  touch "$r/etc/hosts" "$r/etc/resolv.conf" "$r/etc/hostname"
  tar -C "$r" -cf "$WORK/images/rootfs.tar" .
  cp -a "$r" "$WORK/rootfs-ctr"          # for "ctr run --rootfs" (the runtime uses it in place)
}

# OCI image layout -> tar for "ctr image import": tags latest (prints hello-from-image) and
# pause (the CRI sandbox image: sleeps).
build_oci_image() {
  local lay=$WORK/images/layout ub=$WORK/images/ubundle arch
  arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
  umoci init --layout "$lay"
  umoci new --image "$lay:latest"
  umoci unpack --image "$lay:latest" "$ub" >/dev/null
  cp -a "$WORK/rootfs/." "$ub/rootfs/"
  umoci repack --image "$lay:latest" "$ub" >/dev/null
  umoci config --image "$lay:latest" --config.cmd /bin/sh --config.cmd -c \
    --config.cmd 'echo hello-from-image' --config.env PATH=/bin --config.workingdir / \
    --architecture "$arch" --os linux
  umoci config --image "$lay:latest" --tag pause --config.cmd /bin/sleep --config.cmd 2147483
  rm -rf "$ub"
  tar -C "$lay" -cf "$WORK/images/busybox-oci.tar" .
}

# CRI client: no crictl in Debian 12. CRI v1 proto from the k8s-cri crate (cargo fetch from
# crates.io), grpcio + grpcio-tools from PyPI into $VENV. Both are kept between runs.
prepare_cri_client() {
  local gen=$CRI_DIR/gen py
  if [ ! -s "$CRI_DIR/api.proto" ]; then
    command -v cargo >/dev/null || { echo "cargo not found (needed to fetch the k8s-cri crate)"; return 1; }
    mkdir -p "$CRI_DIR/crifetch/src"
    printf '[package]\nname = "crifetch"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n[dependencies]\nk8s-cri = "=%s"\n[workspace]\n' \
      "$K8S_CRI_VERSION" >"$CRI_DIR/crifetch/Cargo.toml"
    echo 'fn main() {}' >"$CRI_DIR/crifetch/src/main.rs"
    (cd "$CRI_DIR/crifetch" && cargo fetch -q) || return 1
    local p
    p=$(cd "$CRI_DIR/crifetch" && cargo metadata --format-version 1 -q |
        jq -r --arg v "$K8S_CRI_VERSION" '.packages[] | select(.name == "k8s-cri" and .version == $v) | .manifest_path')
    p=$(dirname "$p")/proto/v1.proto
    [ -s "$p" ] || { echo "no proto/v1.proto in the k8s-cri crate ($p)"; return 1; }
    cp "$p" "$CRI_DIR/api.proto.tmp" && mv "$CRI_DIR/api.proto.tmp" "$CRI_DIR/api.proto"
  fi
  if ! cmp -s "$HERE/cri-requirements.txt" "$VENV/.requirements" || ! "$VENV/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then
    py=/usr/bin/python3
    [ -x "$py" ] || py=$(command -v python3)
    rm -rf "$VENV"
    "$py" -m venv "$VENV" || { echo "python3 -m venv failed (apt-get install python3-venv)"; return 1; }
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/cri-requirements.txt" || return 1
    cp "$HERE/cri-requirements.txt" "$VENV/.requirements"
  fi
  if [ ! -s "$gen/api_pb2_grpc.py" ] || [ "$CRI_DIR/api.proto" -nt "$gen/api_pb2_grpc.py" ] ||
     [ "$VENV/.requirements" -nt "$gen/api_pb2_grpc.py" ]; then
    mkdir -p "$gen"
    "$VENV/bin/python" -m grpc_tools.protoc -I "$CRI_DIR" --python_out="$gen" --grpc_python_out="$gen" \
      "$CRI_DIR/api.proto" || return 1
  fi
}

write_containerd_config() {
  # the only CNI network: "hardrun-itest", Debian's bridge + host-local plugins on the bridge
  # $CNI_BRIDGE that section_cri makes ($CNI_SUBNET.1/24, a subnet nothing else on the machine
  # routes; checked first) and removes again. isGateway false and ipMasq false: the plugins set
  # no sysctl (ip_forward), no iptables rule, no default route; the host reaches pod IPs over the
  # bridge's connected route. host-local keeps its leases under the work dir.
  mkdir -p "$CTRD_DIR/cni/net.d" "$CTRD_DIR/cni/bin"
  local p
  for p in loopback bridge host-local; do ln -sf "/usr/lib/cni/$p" "$CTRD_DIR/cni/bin/$p"; done
  cat >"$CTRD_DIR/cni/net.d/10-itest.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "hardrun-itest", "plugins": [{"type": "bridge", "bridge": "$CNI_BRIDGE",
  "isGateway": false, "ipMasq": false, "hairpinMode": false,
  "ipam": {"type": "host-local", "dataDir": "$CTRD_DIR/cni/ipam",
           "ranges": [[{"subnet": "$CNI_SUBNET.0/24", "rangeStart": "$CNI_SUBNET.10", "rangeEnd": "$CNI_SUBNET.250"}]]}}]}
EOF
  cat >"$CTRD_DIR/config.toml" <<EOF
version = 2
root = "$CTRD_DIR/root"
state = "$CTRD_DIR/state"

[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  address = "$CTRD_DIR/debug.sock"
  level = "debug"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$CTRD_DIR/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$IMG_PAUSE"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    # CAP_SYS_RESOURCE may be missing from the bounding set: without this every pod sandbox
    # (oom_score_adj -998) fails with "write /proc/self/oom_score_adj: permission denied".
    restrict_oom_score_adj = true
    # pod network namespaces under containerd's state dir, not /run/netns
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "$CTRD_DIR/cni/bin"
      conf_dir = "$CTRD_DIR/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "hardrun"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun.options]
          BinaryName = "$RT"
          Root = "$CTRD_DIR/cri-runtime-root"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun-restricted]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun-restricted.options]
          BinaryName = "$RR"
          Root = "$CTRD_DIR/cri-runtime-root"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun-baseline]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun-baseline.options]
          BinaryName = "$WORK/bin/hardrun-baseline"
          Root = "$CTRD_DIR/cri-runtime-root"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun-ci]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hardrun-ci.options]
          BinaryName = "$WORK/bin/hardrun-ci"
          Root = "$CTRD_DIR/cri-runtime-root"
EOF
}

write_docker_config() {
  jq -n --arg rt "$RT" --arg cg "/$NS-docker" --arg key "$DOCKER_DIR/key.json" '{
    runtimes: { hardrun: { path: $rt }, "hardrun-restricted": { path: $rt, runtimeArgs: ["--profile=restricted"] } },
    "storage-driver": "overlay2",
    "cgroup-parent": $cg,
    iptables: false, "ip-forward": false, "ip-masq": false, bridge: "none", "userland-proxy": false,
    "deprecated-key-path": $key,
    debug: true
  }' >"$DOCKER_DIR/daemon.json"
}

write_podman_config() {
  cat >"$PODMAN_DIR/containers.conf" <<EOF
[containers]
netns = "none"
# The caller's hard rlimits are below podman's defaults for root (nofile/nproc 1048576) and
# CAP_SYS_RESOURCE may be missing: a runtime could not raise them ("setrlimit: operation not permitted").
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_DIR/events.log"
tmp_dir = "$PODMAN_DIR/tmp"
static_dir = "$PODMAN_DIR/root/libpod"
volume_path = "$PODMAN_DIR/root/volumes"
lock_type = "file"
runtime = "$RT_NAME"
# conmon passes --log-format=json --log FILE only to runtimes named here
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "hardrun", "$RT_NAME"]

[engine.runtimes]
$RT_NAME = ["$RT"]

[network]
network_config_dir = "$PODMAN_DIR/networks"
EOF
  cat >"$PODMAN_DIR/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$PODMAN_DIR/runroot"
graphroot = "$PODMAN_DIR/root"
EOF
  echo 'unqualified-search-registries = []' >"$PODMAN_DIR/registries.conf"
}

# ------------------------------------------------------------------------------------------------
# daemons

start_containerd() {
  alive "$CTRD_PID" && return 0
  write_containerd_config
  # setsid: own session, so a ^C of this script reaches only the script (the EXIT trap then
  # cleans up through the still-running daemon). Not forking: $! is containerd's PID.
  setsid containerd --config "$CTRD_DIR/config.toml" >>"$LOGS/containerd.log" 2>&1 </dev/null &
  CTRD_PID=$!
  echo "$CTRD_PID" >"$CTRD_DIR/containerd.pid"
  local i
  for i in $(seq 1 150); do
    "$CTR" version >/dev/null 2>&1 && break
    alive "$CTRD_PID" || break
    sleep 0.2
  done
  if ! "$CTR" version >/dev/null 2>&1; then
    tail -n 20 "$LOGS/containerd.log" | sed 's/^/      | /'
    return 1
  fi
  say "containerd $(containerd --version | awk '{print $3}') started, pid $CTRD_PID, socket $CTRD_SOCK"
}

start_dockerd() {
  alive "$DOCKERD_PID" && return 0
  start_containerd || return 1
  write_docker_config
  rm -f "$DOCKER_DIR/dockerd.pid"
  # --containerd: use our containerd (as Debian's docker.service uses the system one); without
  # it dockerd would pick up a system containerd at /run/containerd/containerd.sock if running.
  setsid dockerd --config-file "$DOCKER_DIR/daemon.json" --containerd "$CTRD_SOCK" \
    --data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_DIR/exec" \
    --host "unix://$DOCKER_SOCK" --pidfile "$DOCKER_DIR/dockerd.pid" \
    >>"$LOGS/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  local i
  for i in $(seq 1 300); do
    "$DOCKER_C" version >/dev/null 2>&1 && break
    alive "$DOCKERD_PID" || break
    sleep 0.2
  done
  if ! "$DOCKER_C" version >/dev/null 2>&1; then
    tail -n 20 "$LOGS/dockerd.log" | sed 's/^/      | /'
    return 1
  fi
  say "dockerd $("$DOCKER_C" version -f '{{.Server.Version}}') started, pid $DOCKERD_PID, socket $DOCKER_SOCK"
}

# Remove leftover containers through the clients, then stop the daemons by PID. Idempotent.
stop_everything() {
  local ids=() ns t
  if [ -s "$PODMAN_DIR/storage.conf" ]; then
    mapfile -t ids < <(timeout 60 "$PODMAN" ps -aq 2>/dev/null || true)
    if [ ${#ids[@]} -gt 0 ]; then
      say "removing leftover podman containers: ${ids[*]}"
      timeout 120 "$PODMAN" rm -f -t 0 "${ids[@]}" >/dev/null 2>&1 || true
    fi
  fi
  if alive "$DOCKERD_PID"; then
    mapfile -t ids < <(timeout 30 "$DOCKER_C" ps -aq 2>/dev/null || true)
    if [ ${#ids[@]} -gt 0 ]; then
      say "removing leftover docker containers: ${ids[*]}"
      timeout 120 "$DOCKER_C" rm -f "${ids[@]}" >/dev/null 2>&1 || true
    fi
    stop_pid "$DOCKERD_PID" dockerd
  fi
  if alive "$CTRD_PID"; then
    for ns in $(timeout 20 "$CTR" namespaces ls -q 2>/dev/null || true); do
      for t in $(timeout 20 "$CTR" -n "$ns" tasks ls -q 2>/dev/null || true); do
        say "removing leftover containerd task $ns/$t"
        timeout 20 "$CTR" -n "$ns" tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
        sleep 0.3
        timeout 20 "$CTR" -n "$ns" tasks delete -f "$t" >/dev/null 2>&1 || true
      done
      for t in $(timeout 20 "$CTR" -n "$ns" containers ls -q 2>/dev/null || true); do
        timeout 20 "$CTR" -n "$ns" containers rm "$t" >/dev/null 2>&1 || true
      done
    done
    stop_pid "$CTRD_PID" containerd
  fi
}

final_checks() {
  local x
  SECTION=cleanup
  echo
  say "=== section cleanup"
  begin_check
  stop_everything
  if alive "$CTRD_PID" || alive "$DOCKERD_PID"; then fail "daemons stopped" "still running: containerd=$CTRD_PID dockerd=$DOCKERD_PID"
  else pass "daemons stopped (containerd, dockerd)"; fi
  sleep 0.5
  x=$(our_procs)
  if [ -z "$x" ]; then pass "no leftover shim/conmon/runtime processes"
  else
    fail "no leftover shim/conmon/runtime processes" "$x"
    while read -r x; do kill -KILL "${x%% *}" 2>/dev/null || true; done <<<"$x"
  fi
  x=$(mounts_under_work)
  if [ -z "$x" ]; then pass "no mounts left under \$WORK"
  else fail "no mounts left under \$WORK" "$x"; umount_work; fi
  # containers' cgroups must be gone (the runtime's delete removes them); then drop our parents
  x=$(our_cgroups | while read -r d; do
        p=$(tr '\n' ' ' <"$d/cgroup.procs" 2>/dev/null || true)
        [ -z "${p// /}" ] || echo "$d (processes: $p)"
      done)
  if [ -z "$x" ]; then pass "no processes left in the test cgroups"
  else
    fail "no processes left in the test cgroups" "$x"
    our_cgroups | while read -r d; do xargs -r kill -KILL <"$d/cgroup.procs" 2>/dev/null || true; done
    sleep 0.5
  fi
  our_cgroups | xargs -r rmdir 2>/dev/null || true
  tidy_plain_cgroup_dirs
  x=$(our_cgroups; plain_cgroup_dirs)
  if [ -z "$x" ]; then pass "test cgroups removable (none left)"; else fail "test cgroups removable (none left)" "$x"; fi
  # every container the clients created is gone from the runtime's view ("state ID" fails) and
  # has nothing named after it left in the runtime's state root
  if [ -s "$LOGS/creates.tsv" ]; then
    local n root id
    n=$(sort -u "$LOGS/creates.tsv" | wc -l)
    x=$(sort -u "$LOGS/creates.tsv" | while IFS=$'\t' read -r root id; do
          if timeout 10 "$HARDRUN_BIN" ${root:+--root "$root"} state "$id" >/dev/null 2>&1; then
            echo "'state' still knows $id (root ${root:-<default>})"
          fi
          if [ -n "$root" ] && [ -d "$root" ] && [ -n "$(find "$root" -name "$id" 2>/dev/null | head -n 1)" ]; then
            echo "left in $root: $(find "$root" -name "$id" | head -n 3 | tr '\n' ' ')"
          fi
        done)
    if [ -z "$x" ]; then pass "no runtime state left for the $n containers created"
    else fail "no runtime state left for the $n containers created" "$x"; fi
  fi
  tidy_outside
  CLEANED=1
}

# Paths outside $WORK that the tools create although told otherwise (containerd 1.6 shim sockets,
# dockerd's plugin dir, podman's network run dir and blob-info cache): remove them again if they
# did not exist before the run (rmdir only: never anything with content we did not create).
# (+ the runtime's default state root /run/hardrun or /run/<binary name>, which podman's cleanup
# process uses, and /run/mount, libmount's state dir)
OUTSIDE=(/run/containerd /run/containerd/s /run/containerd/fifo /run/docker /run/docker/plugins
         /run/containers /run/containers/networks /var/lib/containers /var/lib/containers/cache
         /run/hardrun /run/hardrun/.staging "/run/$(basename "$HARDRUN_BIN")" /run/mount)
# (+ /sys/fs/cgroup/<controller> for controllers with no hierarchy mounted: podman makes them,
# see plain_cgroup_dirs)
for c in $(awk 'NR > 1 { print $1 }' /proc/cgroups); do
  mountpoint -q "/sys/fs/cgroup/$c" || OUTSIDE+=("/sys/fs/cgroup/$c")
done
OUTSIDE_FILES=(/var/lib/containers/cache/blob-info-cache-v1.boltdb)
OUTSIDE_BEFORE=()
# The record is kept in $WORK until the run has tidied up, so a run that was killed (no EXIT
# trap) is tidied up by the next one against the original record.
record_outside() {
  local p
  mkdir -p "$WORK"
  if [ -f "$WORK/outside-before.txt" ]; then
    mapfile -t OUTSIDE_BEFORE <"$WORK/outside-before.txt"
  else
    for p in "${OUTSIDE[@]}" "${OUTSIDE_FILES[@]}"; do [ -e "$p" ] && OUTSIDE_BEFORE+=("$p"); done
    printf '%s\n' "${OUTSIDE_BEFORE[@]}" >"$WORK/outside-before.txt"
  fi
  return 0
}
tidy_outside() {
  local p i removed=()
  for p in "${OUTSIDE_FILES[@]}"; do
    [[ " ${OUTSIDE_BEFORE[*]} " == *" $p "* ]] && continue
    [ -f "$p" ] && rm -f "$p" && removed+=("$p")
  done
  for ((i = ${#OUTSIDE[@]} - 1; i >= 0; i--)); do
    p=${OUTSIDE[$i]}
    [[ " ${OUTSIDE_BEFORE[*]} " == *" $p "* ]] && continue
    [ -d "$p" ] && rmdir "$p" 2>/dev/null && removed+=("$p")
  done
  [ ${#removed[@]} -eq 0 ] || say "removed what the tools created outside \$WORK: ${removed[*]}"
  rm -f "$WORK/outside-before.txt"
  return 0
}

on_exit() {
  local rc=$?
  if [ "$CLEANED" = 0 ]; then
    trap - INT TERM
    say "cleaning up after an interrupted run (exit $rc)"
    stop_everything || true
    remove_bridge || true
    umount_work || true
    our_cgroups | xargs -r rmdir 2>/dev/null || true
    tidy_outside
  fi
}

# ------------------------------------------------------------------------------------------------
# sections

section_containerd() {
  if ! start_containerd; then fail "containerd starts"; return 0; fi
  begin_check
  capture "$CTRN" image import --base-name "${IMG_CTR%:*}" "$WORK/images/busybox-oci.tar"
  if [ "$RC" != 0 ]; then fail "ctr image import" "$OUT\n$ERR"; return 0; fi
  local R=(--runc-binary "$RT" --runc-root "$CTRD_DIR/ctr-runtime-root" --fifo-dir "$CTRD_DIR/fifo")

  expect "ctr run --rm image (default command)" 0 '^hello-from-image$' \
    "$CTRN" run --rm "${R[@]}" "$IMG_CTR" ctr-image || true
  expect "ctr run --rm image: echo + id" 0 'uid=0\(root\) gid=0\(root\)' \
    "$CTRN" run --rm "${R[@]}" "$IMG_CTR" ctr-id sh -c 'echo hello-ctr; id' &&
    out_has "ctr run --rm image: echo output" '^hello-ctr$' || true
  expect "ctr run exit code 3 propagates" 3 '' \
    "$CTRN" run --rm "${R[@]}" "$IMG_CTR" ctr-exit sh -c 'exit 3' || true
  expect "ctr run --rootfs (absolute paths, no PATH)" 0 '^rootfs-ok uid=0\(root\)' \
    "$CTRN" run --rm "${R[@]}" --rootfs "$WORK/rootfs-ctr" ctr-rootfs /bin/sh -c '/bin/echo "rootfs-ok $(/bin/id)"' || true

  # hardening through containerd: the shim calls a runtime that adds --profile=restricted
  if [ "$(basename "$HARDRUN_BIN")" = hardrun ]; then
    if expect "ctr run under restricted: uid 65534" 0 '^uid=65534$' \
        "$CTRN" run --rm --runc-binary "$RR" --runc-root "$CTRD_DIR/ctr-runtime-root" --fifo-dir "$CTRD_DIR/fifo" \
        "$IMG_CTR" ctr-restricted sh -c 'echo "uid=$(id -u)"; touch /x 2>/dev/null && echo root=rw || echo root=ro;
          grep -E "^(NoNewPrivs|Seccomp|CapBnd):" /proc/self/status | tr -d "\t"'; then
      out_has "restricted under containerd: read-only root" '^root=ro$' || true
      out_has "restricted under containerd: seccomp filter on" '^Seccomp:2$' || true
      out_has "restricted under containerd: only CAP_NET_BIND_SERVICE" '^CapBnd:0000000000000400$' || true
    fi
    check_eq "restricted under containerd: decision in the audit log" "allowed restricted" \
      "$(jq -r 'select(.id == "ctr-restricted" and .command == "create") | "\(.decision) \(.profile)"' "$LOGS/audit.jsonl" 2>/dev/null | tail -n 1)" || true
    # a detached restricted task: its user namespace from the host, and ctr task exec into it
    local rid=ctr-restricted-d rpid
    if expect "ctr run -d under restricted" 0 '' \
        "$CTRN" run -d --runc-binary "$RR" --runc-root "$CTRD_DIR/ctr-runtime-root" --fifo-dir "$CTRD_DIR/fifo" \
        "$IMG_CTR" "$rid" sh -c 'trap "exit 0" TERM; sleep 300 & wait'; then
      wait_for 10 sh -c "'$CTRN' task ls 2>/dev/null | awk '\$1 == \"$rid\" && \$3 == \"RUNNING\"' | grep -q ." || true
      rpid=$("$CTRN" task ls 2>/dev/null | awk -v id="$rid" '$1 == id { print $2 }')
      userns_host_check "restricted under containerd" "${rpid:-0}"
      restricted_exec_checks "restricted under containerd (ctr task exec)" \
        "$CTRN" task exec --exec-id r1 --fifo-dir "$CTRD_DIR/fifo" "$rid"
      capture "$CTRN" task kill -s SIGKILL "$rid"
      wait_for 10 sh -c "! '$CTRN' task ls 2>/dev/null | awk '\$1 == \"$rid\" && \$3 == \"RUNNING\"' | grep -q ." || true
      expect "restricted under containerd: task delete" 0 '' "$CTRN" task delete "$rid" || true
      expect "restricted under containerd: container rm" 0 '' "$CTRN" container rm "$rid" || true
    fi
  fi

  # detached lifecycle
  local id=ctr-detached pid f
  if ! expect "ctr run -d (detached)" 0 '' \
      "$CTRN" run -d "${R[@]}" "$IMG_CTR" "$id" sh -c 'trap "exit 0" TERM; sleep 300 & wait'; then
    return 0
  fi
  task_status() { "$CTRN" task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
  task_is() { [ "$(task_status "$1")" = "$2" ]; }
  wait_for 10 task_is "$id" RUNNING || true
  check_eq "ctr task ls shows RUNNING" RUNNING "$(task_status "$id")" || true
  pid=$("$CTRN" task ls 2>/dev/null | awk -v id="$id" '$1 == id { print $2 }')
  pid=${pid:-none}
  expect "ctr task ps lists the init pid" 0 "^$pid( |$)" "$CTRN" task ps "$id" || true
  expect "ctr task exec: output" 0 '^exec-ok uid=0\(root\)' \
    "$CTRN" task exec --exec-id e1 --fifo-dir "$CTRD_DIR/fifo" "$id" sh -c 'echo "exec-ok $(id)"' || true
  expect "ctr task exec: exit code 4 propagates" 4 '' \
    "$CTRN" task exec --exec-id e2 --fifo-dir "$CTRD_DIR/fifo" "$id" sh -c 'exit 4' || true
  if expect "ctr task pause" 0 '' "$CTRN" task pause "$id"; then
    check_eq "ctr task ls shows PAUSED" PAUSED "$(task_status "$id")" || true
    f=$(cgfile "$pid" freezer freezer.state)
    check_eq "freezer.state of the container is FROZEN" FROZEN "$(cat "$f" 2>/dev/null)" "file: $f" || true
    expect "ctr task resume" 0 '' "$CTRN" task resume "$id" || true
    check_eq "ctr task ls shows RUNNING after resume" RUNNING "$(task_status "$id")" || true
    check_eq "freezer.state is THAWED after resume" THAWED "$(cat "$f" 2>/dev/null)" "file: $f" || true
    expect "ctr task exec after resume" 0 '^after-resume$' \
      "$CTRN" task exec --exec-id e3 --fifo-dir "$CTRD_DIR/fifo" "$id" echo after-resume || true
  fi
  expect "ctr task kill (SIGTERM)" 0 '' "$CTRN" task kill "$id" || true
  wait_for 10 task_is "$id" STOPPED || true
  check_eq "task is STOPPED after SIGTERM" STOPPED "$(task_status "$id")" || true
  expect "ctr task delete" 0 '' "$CTRN" task delete "$id" || true
  if grep -q 'non-zero exit code' <<<"$ERR"; then fail "task exited 0 on SIGTERM" "$ERR"
  else pass "task exited 0 on SIGTERM (no non-zero exit warning)"; fi
  check_eq "task gone after delete" "" "$(task_status "$id")" || true
  if alive "$pid"; then fail "container init process $pid gone after delete"; else pass "container init process gone after delete"; fi
  expect "ctr container rm" 0 '' "$CTRN" container rm "$id" || true

  # SIGKILL + delete of a task that ignores SIGTERM
  if expect "ctr run -d (sleep as pid 1)" 0 '' "$CTRN" run -d "${R[@]}" "$IMG_CTR" ctr-kill sleep 300; then
    wait_for 10 task_is ctr-kill RUNNING || true
    expect "ctr task kill -s SIGKILL" 0 '' "$CTRN" task kill -s SIGKILL ctr-kill || true
    wait_for 10 task_is ctr-kill STOPPED || true
    check_eq "task is STOPPED after SIGKILL" STOPPED "$(task_status ctr-kill)" || true
    STREAM=err expect "ctr task delete reports exit code 137" 0 'exit code 137' "$CTRN" task delete ctr-kill || true
    "$CTRN" task delete -f ctr-kill >/dev/null 2>&1 || true
    expect "ctr container rm" 0 '' "$CTRN" container rm ctr-kill || true
  fi
}

# the CRI pods' network: a bridge with $CNI_SUBNET.1/24, so the host reaches pod IPs (the CNI
# bridge plugin adds one veth per pod to it, host-local hands out $CNI_SUBNET.10-250)
make_bridge() {
  local p
  for p in bridge host-local loopback; do
    [ -x "/usr/lib/cni/$p" ] || { echo "/usr/lib/cni/$p missing (apt-get install containernetworking-plugins)"; return 1; }
  done
  if ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then echo "a link $CNI_BRIDGE exists already"; return 1; fi
  # any route covering the subnet but the default one, or an address in it: someone uses it
  p=$({ ip -4 route show match "$CNI_SUBNET.0/24" | grep -v '^default'; ip -4 -o addr show | grep -F " $CNI_SUBNET."; } || true)
  if [ -n "$p" ]; then echo "$CNI_SUBNET.0/24 is in use on the host: $p"; return 1; fi
  ip link add "$CNI_BRIDGE" type bridge || return 1
  BRIDGE_MADE=1
  ip addr add "$CNI_SUBNET.1/24" dev "$CNI_BRIDGE" && ip link set "$CNI_BRIDGE" up
}

remove_bridge() {
  [ "$BRIDGE_MADE" = 1 ] || return 0
  ip link del "$CNI_BRIDGE" 2>/dev/null || true
  BRIDGE_MADE=0
}

host_veths() { ls /sys/class/net | grep '^veth' | sort || true; }

section_cri() {
  if ! start_containerd; then fail "containerd starts"; return 0; fi
  local veths_before out
  veths_before=$(host_veths)
  if ! make_bridge >"$T/bridge.out" 2>&1; then
    fail "bridge $CNI_BRIDGE with $CNI_SUBNET.1/24 made (subnet unused)" "$(cat "$T/bridge.out")"
    remove_bridge
    return 0
  fi
  pass "bridge $CNI_BRIDGE with $CNI_SUBNET.1/24 made (subnet unused on the host)"
  section_cri_runs
  remove_bridge
  # what the pods and the bridge added to the host's network is gone again
  if ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then fail "bridge $CNI_BRIDGE removed"; else pass "bridge $CNI_BRIDGE removed"; fi
  out=$(ip -4 route show | grep -F "$CNI_SUBNET." || true)
  check_eq "no route to $CNI_SUBNET.0/24 left" "" "$out" || true
  out=$(comm -13 <(echo "$veths_before") <(host_veths) | tr '\n' ' ')
  check_eq "no veth left on the host by the CRI pods" "" "${out% }" || true
}

section_cri_runs() {
  begin_check
  local out
  if ! out=$(prepare_cri_client 2>&1); then fail "CRI client prepared (venv, proto)" "$out"; return 0; fi
  capture "$CTR" -n k8s.io image import --base-name "${IMG_CTR%:*}" "$WORK/images/busybox-oci.tar"
  if [ "$RC" != 0 ]; then fail "ctr -n k8s.io image import" "$OUT\n$ERR"; return 0; fi
  begin_check
  # the pods' processes are read from the host and compared with what the handler's profile
  # promises; after each pod is removed, "list -q" of the handlers' root must be empty
  local common=(--socket "$CTRD_SOCK" --image "$IMG_CTR" --sandbox-image "$IMG_PAUSE" --gen-dir "$CRI_DIR/gen"
                --log-dir "$WORK/cri-logs" --cgroup-parent "/$NS-cri" --bridge "$CNI_BRIDGE"
                --runtime-bin "$HARDRUN_BIN" --runtime-root "$CTRD_DIR/cri-runtime-root")
  local perm=()
  [ "${HARDRUN_TEST_PROFILE:-permissive}" != permissive ] || perm=(--profile-handler hardrun=permissive)
  timeout -k 5 300 "$VENV/bin/python" "$HERE/cri_test.py" "${common[@]}" --handler hardrun "${perm[@]}" \
    >"$T/cri.out" 2>&1 || true
  cat "$T/cri.out" >>"$LOGS/client-cri.log"
  local line n=0
  while IFS= read -r line; do
    case $line in
      PASS\ *) pass "${line#PASS }"; n=$((n + 1)) ;;
      FAIL\ *)
        line=${line#FAIL }
        if [[ $line == *$'\t'* ]]; then fail "${line%%$'\t'*}" "${line#*$'\t'}"; else fail "$line"; fi
        n=$((n + 1)) ;;
      INFO\ *) echo "      ${line#INFO }" ;;
      *) echo "      | $line" ;;
    esac
  done <"$T/cri.out"
  [ "$n" -gt 0 ] || fail "CRI client ran" "$(tail -n 20 "$T/cri.out")"

  # hardening through the CRI: a runtime handler whose binary runs hardrun --profile=restricted
  if [ "$(basename "$HARDRUN_BIN")" = hardrun ]; then
    begin_check
    # one handler per profile (hardrun-restricted, -baseline, -ci); hostPID/hostIPC pods refused,
    # a kube-system pod with all three host namespaces authorized by $WORK/profiles/restricted.toml
    timeout -k 5 400 "$VENV/bin/python" "$HERE/cri_test.py" "${common[@]}" --handler hardrun-restricted --restricted \
      --profile-handler hardrun-restricted=restricted --profile-handler hardrun-baseline=baseline \
      --profile-handler hardrun-ci=ci-runner --exception-namespace kube-system \
      >"$T/cri-restricted.out" 2>&1 || true
    cat "$T/cri-restricted.out" >>"$LOGS/client-cri.log"
    n=0
    while IFS= read -r line; do
      case $line in
        PASS\ *) pass "restricted: ${line#PASS }"; n=$((n + 1)) ;;
        FAIL\ *)
          line=${line#FAIL }
          if [[ $line == *$'\t'* ]]; then fail "restricted: ${line%%$'\t'*}" "${line#*$'\t'}"; else fail "restricted: $line"; fi
          n=$((n + 1)) ;;
        INFO\ *) echo "      ${line#INFO }" ;;
        *) echo "      | $line" ;;
      esac
    done <"$T/cri-restricted.out"
    [ "$n" -gt 0 ] || fail "restricted: CRI client ran" "$(tail -n 20 "$T/cri-restricted.out")"
  fi
}

section_docker() {
  if ! start_dockerd; then fail "dockerd starts"; return 0; fi
  begin_check
  capture "$DOCKER_C" import "$WORK/images/rootfs.tar" "$IMG_IMPORT"
  if [ "$RC" != 0 ]; then fail "docker import" "$OUT\n$ERR"; return 0; fi
  local D=(--runtime hardrun --network none)

  expect "docker run --rm: echo + id" 0 'uid=0\(root\) gid=0\(root\)' \
    "$DOCKER_C" run --rm "${D[@]}" "$IMG_IMPORT" sh -c 'echo hello-docker; id' &&
    out_has "docker run --rm: echo output" '^hello-docker$' || true
  expect "docker run --user app" 0 '^uid=1000\(app\) gid=1000\(app\)' \
    "$DOCKER_C" run --rm "${D[@]}" --user app "$IMG_IMPORT" id || true
  expect "docker run -t (console socket): tty is a pty" 0 '^/dev/pts/[0-9]+' \
    "$DOCKER_C" run --rm -t "${D[@]}" "$IMG_IMPORT" tty || true
  expect "docker run exit code 7 propagates" 7 '' \
    "$DOCKER_C" run --rm "${D[@]}" "$IMG_IMPORT" sh -c 'exit 7' || true

  local c=hardrun-itest-d1 pid f
  if ! expect "docker run -d" 0 '^[0-9a-f]{64}$' \
      "$DOCKER_C" run -d --name "$c" "${D[@]}" "$IMG_IMPORT" sh -c 'trap "exit 0" TERM; sleep 300 & wait'; then
    return 0
  fi
  check_eq "docker inspect: Running true" true "$("$DOCKER_C" inspect -f '{{.State.Running}}' "$c" 2>&1)" || true
  pid=$("$DOCKER_C" inspect -f '{{.State.Pid}}' "$c" 2>/dev/null || echo 0)
  expect "docker exec: output" 0 '^exec-ok uid=0\(root\)' "$DOCKER_C" exec "$c" sh -c 'echo "exec-ok $(id)"' || true
  expect "docker exec --user app" 0 '^1000$' "$DOCKER_C" exec --user app "$c" id -u || true
  expect "docker exec exit code 4 propagates" 4 '' "$DOCKER_C" exec "$c" sh -c 'exit 4' || true
  expect "docker exec -t: tty is a pty" 0 '^/dev/pts/[0-9]+' "$DOCKER_C" exec -t "$c" tty || true
  expect "docker top lists the container's processes" 0 'sleep 300' "$DOCKER_C" top "$c" || true
  if expect "docker pause" 0 '' "$DOCKER_C" pause "$c"; then
    check_eq "docker inspect: Paused true" true "$("$DOCKER_C" inspect -f '{{.State.Paused}}' "$c" 2>&1)" || true
    f=$(cgfile "$pid" freezer freezer.state)
    check_eq "freezer.state of the container is FROZEN" FROZEN "$(cat "$f" 2>/dev/null)" "file: $f" || true
    expect "docker unpause" 0 '' "$DOCKER_C" unpause "$c" || true
    check_eq "docker inspect: Paused false" false "$("$DOCKER_C" inspect -f '{{.State.Paused}}' "$c" 2>&1)" || true
    check_eq "freezer.state is THAWED after unpause" THAWED "$(cat "$f" 2>/dev/null)" "file: $f" || true
  fi
  # (--memory alone is refused by dockerd 20.10 for a container started without a memory limit:
  # "Memory limit should be smaller than already set memoryswap limit, update the memoryswap ...")
  if expect "docker update --memory 64m --memory-swap -1" 0 "^$c\$" "$DOCKER_C" update --memory 64m --memory-swap -1 "$c"; then
    check_eq "docker inspect: HostConfig.Memory 67108864" 67108864 "$("$DOCKER_C" inspect -f '{{.HostConfig.Memory}}' "$c" 2>&1)" || true
    f=$(cgfile "$pid" memory memory.limit_in_bytes)
    check_eq "host cgroup memory.limit_in_bytes is 67108864" 67108864 "$(cat "$f" 2>/dev/null)" "file: $f" || true
    expect "memory.limit_in_bytes inside the container is 67108864" 0 '^67108864$' \
      "$DOCKER_C" exec "$c" cat /sys/fs/cgroup/memory/memory.limit_in_bytes || true
  fi
  expect "docker stop" 0 "^$c\$" "$DOCKER_C" stop -t 10 "$c" || true
  check_eq "docker inspect after stop: Running false, ExitCode 0 (SIGTERM delivered)" "false 0" \
    "$("$DOCKER_C" inspect -f '{{.State.Running}} {{.State.ExitCode}}' "$c" 2>&1)" || true
  expect "docker rm" 0 "^$c\$" "$DOCKER_C" rm "$c" || true
  check_eq "container gone from docker ps -a" "" "$("$DOCKER_C" ps -aq --filter "name=^$c\$" 2>&1)" || true

  # hardening through dockerd: a runtime entry with runtimeArgs ["--profile=restricted"]
  if [ "$(basename "$HARDRUN_BIN")" = hardrun ]; then
    local probe='echo "uid=$(id -u)"; touch /x 2>/dev/null && echo root=rw || echo root=ro;
      grep -E "^(NoNewPrivs|Seccomp|CapBnd):" /proc/self/status | tr -d "\t";
      mount -t tmpfs none /tmp 2>/dev/null && echo mount=ok || echo mount=denied;
      echo "lo=$(cat /sys/class/net/lo/operstate)";
      cat /sys/fs/cgroup/pids/pids.max'
    if expect "docker run --runtime hardrun-restricted: hardened" 0 '^uid=65534$' \
        "$DOCKER_C" run --rm --runtime hardrun-restricted --network none "$IMG_IMPORT" sh -c "$probe"; then
      out_has "restricted under docker: read-only root" '^root=ro$' || true
      out_has "restricted under docker: NoNewPrivs 1" '^NoNewPrivs:1$' || true
      out_has "restricted under docker: only CAP_NET_BIND_SERVICE" '^CapBnd:0000000000000400$' || true
      out_has "restricted under docker: mount denied" '^mount=denied$' || true
      out_has "restricted under docker: seccomp filter on" '^Seccomp:2$' || true
      out_has "restricted under docker: pids limit 1024" '^1024$' || true
      # dockerd's libnetwork-setkey hook is kept (hooks.docker_network): the loopback is up
      out_has "restricted under docker: network set up by dockerd's hook (lo up)" '^lo=unknown$' || true
    fi
    check_eq "restricted under docker: decision in the audit log" "allowed restricted" \
      "$(jq -r 'select(.profile == "restricted" and .command == "create") | "\(.decision) \(.profile)"' "$LOGS/audit.jsonl" 2>/dev/null | tail -n 1)" || true

    # two detached restricted containers: a leased range each, docker exec into them, Docker's
    # net.ipv4.ping_group_range clamped to the mapped gids
    local r1=hardrun-itest-r1 r2=hardrun-itest-r2 s1 s2
    if expect "docker run -d --runtime hardrun-restricted" 0 '^[0-9a-f]{64}$' \
        "$DOCKER_C" run -d --name "$r1" --runtime hardrun-restricted --network none "$IMG_IMPORT" sh -c 'trap "exit 0" TERM; sleep 300 & wait'; then
      userns_host_check "restricted under docker" "$("$DOCKER_C" inspect -f '{{.State.Pid}}' "$r1" 2>/dev/null || echo 0)"
      s1=$USERNS_START
      restricted_exec_checks "restricted under docker (docker exec)" "$DOCKER_C" exec "$r1"
      expect "restricted under docker: ping_group_range clamped to the mapped gids" 0 '^0 65535$' \
        "$DOCKER_C" exec "$r1" sh -c 'echo $(cat /proc/sys/net/ipv4/ping_group_range)' || true
      if expect "docker run -d --runtime hardrun-restricted (a second one)" 0 '^[0-9a-f]{64}$' \
          "$DOCKER_C" run -d --name "$r2" --runtime hardrun-restricted --network none "$IMG_IMPORT" sleep 300; then
        userns_host_check "restricted under docker (second container)" "$("$DOCKER_C" inspect -f '{{.State.Pid}}' "$r2" 2>/dev/null || echo 0)"
        s2=$USERNS_START
        if [ -n "$s1" ] && [ -n "$s2" ] && [ "$s1" != "$s2" ]; then pass "restricted under docker: two containers, two ranges ($s1, $s2)"
        else fail "restricted under docker: two containers, two ranges" "ranges from $s1 and $s2"; fi
      fi
      expect "restricted under docker: rm -f" 0 '' "$DOCKER_C" rm -f "$r1" "$r2" || true
    fi
  fi
}

section_podman() {
  write_podman_config
  begin_check
  capture "$PODMAN" import -q "$WORK/images/rootfs.tar" "$IMG_IMPORT"
  if [ "$RC" != 0 ]; then fail "podman import" "$OUT\n$ERR"; return 0; fi
  local P=(--network none --cgroup-parent "/$NS-podman")

  expect "podman run --rm: echo + id" 0 'uid=0\(root\) gid=0\(root\)' \
    "$PODMAN" run --rm "${P[@]}" "$IMG_IMPORT" sh -c 'echo hello-podman; id' &&
    out_has "podman run --rm: echo output" '^hello-podman$' || true
  expect "podman run --user app" 0 '^uid=1000\(app\) gid=1000\(app\)' \
    "$PODMAN" run --rm "${P[@]}" --user app "$IMG_IMPORT" id || true
  expect "podman run -t (console socket): tty is a pty" 0 '^/dev/pts/[0-9]+' \
    "$PODMAN" run --rm -t "${P[@]}" "$IMG_IMPORT" tty || true
  expect "podman run exit code 5 propagates" 5 '' \
    "$PODMAN" run --rm "${P[@]}" "$IMG_IMPORT" sh -c 'exit 5' || true

  # hardening through podman: --runtime-flag passes --profile=restricted to the runtime
  if [ "$(basename "$HARDRUN_BIN")" = hardrun ]; then
    if expect "podman run under restricted: uid 65534" 0 '^uid=65534$' \
        "$PODMAN" --runtime-flag profile=restricted run --rm "${P[@]}" "$IMG_IMPORT" sh -c \
        'echo "uid=$(id -u)"; touch /x 2>/dev/null && echo root=rw || echo root=ro; grep -E "^(Seccomp|CapBnd):" /proc/self/status | tr -d "\t"'; then
      out_has "restricted under podman: read-only root" '^root=ro$' || true
      out_has "restricted under podman: seccomp filter on" '^Seccomp:2$' || true
      out_has "restricted under podman: only CAP_NET_BIND_SERVICE" '^CapBnd:0000000000000400$' || true
    fi
    local pr=hardrun-itest-pr
    if expect "podman run -d under restricted" 0 '^[0-9a-f]{64}$' \
        "$PODMAN" --runtime-flag profile=restricted run -d --name "$pr" "${P[@]}" "$IMG_IMPORT" sh -c 'trap "exit 0" TERM; sleep 300 & wait'; then
      userns_host_check "restricted under podman" "$("$PODMAN" inspect -f '{{.State.Pid}}' "$pr" 2>/dev/null || echo 0)"
      restricted_exec_checks "restricted under podman (podman exec)" "$PODMAN" --runtime-flag profile=restricted exec "$pr"
      expect "restricted under podman: rm -f" 0 '' "$PODMAN" rm -f "$pr" || true
    fi
  fi

  local c=hardrun-itest-p1
  if ! expect "podman run -d" 0 '^[0-9a-f]{64}$' \
      "$PODMAN" run -d --name "$c" "${P[@]}" "$IMG_IMPORT" sh -c 'trap "exit 0" TERM; sleep 300 & wait'; then
    return 0
  fi
  check_eq "podman inspect: Status running" running "$("$PODMAN" inspect -f '{{.State.Status}}' "$c" 2>&1)" || true
  expect "podman exec: output" 0 '^exec-ok uid=0\(root\)' "$PODMAN" exec "$c" sh -c 'echo "exec-ok $(id)"' || true
  expect "podman exec --user app" 0 '^1000$' "$PODMAN" exec --user app "$c" id -u || true
  expect "podman exec exit code 4 propagates" 4 '' "$PODMAN" exec "$c" sh -c 'exit 4' || true
  expect "podman exec -t: tty is a pty" 0 '^/dev/pts/[0-9]+' "$PODMAN" exec -t "$c" tty || true
  if expect "podman pause" 0 '' "$PODMAN" pause "$c"; then
    check_eq "podman inspect: Status paused" paused "$("$PODMAN" inspect -f '{{.State.Status}}' "$c" 2>&1)" || true
    expect "podman unpause" 0 '' "$PODMAN" unpause "$c" || true
    check_eq "podman inspect: Status running after unpause" running "$("$PODMAN" inspect -f '{{.State.Status}}' "$c" 2>&1)" || true
  fi
  expect "podman stop" 0 "^$c\$" "$PODMAN" stop -t 10 "$c" || true
  check_eq "podman inspect after stop: exited, ExitCode 0 (SIGTERM delivered)" "exited 0" \
    "$("$PODMAN" inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$c" 2>&1)" || true
  expect "podman rm" 0 '' "$PODMAN" rm "$c" || true
  check_eq "container gone from podman ps -a" "" "$("$PODMAN" ps -aq --filter "name=^$c\$" 2>&1)" || true
}

# ------------------------------------------------------------------------------------------------
# main

SECTIONS=()
[ $# -gt 0 ] || set -- all
for a in "$@"; do
  case $a in
    all) SECTIONS+=(containerd cri docker podman) ;;
    containerd|cri|docker|podman) SECTIONS+=("$a") ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "usage: $0 [all|containerd|cri|docker|podman]..." >&2; exit 2 ;;
  esac
done

preflight
record_outside
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
clean_previous
make_runtime
make_client_scripts
say "runtime under test: $HARDRUN_BIN ($("$HARDRUN_BIN" --version 2>&1 | head -n 1))"
say "clients call: $RT; work dir: $WORK; logs: $LOGS"
build_rootfs
build_oci_image >/dev/null
say "rootfs + images built ($(($(date +%s) - START_TS)) s)"

# a section function returns early when a step that later checks depend on fails; the panic
# scan at the section's end runs anyway
for s in "${SECTIONS[@]}"; do
  begin_section "$s"
  "section_$s"
  end_section
done

final_checks
echo
say "=== summary (runtime $HARDRUN_BIN, $(($(date +%s) - START_TS)) s; argv log: $LOGS/argv.log)"
if [ ${#FAIL_LIST[@]} -gt 0 ]; then printf 'FAILED: %s\n' "${FAIL_LIST[@]}"; fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
