//! PEFT LoRA adapters on a language model: put on (to continue training one, or to start from
//! the same initial adapter as PEFT) and written as PEFT saves them for a causal LM
//! (`adapter_config.json` with `task_type: "CAUSAL_LM"`; keys
//! `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`, `[r, in]`), so
//! `PeftModel.from_pretrained(AutoModelForCausalLM..., dir)` loads what edgetune trained.

use super::LanguageModel;
use crate::error::{Error, Result};
use crate::model::params::Group;
use crate::model::peft::{lora_config, Adapter, WRAP};
use crate::weights::to_bytes;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

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

    /// `adapter_config.json` for the model's adapters, as `peft.LoraConfig.save_pretrained`
    /// writes it (`all-linear` stays PEFT's shorthand string).
    pub fn adapter_config(&self) -> Result<Value> {
        let spec = self.lora.as_ref().ok_or_else(|| Error::model(&self.source, "has no LoRA adapters to save"))?;
        let targets = match spec.target_modules.as_slice() {
            [one] if one == "all-linear" => json!("all-linear"),
            list => json!(list),
        };
        let base = std::fs::canonicalize(&self.source).map_or(self.source.clone(), |p| p.display().to_string());
        Ok(lora_config(spec, json!("CAUSAL_LM"), &base, targets, Value::Null))
    }

    /// The adapter's two files, `adapter_config.json` and `adapter_model.safetensors` (PEFT's keys,
    /// PyTorch's `[out, in]` layout). Non-finite values are refused: the run diverged.
    pub async fn adapter_files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let config = serde_json::to_vec_pretty(&self.adapter_config()?).map_err(|e| Error::config(e.to_string()))?;
        let mut tensors = Vec::new();
        for (name, shape, values) in self.params.to_upstream_where(|p| p.group == Group::Adapter).await? {
            let key = format!("{WRAP}{name}");
            if values.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite(key));
            }
            tensors.push((key, shape, values));
        }
        let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        Ok(vec![("adapter_config.json".into(), config), ("adapter_model.safetensors".into(), to_bytes(&tensors, &metadata))])
    }
}
