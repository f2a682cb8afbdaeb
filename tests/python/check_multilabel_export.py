"""Loads an edgetune multi-label export with PyTorch transformers and compares it with edgetune.

usage: python check_multilabel_export.py EXPORT_DIR PREDICTIONS.jsonl [--max-length 128] [--plain]
PREDICTIONS.jsonl is `edgetune predict --json` output (text, tags, logits per line). Checks that
config.json says problem_type "multi_label_classification" (so transformers' sequence
classification heads use BCEWithLogitsLoss), that the loss transformers computes from multi-hot
labels is binary cross-entropy, that logits agree within 1e-3, and that the tag sets (sigmoid of
the logits ≥ config.edgetune_threshold) agree on ≥ 99.5 % of the texts. Prints one JSON line;
exits 1 on a failure. --plain loads it as a plain BertForSequenceClassification ([CLS] pooling).
"""
import argparse, json, sys
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertForSequenceClassification

p = argparse.ArgumentParser()
p.add_argument("export"); p.add_argument("predictions")
p.add_argument("--max-length", type=int, default=128); p.add_argument("--plain", action="store_true")
a = p.parse_args()
rows = [json.loads(l) for l in open(a.predictions, encoding="utf-8") if l.strip()]
tok = AutoTokenizer.from_pretrained(a.export)
if a.plain:
    model = BertForSequenceClassification.from_pretrained(a.export)
else:
    model = AutoModelForSequenceClassification.from_pretrained(a.export, trust_remote_code=True)
model.eval()
cfg = model.config
threshold = cfg.edgetune_threshold
id2label = cfg.id2label
agree, worst, loss_diff = 0, 0.0, 0.0
with torch.no_grad():
    for i in range(0, len(rows), 64):
        chunk = rows[i:i + 64]
        b = tok([r["text"] for r in chunk], padding=True, truncation=True, max_length=a.max_length, return_tensors="pt")
        # Multi-hot labels of edgetune's own predictions: any target works for checking the loss.
        labels = torch.zeros(len(chunk), cfg.num_labels)
        for k, r in enumerate(chunk):
            for t in r["tags"]:
                labels[k, cfg.label2id[t]] = 1.0
        out = model(**b, labels=labels)
        bce = F.binary_cross_entropy_with_logits(out.logits, labels)
        loss_diff = max(loss_diff, abs(float(out.loss) - float(bce)))
        for r, l in zip(chunk, out.logits):
            tags = {id2label[j] for j, p in enumerate(torch.sigmoid(l).tolist()) if p >= threshold}
            agree += tags == set(r["tags"])
            worst = max(worst, float((l - torch.tensor(r["logits"])).abs().max()))
n = len(rows)
ok = cfg.problem_type == "multi_label_classification" and agree / n >= 0.995 and worst <= 1e-3 and loss_diff <= 1e-5
print(json.dumps({"n": n, "problem_type": cfg.problem_type, "threshold": threshold, "tag_set_agreement": agree / n,
                  "max_abs_logit_diff": worst, "max_loss_diff_vs_bce": loss_diff}))
sys.exit(0 if ok else 1)
