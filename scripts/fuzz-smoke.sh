#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for a few seconds on its seed corpus.
# For CI: installs cargo-fuzz if missing; exits 0 with a message when no nightly toolchain exists.
#   scripts/fuzz-smoke.sh            # 10 s per target
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh
#   FUZZ_SANITIZER=address scripts/fuzz-smoke.sh   (default: none, much faster to build)
#   FUZZ_BUILD_ONLY=1 scripts/fuzz-smoke.sh        (build the targets, run nothing)
#   FUZZ_PROFILE=dev scripts/fuzz-smoke.sh          (unoptimised: builds in about half the time,
#                                                    runs slower; what CI uses for its smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${FUZZ_SECONDS:-10}"
SANITIZER="${FUZZ_SANITIZER:-none}"
# cargo fuzz builds optimised by default; `--dev` skips the optimiser.
PROFILE_FLAG=()
if [ "${FUZZ_PROFILE:-release}" = dev ]; then PROFILE_FLAG=(--dev); fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_FUZZ:-${HOME}/.cache/edgetune/target-fuzz-nightly}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-smoke: SKIPPED: no nightly toolchain (cargo-fuzz needs one: rustup toolchain install nightly)"
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

targets=$(cargo +nightly fuzz list)
echo "fuzz-smoke: building $(echo $targets | wc -w) targets (sanitizer: $SANITIZER)"
cargo +nightly fuzz build "${PROFILE_FLAG[@]}" -s "$SANITIZER"
if [ -n "${FUZZ_BUILD_ONLY:-}" ]; then exit 0; fi

work="${TMPDIR:-/tmp}/edgetune-fuzz-smoke"
failed=()
# -timeout: one input may take up to 60 s. The smoke build is unoptimised (FUZZ_PROFILE=dev), and
# legitimate work is slow there: a 64-byte GIF may declare a 55,551×255 canvas (57 MB of RGBA,
# inside the decoder's 64 MB free allowance, see crate/src/vision/pixels.rs), which takes 22 s
# unoptimised and a fraction of a second in release. A hang still fails the run.
for t in $targets; do
    # New inputs go to a scratch copy: the committed seed corpus stays as it is.
    mkdir -p "$work/$t"
    echo "fuzz-smoke: $t for ${SECONDS_PER_TARGET}s"
    if ! cargo +nightly fuzz run "${PROFILE_FLAG[@]}" -s "$SANITIZER" "$t" "$work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -timeout=60 -print_final_stats=1 2>"$work/$t.log"; then
        failed+=("$t")
        tail -40 "$work/$t.log"
    fi
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/$t.log" | tail -1 || true
done
if ((${#failed[@]})); then
    echo "fuzz-smoke: FAILED: ${failed[*]} (crash inputs under fuzz/artifacts/)"
    exit 1
fi
echo "fuzz-smoke: all targets ran clean"
