//! The MobileNetV2 architecture as data: torchvision's `mobilenet_v2` at a width multiplier,
//! read from a checkpoint's tensor shapes (the width at which [`MobileNetV2::load`] finds every
//! tensor) or from an exported `config.json`.

use crate::error::{Error, Result};
use super::MobileNetV2;
use crate::model::vars::Vars;
use crate::model::input::{ImageInput, IMAGENET_MEAN, IMAGENET_STD};
use crate::weights::SafeTensors;
use serde::{Deserialize, Serialize};

/// torchvision's inverted-residual settings: expansion t, channels c, repeats n, first stride s.
const SETTINGS: [(usize, usize, usize, usize); 7] = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

/// Width multipliers people publish MobileNetV2 weights at.
const WIDTHS: [f64; 7] = [1.0, 0.75, 0.5, 0.35, 1.3, 1.4, 0.25];

/// torchvision's `_make_divisible(v, 8)`: channels rounded to a multiple of 8, not below 90 %.
fn divisible(v: f64) -> usize {
    let rounded = (((v + 4.0) as usize) / 8 * 8).max(8);
    if (rounded as f64) < 0.9 * v {
        rounded + 8
    } else {
        rounded
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MobileNetConfig {
    /// `mobilenet_v2`.
    pub model_type: String,
    /// torchvision's `width_mult`: scales every layer's channels.
    pub width_mult: f64,
    /// Side of the square input (224 for the ImageNet weights; a run may choose another).
    pub image_size: usize,
    /// Resize the short side to image_size and take the middle square (`Fit::CenterCrop`) rather
    /// than resize the whole image.
    pub center_crop: bool,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
}

/// One inverted-residual block: expand 1×1 (when `hidden != cin`) → depthwise 3×3 → project 1×1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockShape {
    pub cin: usize,
    pub hidden: usize,
    pub cout: usize,
    pub stride: usize,
    pub expand: bool,
}

impl BlockShape {
    /// torchvision's `use_res_connect`.
    pub fn residual(&self) -> bool {
        self.stride == 1 && self.cin == self.cout
    }
}

impl MobileNetConfig {
    /// The ImageNet model's settings at `width_mult`.
    pub fn imagenet(width_mult: f64) -> Self {
        MobileNetConfig {
            model_type: "mobilenet_v2".into(),
            width_mult,
            image_size: 224,
            center_crop: true,
            image_mean: IMAGENET_MEAN,
            image_std: IMAGENET_STD,
        }
    }

    /// Reads the width from a checkpoint's tensor shapes: the torchvision layout at one of the
    /// published widths whose every body tensor has the file's shape.
    pub fn detect(st: &SafeTensors) -> Result<Self> {
        if st.info("features.0.0.weight").is_none() || st.info("features.1.conv.0.0.weight").is_none() {
            let hint = if st.names().any(|n| n.starts_with("mobilenet_v2.")) {
                " (this is transformers' MobileNetV2 layout, with TensorFlow padding: edgetune reads torchvision's)"
            } else {
                ""
            };
            return Err(Error::weights(
                st.source(),
                format!("not a MobileNetV2: no tensor 'features.0.0.weight' / 'features.1.conv.0.0.weight' (expected torchvision's mobilenet_v2 names){hint}"),
            ));
        }
        // The first published width at which every body tensor is there with its shape.
        let fits = |cfg: &MobileNetConfig| MobileNetV2::load(Vars::probe(st, ""), cfg);
        if let Some(cfg) = WIDTHS.iter().map(|&w| MobileNetConfig::imagenet(w)).find(|c| fits(c).is_ok()) {
            return Ok(cfg);
        }
        // Say which tensor is off for the usual width.
        let why = match fits(&MobileNetConfig::imagenet(1.0)) {
            Err(Error::Weights { msg, .. }) => msg,
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        Err(Error::weights(st.source(), format!("not torchvision's MobileNetV2 at any width {WIDTHS:?}: at width 1.0, {why}")))
    }

    /// Reads a config written by [`MobileNetConfig::to_json_fields`] (extra keys are ignored).
    pub fn from_json(v: &serde_json::Value) -> Result<Self> {
        let cfg: MobileNetConfig = serde_json::from_value(v.clone()).map_err(|e| Error::model("config.json", format!("not a MobileNetV2 configuration: {e}")))?;
        if !(cfg.width_mult > 0.0 && cfg.width_mult <= 4.0) || cfg.image_size < 32 || cfg.image_std.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
            return Err(Error::model(
                "config.json",
                format!("bad MobileNetV2 settings: width_mult {}, image_size {} (at least 32), image_std {:?}", cfg.width_mult, cfg.image_size, cfg.image_std),
            ));
        }
        Ok(cfg)
    }

    pub fn to_json_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }

    pub fn input(&self) -> ImageInput {
        ImageInput::new(self.image_size, self.center_crop, self.image_mean, self.image_std)
    }

    /// Output channels of the stem (`features.0`).
    pub fn stem_width(&self) -> usize {
        divisible(32.0 * self.width_mult)
    }

    /// Channels of the pooled features (`features.18`'s output, the head's input).
    pub fn num_features(&self) -> usize {
        divisible(1280.0 * self.width_mult.max(1.0))
    }

    /// The inverted-residual blocks, `features.1` to `features.17`.
    pub fn blocks(&self) -> Vec<BlockShape> {
        let mut cin = self.stem_width();
        let mut out = Vec::new();
        for (t, c, n, s) in SETTINGS {
            let cout = divisible(c as f64 * self.width_mult);
            for i in 0..n {
                let hidden = (cin as f64 * t as f64).round() as usize;
                out.push(BlockShape { cin, hidden, cout, stride: if i == 0 { s } else { 1 }, expand: t != 1 });
                cin = cout;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torchvision's mobilenet_v2(): 3,504,872 parameters with its 1000-way head; the body's
    /// convolutions and batch norms are 2,223,872 of them.
    #[test]
    fn width_one_is_torchvisions_layout() {
        let c = MobileNetConfig::imagenet(1.0);
        let blocks = c.blocks();
        assert_eq!(blocks.len(), 17);
        assert_eq!((c.stem_width(), c.num_features()), (32, 1280));
        assert_eq!(blocks[0], BlockShape { cin: 32, hidden: 32, cout: 16, stride: 1, expand: false });
        assert_eq!(blocks[1], BlockShape { cin: 16, hidden: 96, cout: 24, stride: 2, expand: true });
        let device = crate::device::Device::flex();
        let mut p = crate::model::params::ParamStore::default();
        MobileNetV2::load(Vars::zeros(&mut p, &device), &c).unwrap();
        let params: usize = p.params.iter().filter(|p| !p.buffer).map(|p| p.numel()).sum();
        assert_eq!(params + 1280 * 1000 + 1000, 3_504_872);
        assert_eq!(MobileNetConfig::imagenet(0.5).stem_width(), 16);
        assert_eq!(MobileNetConfig::imagenet(1.4).num_features(), 1792);
    }
}
