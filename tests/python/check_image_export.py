"""Loads an edgetune image-model export in PyTorch (the export's own modeling_resnet.py) and
compares it with edgetune's output on the same image files.

usage: python check_image_export.py EXPORT_DIR PREDICTIONS.jsonl
PREDICTIONS.jsonl is `edgetune predict --json` output (text = image path, label, logits). Images
are preprocessed with Pillow as the export's config.json says (RGB, bilinear resize to
image_size, normalised with image_mean / image_std). Prints one JSON line; exits 1 if agreement is
below 99.5 % or a logit differs by more than 1e-3.
"""
import json, os, sys

import numpy as np
import torch
from PIL import Image

export, predictions = sys.argv[1], sys.argv[2]
sys.path.insert(0, export)
from modeling_resnet import load  # noqa: E402

model = load(export)
cfg = json.load(open(os.path.join(export, "config.json")))
size = cfg["image_size"]
mean = torch.tensor(cfg["image_mean"]).view(3, 1, 1)
std = torch.tensor(cfg["image_std"]).view(3, 1, 1)
rows = [json.loads(l) for l in open(predictions, encoding="utf-8") if l.strip()]


def tensor(path):
    im = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    return (torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1) - mean) / std


agree, worst = 0, 0.0
with torch.no_grad():
    for i in range(0, len(rows), 64):
        chunk = rows[i:i + 64]
        logits = model(torch.stack([tensor(r["text"]) for r in chunk]))
        for r, row in zip(chunk, logits):
            agree += cfg["id2label"][str(int(row.argmax()))] == r["label"]
            worst = max(worst, float((row - torch.tensor(r["logits"])).abs().max()))
report = {"images": len(rows), "agreement": agree / len(rows), "max_logit_diff": worst}
print(json.dumps(report))
sys.exit(0 if report["agreement"] >= 0.995 and worst <= 1e-3 else 1)
