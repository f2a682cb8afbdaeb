//! Hostile input, as a table: each case feeds one parser of outside input something broken,
//! oversized or malicious, and states the exact outcome — the error message (which names the
//! file and the row, tensor or entry, and what was expected), or, where the input is legal but
//! odd (BOMs, mixed line endings, a 10 MB field), what it parses to. No case may panic or hang.
//!
//! Run: `cargo test --release -p edgetune --test hostile`. A failing run lists every case whose
//! outcome changed, with what it got.

mod common;

use edgetune::archive::{unzip, zip};
use edgetune::data::{clean, parse_table, pick_columns, Format, TableOptions};
use edgetune::model::peft::Adapter;
use edgetune::model::text::bert::BertConfig;
use edgetune::model::ModelFiles;
use edgetune::tokenize::Tokenizer;
use edgetune::train::checkpoint::state_from_files;
use edgetune::vision::{decode, read_folder, read_zip};
use edgetune::weights::{to_bytes, SafeTensors};
use std::collections::BTreeMap;
use std::path::Path;

/// What a case must give: the exact text, or a string it must contain.
enum Want {
    Is(&'static str),
    Has(&'static str),
}
use Want::{Has, Is};

struct Case {
    name: &'static str,
    /// Runs the parser on the hostile input (in a fresh temporary folder) and says what happened:
    /// the error message, or a summary of the parsed result.
    run: fn(&Path) -> String,
    want: Want,
}

fn err<T>(r: edgetune::Result<T>) -> String {
    match r {
        Ok(_) => "Ok (expected an error)".into(),
        Err(e) => e.to_string(),
    }
}

// ---- safetensors -------------------------------------------------------------------------

/// A file from a literal header and data section.
fn st_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// Two F32 tensors, 'a' [2] then 'b' [3]: 8 + header + 20 bytes of data.
fn two_tensors() -> Vec<u8> {
    let t = vec![
        ("a".to_string(), vec![2], vec![1.0, 2.0]),
        ("b".to_string(), vec![3], vec![3.0, 4.0, 5.0]),
    ];
    to_bytes(&t, &BTreeMap::new())
}

fn header_len(b: &[u8]) -> usize {
    u64::from_le_bytes(b[..8].try_into().unwrap()) as usize
}

fn st_err(bytes: Vec<u8>) -> String {
    err(SafeTensors::parse(bytes, "m.safetensors"))
}

/// Parses, then decodes every tensor: the first error, or "ok".
fn st_decode_all(bytes: Vec<u8>) -> String {
    let st = match SafeTensors::parse(bytes, "m.safetensors") {
        Ok(st) => st,
        Err(e) => return e.to_string(),
    };
    let names: Vec<String> = st.names().map(String::from).collect();
    for n in names {
        if let Err(e) = st.f32_any(&n) {
            return e.to_string();
        }
    }
    "ok".into()
}

fn f32_entry(name: &str, shape: &str, start: u64, end: u64) -> String {
    format!("\"{name}\":{{\"dtype\":\"F32\",\"shape\":{shape},\"data_offsets\":[{start},{end}]}}")
}

// ---- zip ---------------------------------------------------------------------------------

/// Where the central directory starts (from the end record of an archive `zip` wrote).
fn central(z: &[u8]) -> usize {
    u32::from_le_bytes(z[z.len() - 6..z.len() - 2].try_into().unwrap()) as usize
}

/// Sets the uncompressed size of the first entry, in the central directory and local header.
fn set_first_size(z: &mut [u8], size: u32) {
    let c = central(z);
    z[c + 24..c + 28].copy_from_slice(&size.to_le_bytes());
    z[22..26].copy_from_slice(&size.to_le_bytes());
}

fn unzip_summary(z: &[u8]) -> String {
    match unzip(z, "photos.zip") {
        Ok(u) => {
            let files: Vec<&str> = u.files.iter().map(|(n, _)| n.as_str()).collect();
            let skipped: Vec<String> = u.skipped.iter().map(|(n, w)| format!("{n}: {w}")).collect();
            format!("files {files:?} skipped {skipped:?}")
        }
        Err(e) => e.to_string(),
    }
}

/// A zip with one deflated entry of `n` zero bytes (ratio about 1000:1), as zip tools write it.
fn deflated_zeros(name: &str, n: usize) -> Vec<u8> {
    let data = vec![0u8; n];
    let packed = miniz_oxide::deflate::compress_to_vec(&data, 9);
    let crc = edgetune::archive::crc32(&data);
    let fields = |out: &mut Vec<u8>| {
        out.extend_from_slice(&8u16.to_le_bytes()); // method: deflate
        out.extend_from_slice(&[0; 4]); // time, date
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(packed.len() as u32).to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra
    };
    let mut z = vec![0x50, 0x4b, 3, 4, 20, 0, 0, 0];
    fields(&mut z);
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(&packed);
    let cd = z.len();
    z.extend_from_slice(&[0x50, 0x4b, 1, 2, 20, 0, 20, 0, 0, 0]);
    fields(&mut z);
    z.extend_from_slice(&[0; 10]); // comment len, disk, attributes, external attributes
    z.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() - cd;
    z.extend_from_slice(&[0x50, 0x4b, 5, 6, 0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&(cd_len as u32).to_le_bytes());
    z.extend_from_slice(&(cd as u32).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

fn png(w: u32, h: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    let data = vec![200u8; (w * h * 3) as usize];
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&data, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

// ---- tables ------------------------------------------------------------------------------

fn table(bytes: &[u8], name: &str) -> String {
    match parse_table(bytes, name, &TableOptions::default()) {
        Ok(t) => {
            let rows: Vec<String> = t
                .rows
                .iter()
                .map(|r| {
                    let f: Vec<&str> = r.fields.iter().map(|f| f.as_deref().unwrap_or("∅")).collect();
                    format!("{}:{}", r.line, f.join("|"))
                })
                .collect();
            format!("{:?} header={} columns={:?} rows={:?}", t.format, t.header, t.columns, rows)
        }
        Err(e) => e.to_string(),
    }
}

// ---- models ------------------------------------------------------------------------------

fn bert_config(edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(common::minilm().join("config.json")).unwrap()).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn config_err(bytes: &[u8]) -> String {
    err(BertConfig::from_json(bytes, "MiniLM/config.json"))
}

fn empty_st() -> Vec<u8> {
    to_bytes(&[], &BTreeMap::new())
}

fn adapter_err(config: &[u8]) -> String {
    err(Adapter::parse(config, empty_st(), "my-adapter"))
}

fn tok_json_err(bytes: &[u8]) -> String {
    err(Tokenizer::from_bytes(Some(bytes), None, None))
}

fn vocab_err(bytes: &[u8]) -> String {
    err(Tokenizer::from_bytes(None, Some(bytes), None))
}

fn cases() -> Vec<Case> {
    vec![
        // Truncated safetensors, at every section boundary.
        Case {
            name: "safetensors: empty file",
            run: |_| st_err(vec![]),
            want: Is("m.safetensors: truncated: 0 bytes, a safetensors file starts with an 8-byte header length"),
        },
        Case {
            name: "safetensors: cut inside the length prefix",
            run: |_| st_err(two_tensors()[..5].to_vec()),
            want: Is("m.safetensors: truncated: 5 bytes, a safetensors file starts with an 8-byte header length"),
        },
        Case {
            name: "safetensors: cut right after the length prefix",
            run: |_| {
                let b = two_tensors();
                let n = header_len(&b);
                st_err(b[..8].to_vec()).replace(&n.to_string(), "N")
            },
            want: Is("m.safetensors: header claims N bytes but the file has 8 bytes (truncated, or not a safetensors file)"),
        },
        Case {
            name: "safetensors: cut inside the header",
            run: |_| st_err(two_tensors()[..30].to_vec()),
            want: Is("m.safetensors: header claims 112 bytes but the file has 30 bytes (truncated, or not a safetensors file)"),
        },
        Case {
            name: "safetensors: cut right after the header (no data)",
            run: |_| {
                let b = two_tensors();
                st_err(b[..8 + header_len(&b)].to_vec())
            },
            want: Is("m.safetensors: tensor 'a' ends at byte 8 but the data section has 0 bytes (file truncated?)"),
        },
        Case {
            name: "safetensors: cut at the boundary between two tensors",
            run: |_| {
                let b = two_tensors();
                st_err(b[..8 + header_len(&b) + 8].to_vec())
            },
            want: Is("m.safetensors: tensor 'b' ends at byte 20 but the data section has 8 bytes (file truncated?)"),
        },
        Case {
            name: "safetensors: one byte short at the end",
            run: |_| {
                let b = two_tensors();
                st_err(b[..b.len() - 1].to_vec())
            },
            want: Is("m.safetensors: tensor 'b' ends at byte 20 but the data section has 19 bytes (file truncated?)"),
        },
        Case {
            name: "safetensors: header length u64::MAX",
            run: |_| {
                let mut b = u64::MAX.to_le_bytes().to_vec();
                b.extend_from_slice(b"{}");
                st_err(b)
            },
            want: Is("m.safetensors: header claims 18446744073709551615 bytes but the file has 10 bytes (truncated, or not a safetensors file)"),
        },
        Case {
            name: "safetensors: a 100 GB tensor in a tiny file",
            run: |_| st_err(st_file(&format!("{{{}}}", f32_entry("big", "[25000000000]", 0, 100_000_000_000)), &[0; 16])),
            want: Is("m.safetensors: tensor 'big' ends at byte 100000000000 but the data section has 16 bytes (file truncated?)"),
        },
        Case {
            name: "safetensors: shape whose element count overflows usize",
            run: |_| st_err(st_file(&format!("{{{}}}", f32_entry("w", "[4294967296,4294967296,4]", 0, 16)), &[0; 16])),
            want: Is("m.safetensors: tensor 'w' has shape [4294967296, 4294967296, 4], too large to address"),
        },
        Case {
            name: "safetensors: negative dimension",
            run: |_| st_err(st_file(&format!("{{{}}}", f32_entry("w", "[-1,4]", 0, 16)), &[0; 16])),
            want: Is("m.safetensors: tensor 'w' has no valid \"shape\" (a list of non-negative integers)"),
        },
        Case {
            name: "safetensors: unknown dtype",
            run: |_| st_err(st_file(r#"{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, &[0; 4])),
            want: Is("m.safetensors: tensor 'w' has unknown dtype \"F8_E4M3\" (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)"),
        },
        Case {
            name: "safetensors: integer tensor where floats are needed",
            run: |_| st_decode_all(st_file(r#"{"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, &[0; 16])),
            want: Is("m.safetensors: tensor 'ids' is I64, expected a float tensor"),
        },
        Case {
            name: "safetensors: data_offsets out of range",
            run: |_| st_err(st_file(&format!("{{{}}}", f32_entry("w", "[2]", 8, 16)), &[0; 8])),
            want: Is("m.safetensors: tensor 'w' ends at byte 16 but the data section has 8 bytes (file truncated?)"),
        },
        Case {
            name: "safetensors: data_offsets reversed",
            run: |_| st_err(st_file(&format!("{{{}}}", f32_entry("w", "[2]", 8, 0)), &[0; 8])),
            want: Is("m.safetensors: tensor 'w' has data_offsets [8,0], expected [start, end] with start <= end"),
        },
        Case {
            name: "safetensors: overlapping tensors",
            run: |_| {
                let h = format!("{{{},{}}}", f32_entry("a", "[2]", 0, 8), f32_entry("b", "[2]", 4, 12));
                st_err(st_file(&h, &[0; 12]))
            },
            want: Is("m.safetensors: tensors 'a' [0, 8] and 'b' [4, 12] overlap"),
        },
        Case {
            name: "safetensors: offsets disagree with shape and dtype",
            run: |_| st_err(st_file(&format!("{{{}}}", f32_entry("w", "[3]", 0, 8)), &[0; 8])),
            want: Is("m.safetensors: tensor 'w' is F32 with shape [3] (12 bytes) but data_offsets [0, 8] span 8 bytes"),
        },
        Case {
            name: "safetensors: duplicate tensor names",
            run: |_| {
                let h = format!("{{{},{}}}", f32_entry("w", "[1]", 0, 4), f32_entry("w", "[1]", 4, 8));
                st_err(st_file(&h, &[0; 8]))
            },
            want: Is("m.safetensors: corrupt header: 'w' appears twice"),
        },
        Case {
            name: "safetensors: header is not UTF-8",
            run: |_| {
                let mut b = 4u64.to_le_bytes().to_vec();
                b.extend_from_slice(b"{\"\xFF\"");
                st_err(b)
            },
            want: Is("m.safetensors: corrupt header: not UTF-8 (invalid utf-8 sequence of 1 bytes from index 2)"),
        },
        Case {
            name: "safetensors: header is a JSON array",
            run: |_| st_err(st_file("[1, 2]", &[])),
            want: Is("m.safetensors: corrupt header: expected a JSON object"),
        },
        Case {
            name: "safetensors: NaN weight",
            run: |_| {
                let t = vec![("enc.w".to_string(), vec![2, 2], vec![0.0, 1.0, f32::NAN, 2.0])];
                st_decode_all(to_bytes(&t, &BTreeMap::new()))
            },
            want: Is("m.safetensors: tensor 'enc.w' holds NaN at element 2 of 4: the weights are broken (a diverged run or a damaged file)"),
        },
        Case {
            name: "safetensors: infinite F16 weight",
            run: |_| st_decode_all(st_file(r#"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, &[0, 0, 0, 0x7C])),
            want: Is("m.safetensors: tensor 'h' holds inf at element 1 of 2: the weights are broken (a diverged run or a damaged file)"),
        },
        Case {
            name: "model load: NaN in one encoder tensor names the tensor",
            run: |dir| {
                let src = common::minilm();
                let st = SafeTensors::read(&src.join("model.safetensors")).unwrap();
                let names: Vec<String> = st.names().map(String::from).collect();
                let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = names
                    .iter()
                    .filter(|n| st.info(n).unwrap().dtype.is_float())
                    .map(|n| {
                        let (mut v, s) = st.f32_any(n).unwrap();
                        if n == "encoder.layer.3.attention.self.key.weight" {
                            v[17] = f32::INFINITY;
                        }
                        (n.clone(), s, v)
                    })
                    .collect();
                let m = dir.join("model");
                std::fs::create_dir_all(&m).unwrap();
                for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"] {
                    std::fs::copy(src.join(f), m.join(f)).unwrap();
                }
                std::fs::write(m.join("model.safetensors"), to_bytes(&tensors, &BTreeMap::new())).unwrap();
                let device = edgetune::device::block_on(edgetune::device::init(edgetune::device::Backend::Cpu)).unwrap();
                err(edgetune::model::load_dir(&m, None, &device))
            },
            want: Is("model.safetensors: tensor 'encoder.layer.3.attention.self.key.weight' holds inf at element 17 of 147456: the weights are broken (a diverged run or a damaged file)"),
        },
        // config.json
        Case {
            name: "config.json: broken JSON",
            run: |_| config_err(br#"{"model_type": "bert", "hidden_size": 38"#),
            want: Is("MiniLM/config.json: not valid JSON: EOF while parsing an object at line 1 column 40"),
        },
        Case {
            name: "config.json: not an object",
            run: |_| config_err(b"[]"),
            want: Is("MiniLM/config.json: expected a JSON object"),
        },
        Case {
            name: "config.json: another architecture",
            run: |_| config_err(&bert_config(|v| v["model_type"] = "gpt2".into())),
            want: Is("MiniLM/config.json: model_type is 'gpt2', expected 'bert'"),
        },
        Case {
            name: "config.json: size given as a string",
            run: |_| config_err(&bert_config(|v| v["hidden_size"] = "384".into())),
            want: Is("MiniLM/config.json: field 'hidden_size' is \"384\", expected a non-negative integer"),
        },
        Case {
            name: "config.json: zero attention heads",
            run: |_| config_err(&bert_config(|v| v["num_attention_heads"] = 0.into())),
            want: Is("MiniLM/config.json: hidden_size, num_attention_heads and num_hidden_layers must be positive"),
        },
        Case {
            name: "config.json: heads do not divide the hidden size",
            run: |_| config_err(&bert_config(|v| v["num_attention_heads"] = 5.into())),
            want: Is("MiniLM/config.json: hidden_size 384 is not a multiple of num_attention_heads 5"),
        },
        Case {
            name: "config.json: absurd sizes",
            run: |_| config_err(&bert_config(|v| v["hidden_size"] = u64::MAX.into())),
            want: Is("MiniLM/config.json: hidden_size 18446744073709551615 is not a multiple of num_attention_heads 12"),
        },
        Case {
            name: "model files: config.json broken when detecting the kind",
            run: |_| {
                let files = ModelFiles { source: "MiniLM".into(), config: Some(b"{\"model_type\":".to_vec()), ..Default::default() };
                err(files.kind())
            },
            want: Is("MiniLM/config.json: EOF while parsing a value at line 1 column 14"),
        },
        // adapter_config.json
        Case {
            name: "adapter_config.json: broken JSON",
            run: |_| adapter_err(b"{\"peft_type\": \"LORA\", \"r\": 8,}"),
            want: Is("my-adapter/adapter_config.json: trailing comma at line 1 column 30"),
        },
        Case {
            name: "adapter_config.json: not LoRA",
            run: |_| adapter_err(br#"{"peft_type": "PREFIX_TUNING"}"#),
            want: Is("my-adapter/adapter_config.json: peft_type is \"PREFIX_TUNING\", expected \"LORA\" (edgetune reads LoRA adapters)"),
        },
        Case {
            name: "adapter_config.json: target_modules as a regular expression",
            run: |_| adapter_err(br#"{"peft_type": "LORA", "r": 8, "target_modules": ".*query"}"#),
            want: Is("my-adapter/adapter_config.json: target_modules is \".*query\": a regular expression is not supported, list the module names"),
        },
        Case {
            name: "adapter_config.json: rank 0",
            run: |_| adapter_err(br#"{"peft_type": "LORA", "r": 0}"#),
            want: Is("my-adapter/adapter_config.json: r is missing or not a positive integer"),
        },
        Case {
            name: "adapter_config.json: DoRA",
            run: |_| adapter_err(br#"{"peft_type": "LORA", "r": 4, "use_dora": true}"#),
            want: Is("my-adapter/adapter_config.json: use_dora is true: not supported (edgetune trains plain LoRA)"),
        },
        Case {
            name: "adapter weights: truncated safetensors",
            run: |_| err(Adapter::parse(br#"{"peft_type": "LORA", "r": 4}"#, vec![1, 2, 3], "my-adapter")),
            want: Is("my-adapter/adapter_model.safetensors: truncated: 3 bytes, a safetensors file starts with an 8-byte header length"),
        },
        // tokenizer.json / vocab.txt
        Case {
            name: "tokenizer.json: broken JSON",
            run: |_| tok_json_err(br#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0,"#),
            want: Is("tokenizer.json: invalid JSON: EOF while parsing a value at line 1 column 53"),
        },
        Case {
            name: "tokenizer.json: a model type the library does not know",
            run: |_| tok_json_err(br#"{"model": {"type": "SentencePiece", "vocab": {"a": 0}}}"#),
            want: Has("tokenizer.json: not a tokenizer Hugging Face's tokenizers library reads: "),
        },
        Case {
            name: "tokenizer.json: vocabulary with a negative id",
            run: |_| tok_json_err(br#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": -1}}}"#),
            want: Has("tokenizer.json: not a tokenizer Hugging Face's tokenizers library reads: invalid value: integer `-1`"),
        },
        Case {
            name: "tokenizer.json: an added token whose id the vocabulary gives another",
            run: |_| tok_json_err(br###"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {"[UNK]": 0, "a": 1}}, "added_tokens": [{"id": 1, "content": "<x>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}]}"###),
            want: Is("tokenizer.json: added token \"<x>\" has id 1 in the file, but the vocabulary gives it 2: the ids are not consistent"),
        },
        Case {
            name: "tokenizer.json: ids past the model's embedding (a gap of 4 billion)",
            run: |_| {
                let files = vec![
                    ("config.json".to_string(), std::fs::read(common::minilm().join("config.json")).unwrap()),
                    ("model.safetensors".into(), empty_st()),
                    ("tokenizer.json".into(), br###"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {"[UNK]": 0, "a": 4294967295}}}"###.to_vec()),
                ];
                let device = edgetune::device::block_on(edgetune::device::init(edgetune::device::Backend::Cpu)).unwrap();
                err(ModelFiles::from_files("MiniLM", files).and_then(|f| edgetune::model::load_any(f, None, &device)))
            },
            want: Is("tokenizer.json: the tokenizer has 4294967296 tokens but config.json's vocab_size is 30522 (rows of the embedding): this tokenizer does not belong to this model"),
        },
        Case {
            name: "vocab.txt: empty",
            run: |_| vocab_err(b""),
            want: Is("vocab.txt: the vocabulary is empty"),
        },
        Case {
            name: "vocab.txt: no [UNK]",
            run: |_| vocab_err(b"[PAD]\n[CLS]\n[SEP]\nhello\n"),
            want: Is("vocab.txt: the UNK token \"[UNK]\" is not in the vocabulary"),
        },
        Case {
            name: "vocab.txt: Latin-1 bytes",
            run: |_| vocab_err(b"[PAD]\n[UNK]\n[CLS]\n[SEP]\ncaf\xe9\n"),
            want: Is("vocab.txt: not valid UTF-8 (invalid utf-8 sequence of 1 bytes from index 27)"),
        },
        // CSV / TSV / JSONL
        Case {
            name: "csv: a 10 MB field",
            run: |_| {
                let mut b = b"text,label\n\"".to_vec();
                b.extend(std::iter::repeat_n(b'x', 10 << 20));
                b.extend_from_slice(b"\",pos\nshort,neg\n");
                let t = parse_table(&b, "big.csv", &TableOptions::default()).unwrap();
                let lens: Vec<usize> = t.rows.iter().map(|r| r.fields[0].as_ref().unwrap().len()).collect();
                format!("rows {} lens {lens:?} labels {:?}", t.rows.len(), t.rows.iter().map(|r| r.fields[1].clone().unwrap()).collect::<Vec<_>>())
            },
            want: Is("rows 2 lens [10485760, 5] labels [\"pos\", \"neg\"]"),
        },
        Case {
            name: "csv: one million rows",
            run: |_| {
                let mut b = b"text,label\n".to_vec();
                for i in 0..1_000_000u32 {
                    b.extend_from_slice(format!("row {i},{}\n", i % 3).as_bytes());
                }
                let start = std::time::Instant::now();
                let t = parse_table(&b, "many.csv", &TableOptions::default()).unwrap();
                let (ti, li) = pick_columns(&t, None, None).unwrap();
                let (examples, _report) = clean(&t, ti, li);
                let last = t.rows.last().unwrap();
                let fast = start.elapsed() < std::time::Duration::from_secs(20);
                format!("rows {} examples {} last line {} fast {fast}", t.rows.len(), examples.len(), last.line)
            },
            want: Is("rows 1000000 examples 1000000 last line 1000001 fast true"),
        },
        Case {
            name: "csv: mixed line endings (CRLF, LF, lone CR) and a UTF-8 BOM",
            run: |_| table(b"\xEF\xBB\xBFtext,label\r\ngood film,pos\nbad film,neg\r\nok film,pos\rmeh,neg\r\n", "mixed.csv"),
            want: Is("Csv header=true columns=[\"text\", \"label\"] rows=[\"2:good film|pos\", \"3:bad film|neg\", \"4:ok film|pos\", \"5:meh|neg\"]"),
        },
        Case {
            name: "csv: old Mac line endings only",
            run: |_| table(b"text,label\rgood,pos\rbad,neg\r", "mac.csv"),
            want: Is("Csv header=true columns=[\"text\", \"label\"] rows=[\"2:good|pos\", \"3:bad|neg\"]"),
        },
        Case {
            name: "tsv: BOM and CRLF, detected from content",
            run: |_| table(b"\xEF\xBB\xBFtext\tlabel\r\nfine\tpos\r\n", "data.txt"),
            want: Is("Tsv header=true columns=[\"text\", \"label\"] rows=[\"2:fine|pos\"]"),
        },
        Case {
            name: "jsonl: BOM and CRLF",
            run: |_| table(b"\xEF\xBB\xBF{\"text\": \"a\", \"label\": \"x\"}\r\n{\"text\": \"b\", \"label\": \"y\"}\r\n", "d.jsonl"),
            want: Is("Jsonl header=true columns=[\"text\", \"label\"] rows=[\"1:a|x\", \"2:b|y\"]"),
        },
        Case {
            name: "csv: UTF-16 text",
            run: |_| table(b"\xFF\xFEt\0e\0x\0t\0", "u16.csv"),
            want: Is("u16.csv: this file is UTF-16 text; save the file as UTF-8"),
        },
        Case {
            name: "csv: Latin-1 text names the line and column",
            run: |_| table(b"text,label\ngood,pos\ncaf\xe9 noir,neg\n", "latin1.csv"),
            want: Is("latin1.csv: line 3: not valid UTF-8 (byte 0xE9 at column 4); save the file as UTF-8"),
        },
        Case {
            name: "csv: a row with too many fields",
            run: |_| table(b"text,label\ngood,pos\nbad,neg,extra\n", "wide.csv"),
            want: Is("wide.csv: line 3: 3 fields, expected 2 (as in the header); a text that contains a comma must be in double quotes"),
        },
        Case {
            name: "csv: quote never closed",
            run: |_| table(b"text,label\n\"good,pos\nbad,neg\n", "quote.csv"),
            want: Is("quote.csv: line 2: field 1 opens a quote that is never closed; expected a closing \" (a quote inside a quoted field is written twice: \"\")"),
        },
        Case {
            name: "jsonl: broken line",
            run: |_| table(b"{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\n", "d.jsonl"),
            want: Is("d.jsonl: line 2: not a JSON object: EOF while parsing a string (column 20)"),
        },
        Case {
            name: "jsonl: nested object as a field",
            run: |_| table(b"{\"text\": {\"a\": 1}, \"label\": \"x\"}\n", "d.jsonl"),
            want: Is("d.jsonl: line 1: key \"text\" holds an object; expected text, a number or true/false"),
        },
        Case {
            name: "column mapping: a column that is not there",
            run: |_| {
                let t = parse_table(b"review,stars\ngood,5\n", "r.csv", &TableOptions { format: Some(Format::Csv), ..Default::default() }).unwrap();
                err(pick_columns(&t, Some("text"), None))
            },
            want: Is("r.csv: no column named \"text\": columns are review, stars"),
        },
        // zip
        Case {
            name: "zip: declared sizes far beyond the limit (zip bomb)",
            run: |_| {
                let mut z = zip(&[("a/1.png".into(), vec![1; 10]), ("b/2.png".into(), vec![2; 10])]);
                let c = central(&z);
                let second = c + 46 + "a/1.png".len();
                for at in [c + 24, second + 24] {
                    z[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
                }
                unzip_summary(&z)
            },
            want: Is("photos.zip: unpacks to 8.0 GiB, more than edgetune reads (2 GiB); make smaller zips"),
        },
        Case {
            name: "zip: an entry that inflates past its declared size (high ratio)",
            run: |_| {
                let mut z = deflated_zeros("a/1.png", 4 << 20);
                set_first_size(&mut z, 1000);
                unzip_summary(&z)
            },
            want: Is("photos.zip: entry 'a/1.png': cannot inflate (Output size exceeded the specified limit): the ZIP archive is damaged or truncated"),
        },
        Case {
            name: "zip: a legitimate 1000:1 entry is read",
            run: |_| {
                let z = deflated_zeros("a/1.png", 4 << 20);
                let u = unzip(&z, "photos.zip").unwrap();
                format!("{} bytes from a {}-byte zip", u.files[0].1.len(), z.len())
            },
            want: Is("4194304 bytes from a 4192-byte zip"),
        },
        Case {
            name: "zip: path traversal and absolute names",
            run: |_| {
                let z = zip(&[
                    ("../x.png".into(), vec![1]),
                    ("cats/../../y.png".into(), vec![1]),
                    ("/etc/z.png".into(), vec![1]),
                    ("C:/w.png".into(), vec![1]),
                    ("cats/ok.png".into(), vec![1]),
                ]);
                unzip_summary(&z)
            },
            want: Is("files [\"etc/z.png\", \"C:/w.png\", \"cats/ok.png\"] skipped [\"../x.png: unsafe path: it climbs out of the archive ('..')\", \"cats/../../y.png: unsafe path: it climbs out of the archive ('..')\"]"),
        },
        Case {
            name: "zip: Windows backslash traversal",
            run: |_| unzip_summary(&zip(&[("..\\..\\x.png".into(), vec![1])])),
            want: Is("files [] skipped [\"../../x.png: unsafe path: it climbs out of the archive ('..')\"]"),
        },
        Case {
            name: "zip: truncated archive",
            run: |_| {
                let z = zip(&[("a/1.png".into(), vec![1; 100])]);
                unzip_summary(&z[..z.len() / 2])
            },
            want: Is("photos.zip: no central directory at the end: the ZIP archive is damaged or truncated"),
        },
        Case {
            name: "zip: not a zip",
            run: |_| unzip_summary(b"PK but not really"),
            want: Is("photos.zip: not a ZIP archive"),
        },
        Case {
            name: "zip of images: traversal entries are skipped, the rest is read",
            run: |_| {
                let z = zip(&[("../evil.png".into(), png(2, 2)), ("cats/a.png".into(), png(2, 2)), ("dogs/b.png".into(), png(2, 2))]);
                match read_zip(&z, "photos.zip") {
                    Ok((files, skipped)) => format!(
                        "{:?} skipped {:?}",
                        files.iter().map(|f| format!("{}={}", f.label, f.name)).collect::<Vec<_>>(),
                        skipped.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
                    ),
                    Err(e) => e.to_string(),
                }
            },
            want: Is("[\"cats=cats/a.png\", \"dogs=dogs/b.png\"] skipped [\"../evil.png\"]"),
        },
        // image folders and image files
        Case {
            name: "image folder: symbolic link loops end and are listed",
            run: |dir| {
                let root = dir.join("imgs");
                for c in ["cats", "dogs"] {
                    std::fs::create_dir_all(root.join(c)).unwrap();
                    std::fs::write(root.join(c).join("1.png"), png(2, 2)).unwrap();
                }
                // Two links back to the root in one folder: followed blindly, 2^32 paths.
                std::os::unix::fs::symlink("..", root.join("cats/up")).unwrap();
                std::os::unix::fs::symlink("..", root.join("cats/up2")).unwrap();
                std::os::unix::fs::symlink(".", root.join("dogs/self")).unwrap();
                let start = std::time::Instant::now();
                let out = match read_folder(&root) {
                    Ok((files, skipped)) => format!(
                        "{:?} skipped {:?}",
                        files.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
                        skipped.iter().map(|s| format!("{}: {}", s.name, s.why)).collect::<Vec<_>>()
                    ),
                    Err(e) => e.to_string(),
                };
                assert!(start.elapsed().as_secs() < 10, "read_folder took {:?}", start.elapsed());
                out
            },
            want: Is("[\"cats/1.png\", \"dogs/1.png\"] skipped [\"cats/up/: a link to a folder already read (a symbolic link loop?): not read again\", \"cats/up2/: a link to a folder already read (a symbolic link loop?): not read again\", \"dogs/self/: a link to a folder already read (a symbolic link loop?): not read again\"]"),
        },
        Case {
            name: "image: empty file",
            run: |_| err(decode(b"", "cats/1.png")),
            want: Is("cats/1.png: empty file (0 bytes)"),
        },
        Case {
            name: "image: truncated PNG",
            run: |_| {
                let p = png(64, 64);
                err(decode(&p[..p.len() / 2], "cats/1.png"))
            },
            want: Is("cats/1.png: cannot decode: unexpected end of file"),
        },
        Case {
            name: "image: PNG header claiming 100000×100000 pixels",
            run: |_| {
                let mut p = png(1, 1);
                // IHDR width and height (bytes 16..24), then its CRC (29..33) recomputed.
                p[16..20].copy_from_slice(&100_000u32.to_be_bytes());
                p[20..24].copy_from_slice(&100_000u32.to_be_bytes());
                let crc = edgetune::archive::crc32(&p[12..29]);
                p[29..33].copy_from_slice(&crc.to_be_bytes());
                err(decode(&p, "cats/huge.png"))
            },
            want: Is("cats/huge.png: the image is 100000×100000 pixels (10000 megapixels): more than edgetune decodes (100 megapixels); shrink it first"),
        },
        Case {
            // Found by the `image` fuzz target: a 62-byte GIF whose frame claims 21060×8192 pixels
            // on a 1×1 screen made the decoder allocate 690 MB.
            name: "image: GIF frame far larger than its screen",
            run: |_| {
                let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\xff\x00\x00\x00\x00,\x00\x0cIHDR\x00 -\x03\x00\x00PNG\r\n\x1a\n\x00\n\x1a\n\x00\x00\x00\x0cI\x08\x00\x00\x01\x00\x01L\x00\x02\x02D\x00\x00\x00";
                err(decode(gif, "cats/lying.gif"))
            },
            want: Is("cats/lying.gif: cannot decode: a frame inside is larger than the 1×1 pixels the header declares"),
        },
        Case {
            // Found by the `image` fuzz target: a 62-byte PNG declaring 11×8,452,098 pixels of
            // 16-bit RGB (under the pixel cap) made the decoder allocate 558 MB. The same header
            // here, with a valid CRC (fuzz builds skip the check).
            name: "image: PNG declaring more pixels than its bytes can hold",
            run: |_| {
                let mut p = png(1, 1);
                p[16..20].copy_from_slice(&11u32.to_be_bytes());
                p[20..24].copy_from_slice(&8_452_098u32.to_be_bytes());
                p[24] = 16; // bit depth
                p[25] = 2; // RGB
                let crc = edgetune::archive::crc32(&p[12..29]);
                p[29..33].copy_from_slice(&crc.to_be_bytes());
                let len = p.len();
                err(decode(&p, "cats/tall.png")).replace(&format!(" {len} bytes"), " N bytes")
            },
            want: Is("cats/tall.png: the header declares 11×8452098 pixels (558 MB decoded), more than a file of N bytes can hold: the file is damaged or truncated"),
        },
        Case {
            name: "image: a text file named .png",
            run: |_| err(decode(b"hello, world", "cats/1.png")),
            want: Is("cats/1.png: not an image edgetune reads (PNG, JPEG, WebP, BMP, GIF)"),
        },
        // checkpoints
        Case {
            name: "checkpoint: state.json is broken JSON",
            run: |_| err(state_from_files(&[("state.json".into(), b"{\"epoch\": 1,".to_vec())], "run/checkpoints/last")),
            want: Is("run/checkpoints/last/state.json: EOF while parsing a value at line 1 column 12"),
        },
        Case {
            name: "checkpoint: state.json with a negative epoch",
            run: |_| err(state_from_files(&[("state.json".into(), br#"{"epoch": -1, "step_in_epoch": 0, "global_step": 0, "best_metric": null, "best_epoch": null, "bad_epochs": 0, "finished": false}"#.to_vec())], "run/checkpoints/last")),
            want: Is("run/checkpoints/last/state.json: invalid value: integer `-1`, expected usize at line 1 column 12"),
        },
        Case {
            name: "checkpoint: no state.json",
            run: |_| err(state_from_files(&[], "run/checkpoints/last")),
            want: Is("run/checkpoints/last: the checkpoint has no state.json"),
        },
        Case {
            name: "checkpoint: optimizer.safetensors truncated",
            run: |_| {
                let state = serde_json::to_vec(&edgetune::train::checkpoint::RunState::default()).unwrap();
                let opt = two_tensors();
                let files = [("state.json".to_string(), state), ("optimizer.safetensors".to_string(), opt[..opt.len() - 4].to_vec())];
                err(state_from_files(&files, "run/checkpoints/last"))
            },
            want: Is("run/checkpoints/last/optimizer.safetensors: tensor 'b' ends at byte 20 but the data section has 16 bytes (file truncated?)"),
        },
    ]
}

#[test]
fn hostile_inputs() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let got = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.run)(dir.path()))) {
            Ok(got) => got,
            Err(p) => {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                format!("PANIC: {}", msg.unwrap_or_default())
            }
        };
        if std::env::var_os("HOSTILE_PRINT").is_some() {
            eprintln!("{}\n    => {got:?}", case.name);
        }
        let ok = match case.want {
            Is(w) => got == w,
            Has(w) => got.contains(w) && !got.starts_with("PANIC") && !got.starts_with("Ok ("),
        };
        if !ok {
            let want = match case.want {
                Is(w) => format!("exactly {w:?}"),
                Has(w) => format!("containing {w:?}"),
            };
            failures.push(format!("{}\n    got  {got:?}\n    want {want}", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
