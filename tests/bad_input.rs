//! Bad input gets a clear error, never a panic: each case checks the exact message, which names
//! the file and the row or tensor and says what was expected.

mod common;

use edgetune::device::{block_on, init, Backend, Device};
use edgetune::model::{load_dir, HeadSpec, Pooling, Task};
use edgetune::prepare::{prepare, DataSource};
use edgetune::run::{load_and_prepare, train, TrainRequest};
use edgetune::tokenize::Tokenizer;
use edgetune::train::TrainConfig;
use edgetune::weights::{to_bytes, SafeTensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn cpu() -> Device {
    block_on(init(Backend::Cpu)).unwrap()
}

fn tokenizer() -> Tokenizer {
    Tokenizer::from_dir(&common::minilm()).unwrap()
}

/// The error `prepare` gives for a training file with `body` (and optionally a test file).
fn data_error(dir: &Path, name: &str, body: &[u8], test: Option<&[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    let test_src = test.map(|t| {
        let p = dir.join("test.csv");
        std::fs::write(&p, t).unwrap();
        DataSource::Path(p)
    });
    let cfg = TrainConfig::default();
    match prepare(&DataSource::Path(path), None, test_src.as_ref(), &cfg, &tokenizer()) {
        Ok(_) => panic!("{name}: expected an error"),
        Err(e) => e.to_string(),
    }
}

fn check(got: String, expected: &str) {
    println!("{got}");
    assert_eq!(got, expected);
}

#[test]
fn data_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let p = |n: &str| d.join(n).display().to_string();

    let missing = d.join("nope.csv");
    let err = prepare(&DataSource::Path(missing.clone()), None, None, &TrainConfig::default(), &tokenizer()).unwrap_err();
    check(err.to_string(), &format!("{}: No such file or directory (os error 2)", missing.display()));

    check(data_error(d, "empty.csv", b"", None), &format!("{}: empty file: expected a header and at least one row", p("empty.csv")));
    check(
        data_error(d, "cols.csv", b"a,b,c\nhello there,x,y\nfine day,z,w\n", None),
        &format!("{}: cannot tell which column holds the text: columns are a, b, c; name it with --text-column", p("cols.csv")),
    );
    check(
        data_error(d, "latin1.csv", b"text,label\ncaf\xe9 au lait,drink\ntea,drink\n", None),
        &format!("{}: line 2: not valid UTF-8 (byte 0xE9 at column 4); save the file as UTF-8", p("latin1.csv")),
    );
    check(
        data_error(d, "fields.csv", b"text,label\nhello,a\nhi,b,extra\n", None),
        &format!("{}: line 3: 3 fields, expected 2 (as in the header); a text that contains a comma must be in double quotes", p("fields.csv")),
    );
    check(
        data_error(d, "one.csv", b"text,label\nhello,a\nhi there,a\nyo,a\n", None),
        &format!("{}: only one class ('a') after cleaning: classification needs at least 2 (or use --task regression for numbers)", p("one.csv")),
    );
    let train = b"text,label\nhello,a\nhi there,b\nyo,a\ngood day,b\nhey,a\nbye now,b\n";
    check(
        data_error(d, "train.csv", train, Some(b"text,label\nhello,a\nwhat,c\n")),
        &format!("{}: line 3: label 'c' never appears in the training data (classes: a, b)", p("test.csv")),
    );
}

/// Multi-label data: labels without any tag, a single tag, a tag unknown to training, a JSON
/// list item that holds the separator; and what a good file becomes.
#[test]
fn multi_label_data() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let run = |name: &str, body: &[u8], test: Option<&[u8]>, sep: char| {
        let path = d.join(name);
        std::fs::write(&path, body).unwrap();
        let test_src = test.map(|t| {
            let p = d.join("test.csv");
            std::fs::write(&p, t).unwrap();
            DataSource::Path(p)
        });
        let cfg = TrainConfig { task: Task::MultiLabel, label_sep: sep, ..TrainConfig::default() };
        prepare(&DataSource::Path(path), None, test_src.as_ref(), &cfg, &tokenizer())
    };
    let p = |n: &str| d.join(n).display().to_string();
    let err = |r: edgetune::Result<edgetune::prepare::Prepared>| r.map(|_| ()).unwrap_err().to_string();
    check(
        err(run("empty.csv", b"text,tags
hello,\" | \"\nbye now,|\n", None, '|')),
        &format!("{}: no usable rows after cleaning (every row had an empty text or no tags; tags are separated by '|', see --label-sep)", p("empty.csv")),
    );
    check(
        err(run("one.csv", b"text,tags
hello,a
hi there,\"a, a\"\n", None, ',')),
        &format!("{}: only one tag ('a') after cleaning: multi-label classification needs at least 2", p("one.csv")),
    );
    let train = b"text,tags
hello,\"a,b\"
hi there,b
yo,\"a, c\"
good day,c
hey,a
bye now,\"b,c\"
";
    check(
        err(run("train.csv", train, Some(b"text,tags
hello,a
what,\"c,z\"
"), ',')),
        &format!("{}: line 3: tag 'z' never appears in the training data (tags: a, b, c)", p("test.csv")),
    );
    check(
        err(run("d.jsonl", b"{\"text\": \"hi\", \"labels\": [\"a\"]}\n{\"text\": \"yo\", \"labels\": [\"a,b\"]}\n", None, ',')),
        &format!("{}: line 2: key \"labels\": tag 'a,b' contains the label separator ','; choose another with --label-sep", p("d.jsonl")),
    );
    // A good file: tags as targets, the union of tags as labels, "b, a" and "a,b" the same.
    let data = run("good.csv", b"text,tags
one,\"b, a\"
two,b
three,\"a,b,a\"
four,c
", None, ',').unwrap();
    assert_eq!(data.labels, ["a", "b", "c"]);
    let mut targets: Vec<_> = [&data.train, &data.valid].iter().flat_map(|s| s.targets.clone()).collect();
    targets.extend(data.test.map(|t| t.targets).unwrap_or_default());
    use edgetune::prepare::Target;
    assert_eq!(targets.len(), 4);
    assert!(targets.contains(&Target::Tags(vec![0, 1])) && targets.contains(&Target::Tags(vec![2])));
    assert_eq!(data.reports[0].classes, [("a".to_string(), 2), ("b".to_string(), 3), ("c".to_string(), 1)]);
}

/// A copy of MiniLM's directory whose files can be broken one at a time.
fn model_copy(dir: &Path) -> PathBuf {
    let m = dir.join("model");
    std::fs::create_dir_all(&m).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"] {
        std::fs::copy(common::minilm().join(f), m.join(f)).unwrap();
    }
    m
}

fn load_error(dir: &Path) -> String {
    let spec = HeadSpec { task: Task::Classification, labels: vec!["a".into(), "b".into()], pooling: Pooling::Mean, seed: 0 };
    load_dir(dir, Some(&spec), &cpu()).map(|_| ()).unwrap_err().to_string()
}

/// Rewrites model.safetensors with `edit` applied to its float tensors.
fn rewrite_weights(m: &Path, edit: impl Fn(&mut Vec<(String, Vec<usize>, Vec<f32>)>)) {
    let st = SafeTensors::read(&m.join("model.safetensors")).unwrap();
    let names: Vec<String> = st.names().map(str::to_string).collect();
    let mut tensors: Vec<_> = names
        .iter()
        .filter(|n| st.info(n).unwrap().dtype.is_float())
        .map(|n| {
            let (v, s) = st.f32_any(n).unwrap();
            (n.clone(), s, v)
        })
        .collect();
    edit(&mut tensors);
    std::fs::write(m.join("model.safetensors"), to_bytes(&tensors, &BTreeMap::new())).unwrap();
}

#[test]
fn model_files() {
    let tmp = tempfile::tempdir().unwrap();
    let m = model_copy(tmp.path());
    let cfg_path = m.join("config.json");
    let weights = m.join("model.safetensors");
    let original_cfg = std::fs::read_to_string(&cfg_path).unwrap();

    std::fs::write(&cfg_path, original_cfg.replace("\"model_type\": \"bert\"", "\"model_type\": \"gpt2\"")).unwrap();
    check(load_error(&m), "config.json: model_type is 'gpt2', a family edgetune does not fine-tune (it knows text: bert, roberta, xlm-roberta, distilbert, mpnet; images: resnet, resnet-cifar, mobilenet_v2, vit)");
    std::fs::write(&cfg_path, original_cfg.replace("\"hidden_size\": 384,", "")).unwrap();
    check(load_error(&m), "config.json: missing field 'hidden_size' (a BertModel config needs it)");
    std::fs::write(&cfg_path, &original_cfg).unwrap();

    // A byte-level BPE tokenizer.json (RoBERTa's kind) beside a BERT model: its ids fit the
    // embedding, but they are not the ids the model was trained on.
    let tok_path = m.join("tokenizer.json");
    let original_tok = std::fs::read(&tok_path).unwrap();
    std::fs::copy(common::repo("tests/golden/tokenizers/bpe/tokenizer.json"), &tok_path).unwrap();
    check(load_error(&m), "tokenizer.json: a BPE tokenizer, but BERT models read WordPiece token ids: this tokenizer belongs to another model");
    std::fs::write(&tok_path, &original_tok).unwrap();

    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_error(&m);
    println!("{err}");
    assert!(err.starts_with("model.safetensors: tensor '") && err.contains("(file truncated?)"), "{err}");
    let mut corrupt = bytes.clone();
    corrupt[8..16].copy_from_slice(b"garbage!");
    std::fs::write(&weights, &corrupt).unwrap();
    let err = load_error(&m);
    println!("{err}");
    assert!(err.starts_with("model.safetensors: corrupt header: "), "{err}");
    std::fs::write(&weights, &bytes).unwrap();

    rewrite_weights(&m, |t| t.retain(|(n, _, _)| n != "encoder.layer.3.output.dense.bias"));
    let err = load_error(&m);
    println!("{err}");
    assert!(err.starts_with("model.safetensors: no tensor 'encoder.layer.3.output.dense.bias'"), "{err}");
    std::fs::write(&weights, &bytes).unwrap();

    rewrite_weights(&m, |t| {
        let q = t.iter_mut().find(|(n, _, _)| n == "encoder.layer.0.attention.self.query.weight").unwrap();
        q.1 = vec![384, 192];
        q.2.truncate(384 * 192);
    });
    check(load_error(&m), "model.safetensors: tensor 'encoder.layer.0.attention.self.query.weight' has shape [384, 192], expected [384, 384]");
    std::fs::write(&weights, &bytes).unwrap();

    // A tokenizer with more tokens than the embedding has rows.
    std::fs::remove_file(m.join("tokenizer.json")).unwrap();
    let mut vocab = std::fs::read_to_string(m.join("vocab.txt")).unwrap();
    for i in 0..100 {
        vocab.push_str(&format!("extra{i}\n"));
    }
    std::fs::write(m.join("vocab.txt"), vocab).unwrap();
    check(
        load_error(&m),
        "vocab.txt: the tokenizer has 30622 tokens but config.json's vocab_size is 30522 (rows of the embedding): this tokenizer does not belong to this model",
    );
}

/// A loss that explodes stops the run with a message, and the last good checkpoint stays usable.
#[test]
fn exploding_loss_stops_and_keeps_the_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tiny.csv");
    let mut csv = String::from("text,label\n");
    for i in 0..48 {
        csv.push_str(&format!("message number {i} about {},{}\n", if i % 2 == 0 { "cats" } else { "dogs" }, i % 2));
    }
    std::fs::write(&data, csv).unwrap();
    let run_dir = tmp.path().join("run");
    let req = TrainRequest {
        model: common::minilm(),
        train: DataSource::Path(data),
        valid: None,
        test: None,
        config: TrainConfig { lr: 5.0, head_lr: Some(50.0), max_grad_norm: None, batch_size: 8, epochs: 3.0, checkpoint_every: 1, ..TrainConfig::default() },
        run_dir: Some(run_dir.clone()),
    };
    let device = cpu();
    let (model, prepared) = load_and_prepare(&req, &device).unwrap();
    let err = block_on(train(&req, model, &prepared, &mut |_| {})).map(|_| ()).unwrap_err().to_string();
    println!("{err}");
    assert!(err.starts_with("training diverged at step "), "{err}");
    assert!(err.ends_with(&format!("the last good checkpoint is kept in {}", run_dir.join("checkpoints/last").display())), "{err}");
    let last = load_dir(&run_dir.join("checkpoints/last"), None, &device).unwrap();
    assert_eq!(last.labels, vec!["0", "1"]);
}

/// Image collections: each bad case is an error that says what to do, or a file skipped and
/// named in the report; good files beside bad ones still train.
#[test]
fn image_folders() {
    use edgetune::prepare::Encoder;
    use edgetune::vision::Fit;
    let tmp = tempfile::tempdir().unwrap();
    let png = std::fs::read(common::shared("data/digits/images/3/0003.png")).unwrap();
    let png2 = std::fs::read(common::shared("data/digits/images/5/0005.png")).unwrap();
    let png3 = std::fs::read(common::shared("data/digits/images/7/0007.png")).unwrap();
    let enc = Encoder::Image { size: 32, fit: Fit::Resize };
    let cfg = TrainConfig { valid_split: 0.0, test_split: 0.0, ..TrainConfig::defaults_for(edgetune::model::ModelKind::Image) };
    let make = |name: &str, files: &[(&str, &[u8])]| -> PathBuf {
        let root = tmp.path().join(name);
        for (rel, bytes) in files {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        std::fs::create_dir_all(&root).unwrap();
        root
    };
    let err = |root: &Path| prepare(&DataSource::Path(root.to_path_buf()), None, None, &cfg, enc).unwrap_err().to_string();

    // Errors.
    let one = make("one", &[("cats/a.png", &png), ("cats/b.png", &png[..])]);
    let e = err(&one);
    println!("{e}");
    assert!(e.contains("only one class") && e.contains("cats"), "{e}");
    let none = make("none", &[("cats/notes.txt", b"hello"), ("dogs/readme.md", b"hi")]);
    let e = err(&none);
    println!("{e}");
    assert!(e.contains("no image"), "{e}");
    let empty = make("empty", &[]);
    let e = err(&empty);
    println!("{e}");
    assert!(e.contains("no image"), "{e}");

    // Skipped and reported; the rest is used. Non-ASCII names and nested folders are fine.
    let mixed = make(
        "mixed",
        &[
            ("chats/a.png", &png),
            ("chats/sous-dossier/b.png", &png2),
            // The same pixels as a.png (other bytes after the image's end): a duplicate.
            ("chats/copie.png", &[&png[..], b"x"].concat()),
            ("chiens/été.png", &png3),
            ("chiens/zéro.png", b""),
            ("chiens/broken.png", &png[..png.len() / 2]),
            ("chiens/garbage.jpg", b"this is not a jpeg at all"),
            ("chiens/scan.tiff", b"II*\0"),
            ("loose.png", &png),
        ],
    );
    let data = prepare(&DataSource::Path(mixed.clone()), None, None, &cfg, enc).unwrap();
    let report = &data.reports[0];
    println!("{report}");
    let names: Vec<&str> = report.skipped.iter().map(|s| s.name.as_str()).collect();
    for bad in ["chiens/zéro.png", "chiens/broken.png", "chiens/garbage.jpg", "chiens/scan.tiff", "loose.png"] {
        assert!(names.contains(&bad), "{bad} not reported as skipped: {names:?}");
    }
    assert!(report.skipped.iter().all(|s| !s.why.is_empty()));
    assert_eq!(report.kept, 3, "a.png, the nested b.png and été.png are kept");
    assert_eq!(report.duplicates_removed, 1);
    assert_eq!(data.labels, ["chats", "chiens"]);
    let shown = report.to_string();
    assert!(shown.contains("files skipped: 5") && shown.contains("duplicates removed: 1"), "{shown}");
}

/// A PEFT adapter directory with `config` as adapter_config.json and `tensors` as
/// adapter_model.safetensors (PEFT keys, upstream shapes, values 0.01).
fn adapter_dir(dir: &Path, name: &str, config: serde_json::Value, tensors: &[(String, Vec<usize>)]) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("adapter_config.json"), config.to_string()).unwrap();
    let t: Vec<(String, Vec<usize>, Vec<f32>)> = tensors.iter().map(|(k, s)| (k.clone(), s.clone(), vec![0.01; s.iter().product()])).collect();
    std::fs::write(d.join("adapter_model.safetensors"), to_bytes(&t, &BTreeMap::new())).unwrap();
    d
}

/// The error of loading MiniLM with the adapter in `dir`.
fn adapter_error(dir: &Path) -> String {
    let files = edgetune::model::ModelFiles::from_dir(&common::minilm()).unwrap().with_adapter_dir(dir).unwrap();
    let spec = HeadSpec { task: Task::Classification, labels: vec!["a".into(), "b".into()], pooling: Pooling::Mean, seed: 0 };
    match edgetune::model::load_any(files, Some(&spec), &cpu()) {
        Ok(_) => panic!("{}: expected an error", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// LoRA adapters that do not fit the base model: the error names the file and the tensor or
/// target module, and says what was expected.
#[test]
fn lora_adapters() {
    let tmp = tempfile::tempdir().unwrap();
    let config = |targets: serde_json::Value| serde_json::json!({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": targets, "bias": "none"});
    let key = |l: usize, m: &str, ab: &str| format!("base_model.model.encoder.layer.{l}.attention.self.{m}.lora_{ab}.weight");
    // What a query/value adapter of rank 8 on MiniLM (6 layers, hidden 384) holds.
    let good = |hidden: usize| -> Vec<(String, Vec<usize>)> {
        (0..6).flat_map(|l| ["query", "value"].map(|m| [(key(l, m, "A"), vec![8, hidden]), (key(l, m, "B"), vec![hidden, 8])])).flatten().collect()
    };
    let ok = adapter_dir(tmp.path(), "ok", config(serde_json::json!(["query", "value"])), &good(384));
    let files = edgetune::model::ModelFiles::from_dir(&common::minilm()).unwrap().with_adapter_dir(&ok).unwrap();
    let spec = HeadSpec { task: Task::Classification, labels: vec!["a".into(), "b".into()], pooling: Pooling::Mean, seed: 0 };
    let m = edgetune::model::load_any(files, Some(&spec), &cpu()).unwrap();
    // The file's values, not a fresh initialisation (B would be zeros).
    let b = m.params.id("encoder.layer.5.attention.self.value.lora_B.weight").unwrap();
    assert_eq!(block_on(edgetune::device::read_f32(m.params.t1(b), "b")).unwrap(), vec![0.01; 384 * 8]);
    assert_eq!(m.params.params.iter().filter(|p| p.name.contains(".lora_")).map(|p| p.numel()).sum::<usize>(), 6 * 2 * 2 * 8 * 384);

    // Made for a wider model (BERT-base, hidden 768): shapes.
    let wide = adapter_dir(tmp.path(), "wide", config(serde_json::json!(["query", "value"])), &good(768));
    check(
        adapter_error(&wide),
        &format!(
            "{}/adapter_model.safetensors: tensor '{}' has shape [8, 768], expected [8, 384] (r = 8): the adapter was made for another base model",
            wide.display(),
            key(0, "query", "A")
        ),
    );
    // A deeper model (layer 7 of a 12-layer one): names.
    let mut deep = good(384);
    deep.push((key(7, "query", "A"), vec![8, 384]));
    let deep = adapter_dir(tmp.path(), "deep", config(serde_json::json!(["query", "value"])), &deep);
    check(
        adapter_error(&deep),
        &format!(
            "{}/adapter_model.safetensors: tensor '{}' is not a LoRA weight of a layer that this model has and adapter_config.json targets: the adapter was made for another base model",
            deep.display(),
            key(7, "query", "A")
        ),
    );
    // A LLaMA-style adapter: its target modules name no layer of a BERT encoder.
    let llama = adapter_dir(tmp.path(), "llama", config(serde_json::json!(["q_proj", "v_proj"])), &[]);
    check(
        adapter_error(&llama),
        &format!(
            "{}/adapter_config.json: target module 'q_proj' matches no linear layer of the encoder (they are attention.self.query, \
             attention.self.key, attention.self.value, attention.output.dense, intermediate.dense, output.dense, or all-linear)",
            llama.display()
        ),
    );
    // A tensor missing.
    let partial = adapter_dir(tmp.path(), "partial", config(serde_json::json!(["query"])), &[(key(0, "query", "A"), vec![8, 384])]);
    check(
        adapter_error(&partial),
        &format!(
            "{}/adapter_model.safetensors: no tensor '{}', which the target modules of {}/adapter_config.json call for",
            partial.display(),
            key(0, "query", "B"),
            partial.display()
        ),
    );
    // Another kind of PEFT adapter.
    let ia3 = adapter_dir(tmp.path(), "ia3", serde_json::json!({"peft_type": "IA3", "target_modules": ["key", "value"]}), &[]);
    check(adapter_error(&ia3), &format!("{}/adapter_config.json: peft_type is \"IA3\", expected \"LORA\" (edgetune reads LoRA adapters)", ia3.display()));
    // An adapter directory without its weights.
    let bare = tmp.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::write(bare.join("adapter_config.json"), config(serde_json::json!(["query"])).to_string()).unwrap();
    let err = edgetune::model::ModelFiles::from_dir(&common::minilm()).unwrap().with_adapter_dir(&bare).unwrap_err().to_string();
    check(err, &format!("{}/adapter_model.safetensors: No such file or directory (os error 2)", bare.display()));
}
