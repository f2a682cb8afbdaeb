#!/usr/bin/env bash
# LoRA SFT speed, memory and answers as ratios to transformers + PEFT, in one sitting on this
# machine: ../shared/bench/torch_sft.py's workload (SmolLM2-135M-Instruct from its GGUF file,
# banking77 asked as generation — the label is the answer —, LoRA all-linear r 8, batch 8, 256
# tokens, AdamW 2e-4) with PyTorch on the CPU, then `edgetune bench` on the CPU. Each prints one
# JSON line; then the ratios. usage: scripts/bench-sft.sh [STEPS] [EVAL_LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-30}
limit=${2:-50}
shared=${SHARED:-../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
python=$(bash scripts/setup-python.sh)
cargo build --release -q -p edgetune-cli
model=$(realpath "$shared/models/SmolLM2-135M-Instruct-Q4_1")
data=("$(realpath "$shared/data/banking77/train.csv")" "$(realpath "$shared/data/banking77/test.csv")")
torch=$(cd "$shared/bench" && "$python" torch_sft.py "$model" "${data[0]}" "${data[1]}" \
  --gguf SmolLM2-135M-Instruct.Q4_1.gguf --steps "$steps" --eval-limit "$limit" 2>/dev/null | tail -n 1)
ours=$("$CARGO_TARGET_DIR/release/edgetune" bench --model "$model" --train "${data[0]}" --test "${data[1]}" \
  --steps "$steps" --eval-limit "$limit" --before 2>/dev/null | tail -n 1)
echo "pytorch:  $torch"
echo "edgetune: $ours"
"$python" - "$torch" "$ours" <<'PY'
import json, sys
t, e = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"train tokens/s:    edgetune {e['train_tokens_per_s']:.1f} vs pytorch {t['train_tokens_per_s']:.1f} -> {e['train_tokens_per_s'] / t['train_tokens_per_s']:.2f}x")
print(f"generate tokens/s: edgetune {e['generate_tokens_per_s']:.1f} vs pytorch {t['generate_tokens_per_s']:.1f} -> {e['generate_tokens_per_s'] / t['generate_tokens_per_s']:.2f}x")
print(f"peak RSS MB:       edgetune {e['peak_rss_mb']} vs pytorch {t['peak_rss_mb']} -> {e['peak_rss_mb'] / t['peak_rss_mb']:.2f}x")
print(f"exact match:       edgetune {e['exact_match_before']} -> {e['exact_match_after']} vs pytorch {t['exact_match_before']} -> {t['exact_match_after']}")
print(f"first losses:      edgetune {e['first_losses']} vs pytorch {t['first_losses']}")
PY
