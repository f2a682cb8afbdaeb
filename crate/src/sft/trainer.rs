//! The generative run as a state machine, one optimiser step per call, as the classifiers'
//! [`crate::train::Trainer`] is: the same step counts, batch order rules (length-grouped,
//! shuffled per epoch from the seed), schedules, accumulation, clipping and optimiser
//! (`train/optim.rs`), the same [`RunState`] in checkpoints, and at each epoch end the
//! validation loss, the best adapters kept, early stopping. The native loop (`run.rs`) and the
//! page drive it step by step.

use super::encode::Encoded;
use super::eval::{loss_report, score_generation, GenerationReport, LossReport};
use super::events::SftEvent;
use super::loss::SftBatch;
use super::prepare::SftData;
use super::step::sft_step;
use crate::device;
use crate::error::{Error, Result};
use crate::model::causal::LanguageModel;
use crate::model::params::ParamStore;
use super::checkpoint::Best;
use crate::train::fit::{batch_order, step_counts};
use crate::train::optim::{lr_factor, Optimizer};
use crate::train::tally::Tally;
use crate::train::{RunState, TrainConfig};
use crate::weights::SafeTensors;
use std::path::PathBuf;
use web_time::Instant;

/// Token id written into padding (never read: padded positions are masked out and trained on nothing).
const PAD: u32 = 0;

/// Where a resumed run picks up: the state and optimiser of its `last` checkpoint (the
/// adapters are already on the model) and the best adapters so far.
pub struct SftResume {
    pub state: RunState,
    pub optimizer: Option<SafeTensors>,
    pub best: Option<Best>,
}

/// What a finished run returns.
pub struct SftOutcome {
    /// The model with the adapters of the best epoch.
    pub lm: LanguageModel,
    pub state: RunState,
    pub stopped_early: bool,
    pub valid: Option<LossReport>,
    pub test_loss: Option<LossReport>,
    pub test: Option<GenerationReport>,
    pub train_s: f64,
}

/// What one [`SftTrainer::step`] did: the step's event, and the epoch end when it closed one.
pub struct SftProgress {
    pub step: Option<SftEvent>,
    pub epoch: Option<SftEvent>,
    /// The epoch end improved on the best validation loss (save `best`).
    pub improved: bool,
}

pub struct SftTrainer {
    pub lm: LanguageModel,
    pub cfg: TrainConfig,
    pub state: RunState,
    /// Appended to "training diverged" errors: where the last good checkpoint is.
    pub keep_hint: String,
    pub opt: Optimizer,
    best: Option<ParamStore>,
    per_epoch: usize,
    total: usize,
    warmup: usize,
    order: Option<(usize, Vec<Vec<usize>>)>,
    /// Loss average, rates and time spent training.
    tally: Tally,
    last_valid: Option<LossReport>,
    stopped_early: bool,
}

impl SftTrainer {
    /// Prepares a run on `lm` (adapters attached as `cfg.lora` asks unless it has some), or
    /// continues one from `resume`.
    pub fn new(mut lm: LanguageModel, data: &SftData, cfg: &TrainConfig, resume: Option<SftResume>) -> Result<Self> {
        super::config::check_sft(cfg)?;
        if data.train.is_empty() {
            return Err(Error::Training("the training split is empty".into()));
        }
        let mut cfg = cfg.clone();
        match (&lm.lora, &cfg.lora) {
            (None, Some(spec)) => lm.attach_lora(spec, cfg.seed)?,
            // Adapters the model came with (a resumed run, a PEFT adapter) describe the run; the rate is the run's.
            (Some(have), Some(spec)) => cfg.lora = Some(crate::model::LoraSpec { lr: spec.lr, adapter: spec.adapter.clone(), ..have.clone() }),
            (Some(have), None) => cfg.lora = Some(have.clone()),
            (None, None) => {}
        }
        if lm.params.trainable_count() == 0 {
            return Err(Error::Training("every parameter is frozen: nothing to train".into()));
        }
        let (per_epoch, total) = step_counts(data.train.len(), &cfg);
        let warmup = ((total as f64) * cfg.warmup_ratio).ceil() as usize;
        let mut opt = Optimizer::new(&cfg, &lm.params).on_host(device::is_host(&lm.device));
        let (mut state, mut best) = (RunState::default(), None);
        if let Some(r) = resume {
            if let Some(st) = &r.optimizer {
                opt.restore(&lm.params, r.state.global_step, st, &lm.device)?;
            }
            opt.step = r.state.global_step;
            state = r.state;
            best = match r.best {
                // The same adapters as `last`'s: their values replaced by the best ones.
                Some(Best::Adapter(a)) => {
                    let mut with_best = lm.clone();
                    with_best.apply_adapter(&a)?;
                    Some(with_best.params)
                }
                Some(Best::Whole(p)) => Some(p),
                None => None,
            };
        }
        let tally = Tally::new(&state);
        Ok(SftTrainer {
            lm,
            cfg,
            state,
            keep_hint: String::new(),
            opt,
            best,
            per_epoch,
            total,
            warmup,
            order: None,
            tally,
            last_valid: None,
            stopped_early: false,
        })
    }

    pub fn total_steps(&self) -> usize {
        self.total
    }

    pub fn epochs(&self) -> usize {
        self.total.div_ceil(self.per_epoch)
    }

    pub fn is_finished(&self) -> bool {
        self.state.finished || self.state.global_step >= self.total
    }

    /// Ends the run now: `finish` then keeps the best adapters.
    pub fn stop(&mut self) {
        self.stopped_early = true;
        self.state.finished = true;
    }

    pub fn start_event(&self, data: &SftData, run_dir: Option<PathBuf>) -> SftEvent {
        SftEvent::Start {
            run_dir,
            model: self.lm.source.clone(),
            train: data.train.len(),
            valid: data.valid.len(),
            test: data.test.len(),
            epochs: self.epochs(),
            total_steps: self.total,
            resumed_at_step: self.state.global_step,
            trainable_params: self.lm.params.trainable_count(),
            total_params: self.lm.params.total_count(),
        }
    }

    /// One optimiser step (`grad_accum` batches), then the epoch end if that was its last step.
    pub async fn step(&mut self, data: &SftData) -> Result<SftProgress> {
        if self.is_finished() {
            return Ok(SftProgress { step: None, epoch: None, improved: false });
        }
        let epoch = self.state.epoch;
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let lengths: Vec<usize> = data.train.iter().map(|e| e.ids.len()).collect();
            self.order = Some((epoch, batch_order(lengths.len(), Some(&lengths), &self.cfg, epoch)));
            self.tally.new_epoch();
        }
        let chunks = self.order.as_ref().map_or(0, |(_, b)| b.len().div_ceil(self.cfg.grad_accum));
        let step = if self.state.step_in_epoch < chunks { Some(self.optimizer_step(data, epoch).await?) } else { None };
        let (mut epoch_event, mut improved) = (None, false);
        if self.state.step_in_epoch >= chunks || self.state.global_step >= self.total {
            let (e, i) = self.end_epoch(data).await?;
            (epoch_event, improved) = (Some(e), i);
        }
        Ok(SftProgress { step, epoch: epoch_event, improved })
    }

    async fn optimizer_step(&mut self, data: &SftData, epoch: usize) -> Result<SftEvent> {
        let t0 = Instant::now();
        let (_, batches) = self.order.as_ref().expect("the epoch order is set");
        let start = self.state.step_in_epoch * self.cfg.grad_accum;
        let chunk = &batches[start..(start + self.cfg.grad_accum).min(batches.len())];
        // Adapter dropout from a per-step seed: a resumed run draws the same masks.
        device::seed(&self.lm.device, self.cfg.seed.wrapping_mul(1_000_003).wrapping_add(self.state.global_step as u64));
        let micro: Vec<SftBatch> = chunk.iter().map(|b| SftBatch::new(&self.lm, &b.iter().map(|&i| &data.train[i]).collect::<Vec<&Encoded>>(), PAD)).collect();
        let factor = lr_factor(self.cfg.schedule, self.state.global_step, self.warmup, self.total);
        let at = self.state.global_step + 1;
        let stats = match sft_step(&mut self.lm, &mut self.opt, &micro, factor, self.cfg.max_grad_norm).await {
            Ok(s) => s,
            Err(Error::Training(why)) => return Err(Error::Training(format!("training diverged at step {at}: {why}{}", self.keep_hint))),
            Err(e) => return Err(e),
        };
        let samples = chunk.iter().map(Vec::len).sum::<usize>();
        self.tally.step(&mut self.state, samples, stats.tokens, stats.loss as f64, t0.elapsed().as_secs_f64());
        Ok(SftEvent::Step {
            epoch: epoch + 1,
            step: self.state.global_step,
            total_steps: self.total,
            loss: self.tally.mean_loss(),
            step_loss: stats.loss as f64,
            step_tokens: stats.tokens,
            lr: self.cfg.lora.as_ref().map_or(self.cfg.lr, |l| l.lr) * factor,
            grad_norm: stats.grad_norm as f64,
            samples_per_s: self.tally.samples_per_s(),
            tokens_per_s: self.tally.tokens_per_s(),
            eta_s: self.tally.eta_s(&self.state, self.total),
        })
    }

    /// Validates, keeps the best adapters, decides on early stopping.
    async fn end_epoch(&mut self, data: &SftData) -> Result<(SftEvent, bool)> {
        let t0 = Instant::now();
        let epoch = self.state.epoch;
        let valid = if data.valid.is_empty() { None } else { Some(loss_report(&self.lm, &data.valid, self.cfg.eval_batch_size, PAD).await?) };
        let improved = self.state.end_epoch(valid.map(|v| v.loss), true, self.cfg.patience, self.total, &mut self.stopped_early);
        if improved {
            self.best = Some(self.lm.params.clone());
        }
        self.tally.busy_s += t0.elapsed().as_secs_f64();
        self.last_valid = valid;
        let event = SftEvent::Epoch {
            epoch: epoch + 1,
            epochs: self.epochs(),
            train_loss: self.tally.mean_loss(),
            valid,
            best: improved,
            elapsed_s: self.tally.elapsed_s(),
        };
        Ok((event, improved))
    }

    /// A checkpoint as files: the PEFT adapter, `state.json` and, to resume from,
    /// `optimizer.safetensors`.
    pub async fn checkpoint_files(&self, with_optimizer: bool) -> Result<Vec<(String, Vec<u8>)>> {
        let opt = with_optimizer.then_some(&self.opt);
        match super::checkpoint::files(&self.lm, opt, &self.state).await {
            Err(Error::NonFinite(tensor)) => {
                Err(Error::Training(format!("training diverged at step {}: '{tensor}' became NaN or infinite{}", self.state.global_step, self.keep_hint)))
            }
            other => other,
        }
    }

    /// The best adapters' files (without optimiser state).
    pub async fn best_files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut lm = self.lm.clone();
        lm.params = self.best.clone().unwrap_or_else(|| self.lm.params.clone());
        super::checkpoint::files(&lm, None, &self.state).await
    }

    /// Finishes: the best adapters, their validation loss, the test loss and the test prompts
    /// answered and scored (`on_event` sees the scoring's progress).
    pub async fn finish(mut self, data: &SftData, on_event: &mut dyn FnMut(&SftEvent)) -> Result<SftOutcome> {
        let had_best = self.best.is_some();
        if let Some(b) = self.best.take() {
            self.lm.params = b;
        }
        let pad = PAD;
        let bs = self.cfg.eval_batch_size;
        let valid = match (&self.last_valid, had_best) {
            (Some(v), false) => Some(*v),
            _ if data.valid.is_empty() => None,
            _ => Some(loss_report(&self.lm, &data.valid, bs, pad).await?),
        };
        let test_loss = if data.test.is_empty() { None } else { Some(loss_report(&self.lm, &data.test, bs, pad).await?) };
        let limit = match self.cfg.sft.eval_limit {
            0 => data.cases.len(),
            n => n.min(data.cases.len()),
        };
        let test = if limit == 0 {
            None
        } else {
            let mut exact = 0;
            let report = score_generation(&self.lm, &data.cases[..limit], self.cfg.sft.max_new_tokens, &mut |done, s| {
                exact += s.exact as usize;
                on_event(&SftEvent::Scoring { done, total: limit, exact_so_far: exact });
            })
            .await?;
            Some(report)
        };
        Ok(SftOutcome { lm: self.lm, state: self.state, stopped_early: self.stopped_early, valid, test_loss, test, train_s: self.tally.busy_s })
    }
}
