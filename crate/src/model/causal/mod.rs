//! Generative (causal) language models: one face, [`LanguageModel`] (`lm.rs`), over every
//! decoder family, as [`super::Classifier`] is over the encoders. A family answers the
//! [`Decoder`] trait (hidden states with a key/value cache, logits, its linear layers for LoRA);
//! the loader (`load.rs`) reads a GGUF file or a Hugging Face directory and picks the family by
//! architecture. Generation (`generate.rs`, `sample.rs`), the chat data and the SFT loop ask the
//! face and never name a family.
//!
//! ```text
//! causal/
//!   mod.rs        the Decoder trait
//!   lm.rs         LanguageModel: parameters, decoder, tokenizer, chat template, stop tokens, LoRA
//!   adapter.rs    a PEFT adapter put on a LanguageModel, and written as PEFT writes one
//!   export.rs     adapters merged; the model as a Hugging Face directory
//!   load.rs       a .gguf file or a Hugging Face directory → LanguageModel (the family table)
//!   attention.rs  causal grouped-query attention, KvCache
//!   rope.rs       rotary position embeddings
//!   generate.rs   the decoding loop (KV cache, stop tokens, streaming)
//!   sample.rs     greedy, temperature, top-k, top-p, repetition penalty
//!   llama/        Llama, Qwen2, SmolLM2: network, config, GGUF names, loader, impl Decoder
//! ```

pub mod adapter;
pub mod attention;
pub mod export;
pub mod generate;
pub mod llama;
pub mod lm;
pub mod load;
pub mod rope;
pub mod sample;

pub use attention::KvCache;
pub use generate::{generate, Generated, StopReason};
pub use lm::LanguageModel;
pub use load::{load_lm, LmFiles};
pub use sample::Sampling;

use super::face::Adaptable;
use super::params::ParamStore;
use crate::error::Result;
use burn::tensor::{Int, Tensor};
use serde_json::{Map, Value};

/// A decoder family's network.
pub trait Decoder: std::fmt::Debug + Send + Sync {
    /// The family as `config.json`'s `model_type` names it (`llama`, `qwen2`).
    fn family(&self) -> &str;

    /// What the page and the CLI show about the architecture, as JSON fields.
    fn describe(&self) -> Map<String, Value>;

    fn vocab_size(&self) -> usize;

    /// The longest sequence (prompt and answer) the model was trained for.
    fn max_positions(&self) -> usize;

    /// An empty cache for this network.
    fn new_cache(&self) -> KvCache;

    /// Final hidden states `[batch, seq, hidden]` of `ids` `[batch, seq]` after the `cache`'s
    /// positions (the cache is extended); `keep` `[batch, past+seq]` marks real tokens;
    /// `training` turns on adapter dropout.
    fn hidden(&self, p: &ParamStore, ids: Tensor<2, Int>, keep: Option<Tensor<2>>, cache: Option<&mut KvCache>, training: bool) -> Tensor<3>;

    /// Next-token logits `[rows, vocab]` of hidden states `[rows, hidden]`.
    fn logits(&self, p: &ParamStore, hidden: Tensor<2>) -> Tensor<2>;

    /// The linear layers LoRA can adapt, under their PEFT module names
    /// (`model.layers.0.self_attn.q_proj`, kind `q_proj`).
    fn adaptable(&mut self) -> Vec<Adaptable<'_>>;

    /// Binds again to the parameters in `p` by name (after adapters were merged away).
    fn rebind(&mut self, p: &ParamStore) -> Result<()>;

    /// The Hugging Face `config.json` of the network (an export; a GGUF base's config).
    fn export_config(&self) -> Map<String, Value>;

    fn clone_box(&self) -> Box<dyn Decoder>;
}

impl Clone for Box<dyn Decoder> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
