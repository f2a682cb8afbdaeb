#!/usr/bin/env bash
# Load test of `edgetune serve` on loopback: fine-tunes the ResNet-20 demo for one epoch on
# digits 0-2 (the served model), starts the server with a token, stores 60 examples (a new
# class, digit 3), then scripts/bench-serve.py sends a bounded loop of /predict requests from a
# second process while a /train run goes and across the activate swap, and prints requests/s,
# p50, p99 and failures.
# usage: [EDGETUNE_BIN=path] scripts/bench-serve.sh [WORK_DIR] [REQUESTS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/edgetune/target}
# EDGETUNE_BIN: a binary already built (skips the build).
bin=${EDGETUNE_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p edgetune-cli
  bin=$CARGO_TARGET_DIR/release/edgetune
fi
work=${1:-/tmp/edgetune-serve-bench}
requests=${2:-1500}
concurrency=${3:-4}
digits=../shared/data/digits/images
rm -rf "$work/data" "$work/served"
mkdir -p "$work"
if [ ! -f "$work/model/config.json" ]; then
  rm -rf "$work/train" "$work/run"
  for c in 0 1 2; do mkdir -p "$work/train/d$c"; ls "$digits/$c" | head -60 | xargs -I{} cp "$digits/$c/{}" "$work/train/d$c/"; done
  "$bin" train --json --device cpu --epochs 1 --test-split 0 --valid-split 0 --model crate/assets/demo/resnet20-cifar10 \
    --data "$work/train" --run-dir "$work/run" --export "$work/model" > /dev/null
fi
head -c 24 /dev/urandom | base64 > "$work/token"
"$bin" serve --model "$work/model" --data-dir "$work/served" --listen 127.0.0.1:0 --token-file "$work/token" 2> "$work/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$work/serve.log" && break; sleep 0.1; done
url=$(grep -o "http://[0-9.:]*" "$work/serve.log" | head -1)
python3 - "$url" "$work/token" "$digits/3" <<'PY'
import base64, json, os, sys, urllib.request
url, token, folder = sys.argv[1], open(sys.argv[2]).read().strip(), sys.argv[3]
ex = [{"image": base64.b64encode(open(os.path.join(folder, f), "rb").read()).decode(), "label": "d3"} for f in sorted(os.listdir(folder))[:60]]
req = urllib.request.Request(url + "/examples", json.dumps({"examples": ex}).encode(), {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
print("stored:", json.load(urllib.request.urlopen(req))["stored"], "examples")
PY
python3 scripts/bench-serve.py --url "$url" --token-file "$work/token" --image "$digits/5/$(ls $digits/5 | head -1)" \
  --requests "$requests" --concurrency "$concurrency" --train '{"epochs": 3}'
