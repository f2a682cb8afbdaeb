//! PEFT LoRA adapters on a language model: put on (to continue training one, or to start from
//! the same initial adapter as PEFT), keys as PEFT saves them for a causal LM
//! (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`, `[r, in]`).

use super::LanguageModel;
use crate::error::{Error, Result};
use crate::model::params::Group;
use crate::model::peft::{Adapter, WRAP};
use std::collections::HashMap;

impl LanguageModel {
    /// Attaches `adapter`'s layers with its values. Every tensor must be a LoRA weight of a
    /// targeted layer with the shape this model gives it, and every targeted layer must have both.
    pub fn apply_adapter(&mut self, adapter: &Adapter) -> Result<()> {
        self.attach_lora(&adapter.spec, 0)?;
        let file = adapter.weights.source().to_string();
        let mut wanted: HashMap<String, Vec<usize>> = self.params.params.iter().filter(|p| p.group == Group::Adapter).map(|p| (p.name.clone(), p.upstream_shape())).collect();
        for key in adapter.weights.names().map(String::from).collect::<Vec<_>>() {
            let name = key.strip_prefix(WRAP).unwrap_or(&key).to_string();
            let Some(shape) = wanted.remove(&name) else {
                return Err(Error::weights(
                    &file,
                    format!("tensor '{key}' is not a LoRA weight of a layer this model has and the adapter targets: it was made for another base model"),
                ));
            };
            let values =
                adapter.weights.f32(&key, &shape).map_err(|e| Error::weights(&file, format!("{e} (r = {}): the adapter was made for another base model", adapter.spec.r)))?;
            let device = self.device.clone();
            self.params.insert(&name, &shape, values, true, Group::Adapter, &device)?;
        }
        if let Some(name) = wanted.keys().min() {
            return Err(Error::weights(&file, format!("no tensor '{WRAP}{name}', which the adapter's target modules call for")));
        }
        Ok(())
    }
}
