#!/usr/bin/env bash
# Memory of LoRA against full fine-tuning on the reference text workload of ../shared/bench
# (banking77, all-MiniLM-L6-v2, batch 32, max 64 tokens, AdamW, 30 steps): `edgetune bench` run
# twice, each in its own process so that each peak RSS (VmHWM) is its own, then LoRA (r = 8 on
# query and value, the defaults) with `--lora`. Prints both JSON lines, the trainable parameter
# counts and the peak RSS ratio (goal: LoRA <= 60 % of full fine-tuning).
# usage: scripts/bench-lora.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-30}
shared=${SHARED:-../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
cargo build --release -q -p edgetune-cli
bin="$CARGO_TARGET_DIR/release/edgetune"
args=(--model "$shared/models/all-MiniLM-L6-v2" --train "$shared/data/banking77/train.csv" --test "$shared/data/banking77/test.csv" --steps "$steps")
full=$("$bin" bench "${args[@]}" 2>/dev/null | tail -n 1)
lora=$("$bin" bench "${args[@]}" --lora 2>/dev/null | tail -n 1)
echo "full: $full"
echo "lora: $lora"
python3 - "$full" "$lora" <<'PY'
import json, sys
f, l = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"trainable params: full {f['trainable_params']:,} vs LoRA {l['trainable_params']:,} of {l['total_params']:,} ({l['trainable_params'] / l['total_params'] * 100:.2f} %)")
print(f"peak RSS MB:      full {f['peak_rss_mb']} vs LoRA {l['peak_rss_mb']} -> {l['peak_rss_mb'] / f['peak_rss_mb'] * 100:.1f} %")
print(f"train samples/s:  full {f['train_samples_per_s']:.1f} vs LoRA {l['train_samples_per_s']:.1f}")
PY
