"""Loads an edgetune image-model export in PyTorch and compares it with edgetune's output on the
same image files: a torchvision family through the export's own modeling_*.py (modeling_resnet.py,
modeling_mobilenet.py), a transformers one (ViT) through AutoModelForImageClassification and
AutoImageProcessor, which read the export's config.json and preprocessor_config.json.

usage: python check_image_export.py EXPORT_DIR PREDICTIONS.jsonl
PREDICTIONS.jsonl is `edgetune predict --json` output (text = image path, label, logits). For a
torchvision family, images are preprocessed with Pillow as the export's config.json says (RGB,
bilinear resize to image_size, or with center_crop the short side to image_size and the middle
square; normalised with image_mean / image_std). Prints one JSON line; exits 1 if agreement is
below 99.5 % or a logit differs by more than 1e-3.
"""
import glob, importlib, json, os, sys

import numpy as np
import torch
from PIL import Image

export, predictions = sys.argv[1], sys.argv[2]
sys.path.insert(0, export)
cfg = json.load(open(os.path.join(export, "config.json")))
processor = None
if os.path.exists(os.path.join(export, "preprocessor_config.json")):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    hf = AutoModelForImageClassification.from_pretrained(export).eval()
    model = lambda x: hf(pixel_values=x).logits
    processor = AutoImageProcessor.from_pretrained(export)
else:
    modeling = [os.path.basename(p)[:-3] for p in glob.glob(os.path.join(export, "modeling_*.py"))]
    assert len(modeling) == 1, f"expected one modeling_*.py in {export}, found {modeling}"
    model = importlib.import_module(modeling[0]).load(export)
    size = cfg["image_size"]
    mean = torch.tensor(cfg["image_mean"]).view(3, 1, 1)
    std = torch.tensor(cfg["image_std"]).view(3, 1, 1)
rows = [json.loads(l) for l in open(predictions, encoding="utf-8") if l.strip()]


def fitted(im):
    if not cfg.get("center_crop"):
        return im.resize((size, size), Image.BILINEAR)
    w, h = im.size
    im = im.resize((size, int(size * h / w)) if w <= h else (int(size * w / h), size), Image.BILINEAR)
    left, top = round((im.size[0] - size) / 2), round((im.size[1] - size) / 2)  # torchvision's CenterCrop
    return im.crop((left, top, left + size, top + size))


def tensor(path):
    if processor is not None:
        return processor(images=Image.open(path).convert("RGB"), return_tensors="pt")["pixel_values"][0]
    im = fitted(Image.open(path).convert("RGB"))
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
