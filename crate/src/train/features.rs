//! The head-only fast path: with the body frozen, what it hands the head is a fixed vector per
//! example (a text's pooled encoder state; an image's globally pooled ResNet features, batch norm
//! on its running statistics), so each split is embedded once (evaluation mode: no dropout, no
//! augmentation, no autodiff) and the head then trains on the cached `[n, dim]` matrices —
//! seconds instead of minutes, as Teachable Machine does. The [`super::Trainer`] takes these in
//! place of token ids or pixels; the cache (a file natively, OPFS in the page) is
//! [`super::embed_cache`].

use super::config::TrainConfig;
use super::fit::input_batch;
use crate::data::sequential_batches;
use crate::device::{read_f32, Device};
use crate::error::Result;
use crate::model::params::ParamStore;
use crate::model::{Classifier, Dropout, Mode};
use crate::prepare::{Prepared, Split};
use burn::tensor::{Tensor, TensorData};

/// The body's output for every example of each split, row-major `[n, dim]`.
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

const SPLITS: [Which; 3] = [Which::Train, Which::Valid, Which::Test];

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

/// Rows per split of `data` (train, valid, test): what its features must hold.
pub fn rows_of(data: &Prepared) -> [usize; 3] {
    [data.train.len(), data.valid.len(), data.test.as_ref().map_or(0, Split::len)]
}

fn split_of(data: &Prepared, which: Which) -> Option<&Split> {
    match which {
        Which::Train => Some(&data.train),
        Which::Valid => Some(&data.valid),
        Which::Test => data.test.as_ref(),
    }
}

/// Whether a run takes the fast path: head-only training without LoRA, of a text or an image
/// model (for images, augmentation must be off: [`super::setup::check_kind`] says so).
pub fn fast_path(model: &Classifier, cfg: &TrainConfig) -> bool {
    cfg.head_only && cfg.lora.is_none() && model.lora.is_none()
}

/// Embeds every split one batch at a time, so a caller can report progress (and the page can
/// yield) between batches: `while !e.is_done() { e.step(..).await? }`, then [`Embedder::finish`].
pub struct Embedder {
    dim: usize,
    batch_size: usize,
    /// Each split's rows in embedding order (texts longest first, so batches pad little).
    order: [Vec<usize>; 3],
    out: [Vec<f32>; 3],
    has_test: bool,
    /// The split being embedded and the next position in its order.
    at: (usize, usize),
    done: usize,
}

impl Embedder {
    pub fn new(model: &Classifier, data: &Prepared, batch_size: usize) -> Self {
        let dim = model.feature_dim();
        let order = SPLITS.map(|w| {
            let Some(split) = split_of(data, w) else { return Vec::new() };
            let mut order: Vec<usize> = (0..split.len()).collect();
            if !split.ids.is_empty() {
                order.sort_by_key(|&i| std::cmp::Reverse(split.ids[i].len()));
            }
            order
        });
        let out = SPLITS.map(|w| vec![0.0f32; split_of(data, w).map_or(0, Split::len) * dim]);
        Embedder { dim, batch_size: batch_size.max(1), order, out, has_test: data.test.is_some(), at: (0, 0), done: 0 }
    }

    /// Examples embedded so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Examples to embed in all.
    pub fn total(&self) -> usize {
        self.order.iter().map(Vec::len).sum()
    }

    pub fn is_done(&self) -> bool {
        self.done >= self.total()
    }

    /// Embeds the next batch (of `model` and `data`, those given to [`Embedder::new`]).
    pub async fn step(&mut self, model: &Classifier, data: &Prepared) -> Result<()> {
        while self.at.0 < 3 && self.at.1 >= self.order[self.at.0].len() {
            self.at = (self.at.0 + 1, 0);
        }
        let (s, pos) = self.at;
        let Some(split) = SPLITS.get(s).and_then(|&w| split_of(data, w)) else { return Ok(()) };
        let end = (pos + self.batch_size).min(self.order[s].len());
        let rows: Vec<usize> = self.order[s][pos..end].to_vec();
        let values = read_f32(batch_features(model, split, &rows), "embeddings").await?; // [batch, dim]
        let dim = self.dim;
        for (k, &i) in rows.iter().enumerate() {
            self.out[s][i * dim..(i + 1) * dim].copy_from_slice(&values[k * dim..(k + 1) * dim]);
        }
        self.at.1 = end;
        self.done += rows.len();
        Ok(())
    }

    pub fn finish(self) -> Features {
        let [train, valid, test] = self.out;
        Features { dim: self.dim, train, valid, test: self.has_test.then_some(test) }
    }
}

/// The frozen body's features `[rows, dim]` of the examples `rows` of `split` (evaluation
/// mode; images as they are, without augmentation).
pub fn batch_features(model: &Classifier, split: &Split, rows: &[usize]) -> Tensor<2> {
    model.features(&model.params, input_batch(model, split, rows, None), Mode::EVAL).0 // [batch, dim]
}

/// Embeds every split of `data` with `model`'s frozen body.
pub async fn embed_all(model: &Classifier, data: &Prepared, batch_size: usize) -> Result<Features> {
    let mut e = Embedder::new(model, data, batch_size);
    while !e.is_done() {
        e.step(model, data).await?;
    }
    Ok(e.finish())
}

/// The head's logits `[batch, outputs]` on features `[batch, dim]`, with parameters `p`.
fn head(model: &Classifier, p: &ParamStore, x: Tensor<2>, drop: Option<Dropout>) -> Tensor<2> {
    model.head_logits(p, x, Mode { dropout: drop, batch_stats: false })
}

/// Logits `[n][outputs]` of the head on a split's features, in order.
pub async fn head_logits(model: &Classifier, f: &Features, which: Which, batch_size: usize) -> Result<Vec<Vec<f32>>> {
    let n = f.split(which).len() / f.dim.max(1);
    let outputs = model.num_outputs();
    let mut out = Vec::with_capacity(n);
    for batch in sequential_batches(n, batch_size) {
        let logits = head(model, model.params(), f.batch(which, &batch, model.device()), None); // [batch, outputs]
        let values = read_f32(logits, "logits").await?;
        out.extend(values.chunks(outputs).map(<[f32]>::to_vec));
    }
    Ok(out)
}

/// The head's logits `[batch, outputs]` on training rows `batch`, differentiable through `p`.
pub fn train_logits(model: &Classifier, p: &ParamStore, f: &Features, batch: &[usize], drop: Dropout) -> Tensor<2> {
    head(model, p, f.batch(Which::Train, batch, model.device()), Some(drop))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Example;
    use crate::device::block_on;
    use crate::model::HeadSpec;
    use crate::model::{load_any, ModelFiles};
    use crate::prepare::Target;
    use crate::train::embed_cache;
    use crate::train::eval::split_logits;
    use std::sync::Arc;

    /// The demo's ResNet-20 with a fresh 3-class head, and 5 train / 2 valid / 2 test images of
    /// pseudo-random pixels.
    fn resnet_and_images() -> (Classifier, Prepared) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/resnet20-cifar10");
        let spec = HeadSpec { task: Default::default(), labels: vec!["a".into(), "b".into(), "c".into()], pooling: Default::default(), seed: 3 };
        let model = load_any(ModelFiles::from_dir(&dir).unwrap(), Some(&spec), &Device::flex()).unwrap();
        let mut seed = 7u32;
        let mut split = |n: usize| {
            let examples = (0..n)
                .map(|i| {
                    let pixels = (0..3 * 32 * 32).map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (seed >> 24) as u8
                    });
                    Example { text: format!("{i}.png"), label: "a".into(), line: i, image: Some(Arc::new(pixels.collect())) }
                })
                .collect();
            Split { examples, ids: Vec::new(), targets: vec![Target::Class(0); n] }
        };
        let data = Prepared { labels: spec.labels.clone(), train: split(5), valid: split(2), test: Some(split(2)), reports: Vec::new() };
        (model, data)
    }

    /// Features embedded in batches of 2 are the body's in evaluation mode, in each split's
    /// order, and the head on them gives the full model's logits: the fast path trains and
    /// evaluates the very function the exported model computes.
    #[test]
    fn image_features_give_the_models_logits() {
        let (model, data) = resnet_and_images();
        let f = block_on(embed_all(&model, &data, 2)).unwrap();
        assert_eq!((f.dim, f.rows(), f.test.is_some()), (64, [5, 2, 2], true));
        for (which, split) in [(Which::Train, &data.train), (Which::Valid, &data.valid), (Which::Test, data.test.as_ref().unwrap())] {
            let fast = block_on(head_logits(&model, &f, which, 3)).unwrap();
            let full = block_on(split_logits(&model, split, 4)).unwrap();
            for (a, b) in fast.iter().flatten().zip(full.iter().flatten()) {
                assert!((a - b).abs() < 1e-4, "{which:?}: {a} vs {b}");
            }
        }
    }

    /// The cache key follows what the features depend on: the same data gives the same key; one
    /// changed pixel or another normalisation gives another.
    #[test]
    fn image_cache_key_covers_pixels_and_normalisation() {
        let (model, data) = resnet_and_images();
        let key = |m: &Classifier, d: &Prepared| block_on(embed_cache::key(m, d)).unwrap();
        let k = key(&model, &data);
        assert_eq!(k, key(&model, &data.clone()));
        let mut other = data.clone();
        let mut pixels = other.valid.examples[1].image.as_deref().unwrap().clone();
        pixels[100] ^= 1;
        other.valid.examples[1].image = Some(Arc::new(pixels));
        assert_ne!(k, key(&model, &other));
        let mut m = model.clone();
        if let crate::model::Input::Image(i) = &mut m.input {
            i.mean[0] += 0.01;
        }
        assert_ne!(k, key(&m, &data));
    }
}
