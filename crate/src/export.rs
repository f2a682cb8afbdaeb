//! Writing a model as a Hugging Face-style directory that PyTorch `transformers` loads back:
//! `config.json` (with `id2label`/`label2id`, `problem_type`, and for a multi-label model its
//! decision threshold as `edgetune_threshold`), `model.safetensors` with
//! `BertForSequenceClassification` keys (`bert.*`, `classifier.*`), and the tokenizer files.
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
use crate::model::{lora, peft, Classifier, ImageClassifier, Pooling, Task, TextClassifier};
use crate::weights::to_bytes;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

const MODELING: &str = include_str!("modeling_edgetune.py");
const MODELING_RESNET: &str = include_str!("modeling_resnet.py");

/// The files of an export, as (name, bytes): the browser offers them as downloads, natively they
/// are written to a directory.
pub async fn export_files(model: &Classifier) -> Result<Vec<(String, Vec<u8>)>> {
    match model {
        Classifier::Text(m) => text_files(m, m.lora.is_none()).await,
        Classifier::Image(m) => image_files(m).await,
    }
}

/// The export of `model` with its LoRA adapters folded into the base weights (`--merge`): a
/// full model, as PEFT's `merge_and_unload()` gives. The same as [`export_files`] without adapters.
pub async fn merged_export_files(model: &Classifier) -> Result<Vec<(String, Vec<u8>)>> {
    match model {
        Classifier::Text(m) => text_files(&lora::merged(m)?, true).await,
        Classifier::Image(m) => image_files(m).await,
    }
}

/// The model files of a checkpoint: the export, with the base weights even beside an adapter,
/// so that a checkpoint directory is complete on its own (resume, eval, the page's OPFS copy).
pub async fn checkpoint_model_files(model: &Classifier) -> Result<Vec<(String, Vec<u8>)>> {
    match model {
        Classifier::Text(m) => text_files(m, true).await,
        Classifier::Image(m) => image_files(m).await,
    }
}

async fn image_files(model: &ImageClassifier) -> Result<Vec<(String, Vec<u8>)>> {
    let mut tensors = Vec::new();
    for (name, shape, values) in model.params.to_upstream().await? {
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(name));
        }
        tensors.push((name, shape, values));
    }
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    let mut c = model.config.to_json_fields();
    let (id2label, label2id) = label_maps(&model.labels, model.task);
    c.insert("num_labels".into(), json!(model.labels.len().max(1)));
    c.insert("id2label".into(), Value::Object(id2label));
    c.insert("label2id".into(), Value::Object(label2id));
    c.insert("problem_type".into(), json!(model.task.problem_type()));
    if model.task == Task::MultiLabel {
        c.insert("edgetune_threshold".into(), json!(model.threshold));
    }
    c.insert("edgetune_version".into(), json!(env!("CARGO_PKG_VERSION")));
    Ok(vec![
        ("config.json".to_string(), serde_json::to_vec_pretty(&Value::Object(c)).map_err(|e| Error::config(e.to_string()))?),
        ("model.safetensors".to_string(), to_bytes(&tensors, &metadata)),
        ("modeling_resnet.py".to_string(), MODELING_RESNET.as_bytes().to_vec()),
    ])
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

/// `weights`: write `model.safetensors` (the base encoder and the head, never the adapters).
async fn text_files(model: &TextClassifier, weights: bool) -> Result<Vec<(String, Vec<u8>)>> {
    let mut tensors = Vec::new();
    let upstream = if weights { model.params.to_upstream_where(|p| p.group != Group::Adapter).await? } else { Vec::new() };
    for (name, shape, values) in upstream {
        let key = if name.starts_with("embeddings.") || name.starts_with("encoder.") || name.starts_with("pooler.") {
            format!("bert.{name}")
        } else {
            name
        };
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
    files.extend(model.tokenizer.export_files());
    if model.head.pooling == Pooling::Mean {
        files.push(("modeling_edgetune.py".to_string(), MODELING.as_bytes().to_vec()));
    }
    Ok(files)
}

/// `config.json` for the export: the encoder's own fields plus the head's.
pub fn config_json(model: &TextClassifier) -> Value {
    let mut c: Map<String, Value> = model.config.raw.clone();
    for k in ["_name_or_path", "auto_map", "id2label", "label2id", "problem_type", "classifier_pooling", "num_labels"] {
        c.remove(k);
    }
    let (id2label, label2id) = label_maps(&model.labels, model.task);
    c.insert("model_type".into(), json!("bert"));
    c.insert("id2label".into(), Value::Object(id2label));
    c.insert("label2id".into(), Value::Object(label2id));
    c.insert("problem_type".into(), json!(model.task.problem_type()));
    c.remove("edgetune_threshold");
    if model.task == Task::MultiLabel {
        // transformers ignores it; edgetune's eval and predict decide tags with it.
        c.insert("edgetune_threshold".into(), json!(model.threshold));
    }
    let pooling = match model.head.pooling {
        Pooling::Mean => "mean",
        Pooling::Cls => "cls",
    };
    c.insert("classifier_pooling".into(), json!(pooling));
    if model.head.pooling == Pooling::Mean {
        c.insert("architectures".into(), json!(["EdgetuneBertForSequenceClassification"]));
        c.insert(
            "auto_map".into(),
            json!({
                "AutoConfig": "modeling_edgetune.EdgetuneBertConfig",
                "AutoModelForSequenceClassification": "modeling_edgetune.EdgetuneBertForSequenceClassification"
            }),
        );
    } else {
        c.insert("architectures".into(), json!(["BertForSequenceClassification"]));
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
    for stale in ["model.safetensors", "adapter_config.json", "adapter_model.safetensors", "replay.jsonl", "replay.zip"] {
        if !files.iter().any(|(n, _)| n == stale) {
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
    if model.as_text().is_some_and(|m| m.head.pooling == Pooling::Cls) {
        // A stale file from an earlier mean-pooled export would contradict config.json.
        let _ = std::fs::remove_file(dir.join("modeling_edgetune.py"));
    }
    Ok(())
}
