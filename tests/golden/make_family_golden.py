"""Small random models of the families edgetune adds beside BERT and ResNet, and their golden values,
computed with PyTorch + transformers (eval mode, and training with dropout off).

No such model can be downloaded here, so each one is built from a config, seeded, and saved as a
Hugging Face model folder (config.json, model.safetensors, tokenizer or preprocessor files):
    python tests/golden/make_family_golden.py OUT_DIR [FAMILY ...]
FAMILY: distilbert roberta xlm-roberta mpnet vit mobilenet_v2 (default: all). For each it writes
OUT_DIR/FAMILY/ (the model folder) and OUT_DIR/FAMILY.json:
- `inputs`: token ids and attention mask of a padded batch (text) or pixel values (images);
- `eval_logits`: the classifier's logits in eval mode; `eval_features`: what the encoder hands
  the head (the first token's last hidden state for the RoBERTa-style heads, DistilBERT's and
  ViT's; BERT-style pooling is not used by these heads);
- `train_losses`: cross-entropy before each of five AdamW steps (lr 1e-3, betas 0.9/0.999,
  eps 1e-8, weight decay 0.01 on all but biases and LayerNorm weights, no schedule, no clipping)
  on that batch, with every dropout probability 0.

MobileNetV2 is torchvision's with the real ImageNet weights (../shared/models/mobilenet_v2-imagenet)
and a seeded 3-class head, saved as an edgetune image export (config.json with width_mult and
preprocessing, torchvision's tensor names); its features are the pooled 1,280 channels.

Text models use the tokenizers in tests/golden/tokenizers (byte-level BPE for RoBERTa, Unigram for
XLM-RoBERTa) or ../shared/models/all-MiniLM-L6-v2's WordPiece vocabulary (DistilBERT, MPNet).
"""
import json, os, sys

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
minilm = os.path.join(root, "..", "shared", "models", "all-MiniLM-L6-v2")
tokenizers_dir = os.path.join(root, "tests", "golden", "tokenizers")
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
LABELS = {0: "billing", 1: "card", 2: "travel"}
SENTENCES = [
    "My card was declined at the supermarket.",
    "Привет! Где моя карта?",
    "Hi",
    "我的银行卡被冻结了，请帮我看看。 😀",
]
TARGETS = [1, 1, 0, 2]


def text_config(family, vocab_size, pad_token_id):
    c = transformers.AutoConfig.for_model(family)
    if family == "distilbert":
        c.update(dict(dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64))
    else:
        c.update(dict(SMALL, max_position_embeddings=66, **({} if family == "mpnet" else {"type_vocab_size": 1})))
    c.update(dict(vocab_size=vocab_size, pad_token_id=pad_token_id, id2label=LABELS, label2id={v: k for k, v in LABELS.items()}))
    return c


def no_dropout(model):
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0


def adamw_losses(model, inputs, targets):
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n or "layernorm" in n)]
    rest = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n or "layernorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    model.train()
    no_dropout(model)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(**inputs).logits, targets)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


def first_token_features(model, inputs):
    base = getattr(model, model.base_model_prefix)
    out = base(**inputs)
    return out.last_hidden_state[:, 0, :]  # [batch, hidden]


def make_text(family, out):
    tok_dir = {"roberta": os.path.join(tokenizers_dir, "bpe"), "xlm-roberta": os.path.join(tokenizers_dir, "unigram")}.get(family, minilm)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(text_config(family, len(tok), tok.pad_token_id))
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    inputs = tok(SENTENCES, padding=True, return_tensors="pt")
    inputs.pop("token_type_ids", None)
    model.eval()
    with torch.no_grad():
        logits = model(**inputs).logits
        features = first_token_features(model, inputs)
    return {
        "inputs": {"input_ids": inputs["input_ids"].tolist(), "attention_mask": inputs["attention_mask"].tolist()},
        "targets": TARGETS,
        "eval_logits": logits.tolist(),
        "eval_features": features.tolist(),
        "train_losses": adamw_losses(model, dict(inputs), torch.tensor(TARGETS)),
    }


def make_vit(out):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, num_channels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()}, **SMALL)
    model = ViTForImageClassification(config)
    model.save_pretrained(out, safe_serialization=True)
    ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(out)
    g = torch.Generator().manual_seed(1)
    pixels = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1  # already normalised
    model.eval()
    with torch.no_grad():
        logits = model(pixel_values=pixels).logits
        features = model.vit(pixel_values=pixels).last_hidden_state[:, 0, :]
    return {
        "inputs": {"pixel_values": pixels.tolist()},
        "targets": TARGETS,
        "eval_logits": logits.tolist(),
        "eval_features": features.tolist(),
        "train_losses": adamw_losses(model, {"pixel_values": pixels}, torch.tensor(TARGETS)),
    }


def make_mobilenet(out):
    """Batch 8 at 96×96: with fewer values per batch-norm channel, five AdamW steps at lr 1e-3
    are ill-conditioned enough that PyTorch's own float32 runs differ by 1e-3 between thread
    counts. The losses are also computed in float64, the reference a float32 run is judged by."""
    import copy
    import torchvision
    from safetensors.torch import load_file, save_file

    model = torchvision.models.mobilenet_v2(weights=None)
    model.load_state_dict(load_file(os.path.join(root, "..", "shared", "models", "mobilenet_v2-imagenet", "model.safetensors")))
    torch.manual_seed(0)
    model.classifier[1] = torch.nn.Linear(1280, len(LABELS))
    state = {k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file(state, os.path.join(out, "model.safetensors"))
    config = {"model_type": "mobilenet_v2", "width_mult": 1.0, "image_size": 96, "center_crop": False,
              "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
              "id2label": {str(k): v for k, v in LABELS.items()}, "num_labels": len(LABELS)}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f)
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(8, 3, 96, 96, generator=g)  # already normalised
    targets = torch.tensor(TARGETS * 2)
    model.eval()
    with torch.no_grad():
        features = torch.nn.functional.adaptive_avg_pool2d(model.features(pixels), 1).flatten(1)
        logits = model(pixels)

    def losses(m, x):
        # Batch-norm weights and biases and every bias are not weight-decayed (as edgetune's
        # optimiser treats norms and biases).
        norms = {n for n, mod in m.named_modules() if isinstance(mod, torch.nn.BatchNorm2d)}
        no_decay = lambda n: n.endswith("bias") or n.rsplit(".", 1)[0] in norms
        decay = [p for n, p in m.named_parameters() if not no_decay(n)]
        rest = [p for n, p in m.named_parameters() if no_decay(n)]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        m.train()
        no_dropout(m)
        out = []
        for _ in range(5):
            loss = torch.nn.functional.cross_entropy(m(x), targets)
            out.append(loss.item())
            opt.zero_grad()
            loss.backward()
            opt.step()
        return out

    m64 = copy.deepcopy(model).double()
    return {
        "inputs": {"pixel_values": pixels.tolist()},
        "targets": targets.tolist(),
        "eval_logits": logits.tolist(),
        "eval_features": features.tolist(),
        "train_losses": losses(model, pixels),
        "train_losses_f64": losses(m64, pixels.double()),
    }


def main():
    out_dir = sys.argv[1]
    families = sys.argv[2:] or ["distilbert", "roberta", "xlm-roberta", "mpnet", "vit", "mobilenet_v2"]
    torch.set_num_threads(1)
    for family in families:
        out = os.path.join(out_dir, family)
        os.makedirs(out, exist_ok=True)
        golden = {"vit": make_vit, "mobilenet_v2": make_mobilenet}.get(family, lambda o: make_text(family, o))(out)
        golden.update(family=family, transformers=transformers.__version__, torch=torch.__version__)
        with open(os.path.join(out_dir, f"{family}.json"), "w", encoding="utf-8") as f:
            json.dump(golden, f)
        print(family, "losses", [round(x, 5) for x in golden["train_losses"]])


if __name__ == "__main__":
    main()
