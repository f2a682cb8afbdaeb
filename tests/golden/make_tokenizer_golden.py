"""Golden token ids for edgetune's WordPiece tokenizer (crate/src/tokenize.rs), computed with transformers.

Re-run from the repository root (the tests read tests/golden/tokenizer.json):
    python tests/golden/make_tokenizer_golden.py [MODEL_DIR]
default MODEL_DIR: ../shared/models/all-MiniLM-L6-v2 (relative to the repository root).

Each case records `ids` (full encoding with [CLS] ... [SEP], no truncation) and `ids_trunc64`
(truncation=True, max_length=64). The texts aim at the corners where a hand-written BERT tokenizer
drifts from Hugging Face's: Unicode cleaning (control, format, private-use chars), accent stripping,
CJK padding, punctuation categories, added/special tokens in the text, and over-long words.
"""
import json, os, sys

import tokenizers
import transformers
from transformers import AutoTokenizer

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
model_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "models", "all-MiniLM-L6-v2")
out_path = os.path.join(root, "tests", "golden", "tokenizer.json")
tok = AutoTokenizer.from_pretrained(model_dir)

long_text = " ".join(
    "The committee reviewed {n} proposals, rejected {m}, and asked for revisions on the rest before Friday.".format(
        n=i, m=i % 7
    )
    for i in range(13)
)  # ~200 words: exercises truncation

cases = [
    # plain English, case, punctuation
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "iPhone McDonald's O'Neill rock'n'roll don't can't won't",
    "state-of-the-art e-mail well-known -- dash—em dash – en dash",
    "Wait... what?!? (really) [yes] {no} <maybe> \"quoted\" 'single'",
    "“Smart quotes” ‘single’ «guillemets» „low“ ‹angle›",
    "!!!???...,,,;;;:::",
    "a_b snake_case CamelCase kebab-case path/to/file.txt C:\\Users\\me",
    "#hashtag @mention $var %percent ^caret &amp *star +plus =eq |pipe ~tilde `tick`",
    "fn main() { println!(\"hi {}\", x[0]); } // comment",
    ":-) ;-) :D <3 ^_^ ¯\\_(ツ)_/¯",
    # numbers, currency, units
    "3.14159 1,000,000 -42 +7 1e-5 0x1F 50% 3/4 12:30pm 2024-01-31",
    "$5.99 €100 £20 ¥500 ₹1,200 ₩3000 ฿12 ¢50 $$$",
    "25°C 100km/h 5kg ½ ¼ ² ³ ×÷ ± ≠ ≤ ≥ ∞ √",
    "©2024 Brand™ Registered® §4 ¶2 • bullet … ellipsis",
    # URLs and e-mail addresses
    "Visit https://www.example.com/path?query=1&b=2#frag now",
    "Mail me at first.last+tag@example.co.uk or admin@localhost",
    # accents and Latin scripts
    "café crème brûlée naïve résumé façade",
    "niño año mañana ¿Qué tal? ¡Hola!",
    "Über Größe Straße Müller ÄÖÜ äöü ß",
    "İstanbul ıi Iİ ǅ ǈ ǋ ﬁ ﬂ Ⅻ ⓐ",
    "Tiếng Việt Łódź Dvořák Ærø Øresund Ångström",
    "e\u0301 a\u0308 n\u0303 (combining marks) Z\u0351\u0358a\u0337l\u0334g\u0322o\u0335",
    # other scripts
    "Ελληνικά ΟΔΟΣ ὀδός Σίσυφος ΣΊΣΥΦΟΣ",
    "Привет, мир! Йошкар-Ола ёлка",
    "مرحبا بالعالم مَرْحَبًا ١٢٣",
    "שָׁלוֹם עולם",
    "हिन्दी नमस्ते दुनिया",
    "สวัสดีครับ",
    "こんにちは世界 がぎぐ カタカナ ｶﾀｶﾅ",
    "我爱北京天安门。你好，世界！",
    "東京で両替はできますか",
    "안녕하세요 세계",
    "中a文b字 𠀀𠀁 a𫠠b 㐀 豈 丽",
    "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ！",
    "𝐀𝐁𝐂 𝓗𝓮𝓵𝓵𝓸 ℌ𝔢𝔩𝔩𝔬",
    # emoji and symbols
    "I love it 😀👍🏽❤️ 🤗 🥲",
    "family 👨‍👩‍👧 flag 🇫🇷 keycap 1️⃣",
    "★☆♥♦ → ← ↑ ↓ ⇒ ✓ ✗",
    # whitespace and invisible characters
    "",
    "   ",
    "a    b\t\tc\n\nd\r\ne",
    "   leading and trailing   ",
    "\t\n\r",
    "non\u00a0breaking\u3000ideographic\u2003em\u2028line\u2029para",
    "zero\u200bwidth\u200cnon\u200djoiner\u2060word\ufeffbom soft\u00adhyphen",
    "control\x00null\x01soh\x07bel\x1bescape\x7fdel\x9fapc",
    "vertical\x0btab form\x0cfeed next\x85line",
    "replacement\ufffdchar private\ue000use\U000f0000 tag\U000e0041 unassigned\u0378x",
    "variation\ufe0fselector a\U000e0100b",
    # special tokens and brackets in text
    "hello [MASK] world",
    "[CLS] already [SEP] here [PAD] [UNK]",
    "[mask] lowercase [cls] is not special",
    "x[UNK]y [MASK]er pre[SEP]",
    "[UNK][UNK] [unused1] [unused999]",
    # long words
    "a" * 99,
    "a" * 100,
    "b" * 101,
    "word " + "x" * 150 + " end",
    "ab" * 60,
    "pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious",
    "Antidisestablishmentarianism " * 3,
    "z" * 2000,
    "é" * 101,
    "ﬁ" * 50 + " " + "中" * 120,
    # truncation
    long_text,
    long_text.upper(),
    "word " * 61,
    "word " * 62,
    "word " * 63,
    "unbelievably " * 30,
    "a, " * 40,
]

out_cases = []
for text in cases:
    full = tok(text)["input_ids"]
    trunc = tok(text, truncation=True, max_length=64)["input_ids"]
    out_cases.append({"text": text, "ids": full, "ids_trunc64": trunc})

golden = {
    "model": os.path.basename(os.path.normpath(model_dir)),
    "transformers": transformers.__version__,
    "tokenizers": tokenizers.__version__,
    "tokenizer_class": type(tok).__name__,
    "cases": out_cases,
}
with open(out_path, "w", encoding="utf-8") as f:
    json.dump(golden, f, ensure_ascii=True, indent=1)
    f.write("\n")
print(f"wrote {len(out_cases)} cases to {out_path}")
