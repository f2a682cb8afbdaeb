//! Building blocks every family shares: a dense layer (with an optional LoRA adapter), layer
//! norm, dropout, attention and GELU. Layers hold parameter ids; the values live in a [`ParamStore`]
//! passed to `forward`, so the same network runs on frozen weights, on autodiff leaves while
//! training, or with adapters.

use super::lora::Lora;
use super::params::{ParamId, ParamStore};
use super::vars::Vars;
use crate::device;
use crate::error::{Error, Result};
use burn::tensor::activation::{gelu, gelu_approximate, relu, softmax};
use burn::tensor::module::{layer_norm, linear};
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

/// Dropout rates while training (a forward at evaluation has none).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dropout {
    pub hidden: f64,
    pub attention: f64,
}

/// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`.
pub fn dropout<const D: usize>(x: Tensor<D>, p: f64) -> Tensor<D> {
    if p <= 0.0 {
        return x;
    }
    let keep = 1.0 - p;
    // The mask is kept as booleans (dropped = true): autodiff then holds one byte per element
    // for the backward pass instead of a float, a quarter of the memory of `x * mask`.
    let dropped = Tensor::<D>::random(x.shape(), Distribution::Bernoulli(keep), &x.device()).lower_elem(0.5);
    x.mask_fill(dropped, 0.0).div_scalar(keep)
}

/// Multi-head scaled dot-product attention of `q`, `k`, `v` `[batch, seq, hidden]` split into
/// `heads`: `softmax(q·kᵀ/√d + bias)·v` with the heads joined again, `[batch, seq, hidden]`.
/// `bias` `[batch or 1, heads or 1, seq or 1, seq]` masks padding (a large negative score) or
/// adds a position bias; `drop` is the attention-probability dropout while training.
pub fn attention(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, heads: usize, bias: Option<Tensor<4>>, drop: f64) -> Tensor<3> {
    let [batch, seq, hidden] = q.dims();
    let head_dim = hidden / heads;
    let split = |t: Tensor<3>| t.reshape([batch, seq, heads, head_dim]).swap_dims(1, 2); // [batch, heads, seq, head_dim]
    let scores = split(q).matmul(split(k).swap_dims(2, 3)).mul_scalar(1.0 / (head_dim as f64).sqrt()); // [batch, heads, seq, seq]
    let scores = match bias {
        Some(b) => scores + b,
        None => scores,
    };
    let probs = dropout(softmax(scores, 3), drop);
    probs.matmul(split(v)).swap_dims(1, 2).reshape([batch, seq, hidden]) // [batch, seq, hidden]
}

/// A parameter the family's loader put in the store, by name.
pub fn need(p: &ParamStore, name: &str) -> Result<ParamId> {
    p.id(name).ok_or_else(|| Error::weights("model", format!("no parameter '{name}'")))
}

/// A dense layer: `x @ W + b` with `W` stored `[in, out]` (the bias optional: decoder LMs'
/// projections have none), optionally with a LoRA adapter.
#[derive(Clone, Copy, Debug)]
pub struct Dense {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
    pub lora: Option<Lora>,
}

impl Dense {
    pub fn new(weight: ParamId, bias: ParamId) -> Self {
        Dense { weight, bias: Some(bias), lora: None }
    }

    pub fn lookup(p: &ParamStore, prefix: &str) -> Result<Self> {
        Ok(Dense::new(need(p, &format!("{prefix}.weight"))?, need(p, &format!("{prefix}.bias"))?))
    }

    /// PyTorch's `nn.Linear(inp, out)` at `vars`: `weight` `[out, inp]`, `bias` `[out]`.
    pub fn load(vars: Vars, inp: usize, out: usize) -> Result<Self> {
        Dense::load_with(vars, inp, out, true)
    }

    /// `nn.Linear(inp, out, bias=bias)` at `vars`.
    pub fn load_with(mut vars: Vars, inp: usize, out: usize, bias: bool) -> Result<Self> {
        let weight = vars.linear_weight("weight", out, inp)?;
        let bias = if bias { Some(vars.tensor("bias", &[out])?) } else { None };
        Ok(Dense { weight, bias, lora: None })
    }

    /// The bias of a layer that has one (a classifier head always does).
    pub fn bias_id(&self) -> ParamId {
        self.bias.expect("a classifier layer has a bias")
    }

    /// The layer at evaluation (no adapter dropout).
    pub fn forward<const D: usize>(&self, p: &ParamStore, x: Tensor<D>) -> Tensor<D> {
        self.forward_with(p, x, false)
    }

    /// `x·W + b`, plus the adapter's `scale·dropout(x)·Aᵀ·Bᵀ` (dropout only while `training`).
    pub fn forward_with<const D: usize>(&self, p: &ParamStore, x: Tensor<D>, training: bool) -> Tensor<D> {
        match &self.lora {
            None => linear(x, p.t2(self.weight), self.bias.map(|b| p.t1(b))),
            Some(l) => linear(x.clone(), p.t2(self.weight), self.bias.map(|b| p.t1(b))) + l.delta(p, x, training),
        }
    }
}

/// Layer normalisation over the last dimension.
#[derive(Clone, Copy, Debug)]
pub struct Norm {
    pub weight: ParamId,
    pub bias: ParamId,
    pub eps: f64,
}

impl Norm {
    /// PyTorch's `nn.LayerNorm(dim, eps)` at `vars` (old checkpoints' `gamma`/`beta` read too).
    pub fn load(mut vars: Vars, dim: usize, eps: f64) -> Result<Self> {
        Ok(Norm { weight: vars.tensor_or("weight", "gamma", &[dim])?, bias: vars.tensor_or("bias", "beta", &[dim])?, eps })
    }

    pub fn forward<const D: usize>(&self, p: &ParamStore, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, p.t1(self.weight), Some(p.t1(self.bias)), self.eps)
    }
}

/// Root-mean-square normalisation over the last dimension (`LlamaRMSNorm`):
/// `weight · x / √(mean(x²) + eps)`, no centring and no bias.
#[derive(Clone, Copy, Debug)]
pub struct RmsNorm {
    pub weight: ParamId,
    pub eps: f64,
}

impl RmsNorm {
    pub fn load(mut vars: Vars, dim: usize, eps: f64) -> Result<Self> {
        Ok(RmsNorm { weight: vars.tensor("weight", &[dim])?, eps })
    }

    pub fn forward<const D: usize>(&self, p: &ParamStore, x: Tensor<D>) -> Tensor<D> {
        let inv_rms = x.clone().powi_scalar(2).mean_dim(D - 1).add_scalar(self.eps).sqrt().recip(); // [..., 1]
        x * inv_rms * p.t1(self.weight).unsqueeze::<D>()
    }
}

/// Hidden activation of a transformer's feed-forward block (`hidden_act` in `config.json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// Exact GELU (erf), Hugging Face's `gelu`.
    Gelu,
    /// tanh approximation: `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`.
    GeluTanh,
    Relu,
}

impl Activation {
    /// The activation `config.json`'s `hidden_act` names, if edgetune has it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    pub fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Gelu => gelu_exact(x),
            Activation::GeluTanh => gelu_approximate(x),
            Activation::Relu => relu(x),
        }
    }
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
