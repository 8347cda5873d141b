#!/usr/bin/env bash
# scripts/package.sh - builds the Debian package target/debian/hardrun_<version>_<arch>.deb:
#   1. cargo-deb (cargo install cargo-deb --locked when missing; ~1 min on 2 cores)
#   2. cargo build --release (the binary; the same build scripts/test.sh makes)
#   3. hardrun-gen (--features gen, debug profile: small and quick to build) writes man pages
#      and bash/zsh/fish completions into target/assets/ from the clap definition
#   4. cargo deb --no-build with the metadata in Cargo.toml ([package.metadata.deb])
# The timestamps in the package are SOURCE_DATE_EPOCH (default: the last commit's time), so the
# same commit gives the same file list, modes and generated assets.
# Prints the path of the .deb as its last line.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

t0=$(date +%s)
say() { printf '[package %3ss] %s\n' "$(($(date +%s) - t0))" "$*" >&2; }

if ! cargo deb --version >/dev/null 2>&1; then
    say "installing cargo-deb (cargo install cargo-deb --locked)"
    s=$(date +%s)
    cargo install cargo-deb --locked >&2
    say "cargo-deb installed in $(($(date +%s) - s)) s"
fi

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

say "cargo build --release"
cargo build --release --locked --bin hardrun >&2

say "man pages and completions (hardrun-gen)"
rm -rf target/assets
cargo run --quiet --locked --features gen --bin hardrun-gen -- target/assets >/dev/null
# the man pages must render: a broken page fails here, not on a user's machine
for m in target/assets/man/*.1; do
    out=$(LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$m" 2>&1 >/dev/null) || { echo "$m: man failed: $out" >&2; exit 1; }
    [ -z "$out" ] || { echo "$m: man warnings: $out" >&2; exit 1; }
done
say "$(find target/assets/man -name '*.1' | wc -l) man pages, $(find target/assets/completions -type f | wc -l) completion scripts"

say "cargo deb"
mkdir -p target/debian
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
want=target/debian/hardrun_${version}_$(dpkg --print-architecture).deb
rm -f "$want"
deb=$(cargo deb --no-build --locked --output target/debian/ | tail -n 1)
deb=${deb#"$REPO"/}
if [ "$deb" != "$want" ] || [ ! -f "$deb" ]; then
    echo "cargo deb made '$deb', expected $want" >&2
    exit 1
fi
say "built $deb ($(stat -c %s "$deb") bytes)"
echo "$deb"
