#!/usr/bin/env bash
# The page's speed as ratios, in one sitting on this machine: the reference workload (text: MiniLM
# on banking77, batch 32, max 64 tokens, as ../shared/bench/torch_text.py; image: ResNet-20 on the
# digits, batch 64, as torch_image.py) natively on flex (CPU) and on wgpu, then in headless
# Chromium on WebGPU and on the wasm CPU backend (web/bench.html). Prints each JSON line, then a
# table of train samples/s with the ratio to native flex, WebGPU's dispatches per step, the page's
# first load (text) and the .wasm size.
# usage: scripts/bench-web.sh [text|image] [STEPS=12] [GPU_STEPS=STEPS]
#   GPU_STEPS: the steps of native wgpu and WebGPU (on CPU-backed adapters, lavapipe and
#   SwiftShader, a text step takes a minute or more: give them fewer, at least 3: the first 2 are
#   warm-up)
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:-text}
steps=${2:-12}
gpu_steps=${3:-$steps}
shared=${SHARED:-../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/edgetune-xdg-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
[ -f web/pkg/edgetune_bg.wasm ] || bash scripts/build-web.sh
cargo build --release -q -p edgetune-cli
bin="$CARGO_TARGET_DIR/release/edgetune"

case "$workload" in
  text) args=(--model "$shared/models/all-MiniLM-L6-v2" --train "$shared/data/banking77/train.csv" --test "$shared/data/banking77/test.csv" --eval-limit 256) ;;
  image) args=(--model crate/assets/demo/resnet20-cifar10 --train "$shared/data/digits/images") ;;
  *) echo "workload '$workload': expected text or image" >&2; exit 2 ;;
esac

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for device in cpu wgpu; do
  n=$([ "$device" = cpu ] && echo "$steps" || echo "$gpu_steps")
  line=$("$bin" bench "${args[@]}" --steps "$n" --device "$device" 2>/dev/null | tail -n 1)
  echo "{\"side\": \"native $device\", \"result\": $line}" | tee -a "$out"
done
WEBGPU_STEPS=$gpu_steps node web/tests/bench-browser.mjs "$steps" "$workload" | while read -r line; do
  echo "{\"side\": \"browser\", \"result\": $line}" | tee -a "$out"
done
wasm=web/pkg/edgetune_bg.wasm
python3 - "$out" "$(stat -c %s "$wasm")" "$(gzip -9 -c "$wasm" | wc -c)" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
flex = next(r["result"]["train_samples_per_s"] for r in rows if r["side"] == "native cpu")
print(f"\n{'':38} {'train samples/s':>16} {'vs native flex':>15} {'dispatches/step':>16}")
for r in rows:
    x = r["result"]
    if "train_samples_per_s" not in x:
        if "ready_to_train_s" in x:
            print(f"first load ({x['backend']}): page ready {x['page_ready_s']:.1f} s, ready to train {x['ready_to_train_s']:.1f} s (model from a cold cache, local server)")
        elif "error" in x:
            print(f"{r['side']}: error: {x['error']}")
        continue
    name = r["side"] if r["side"] != "browser" else x["system"].replace("edgetune wasm ", "Chromium ")
    d = x.get("dispatches_per_step")
    print(f"{name:38} {x['train_samples_per_s']:16.2f} {x['train_samples_per_s'] / flex:14.2f}x {d if d is not None else '':>16}")
print(f".wasm: {int(sys.argv[2]) / 2**20:.1f} MB, {int(sys.argv[3]) / 2**20:.1f} MB gzipped")
PY
