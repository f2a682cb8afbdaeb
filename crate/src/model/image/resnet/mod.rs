//! ResNet image-classifier bodies (He et al. 2016), in two families, both checked against PyTorch
//! by `tests/image_golden.rs`:
//! - the CIFAR variant (`resnet-cifar`: 3×3 stem, no max pool, three stages of 16/32/64 channels,
//!   "option A" parameter-free shortcuts), as in akamaster/pytorch_resnet_cifar10 — reference module
//!   in `shared/bench/torch_image.py`;
//! - torchvision's `resnet18/34/50/...` (`resnet`: 7×7 stride-2 stem, 3×3 max pool, four stages,
//!   BasicBlock or Bottleneck with the stride on the 3×3 conv as in "v1.5", 1×1-conv + BN
//!   `downsample` shortcuts) — `torchvision/models/resnet.py`.
//!
//! Parameter names are the checkpoint's (`layer2.0.conv1.weight`, `layer2.0.downsample.1.running_var`):
//! [`ResNet::load`] walks the modules as torchvision names them; the conv + batch-norm unit is [`ConvBn`].

mod body;
mod config;
mod load;

pub use crate::model::image::conv_bn::{BN_EPS, BN_MOMENTUM};
pub use config::{BlockKind, Family, ResNetConfig, Shortcut};
pub use load::{load, preprocessing};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::Act;
use crate::model::face::BufferUpdate;
use crate::model::image::conv_bn::ConvBn;
use crate::model::params::ParamStore;
use crate::model::vars::Vars;
use crate::weights::SafeTensors;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::{MaxPoolOptions, PadMode};
use burn::tensor::{s, Tensor};

/// Inserts every body tensor of `st` into `params` (group Body; running statistics as buffers)
/// and binds the network. Shapes are checked against `cfg`; errors name the file and tensor.
pub fn load_body(st: &SafeTensors, cfg: &ResNetConfig, params: &mut ParamStore, device: &Device) -> Result<ResNet> {
    ResNet::load(Vars::read(st, "", params, device), cfg)
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
            Skip::Conv(c) => c.forward(p, x.clone(), train, updates, None, Act::Identity),
        };
        // relu(bn1(conv1(x))) → … → relu(bn_last(conv_last(h)) + skip)
        let (last, first) = self.convs.split_last().expect("a block has convolutions");
        let h = first.iter().fold(x, |h, c| c.forward(p, h, train, updates, None, Act::Relu));
        last.forward(p, h, train, updates, Some(skip), Act::Relu)
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
    /// The network at `vars` (`conv1`, `bn1`, `layer1.0.conv1`, ...; no `num_batches_tracked`:
    /// PyTorch fills it in when absent).
    pub fn load(mut vars: Vars, cfg: &ResNetConfig) -> Result<Self> {
        cfg.validate().map_err(|m| Error::model("config.json", m))?;
        let stem = match cfg.model_type {
            Family::Cifar => ConvBn::load(&mut vars, "conv1", "bn1", [cfg.stem_width, 3, 3, 3], 1, 1)?,
            Family::Torchvision => ConvBn::load(&mut vars, "conv1", "bn1", [cfg.stem_width, 3, 7, 7], 2, 3)?,
        };
        let mut blocks = Vec::new();
        for (pre, b) in config::blocks(cfg) {
            let mut v = vars.pp(pre);
            let (p, i) = (b.planes, b.cin);
            let mut conv = |n: usize, shape: [usize; 4], stride: usize, pad: usize| ConvBn::load(&mut v, &format!("conv{n}"), &format!("bn{n}"), shape, stride, pad);
            let convs = match cfg.block {
                BlockKind::Basic => vec![conv(1, [p, i, 3, 3], b.stride, 1)?, conv(2, [p, p, 3, 3], 1, 1)?],
                BlockKind::Bottleneck => vec![conv(1, [p, i, 1, 1], 1, 0)?, conv(2, [p, p, 3, 3], b.stride, 1)?, conv(3, [b.cout, p, 1, 1], 1, 0)?],
            };
            let skip = match (b.reshapes(), cfg.shortcut) {
                (false, _) => Skip::Identity,
                (true, Shortcut::Pad) => Skip::Pad { stride: b.stride, channels: (b.cout - b.cin) / 2 },
                (true, Shortcut::Conv) => Skip::Conv(ConvBn::load(&mut v, "downsample.0", "downsample.1", [b.cout, i, 1, 1], b.stride, 0)?),
            };
            blocks.push(Block { convs, skip });
        }
        Ok(ResNet { config: cfg.clone(), stem, blocks })
    }

    /// Pooled features `[batch, channels]` of normalised input `x` `[batch, 3, H, W]`, and in
    /// training (`train`) the batch statistics of every batch-norm layer go to `updates`.
    pub fn forward(&self, p: &ParamStore, x: Tensor<4>, train: bool, updates: &mut Vec<BufferUpdate>) -> Tensor<2> {
        let mut x = self.stem.forward(p, x, train, updates, None, Act::Relu); // [batch, stem, h, w]
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
