//! An image classifier: a ResNet body (CIFAR or torchvision layout) → global average pool →
//! linear head, in the upstream tensor names (`linear.*` for the CIFAR family, `fc.*` for
//! torchvision), with batch-norm running statistics as buffers of the same store.

use super::bert::Dense;
use super::classifier::{init_dense, remap_head, saved_classes, saved_threshold, HeadReuse, Task, DEFAULT_THRESHOLD};
use super::load::HeadSpec;
use super::params::{Group, ParamStore};
use super::resnet::{load_body, BnMode, BnUpdate, ResNet, ResNetConfig};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::vision::Fit;
use crate::weights::SafeTensors;
use burn::tensor::{Tensor, TensorData};
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct ImageClassifier {
    pub config: ResNetConfig,
    pub net: ResNet,
    pub head: Dense,
    pub params: ParamStore,
    /// Class (or tag) names in output order; empty for regression.
    pub labels: Vec<String>,
    pub task: Task,
    /// Multi-label: a tag is predicted when its probability reaches this.
    pub threshold: f64,
    pub device: Device,
}

impl ImageClassifier {
    /// Side of the square input, in pixels.
    pub fn image_size(&self) -> usize {
        self.config.image_size
    }

    /// How images are brought to the input size unless the run says otherwise.
    pub fn default_fit(&self) -> Fit {
        if self.config.center_crop { Fit::CenterCrop } else { Fit::Resize }
    }

    /// The normalised input `[n, 3, size, size]` from images as CHW values in 0..1.
    pub fn input(&self, images: &[Vec<f32>]) -> Tensor<4> {
        let s = self.image_size();
        let plane = s * s;
        let mut x = Vec::with_capacity(images.len() * 3 * plane);
        for img in images {
            for c in 0..3 {
                let (m, sd) = (self.config.image_mean[c], self.config.image_std[c]);
                x.extend(img[c * plane..(c + 1) * plane].iter().map(|v| (v - m) / sd));
            }
        }
        Tensor::<4>::from_data(TensorData::new(x, [images.len(), 3, s, s]), &self.device)
    }

    /// Logits `[batch, outputs]` with the parameters `p`, and (in `Train` mode) the batch-norm
    /// statistics to fold into the running ones.
    pub fn logits(&self, p: &ParamStore, x: Tensor<4>, bn: BnMode) -> (Tensor<2>, Vec<BnUpdate>) {
        let (features, updates) = self.net.features(p, x, bn); // [batch, channels]
        (self.head_logits(p, features), updates)
    }

    /// What the body hands the head `[batch, channels]` in evaluation mode (batch norm on the
    /// running statistics): with a frozen body these are fixed per image, so the head-only fast
    /// path computes them once.
    pub fn features(&self, p: &ParamStore, x: Tensor<4>) -> Tensor<2> {
        self.net.features(p, x, BnMode::Eval).0
    }

    /// The head on pooled features `[batch, channels]` → logits `[batch, outputs]`.
    pub fn head_logits(&self, p: &ParamStore, features: Tensor<2>) -> Tensor<2> {
        self.head.forward(p, features)
    }
}

/// The input an image model's files expect: side in pixels and the default fit (read from the
/// weights' tensor names and `config.json`, without building the model).
pub fn image_input(files: &super::ModelFiles) -> Result<(usize, Fit)> {
    let st = SafeTensors::parse(files.weights.clone(), "model.safetensors")?;
    let cfg = resnet_config(&st, files.config_json()?.as_ref())?;
    Ok((cfg.image_size, if cfg.center_crop { Fit::CenterCrop } else { Fit::Resize }))
}

/// The architecture: an edgetune export's `config.json` says it (with its preprocessing); a bare
/// upstream checkpoint is read from its tensor names. Either way it must fit the weights.
fn resnet_config(st: &SafeTensors, config: Option<&Value>) -> Result<ResNetConfig> {
    let detected = ResNetConfig::detect(st)?;
    match config {
        Some(c) if c.get("depths").is_some() => {
            let saved = ResNetConfig::from_json(c)?;
            if (&saved.depths, &saved.widths, saved.block) != (&detected.depths, &detected.widths, detected.block) {
                return Err(Error::model(
                    "config.json",
                    format!("describes depths {:?} / widths {:?} but model.safetensors holds {:?} / {:?}", saved.depths, saved.widths, detected.depths, detected.widths),
                ));
            }
            Ok(saved)
        }
        _ => Ok(detected),
    }
}

/// A name people know the architecture by: "ResNet-20", "ResNet-50".
pub fn architecture_name(c: &ResNetConfig) -> String {
    let blocks: usize = c.depths.iter().sum();
    let per_block = match c.block {
        super::resnet::BlockKind::Basic => 2,
        super::resnet::BlockKind::Bottleneck => 3,
    };
    format!("ResNet-{}", blocks * per_block + 2)
}

/// What an exported image model's `config.json` says about its head.
fn saved_labels(config: Option<&Value>) -> (Task, Vec<String>) {
    config.and_then(Value::as_object).map_or((Task::Classification, Vec::new()), saved_classes)
}

/// Loads a ResNet classifier from its weights (and, for an edgetune export, its `config.json`).
/// With `spec` the head is the one asked for: kept when the checkpoint's classes are the same,
/// else freshly initialised (a CIFAR-10 head is not a head for your ten classes). Without, the
/// checkpoint must carry its classes (an edgetune export does).
pub fn load_image(source: &str, weights: Vec<u8>, config: Option<&Value>, spec: Option<&HeadSpec>, device: &Device) -> Result<ImageClassifier> {
    let st = SafeTensors::parse(weights, "model.safetensors")?;
    let cfg = resnet_config(&st, config)?;
    let mut params = ParamStore::default();
    let net = load_body(&st, &cfg, &mut params, device)?;
    let head_name = cfg.head.clone();
    let width = cfg.num_features();
    let (saved_task, saved) = saved_labels(config);
    let file_outputs = st.info(&format!("{head_name}.weight")).map(|i| i.shape[0]);
    let (task, labels, reuse) = match spec {
        Some(s) => {
            let in_file = file_outputs.is_some().then_some((saved_task, saved.as_slice()));
            (s.task, s.labels.clone(), HeadReuse::decide(in_file, s.task, &s.labels))
        }
        None if !saved.is_empty() || saved_task == Task::Regression => (saved_task, saved.clone(), HeadReuse::Same),
        None => {
            return Err(Error::model(
                source,
                "the model has no class names (config.json with id2label): it is a pre-trained body; fine-tune it first with `edgetune train`",
            ))
        }
    };
    let outputs = if task == Task::Regression { 1 } else { labels.len() };
    if outputs == 0 {
        return Err(Error::model("config.json", "the classifier has no labels (id2label is empty)"));
    }
    let mut rng = Rng::derive(spec.map_or(0, |s| s.seed), "head-init");
    let head = match reuse {
        HeadReuse::Fresh => init_dense(&mut params, &head_name, outputs, width, &mut rng, device)?,
        HeadReuse::Same | HeadReuse::Remap => {
            let n = if reuse == HeadReuse::Same { outputs } else { saved.len() };
            let w = st.f32(&format!("{head_name}.weight"), &[n, width])?;
            let b = st.f32(&format!("{head_name}.bias"), &[n])?;
            let (w, b) = if reuse == HeadReuse::Same { (w, b) } else { remap_head(&w, &b, &saved, &labels, width, &mut rng) };
            let weight = params.insert(&format!("{head_name}.weight"), &[outputs, width], w, true, Group::Head, device)?;
            let bias = params.insert(&format!("{head_name}.bias"), &[outputs], b, false, Group::Head, device)?;
            Dense::new(weight, bias)
        }
    };
    Ok(ImageClassifier {
        config: cfg,
        net,
        head,
        params,
        labels: if task == Task::Regression { Vec::new() } else { labels },
        task,
        threshold: if reuse == HeadReuse::Same { saved_threshold(config.and_then(|c| c.get("edgetune_threshold"))) } else { DEFAULT_THRESHOLD },
        device: device.clone(),
    })
}
