//! Loading a ViT classifier from a Hugging Face folder: `config.json` (the architecture),
//! `preprocessor_config.json` (input size and normalisation), `model.safetensors` with or
//! without the `vit.` of `ViTForImageClassification` (a bare `ViTModel`'s pooler is not used),
//! the head (`classifier`) through [`load_head`](crate::model::head::load_head), and a PEFT
//! adapter when one is given.

use super::{Vit, VitConfig};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::model::head::HeadSpec;
use crate::model::image::{classifier, processor};
use crate::model::input::ImageInput;
use crate::model::load::ModelFiles;
use crate::model::params::ParamStore;
use crate::model::vars::Vars;
use crate::model::Classifier;
use crate::weights::SafeTensors;
use serde_json::Value;

/// The head's name in `ViTForImageClassification`.
pub const HEAD: &str = "classifier";

/// The sequence-classification checkpoint's prefix before the body's keys.
pub const PREFIX: &str = "vit.";

fn config(files: &ModelFiles) -> Result<(Value, VitConfig)> {
    let raw = files.config_json()?.ok_or_else(|| Error::model(&files.source, "the model directory is missing config.json"))?;
    let cfg = VitConfig::from_json(&raw, "config.json")?;
    Ok((raw, cfg))
}

/// The input the processor describes, which must be the size the position embeddings are for.
fn input(files: &ModelFiles, cfg: &VitConfig) -> Result<ImageInput> {
    let Some(bytes) = &files.preprocessor_config else {
        return Err(Error::model(
            &files.source,
            format!(
                "the model directory is missing preprocessor_config.json (a ViT's image processor: its input size and normalisation); \
                 a ViT trained on {0}×{0} images with ImageNet-standard normalisation has \
                 {{\"size\": {{\"height\": {0}, \"width\": {0}}}, \"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5]}}",
                cfg.image_size
            ),
        ));
    };
    let mut input = processor::read(bytes, "preprocessor_config.json")?;
    if input.size != cfg.image_size {
        return Err(Error::model(
            "preprocessor_config.json",
            format!("makes {0}×{0} inputs, but config.json's image_size is {1}: the position embeddings are for {1}×{1}", input.size, cfg.image_size),
        ));
    }
    input.fixed_size = true;
    Ok(input)
}

/// The input a ViT's files expect (without building the model).
pub fn preprocessing(files: &ModelFiles) -> Result<ImageInput> {
    input(files, &config(files)?.1)
}

/// Loads a ViT classifier. With `spec` the head is the one asked for (an ImageNet head is kept
/// only for its own classes); without, the checkpoint must carry its classes.
pub fn load(files: &ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    let (raw, cfg) = config(files)?;
    let input = input(files, &cfg)?;
    let st = SafeTensors::parse(files.weights.clone(), "model.safetensors")?;
    let prefix = if st.names().any(|n| n.starts_with(PREFIX)) { PREFIX } else { "" };
    let mut params = ParamStore::default();
    let net = Vit::load(Vars::read(&st, prefix, &mut params, device), &cfg)?;
    classifier(files, &st, Some(&raw), params, Box::new(net), input, HEAD, spec, device)
}
