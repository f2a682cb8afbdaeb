#!/usr/bin/env bash
# Speed as a ratio to PyTorch, measured in one sitting on this machine: the reference workload of
# ../shared/bench (banking77, full fine-tune of all-MiniLM-L6-v2, batch 32, max 64 tokens, AdamW,
# 30 steps) with PyTorch on the CPU, then with edgetune on the CPU. Prints both JSON lines and the
# ratios. usage: scripts/bench-text.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-30}
shared=${SHARED:-../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
python=$(bash scripts/setup-python.sh)
cargo build --release -q -p edgetune-cli
args=("$shared/models/all-MiniLM-L6-v2" "$shared/data/banking77/train.csv" "$shared/data/banking77/test.csv")
torch=$("$python" "$shared/bench/torch_text.py" "${args[@]}" --steps "$steps" 2>/dev/null | tail -n 1)
ours=$("$CARGO_TARGET_DIR/release/edgetune" bench --model "${args[0]}" --train "${args[1]}" --test "${args[2]}" --steps "$steps" 2>/dev/null | tail -n 1)
echo "pytorch:  $torch"
echo "edgetune: $ours"
"$python" - "$torch" "$ours" <<'PY'
import json, sys
t, e = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"train samples/s: edgetune {e['train_samples_per_s']:.1f} vs pytorch {t['train_samples_per_s']:.1f} -> {e['train_samples_per_s'] / t['train_samples_per_s']:.2f}x")
print(f"eval samples/s:  edgetune {e['eval_samples_per_s']:.1f} vs pytorch {t['eval_samples_per_s']:.1f} -> {e['eval_samples_per_s'] / t['eval_samples_per_s']:.2f}x")
print(f"peak RSS MB:     edgetune {e['peak_rss_mb']} vs pytorch {t['peak_rss_mb']}")
PY
