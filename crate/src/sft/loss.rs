//! The SFT loss: next-token cross-entropy averaged over the tokens trained on, as transformers'
//! `ForCausalLMLoss` computes it (labels shifted by one, -100 ignored, the mean over the batch's
//! counted tokens). Only the positions whose next token is trained on go through the output
//! layer: with a 49k vocabulary the logits of every position would be most of a step's memory.

use super::encode::Encoded;
use crate::model::causal::LanguageModel;
use crate::model::params::ParamStore;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

/// A batch of encoded examples, right-padded.
pub struct SftBatch {
    /// `[batch, seq]` token ids (padding: the pad id, or 0).
    pub ids: Tensor<2, Int>,
    /// `[batch, seq]` 1 for real tokens.
    pub keep: Tensor<2>,
    /// Rows of the flattened `[batch·seq]` positions whose next token is trained on.
    pub rows: Tensor<1, Int>,
    /// Those next tokens, `[rows, 1]`.
    pub targets: Tensor<2, Int>,
    /// Real (non-padding) tokens in the batch: what tokens/s counts.
    pub tokens: usize,
    /// Tokens the loss is on.
    pub trained: usize,
}

impl SftBatch {
    /// `examples` padded to the longest with `pad`, on the model's device.
    pub fn new(lm: &LanguageModel, examples: &[&Encoded], pad: u32) -> SftBatch {
        let b = examples.len();
        let s = examples.iter().map(|e| e.ids.len()).max().unwrap_or(1).max(1);
        let (mut ids, mut keep) = (Vec::with_capacity(b * s), Vec::with_capacity(b * s));
        let (mut rows, mut targets) = (Vec::new(), Vec::new());
        for (i, e) in examples.iter().enumerate() {
            let n = e.ids.len();
            ids.extend(e.ids.iter().map(|&t| t as i64).chain(std::iter::repeat_n(pad as i64, s - n)));
            keep.extend((0..s).map(|k| if k < n { 1.0f32 } else { 0.0 }));
            for k in 1..n {
                if e.train[k] {
                    rows.push((i * s + k - 1) as i64);
                    targets.push(e.ids[k] as i64);
                }
            }
        }
        let device = &lm.device;
        let trained = rows.len();
        SftBatch {
            ids: Tensor::<2, Int>::from_data(TensorData::new(ids, [b, s]), device),
            keep: Tensor::<2>::from_data(TensorData::new(keep, [b, s]), device),
            rows: Tensor::<1, Int>::from_data(TensorData::new(rows, [trained]), device),
            targets: Tensor::<2, Int>::from_data(TensorData::new(targets, [trained, 1]), device),
            tokens: examples.iter().map(|e| e.ids.len()).sum(),
            trained,
        }
    }
}

/// The mean next-token cross-entropy over the batch's trained tokens, `[1]`, with parameters
/// `p` (autodiff leaves while training; `training` turns on adapter dropout).
pub fn sft_loss(lm: &LanguageModel, p: &ParamStore, batch: &SftBatch, training: bool) -> Tensor<1> {
    let hidden = lm.net.hidden(p, batch.ids.clone(), Some(batch.keep.clone()), None, training); // [batch, seq, hidden]
    let [b, s, h] = hidden.dims();
    let picked = hidden.reshape([b * s, h]).select(0, batch.rows.clone()); // [rows, hidden]
    let logp = log_softmax(lm.net.logits(p, picked), 1); // [rows, vocab]
    logp.gather(1, batch.targets.clone()).mean().neg() // [1]
}
