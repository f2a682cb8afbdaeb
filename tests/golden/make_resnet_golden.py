"""Golden values for tests/image_golden.rs: ResNet forward (eval and train-mode batch norm),
running-statistics updates and gradients, computed by PyTorch.

    python tests/golden/make_resnet_golden.py                  # -> tests/golden/resnet20.json
    python tests/golden/make_resnet_golden.py --torchvision DIR  # -> DIR/{resnet18,bottleneck}/

Run it from the repository root with the interpreter printed by `bash scripts/setup-python.sh`.
The first form uses the pre-trained CIFAR ResNet-20 in shared/models (module as in
shared/bench/torch_image.py) and is committed. The second builds torchvision ResNets with random
weights (seed 0, batch-norm statistics randomised so evaluation really uses them) and writes their
safetensors files and expected values; the Rust test runs it into a temporary directory.

Inputs come from a closed formula the Rust test repeats, so no input tensor is stored:
x[n, c, h, w] = sin(0.1 (n+1)(h+1) + 0.07 (c+1)(w+1)) * (1 + 0.1 n), computed in float64, then float32.
"""
import argparse, copy, json, os
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from safetensors.torch import load_file, save_file

torch.set_num_threads(2)


def inputs(n, size):
    b, c, h, w = np.meshgrid(np.arange(n), np.arange(3), np.arange(size), np.arange(size), indexing="ij")
    x = np.sin(0.1 * (b + 1) * (h + 1) + 0.07 * (c + 1) * (w + 1)) * (1 + 0.1 * b)
    return torch.from_numpy(x.astype(np.float32))


class Block(nn.Module):
    def __init__(s, i, o, stride):
        super().__init__()
        s.conv1 = nn.Conv2d(i, o, 3, stride, 1, bias=False); s.bn1 = nn.BatchNorm2d(o)
        s.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); s.bn2 = nn.BatchNorm2d(o)
        s.pad = (o - i) // 2 if (stride != 1 or i != o) else None

    def forward(s, x):
        out = F.relu(s.bn1(s.conv1(x))); out = s.bn2(s.conv2(out))
        sc = x if s.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, s.pad, s.pad))
        return F.relu(out + sc)


class ResNet20(nn.Module):
    def __init__(s, n=10):
        super().__init__()
        s.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False); s.bn1 = nn.BatchNorm2d(16)
        def layer(i, o, st): return nn.Sequential(Block(i, o, st), Block(o, o, 1), Block(o, o, 1))
        s.layer1 = layer(16, 16, 1); s.layer2 = layer(16, 32, 2); s.layer3 = layer(32, 64, 2)
        s.linear = nn.Linear(64, n)

    def forward(s, x):
        x = F.relu(s.bn1(s.conv1(x))); x = s.layer3(s.layer2(s.layer1(x)))
        return s.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def rows(t):
    return [flat(r) for r in t.detach()]


def train_grads(m, x, names):
    """One train-mode forward + cross-entropy backward (targets n % classes)."""
    m.train()
    logits = m(x)
    targets = torch.arange(x.shape[0]) % logits.shape[1]
    loss = F.cross_entropy(logits, targets)
    loss.backward()
    sd = dict(m.named_parameters())
    return logits, targets, loss, {n: sd[n].grad for n in names}


def golden(m, x, stats, grads):
    """Eval logits, then one train-mode forward + cross-entropy backward: its logits, loss, the
    updated running statistics of `stats` and the gradients of `grads` — also in float64, because
    some of these gradients are ill-conditioned (batch-norm backward subtracts nearly equal means):
    PyTorch's own float32 values differ from float64 by up to ~2e-3 relative (ResNet-20 conv1.weight;
    ~2e-2 for layer2.2.conv2.weight), so an implementation is judged by its distance to the
    float64 values, against PyTorch float32's."""
    m64 = copy.deepcopy(m).double()
    m.eval()
    with torch.no_grad():
        eval_logits = m(x)
    logits, targets, loss, g32 = train_grads(m, x, grads)
    _, _, _, g64 = train_grads(m64, x.double(), grads)
    buf = dict(m.named_buffers())
    return {
        "batch": x.shape[0], "size": x.shape[-1],
        "eval_logits": rows(eval_logits),
        "train_logits": rows(logits),
        "targets": targets.tolist(),
        "loss": loss.item(),
        "running": {f"{bn}.{k}": flat(buf[f"{bn}.{k}"]) for bn in stats for k in ("running_mean", "running_var")},
        "grads": {name: flat(g) for name, g in g32.items()},
        "grads_f64": {name: flat(g) for name, g in g64.items()},
        "grads_f32_error": {n: ((g32[n].double() - g64[n]).abs().max() / g64[n].abs().max()).item() for n in grads},
    }


def resnet20(root):
    m = ResNet20(10)
    sd = load_file(os.path.join(root, "../shared/models/resnet20-cifar10/model.safetensors"))
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    g = golden(m, inputs(16, 32), ["bn1", "layer3.2.bn2"], ["conv1.weight", "layer3.2.bn2.weight", "linear.weight"])
    out = os.path.join(root, "tests/golden/resnet20.json")
    with open(out, "w") as f:
        json.dump({"script": "tests/golden/make_resnet_golden.py", "torch": torch.__version__, **g}, f)
    print(f"wrote {out}")


def randomise_bn(m):
    """Non-trivial affine parameters and running statistics (fresh BN layers are identities)."""
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5); mod.bias.normal_(0, 0.1)
                mod.running_mean.normal_(0, 0.2); mod.running_var.uniform_(0.5, 2.0)


def torchvision_models(out):
    from torchvision.models.resnet import Bottleneck, ResNet, resnet18
    torch.manual_seed(0)
    nets = {
        "resnet18": (resnet18(num_classes=7), "layer4.1.bn2"),
        # Bottleneck blocks with every shortcut a projection, at a twelfth of ResNet-50's size.
        "bottleneck": (ResNet(Bottleneck, [1, 1, 1, 1], num_classes=5), "layer4.0.bn3"),
    }
    for name, (m, last_bn) in nets.items():
        randomise_bn(m)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        # Saved before the train-mode forward moves the running statistics; includes the int64
        # num_batches_tracked tensors the loader must skip.
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(d, "model.safetensors"))
        g = golden(m, inputs(4, 64), ["bn1", last_bn, "layer2.0.downsample.1"], ["conv1.weight", "fc.weight"])
        with open(os.path.join(d, "golden.json"), "w") as f:
            json.dump(g, f)
        print(f"wrote {d}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--torchvision", metavar="DIR")
    a = p.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if a.torchvision:
        torchvision_models(a.torchvision)
    else:
        resnet20(root)
