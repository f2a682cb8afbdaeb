//! `edgetune bench`: the reference workloads of `../shared/bench`, timed the same way (train
//! samples/s after 2 warm-up steps, eval samples/s over the test split, peak RSS), printed as one
//! JSON line with the same keys, so `scripts/bench-text.sh` and `scripts/bench-image.sh` put
//! edgetune and PyTorch side by side.
//! - text (`torch_text.py`): full fine-tune, mean pooling + linear head, AdamW, 10 % warmup then
//!   linear decay, batch 32, max 64 tokens;
//!   With `--lora`, the same workload trains LoRA adapters (r = 8 on query and value, the
//!   defaults) and the head on the frozen encoder; the line adds the trainable parameter count,
//!   so `scripts/bench-lora.sh` sets peak memory against full fine-tuning (one process each).
//! - generative (`torch_sft.py`): LoRA SFT of a causal LM, in `bench_sft.rs`.
//! - images (`torch_image.py`): ResNet-20 on an image folder, new head, AdamW 1e-3, batch 64,
//!   random-crop augmentation, stratified 80/20 split; edgetune's image defaults otherwise.
//!   The image flags of `train` (`--image-size`, `--hflip`, `--crop-padding`, ...) change the
//!   run: `scripts/bench-mobilenet.sh` sets them as `scripts/torch_mobilenet.py` trains.

use crate::args::BenchArgs;
use anyhow::Result;
use edgetune::device::{block_on, init};
use edgetune::model::{LoraSpec, ModelKind};
use edgetune::prepare::DataSource;
use edgetune::run::{load_and_prepare, model_kind, TrainRequest};
use edgetune::vision::Augment;
use edgetune::train::{evaluate, fit, Event, EvalReport, TrainConfig};
use std::time::Instant;

/// Peak resident set size in MB (Linux: VmHWM), if known.
pub fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb / 1024)
}

pub fn bench(a: BenchArgs) -> Result<()> {
    let model = crate::resolve_model(&a.model)?;
    if edgetune::sft::is_generative(&model) {
        return crate::bench_sft::bench_sft(&a, model);
    }
    let kind = model_kind(&model)?;
    let cfg = match kind {
        ModelKind::Text => TrainConfig {
            batch_size: a.batch_size.unwrap_or(32),
            eval_batch_size: 64,
            max_length: a.max_length.unwrap_or(64),
            lr: 5e-5,
            head_lr: Some(1e-3),
            valid_split: 0.0,
            test_split: 0.0,
            group_by_length: !a.no_group_by_length,
            ..TrainConfig::default()
        },
        ModelKind::Image => TrainConfig {
            batch_size: a.batch_size.unwrap_or(64),
            valid_split: 0.0,
            test_split: if a.test.is_some() { 0.0 } else { a.test_split },
            augment: Augment { crop_padding: 2, ..Augment::none() },
            ..TrainConfig::defaults_for(ModelKind::Image)
        },
    };
    let cfg = TrainConfig {
        lora: a.lora.then(LoraSpec::default),
        max_steps: if a.epochs.is_some() { None } else { Some(a.steps) },
        epochs: a.epochs.unwrap_or(cfg.epochs),
        patience: 0,
        device: a.device.unwrap_or_default(),
        ..cfg
    };
    let mut cfg = cfg;
    if kind == ModelKind::Image {
        a.image.apply(&mut cfg)?;
    }
    if kind == ModelKind::Text && a.test.is_none() {
        anyhow::bail!("--test FILE is required for a text model");
    }
    let req = TrainRequest {
        model,
        train: DataSource::Path(a.train.clone()),
        valid: None,
        test: a.test.clone().map(DataSource::Path),
        config: cfg.clone(),
        run_dir: None,
    };
    let device = block_on(init(cfg.device))?;
    let (model, mut data) = load_and_prepare(&req, &device)?;
    if a.eval_limit > 0 {
        if let Some(t) = data.test.as_mut() {
            t.examples.truncate(a.eval_limit);
            t.ids.truncate(a.eval_limit);
            t.targets.truncate(a.eval_limit);
        }
    }
    let test = data.test.take();
    let (mut t_start, mut seen, mut losses) = (None::<Instant>, 0usize, Vec::new());
    let mut last_step_loss = 0.0;
    let mut counts = (0, 0);
    let outcome = block_on(fit(model, &data, &cfg, None, None, &mut |e| {
        if let Event::Start { trainable_params, total_params, .. } = e {
            counts = (*trainable_params, *total_params);
        }
        if let Event::Step { step, loss, .. } = e {
            // `loss` is the epoch's running mean: recover this step's own loss.
            let this = loss * *step as f64 - last_step_loss * (*step as f64 - 1.0);
            last_step_loss = *loss;
            losses.push(this);
            if *step == 2 {
                t_start = Some(Instant::now());
                seen = 0;
            } else if *step > 2 {
                // The last batch of an epoch may be short.
                let n = data.train.len();
                let at = (*step - 1) % n.div_ceil(cfg.batch_size).max(1);
                seen += cfg.batch_size.min(n - at * cfg.batch_size);
            }
        }
    }))?;
    let train_s = t_start.map(|t| t.elapsed().as_secs_f64()).unwrap_or(f64::NAN);
    let test = test.unwrap_or_default();
    let t0 = Instant::now();
    let report = block_on(evaluate(&outcome.model, &test, 64))?;
    let eval_s = t0.elapsed().as_secs_f64();
    let accuracy = match &report {
        EvalReport::Classification(r) => r.accuracy,
        EvalReport::MultiLabel(r) => r.subset_accuracy,
        EvalReport::Regression(_) => f64::NAN,
    };
    let tail = &losses[losses.len().saturating_sub(10)..];
    let line = serde_json::json!({
        "system": format!("edgetune {} {}{}", env!("CARGO_PKG_VERSION"), cfg.device, if cfg.lora.is_some() { " lora" } else { "" }),
        "trainable_params": counts.0, "total_params": counts.1,
        "steps": losses.len(), "batch": cfg.batch_size, "max_len": cfg.max_length,
        "train": data.train.len(), "test": test.len(),
        "train_samples_per_s": (seen as f64 / train_s * 100.0).round() / 100.0,
        "eval_samples_per_s": (test.len() as f64 / eval_s * 100.0).round() / 100.0,
        "first_loss": losses.first().copied().unwrap_or(f64::NAN),
        "last_loss": tail.iter().sum::<f64>() / tail.len().max(1) as f64,
        "test_accuracy": accuracy,
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{line}");
    Ok(())
}
