#!/usr/bin/env bash
# Personalisation on banking77 (issue: "train on 67 classes, then personalise with 10 new classes
# × 10 examples each"): builds the files (scripts/personalize-data.py: 10 classes drawn with a
# fixed seed are held out), fine-tunes MiniLM on the other 67 with the defaults and exports it
# (with its replay sample), then personalises it with 10 examples of each new class, with and
# without replay, and prints accuracy on the old and the new classes of the whole test set.
# usage: scripts/bench-personalize.sh [WORK_DIR]   (a base model already in WORK_DIR/base is reused)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
cargo build --release -q -p edgetune-cli
bin=$CARGO_TARGET_DIR/release/edgetune
work=${1:-/tmp/edgetune-personalize}
new=$(python3 scripts/personalize-data.py ../shared/data/banking77 "$work")
echo "new classes: $new" >&2
if [ ! -f "$work/base/config.json" ]; then
  rm -rf "$work/base-run"
  /usr/bin/time -f "base model: %e s, peak RSS %M kB" "$bin" train --json --model ../shared/models/all-MiniLM-L6-v2 \
    --data "$work/base_train.csv" --run-dir "$work/base-run" --export "$work/base" > "$work/base.jsonl"
fi
for mode in replay no-replay; do
  flags=()
  [ "$mode" = no-replay ] && flags=(--no-replay)
  rm -rf "$work/run-$mode" "$work/model-$mode"
  /usr/bin/time -f "$mode: %e s, peak RSS %M kB" "$bin" personalize --json --from "$work/base" --data "$work/new.csv" \
    --test "$work/test.csv" --run-dir "$work/run-$mode" --export "$work/model-$mode" "${flags[@]}" \
    | grep '"event":"personalized"' > "$work/$mode.json"
  rm -rf "$work/run-$mode/checkpoints" # 270 MB of weights and optimiser state each
done
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
print(f"{'':12} {'old before':>11} {'old after':>10} {'change':>8} {'new':>8} {'all':>8}")
for mode in ["replay", "no-replay"]:
    r = json.load(open(f"{work}/{mode}.json"))
    b, o, n, a = (100 * r[k] for k in ["old_accuracy_before", "old_accuracy", "new_accuracy", "accuracy"])
    print(f"{mode:12} {b:10.2f}% {o:9.2f}% {o - b:+7.2f} {n:7.2f}% {a:7.2f}%")
print(f"({r['old_classes']} old classes, {r['old_examples']} test texts; {r['new_classes']} new classes, {r['new_examples']} test texts)")
PY
