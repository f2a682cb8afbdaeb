//! What a run reports: the progress events (a progress bar, `--json` lines, the page's charts)
//! and what one [`super::Trainer::step`] did.

use super::checkpoint::RunState;
use super::eval::EvalReport;
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
        /// The estimated peak memory of training, in MB (see `train::memory`).
        estimated_memory_mb: f64,
    },
    /// The head-only fast path has embedded `embedded` of the `total` examples of all splits.
    Embedding {
        embedded: usize,
        total: usize,
    },
    /// The head-only fast path embedded the splits once (or found them in the cache).
    Embedded {
        rows: usize,
        dim: usize,
        /// "hit" (read from `cache_path`), "miss" (computed, then written there) or "off".
        cache: &'static str,
        cache_path: Option<PathBuf>,
        /// Why a cache file there was ignored (another model or data, or a damaged file).
        warning: Option<String>,
        elapsed_s: f64,
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
    /// `on_nan = "skip"`: the step's batch gave NaN or infinity and changed nothing.
    Skipped {
        epoch: usize,
        step: usize,
        total_steps: usize,
        /// What was not finite, as the stop message would say.
        reason: String,
        /// Batches skipped so far in the run.
        skipped: usize,
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
        /// Seconds of training (steps and validation; with head-only, after embedding).
        train_s: f64,
        /// Batches skipped for NaN or infinity (`on_nan = "skip"`).
        skipped: usize,
    },
}

/// What one [`Trainer::step`] did.
pub struct Progress {
    /// The optimiser step taken (None when only an epoch end was left to do, after a resume).
    pub step: Option<Event>,
    /// Set when the step finished an epoch (or the step budget): validation ran.
    pub epoch: Option<EpochEnd>,
}

/// The end of an epoch: its validation report and whether it is the best so far.
#[derive(Clone, Debug)]
pub struct EpochEnd {
    pub epoch: usize,
    pub epochs: usize,
    pub train_loss: f64,
    pub valid: Option<EvalReport>,
    pub improved: bool,
    pub elapsed_s: f64,
}

impl EpochEnd {
    /// The `epoch` event (only with a validation split: without one there is nothing to show).
    pub fn event(&self) -> Option<Event> {
        self.valid.as_ref().map(|v| Event::Epoch {
            epoch: self.epoch,
            epochs: self.epochs,
            train_loss: self.train_loss,
            valid: v.clone(),
            best: self.improved,
            elapsed_s: self.elapsed_s,
        })
    }

    /// One line of `history.jsonl`.
    pub fn record(&self, state: &RunState) -> serde_json::Value {
        serde_json::json!({
            "epoch": self.epoch, "step": state.global_step, "train_loss": self.train_loss,
            "valid": self.valid, "best": self.improved, "elapsed_s": self.elapsed_s,
        })
    }
}

