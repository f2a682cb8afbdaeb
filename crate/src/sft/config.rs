//! The settings of a generative run: the shared training configuration ([`TrainConfig`]:
//! epochs, batch, accumulation, schedule, clipping, early stopping, checkpoints, LoRA) with the
//! defaults of LoRA SFT, and what only SFT has ([`SftOptions`]). Without `lora` every weight
//! trains (full fine-tuning, at `lr`).

use super::encode::LossOn;
use super::data::LABEL_PROMPT;
use crate::error::{Error, Result};
use crate::model::LoraSpec;
use crate::train::{Metric, TrainConfig};
use serde::{Deserialize, Serialize};

/// What only a generative run has (`sft` in the configuration file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SftOptions {
    /// The answers only (default), or every token.
    pub loss_on: LossOn,
    /// The prompt a text,label table is asked with (`{text}`: the row's text).
    pub label_prompt: String,
    /// The most tokens of each answer generated to score the test set.
    pub max_new_tokens: usize,
    /// Score at most this many test examples by generation (0: all); the test loss covers all.
    pub eval_limit: usize,
}

impl Default for SftOptions {
    fn default() -> Self {
        SftOptions { loss_on: LossOn::Assistant, label_prompt: LABEL_PROMPT.to_string(), max_new_tokens: 64, eval_limit: 200 }
    }
}

/// The defaults of `edgetune train` on a generative model: LoRA on every linear layer (r 8,
/// alpha 16, no adapter dropout, rate 2e-4 — PEFT's and `../shared/bench/torch_sft.py`'s
/// settings), batch 8, 512 tokens, 3 epochs with linear decay after 10 % warmup, no weight
/// decay, and early stopping on the validation loss. No test split unless asked: a test file is
/// scored by generating answers, which takes a while.
pub fn sft_defaults() -> TrainConfig {
    let lora = LoraSpec { r: 8, alpha: 16.0, dropout: 0.0, target_modules: vec!["all-linear".into()], lr: 2e-4, ..LoraSpec::default() };
    TrainConfig {
        lr: 2e-4,
        lora: Some(lora),
        batch_size: 8,
        eval_batch_size: 8,
        max_length: 512,
        epochs: 3.0,
        weight_decay: 0.0,
        warmup_ratio: 0.1,
        test_split: 0.0,
        metric: Some(Metric::Loss),
        patience: 1,
        ..TrainConfig::default()
    }
}

/// Refuses what a generative run cannot do, by name (what `TrainConfig::validate` checks holds too).
pub fn check_sft(cfg: &TrainConfig) -> Result<()> {
    cfg.validate()?;
    let bad = |m: &str| Err(Error::config(m.to_string()));
    if cfg.head_only || cfg.freeze_layers > 0 || cfg.freeze_embeddings {
        return bad("head_only, freeze_layers and freeze_embeddings apply to classifiers: a generative model trains LoRA adapters on a frozen base, or every weight (full fine-tuning)");
    }
    if cfg.metric.is_some_and(|m| m != Metric::Loss) {
        return bad("metric: a generative run keeps the epoch of the lowest validation loss (metric = \"loss\"); exact match and ROUGE-L are reported on the test set");
    }
    if !cfg.sft.label_prompt.contains("{text}") {
        return bad("sft.label_prompt has no {text}: it is where each row's text goes");
    }
    if cfg.sft.max_new_tokens == 0 {
        return bad("sft.max_new_tokens is 0, expected at least 1");
    }
    Ok(())
}
