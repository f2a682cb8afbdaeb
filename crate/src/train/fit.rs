//! The training run: events, freezing, the loss, batch order, and the native loop over
//! [`Trainer`] that writes checkpoints, history and the report to a run directory.
//! One loop for every platform (burn's `Learner` does not build for wasm); in the shape of burn's
//! `custom-training-loop` example and nanoGPT's train.py.

use super::checkpoint::{self, RunState};
use super::config::TrainConfig;
use super::driver::Saver;
use super::embed_cache;
use super::features;
use super::trainer::Trainer;
use super::eval::EvalReport;
use super::events::Event;
use crate::data::{length_grouped_batches, sequential_batches};
use crate::error::Result;
use crate::model::params::ParamStore;
use crate::model::{Batch, BufferUpdate, Classifier, Dropout, Mode, Task};
use crate::prepare::{Prepared, Split, Target};
use crate::rng::Rng;
use crate::vision::{augment, to_unit, Augment};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use std::path::PathBuf;

/// What a finished run returns.
pub struct FitOutcome {
    /// The model with the best validation parameters.
    pub model: Classifier,
    pub valid: Option<EvalReport>,
    pub test: Option<EvalReport>,
    pub state: RunState,
    pub stopped_early: bool,
    /// The logits behind the final report (`test`, or `valid` without a test split), when
    /// `finish` computed them: the page lists misclassified examples from them.
    pub final_logits: Option<Vec<Vec<f32>>>,
    /// Seconds spent training (steps and validation; not embedding, checkpoints or pauses).
    pub train_s: f64,
}

impl FitOutcome {
    /// The `done` event.
    pub fn done_event(&self, run_dir: Option<PathBuf>) -> Event {
        Event::Done {
            run_dir,
            best_epoch: self.state.best_epoch,
            stopped_early: self.stopped_early,
            valid: self.valid.clone(),
            test: self.test.clone(),
            train_s: self.train_s,
            skipped: self.state.skipped,
        }
    }
}

/// Where to resume from: the state and optimiser of a `last` checkpoint (its parameters are
/// already in the model), and the best parameters so far.
pub struct Resume {
    pub state: RunState,
    pub optimizer: Option<crate::weights::SafeTensors>,
    pub best: Option<ParamStore>,
}

/// Marks parameters frozen as the configuration asks (see [`Classifier::freeze`]).
pub fn apply_freezing(model: &mut Classifier, cfg: &TrainConfig) {
    model.freeze(cfg.head_only, cfg.freeze_embeddings, cfg.freeze_layers);
}

/// Optimiser steps per epoch and in all.
pub fn step_counts(train_len: usize, cfg: &TrainConfig) -> (usize, usize) {
    let batches = train_len.div_ceil(cfg.batch_size);
    let per_epoch = batches.div_ceil(cfg.grad_accum).max(1);
    let total = cfg.max_steps.unwrap_or(((per_epoch as f64) * cfg.epochs).ceil() as usize).max(1);
    (per_epoch, total)
}

/// What changes while training: dropout; augmentation and whether batch norm trains (images),
/// and the seed and step the random augmentations derive from (so a resumed run draws the same).
pub struct TrainCtx<'a> {
    pub drop: Dropout,
    pub augment: &'a Augment,
    /// Batch norm normalises with (and updates from) the batch's statistics.
    pub batch_stats: bool,
    pub seed: u64,
    pub step: usize,
}

/// The loss of the examples `batch` of `split` (a scalar `[1]` tensor, differentiable through
/// `p`) and, in training, the buffer updates (batch norm's statistics) to fold in after the step.
pub fn split_batch_loss(
    model: &Classifier,
    p: &ParamStore,
    split: &Split,
    batch: &[usize],
    class_weights: Option<&Tensor<1>>,
    ctx: Option<&TrainCtx>,
) -> (Tensor<1>, Vec<BufferUpdate>) {
    let targets: Vec<Target> = batch.iter().map(|&i| split.targets[i].clone()).collect();
    let mode = ctx.map_or(Mode::EVAL, |c| Mode { dropout: Some(c.drop), batch_stats: c.batch_stats });
    let (logits, updates) = model.logits(p, input_batch(model, split, batch, ctx), mode); // [batch, outputs]
    (loss_from_logits(logits, &targets, model.task, class_weights), updates)
}

/// The examples `batch` of `split` as the model's input: token ids, or pixels (augmented while
/// training).
pub fn input_batch(model: &Classifier, split: &Split, batch: &[usize], ctx: Option<&TrainCtx>) -> Batch {
    if model.tokenizer().is_some() {
        let rows: Vec<&[u32]> = batch.iter().map(|&i| split.ids[i].as_slice()).collect();
        model.token_batch(&rows)
    } else {
        model.pixel_batch(&image_batch(model, split, batch, ctx))
    }
}

/// The images `batch` of `split` as CHW values in 0..1, augmented while training. Each image's
/// augmentation is drawn from (seed, step, example): the same on every platform and on resume.
pub fn image_batch(model: &Classifier, split: &Split, batch: &[usize], ctx: Option<&TrainCtx>) -> Vec<Vec<f32>> {
    let size = model.image_input().map_or(0, |i| i.size);
    batch
        .iter()
        .map(|&i| {
            let pixels = split.examples[i].image.as_deref().map_or(&[][..], |v| v.as_slice());
            match ctx {
                Some(c) => {
                    let mut rng = Rng::derive(c.seed ^ (c.step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15), &format!("augment-{i}"));
                    augment(pixels, size, c.augment, &mut rng)
                }
                None => to_unit(pixels),
            }
        })
        .collect()
}

/// Cross-entropy (optionally class-weighted), mean squared error, or for multi-label binary
/// cross-entropy (`class_weights` then are the tags' `pos_weight`) of `logits [batch, outputs]`.
pub fn loss_from_logits(logits: Tensor<2>, targets: &[Target], task: Task, class_weights: Option<&Tensor<1>>) -> Tensor<1> {
    let dev = logits.device();
    let dev = &dev;
    let n = targets.len();
    match task {
        Task::Classification => {
            let ys: Vec<i64> = targets.iter().map(|t| if let Target::Class(c) = t { *c as i64 } else { 0 }).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(ys, [n]), dev);
            let picked = log_softmax(logits, 1).gather(1, y.clone().reshape([n, 1])).reshape([n]); // [batch]
            match class_weights {
                Some(w) => {
                    let w = w.clone().select(0, y); // [batch]
                    (picked * w.clone()).sum().neg() / w.sum()
                }
                None => picked.mean().neg(),
            }
        }
        Task::Regression => {
            let ys: Vec<f32> = targets.iter().map(|t| if let Target::Value(v) = t { *v } else { 0.0 }).collect();
            let y = Tensor::<1>::from_data(TensorData::new(ys, [n]), dev);
            let diff = logits.reshape([n]) - y;
            (diff.clone() * diff).mean()
        }
        Task::MultiLabel => super::multilabel::bce_with_logits(logits, targets, class_weights),
    }
}

/// The order of training batches in `epoch`: a pure function of the seed and the epoch, so a
/// resumed run sees the same batches as an uninterrupted one.
pub fn epoch_batches(split: &Split, cfg: &TrainConfig, epoch: usize) -> Vec<Vec<usize>> {
    let lengths: Vec<usize> = split.ids.iter().map(Vec::len).collect();
    batch_order(split.len(), (!lengths.is_empty()).then_some(&lengths[..]), cfg, epoch)
}

/// Batches of `n` examples for `epoch`: length-grouped (shuffled buckets of similar `lengths`)
/// when the configuration asks and lengths are known, else a shuffled order cut in batches.
pub fn batch_order(n: usize, lengths: Option<&[usize]>, cfg: &TrainConfig, epoch: usize) -> Vec<Vec<usize>> {
    let mut rng = Rng::derive(cfg.seed, &format!("epoch-{epoch}"));
    match lengths {
        Some(lengths) if cfg.group_by_length => length_grouped_batches(lengths, cfg.batch_size, &mut rng),
        _ => {
            let mut order: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut order);
            sequential_batches(order.len(), cfg.batch_size).into_iter().map(|b| b.into_iter().map(|i| order[i]).collect()).collect()
        }
    }
}

/// Trains `model` on `data`. With `run_dir`, checkpoints, history and reports are written there.
/// The native loop over [`Trainer`]; the page drives the same `Trainer` one step at a time.
pub async fn fit(
    model: impl Into<Classifier>,
    data: &Prepared,
    cfg: &TrainConfig,
    run_dir: Option<PathBuf>,
    resume: Option<Resume>,
    on_event: &mut dyn FnMut(&Event),
) -> Result<FitOutcome> {
    fit_trainer(Trainer::new(model, data, cfg, resume)?, data, run_dir, on_event).await
}

/// [`fit`] with the trainer already made (what can refuse a run — its configuration, its
/// memory estimate — has been checked).
pub async fn fit_trainer(mut t: Trainer, data: &Prepared, run_dir: Option<PathBuf>, on_event: &mut dyn FnMut(&Event)) -> Result<FitOutcome> {
    if let Some(dir) = &run_dir {
        t.keep_hint = format!("; the last good checkpoint is kept in {}", checkpoint::checkpoint_dir(dir, "last").display());
    }
    // The fast path trains for seconds: checkpoints once at the end instead of every epoch
    // (each holds the whole encoder).
    let fast = features::fast_path(&t.model, &t.cfg);
    if fast {
        let f = embed_cache::cached_features(&t, data, embed_cache::default_dir(), on_event).await?;
        t.use_features(data, f)?;
    }
    on_event(&t.start_event(data, run_dir.clone()));
    let mut saver = Saver::default();
    while !t.is_finished() {
        let progress = t.step(data).await?;
        if let Some(step) = &progress.step {
            on_event(step);
        }
        let saves = saver.due(&t, &progress);
        if let Some(dir) = &run_dir {
            if saves.best {
                save(dir, "best", &t, false).await?;
            }
            if saves.last {
                save(dir, "last", &t, true).await?;
            }
            if let Some(end) = &progress.epoch {
                checkpoint::append_history(dir, &end.record(&t.state))?;
            }
        }
        if let Some(e) = progress.epoch.as_ref().and_then(|end| end.event()) {
            on_event(&e);
        }
    }
    let outcome = t.finish(data).await?;
    if let (Some(dir), true) = (&run_dir, fast) {
        checkpoint::save(dir, "best", checkpoint::files(&outcome.model, None, &outcome.state).await?)?;
    }
    if let Some(dir) = &run_dir {
        let report = serde_json::json!({
            "best_epoch": outcome.state.best_epoch, "stopped_early": outcome.stopped_early,
            "valid": outcome.valid, "test": outcome.test, "labels": outcome.model.labels(),
        });
        checkpoint::write_json(&dir.join("report.json"), &report)?;
    }
    on_event(&outcome.done_event(run_dir));
    Ok(outcome)
}

/// Saves a checkpoint; parameters that turned non-finite mean the run diverged (the previous
/// checkpoint is left in place).
async fn save(dir: &std::path::Path, name: &str, t: &Trainer, with_optimizer: bool) -> Result<()> {
    let files = t.checkpoint_files(with_optimizer).await?;
    checkpoint::save(dir, name, files)
}
