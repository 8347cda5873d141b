#!/usr/bin/env bash
# scripts/evidence.sh - regenerates docs/security-evidence.md from a fresh run (as root):
#   1. the in-container probes under hardrun restricted, baseline, ci-runner and under runc with
#      Docker's default spec (integration/probes/compare.sh → docs/probes.md)
#   2. the tests that are the evidence, with each test's verdict: probes (expected outcome tables),
#      benign workloads, hostile specs, faults (SIGKILL at every stage of create), compliance
#   3. the fuzz targets for FUZZ_SECS seconds each (scripts/fuzz.sh), crashes counted
#   4. the load bench: 50 concurrent containers through hardrun and runc (bench/load.sh →
#      bench/LOAD.md)
# and writes the headline numbers and tables into docs/security-evidence.md.
#
#   scripts/evidence.sh                 FUZZ_SECS=300 scripts/evidence.sh
# Takes ~6 min on 2 cores with the defaults. Needs what scripts/test.sh installs.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
FUZZ_SECS=${FUZZ_SECS:-60}
OUT=${OUT:-docs/security-evidence.md}
LOG=$(mktemp -d /tmp/hardrun-evidence.XXXXXX)
say() { printf '[evidence] %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo "evidence.sh: run as root" >&2; exit 1; }
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

# what the run is of (before it regenerates docs/probes.md and bench/LOAD.md)
COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' ':!bench/LOAD.md' || echo ' with uncommitted changes')"
say "building (debug for the tests and probes, release for the load bench)"
cargo build --locked >&2
cargo build --release --locked >&2

say "probes: hardrun restricted/baseline/ci-runner vs runc with Docker's default spec"
integration/probes/compare.sh >"$LOG/compare.log" 2>&1 || { cat "$LOG/compare.log" >&2; exit 1; }

say "evidence tests"
tests_ok=1
for t in probes benign hostile faults compliance; do
    if ! cargo test --locked --test "$t" >"$LOG/test-$t.log" 2>&1; then
        tests_ok=0
    fi
done

say "fuzzing: ${FUZZ_SECS} s per target"
fuzz_rc=0
scripts/fuzz.sh "$FUZZ_SECS" >"$LOG/fuzz.log" 2>&1 || fuzz_rc=$?

say "load: 50 concurrent containers, hardrun vs runc"
N=50 ROUNDS=${ROUNDS:-3} bench/load.sh >"$LOG/load.log" 2>&1 || { cat "$LOG/load.log" >&2; exit 1; }

# --- the report ---------------------------------------------------------------------------
verdicts() { # test binary → markdown list of its tests and verdicts
    grep -E '^test [a-z_0-9]+ \.\.\. ' "$LOG/test-$1.log" | sed -E 's/^test ([a-z_0-9]+) \.\.\. (.*)$/- `\1`: \2/' || true
}
summary() { grep -E '^test result:' "$LOG/test-$1.log" | tail -1 | sed -E 's/^test result: ([a-zA-Z]+)\. ([0-9]+ passed); ([0-9]+ failed).*/\2, \3/' || echo "did not run"; }
section() { # print the markdown of file $1 from heading $2 up to the next "## " heading
    awk -v h="$2" 'index($0, h) == 1 { on = 1; next } on && /^## / { exit } on { print }' "$1"
}

{
    echo "# Security evidence"
    echo
    echo "Generated $(date -u '+%Y-%m-%d %H:%M UTC') by \`scripts/evidence.sh\` on $(nproc) CPUs,"
    echo "$(uname -sr), from commit \`$COMMIT\`."
    echo "hardrun: \`$(target/release/hardrun --version | head -1)\`; runc: \`$(runc --version | head -1)\`."
    echo "Regenerate it with \`scripts/evidence.sh\`; every number below comes from that run."
    echo
    echo "## Headlines"
    echo
    # columns: probe | restricted | baseline | ci-runner | runc + Docker default
    read -r total worse better rs < <(awk -F'|' '/^\| `/ { total++
        if ($6 ~ /blocked/ && ($3 ~ /succeeded/ || $4 ~ /succeeded/ || $5 ~ /succeeded/)) worse++
        if ($3 ~ /blocked/ && $6 ~ /succeeded/) better++
        if ($3 ~ /succeeded/) rs++ }
        END { print total+0, worse+0, better+0, rs+0 }' docs/probes.md)
    echo "- Probes: $total moves tried from inside a container. Blocked by Docker's default under runc"
    echo "  but let through by some hardrun profile: **$worse**. Let through by Docker's default but"
    echo "  blocked by \`restricted\`: **$better**. Let through by \`restricted\`: $rs"
    echo "  ($(awk -F'|' '/^\| `/ && $3 ~ /succeeded/ { gsub(/ /, "", $2); printf "%s ", $2 }' docs/probes.md)— see the table)."
    echo "- Tests: probes $(summary probes); benign $(summary benign); hostile $(summary hostile);"
    echo "  faults $(summary faults); compliance $(summary compliance)."
    echo "- Fuzzing: $(grep -E '^fuzz ' "$LOG/fuzz.log" | sed -E 's/^fuzz ([a-z_]+): ([0-9]+) execs in ([0-9]+) s, ([0-9]+) crash.*/\1 \2 execs\/\3 s (\4 crashes)/' | paste -sd ';' | sed 's/;/; /g') (exit $fuzz_rc)."
    echo "- Load: $(grep -E '^\| (runc|hardrun) \| [0-9]' bench/LOAD.md | tail -2 | awk -F'|' '{gsub(/ /,"",$2); gsub(/ /,"",$4); printf "%s %s containers/s; ", $2, $4}')see [bench/LOAD.md](../bench/LOAD.md)."
    echo
    echo "## Probes: hardrun profiles vs Docker's default under runc"
    echo
    echo "From [docs/probes.md](probes.md) (the probe program is \`integration/probes/src/main.rs\`;"
    echo "the expected outcome per profile, which the tests hold hardrun to, is in"
    echo "\`integration/probes/expected/\`)."
    echo
    sed -n '/^|/p' docs/probes.md | head -80
    echo
    echo "## Benign workloads (restricted and baseline)"
    echo
    verdicts benign
    echo
    echo "## Hostile specs"
    echo
    verdicts hostile
    echo
    echo "## Faults"
    echo
    verdicts faults
    echo
    echo "## Probe tests"
    echo
    verdicts probes
    echo
    echo "## Compliance"
    echo
    verdicts compliance
    echo
    echo "## Fuzzing"
    echo
    echo "\`scripts/fuzz.sh $FUZZ_SECS\` (stable Rust, libFuzzer, no sanitizer; CI runs 40 s per target on"
    echo "every push; crashes found become \`fuzz/regressions/\` inputs replayed by \`tests/fuzz_regressions.rs\`):"
    echo
    echo '```'
    grep -E '^fuzz ' "$LOG/fuzz.log" || echo "(no summary: see the fuzz log)"
    echo '```'
    echo
    echo "Regression inputs kept: $(find fuzz/regressions -type f | wc -l)."
    echo
    echo "## Load"
    echo
    section bench/LOAD.md "## Summary"
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
say "wrote $OUT (logs in $LOG)"
[ "$tests_ok" = 1 ] && [ "$fuzz_rc" = 0 ]
