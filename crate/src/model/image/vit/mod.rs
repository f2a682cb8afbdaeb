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
use crate::model::layers::{attention, dropout, need, Dense, Dropout, Norm};
use crate::model::params::{ParamId, ParamStore};
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

/// Every body tensor with its upstream shape, and whether it is a linear weight (stored
/// transposed): what the loader reads and the exporter writes.
pub fn body_tensors(c: &VitConfig) -> Vec<(String, Vec<usize>, bool)> {
    let (h, p) = (c.hidden_size, c.patch_size);
    let mut v = vec![
        ("embeddings.cls_token".to_string(), vec![1, 1, h], false),
        ("embeddings.position_embeddings".into(), vec![1, c.tokens(), h], false),
        ("embeddings.patch_embeddings.projection.weight".into(), vec![h, c.num_channels, p, p], false),
        ("embeddings.patch_embeddings.projection.bias".into(), vec![h], false),
    ];
    for l in 0..c.num_hidden_layers {
        let pre = format!("{LAYERS}.{l}");
        for norm in ["layernorm_before", "layernorm_after"] {
            v.push((format!("{pre}.{norm}.weight"), vec![h], false));
            v.push((format!("{pre}.{norm}.bias"), vec![h], false));
        }
        for (name, out, inp) in linear_shapes(c) {
            v.push((format!("{pre}.{name}.weight"), vec![out, inp], true));
            v.push((format!("{pre}.{name}.bias"), vec![out], false));
        }
    }
    v.push(("layernorm.weight".into(), vec![h], false));
    v.push(("layernorm.bias".into(), vec![h], false));
    v
}

impl Vit {
    /// Binds to the body parameters already in `p` (see [`body_tensors`]).
    pub fn bind(p: &ParamStore, config: &VitConfig) -> Result<Self> {
        let eps = config.layer_norm_eps;
        let layers = (0..config.num_hidden_layers)
            .map(|l| {
                let at = |name: &str| format!("{LAYERS}.{l}.{name}");
                Ok(Layer {
                    before: Norm::lookup(p, &at("layernorm_before"), eps)?,
                    query: Dense::lookup(p, &at(LINEARS[0]))?,
                    key: Dense::lookup(p, &at(LINEARS[1]))?,
                    value: Dense::lookup(p, &at(LINEARS[2]))?,
                    attn_out: Dense::lookup(p, &at(LINEARS[3]))?,
                    after: Norm::lookup(p, &at("layernorm_after"), eps)?,
                    intermediate: Dense::lookup(p, &at(LINEARS[4]))?,
                    output: Dense::lookup(p, &at(LINEARS[5]))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Vit {
            config: config.clone(),
            cls: need(p, "embeddings.cls_token")?,
            positions: need(p, "embeddings.position_embeddings")?,
            patch_weight: need(p, "embeddings.patch_embeddings.projection.weight")?,
            patch_bias: need(p, "embeddings.patch_embeddings.projection.bias")?,
            layers,
            norm: Norm::lookup(p, "layernorm", eps)?,
        })
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
