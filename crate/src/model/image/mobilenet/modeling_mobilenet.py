"""Loads an edgetune MobileNetV2 export in PyTorch: torchvision's own `mobilenet_v2`.

    from modeling_mobilenet import load
    model = load("path/to/export")          # torch.nn.Module in eval mode, weights loaded strictly
    logits = model(x)                       # x: [batch, 3, S, S], normalised as config.json says

The directory holds config.json (width_mult, image_size, center_crop, image_mean, image_std,
id2label) and model.safetensors in torchvision's tensor names (`features.N...`, `classifier.1`).
"""
import json
import os

import torch
import torchvision
from safetensors.torch import load_file


def build(config):
    n = max(int(config.get("num_labels", len(config.get("id2label", {})) or 1)), 1)
    return torchvision.models.mobilenet_v2(weights=None, num_classes=n, width_mult=float(config.get("width_mult", 1.0)))


def load(directory):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    model = build(config)
    state = load_file(os.path.join(directory, "model.safetensors"))
    # edgetune does not count batches: start the counters at zero, as a fresh BatchNorm does.
    for k in list(model.state_dict()):
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.tensor(0, dtype=torch.long)
    model.load_state_dict(state, strict=True)
    return model.eval()
