//! What convolutional image families share: a convolution followed by batch norm and an
//! activation (ResNet's and MobileNet's unit), loaded as PyTorch names the two modules.
//! Batch-norm running statistics are store *buffers*: never trained, updated outside autodiff
//! (`apply_buffer_updates`) from what a training forward reports, as PyTorch's `BatchNorm2d`
//! does (momentum 0.1, unbiased batch variance). The convolutions and the fused training-mode
//! batch norm are `crate::kernels` operations: host kernels on the CPU backend, burn's elsewhere.

use crate::error::Result;
use crate::kernels::{batch_norm_train, conv2d, depthwise_conv2d, Act};
use crate::model::face::BufferUpdate;
use crate::model::params::{ParamId, ParamStore};
use crate::model::vars::Vars;
use burn::tensor::Tensor;

/// `torch.nn.BatchNorm2d` defaults.
pub const BN_EPS: f64 = 1e-5;
pub const BN_MOMENTUM: f64 = 0.1;

/// A convolution (dense, or depthwise: one filter per channel) without bias, then batch norm.
#[derive(Clone, Copy, Debug)]
pub struct ConvBn {
    conv: ParamId,
    stride: usize,
    pad: usize,
    depthwise: bool,
    weight: ParamId,
    bias: ParamId,
    mean: ParamId,
    var: ParamId,
}

impl ConvBn {
    /// The convolution `conv` (kernel `shape` `[out, in, k, k]`, no bias) and the batch norm `bn`
    /// after it, both sub-modules of `vars`: the norm's scale and shift are trained without weight
    /// decay, its running statistics are buffers (a negative or NaN variance is refused).
    pub fn load(vars: &mut Vars, conv: &str, bn: &str, shape: [usize; 4], stride: usize, pad: usize) -> Result<Self> {
        let kernel = vars.pp(conv).tensor("weight", &shape)?;
        let mut bn = vars.pp(bn);
        let c = [shape[0]];
        Ok(ConvBn {
            conv: kernel,
            stride,
            pad,
            depthwise: false,
            weight: bn.no_decay("weight", &c)?,
            bias: bn.no_decay("bias", &c)?,
            mean: bn.buffer("running_mean", &c, |_| None)?,
            var: bn.buffer("running_var", &c, |v| v.iter().any(|&x| x.is_nan() || x < 0.0).then_some("holds a negative or NaN variance"))?,
        })
    }

    /// The same with a depthwise kernel `[channels, 1, k, k]`.
    pub fn depthwise(self) -> Self {
        ConvBn { depthwise: true, ..self }
    }

    fn conv(&self, x: Tensor<4>, w: Tensor<4>) -> Tensor<4> {
        if self.depthwise {
            depthwise_conv2d(x, w, self.stride, self.pad)
        } else {
            conv2d(x, w, self.stride, self.pad)
        }
    }

    /// `act(bn(conv(x)) + skip?)`: `[batch, out, h', w']`. Training (`train`) normalises with the
    /// batch's statistics and reports them in `updates`; evaluation folds the running ones into
    /// the convolution.
    pub fn forward(&self, p: &ParamStore, x: Tensor<4>, train: bool, updates: &mut Vec<BufferUpdate>, skip: Option<Tensor<4>>, act: Act) -> Tensor<4> {
        let (gamma, beta) = (p.t1(self.weight), p.t1(self.bias));
        if train {
            let y = self.conv(x, p.t4(self.conv)); // [batch, out, h', w']
            let [batch, _, h, w] = y.dims();
            let n = (batch * h * w) as f64;
            let unbias = if n > 1.0 { n / (n - 1.0) } else { 1.0 };
            let (out, mean, var) = batch_norm_train(y, gamma, beta, skip, act, BN_EPS); // [batch, out, h', w']
            updates.push(BufferUpdate { id: self.mean, batch: mean, momentum: BN_MOMENTUM });
            updates.push(BufferUpdate { id: self.var, batch: var.mul_scalar(unbias), momentum: BN_MOMENTUM });
            return out;
        }
        // Folded into the convolution: w * a, bias beta - mean * a, a = gamma / sqrt(var + eps).
        // No pass over the activations beyond the convolution itself.
        let a = gamma / p.t1(self.var).add_scalar(BN_EPS).sqrt(); // [out]
        let b = beta - p.t1(self.mean) * a.clone();
        let [out] = a.dims();
        let y = self.conv(x, p.t4(self.conv) * a.reshape([out, 1, 1, 1])) + b.reshape([1, out, 1, 1]); // [batch, out, h', w']
        let y = match skip {
            Some(s) => y + s,
            None => y,
        };
        match act {
            Act::Identity => y,
            Act::Relu => burn::tensor::activation::relu(y),
            Act::Relu6 => y.clamp(0.0, 6.0),
        }
    }
}
