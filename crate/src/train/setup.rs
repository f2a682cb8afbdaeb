//! What a run trains, decided once as it starts: LoRA adapters on a text encoder, the checks of
//! settings against the model's kind, and class weights.

use super::config::{ClassWeights, TrainConfig};
use crate::error::{Error, Result};
use crate::model::lora;
use crate::model::{Classifier, LoraSpec, ModelKind, Task};
use crate::prepare::{Split, Target};
use crate::vision::Augment;
use burn::tensor::{Tensor, TensorData};

/// Settings that cannot apply to this kind of model, refused by name before anything trains
/// (natively before the data is read).
pub fn check_kind(kind: ModelKind, cfg: &TrainConfig) -> Result<()> {
    if kind == ModelKind::Image {
        // Each image is embedded once, as it is: a random variation per epoch cannot happen.
        if cfg.head_only && cfg.augment != Augment::none() {
            return Err(Error::config(
                "augmentation does not apply to head-only training: each image is embedded once, as it is. Drop the augmentation settings (--no-augment), or train more than the head",
            ));
        }
    }
    Ok(())
}

/// Puts fresh LoRA adapters on a text model when the configuration asks for them and the model
/// has none yet (a resumed run or a loaded adapter brings its own). A model that already carries
/// adapters trains them, so `cfg.lora` then describes them.
pub fn attach_lora(model: &mut Classifier, cfg: &mut TrainConfig) -> Result<()> {
    match (&model.lora, &cfg.lora) {
        (None, Some(spec)) => lora::attach(model, spec, cfg.seed, "lora.target_modules")?,
        (Some(have), Some(spec)) => {
            cfg.lora = Some(LoraSpec { lr: spec.lr, adapter: spec.adapter.clone(), ..have.clone() });
        }
        (Some(have), None) => cfg.lora = Some(have.clone()),
        (None, None) => {}
    }
    Ok(())
}

/// Balanced class weights `[classes]` (n / (classes × n_c)) when the configuration asks for
/// them; for multi-label each tag's `pos_weight`, negatives over positives.
pub fn class_weight_tensor(model: &Classifier, split: &Split, cfg: &TrainConfig) -> Option<Tensor<1>> {
    let k = model.labels().len();
    match (cfg.class_weights, model.task()) {
        (ClassWeights::Balanced, Task::MultiLabel) => {
            let w = super::multilabel::pos_weights(split, k);
            return Some(Tensor::<1>::from_data(TensorData::new(w, [k]), model.device()));
        }
        (ClassWeights::Balanced, Task::Classification) => {}
        _ => return None,
    }
    let mut counts = vec![0usize; k];
    for t in &split.targets {
        if let Target::Class(c) = t {
            counts[*c] += 1;
        }
    }
    let n = split.len() as f32;
    let w: Vec<f32> = counts.iter().map(|&c| if c == 0 { 0.0 } else { n / (k as f32 * c as f32) }).collect();
    Some(Tensor::<1>::from_data(TensorData::new(w, [k]), model.device()))
}
