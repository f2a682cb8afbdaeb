//! Text to token ids with Hugging Face's `tokenizers` crate, the library transformers itself runs:
//! every `tokenizer.json` (WordPiece, BPE and byte-level BPE, Unigram, WordLevel) tokenizes here
//! as in Python, with its own normalizer, pre-tokenizer, added tokens and post-processor (the
//! special tokens and template: `[CLS] $A [SEP]`, `<s> $A </s>`, or none).
//!
//! Hand-written here is only what transformers does around the library:
//! - a folder with only `vocab.txt` (older BERT checkpoints) gets the BERT pipeline that
//!   transformers' `BertTokenizer` builds from it ([`vocab_txt`]);
//! - `tokenizer_config.json`'s `do_lower_case`, `strip_accents` and `tokenize_chinese_chars` win
//!   over a `tokenizer.json`'s BertNormalizer, as transformers' BERT tokenizers rebuild it;
//! - truncation as `truncation=True, max_length=N` does it (the text is cut, the special tokens
//!   stay), and the checks that keep a hostile file from giving ids past the model's embedding.
//!
//! Checked against transformers by `tests/golden/make_tokenizer_golden.py` (BERT WordPiece) and
//! `tests/golden/make_multilingual_golden.py` (byte-level BPE and Unigram on seven scripts).

mod vocab_txt;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tokenizers::{Model, ModelWrapper, NormalizerWrapper, PostProcessor, TruncationDirection};

use crate::error::{Error, Result};

/// The special tokens a model's files may name: config key, the names tried when none is given.
const PAD_NAMES: [&str; 4] = ["[PAD]", "<pad>", "<|padding|>", "<|endoftext|>"];
const SPECIAL_KEYS: [&str; 7] = ["unk_token", "cls_token", "sep_token", "pad_token", "mask_token", "bos_token", "eos_token"];

/// Why a text could not be tokenized (a tokenizer without an unknown token meeting a character
/// it has no piece for, ...); the caller names the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError(pub String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not be tokenized: {}", self.0)
    }
}

impl std::error::Error for EncodeError {}

/// A loaded tokenizer; cheap to clone.
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<tokenizers::Tokenizer>,
    /// Ids run from 0 to this (excluded), added tokens included: the embedding rows a model needs.
    vocab_size: usize,
    pad_id: u32,
    /// How many special tokens the post-processor puts around one text.
    specials_added: usize,
    model_max_length: Option<usize>,
    /// `tokenizer_config.json` as given (exported back with it), if any.
    config: Option<Map<String, Value>>,
    /// The `tokenizer.json` bytes it was loaded from (exported unchanged); None for vocab.txt.
    json: Option<Arc<[u8]>>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("kind", &self.kind())
            .field("vocab_size", &self.vocab_size)
            .field("pad_id", &self.pad_id)
            .field("specials_added", &self.specials_added)
            .field("model_max_length", &self.model_max_length)
            .finish()
    }
}

impl Tokenizer {
    /// From a directory: tokenizer.json, else vocab.txt; tokenizer_config.json when present.
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
            let msg = "no tokenizer.json or vocab.txt here (a text model needs its tokenizer)";
            return Err(Error::model(dir.display().to_string(), msg));
        }
        Self::build(borrowed(&json), borrowed(&vocab), borrowed(&config))
    }

    /// From file contents (the browser has no filesystem): tokenizer.json and/or vocab.txt (at least
    /// one; tokenizer.json wins when both are given) and an optional tokenizer_config.json.
    pub fn from_bytes(tokenizer_json: Option<&[u8]>, vocab_txt: Option<&[u8]>, tokenizer_config: Option<&[u8]>) -> Result<Self> {
        Self::build(
            tokenizer_json.map(|b| ("tokenizer.json".to_string(), b)),
            vocab_txt.filter(|_| tokenizer_json.is_none()).map(|b| ("vocab.txt".to_string(), b)),
            tokenizer_config.map(|b| ("tokenizer_config.json".to_string(), b)),
        )
    }

    fn build(json: Option<(String, &[u8])>, vocab_txt: Option<(String, &[u8])>, config: Option<(String, &[u8])>) -> Result<Self> {
        let config = match &config {
            Some((f, b)) => Some((f.clone(), parse_object(f, b)?)),
            None => None,
        };
        let cfg = config.as_ref().map(|(_, m)| m);
        let (file, mut inner) = match (&json, vocab_txt) {
            (Some((f, b)), _) => (f.clone(), from_json(f, b)?),
            (None, Some((f, b))) => (f.clone(), vocab_txt::build(&f, b, cfg, config.as_ref().map_or("", |(f, _)| f))?),
            (None, None) => return Err(Error::model("tokenizer", "needs tokenizer.json or vocab.txt, got neither")),
        };
        if let Some((config_file, cfg)) = &config {
            bert_overrides(&mut inner, cfg, config_file)?;
        }
        // Truncation and padding are the run's to decide (per call), not the file's.
        inner.with_truncation(None).map_err(|e| Error::model(&file, e.to_string()))?;
        inner.with_padding(None);

        let vocab = inner.get_vocab(true);
        if vocab.is_empty() {
            return Err(Error::model(&file, "the vocabulary is empty"));
        }
        let vocab_size = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
        let specials_added = inner.get_post_processor().map_or(0, |p| p.added_tokens(false));
        let model_max_length = match cfg.and_then(|m| m.get("model_max_length")).filter(|v| !v.is_null()) {
            // transformers writes 1e30 for "no limit".
            Some(v) => Some(v.as_f64().filter(|n| *n >= 0.0).map(|n| n.min(usize::MAX as f64) as usize).ok_or_else(|| {
                Error::model(config.as_ref().map_or("tokenizer_config.json", |(f, _)| f), format!("model_max_length must be a non-negative number, got {v}"))
            })?),
            None => None,
        };
        let pad = cfg.and_then(|m| token_name(m.get("pad_token"))).and_then(|name| inner.token_to_id(&name));
        let pad = pad.or_else(|| inner.get_padding().map(|p| p.pad_id)).or_else(|| PAD_NAMES.iter().find_map(|n| inner.token_to_id(n)));
        Ok(Tokenizer {
            inner: Arc::new(inner),
            vocab_size,
            // Padding is masked out of attention and pooling: without a pad token any id serves.
            pad_id: pad.unwrap_or(0),
            specials_added,
            model_max_length,
            config: config.map(|(_, m)| m),
            json: json.map(|(_, b)| Arc::from(b)),
        })
    }

    /// Number of ids (the embedding rows a model needs), added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }
    /// The tokenizer's model: "WordPiece", "BPE", "Unigram" or "WordLevel".
    pub fn kind(&self) -> &'static str {
        match self.inner.get_model() {
            ModelWrapper::WordPiece(_) => "WordPiece",
            ModelWrapper::BPE(_) => "BPE",
            ModelWrapper::Unigram(_) => "Unigram",
            ModelWrapper::WordLevel(_) => "WordLevel",
        }
    }
    /// tokenizer_config.json's `model_max_length`, if it was given.
    pub fn model_max_length(&self) -> Option<usize> {
        self.model_max_length
    }
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The full encoding with the model's special tokens, no truncation.
    pub fn encode(&self, text: &str) -> std::result::Result<Vec<u32>, EncodeError> {
        Ok(self.encode_counted(text, usize::MAX)?.0)
    }

    /// As transformers with `truncation=True, max_length=max_len`: the text's tokens are cut so
    /// that they and the special tokens fit. A `max_len` with no room for any text token is not
    /// applied (transformers cannot truncate to it either).
    pub fn encode_truncated(&self, text: &str, max_len: usize) -> std::result::Result<Vec<u32>, EncodeError> {
        Ok(self.encode_counted(text, max_len)?.0)
    }

    /// [`Self::encode_truncated`], and whether the text was cut.
    pub fn encode_counted(&self, text: &str, max_len: usize) -> std::result::Result<(Vec<u32>, bool), EncodeError> {
        let fail = |e: tokenizers::Error| EncodeError(e.to_string());
        let mut enc = self.inner.encode_fast(text, false).map_err(fail)?;
        let room = max_len.saturating_sub(self.specials_added);
        let cut = room > 0 && enc.len() > room;
        if cut {
            enc.truncate(room, 0, TruncationDirection::Right);
        }
        let enc = self.inner.post_process(enc, None, true).map_err(fail)?;
        Ok((enc.get_ids().to_vec(), cut))
    }

    /// Files to write beside an exported model so transformers and this tokenizer load it back:
    /// tokenizer.json (the original bytes when loaded from one), tokenizer_config.json (the
    /// original, or one transformers reads), special_tokens_map.json, and vocab.txt for WordPiece.
    pub fn export_files(&self) -> Vec<(String, Vec<u8>)> {
        let pretty = |v: &Value| serde_json::to_vec_pretty(v).unwrap_or_default();
        let mut config = self.config.clone().unwrap_or_else(|| self.generated_config());
        if let (Some(n), false) = (self.model_max_length, config.contains_key("model_max_length")) {
            config.insert("model_max_length".into(), json!(n));
        }
        let specials: Map<String, Value> =
            SPECIAL_KEYS.iter().filter_map(|k| Some((k.to_string(), json!(token_name(config.get(*k))?)))).collect();
        let tokenizer_json = match &self.json {
            Some(bytes) => bytes.to_vec(),
            None => self.inner.to_string(true).map(String::into_bytes).unwrap_or_default(),
        };
        let mut files = vec![
            ("tokenizer.json".to_string(), tokenizer_json),
            ("tokenizer_config.json".into(), pretty(&Value::Object(config))),
            ("special_tokens_map.json".into(), pretty(&Value::Object(specials))),
        ];
        if let ModelWrapper::WordPiece(wp) = self.inner.get_model() {
            let vocab = wp.get_vocab();
            let mut by_id: Vec<(&String, &u32)> = vocab.iter().collect();
            by_id.sort_by_key(|&(_, &id)| id);
            files.push(("vocab.txt".into(), by_id.into_iter().flat_map(|(t, _)| [t.as_str(), "\n"]).collect::<String>().into_bytes()));
        }
        files
    }

    /// A tokenizer_config.json for a tokenizer that came without one: the special tokens the
    /// tokenizer knows, and its added tokens (transformers 5 reads them from here).
    fn generated_config(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let bert = matches!(self.inner.get_model(), ModelWrapper::WordPiece(_));
        m.insert("tokenizer_class".into(), json!(if bert { "BertTokenizer" } else { "PreTrainedTokenizerFast" }));
        if let Some(NormalizerWrapper::BertNormalizer(n)) = self.inner.get_normalizer() {
            m.insert("do_lower_case".into(), json!(n.lowercase));
            m.insert("strip_accents".into(), json!(n.strip_accents));
            m.insert("tokenize_chinese_chars".into(), json!(n.handle_chinese_chars));
        }
        let names: [(&str, &[&str]); 5] = [
            ("unk_token", &["[UNK]", "<unk>"]),
            ("cls_token", &["[CLS]", "<s>"]),
            ("sep_token", &["[SEP]", "</s>"]),
            ("pad_token", &PAD_NAMES),
            ("mask_token", &["[MASK]", "<mask>"]),
        ];
        for (key, candidates) in names {
            if let Some(name) = candidates.iter().find(|n| self.inner.token_to_id(n).is_some()) {
                m.insert(key.into(), json!(name));
            }
        }
        let mut added: Vec<_> = self.inner.get_added_tokens_decoder().into_iter().collect();
        added.sort_by_key(|(id, _)| *id);
        let decoder: Map<String, Value> = added
            .into_iter()
            .map(|(id, t)| {
                let v = json!({"content": t.content, "single_word": t.single_word, "lstrip": t.lstrip, "rstrip": t.rstrip,
                    "normalized": t.normalized, "special": t.special});
                (id.to_string(), v)
            })
            .collect();
        m.insert("added_tokens_decoder".into(), Value::Object(decoder));
        m
    }
}

/// Parses a tokenizer.json with the library, after the checks that name what is wrong in terms a
/// user can act on.
fn from_json(file: &str, bytes: &[u8]) -> Result<tokenizers::Tokenizer> {
    let root = parse_object(file, bytes)?;
    if !root.get("model").is_some_and(Value::is_object) {
        return Err(Error::model(file, "has no \"model\" object"));
    }
    let tok = tokenizers::Tokenizer::from_bytes(bytes)
        .map_err(|e| Error::model(file, format!("not a tokenizer Hugging Face's tokenizers library reads: {e}")))?;
    // The library renumbers an added token whose id is taken or leaves a gap (with only a log
    // warning); the model's embedding rows follow the file's ids, so a mismatch is an error.
    for t in root.get("added_tokens").and_then(Value::as_array).into_iter().flatten() {
        let (Some(content), Some(id)) = (t.get("content").and_then(Value::as_str), t.get("id").and_then(Value::as_u64)) else { continue };
        let got = tok.token_to_id(content);
        if got.map(u64::from) != Some(id) {
            let msg = format!(
                "added token \"{content}\" has id {id} in the file, but the vocabulary gives it {}: the ids are not consistent",
                got.map_or("none".to_string(), |g| g.to_string())
            );
            return Err(Error::model(file, msg));
        }
    }
    Ok(tok)
}

/// transformers' BERT tokenizers rebuild the normalizer from tokenizer_config.json's settings.
fn bert_overrides(tok: &mut tokenizers::Tokenizer, cfg: &Map<String, Value>, file: &str) -> Result<()> {
    let flag = |k: &str| match cfg.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(Error::model(file, format!("{k} must be true or false, got {v}"))),
    };
    let (lower, chinese) = (flag("do_lower_case")?, flag("tokenize_chinese_chars")?);
    let strip = if cfg.contains_key("strip_accents") { Some(flag("strip_accents")?) } else { None };
    if let Some(NormalizerWrapper::BertNormalizer(n)) = tok.get_normalizer() {
        let mut n = n.clone();
        n.lowercase = lower.unwrap_or(n.lowercase);
        n.handle_chinese_chars = chinese.unwrap_or(n.handle_chinese_chars);
        n.strip_accents = strip.unwrap_or(n.strip_accents);
        tok.with_normalizer(Some(n));
    }
    Ok(())
}

fn borrowed(f: &Option<(String, Vec<u8>)>) -> Option<(String, &[u8])> {
    f.as_ref().map(|(n, b)| (n.clone(), b.as_slice()))
}

fn parse_object(file: &str, bytes: &[u8]) -> Result<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::model(file, "expected a JSON object")),
        Err(e) => Err(Error::model(file, format!("invalid JSON: {e}"))),
    }
}

/// A special token as tokenizer_config.json writes it: a string, or an object with `content`.
fn token_name(v: Option<&Value>) -> Option<String> {
    v.and_then(|v| v.as_str().or_else(|| v.get("content").and_then(Value::as_str))).map(str::to_string)
}
