#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS_PER_TARGET] - runs every cargo-fuzz target in fuzz/ for a bounded time
# (default 50 s each: 3 targets, 2.5 min of fuzzing, plus the build) and prints one summary line
# per target:  fuzz <target>: <execs> execs in <s> s, <n> crashes[, <artifact>]
#
# Works on stable Rust: `--sanitizer none` needs no -Z flag (libFuzzer + coverage instrumentation
# only; panics are what the targets check). FUZZ_SANITIZER=address with a nightly toolchain
# (FUZZ_TOOLCHAIN=nightly) adds AddressSanitizer. cargo-fuzz is installed when missing (~30 s).
#
# Seeds: tests/fixtures/*.json and `runc spec` (spec_loader; engine with each setting byte),
# profiles/*.toml (profile_loader), fuzz/regressions/<target>/* (all). The corpus grows in
# fuzz/corpus/<target>/ (git-ignored); crashes go to fuzz/artifacts/<target>/. A crash: copy it
# to fuzz/regressions/<target>/ so tests/fuzz_regressions.rs replays it on every `cargo test`.
# Exits non-zero when a target crashed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
SECS=${1:-50}
[[ $SECS =~ ^[0-9]+$ ]] && [ "$SECS" -ge 1 ] || { echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2; }
SANITIZER=${FUZZ_SANITIZER:-none}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-stable}
TARGETS=(spec_loader profile_loader engine)
log() { echo "[fuzz] $*" >&2; }

# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  start=$(date +%s)
  cargo install cargo-fuzz --locked
  log "cargo-fuzz installed in $(( $(date +%s) - start )) s"
fi

log "building the targets (toolchain $TOOLCHAIN, sanitizer $SANITIZER)"
start=$(date +%s)
cargo "+$TOOLCHAIN" fuzz build --sanitizer "$SANITIZER"
log "built in $(( $(date +%s) - start )) s"
BIN=fuzz/target/$(rustc "+$TOOLCHAIN" -vV | sed -n 's/^host: //p')/release

# seed corpora, rebuilt on every run
SEEDS=fuzz/target/seeds
rm -rf "$SEEDS"
mkdir -p "$SEEDS"/{spec_loader,profile_loader,engine}
cp tests/fixtures/*.json "$SEEDS/spec_loader/"
if command -v runc >/dev/null; then
  tmp=$(mktemp -d)
  (cd "$tmp" && runc spec) && cp "$tmp/config.json" "$SEEDS/spec_loader/runc-spec.json"
  rm -rf "$tmp"
fi
cp profiles/*.toml "$SEEDS/profile_loader/"
# engine inputs: a settings byte (see fuzz/checks.rs) before the JSON
for f in "$SEEDS"/spec_loader/*.json; do
  for b in 00 01 02 03 10 20 21; do
    { printf "\\x$b"; cat "$f"; } > "$SEEDS/engine/$(basename "$f" .json)-$b"
  done
done
for b in 40 41 42 43 60; do
  printf "\\x$b%s" '{"process":{"user":{"uid":0}},"linux":{"namespaces":[{"type":"network","path":"/proc/1/ns/net"}]}}' \
    > "$SEEDS/engine/patch-$b"
done
for t in "${TARGETS[@]}"; do
  if [ -d "fuzz/regressions/$t" ]; then cp fuzz/regressions/"$t"/* "$SEEDS/$t/" 2>/dev/null || true; fi
done
declare -A DICT=([spec_loader]=fuzz/engine.dict [engine]=fuzz/engine.dict [profile_loader]=fuzz/profile.dict)

failed=0
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  logf=fuzz/target/fuzz-$t.log
  start=$(date +%s)
  rc=0
  # -rss_limit_mb: a bounded-memory check on every input; -timeout: a hang is a crash
  "$BIN/$t" "fuzz/corpus/$t" "$SEEDS/$t" -dict="${DICT[$t]}" -max_total_time="$SECS" \
    -rss_limit_mb=1024 -timeout=10 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" >"$logf" 2>&1 || rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -n1)
  crashes=$(( $(find "fuzz/artifacts/$t" -type f | wc -l) - before ))
  line="fuzz $t: ${execs:-?} execs in $took s, $crashes crashes"
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
    failed=1
    art=$(ls -t "fuzz/artifacts/$t"/* 2>/dev/null | head -n1 || true)
    line+=" (exit $rc)${art:+, $art}"
    grep -E "panicked|ERROR: libFuzzer|SUMMARY" "$logf" | head -n 5 >&2 || true
  fi
  echo "$line"
done
[ "$failed" = 0 ] || { log "a target crashed: see fuzz/target/fuzz-<target>.log; add the input to fuzz/regressions/<target>/"; exit 1; }
