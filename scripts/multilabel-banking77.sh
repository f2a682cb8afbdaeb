#!/usr/bin/env bash
# Multi-label classification on tags derived from banking77: each text is tagged with the words of
# its intent ("card_arrival" -> card, arrival; "lost_or_stolen_card" -> card, lost, stolen; stop
# words left out, as in tests/cli_common.rs), giving 77 tag sets over about 100 tags. The derived
# train.csv and test.csv are written to a temporary directory (nothing is committed), then
# all-MiniLM-L6-v2 is fine-tuned with --multi-label and the defaults; extra arguments go to
# `edgetune train` (e.g. --head-only, --lora, --epochs 2). Prints the test micro/macro F1.
# usage: scripts/multilabel-banking77.sh [RUN_DIR] [TRAIN ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
out=${1:-runs/multilabel-$(date +%s)}
shift || true
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
cargo build --release -q -p edgetune-cli
bin="$CARGO_TARGET_DIR/release/edgetune"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
python3 - "$shared/data/banking77" "$data" <<'PY'
import csv, sys
stop = {"or", "by", "my", "to", "of", "and", "after", "into", "via", "for", "about", "on"}
def tags(intent):
    words = (w.strip("?!.,") for w in intent.lower().split("_"))
    return ",".join(sorted({w for w in words if w and w not in stop}))
for name in ("train.csv", "test.csv"):
    with open(f"{sys.argv[1]}/{name}", newline="", encoding="utf-8") as f, open(f"{sys.argv[2]}/{name}", "w", newline="", encoding="utf-8") as g:
        rows = csv.reader(f)
        next(rows)
        w = csv.writer(g)
        w.writerow(["text", "tags"])
        for text, intent in rows:
            w.writerow([text, tags(intent)])
PY
mkdir -p "$(dirname "$out")"
set -x
"$bin" train --multi-label --model "$shared/models/all-MiniLM-L6-v2" --data "$data/train.csv" --test "$data/test.csv" \
  --run-dir "$out" --json "$@" | tail -n 1 > "$out.json"
{ set +x; } 2>/dev/null
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); t=d['test']; print(f\"banking77 tags: test micro F1 {t['micro_f1']:.4f}, macro F1 {t['macro_f1']:.4f}, subset accuracy {t['subset_accuracy']*100:.2f} %, Hamming loss {t['hamming_loss']:.4f}, threshold {t['threshold']:.2f} ({len(t['labels'])} tags, {t['count']} texts, best epoch {d['best_epoch']}, {d['train_s']:.0f} s)\")" "$out.json"
