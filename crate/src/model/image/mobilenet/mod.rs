//! MobileNetV2 (Sandler et al. 2018) as torchvision builds it (`torchvision/models/mobilenetv2.py`),
//! checked against PyTorch on the ImageNet weights by `tests/image_golden.rs`:
//! `features.0` a 3×3 stride-2 conv + BN + ReLU6; `features.1..17` inverted residual blocks
//! (expand 1×1 → depthwise 3×3 → project 1×1, BN after each, ReLU6 after the first two, a residual
//! add when the shape is kept); `features.18` a 1×1 conv to 1,280 channels + BN + ReLU6; global
//! average pool; the head is `classifier.1` (after a 0.2 dropout, `classifier.0`).
//!
//! Parameter names are the checkpoint's: [`MobileNetV2::load`] walks the modules as torchvision
//! names them (`features.{i}.conv.{j}.{0,1}`).

mod body;
mod config;
mod load;

pub use config::{BlockShape, MobileNetConfig};
pub use load::{load, preprocessing};

use crate::device::Device;
use crate::error::Result;
use crate::kernels::Act;
use crate::model::face::BufferUpdate;
use crate::model::image::conv_bn::ConvBn;
use crate::model::params::ParamStore;
use crate::model::vars::Vars;
use crate::weights::SafeTensors;
use burn::tensor::Tensor;

/// Inserts every body tensor of `st` into `params` (running statistics as buffers) and binds
/// the network. Shapes are checked against `cfg`; errors name the file and tensor.
pub fn load_body(st: &SafeTensors, cfg: &MobileNetConfig, params: &mut ParamStore, device: &Device) -> Result<MobileNetV2> {
    MobileNetV2::load(Vars::read(st, "", params, device), cfg)
}

/// One inverted-residual block: its convolutions in order (the last without activation).
#[derive(Clone, Debug)]
struct Block {
    convs: Vec<ConvBn>,
    residual: bool,
}

impl Block {
    fn forward(&self, p: &ParamStore, x: Tensor<4>, train: bool, updates: &mut Vec<BufferUpdate>) -> Tensor<4> {
        let skip = self.residual.then(|| x.clone());
        let (last, first) = self.convs.split_last().expect("a block has convolutions");
        // relu6(bn(expand(x))) → relu6(bn(depthwise(h))) → bn(project(h)) + x?
        let h = first.iter().fold(x, |h, c| c.forward(p, h, train, updates, None, Act::Relu6)); // [batch, hidden, h', w']
        last.forward(p, h, train, updates, skip, Act::Identity) // [batch, out, h', w']
    }
}

/// A MobileNetV2 up to the global average pool.
#[derive(Clone, Debug)]
pub struct MobileNetV2 {
    pub config: MobileNetConfig,
    stem: ConvBn,
    blocks: Vec<Block>,
    last: ConvBn,
}

impl MobileNetV2 {
    /// The network at `vars`: `features.0` (stem), `features.1..=17` (blocks), `features.18`.
    pub fn load(mut vars: Vars, cfg: &MobileNetConfig) -> Result<Self> {
        let mut features = vars.pp("features");
        let stem = ConvBn::load(&mut features.pp(0), "0", "1", [cfg.stem_width(), 3, 3, 3], 2, 1)?;
        let shapes = cfg.blocks();
        let mut blocks = Vec::with_capacity(shapes.len());
        for (i, b) in shapes.iter().enumerate() {
            // torchvision's InvertedResidual: `conv.{j}.0` conv, `conv.{j}.1` norm for the expand
            // (when there is one) and depthwise units, then `conv.{n}` / `conv.{n+1}` for the project.
            let mut conv = features.pp(i + 1);
            let mut conv = conv.pp("conv");
            let mut unit = |j: usize, shape: [usize; 4], stride: usize, pad: usize| ConvBn::load(&mut conv.pp(j), "0", "1", shape, stride, pad);
            let mut convs = Vec::new();
            if b.expand {
                convs.push(unit(0, [b.hidden, b.cin, 1, 1], 1, 0)?);
            }
            let j = convs.len();
            convs.push(unit(j, [b.hidden, 1, 3, 3], b.stride, 1)?.depthwise());
            let project = ConvBn::load(&mut conv, &(j + 1).to_string(), &(j + 2).to_string(), [b.cout, b.hidden, 1, 1], 1, 0)?;
            convs.push(project);
            blocks.push(Block { convs, residual: b.residual() });
        }
        let n = shapes.len() + 1;
        let cin = shapes.last().map_or(cfg.stem_width(), |b| b.cout);
        let last = ConvBn::load(&mut features.pp(n), "0", "1", [cfg.num_features(), cin, 1, 1], 1, 0)?;
        Ok(MobileNetV2 { config: cfg.clone(), stem, blocks, last })
    }

    /// Pooled features `[batch, channels]` of normalised input `x` `[batch, 3, H, W]`; in training
    /// (`train`) every batch norm's batch statistics go to `updates`.
    pub fn forward(&self, p: &ParamStore, x: Tensor<4>, train: bool, updates: &mut Vec<BufferUpdate>) -> Tensor<2> {
        let mut x = self.stem.forward(p, x, train, updates, None, Act::Relu6); // [batch, 32, H/2, W/2]
        for block in &self.blocks {
            x = block.forward(p, x, train, updates);
        }
        let x = self.last.forward(p, x, train, updates, None, Act::Relu6); // [batch, 1280, H/32, W/32]
        let [batch, channels, h, w] = x.dims();
        x.reshape([batch, channels, h * w]).mean_dim(2).reshape([batch, channels]) // [batch, channels]
    }
}
