"""Soak benchmark: trains for a fixed time and samples the process's resident memory (RSS) every
few seconds, then prints RSS over time and its growth after the first epoch (the goal: under
5 %: no leak across steps). Two targets:
  native  `edgetune train` on the demo ResNet-20 and the digits, epoch after epoch;
  wasm    the wasm build under Node (web/tests/node-run.mjs), the same workload step after step.
usage: python3 scripts/soak.py native|wasm [MINUTES=30] [--bin PATH]
"""
import json, os, shutil, subprocess, sys, tempfile, time

target = sys.argv[1] if len(sys.argv) > 1 else "native"
minutes = float(sys.argv[2]) if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else 30.0
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bin_path = sys.argv[sys.argv.index("--bin") + 1] if "--bin" in sys.argv else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/edgetune/target")), "release", "edgetune")
model = os.path.join(repo, "crate/assets/demo/resnet20-cifar10")
digits = os.path.join(repo, "crate/assets/demo/digits.zip")
work = tempfile.mkdtemp(prefix="edgetune-soak-")

if target == "native":
    # Enough epochs to outlast the soak; checkpoints and validation every epoch, as a real run.
    cmd = [bin_path, "train", "--json", "--device", "cpu", "--model", model, "--data", digits,
           "--epochs", "100000", "--patience", "0", "--run-dir", os.path.join(work, "run")]
elif target == "wasm":
    cmd = ["node", os.path.join(repo, "web/tests/node-run.mjs"), model, digits, "image", "1000000"]
else:
    sys.exit(f"unknown target {target}: native or wasm")

def rss_mb(pid):
    total = 0
    for p in [pid] + children(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total / 1024

def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []

proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
os.set_blocking(proc.stdout.fileno(), False)
t0 = time.time()
samples, epochs, first_epoch_at, buf = [], 0, None, ""
try:
    while time.time() - t0 < minutes * 60 and proc.poll() is None:
        time.sleep(5)
        chunk = proc.stdout.read()
        buf += chunk.decode("utf-8", "replace") if chunk else ""
        *lines, buf = buf.split("\n")
        for line in lines:
            if '"event":"epoch"' in line:
                epochs += 1
                if first_epoch_at is None:
                    first_epoch_at = time.time() - t0
        samples.append((time.time() - t0, rss_mb(proc.pid), epochs))
finally:
    proc.kill()
    proc.wait()
    shutil.rmtree(work, ignore_errors=True)

if not samples:
    sys.exit("no samples: the run ended at once")
if target == "wasm" and first_epoch_at is None:
    first_epoch_at = 60.0  # node-run reports no epochs: count from the first minute
print(f"{'time':>8} {'epochs':>7} {'RSS MB':>8}")
step = max(1, len(samples) // 30)
for t, r, e in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
    print(f"{t:7.0f}s {e:7d} {r:8.1f}")
after = [r for t, r, _ in samples if first_epoch_at is not None and t >= first_epoch_at]
if after:
    base, peak, last = after[0], max(after), after[-1]
    print(json.dumps({"target": target, "minutes": round((samples[-1][0]) / 60, 1), "epochs": epochs,
                      "rss_after_first_epoch_mb": round(base, 1), "rss_peak_mb": round(peak, 1), "rss_last_mb": round(last, 1),
                      "growth_pct": round(100 * (peak - base) / base, 2)}))
