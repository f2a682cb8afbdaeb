//! tokenizer.json (any kind the `tokenizers` crate reads) / vocab.txt / tokenizer_config.json
//! (crate/src/tokenize.rs). The first byte
//! picks which file the rest is; the tokenizer built is then run on a few texts.
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::tokenize::Tokenizer;
use libfuzzer_sys::fuzz_target;

const VOCAB: &[u8] = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\nworld\n";

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let tok = match sel % 3 {
        0 => Tokenizer::from_bytes(Some(rest), None, None),
        1 => Tokenizer::from_bytes(None, Some(rest), None),
        _ => Tokenizer::from_bytes(None, Some(VOCAB), Some(rest)),
    };
    if let Ok(tok) = tok {
        let text = String::from_utf8_lossy(rest);
        let _ = tok.encode("Hello worlds, héllo 你好 [MASK] ！ привет 😀");
        if let Ok(ids) = tok.encode_truncated(&text, 16) {
            assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size()), "an id past the vocabulary");
        }
        let _ = tok.export_files();
    }
});
