"""Golden values for generative (causal) models from transformers, for tests/causal.rs:
    python tests/golden/make_causal_golden.py OUT_DIR

Writes
- OUT_DIR/smollm2.safetensors + smollm2.json: ../shared/models/SmolLM2-135M-Instruct-Q4_1 loaded by
  transformers from its GGUF file (`gguf_file=`, de-quantised to float32): the ids and the logits of
  every position of four prompts (three through the chat template, one plain text), in float32 and
  computed in float64 (`logits64.N`: transformers' own float32 values are up to ~1e-4 from them), and the greedy
  answers (`generate`, do_sample=False, 24 new tokens, stop at <|im_end|>) to ten chat prompts, and
  four SFT examples encoded as ../shared/bench/torch_sft.py encodes them (ids, which are trained on)
  and the base model's loss on the single-turn three as one right-padded batch; five LoRA steps on
  that batch as torch_sft.py takes them (OUT_DIR/lora-init: PEFT's initial adapter; the losses);
- OUT_DIR/llama-tiny/, OUT_DIR/qwen2-tiny/: seeded random models built from a config and saved with
  `save_pretrained` (safetensors, with SmolLM2's tokenizer and chat template): a Llama with
  grouped-query attention, an untied output layer and Llama 3 RoPE scaling; a Qwen2 with q/k/v
  biases and a tied output. Each with logits.safetensors: the logits of fixed ids.
"""
import json, os, sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
shared = os.environ.get("EDGETUNE_SHARED", os.path.join(os.path.dirname(root), "shared"))
gdir = os.path.join(shared, "models", "SmolLM2-135M-Instruct-Q4_1")
gfile = "SmolLM2-135M-Instruct.Q4_1.gguf"
torch.manual_seed(0)
torch.set_num_threads(2)

tok = AutoTokenizer.from_pretrained(gdir, gguf_file=gfile)
model = AutoModelForCausalLM.from_pretrained(gdir, gguf_file=gfile, dtype=torch.float32).eval()
end = tok.convert_tokens_to_ids("<|im_end|>")


def chat_ids(messages):
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


prompts = [
    chat_ids([{"role": "user", "content": "What is the capital of France?"}]),
    chat_ids([{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Name a colour of the sky."}]),
    chat_ids([{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": "Count to five."}]),
    tok("The quick brown fox jumps over the lazy dog.")["input_ids"],
]
tensors = {}
with torch.no_grad():
    for i, ids in enumerate(prompts):
        tensors[f"logits.{i}"] = model(torch.tensor([ids])).logits[0].contiguous()
    # The same network in float64: how far float32 rounding alone moves the logits.
    model.to(torch.float64)
    for i, ids in enumerate(prompts):
        tensors[f"logits64.{i}"] = model(torch.tensor([ids])).logits[0].float().contiguous()
    model.to(torch.float32)
save_file(tensors, os.path.join(out, "smollm2.safetensors"))

questions = [
    "What is 2 + 2?", "Write a haiku about the sea.", "Translate 'good morning' into French.", "What colour is grass?",
    "Give me a synonym for happy.", "Name three fruits.", "What is the boiling point of water in Celsius?",
    "Say hello in Spanish.", "Who wrote Romeo and Juliet?", "What is the opposite of cold?",
]
greedy = []
with torch.no_grad():
    for q in questions:
        ids = chat_ids([{"role": "user", "content": q}])
        o = model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False, eos_token_id=end, pad_token_id=tok.pad_token_id)
        new = o[0][len(ids):].tolist()
        greedy.append({"question": q, "prompt_ids": ids, "ids": [t for t in new if t != end], "text": tok.decode(new, skip_special_tokens=True)})

# SFT examples as ../shared/bench/torch_sft.py encodes them: the prompt through the chat template
# with the generation prompt, then the answer's tokens and <|im_end|>; the loss on the answer only.
sft = []
for msgs, answer in [
    ([{"role": "user", "content": "2+2?"}], "4"),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Italy?"}], "Rome, of course."),
    ([{"role": "user", "content": "Classify the text. Answer with the label only.\n\nI lost my card"}], "lost_or_stolen_card"),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Say 'ok' twice."}], " ok ok\n"),
]:
    pr = chat_ids(msgs)
    ans = tok(answer, add_special_tokens=False)["input_ids"] + [end]
    sft.append({"messages": msgs + [{"role": "assistant", "content": answer}], "ids": pr + ans, "train": [False] * len(pr) + [True] * len(ans)})
# The base model's loss on the three single-turn ones as one right-padded batch (labels -100 on
# prompts and padding).
single = sft[:3]
L = max(len(c["ids"]) for c in single)
x = torch.tensor([c["ids"] + [tok.pad_token_id] * (L - len(c["ids"])) for c in single])
y = torch.tensor([[t if m else -100 for t, m in zip(c["ids"], c["train"])] + [-100] * (L - len(c["ids"])) for c in single])
att = torch.tensor([[1] * len(c["ids"]) + [0] * (L - len(c["ids"])) for c in single])
with torch.no_grad():
    sft_loss = model(input_ids=x, attention_mask=att, labels=y).loss.item()
# LoRA SFT as torch_sft.py trains it (PEFT all-linear, r 8, alpha 16, no dropout; AdamW lr 2e-4, no
# weight decay; linear schedule with one warmup step of five): the initial adapter and five losses
# on that batch.
from peft import LoraConfig, get_peft_model
pm = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"))
pm.save_pretrained(os.path.join(out, "lora-init"))
opt = torch.optim.AdamW([q for q in pm.parameters() if q.requires_grad], lr=2e-4, weight_decay=0.0)
total, warm = 5, 1
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
pm.train()
lora_losses = []
for _ in range(total):
    loss = pm(input_ids=x, attention_mask=att, labels=y).loss
    opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    lora_losses.append(loss.item())
json.dump({"prompts": prompts, "greedy": greedy, "sft": sft, "sft_loss": sft_loss, "lora_losses": lora_losses, "pad_id": tok.pad_token_id}, open(os.path.join(out, "smollm2.json"), "w"))


def tiny(cls, cfg, name):
    torch.manual_seed(1)
    m = cls(cfg).eval()
    with torch.no_grad():  # norms away from 1 so that a missing weight shows
        for n, p in m.named_parameters():
            if n.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
    d = os.path.join(out, name)
    m.save_pretrained(d, safe_serialization=True)
    tok.save_pretrained(d)
    ids = torch.tensor([[1, 5, 900, 13, 44, 7, 2000, 31, 8, 8, 3]])
    with torch.no_grad():
        save_file({"ids": ids[0].to(torch.float32), "logits": m(ids).logits[0].contiguous()}, os.path.join(d, "logits.safetensors"))


common = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5)
tiny(LlamaForCausalLM, LlamaConfig(**common, tie_word_embeddings=False, rope_theta=50000.0,
     rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 16}), "llama-tiny")
tiny(Qwen2ForCausalLM, Qwen2Config(**common, tie_word_embeddings=True, rope_theta=10000.0), "qwen2-tiny")
print("wrote", out)
