#!/usr/bin/env bash
# scripts/cgroup2-vm.sh - the cgroup v2 lane: hardrun's cgroup and hardening integration tests in
# a small VM that mounts cgroup2 only, on a host that runs cgroup v1 (or anything else).
#
#   scripts/cgroup2-vm.sh [--tests limits,devices_cgroup,...] [--timeout SECONDS] [--mem MIB]
#                         [--smp N] [--cmd 'SHELL COMMAND']
# (--cmd: run that in the VM before the tests, as root, its output in target/cgroup2-vm/out/cmd.log:
# for looking around in the VM)
#
# Run as root on Debian 12. What it does:
#   1. installs what it needs from Debian's packages when missing: qemu-system-x86 (the VM, under
#      software emulation when the CPU has no virtualization extensions), busybox-static, runc,
#      procps, jq, nftables;
#   2. builds hardrun, the test binaries (`cargo test --no-run`) and the static probe of
#      integration/probes on this host;
#   3. builds (or takes from the cache in .cache/cgroup2-vm/, keyed by its inputs) a VM image:
#      Debian's kernel (linux-image-amd64, downloaded with `apt-get download` and unpacked, never
#      installed) and an initramfs with busybox, runc, procps's ps, nftables' nft, the shared libraries the
#      binaries need (ldd) and the kernel modules the lane needs (virtio, 9p, overlay, nf_tables);
#   4. boots it with cgroup2 only (`cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1`) and,
#      like the host the tests' expectations were taken on, without AppArmor (`apparmor=0`); its
#      init mounts cgroup2 at /sys/fs/cgroup with nsdelegate, enables every controller in the
#      root's cgroup.subtree_control, mounts this checkout read-only at the same path (9p) and
#      runs each test binary as root; results come back through a second 9p share
#      (target/cgroup2-vm/out/), the console through the serial line (console.log there);
#   5. prints each failed test, then `cgroup2: N passed, M failed` as its last line; exits
#      non-zero on any failure. The VM powers itself off when done, and is killed at --timeout
#      whatever happens.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

TESTS="limits,devices_cgroup,lifecycle,probes,benign,hardening"
TIMEOUT=2400
MEM=3072
SMP=2
CMD=
while [ $# -gt 0 ]; do
    case "$1" in
        --tests) TESTS=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --mem) MEM=$2; shift 2 ;;
        --smp) SMP=$2; shift 2 ;;
        --cmd) CMD=$2; shift 2 ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
        *) echo "cgroup2-vm.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[cgroup2-vm %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "cgroup2-vm.sh: $*" >&2; echo "cgroup2: 0 passed, 1 failed"; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || die "must run as root (the tests start real containers in the VM)"

# ---- 1. packages ------------------------------------------------------------------------------
need=()
for p in qemu-system-x86 busybox-static runc jq procps nftables; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${need[@]}" >&2 || die "apt-get install ${need[*]} failed"
fi
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
command -v cargo >/dev/null || die "cargo is missing: run scripts/install-deps.sh first"

# ---- 2. the binaries --------------------------------------------------------------------------
t_build0=$(now)
TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
case "$TARGET" in
    "$REPO"/*) ;;
    *) die "the cargo target directory $TARGET must be inside $REPO (it is shared with the VM)" ;;
esac
log "building hardrun and the test binaries ($TESTS)"
cargo build --locked --bin hardrun >&2
test_args=()
IFS=, read -r -a names <<< "$TESTS"
for n in "${names[@]}"; do
    [ -f "tests/$n.rs" ] || die "tests/$n.rs: no such test file (--tests)"
    test_args+=(--test "$n")
done
json=$(cargo test --locked --no-run --message-format=json "${test_args[@]}" 2>/dev/null) \
    || die "cargo test --no-run failed (run it by hand to see why)"
declare -A exe
while IFS=$'\t' read -r name path; do exe[$name]=$path; done < <(
    jq -r 'select(.reason == "compiler-artifact" and .profile.test == true and .target.kind == ["test"])
           | [.target.name, .executable] | @tsv' <<< "$json")
for n in "${names[@]}"; do
    [ -n "${exe[$n]:-}" ] || die "cargo test --no-run named no executable for tests/$n.rs"
done
# the probe, built as tests/common's probe_binary() builds it (the VM has no cargo: its `cargo`
# only says the build is done)
RUSTFLAGS="-C target-feature=+crt-static" env -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET_DIR \
    cargo build --release --locked --quiet --manifest-path integration/probes/Cargo.toml \
    --target x86_64-unknown-linux-gnu >&2 || die "building integration/probes failed"
PROBE=integration/probes/target/x86_64-unknown-linux-gnu/release/probe
[ -x "$PROBE" ] || die "$PROBE missing after the build"
t_build1=$(now)

# ---- 3. the image -----------------------------------------------------------------------------
CACHE=$REPO/.cache/cgroup2-vm
mkdir -p "$CACHE/debs"
t_img0=$(now)
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
KPKG=$(kernel_pkg)
[ -n "$KPKG" ] || { apt-get update -q >&2; KPKG=$(kernel_pkg); }
[ -n "$KPKG" ] || die "apt-cache names no kernel package for linux-image-amd64 (apt-get update?)"
KVER_PKG=$(apt-cache policy "$KPKG" | awk '/Candidate:/ { print $2 }')
KVER=${KPKG#linux-image-}

# the shared libraries every binary that runs in the VM needs (their host paths)
bins=("$TARGET/debug/hardrun" /usr/sbin/runc /usr/bin/ps /usr/sbin/nft)
for n in "${names[@]}"; do bins+=("${exe[$n]}"); done
libs=$(for b in "${bins[@]}"; do ldd "$b" 2>/dev/null | grep -oE '/[^ ]+' || true; done | sort -u)

key=$( {
    echo "kernel $KPKG $KVER_PKG"
    dpkg-query -W busybox-static runc
    for l in $libs; do sha256sum "$(readlink -f "$l")" | cut -c1-16; echo "$l"; done
    # the image half of this script: everything between the markers
    sed -n '/^# ---- image: begin/,/^# ---- image: end/p' "$0"
} | sha256sum | cut -c1-16)
IMG=$CACHE/image-$key
image_state=cached
if [ ! -f "$IMG/initrd.cpio.gz" ]; then
# ---- image: begin
    image_state=built
    log "building the VM image $IMG (kernel $KPKG $KVER_PKG)"
    deb=$CACHE/debs/${KPKG}_${KVER_PKG//:/%3a}_amd64.deb
    if [ ! -f "$deb" ]; then
        (cd "$CACHE/debs" && apt-get download "$KPKG=$KVER_PKG" >&2 2>/dev/null) \
            || (cd "$CACHE/debs" && apt-get download "$KPKG=$KVER_PKG" >&2) \
            || die "apt-get download $KPKG failed"
        deb=$(ls "$CACHE"/debs/"${KPKG}"_*_amd64.deb | tail -1)
    fi
    work=$(mktemp -d "$CACHE/build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    dpkg-deb -x "$deb" "$work/kernel"
    root=$work/root
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,proc,sys,dev,tmp,run,root,etc,mnt,var/tmp}
    chmod 1777 "$root/tmp" "$root/var/tmp"
    cp /bin/busybox "$root/bin/busybox"
    cp /usr/sbin/runc "$root/usr/sbin/runc"
    # procps's ps: `hardrun ps` runs it (busybox's has no -ef)
    cp /usr/bin/ps "$root/usr/bin/ps"
    # nftables' nft: restricted and baseline load their [egress] table with it (no nft: refused)
    cp /usr/sbin/nft "$root/usr/sbin/nft"
    for l in $libs; do
        mkdir -p "$root$(dirname "$l")"
        cp -L "$l" "$root$l"
    done
    # kernel modules: the closure of what the lane loads, with busybox's depmod
    kmods=$work/kernel/lib/modules/$KVER
    busybox depmod -b "$work/kernel" "$KVER"
    mods="virtio_pci virtio_blk 9pnet_virtio 9p overlay crc32c_generic nf_tables nft_ct nft_objref nft_reject_inet nft_limit nft_log"
    want=$(for m in $mods; do
        awk -v m="/$m.ko:" 'index($0, m) { sub(":", ""); for (i = 1; i <= NF; i++) print $i }' "$kmods/modules.dep"
    done | sort -u)
    for f in $want; do
        mkdir -p "$root/lib/modules/$KVER/$(dirname "$f")"
        cp "$kmods/$f" "$root/lib/modules/$KVER/$f"
    done
    cp "$kmods/modules.builtin" "$kmods/modules.order" "$root/lib/modules/$KVER/" 2>/dev/null || true
    busybox depmod -b "$root" "$KVER"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
    printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
    printf '#!/bin/sh\n# the VM has no cargo: what the tests would build was built on the host\nexit 0\n' \
        > "$root/usr/local/bin/cargo"
    chmod 755 "$root/usr/local/bin/cargo"
    cat > "$root/init" <<'INIT'
#!/bin/busybox sh
# the cgroup v2 lane's init: cgroup2 only, the checkout over 9p, the tests, power off.
# the initramfs is rootfs, which pivot_root (what a runtime does) refuses: move to a tmpfs first
if [ "$$" = 1 ] && [ -z "$CGROUP2_VM_TMPFS" ]; then
    /bin/busybox mkdir /newroot
    /bin/busybox mount -t tmpfs -o mode=755 root /newroot
    for d in /*; do
        [ "$d" = /newroot ] || /bin/busybox cp -a "$d" /newroot/
    done
    export CGROUP2_VM_TMPFS=1
    exec /bin/busybox switch_root /newroot /init
fi
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount --make-rshared /
off() { sync; poweroff -f; }
trap off EXIT
for m in virtio_pci virtio_blk 9pnet_virtio 9p overlay crc32c_generic nf_tables nft_ct nft_objref; do modprobe "$m" || echo "cgroup2-vm: modprobe $m failed"; done
# the kernel loads other modules on demand (nft expressions) with the modprobe busybox installed
echo /bin/modprobe > /proc/sys/kernel/modprobe
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
hostname cgroup2-vm
mount -t cgroup2 -o nsdelegate,nosuid,nodev,noexec cgroup2 /sys/fs/cgroup || echo "cgroup2-vm: cgroup2 mount failed"
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control || echo "cgroup2-vm: cannot enable $c"
done
# the run's parameters come on the kernel's command line: cgroup2_vm.repo=PATH
REPO=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^cgroup2_vm.repo=//p')
mkdir -p "$REPO"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576,cache=loose,ro repo "$REPO" \
    || { echo "cgroup2-vm: cannot mount the checkout at $REPO"; exit 1; }
OUT=$REPO/target/cgroup2-vm/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 out "$OUT" \
    || { echo "cgroup2-vm: cannot mount the results share at $OUT"; exit 1; }
. "$OUT/run.conf"
mount -t tmpfs -o mode=755 tmpfs "$TARGET_TMP"
{
    uname -a
    cat /proc/self/mountinfo
    echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
    echo "subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
    ls /sys/dev/block
} > "$OUT/vm-info.txt" 2>&1
echo "cgroup2-vm: up, controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
# the cgroups there before the tests: after them there must be no other
find /sys/fs/cgroup -mindepth 1 -type d | sort > /tmp/cgroups-before
cd /
export HARDRUN_TEST_TIME_SCALE="$TIME_SCALE"
[ -n "$CMD" ] && { sh -c "$CMD" > "$OUT/cmd.log" 2>&1; echo "cgroup2-vm: --cmd exited $?"; }
for t in $TESTS; do
    eval "bin=\$EXE_$t"
    echo "cgroup2-vm: running $t"
    s=$(date +%s)
    timeout -s KILL "$PER_TEST_TIMEOUT" "$bin" --test-threads="$TEST_THREADS" > "$OUT/$t.log" 2>&1
    echo $? > "$OUT/$t.rc"
    echo "cgroup2-vm: $t exited $(cat "$OUT/$t.rc") after $(( $(date +%s) - s ))s"
    tail -n 3 "$OUT/$t.log"
done
find /sys/fs/cgroup -mindepth 1 -type d | sort > /tmp/cgroups-after
comm -13 /tmp/cgroups-before /tmp/cgroups-after > "$OUT/cgroups-left.txt"
echo done > "$OUT/finished"
sync
INIT
    chmod 755 "$root/init"
    (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd.cpio.gz")
    mkdir -p "$IMG"
    cp "$work/kernel/boot/vmlinuz-$KVER" "$IMG/vmlinuz"
    mv "$work/initrd.cpio.gz" "$IMG/initrd.cpio.gz"
    rm -rf "$work"
    trap - EXIT
# ---- image: end
fi
t_img1=$(now)
log "image $image_state in $(secs "$t_img0" "$t_img1")s: $IMG"

# ---- 4. the run -------------------------------------------------------------------------------
OUT=$TARGET/cgroup2-vm/out
rm -rf "$OUT"
mkdir -p "$OUT" "$TARGET/tmp"
DISK=$TARGET/cgroup2-vm/disk.img
# a block device for the device-cgroup tests to try (the VM's own disk, a blank one)
[ -f "$DISK" ] || truncate -s 16M "$DISK"
# software emulation (TCG) runs a fork or an exec about ten times slower than this host: the
# tests that give a workload a time window widen it by HARDRUN_TEST_TIME_SCALE
accel=tcg,thread=multi cpu=max scale=10
if [ -w /dev/kvm ] && grep -qE 'vmx|svm' /proc/cpuinfo; then accel=kvm cpu=host scale=1; fi
{
    echo "TESTS='${names[*]}'"
    echo "TIME_SCALE=$scale"
    echo "TARGET_TMP='$TARGET/tmp'"
    echo "PER_TEST_TIMEOUT=$TIMEOUT"
    echo "TEST_THREADS=$SMP"
    printf 'CMD=%q\n' "$CMD"
    for n in "${names[@]}"; do echo "EXE_$n='${exe[$n]}'"; done
} > "$OUT/run.conf"

log "booting ($accel, $SMP cpus, ${MEM} MiB), timeout ${TIMEOUT}s"
t_boot0=$(now)
set +e
timeout -s KILL "$TIMEOUT" qemu-system-x86_64 \
    -machine pc -accel "$accel" -cpu "$cpu" -smp "$SMP" -m "$MEM" \
    -nodefaults -display none -vga none -no-reboot \
    -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.cpio.gz" \
    -append "console=ttyS0 panic=-1 loglevel=4 apparmor=0 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 cgroup2_vm.repo=$REPO" \
    -serial stdio -monitor none \
    -virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,id=repo" \
    -virtfs "local,path=$OUT,mount_tag=out,security_model=none,id=out" \
    -drive "file=$DISK,format=raw,if=virtio" \
    < /dev/null 2>&1 | tee "$TARGET/cgroup2-vm/console.log" | while IFS= read -r l; do
        case "$l" in
            "cgroup2-vm: up,"*) date +%s.%N > "$TARGET/cgroup2-vm/up-at" ;;
        esac
        case "$l" in
            cgroup2-vm:*) printf '%s %s\n' "$(date +%T)" "$l" >&2 ;;
        esac
    done
qemu_rc=${PIPESTATUS[0]}
set -e
t_boot1=$(now)
cp "$TARGET/cgroup2-vm/console.log" "$OUT/console.log" 2>/dev/null || true

# ---- 5. the results ---------------------------------------------------------------------------
passed=0 failed=0 ignored=0
failures=()
for n in "${names[@]}"; do
    logf=$OUT/$n.log
    res=$(grep -E '^test result: ' "$logf" 2>/dev/null | tail -1 || true)
    if [ -z "$res" ]; then
        failed=$((failed + 1))
        failures+=("$n: did not finish (rc $(cat "$OUT/$n.rc" 2>/dev/null || echo none); see $logf)")
        continue
    fi
    p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<< "$res")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<< "$res")
    i=$(sed -E 's/.* ([0-9]+) ignored.*/\1/' <<< "$res")
    passed=$((passed + p)) failed=$((failed + f)) ignored=$((ignored + i))
    while IFS= read -r t; do failures+=("$n::$t"); done < <(sed -nE 's/^test (.*) \.\.\. FAILED$/\1/p' "$logf")
done
# nothing of the tests' containers may be left in the cgroup tree
if [ -f "$OUT/finished" ]; then
    if [ -s "$OUT/cgroups-left.txt" ]; then
        failed=$((failed + 1))
        failures+=("cgroup tree: left behind after the tests: $(tr '\n' ' ' < "$OUT/cgroups-left.txt")")
    else
        passed=$((passed + 1))
    fi
else
    failed=$((failed + 1))
    failures+=("the VM did not finish the run (qemu exit $qemu_rc; timeout ${TIMEOUT}s?)")
fi

up_at=$(cat "$TARGET/cgroup2-vm/up-at" 2>/dev/null || echo "$t_boot0")
log "times: binaries $(secs "$t_build0" "$t_build1")s, image ($image_state) $(secs "$t_img0" "$t_img1")s, boot $(secs "$t_boot0" "$up_at")s, tests+poweroff $(secs "$up_at" "$t_boot1")s; $ignored ignored; logs in $OUT"
for f in "${failures[@]}"; do echo "FAILED $f"; done
echo "cgroup2: $passed passed, $failed failed"
[ "$failed" = 0 ]
