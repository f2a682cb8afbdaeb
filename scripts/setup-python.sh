#!/usr/bin/env bash
# Creates (once) the Python virtualenv the golden-value and export round-trip tests use:
# PyTorch, torchvision, Pillow, transformers, peft and gguf (llama.cpp's reader) from PyPI, cached outside the clone. Prints the interpreter's path.
set -euo pipefail
venv=${EDGETUNE_VENV:-$HOME/.cache/edgetune/venv}
if ! "$venv/bin/python" -c "import torch, torchvision, PIL, transformers, safetensors, numpy, peft, gguf" >/dev/null 2>&1; then
  echo "setting up $venv (torch, transformers; first time only)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q torch torchvision pillow transformers safetensors numpy peft gguf >&2
fi
echo "$venv/bin/python"
