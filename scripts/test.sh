#!/usr/bin/env bash
# The project's tests: Rust unit and integration tests (CPU, and wgpu where a Vulkan driver is
# present), including the PyTorch golden-value and export round-trip checks.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
# The Vulkan loader (wgpu tests) complains without a runtime dir.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/edgetune-xdg-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export EDGETUNE_PYTHON=${EDGETUNE_PYTHON:-$(bash scripts/setup-python.sh)}
cargo test --release --workspace "$@"
