"""Loads an edgetune image-model export in PyTorch.

    from modeling_resnet import load
    model = load("path/to/export")          # torch.nn.Module in eval mode, weights loaded strictly
    logits = model(x)                       # x: [batch, 3, S, S], normalised as config.json says

The directory holds config.json (architecture, image_size, image_mean, image_std, id2label) and
model.safetensors in the upstream tensor names. The CIFAR family ("resnet-cifar": ResNet-20/32/44/56
with option-A shortcuts, He et al. 2016) is defined below; the torchvision family ("resnet") is
torchvision's own resnet18/34/50 with `fc` resized to the classes.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file


class BasicBlockA(nn.Module):
    def __init__(self, inp, out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.pad = (out - inp) // 2 if (stride != 1 or inp != out) else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        sc = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(y + sc)


class CifarResNet(nn.Module):
    def __init__(self, blocks, num_classes, widths=(16, 32, 64)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, inp = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(*[BasicBlockA(inp if j == 0 else w, w, stride if j == 0 else 1) for j in range(blocks)]))
            inp = w
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


def build(config):
    n = max(int(config.get("num_labels", 1)), 1)
    depths = config["depths"]
    if config["model_type"] == "resnet-cifar":
        return CifarResNet(depths[0], n, tuple(config.get("widths", (16, 32, 64))))
    import torchvision
    arch = {(2, 2, 2, 2, "basic"): "resnet18", (3, 4, 6, 3, "basic"): "resnet34", (3, 4, 6, 3, "bottleneck"): "resnet50"}
    name = arch.get((*depths, config["block"]))
    if name is None:
        raise ValueError(f"no torchvision ResNet has depths {depths} with {config['block']} blocks")
    return getattr(torchvision.models, name)(num_classes=n)


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
