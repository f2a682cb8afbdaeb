//! Loading a ResNet classifier: the body from the checkpoint's own tensor names (running
//! statistics as buffers), the architecture from an edgetune export's `config.json` or, for a
//! bare upstream file, from the tensor names; the head through [`load_head`].

use super::{load_body, ResNetConfig};
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

/// The input a ResNet's files expect (without building the model).
pub fn preprocessing(files: &ModelFiles) -> Result<ImageInput> {
    let st = SafeTensors::parse(files.weights.clone(), "model.safetensors")?;
    Ok(resnet_config(&st, files.config_json()?.as_ref())?.input())
}

/// Loads a ResNet classifier from its weights (and, for an edgetune export, its `config.json`).
/// With `spec` the head is the one asked for: kept when the checkpoint's classes are the same,
/// else freshly initialised (a CIFAR-10 head is not a head for your ten classes). Without, the
/// checkpoint must carry its classes (an edgetune export does).
pub fn load(files: &ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    let config = files.config_json()?;
    let st = SafeTensors::parse(files.weights.clone(), "model.safetensors")?;
    let cfg = resnet_config(&st, config.as_ref())?;
    let mut params = ParamStore::default();
    let net = load_body(&st, &cfg, &mut params, device)?;
    let input = cfg.input();
    classifier(files, &st, config.as_ref(), params, Box::new(net), input, &cfg.head, spec, device)
}

/// A name people know the architecture by: "ResNet-20", "ResNet-50".
pub fn architecture_name(c: &ResNetConfig) -> String {
    let blocks: usize = c.depths.iter().sum();
    let per_block = match c.block {
        super::BlockKind::Basic => 2,
        super::BlockKind::Bottleneck => 3,
    };
    format!("ResNet-{}", blocks * per_block + 2)
}
