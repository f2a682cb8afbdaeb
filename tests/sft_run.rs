//! A whole generative run (LoRA SFT of SmolLM2-135M from its GGUF file, on the CPU): the model
//! learns to answer in the data's format (validation loss and test exact match against the base
//! model's), the run directory holds what it should, a run killed mid-way and resumed ends with
//! the same adapter as an uninterrupted one, bad data is refused before anything is written, and
//! the exported adapter loaded by PEFT on transformers' reading of the same GGUF file gives
//! edgetune's logits and greedy answers, and the merged export PEFT's merged weights
//! (`tests/python/check_lm_peft.py`).

mod common;

use edgetune::chat::Message;
use edgetune::device::{block_on, Device};
use edgetune::model::causal::{generate, LanguageModel, Sampling};
use edgetune::prepare::DataSource;
use edgetune::sft::eval::{loss_report, score_generation};
use edgetune::sft::run::{self, SftRequest};
use edgetune::sft::{sft_defaults, SftEvent};
use std::path::{Path, PathBuf};

const POSITIVE: [&str; 14] = [
    "I loved this film",
    "What a wonderful day",
    "The food was delicious",
    "Great service and friendly staff",
    "This is the best phone I have owned",
    "Absolutely fantastic experience",
    "The hotel was clean and lovely",
    "I am so happy with my purchase",
    "Brilliant acting and a great story",
    "Everything worked perfectly",
    "A delightful little book",
    "Superb quality, highly recommended",
    "The staff were kind and helpful",
    "My new shoes are so comfortable",
];
const NEGATIVE: [&str; 14] = [
    "I hated this film",
    "What a terrible day",
    "The food was cold and bland",
    "Rude staff and slow service",
    "This is the worst phone I have owned",
    "An awful experience",
    "The hotel was dirty and noisy",
    "I regret buying this",
    "Boring plot and wooden acting",
    "Nothing worked at all",
    "A dull and pointless book",
    "Cheap quality, broke in a day",
    "The staff ignored us",
    "My new shoes hurt my feet",
];

fn smollm2() -> PathBuf {
    common::shared("models/SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn chat_line(text: &str, answer: &str) -> String {
    let q = format!("Review: {text}\nIs this review positive or negative?");
    serde_json::json!({"messages": [{"role": "system", "content": "Answer with one word."}, {"role": "user", "content": q}, {"role": "assistant", "content": answer}]})
        .to_string()
}

/// Train (10 + 10), validation (2 + 2) and test (2 + 2) files of reviews and their sentiment.
fn write_data(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let part = |range: std::ops::Range<usize>| {
        let mut lines = Vec::new();
        for i in range {
            lines.push(chat_line(POSITIVE[i], "positive"));
            lines.push(chat_line(NEGATIVE[i], "negative"));
        }
        lines.join("\n") + "\n"
    };
    let paths = (dir.join("train.jsonl"), dir.join("valid.jsonl"), dir.join("test.jsonl"));
    std::fs::write(&paths.0, part(0..10)).unwrap();
    std::fs::write(&paths.1, part(10..12)).unwrap();
    std::fs::write(&paths.2, part(12..14)).unwrap();
    paths
}

fn request(dir: &Path, run_dir: &Path) -> SftRequest {
    let (train, valid, test) = write_data(&dir.join("data"));
    let mut config = sft_defaults();
    config.batch_size = 4;
    config.epochs = 2.0;
    config.checkpoint_every = 3;
    config.sft.max_new_tokens = 4;
    if let Some(l) = config.lora.as_mut() {
        l.lr = 2e-3;
    }
    SftRequest {
        model: smollm2(),
        train: DataSource::Path(train),
        valid: Some(DataSource::Path(valid)),
        test: Some(DataSource::Path(test)),
        config,
        run_dir: Some(run_dir.to_path_buf()),
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sft-run").join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn lora_sft_learns_the_answers_and_resumes_exactly() {
    let dev = Device::flex();
    let root = tmp("learn");
    let req = request(&root, &root.join("run-a"));
    let (lm, data) = run::load_and_prepare(&req, &dev).unwrap();
    assert_eq!((data.train.len(), data.valid.len(), data.test.len(), data.cases.len()), (20, 4, 4, 4));
    assert!(data.reports[0].describe().contains("20 examples, 60 turns"), "{}", data.reports[0].describe());
    // The base model: its validation loss and answers.
    let base_valid = block_on(loss_report(&lm, &data.valid, 8, 0)).unwrap();
    let base_test = block_on(score_generation(&lm, &data.cases, 4, &mut |_, _| {})).unwrap();

    let mut steps = 0;
    let out = block_on(run::train(&req, lm, &data, &mut |e| steps += matches!(e, SftEvent::Step { .. }) as usize)).unwrap();
    assert_eq!(steps, 10);
    let valid = out.valid.unwrap();
    assert!(valid.loss < 0.5 * base_valid.loss, "validation loss {} vs the base model's {}", valid.loss, base_valid.loss);
    let test = out.test.as_ref().unwrap();
    eprintln!("validation loss {:.4} → {:.4}; test exact match {} → {}", base_valid.loss, valid.loss, base_test.exact_match, test.exact_match);
    assert!(test.exact_match >= 0.75 && test.exact_match > base_test.exact_match, "exact match {} (base {}):\n{}", test.exact_match, base_test.exact_match, test.table(4));

    // The run directory.
    let dir = root.join("run-a");
    for f in ["run.json", "config.json", "data_report.json", "history.jsonl", "report.json", "checkpoints/best/adapter_model.safetensors", "checkpoints/last/optimizer.safetensors"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    assert_eq!(std::fs::read_to_string(dir.join("history.jsonl")).unwrap().lines().count(), 2);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["test"]["scored"].as_array().unwrap().len(), 4);

    // The run directory answers as the trained model does (base + best adapter).
    let again = run::load_trained(&dir, None, &dev).unwrap();
    let prompt = again.prompt(&data.cases[0].prompt).unwrap();
    let s = Sampling { max_new_tokens: 4, ..Sampling::default() };
    let a = block_on(generate(&again, &prompt, &s, &mut |_| true)).unwrap().text;
    let b = block_on(generate(&out.lm, &prompt, &s, &mut |_| true)).unwrap().text;
    assert_eq!(a, b);

    // Killed after step 7 (last checkpoint at step 6, an epoch end), then resumed: the same
    // adapter, bit for bit, as the uninterrupted run.
    let req_b = request(&root, &root.join("run-b"));
    let (lm, data) = run::load_and_prepare(&req_b, &dev).unwrap();
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(run::train(&req_b, lm, &data, &mut |e| {
            if matches!(e, SftEvent::Step { step: 7, .. }) {
                panic!("simulated crash at step 7")
            }
        }))
    }));
    assert!(crashed.is_err());
    let (req_b, lm, data, resume) = run::load_resume(&root.join("run-b"), &dev).unwrap();
    assert_eq!(resume.state.global_step, 6);
    let out_b = block_on(run::resume(&req_b, lm, &data, resume, &mut |_| {})).unwrap();
    let adapter = |d: &str| std::fs::read(root.join(d).join("checkpoints/best/adapter_model.safetensors")).unwrap();
    assert!(adapter("run-a") == adapter("run-b"), "the resumed run's best adapter differs from the uninterrupted run's");
    assert_eq!(out_b.valid.unwrap().loss, valid.loss);

    check_with_peft(&out.lm, &root);
}

/// The best adapter, exported, loaded by PEFT onto transformers' model of the same GGUF file:
/// edgetune's logits (as close as the base model's are, see tests/causal.rs) and greedy answers;
/// the merged export: PEFT's merged weights, read by transformers and by edgetune alike.
fn check_with_peft(lm: &LanguageModel, root: &Path) {
    let Some(python) = common::python_or_skip("torch, transformers, peft and gguf") else { return };
    let (export, merged) = (root.join("adapter"), root.join("merged"));
    block_on(lm.export_dir(&export, false)).unwrap();
    block_on(lm.export_dir(&merged, true)).unwrap();
    assert!(export.join("adapter_config.json").exists() && !export.join("model.safetensors").exists());
    // edgetune reads its merged export back: the same logits as base + adapter.
    let back = edgetune::model::causal::load_lm(&merged, &Device::flex()).unwrap();
    let chats: Vec<Vec<Message>> = [POSITIVE[13], NEGATIVE[13], "The weather is fine"]
        .iter()
        .map(|t| vec![Message::new("system", "Answer with one word."), Message::new("user", &format!("Review: {t}\nIs this review positive or negative?"))])
        .collect();
    let prompts: Vec<Vec<u32>> = chats.iter().map(|c| lm.prompt(c).unwrap()).collect();
    let s = Sampling { max_new_tokens: 6, ..Sampling::default() };
    let answers: Vec<Vec<u32>> = prompts.iter().map(|p| block_on(generate(lm, p, &s, &mut |_| true)).unwrap().ids).collect();
    let input = serde_json::json!({"prompts": prompts, "max_new_tokens": 6});
    std::fs::write(root.join("peft_in.json"), input.to_string()).unwrap();
    let out = std::process::Command::new(python)
        .arg(common::repo("tests/python/check_lm_peft.py"))
        .arg(smollm2())
        .arg(&export)
        .arg(&merged)
        .arg(root.join("peft_in.json"))
        .arg(root.join("peft_out.safetensors"))
        .output()
        .unwrap();
    assert!(out.status.success(), "check_lm_peft.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let want: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(want["merged_max_weight_diff"].as_f64().unwrap() <= 1e-5, "merged weights differ from PEFT's merge_and_unload: {want}");
    eprintln!("merged weights vs PEFT's merge_and_unload: {}", want["merged_max_weight_diff"]);
    assert!(want["same_template"].as_bool().unwrap() && want["same_ids"].as_bool().unwrap(), "the exported tokenizer differs: {want}");
    let st = edgetune::weights::SafeTensors::read(&root.join("peft_out.safetensors")).unwrap();
    for (i, p) in prompts.iter().enumerate() {
        let got = block_on(lm.all_logits(p)).unwrap();
        let (theirs, _) = st.f32_any(&format!("logits.{i}")).unwrap();
        let d = got.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(d <= 2e-4, "prompt {i}: logits differ from PEFT's by {d}");
        eprintln!("prompt {i}: logits vs PEFT {d:.2e}");
        let (merged_logits, _) = st.f32_any(&format!("merged.{i}")).unwrap();
        let dm = got.iter().zip(&merged_logits).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(dm <= 2e-4, "prompt {i}: transformers' logits of the merged export differ by {dm}");
        eprintln!("prompt {i}: merged export in transformers {dm:.2e}");
        let ours = block_on(back.all_logits(p)).unwrap();
        let dr = got.iter().zip(&ours).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(dr <= 1e-4, "prompt {i}: the merged export read back differs by {dr}");
        let (base, _) = st.f32_any(&format!("base.{i}")).unwrap();
        let effect = got.iter().zip(&base).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(effect > 1e-2, "prompt {i}: the adapter changes the logits by only {effect}: is it loaded?");
        let theirs: Vec<u32> = want["answers"][i].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(answers[i], theirs, "prompt {i}: greedy answers differ");
    }
}

#[test]
fn bad_data_is_refused_before_anything_is_written() {
    let root = tmp("bad");
    let mut req = request(&root, &root.join("run"));
    let DataSource::Path(train) = &req.train else { unreachable!() };
    let mut text = std::fs::read_to_string(train).unwrap();
    text.push_str("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"robot\", \"content\": \"beep\"}]}\n");
    let bad = root.join("bad.jsonl");
    std::fs::write(&bad, text).unwrap();
    req.train = DataSource::Path(bad);
    let e = run::load_and_prepare(&req, &Device::flex()).unwrap_err().to_string();
    assert!(e.contains("bad.jsonl:21") && e.contains("robot"), "{e}");
    assert!(!root.join("run").exists());
    // Settings a generative run cannot take are refused by name; so is a prompt that leaves no
    // room for its answer.
    let mut head_only = req.clone();
    head_only.config.head_only = true;
    let e = run::load_and_prepare(&head_only, &Device::flex()).unwrap_err().to_string();
    assert!(e.contains("head_only"), "{e}");
    let good = request(&root, &root.join("run"));
    let mut short = good.clone();
    short.config.max_length = 16;
    let e = run::load_and_prepare(&short, &Device::flex()).unwrap_err().to_string();
    assert!(e.contains("train.jsonl:1") && e.contains("length limit of 16"), "{e}");
    assert!(!root.join("run").exists());
}

/// Full fine-tuning (no LoRA): every weight trains, checkpoints are whole Hugging Face
/// directories, and a run killed after step 2 resumes to the same weights as one that was not.
#[test]
fn full_fine_tuning_resumes_exactly() {
    let dev = Device::flex();
    let root = tmp("full");
    let req = |name: &str| {
        let mut r = request(&root, &root.join(name));
        r.config.lora = None;
        r.config.lr = 2e-5;
        r.config.max_steps = Some(3);
        r.config.checkpoint_every = 1;
        r.config.sft.eval_limit = 1;
        r
    };
    let (ra, rb) = (req("run-a"), req("run-b"));
    let (lm, data) = run::load_and_prepare(&ra, &dev).unwrap();
    let trainable = lm.params.trainable_count();
    let before = block_on(loss_report(&lm, &data.valid, 8, 0)).unwrap().loss;
    let mut counts = (0, 0);
    let out = block_on(run::train(&ra, lm, &data, &mut |e| {
        if let SftEvent::Start { trainable_params, total_params, .. } = e {
            counts = (*trainable_params, *total_params);
        }
    }))
    .unwrap();
    assert_eq!(counts, (trainable, trainable), "every weight trains");
    assert!(out.valid.unwrap().loss < before, "validation loss {} vs {before} before", out.valid.unwrap().loss);
    assert!(root.join("run-a/checkpoints/best/model.safetensors").exists() && !root.join("run-a/checkpoints/best/adapter_config.json").exists());

    let (lm, data) = run::load_and_prepare(&rb, &dev).unwrap();
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on(run::train(&rb, lm, &data, &mut |e| {
            if matches!(e, SftEvent::Step { step: 3, .. }) {
                panic!("simulated crash at step 3")
            }
        }))
    }));
    assert!(crashed.is_err());
    let (rb, lm, data, resume) = run::load_resume(&root.join("run-b"), &dev).unwrap();
    assert_eq!(resume.state.global_step, 2);
    block_on(run::resume(&rb, lm, &data, resume, &mut |_| {})).unwrap();
    let weights = |d: &str| std::fs::read(root.join(d).join("checkpoints/best/model.safetensors")).unwrap();
    assert!(weights("run-a") == weights("run-b"), "the resumed run's weights differ from the uninterrupted run's");
    // The run directory answers with the fully fine-tuned model.
    let again = run::load_trained(&root.join("run-a"), None, &dev).unwrap();
    let ids = again.prompt(&data.cases[0].prompt).unwrap();
    let (x, y) = (block_on(again.all_logits(&ids)).unwrap(), block_on(out.lm.all_logits(&ids)).unwrap());
    assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-5));
}
