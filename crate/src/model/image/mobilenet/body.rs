//! MobileNetV2 through the model face: what the training loop, memory estimate, export and the
//! page ask of a body.

use super::{MobileNetConfig, MobileNetV2};
use crate::error::Result;
use crate::model::face::{Activations, Batch, Body, BufferUpdate, Mode};
use crate::model::head::{Head, Pooling};
use crate::model::image::{export_config, pixels};
use crate::model::input::Input;
use crate::model::layers::Dropout;
use crate::model::params::ParamStore;
use crate::model::vars::Vars;
use burn::tensor::Tensor;
use serde_json::{json, Map, Value};

/// `modeling_mobilenet.py`: builds torchvision's `mobilenet_v2` at the export's width and
/// class count and loads the export with `load_state_dict(strict=True)`.
const MODELING: &str = include_str!("modeling_mobilenet.py");

/// torchvision's `classifier.0`: dropout before the head while training.
const HEAD_DROPOUT: f64 = 0.2;

impl Body for MobileNetV2 {
    fn family(&self) -> &'static str {
        "mobilenet_v2"
    }

    fn describe(&self) -> Map<String, Value> {
        let name = if self.config.width_mult == 1.0 { "MobileNetV2".to_string() } else { format!("MobileNetV2 (width {})", self.config.width_mult) };
        Map::from_iter([("architecture".to_string(), json!(name))])
    }

    fn width(&self) -> usize {
        self.config.num_features()
    }

    fn dropout(&self) -> Dropout {
        Dropout { hidden: HEAD_DROPOUT, attention: 0.0 }
    }

    fn features(&self, p: &ParamStore, batch: Batch, _: Pooling, mode: Mode, updates: &mut Vec<BufferUpdate>) -> Tensor<2> {
        self.forward(p, pixels(batch), mode.batch_stats, updates) // [batch, channels]
    }

    /// The stem (`features.0`) plays the embeddings' part, and block `features.N` the N-th
    /// layer (the last 1×1 convolution, `features.18`, being the 18th).
    fn frozen(&self, name: &str, embeddings: bool, layers: usize) -> bool {
        let index = name.strip_prefix("features.").and_then(|r| r.split('.').next()).and_then(|i| i.parse::<usize>().ok());
        match index {
            Some(0) => embeddings,
            Some(i) => i <= layers,
            None => false,
        }
    }

    fn rebind(&mut self, p: &ParamStore) -> Result<()> {
        *self = MobileNetV2::load(Vars::bind(p), &self.config)?;
        Ok(())
    }

    fn activations(&self, batch: usize, _: usize) -> Activations {
        activations(&self.config, batch)
    }

    fn export_config(&self, _: &Head, input: &Input) -> Map<String, Value> {
        export_config(self.config.to_json_fields(), input)
    }

    fn export_code(&self, _: &Head) -> Vec<(&'static str, &'static str)> {
        vec![("modeling_mobilenet.py", MODELING)]
    }

    fn export_hint(&self, _: &Head) -> String {
        "PyTorch: from modeling_mobilenet import load; model = load(dir)  (torchvision's mobilenet_v2)".into()
    }

    fn cache_key(&self) -> Vec<u32> {
        // A tag no hidden size takes, then the width.
        vec![u32::MAX - 3, (self.config.width_mult * 1000.0) as u32]
    }

    fn clone_box(&self) -> Box<dyn Body> {
        Box::new(self.clone())
    }
}

/// Training keeps, per convolution, its output and the batch norm's (the ReLU6 is fused into
/// it), at that layer's resolution, plus the input.
fn activations(c: &MobileNetConfig, batch: usize) -> Activations {
    let side = c.image_size as f64;
    let mut area = (side / 2.0).ceil().powi(2);
    let stem = c.stem_width() as f64 * area;
    let (mut kept, mut largest) = (3.0 * side * side + 2.0 * stem, stem);
    let blocks = c.blocks();
    for b in &blocks {
        let mut outputs = Vec::new();
        if b.expand {
            outputs.push(b.hidden as f64 * area);
        }
        if b.stride == 2 {
            area = (area.sqrt() / 2.0).ceil().powi(2);
        }
        outputs.push(b.hidden as f64 * area);
        outputs.push(b.cout as f64 * area);
        kept += 2.0 * outputs.iter().sum::<f64>();
        largest = outputs.iter().fold(largest, |m, &o| m.max(o));
    }
    let last = c.num_features() as f64 * area;
    kept += 2.0 * last;
    let b = batch as f64;
    Activations { kept: b * kept, largest: b * largest.max(last), layers: blocks.len() + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At 224×224 the largest tensor is block 1's 96×112×112 expansion; about 13.5 M floats
    /// (54 MB) per image are kept for backward.
    #[test]
    fn imagenet_activations() {
        let a = activations(&MobileNetConfig::imagenet(1.0), 1);
        assert_eq!(a.largest, 96.0 * 112.0 * 112.0);
        assert_eq!(a.layers, 18);
        assert!((a.kept / 1e6 - 13.51).abs() < 0.01, "{}", a.kept / 1e6);
        assert_eq!(activations(&MobileNetConfig::imagenet(1.0), 8).kept, 8.0 * a.kept);
    }
}
