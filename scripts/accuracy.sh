#!/usr/bin/env bash
# Real accuracy with the defaults (a long run: ~15 min for banking77 and ~5 for sms_spam on 2 cores):
#  - all-MiniLM-L6-v2 fine-tuned on banking77 train.csv, evaluated on test.csv (goal >= 93.0 %);
#  - sms_spam with an 80/20 stratified split (goal: macro F1 >= 0.95).
# Prints the final test metrics of each run. usage: scripts/accuracy.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
out=${1:-runs/accuracy-$(date +%s)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
cargo build --release -q -p edgetune-cli
bin="$CARGO_TARGET_DIR/release/edgetune"
model="$shared/models/all-MiniLM-L6-v2"
"$bin" train --model "$model" --data "$shared/data/banking77/train.csv" --test "$shared/data/banking77/test.csv" \
  --run-dir "$out/banking77" --json | tail -n 1 > "$out.banking77.json"
"$bin" train --model "$model" --data "$shared/data/sms_spam/SMSSpamCollection" --valid-split 0.1 --test-split 0.2 \
  --run-dir "$out/sms_spam" --json | tail -n 1 > "$out.sms_spam.json"
for d in banking77 sms_spam; do
  python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['test']; print(f\"$d: test accuracy {t['accuracy']*100:.2f} %, macro F1 {t['macro_f1']:.4f}, loss {t['loss']:.4f}\")" "$out.$d.json"
done
