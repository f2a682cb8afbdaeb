//! One SFT optimiser step: the loss of each micro-batch (weighted by its share of the step's
//! trained tokens, so accumulation equals one big batch), backward through the trainable
//! parameters only (the adapters under LoRA: the frozen base gets no gradients and no optimiser
//! state), global-norm clipping, and the same AdamW/SGD update and schedules the classifiers use
//! (`train/optim.rs`).

use super::loss::{sft_loss, SftBatch};
use crate::device::read_f32;
use crate::error::{Error, Result};
use crate::model::causal::LanguageModel;
use crate::train::optim::{accumulate_grads, grad_sq_norm, scale_grads, Optimizer};
use burn::tensor::Tensor;

/// What one step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Mean loss over the step's trained tokens.
    pub loss: f32,
    /// Gradient norm before clipping.
    pub grad_norm: f32,
    /// Real tokens the step read.
    pub tokens: usize,
}

/// One update of `lm` from `micro` batches, the learning rate multiplied by `factor` (the
/// schedule's), gradients clipped to `max_grad_norm`. A non-finite loss or gradient is an error
/// (`Error::Training`) and changes nothing.
pub async fn sft_step(lm: &mut LanguageModel, opt: &mut Optimizer, micro: &[SftBatch], factor: f64, max_grad_norm: Option<f64>) -> Result<StepStats> {
    let trained: usize = micro.iter().map(|b| b.trained).sum();
    if trained == 0 {
        return Err(Error::data(&lm.source, "a step with no token to learn from"));
    }
    let live = lm.params.with_grad();
    let mut acc: Vec<Option<Tensor<1>>> = vec![None; live.len()];
    let mut step_loss: Option<Tensor<1>> = None;
    for b in micro.iter().filter(|b| b.trained > 0) {
        let loss = sft_loss(lm, &live, b, true).mul_scalar(b.trained as f64 / trained as f64); // [1]
        accumulate_grads(&live, &loss, &mut acc);
        let value = loss.without_autodiff();
        step_loss = Some(match step_loss {
            Some(s) => s + value,
            None => value,
        });
    }
    drop(live);
    let loss = read_f32(step_loss.expect("a batch with trained tokens"), "loss").await?[0];
    let norm = match grad_sq_norm(&acc) {
        Some(sq) => read_f32(sq, "gradient norm").await?[0].sqrt(),
        None => 0.0,
    };
    if !loss.is_finite() || !norm.is_finite() {
        return Err(Error::Training(format!("the loss is {loss} (gradient norm {norm}); lower the learning rate (--lr, --lora-lr) or keep gradient clipping on")));
    }
    let grads = match max_grad_norm {
        Some(max) => scale_grads(acc, max / (norm as f64 + 1e-6)),
        None => acc,
    };
    opt.apply(&mut lm.params, grads, factor).await?;
    Ok(StepStats { loss, grad_norm: norm, tokens: micro.iter().map(|b| b.tokens).sum() })
}
