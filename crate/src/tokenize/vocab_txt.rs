//! A BERT tokenizer from `vocab.txt` alone (older checkpoints ship no tokenizer.json): the
//! pipeline transformers' `BertTokenizer` builds from it — BertNormalizer, BertPreTokenizer,
//! WordPiece, `[CLS] $A [SEP]` — written as a tokenizer.json and read by the `tokenizers` crate,
//! so both kinds of folder run the same code. `tokenizer_config.json` gives the special tokens'
//! names and extra added tokens here, and the normalizer's settings in the caller.

use serde_json::{json, Map, Value};

use super::token_name;
use crate::error::{Error, Result};

/// Role, tokenizer_config.json key, default name.
const SPECIALS: [(&str, &str, &str); 5] = [
    ("UNK", "unk_token", "[UNK]"),
    ("CLS", "cls_token", "[CLS]"),
    ("SEP", "sep_token", "[SEP]"),
    ("PAD", "pad_token", "[PAD]"),
    ("MASK", "mask_token", "[MASK]"),
];

pub(super) fn build(file: &str, bytes: &[u8], cfg: Option<&Map<String, Value>>, cfg_file: &str) -> Result<tokenizers::Tokenizer> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::model(file, format!("not valid UTF-8 ({e})")))?;
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    if lines.is_empty() {
        return Err(Error::model(file, "the vocabulary is empty"));
    }
    let empty = Map::new();
    let cfg = cfg.unwrap_or(&empty);
    // A repeated line: the last one wins, as in transformers (the earlier id is never produced).
    let mut vocab = Map::new();
    for (id, token) in lines.iter().enumerate() {
        vocab.insert(token.to_string(), json!(id));
    }
    let names: [String; 5] = std::array::from_fn(|i| token_name(cfg.get(SPECIALS[i].1)).unwrap_or_else(|| SPECIALS[i].2.to_string()));
    let mut ids = [None; 5];
    for (i, name) in names.iter().enumerate() {
        ids[i] = vocab.get(name).and_then(Value::as_u64);
        if ids[i].is_none() && SPECIALS[i].0 != "MASK" {
            return Err(Error::model(file, format!("the {} token \"{name}\" is not in the vocabulary", SPECIALS[i].0)));
        }
    }

    // The special tokens are added tokens (so "[MASK]" in a text is one id), then the config's own.
    let mut added: Vec<Value> = names
        .iter()
        .zip(ids)
        .filter_map(|(name, id)| Some(json!({"id": id?, "content": name, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true})))
        .collect();
    let mut next = lines.len() as u64;
    let mut decoder: Vec<(u64, &Value)> = Vec::new();
    for (id, v) in cfg.get("added_tokens_decoder").and_then(Value::as_object).into_iter().flatten() {
        let id = id.parse().map_err(|_| Error::model(cfg_file, format!("added_tokens_decoder key \"{id}\" is not an id")))?;
        decoder.push((id, v));
    }
    decoder.sort_by_key(|(id, _)| *id);
    for (id, v) in decoder {
        let Some(content) = token_name(Some(v)) else {
            return Err(Error::model(cfg_file, format!("added token {id} has no \"content\"")));
        };
        if added.iter().any(|a| a["content"] == json!(content)) {
            continue;
        }
        // Past the vocabulary, ids must continue it: the model's embedding rows follow them.
        if id >= lines.len() as u64 {
            if id != next {
                return Err(Error::model(cfg_file, format!("added token \"{content}\" has id {id}, expected {next}: the ids are not consistent")));
            }
            next += 1;
        } else if vocab.get(&content).and_then(Value::as_u64) != Some(id) {
            return Err(Error::model(cfg_file, format!("added token \"{content}\" has id {id}, but vocab.txt gives that id to another token")));
        }
        let flag = |k: &str, d: bool| v.get(k).and_then(Value::as_bool).unwrap_or(d);
        added.push(json!({"id": id, "content": content, "single_word": flag("single_word", false), "lstrip": flag("lstrip", false),
            "rstrip": flag("rstrip", false), "normalized": flag("normalized", true), "special": flag("special", false)}));
    }

    let (cls, sep) = (&names[1], &names[2]);
    let special = |name: &str, type_id: u32| json!({"SpecialToken": {"id": name, "type_id": type_id}});
    let seq = |id: &str, type_id: u32| json!({"Sequence": {"id": id, "type_id": type_id}});
    let mut template_specials = Map::new();
    for (name, id) in [(cls, ids[1]), (sep, ids[2])] {
        template_specials.insert(name.clone(), json!({"id": name, "ids": [id], "tokens": [name]}));
    }
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added,
        // BertTokenizer's defaults; tokenizer_config.json's settings are applied by the caller
        // (`bert_overrides`), as for a tokenizer.json.
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [special(cls, 0), seq("A", 0), special(sep, 0)],
            "pair": [special(cls, 0), seq("A", 0), special(sep, 0), seq("B", 1), special(sep, 1)],
            "special_tokens": template_specials},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": names[0], "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": vocab},
    });
    let bytes = serde_json::to_vec(&tokenizer).map_err(|e| Error::model(file, e.to_string()))?;
    tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| Error::model(file, format!("could not build a BERT tokenizer from it: {e}")))
}
