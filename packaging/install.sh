#!/bin/sh
# packaging/install.sh - node setup without the .deb (or after it): installs the hardrun binary
# and its profile symlinks, merges hardrun's runtimes into containerd's config, and prints what
# to restart. Safe to run again: nothing changes the second time.
#
# usage: install.sh [--binary FILE] [--bin-dir DIR] [--containerd-config FILE]
#                   [--profiles restricted,baseline,ci] [--default-runtime NAME]
#                   [--no-containerd] [--dry-run]
#
#   --binary FILE       the hardrun binary to install (default: ./hardrun beside this script,
#                       else target/release/hardrun of the repository, else the installed one)
#   --bin-dir DIR       where to install it (default /usr/local/bin; /usr/bin is the package's)
#   --containerd-config containerd's config (default /etc/containerd/config.toml); it is
#                       backed up to config.toml.hardrun-bak.<time> before it is changed, and
#                       left alone when it is not TOML or not a layout hardrun knows
#   --profiles LIST     one runtime hardrun-<profile> per profile, besides "hardrun"
#   --default-runtime   also make that runtime containerd's default_runtime_name
#   --no-containerd     install the binary only
#   --dry-run           show what would change; change nothing
#
# The containerd merge is `hardrun setup containerd` (toml_edit: comments and layout of the rest
# of the file are kept). Must run as root.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
BINARY=
BIN_DIR=/usr/local/bin
CTRD_CONFIG=/etc/containerd/config.toml
PROFILES=restricted,baseline,ci
DEFAULT_RUNTIME=
CONTAINERD=1
DRY_RUN=

die() { echo "install.sh: $*" >&2; exit 1; }
need_arg() { [ $# -ge 2 ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --binary) need_arg "$@"; BINARY=$2; shift 2 ;;
        --bin-dir) need_arg "$@"; BIN_DIR=$2; shift 2 ;;
        --containerd-config) need_arg "$@"; CTRD_CONFIG=$2; shift 2 ;;
        --profiles) need_arg "$@"; PROFILES=$2; shift 2 ;;
        --default-runtime) need_arg "$@"; DEFAULT_RUNTIME=$2; shift 2 ;;
        --no-containerd) CONTAINERD=; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

[ "$(id -u)" = 0 ] || [ -n "$DRY_RUN" ] || die "must run as root"

if [ -z "$BINARY" ]; then
    for b in "$HERE/hardrun" "$HERE/../target/release/hardrun" /usr/bin/hardrun; do
        if [ -x "$b" ]; then BINARY=$b; break; fi
    done
fi
if [ -z "$BINARY" ] || [ ! -x "$BINARY" ]; then die "no hardrun binary found: give --binary FILE"; fi
"$BINARY" --version >/dev/null 2>&1 || die "$BINARY --version failed (a glibc older than 2.36, or a library missing? ldd $BINARY)"

TARGET=$BIN_DIR/hardrun
run() { if [ -n "$DRY_RUN" ]; then echo "would run: $*"; else "$@"; fi; }

# the binary and one symlink per profile (containerd's BinaryName cannot pass --profile)
if [ "$(readlink -f "$BINARY")" = "$(readlink -f "$TARGET" 2>/dev/null || true)" ]; then
    echo "$TARGET: already installed"
elif [ -f "$TARGET" ] && cmp -s "$BINARY" "$TARGET"; then
    echo "$TARGET: already up to date"
else
    run install -D -m 0755 "$BINARY" "$TARGET"
    echo "installed $TARGET ($("$BINARY" --version | head -n 1))"
fi
for p in $(echo "$PROFILES" | tr ',' ' '); do
    link=$BIN_DIR/hardrun-$p
    if [ "$(readlink "$link" 2>/dev/null || true)" = hardrun ]; then continue; fi
    [ ! -e "$link" ] || [ -L "$link" ] || die "$link exists and is not a symlink: not replacing it"
    run ln -sfn hardrun "$link"
    echo "linked $link -> hardrun"
done
run install -d -m 0755 /etc/hardrun/profiles /etc/hardrun/config.d
run install -d -m 0700 /var/log/hardrun /var/lib/hardrun

RESTART=
if [ -n "$CONTAINERD" ]; then
    set -- --config "$CTRD_CONFIG" --profiles "$PROFILES" --bin-dir "$BIN_DIR"
    [ -z "$DEFAULT_RUNTIME" ] || set -- "$@" --default-runtime "$DEFAULT_RUNTIME"
    [ -z "$DRY_RUN" ] || set -- "$@" --dry-run
    before=$(cksum "$CTRD_CONFIG" 2>/dev/null || true)
    out=$("$BINARY" setup containerd "$@") || die "containerd's config was not changed"
    printf '%s\n' "$out"
    after=$(cksum "$CTRD_CONFIG" 2>/dev/null || true)
    [ "$before" = "$after" ] || RESTART="containerd"
fi

echo
if [ -n "$RESTART" ]; then
    echo "next: restart containerd to load its new config:"
    echo "  systemctl restart containerd    # or: service containerd restart"
    echo "  (running containers keep running; new ones can use the hardrun runtimes)"
else
    echo "next: nothing to restart for containerd"
fi
if command -v dockerd >/dev/null 2>&1; then
    echo "Docker: add the runtimes of /usr/share/doc/hardrun/examples/docker-daemon.json (with"
    echo "  $BIN_DIR paths) to /etc/docker/daemon.json, then restart dockerd"
fi
if command -v podman >/dev/null 2>&1; then
    echo "podman: see /usr/share/doc/hardrun/examples/podman-containers.conf (no daemon to restart)"
fi
echo "Kubernetes: kubectl apply -f /usr/share/doc/hardrun/examples/runtimeclasses.yaml"
