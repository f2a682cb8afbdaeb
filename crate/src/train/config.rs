//! The one training configuration: read from a TOML/JSON file or flags by the CLI, and from a JS
//! object by the page. Defaults give a good run when a user names only a model and a data file.

use crate::data::{Format, TableOptions};
use crate::device::Backend;
use crate::error::{Error, Result};
use crate::model::{Pooling, Task};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    #[default]
    AdamW,
    Sgd,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Linear warmup, then linear decay to zero.
    #[default]
    Linear,
    /// Linear warmup, then half a cosine to zero.
    Cosine,
    /// Linear warmup, then constant.
    Constant,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeights {
    #[default]
    None,
    /// n / (classes × n_c), as scikit-learn's "balanced".
    Balanced,
}

/// The validation metric that picks the best checkpoint and drives early stopping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    #[default]
    Accuracy,
    MacroF1,
    Loss,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    // --- data ---
    pub text_column: Option<String>,
    pub label_column: Option<String>,
    pub format: Option<Format>,
    pub header: Option<bool>,
    /// Fraction of the training file held out for validation when no validation file is given.
    pub valid_split: f64,
    /// Fraction held out for test when no test file is given.
    pub test_split: f64,
    pub max_length: usize,
    /// Batches of similar lengths (shuffled buckets): much less padding, same learning.
    pub group_by_length: bool,
    // --- model ---
    pub task: Task,
    pub pooling: Pooling,
    /// Overrides the model's hidden and attention dropout.
    pub dropout: Option<f64>,
    pub freeze_embeddings: bool,
    /// Freeze the first N encoder layers (and the embeddings).
    pub freeze_layers: usize,
    /// Train only the head on a frozen encoder.
    pub head_only: bool,
    // --- optimisation ---
    pub epochs: f64,
    /// Stop after this many optimiser steps (tests, benchmarks).
    pub max_steps: Option<usize>,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub grad_accum: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    /// Learning rate of the new head (defaults to 20 × lr: a fresh layer learns faster).
    pub head_lr: Option<f64>,
    pub weight_decay: f64,
    pub momentum: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub schedule: Schedule,
    pub warmup_ratio: f64,
    pub max_grad_norm: Option<f64>,
    pub class_weights: ClassWeights,
    pub seed: u64,
    // --- validation ---
    pub metric: Option<Metric>,
    /// Stop when the metric has not improved for this many epochs (0 = never).
    pub patience: usize,
    /// Also checkpoint every N steps (0 = only at epoch ends).
    pub checkpoint_every: usize,
    pub device: Backend,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            text_column: None,
            label_column: None,
            format: None,
            header: None,
            valid_split: 0.1,
            test_split: 0.1,
            max_length: 128,
            group_by_length: true,
            task: Task::Classification,
            pooling: Pooling::Mean,
            dropout: None,
            freeze_embeddings: false,
            freeze_layers: 0,
            head_only: false,
            epochs: 4.0,
            max_steps: None,
            batch_size: 32,
            eval_batch_size: 64,
            grad_accum: 1,
            optimizer: OptimizerKind::AdamW,
            lr: 1e-4,
            head_lr: None,
            weight_decay: 0.01,
            momentum: 0.9,
            betas: (0.9, 0.999),
            eps: 1e-8,
            schedule: Schedule::Linear,
            warmup_ratio: 0.1,
            max_grad_norm: Some(1.0),
            class_weights: ClassWeights::None,
            seed: 42,
            metric: None,
            patience: 2,
            checkpoint_every: 0,
            device: Backend::Cpu,
        }
    }
}

impl TrainConfig {
    /// Reads a TOML or JSON file (by extension; JSON if it starts with `{`).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let name = path.display().to_string();
        let is_json = path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
        let cfg: TrainConfig = if is_json {
            serde_json::from_str(&text).map_err(|e| {
                // serde_json appends " at line L column C": say the line first, as for data files.
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                Error::config(format!("{name}: line {}: {msg}", e.line()))
            })?
        } else {
            toml::from_str(&text).map_err(|e| {
                let line = e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                Error::config(format!("{name}: line {line}: {}", e.message().trim()))
            })?
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn head_lr(&self) -> f64 {
        self.head_lr.unwrap_or(self.lr * 20.0)
    }

    pub fn metric(&self) -> Metric {
        self.metric.unwrap_or(match self.task {
            Task::Classification => Metric::Accuracy,
            Task::Regression => Metric::Loss,
        })
    }

    pub fn table_options(&self) -> TableOptions {
        TableOptions { format: self.format, header: self.header }
    }

    /// Rejects settings that cannot work, with the field named.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::config(m));
        if !(self.epochs > 0.0) && self.max_steps.is_none() {
            return bad(format!("epochs is {}, expected > 0", self.epochs));
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 || self.grad_accum == 0 {
            return bad("batch_size, eval_batch_size and grad_accum must be at least 1".into());
        }
        if self.max_length < 3 {
            return bad(format!("max_length is {}, expected at least 3 ([CLS], a token, [SEP])", self.max_length));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) || !(self.head_lr() > 0.0 && self.head_lr().is_finite()) {
            return bad(format!("lr is {}, expected a positive number", self.lr));
        }
        for (name, v) in [("valid_split", self.valid_split), ("test_split", self.test_split), ("warmup_ratio", self.warmup_ratio)] {
            if !(0.0..1.0).contains(&v) {
                return bad(format!("{name} is {v}, expected a fraction in [0, 1)"));
            }
        }
        if self.valid_split + self.test_split >= 0.9 {
            return bad("valid_split + test_split leave less than 10 % to train on".into());
        }
        if let Some(p) = self.dropout {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("dropout is {p}, expected a probability in [0, 1)"));
            }
        }
        if self.weight_decay < 0.0 || !(0.0..1.0).contains(&self.betas.0) || !(0.0..1.0).contains(&self.betas.1) {
            return bad("weight_decay must be ≥ 0 and betas in [0, 1)".into());
        }
        if let Some(n) = self.max_grad_norm {
            if !(n > 0.0) {
                return bad(format!("max_grad_norm is {n}, expected > 0 (omit it to disable clipping)"));
            }
        }
        if self.task == Task::Regression && self.class_weights != ClassWeights::None {
            return bad("class_weights apply to classification, not regression".into());
        }
        Ok(())
    }
}
