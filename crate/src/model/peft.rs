//! LoRA adapters in Hugging Face PEFT's files, read and written: `adapter_config.json` (a
//! `peft.LoraConfig`) and `adapter_model.safetensors` (`peft.utils.save_and_load.
//! get_peft_model_state_dict`), so that `PeftModel.from_pretrained(base, dir)` loads an edgetune
//! adapter onto the same base model, and edgetune continues training an adapter made by PEFT.
//!
//! Keys: PEFT wraps the model as `base_model.model`; with a `BertForSequenceClassification`
//! inside (`task_type: "SEQ_CLS"`, what edgetune writes) a layer's adapter is
//! `base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight` (`[r, in]`) and
//! `...lora_B.weight` (`[out, r]`), and the head, saved whole through `modules_to_save`, is
//! `base_model.model.classifier.weight` (and `base_model.model.bert.pooler.dense.*` with [CLS]
//! pooling). An adapter made on a bare `BertModel` has no `bert.` and no head. Both are read.
//! An image model's adapter (ViT's) has no task type (PEFT's plain `PeftModel`), the same keys.

use super::classifier::Classifier;
use super::lora::{attach, peft_targets, LoraSpec};
use super::face::ModelKind;
use super::params::Group;
use crate::error::{Error, Result};
use crate::weights::{to_bytes, SafeTensors};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// The prefix PEFT puts before the wrapped model's module names.
pub const WRAP: &str = "base_model.model.";

/// A PEFT LoRA adapter as read from its two files.
#[derive(Clone, Debug)]
pub struct Adapter {
    pub spec: LoraSpec,
    /// `base_model_name_or_path`, if the config names one.
    pub base_model: Option<String>,
    pub weights: SafeTensors,
    /// `DIR/adapter_config.json`, for messages.
    config_file: String,
}

impl Adapter {
    /// Parses `adapter_config.json` and `adapter_model.safetensors` of the adapter in `dir`
    /// (a name for messages). Settings edgetune cannot reproduce exactly are refused, by name.
    pub fn parse(config: &[u8], weights: Vec<u8>, dir: &str) -> Result<Self> {
        let config_file = format!("{dir}/adapter_config.json");
        let err = |m: String| Error::model(&config_file, m);
        let v: Value = serde_json::from_slice(config).map_err(|e| err(e.to_string()))?;
        let get = |k: &str| v.get(k).filter(|x| !x.is_null());
        match get("peft_type").and_then(Value::as_str) {
            Some("LORA") => {}
            other => return Err(err(format!("peft_type is {}, expected \"LORA\" (edgetune reads LoRA adapters)", show(other)))),
        }
        let r = get("r").and_then(Value::as_u64).filter(|&r| r > 0).ok_or_else(|| err("r is missing or not a positive integer".into()))?;
        let num = |k: &str, default: f64| -> Result<f64> {
            get(k).map_or(Ok(default), |x| x.as_f64().ok_or_else(|| err(format!("{k} is {x}, expected a number"))))
        };
        let flag = |k: &str| get(k).and_then(Value::as_bool).unwrap_or(false);
        for k in ["use_dora", "fan_in_fan_out", "lora_bias"] {
            if flag(k) {
                return Err(err(format!("{k} is true: not supported (edgetune trains plain LoRA)")));
            }
        }
        if let Some(b) = get("bias").and_then(Value::as_str).filter(|b| *b != "none") {
            return Err(err(format!("bias is \"{b}\": not supported, expected \"none\"")));
        }
        for k in ["layers_to_transform", "layers_pattern", "rank_pattern", "alpha_pattern"] {
            if get(k).is_some_and(|x| x.as_object().is_none_or(|o| !o.is_empty())) {
                return Err(err(format!("{k} is set: not supported (every targeted layer must share r and alpha)")));
            }
        }
        let target_modules = match get("target_modules") {
            // PEFT's default for BERT models.
            None => vec!["query".to_string(), "value".to_string()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(String::from).ok_or_else(|| err(format!("target_modules holds {x}, expected module names"))))
                .collect::<Result<_>>()?,
            Some(Value::String(s)) if s == "all-linear" => vec![s.clone()],
            Some(x) => return Err(err(format!("target_modules is {x}: a regular expression is not supported, list the module names"))),
        };
        let spec = LoraSpec {
            r: r as usize,
            alpha: num("lora_alpha", 8.0)?,
            dropout: num("lora_dropout", 0.0)?,
            target_modules,
            use_rslora: flag("use_rslora"),
            ..LoraSpec::default()
        };
        spec.validate().map_err(|e| err(e.to_string()))?;
        let weights = SafeTensors::parse(weights, &format!("{dir}/adapter_model.safetensors"))?;
        let base_model = get("base_model_name_or_path").and_then(Value::as_str).map(String::from);
        Ok(Adapter { spec, base_model, weights, config_file })
    }

    /// The key under which the adapter holds head layer `name` (its `.weight` and `.bias`), if
    /// it does: as the bare name or as `exported`, the name in the family's checkpoint.
    pub fn key_of(&self, name: &str, exported: &str) -> Option<String> {
        [format!("{WRAP}{name}"), format!("{WRAP}{exported}")].into_iter().find(|k| self.weights.info(&format!("{k}.weight")).is_some())
    }
}

fn show(s: Option<&str>) -> String {
    s.map_or("missing".into(), |s| format!("\"{s}\""))
}

/// Adds the adapter's layers to `model` (whose head `load` already took from the adapter where
/// it matched). Every adapter tensor must be a LoRA weight of a targeted layer, with the shape
/// this base model gives it, or a head tensor; every targeted layer must have both of its own.
pub fn apply(model: &mut Classifier, adapter: &Adapter) -> Result<()> {
    attach(model, &adapter.spec, 0, &adapter.config_file)?;
    let file = adapter.weights.source().to_string();
    // An adapter on a sequence-classification model names the body as its checkpoint does
    // (`bert.encoder...`); one on a bare base model without that prefix. Both map to store names.
    let mut store_names: HashMap<String, String> = HashMap::new();
    let mut exported = false;
    for p in &model.params.params {
        let key = model.body.export_key(&p.name);
        if p.group == Group::Adapter && key != p.name && adapter.weights.info(&format!("{WRAP}{key}")).is_some() {
            exported = true;
        }
        store_names.insert(format!("{WRAP}{key}"), p.name.clone());
        store_names.insert(format!("{WRAP}{}", p.name), p.name.clone());
        // PEFT's own names where the transformers class renames modules (see Body::peft_key).
        let peft = model.body.peft_key(&p.name);
        if peft != key {
            exported |= p.group == Group::Adapter && adapter.weights.info(&format!("{WRAP}{peft}")).is_some();
            store_names.insert(format!("{WRAP}{peft}"), p.name.clone());
        }
    }
    // The adapter parameters just attached, by name: (id, upstream shape).
    let mut wanted: HashMap<String, (usize, Vec<usize>)> = model
        .params
        .params
        .iter()
        .enumerate()
        .filter(|(_, p)| p.group == Group::Adapter)
        .map(|(i, p)| (p.name.clone(), (i, p.upstream_shape())))
        .collect();
    let names: Vec<String> = adapter.weights.names().map(String::from).collect();
    let heads: Vec<String> = model.params.params.iter().filter(|p| p.group == Group::Head).map(|p| p.name.clone()).collect();
    // Head tensors the transformers class has and this head does not use (see Body::unused_head_tensors).
    let unused: Vec<String> = model.body.unused_head_tensors(&model.head).into_iter().flat_map(|(n, _, _)| [format!("{WRAP}{n}"), format!("{WRAP}{}", model.body.export_key(&n))]).collect();
    for key in names {
        let name = store_names.get(&key).map_or(key.as_str(), String::as_str);
        if let Some((_, shape)) = wanted.remove(name) {
            let info = adapter.weights.info(&key).expect("listed");
            if info.shape != shape {
                return Err(Error::weights(
                    &file,
                    format!(
                        "tensor '{key}' has shape {:?}, expected {shape:?} (r = {}): the adapter was made for another base model",
                        info.shape, adapter.spec.r
                    ),
                ));
            }
            let values = adapter.weights.f32(&key, &shape)?;
            let device = model.device.clone();
            model.params.insert(name, &shape, values, true, Group::Adapter, &device)?;
            continue;
        }
        if heads.iter().any(|h| h == name) || unused.contains(&key) {
            continue;
        }
        let why = if key.contains(".lora_") {
            "is not a LoRA weight of a layer that this model has and adapter_config.json targets"
        } else {
            "is neither a LoRA weight nor the classifier head"
        };
        return Err(Error::weights(&file, format!("tensor '{key}' {why}: the adapter was made for another base model")));
    }
    if let Some(name) = wanted.keys().min() {
        let key = format!("{WRAP}{}", if exported { model.body.export_key(name) } else { name.clone() });
        return Err(Error::weights(&file, format!("no tensor '{key}', which the target modules of {} call for", adapter.config_file)));
    }
    Ok(())
}

/// `adapter_config.json` for `model`'s adapters, as `peft.LoraConfig.save_pretrained` writes it.
pub fn config_json(model: &Classifier, spec: &LoraSpec) -> Result<Value> {
    let base = std::fs::canonicalize(&model.base_model).map_or(model.base_model.clone(), |p| p.display().to_string());
    // The head's top-level modules (`classifier`, `pooler`), which PEFT saves whole (with the
    // layers a mean-pooled head does not use: `Body::unused_head_tensors`).
    let mut modules_to_save: Vec<String> = Vec::new();
    for name in std::iter::once(&model.head.name).chain(model.head.pooler_name.as_ref()) {
        let module = name.split('.').next().unwrap_or(name).to_string();
        if !modules_to_save.contains(&module) {
            modules_to_save.push(module);
        }
    }
    // PEFT's sequence classifier feeds `input_ids`; an image model takes the plain wrapper.
    let task = if model.kind() == ModelKind::Text { json!("SEQ_CLS") } else { Value::Null };
    Ok(lora_config(spec, task, &base, json!(peft_targets(model, spec)?), json!(modules_to_save)))
}

/// A `peft.LoraConfig` as `save_pretrained` writes it: `spec`'s rank, alpha, dropout and
/// rsLoRA, plain LoRA otherwise (no bias, no DoRA, no per-layer patterns).
pub fn lora_config(spec: &LoraSpec, task_type: Value, base: &str, target_modules: Value, modules_to_save: Value) -> Value {
    json!({
        "peft_type": "LORA",
        "task_type": task_type,
        "base_model_name_or_path": base,
        "r": spec.r,
        "lora_alpha": spec.alpha,
        "lora_dropout": spec.dropout,
        "target_modules": target_modules,
        "use_rslora": spec.use_rslora,
        "bias": "none",
        "fan_in_fan_out": false,
        "modules_to_save": modules_to_save,
        "init_lora_weights": true,
        "inference_mode": true,
        "use_dora": false,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "revision": null,
    })
}

/// The adapter's two files: `adapter_config.json` and `adapter_model.safetensors` (the LoRA
/// weights and the head, in PEFT's keys and PyTorch's `[out, in]` layout).
pub async fn adapter_files(model: &Classifier, spec: &LoraSpec) -> Result<Vec<(String, Vec<u8>)>> {
    let mut tensors = Vec::new();
    for (name, shape, values) in model.params.to_upstream_where(|p| p.group != Group::Body).await? {
        let key = format!("{WRAP}{}", model.body.peft_key(&name));
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(key));
        }
        tensors.push((key, shape, values));
    }
    for (name, shape, values) in model.body.unused_head_tensors(&model.head) {
        tensors.push((format!("{WRAP}{}", model.body.export_key(&name)), shape, values));
    }
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    let config = serde_json::to_vec_pretty(&config_json(model, spec)?).map_err(|e| Error::config(e.to_string()))?;
    Ok(vec![("adapter_config.json".into(), config), ("adapter_model.safetensors".into(), to_bytes(&tensors, &metadata))])
}
