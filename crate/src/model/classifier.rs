//! The model face: one classifier type for every family. It holds what all families share
//! (parameters, head, labels, task, threshold, device, input, LoRA settings) and a [`Body`],
//! and offers what callers need — batches, features, logits, freezing, descriptions — without
//! naming a family.

use super::face::{Batch, Body, BufferUpdate, ModelKind, Mode};
use super::head::Head;
use super::input::{token_batch, ImageInput, Input};
use super::layers::Dropout;
use super::lora::LoraSpec;
use super::params::{Group, ParamStore};
use super::task::Task;
use crate::device::Device;
use crate::tokenize::Tokenizer;
use burn::tensor::Tensor;

/// A loaded model, ready for training, evaluation or prediction.
#[derive(Clone, Debug)]
pub struct Classifier {
    pub body: Box<dyn Body>,
    pub head: Head,
    pub params: ParamStore,
    pub input: Input,
    /// Class (or tag) names in output order; empty for regression.
    pub labels: Vec<String>,
    pub task: Task,
    /// Multi-label: a tag is predicted when its probability reaches this (chosen on validation).
    pub threshold: f64,
    pub device: Device,
    /// The LoRA adapters' settings, when the body carries adapters (see [`super::lora`]).
    pub lora: Option<LoraSpec>,
    /// Where the base model came from (`base_model_name_or_path` of an exported adapter).
    pub base_model: String,
}

impl Classifier {
    pub fn kind(&self) -> ModelKind {
        self.input.kind()
    }

    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut ParamStore {
        &mut self.params
    }

    /// Class names in output order; empty for regression.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn task(&self) -> Task {
        self.task
    }

    /// Multi-label: the probability from which a tag is predicted.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn set_threshold(&mut self, threshold: f64) {
        self.threshold = threshold;
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The tokenizer of a text model.
    pub fn tokenizer(&self) -> Option<&Tokenizer> {
        self.input.tokenizer()
    }

    /// The input settings of an image model.
    pub fn image_input(&self) -> Option<&ImageInput> {
        self.input.image()
    }

    /// Number of outputs of the head.
    pub fn num_outputs(&self) -> usize {
        match self.task {
            Task::Classification | Task::MultiLabel => self.labels.len(),
            Task::Regression => 1,
        }
    }

    /// Width of the vector the body hands the head: what the head-only fast path caches per
    /// example.
    pub fn feature_dim(&self) -> usize {
        self.body.width()
    }

    /// The dropout a run trains with: `rate` for every kind when given, else the checkpoint's.
    pub fn dropout(&self, rate: Option<f64>) -> Dropout {
        let d = self.body.dropout();
        Dropout { hidden: rate.unwrap_or(d.hidden), attention: rate.unwrap_or(d.attention) }
    }

    /// Token id rows as a batch (padded to the longest with the tokenizer's pad id). An image
    /// model has no tokens: its batches come from [`Classifier::pixel_batch`].
    pub fn token_batch(&self, rows: &[&[u32]]) -> Batch {
        let pad = self.tokenizer().map_or(0, Tokenizer::pad_id);
        token_batch(rows, pad, &self.device)
    }

    /// Images as CHW values in 0..1, normalised as the model expects.
    pub fn pixel_batch(&self, images: &[Vec<f32>]) -> Batch {
        match self.image_input() {
            Some(i) => Batch::Pixels(i.pixels(images, &self.device)),
            None => Batch::Pixels(Tensor::<4>::zeros([images.len(), 3, 1, 1], &self.device)),
        }
    }

    /// What the body hands the head `[batch, width]` with the parameters `p` (this model's own,
    /// or an autodiff copy while training), and in training mode the buffer updates (batch
    /// norm's running statistics) to fold in after the step.
    pub fn features(&self, p: &ParamStore, batch: Batch, mode: Mode) -> (Tensor<2>, Vec<BufferUpdate>) {
        let mut updates = Vec::new();
        let f = self.body.features(p, batch, self.head.pooling, mode, &mut updates); // [batch, width]
        (f, updates)
    }

    /// The head on features `[batch, width]` → logits `[batch, outputs]`.
    pub fn head_logits(&self, p: &ParamStore, features: Tensor<2>, mode: Mode) -> Tensor<2> {
        self.head.forward(p, features, mode.dropout.map_or(0.0, |d| d.hidden))
    }

    /// Logits `[batch, outputs]`, and the buffer updates of a training forward.
    pub fn logits(&self, p: &ParamStore, batch: Batch, mode: Mode) -> (Tensor<2>, Vec<BufferUpdate>) {
        let (f, updates) = self.features(p, batch, mode); // [batch, width]
        (self.head_logits(p, f, mode), updates)
    }

    /// Marks parameters frozen: with `head_only` the whole body, else the embeddings (or stem)
    /// when asked and the first `layers` layers. With LoRA adapters the whole body is frozen:
    /// only the adapters and the head train, so the base weights get neither gradients nor
    /// optimiser state.
    pub fn freeze(&mut self, head_only: bool, embeddings: bool, layers: usize) {
        if self.lora.is_some() || head_only {
            for p in &mut self.params.params {
                p.trainable = p.trainable && p.group != Group::Body;
            }
            return;
        }
        let body = &self.body;
        self.params.freeze_where(|name| body.frozen(name, embeddings || layers > 0, layers));
    }

    /// What the page and the runner show about the model: its kind and family, the body's own
    /// description, and the parameter count.
    pub fn describe(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut d = self.body.describe();
        d.insert("kind".into(), self.kind().name().into());
        d.insert("family".into(), self.body.family().into());
        if let Some(i) = self.image_input() {
            d.insert("image_size".into(), i.size.into());
            d.insert("image_size_fixed".into(), i.fixed_size.into());
        }
        if let Some(t) = self.tokenizer() {
            d.insert("vocab_size".into(), t.vocab_size().into());
        }
        d
    }
}
