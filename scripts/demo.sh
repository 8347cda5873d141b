#!/usr/bin/env bash
# scripts/demo.sh - install what is needed, build hardrun, make a busybox bundle with
# `hardrun spec`, and run a container from it with `hardrun run`, printing what ran.
#
# usage: scripts/demo.sh [command...]     (default: a shell line that shows who and where it is)
# environment: DEMO_DIR (default /tmp/hardrun-demo): the bundle; the state root is $DEMO_DIR/state.
#              PROFILE (default restricted): the hardening profile (baseline, ci-runner, permissive).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_DIR=${DEMO_DIR:-/tmp/hardrun-demo}

"$REPO/scripts/install-deps.sh"
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --locked --manifest-path "$REPO/Cargo.toml"
HARDRUN=$REPO/target/release/hardrun

# the bundle: busybox-static as the rootfs, runc's default spec from `hardrun spec`
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/rootfs"/{bin,proc,sys,dev,tmp,etc,root,run,var/tmp}
chmod 1777 "$DEMO_DIR/rootfs/tmp"
cp /bin/busybox "$DEMO_DIR/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$DEMO_DIR/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$DEMO_DIR/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$DEMO_DIR/rootfs/etc/group"
"$HARDRUN" spec --bundle "$DEMO_DIR"

if [ "$#" -eq 0 ]; then
    set -- sh -c 'echo "hello from a hardrun container";
        echo "id: $(id)"; echo "hostname: $(hostname)"; echo "pid: $$";
        grep -E "^Cap(Eff|Bnd)" /proc/self/status;
        if touch /hardrun-write-test 2>/dev/null; then echo "rootfs: writable"; else echo "rootfs: read-only"; fi'
fi
args=$(jq -n '$ARGS.positional' --args -- "$@")
jq --argjson args "$args" '.process.terminal = false | .process.args = $args' \
    "$DEMO_DIR/config.json" > "$DEMO_DIR/config.json.new"
mv "$DEMO_DIR/config.json.new" "$DEMO_DIR/config.json"

# hardrun's configuration for the demo: the default profile (restricted), audit log beside the bundle
printf 'default_profile = "%s"\naudit_log = "%s"\n' "${PROFILE:-restricted}" "$DEMO_DIR/audit.jsonl" >"$DEMO_DIR/hardrun.toml"
export HARDRUN_CONFIG=$DEMO_DIR/hardrun.toml

echo "+ $HARDRUN --root $DEMO_DIR/state run --bundle $DEMO_DIR demo-$$   (profile ${PROFILE:-restricted})" >&2
status=0
"$HARDRUN" --root "$DEMO_DIR/state" run --bundle "$DEMO_DIR" "demo-$$" || status=$?
echo "+ container exited with status $status" >&2
echo "+ what hardrun changed (from $DEMO_DIR/audit.jsonl):" >&2
jq -r '"  decision: \(.decision) (profile \(.profile), mode \(.mode))", (.findings[] | "  [\(.action)] \(.code) (CIS \(.cis | join(","))): \(.message)")' \
    "$DEMO_DIR/audit.jsonl" >&2
exit "$status"
