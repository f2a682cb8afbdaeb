#!/usr/bin/env bash
# The project's tests: Rust unit and integration tests (CPU, and wgpu where a Vulkan driver is
# present), including the PyTorch golden-value and export round-trip checks.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
export EDGETUNE_PYTHON=${EDGETUNE_PYTHON:-$(bash scripts/setup-python.sh)}
cargo test --release --workspace "$@"
