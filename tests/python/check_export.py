"""Loads an edgetune export with PyTorch transformers and compares it with edgetune's own output.

usage: python check_export.py EXPORT_DIR PREDICTIONS.jsonl [--max-length 128] [--plain]
PREDICTIONS.jsonl is `edgetune predict --json` output (text, label, logits per line). Prints one
JSON line with the agreement and the largest logit difference; exits 1 if agreement < 99.5 % or
a logit differs by more than 1e-3. --plain loads it without remote code, as the family's own
`...ForSequenceClassification` (exports trained with first-token pooling need no custom code).
"""
import argparse, json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

p = argparse.ArgumentParser()
p.add_argument("export"); p.add_argument("predictions")
p.add_argument("--max-length", type=int, default=128); p.add_argument("--plain", action="store_true")
a = p.parse_args()
rows = [json.loads(l) for l in open(a.predictions, encoding="utf-8") if l.strip()]
tok = AutoTokenizer.from_pretrained(a.export)
if a.plain:
    model = AutoModelForSequenceClassification.from_pretrained(a.export)
else:
    model = AutoModelForSequenceClassification.from_pretrained(a.export, trust_remote_code=True)
model.eval()
id2label = model.config.id2label
agree, worst = 0, 0.0
with torch.no_grad():
    for i in range(0, len(rows), 64):
        chunk = rows[i:i + 64]
        b = tok([r["text"] for r in chunk], padding=True, truncation=True, max_length=a.max_length, return_tensors="pt")
        logits = model(**b).logits
        for r, l in zip(chunk, logits):
            agree += id2label[int(l.argmax())] == r["label"]
            worst = max(worst, float((l - torch.tensor(r["logits"])).abs().max()))
n = len(rows)
print(json.dumps({"n": n, "agreement": agree / n, "max_abs_logit_diff": worst}))
sys.exit(0 if agree / n >= 0.995 and worst <= 1e-3 else 1)
