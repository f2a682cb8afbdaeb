//! Golden ids from transformers (`tests/golden/make_tokenizer_golden.py` for BERT WordPiece,
//! `tests/golden/make_multilingual_golden.py` for byte-level BPE and Unigram), truncation, export
//! round trips and error messages.

use super::*;
use std::collections::HashMap;

const MODEL_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/models/all-MiniLM-L6-v2");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/tokenizer.json");
const MULTILINGUAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/multilingual.json");
const TOKENIZERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/tokenizers");

fn model_file(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(MODEL_DIR).join(name)).expect("model file")
}

fn real() -> Tokenizer {
    Tokenizer::from_dir(Path::new(MODEL_DIR)).expect("load all-MiniLM-L6-v2")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().expect("id list").iter().map(|i| i.as_u64().expect("id") as u32).collect()
}

fn enc(t: &Tokenizer, text: &str) -> Vec<u32> {
    t.encode(text).expect("encode")
}

/// Every case's full and truncated ids against the golden file's.
fn check_cases(tok: &Tokenizer, cases: &[Value], trunc_key: &str, max_len: usize, what: &str) {
    let mut bad = Vec::new();
    for c in cases {
        let text = c["text"].as_str().expect("text");
        let (full, trunc) = (enc(tok, text), tok.encode_truncated(text, max_len).expect("encode"));
        if full != ids(&c["ids"]) {
            bad.push(format!("{text:?}\n  full ours {full:?}\n  full HF   {:?}", ids(&c["ids"])));
        }
        if trunc != ids(&c[trunc_key]) {
            bad.push(format!("{text:?}\n  {trunc_key} ours {trunc:?}\n  {trunc_key} HF   {:?}", ids(&c[trunc_key])));
        }
    }
    assert!(bad.is_empty(), "{what}: {} mismatches with transformers:\n{}", bad.len(), bad.join("\n"));
}

fn check_golden(tok: &Tokenizer, what: &str) {
    let golden: Value = serde_json::from_slice(&std::fs::read(GOLDEN).expect("golden file")).expect("golden JSON");
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() >= 60, "golden file has only {} cases", cases.len());
    check_cases(tok, cases, "ids_trunc64", 64, what);
}

fn err(r: Result<Tokenizer>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn golden_ids_match_transformers() {
    check_golden(&real(), "tokenizer.json");
}

#[test]
fn bpe_and_unigram_ids_match_transformers_in_seven_scripts() {
    let golden: Value = serde_json::from_slice(&std::fs::read(MULTILINGUAL).expect("golden file")).expect("golden JSON");
    for (name, kind) in [("bpe", "BPE"), ("unigram", "Unigram")] {
        let g = &golden["tokenizers_tested"][name];
        let tok = Tokenizer::from_dir(&Path::new(TOKENIZERS).join(name)).expect(name);
        assert_eq!(tok.kind(), kind);
        assert_eq!(tok.vocab_size() as u64, g["vocab_size"].as_u64().unwrap(), "{name}: vocab size");
        assert_eq!(tok.pad_id(), tok.token_to_id("<pad>").unwrap(), "{name}: pad_token from tokenizer_config.json");
        let cases = g["cases"].as_array().expect("cases");
        assert!(cases.len() >= 20);
        check_cases(&tok, cases, "ids_trunc16", 16, name);
        // Exported and read back: the same ids.
        let dir = tempdir(&format!("export-{name}"));
        for (file, bytes) in tok.export_files() {
            std::fs::write(dir.join(file), bytes).unwrap();
        }
        check_cases(&Tokenizer::from_dir(&dir).unwrap(), cases, "ids_trunc16", 16, &format!("{name}, exported"));
        std::fs::remove_dir_all(&dir).ok();
    }
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("edgetune-tokenize-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn vocab_txt_gives_the_same_ids_as_tokenizer_json() {
    let (vocab, config) = (model_file("vocab.txt"), model_file("tokenizer_config.json"));
    let (a, b) = (real(), Tokenizer::from_bytes(None, Some(&vocab), Some(&config)).unwrap());
    check_golden(&b, "vocab.txt + tokenizer_config.json");
    assert_eq!((a.vocab_size(), a.pad_id()), (b.vocab_size(), b.pad_id()));
}

#[test]
fn basics_of_the_real_model() {
    let t = real();
    assert_eq!((t.kind(), t.vocab_size(), t.pad_id()), ("WordPiece", 30522, 0));
    assert_eq!(t.model_max_length(), Some(512));
    assert_eq!(t.id_to_token(101).as_deref(), Some("[CLS]"));
    assert_eq!(t.id_to_token(30522), None);
    assert_eq!(enc(&t, ""), vec![101, 102]);
    assert!(format!("{t:?}").len() < 400, "Debug must not dump the vocabulary");
}

#[test]
fn truncation_keeps_the_special_tokens() {
    let t = real();
    let full = enc(&t, "one two three four five");
    assert_eq!(full.len(), 7);
    let cut = |max| t.encode_truncated("one two three four five", max).unwrap();
    assert_eq!(cut(7), full);
    assert_eq!(cut(100), full);
    assert_eq!(cut(4), vec![101, full[1], full[2], 102]);
    assert_eq!(t.encode_counted("one two three four five", 4).unwrap().1, true);
    assert_eq!(t.encode_counted("one two three four five", 7).unwrap().1, false);
    // No room for any text token: transformers cannot truncate to it and neither do we.
    for max in [0, 1, 2] {
        assert_eq!(cut(max), full);
    }
}

/// The exported files load back (from each of their sources) with identical ids; tokenizer.json
/// is the original file when there was one.
#[test]
fn export_files_round_trip() {
    let from_txt = Tokenizer::from_bytes(None, Some(&model_file("vocab.txt")), Some(&model_file("tokenizer_config.json"))).unwrap();
    for (what, tok) in [("from tokenizer.json", real()), ("from vocab.txt", from_txt)] {
        let files: HashMap<String, Vec<u8>> = tok.export_files().into_iter().collect();
        let names = ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"];
        assert!(names.iter().all(|n| files.contains_key(*n)) && files.len() == 4, "{what}: {:?}", files.keys());
        let config: Value = serde_json::from_slice(&files["tokenizer_config.json"]).unwrap();
        assert_eq!((&config["do_lower_case"], &config["cls_token"], &config["model_max_length"]), (&json!(true), &json!("[CLS]"), &json!(512)));
        let map: Value = serde_json::from_slice(&files["special_tokens_map.json"]).unwrap();
        assert_eq!(map, json!({"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}));
        assert_eq!(files["vocab.txt"], model_file("vocab.txt"), "{what}: vocab.txt");
        let cfg = Some(files["tokenizer_config.json"].as_slice());
        check_golden(&Tokenizer::from_bytes(Some(&files["tokenizer.json"]), None, None).unwrap(), &format!("{what}: exported tokenizer.json"));
        check_golden(&Tokenizer::from_bytes(None, Some(&files["vocab.txt"]), cfg).unwrap(), &format!("{what}: exported vocab.txt"));
        let dir = tempdir(&format!("rt-{}", what.len()));
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
    assert!(
        json(r#"{"model": {"type": "Nope", "vocab": {"a": 0}}}"#).starts_with("tokenizer.json: not a tokenizer Hugging Face's tokenizers library reads: "),
        "{}",
        json(r#"{"model": {"type": "Nope"}}"#)
    );
    assert_eq!(
        json(r###"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {"[PAD]": 0, "[UNK]": 1}}, "added_tokens": [{"id": 5, "content": "<x>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}]}"###),
        "tokenizer.json: added token \"<x>\" has id 5 in the file, but the vocabulary gives it 2: the ids are not consistent"
    );
    assert_eq!(txt(""), "vocab.txt: the vocabulary is empty");
    assert_eq!(txt("[PAD]\n[UNK]\n[SEP]\nhello\n"), "vocab.txt: the CLS token \"[CLS]\" is not in the vocabulary");
    assert_eq!(txt("[PAD]\n[CLS]\n[SEP]\n"), "vocab.txt: the UNK token \"[UNK]\" is not in the vocabulary");
    assert_eq!(txt("[PAD]\n[UNK]\n[CLS]\n"), "vocab.txt: the SEP token \"[SEP]\" is not in the vocabulary");
    assert_eq!(txt("[UNK]\n[CLS]\n[SEP]\n"), "vocab.txt: the PAD token \"[PAD]\" is not in the vocabulary");
    assert!(err(Tokenizer::from_bytes(None, Some(b"[PAD]\n\xff\n"), None)).starts_with("vocab.txt: not valid UTF-8"));
    assert_eq!(err(Tokenizer::from_bytes(None, None, None)), "tokenizer: needs tokenizer.json or vocab.txt, got neither");
    let vocab = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
    let cfg = |s: &str| err(Tokenizer::from_bytes(None, Some(vocab), Some(s.as_bytes())));
    assert_eq!(cfg("nope"), "tokenizer_config.json: invalid JSON: expected ident at line 1 column 2");
    assert_eq!(cfg(r#"{"do_lower_case": "yes"}"#), "tokenizer_config.json: do_lower_case must be true or false, got \"yes\"");
    assert_eq!(cfg(r#"{"cls_token": "<s>"}"#), "vocab.txt: the CLS token \"<s>\" is not in the vocabulary");
    assert_eq!(
        cfg(r#"{"added_tokens_decoder": {"6": {"content": "<x>"}}}"#),
        "tokenizer_config.json: added token \"<x>\" has id 6, expected 4: the ids are not consistent"
    );
    assert_eq!(cfg(r#"{"model_max_length": -3}"#), "tokenizer_config.json: model_max_length must be a non-negative number, got -3");
}

/// A WordPiece whose unknown token is missing from its vocabulary loads, but cannot encode a word
/// it has no piece for: an error saying why, which the caller prefixes with the text's place.
#[test]
fn a_text_the_tokenizer_cannot_encode_is_an_error() {
    let json = br###"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {"a": 0, "b": 1}}}"###;
    let t = Tokenizer::from_bytes(Some(json), None, None).unwrap();
    assert_eq!(enc(&t, "a"), vec![0]);
    assert_eq!(t.encode("z").unwrap_err().to_string(), "could not be tokenized: WordPiece error: Missing [UNK] token from the vocabulary");
}

#[test]
fn from_dir_errors_name_the_path() {
    let dir = tempdir("err");
    assert_eq!(err(Tokenizer::from_dir(&dir)), format!("{}: no tokenizer.json or vocab.txt here (a text model needs its tokenizer)", dir.display()));
    std::fs::create_dir_all(dir.join("tokenizer.json")).unwrap(); // a directory: exists but cannot be read
    assert!(matches!(Tokenizer::from_dir(&dir), Err(Error::Io { .. })));
    std::fs::remove_dir_all(dir.join("tokenizer.json")).unwrap();
    std::fs::write(dir.join("vocab.txt"), "[PAD]\n").unwrap();
    assert_eq!(err(Tokenizer::from_dir(&dir)), format!("{}: the UNK token \"[UNK]\" is not in the vocabulary", dir.join("vocab.txt").display()));
    std::fs::remove_dir_all(&dir).ok();
    assert!(matches!(Tokenizer::from_dir(&dir), Err(Error::Io { .. })));
}

#[test]
fn config_overrides_a_bert_normalizer() {
    let json = model_file("tokenizer.json");
    let cased = Tokenizer::from_bytes(Some(&json), None, Some(br#"{"do_lower_case": false}"#)).unwrap();
    let uncased = Tokenizer::from_bytes(Some(&json), None, None).unwrap();
    assert_eq!(enc(&uncased, "Hello"), vec![101, 7592, 102]);
    assert_ne!(enc(&cased, "Hello"), enc(&uncased, "Hello"));
    let files: HashMap<String, Vec<u8>> = cased.export_files().into_iter().collect();
    let config: Value = serde_json::from_slice(&files["tokenizer_config.json"]).unwrap();
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
        b"{", b"}", b"\"model\":", b"\"vocab\":", b"[", b"]", b"\"type\":\"WordPiece\"", b"\"type\":\"BPE\"", b"\"type\":\"Unigram\"", b"0", b"\n",
        b",", b"\"[UNK]\"", b"\xff", b"\xe4\xb8\xad", b"[MASK]", b" ", b"\x00", b"\"added_tokens\":", b"\"merges\":",
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
        let ids = enc(&t, &text);
        assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
        assert!(t.encode_truncated(&text, round % 10 + 3).unwrap().len() <= round % 10 + 3);
    }
}
