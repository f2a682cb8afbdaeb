"""Makes a LoRA adapter with Hugging Face PEFT itself, for edgetune to load (tests/lora.rs).

usage: python make_peft_adapter.py BASE_MODEL OUT_DIR

A bare `BertModel` (no task head, so keys are `base_model.model.encoder...`) with PEFT adapters
of rank 4, alpha 8 on the key and value projections and the FFN output (`output.dense` also
matches `attention.output.dense`), all weights random (`init_lora_weights=False`: B is not zero,
so the adapter changes the output). Saves it with `save_pretrained` and writes
OUT_DIR/expected.json: token ids, mask, and the mean-pooled last hidden states with the adapter
and without it.
"""
import json, sys
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoTokenizer, BertModel

base, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = BertModel.from_pretrained(base, add_pooling_layer=False)
cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["key", "value", "output.dense"], init_lora_weights=False)
model = get_peft_model(model, cfg)
model.eval()
model.save_pretrained(out)
texts = ["my card has not arrived yet", "how do I top up by bank transfer?", "I was charged twice for one coffee"]
tok = AutoTokenizer.from_pretrained(base)
b = tok(texts, padding=True, return_tensors="pt")


def pooled(m):
    with torch.no_grad():
        h = m(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
    mask = b["attention_mask"].unsqueeze(-1).float()
    return ((h * mask).sum(1) / mask.sum(1)).tolist()


with_adapter = pooled(model)
with model.disable_adapter():
    without = pooled(model)
json.dump({"ids": b["input_ids"].tolist(), "mask": b["attention_mask"].tolist(), "pooled": with_adapter, "pooled_base": without},
          open(f"{out}/expected.json", "w"))
