//! The one interface every model family answers. A [`Classifier`](super::Classifier) holds
//! what all families share (parameters, head, labels, task, threshold, device, input) and a
//! [`Body`]: the family's network, which is the only thing that knows its architecture. The
//! training loop, evaluation, the head-only fast path, memory estimates, export and the page ask
//! the body through this trait and never name a family.

use super::head::{Head, Pooling};
use super::input::Input;
use super::layers::{Dense, Dropout};
use super::params::{ParamId, ParamStore};
use crate::error::Result;
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a model reads: text (through its tokenizer) or images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Text,
    Image,
}

impl ModelKind {
    /// Its name in JSON (`text`, `image`).
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Text => "text",
            ModelKind::Image => "image",
        }
    }
}

/// One batch of input, as the body reads it.
pub enum Batch {
    /// Token ids `[batch, seq]` and a 0/1 attention mask `[batch, seq]`.
    Tokens { ids: Tensor<2, Int>, mask: Tensor<2> },
    /// Normalised pixels `[batch, 3, size, size]`.
    Pixels(Tensor<4>),
}

/// How a forward pass runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mode {
    /// Dropout while training; `None` at evaluation.
    pub dropout: Option<Dropout>,
    /// Normalise with the batch's statistics and report them ([`BufferUpdate`]), as batch norm
    /// does while training; else use the running ones.
    pub batch_stats: bool,
}

impl Mode {
    /// Evaluation: no dropout, running statistics.
    pub const EVAL: Mode = Mode { dropout: None, batch_stats: false };
}

/// A buffer (batch norm's running mean or variance) to move towards what one training batch
/// measured: `running = (1 - momentum) · running + momentum · batch`, outside autodiff.
#[derive(Clone, Debug)]
pub struct BufferUpdate {
    pub id: ParamId,
    pub batch: Tensor<1>,
    pub momentum: f64,
}

/// Folds a training forward's [`BufferUpdate`]s into the store.
pub fn apply_buffer_updates(p: &mut ParamStore, updates: Vec<BufferUpdate>) {
    for u in updates {
        let slot = &mut p.params[u.id].value;
        *slot = slot.clone().mul_scalar(1.0 - u.momentum) + u.batch.without_autodiff().mul_scalar(u.momentum);
    }
}

/// A linear layer LoRA can adapt: its module name in the checkpoint's terms
/// (`encoder.layer.0.attention.self.query`), its kind (`attention.self.query`, what target
/// lists match) and its `(out, in)` size.
pub struct Adaptable<'a> {
    pub module: String,
    pub kind: &'static str,
    pub out: usize,
    pub inp: usize,
    pub dense: &'a mut Dense,
}

/// A body's linear layers `(module, kind, layer)` as [`Adaptable`]s, each with its kind's
/// `(out, in)` from `shapes` (`(kind, out, in)`, one per kind).
pub fn adaptables<'a>(linears: Vec<(String, &'static str, &'a mut Dense)>, shapes: &[(&'static str, usize, usize)]) -> Vec<Adaptable<'a>> {
    linears
        .into_iter()
        .map(|(module, kind, dense)| {
            let &(_, out, inp) = shapes.iter().find(|(k, _, _)| *k == kind).expect("every kind has a shape");
            Adaptable { module, kind, out, inp, dense }
        })
        .collect()
}

/// What one training batch keeps for the backward pass, in f32 values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Activations {
    /// Everything kept for backward through the whole body.
    pub kept: f64,
    /// The largest single tensor (a GPU buffer must hold it whole).
    pub largest: f64,
    /// Layers (or blocks) the body has: a head-only run embeds through about two of them at once.
    pub layers: usize,
}

/// A family's network up to the vector the head reads.
pub trait Body: std::fmt::Debug + Send + Sync {
    /// The family as `config.json`'s `model_type` names it (`bert`, `resnet`).
    fn family(&self) -> &'static str;

    /// What the page shows about the architecture (`architecture`, sizes), as JSON fields.
    fn describe(&self) -> Map<String, Value>;

    /// Width of the vector the body hands the head: what the head-only fast path stores.
    fn width(&self) -> usize;

    /// The dropout the checkpoint was trained with (a run's `dropout` overrides it).
    fn dropout(&self) -> Dropout;

    /// Features `[batch, width]` for `batch` with the parameters `p`; in `mode.batch_stats` the
    /// buffer updates go to `updates`. `pooling` says how a text body reduces its tokens.
    fn features(&self, p: &ParamStore, batch: Batch, pooling: Pooling, mode: Mode, updates: &mut Vec<BufferUpdate>) -> Tensor<2>;

    /// Whether body parameter `name` is frozen by freezing the embeddings (or stem) and the
    /// first `layers` layers (or stages).
    fn frozen(&self, name: &str, embeddings: bool, layers: usize) -> bool;

    /// The linear layers LoRA can adapt; none by default (the family takes no adapters).
    fn adaptable(&mut self) -> Vec<Adaptable<'_>> {
        Vec::new()
    }

    /// Binds again to the parameters in `p` by name (after parameters were removed).
    fn rebind(&mut self, p: &ParamStore) -> Result<()>;

    /// What training a batch of `batch` examples (of `seq` tokens) keeps for backward.
    fn activations(&self, batch: usize, seq: usize) -> Activations;

    /// The checkpoint key of store parameter `name` in the family's sequence-classification
    /// model (`embeddings.x` → `bert.embeddings.x`); by default the store's own name (a family
    /// whose checkpoint has no task-model prefix: torchvision's).
    fn export_key(&self, name: &str) -> String {
        name.to_string()
    }

    /// The family's `config.json` fields for an export with `head` and `input` (architecture,
    /// `model_type`, `architectures`, preprocessing); labels and task are added by the caller.
    fn export_config(&self, head: &Head, input: &Input) -> Map<String, Value>;

    /// Python files an export needs to load in PyTorch, as (name, contents).
    fn export_code(&self, head: &Head) -> Vec<(&'static str, &'static str)>;

    /// How PyTorch loads the export, for messages ("load it with ...").
    fn export_hint(&self, head: &Head) -> String;

    /// The key PEFT gives store parameter `name` in an adapter file: the module path of the
    /// transformers class in memory. The export key by default; a family whose current
    /// transformers class renames its modules on load (ViT since transformers 5:
    /// `vit.layers.0.attention.q_proj`) maps to those names.
    fn peft_key(&self, name: &str) -> String {
        self.export_key(name)
    }

    /// The name PEFT's `target_modules` gives a LoRA kind (see [`Body::peft_key`]).
    fn peft_target(&self, kind: &'static str) -> &'static str {
        kind
    }

    /// Head tensors the transformers class has that `head` does not use, as
    /// `(checkpoint key, shape, values)`: a PEFT adapter saves the classifier module whole, so
    /// they must be in its file (a mean-pooled RoBERTa's `classifier.dense`). None by default.
    fn unused_head_tensors(&self, _head: &Head) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        Vec::new()
    }

    /// Words that identify the architecture for the feature cache (the weights are hashed too).
    fn cache_key(&self) -> Vec<u32>;

    fn clone_box(&self) -> Box<dyn Body>;
}

impl Clone for Box<dyn Body> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
