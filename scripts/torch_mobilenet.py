"""Reference for scripts/bench-mobilenet.sh: torchvision's MobileNetV2 (ImageNet weights) fine-tuned on a folder of
photos with PyTorch on the CPU, as `edgetune bench --image-size S --image-fit resize --no-augment --hflip
--crop-padding P` trains it:
- images RGB, resized to S×S (Pillow bilinear), normalised with ImageNet's mean and std; a new head;
- per image and epoch a random shift of up to P pixels each way (zero padding) and a left-right mirror with
  probability 1/2;
- AdamW lr 1e-3 (head too), weight decay 1e-4 on convolution and linear weights (none on batch norm or biases),
  cosine decay after a linear warmup over the first 2 % of steps (starting at 1/warmup), gradient norm clipped at
  1.0, batch 64, the model's own dropout (0.2) before the head, batch norm in training mode;
- evaluated on the test folder. Prints one JSON line (the keys of edgetune bench).
usage: python torch_mobilenet.py WEIGHTS TRAIN_DIR TEST_DIR [--size 128] [--epochs 3] [--batch 64] [--pad 8]
       [--threads 2] [--head-only]
--head-only: the body frozen in eval mode, only a new head trained (100 epochs, batch 64, lr 0.1, as edgetune's
head-only defaults) on features computed once; its seconds count from reading the images to the test accuracy.
"""
import argparse, json, math, os, random, resource, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F, torchvision
from PIL import Image
from safetensors.torch import load_file

p = argparse.ArgumentParser()
p.add_argument("weights"); p.add_argument("train"); p.add_argument("test")
p.add_argument("--size", type=int, default=128); p.add_argument("--epochs", type=int, default=3)
p.add_argument("--batch", type=int, default=64); p.add_argument("--pad", type=int, default=8)
p.add_argument("--threads", type=int, default=2); p.add_argument("--head-only", action="store_true")
a = p.parse_args()
torch.manual_seed(0); random.seed(0); np.random.seed(0); torch.set_num_threads(a.threads)

mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1); std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def folder(root):
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    items = [(os.path.join(root, c, f), k) for k, c in enumerate(classes) for f in sorted(os.listdir(os.path.join(root, c)))]
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB").resize((a.size, a.size), Image.BILINEAR), dtype=np.float32) / 255.0).permute(2, 0, 1) for f, _ in items])
    return classes, x, torch.tensor([k for _, k in items])


t_begin = time.perf_counter()  # head-only seconds count from here: reading the images, the model, training
classes, X, Y = folder(a.train)
_, XT, YT = folder(a.test)
norm = lambda x: (x - mean) / std
m = torchvision.models.mobilenet_v2(weights=None)
m.load_state_dict(load_file(a.weights))
m.classifier[1] = nn.Linear(m.last_channel, len(classes))


def augment(x):
    """Random shift (zero padding) and mirror, per image, on 0..1 pixels."""
    out = torch.empty_like(x)
    padded = F.pad(x, (a.pad,) * 4)
    for i in range(x.shape[0]):
        dx, dy = random.randint(0, 2 * a.pad), random.randint(0, 2 * a.pad)
        img = padded[i, :, dy:dy + a.size, dx:dx + a.size]
        out[i] = img.flip(-1) if random.random() < 0.5 else img
    return out


def accuracy(model):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(norm(XT[i:i + 128])).argmax(1) for i in range(0, len(XT), 128)])
    return (pred == YT).float().mean().item()


if a.head_only:
    m.eval()
    with torch.no_grad():
        feats = lambda x: torch.cat([F.adaptive_avg_pool2d(m.features(norm(x[i:i + 128])), 1).flatten(1) for i in range(0, len(x), 128)])
        F_train, F_test = feats(X), feats(XT)
    head = nn.Linear(m.last_channel, len(classes))
    opt = torch.optim.AdamW(head.parameters(), lr=0.1, weight_decay=1e-4)
    steps = math.ceil(len(X) / a.batch) * 100; warm = math.ceil(steps * 0.02); step = 0
    for ep in range(100):
        order = torch.randperm(len(X))
        for i in range(0, len(X), a.batch):
            b = order[i:i + a.batch]
            for g in opt.param_groups:
                g["lr"] = 0.1 * ((step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * min((step - warm) / max(steps - warm, 1), 1.0))))
            loss = F.cross_entropy(head(F_train[b]), Y[b]); opt.zero_grad(); loss.backward(); opt.step(); step += 1
    with torch.no_grad():
        acc = (head(F_test).argmax(1) == YT).float().mean().item()
    print(json.dumps({"system": f"pytorch {torch.__version__} cpu head-only", "train": len(X), "test": len(XT), "size": a.size,
                      "seconds": round(time.perf_counter() - t_begin, 2), "test_accuracy": round(acc, 4),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
    raise SystemExit

norms = {n for n, mod in m.named_modules() if isinstance(mod, nn.BatchNorm2d)}
no_decay = lambda n: n.endswith("bias") or n.rsplit(".", 1)[0] in norms
opt = torch.optim.AdamW([{"params": [q for n, q in m.named_parameters() if not no_decay(n)], "weight_decay": 1e-4},
                         {"params": [q for n, q in m.named_parameters() if no_decay(n)], "weight_decay": 0.0}], lr=1e-3)
per_epoch = math.ceil(len(X) / a.batch); total = per_epoch * a.epochs; warm = math.ceil(total * 0.02)
lr_at = lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * min((s - warm) / max(total - warm, 1), 1.0)))
step, seen, t_start, losses = 0, 0, None, []
m.train()
for ep in range(a.epochs):
    order = torch.randperm(len(X))
    for i in range(0, len(X), a.batch):
        b = order[i:i + a.batch]
        for g in opt.param_groups:
            g["lr"] = 1e-3 * lr_at(step)
        loss = F.cross_entropy(m(norm(augment(X[b]))), Y[b])
        opt.zero_grad(); loss.backward(); nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
        step += 1; losses.append(loss.item())
        if step == 2:
            t_start = time.perf_counter()
        elif step > 2:
            seen += len(b)
train_s = time.perf_counter() - t_start
t1 = time.perf_counter(); acc = accuracy(m); eval_s = time.perf_counter() - t1
print(json.dumps({"system": f"pytorch {torch.__version__} cpu", "train": len(X), "test": len(XT), "epochs": a.epochs, "size": a.size,
                  "steps": step, "train_samples_per_s": round(seen / train_s, 2), "eval_samples_per_s": round(len(XT) / eval_s, 2),
                  "first_loss": losses[0], "last_loss": sum(losses[-10:]) / len(losses[-10:]),
                  "test_accuracy": round(acc, 4), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
