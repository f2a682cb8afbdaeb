//! Generative models against transformers: SmolLM2-135M read from its GGUF file (the generative
//! default) gives transformers' logits on every position of four prompts (within 1e-4) and the
//! same greedy answers to ten questions; seeded tiny Llama (grouped-query attention, untied
//! output, Llama 3 RoPE scaling) and Qwen2 (q/k/v bias, tied output) Hugging Face directories give
//! transformers' logits; on wgpu too. Golden values: `tests/golden/make_causal_golden.py`.

mod common;

use edgetune::chat::Message;
use edgetune::device::{block_on, Device};
use edgetune::model::causal::{generate, load_lm, LanguageModel, Sampling, StopReason};
use edgetune::weights::SafeTensors;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The golden script's output, made once per test run; None (skip) without Python outside CI.
fn golden() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let python = common::python_or_skip("torch and transformers")?;
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("causal-golden");
        let out = std::process::Command::new(python).arg(common::repo("tests/golden/make_causal_golden.py")).arg(&dir).output().unwrap();
        assert!(out.status.success(), "make_causal_golden.py failed: {}", String::from_utf8_lossy(&out.stderr));
        Some(dir)
    })
    .as_deref()
}

fn smollm2() -> PathBuf {
    common::shared("models/SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// The largest difference between `got` and `want`.
fn max_diff(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

fn check_logits(lm: &LanguageModel, ids: &[u32], want: &[f32], what: &str) -> f32 {
    let got = block_on(lm.all_logits(ids)).unwrap();
    let d = max_diff(&got, want);
    assert!(d <= 1e-4, "{what}: logits differ from transformers' by up to {d}");
    d
}

#[test]
fn smollm2_gguf_gives_transformers_logits_and_greedy_answers() {
    let Some(dir) = golden() else { return };
    let want: Value = serde_json::from_slice(&std::fs::read(dir.join("smollm2.json")).unwrap()).unwrap();
    let st = SafeTensors::read(&dir.join("smollm2.safetensors")).unwrap();
    let lm = load_lm(&smollm2(), &Device::flex()).unwrap();

    // The chat template and tokenizer give transformers' prompt ids.
    let chats = [
        vec![Message::new("user", "What is the capital of France?")],
        vec![Message::new("system", "You answer in one word."), Message::new("user", "Name a colour of the sky.")],
        vec![Message::new("user", "Hi!"), Message::new("assistant", "Hello! How can I help?"), Message::new("user", "Count to five.")],
    ];
    let prompts: Vec<Vec<u32>> = want["prompts"].as_array().unwrap().iter().map(ids).collect();
    for (chat, expected) in chats.iter().zip(&prompts) {
        assert_eq!(&lm.prompt(chat).unwrap(), expected);
    }
    assert_eq!(lm.encode_text("The quick brown fox jumps over the lazy dog.").unwrap(), prompts[3]);

    // Logits of magnitude up to ~40 after 30 layers: two float32 implementations differ by
    // rounding alone (transformers' float32 is up to ~1e-4 from its float64, and its own two
    // attention kernels, eager and sdpa, differ by 8e-5). So edgetune's float32 logits must be
    // as close to transformers' float64 ones as its own float32 ones are (25% slack, and 1e-4
    // at the least), and within 2e-4 of its float32 ones.
    let (mut worst64, mut worst32, mut torch32) = (0.0f32, 0.0f32, 0.0f32);
    for (i, p) in prompts.iter().enumerate() {
        let (f64s, _) = st.f32_any(&format!("logits64.{i}")).unwrap();
        let (f32s, _) = st.f32_any(&format!("logits.{i}")).unwrap();
        let got = block_on(lm.all_logits(p)).unwrap();
        worst64 = worst64.max(max_diff(&got, &f64s));
        worst32 = worst32.max(max_diff(&got, &f32s));
        torch32 = torch32.max(max_diff(&f32s, &f64s));
    }
    eprintln!("SmolLM2 logits: edgetune vs transformers float64 {worst64:e}, vs transformers float32 {worst32:e}; transformers float32 vs float64 {torch32:e}");
    assert!(worst64 <= (1.25 * torch32).max(1e-4), "logits differ from transformers' (float64) by up to {worst64}, its float32 by {torch32}");
    assert!(worst32 <= 2e-4, "logits differ from transformers' (float32) by up to {worst32}");

    let mut same = 0;
    let cases = want["greedy"].as_array().unwrap();
    for c in cases {
        let s = Sampling { max_new_tokens: 24, ..Sampling::default() };
        let g = block_on(generate(&lm, &ids(&c["prompt_ids"]), &s, &mut |_| true)).unwrap();
        assert_eq!(g.ids, ids(&c["ids"]), "{}: greedy answer {:?} vs transformers {:?}", c["question"], g.text, c["text"]);
        assert_eq!(g.reason, if g.ids.len() < 24 { StopReason::StopToken } else { StopReason::Length });
        same += 1;
    }
    eprintln!("SmolLM2 GGUF: {same}/{} greedy answers identical to transformers'", cases.len());
}

#[test]
fn tiny_llama_and_qwen2_directories_give_transformers_logits() {
    let Some(dir) = golden() else { return };
    #[allow(unused_mut)]
    let mut devices = vec![("flex", Device::flex())];
    #[cfg(feature = "wgpu")]
    if let Some(w) = common::wgpu() {
        devices.push(("wgpu", w));
    }
    for name in ["llama-tiny", "qwen2-tiny"] {
        let path = dir.join(name);
        let st = SafeTensors::read(&path.join("logits.safetensors")).unwrap();
        let (want, _) = st.f32_any("logits").unwrap();
        let (ids, _) = st.f32_any("ids").unwrap_or_else(|_| panic!("ids"));
        let ids: Vec<u32> = ids.iter().map(|&x| x as u32).collect();
        for (backend, device) in &devices {
            let lm = load_lm(&path, device).unwrap();
            let d = check_logits(&lm, &ids, &want, &format!("{name} on {backend}"));
            eprintln!("{name} on {backend}: logits within {d:e} of transformers'");
        }
    }
}

/// Streaming hands out the whole answer in pieces; a stop string cuts it; the callback can stop it.
#[test]
fn streaming_stop_strings_and_cancel() {
    let lm = load_lm(&smollm2(), &Device::flex()).unwrap();
    let prompt = lm.prompt(&[Message::new("user", "Name three fruits.")]).unwrap();
    let mut pieces = Vec::new();
    let s = Sampling { max_new_tokens: 12, ..Sampling::default() };
    let g = block_on(generate(&lm, &prompt, &s, &mut |t| {
        pieces.push(t.to_string());
        true
    }))
    .unwrap();
    assert_eq!(pieces.concat(), g.text);
    assert!(pieces.len() > 3, "{pieces:?}");
    let cut = Sampling { stop: vec!["2.".into()], ..s.clone() };
    let g2 = block_on(generate(&lm, &prompt, &cut, &mut |_| true)).unwrap();
    assert_eq!(g2.reason, StopReason::StopString);
    assert!(g.text.starts_with(&g2.text) && !g2.text.contains("2."), "{:?} / {:?}", g.text, g2.text);
    let g3 = block_on(generate(&lm, &prompt, &s, &mut |_| false)).unwrap();
    assert_eq!(g3.reason, StopReason::Cancelled);
    // Sampling with a seed is repeatable.
    let hot = Sampling { temperature: 0.9, top_k: 40, top_p: 0.95, seed: 3, ..s };
    let a = block_on(generate(&lm, &prompt, &hot, &mut |_| true)).unwrap();
    let b = block_on(generate(&lm, &prompt, &hot, &mut |_| true)).unwrap();
    assert_eq!(a.ids, b.ids);
}

/// LoRA on every linear layer (PEFT's `all-linear`, r 8): PEFT's count of trainable values
/// (2,442,240 on SmolLM2-135M: r·(in+out) per projection), only the adapters trainable, and the
/// model unchanged until trained (B starts at zero).
#[test]
fn lora_adapters_attach_like_peft() {
    use edgetune::model::LoraSpec;
    let mut lm = load_lm(&smollm2(), &Device::flex()).unwrap();
    let ids = lm.encode_text("LoRA adapters start as zero.").unwrap();
    let before = block_on(lm.all_logits(&ids)).unwrap();
    let spec = LoraSpec { target_modules: vec!["all-linear".into()], ..LoraSpec::default() };
    lm.attach_lora(&spec, 0).unwrap();
    assert_eq!(lm.params.trainable_count(), 30 * 8 * ((576 + 576) * 2 + (576 + 192) * 2 + (576 + 1536) * 3));
    assert_eq!(block_on(lm.all_logits(&ids)).unwrap(), before);
    let mut qv = load_lm(&smollm2(), &Device::flex()).unwrap();
    qv.attach_lora(&LoraSpec { target_modules: vec!["q_proj".into(), "v_proj".into()], ..LoraSpec::default() }, 0).unwrap();
    assert_eq!(qv.params.trainable_count(), 30 * 8 * ((576 + 576) + (576 + 192)));
    let e = qv.attach_lora(&LoraSpec { target_modules: vec!["query_key".into()], ..LoraSpec::default() }, 0).unwrap_err().to_string();
    assert!(e.contains("'query_key' matches no linear layer"), "{e}");
}

/// Files that are not a supported model are refused with the reason, naming the file.
#[test]
fn unsupported_and_damaged_models_are_refused() {
    let bytes = std::fs::read(smollm2()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_lm(&cut, &Device::flex()).unwrap_err().to_string();
    assert!(e.contains("cut.gguf") && e.contains("lies outside the file"), "{e}");
    let none = dir.path().join("empty");
    std::fs::create_dir(&none).unwrap();
    let e = load_lm(&none, &Device::flex()).unwrap_err().to_string();
    assert!(e.contains("neither a config.json"), "{e}");
    let hf = dir.path().join("gpt2");
    std::fs::create_dir(&hf).unwrap();
    std::fs::write(hf.join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();
    std::fs::write(hf.join("model.safetensors"), edgetune::weights::to_bytes(&[], &Default::default())).unwrap();
    let e = load_lm(&hf, &Device::flex()).unwrap_err().to_string();
    assert!(e.contains("architecture 'gpt2' is not supported"), "{e}");
}

/// SFT examples encode as `../shared/bench/torch_sft.py` encodes them: the same ids, the loss on
/// the answer and its end token; in a conversation every assistant turn is trained on. Cut at the
/// length limit; a prompt past it is refused, naming the line.
#[test]
fn sft_examples_encode_as_the_reference_does() {
    use edgetune::sft::{encode, LossOn, Record, Sample};
    let Some(dir) = golden() else { return };
    let want: Value = serde_json::from_slice(&std::fs::read(dir.join("smollm2.json")).unwrap()).unwrap();
    let lm = load_lm(&smollm2(), &Device::flex()).unwrap();
    let mut encoded = Vec::new();
    for c in want["sft"].as_array().unwrap() {
        let messages: Vec<Message> = serde_json::from_value(c["messages"].clone()).unwrap();
        let turns = messages.iter().filter(|m| m.role == "assistant").count();
        let rec = Record { line: 7, sample: Sample::Chat(messages) };
        let e = encode(&lm, &rec, "t.jsonl", 256, LossOn::Assistant).unwrap();
        let reference: Vec<bool> = c["train"].as_array().unwrap().iter().map(|b| b.as_bool().unwrap()).collect();
        assert_eq!(e.ids, ids(&c["ids"]));
        if turns == 1 {
            assert_eq!(e.train, reference);
        } else {
            // The reference trains the last answer only; edgetune every answer.
            assert!(reference.iter().zip(&e.train).all(|(r, t)| !r || *t));
            let extra: Vec<u32> = (0..e.ids.len()).filter(|&k| e.train[k] && !reference[k]).map(|k| e.ids[k]).collect();
            assert_eq!(lm.decode(&extra, false).unwrap(), "Hello!<|im_end|>");
        }
        assert!(!e.truncated);
        encoded.push(e.clone());
        let all = encode(&lm, &rec, "t.jsonl", 256, LossOn::All).unwrap();
        assert!(all.train.iter().all(|&t| t));
        let first = e.train.iter().position(|&t| t).unwrap();
        let cut = encode(&lm, &rec, "t.jsonl", first + 1, LossOn::Assistant).unwrap();
        assert!(cut.truncated && cut.ids.len() == first + 1);
        let e = encode(&lm, &rec, "t.jsonl", first, LossOn::Assistant).unwrap_err().to_string();
        assert!(e.starts_with(&format!("t.jsonl:7: the prompt is {first} tokens")), "{e}");
    }
    // The loss of the base model on them as one padded batch (the reference trains the last
    // answer of the conversation only: compare on the single-turn three).
    let single: Vec<&edgetune::sft::Encoded> = encoded.iter().take(3).collect();
    let pad = want["pad_id"].as_u64().unwrap() as u32;
    let batch = edgetune::sft::SftBatch::new(&lm, &single, pad);
    let loss = block_on(edgetune::device::read_f32(edgetune::sft::sft_loss(&lm, &lm.params, &batch, false), "loss")).unwrap()[0];
    let reference = want["sft_loss"].as_f64().unwrap() as f32;
    eprintln!("SFT loss of the base model: {loss} (transformers {reference})");
    assert!((loss - reference).abs() < 1e-4, "loss {loss} vs transformers {reference}");

    // Five LoRA steps from PEFT's initial adapter, at torch_sft.py's settings: PEFT's losses.
    use edgetune::model::peft::Adapter;
    use edgetune::train::optim::{lr_factor, Optimizer};
    use edgetune::train::{Schedule, TrainConfig};
    let mut lm = lm;
    let init = dir.join("lora-init");
    let adapter = Adapter::parse(&std::fs::read(init.join("adapter_config.json")).unwrap(), std::fs::read(init.join("adapter_model.safetensors")).unwrap(), "lora-init").unwrap();
    lm.apply_adapter(&adapter).unwrap();
    let spec = edgetune::model::LoraSpec { lr: 2e-4, ..adapter.spec.clone() };
    let cfg = TrainConfig { lr: 2e-4, weight_decay: 0.0, betas: (0.9, 0.999), eps: 1e-8, lora: Some(spec), ..TrainConfig::default() };
    let mut opt = Optimizer::new(&cfg, &lm.params).on_host(true);
    let want: Vec<f32> = want["lora_losses"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let mut got = Vec::new();
    for step in 0..want.len() {
        let batch = edgetune::sft::SftBatch::new(&lm, &single, pad);
        let s = block_on(edgetune::sft::sft_step(&mut lm, &mut opt, &[batch], lr_factor(Schedule::Linear, step, 1, want.len()), None)).unwrap();
        got.push(s.loss);
    }
    eprintln!("LoRA SFT losses: edgetune {got:?}, PEFT {want:?}");
    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-3, "LoRA losses differ from PEFT's by up to {worst}");
}
