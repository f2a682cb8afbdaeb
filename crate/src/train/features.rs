//! The head-only fast path: with the encoder frozen, what it hands the head is a fixed vector
//! per text, so each split is embedded once (evaluation mode: no dropout, no autodiff) and the
//! head then trains on the cached `[n, hidden]` matrices — seconds instead of minutes, as
//! Teachable Machine does. The [`super::Trainer`] takes these in place of token ids; the cache on
//! disk is [`super::embed_cache`].

use super::batch::pad_batch;
use super::config::TrainConfig;
use crate::data::sequential_batches;
use crate::device::{read_f32, Device};
use crate::error::Result;
use crate::model::bert::Dropout;
use crate::model::params::ParamStore;
use crate::model::{Classifier, TextClassifier};
use crate::prepare::Prepared;
use burn::tensor::{Tensor, TensorData};

/// The encoder's output for every example of each split, row-major `[n, dim]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub dim: usize,
    pub train: Vec<f32>,
    pub valid: Vec<f32>,
    pub test: Option<Vec<f32>>,
}

/// Which split's features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Train,
    Valid,
    Test,
}

impl Features {
    pub fn split(&self, which: Which) -> &[f32] {
        match which {
            Which::Train => &self.train,
            Which::Valid => &self.valid,
            Which::Test => self.test.as_deref().unwrap_or(&[]),
        }
    }

    /// Rows per split (train, valid, test).
    pub fn rows(&self) -> [usize; 3] {
        let n = |v: &[f32]| v.len() / self.dim.max(1);
        [n(&self.train), n(&self.valid), n(self.test.as_deref().unwrap_or(&[]))]
    }

    /// The rows `batch` of a split as a tensor `[batch, dim]` on `device`.
    pub fn batch(&self, which: Which, batch: &[usize], device: &Device) -> Tensor<2> {
        let all = self.split(which);
        let mut values = Vec::with_capacity(batch.len() * self.dim);
        for &i in batch {
            values.extend_from_slice(&all[i * self.dim..(i + 1) * self.dim]);
        }
        Tensor::from_data(TensorData::new(values, [batch.len(), self.dim]), device)
    }
}

/// Whether a run takes the fast path: head-only training of a text model without LoRA (an
/// image model's frozen body also carries batch norm and augmentation, which change per step).
pub fn fast_path(model: &Classifier, cfg: &TrainConfig) -> bool {
    cfg.head_only && cfg.lora.is_none() && model.as_text().is_some_and(|m| m.lora.is_none())
}

/// Embeds every split of `data` with `model`'s frozen encoder.
pub async fn embed_all(model: &TextClassifier, data: &Prepared, batch_size: usize) -> Result<Features> {
    let dim = model.config.hidden_size;
    let test = match &data.test {
        Some(t) => Some(embed(model, &t.ids, batch_size).await?),
        None => None,
    };
    Ok(Features { dim, train: embed(model, &data.train.ids, batch_size).await?, valid: embed(model, &data.valid.ids, batch_size).await?, test })
}

/// The encoder features `[n, hidden]` (row-major) of token id lists, in their given order.
pub async fn embed(model: &TextClassifier, ids: &[Vec<u32>], batch_size: usize) -> Result<Vec<f32>> {
    let dim = model.config.hidden_size;
    // Sorted by length so each batch pads little; rows are put back in order.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
    let mut out = vec![0.0f32; ids.len() * dim];
    for batch in sequential_batches(order.len(), batch_size) {
        let rows: Vec<&[u32]> = batch.iter().map(|&b| ids[order[b]].as_slice()).collect();
        let (t_ids, mask) = pad_batch(&rows, model.tokenizer.pad_id(), &model.device);
        let f = model.features(&model.params, t_ids, mask, None); // [batch, hidden]
        let values = read_f32(f, "embeddings").await?;
        for (k, &b) in batch.iter().enumerate() {
            let i = order[b];
            out[i * dim..(i + 1) * dim].copy_from_slice(&values[k * dim..(k + 1) * dim]);
        }
    }
    Ok(out)
}

/// Logits `[n][outputs]` of the head on a split's features, in order.
pub async fn head_logits(model: &TextClassifier, f: &Features, which: Which, batch_size: usize) -> Result<Vec<Vec<f32>>> {
    let n = f.split(which).len() / f.dim.max(1);
    let outputs = model.num_outputs();
    let mut out = Vec::with_capacity(n);
    for batch in sequential_batches(n, batch_size) {
        let logits = model.head_logits(&model.params, f.batch(which, &batch, &model.device), None); // [batch, outputs]
        let values = read_f32(logits, "logits").await?;
        out.extend(values.chunks(outputs).map(<[f32]>::to_vec));
    }
    Ok(out)
}

/// The head's logits `[batch, outputs]` on training rows `batch`, differentiable through `p`.
pub fn train_logits(model: &TextClassifier, p: &ParamStore, f: &Features, batch: &[usize], drop: Dropout) -> Tensor<2> {
    model.head_logits(p, f.batch(Which::Train, batch, &model.device), Some(drop))
}

