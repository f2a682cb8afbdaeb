//! Loading a model from a Hugging Face-style directory or from the same files as bytes (the
//! browser has no filesystem). A text model is `config.json`, `model.safetensors`,
//! `tokenizer.json` and/or `vocab.txt` (+ `tokenizer_config.json`); encoder keys may carry a
//! `bert.` prefix (as in `BertForSequenceClassification` checkpoints) or not (as in `BertModel`
//! ones). An image model is `model.safetensors` with ResNet tensor names, plus the
//! `config.json` an edgetune export writes (classes, preprocessing); a bare upstream file works.
//! A text model may carry a PEFT LoRA adapter (`adapter_config.json`, `adapter_model.safetensors`,
//! see [`super::peft`]): beside the weights in a checkpoint, or alone in an adapter export, whose
//! base model is then read from `base_model_name_or_path`.

use super::bert::{encoder_tensors, Bert, Dense};
use super::classifier::{init_dense, remap_head, saved_classes, saved_threshold, Head, HeadReuse, Pooling, Task, TextClassifier, DEFAULT_THRESHOLD};
use super::config::BertConfig;
use super::image::load_image;
use super::kind::{Classifier, ModelKind};
use super::params::{Group, ParamStore};
use super::peft::{apply as apply_adapter, Adapter};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::tokenize::Tokenizer;
use crate::weights::SafeTensors;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The files of a model, as bytes.
#[derive(Clone, Debug, Default)]
pub struct ModelFiles {
    /// Where they came from, for messages.
    pub source: String,
    /// `config.json`: required for text models, optional for image ones.
    pub config: Option<Vec<u8>>,
    pub weights: Vec<u8>,
    pub tokenizer_json: Option<Vec<u8>>,
    pub vocab_txt: Option<Vec<u8>>,
    pub tokenizer_config: Option<Vec<u8>>,
    /// A PEFT LoRA adapter to put on the model: `adapter_config.json`, `adapter_model.safetensors`.
    pub adapter_config: Option<Vec<u8>>,
    pub adapter_weights: Option<Vec<u8>>,
}

impl ModelFiles {
    pub fn from_dir(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "model directory not found")));
        }
        let optional = |name: &str| -> Result<Option<Vec<u8>>> {
            let p = dir.join(name);
            if p.exists() { std::fs::read(&p).map(Some).map_err(|e| Error::io(&p, e)) } else { Ok(None) }
        };
        let weights_path = dir.join("model.safetensors");
        if !weights_path.exists() && dir.join("adapter_config.json").exists() {
            // An adapter export: the base model's files under this directory's adapter.
            return ModelFiles::from_dir(&adapter_base_dir(dir)?)?.with_adapter_dir(dir);
        }
        if !weights_path.exists() && dir.join("pytorch_model.bin").exists() {
            return Err(Error::weights(
                weights_path.display().to_string(),
                "not found; the directory has pytorch_model.bin, which edgetune does not read (pickle): \
                 convert it with `python -c \"from transformers import AutoModel; AutoModel.from_pretrained('DIR').save_pretrained('DIR', safe_serialization=True)\"`",
            ));
        }
        let files = ModelFiles {
            source: dir.display().to_string(),
            config: optional("config.json")?,
            weights: std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?,
            tokenizer_json: optional("tokenizer.json")?,
            vocab_txt: optional("vocab.txt")?,
            tokenizer_config: optional("tokenizer_config.json")?,
            adapter_config: optional("adapter_config.json")?,
            adapter_weights: optional("adapter_model.safetensors")?,
        };
        files.check()
    }

    /// These files with the PEFT adapter in `dir` on top (to continue training it, or an
    /// edgetune adapter export): its `config.json` and tokenizer files, when it has them, take
    /// the place of the base model's (they carry the classes).
    pub fn with_adapter_dir(mut self, dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|e| Error::io(&p, e))
        };
        self.adapter_config = Some(read("adapter_config.json")?);
        self.adapter_weights = Some(read("adapter_model.safetensors")?);
        for (name, slot) in [
            ("config.json", &mut self.config),
            ("tokenizer.json", &mut self.tokenizer_json),
            ("vocab.txt", &mut self.vocab_txt),
            ("tokenizer_config.json", &mut self.tokenizer_config),
        ] {
            if dir.join(name).exists() {
                *slot = Some(read(name)?);
            }
        }
        self.source = dir.display().to_string();
        self.check()
    }

    /// The files of a model given as (name, bytes) — a folder the user dropped in the page, a
    /// download, or a checkpoint kept in OPFS. A missing file is named in the error.
    pub fn from_files(source: &str, files: Vec<(String, Vec<u8>)>) -> Result<Self> {
        let mut out = ModelFiles { source: source.to_string(), ..Default::default() };
        let (mut config, mut weights) = (None, None);
        for (name, bytes) in files {
            // A dropped folder gives paths ("MiniLM/config.json"): the file name decides.
            match name.rsplit(['/', '\\']).next().unwrap_or(&name) {
                "config.json" => config = Some(bytes),
                "model.safetensors" => weights = Some(bytes),
                "tokenizer.json" => out.tokenizer_json = Some(bytes),
                "vocab.txt" => out.vocab_txt = Some(bytes),
                "tokenizer_config.json" => out.tokenizer_config = Some(bytes),
                "adapter_config.json" => out.adapter_config = Some(bytes),
                "adapter_model.safetensors" => out.adapter_weights = Some(bytes),
                _ => {}
            }
        }
        out.config = config;
        out.weights = weights.ok_or_else(|| {
            Error::model(source, "the model directory is missing model.safetensors (edgetune reads safetensors weights, not pytorch_model.bin)")
        })?;
        out.check()
    }

    /// Which kind of model these files hold: `config.json`'s `model_type` says, else (a bare
    /// upstream weights file) the tensor names do.
    pub fn kind(&self) -> Result<ModelKind> {
        if let Some(c) = &self.config {
            let v: Value = serde_json::from_slice(c).map_err(|e| Error::model(format!("{}/config.json", self.source), e.to_string()))?;
            let image = v.get("model_type").and_then(Value::as_str).is_some_and(|t| t.starts_with("resnet"));
            return Ok(if image { ModelKind::Image } else { ModelKind::Text });
        }
        if header_has(&self.weights, "conv1.weight") {
            return Ok(ModelKind::Image);
        }
        Err(Error::model(&self.source, "the model directory is missing config.json"))
    }

    /// `config.json` as JSON, if there is one.
    pub fn config_json(&self) -> Result<Option<Value>> {
        self.config
            .as_ref()
            .map(|c| serde_json::from_slice(c).map_err(|e| Error::model(format!("{}/config.json", self.source), e.to_string())))
            .transpose()
    }

    /// The model's tokenizer (tokenizer.json, else vocab.txt + tokenizer_config.json).
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        Tokenizer::from_bytes(self.tokenizer_json.as_deref(), self.vocab_txt.as_deref(), self.tokenizer_config.as_deref())
    }

    fn check(self) -> Result<Self> {
        if self.kind()? == ModelKind::Text && self.tokenizer_json.is_none() && self.vocab_txt.is_none() {
            return Err(Error::model(&self.source, "no tokenizer.json or vocab.txt: the model's tokenizer is needed"));
        }
        Ok(self)
    }
}

/// The head a training run wants: its task, class names and pooling.
#[derive(Clone, Debug)]
pub struct HeadSpec {
    pub task: Task,
    pub labels: Vec<String>,
    pub pooling: Pooling,
    pub seed: u64,
}

/// What a fine-tuned checkpoint says about its head (`config.json`: id2label, problem_type,
/// classifier_pooling).
fn saved_head(cfg: &BertConfig) -> (Task, Vec<String>, Pooling) {
    let (task, labels) = saved_classes(&cfg.raw);
    let pooling = match cfg.raw.get("classifier_pooling").and_then(Value::as_str) {
        Some("mean") => Pooling::Mean,
        // A plain BertForSequenceClassification checkpoint pools [CLS] through the pooler.
        _ => Pooling::Cls,
    };
    (task, labels, pooling)
}

/// Loads a model. With `spec`, the head is the one the spec asks for (kept from the checkpoint
/// when it matches, else freshly initialised); without, the checkpoint must hold a trained head.
pub fn load(files: ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<TextClassifier> {
    let raw = files.config.as_deref().ok_or_else(|| Error::model(&files.source, "the model directory is missing config.json"))?;
    let config = BertConfig::from_json(raw, "config.json")?;
    let tokenizer = files.tokenizer()?;
    if tokenizer.vocab_size() > config.vocab_size {
        let file = if files.tokenizer_json.is_some() { "tokenizer.json" } else { "vocab.txt" };
        return Err(Error::model(
            file,
            format!(
                "the tokenizer has {} tokens but config.json's vocab_size is {} (rows of the embedding): \
                 this tokenizer does not belong to this model",
                tokenizer.vocab_size(),
                config.vocab_size
            ),
        ));
    }
    let adapter = match (&files.adapter_config, &files.adapter_weights) {
        (Some(c), Some(w)) => Some(Adapter::parse(c, w.clone(), &files.source)?),
        (Some(_), None) => return Err(Error::model(&files.source, "adapter_config.json without adapter_model.safetensors")),
        _ => None,
    };
    let st = SafeTensors::parse(files.weights, "model.safetensors")?;
    let prefix = if st.info("bert.embeddings.word_embeddings.weight").is_some() { "bert." } else { "" };
    let mut params = ParamStore::default();
    for (name, shape, transposed) in encoder_tensors(&config) {
        let mut key = format!("{prefix}{name}");
        // Old checkpoints name LayerNorm parameters gamma/beta.
        if st.info(&key).is_none() && name.contains("LayerNorm") {
            let old = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta");
            if st.info(&old).is_some() {
                key = old;
            }
        }
        params.insert(&name, &shape, st.f32(&key, &shape)?, transposed, Group::Body, device)?;
    }
    let bert = Bert::bind(&params, &config)?;

    let (saved_task, saved_labels, saved_pooling) = saved_head(&config);
    let saved_threshold = saved_threshold(config.raw.get("edgetune_threshold"));
    // An adapter saves the head it was trained with (`modules_to_save`): that one wins.
    let from_adapter = |name: &str| adapter.as_ref().and_then(|a| Some((&a.weights, a.key_of(&format!("{name}.weight"))?.strip_suffix(".weight")?.to_string())));
    let has_classifier = st.info("classifier.weight").is_some() || from_adapter("classifier").is_some();
    let (task, labels, pooling, reuse) = match spec {
        Some(s) => {
            // A head trained on other features (another pooling) is not reused.
            let saved = (has_classifier && s.pooling == saved_pooling).then_some((saved_task, saved_labels.as_slice()));
            (s.task, s.labels.clone(), s.pooling, HeadReuse::decide(saved, s.task, &s.labels))
        }
        None if has_classifier => (saved_task, saved_labels.clone(), saved_pooling, HeadReuse::Same),
        None => {
            return Err(Error::weights(
                "model.safetensors",
                format!("{} has no classifier head (tensor 'classifier.weight'): it is a base encoder; fine-tune it first with `edgetune train`", files.source),
            ))
        }
    };
    let outputs = if task == Task::Regression { 1 } else { labels.len() };
    if outputs == 0 {
        return Err(Error::model("config.json", "the classifier has no labels (id2label is empty)"));
    }
    let hidden = config.hidden_size;
    let mut rng = Rng::derive(spec.map_or(0, |s| s.seed), "head-init");
    // `file_key`: the file and key where the checkpoint keeps this layer, or None to initialise it afresh.
    let mut dense = |params: &mut ParamStore, name: &str, out: usize, file_key: Option<(&SafeTensors, String)>| -> Result<Dense> {
        match file_key {
            Some((st, key)) => {
                let w = st.f32(&format!("{key}.weight"), &[out, hidden])?;
                let b = st.f32(&format!("{key}.bias"), &[out])?;
                let weight = params.insert(&format!("{name}.weight"), &[out, hidden], w, true, Group::Head, device)?;
                let bias = params.insert(&format!("{name}.bias"), &[out], b, false, Group::Head, device)?;
                Ok(Dense::new(weight, bias))
            }
            None => init_dense(params, name, out, hidden, &mut rng, device),
        }
    };
    let pooler = if pooling == Pooling::Cls {
        let key = format!("{prefix}pooler.dense");
        let in_file = st.info(&format!("{key}.weight")).is_some().then_some((&st, key));
        Some(dense(&mut params, "pooler.dense", hidden, from_adapter("pooler.dense").or(in_file))?)
    } else {
        None
    };
    let (file, key) = from_adapter("classifier").unwrap_or((&st, "classifier".to_string()));
    let classifier = match reuse {
        HeadReuse::Same => dense(&mut params, "classifier", outputs, Some((file, key)))?,
        HeadReuse::Fresh => dense(&mut params, "classifier", outputs, None)?,
        HeadReuse::Remap => {
            let n = saved_labels.len();
            let w = file.f32(&format!("{key}.weight"), &[n, hidden])?;
            let b = file.f32(&format!("{key}.bias"), &[n])?;
            let (w, b) = remap_head(&w, &b, &saved_labels, &labels, hidden, &mut rng);
            let weight = params.insert("classifier.weight", &[outputs, hidden], w, true, Group::Head, device)?;
            let bias = params.insert("classifier.bias", &[outputs], b, false, Group::Head, device)?;
            Dense::new(weight, bias)
        }
    };
    // A kept head keeps the threshold chosen for it; a new one starts from the default.
    let threshold = if reuse == HeadReuse::Same { saved_threshold } else { DEFAULT_THRESHOLD };
    let mut model = TextClassifier {
        config,
        bert,
        head: Head { pooling, pooler, classifier },
        params,
        tokenizer,
        labels: if task == Task::Regression { Vec::new() } else { labels },
        task,
        threshold,
        device: device.clone(),
        lora: None,
        base_model: adapter.as_ref().and_then(|a| a.base_model.clone()).unwrap_or(files.source),
    };
    if let Some(a) = &adapter {
        apply_adapter(&mut model, a)?;
    }
    Ok(model)
}

/// The base model directory an adapter directory names (`base_model_name_or_path`: absolute,
/// or relative to the adapter or to the working directory).
fn adapter_base_dir(dir: &Path) -> Result<PathBuf> {
    let file = dir.join("adapter_config.json");
    let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| Error::model(file.display().to_string(), e.to_string()))?;
    let Some(base) = v.get("base_model_name_or_path").and_then(Value::as_str) else {
        return Err(Error::model(
            file.display().to_string(),
            "no base_model_name_or_path: name the base model with --model and this adapter with --lora-adapter",
        ));
    };
    [dir.join(base), PathBuf::from(base)].into_iter().find(|p| p.join("model.safetensors").exists()).ok_or_else(|| {
        Error::model(
            file.display().to_string(),
            format!("base_model_name_or_path '{base}' is not a local model directory with model.safetensors: name the base model with --model and this adapter with --lora-adapter"),
        )
    })
}

/// Loads a model of whichever kind the files hold.
pub fn load_any(files: ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    match files.kind()? {
        ModelKind::Text => Ok(Classifier::Text(load(files, spec, device)?)),
        ModelKind::Image => {
            let config = files.config_json()?;
            Ok(Classifier::Image(load_image(&files.source, files.weights, config.as_ref(), spec, device)?))
        }
    }
}

/// Loads a text model from a local directory.
pub fn load_dir(dir: &Path, spec: Option<&HeadSpec>, device: &Device) -> Result<TextClassifier> {
    load(ModelFiles::from_dir(dir)?, spec, device)
}

/// Whether a safetensors file's header names tensor `name` (without decoding anything).
pub(crate) fn header_has(weights: &[u8], name: &str) -> bool {
    let Some(len) = weights.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize) else { return false };
    let quoted = format!("\"{name}\"");
    weights.get(8..8usize.saturating_add(len)).is_some_and(|h| h.windows(quoted.len()).any(|w| w == quoted.as_bytes()))
}
