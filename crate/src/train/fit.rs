//! The training run: events, freezing, the loss, batch order, and the native loop over
//! [`Trainer`] that writes checkpoints, history and the report to a run directory.
//! One loop for every platform (burn's `Learner` does not build for wasm); in the shape of burn's
//! `custom-training-loop` example and nanoGPT's train.py.

use super::batch::pad_batch;
use super::checkpoint::{self, RunState};
use super::config::TrainConfig;
use super::eval::EvalReport;
use super::trainer::Trainer;
use crate::data::{length_grouped_batches, sequential_batches};
use crate::error::Result;
use crate::model::bert::Dropout;
use crate::model::params::ParamStore;
use crate::model::{Task, TextClassifier};
use crate::prepare::{Prepared, Split, Target};
use crate::rng::Rng;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use serde::Serialize;
use std::path::PathBuf;

/// Progress events, for a progress bar, `--json` lines or the page's charts.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    Start {
        run_dir: Option<PathBuf>,
        train: usize,
        valid: usize,
        test: usize,
        classes: usize,
        epochs: usize,
        total_steps: usize,
        resumed_at_step: usize,
        trainable_params: usize,
        total_params: usize,
    },
    Step {
        epoch: usize,
        step: usize,
        total_steps: usize,
        loss: f64,
        lr: f64,
        samples_per_s: f64,
        eta_s: f64,
    },
    Epoch {
        epoch: usize,
        epochs: usize,
        train_loss: f64,
        valid: EvalReport,
        best: bool,
        elapsed_s: f64,
    },
    Done {
        run_dir: Option<PathBuf>,
        best_epoch: Option<usize>,
        stopped_early: bool,
        valid: Option<EvalReport>,
        test: Option<EvalReport>,
    },
}

/// What a finished run returns.
pub struct FitOutcome {
    /// The model with the best validation parameters.
    pub model: TextClassifier,
    pub valid: Option<EvalReport>,
    pub test: Option<EvalReport>,
    pub state: RunState,
    pub stopped_early: bool,
    /// The logits behind the final report (`test`, or `valid` without a test split), when
    /// `finish` computed them: the page lists misclassified examples from them.
    pub final_logits: Option<Vec<Vec<f32>>>,
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

/// Marks parameters frozen as the configuration asks.
pub fn apply_freezing(model: &mut TextClassifier, cfg: &TrainConfig) {
    let layers = cfg.freeze_layers;
    model.params.freeze_where(|name| {
        if cfg.head_only {
            return name.starts_with("embeddings.") || name.starts_with("encoder.");
        }
        let emb = (cfg.freeze_embeddings || layers > 0) && name.starts_with("embeddings.");
        let layer = name
            .strip_prefix("encoder.layer.")
            .and_then(|r| r.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| i < layers);
        emb || layer
    });
}

/// Optimiser steps per epoch and in all.
pub fn step_counts(train_len: usize, cfg: &TrainConfig) -> (usize, usize) {
    let batches = train_len.div_ceil(cfg.batch_size);
    let per_epoch = batches.div_ceil(cfg.grad_accum).max(1);
    let total = cfg.max_steps.unwrap_or(((per_epoch as f64) * cfg.epochs).ceil() as usize).max(1);
    (per_epoch, total)
}

/// The loss of one batch (a scalar `[1]` tensor, differentiable through `p`).
pub fn batch_loss(
    model: &TextClassifier,
    p: &ParamStore,
    rows: &[&[u32]],
    targets: &[Target],
    class_weights: Option<&Tensor<1>>,
    drop: Option<Dropout>,
) -> Tensor<1> {
    let dev = &model.device;
    let (ids, mask) = pad_batch(rows, model.tokenizer.pad_id(), dev);
    let logits = model.logits(p, ids, mask, drop); // [batch, outputs]
    let n = rows.len();
    match model.task {
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
    }
}

/// The order of training batches in `epoch`: a pure function of the seed and the epoch, so a
/// resumed run sees the same batches as an uninterrupted one.
pub fn epoch_batches(split: &Split, cfg: &TrainConfig, epoch: usize) -> Vec<Vec<usize>> {
    let mut rng = Rng::derive(cfg.seed, &format!("epoch-{epoch}"));
    if cfg.group_by_length {
        let lengths: Vec<usize> = split.ids.iter().map(Vec::len).collect();
        length_grouped_batches(&lengths, cfg.batch_size, &mut rng)
    } else {
        let mut order: Vec<usize> = (0..split.len()).collect();
        rng.shuffle(&mut order);
        sequential_batches(order.len(), cfg.batch_size).into_iter().map(|b| b.into_iter().map(|i| order[i]).collect()).collect()
    }
}

/// Trains `model` on `data`. With `run_dir`, checkpoints, history and reports are written there.
/// The native loop over [`Trainer`]; the page drives the same `Trainer` one step at a time.
pub async fn fit(
    model: TextClassifier,
    data: &Prepared,
    cfg: &TrainConfig,
    run_dir: Option<PathBuf>,
    resume: Option<Resume>,
    on_event: &mut dyn FnMut(&Event),
) -> Result<FitOutcome> {
    let mut t = Trainer::new(model, data, cfg, resume)?;
    if let Some(dir) = &run_dir {
        t.keep_hint = format!("; the last good checkpoint is kept in {}", checkpoint::checkpoint_dir(dir, "last").display());
    }
    on_event(&t.start_event(data, run_dir.clone()));
    while !t.is_finished() {
        let progress = t.step(data).await?;
        if let Some(step) = &progress.step {
            on_event(step);
        }
        let Some(end) = progress.epoch else {
            if let (Some(dir), true) = (&run_dir, cfg.checkpoint_every > 0 && t.state.global_step % cfg.checkpoint_every == 0) {
                save(dir, "last", &t, true).await?;
            }
            continue;
        };
        if let Some(dir) = &run_dir {
            if end.improved {
                save(dir, "best", &t, false).await?;
            }
            save(dir, "last", &t, true).await?;
            checkpoint::append_history(dir, &end.record(&t.state))?;
        }
        if let Some(e) = end.event() {
            on_event(&e);
        }
    }
    let outcome = t.finish(data).await?;
    if let Some(dir) = &run_dir {
        let report = serde_json::json!({
            "best_epoch": outcome.state.best_epoch, "stopped_early": outcome.stopped_early,
            "valid": outcome.valid, "test": outcome.test, "labels": outcome.model.labels,
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
