//! What a training configuration needs in memory, estimated before training starts: the page
//! checks it against the WebGPU adapter's limits and wasm's 4 GiB, and `max_memory_mb`
//! (`--max-memory`) against what the user allows, so a run that cannot fit is refused with
//! the estimate and advice instead of failing mid-way.

use super::config::{OptimizerKind, TrainConfig};
use crate::error::{Error, Result};
use crate::model::resnet::{BlockKind, Family, ResNetConfig};
use crate::model::{BertConfig, Classifier};
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

/// Estimates peak training memory for batches of `cfg.batch_size` × `seq` tokens.
pub fn estimate(model: &BertConfig, params: usize, trainable: usize, cfg: &TrainConfig, seq: usize) -> MemoryEstimate {
    let f = 4.0; // bytes per f32
    let (b, l) = (cfg.batch_size as f64, seq.max(1) as f64);
    let (h, i, a) = (model.hidden_size as f64, model.intermediate_size as f64, model.num_attention_heads as f64);
    let params_mb = params_mb(params, trainable, cfg);
    // Per layer: ~12 hidden-sized tensors (projections, residuals, norms, dropout masks), the
    // two intermediate-sized ones (FFN in, GELU out) and 3 score-sized ones (scores, softmax,
    // dropout) are kept for backward.
    let per_layer = b * l * (12.0 * h + 2.0 * i) + 3.0 * b * a * l * l;
    let activations_mb = (per_layer * model.num_hidden_layers as f64 + b * l * h * 4.0) * f / MB;
    let largest = [model.vocab_size as f64 * h, b * a * l * l, b * l * i].into_iter().fold(0.0, f64::max);
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

/// Estimates peak training memory of a ResNet for batches of `cfg.batch_size` images: per
/// convolution its output, batch norm's output and the ReLU's are kept for backward, at each
/// stage's resolution (CIFAR ResNets keep the input size in the first stage; torchvision's
/// stem and max-pool divide it by 4, each later stage by 2).
pub fn estimate_image(model: &ResNetConfig, params: usize, trainable: usize, cfg: &TrainConfig) -> MemoryEstimate {
    let (b, s) = (cfg.batch_size as f64, model.image_size as f64);
    let (stem_side, first) = match model.model_type {
        Family::Cifar => (s, s),
        Family::Torchvision => (s / 2.0, s / 4.0),
    };
    let mut per_image = 3.0 * s * s + 3.0 * model.stem_width as f64 * stem_side * stem_side;
    let mut largest = model.stem_width as f64 * stem_side * stem_side;
    for (i, (&depth, &width)) in model.depths.iter().zip(&model.widths).enumerate() {
        let side = first / 2f64.powi(i as i32);
        let area = side * side;
        let w = width as f64;
        // The convolutions of one block: their output channels.
        let convs: Vec<f64> = match model.block {
            BlockKind::Basic => vec![w, w],
            BlockKind::Bottleneck => vec![w, w, 4.0 * w],
        };
        let block: f64 = convs.iter().map(|c| 3.0 * c * area).sum::<f64>() + convs.last().copied().unwrap_or(w) * area;
        per_image += depth as f64 * block;
        largest = largest.max(convs.iter().fold(0.0, |m: f64, &c| m.max(c)) * area);
    }
    let params_mb = params_mb(params, trainable, cfg);
    let activations_mb = b * per_image * 4.0 / MB;
    MemoryEstimate {
        params_mb: round(params_mb),
        activations_mb: round(activations_mb),
        estimate_mb: round(params_mb + activations_mb),
        largest_buffer_mb: round(b * largest * 4.0 / MB),
    }
}

/// What the estimate needs of a model: its architecture, parameter counts and the width of the
/// vectors a head-only run stores. From a loaded model ([`Shape::of`]) natively, or from its
/// files before it is loaded (the page, while the settings change).
pub struct Shape<'a> {
    pub arch: Arch<'a>,
    pub params: usize,
    pub trainable: usize,
    pub feature_dim: usize,
}

pub enum Arch<'a> {
    Text(&'a BertConfig),
    Image(&'a ResNetConfig),
}

impl<'a> Shape<'a> {
    /// `model` as it is now: frozen parameters and LoRA adapters included.
    pub fn of(model: &'a Classifier) -> Self {
        let p = model.params();
        let arch = match model {
            Classifier::Text(m) => Arch::Text(&m.config),
            Classifier::Image(m) => Arch::Image(&m.config),
        };
        Shape { arch, params: p.total_count(), trainable: p.trainable_count(), feature_dim: model.feature_dim() }
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
    let (mut e, layers) = match shape.arch {
        Arch::Text(c) => {
            let seq = data.train.ids.iter().map(Vec::len).max().unwrap_or(cfg.max_length).min(cfg.max_length);
            (estimate(c, params, trainable, cfg, seq), c.num_hidden_layers)
        }
        Arch::Image(c) => (estimate_image(c, params, trainable, cfg), c.depths.iter().sum()),
    };
    if cfg.head_only {
        let per_batch = e.activations_mb / cfg.batch_size.max(1) as f64 * cfg.eval_batch_size as f64;
        let rows = data.train.len() + data.valid.len() + data.test.as_ref().map_or(0, |t| t.len());
        let vectors = (rows * shape.feature_dim) as f64 * 4.0 / MB;
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

    #[test]
    fn grows_with_batch_and_length() {
        let cfg_json = br#"{"vocab_size":30522,"hidden_size":384,"num_hidden_layers":6,"num_attention_heads":12,"intermediate_size":1536,"max_position_embeddings":512}"#;
        let model = BertConfig::from_json(cfg_json, "config.json").unwrap();
        let cfg = TrainConfig::default();
        let small = estimate(&model, 22_700_000, 22_700_000, &cfg, 32);
        let long = estimate(&model, 22_700_000, 22_700_000, &cfg, 128);
        // MiniLM: 22.7 M parameters × 5 copies of 4 bytes ≈ 433 MB.
        assert!((small.params_mb - 433.0).abs() < 5.0, "{small:?}");
        assert!(long.activations_mb > 4.0 * small.activations_mb);
        // The word embeddings (30522 × 384) are the largest buffer at short lengths.
        assert_eq!(small.largest_buffer_mb, 44.7);
    }

    /// ResNet-20 on 32×32 images: 654,336 floats per image kept for backward (input, stem, and
    /// three stages of three basic blocks at 32², 16² and 8²), ~2.5 MB; 160 MB for a batch of 64
    /// (`edgetune train` on the demo measured a peak RSS of 131 MB for the whole process).
    #[test]
    fn resnet20_activations() {
        use crate::model::resnet::Shortcut;
        let model = ResNetConfig {
            model_type: Family::Cifar,
            block: BlockKind::Basic,
            depths: vec![3, 3, 3],
            stem_width: 16,
            widths: vec![16, 32, 64],
            shortcut: Shortcut::Pad,
            head: "linear".into(),
            image_size: 32,
            center_crop: false,
            image_mean: [0.0; 3],
            image_std: [1.0; 3],
        };
        let cfg = TrainConfig { batch_size: 64, ..TrainConfig::default() };
        let e = estimate_image(&model, 270_000, 270_000, &cfg);
        assert_eq!(e.activations_mb, 159.8);
        assert_eq!(e.largest_buffer_mb, 4.0); // 64 × 16 × 32 × 32 floats
        let half = estimate_image(&model, 270_000, 270_000, &TrainConfig { batch_size: 32, ..cfg });
        assert!((half.activations_mb * 2.0 - e.activations_mb).abs() < 0.2);
    }
}
