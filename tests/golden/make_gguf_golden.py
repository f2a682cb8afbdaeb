"""GGUF golden values from gguf-py (llama.cpp's own Python package), for tests/gguf.rs:
    python tests/golden/make_gguf_golden.py OUT_DIR

Writes
- OUT_DIR/random.gguf: one tensor of every type edgetune reads (F32, F16, BF16, Q4_0, Q4_1, Q5_0,
  Q5_1, Q8_0, Q4_K, Q5_K, Q6_K), each of shape [3, 512] made of seeded random blocks (random
  bytes, with the f16 scale fields set to finite values), and a metadata entry of every value type
  (integers of each width, floats, a bool, a string, arrays of numbers and of strings);
- OUT_DIR/random.json: each tensor's values as gguf-py's `quants.dequantize` gives them, its
  PyTorch shape, and the metadata as gguf-py reads it;
- OUT_DIR/smollm2.json: for ../shared/models/SmolLM2-135M-Instruct-Q4_1 (the generative default),
  the architecture keys, the tokenizer's size and a few tokens, the chat template, and three
  tensors' values (the Q8_0 token embedding's first rows, a Q4_1 attention weight, an F32 norm).
"""
import json, os, sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
rng = np.random.default_rng(7)
ROWS, COLS = 3, 512

# Byte offsets of each type's f16 scale fields within a block (random bytes there could be NaN).
SCALES = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}


def random_blocks(t):
    n_per_block, size = gguf.GGML_QUANT_SIZES[t]
    blocks = rng.integers(0, 256, size=(ROWS * COLS // n_per_block, size), dtype=np.uint8)
    for at in SCALES[t]:
        d = rng.uniform(-0.05, 0.05, size=blocks.shape[0]).astype(np.float16)
        blocks[:, at:at + 2] = d.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(ROWS, -1)


w = gguf.GGUFWriter(os.path.join(out, "random.gguf"), arch="llama")
w.add_uint8("test.u8", 200)
w.add_int8("test.i8", -100)
w.add_uint16("test.u16", 60000)
w.add_int16("test.i16", -30000)
w.add_uint32("test.u32", 4_000_000_000)
w.add_int32("test.i32", -2_000_000_000)
w.add_uint64("test.u64", 2**40 + 3)
w.add_int64("test.i64", -(2**40))
w.add_float32("test.f32", 0.25)
w.add_float64("test.f64", 1e-300)
w.add_bool("test.bool", True)
w.add_string("test.string", "Привет, 世界 😀")
w.add_array("test.floats", [1.5, -2.0, 3.25])
w.add_array("test.strings", ["a", "", "ç"])
expected = {}
for t in [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K]:
    name = f"t.{t.name}"
    if t in (T.F32, T.F16):
        values = rng.standard_normal((ROWS, COLS)).astype(np.float32 if t == T.F32 else np.float16)
        w.add_tensor(name, values)
        raw, qtype = values.view(np.uint8), t
    elif t == T.BF16:
        bits = (rng.standard_normal((ROWS, COLS)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        raw, qtype = bits.view(np.uint8).reshape(ROWS, -1), t
        w.add_tensor(name, raw, raw_dtype=t)
    else:
        raw, qtype = random_blocks(t), t
        w.add_tensor(name, raw, raw_dtype=t)
    expected[name] = {"type": t.name, "shape": [ROWS, COLS], "values": dequantize(raw, qtype).astype(np.float32).reshape(-1).tolist()}
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()


def plain(v):
    return v.tolist() if hasattr(v, "tolist") else v


r = gguf.GGUFReader(os.path.join(out, "random.gguf"))
meta = {k: plain(f.contents()) for k, f in r.fields.items() if k.startswith("test.")}
json.dump({"tensors": expected, "meta": meta}, open(os.path.join(out, "random.json"), "w"))

path = os.path.join(root, "..", "shared", "models", "SmolLM2-135M-Instruct-Q4_1", "SmolLM2-135M-Instruct.Q4_1.gguf")
r = gguf.GGUFReader(path)
f = lambda k: plain(r.fields[k].contents())
tensors = {t.name: t for t in r.tensors}
picked = {}
for name, rows in [("token_embd.weight", 4), ("blk.0.attn_q.weight", None), ("blk.0.attn_norm.weight", None)]:
    t = tensors[name]
    values = dequantize(t.data, t.tensor_type).astype(np.float32)
    shape = [int(d) for d in reversed(t.shape)]
    values = values.reshape(shape)
    if rows:
        values = values[:rows]
    picked[name] = {"type": t.tensor_type.name, "shape": shape, "values": values.reshape(-1).tolist()}
tokens = f("tokenizer.ggml.tokens")
# Token ids as transformers reads the file's tokenizer: the BERT golden texts, the multilingual
# ones, chat-formatted text with special tokens, numbers and whitespace runs.
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
texts = [c["text"] for c in json.load(open(os.path.join(root, "tests", "golden", "tokenizer.json")))["cases"]]
texts += [c["text"] for c in json.load(open(os.path.join(root, "tests", "golden", "multilingual.json")))["tokenizers_tested"]["bpe"]["cases"]]
texts += [
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>",
    "In 2024, 1,234,567.89 people paid $3.50 each: 3.14159 × 10^6.",
    "tabs\tand\n\nnewlines   and  spaces ",
    "<|endoftext|>text right after a special token<|im_end|>",
]
tokenized = [{"text": t, "ids": tok(t, add_special_tokens=True).input_ids} for t in texts]
json.dump({
    "architecture": f("general.architecture"),
    "block_count": f("llama.block_count"),
    "embedding_length": f("llama.embedding_length"),
    "head_count_kv": f("llama.attention.head_count_kv"),
    "rope_freq_base": f("llama.rope.freq_base"),
    "rms_eps": f("llama.attention.layer_norm_rms_epsilon"),
    "tokenizer_model": f("tokenizer.ggml.model"),
    "tokens": len(tokens),
    "first_tokens": tokens[:5],
    "merges": len(f("tokenizer.ggml.merges")),
    "chat_template": f("tokenizer.chat_template"),
    "tokenized": tokenized,
    "special_ids": [f("tokenizer.ggml.bos_token_id"), f("tokenizer.ggml.eos_token_id"), f("tokenizer.ggml.padding_token_id")],
    "tensor_count": len(r.tensors),
    "tensors": picked,
}, open(os.path.join(out, "smollm2.json"), "w"))
