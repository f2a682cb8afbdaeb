//! The tokenizer a GGUF file describes (it carries no `tokenizer.json`: the vocabulary, merges,
//! token kinds and special ids are metadata under llama.cpp's names), rebuilt as the Hugging Face
//! `tokenizers` pipeline transformers builds from the same file (`integrations/gguf`'s
//! byte-level builder): a byte-level BPE over the file's vocabulary and merges, the split
//! pattern its `tokenizer.ggml.pre` names, control tokens (`<|im_start|>`) kept whole as special
//! tokens and user-defined ones (`<think>`) as added tokens. It is written as a `tokenizer.json`
//! and read by the `tokenizers` crate, so an export can ship the same file.
//! `tests/gguf.rs` checks the ids against transformers' `AutoTokenizer(gguf_file=...)`.

use super::{Gguf, Value};
use crate::error::{Error, Result};
use serde_json::{json, Map};

/// llama.cpp's token kinds (`tokenizer.ggml.token_type`).
const CONTROL: u64 = 3;
const USER_DEFINED: u64 = 4;

/// Split patterns by `tokenizer.ggml.pre`, as transformers maps them; any other value keeps
/// GPT-2's pattern (the byte-level pre-tokenizer's own).
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn split_pattern(pre: &str) -> Option<&'static str> {
    match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "dbrx" | "smaug-bpe" => Some(LLAMA3),
        "qwen2" | "deepseek-r1-qwen" => Some(QWEN2),
        _ => None,
    }
}

/// GPT-2's byte ↔ printable-character table: byte `b` is spelled `BYTE_CHARS[b]`.
fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..256u32 {
        let printable = (b'!' as u32..=b'~' as u32).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).expect("a Latin-1 character")
        } else {
            extra += 1;
            char::from_u32(255 + extra).expect("a Latin Extended character")
        };
    }
    table
}

/// The file's string array `key`.
fn strings<'a>(g: &'a Gguf, key: &str) -> Result<Vec<&'a str>> {
    let bad = |what: &str| Error::weights(g.source(), format!("metadata '{key}' {what}"));
    let items = g.meta(key).ok_or_else(|| bad("is missing: the file carries no tokenizer"))?.as_array().ok_or_else(|| bad("is not an array"))?;
    items.iter().map(|v| v.as_str().ok_or_else(|| bad("holds a non-string"))).collect()
}

/// The `tokenizer.json` of the file's tokenizer.
pub fn tokenizer_json(g: &Gguf) -> Result<Vec<u8>> {
    let model = g.str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(Error::weights(
            g.source(),
            format!("tokenizer.ggml.model is '{model}': edgetune reads GGUF files with a byte-level BPE tokenizer ('gpt2': SmolLM2, Qwen2, Llama 3); a SentencePiece ('llama') or Unigram ('t5') one is not supported yet"),
        ));
    }
    let tokens = strings(g, "tokenizer.ggml.tokens")?;
    let merges = strings(g, "tokenizer.ggml.merges")?;
    let kinds: Vec<u64> = match g.meta("tokenizer.ggml.token_type").and_then(Value::as_array) {
        Some(a) => a.iter().map(|v| v.as_u64().unwrap_or(1)).collect(),
        None => vec![1; tokens.len()],
    };
    let chars = byte_chars();
    let alphabet: std::collections::HashSet<char> = chars.iter().copied().collect();
    // A token outside the byte alphabet is spelled byte by byte (transformers does the same).
    let spell = |t: &str| if t.chars().all(|c| alphabet.contains(&c)) { t.to_string() } else { t.bytes().map(|b| chars[b as usize]).collect() };
    let mut vocab = Map::new();
    for (id, t) in tokens.iter().enumerate() {
        vocab.entry(spell(t)).or_insert(json!(id));
    }
    let mut pairs = Vec::with_capacity(merges.len());
    for (i, m) in merges.iter().enumerate() {
        let Some((a, b)) = m.split_once(' ') else {
            return Err(Error::weights(g.source(), format!("merge {i} ('{m}') is not two tokens separated by a space")));
        };
        pairs.push(json!([a, b]));
    }
    let mut added = Vec::new();
    for (id, (t, kind)) in tokens.iter().zip(&kinds).enumerate() {
        // A control token outside the byte alphabet is one of llama.cpp's mislabels: skipped, as
        // transformers does (adding it would grow the vocabulary past the model's).
        let special = *kind == CONTROL && t.chars().all(|c| alphabet.contains(&c));
        if special || *kind == USER_DEFINED {
            added.push(json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": special}));
        }
    }
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let pre = g.meta("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
    let pre_tokenizer = match split_pattern(pre) {
        Some(p) => json!({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": false}, byte_level(false)]}),
        None => byte_level(true),
    };
    let file = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": pairs},
    });
    serde_json::to_vec(&file).map_err(|e| Error::weights(g.source(), format!("cannot write its tokenizer: {e}")))
}

/// The file's tokenizer, ready to encode and decode.
pub fn tokenizer(g: &Gguf) -> Result<tokenizers::Tokenizer> {
    let bytes = tokenizer_json(g)?;
    tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| Error::weights(g.source(), format!("its tokenizer metadata does not make a tokenizer: {e}")))
}

/// The special tokens' ids the file names: `(bos, eos, pad)`.
pub fn special_ids(g: &Gguf) -> (Option<u32>, Option<u32>, Option<u32>) {
    let id = |k: &str| g.uint(k).ok().and_then(|v| u32::try_from(v).ok());
    (id("tokenizer.ggml.bos_token_id"), id("tokenizer.ggml.eos_token_id"), id("tokenizer.ggml.padding_token_id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GPT-2's table: printable bytes are themselves, space is `Ġ` (U+0120), newline `Ċ`.
    #[test]
    fn byte_table_is_gpt2s() {
        let t = byte_chars();
        assert_eq!((t[b'a' as usize], t[b' ' as usize], t[b'\n' as usize], t[0]), ('a', 'Ġ', 'Ċ', 'Ā'));
        let distinct: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }
}
