//! The training loop as a state machine: one call, one optimiser step (forward → loss → backward
//! → clip → update), with validation and best-parameter keeping at each epoch end.
//!
//! The native runner drives it in a plain loop ([`super::fit`]); the page's Web Worker drives it
//! one awaited step at a time, so it can pause, stop, checkpoint to OPFS and post progress
//! between steps. Everything that decides *what* is trained lives here, once, for both.

use super::checkpoint::{self, RunState};
use super::config::{OnNan, TrainConfig, MAX_SKIPS_IN_A_ROW};
use super::eval::{report_from_logits, split_logits, EvalReport};
use super::events::{EpochEnd, Event, Progress};
use super::features::{self, rows_of, Features, Which};
use super::fit::{apply_freezing, epoch_batches, loss_from_logits, split_batch_loss, step_counts, FitOutcome, Resume, TrainCtx};
use super::multilabel;
use super::tally::Tally;
use super::optim::{accumulate_grads, grad_sq_norm, lr_factor, scale_grads, Optimizer};
use crate::device;
use crate::error::{Error, Result};
use crate::model::params::ParamStore;
use crate::model::{apply_buffer_updates, Dropout};
use super::setup::{attach_lora, check_kind, class_weight_tensor};
use crate::model::{Classifier, Task};
use crate::prepare::{Prepared, Split, Target};
use burn::tensor::Tensor;
use std::path::PathBuf;
use std::sync::Arc;
use web_time::Instant;

pub struct Trainer {
    pub model: Classifier,
    pub cfg: TrainConfig,
    pub state: RunState,
    /// Appended to "training diverged" errors: where the last good checkpoint is.
    pub keep_hint: String,
    opt: Optimizer,
    best: Option<ParamStore>,
    per_epoch: usize,
    total: usize,
    warmup: usize,
    drop: Dropout,
    class_weights: Option<Tensor<1>>,
    /// The current epoch's batch order (a pure function of seed and epoch).
    order: Option<(usize, Vec<Vec<usize>>)>,
    /// Loss average, rates and time spent training.
    tally: Tally,
    first_loss: Option<f64>,
    /// Batches skipped for NaN or infinity since the last good step (`on_nan = "skip"`).
    skips_in_row: usize,
    /// The run's estimated peak memory ([`super::memory::for_run`]).
    memory: super::memory::MemoryEstimate,
    last_valid: Option<EvalReport>,
    stopped_early: bool,
    /// The head-only fast path's precomputed body features (see [`features`]).
    features: Option<Arc<Features>>,
}

impl Trainer {
    /// Prepares a run (or continues one from `resume`): freezing, optimiser, schedule.
    pub fn new(model: impl Into<Classifier>, data: &Prepared, cfg: &TrainConfig, resume: Option<Resume>) -> Result<Self> {
        let mut model = model.into();
        cfg.validate()?;
        let mut cfg = cfg.clone();
        attach_lora(&mut model, &mut cfg)?;
        check_kind(model.kind(), &cfg)?;
        let cfg = &cfg;
        apply_freezing(&mut model, cfg);
        if model.params().trainable_count() == 0 {
            return Err(Error::Training("every parameter is frozen: nothing to train".into()));
        }
        if data.train.is_empty() {
            return Err(Error::Training("the training split is empty".into()));
        }
        // Before anything is allocated for training.
        let memory = super::memory::check(&model, data, cfg)?;
        let (per_epoch, total) = step_counts(data.train.len(), cfg);
        let warmup = ((total as f64) * cfg.warmup_ratio).ceil() as usize;
        let drop = model.dropout(cfg.dropout);
        let class_weights = class_weight_tensor(&model, &data.train, cfg);
        if data.valid.is_empty() && model.task() == Task::MultiLabel {
            // No validation split to choose a threshold on.
            model.set_threshold(crate::model::DEFAULT_THRESHOLD);
        }
        let mut opt = Optimizer::new(cfg, model.params()).on_host(device::is_host(model.device()));
        let (mut state, mut best) = (RunState::default(), None);
        if let Some(r) = resume {
            if let Some(st) = &r.optimizer {
                opt.restore(model.params(), r.state.global_step, st, model.device())?;
            }
            opt.step = r.state.global_step;
            state = r.state;
            best = r.best;
        }
        let tally = Tally::new(&state);
        Ok(Trainer {
            model,
            cfg: cfg.clone(),
            state,
            keep_hint: String::new(),
            opt,
            best,
            per_epoch,
            total,
            warmup,
            drop,
            class_weights,
            order: None,
            tally,
            first_loss: None,
            skips_in_row: 0,
            memory,
            last_valid: None,
            stopped_early: false,
            features: None,
        })
    }

    pub fn total_steps(&self) -> usize {
        self.total
    }

    pub fn epochs(&self) -> usize {
        self.total.div_ceil(self.per_epoch)
    }

    /// Whether the run trains the head on precomputed features (the head-only fast path).
    pub fn uses_features(&self) -> bool {
        self.features.is_some()
    }

    pub fn is_finished(&self) -> bool {
        self.state.finished || self.state.global_step >= self.total
    }

    /// The `start` event.
    pub fn start_event(&self, data: &Prepared, run_dir: Option<PathBuf>) -> Event {
        Event::Start {
            run_dir,
            train: data.train.len(),
            valid: data.valid.len(),
            test: data.test.as_ref().map_or(0, Split::len),
            classes: self.model.labels().len(),
            epochs: self.epochs(),
            total_steps: self.total,
            resumed_at_step: self.state.global_step,
            trainable_params: self.model.params().trainable_count(),
            total_params: self.model.params().total_count(),
            estimated_memory_mb: self.memory.estimate_mb,
        }
    }

    /// Trains the head on precomputed body features instead of running the frozen body on
    /// every step. Only for the fast path ([`features::fast_path`]): anything else the features
    /// are refused, since training on them would silently skip trainable parameters.
    pub fn use_features(&mut self, data: &Prepared, f: impl Into<Arc<Features>>) -> Result<()> {
        let f = f.into();
        if !features::fast_path(&self.model, &self.cfg) || f.rows() != rows_of(data) || f.test.is_some() != data.test.is_some() || f.dim != self.model.feature_dim() {
            return Err(Error::Training("precomputed features apply to a head-only run (without LoRA) on the same model and data".into()));
        }
        self.features = Some(f);
        Ok(())
    }

    /// Whether the head trains on precomputed features.
    pub fn has_features(&self) -> bool {
        self.features.is_some()
    }

    /// Seconds spent training (steps and validation; not pauses, not embedding).
    pub fn busy_s(&self) -> f64 {
        self.tally.busy_s
    }

    /// Ends the run now (the user pressed stop): `finish` then keeps the best parameters.
    pub fn stop(&mut self) {
        self.stopped_early = true;
        self.state.finished = true;
    }

    /// One optimiser step (`grad_accum` batches), then the epoch end if that was its last step.
    pub async fn step(&mut self, data: &Prepared) -> Result<Progress> {
        if self.is_finished() {
            return Ok(Progress { step: None, epoch: None });
        }
        let epoch = self.state.epoch;
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.order = Some((epoch, epoch_batches(&data.train, &self.cfg, epoch)));
            self.tally.new_epoch();
        }
        let chunks = self.order.as_ref().map_or(0, |(_, b)| b.len().div_ceil(self.cfg.grad_accum));
        let step = if self.state.step_in_epoch < chunks { Some(self.optimizer_step(data, epoch).await?) } else { None };
        let epoch_over = self.state.step_in_epoch >= chunks || self.state.global_step >= self.total;
        let epoch = if epoch_over { Some(self.end_epoch(data).await?) } else { None };
        Ok(Progress { step, epoch })
    }

    async fn optimizer_step(&mut self, data: &Prepared, epoch: usize) -> Result<Event> {
        let t0 = Instant::now();
        let train = &data.train;
        let (_, batches) = self.order.as_ref().expect("the epoch order is set");
        let start = self.state.step_in_epoch * self.cfg.grad_accum;
        let chunk = &batches[start..(start + self.cfg.grad_accum).min(batches.len())];
        // Dropout masks from a per-step seed: a resumed run draws the same ones.
        device::seed(self.model.device(), self.cfg.seed.wrapping_mul(1_000_003).wrapping_add(self.state.global_step as u64));
        let live = self.model.params().with_grad();
        let mut acc: Vec<Option<Tensor<1>>> = vec![None; live.len()];
        let mut step_loss: Option<Tensor<1>> = None;
        let mut bn_updates = Vec::new();
        let chunk_len: usize = chunk.iter().map(Vec::len).sum();
        let ctx = TrainCtx {
            drop: self.drop,
            augment: &self.cfg.augment,
            // A head-only run leaves the whole body as it was, running statistics included.
            batch_stats: !(self.cfg.freeze_bn || self.cfg.head_only),
            seed: self.cfg.seed,
            step: self.state.global_step,
        };
        for batch in chunk {
            // Micro-batches weigh by their size, so accumulation equals one big batch.
            let share = batch.len() as f64 / chunk_len as f64;
            let (loss, bn) = match &self.features {
                Some(f) => {
                    let targets: Vec<Target> = batch.iter().map(|&i| train.targets[i].clone()).collect();
                    let logits = features::train_logits(&self.model, &live, f, batch, self.drop); // [batch, outputs]
                    (loss_from_logits(logits, &targets, self.model.task(), self.class_weights.as_ref()), Vec::new())
                }
                None => split_batch_loss(&self.model, &live, train, batch, self.class_weights.as_ref(), Some(&ctx)),
            };
            bn_updates.extend(bn);
            let loss = loss.mul_scalar(share);
            accumulate_grads(&live, &loss, &mut acc);
            let value = loss.without_autodiff();
            step_loss = Some(match step_loss {
                Some(s) => s + value,
                None => value,
            });
        }
        // Free the autodiff copies before the optimiser allocates.
        std::mem::drop(live);
        let sq = grad_sq_norm(&acc);
        let (loss, sq_norm) = read_pair(step_loss.expect("a chunk has at least one batch"), sq).await?;
        let norm = sq_norm.sqrt();
        let at = self.state.global_step + 1;
        if !loss.is_finite() || !norm.is_finite() {
            let culprits = if loss.is_finite() { self.non_finite_grads(&acc).await? } else { String::new() };
            let reason = format!("the loss is {loss} (gradient norm {norm}{culprits})");
            if self.cfg.on_nan == OnNan::Stop || self.skips_in_row + 1 >= MAX_SKIPS_IN_A_ROW {
                let reason = if self.skips_in_row > 0 { format!("{reason}, after {} skipped batches in a row", self.skips_in_row) } else { reason };
                return Err(self.diverged(at, reason));
            }
            // The batch is used up, nothing else changes: weights, optimiser moments, batch-norm
            // statistics and the loss average stay as they were.
            self.skips_in_row += 1;
            self.state.skipped += 1;
            self.state.global_step += 1;
            self.state.step_in_epoch += 1;
            self.tally.busy_s += t0.elapsed().as_secs_f64();
            return Ok(Event::Skipped { epoch: epoch + 1, step: at, total_steps: self.total, reason, skipped: self.state.skipped });
        }
        self.skips_in_row = 0;
        let first = *self.first_loss.get_or_insert(loss);
        if loss > 50.0 * first.max(1.0) {
            return Err(self.diverged(at, format!("the loss exploded from {first:.4} to {loss:.4}")));
        }
        let grads = match self.cfg.max_grad_norm {
            Some(max) => scale_grads(acc, max / (norm + 1e-6)),
            None => acc,
        };
        let factor = lr_factor(self.cfg.schedule, self.state.global_step, self.warmup, self.total);
        self.opt.apply(self.model.params_mut(), grads, factor).await?;
        apply_buffer_updates(self.model.params_mut(), bn_updates);
        self.tally.step(&mut self.state, chunk_len, 0, loss, t0.elapsed().as_secs_f64());
        Ok(Event::Step {
            epoch: epoch + 1,
            step: self.state.global_step,
            total_steps: self.total,
            loss: self.tally.mean_loss(),
            // What trains: the adapters, only the head, or the body.
            lr: self.cfg.lora.as_ref().map_or(if self.cfg.head_only { self.cfg.head_lr() } else { self.cfg.lr }, |l| l.lr) * factor,
            samples_per_s: self.tally.samples_per_s(),
            eta_s: self.tally.eta_s(&self.state, self.total),
        })
    }

    /// Validates, keeps the best parameters, decides on early stopping.
    async fn end_epoch(&mut self, data: &Prepared) -> Result<EpochEnd> {
        let t0 = Instant::now();
        let epoch = self.state.epoch;
        let metric = self.cfg.metric();
        let valid = if data.valid.is_empty() { None } else { Some(self.evaluate(&data.valid, Which::Valid).await?.0) };
        let value = valid.as_ref().map(|v| v.metric(metric));
        let improved = self.state.end_epoch(value, metric == super::Metric::Loss, self.cfg.patience, self.total, &mut self.stopped_early);
        if improved {
            self.best = Some(self.model.params().clone());
        }
        self.tally.busy_s += t0.elapsed().as_secs_f64();
        self.last_valid = valid.clone();
        Ok(EpochEnd {
            epoch: epoch + 1,
            epochs: self.epochs(),
            train_loss: self.tally.mean_loss(),
            valid,
            improved,
            elapsed_s: self.tally.elapsed_s(),
        })
    }

    /// A checkpoint as files: the model as an export (a complete Hugging Face-style directory),
    /// plus `state.json` and, for resumable ones, `optimizer.safetensors`. Parameters that turned
    /// non-finite mean the run diverged.
    pub async fn checkpoint_files(&self, with_optimizer: bool) -> Result<Vec<(String, Vec<u8>)>> {
        let opt = with_optimizer.then_some(&self.opt);
        match checkpoint::files(&self.model, opt, &self.state).await {
            Err(Error::NonFinite(tensor)) => Err(self.diverged(self.state.global_step, format!("parameter '{tensor}' became NaN or infinite"))),
            other => other,
        }
    }

    /// Finishes: the best parameters, evaluated on validation and test.
    pub async fn finish(mut self, data: &Prepared) -> Result<FitOutcome> {
        let had_best = self.best.is_some();
        if let Some(b) = self.best.take() {
            *self.model.params_mut() = b;
        }
        let redo_valid = match &self.last_valid {
            // The last validation was of the last parameters: redo it for the best ones.
            Some(_) => had_best,
            None => self.state.global_step > 0,
        };
        let (valid, mut final_logits) = if redo_valid && !data.valid.is_empty() {
            let (report, logits) = self.evaluate(&data.valid, Which::Valid).await?;
            (Some(report), Some(logits))
        } else {
            (self.last_valid.clone(), None)
        };
        let test = match &data.test {
            Some(t) => {
                let (report, logits) = self.evaluate(t, Which::Test).await?;
                final_logits = Some(logits);
                Some(report)
            }
            None => None,
        };
        let train_s = self.tally.busy_s;
        Ok(FitOutcome { model: self.model, valid, test, state: self.state, stopped_early: self.stopped_early, final_logits, train_s })
    }

    /// The report and logits of the current parameters on `split` (on its features in the
    /// fast path). Multi-label, on validation: the decision threshold is chosen first (best
    /// micro-F1) and kept with the model, so a checkpoint carries the threshold of its epoch.
    async fn evaluate(&mut self, split: &Split, which: Which) -> Result<(EvalReport, Vec<Vec<f32>>)> {
        let bs = self.cfg.eval_batch_size;
        let logits = match &self.features {
            Some(f) => features::head_logits(&self.model, f, which, bs).await?,
            None => split_logits(&self.model, split, bs).await?,
        };
        if self.model.task() == Task::MultiLabel && which == Which::Valid {
            let t = multilabel::best_threshold(self.model.labels(), &logits, &split.targets);
            self.model.set_threshold(t);
        }
        Ok((report_from_logits(&self.model, &logits, &split.targets), logits))
    }

    /// Names the parameters whose gradients hold NaN or infinity, nearest the loss first (where
    /// backpropagation broke), read one by one: only on the failure path.
    async fn non_finite_grads(&self, grads: &[Option<Tensor<1>>]) -> Result<String> {
        let mut bad = Vec::new();
        for (p, g) in self.model.params().params.iter().zip(grads).rev() {
            let Some(g) = g else { continue };
            let v = device::read_f32((g.clone() * g.clone()).sum(), &p.name).await?;
            if !v[0].is_finite() {
                bad.push(p.name.as_str());
            }
        }
        Ok(match bad.len() {
            0 => String::new(),
            n if n <= 3 => format!("; not finite in {}", bad.join(", ")),
            n => format!("; not finite in {n} tensors, nearest the loss: {}", bad[..3].join(", ")),
        })
    }

    fn diverged(&self, step: usize, what: String) -> Error {
        Error::Training(format!(
            "training diverged at step {step}: {what}. Lower the learning rate (--lr) or keep gradient clipping on{}",
            self.keep_hint
        ))
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
