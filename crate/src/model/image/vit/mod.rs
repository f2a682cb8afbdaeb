//! Vision Transformer (Dosovitskiy et al. 2021) as transformers builds it (`modeling_vit.py`,
//! `ViTForImageClassification`), checked against it by `tests/families.rs` on a seeded small model
//! from `tests/golden/make_family_golden.py`: the image cut into patches, each projected to a
//! token (`embeddings.patch_embeddings.projection`, a convolution with stride = kernel = patch,
//! computed here as one matrix product over the patches), a class token in front, learned
//! position embeddings; pre-LayerNorm encoder layers (`layernorm_before` → attention → residual,
//! `layernorm_after` → MLP → residual); a final `layernorm`; the head (`classifier`) reads the
//! class token.
//!
//! Parameter names are the checkpoint's without `vit.` (`encoder.layer.0.attention.attention.query.weight`),
//! which [`load`] strips and `Body::export_key` adds back.

mod body;
mod config;
mod load;

pub use config::VitConfig;
pub use load::{load, preprocessing};

use crate::error::Result;
use crate::model::layers::{attention, dropout, Dense, Dropout, Norm};
use crate::model::params::{ParamId, ParamStore};
use crate::model::vars::Vars;
use burn::tensor::module::linear;
use burn::tensor::Tensor;

/// `ViTLayer`'s linear sub-modules, in the order query, key, value, attention output, MLP in, out.
pub const LINEARS: [&str; 6] = [
    "attention.attention.query",
    "attention.attention.key",
    "attention.attention.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// Where the layers are.
const LAYERS: &str = "encoder.layer";

#[derive(Clone, Debug)]
struct Layer {
    before: Norm,
    query: Dense,
    key: Dense,
    value: Dense,
    attn_out: Dense,
    after: Norm,
    intermediate: Dense,
    output: Dense,
}

impl Layer {
    /// `encoder.layer.{i}` at `vars`.
    fn load(mut vars: Vars, c: &VitConfig) -> Result<Self> {
        let [q, k, v, o, inter, out] = LINEARS;
        let (h, i, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        Ok(Layer {
            before: Norm::load(vars.pp("layernorm_before"), h, eps)?,
            query: Dense::load(vars.pp(q), h, h)?,
            key: Dense::load(vars.pp(k), h, h)?,
            value: Dense::load(vars.pp(v), h, h)?,
            attn_out: Dense::load(vars.pp(o), h, h)?,
            after: Norm::load(vars.pp("layernorm_after"), h, eps)?,
            intermediate: Dense::load(vars.pp(inter), h, i)?,
            output: Dense::load(vars.pp(out), i, h)?,
        })
    }
}

/// A ViT up to the class token's final hidden state.
#[derive(Clone, Debug)]
pub struct Vit {
    pub config: VitConfig,
    cls: ParamId,
    positions: ParamId,
    patch_weight: ParamId,
    patch_bias: ParamId,
    layers: Vec<Layer>,
    norm: Norm,
}

/// The linear sub-modules of one layer with their `(out, in)` sizes.
pub fn linear_shapes(c: &VitConfig) -> [(&'static str, usize, usize); 6] {
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let n = LINEARS;
    [(n[0], h, h), (n[1], h, h), (n[2], h, h), (n[3], h, h), (n[4], i, h), (n[5], h, i)]
}

impl Vit {
    /// The network at `vars` (the checkpoint's names without `vit.`).
    pub fn load(mut vars: Vars, config: &VitConfig) -> Result<Self> {
        let c = config;
        let (h, p, eps) = (c.hidden_size, c.patch_size, c.layer_norm_eps);
        let mut emb = vars.pp("embeddings");
        let cls = emb.tensor("cls_token", &[1, 1, h])?;
        let positions = emb.tensor("position_embeddings", &[1, c.tokens(), h])?;
        let mut patch = emb.pp("patch_embeddings.projection");
        let patch_weight = patch.tensor("weight", &[h, c.num_channels, p, p])?;
        let patch_bias = patch.tensor("bias", &[h])?;
        let mut layers = vars.pp(LAYERS);
        let layers = (0..c.num_hidden_layers).map(|l| Layer::load(layers.pp(l), c)).collect::<Result<Vec<_>>>()?;
        let norm = Norm::load(vars.pp("layernorm"), h, eps)?;
        Ok(Vit { config: config.clone(), cls, positions, patch_weight, patch_bias, layers, norm })
    }

    /// The encoder's linear layers as (module name, sub-module kind, layer): where LoRA attaches.
    pub fn linears_mut(&mut self) -> Vec<(String, &'static str, &mut Dense)> {
        let mut out = Vec::new();
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let denses = [&mut layer.query, &mut layer.key, &mut layer.value, &mut layer.attn_out, &mut layer.intermediate, &mut layer.output];
            for (kind, dense) in LINEARS.into_iter().zip(denses) {
                out.push((format!("{LAYERS}.{l}.{kind}"), kind, dense));
            }
        }
        out
    }

    /// Patch tokens `[batch, patches, hidden]` of `x` `[batch, channels, size, size]`: the
    /// projection convolution (kernel = stride = patch) as one product over the cut-out patches.
    fn patches(&self, p: &ParamStore, x: Tensor<4>) -> Tensor<3> {
        let c = &self.config;
        let [batch, channels, _, _] = x.dims();
        let (g, s) = (c.grid(), c.patch_size);
        let cut = x
            .reshape([batch, channels, g, s, g, s]) // [batch, c, row, y, col, x]
            .permute([0, 2, 4, 1, 3, 5]) // [batch, row, col, c, y, x]
            .reshape([batch, g * g, channels * s * s]); // [batch, patches, c·s·s]
        let w = p.t4(self.patch_weight).reshape([c.hidden_size, channels * s * s]).transpose(); // [c·s·s, hidden]
        linear(cut, w, Some(p.t1(self.patch_bias))) // [batch, patches, hidden]
    }

    /// The class token's final hidden state `[batch, hidden]` for normalised pixels `x`
    /// `[batch, 3, image_size, image_size]`.
    pub fn forward(&self, p: &ParamStore, x: Tensor<4>, drop: Option<Dropout>) -> Tensor<2> {
        let c = &self.config;
        let (hidden, heads) = (c.hidden_size, c.num_attention_heads);
        let (hd, ad, train) = (drop.map_or(0.0, |d| d.hidden), drop.map_or(0.0, |d| d.attention), drop.is_some());
        let patches = self.patches(p, x); // [batch, patches, hidden]
        let [batch, n, _] = patches.dims();
        let cls = p.t1(self.cls).reshape([1, 1, hidden]).expand([batch, 1, hidden]); // [batch, 1, hidden]
        let positions = p.t1(self.positions).reshape([1, n + 1, hidden]);
        let mut x = dropout(Tensor::cat(vec![cls, patches], 1) + positions, hd); // [batch, tokens, hidden]
        for layer in &self.layers {
            let h = layer.before.forward(p, x.clone());
            let q = layer.query.forward_with(p, h.clone(), train);
            let k = layer.key.forward_with(p, h.clone(), train);
            let v = layer.value.forward_with(p, h, train);
            let ctx = attention(q, k, v, heads, None, ad); // [batch, tokens, hidden]
            x = x + dropout(layer.attn_out.forward_with(p, ctx, train), hd);
            let h = layer.after.forward(p, x.clone());
            let inter = c.hidden_act.forward(layer.intermediate.forward_with(p, h, train)); // [batch, tokens, intermediate]
            x = x + dropout(layer.output.forward_with(p, inter, train), hd);
        }
        self.norm.forward(p, x.narrow(1, 0, 1)).reshape([batch, hidden]) // [batch, hidden]
    }
}
