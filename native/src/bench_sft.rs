//! `edgetune bench` on a generative model: `../shared/bench/torch_sft.py`'s workload, timed as
//! it times it, printed as one JSON line with its keys, so `scripts/bench-sft.sh` sets the two
//! side by side. LoRA on every linear layer (r 8, alpha 16, no dropout), AdamW 2e-4 without
//! weight decay or clipping, linear decay after a tenth of the steps warming up, batch 8, 256
//! tokens, the loss on the answers; a text,label CSV asked as generation with the reference's
//! prompt. Train tokens/s counts real tokens from the third step on; the test prompts are
//! answered greedily (16 new tokens) and scored by exact match.

use crate::args::BenchArgs;
use crate::bench::peak_rss_mb;
use anyhow::Result;
use edgetune::device::{block_on, init};
use edgetune::prepare::DataSource;
use edgetune::sft::eval::score_generation;
use edgetune::sft::run::{load_and_prepare, SftRequest};
use edgetune::sft::{sft_defaults, SftEvent, SftTrainer};
use edgetune::train::TrainConfig;
use std::path::PathBuf;
use std::time::Instant;

pub fn bench_sft(a: &BenchArgs, model: PathBuf) -> Result<()> {
    let Some(test) = &a.test else { anyhow::bail!("--test FILE is required: its prompts are answered and scored") };
    let mut cfg = TrainConfig {
        batch_size: a.batch_size.unwrap_or(8),
        max_length: a.max_length.unwrap_or(256),
        max_steps: if a.epochs.is_some() { None } else { Some(a.steps) },
        epochs: a.epochs.unwrap_or(1.0),
        valid_split: 0.0,
        test_split: 0.0,
        max_grad_norm: None,
        patience: 0,
        group_by_length: !a.no_group_by_length,
        device: a.device.unwrap_or_default(),
        ..sft_defaults()
    };
    cfg.sft.max_new_tokens = 16;
    cfg.sft.eval_limit = a.eval_limit;
    let req = SftRequest { model, train: DataSource::Path(a.train.clone()), valid: None, test: Some(DataSource::Path(test.clone())), config: cfg.clone(), run_dir: None };
    let device = block_on(init(cfg.device))?;
    let (lm, mut data) = load_and_prepare(&req, &device)?;
    if a.eval_limit > 0 {
        // As the reference: only the scored prompts (the test loss is not part of its workload).
        data.test.truncate(a.eval_limit);
        data.cases.truncate(a.eval_limit);
    }
    let cases = &data.cases[..];
    let before = if a.before { Some(block_on(score_generation(&lm, cases, 16, &mut |_, _| {}))?.exact_match) } else { None };
    let mut t = SftTrainer::new(lm, &data, &cfg, None)?;
    let (trainable, total) = (t.lm.params.trainable_count(), t.lm.params.total_count());
    let (mut t_start, mut tokens, mut losses) = (None::<Instant>, 0usize, Vec::new());
    while !t.is_finished() {
        let p = block_on(t.step(&data))?;
        if let Some(SftEvent::Step { step, step_loss, step_tokens, .. }) = p.step {
            losses.push(step_loss);
            // Timed from the end of the second step, as the reference times.
            if step == 2 {
                t_start = Some(Instant::now());
            } else if step > 2 {
                tokens += step_tokens;
            }
        }
    }
    let train_s = t_start.map(|s| s.elapsed().as_secs_f64()).unwrap_or(f64::NAN);
    let out = block_on(t.finish(&data, &mut |_| {}))?;
    let gen = out.test.as_ref();
    let line = serde_json::json!({
        "system": format!("edgetune {} {} lora", env!("CARGO_PKG_VERSION"), cfg.device),
        "train_tokens_per_s": (tokens as f64 / train_s * 10.0).round() / 10.0,
        "steps": losses.len(),
        "first_losses": losses.iter().take(5).map(|l| (l * 1e5).round() / 1e5).collect::<Vec<_>>(),
        "last_loss": losses.last(),
        "exact_match_before": before,
        "exact_match_after": gen.map(|g| g.exact_match),
        "generate_tokens_per_s": gen.map(|g| (g.tokens_per_s * 10.0).round() / 10.0),
        "trainable_params": trainable,
        "total_params": total,
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{line}");
    Ok(())
}
