//! ResNet image-classifier bodies (He et al. 2016), in two families, both checked against PyTorch
//! by `tests/image_golden.rs`:
//! - the CIFAR variant (`resnet-cifar`: 3×3 stem, no max pool, three stages of 16/32/64 channels,
//!   "option A" parameter-free shortcuts), as in akamaster/pytorch_resnet_cifar10 — reference module
//!   in `shared/bench/torch_image.py`;
//! - torchvision's `resnet18/34/50/...` (`resnet`: 7×7 stride-2 stem, 3×3 max pool, four stages,
//!   BasicBlock or Bottleneck with the stride on the 3×3 conv as in "v1.5", 1×1-conv + BN
//!   `downsample` shortcuts) — `torchvision/models/resnet.py`.
//!
//! Parameter names are the checkpoint's (`layer2.0.conv1.weight`, `layer2.0.downsample.1.running_var`),
//! so loading is a walk over [`body_tensors`]. Batch-norm running statistics are store *buffers*:
//! never trained, updated outside autodiff (`apply_buffer_updates`) from what a training forward
//! reports, as PyTorch's `BatchNorm2d` does (momentum 0.1, unbiased batch variance).

mod body;
mod config;
mod load;

pub use config::{body_tensors, BlockKind, Family, ResNetConfig, Role, Shortcut};
pub use load::{load, preprocessing};

use crate::model::face::BufferUpdate;
use crate::model::layers::need;
use crate::model::params::{Group, ParamId, ParamStore};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::weights::SafeTensors;
use burn::tensor::activation::relu;
use crate::kernels::{batch_norm_train, conv2d};
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::{MaxPoolOptions, PadMode};
use burn::tensor::{s, Tensor};

/// `torch.nn.BatchNorm2d` defaults.
pub const BN_EPS: f64 = 1e-5;
pub const BN_MOMENTUM: f64 = 0.1;

/// Inserts every body tensor of `st` into `params` (group Body; running statistics as buffers)
/// and binds the network. Shapes are checked against `cfg`; errors name the file and tensor.
pub fn load_body(st: &SafeTensors, cfg: &ResNetConfig, params: &mut ParamStore, device: &Device) -> Result<ResNet> {
    for (name, shape, role) in body_tensors(cfg) {
        let values = st.f32(&name, &shape)?;
        match role {
            Role::Conv => {
                params.insert(&name, &shape, values, false, Group::Body, device)?;
            }
            Role::Norm => {
                let id = params.insert(&name, &shape, values, false, Group::Body, device)?;
                params.params[id].no_decay = true;
            }
            Role::Stat => {
                if name.ends_with("running_var") && values.iter().any(|&x| x.is_nan() || x < 0.0) {
                    return Err(Error::weights(st.source(), format!("tensor '{name}' holds a negative or NaN variance")));
                }
                params.insert_buffer(&name, &shape, values, Group::Body, device)?;
            }
        }
    }
    ResNet::bind(params, cfg)
}

#[derive(Clone, Copy, Debug)]
struct ConvBn {
    conv: ParamId,
    stride: usize,
    pad: usize,
    weight: ParamId,
    bias: ParamId,
    mean: ParamId,
    var: ParamId,
}

impl ConvBn {
    fn lookup(p: &ParamStore, conv: &str, bn: &str, stride: usize, pad: usize) -> Result<Self> {
        Ok(ConvBn {
            conv: need(p, &format!("{conv}.weight"))?,
            stride,
            pad,
            weight: need(p, &format!("{bn}.weight"))?,
            bias: need(p, &format!("{bn}.bias"))?,
            mean: need(p, &format!("{bn}.running_mean"))?,
            var: need(p, &format!("{bn}.running_var"))?,
        })
    }

    /// `relu?(bn(conv(x)) + skip?)`: `[batch, out, h', w']`.
    fn forward(&self, p: &ParamStore, x: Tensor<4>, train: bool, updates: &mut Vec<BufferUpdate>, skip: Option<Tensor<4>>, relu_after: bool) -> Tensor<4> {
        let (gamma, beta) = (p.t1(self.weight), p.t1(self.bias));
        match train {
            false => {
                // Folded into the convolution: w * a, bias beta - mean * a, a = gamma / sqrt(var + eps).
                // No pass over the activations beyond the convolution itself.
                let a = gamma / p.t1(self.var).add_scalar(BN_EPS).sqrt(); // [out]
                let b = beta - p.t1(self.mean) * a.clone();
                let [out] = a.dims();
                let y = conv2d(x, p.t4(self.conv) * a.reshape([out, 1, 1, 1]), self.stride, self.pad) + b.reshape([1, out, 1, 1]);
                let y = match skip {
                    Some(s) => y + s,
                    None => y,
                };
                if relu_after {
                    relu(y)
                } else {
                    y
                }
            }
            true => {
                let y = conv2d(x, p.t4(self.conv), self.stride, self.pad); // [batch, out, h', w']
                let [batch, _, h, w] = y.dims();
                let n = (batch * h * w) as f64;
                let unbias = if n > 1.0 { n / (n - 1.0) } else { 1.0 };
                let (out, mean, var) = batch_norm_train(y, gamma, beta, skip, relu_after, BN_EPS); // [batch, out, h', w']
                updates.push(BufferUpdate { id: self.mean, batch: mean, momentum: BN_MOMENTUM });
                updates.push(BufferUpdate { id: self.var, batch: var.mul_scalar(unbias), momentum: BN_MOMENTUM });
                out
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Skip {
    Identity,
    /// Subsample by `stride`, zero-pad `channels` on each side of the channel dimension.
    Pad { stride: usize, channels: usize },
    Conv(ConvBn),
}

#[derive(Clone, Debug)]
struct Block {
    /// conv1/bn1, conv2/bn2 (, conv3/bn3): ReLU between them.
    convs: Vec<ConvBn>,
    skip: Skip,
}

impl Block {
    fn forward(&self, p: &ParamStore, x: Tensor<4>, train: bool, updates: &mut Vec<BufferUpdate>) -> Tensor<4> {
        let skip = match &self.skip {
            Skip::Identity => x.clone(),
            // x[:, :, ::s, ::s] zero-padded on channels: [batch, out, h', w'].
            &Skip::Pad { stride, channels } => x
                .clone()
                .slice(s![.., .., ..;stride as isize, ..;stride as isize])
                .pad([(channels, channels), (0, 0), (0, 0)], PadMode::Constant(0.0)),
            Skip::Conv(c) => c.forward(p, x.clone(), train, updates, None, false),
        };
        // relu(bn1(conv1(x))) → … → relu(bn_last(conv_last(h)) + skip)
        let (last, first) = self.convs.split_last().expect("a block has convolutions");
        let h = first.iter().fold(x, |h, c| c.forward(p, h, train, updates, None, true));
        last.forward(p, h, train, updates, Some(skip), true)
    }
}

/// A ResNet up to the global average pool.
#[derive(Clone, Debug)]
pub struct ResNet {
    pub config: ResNetConfig,
    stem: ConvBn,
    blocks: Vec<Block>,
}

impl ResNet {
    /// Binds to the body parameters already in `p` (see [`body_tensors`]).
    pub fn bind(p: &ParamStore, cfg: &ResNetConfig) -> Result<Self> {
        cfg.validate().map_err(|m| Error::model("config.json", m))?;
        let stem = match cfg.model_type {
            Family::Cifar => ConvBn::lookup(p, "conv1", "bn1", 1, 1)?,
            Family::Torchvision => ConvBn::lookup(p, "conv1", "bn1", 2, 3)?,
        };
        let mut blocks = Vec::new();
        for (pre, b) in config::blocks(cfg) {
            let conv = |i: usize, stride: usize, pad: usize| {
                ConvBn::lookup(p, &format!("{pre}.conv{i}"), &format!("{pre}.bn{i}"), stride, pad)
            };
            let convs = match cfg.block {
                BlockKind::Basic => vec![conv(1, b.stride, 1)?, conv(2, 1, 1)?],
                BlockKind::Bottleneck => vec![conv(1, 1, 0)?, conv(2, b.stride, 1)?, conv(3, 1, 0)?],
            };
            let skip = match (b.reshapes(), cfg.shortcut) {
                (false, _) => Skip::Identity,
                (true, Shortcut::Pad) => Skip::Pad { stride: b.stride, channels: (b.cout - b.cin) / 2 },
                (true, Shortcut::Conv) => {
                    let (conv, bn) = (format!("{pre}.downsample.0"), format!("{pre}.downsample.1"));
                    Skip::Conv(ConvBn::lookup(p, &conv, &bn, b.stride, 0)?)
                }
            };
            blocks.push(Block { convs, skip });
        }
        Ok(ResNet { config: cfg.clone(), stem, blocks })
    }

    /// Pooled features `[batch, channels]` of normalised input `x` `[batch, 3, H, W]`, and in
    /// training (`train`) the batch statistics of every batch-norm layer go to `updates`.
    pub fn forward(&self, p: &ParamStore, x: Tensor<4>, train: bool, updates: &mut Vec<BufferUpdate>) -> Tensor<2> {
        let mut x = self.stem.forward(p, x, train, updates, None, true); // [batch, stem, h, w]
        if self.config.model_type == Family::Torchvision {
            x = max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]).with_padding([1, 1]));
        }
        for block in &self.blocks {
            x = block.forward(p, x, train, updates);
        }
        let [batch, channels, h, w] = x.dims();
        x.reshape([batch, channels, h * w]).mean_dim(2).reshape([batch, channels]) // [batch, channels]
    }
}
