//! GGUF reading against gguf-py (llama.cpp's Python package): every tensor type edgetune reads,
//! de-quantised from seeded random blocks, equals gguf-py's values exactly; every metadata value
//! type reads back; and the shipped SmolLM2-135M GGUF (the generative default) gives gguf-py's
//! architecture, tokenizer, chat template and tensor values. Golden values:
//! `tests/golden/make_gguf_golden.py`. Damaged files are refused with the reason.

mod common;

use edgetune::gguf::{Gguf, Value as Meta};
use serde_json::Value;

/// Runs the golden script into a temporary directory; None (skip) without Python outside CI.
fn golden() -> Option<tempfile::TempDir> {
    let Some(python) = common::python_or_skip("gguf") else {
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(python).arg(common::repo("tests/golden/make_gguf_golden.py")).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "make_gguf_golden.py failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(dir)
}

fn json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

/// Tensor `name` of `gguf` against gguf-py's values (`want`: type, shape, values; possibly the
/// first rows only): equal, bit for bit.
fn check_tensor(gguf: &Gguf, name: &str, want: &Value) {
    let full = shape(&want["shape"]);
    let info = gguf.info(name).unwrap_or_else(|| panic!("no tensor {name}"));
    assert_eq!(info.kind.name(), want["type"].as_str().unwrap(), "{name}: type");
    let got = gguf.f32(name, &full).unwrap();
    let want = floats(&want["values"]);
    let got = &got[..want.len()];
    let differ = got.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(differ, 0, "{name}: {differ} of {} values differ from gguf-py's", want.len());
}

#[test]
fn every_type_and_metadata_value_reads_as_gguf_py_reads_it() {
    let Some(dir) = golden() else { return };
    let want = json(&dir.path().join("random.json"));
    let gguf = Gguf::parse(std::fs::read(dir.path().join("random.gguf")).unwrap(), "random.gguf").unwrap();
    let tensors = want["tensors"].as_object().unwrap();
    assert_eq!(tensors.len(), 11);
    for (name, t) in tensors {
        check_tensor(&gguf, name, t);
    }
    let meta = &want["meta"];
    for key in ["test.u8", "test.u16", "test.u32", "test.u64"] {
        assert_eq!(gguf.uint(key).unwrap(), meta[key].as_u64().unwrap(), "{key}");
    }
    for key in ["test.i8", "test.i16", "test.i32", "test.i64", "test.f32", "test.f64"] {
        assert_eq!(gguf.float(key).unwrap(), meta[key].as_f64().unwrap(), "{key}");
    }
    assert_eq!(gguf.meta("test.bool"), Some(&Meta::Bool(true)));
    assert_eq!(gguf.str("test.string").unwrap(), meta["test.string"].as_str().unwrap());
    let strings: Vec<&str> = gguf.meta("test.strings").and_then(Meta::as_array).unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(strings, ["a", "", "ç"]);
    let nums: Vec<f64> = gguf.meta("test.floats").and_then(Meta::as_array).unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(nums, [1.5, -2.0, 3.25]);
    assert_eq!(gguf.str("general.architecture").unwrap(), "llama");
    // Wrong types and names are errors that say so.
    assert_eq!(gguf.uint("test.string").unwrap_err().to_string(), "random.gguf: metadata 'test.string' is a string, expected a non-negative integer");
    assert_eq!(gguf.uint("test.i8").unwrap_err().to_string(), "random.gguf: metadata 'test.i8' is an integer, expected a non-negative integer");
    assert_eq!(gguf.f32("t.Q4_K", &[512, 3]).unwrap_err().to_string(), "random.gguf: tensor 't.Q4_K' has shape [3, 512], expected [512, 3]");
}

#[test]
fn smollm2_reads_as_gguf_py_reads_it() {
    let Some(dir) = golden() else { return };
    let want = json(&dir.path().join("smollm2.json"));
    let path = common::shared("models/SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let gguf = Gguf::parse(std::fs::read(&path).unwrap(), "SmolLM2-135M-Instruct.Q4_1.gguf").unwrap();
    assert_eq!(gguf.names().count() as u64, want["tensor_count"].as_u64().unwrap());
    assert_eq!(gguf.str("general.architecture").unwrap(), want["architecture"]);
    assert_eq!(gguf.uint("llama.block_count").unwrap(), want["block_count"].as_u64().unwrap());
    assert_eq!(gguf.uint("llama.embedding_length").unwrap(), want["embedding_length"].as_u64().unwrap());
    assert_eq!(gguf.uint("llama.attention.head_count_kv").unwrap(), want["head_count_kv"].as_u64().unwrap());
    assert_eq!(gguf.float("llama.rope.freq_base").unwrap(), want["rope_freq_base"].as_f64().unwrap());
    assert_eq!(gguf.float("llama.attention.layer_norm_rms_epsilon").unwrap(), want["rms_eps"].as_f64().unwrap());
    assert_eq!(gguf.str("tokenizer.ggml.model").unwrap(), want["tokenizer_model"]);
    assert_eq!(gguf.str("tokenizer.chat_template").unwrap(), want["chat_template"]);
    let tokens = gguf.meta("tokenizer.ggml.tokens").and_then(Meta::as_array).unwrap();
    assert_eq!(tokens.len() as u64, want["tokens"].as_u64().unwrap());
    let first: Vec<&str> = tokens[..5].iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(serde_json::json!(first), want["first_tokens"]);
    assert_eq!(gguf.meta("tokenizer.ggml.merges").and_then(Meta::as_array).unwrap().len() as u64, want["merges"].as_u64().unwrap());
    for (name, t) in want["tensors"].as_object().unwrap() {
        check_tensor(&gguf, name, t);
    }

    // The tokenizer the metadata describes: transformers' ids on every text, and back.
    let tok = edgetune::gguf::tokenizer::tokenizer(&gguf).unwrap();
    let cases = want["tokenized"].as_array().unwrap();
    let mut differ = Vec::new();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let ids: Vec<u32> = c["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text, true).unwrap().get_ids().to_vec();
        if got != ids {
            differ.push(format!("{text:?}: {got:?} vs transformers {ids:?}"));
        }
        assert_eq!(tok.decode(&got, false).unwrap(), text, "decoding gives the text back");
    }
    assert!(differ.is_empty(), "{} of {} texts tokenize otherwise:\n{}", differ.len(), cases.len(), differ.join("\n"));
    let (bos, eos, pad) = edgetune::gguf::tokenizer::special_ids(&gguf);
    let ids: Vec<Option<u32>> = want["special_ids"].as_array().unwrap().iter().map(|v| v.as_u64().map(|n| n as u32)).collect();
    assert_eq!(vec![bos, eos, pad], ids);
    eprintln!("SmolLM2 GGUF: {} texts tokenize as transformers does; tensors {:?} equal gguf-py's", cases.len(), want["tensors"].as_object().unwrap().keys().collect::<Vec<_>>());
}

/// A truncated file, a wrong magic, a tensor that lies past the end, an absurd count, a type
/// edgetune does not read: each an error naming the file and what is wrong.
#[test]
fn damaged_files_are_refused_with_the_reason() {
    let err = |bytes: Vec<u8>| Gguf::parse(bytes, "bad.gguf").unwrap_err().to_string();
    assert_eq!(err(b"GGML\x03\0\0\0".to_vec()), "bad.gguf: not a GGUF file (it does not start with 'GGUF')");
    assert!(err(b"GGUF\x03\0\0".to_vec()).starts_with("bad.gguf: the file ends inside its header"));
    assert_eq!(err(b"GGUF\x01\0\0\0".to_vec()), "bad.gguf: GGUF version 1: edgetune reads versions 2 and 3");
    let header = |tensors: u64, kv: u64| [b"GGUF".as_slice(), &3u32.to_le_bytes(), &tensors.to_le_bytes(), &kv.to_le_bytes()].concat();
    assert!(err(header(u64::MAX, 0)).contains("not a model file"));
    // One metadata string claiming more bytes than the file has.
    let mut b = header(0, 1);
    b.extend(3u64.to_le_bytes());
    b.extend(b"key");
    b.extend(8u32.to_le_bytes());
    b.extend(u64::MAX.to_le_bytes());
    assert!(err(b).contains("runs past the end of the file"));
    // One F32 tensor of 4 values whose data is not in the file.
    let tensor = |kind: u32| {
        let mut b = header(1, 0);
        b.extend(1u64.to_le_bytes());
        b.extend(b"w");
        b.extend(1u32.to_le_bytes());
        b.extend(4u64.to_le_bytes());
        b.extend(kind.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b
    };
    assert!(err(tensor(0)).starts_with("bad.gguf: tensor 'w' (16 bytes at data offset 0) lies outside the file"), "{}", err(tensor(0)));
    assert!(err(tensor(10)).starts_with("bad.gguf: tensor 'w' is of type 10 (Q2_K), which edgetune does not read"));
    // With its data (aligned to 32 bytes), it reads; a NaN in it is refused.
    let mut ok = tensor(0);
    ok.resize(ok.len().div_ceil(32) * 32, 0);
    ok.extend([1.0f32, 2.0, f32::NAN, 4.0].iter().flat_map(|v| v.to_le_bytes()));
    let g = Gguf::parse(ok, "bad.gguf").unwrap();
    assert_eq!(g.f32("w", &[4]).unwrap_err().to_string(), "bad.gguf: tensor 'w' holds a value that is not finite (element 2)");
}
