#!/usr/bin/env bash
# Image training speed as a ratio to PyTorch, in one sitting on this machine: the reference
# workload of ../shared/bench/torch_image.py (ResNet-20 fine-tuned on the digits image folder,
# batch 64, AdamW 1e-3, random-crop augmentation, stratified 80/20 split) with PyTorch on the CPU,
# then with edgetune on the CPU (and on wgpu with --wgpu). Prints the JSON lines and the ratios.
# usage: scripts/bench-image.sh [EPOCHS] [--wgpu]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
shared=${SHARED:-../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
python=$(bash scripts/setup-python.sh)
cargo build --release -q -p edgetune-cli
model="$shared/models/resnet20-cifar10"
images="$shared/data/digits/images"
torch=$("$python" "$shared/bench/torch_image.py" "$model/model.safetensors" "$images" --epochs "$epochs" 2>/dev/null | tail -n 1)
ours=$("$CARGO_TARGET_DIR/release/edgetune" bench --model "$model" --train "$images" --epochs "$epochs" --device cpu 2>/dev/null | tail -n 1)
echo "pytorch:       $torch"
echo "edgetune cpu:  $ours"
wgpu='{}'
if [[ " $* " == *" --wgpu "* ]]; then
  wgpu=$("$CARGO_TARGET_DIR/release/edgetune" bench --model "$model" --train "$images" --epochs "$epochs" --device wgpu 2>/dev/null | tail -n 1)
  echo "edgetune wgpu: $wgpu"
fi
"$python" - "$torch" "$ours" "$wgpu" <<'PY'
import json, sys
t, e, w = (json.loads(a) for a in sys.argv[1:4])
print(f"train samples/s: edgetune cpu {e['train_samples_per_s']:.1f} vs pytorch {t['train_samples_per_s']:.1f} -> {e['train_samples_per_s'] / t['train_samples_per_s']:.2f}x")
if w:
    print(f"train samples/s: edgetune wgpu {w['train_samples_per_s']:.1f} -> {w['train_samples_per_s'] / t['train_samples_per_s']:.2f}x of pytorch cpu")
print(f"test accuracy:   edgetune {e['test_accuracy']:.4f} vs pytorch {t['test_accuracy']:.4f} ({t['epochs']} epochs)")
print(f"peak RSS MB:     edgetune {e['peak_rss_mb']} vs pytorch {t['peak_rss_mb']}")
PY
