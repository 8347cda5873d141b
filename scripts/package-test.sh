#!/usr/bin/env bash
# shellcheck disable=SC2016
# (SC2016: single-quoted $(...) are for the container's shell)
# scripts/package-test.sh - the .deb end to end, on this machine, as root:
#   1. build it (scripts/package.sh) unless DEB=path/to/hardrun_*.deb is given
#   2. dpkg -i; check the files, modes, symlinks, conffile, man pages, completions, Depends
#   3. configuration discovery of the installed binary: hardrun config show, a drop-in, argv[0]
#   4. a private containerd (all state in a temp dir) whose config `hardrun setup containerd`
#      merges (backup, idempotent); containerd loads the runtime entries; they are the shipped
#      examples/containerd-1.x.toml; busybox containers through ctr and the installed
#      /usr/bin/hardrun-restricted (uid 65534, read-only root, seccomp) and hardrun-baseline
#      (uid 0); their decisions are in /var/log/hardrun/audit.jsonl
#   5. dpkg --purge; nothing of the package is left
#
# Refuses to run when hardrun is already installed (as a package or in /usr/bin). An existing
# /var/log/hardrun (written by `cargo test` runs) is moved aside and put back afterwards.
# KEEP_MESSAGES=FILE keeps containerd's message for the systemd-cgroup case (docs/install.md).
# Output: "PASS <check>" / "FAIL <check>" lines and "<N> passed, <N> failed"; exit 1 on a FAIL.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
TMO=${TMO:-60}
NS=hardrun-pkgtest

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { say "ERROR: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "must run as root"
for t in dpkg ctr containerd containerd-shim-runc-v2 man python3 setsid timeout; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done
[ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"
if dpkg-query -W -f='${Status}' hardrun 2>/dev/null | grep -q 'installed'; then
    die "the hardrun package is installed already: dpkg --purge hardrun first"
fi
for f in /usr/bin/hardrun /usr/bin/hardrun-restricted /usr/bin/hardrun-baseline /usr/bin/hardrun-ci /etc/hardrun; do
    if [ -e "$f" ] || [ -L "$f" ]; then die "$f exists but no hardrun package is installed: not overwriting it"; fi
done

START=$(date +%s)
T=$(mktemp -d /tmp/hardrun-pkg.XXXXXX)
CTRD=$T/ctrd
SOCK=$CTRD/containerd.sock
CTRD_PID=
PASSED=0
FAILED=0
SAVED_LOG=
RUN_CONTAINERD_EXISTED=0
[ -d /run/containerd ] && RUN_CONTAINERD_EXISTED=1

pass() { PASSED=$((PASSED + 1)); printf 'PASS  %s\n' "$1"; }
fail() {
    FAILED=$((FAILED + 1))
    printf 'FAIL  %s\n' "$1"
    if [ -n "${2:-}" ]; then printf '%b\n' "$2" | tail -n 20 | sed 's/^/      | /'; fi
}
# check NAME CMD...: the command succeeds
check() { local n=$1; shift; local out; if out=$("$@" 2>&1); then pass "$n"; else fail "$n" "$out"; fi; }
# check_eq NAME WANT GOT
check_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$3', want '$2'"; fi; }
# run_cap CMD...: sets OUT and RC
run_cap() { RC=0; OUT=$(timeout -k 5 "$TMO" "$@" 2>&1 </dev/null) || RC=$?; }
# has NAME ERE: the last OUT has a line matching ERE
has() { if grep -qE -- "$2" <<<"$OUT"; then pass "$1"; else fail "$1" "no line matches /$2/ in:\n$OUT"; fi; }

cleanup() {
    local rc=$?
    if [ -n "$CTRD_PID" ] && kill -0 "$CTRD_PID" 2>/dev/null; then
        ctr --address "$SOCK" -n "$NS" task ls -q 2>/dev/null | xargs -r -n1 ctr --address "$SOCK" -n "$NS" task kill -s KILL 2>/dev/null || true
        kill -TERM "$CTRD_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$CTRD_PID" 2>/dev/null || true
    fi
    if dpkg-query -W -f='${Status}' hardrun 2>/dev/null | grep -q 'installed'; then
        dpkg --purge hardrun >/dev/null 2>&1 || true
    fi
    if [ -n "$SAVED_LOG" ]; then
        rm -rf /var/log/hardrun
        mv "$SAVED_LOG" /var/log/hardrun
    fi
    awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    find /sys/fs/cgroup/*/"$NS" -depth -type d -exec rmdir {} + 2>/dev/null || true
    if [ "$RUN_CONTAINERD_EXISTED" = 0 ]; then rmdir /run/containerd/s /run/containerd 2>/dev/null || true; fi
    rm -rf "$T"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------------------
say "=== build"
if [ -z "${DEB:-}" ]; then
    DEB=$(scripts/package.sh | tail -n 1)
fi
[ -f "$DEB" ] || die "no package at '$DEB'"
say "package $DEB ($(stat -c %s "$DEB") bytes)"
VERSION=$(dpkg-deb -f "$DEB" Version)
check_eq "package file name is hardrun_<version>_<arch>.deb" \
    "hardrun_${VERSION}_$(dpkg --print-architecture).deb" "$(basename "$DEB")"

if [ -e /var/log/hardrun ]; then
    SAVED_LOG=$T/var-log-hardrun.saved
    mv /var/log/hardrun "$SAVED_LOG"
fi

# ------------------------------------------------------------------------------------------------
say "=== install"
run_cap dpkg -i "$DEB"
if [ "$RC" = 0 ]; then pass "dpkg -i"; else fail "dpkg -i" "$OUT"; exit 1; fi
check_eq "dpkg status" "install ok installed" "$(dpkg-query -W -f='${Status}' hardrun)"
has_dep() { dpkg-query -W -f='${Depends}' hardrun | tr ',' '\n' | grep -q "^ *$1\b"; }
# libseccomp is linked in (build.rs, .cargo/config.toml): no libseccomp2; the packed relocations
# need glibc 2.36's loader, which Cargo.toml names (dpkg-shlibdeps says 2.35)
no_dep() { ! has_dep "$1"; }
has_dep_item() { dpkg-query -W -f='${Depends}' hardrun | tr ',' '\n' | sed 's/^ *//' | grep -qxF "$1"; }
check "Depends: libc6 (>= 2.36)" has_dep_item 'libc6 (>= 2.36)'
check "no Depends: libseccomp2 (linked in)" no_dep libseccomp2
check "hardrun needs no libseccomp.so (ldd)" sh -c '! ldd /usr/bin/hardrun | grep -q libseccomp'
check "Depends: nftables (the [egress] table)" has_dep nftables
check_eq "/usr/bin/hardrun: 755 root:root regular file" "755 root:root regular file" \
    "$(stat -c '%a %U:%G %F' /usr/bin/hardrun)"
for p in restricted baseline ci; do
    check_eq "/usr/bin/hardrun-$p -> hardrun" hardrun "$(readlink /usr/bin/hardrun-$p)"
done
check_eq "/etc/hardrun/config.toml is a conffile" yes \
    "$(dpkg-query -W -f='${Conffiles}' hardrun | awk '$1 == "/etc/hardrun/config.toml" { print "yes" }')"
check "config.toml: every line a comment or blank" \
    bash -c '! grep -vE "^(#|[[:space:]]*$)" /etc/hardrun/config.toml'
check_eq "/etc/hardrun/profiles: empty directory" "directory 0" \
    "$(stat -c %F /etc/hardrun/profiles) $(find /etc/hardrun/profiles -mindepth 1 | wc -l)"
check_eq "/etc/hardrun/config.d: directory" directory "$(stat -c %F /etc/hardrun/config.d)"
check_eq "/var/log/hardrun: 700 root" "700 root" "$(stat -c '%a %U' /var/log/hardrun)"
for f in containerd-1.x.toml containerd-2.x.toml docker-daemon.json podman-containers.conf runtimeclasses.yaml install.sh; do
    check "examples/$f" test -s "/usr/share/doc/hardrun/examples/$f"
done
check "examples/docker-daemon.json is JSON" python3 -m json.tool /usr/share/doc/hardrun/examples/docker-daemon.json
check "examples/podman-containers.conf is TOML" python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' \
    /usr/share/doc/hardrun/examples/podman-containers.conf
for u in hardrun-monitor.service hardrun-monitor@.service; do
    check "systemd unit $u" test -s "/lib/systemd/system/$u"
done
# the units as systemd reads them (offline: no systemd needs to run), the template with the
# instance containerd's shim root gives
check "systemd-analyze verify the monitor units" systemd-analyze verify \
    /lib/systemd/system/hardrun-monitor.service \
    "/lib/systemd/system/hardrun-monitor@$(systemd-escape --path /run/containerd/runc/k8s.io).service"
check "the monitor unit is not enabled by the package" \
    test ! -e /etc/systemd/system/multi-user.target.wants/hardrun-monitor.service
check "docs: monitoring.md" test -s /usr/share/doc/hardrun/monitoring.md
check "bash completion" test -s /usr/share/bash-completion/completions/hardrun
check "bash completion loads and completes subcommands" bash -c \
    '. /usr/share/bash-completion/completions/hardrun && COMP_WORDS=(hardrun set); COMP_CWORD=1; _hardrun hardrun set hardrun && printf "%s\n" "${COMPREPLY[@]}" | grep -qx setup'
check "zsh completion" test -s /usr/share/zsh/vendor-completions/_hardrun
check "fish completion" test -s /usr/share/fish/vendor_completions.d/hardrun.fish
npages=$(find /usr/share/man/man1 -name 'hardrun*.1.gz' | wc -l)
if [ "$npages" -ge 20 ]; then pass "man pages: $npages"; else fail "man pages: $npages, want >= 20"; fi
run_cap env MANWIDTH=100 man -l /usr/share/man/man1/hardrun.1.gz
has "man -l hardrun.1: NAME" '^ +hardrun - an OCI runtime that hardens'
has "man -l hardrun.1: FILES names the symlinks" 'hardrun-restricted'
run_cap env MANWIDTH=100 man -l /usr/share/man/man1/hardrun-setup-containerd.1.gz
has "man -l hardrun-setup-containerd.1: --dry-run" '^ +--dry-run'

# ------------------------------------------------------------------------------------------------
say "=== configuration discovery of the installed binary"
run_cap env -u HARDRUN_CONFIG -u HARDRUN_PROFILE -u HARDRUN_MODE hardrun --version
has "hardrun --version" "^hardrun version $VERSION"
run_cap env -u HARDRUN_CONFIG -u HARDRUN_PROFILE -u HARDRUN_MODE hardrun config show
has "config show: the default path" '^# configuration file: /etc/hardrun/config.toml \(default path\)'
has "config show: restricted, built-in default" '^default_profile = "restricted" +# built-in default$'
echo 'mode = "audit"' >/etc/hardrun/config.d/50-pkgtest.toml
run_cap env -u HARDRUN_CONFIG -u HARDRUN_PROFILE -u HARDRUN_MODE hardrun config show
has "config show: a drop-in's value and its file" '^mode = "audit" +# /etc/hardrun/config.d/50-pkgtest.toml$'
rm -f /etc/hardrun/config.d/50-pkgtest.toml
run_cap env -u HARDRUN_CONFIG -u HARDRUN_PROFILE -u HARDRUN_MODE hardrun-ci config show
has "hardrun-ci: profile ci-runner from the program name" '^#   profile ci-runner  \(default_profile \(invoked as hardrun-ci\)\)$'
run_cap env -u HARDRUN_CONFIG -u HARDRUN_MODE HARDRUN_PROFILE=baseline hardrun-ci config show
has "hardrun-ci with HARDRUN_PROFILE=baseline: the variable wins" '^#   profile baseline  \(HARDRUN_PROFILE\)$'

# ------------------------------------------------------------------------------------------------
say "=== containerd configured by hardrun setup containerd"
mkdir -p "$CTRD" "$T/fifo" "$T/rootfs"/{bin,dev,etc,proc,sys,tmp}
cat >"$CTRD/config.toml" <<EOF
# a private containerd for scripts/package-test.sh
version = 2
root = "$CTRD/root"
state = "$CTRD/state"

[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$CTRD/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      conf_dir = "$CTRD/cni"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
EOF
cp "$CTRD/config.toml" "$T/config.orig.toml"
run_cap hardrun setup containerd --config "$CTRD/config.toml"
if [ "$RC" = 0 ]; then pass "hardrun setup containerd"; else fail "hardrun setup containerd" "$OUT"; fi
has "setup: added hardrun-restricted" '^  added runtime hardrun-restricted: BinaryName = "/usr/bin/hardrun-restricted"$'
has "setup: names the backup" '^backed up the original to .*/config\.toml\.hardrun-bak\.[0-9]{8}T[0-9]{6}Z$'
has "setup: says what to restart" '^restart containerd'
bak=$(find "$CTRD" -maxdepth 1 -name 'config.toml.hardrun-bak.*')
check "the backup is the original" cmp "$bak" "$T/config.orig.toml"
sum1=$(sha256sum "$CTRD/config.toml")
run_cap hardrun setup containerd --config "$CTRD/config.toml"
has "setup again: already configured" '^already configured \(hardrun, hardrun-restricted, hardrun-baseline, hardrun-ci\); nothing changed$'
check_eq "setup again: file unchanged, no second backup" "$sum1 1" \
    "$(sha256sum "$CTRD/config.toml") $(find "$CTRD" -maxdepth 1 -name 'config.toml.hardrun-bak.*' | wc -l)"
printf 'version = 2\n[plugins\n' >"$T/broken.toml"
run_cap hardrun setup containerd --config "$T/broken.toml"
check_eq "setup refuses a config that is not TOML (exit 1)" 1 "$RC"
has "setup: the error names file:line:col" "msg=\"$T/broken.toml:2:9: not valid TOML, refusing to edit it: invalid table header"
check_eq "setup: the broken config untouched, no backup" "1" "$(find "$T" -maxdepth 1 -name 'broken.toml*' | wc -l)"
check "the runtimes are the shipped examples/containerd-1.x.toml" python3 - "$CTRD/config.toml" \
    /usr/share/doc/hardrun/examples/containerd-1.x.toml <<'EOF'
import sys, tomllib
def runtimes(path):
    d = tomllib.load(open(path, "rb"))
    r = d["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
    return {k: v for k, v in r.items() if k.startswith("hardrun")}
got, want = runtimes(sys.argv[1]), runtimes(sys.argv[2])
assert len(want) == 4 and got == want, (got, want)
EOF

# the shipped node-setup script, on a copy of the original config and a private bin dir
cp "$T/config.orig.toml" "$T/install-ctrd.toml"
INST=(/usr/share/doc/hardrun/examples/install.sh --binary /usr/bin/hardrun --bin-dir "$T/bin"
      --containerd-config "$T/install-ctrd.toml" --profiles "restricted,ci")
run_cap "${INST[@]}"
if [ "$RC" = 0 ]; then pass "install.sh"; else fail "install.sh" "$OUT"; fi
check "install.sh: copied the binary" cmp /usr/bin/hardrun "$T/bin/hardrun"
check_eq "install.sh: profile symlinks" "hardrun hardrun" "$(readlink "$T/bin/hardrun-restricted") $(readlink "$T/bin/hardrun-ci")"
has "install.sh: merged the containerd config" "^  added runtime hardrun-ci: BinaryName = \"$T/bin/hardrun-ci\"\$"
has "install.sh: says to restart containerd" '^next: restart containerd'
run_cap "${INST[@]}"
has "install.sh again: binary up to date" "^$T/bin/hardrun: already up to date\$"
has "install.sh again: containerd already configured" '^already configured \(hardrun, hardrun-restricted, hardrun-ci\); nothing changed$'
has "install.sh again: nothing to restart" '^next: nothing to restart for containerd$'
printf 'version = 2\n[plugins\n' >"$T/install-broken.toml"
run_cap /usr/share/doc/hardrun/examples/install.sh --binary /usr/bin/hardrun --bin-dir "$T/bin" \
    --containerd-config "$T/install-broken.toml"
check_eq "install.sh refuses a broken containerd config (exit 1)" 1 "$RC"
has "install.sh: says the config was not changed" "containerd's config was not changed"

env -u HARDRUN_CONFIG -u HARDRUN_PROFILE -u HARDRUN_MODE \
    setsid containerd --config "$CTRD/config.toml" >"$T/containerd.log" 2>&1 </dev/null &
CTRD_PID=$!
for _ in $(seq 1 150); do
    ctr --address "$SOCK" version >/dev/null 2>&1 && break
    kill -0 "$CTRD_PID" 2>/dev/null || break
    sleep 0.2
done
if ctr --address "$SOCK" version >/dev/null 2>&1; then pass "containerd starts with the merged config"
else fail "containerd starts with the merged config" "$(tail -n 20 "$T/containerd.log")"; exit 1; fi
run_cap ctr --address "$SOCK" plugins ls
has "CRI plugin loaded" 'io\.containerd\.grpc\.v1 +cri +.* ok *$'
OUT=$(grep -m1 'Start cri plugin with config' "$T/containerd.log" || true)
has "CRI config: runtime hardrun-restricted, runc v2 shim" 'hardrun-restricted:\{Type:io\.containerd\.runc\.v2'
has "CRI config: BinaryName /usr/bin/hardrun-ci" 'BinaryName:/usr/bin/hardrun-ci'
has "CRI config: pod annotations hardrun.dev/*" 'PodAnnotations:\[hardrun\.dev/\*\]'

cp /bin/busybox "$T/rootfs/bin/busybox"
for a in sh id touch grep tr echo cat; do ln -s busybox "$T/rootfs/bin/$a"; done
chmod 1777 "$T/rootfs/tmp"
chmod 755 "$T" "$T/rootfs"
R=(--runc-root "$CTRD/runc-root" --fifo-dir "$T/fifo" --rootfs "$T/rootfs")
probe='/bin/echo "uid=$(/bin/id -u)"; /bin/touch /x 2>/dev/null && /bin/echo root=rw || /bin/echo root=ro; /bin/grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status | /bin/tr -d "\t"'
run_cap ctr --address "$SOCK" -n "$NS" run --rm --runtime io.containerd.runc.v2 \
    --runc-binary /usr/bin/hardrun-restricted "${R[@]}" pkg-restricted /bin/sh -c "$probe"
if [ "$RC" = 0 ]; then pass "ctr run via /usr/bin/hardrun-restricted"; else fail "ctr run via /usr/bin/hardrun-restricted" "$OUT\n$(tail -n 5 "$T/containerd.log")"; fi
has "hardrun-restricted: uid 65534" '^uid=65534$'
has "hardrun-restricted: read-only root" '^root=ro$'
has "hardrun-restricted: seccomp filter" '^Seccomp:2$'
has "hardrun-restricted: no_new_privs" '^NoNewPrivs:1$'
run_cap ctr --address "$SOCK" -n "$NS" run --rm --runtime io.containerd.runc.v2 \
    --runc-binary /usr/bin/hardrun-baseline "${R[@]}" pkg-baseline /bin/sh -c "$probe"
if [ "$RC" = 0 ]; then pass "ctr run via /usr/bin/hardrun-baseline"; else fail "ctr run via /usr/bin/hardrun-baseline" "$OUT"; fi
has "hardrun-baseline: root allowed (uid 0)" '^uid=0$'
# troubleshooting (docs/install.md): SystemdCgroup = true on a host without systemd
run_cap ctr --address "$SOCK" -n "$NS" run --rm --runtime io.containerd.runc.v2 --runc-systemd-cgroup \
    --cgroup "system.slice:$NS:pkg-systemd" --runc-binary /usr/bin/hardrun-restricted "${R[@]}" pkg-systemd /bin/true
if [ "$RC" != 0 ]; then pass "systemd cgroups on a host without systemd: refused"; else fail "systemd cgroups on a host without systemd: refused" "$OUT"; fi
has "systemd cgroups: the message containerd shows" 'systemd not running on this host'
printf '%s\n' "$OUT" >"$T/systemd-error.txt"
[ -z "${KEEP_MESSAGES:-}" ] || cp "$T/systemd-error.txt" "$KEEP_MESSAGES"

decision() {
    python3 - "$1" <<'EOF'
import json, sys
last = ""
for line in open("/var/log/hardrun/audit.jsonl"):
    r = json.loads(line)
    if r.get("id") == sys.argv[1] and r.get("command") == "create":
        last = f'{r.get("decision")} {r.get("profile")}'
print(last)
EOF
}
check_eq "audit log: pkg-restricted allowed under restricted" "allowed restricted" "$(decision pkg-restricted)"
check_eq "audit log: pkg-baseline allowed under baseline" "allowed baseline" "$(decision pkg-baseline)"
run_cap hardrun audit verify /var/log/hardrun/audit.jsonl
if [ "$RC" = 0 ]; then pass "hardrun audit verify"; else fail "hardrun audit verify" "$OUT"; fi

kill -TERM "$CTRD_PID" 2>/dev/null || true
for _ in $(seq 1 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
CTRD_PID=

# ------------------------------------------------------------------------------------------------
say "=== purge"
run_cap dpkg --purge hardrun
if [ "$RC" = 0 ]; then pass "dpkg --purge hardrun"; else fail "dpkg --purge hardrun" "$OUT"; fi
check_eq "dpkg knows no hardrun" "" "$(dpkg-query -W -f='${Status}' hardrun 2>/dev/null || true)"
left=$(ls -d /usr/bin/hardrun* /etc/hardrun /var/log/hardrun /usr/share/doc/hardrun \
    /usr/share/man/man1/hardrun* /usr/share/bash-completion/completions/hardrun \
    /usr/share/zsh/vendor-completions/_hardrun /usr/share/fish/vendor_completions.d/hardrun.fish /lib/systemd/system/hardrun-monitor* 2>/dev/null || true)
check_eq "nothing of the package left" "" "$left"

echo
say "package test took $(($(date +%s) - START)) s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
