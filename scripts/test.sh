#!/usr/bin/env bash
# The project's tests: the page's wasm build, the Rust unit and integration tests (CPU, and wgpu
# where a Vulkan driver is present; PyTorch golden values, export round trips, wasm ↔ native
# parity), then the browser end-to-end tests in headless Chromium (web/tests).
# With arguments, only `cargo test` runs, with them (e.g. scripts/test.sh --test golden).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
# The Vulkan loader (wgpu tests) complains without a runtime dir.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/edgetune-xdg-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export EDGETUNE_PYTHON=${EDGETUNE_PYTHON:-$(bash scripts/setup-python.sh)}
if [ $# -gt 0 ]; then
  exec cargo test --release --workspace "$@"
fi
# Each phase's wall time (a cold CI run must stay well inside 90 minutes).
phase() { echo "== test.sh: $1 at $((SECONDS / 60)) min $((SECONDS % 60)) s" >&2; }
phase "wasm build"
bash scripts/build-web.sh
# The page's JS dependencies (playwright-core): the browser tests and web_parity's WebGPU test.
phase "npm ci"
(cd web && npm ci --no-audit --no-fund --silent)
# The aarch64 build (CPU backend, cross-built; `scripts/aarch64.sh` without --cpu builds wgpu too)
# and the core's unit tests on it under qemu; tests/aarch64.rs then compares a fine-tune on it
# with this build's, step by step.
phase "aarch64 build and tests"
EDGETUNE_AARCH64_BIN=$(bash scripts/aarch64.sh --cpu | tail -1)
export EDGETUNE_AARCH64_BIN
phase "cargo test"
cargo test --release --workspace
# The runner the CLI tests just built is the browser tests' too (`cargo build -p edgetune-cli`
# would build it again with another feature set: about 10 minutes here).
[ -x "$CARGO_TARGET_DIR/release/edgetune" ] || cargo build --release -q -p edgetune-cli
# Every parser of outside input under libFuzzer for a few seconds each (fuzz/README.md has the
# long runs). Its build (another toolchain, so its own compile of every dependency) runs beside
# the browser tests, which keep about one core busy.
export FUZZ_PROFILE=${FUZZ_PROFILE:-dev}
phase "browser tests (the fuzz targets build beside them)"
FUZZ_BUILD_ONLY=1 nice -n 10 bash scripts/fuzz-smoke.sh > "${TMPDIR:-/tmp}/edgetune-fuzz-build.log" 2>&1 &
fuzz_build=$!
(cd web && EDGETUNE_BIN="$CARGO_TARGET_DIR/release/edgetune" npm test)
phase "fuzz smoke"
wait $fuzz_build || { cat "${TMPDIR:-/tmp}/edgetune-fuzz-build.log"; exit 1; }
FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash scripts/fuzz-smoke.sh
phase "done"
