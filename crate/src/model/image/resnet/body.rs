//! ResNet through the model face: what the training loop, memory estimate, export and the
//! page ask of a body.

use super::load::architecture_name;
use super::{BlockKind, Family, ResNet, ResNetConfig};
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

/// `modeling_resnet.py`: builds the network in PyTorch (torchvision's own `resnet18/34/50` for
/// that layout) and loads the export with `load_state_dict(strict=True)`.
const MODELING: &str = include_str!("modeling_resnet.py");

impl Body for ResNet {
    fn family(&self) -> &'static str {
        "resnet"
    }

    fn describe(&self) -> Map<String, Value> {
        Map::from_iter([("architecture".to_string(), json!(architecture_name(&self.config)))])
    }

    fn width(&self) -> usize {
        self.config.num_features()
    }

    fn dropout(&self) -> Dropout {
        Dropout::default()
    }

    fn features(&self, p: &ParamStore, batch: Batch, _: Pooling, mode: Mode, updates: &mut Vec<BufferUpdate>) -> Tensor<2> {
        self.forward(p, pixels(batch), mode.batch_stats, updates) // [batch, channels]
    }

    /// The stem (`conv1`, `bn1`) plays the embeddings' part, and stage `layerN` the N-th layer.
    fn frozen(&self, name: &str, embeddings: bool, layers: usize) -> bool {
        let stem = embeddings && (name.starts_with("conv1.") || name.starts_with("bn1."));
        let layer = name
            .strip_prefix("layer")
            .and_then(|r| r.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| i <= layers);
        stem || layer
    }

    fn rebind(&mut self, p: &ParamStore) -> Result<()> {
        *self = ResNet::load(Vars::bind(p), &self.config)?;
        Ok(())
    }

    fn activations(&self, batch: usize, _: usize) -> Activations {
        activations(&self.config, batch)
    }

    fn export_config(&self, _: &Head, input: &Input) -> Map<String, Value> {
        export_config(self.config.to_json_fields(), input)
    }

    fn export_code(&self, _: &Head) -> Vec<(&'static str, &'static str)> {
        vec![("modeling_resnet.py", MODELING)]
    }

    fn export_hint(&self, _: &Head) -> String {
        "PyTorch: from modeling_resnet import load; model = load(dir)".into()
    }

    fn cache_key(&self) -> Vec<u32> {
        // A tag no hidden size takes.
        vec![u32::MAX - 2]
    }

    fn clone_box(&self) -> Box<dyn Body> {
        Box::new(self.clone())
    }
}

/// Per convolution its output, batch norm's output and the ReLU's are kept for backward, at
/// each stage's resolution (CIFAR ResNets keep the input size in the first stage;
/// torchvision's stem and max-pool divide it by 4, each later stage by 2).
fn activations(model: &ResNetConfig, batch: usize) -> Activations {
    let (b, s) = (batch as f64, model.image_size as f64);
    let (stem_side, first) = match model.model_type {
        Family::Cifar => (s, s),
        Family::Torchvision => (s / 2.0, s / 4.0),
    };
    let mut per_image = 3.0 * s * s + 3.0 * model.stem_width as f64 * stem_side * stem_side;
    let mut largest = model.stem_width as f64 * stem_side * stem_side;
    for (i, (&depth, &width)) in model.depths.iter().zip(&model.widths).enumerate() {
        let side = first / 2f64.powi(i as i32);
        let area = side * side;
        let w = width as f64;
        // The convolutions of one block: their output channels.
        let convs: Vec<f64> = match model.block {
            BlockKind::Basic => vec![w, w],
            BlockKind::Bottleneck => vec![w, w, 4.0 * w],
        };
        let block: f64 = convs.iter().map(|c| 3.0 * c * area).sum::<f64>() + convs.last().copied().unwrap_or(w) * area;
        per_image += depth as f64 * block;
        largest = largest.max(convs.iter().fold(0.0, |m: f64, &c| m.max(c)) * area);
    }
    Activations { kept: b * per_image, largest: b * largest, layers: model.depths.iter().sum() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::image::resnet::Shortcut;

    /// ResNet-20 on 32×32 images: 654,336 floats per image kept for backward (input, stem, and
    /// three stages of three basic blocks at 32², 16² and 8²), ~2.5 MB; 160 MB for a batch of 64
    /// (`edgetune train` on the demo measured a peak RSS of 131 MB for the whole process).
    #[test]
    fn resnet20_activations() {
        let model = ResNetConfig {
            model_type: Family::Cifar,
            block: BlockKind::Basic,
            depths: vec![3, 3, 3],
            stem_width: 16,
            widths: vec![16, 32, 64],
            shortcut: Shortcut::Pad,
            head: "linear".into(),
            image_size: 32,
            center_crop: false,
            image_mean: [0.0; 3],
            image_std: [1.0; 3],
        };
        let mb = |floats: f64| (floats * 4.0 / 1024.0 / 1024.0 * 10.0).round() / 10.0;
        let e = activations(&model, 64);
        assert_eq!(mb(e.kept), 159.8);
        assert_eq!(mb(e.largest), 4.0); // 64 × 16 × 32 × 32 floats
        assert_eq!(activations(&model, 32).kept * 2.0, e.kept);
    }
}
