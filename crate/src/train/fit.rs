//! The training loop: forward → loss → backward → clip → optimiser step, evaluation on the
//! validation split after each epoch, best-checkpoint keeping, early stopping, and resume.
//! One loop for every platform (burn's `Learner` does not build for wasm); in the shape of burn's
//! `custom-training-loop` example and nanoGPT's train.py.

use super::batch::pad_batch;
use super::checkpoint::{self, RunState};
use super::config::{ClassWeights, TrainConfig};
use super::eval::{evaluate, EvalReport};
use super::optim::{grad_sq_norm, lr_factor, scale_grads, Optimizer};
use crate::data::{length_grouped_batches, sequential_batches};
use crate::device;
use crate::error::{Error, Result};
use crate::model::bert::Dropout;
use crate::model::params::ParamStore;
use crate::model::{Task, TextClassifier};
use crate::prepare::{Prepared, Split, Target};
use crate::rng::Rng;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use serde::Serialize;
use std::path::PathBuf;
use web_time::Instant;

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

fn class_weight_tensor(model: &TextClassifier, split: &Split, cfg: &TrainConfig) -> Option<Tensor<1>> {
    if cfg.class_weights != ClassWeights::Balanced || model.task != Task::Classification {
        return None;
    }
    let k = model.labels.len();
    let mut counts = vec![0usize; k];
    for t in &split.targets {
        if let Target::Class(c) = t {
            counts[*c] += 1;
        }
    }
    let n = split.len() as f32;
    let w: Vec<f32> = counts.iter().map(|&c| if c == 0 { 0.0 } else { n / (k as f32 * c as f32) }).collect();
    Some(Tensor::<1>::from_data(TensorData::new(w, [k]), &model.device))
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

async fn read_pair(loss: Tensor<1>, sq_norm: Option<Tensor<1>>) -> Result<(f64, f64)> {
    let both = match sq_norm {
        Some(n) => Tensor::cat(vec![loss, n], 0),
        None => loss,
    };
    let v = device::read_f32(both, "the loss").await?;
    Ok((v[0] as f64, v.get(1).copied().unwrap_or(0.0) as f64))
}

/// Trains `model` on `data`. With `run_dir`, checkpoints, history and reports are written there.
pub async fn fit(
    mut model: TextClassifier,
    data: &Prepared,
    cfg: &TrainConfig,
    run_dir: Option<PathBuf>,
    resume: Option<Resume>,
    on_event: &mut dyn FnMut(&Event),
) -> Result<FitOutcome> {
    cfg.validate()?;
    apply_freezing(&mut model, cfg);
    if model.params.trainable_count() == 0 {
        return Err(Error::Training("every parameter is frozen: nothing to train".into()));
    }
    let train = &data.train;
    if train.is_empty() {
        return Err(Error::Training("the training split is empty".into()));
    }
    let (per_epoch, total) = step_counts(train.len(), cfg);
    let epochs = total.div_ceil(per_epoch);
    let warmup = ((total as f64) * cfg.warmup_ratio).ceil() as usize;
    let drop = {
        let h = cfg.dropout.unwrap_or(model.config.hidden_dropout_prob);
        let a = cfg.dropout.unwrap_or(model.config.attention_probs_dropout_prob);
        Dropout { hidden: h, attention: a }
    };
    let weights = class_weight_tensor(&model, train, cfg);
    let mut opt = Optimizer::new(cfg, &model.params).on_host(device::is_host(&model.device));
    let (mut state, mut best) = (RunState::default(), None);
    if let Some(r) = resume {
        if let Some(st) = &r.optimizer {
            opt.restore(&model.params, r.state.global_step, st, &model.device)?;
        }
        opt.step = r.state.global_step;
        state = r.state;
        best = r.best;
    }
    on_event(&Event::Start {
        run_dir: run_dir.clone(),
        train: train.len(),
        valid: data.valid.len(),
        test: data.test.as_ref().map_or(0, Split::len),
        classes: model.labels.len(),
        epochs,
        total_steps: total,
        resumed_at_step: state.global_step,
        trainable_params: model.params.trainable_count(),
        total_params: model.params.total_count(),
    });

    let started = Instant::now();
    let first_step = state.global_step;
    let mut samples = 0usize;
    let mut stopped_early = false;
    let mut last_valid = None;
    let mut first_loss: Option<f64> = None;
    let metric = cfg.metric();
    let higher_is_better = metric != super::Metric::Loss;

    while !state.finished && state.global_step < total {
        let epoch = state.epoch;
        let batches = epoch_batches(train, cfg, epoch);
        let (mut loss_sum, mut loss_n) = (0.0, 0usize);
        for chunk in batches.chunks(cfg.grad_accum).skip(state.step_in_epoch) {
            // Dropout masks from a per-step seed: a resumed run draws the same ones.
            device::seed(&model.device, cfg.seed.wrapping_mul(1_000_003).wrapping_add(state.global_step as u64));
            let live = model.params.with_grad();
            let mut acc: Vec<Option<Tensor<1>>> = vec![None; live.len()];
            let mut step_loss: Option<Tensor<1>> = None;
            let chunk_len: usize = chunk.iter().map(Vec::len).sum();
            for batch in chunk {
                let rows: Vec<&[u32]> = batch.iter().map(|&i| train.ids[i].as_slice()).collect();
                let targets: Vec<Target> = batch.iter().map(|&i| train.targets[i]).collect();
                // Micro-batches weigh by their size, so accumulation equals one big batch.
                let share = batch.len() as f64 / chunk_len as f64;
                let loss = batch_loss(&model, &live, &rows, &targets, weights.as_ref(), Some(drop)).mul_scalar(share);
                let mut grads = loss.backward();
                let value = loss.without_autodiff();
                step_loss = Some(match step_loss {
                    Some(s) => s + value,
                    None => value,
                });
                for (i, p) in live.params.iter().enumerate() {
                    if p.trainable {
                        if let Some(g) = p.value.grad_remove(&mut grads) {
                            acc[i] = Some(match acc[i].take() {
                                Some(a) => a + g,
                                None => g,
                            });
                        }
                    }
                }
            }
            // Free the autodiff copies before the optimiser allocates.
            std::mem::drop(live);
            let sq = grad_sq_norm(&acc);
            let (loss, sq_norm) = read_pair(step_loss.expect("a chunk has at least one batch"), sq).await?;
            let norm = sq_norm.sqrt();
            if !loss.is_finite() || !norm.is_finite() {
                return Err(diverged(&run_dir, state.global_step + 1, format!("the loss is {loss} (gradient norm {norm})")));
            }
            let first = *first_loss.get_or_insert(loss);
            if loss > 50.0 * first.max(1.0) {
                return Err(diverged(&run_dir, state.global_step + 1, format!("the loss exploded from {first:.4} to {loss:.4}")));
            }
            let grads = match cfg.max_grad_norm {
                Some(max) => scale_grads(acc, max / (norm + 1e-6)),
                None => acc,
            };
            let factor = lr_factor(cfg.schedule, state.global_step, warmup, total);
            opt.apply(&mut model.params, grads, factor).await?;
            state.global_step += 1;
            state.step_in_epoch += 1;
            samples += chunk_len;
            loss_sum += loss;
            loss_n += 1;
            let elapsed = started.elapsed().as_secs_f64();
            let done_here = state.global_step - first_step;
            on_event(&Event::Step {
                epoch: epoch + 1,
                step: state.global_step,
                total_steps: total,
                loss: loss_sum / loss_n as f64,
                lr: cfg.lr * factor,
                samples_per_s: samples as f64 / elapsed.max(1e-9),
                eta_s: elapsed / done_here as f64 * (total - state.global_step) as f64,
            });
            if let (Some(dir), true) = (&run_dir, cfg.checkpoint_every > 0 && state.global_step % cfg.checkpoint_every == 0) {
                save(dir, "last", &model, Some(&opt), &state).await?;
            }
            if state.global_step >= total {
                break;
            }
        }

        // End of epoch (or of the step budget): validate, keep the best, maybe stop.
        let valid = if data.valid.is_empty() { None } else { Some(evaluate(&model, &data.valid, cfg.eval_batch_size).await?) };
        let value = valid.as_ref().map(|v| v.metric(metric));
        let improved = match (value, state.best_metric) {
            (Some(v), Some(b)) => if higher_is_better { v > b } else { v < b },
            _ => true,
        };
        if improved {
            state.best_metric = value;
            state.best_epoch = Some(epoch + 1);
            state.bad_epochs = 0;
            best = Some(model.params.clone());
        } else {
            state.bad_epochs += 1;
        }
        state.epoch += 1;
        state.step_in_epoch = 0;
        if cfg.patience > 0 && state.bad_epochs >= cfg.patience && state.global_step < total {
            stopped_early = true;
        }
        state.finished = stopped_early || state.global_step >= total;
        let train_loss = loss_sum / loss_n.max(1) as f64;
        if let Some(dir) = &run_dir {
            if improved {
                save(dir, "best", &model, None, &state).await?;
            }
            save(dir, "last", &model, Some(&opt), &state).await?;
            let record = serde_json::json!({
                "epoch": epoch + 1, "step": state.global_step, "train_loss": train_loss,
                "valid": valid, "best": improved, "elapsed_s": started.elapsed().as_secs_f64(),
            });
            checkpoint::append_history(dir, &record)?;
        }
        if let Some(v) = &valid {
            on_event(&Event::Epoch {
                epoch: epoch + 1,
                epochs,
                train_loss,
                valid: v.clone(),
                best: improved,
                elapsed_s: started.elapsed().as_secs_f64(),
            });
        }
        last_valid = valid;
    }

    // Finish with the best parameters.
    if let Some(b) = best {
        model.params = b;
    }
    let valid = match (&last_valid, state.best_epoch) {
        (Some(_), Some(_)) if !data.valid.is_empty() => Some(evaluate(&model, &data.valid, cfg.eval_batch_size).await?),
        _ => last_valid,
    };
    let test = match &data.test {
        Some(t) => Some(evaluate(&model, t, cfg.eval_batch_size).await?),
        None => None,
    };
    if let Some(dir) = &run_dir {
        let report = serde_json::json!({ "best_epoch": state.best_epoch, "stopped_early": stopped_early, "valid": valid, "test": test, "labels": model.labels });
        checkpoint::write_json(&dir.join("report.json"), &report)?;
    }
    on_event(&Event::Done { run_dir: run_dir.clone(), best_epoch: state.best_epoch, stopped_early, valid: valid.clone(), test: test.clone() });
    Ok(FitOutcome { model, valid, test, state })
}

/// Saves a checkpoint; parameters that turned non-finite mean the run diverged (the previous
/// checkpoint is left in place).
async fn save(dir: &std::path::Path, name: &str, model: &TextClassifier, opt: Option<&Optimizer>, state: &RunState) -> Result<()> {
    match checkpoint::save(dir, name, model, opt, state).await {
        Err(Error::NonFinite(tensor)) => Err(diverged(
            &Some(dir.to_path_buf()),
            state.global_step,
            format!("parameter '{tensor}' became NaN or infinite"),
        )),
        other => other,
    }
}

fn diverged(run_dir: &Option<PathBuf>, step: usize, what: String) -> Error {
    let keep = match run_dir {
        Some(d) => format!("; the last good checkpoint is kept in {}", checkpoint::checkpoint_dir(d, "last").display()),
        None => String::new(),
    };
    Error::Training(format!("training diverged at step {step}: {what}. Lower the learning rate (--lr) or keep gradient clipping on{keep}"))
}
