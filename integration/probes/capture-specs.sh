#!/usr/bin/env bash
# shellcheck disable=SC2016
# integration/probes/capture-specs.sh - capture the OCI specs that real clients hand a runtime,
# as fixtures for tests/probes.rs (tests/fixtures/specs/). Each client is pointed at a wrapper
# runtime that copies <bundle>/config.json (create/run) and the --process file (exec) before it
# execs runc, then runs one detached container (`sleep`) and one exec into it:
#
#   runc     `runc spec`, process.terminal = false (what a runc user starts from)
#   ctr      containerd 1.6 `ctr run -d IMAGE` (namespace "default") + `ctr task exec`
#   docker   dockerd 20.10 `docker run -d --network none IMAGE` + `docker exec`
#   podman   podman 4.3 + conmon `podman run -d IMAGE` + `podman exec`
#   cri      containerd 1.6's CRI plugin: RunPodSandbox (own network namespace, through a no-op
#            CNI plugin), CreateContainer + StartContainer + ExecSync, as the kubelet sends them
#            for a pod without securityContext (CRI=0 skips it: it needs a Python venv with
#            grpcio from PyPI and the CRI proto from the k8s-cri crate; both are cached)
#
# The specs are written as the clients wrote them (absolute paths of the capture run included;
# tests/probes.rs rewrites only what must point at test-local files). Every daemon started here
# runs with its state in a temporary directory and on unix sockets in it, and is stopped by PID;
# the paths the tools hard-code outside it (/run/containerd, /run/docker, /run/containers,
# /var/lib/containers, /run/runc, /var/lib/cni) are removed again when they did not exist before.
#
#   integration/probes/capture-specs.sh            (as root, Debian 12: runc containerd podman
#                                                   docker.io umoci jq busybox-static)
#   OUT=dir CRI=0 CACHE=dir integration/probes/capture-specs.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-$REPO/tests/fixtures/specs}
CRI=${CRI:-1}
CACHE=${CACHE:-$REPO/integration/work/capture}   # CRI venv + proto, kept between runs (gitignored)
RUNC=${RUNC:-/usr/sbin/runc}
DOCKER=/usr/bin/docker
K8S_CRI_VERSION=0.11.0

say() { printf '[capture] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for t in "$RUNC" containerd ctr dockerd "$DOCKER" podman conmon umoci jq; do
    command -v "$t" >/dev/null || die "missing $t"
done

W=$(mktemp -d /tmp/hrcap.XXXXXX)      # short: unix sockets live in it
CAP=$W/captured
mkdir -p "$CAP" "$W/bin" "$W/img" "$W/ctrd" "$W/docker"/{data,exec,cli} "$W/podman"/{root,runroot,tmp,net} "$W/cni/bin" "$W/cni/conf" "$W/cni/cache"
CTRD_SOCK=$W/ctrd/sock
DOCKER_SOCK=$W/docker/sock
CTRD_PID= DOCKERD_PID=

# created by the tools outside $W although told otherwise (or by the clients' default cgroup
# parents): removed again at the end if they did not exist before (files we know, empty dirs)
OUTSIDE=(/run/containerd /run/docker /run/containers /var/lib/containers /run/runc /var/lib/cni /run/netns)
CG_OUTSIDE=()
for c in /sys/fs/cgroup/*/; do CG_OUTSIDE+=("${c}default" "${c}libpod_parent"); done
OUTSIDE_FILES=(/var/lib/containers/cache/blob-info-cache-v1.boltdb)
BEFORE=()
for p in "${OUTSIDE[@]}" "${OUTSIDE_FILES[@]}" "${CG_OUTSIDE[@]}"; do [ -e "$p" ] && BEFORE+=("$p"); done

stop_pid() {  # pid comm
    local pid=$1 i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || { say "pid $pid is not $2: left alone"; return 0; }
    kill -TERM "$pid"
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    set +e
    if [ -n "$DOCKERD_PID" ]; then
        ids=$(timeout 30 "$W/bin/docker" ps -aq 2>/dev/null)
        [ -n "$ids" ] && timeout 60 "$W/bin/docker" rm -f $ids >/dev/null 2>&1
        stop_pid "$DOCKERD_PID" dockerd
    fi
    if [ -x "$W/bin/podman" ]; then
        ids=$(timeout 30 "$W/bin/podman" ps -aq 2>/dev/null)
        [ -n "$ids" ] && timeout 60 "$W/bin/podman" rm -f -t 0 $ids >/dev/null 2>&1
    fi
    if [ -n "$CTRD_PID" ]; then
        for ns in $(timeout 10 ctr -a "$CTRD_SOCK" ns ls -q 2>/dev/null); do
            for t in $(timeout 10 ctr -a "$CTRD_SOCK" -n "$ns" task ls -q 2>/dev/null); do
                timeout 10 ctr -a "$CTRD_SOCK" -n "$ns" task kill -s SIGKILL "$t" >/dev/null 2>&1; sleep 0.3
                timeout 10 ctr -a "$CTRD_SOCK" -n "$ns" task delete -f "$t" >/dev/null 2>&1
            done
            for t in $(timeout 10 ctr -a "$CTRD_SOCK" -n "$ns" containers ls -q 2>/dev/null); do
                timeout 10 ctr -a "$CTRD_SOCK" -n "$ns" containers rm "$t" >/dev/null 2>&1
            done
        done
        stop_pid "$CTRD_PID" containerd
    fi
    awk -v w="$W/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
    find /sys/fs/cgroup/*/hrcap* -depth -type d -exec rmdir {} \; 2>/dev/null
    for p in "${CG_OUTSIDE[@]}"; do
        [ -d "$p" ] && ! [[ " ${BEFORE[*]} " == *" $p "* ]] && find "$p" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    rm -rf "$W"
    for p in "${OUTSIDE_FILES[@]}"; do
        [[ " ${BEFORE[*]} " == *" $p "* ]] || rm -f "$p"
    done
    for p in "${OUTSIDE[@]}"; do
        [[ " ${BEFORE[*]} " == *" $p "* ]] && continue
        [ -d "$p" ] && find "$p" -depth -type d -empty -delete 2>/dev/null
        [ -e "$p" ] && say "left $p: not empty (another user of it?)"
    done
}
trap cleanup EXIT

# ---- the wrapper runtime: copy what the client hands over, then exec runc
make_wrapper() {  # tag
    cat >"$W/bin/capture-$1" <<EOF
#!/bin/sh
TAG=$1
CAP=$CAP
RUNC=$RUNC
EOF
    cat >>"$W/bin/capture-$1" <<'EOF'
cmd="" bundle="" process="" prev=""
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle=$a ;; --process|-p) process=$a ;; esac
  case "$a" in
    --bundle=*) bundle=${a#--bundle=} ;;
    --process=*) process=${a#--process=} ;;
    create|run|exec) [ -n "$cmd" ] || cmd=$a ;;
  esac
  prev=$a
done
n=$(date +%s%N)
printf '%s %s cwd=%s ARGV: %s\n' "$TAG" "$n" "$PWD" "$*" >>"$CAP/argv.log"
case "$cmd" in
  create|run) cp "${bundle:-.}/config.json" "$CAP/$TAG.create.$n.json"
              printf '%s\n' "$(cd "${bundle:-.}" && pwd)" >"$CAP/$TAG.create.$n.bundle" ;;
  exec) [ -n "$process" ] && cp "$process" "$CAP/$TAG.exec.$n.json" ;;
esac
exec "$RUNC" "$@"
EOF
    chmod 755 "$W/bin/capture-$1"
}
for t in ctr docker podman cri; do make_wrapper "$t"; done

# ---- images: a busybox root filesystem, as an OCI layout (ctr, CRI) and a tar (docker, podman)
R=$W/img/rootfs
mkdir -p "$R"/{bin,dev,etc,proc,sys,tmp,root}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
chmod 1777 "$R/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
tar -C "$R" -cf "$W/img/rootfs.tar" .
L=$W/img/layout
umoci init --layout "$L"
umoci new --image "$L:latest"
umoci unpack --image "$L:latest" "$W/img/ub" >/dev/null
cp -a "$R/." "$W/img/ub/rootfs/"
umoci repack --image "$L:latest" "$W/img/ub" >/dev/null
umoci config --image "$L:latest" --config.cmd /bin/sh \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --architecture amd64 --os linux
umoci config --image "$L:latest" --tag pause --config.cmd /bin/sleep --config.cmd 2147483
rm -rf "$W/img/ub"
tar -C "$L" -cf "$W/img/oci.tar" .
IMG=localhost/hrcap:latest

# ---- containerd (+ CRI plugin with a no-op CNI plugin: the pod gets its own network namespace,
# nothing is configured in it and nothing changes on the host)
cat >"$W/cni/bin/hrcap-noop" <<'EOF'
#!/bin/sh
# a CNI plugin that configures nothing: ADD answers one interface and a documentation address
cat >/dev/null
case "$CNI_COMMAND" in
  ADD) printf '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"version":"4","address":"192.0.2.2/24","interface":0}]}\n' "$CNI_NETNS" ;;
  VERSION) printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}\n' ;;
esac
exit 0
EOF
chmod 755 "$W/cni/bin/hrcap-noop"
ln -s /usr/lib/cni/loopback "$W/cni/bin/loopback"
printf '{"cniVersion":"0.4.0","name":"hrcap","plugins":[{"type":"hrcap-noop"}]}\n' >"$W/cni/conf/10-hrcap.conflist"
cat >"$W/ctrd/config.toml" <<EOF
version = 2
root = "$W/ctrd/root"
state = "$W/ctrd/state"
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  address = "$W/ctrd/debug.sock"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$W/ctrd/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "localhost/hrcap:pause"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "$W/cni/bin"
      conf_dir = "$W/cni/conf"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "capture"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.capture]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.capture.options]
          BinaryName = "$W/bin/capture-cri"
          Root = "$W/ctrd/cri-runc"
EOF
setsid containerd --config "$W/ctrd/config.toml" >"$W/ctrd/log" 2>&1 </dev/null &
CTRD_PID=$!
for _ in $(seq 1 150); do ctr -a "$CTRD_SOCK" version >/dev/null 2>&1 && break; sleep 0.2; done
ctr -a "$CTRD_SOCK" version >/dev/null 2>&1 || { tail "$W/ctrd/log"; die "containerd did not start"; }
CTR="ctr -a $CTRD_SOCK"
say "containerd $(containerd --version | awk '{print $3}') pid $CTRD_PID"

# ---- runc spec
mkdir -p "$W/runc" && (cd "$W/runc" && "$RUNC" spec)
jq '.process.terminal = false' "$W/runc/config.json" >"$CAP/runc.create.0.json"

# ---- ctr
$CTR image import --base-name localhost/hrcap "$W/img/oci.tar" >/dev/null
$CTR run -d --runc-binary "$W/bin/capture-ctr" --runc-root "$W/ctrd/ctr-runc" --fifo-dir "$W/ctrd/fifo" \
    "$IMG" hrcap-ctr /bin/sleep 3600 >/dev/null
$CTR task exec --exec-id e1 --fifo-dir "$W/ctrd/fifo" hrcap-ctr /bin/true
$CTR task kill -s SIGKILL hrcap-ctr; sleep 0.5
$CTR task delete -f hrcap-ctr >/dev/null; $CTR container rm hrcap-ctr
say "ctr: captured"

# ---- docker
jq -n --arg rt "$W/bin/capture-docker" --arg key "$W/docker/key.json" '{
  runtimes: {capture: {path: $rt}}, "default-runtime": "capture", "storage-driver": "overlay2",
  "cgroup-parent": "/hrcap-docker", iptables: false, "ip-forward": false, "ip-masq": false,
  bridge: "none", "userland-proxy": false, "deprecated-key-path": $key}' >"$W/docker/daemon.json"
printf '#!/bin/sh\nDOCKER_CONFIG=%s exec %s -H unix://%s "$@"\n' "$W/docker/cli" "$DOCKER" "$DOCKER_SOCK" >"$W/bin/docker"
chmod 755 "$W/bin/docker"
setsid dockerd --config-file "$W/docker/daemon.json" --containerd "$CTRD_SOCK" \
    --data-root "$W/docker/data" --exec-root "$W/docker/exec" --host "unix://$DOCKER_SOCK" \
    --pidfile "$W/docker/pid" >"$W/docker/log" 2>&1 </dev/null &
DOCKERD_PID=$!
for _ in $(seq 1 300); do "$W/bin/docker" version >/dev/null 2>&1 && break; sleep 0.2; done
"$W/bin/docker" version >/dev/null 2>&1 || { tail "$W/docker/log"; die "dockerd did not start"; }
DOCKER_VERSION=$("$W/bin/docker" version -f '{{.Server.Version}}')
"$W/bin/docker" import "$W/img/rootfs.tar" "$IMG" >/dev/null
"$W/bin/docker" run -d --name hrcap-docker --network none "$IMG" /bin/sleep 3600 >/dev/null
"$W/bin/docker" exec hrcap-docker /bin/true
"$W/bin/docker" rm -f hrcap-docker >/dev/null
stop_pid "$DOCKERD_PID" dockerd; DOCKERD_PID=
say "docker $DOCKER_VERSION: captured"

# ---- podman
cat >"$W/podman/containers.conf" <<EOF
[containers]
netns = "none"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/podman/events.log"
tmp_dir = "$W/podman/tmp"
static_dir = "$W/podman/root/libpod"
volume_path = "$W/podman/root/volumes"
lock_type = "file"
runtime = "capture-podman"
runtime_supports_json = ["capture-podman"]
[engine.runtimes]
capture-podman = ["$W/bin/capture-podman"]
[network]
network_config_dir = "$W/podman/net"
EOF
printf '[storage]\ndriver = "overlay"\nrunroot = "%s"\ngraphroot = "%s"\n' "$W/podman/runroot" "$W/podman/root" >"$W/podman/storage.conf"
echo 'unqualified-search-registries = []' >"$W/podman/registries.conf"
cat >"$W/bin/podman" <<EOF
#!/bin/sh
export CONTAINERS_CONF=$W/podman/containers.conf CONTAINERS_STORAGE_CONF=$W/podman/storage.conf
export CONTAINERS_REGISTRIES_CONF=$W/podman/registries.conf TMPDIR=$W/podman/tmp
exec podman --cgroup-manager cgroupfs "\$@"
EOF
chmod 755 "$W/bin/podman"
"$W/bin/podman" import -q "$W/img/rootfs.tar" "$IMG" >/dev/null
"$W/bin/podman" run -d --name hrcap-podman "$IMG" /bin/sleep 3600 >/dev/null
"$W/bin/podman" exec hrcap-podman /bin/true
"$W/bin/podman" rm -f -t 0 hrcap-podman >/dev/null
say "podman $(podman --version | awk '{print $3}'): captured"

# ---- CRI
if [ "$CRI" = 1 ]; then
    mkdir -p "$CACHE"
    if [ ! -s "$CACHE/api.proto" ]; then
        mkdir -p "$CACHE/crifetch/src"
        printf '[package]\nname = "crifetch"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n[dependencies]\nk8s-cri = "=%s"\n[workspace]\n' \
            "$K8S_CRI_VERSION" >"$CACHE/crifetch/Cargo.toml"
        echo 'fn main() {}' >"$CACHE/crifetch/src/main.rs"
        (cd "$CACHE/crifetch" && cargo fetch -q)
        p=$(cd "$CACHE/crifetch" && cargo metadata --format-version 1 -q |
            jq -r --arg v "$K8S_CRI_VERSION" '.packages[] | select(.name == "k8s-cri" and .version == $v) | .manifest_path')
        cp "$(dirname "$p")/proto/v1.proto" "$CACHE/api.proto"
    fi
    if ! "$CACHE/venv/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then
        rm -rf "$CACHE/venv"
        python3 -m venv "$CACHE/venv"
        "$CACHE/venv/bin/pip" install -q --disable-pip-version-check -r "$REPO/integration/clients/cri-requirements.txt"
    fi
    if [ ! -s "$CACHE/gen/api_pb2_grpc.py" ]; then
        mkdir -p "$CACHE/gen"
        "$CACHE/venv/bin/python" -m grpc_tools.protoc -I "$CACHE" --python_out="$CACHE/gen" --grpc_python_out="$CACHE/gen" "$CACHE/api.proto"
    fi
    $CTR -n k8s.io image import --base-name localhost/hrcap "$W/img/oci.tar" >/dev/null
    "$CACHE/venv/bin/python" - "$CTRD_SOCK" "$CACHE/gen" "$W/cri-logs" <<'EOF'
import sys, time
sock, gen, logs = sys.argv[1:4]
sys.path.insert(0, gen)
import grpc, api_pb2 as pb, api_pb2_grpc as pbg
rt = pbg.RuntimeServiceStub(grpc.insecure_channel('unix://' + sock))
img = pbg.ImageServiceStub(grpc.insecure_channel('unix://' + sock))
for _ in range(100):
    if img.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image='localhost/hrcap:latest'))).image.id:
        break
    time.sleep(0.2)
# what the kubelet sends for a pod without securityContext or host namespaces
pod = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name='hrcap', namespace='default', uid='hrcap-uid', attempt=0),
                          hostname='hrcap', log_directory=logs,
                          linux=pb.LinuxPodSandboxConfig(cgroup_parent='/hrcap-cri/podhrcap',
                              security_context=pb.LinuxSandboxSecurityContext(
                                  namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD))))
sb = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pod, runtime_handler='capture')).pod_sandbox_id
try:
    cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name='c', attempt=0),
                             image=pb.ImageSpec(image='localhost/hrcap:latest'), command=['/bin/sleep', '3600'],
                             log_path='c.log', linux=pb.LinuxContainerConfig(
                                 security_context=pb.LinuxContainerSecurityContext(
                                     namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD))))
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sb, config=cfg, sandbox_config=pod)).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=cid))
    r = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=['/bin/true'], timeout=20))
    assert r.exit_code == 0, r
    rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0))
    rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
finally:
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sb))
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sb))
EOF
    say "cri: captured"
fi

# ---- write the fixtures: for each client its first create (the CRI: sandbox, then container)
# and its first exec; pretty-printed, keys as the client wrote them
mkdir -p "$OUT"
first() { find "$CAP" -name "$1" | sort | sed -n "${2:-1}p"; }
jq . "$CAP/runc.create.0.json" >"$OUT/runc.json"
for t in ctr docker podman; do
    jq . "$(first "$t.create.*.json")" >"$OUT/$t.json"
    jq . "$(first "$t.exec.*.json")" >"$OUT/$t.exec.json"
    say "$t: bundle was $(cat "$(first "$t.create.*.bundle")")"
done
if [ "$CRI" = 1 ]; then
    jq . "$(first 'cri.create.*.json' 1)" >"$OUT/cri-sandbox.json"
    jq . "$(first 'cri.create.*.json' 2)" >"$OUT/cri.json"
    jq . "$(first 'cri.exec.*.json')" >"$OUT/cri.exec.json"
fi
cp "$CAP/argv.log" "$W/argv.log"
sed "s|$W|\$CAPTURE|g" "$CAP/argv.log" >"$OUT/argv.log"
{
    echo "kernel $(uname -r)"
    "$RUNC" --version | head -1
    containerd --version
    echo "docker $DOCKER_VERSION"
    podman --version
    conmon --version | head -1
    [ "$CRI" = 1 ] && echo "CRI v1 proto from k8s-cri $K8S_CRI_VERSION"
    echo "captured $(date -u +%F)"
} >"$OUT/versions.txt"
say "wrote $(ls "$OUT" | tr '\n' ' ') to $OUT"
