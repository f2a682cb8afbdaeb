"""Golden token ids for the non-BERT tokenizers edgetune reads (crate/src/tokenize.rs): a byte-level
BPE (RoBERTa's kind: GPT-2 byte mapping, `<s> $A </s>`) and a Unigram (XLM-RoBERTa's kind:
whitespace split, Metaspace `▁`, `<s> $A </s>`), on texts in seven scripts and emoji, computed with
transformers' AutoTokenizer.

No such tokenizer can be downloaded here, so this script trains both, small and seeded, with the
`tokenizers` library on the corpus below and writes them as a Hugging Face model folder would
hold them, with the pipeline transformers 5's RobertaTokenizer and XLMRobertaTokenizer build
(those classes rebuild the pipeline around the file's vocabulary, so a tokenizer.json written
any other way would test transformers' rebuild rather than the file). `<mask>` swallows the
space before it (lstrip), as in the real roberta-base and xlm-roberta-base files. Re-run from the repository root (the tests read what it writes):
    python tests/golden/make_multilingual_golden.py
writes tests/golden/tokenizers/{bpe,unigram}/{tokenizer.json,tokenizer_config.json} and
tests/golden/multilingual.json.
"""
import json, os

import tokenizers
import transformers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out_dir = os.path.join(root, "tests", "golden")

# The training corpus: everyday sentences in each script, so both tokenizers learn real pieces.
corpus = [
    "The quick brown fox jumps over the lazy dog.",
    "Please transfer 250 euros to my savings account before Friday.",
    "My card was declined at the supermarket, can you check why?",
    "I would like to change the PIN of my debit card.",
    "Le petit chat dort sur le canapé pendant que la pluie tombe.",
    "Où est la gare la plus proche ? Je voudrais acheter un billet.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Können Sie mir bitte helfen? Meine Überweisung ist nicht angekommen.",
    "El niño come una manzana en el jardín de su abuela.",
    "¿Cuándo llegará mi nueva tarjeta de crédito?",
    "Tiếng Việt là ngôn ngữ chính thức của Việt Nam.",
    "Привет, как дела? Я хочу перевести деньги на другой счёт.",
    "Москва — столица России, крупнейший город страны.",
    "Моя карта заблокирована, помогите пожалуйста.",
    "Καλημέρα, τι κάνεις; Θέλω να ανοίξω έναν λογαριασμό.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "مرحبا، كيف حالك؟ أريد تحويل المال إلى حساب آخر.",
    "القاهرة هي عاصمة مصر وأكبر مدنها.",
    "بطاقتي لا تعمل في الصراف الآلي.",
    "我想把钱转到我的储蓄账户。",
    "北京是中国的首都，也是一座历史悠久的城市。",
    "我的银行卡被冻结了，请帮我看看。",
    "東京は日本の首都です。今日はいい天気ですね。",
    "カードが使えません。確認してください。",
    "안녕하세요, 계좌 이체를 하고 싶습니다.",
    "서울은 대한민국의 수도입니다.",
    "नमस्ते, मैं अपने खाते में पैसे जमा करना चाहता हूँ।",
    "दिल्ली भारत की राजधानी है।",
    "मेरा कार्ड काम नहीं कर रहा है।",
    "I love this app 😀👍 but the update broke my login 😢",
    "Great service ❤️🎉 thanks! 🙏",
    "Order #12345 shipped on 2024-03-15 for $49.99.",
]
corpus = corpus * 20

bpe = Tokenizer(models.BPE())
bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
bpe.decoder = decoders.ByteLevel()
bpe.train_from_iterator(
    corpus,
    trainers.BpeTrainer(
        vocab_size=900,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    ),
)
bpe.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)

uni = Tokenizer(models.Unigram())
uni.pre_tokenizer = pre_tokenizers.Sequence(
    [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
)
uni.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
uni.train_from_iterator(
    corpus,
    trainers.UnigramTrainer(vocab_size=700, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False),
)
uni.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
uni.post_processor = processors.TemplateProcessing(
    single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
)

specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>", "cls_token": "<s>",
            "pad_token": "<pad>", "mask_token": "<mask>", "model_max_length": 512}
folders = {"bpe": (bpe, "RobertaTokenizer"), "unigram": (uni, "XLMRobertaTokenizer")}
for name, (tok, cls) in folders.items():
    d = os.path.join(out_dir, "tokenizers", name)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": cls, **specials}, f, indent=1)
        f.write("\n")

cases = [
    "Hello, world! How are you today?",
    "  leading and   repeated   spaces  ",
    "",
    "café crème brûlée naïve résumé Ångström Łódź",
    "Ｆｕｌｌｗｉｄｔｈ ﬁ ① ㎏ (no normalizer: these stay)",
    "Привет, мир! Ёлка и йогурт.",
    "Καλημέρα κόσμε, ΟΔΟΣ ὀδός",
    "مرحبا بالعالم ١٢٣ مَرْحَبًا",
    "我爱北京天安门。你好，世界！",
    "東京で両替はできますか？カタカナ ｶﾀｶﾅ",
    "안녕하세요 세계",
    "नमस्ते दुनिया, हिन्दी",
    "emoji 😀👍🏽❤️ family 👨‍👩‍👧 flag 🇫🇷 keycap 1️⃣",
    "mixed: card 卡 карта κάρτα بطاقة कार्ड 카드 🃏",
    "tabs\tand\nnew lines\r\nhere",
    "a <mask> in the text, and <s> and </s>",
    "unseen: ẞ ǅ ꙮ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u200b zero width",
    "numbers 3.14159 1,000,000 -42 $5.99 €100",
    "Please transfer 250 euros to my savings account before Friday, then tell me the balance of every account I hold.",
    "Москва — столица России, крупнейший город страны, и я хочу перевести деньги на другой счёт сегодня.",
]

def raw_ids(name, text):
    return Tokenizer.from_file(os.path.join(out_dir, "tokenizers", name, "tokenizer.json")).encode(text).ids


golden = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__, "tokenizers_tested": {}}
for name in folders:
    tok = AutoTokenizer.from_pretrained(os.path.join(out_dir, "tokenizers", name))
    out = []
    for text in cases:
        full = tok(text)["input_ids"]
        trunc = tok(text, truncation=True, max_length=16)["input_ids"]
        assert full == raw_ids(name, text), f"{name}: transformers does not run tokenizer.json as written on {text!r}"
        out.append({"text": text, "ids": full, "ids_trunc16": trunc})
    golden["tokenizers_tested"][name] = {"tokenizer_class": type(tok).__name__, "vocab_size": len(tok), "cases": out}
with open(os.path.join(out_dir, "multilingual.json"), "w", encoding="utf-8") as f:
    json.dump(golden, f, ensure_ascii=True, indent=1)
    f.write("\n")
print("wrote", ", ".join(f"{k}: {len(v['cases'])} cases, vocab {v['vocab_size']}" for k, v in golden["tokenizers_tested"].items()))
