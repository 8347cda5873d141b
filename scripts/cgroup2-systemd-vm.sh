#!/usr/bin/env bash
# scripts/cgroup2-systemd-vm.sh - the systemd variant of the cgroup v2 lane: hardrun's systemd
# cgroup driver (`--systemd-cgroup`) and containerd's `SystemdCgroup = true`, in a VM that boots
# Debian 12 with systemd as PID 1 and cgroup2 only.
#
#   scripts/cgroup2-systemd-vm.sh [--timeout SECONDS] [--mem MIB] [--smp N] [--cmd 'SHELL COMMAND']
# (--cmd: run that in the VM before the tests, as root, its output in
# target/cgroup2-systemd-vm/out/cmd.log: for looking around in the VM)
#
# Run as root on Debian 12. What it does:
#   1. installs what it needs from Debian's packages when missing: qemu-system-x86, debootstrap,
#      busybox-static, e2fsprogs, jq;
#   2. builds hardrun and tests/systemd_cgroup.rs (`cargo test --no-run`) on this host (the VM
#      runs Debian 12 too: the same shared libraries);
#   3. builds (or takes from .cache/cgroup2-systemd-vm/, keyed by its inputs) the VM: a root
#      filesystem made with debootstrap from Debian's mirror (systemd, dbus, containerd, runc,
#      busybox-static, ...) in an ext4 image, Debian's kernel (linux-image-amd64, downloaded and
#      unpacked, never installed) and a busybox initramfs that mounts the image and the checkout
#      (9p, read-only, at the same path) and hands over to systemd;
#   4. boots it with cgroup2 only (`cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1`,
#      `apparmor=0`); the image is used as a snapshot (nothing written to the cache). A unit,
#      hardrun-lane.service, runs out/lane.sh (written by this script each run): the test binary
#      as root, then containerd with the `SystemdCgroup = true` snippet of docs/install.md
#      (between the `lane: containerd-systemd` markers) driving hardrun through ctr; then it
#      powers the VM off;
#   5. prints each failed check, then `cgroup2: N passed, M failed` as its last line; exits
#      non-zero on any failure. The VM is killed at --timeout whatever happens.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

TIMEOUT=1200
MEM=2048
SMP=2
CMD=
while [ $# -gt 0 ]; do
    case "$1" in
        --timeout) TIMEOUT=$2; shift 2 ;;
        --mem) MEM=$2; shift 2 ;;
        --smp) SMP=$2; shift 2 ;;
        --cmd) CMD=$2; shift 2 ;;
        -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
        *) echo "cgroup2-systemd-vm.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[cgroup2-systemd-vm %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "cgroup2-systemd-vm.sh: $*" >&2; echo "cgroup2: 0 passed, 1 failed"; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, and the tests start real containers in the VM)"
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# ---- 1. packages ------------------------------------------------------------------------------
need=()
for p in qemu-system-x86 debootstrap busybox-static e2fsprogs jq; do
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
if [ "${LANE_IMAGE_ONLY:-}" != 1 ]; then
TARGET=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
case "$TARGET" in
    "$REPO"/*) ;;
    *) die "the cargo target directory $TARGET must be inside $REPO (it is shared with the VM)" ;;
esac
log "building hardrun and tests/systemd_cgroup.rs"
cargo build --locked --bin hardrun >&2
json=$(cargo test --locked --no-run --message-format=json --test systemd_cgroup 2>/dev/null) \
    || die "cargo test --no-run --test systemd_cgroup failed (run it by hand to see why)"
TEST_EXE=$(jq -r 'select(.reason == "compiler-artifact" and .profile.test == true and .target.name == "systemd_cgroup") | .executable' <<< "$json" | tail -1)
[ -x "$TEST_EXE" ] || die "cargo test --no-run named no executable for tests/systemd_cgroup.rs"
"$TARGET/debug/hardrun" features | jq -e '.linux.cgroup.systemd == true' >/dev/null \
    || die "$TARGET/debug/hardrun was built without the systemd cgroup driver (cargo feature \"systemd\")"
fi
t_build1=$(now)

# ---- 3. the image -----------------------------------------------------------------------------
CACHE=$REPO/.cache/cgroup2-systemd-vm
mkdir -p "$CACHE/debs"
t_img0=$(now)
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
KPKG=$(kernel_pkg)
[ -n "$KPKG" ] || { apt-get update -q >&2; KPKG=$(kernel_pkg); }
[ -n "$KPKG" ] || die "apt-cache names no kernel package for linux-image-amd64 (apt-get update?)"
KVER_PKG=$(apt-cache policy "$KPKG" | awk '/Candidate:/ { print $2 }')
KVER=${KPKG#linux-image-}
PKGS=systemd,systemd-sysv,dbus,containerd,runc,busybox-static,procps,nftables,kmod,jq,iproute2

key=$( {
    echo "kernel $KPKG $KVER_PKG suite $SUITE packages $PKGS"
    dpkg-query -W busybox-static
    # the image half of this script: everything between the markers
    sed -n '/^# ---- image: begin/,/^# ---- image: end/p' "$0"
} | sha256sum | cut -c1-16)
IMG=$CACHE/image-$key
image_state=cached
if [ ! -f "$IMG/root.ext4" ]; then
# ---- image: begin
    image_state=built
    log "building the VM image $IMG (debootstrap $SUITE from $MIRROR, kernel $KPKG $KVER_PKG)"
    deb=$CACHE/debs/${KPKG}_${KVER_PKG//:/%3a}_amd64.deb
    if [ ! -f "$deb" ]; then
        (cd "$CACHE/debs" && apt-get download "$KPKG=$KVER_PKG" >&2) || die "apt-get download $KPKG failed"
        deb=$(ls "$CACHE"/debs/"${KPKG}"_*_amd64.deb | tail -1)
    fi
    work=$(mktemp -d "$CACHE/build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    dpkg-deb -x "$deb" "$work/kernel"
    kmods=$work/kernel/lib/modules/$KVER
    busybox depmod -b "$work/kernel" "$KVER"
    root=$work/root
    debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap $SUITE failed (log above)"; }
    # the kernel's modules: the closure of what the VM loads (the initramfs loads the first line,
    # systemd and the tests the rest), with depmod
    mods_boot="virtio_pci virtio_blk ext4 crc32c_generic 9pnet_virtio 9p"
    mods_run="overlay nf_tables nft_ct nft_objref nft_reject_inet nft_limit nft_log nft_chain_nat nft_compat veth bridge br_netfilter"
    closure() {
        for m in "$@"; do
            awk -v m="/$m.ko:" 'index($0, m) { sub(":", ""); for (i = 1; i <= NF; i++) print $i }' "$kmods/modules.dep"
        done | sort -u
    }
    for f in $(closure $mods_boot $mods_run); do
        mkdir -p "$root/lib/modules/$KVER/$(dirname "$f")"
        cp "$kmods/$f" "$root/lib/modules/$KVER/$f"
    done
    cp "$kmods/modules.builtin" "$kmods/modules.order" "$root/lib/modules/$KVER/" 2>/dev/null || true
    cp "$kmods/modules.builtin.modinfo" "$root/lib/modules/$KVER/" 2>/dev/null || true
    chroot "$root" depmod "$KVER"
    # systemd: no first-boot questions, no gettys, no fstab to remount, a fixed machine id
    echo "hardrun-systemd-vm" > "$root/etc/hostname"
    printf '127.0.0.1 localhost hardrun-systemd-vm\n' > "$root/etc/hosts"
    : > "$root/etc/fstab"
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$root/etc/machine-id"; echo >> "$root/etc/machine-id"
    for u in systemd-firstboot.service getty@tty1.service serial-getty@ttyS0.service \
             systemd-remount-fs.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
             fstrim.timer systemd-timesyncd.service; do
        ln -sf /dev/null "$root/etc/systemd/system/$u"
    done
    printf 'overlay\nnf_tables\n' > "$root/etc/modules-load.d/hardrun-lane.conf"
    # the lane: /etc/hardrun-lane.env is written by the initramfs at each boot (the run's paths)
    cat > "$root/etc/systemd/system/hardrun-lane.service" <<'UNIT'
[Unit]
Description=hardrun's systemd cgroup lane
After=dbus.service containerd.service systemd-modules-load.service
Wants=dbus.service

[Service]
Type=oneshot
EnvironmentFile=/etc/hardrun-lane.env
ExecStart=-/bin/sh ${LANE_OUT}/lane.sh
ExecStartPost=/bin/systemctl --no-block poweroff
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
UNIT
    ln -sf ../hardrun-lane.service "$root/etc/systemd/system/multi-user.target.wants/hardrun-lane.service"
    # the initramfs: busybox, the boot modules, an init that mounts the image and the 9p shares
    ird=$work/initrd
    mkdir -p "$ird"/{bin,proc,sys,dev,newroot}
    cp /bin/busybox "$ird/bin/busybox"
    for f in $(closure $mods_boot); do
        mkdir -p "$ird/lib/modules/$KVER/$(dirname "$f")"
        cp "$kmods/$f" "$ird/lib/modules/$KVER/$f"
    done
    busybox depmod -b "$ird" "$KVER"
    cat > "$ird/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in virtio_pci virtio_blk ext4 crc32c_generic 9pnet_virtio 9p; do modprobe "$m" || echo "lane-initrd: modprobe $m failed"; done
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p"; }
REPO=$(arg lane.repo) OUT=$(arg lane.out)
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 /dev/vda /newroot || { echo "lane-initrd: cannot mount /dev/vda"; poweroff -f; }
mkdir -p "/newroot$REPO"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576,cache=loose,ro repo "/newroot$REPO" \
    || { echo "lane-initrd: cannot mount the checkout at $REPO"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 out "/newroot$OUT" \
    || { echo "lane-initrd: cannot mount the results share at $OUT"; poweroff -f; }
printf 'LANE_REPO=%s\nLANE_OUT=%s\n' "$REPO" "$OUT" > /newroot/etc/hardrun-lane.env
umount /proc /sys
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /lib/systemd/systemd
INIT
    chmod 755 "$ird/init"
    (cd "$ird" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd.cpio.gz")
    # the root filesystem image: ext4, 2 GiB sparse, filled from the directory (no loop mount)
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    truncate -s 2G "$work/root.ext4"
    mkfs.ext4 -q -F -L lane-root -d "$root" "$work/root.ext4" >&2 || die "mkfs.ext4 -d failed"
    mkdir -p "$IMG"
    cp "$work/kernel/boot/vmlinuz-$KVER" "$IMG/vmlinuz"
    mv "$work/initrd.cpio.gz" "$IMG/initrd.cpio.gz"
    mv "$work/root.ext4" "$IMG/root.ext4"
    rm -rf "$work"
    trap - EXIT
# ---- image: end
fi
t_img1=$(now)
log "image $image_state in $(secs "$t_img0" "$t_img1")s: $IMG"
[ "${LANE_IMAGE_ONLY:-}" = 1 ] && { log "LANE_IMAGE_ONLY=1: not booting"; exit 0; }

# ---- 4. the run -------------------------------------------------------------------------------
OUT=$TARGET/cgroup2-systemd-vm/out
rm -rf "$OUT"
mkdir -p "$OUT" "$TARGET/tmp"
# the containerd snippet the lane tests is the one docs/install.md shows
sed -n '/<!-- lane: containerd-systemd begin -->/,/<!-- lane: containerd-systemd end -->/p' docs/install.md \
    | sed -n '/^```toml$/,/^```$/p' | sed '1d;$d' > "$OUT/containerd-snippet.toml"
[ -s "$OUT/containerd-snippet.toml" ] \
    || die "docs/install.md: no toml block between the lane: containerd-systemd markers"
accel=tcg,thread=multi cpu=max scale=10
if [ -w /dev/kvm ] && grep -qE 'vmx|svm' /proc/cpuinfo; then accel=kvm cpu=host scale=1; fi
{
    echo "REPO='$REPO'"
    echo "TARGET='$TARGET'"
    echo "TEST_EXE='$TEST_EXE'"
    echo "TIME_SCALE=$scale"
    echo "TEST_THREADS=1"
    printf 'CMD=%q\n' "$CMD"
} > "$OUT/run.conf"
cp scripts/cgroup2-systemd-lane.sh "$OUT/lane.sh"

log "booting ($accel, $SMP cpus, ${MEM} MiB), timeout ${TIMEOUT}s"
t_boot0=$(now)
set +e
timeout -s KILL "$TIMEOUT" qemu-system-x86_64 \
    -machine pc -accel "$accel" -cpu "$cpu" -smp "$SMP" -m "$MEM" \
    -nodefaults -display none -vga none -no-reboot \
    -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.cpio.gz" \
    -append "console=ttyS0 panic=-1 loglevel=4 apparmor=0 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 systemd.show_status=0 lane.repo=$REPO lane.out=$OUT" \
    -serial stdio -monitor none \
    -virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,id=repo" \
    -virtfs "local,path=$OUT,mount_tag=out,security_model=none,id=out" \
    -drive "file=$IMG/root.ext4,format=raw,if=virtio,snapshot=on" \
    < /dev/null 2>&1 | tee "$TARGET/cgroup2-systemd-vm/console.log" | while IFS= read -r l; do
        case "$l" in
            *"lane: up"*) date +%s.%N > "$TARGET/cgroup2-systemd-vm/up-at" ;;
        esac
        case "$l" in
            *lane:*|*lane-initrd:*) printf '%s %s\n' "$(date +%T)" "${l#*]: }" >&2 ;;
        esac
    done
qemu_rc=${PIPESTATUS[0]}
set -e
t_boot1=$(now)
cp "$TARGET/cgroup2-systemd-vm/console.log" "$OUT/console.log" 2>/dev/null || true

# ---- 5. the results ---------------------------------------------------------------------------
passed=0 failed=0 ignored=0
failures=()
logf=$OUT/systemd_cgroup.log
res=$(grep -E '^test result: ' "$logf" 2>/dev/null | tail -1 || true)
if [ -z "$res" ]; then
    failed=$((failed + 1))
    failures+=("systemd_cgroup: did not finish (rc $(cat "$OUT/systemd_cgroup.rc" 2>/dev/null || echo none); see $logf)")
else
    passed=$((passed + $(sed -E 's/.* ([0-9]+) passed.*/\1/' <<< "$res")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<< "$res")))
    ignored=$(sed -E 's/.* ([0-9]+) ignored.*/\1/' <<< "$res")
    while IFS= read -r t; do failures+=("systemd_cgroup::$t"); done < <(sed -nE 's/^test (.*) \.\.\. FAILED$/\1/p' "$logf")
fi
# the shell checks (containerd, leftovers): one `ok NAME` or `FAIL NAME: why` line each
if [ -f "$OUT/checks.txt" ]; then
    passed=$((passed + $(grep -c '^ok ' "$OUT/checks.txt" || true)))
    failed=$((failed + $(grep -c '^FAIL ' "$OUT/checks.txt" || true)))
    while IFS= read -r l; do failures+=("${l#FAIL }"); done < <(grep '^FAIL ' "$OUT/checks.txt" || true)
fi
if [ ! -f "$OUT/finished" ]; then
    failed=$((failed + 1))
    failures+=("the VM did not finish the run (qemu exit $qemu_rc; timeout ${TIMEOUT}s?)")
fi
up_at=$(cat "$TARGET/cgroup2-systemd-vm/up-at" 2>/dev/null || echo "$t_boot0")
log "times: binaries $(secs "$t_build0" "$t_build1")s, image ($image_state) $(secs "$t_img0" "$t_img1")s, boot $(secs "$t_boot0" "$up_at")s, tests+poweroff $(secs "$up_at" "$t_boot1")s; $ignored ignored; logs in $OUT"
for f in "${failures[@]}"; do echo "FAILED $f"; done
echo "cgroup2: $passed passed, $failed failed"
[ "$failed" = 0 ]
