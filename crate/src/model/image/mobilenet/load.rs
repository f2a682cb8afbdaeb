//! Loading a MobileNetV2 classifier: the width from the checkpoint's tensor shapes (or an
//! edgetune export's `config.json`, with its preprocessing), the body by the checkpoint's own
//! names (running statistics as buffers), the head (`classifier.1`) through [`load_head`].

use super::{load_body, MobileNetConfig};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::model::head::HeadSpec;
use crate::model::image::classifier;
use crate::model::input::ImageInput;
use crate::model::load::ModelFiles;
use crate::model::params::ParamStore;
use crate::model::Classifier;
use crate::weights::SafeTensors;
use serde_json::Value;

/// The head's name in torchvision's checkpoints (`classifier.0` is the dropout).
pub const HEAD: &str = "classifier.1";

/// The architecture: an export's `config.json` says it; a bare torchvision file is read from its
/// shapes. Either way it must fit the weights.
fn mobilenet_config(st: &SafeTensors, config: Option<&Value>) -> Result<MobileNetConfig> {
    let detected = MobileNetConfig::detect(st)?;
    match config {
        Some(c) if c.get("width_mult").is_some() => {
            let saved = MobileNetConfig::from_json(c)?;
            if saved.width_mult != detected.width_mult {
                return Err(Error::model(
                    "config.json",
                    format!("says width_mult {} but model.safetensors holds a MobileNetV2 of width {}", saved.width_mult, detected.width_mult),
                ));
            }
            Ok(saved)
        }
        _ => Ok(detected),
    }
}

/// The input a MobileNetV2's files expect (without building the model).
pub fn preprocessing(files: &ModelFiles) -> Result<ImageInput> {
    let st = SafeTensors::parse(files.weights.clone(), "model.safetensors")?;
    Ok(mobilenet_config(&st, files.config_json()?.as_ref())?.input())
}

/// Loads a MobileNetV2 classifier. With `spec` the head is the one asked for (the ImageNet
/// head is kept only for its own 1,000 classes); without, the checkpoint must carry its classes.
pub fn load(files: &ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    let config = files.config_json()?;
    let st = SafeTensors::parse(files.weights.clone(), "model.safetensors")?;
    let cfg = mobilenet_config(&st, config.as_ref())?;
    let mut params = ParamStore::default();
    let net = load_body(&st, &cfg, &mut params, device)?;
    let input = cfg.input();
    classifier(files, &st, config.as_ref(), params, Box::new(net), input, HEAD, spec, device)
}
