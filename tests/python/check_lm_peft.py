"""Loads an edgetune LoRA adapter of a generative model with Hugging Face PEFT, for tests/sft_run.rs.

usage: python check_lm_peft.py MODEL.gguf ADAPTER_DIR MERGED_DIR IN.json OUT.safetensors

MODEL.gguf is the base model as transformers reads a GGUF file (`gguf_file=`, de-quantised to
float32); ADAPTER_DIR is what edgetune wrote (adapter_config.json, adapter_model.safetensors);
IN.json holds {"prompts": [[ids...], ...], "max_new_tokens": N}. Writes to OUT.safetensors the
logits of every position of each prompt with the adapter (`logits.I`) and without it (`base.I`),
and prints {"answers": [[ids...], ...]}: `PeftModel.generate`'s greedy answers, without the
stop token (<|im_end|> or the EOS), as edgetune's `generate` returns them. MERGED_DIR is
edgetune's merged export of the same adapter (a Hugging Face directory): transformers' model of it
gives `merged.I`, and "merged_max_weight_diff" is the largest difference between its weights and
PEFT's `merge_and_unload()` of base + adapter.
"""
import json, os, sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from peft import PeftModel
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, adapter, merged_dir, inp, out = sys.argv[1:6]
torch.set_num_threads(2)
d, f = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
req = json.load(open(inp))
prompts = req["prompts"]
tensors = {}
with torch.no_grad():
    for i, p in enumerate(prompts):
        tensors[f"base.{i}"] = model(torch.tensor([p])).logits[0].contiguous()
peft = PeftModel.from_pretrained(model, adapter).eval()
stops = [t for t in {tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id} if t is not None]
answers = []
with torch.no_grad():
    for i, p in enumerate(prompts):
        x = torch.tensor([p])
        tensors[f"logits.{i}"] = peft(x).logits[0].contiguous()
        new = peft.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=req["max_new_tokens"], do_sample=False,
                            eos_token_id=stops, pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else stops[0])[0][len(p):].tolist()
        if new and new[-1] in stops:
            new = new[:-1]
        answers.append(new)
merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
mtok = AutoTokenizer.from_pretrained(merged_dir)
with torch.no_grad():
    for i, p in enumerate(prompts):
        tensors[f"merged.{i}"] = merged(torch.tensor([p])).logits[0].contiguous()
    ref = dict(peft.merge_and_unload().named_parameters())
    mine = dict(merged.named_parameters())
    assert set(ref) == set(mine), sorted(set(ref) ^ set(mine))
    diff = max((ref[k] - mine[k]).abs().max().item() for k in ref)
# The exported tokenizer and chat template give the same prompt ids.
chat = [{"role": "user", "content": "Is this review positive or negative?"}]
same_template = mtok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False) == tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
save_file(tensors, out)
print(json.dumps({"answers": answers, "merged_max_weight_diff": diff, "same_template": same_template,
                  "same_ids": mtok("Review: the soup was cold")["input_ids"] == tok("Review: the soup was cold")["input_ids"]}))
