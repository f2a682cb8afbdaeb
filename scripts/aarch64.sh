#!/usr/bin/env bash
# Cross-builds the native runner for aarch64-unknown-linux-gnu (Raspberry Pi 5, Jetson, ARM edge
# boxes) from x86-64 and runs the core's CPU unit tests on it under qemu-aarch64. Prints the
# binary's path last; tests/aarch64.rs (run with EDGETUNE_AARCH64_BIN=that path) compares a
# small fine-tune's losses with the x86-64 build's.
# Needs: Debian gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user; the target from rustup.
# usage: scripts/aarch64.sh [--no-tests] [--cpu]
#   --cpu: the runner without the wgpu backend (CPU only): what CI builds, in about two thirds of
#   the time; without it the full runner (wgpu on Vulkan for the box's GPU) is built.
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
export CARGO_TARGET_DIR=${EDGETUNE_ARM_TARGET_DIR:-$HOME/.cache/edgetune/target-arm}
rustup target list --installed 2>/dev/null | grep -qx $target || rustup target add $target >&2
for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
  command -v $tool >/dev/null || { echo "scripts/aarch64.sh: $tool is missing: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user" >&2; exit 1; }
done
tests=1
features=()
for arg in "$@"; do
  case "$arg" in
    --no-tests) tests=0 ;;
    --cpu) features=(--no-default-features) ;;
    *) echo "scripts/aarch64.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
# The linker and the qemu runner come from .cargo/config.toml.
cargo build --release -p edgetune-cli --target $target "${features[@]}" >&2
bin=$CARGO_TARGET_DIR/$target/release/edgetune
qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" --version >&2
if [ $tests = 1 ]; then
  cargo test --release -p edgetune --lib --target $target >&2
fi
echo "$bin"
