#!/bin/sh
# scripts/cgroup2-systemd-lane.sh - what runs inside the VM of scripts/cgroup2-systemd-vm.sh, as
# hardrun-lane.service under systemd (copied to the results share as lane.sh each run, so the
# cached image does not depend on it). Writes systemd_cgroup.log/.rc (the test binary) and
# checks.txt (one `ok NAME` or `FAIL NAME: why` line per shell check) to the share, then the
# unit powers the VM off.
set -u
OUT=$LANE_OUT
. "$OUT/run.conf"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
CHECKS=$OUT/checks.txt
: > "$CHECKS"
ok() { echo "ok $1" >> "$CHECKS"; echo "lane: ok $1"; }
fail() { echo "FAIL $1: $2" >> "$CHECKS"; echo "lane: FAIL $1: $2"; }
check() { # NAME WANT GOT
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "want '$2', got '$3'"; fi
}
trap 'sync; echo done > "$OUT/finished"' EXIT

echo "lane: up, systemd $(systemctl --version | head -1 | cut -d' ' -f2), $(systemctl is-system-running 2>&1), controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
{
    uname -a
    systemctl --version
    cat /proc/self/mountinfo
    echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
    systemctl list-units --failed --no-pager
} > "$OUT/vm-info.txt" 2>&1
# the tests write under the target dir (CARGO_TARGET_TMPDIR): a tmpfs over the read-only share
mount -t tmpfs -o mode=755 tmpfs "$TARGET/tmp"
# the client binaries a package would install (docs/install.md's BinaryName)
for n in hardrun hardrun-restricted hardrun-baseline hardrun-ci; do ln -sf "$TARGET/debug/hardrun" "/usr/bin/$n"; done
[ -n "$CMD" ] && { sh -c "$CMD" > "$OUT/cmd.log" 2>&1; echo "lane: --cmd exited $?"; }

scopes() { systemctl list-units --all --plain --no-legend 'hardrun-*.scope' 2>/dev/null | awk '{ print $1 }' | sort; }
scopes > /tmp/scopes-before

# ---- 1. the integration tests (tests/systemd_cgroup.rs) ----------------------------------------
echo "lane: running systemd_cgroup"
s=$(date +%s)
HARDRUN_REQUIRE_SYSTEMD=1 HARDRUN_TEST_TIME_SCALE=$TIME_SCALE timeout -s KILL 900 "$TEST_EXE" --test-threads="$TEST_THREADS" \
    > "$OUT/systemd_cgroup.log" 2>&1
echo $? > "$OUT/systemd_cgroup.rc"
echo "lane: systemd_cgroup exited $(cat "$OUT/systemd_cgroup.rc") after $(( $(date +%s) - s ))s"
tail -n 3 "$OUT/systemd_cgroup.log" | sed 's/^/lane: /'

# ---- 2. containerd with docs/install.md's SystemdCgroup = true snippet -------------------------
echo "lane: containerd"
s=$(date +%s)
SNIP=$OUT/containerd-snippet.toml
mkdir -p /etc/containerd
{ echo 'version = 2'; echo; cat "$SNIP"; } > /etc/containerd/config.toml
systemctl restart containerd
i=0; while ! ctr version >/dev/null 2>&1 && [ $i -lt 120 ]; do sleep 1; i=$((i + 1)); done
containerd config dump > "$OUT/containerd-config-dump.toml" 2>&1
# containerd parsed the snippet: the runtime entry with its options is in its effective config
rt=$(sed -n 's/^\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.\([a-z-]*\)\]$/\1/p' "$SNIP" | head -1)
opt() { sed -n "s/^ *$1 = \"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$SNIP" | head -1; }
BIN=$(opt BinaryName) ROOT=$(opt Root) SYSD=$(opt SystemdCgroup)
check "containerd: the snippet names SystemdCgroup = true" true "$SYSD"
if awk -v h="[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.$rt.options]" \
    '$0 ~ /^ *\[/ { in_ = (index($0, h) > 0) } in_ && /SystemdCgroup = true/ { f = 1 } END { exit !f }' \
    "$OUT/containerd-config-dump.toml"; then
    ok "containerd: config dump has runtime $rt with SystemdCgroup = true"
else
    fail "containerd: config dump has runtime $rt with SystemdCgroup = true" "see containerd-config-dump.toml"
fi
# ctr speaks to the runc v2 shim directly (not through CRI): the same options the CRI plugin
# passes for that runtime entry, BinaryName, Root and SystemdCgroup, given as ctr's flags
R=/var/lib/hardrun-lane/rootfs
mkdir -p $R/bin $R/proc $R/sys $R/dev $R/tmp $R/etc
cp /bin/busybox $R/bin/busybox
for a in sh sleep cat echo id; do ln -sf busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > $R/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > $R/etc/group
chmod 1777 $R/tmp
ID=lane-ctr
SCOPE=hardrun-$ID.scope
ctr run -d --runtime io.containerd.runc.v2 --runc-binary "$BIN" --runc-root "$ROOT" \
    --runc-systemd-cgroup --cgroup "system.slice:hardrun:$ID" --rootfs $R $ID /bin/sleep 1000 \
    > "$OUT/ctr-run.log" 2>&1
rc=$?
if [ $rc = 0 ]; then ok "containerd: ctr run through $BIN with SystemdCgroup"; else fail "containerd: ctr run through $BIN with SystemdCgroup" "rc $rc: $(tail -n 3 "$OUT/ctr-run.log")"; fi
pid=$(ctr task ls 2>/dev/null | awk -v id=$ID '$1 == id { print $2 }')
cg=$(cat /proc/"$pid"/cgroup 2>/dev/null)
check "containerd: the container's cgroup is the systemd scope" "0::/system.slice/$SCOPE" "$cg"
check "containerd: systemd knows the scope" active "$(systemctl is-active "$SCOPE" 2>&1)"
D=/sys/fs/cgroup/system.slice/$SCOPE
# restricted's limits (profiles/restricted.toml: memory 512m, cpus 2.0, pids 1024)
check "containerd: memory.max is restricted's 512m" 536870912 "$(cat $D/memory.max 2>&1)"
check "containerd: pids.max is restricted's 1024" 1024 "$(cat $D/pids.max 2>&1)"
check "containerd: cpu.max is restricted's 2 cpus" "200000 100000" "$(cat $D/cpu.max 2>&1)"
check "containerd: MemoryMax of the scope (systemd's view)" MemoryMax=536870912 "$(systemctl show -p MemoryMax "$SCOPE" 2>&1)"
# restricted's user (65534) in a user namespace of its own: on the host a leased id (100000+)
huid=$(awk '/^Uid:/ { print $2 }' /proc/"$pid"/status 2>&1)
cuid=$(awk -v h="$huid" '$2 <= h && h < $2 + $3 { print h - $2 + $1 }' /proc/"$pid"/uid_map 2>&1)
check "containerd: the process runs as restricted's user 65534 in its user namespace" 65534 "$cuid"
check "containerd: the process's host uid is a leased one, not root" yes "$( [ "${huid:-0}" -ge 100000 ] 2>/dev/null && echo yes || echo "no ($huid)")"
ctr task kill -s KILL $ID >/dev/null 2>&1
i=0; while ctr task ls 2>/dev/null | grep -q "^$ID .*RUNNING" && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
ctr task rm -f $ID > "$OUT/ctr-rm.log" 2>&1
ctr container rm $ID >> "$OUT/ctr-rm.log" 2>&1
i=0; while [ -d "$D" ] && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
check "containerd: the scope is gone after delete" absent "$( [ -d "$D" ] && echo present || echo absent)"
echo "lane: containerd checks done after $(( $(date +%s) - s ))s"

# ---- 3. nothing left: no hardrun scope the tests or ctr made ---------------------------------
scopes > /tmp/scopes-after
left=$(comm -13 /tmp/scopes-before /tmp/scopes-after | tr '\n' ' ')
check "no hardrun scope left after the run" "" "$left"
