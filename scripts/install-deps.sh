#!/usr/bin/env bash
# scripts/install-deps.sh - install what hardrun needs to build and test on Debian 12 (as root).
#
# Build: a Rust toolchain (rustup's stable if cargo is missing), libseccomp-dev, pkg-config,
# libelf-dev and zlib1g-dev (libbpf, built from source for the cgroup v2 device filter).
# Tests: busybox-static (the rootfs of every test container), runc (the reference runtime the
# bench and some tests compare with), containerd, docker.io, podman, umoci, jq, python3-venv
# (the real-client harness), containernetworking-plugins (the CRI lane's bridge + host-local pod
# network), hyperfine (bench), prometheus (promtool and a real Prometheus for
# tests/monitor.rs), prometheus-alertmanager (the monitor's alert sink, tested against a real
# one), nftables (isolate and egress rules inside a container's network namespace), criu
# (evidence --checkpoint), time (GNU time: the hostile tests' peak RSS), openscap-scanner (oscap
# validates and renders check --format xccdf). Daemons the packages would start are kept from
# starting (policy-rc.d): the harness starts its own private instances.
set -euo pipefail

PKGS=(build-essential pkg-config libseccomp-dev libelf-dev zlib1g-dev busybox-static runc containerd docker.io podman
      umoci jq python3-venv containernetworking-plugins hyperfine git ca-certificates curl openssl procps iproute2 util-linux man-db
      prometheus prometheus-alertmanager nftables criu time openscap-scanner)

if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: must run as root" >&2
    exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # keep the system containerd/dockerd from being started by the packages' postinst
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_created=1
    fi
    trap '[ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    for attempt in 1 2 3; do
        if apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; then
            break
        fi
        [ "$attempt" = 3 ] && { echo "install-deps.sh: apt-get install failed: ${missing[*]}" >&2; exit 1; }
        sleep $((attempt * 5))
    done
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
        --component clippy,rustfmt
fi
