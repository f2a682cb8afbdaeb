//! The ResNet architecture as data: [`ResNetConfig`], read from a checkpoint's tensor names and
//! shapes or from an exported `config.json`, and the list of body tensors it implies.

use crate::error::{Error, Result};
use crate::model::input::{ImageInput, IMAGENET_MEAN, IMAGENET_STD};
use crate::weights::SafeTensors;
use serde::{Deserialize, Serialize};


/// Which ResNet layout: decides the stem and the input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    /// 3×3 stride-1 stem, no max pool, 32×32 inputs.
    #[serde(rename = "resnet-cifar")]
    Cifar,
    /// torchvision: 7×7 stride-2 stem + 3×3 stride-2 max pool, 224×224 inputs.
    #[serde(rename = "resnet")]
    Torchvision,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// Two 3×3 convs (ResNet-18/34, all CIFAR ResNets).
    Basic,
    /// 1×1 → 3×3 (strided) → 1×1 with 4× expansion (ResNet-50 and deeper).
    Bottleneck,
}

impl BlockKind {
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// How a block whose shape changes carries its input forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shortcut {
    /// "Option A": subsample by the stride and zero-pad the channels, no parameters.
    Pad,
    /// 1×1 conv + batch norm (`downsample.0`, `downsample.1`).
    Conv,
}

/// The architecture, detected from a checkpoint's tensor names and shapes ([`ResNetConfig::detect`])
/// and written to an exported `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResNetConfig {
    pub model_type: Family,
    pub block: BlockKind,
    /// Blocks per stage (`layer1`, `layer2`, ...): ResNet-20 [3, 3, 3], ResNet-18 [2, 2, 2, 2].
    pub depths: Vec<usize>,
    /// Output channels of the stem (`conv1`).
    pub stem_width: usize,
    /// Planes of each stage (its output channels divided by the block expansion).
    pub widths: Vec<usize>,
    pub shortcut: Shortcut,
    /// Name of the classifier head in checkpoints of this family (`linear` or `fc`).
    pub head: String,
    /// Side of the square input the model was trained on.
    pub image_size: usize,
    /// Whether inputs are resized then center-cropped (the short side to image_size, then the
    /// middle square: `Fit::CenterCrop`) rather than resized whole.
    pub center_crop: bool,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
}

impl ResNetConfig {
    /// Reads the architecture from a checkpoint's names and shapes. `num_batches_tracked` (int64)
    /// tensors are ignored; every other tensor's shape is checked when loading.
    pub fn detect(st: &SafeTensors) -> Result<Self> {
        let file = st.source();
        let not_resnet = |name: &str| {
            Error::weights(
                file,
                format!(
                    "not a ResNet: no tensor '{name}' (expected torchvision or CIFAR ResNet names: \
                     conv1.weight, bn1.*, layer1.0.conv1.weight, ...)"
                ),
            )
        };
        let shape = |name: &str| st.info(name).map(|i| i.shape.clone());
        let stem = shape("conv1.weight").ok_or_else(|| not_resnet("conv1.weight"))?;
        if shape("layer1.0.conv1.weight").is_none() {
            return Err(not_resnet("layer1.0.conv1.weight"));
        }
        let model_type = match stem[..] {
            [_, 3, 3, 3] => Family::Cifar,
            [_, 3, 7, 7] => Family::Torchvision,
            _ => {
                return Err(Error::weights(
                    file,
                    format!(
                        "tensor 'conv1.weight' has shape {stem:?}, expected [C, 3, 3, 3] (CIFAR ResNet) \
                         or [64, 3, 7, 7] (torchvision ResNet)"
                    ),
                ))
            }
        };
        let block = if shape("layer1.0.conv3.weight").is_some() { BlockKind::Bottleneck } else { BlockKind::Basic };
        let (mut depths, mut widths) = (Vec::new(), Vec::new());
        while let Some(first) = shape(&format!("layer{}.0.conv1.weight", depths.len() + 1)) {
            let stage = depths.len() + 1;
            let blocks = (0..).take_while(|b| st.info(&format!("layer{stage}.{b}.conv1.weight")).is_some()).count();
            depths.push(blocks);
            widths.push(first.first().copied().unwrap_or(0));
        }
        let downsample = (1..=depths.len()).any(|s| st.info(&format!("layer{s}.0.downsample.0.weight")).is_some());
        let head = ["linear", "fc"]
            .into_iter()
            .find(|h| st.info(&format!("{h}.weight")).is_some())
            .unwrap_or(if model_type == Family::Cifar { "linear" } else { "fc" });
        let (image_size, center_crop) = match model_type {
            Family::Cifar => (32, false),
            Family::Torchvision => (224, true),
        };
        let cfg = ResNetConfig {
            model_type,
            block,
            depths,
            stem_width: stem[0],
            widths,
            shortcut: if downsample { Shortcut::Conv } else { Shortcut::Pad },
            head: head.to_string(),
            image_size,
            center_crop,
            image_mean: IMAGENET_MEAN,
            image_std: IMAGENET_STD,
        };
        cfg.validate().map_err(|m| Error::weights(file, m))?;
        Ok(cfg)
    }

    /// Reads a config written by [`ResNetConfig::to_json_fields`] (extra keys are ignored).
    pub fn from_json(v: &serde_json::Value) -> Result<Self> {
        let cfg: ResNetConfig = serde_json::from_value(v.clone())
            .map_err(|e| Error::model("config.json", format!("not a ResNet configuration: {e}")))?;
        cfg.validate().map_err(|m| Error::model("config.json", m))?;
        Ok(cfg)
    }

    /// The config as JSON fields (`model_type`, `block`, `depths`, ...), to merge into `config.json`.
    pub fn to_json_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        // A struct of plain fields always serialises to an object.
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }

    /// The input this architecture (or its export) says the model expects.
    pub fn input(&self) -> ImageInput {
        ImageInput::new(self.image_size, self.center_crop, self.image_mean, self.image_std)
    }

    /// Channels of the pooled features (the head's input).
    pub fn num_features(&self) -> usize {
        self.widths.last().copied().unwrap_or(self.stem_width) * self.block.expansion()
    }

    pub(super) fn validate(&self) -> std::result::Result<(), String> {
        if self.depths.is_empty() || self.depths.len() != self.widths.len() {
            return Err(format!(
                "a ResNet needs one width per stage: depths {:?}, widths {:?}",
                self.depths, self.widths
            ));
        }
        if self.depths.contains(&0) || self.widths.contains(&0) || self.stem_width == 0 {
            return Err(format!(
                "empty stage: depths {:?}, widths {:?}, stem width {}",
                self.depths, self.widths, self.stem_width
            ));
        }
        if self.shortcut == Shortcut::Pad {
            if self.block == BlockKind::Bottleneck {
                return Err("zero-padding (option A) shortcuts with bottleneck blocks are not supported: \
                            expected 'layerN.0.downsample.0.weight' tensors"
                    .into());
            }
            for w in self.stage_io().windows(2) {
                let (cin, cout) = (w[0].1, w[1].1);
                if cout < cin || (cout - cin) % 2 != 0 {
                    return Err(format!(
                        "a zero-padding shortcut cannot take {cin} to {cout} channels \
                         (expected 'downsample' tensors for this layout)"
                    ));
                }
            }
        }
        if self.image_size == 0 || self.image_std.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
            return Err(format!("bad image settings: size {}, std {:?}", self.image_size, self.image_std));
        }
        Ok(())
    }

    /// `(stride, output channels)` of the stem and of each stage.
    fn stage_io(&self) -> Vec<(usize, usize)> {
        let e = self.block.expansion();
        std::iter::once((1, self.stem_width))
            .chain(self.widths.iter().enumerate().map(|(i, &w)| (if i == 0 { 1 } else { 2 }, w * e)))
            .collect()
    }
}

/// One block's geometry.
#[derive(Clone, Copy)]
pub(super) struct BlockShape {
    pub cin: usize,
    pub planes: usize,
    pub cout: usize,
    pub stride: usize,
}

impl BlockShape {
    /// Whether the input must be reshaped to be added to the output.
    pub fn reshapes(&self) -> bool {
        self.stride != 1 || self.cin != self.cout
    }
}

/// `("layer{s}.{b}", geometry)` of every block, in forward order.
pub(super) fn blocks(c: &ResNetConfig) -> Vec<(String, BlockShape)> {
    let mut out = Vec::new();
    let mut cin = c.stem_width;
    for (s, (&depth, &planes)) in c.depths.iter().zip(&c.widths).enumerate() {
        let cout = planes * c.block.expansion();
        for b in 0..depth {
            let stride = if s > 0 && b == 0 { 2 } else { 1 };
            out.push((format!("layer{}.{b}", s + 1), BlockShape { cin, planes, cout, stride }));
            cin = cout;
        }
    }
    out
}
