//! What a generative run reports as it goes: a progress bar, `--json` lines, the page's charts.
//! The step and epoch events carry the fields of the classifiers' (`train::Event`) under the
//! same names, plus tokens per second and the validation loss's perplexity.

use super::eval::{GenerationReport, LossReport};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum SftEvent {
    Start {
        run_dir: Option<PathBuf>,
        model: String,
        train: usize,
        valid: usize,
        test: usize,
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
        /// The epoch's mean loss so far.
        loss: f64,
        /// This step's own loss.
        step_loss: f64,
        /// Real (not padding) tokens this step read.
        step_tokens: usize,
        lr: f64,
        grad_norm: f64,
        samples_per_s: f64,
        tokens_per_s: f64,
        eta_s: f64,
    },
    Epoch {
        epoch: usize,
        epochs: usize,
        train_loss: f64,
        valid: Option<LossReport>,
        best: bool,
        elapsed_s: f64,
    },
    /// Answers to the test prompts being generated and scored: `done` of `total`.
    Scoring {
        done: usize,
        total: usize,
        exact_so_far: usize,
    },
    Done {
        run_dir: Option<PathBuf>,
        best_epoch: Option<usize>,
        stopped_early: bool,
        valid: Option<LossReport>,
        test_loss: Option<LossReport>,
        test: Option<GenerationReport>,
        train_s: f64,
    },
}
