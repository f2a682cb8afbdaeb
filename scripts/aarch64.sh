#!/usr/bin/env bash
# Cross-builds the native runner for aarch64-unknown-linux-gnu (Raspberry Pi 5, Jetson, ARM edge
# boxes) from x86-64 and runs the core's CPU unit tests on it under qemu-aarch64. Prints the
# binary's path last; tests/aarch64.rs (run with EDGETUNE_AARCH64_BIN=that path) compares a
# small fine-tune's losses with the x86-64 build's.
# Needs: Debian gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user; the target from rustup.
# usage: scripts/aarch64.sh [--no-tests]
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
export CARGO_TARGET_DIR=${EDGETUNE_ARM_TARGET_DIR:-$HOME/.cache/edgetune/target-arm}
rustup target list --installed 2>/dev/null | grep -qx $target || rustup target add $target >&2
for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
  command -v $tool >/dev/null || { echo "scripts/aarch64.sh: $tool is missing: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user" >&2; exit 1; }
done
# The linker and the qemu runner come from .cargo/config.toml.
cargo build --release -p edgetune-cli --target $target >&2
bin=$CARGO_TARGET_DIR/$target/release/edgetune
qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" --version >&2
if [ "${1:-}" != "--no-tests" ]; then
  cargo test --release -p edgetune --lib --target $target >&2
fi
echo "$bin"
