"""Loads an edgetune LoRA adapter export with Hugging Face PEFT and compares it with edgetune.

usage: python check_peft.py ADAPTER_DIR MERGED_DIR PREDICTIONS.jsonl [--max-length 64]

ADAPTER_DIR is `edgetune train --lora --export` output (adapter_config.json,
adapter_model.safetensors, config.json, tokenizer); its base model is the adapter config's
base_model_name_or_path. MERGED_DIR is `edgetune export --merge` of the same model, and
PREDICTIONS.jsonl is `edgetune predict --json` of ADAPTER_DIR (text, label, logits per line). An
image model's adapter (beside its preprocessor_config.json: ViT) is checked the same way, its
predictions' texts being image paths that AutoImageProcessor prepares.

Checks, printed as one JSON line (exit 1 if any fails):
- the base model + `PeftModel.from_pretrained(base, ADAPTER_DIR)` gives edgetune's logits within
  1e-4 (`max_abs_logit_diff`), and the adapter matters: without it logits move by more than 1e-2
  (`adapter_effect`), so a silently ignored adapter cannot pass;
- every weight of MERGED_DIR equals PEFT's `merge_and_unload()` of the same base + adapter
  (W + alpha/r·B·A) within 1e-5 (`merged_max_weight_diff`), and MERGED_DIR loaded by transformers
  gives edgetune's logits within 1e-4 (`merged_max_logit_diff`).
"""
import argparse, json, os, sys
import torch
from peft import PeftModel
from safetensors.torch import load_file
from PIL import Image
from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification, AutoModelForSequenceClassification, AutoTokenizer

p = argparse.ArgumentParser()
p.add_argument("adapter"); p.add_argument("merged"); p.add_argument("predictions")
p.add_argument("--max-length", type=int, default=64)
a = p.parse_args()

adapter_cfg = json.load(open(os.path.join(a.adapter, "adapter_config.json")))
base = adapter_cfg["base_model_name_or_path"]
cfg = json.load(open(os.path.join(a.adapter, "config.json")))
# The classifier around the base encoder: edgetune's mean pooling comes with modeling_edgetune.py
# (the class its config names); the first token's head is the family's own transformers class.
# A base with a head of other classes (a checkpoint): the adapter's saved head replaces it.
image = os.path.exists(os.path.join(a.adapter, "preprocessor_config.json"))
auto = AutoModelForImageClassification if image else AutoModelForSequenceClassification
if cfg.get("classifier_pooling") == "mean" and not image:
    sys.path.insert(0, a.adapter)
    import modeling_edgetune
    cls = getattr(modeling_edgetune, cfg["architectures"][0])
    model = cls.from_pretrained(base, config=cls.config_class.from_pretrained(a.adapter), ignore_mismatched_sizes=True)
else:
    model = auto.from_pretrained(base, config=AutoConfig.from_pretrained(a.adapter), ignore_mismatched_sizes=True)
model = PeftModel.from_pretrained(model, a.adapter)
model.eval()

rows = [json.loads(l) for l in open(a.predictions, encoding="utf-8") if l.strip()]
if image:
    processor = AutoImageProcessor.from_pretrained(a.adapter)
    prepare = lambda chunk: processor(images=[Image.open(r["text"]).convert("RGB") for r in chunk], return_tensors="pt")
else:
    tok = AutoTokenizer.from_pretrained(a.adapter)
    prepare = lambda chunk: tok([r["text"] for r in chunk], padding=True, truncation=True, max_length=a.max_length, return_tensors="pt")
merged_ref = None


def logits_of(m, batch):
    with torch.no_grad():
        return m(**batch).logits


worst, effect, agree = 0.0, 0.0, 0
batches = []
for i in range(0, len(rows), 64):
    chunk = rows[i:i + 64]
    b = prepare(chunk)
    batches.append((chunk, b))
    l = logits_of(model, b)
    with model.disable_adapter():
        plain = logits_of(model, b)
    effect = max(effect, float((l - plain).abs().max()))
    for r, x in zip(chunk, l):
        worst = max(worst, float((x - torch.tensor(r["logits"])).abs().max()))
        agree += model.config.id2label[int(x.argmax())] == r["label"]

# PEFT's own merge of the same base + adapter, against edgetune's merged export.
peft_merged = model.merge_and_unload().state_dict()
ours = load_file(os.path.join(a.merged, "model.safetensors"))
if image:
    # transformers 5 renames a ViT's modules on load (vit.layers.0.attention.q_proj): compare
    # in those names, as transformers reads the merged export and the base.
    ours = dict(auto.from_pretrained(a.merged).state_dict())
missing = [k for k in ours if k not in peft_merged]
weight_diff = max(float((ours[k] - peft_merged[k]).abs().max()) for k in ours if k in peft_merged)
lora_layers = [k for k in ours if k.endswith(tuple(f".{t}.weight" for t in adapter_cfg["target_modules"]))]
base_sd = load_file(os.path.join(base, "model.safetensors")) if not image else dict(auto.from_pretrained(base).state_dict())
base_key = lambda k: k if k in base_sd else k.split(".", 1)[1]  # without the task model's prefix (bert., mpnet.)
moved = max(float((ours[k] - base_sd[base_key(k)]).abs().max()) for k in lora_layers)

merged = AutoModelForSequenceClassification.from_pretrained(a.merged, trust_remote_code=True) if cfg.get("classifier_pooling") == "mean" and not image \
    else auto.from_pretrained(a.merged)
merged.eval()
merged_worst = 0.0
for chunk, b in batches:
    for r, x in zip(chunk, logits_of(merged, b)):
        merged_worst = max(merged_worst, float((x - torch.tensor(r["logits"])).abs().max()))

n = len(rows)
report = {
    "n": n, "agreement": agree / n, "max_abs_logit_diff": worst, "adapter_effect": effect,
    "merged_max_weight_diff": weight_diff, "merged_tensors": len(ours), "merged_keys_unknown_to_peft": missing,
    "merged_weights_moved_from_base": moved, "merged_max_logit_diff": merged_worst,
}
print(json.dumps(report))
ok = worst <= 1e-4 and effect > 1e-2 and weight_diff <= 1e-5 and not missing and moved > 0 and merged_worst <= 1e-4 and agree == n
sys.exit(0 if ok else 1)
