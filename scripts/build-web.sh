#!/usr/bin/env bash
# Builds the page's wasm module into web/pkg: the core crate for wasm32 (WebGPU through wgpu,
# and the flex CPU backend with SIMD128 — see .cargo/config.toml), then wasm-bindgen at the
# lockfile's exact version (installed once under ~/.cache/edgetune/tools); the demo's assets go to
# web/pkg/demo.
# usage: scripts/build-web.sh            then: node web/serve.mjs   (http://localhost:8080)
set -euo pipefail
cd "$(dirname "$0")/.."
# Its own target dir: the wasm build's host tools and features differ from the native ones.
export CARGO_TARGET_DIR=${EDGETUNE_WASM_TARGET_DIR:-$HOME/.cache/edgetune/target-wasm}
tools=${EDGETUNE_TOOLS:-$HOME/.cache/edgetune/tools}
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ "$("$tools/bin/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  echo "installing wasm-bindgen-cli $version" >&2
  CARGO_TARGET_DIR="$HOME/.cache/edgetune/target-tools" cargo install -q wasm-bindgen-cli --version "$version" --root "$tools"
fi
cargo build --release -p edgetune --lib --target wasm32-unknown-unknown --features wgpu
rm -rf web/pkg
# The `name` section (function names for stack traces) is 8.6 MB of the 48 MB module, 1.4 MB
# gzipped: dropped unless EDGETUNE_WASM_NAMES=1 (debugging a panic in the page).
names=(--remove-name-section)
[ "${EDGETUNE_WASM_NAMES:-0}" = 1 ] && names=()
"$tools/bin/wasm-bindgen" --target web --no-typescript "${names[@]}" --out-dir web/pkg "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/edgetune.wasm"
# The demo's model and digits (with their licences) are static files beside the module, fetched
# by "Try the demo", rather than bytes inside it.
cp -R crate/assets/demo web/pkg/demo
wasm=web/pkg/edgetune_bg.wasm
echo "web/pkg: $(du -m "$wasm" | cut -f1) MB wasm, $(gzip -9 -c "$wasm" | wc -c | awk '{printf "%.1f", $1 / 1048576}') MB gzipped" >&2
