"""Golden values for edgetune's BERT encoder and training step, computed with PyTorch + transformers.

Re-run from the repository root (the tests read tests/golden/model.json):
    python tests/golden/make_model_golden.py [MODEL_DIR] [TRAIN_CSV]
defaults: ../shared/models/all-MiniLM-L6-v2 and ../shared/data/banking77/train.csv.

It records, for edgetune's tests to match:
- `embeddings`: token ids, attention masks and mean-pooled last hidden states of a padded batch (eval mode);
- `train_sgd`: the same five steps with SGD (momentum 0.9, L2 weight decay);
- `train`: five AdamW steps on one fixed batch (mean pooling + linear head, dropout off, decay off for
  biases and LayerNorm weights as Hugging Face's Trainer does, linear warmup then linear decay, global
  gradient-norm clipping at 1.0), with the head's initial weights, and the loss before each step.
"""
import csv, json, sys
import torch
from transformers import AutoModel, AutoTokenizer

model_dir = sys.argv[1] if len(sys.argv) > 1 else "../shared/models/all-MiniLM-L6-v2"
train_csv = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/banking77/train.csv"
torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(model_dir)
enc = AutoModel.from_pretrained(model_dir)

def mean_pool(batch):
    h = enc(**batch).last_hidden_state                     # [B, S, H]
    m = batch["attention_mask"].unsqueeze(-1).to(h.dtype)  # [B, S, 1]
    return (h * m).sum(1) / m.sum(1).clamp(min=1e-9)

sentences = [
    "I am still waiting on my card?",
    "What can I do if my card still hasn't arrived after 2 weeks?",
    "Hi",
    "Crème brûlée costs €4.50 at the café; is that too much for a Tuesday afternoon treat?",
    "The quick brown fox jumps over the lazy dog, again and again, until the dog finally wakes up and "
    "chases the fox across the field, over the hill and far away into the forest beyond the river.",
    "",
    "ATM withdrawal declined!!! why???",
    "東京で両替はできますか",
]
enc.eval()
with torch.no_grad():
    b = tok(sentences, padding=True, truncation=True, max_length=64, return_tensors="pt")
    pooled = mean_pool(b)
embeddings = {"max_length": 64, "ids": b["input_ids"].tolist(), "mask": b["attention_mask"].tolist(),
              "pooled": pooled.tolist()}

# A fixed batch: every 1250th row of banking77's train.csv (8 rows, several intents), labels numbered in order seen.
with open(train_csv, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))[::1250][:8]
texts, labels, names = [], [], []
for r in rows:
    if r["category"] not in names:
        names.append(r["category"])
    texts.append(r["text"]); labels.append(names.index(r["category"]))
num_labels = max(labels) + 1
hidden = enc.config.hidden_size
head = torch.nn.Linear(hidden, max(num_labels, 3))
cfg = {"lr": 5e-5, "head_lr": 1e-3, "weight_decay": 0.01, "warmup": 2, "total": 10, "clip": 1.0,
       "betas": [0.9, 0.999], "eps": 1e-8}
head_w0 = head.weight.detach().clone(); head_b0 = head.bias.detach().clone()

def no_decay(name):
    return name.endswith("bias") or "LayerNorm" in name

def run_steps(make_opt):
    """Five steps from the same starting weights; returns the losses and gradient norms."""
    torch.manual_seed(0)
    enc_state = {k: v.clone() for k, v in enc.state_dict().items()}
    head.weight.data.copy_(head_w0); head.bias.data.copy_(head_b0)
    groups = []
    for mod, lr, prefix in ((enc, cfg["lr"], ""), (head, cfg["head_lr"], "head.")):
        named = list(mod.named_parameters())
        groups.append({"params": [p for n, p in named if not no_decay(n)], "lr": lr, "weight_decay": cfg["weight_decay"]})
        groups.append({"params": [p for n, p in named if no_decay(n)], "lr": lr, "weight_decay": 0.0})
    opt = make_opt(groups)
    warm, total = cfg["warmup"], cfg["total"]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    losses, grad_norms = [], []
    for step in range(5):
        loss = torch.nn.functional.cross_entropy(head(mean_pool(batch)), y)
        opt.zero_grad(); loss.backward()
        params = [p for g in groups for p in g["params"]]
        grad_norms.append(float(torch.nn.utils.clip_grad_norm_(params, cfg["clip"])))
        opt.step(); sched.step()
        losses.append(loss.item())
    enc.load_state_dict(enc_state)
    return losses, grad_norms

batch = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
y = torch.tensor(labels)
enc.eval()  # dropout off so the steps are deterministic
sgd_cfg = {"lr": 1e-2, "head_lr": 1e-1, "momentum": 0.9}
def make_sgd(groups):
    for g in groups:
        g["lr"] = sgd_cfg["lr"] if g["lr"] == cfg["lr"] else sgd_cfg["head_lr"]
    return torch.optim.SGD(groups, momentum=sgd_cfg["momentum"])
sgd_losses, sgd_norms = run_steps(make_sgd)
losses, grad_norms = run_steps(lambda groups: torch.optim.AdamW(groups, betas=tuple(cfg["betas"]), eps=cfg["eps"]))
train = dict(cfg, texts=texts, labels=labels, num_labels=head.out_features, max_length=64,
             ids=batch["input_ids"].tolist(), mask=batch["attention_mask"].tolist(),
             head_weight=head_w0.tolist(), head_bias=head_b0.tolist(), losses=losses, grad_norms=grad_norms)
train_sgd = dict(sgd_cfg, losses=sgd_losses, grad_norms=sgd_norms)
out = {"model": model_dir, "torch": torch.__version__, "embeddings": embeddings, "train": train, "train_sgd": train_sgd}
with open("tests/golden/model.json", "w") as f:
    json.dump(out, f)
print("adamw losses", losses, "grad norms", grad_norms)
print("sgd losses", sgd_losses, "grad norms", sgd_norms)
