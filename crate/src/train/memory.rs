//! What a training configuration needs in memory, estimated before training starts: the page
//! checks it against the WebGPU adapter's limits and wasm's 4 GiB, and `max_memory_mb`
//! (`--max-memory`) against what the user allows, so a run that cannot fit is refused with
//! the estimate and advice instead of failing mid-way.

use super::config::{OptimizerKind, TrainConfig};
use crate::error::{Error, Result};
use crate::model::face::Activations;
use crate::model::{Body, Classifier};
use crate::prepare::Prepared;
use serde::Serialize;

const MB: f64 = 1024.0 * 1024.0;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MemoryEstimate {
    /// Parameters, gradients and optimiser state.
    pub params_mb: f64,
    /// Activations kept for the backward pass of one batch.
    pub activations_mb: f64,
    pub estimate_mb: f64,
    /// The largest single tensor (a GPU buffer must hold it whole).
    pub largest_buffer_mb: f64,
}

/// Estimates peak training memory of `body` for batches of `cfg.batch_size` examples of `seq`
/// tokens: weights, gradients and optimiser state, and the activations kept for backward.
pub fn estimate(body: &dyn Body, params: usize, trainable: usize, cfg: &TrainConfig, seq: usize) -> MemoryEstimate {
    let f = 4.0; // bytes per f32
    let Activations { kept, largest, .. } = body.activations(cfg.batch_size, seq);
    let params_mb = params_mb(params, trainable, cfg);
    let activations_mb = kept * f / MB;
    MemoryEstimate {
        params_mb: round(params_mb),
        activations_mb: round(activations_mb),
        estimate_mb: round(params_mb + activations_mb),
        largest_buffer_mb: round(largest * f / MB),
    }
}

/// Weights, their autodiff copies, gradients and optimiser moments, in MB.
fn params_mb(params: usize, trainable: usize, cfg: &TrainConfig) -> f64 {
    let slots = match cfg.optimizer {
        OptimizerKind::AdamW => 2.0,
        OptimizerKind::Sgd => 1.0,
    };
    (params as f64 * 2.0 + trainable as f64 * (1.0 + slots)) * 4.0 / MB
}

/// What the estimate needs of a model: its architecture, parameter counts and the width of the
/// vectors a head-only run stores. From a loaded model ([`Shape::of`]) natively, or from its
/// files before it is loaded (the page, while the settings change).
pub struct Shape<'a> {
    pub body: &'a dyn Body,
    pub params: usize,
    pub trainable: usize,
}

impl<'a> Shape<'a> {
    /// `model` as it is now: frozen parameters and LoRA adapters included.
    pub fn of(model: &'a Classifier) -> Self {
        let p = model.params();
        Shape { body: model.body.as_ref(), params: p.total_count(), trainable: p.trainable_count() }
    }
}

/// The estimate for training `model` (frozen parameters and LoRA adapters as they are now) on
/// `data` with `cfg`.
pub fn for_run(model: &Classifier, data: &Prepared, cfg: &TrainConfig) -> MemoryEstimate {
    for_shape(&Shape::of(model), data, cfg)
}

/// The estimate for training a model of `shape` on `data` with `cfg`. A head-only run keeps no
/// activations for backward through the body: it embeds in evaluation batches, then trains the
/// head on the stored vectors.
pub fn for_shape(shape: &Shape, data: &Prepared, cfg: &TrainConfig) -> MemoryEstimate {
    let (params, trainable) = (shape.params, shape.trainable);
    let seq = data.train.ids.iter().map(Vec::len).max().unwrap_or(cfg.max_length).min(cfg.max_length);
    let mut e = estimate(shape.body, params, trainable, cfg, seq);
    let layers = shape.body.activations(1, seq).layers;
    if cfg.head_only {
        let per_batch = e.activations_mb / cfg.batch_size.max(1) as f64 * cfg.eval_batch_size as f64;
        let rows = data.train.len() + data.valid.len() + data.test.as_ref().map_or(0, |t| t.len());
        let vectors = (rows * shape.body.width()) as f64 * 4.0 / MB;
        e.activations_mb = round(per_batch / layers.max(1) as f64 * 2.0 + vectors);
        e.params_mb = round(params_mb(params, 0, cfg) / 2.0 + params_mb(0, trainable, cfg));
        e.estimate_mb = round(e.params_mb + e.activations_mb);
    }
    e
}

/// Refuses a run whose estimate exceeds `cfg.max_memory_mb`, with the estimate and what to
/// change; returns the estimate.
pub fn check(model: &Classifier, data: &Prepared, cfg: &TrainConfig) -> Result<MemoryEstimate> {
    let e = for_run(model, data, cfg);
    let Some(max) = cfg.max_memory_mb else { return Ok(e) };
    if e.estimate_mb <= max {
        return Ok(e);
    }
    // The largest batch size that fits, halving from the one asked for.
    let mut c = cfg.clone();
    while c.batch_size > 1 && for_run(model, data, &c).estimate_mb > max {
        c.batch_size /= 2;
    }
    let smaller = for_run(model, data, &c);
    let advice = if smaller.estimate_mb <= max {
        format!("a batch size of {} would need about {:.0} MB (keep the effective batch with gradient accumulation {})", c.batch_size, smaller.estimate_mb, cfg.batch_size.div_ceil(c.batch_size) * cfg.grad_accum)
    } else {
        "even a batch of 1 does not fit: train the head only or LoRA adapters, or allow more memory".to_string()
    };
    Err(Error::config(format!(
        "the run's estimated peak memory is {:.0} MB (weights, gradients and optimiser state: {:.0} MB; activations of a batch of {}: {:.0} MB), more than the {max:.0} MB allowed (--max-memory, max_memory_mb): {advice}",
        e.estimate_mb, e.params_mb, cfg.batch_size, e.activations_mb
    )))
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MiniLM: 22.7 M parameters × 5 copies of 4 bytes (weights, autodiff copy, gradient, two
    /// AdamW moments) ≈ 433 MB. (Each family's activation estimate is tested in its folder.)
    #[test]
    fn params_take_five_copies_with_adamw() {
        let mb = params_mb(22_700_000, 22_700_000, &TrainConfig::default());
        assert!((mb - 433.0).abs() < 5.0, "{mb}");
    }
}
