#!/usr/bin/env bash
# Photos with an ImageNet model, edgetune beside PyTorch in one sitting on this machine: torchvision's
# MobileNetV2 (../shared/models/mobilenet_v2-imagenet) fine-tuned on ../shared/data/cifar10-small/train
# (100 photos a class), evaluated on its test folder. Both sides train the same run
# (scripts/torch_mobilenet.py says it in full): SIZE×SIZE inputs (bilinear resize), a random shift of up to 8
# pixels and a mirror, AdamW 1e-3 with cosine decay, batch 64, EPOCHS epochs. Then the head-only fast path on
# the same data (features once, a linear head): seconds from start to test accuracy.
# Prints the JSON lines and the ratios: train images/s, test accuracy, peak RSS.
# usage: scripts/bench-mobilenet.sh [EPOCHS] [SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
size=${2:-128}
shared=${SHARED:-../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
python=$(bash scripts/setup-python.sh)
cargo build --release -q -p edgetune-cli
bin="$CARGO_TARGET_DIR/release/edgetune"
model="$shared/models/mobilenet_v2-imagenet"
train="$shared/data/cifar10-small/train"
test="$shared/data/cifar10-small/test"
torch=$("$python" scripts/torch_mobilenet.py "$model/model.safetensors" "$train" "$test" --epochs "$epochs" --size "$size" --pad 8 2>/dev/null | tail -n 1)
echo "pytorch:        $torch"
ours=$("$bin" bench --model "$model" --train "$train" --test "$test" --epochs "$epochs" --device cpu \
  --image-size "$size" --image-fit resize --no-augment --hflip --crop-padding 8 2>/dev/null | tail -n 1)
echo "edgetune:       $ours"
torch_head=$("$python" scripts/torch_mobilenet.py "$model/model.safetensors" "$train" "$test" --size "$size" --head-only 2>/dev/null | tail -n 1)
echo "pytorch head:   $torch_head"
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
# Cold: a fresh feature cache, so the images are embedded in this run (a second run on the same
# data reads the cached features: timed too).
head_only() {
  EDGETUNE_CACHE_DIR="$run/cache" "$bin" train --head-only --model "$model" --data "$train" --test "$test" --valid-split 0 \
    --device cpu --image-size "$size" --image-fit resize --run-dir "$run/$1" --json 2>/dev/null | grep '"event":"done"'
}
t0=$(date +%s.%N); cold=$(head_only cold); t1=$(date +%s.%N); warm=$(head_only warm); t2=$(date +%s.%N)
"$python" - "$torch" "$ours" "$torch_head" "$t0" "$t1" "$t2" "$cold" "$warm" <<'PY'
import json, sys
t, e, th = (json.loads(a) for a in sys.argv[1:4])
t0, t1, t2 = (float(x) for x in sys.argv[4:7])
cold, warm = (json.loads(x)["test"]["accuracy"] for x in sys.argv[7:9])
print(f"edgetune head:  {json.dumps({'seconds': round(t1 - t0, 2), 'test_accuracy': cold, 'seconds_cached_features': round(t2 - t1, 2), 'test_accuracy_cached': warm})}")
print(f"train images/s:  edgetune {e['train_samples_per_s']:.1f} vs pytorch {t['train_samples_per_s']:.1f} -> {e['train_samples_per_s'] / t['train_samples_per_s']:.2f}x")
print(f"test accuracy:   edgetune {e['test_accuracy']:.4f} vs pytorch {t['test_accuracy']:.4f} ({t['epochs']} epochs at {t['size']}px): {100 * (e['test_accuracy'] - t['test_accuracy']):+.1f} points")
print(f"peak RSS MB:     edgetune {e['peak_rss_mb']} vs pytorch {t['peak_rss_mb']} -> {e['peak_rss_mb'] / t['peak_rss_mb']:.2f}x")
print(f"head-only:       edgetune {t1 - t0:.1f} s ({t2 - t1:.1f} s with cached features), accuracy {cold:.4f}; pytorch {th['seconds']:.1f} s, accuracy {th['test_accuracy']:.4f}")
PY
