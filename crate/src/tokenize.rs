//! BERT WordPiece tokenizer: text to token ids, identical to Hugging Face's `BertTokenizer`
//! (what `AutoTokenizer` returns for BERT-family models: the `tokenizers` crate's BertNormalizer,
//! BertPreTokenizer, WordPiece model and a `[CLS] $A [SEP]` template).
//!
//! The pipeline runs in the same order as `tokenizers`: split out added/special tokens written
//! verbatim in the text, normalize the rest (clean, pad CJK ideographs, strip accents, lowercase),
//! split out added tokens that match the normalized text, split on whitespace and isolate
//! punctuation, then greedy longest-match-first WordPiece. Character classes come from the
//! `unicode_categories` crate, the very tables `tokenizers` uses, so what counts as control or
//! punctuation agrees with HF character for character (newer Unicode tables would not).
//!
//! Settings come from tokenizer.json (preferred) or vocab.txt, then tokenizer_config.json, whose
//! `do_lower_case`, `strip_accents`, `tokenize_chinese_chars` and special tokens win over
//! tokenizer.json as in transformers (its `BertTokenizer` rebuilds the normalizer from them).
//! Checked against transformers by `tests/golden/make_tokenizer_golden.py`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// The special tokens, in the order of every `[_; 5]` below: role, config key, default name.
const SPECIALS: [(&str, &str, &str); 5] = [
    ("UNK", "unk_token", "[UNK]"),
    ("CLS", "cls_token", "[CLS]"),
    ("SEP", "sep_token", "[SEP]"),
    ("PAD", "pad_token", "[PAD]"),
    ("MASK", "mask_token", "[MASK]"),
];
const MASK: usize = 4;

/// BertNormalizer settings. `strip_accents: None` means "strip when lowercasing" (HF's rule).
#[derive(Clone, Debug, PartialEq)]
struct Normalizer {
    clean_text: bool,
    chinese_chars: bool,
    strip_accents: Option<bool>,
    lowercase: bool,
}

impl Normalizer {
    const NONE: Normalizer =
        Normalizer { clean_text: false, chinese_chars: false, strip_accents: Some(false), lowercase: false };
    const BERT: Normalizer = Normalizer { clean_text: true, chinese_chars: true, strip_accents: None, lowercase: true };

    fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            // Controls are dropped *before* whitespace is mapped, as in tokenizers: so \x0b, \x0c and
            // U+0085 (controls that Rust also calls whitespace) vanish rather than split words.
            if self.clean_text && (c == '\0' || c == '\u{fffd}' || is_control(c)) {
                continue;
            }
            let c = if self.clean_text && c.is_whitespace() { ' ' } else { c };
            if self.chinese_chars && is_chinese_char(c) {
                out.extend([' ', c, ' ']);
            } else {
                out.push(c);
            }
        }
        if self.strip_accents.unwrap_or(self.lowercase) {
            out = out.nfd().filter(|c| !c.is_mark_nonspacing()).collect();
        }
        if self.lowercase {
            // Char by char like tokenizers: `str::to_lowercase` would apply the final-sigma rule.
            out = out.chars().flat_map(char::to_lowercase).collect();
        }
        out
    }
}

/// Cc, Cf and Co (unicode_categories' `is_other`), except \t \n \r, which are whitespace.
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// ASCII punctuation (which includes symbols such as `$` `+` `^`) or Unicode category P*.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// The CJK blocks tokenizers pads with spaces. Its table skips 0x2B820..=0x2B91F; so do we.
fn is_chinese_char(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// A token matched as a whole before WordPiece runs (the special tokens, and any added tokens).
#[derive(Clone, Debug)]
struct AddedToken {
    content: String,
    id: u32,
    special: bool,
    /// Matched against normalized text (with `pattern` = normalized content) instead of raw text.
    normalized: bool,
    lstrip: bool,
    rstrip: bool,
    single_word: bool,
    pattern: String,
}

impl AddedToken {
    /// One entry of tokenizer.json's `added_tokens` or tokenizer_config.json's `added_tokens_decoder`.
    fn parse(file: &str, v: &Value, id: Option<u64>) -> Result<Self> {
        let content = v.get("content").and_then(Value::as_str);
        let id = id.or_else(|| v.get("id").and_then(Value::as_u64)).and_then(|id| u32::try_from(id).ok());
        let (Some(content), Some(id)) = (content, id) else {
            return Err(Error::model(
                file,
                format!("added token {v} needs a string \"content\" and an integer \"id\""),
            ));
        };
        let flag = |k: &str, default: bool| v.get(k).and_then(Value::as_bool).unwrap_or(default);
        let special = flag("special", false);
        Ok(AddedToken {
            content: content.into(),
            id,
            special,
            normalized: flag("normalized", !special),
            lstrip: flag("lstrip", false),
            rstrip: flag("rstrip", false),
            single_word: flag("single_word", false),
            pattern: String::new(),
        })
    }

    fn to_json(&self) -> Value {
        json!({"id": self.id, "content": self.content, "single_word": self.single_word, "lstrip": self.lstrip,
               "rstrip": self.rstrip, "normalized": self.normalized, "special": self.special})
    }
}

enum Seg<'a> {
    Text(&'a str),
    Id(u32),
}

/// Splits `text` around the leftmost-longest occurrences of `tokens`, as tokenizers' AddedVocabulary.
fn split_added<'a>(text: &'a str, tokens: &[AddedToken]) -> Vec<Seg<'a>> {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let (mut segs, mut last, mut pos) = (Vec::new(), 0, 0);
    while pos < text.len() && !tokens.is_empty() {
        let rest = &text[pos..];
        let best = tokens
            .iter()
            .filter(|t| !t.pattern.is_empty() && rest.starts_with(&t.pattern))
            .filter(|t| {
                let end = pos + t.pattern.len();
                !t.single_word || !(is_word(text[..pos].chars().next_back()) || is_word(text[end..].chars().next()))
            })
            .max_by_key(|t| t.pattern.len());
        let Some(t) = best else {
            pos += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let (mut start, mut end) = (pos, pos + t.pattern.len());
        if t.lstrip {
            start = last + text[last..start].trim_end().len();
        }
        if t.rstrip {
            end = text.len() - text[end..].trim_start().len();
        }
        if start > last {
            segs.push(Seg::Text(&text[last..start]));
        }
        segs.push(Seg::Id(t.id));
        (last, pos) = (end, end);
    }
    if last < text.len() {
        segs.push(Seg::Text(&text[last..]));
    }
    segs
}

/// What one source file says; `None` leaves the value from an earlier file or the default.
#[derive(Default)]
struct Parsed {
    tokens: Vec<String>,
    normalizer: Option<Normalizer>,
    lowercase: Option<bool>,
    /// `Some(None)`: tokenizer_config.json says `"strip_accents": null`, which still overrides.
    strip_accents: Option<Option<bool>>,
    chinese_chars: Option<bool>,
    prefix: Option<String>,
    max_chars: Option<usize>,
    model_max_length: Option<usize>,
    specials: [Option<String>; 5],
    added: Vec<AddedToken>,
}

/// A BERT WordPiece tokenizer; see the module docs.
#[derive(Clone)]
pub struct Tokenizer {
    /// WordPiece vocabulary; for repeated lines in vocab.txt the last one wins, as in HF.
    vocab: HashMap<String, u32>,
    /// Id to token, covering the vocabulary and any added tokens past its end.
    tokens: Vec<String>,
    normalizer: Normalizer,
    raw_added: Vec<AddedToken>,
    norm_added: Vec<AddedToken>,
    prefix: String,
    max_chars: usize,
    names: [String; 5],
    /// Ids of UNK, CLS, SEP, PAD (always present) and MASK (optional).
    ids: [u32; 4],
    mask_id: Option<u32>,
    model_max_length: Option<usize>,
    /// The tokenizer.json this was loaded from, exported unchanged.
    tokenizer_json: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.tokens.len())
            .field("normalizer", &self.normalizer)
            .field("specials", &self.names)
            .field("added_tokens", &(self.raw_added.len() + self.norm_added.len()))
            .field("model_max_length", &self.model_max_length)
            .finish()
    }
}

type Source<'a> = Option<(String, &'a [u8])>;

impl Tokenizer {
    /// From a directory: prefers tokenizer.json, else vocab.txt; reads tokenizer_config.json
    /// (do_lower_case, strip_accents, tokenize_chinese_chars, model_max_length) when present.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
        let read = |name: &str| -> Result<Option<(String, Vec<u8>)>> {
            let path = dir.join(name);
            if !path.exists() {
                return Ok(None);
            }
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            Ok(Some((path.display().to_string(), bytes)))
        };
        let json = read("tokenizer.json")?;
        let vocab = if json.is_none() { read("vocab.txt")? } else { None };
        let config = read("tokenizer_config.json")?;
        if json.is_none() && vocab.is_none() {
            let msg = "no tokenizer.json or vocab.txt here (a BERT-family tokenizer needs one of them)";
            return Err(Error::model(dir.display().to_string(), msg));
        }
        Self::build(source(&json), source(&vocab), source(&config))
    }

    /// From file contents (the browser has no filesystem): tokenizer.json and/or vocab.txt (at least
    /// one; tokenizer.json wins when both are given) and an optional tokenizer_config.json.
    pub fn from_bytes(
        tokenizer_json: Option<&[u8]>,
        vocab_txt: Option<&[u8]>,
        tokenizer_config: Option<&[u8]>,
    ) -> Result<Self> {
        let named = |name: &str| Some(name.to_string());
        Self::build(
            named("tokenizer.json").zip(tokenizer_json),
            named("vocab.txt").zip(vocab_txt.filter(|_| tokenizer_json.is_none())),
            named("tokenizer_config.json").zip(tokenizer_config),
        )
    }

    fn build(json: Source, vocab_txt: Source, config: Source) -> Result<Self> {
        let (file, base) = match (&json, vocab_txt) {
            (Some((f, b)), _) => (f.clone(), parse_tokenizer_json(f, b)?),
            (None, Some((f, b))) => (f.clone(), parse_vocab_txt(&f, b)?),
            (None, None) => return Err(Error::model("tokenizer", "needs tokenizer.json or vocab.txt, got neither")),
        };
        let (config_file, cfg) = match config {
            Some((f, b)) => (f.clone(), parse_config(&f, b)?),
            None => (String::new(), Parsed::default()),
        };
        let too_big = || Error::model(&file, "more than 2^32 tokens");
        let vocab_len = u32::try_from(base.tokens.len()).map_err(|_| too_big())?;
        let vocab: HashMap<String, u32> = base.tokens.iter().cloned().zip(0..vocab_len).collect();
        let mut normalizer = base.normalizer.unwrap_or(Normalizer::BERT);
        normalizer.lowercase = cfg.lowercase.unwrap_or(normalizer.lowercase);
        normalizer.strip_accents = cfg.strip_accents.unwrap_or(normalizer.strip_accents);
        normalizer.chinese_chars = cfg.chinese_chars.unwrap_or(normalizer.chinese_chars);
        let names: [String; 5] = std::array::from_fn(|i| {
            let (c, b) = (cfg.specials[i].clone(), base.specials[i].clone());
            c.or(b).unwrap_or_else(|| SPECIALS[i].2.to_string())
        });

        // Added tokens: tokenizer.json's, tokenizer_config.json's, then the special tokens themselves
        // (transformers registers those as non-normalized added tokens, so "[MASK]" in text is one id).
        let mut tokens = base.tokens;
        let mut added: Vec<AddedToken> = Vec::new();
        for (f, list) in [(&file, base.added), (&config_file, cfg.added)] {
            for t in list.into_iter().filter(|t| !t.content.is_empty()) {
                if added.iter().any(|a| a.content == t.content) {
                    continue;
                }
                // Ids past the vocabulary must continue it (tokenizers would renumber them).
                if t.id >= vocab_len && t.id as usize != tokens.len() {
                    let msg = format!(
                        "vocabulary ids are not contiguous: added token \"{}\" has id {}, expected {}",
                        t.content,
                        t.id,
                        tokens.len()
                    );
                    return Err(Error::model(f, msg));
                }
                if t.id >= vocab_len {
                    tokens.push(t.content.clone());
                }
                added.push(t);
            }
        }
        let lookup = |name: &str, added: &[AddedToken]| {
            vocab.get(name).copied().or_else(|| added.iter().find(|a| a.content == name).map(|a| a.id))
        };
        let mut ids = [0u32; 4];
        for (i, id) in ids.iter_mut().enumerate() {
            *id = lookup(&names[i], &added).ok_or_else(|| {
                Error::model(&file, format!("the {} token \"{}\" is not in the vocabulary", SPECIALS[i].0, names[i]))
            })?;
        }
        let mask_id = lookup(&names[MASK], &added);
        for (name, id) in names.iter().zip(ids.iter().copied().map(Some).chain([mask_id])) {
            if let Some(id) = id.filter(|_| !added.iter().any(|a| &a.content == name)) {
                let v = json!({"content": name, "special": true});
                added.push(AddedToken::parse(&file, &v, Some(id.into()))?);
            }
        }
        for a in &mut added {
            a.pattern = if a.normalized { normalizer.apply(&a.content) } else { a.content.clone() };
        }
        let (norm_added, raw_added) = added.into_iter().partition(|a| a.normalized);
        Ok(Tokenizer {
            vocab,
            tokens,
            normalizer,
            raw_added,
            norm_added,
            prefix: base.prefix.unwrap_or_else(|| "##".into()),
            max_chars: base.max_chars.unwrap_or(100),
            names,
            ids,
            mask_id,
            model_max_length: cfg.model_max_length,
            tokenizer_json: json.map(|(_, b)| Arc::from(b)),
        })
    }

    /// Number of ids (the embedding rows a model needs), added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }
    pub fn unk_id(&self) -> u32 {
        self.ids[0]
    }
    pub fn cls_id(&self) -> u32 {
        self.ids[1]
    }
    pub fn sep_id(&self) -> u32 {
        self.ids[2]
    }
    pub fn pad_id(&self) -> u32 {
        self.ids[3]
    }
    pub fn mask_id(&self) -> Option<u32> {
        self.mask_id
    }
    /// tokenizer_config.json's `model_max_length`, if it was given.
    pub fn model_max_length(&self) -> Option<usize> {
        self.model_max_length
    }
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Full encoding with [CLS] ... [SEP], no truncation.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.cls_id()];
        for seg in split_added(text, &self.raw_added) {
            let raw = match seg {
                Seg::Id(id) => {
                    ids.push(id);
                    continue;
                }
                Seg::Text(raw) => raw,
            };
            for seg in split_added(&self.normalizer.apply(raw), &self.norm_added) {
                match seg {
                    Seg::Id(id) => ids.push(id),
                    Seg::Text(t) => self.pre_tokenize(t, &mut ids),
                }
            }
        }
        ids.push(self.sep_id());
        ids
    }

    /// As HF with truncation=True, max_length=max_len: [CLS] + first (max_len-2) tokens + [SEP].
    /// A `max_len` below 2 leaves no room for the text, and HF then does not truncate at all; nor do we.
    pub fn encode_truncated(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = self.encode(text);
        if max_len >= 2 && ids.len() > max_len {
            ids.truncate(max_len - 1);
            ids.push(self.sep_id());
        }
        ids
    }

    /// BertPreTokenizer: split on whitespace, then every punctuation char is a word of its own.
    fn pre_tokenize(&self, text: &str, ids: &mut Vec<u32>) {
        for word in text.split(char::is_whitespace).filter(|w| !w.is_empty()) {
            let mut start = 0;
            for (i, c) in word.char_indices().filter(|&(_, c)| is_punctuation(c)) {
                if start < i {
                    self.wordpiece(&word[start..i], ids);
                }
                self.wordpiece(&word[i..i + c.len_utf8()], ids);
                start = i + c.len_utf8();
            }
            if start < word.len() {
                self.wordpiece(&word[start..], ids);
            }
        }
    }

    /// Greedy longest-match-first; a word with any unmatched part, or too long, is one [UNK].
    fn wordpiece(&self, word: &str, ids: &mut Vec<u32>) {
        if word.chars().count() > self.max_chars {
            return ids.push(self.unk_id());
        }
        let (first, mut start, mut piece) = (ids.len(), 0, String::new());
        while start < word.len() {
            let mut end = word.len();
            let id = loop {
                piece.clear();
                if start > 0 {
                    piece.push_str(&self.prefix);
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&piece) {
                    break id;
                }
                end -= word[..end].chars().next_back().map_or(1, char::len_utf8);
                if end <= start {
                    ids.truncate(first);
                    return ids.push(self.unk_id());
                }
            };
            ids.push(id);
            start = end;
        }
    }

    /// Files to write beside an exported model so HF transformers and this tokenizer load it back:
    /// vocab.txt, tokenizer_config.json, special_tokens_map.json and tokenizer.json (the original
    /// bytes when loaded from one, else generated).
    pub fn export_files(&self) -> Vec<(String, Vec<u8>)> {
        let pretty = |v: &Value| serde_json::to_vec_pretty(v).unwrap_or_default();
        let n = &self.normalizer;
        let present = |i: usize| i != MASK || self.mask_id.is_some();
        let specials: Map<String, Value> =
            (0..5).filter(|&i| present(i)).map(|i| (SPECIALS[i].1.to_string(), json!(self.names[i]))).collect();
        let mut added: Vec<&AddedToken> = self.raw_added.iter().chain(&self.norm_added).collect();
        added.sort_by_key(|a| a.id);
        let mut config = json!({
            "tokenizer_class": "BertTokenizer", "do_lower_case": n.lowercase, "strip_accents": n.strip_accents,
            "tokenize_chinese_chars": n.chinese_chars, "do_basic_tokenize": true, "never_split": null,
            "clean_up_tokenization_spaces": true, "model_max_length": self.model_max_length,
            // transformers 5 takes added tokens from here, not from tokenizer.json.
            "added_tokens_decoder": added.iter().map(|a| {
                let mut v = a.to_json();
                v.as_object_mut().map(|m| m.remove("id"));
                (a.id.to_string(), v)
            }).collect::<Map<_, _>>(),
        });
        if let Some(obj) = config.as_object_mut() {
            obj.extend(specials.clone());
            if self.model_max_length.is_none() {
                obj.remove("model_max_length");
            }
        }
        let tokenizer_json = match &self.tokenizer_json {
            Some(bytes) => bytes.to_vec(),
            None => pretty(&self.generated_tokenizer_json(&added)),
        };
        vec![
            ("vocab.txt".into(), self.tokens.iter().flat_map(|t| [t.as_str(), "\n"]).collect::<String>().into_bytes()),
            ("tokenizer_config.json".into(), pretty(&config)),
            ("special_tokens_map.json".into(), pretty(&Value::Object(specials))),
            ("tokenizer.json".into(), tokenizer_json),
        ]
    }

    /// A tokenizer.json equivalent to this tokenizer, in the layout `tokenizers` writes.
    fn generated_tokenizer_json(&self, added: &[&AddedToken]) -> Value {
        let (n, cls, sep) = (&self.normalizer, &self.names[1], &self.names[2]);
        let special = |name: &str, type_id: u32| json!({"SpecialToken": {"id": name, "type_id": type_id}});
        let seq = |id: &str, type_id: u32| json!({"Sequence": {"id": id, "type_id": type_id}});
        let mut template_specials = Map::new();
        for (name, id) in [(cls, self.cls_id()), (sep, self.sep_id())] {
            template_specials.insert(name.clone(), json!({"id": name, "ids": [id], "tokens": [name]}));
        }
        // In id order, so that exports are byte-for-byte reproducible.
        let mut by_id: Vec<(&String, &u32)> = self.vocab.iter().collect();
        by_id.sort_by_key(|&(_, &id)| id);
        let vocab: Map<String, Value> = by_id.into_iter().map(|(t, &id)| (t.clone(), json!(id))).collect();
        json!({
            "version": "1.0", "truncation": null, "padding": null,
            "added_tokens": added.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
            "normalizer": {"type": "BertNormalizer", "clean_text": n.clean_text, "handle_chinese_chars": n.chinese_chars,
                "strip_accents": n.strip_accents, "lowercase": n.lowercase},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "TemplateProcessing",
                "single": [special(cls, 0), seq("A", 0), special(sep, 0)],
                "pair": [special(cls, 0), seq("A", 0), special(sep, 0), seq("B", 1), special(sep, 1)],
                "special_tokens": template_specials},
            "decoder": {"type": "WordPiece", "prefix": self.prefix, "cleanup": true},
            "model": {"type": "WordPiece", "unk_token": self.names[0], "continuing_subword_prefix": self.prefix,
                "max_input_chars_per_word": self.max_chars, "vocab": vocab},
        })
    }
}

fn source(f: &Option<(String, Vec<u8>)>) -> Source<'_> {
    f.as_ref().map(|(n, b)| (n.clone(), b.as_slice()))
}

fn parse_object(file: &str, bytes: &[u8]) -> Result<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::model(file, "expected a JSON object")),
        Err(e) => Err(Error::model(file, format!("invalid JSON: {e}"))),
    }
}

/// A token name: a string, or an AddedToken object with `content` (tokenizer_config.json allows both).
fn token_name(v: Option<&Value>) -> Option<String> {
    v.and_then(|v| v.as_str().or_else(|| v.get("content").and_then(Value::as_str))).map(str::to_string)
}

fn parse_tokenizer_json(file: &str, bytes: &[u8]) -> Result<Parsed> {
    let root = parse_object(file, bytes)?;
    let model =
        root.get("model").and_then(Value::as_object).ok_or_else(|| Error::model(file, "has no \"model\" object"))?;
    match model.get("type").and_then(Value::as_str) {
        Some("WordPiece") => {}
        // Old tokenizer.json files have no model type; WordPiece is the one with this key.
        None if model.contains_key("max_input_chars_per_word") => {}
        other => {
            let t = other.unwrap_or(if model.contains_key("merges") { "BPE" } else { "unknown" });
            return Err(Error::model(file, format!("model type is {t}, expected WordPiece (a BERT-family tokenizer)")));
        }
    }
    let vocab =
        model.get("vocab").and_then(Value::as_object).ok_or_else(|| Error::model(file, "model.vocab is missing"))?;
    if vocab.is_empty() {
        return Err(Error::model(file, "the vocabulary is empty"));
    }
    let mut slots: Vec<Option<String>> = vec![None; vocab.len()];
    for (tok, id) in vocab {
        let slot = id.as_u64().and_then(|i| slots.get_mut(usize::try_from(i).ok()?)).filter(|s| s.is_none());
        let Some(slot) = slot else {
            let n = vocab.len() - 1;
            let msg = format!(
                "vocabulary ids are not contiguous: expected ids 0 to {n} each used once, but \"{tok}\" has id {id}"
            );
            return Err(Error::model(file, msg));
        };
        *slot = Some(tok.clone());
    }
    let mut p = Parsed { tokens: slots.into_iter().flatten().collect(), ..Parsed::default() };
    p.specials[0] = token_name(model.get("unk_token"));
    p.prefix = token_name(model.get("continuing_subword_prefix"));
    p.max_chars = model.get("max_input_chars_per_word").and_then(Value::as_u64).map(|n| n as usize);
    p.normalizer = Some(parse_normalizer(file, root.get("normalizer"))?);
    p.specials[3] = token_name(root.get("padding").and_then(|v| v.get("pad_token")));
    let post = root.get("post_processor").unwrap_or(&Value::Null);
    match post.get("type").and_then(Value::as_str) {
        Some("TemplateProcessing") => {
            let single = post.get("single").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let names: Vec<String> = single.iter().filter_map(|i| token_name(i.pointer("/SpecialToken/id"))).collect();
            (p.specials[1], p.specials[2]) = (names.first().cloned(), names.last().cloned());
        }
        Some("BertProcessing" | "RobertaProcessing") => {
            (p.specials[1], p.specials[2]) = (token_name(post.pointer("/cls/0")), token_name(post.pointer("/sep/0")));
        }
        _ => {}
    }
    for v in root.get("added_tokens").and_then(Value::as_array).into_iter().flatten() {
        p.added.push(AddedToken::parse(file, v, None)?);
    }
    Ok(p)
}

fn parse_normalizer(file: &str, v: Option<&Value>) -> Result<Normalizer> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(Normalizer::NONE) };
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(true);
    let unsupported =
        |t: &str| Error::model(file, format!("normalizer {t} is not supported (expected BertNormalizer)"));
    match v.get("type").and_then(Value::as_str).unwrap_or("without a type") {
        "BertNormalizer" => Ok(Normalizer {
            clean_text: flag("clean_text"),
            chinese_chars: flag("handle_chinese_chars"),
            strip_accents: v.get("strip_accents").and_then(Value::as_bool),
            lowercase: flag("lowercase"),
        }),
        // Sequences that amount to a BertNormalizer: [BertNormalizer], [NFD, Lowercase, StripAccents], ...
        "Sequence" => {
            let items = v.get("normalizers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let types: Vec<&str> = items.iter().map(|i| i.get("type").and_then(Value::as_str).unwrap_or("?")).collect();
            let mut n = Normalizer::NONE;
            for (item, t) in items.iter().zip(&types) {
                match *t {
                    "BertNormalizer" => n = parse_normalizer(file, Some(item))?,
                    "Lowercase" => n.lowercase = true,
                    "StripAccents" => n.strip_accents = Some(true),
                    "NFD" if types.contains(&"StripAccents") => {}
                    t => return Err(unsupported(t)),
                }
            }
            Ok(n)
        }
        t => Err(unsupported(t)),
    }
}

/// vocab.txt: one token per line, id = line number; lines are trimmed at the end as tokenizers does.
fn parse_vocab_txt(file: &str, bytes: &[u8]) -> Result<Parsed> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::model(file, format!("not valid UTF-8 ({e})")))?;
    let tokens: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    if tokens.is_empty() {
        return Err(Error::model(file, "the vocabulary is empty"));
    }
    Ok(Parsed { tokens, ..Parsed::default() })
}

fn parse_config(file: &str, bytes: &[u8]) -> Result<Parsed> {
    let m = parse_object(file, bytes)?;
    let flag = |k: &str| match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(Error::model(file, format!("{k} must be true or false, got {v}"))),
    };
    let mut p = Parsed {
        lowercase: flag("do_lower_case")?,
        chinese_chars: flag("tokenize_chinese_chars")?,
        ..Parsed::default()
    };
    if m.contains_key("strip_accents") {
        p.strip_accents = Some(flag("strip_accents")?);
    }
    if let Some(v) = m.get("model_max_length").filter(|v| !v.is_null()) {
        let bad = || Error::model(file, format!("model_max_length must be a non-negative number, got {v}"));
        let n = v.as_f64().filter(|n| *n >= 0.0).ok_or_else(bad)?;
        // Saturates: transformers writes 1e30 for "no limit".
        p.model_max_length = Some(n as usize);
    }
    p.specials = std::array::from_fn(|i| token_name(m.get(SPECIALS[i].1)));
    for (id, v) in m.get("added_tokens_decoder").and_then(Value::as_object).into_iter().flatten() {
        let id =
            id.parse().map_err(|_| Error::model(file, format!("added_tokens_decoder key \"{id}\" is not an id")))?;
        p.added.push(AddedToken::parse(file, v, Some(id))?);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/models/all-MiniLM-L6-v2");
    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/tokenizer.json");

    fn model_file(name: &str) -> Vec<u8> {
        std::fs::read(Path::new(MODEL_DIR).join(name)).expect("model file")
    }

    fn real() -> Tokenizer {
        Tokenizer::from_dir(Path::new(MODEL_DIR)).expect("load all-MiniLM-L6-v2")
    }

    fn ids(v: &Value) -> Vec<u32> {
        v.as_array().expect("id list").iter().map(|i| i.as_u64().expect("id") as u32).collect()
    }

    /// Compares `tok` with every golden case, full and truncated to 64, and reports all mismatches.
    fn check_golden(tok: &Tokenizer, what: &str) {
        let golden: Value = serde_json::from_slice(&std::fs::read(GOLDEN).expect("golden file")).expect("golden JSON");
        let cases = golden["cases"].as_array().expect("cases");
        assert!(cases.len() >= 60, "golden file has only {} cases", cases.len());
        let mut bad = Vec::new();
        for c in cases {
            let text = c["text"].as_str().expect("text");
            let (full, trunc) = (tok.encode(text), tok.encode_truncated(text, 64));
            if full != ids(&c["ids"]) {
                bad.push(format!("{text:?}\n  full ours {full:?}\n  full HF   {:?}", ids(&c["ids"])));
            }
            if trunc != ids(&c["ids_trunc64"]) {
                bad.push(format!("{text:?}\n  trunc64 ours {trunc:?}\n  trunc64 HF   {:?}", ids(&c["ids_trunc64"])));
            }
        }
        assert!(bad.is_empty(), "{what}: {} mismatches with transformers:\n{}", bad.len(), bad.join("\n"));
    }

    fn err(r: Result<Tokenizer>) -> String {
        r.expect_err("expected an error").to_string()
    }

    /// Token ids equal transformers' `AutoTokenizer` on every case of tests/golden/tokenizer.json
    /// (full and `truncation=True, max_length=64`). Regenerate that file with
    /// `python tests/golden/make_tokenizer_golden.py` from the repository root.
    #[test]
    fn golden_ids_match_transformers() {
        check_golden(&real(), "tokenizer.json");
    }

    #[test]
    fn vocab_txt_gives_the_same_ids_as_tokenizer_json() {
        let (vocab, config) = (model_file("vocab.txt"), model_file("tokenizer_config.json"));
        let (a, b) = (real(), Tokenizer::from_bytes(None, Some(&vocab), Some(&config)).unwrap());
        check_golden(&b, "vocab.txt + tokenizer_config.json");
        assert_eq!(a.vocab_size(), b.vocab_size());
        assert_eq!([a.pad_id(), a.unk_id(), a.cls_id(), a.sep_id()], [b.pad_id(), b.unk_id(), b.cls_id(), b.sep_id()]);
    }

    #[test]
    fn basics_of_the_real_model() {
        let t = real();
        assert_eq!(t.vocab_size(), 30522);
        assert_eq!([t.pad_id(), t.unk_id(), t.cls_id(), t.sep_id()], [0, 100, 101, 102]);
        assert_eq!(t.mask_id(), Some(103));
        assert_eq!(t.model_max_length(), Some(512));
        assert_eq!(t.id_to_token(101), Some("[CLS]"));
        assert_eq!(t.id_to_token(30522), None);
        assert_eq!(t.encode(""), vec![101, 102]);
        assert!(format!("{t:?}").len() < 400, "Debug must not dump the vocabulary");
    }

    #[test]
    fn truncation_keeps_cls_and_sep() {
        let t = real();
        let full = t.encode("one two three four five");
        assert_eq!(full.len(), 7);
        assert_eq!(t.encode_truncated("one two three four five", 7), full);
        assert_eq!(t.encode_truncated("one two three four five", 100), full);
        assert_eq!(t.encode_truncated("one two three four five", 4), vec![101, full[1], full[2], 102]);
        assert_eq!(t.encode_truncated("one two three four five", 2), vec![101, 102]);
        // transformers gives [101, 2028, 2048, 2093, 102] for max_length 0 and 1: it cannot truncate.
        for max in [0, 1] {
            assert_eq!(t.encode_truncated("one two three four five", max), full);
        }
    }

    /// The exported files load back (from each of their sources) with identical ids; tokenizer.json
    /// is the original file when there was one.
    #[test]
    fn export_files_round_trip() {
        let from_txt =
            Tokenizer::from_bytes(None, Some(&model_file("vocab.txt")), Some(&model_file("tokenizer_config.json")))
                .unwrap();
        for (what, tok) in [("from tokenizer.json", real()), ("from vocab.txt", from_txt)] {
            let files: HashMap<String, Vec<u8>> = tok.export_files().into_iter().collect();
            let names: Vec<&str> =
                ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"].into();
            assert!(names.iter().all(|n| files.contains_key(*n)) && files.len() == 4, "{what}: {:?}", files.keys());
            let config: Value = serde_json::from_slice(&files["tokenizer_config.json"]).unwrap();
            assert_eq!(config["tokenizer_class"], "BertTokenizer");
            assert_eq!((&config["do_lower_case"], &config["strip_accents"]), (&json!(true), &Value::Null));
            assert_eq!((&config["cls_token"], &config["model_max_length"]), (&json!("[CLS]"), &json!(512)));
            let map: Value = serde_json::from_slice(&files["special_tokens_map.json"]).unwrap();
            assert_eq!(
                map,
                json!({"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"})
            );
            assert_eq!(files["vocab.txt"], model_file("vocab.txt"), "{what}: vocab.txt");
            let cfg = Some(files["tokenizer_config.json"].as_slice());
            let json_only = Tokenizer::from_bytes(Some(&files["tokenizer.json"]), None, None).unwrap();
            check_golden(&json_only, &format!("{what}: exported tokenizer.json"));
            check_golden(
                &Tokenizer::from_bytes(None, Some(&files["vocab.txt"]), cfg).unwrap(),
                &format!("{what}: exported vocab.txt"),
            );
            let dir = std::env::temp_dir().join(format!("edgetune-tokenize-{}-{}", std::process::id(), what.len()));
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in &files {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
            check_golden(&Tokenizer::from_dir(&dir).unwrap(), &format!("{what}: exported directory"));
            std::fs::remove_dir_all(&dir).ok();
        }
        let files: HashMap<String, Vec<u8>> = real().export_files().into_iter().collect();
        assert_eq!(files["tokenizer.json"], model_file("tokenizer.json"));
    }

    #[test]
    fn error_messages() {
        let json = |s: &str| err(Tokenizer::from_bytes(Some(s.as_bytes()), None, None));
        let txt = |s: &str| err(Tokenizer::from_bytes(None, Some(s.as_bytes()), None));
        assert_eq!(json("{not json"), "tokenizer.json: invalid JSON: key must be a string at line 1 column 2");
        assert_eq!(json("[1]"), "tokenizer.json: expected a JSON object");
        assert_eq!(json("{}"), "tokenizer.json: has no \"model\" object");
        assert_eq!(
            json(r#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#),
            "tokenizer.json: model type is BPE, expected WordPiece (a BERT-family tokenizer)"
        );
        assert_eq!(
            json(r#"{"model": {"vocab": {"a": 0}, "merges": []}}"#),
            "tokenizer.json: model type is BPE, expected WordPiece (a BERT-family tokenizer)"
        );
        assert_eq!(json(r#"{"model": {"type": "WordPiece", "vocab": {}}}"#), "tokenizer.json: the vocabulary is empty");
        assert_eq!(
            json(r#"{"model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "[UNK]": 2}}}"#),
            "tokenizer.json: vocabulary ids are not contiguous: expected ids 0 to 1 each used once, but \"[UNK]\" has id 2"
        );
        assert_eq!(
            json(r#"{"model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "[UNK]": 0}}}"#),
            "tokenizer.json: vocabulary ids are not contiguous: expected ids 0 to 1 each used once, but \"[UNK]\" has id 0"
        );
        assert_eq!(
            json(r#"{"model": {"type": "WordPiece", "vocab": {"[PAD]": 0}}, "normalizer": {"type": "NFKC"}}"#),
            "tokenizer.json: normalizer NFKC is not supported (expected BertNormalizer)"
        );
        assert_eq!(txt(""), "vocab.txt: the vocabulary is empty");
        assert_eq!(txt("[PAD]\n[UNK]\n[SEP]\nhello\n"), "vocab.txt: the CLS token \"[CLS]\" is not in the vocabulary");
        assert_eq!(txt("[PAD]\n[CLS]\n[SEP]\n"), "vocab.txt: the UNK token \"[UNK]\" is not in the vocabulary");
        assert_eq!(txt("[PAD]\n[UNK]\n[CLS]\n"), "vocab.txt: the SEP token \"[SEP]\" is not in the vocabulary");
        assert_eq!(txt("[UNK]\n[CLS]\n[SEP]\n"), "vocab.txt: the PAD token \"[PAD]\" is not in the vocabulary");
        assert!(
            err(Tokenizer::from_bytes(None, Some(b"[PAD]\n\xff\n"), None)).starts_with("vocab.txt: not valid UTF-8")
        );
        assert_eq!(
            err(Tokenizer::from_bytes(None, None, None)),
            "tokenizer: needs tokenizer.json or vocab.txt, got neither"
        );
        let vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
        let cfg = |s: &str| err(Tokenizer::from_bytes(None, Some(vocab), Some(s.as_bytes())));
        assert_eq!(cfg("nope"), "tokenizer_config.json: invalid JSON: expected ident at line 1 column 2");
        assert_eq!(
            cfg(r#"{"do_lower_case": "yes"}"#),
            "tokenizer_config.json: do_lower_case must be true or false, got \"yes\""
        );
        assert_eq!(cfg(r#"{"cls_token": "<s>"}"#), "vocab.txt: the CLS token \"<s>\" is not in the vocabulary");
        assert_eq!(
            err(Tokenizer::from_bytes(
                Some(
                    br#"{"model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}},
                      "added_tokens": [{"id": 5, "content": "<x>"}]}"#
                ),
                None,
                None
            )),
            "tokenizer.json: vocabulary ids are not contiguous: added token \"<x>\" has id 5, expected 4"
        );
    }

    #[test]
    fn from_dir_errors_name_the_path() {
        let dir = std::env::temp_dir().join(format!("edgetune-tokenize-err-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let msg = err(Tokenizer::from_dir(&dir));
        assert_eq!(
            msg,
            format!(
                "{}: no tokenizer.json or vocab.txt here (a BERT-family tokenizer needs one of them)",
                dir.display()
            )
        );
        std::fs::create_dir_all(dir.join("tokenizer.json")).unwrap(); // a directory: exists but cannot be read
        assert!(matches!(Tokenizer::from_dir(&dir), Err(Error::Io { .. })));
        std::fs::remove_dir_all(dir.join("tokenizer.json")).unwrap();
        std::fs::write(dir.join("vocab.txt"), "[PAD]\n").unwrap();
        let msg = err(Tokenizer::from_dir(&dir));
        assert_eq!(
            msg,
            format!("{}: the UNK token \"[UNK]\" is not in the vocabulary", dir.join("vocab.txt").display())
        );
        std::fs::remove_dir_all(&dir).ok();
        assert!(matches!(Tokenizer::from_dir(&dir), Err(Error::Io { .. })));
    }

    /// A small tokenizer.json exercising settings the real model does not use.
    fn tiny(normalizer: &str, extra: &str) -> Tokenizer {
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "héllo", "ab", "##c", "<x>", "!", "Hello"];
        let vocab: Map<String, Value> = vocab.iter().enumerate().map(|(i, t)| (t.to_string(), json!(i))).collect();
        let text = format!(
            r#"{{"model": {{"type": "WordPiece", "vocab": {}, "max_input_chars_per_word": 5}}, "normalizer": {normalizer} {extra}}}"#,
            Value::Object(vocab)
        );
        Tokenizer::from_bytes(Some(text.as_bytes()), None, None).unwrap()
    }

    #[test]
    fn normalizer_settings_and_added_tokens() {
        let bert = |lc: bool, strip: &str| {
            format!(r#"{{"type": "BertNormalizer", "lowercase": {lc}, "strip_accents": {strip}}}"#)
        };
        assert_eq!(tiny(&bert(true, "null"), "").encode("HÉLLO abc"), vec![2, 4, 6, 7, 3]);
        assert_eq!(tiny(&bert(true, "false"), "").encode("HÉLLO abcc"), vec![2, 5, 6, 7, 7, 3]);
        assert_eq!(tiny(&bert(false, "null"), "").encode("Hello hello HÉLLO"), vec![2, 10, 4, 1, 3]);
        assert_eq!(tiny("null", "").encode("Hello  abcccc"), vec![2, 10, 1, 3], "max_input_chars_per_word = 5");
        let seq = r#"{"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"}, {"type": "StripAccents"}]}"#;
        assert_eq!(tiny(seq, "").encode("HÉLLO"), vec![2, 4, 3]);
        // Added tokens: raw ones match the raw text, lstrip/rstrip swallow the spaces around.
        let added =
            r#", "added_tokens": [{"id": 8, "content": "<x>", "normalized": false, "lstrip": true, "rstrip": true}]"#;
        let t = tiny(&bert(true, "null"), added);
        assert_eq!(t.encode("hello <x> hello<x>!"), vec![2, 4, 8, 4, 8, 9, 3]);
        assert_eq!(t.encode("<X>"), vec![2, 1, 1, 1, 3], "raw added tokens are case-sensitive");
        let added = r#", "added_tokens": [{"id": 11, "content": "<X>", "normalized": true}]"#;
        let t = tiny(&bert(true, "null"), added);
        assert_eq!(t.encode("a<X>b <x>"), vec![2, 1, 11, 1, 11, 3], "normalized ones match normalized text");
        assert_eq!((t.vocab_size(), t.id_to_token(11)), (12, Some("<X>")));
        let n = Normalizer::BERT;
        assert_eq!(n.apply("ΟΔΟΣ a\u{0b}b\u{85}c\u{200b}d\te\u{a0}f 中x"), "οδοσ abcd e f  中 x");
    }

    #[test]
    fn config_overrides_tokenizer_json() {
        let json = model_file("tokenizer.json");
        let cased = Tokenizer::from_bytes(Some(&json), None, Some(br#"{"do_lower_case": false}"#)).unwrap();
        let uncased = Tokenizer::from_bytes(Some(&json), None, None).unwrap();
        assert_eq!(uncased.encode("Hello"), vec![101, 7592, 102]);
        assert_ne!(cased.encode("Hello"), uncased.encode("Hello"));
        let config: Value = serde_json::from_slice(&cased.export_files()[1].1).unwrap();
        assert_eq!(config["do_lower_case"], json!(false));
    }

    /// Arbitrary bytes as any of the three files, and arbitrary text, give errors or ids: never a panic.
    #[test]
    fn never_panics_on_arbitrary_input() {
        let mut state = 0x9E3779B97F4A7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let t = real();
        let pieces: Vec<&[u8]> = vec![
            b"{",
            b"}",
            b"\"model\":",
            b"\"vocab\":",
            b"[",
            b"]",
            b"\"type\":\"WordPiece\"",
            b"0",
            b"\n",
            b",",
            b"\"[UNK]\"",
            b"\xff",
            b"\xe4\xb8\xad",
            b"[MASK]",
            b" ",
            b"\x00",
            b"\"added_tokens\":",
        ];
        for round in 0..3000 {
            let len = (next() % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .flat_map(|_| {
                    let r = next();
                    if r % 3 == 0 {
                        vec![(r >> 8) as u8]
                    } else {
                        pieces[(r >> 8) as usize % pieces.len()].to_vec()
                    }
                })
                .collect();
            let _ = Tokenizer::from_bytes(Some(&bytes), None, None);
            let _ = Tokenizer::from_bytes(None, Some(&bytes), Some(&bytes));
            let text = String::from_utf8_lossy(&bytes);
            let ids = t.encode(&text);
            assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
            assert!(t.encode_truncated(&text, round % 10 + 2).len() <= round % 10 + 2);
        }
    }
}
