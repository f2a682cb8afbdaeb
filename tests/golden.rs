//! Same numbers as PyTorch. Golden values come from `tests/golden/make_model_golden.py`
//! (PyTorch + transformers; re-run it from the repository root to regenerate
//! `tests/golden/model.json`). Tokenizer golden ids are checked in `crate/src/tokenize.rs`
//! against `tests/golden/make_tokenizer_golden.py`.

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use edgetune::device::{self, block_on, Backend, Device};
use edgetune::model::params::Group;
use edgetune::model::{load_dir, Batch, Classifier, HeadSpec, Mode, Pooling, Task};
use edgetune::prepare::Target;
use edgetune::train::fit::{apply_freezing, loss_from_logits};
use edgetune::train::optim::{grad_sq_norm, lr_factor, scale_grads, Optimizer};
use edgetune::train::{OptimizerKind, Schedule, TrainConfig};
use serde_json::Value;

fn golden() -> Value {
    let path = common::repo("tests/golden/model.json");
    serde_json::from_slice(&std::fs::read(&path).expect("tests/golden/model.json (run make_model_golden.py)")).unwrap()
}

fn matrix_f32(v: &Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect()
}

fn matrix_i64(v: &Value) -> Vec<Vec<i64>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()).collect()
}

fn load_model(device: &Device, labels: usize) -> Classifier {
    let spec = HeadSpec {
        task: Task::Classification,
        labels: (0..labels).map(|i| format!("c{i}")).collect(),
        pooling: Pooling::Mean,
        seed: 0,
    };
    load_dir(&common::minilm(), Some(&spec), device).expect("load all-MiniLM-L6-v2")
}

fn embeddings_match(device: Device) {
    let g = golden();
    let e = &g["embeddings"];
    let ids = matrix_i64(&e["ids"]);
    let mask = matrix_i64(&e["mask"]);
    let expected = matrix_f32(&e["pooled"]);
    let (b, s) = (ids.len(), ids[0].len());
    let model = load_model(&device, 2);
    let t_ids = Tensor::<2, Int>::from_data(TensorData::new(ids.concat(), [b, s]), &device);
    let t_mask = Tensor::<2>::from_data(
        TensorData::new(mask.concat().into_iter().map(|m| m as f32).collect::<Vec<_>>(), [b, s]),
        &device,
    );
    let (pooled, _) = model.features(&model.params, Batch::Tokens { ids: t_ids, mask: t_mask }, Mode::EVAL); // [batch, hidden], mean-pooled
    let pooled: Vec<f32> = block_on(device::read_f32(pooled, "golden")).unwrap();
    let mut worst = 0f32;
    for (i, row) in expected.iter().enumerate() {
        for (j, &x) in row.iter().enumerate() {
            worst = worst.max((pooled[i * row.len() + j] - x).abs());
        }
    }
    println!("max abs difference from transformers: {worst:e}");
    assert!(worst <= 1e-4, "mean-pooled embeddings differ from transformers by {worst} (> 1e-4)");
}

#[test]
fn embeddings_match_transformers_on_cpu() {
    embeddings_match(block_on(device::init(Backend::Cpu)).unwrap());
}

#[cfg(feature = "wgpu")]
#[test]
fn embeddings_match_transformers_on_wgpu() {
    if let Some(d) = common::wgpu() {
        embeddings_match(d);
    }
}

/// Training on wgpu (autodiff + the optimiser as tensor operations) matches PyTorch too.
#[cfg(feature = "wgpu")]
#[test]
fn first_five_training_losses_match_pytorch_on_wgpu() {
    if let Some(d) = common::wgpu() {
        five_steps_on(OptimizerKind::AdamW, false, d);
    }
}

/// Five AdamW steps on a fixed batch (dropout off, warmup + linear decay, clipping at 1.0)
/// give PyTorch's losses within 1e-3: with the optimiser as tensor operations (the GPU path) and
/// as the fused host loop (the CPU path).
#[test]
fn first_five_training_losses_match_pytorch() {
    five_steps(OptimizerKind::AdamW, false);
    five_steps(OptimizerKind::AdamW, true);
}

/// The same with SGD (momentum 0.9, L2 weight decay), against `train_sgd`.
#[test]
fn first_five_sgd_losses_match_pytorch() {
    five_steps(OptimizerKind::Sgd, false);
    five_steps(OptimizerKind::Sgd, true);
}

fn five_steps(kind: OptimizerKind, host_optimizer: bool) {
    five_steps_on(kind, host_optimizer, block_on(device::init(Backend::Cpu)).unwrap());
}

fn five_steps_on(kind: OptimizerKind, host_optimizer: bool, device: Device) {
    let g = golden();
    let t = &g["train"];
    let expected_run = if kind == OptimizerKind::Sgd { &g["train_sgd"] } else { t };
    let labels = t["num_labels"].as_u64().unwrap() as usize;
    let mut model = load_model(&device, labels);
    // The head starts from PyTorch's initial weights ([labels, hidden] upstream layout).
    let w = matrix_f32(&t["head_weight"]).concat();
    let b: Vec<f32> = t["head_bias"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    let hidden = model.feature_dim();
    model.params.insert("classifier.weight", &[labels, hidden], w, true, Group::Head, &device).unwrap();
    model.params.insert("classifier.bias", &[labels], b, false, Group::Head, &device).unwrap();

    let f = |k: &str| t[k].as_f64().unwrap();
    let sgd = |k: &str| g["train_sgd"][k].as_f64().unwrap();
    let cfg = TrainConfig {
        optimizer: kind,
        lr: if kind == OptimizerKind::Sgd { sgd("lr") } else { f("lr") },
        head_lr: Some(if kind == OptimizerKind::Sgd { sgd("head_lr") } else { f("head_lr") }),
        momentum: g["train_sgd"]["momentum"].as_f64().unwrap(),
        weight_decay: f("weight_decay"),
        eps: f("eps"),
        max_grad_norm: Some(f("clip")),
        ..TrainConfig::default()
    };
    apply_freezing(&mut model, &cfg);
    let ids = matrix_i64(&t["ids"]);
    let mask = matrix_i64(&t["mask"]);
    // Strip the padding: edgetune pads each batch itself.
    let rows: Vec<Vec<u32>> = ids
        .iter()
        .zip(&mask)
        .map(|(r, m)| r.iter().zip(m).filter(|(_, &m)| m == 1).map(|(&x, _)| x as u32).collect())
        .collect();
    let rows: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let targets: Vec<Target> = t["labels"].as_array().unwrap().iter().map(|x| Target::Class(x.as_u64().unwrap() as usize)).collect();
    let (warmup, total) = (t["warmup"].as_u64().unwrap() as usize, t["total"].as_u64().unwrap() as usize);
    let expected: Vec<f64> = expected_run["losses"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let expected_norms: Vec<f64> = expected_run["grad_norms"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let mut opt = Optimizer::new(&cfg, &model.params).on_host(host_optimizer);
    for step in 0..5 {
        let live = model.params.with_grad();
        let (logits, _) = model.logits(&live, model.token_batch(&rows), Mode::EVAL); // [batch, labels]
        let loss = loss_from_logits(logits, &targets, model.task, None);
        let mut grads = loss.backward();
        let value: f32 = block_on(device::read_f32(loss.without_autodiff(), "golden")).unwrap()[0];
        let acc: Vec<Option<Tensor<1>>> = live.params.iter().map(|p| if p.trainable { p.value.grad_remove(&mut grads) } else { None }).collect();
        let sq: f32 = block_on(device::read_f32(grad_sq_norm(&acc).unwrap(), "golden")).unwrap()[0];
        let norm = (sq as f64).sqrt();
        println!("{kind:?} host={host_optimizer} step {step}: loss {value:.6} (torch {:.6}), grad norm {norm:.5} (torch {:.5})", expected[step], expected_norms[step]);
        assert!((value as f64 - expected[step]).abs() <= 1e-3, "step {step}: loss {value} vs PyTorch {}", expected[step]);
        assert!((norm - expected_norms[step]).abs() <= 1e-2 * expected_norms[step], "step {step}: grad norm {norm} vs {}", expected_norms[step]);
        let grads = scale_grads(acc, cfg.max_grad_norm.unwrap() / (norm + 1e-6));
        block_on(opt.apply(&mut model.params, grads, lr_factor(Schedule::Linear, step, warmup, total))).unwrap();
    }
}
