//! BERT encoder (Hugging Face `BertModel`, `modeling_bert.py`): embeddings, post-LayerNorm
//! transformer layers, optional pooler. Layers hold parameter ids whose names mirror the checkpoint
//! keys (`encoder.layer.{i}.attention.self.query.weight`, ...), so loading needs no remap table.
//! Parameters live in a [`ParamStore`] passed to `forward`, so the same network runs on frozen
//! weights, on autodiff leaves for training, or on LoRA-augmented weights.

use super::config::{Activation, BertConfig};
use super::lora::Lora;
use super::params::{ParamId, ParamStore};
use crate::error::{Error, Result};
use burn::tensor::activation::{gelu, gelu_approximate, relu, softmax};
use crate::device;
use burn::tensor::module::{embedding, layer_norm, linear};
use burn::tensor::{Distribution, Int, Tensor};

/// Dropout applied only while training; `None` at evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Dropout {
    pub hidden: f64,
    pub attention: f64,
}

fn dropout<const D: usize>(x: Tensor<D>, p: f64) -> Tensor<D> {
    if p <= 0.0 {
        return x;
    }
    let keep = 1.0 - p;
    // The mask is kept as booleans (dropped = true): autodiff then holds one byte per element
    // for the backward pass instead of a float, a quarter of the memory of `x * mask`.
    let dropped = Tensor::<D>::random(x.shape(), Distribution::Bernoulli(keep), &x.device()).lower_elem(0.5);
    x.mask_fill(dropped, 0.0).div_scalar(keep)
}

/// A dense layer: `x @ W + b` with `W` stored `[in, out]`, optionally with a LoRA adapter.
#[derive(Clone, Copy, Debug)]
pub struct Dense {
    pub weight: ParamId,
    pub bias: ParamId,
    pub lora: Option<Lora>,
}

impl Dense {
    pub fn new(weight: ParamId, bias: ParamId) -> Self {
        Dense { weight, bias, lora: None }
    }

    pub fn lookup(p: &ParamStore, prefix: &str) -> Result<Self> {
        Ok(Dense::new(need(p, &format!("{prefix}.weight"))?, need(p, &format!("{prefix}.bias"))?))
    }

    /// The layer at evaluation (no adapter dropout).
    pub fn forward<const D: usize>(&self, p: &ParamStore, x: Tensor<D>) -> Tensor<D> {
        self.forward_with(p, x, false)
    }

    /// `x·W + b`, plus the adapter's `scale·dropout(x)·Aᵀ·Bᵀ` (dropout only while `training`).
    pub fn forward_with<const D: usize>(&self, p: &ParamStore, x: Tensor<D>, training: bool) -> Tensor<D> {
        match &self.lora {
            None => linear(x, p.t2(self.weight), Some(p.t1(self.bias))),
            Some(l) => linear(x.clone(), p.t2(self.weight), Some(p.t1(self.bias))) + l.delta(p, x, training),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Norm {
    pub weight: ParamId,
    pub bias: ParamId,
    pub eps: f64,
}

impl Norm {
    fn lookup(p: &ParamStore, prefix: &str, eps: f64) -> Result<Self> {
        Ok(Norm { weight: need(p, &format!("{prefix}.weight"))?, bias: need(p, &format!("{prefix}.bias"))?, eps })
    }

    fn forward<const D: usize>(&self, p: &ParamStore, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, p.t1(self.weight), Some(p.t1(self.bias)), self.eps)
    }
}

fn need(p: &ParamStore, name: &str) -> Result<ParamId> {
    p.id(name).ok_or_else(|| Error::weights("model", format!("no parameter '{name}'")))
}

#[derive(Clone, Debug)]
struct Layer {
    query: Dense,
    key: Dense,
    value: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    intermediate: Dense,
    output: Dense,
    out_norm: Norm,
}

#[derive(Clone, Debug)]
pub struct Bert {
    pub config: BertConfig,
    word: ParamId,
    position: ParamId,
    token_type: ParamId,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

/// The linear sub-modules of one encoder layer with their `(out, in)` sizes, for hidden size `h`
/// and intermediate size `i`.
pub fn linear_shapes(h: usize, i: usize) -> [(&'static str, usize, usize); 6] {
    [
        ("attention.self.query", h, h),
        ("attention.self.key", h, h),
        ("attention.self.value", h, h),
        ("attention.output.dense", h, h),
        ("intermediate.dense", i, h),
        ("output.dense", h, i),
    ]
}

/// Every encoder tensor name with its upstream shape, and whether it is a linear weight
/// (stored transposed). The loader and the exporter both walk this list.
pub fn encoder_tensors(c: &BertConfig) -> Vec<(String, Vec<usize>, bool)> {
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let mut v = vec![
        ("embeddings.word_embeddings.weight".to_string(), vec![c.vocab_size, h], false),
        ("embeddings.position_embeddings.weight".into(), vec![c.max_position_embeddings, h], false),
        ("embeddings.token_type_embeddings.weight".into(), vec![c.type_vocab_size, h], false),
        ("embeddings.LayerNorm.weight".into(), vec![h], false),
        ("embeddings.LayerNorm.bias".into(), vec![h], false),
    ];
    for l in 0..c.num_hidden_layers {
        let pre = format!("encoder.layer.{l}");
        for (name, out, inp) in linear_shapes(h, i) {
            v.push((format!("{pre}.{name}.weight"), vec![out, inp], true));
            v.push((format!("{pre}.{name}.bias"), vec![out], false));
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            v.push((format!("{pre}.{norm}.weight"), vec![h], false));
            v.push((format!("{pre}.{norm}.bias"), vec![h], false));
        }
    }
    v
}

impl Bert {
    /// Binds to the encoder parameters already in `p` (see [`encoder_tensors`]).
    pub fn bind(p: &ParamStore, config: &BertConfig) -> Result<Self> {
        let eps = config.layer_norm_eps;
        let layers = (0..config.num_hidden_layers)
            .map(|l| {
                let pre = format!("encoder.layer.{l}");
                Ok(Layer {
                    query: Dense::lookup(p, &format!("{pre}.attention.self.query"))?,
                    key: Dense::lookup(p, &format!("{pre}.attention.self.key"))?,
                    value: Dense::lookup(p, &format!("{pre}.attention.self.value"))?,
                    attn_out: Dense::lookup(p, &format!("{pre}.attention.output.dense"))?,
                    attn_norm: Norm::lookup(p, &format!("{pre}.attention.output.LayerNorm"), eps)?,
                    intermediate: Dense::lookup(p, &format!("{pre}.intermediate.dense"))?,
                    output: Dense::lookup(p, &format!("{pre}.output.dense"))?,
                    out_norm: Norm::lookup(p, &format!("{pre}.output.LayerNorm"), eps)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Bert {
            config: config.clone(),
            word: need(p, "embeddings.word_embeddings.weight")?,
            position: need(p, "embeddings.position_embeddings.weight")?,
            token_type: need(p, "embeddings.token_type_embeddings.weight")?,
            emb_norm: Norm::lookup(p, "embeddings.LayerNorm", eps)?,
            layers,
        })
    }

    /// The encoder's linear layers as (module name, sub-module kind, layer), e.g.
    /// (`encoder.layer.0.attention.self.query`, `attention.self.query`, ..): where LoRA attaches.
    pub fn linears_mut(&mut self) -> Vec<(String, &'static str, &mut Dense)> {
        let mut out = Vec::new();
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let kinds = linear_shapes(0, 0).map(|(k, _, _)| k);
            let denses = [&mut layer.query, &mut layer.key, &mut layer.value, &mut layer.attn_out, &mut layer.intermediate, &mut layer.output];
            for (kind, dense) in kinds.into_iter().zip(denses) {
                out.push((format!("encoder.layer.{l}.{kind}"), kind, dense));
            }
        }
        out
    }

    /// Last hidden states `[batch, seq, hidden]` for token ids `[batch, seq]` and a 0/1 attention
    /// mask `[batch, seq]`.
    pub fn forward(&self, p: &ParamStore, ids: Tensor<2, Int>, mask: Tensor<2>, drop: Option<Dropout>) -> Tensor<3> {
        let [batch, seq] = ids.dims();
        let hidden = self.config.hidden_size;
        let (heads, head_dim) = (self.config.num_attention_heads, self.config.head_dim());
        let hd = drop.map_or(0.0, |d| d.hidden);
        let train = drop.is_some();
        let ad = drop.map_or(0.0, |d| d.attention);

        let words = embedding(p.t2(self.word), ids); // [batch, seq, hidden]
        let positions = p.t2(self.position).narrow(0, 0, seq).reshape([1, seq, hidden]);
        let token_type = p.t2(self.token_type).narrow(0, 0, 1).reshape([1, 1, hidden]);
        let mut x = dropout(self.emb_norm.forward(p, words + positions + token_type), hd);

        // Padding positions get a large negative score so softmax gives them zero weight.
        let mask_bias = (mask.neg() + 1.0).mul_scalar(-1e9).reshape([batch, 1, 1, seq]);
        let scale = 1.0 / (head_dim as f64).sqrt();
        let split = |t: Tensor<3>| t.reshape([batch, seq, heads, head_dim]).swap_dims(1, 2); // [batch, heads, seq, head_dim]

        for layer in &self.layers {
            let q = split(layer.query.forward_with(p, x.clone(), train));
            let k = split(layer.key.forward_with(p, x.clone(), train));
            let v = split(layer.value.forward_with(p, x.clone(), train));
            let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale) + mask_bias.clone(); // [batch, heads, seq, seq]
            let probs = dropout(softmax(scores, 3), ad);
            let ctx = probs.matmul(v).swap_dims(1, 2).reshape([batch, seq, hidden]);
            let attn = dropout(layer.attn_out.forward_with(p, ctx, train), hd);
            x = layer.attn_norm.forward(p, attn + x);

            let inter = layer.intermediate.forward_with(p, x.clone(), train); // [batch, seq, intermediate]
            let inter = match self.config.hidden_act {
                Activation::Gelu => gelu_exact(inter),
                Activation::GeluTanh => gelu_approximate(inter),
                Activation::Relu => relu(inter),
            };
            let out = dropout(layer.output.forward_with(p, inter, train), hd);
            x = layer.out_norm.forward(p, out + x);
        }
        x
    }
}

/// Mean of the hidden states over real (unpadded) tokens: `[batch, hidden]`.
pub fn mean_pool(hidden: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [batch, seq, width] = hidden.dims();
    let m = mask.reshape([batch, seq, 1]);
    let summed = (hidden * m.clone()).sum_dim(1).reshape([batch, width]); // [batch, hidden]
    let counts = m.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9); // [batch, 1]
    summed / counts
}

pub(crate) fn apply_dropout<const D: usize>(x: Tensor<D>, p: f64) -> Tensor<D> {
    dropout(x, p)
}

/// Exact (erf) GELU. burn's fused `gelu` is one pass on the CPU, but its derivative is a tanh
/// approximation built on `x³` and `tanh`, which on WGSL (WebGPU) turns into NaN for large
/// activations. On GPU devices GELU is composed from `erf`, whose derivative autodiff takes
/// exactly and finitely (and fusion merges the pieces back into one kernel).
fn gelu_exact<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if device::is_host(&x.device()) {
        return gelu(x);
    }
    x.clone() * x.mul_scalar(std::f64::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5)
}
