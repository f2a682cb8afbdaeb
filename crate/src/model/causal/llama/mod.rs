//! Llama-architecture decoders (transformers' `LlamaForCausalLM`, `modeling_llama.py`; Qwen2 is
//! the same network with a bias on q/k/v): token embedding, pre-norm layers of RMSNorm →
//! grouped-query attention with RoPE → RMSNorm → SwiGLU MLP, a final RMSNorm and the output
//! layer (the embedding itself when tied). SmolLM2, Qwen2/2.5 and Llama 3.x are this network.
//! Golden values: `tests/golden/make_causal_golden.py` (`tests/causal.rs`).

pub mod config;
pub mod decoder;
pub mod gguf;
pub mod load;

use super::attention::{causal_attention, Heads, KvCache};
use super::rope::{self, Rope};
use crate::error::Result;
use crate::model::layers::{Dense, RmsNorm};
use crate::model::params::{ParamId, ParamStore};
use crate::model::vars::Vars;
use burn::tensor::activation::silu;
use burn::tensor::module::embedding;
use burn::tensor::{Int, Tensor};
use config::LlamaConfig;

#[derive(Clone, Debug)]
pub struct Layer {
    pub input_layernorm: RmsNorm,
    pub q: Dense,
    pub k: Dense,
    pub v: Dense,
    pub o: Dense,
    pub post_attention_layernorm: RmsNorm,
    pub gate: Dense,
    pub up: Dense,
    pub down: Dense,
}

impl Layer {
    fn load(mut vars: Vars, c: &LlamaConfig) -> Result<Self> {
        let (h, d, m) = (c.hidden_size, c.head_dim, c.intermediate_size);
        let (qd, kvd) = (c.num_attention_heads * d, c.num_key_value_heads * d);
        let eps = c.rms_norm_eps;
        let input_layernorm = RmsNorm::load(vars.pp("input_layernorm"), h, eps)?;
        let mut attn = vars.pp("self_attn");
        let q = Dense::load_with(attn.pp("q_proj"), h, qd, c.qkv_bias)?;
        let k = Dense::load_with(attn.pp("k_proj"), h, kvd, c.qkv_bias)?;
        let v = Dense::load_with(attn.pp("v_proj"), h, kvd, c.qkv_bias)?;
        let o = Dense::load_with(attn.pp("o_proj"), qd, h, false)?;
        let post_attention_layernorm = RmsNorm::load(vars.pp("post_attention_layernorm"), h, eps)?;
        let mut mlp = vars.pp("mlp");
        let gate = Dense::load_with(mlp.pp("gate_proj"), h, m, false)?;
        let up = Dense::load_with(mlp.pp("up_proj"), h, m, false)?;
        let down = Dense::load_with(mlp.pp("down_proj"), m, h, false)?;
        Ok(Layer { input_layernorm, q, k, v, o, post_attention_layernorm, gate, up, down })
    }

    /// The layer's linear projections as (sub-module, name, layer): `("self_attn", "q_proj", ..)`.
    pub fn linears(&mut self) -> [(&'static str, &'static str, &mut Dense); 7] {
        [
            ("self_attn", "q_proj", &mut self.q),
            ("self_attn", "k_proj", &mut self.k),
            ("self_attn", "v_proj", &mut self.v),
            ("self_attn", "o_proj", &mut self.o),
            ("mlp", "gate_proj", &mut self.gate),
            ("mlp", "up_proj", &mut self.up),
            ("mlp", "down_proj", &mut self.down),
        ]
    }
}

#[derive(Clone, Debug)]
pub struct Llama {
    pub config: LlamaConfig,
    pub embed: ParamId,
    pub layers: Vec<Layer>,
    pub norm: RmsNorm,
    /// `lm_head`; `None` when tied to the embedding.
    pub lm_head: Option<Dense>,
    pub rope: Rope,
}

impl Llama {
    /// The network at `vars` (the checkpoint's root: `model.…` and `lm_head`); `rope_factors`
    /// are a GGUF file's per-frequency RoPE divisors.
    pub fn load(mut vars: Vars, c: &LlamaConfig, rope_factors: Option<&[f32]>) -> Result<Self> {
        let h = c.hidden_size;
        let mut model = vars.pp("model");
        let embed = model.pp("embed_tokens").tensor("weight", &[c.vocab_size, h])?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        let mut stack = model.pp("layers");
        for i in 0..c.num_hidden_layers {
            layers.push(Layer::load(stack.pp(i), c)?);
        }
        let norm = RmsNorm::load(model.pp("norm"), h, c.rms_norm_eps)?;
        let lm_head = if c.tie_word_embeddings { None } else { Some(Dense::load_with(vars.pp("lm_head"), h, c.vocab_size, false)?) };
        let rope = Rope::new(c.head_dim, c.rope_theta, &c.rope_scaling, rope_factors);
        Ok(Llama { config: c.clone(), embed, layers, norm, lm_head, rope })
    }

    fn heads(&self) -> Heads {
        Heads { heads: self.config.num_attention_heads, kv_heads: self.config.num_key_value_heads, head_dim: self.config.head_dim }
    }

    /// The final hidden states `[batch, seq, hidden]` of `ids` `[batch, seq]`, placed after the
    /// `cache`'s positions (which it extends). `keep` `[batch, past+seq]` marks real tokens
    /// (right padding); `training` turns on adapter dropout.
    pub fn hidden(&self, p: &ParamStore, ids: Tensor<2, Int>, keep: Option<Tensor<2>>, mut cache: Option<&mut KvCache>, training: bool) -> Tensor<3> {
        let [b, s] = ids.dims();
        let n = self.heads();
        let past = cache.as_ref().map_or(0, |c| c.len());
        let (cos, sin) = self.rope.tables(past, s, &ids.device()); // [1, seq, 1, head_dim]
        let mut x = embedding(p.t2(self.embed), ids); // [batch, seq, hidden]
        for (i, l) in self.layers.iter().enumerate() {
            let h = l.input_layernorm.forward(p, x.clone());
            let q = l.q.forward_with(p, h.clone(), training).reshape([b, s, n.heads, n.head_dim]); // [batch, seq, heads, head_dim]
            let k = l.k.forward_with(p, h.clone(), training).reshape([b, s, n.kv_heads, n.head_dim]); // [batch, seq, kv, head_dim]
            let v = l.v.forward_with(p, h, training).reshape([b, s, n.kv_heads, n.head_dim]);
            let (q, k) = (rope::apply(q, &cos, &sin), rope::apply(k, &cos, &sin));
            let ctx = causal_attention(q, k, v, n, keep.clone(), cache.as_deref_mut().map(|c| (c, i))); // [batch, seq, heads·head_dim]
            x = x + l.o.forward_with(p, ctx, training);
            let h = l.post_attention_layernorm.forward(p, x.clone());
            let act = silu(l.gate.forward_with(p, h.clone(), training)) * l.up.forward_with(p, h, training); // [batch, seq, intermediate]
            x = x + l.down.forward_with(p, act, training);
        }
        self.norm.forward(p, x)
    }

    /// Next-token logits `[rows, vocab]` of hidden states `[rows, hidden]`.
    pub fn logits(&self, p: &ParamStore, hidden: Tensor<2>) -> Tensor<2> {
        match &self.lm_head {
            Some(head) => head.forward(p, hidden),
            None => hidden.matmul(p.t2(self.embed).transpose()), // [rows, vocab]
        }
    }
}
