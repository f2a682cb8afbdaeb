//! Writing a model as a Hugging Face-style directory that PyTorch loads back: `config.json`
//! (the family's fields, with `id2label`/`label2id`, `problem_type`, and for a multi-label model
//! its decision threshold as `edgetune_threshold`), `model.safetensors` in the family's
//! sequence-classification keys (for BERT `bert.*`, `classifier.*`: each body says, see
//! [`crate::model::Body::export_key`]), the tokenizer files, and the model code the family needs.
//!
//! `BertForSequenceClassification` pools the [CLS] token through `bert.pooler`; a model trained
//! with mean pooling (the default, as sentence-transformers models are) also gets
//! `modeling_edgetune.py` and an `auto_map`, so that
//! `AutoModelForSequenceClassification.from_pretrained(dir, trust_remote_code=True)` computes the
//! same logits. Such an export deliberately has no pooler weights: loading it as a plain
//! `BertForSequenceClassification` reports them missing instead of silently pooling differently.
//! An image model exports as `config.json` (architecture, preprocessing, classes) and
//! `model.safetensors` in the upstream ResNet names, batch-norm running statistics included, plus
//! `modeling_resnet.py`, which builds the network in PyTorch (torchvision's own `resnet18/34/50`
//! for that family) and loads the file with `load_state_dict(strict=True)`.
//! A text model with LoRA adapters exports as a PEFT adapter instead (`adapter_config.json`,
//! `adapter_model.safetensors`, see [`crate::model::peft`]) beside `config.json` and the tokenizer,
//! without `model.safetensors`: the base weights stay where `base_model_name_or_path` says, and
//! a plain load cannot silently drop the adapter. `merge` folds the adapters in and writes an
//! ordinary full export; a checkpoint keeps both the base weights and the adapter.
//! Every file is written to a temporary name and renamed: a crash never leaves half a file.

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::model::params::Group;
use crate::model::{lora, peft, Classifier, Task};
use crate::weights::to_bytes;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The files of an export, as (name, bytes): the browser offers them as downloads, natively they
/// are written to a directory.
pub async fn export_files(model: &Classifier) -> Result<Vec<(String, Vec<u8>)>> {
    files(model, model.lora.is_none()).await
}

/// The export of `model` with its LoRA adapters folded into the base weights (`--merge`): a
/// full model, as PEFT's `merge_and_unload()` gives. The same as [`export_files`] without adapters.
pub async fn merged_export_files(model: &Classifier) -> Result<Vec<(String, Vec<u8>)>> {
    files(&lora::merged(model)?, true).await
}

/// The model files of a checkpoint: the export, with the base weights even beside an adapter,
/// so that a checkpoint directory is complete on its own (resume, eval, the page's OPFS copy).
pub async fn checkpoint_model_files(model: &Classifier) -> Result<Vec<(String, Vec<u8>)>> {
    files(model, true).await
}

fn label_maps(labels: &[String], task: Task) -> (Map<String, Value>, Map<String, Value>) {
    match task {
        Task::Classification | Task::MultiLabel => (
            labels.iter().enumerate().map(|(i, l)| (i.to_string(), json!(l))).collect(),
            labels.iter().enumerate().map(|(i, l)| (l.clone(), json!(i))).collect(),
        ),
        Task::Regression => (Map::from_iter([("0".into(), json!("LABEL_0"))]), Map::from_iter([("LABEL_0".into(), json!(0))])),
    }
}

/// `weights`: write `model.safetensors` (the body and the head in the family's checkpoint
/// names, never the adapters).
async fn files(model: &Classifier, weights: bool) -> Result<Vec<(String, Vec<u8>)>> {
    let mut tensors = Vec::new();
    let upstream = if weights { model.params.to_upstream_where(|p| p.group != Group::Adapter).await? } else { Vec::new() };
    for (name, shape, values) in upstream {
        let key = model.body.export_key(&name);
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(key));
        }
        tensors.push((key, shape, values));
    }
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    let mut files = vec![("config.json".to_string(), serde_json::to_vec_pretty(&config_json(model)).map_err(|e| Error::config(e.to_string()))?)];
    if weights {
        files.push(("model.safetensors".to_string(), to_bytes(&tensors, &metadata)));
    }
    if let Some(spec) = &model.lora {
        files.extend(peft::adapter_files(model, spec).await?);
    }
    if let Some(t) = model.tokenizer() {
        files.extend(t.export_files());
    }
    if let Some(i) = model.image_input() {
        files.extend(i.export_files());
    }
    for (name, code) in model.body.export_code(&model.head) {
        files.push((name.to_string(), code.as_bytes().to_vec()));
    }
    Ok(files)
}

/// `config.json` for the export: the family's own fields (architecture, preprocessing) plus the
/// head's classes and task.
pub fn config_json(model: &Classifier) -> Value {
    let mut c = model.body.export_config(&model.head, &model.input);
    let (id2label, label2id) = label_maps(&model.labels, model.task);
    c.insert("num_labels".into(), json!(id2label.len()));
    c.insert("id2label".into(), Value::Object(id2label));
    c.insert("label2id".into(), Value::Object(label2id));
    c.insert("problem_type".into(), json!(model.task.problem_type()));
    c.remove("edgetune_threshold");
    if model.task == Task::MultiLabel {
        // transformers ignores it; edgetune's eval and predict decide tags with it.
        c.insert("edgetune_threshold".into(), json!(model.threshold));
    }
    c.insert("edgetune_version".into(), json!(env!("CARGO_PKG_VERSION")));
    Value::Object(c)
}

/// Writes the export to `dir` (created if needed), each file atomically; with `merge`, LoRA
/// adapters folded in; with `replay`, the replay sample `personalize` mixes in (see
/// [`crate::personalize::replay_file`]).
pub async fn export_dir(model: &Classifier, dir: &Path, merge: bool, replay: Option<(String, Vec<u8>)>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = if merge { merged_export_files(model).await? } else { export_files(model).await? };
    files.extend(replay);
    // Stale files of an earlier export of the other kind would change what the directory loads
    // as; a stale replay sample would belong to another model.
    let mut stale: Vec<String> = ["model.safetensors", "adapter_config.json", "adapter_model.safetensors", "replay.jsonl", "replay.zip"].map(String::from).to_vec();
    // Model code an earlier edgetune export left (another pooling, another family) would
    // contradict the new config.json; a directory that is not an edgetune export keeps its own.
    if std::fs::read(dir.join("config.json")).is_ok_and(|c| c.windows(16).any(|w| w == b"edgetune_version")) {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        stale.extend(entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with("modeling_") && n.ends_with(".py")));
    }
    for stale in stale {
        if !files.iter().any(|(n, _)| *n == stale) {
            let _ = std::fs::remove_file(dir.join(stale));
        }
    }
    // Weights first, config last: a directory with a config.json is a complete export.
    for (name, bytes) in files.iter().filter(|(n, _)| n != "config.json") {
        write_atomic(&dir.join(name), bytes)?;
    }
    if let Some((name, bytes)) = files.iter().find(|(n, _)| n == "config.json") {
        write_atomic(&dir.join(name), bytes)?;
    }
    Ok(())
}
