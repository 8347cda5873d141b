#!/usr/bin/env bash
# scripts/test.sh - the whole test suite, as CI runs it (root, Debian 12):
#   1. install what the tests need (scripts/install-deps.sh; quick when it is all there)
#   2. cargo fmt --check and cargo clippy --all-targets -- -D warnings
#   3. cargo test: unit tests and the integration tests in tests/ (real busybox containers)
#   3a. scripts/cgroup2-vm.sh: the limits, device cgroup and lifecycle tests again in a qemu VM
#       that mounts cgroup v2 only (this machine is v1 hybrid; ~2-3 min)
#   3a'. scripts/cgroup2-systemd-vm.sh: the systemd cgroup driver and containerd's
#       SystemdCgroup = true in a VM whose PID 1 is systemd (~3 min with its image cached in
#       .cache/, ~6.5 min on a fresh machine: debootstrap builds the image first)
#   3b. scripts/fuzz.sh 40: the fuzz targets in fuzz/ for 40 s each (plus their build, ~2-5 min)
#   4. cargo build --release and integration/clients/run.sh: containerd (ctr and CRI), dockerd
#      and podman driving the release binary
#   5. scripts/package-test.sh: the .deb built, installed, used through containerd, purged
# Exits non-zero as soon as a step fails.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

step "install dependencies"
scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

step "cargo test (unit + container integration tests)"
cargo test --locked

step "cgroup v2 lane: limits, devices_cgroup, lifecycle in a cgroup2-only VM (scripts/cgroup2-vm.sh)"
scripts/cgroup2-vm.sh --tests limits,devices_cgroup,lifecycle --timeout 900

step "systemd lane: --systemd-cgroup and containerd's SystemdCgroup = true under systemd (scripts/cgroup2-systemd-vm.sh)"
scripts/cgroup2-systemd-vm.sh --timeout 900

step "fuzz: every cargo-fuzz target for 40 s (scripts/fuzz.sh; stable Rust, no sanitizer)"
scripts/fuzz.sh 40

step "cargo build --release"
cargo build --release --locked

step "real clients: containerd, CRI, dockerd, podman"
integration/clients/run.sh all

step "package: build the .deb, dpkg -i, containers through containerd, dpkg --purge"
scripts/package-test.sh

step "all tests passed"
