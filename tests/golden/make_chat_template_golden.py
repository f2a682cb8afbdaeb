"""Chat templates rendered by transformers' `apply_chat_template` (jinja2 with its settings and
helpers), for tests/chat_template.rs:
    python tests/golden/make_chat_template_golden.py OUT.json

Templates: SmolLM2-135M-Instruct's own (ChatML, read from ../shared's GGUF file) and the ones in
tests/golden/chat_templates/ written in the styles models ship (Llama 3: `bos_token`, `| trim`,
whitespace control; Mistral: `raise_exception` on roles that do not alternate, `.strip()`; Qwen:
a default system prompt, attribute access, undefined `tool_calls`; and one exercising namespace,
loop controls, `tojson`, `.items()`, `.upper()`, `.replace()`, `.split()`). Each is rendered for
several conversations with and without the generation prompt; a refusal is recorded as the
message it raises. bos/eos are SmolLM2's (`<|im_start|>`, `<|im_end|>`).
"""
import json, os, sys

from transformers import AutoTokenizer

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
d = os.path.join(root, "..", "shared", "models", "SmolLM2-135M-Instruct-Q4_1")
tok = AutoTokenizer.from_pretrained(d, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
templates = {"smollm2": tok.chat_template}
folder = os.path.join(root, "tests", "golden", "chat_templates")
for name in sorted(os.listdir(folder)):
    templates[name.removesuffix(".jinja")] = open(os.path.join(folder, name)).read()

conversations = [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}],
    [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "  What is the capital of France?  "},
     {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And of Italy? <b>\"quoted\"</b> & more"}],
    [{"role": "user", "content": "Привет 👋\nline two\ttab"}],
    [{"role": "assistant", "content": "I speak first"}, {"role": "user", "content": "then me"}],
]

cases = []
for name, template in templates.items():
    for i, messages in enumerate(conversations):
        for gen in (False, True):
            try:
                text, error = tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=gen), None
            except Exception as e:  # jinja2's TemplateError from raise_exception
                text, error = None, str(e)
            cases.append({"template": name, "conversation": i, "generation_prompt": gen, "text": text, "error": error})
json.dump({"bos": tok.bos_token, "eos": tok.eos_token, "templates": templates, "conversations": conversations, "cases": cases},
          open(sys.argv[1], "w"), ensure_ascii=False, indent=1)
