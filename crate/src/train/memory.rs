//! What a training configuration needs in memory, estimated before training starts: the page
//! checks it against the WebGPU adapter's limits and wasm's 4 GiB, so a run that cannot fit
//! is refused with advice instead of failing mid-way.

use super::config::{OptimizerKind, TrainConfig};
use crate::model::BertConfig;
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
    let slots = match cfg.optimizer {
        OptimizerKind::AdamW => 2.0,
        OptimizerKind::Sgd => 1.0,
    };
    // Weights, their autodiff copies, gradients and optimiser moments.
    let params_mb = (params as f64 * 2.0 + trainable as f64 * (1.0 + slots)) * f / MB;
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
}
