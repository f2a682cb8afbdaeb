//! A model's files, read from a Hugging Face-style directory or given as bytes (the browser has
//! no filesystem), and the table of families that says which loader reads them. A text model is
//! `config.json`, `model.safetensors`, `tokenizer.json` and/or `vocab.txt` (+
//! `tokenizer_config.json`); an image model is `model.safetensors`, plus the `config.json` an
//! edgetune export writes (classes, preprocessing) or a transformers one with its
//! `preprocessor_config.json` (ViT); a bare upstream (torchvision) file works.
//! A text model may carry a PEFT LoRA adapter (`adapter_config.json`, `adapter_model.safetensors`,
//! see [`super::peft`]): beside the weights in a checkpoint, or alone in an adapter export, whose
//! base model is then read from `base_model_name_or_path`.

use super::face::ModelKind;
use super::head::HeadSpec;
use super::input::ImageInput;
use super::peft::Adapter;
use super::{image, text, Classifier};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tokenize::Tokenizer;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The files of a model, as bytes.
#[derive(Clone, Debug, Default)]
pub struct ModelFiles {
    /// Where they came from, for messages.
    pub source: String,
    /// `config.json`: required for text models, optional for image ones.
    pub config: Option<Vec<u8>>,
    /// `model.safetensors`, shared with the parses of it (no copy per load).
    pub weights: Arc<Vec<u8>>,
    pub tokenizer_json: Option<Vec<u8>>,
    pub vocab_txt: Option<Vec<u8>>,
    pub tokenizer_config: Option<Vec<u8>>,
    /// `preprocessor_config.json`: a transformers image model's input size and normalisation.
    pub preprocessor_config: Option<Vec<u8>>,
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
            weights: Arc::new(std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?),
            tokenizer_json: optional("tokenizer.json")?,
            vocab_txt: optional("vocab.txt")?,
            tokenizer_config: optional("tokenizer_config.json")?,
            preprocessor_config: optional("preprocessor_config.json")?,
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
            ("preprocessor_config.json", &mut self.preprocessor_config),
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
                "preprocessor_config.json" => out.preprocessor_config = Some(bytes),
                "adapter_config.json" => out.adapter_config = Some(bytes),
                "adapter_model.safetensors" => out.adapter_weights = Some(bytes),
                _ => {}
            }
        }
        out.config = config;
        out.weights = weights.map(Arc::new).ok_or_else(|| {
            Error::model(source, "the model directory is missing model.safetensors (edgetune reads safetensors weights, not pytorch_model.bin)")
        })?;
        out.check()
    }

    /// Which family these files hold: `config.json`'s `model_type` (or `architectures`) says,
    /// else (a bare upstream weights file) the tensor names do.
    pub fn family(&self) -> Result<&'static Family> {
        let Some(config) = self.config_json()? else {
            // A bare upstream state dict (torchvision's): its tensor names say the family.
            let bare = |f: &&Family| !f.bare.is_empty() && f.bare.iter().all(|name| header_has(&self.weights, name));
            return FAMILIES.iter().find(bare).ok_or_else(|| Error::model(&self.source, "the model directory is missing config.json"));
        };
        family_of_config(&config)
    }

    /// Which kind of model these files hold.
    pub fn kind(&self) -> Result<ModelKind> {
        Ok(self.family()?.kind)
    }

    /// The input an image model's files expect (without loading the model).
    pub fn image_input(&self) -> Result<ImageInput> {
        match self.family()?.preprocessing {
            Some(f) => f(self),
            None => Err(Error::model(&self.source, "this is a text model: it reads texts, not images")),
        }
    }

    /// The PEFT adapter among these files, parsed.
    pub fn adapter(&self) -> Result<Option<Adapter>> {
        match (&self.adapter_config, &self.adapter_weights) {
            (Some(c), Some(w)) => Ok(Some(Adapter::parse(c, w.clone(), &self.source)?)),
            (Some(_), None) => Err(Error::model(&self.source, "adapter_config.json without adapter_model.safetensors")),
            _ => Ok(None),
        }
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

/// A family edgetune fine-tunes: how a `config.json` names it and how it loads. Adding a family
/// is a folder under `text/` or `image/` and one entry in [`FAMILIES`] (see `README.md`).
pub struct Family {
    /// `model_type` values of its `config.json`.
    pub model_types: &'static [&'static str],
    /// Prefixes of its `architectures` entries, for configs without `model_type`.
    pub architectures: &'static [&'static str],
    pub kind: ModelKind,
    pub load: fn(&ModelFiles, Option<&HeadSpec>, &Device) -> Result<Classifier>,
    /// An image family's input settings, read without loading the model.
    pub preprocessing: Option<fn(&ModelFiles) -> Result<ImageInput>>,
    /// Tensor names that mark a bare upstream weights file of this family (no `config.json`).
    pub bare: &'static [&'static str],
}


/// Every family, the first text one being the default for a config without `model_type`.
pub static FAMILIES: [Family; 8] = [
    Family { model_types: &["bert"], architectures: &["Bert"], kind: ModelKind::Text, load: text::bert::load, preprocessing: None, bare: &[] },
    Family { model_types: &["roberta"], architectures: &["Roberta"], kind: ModelKind::Text, load: text::roberta::load, preprocessing: None, bare: &[] },
    Family { model_types: &["xlm-roberta"], architectures: &["XLMRoberta"], kind: ModelKind::Text, load: text::roberta::load_xlmr, preprocessing: None, bare: &[] },
    Family { model_types: &["distilbert"], architectures: &["DistilBert"], kind: ModelKind::Text, load: text::distilbert::load, preprocessing: None, bare: &[] },
    Family { model_types: &["mpnet"], architectures: &["MPNet"], kind: ModelKind::Text, load: text::mpnet::load, preprocessing: None, bare: &[] },
    Family {
        model_types: &["resnet", "resnet-cifar"],
        architectures: &["ResNet"],
        kind: ModelKind::Image,
        load: image::resnet::load,
        preprocessing: Some(image::resnet::preprocessing),
        bare: &["conv1.weight"],
    },
    Family {
        model_types: &["mobilenet_v2"],
        architectures: &["MobileNetV2"],
        kind: ModelKind::Image,
        load: image::mobilenet::load,
        preprocessing: Some(image::mobilenet::preprocessing),
        bare: &["features.0.0.weight", "features.1.conv.0.0.weight"],
    },
    Family { model_types: &["vit"], architectures: &["ViT"], kind: ModelKind::Image, load: image::vit::load, preprocessing: Some(image::vit::preprocessing), bare: &[] },
];

/// The family a `config.json` names: its `model_type`, else its `architectures` (an old BERT
/// config has neither).
pub fn family_of_config(config: &Value) -> Result<&'static Family> {
    let file = "config.json";
    let known = || {
        let of = |kind| FAMILIES.iter().filter(|f| f.kind == kind).flat_map(|f| f.model_types.iter().copied()).collect::<Vec<_>>().join(", ");
        format!("text: {}; images: {}", of(ModelKind::Text), of(ModelKind::Image))
    };
    if let Some(t) = config.get("model_type").and_then(Value::as_str) {
        return family_of(t).ok_or_else(|| Error::model(file, format!("model_type is '{t}', a family edgetune does not fine-tune (it knows {})", known())));
    }
    let architectures: Vec<&str> = config.get("architectures").and_then(Value::as_array).map_or(Vec::new(), |a| a.iter().filter_map(Value::as_str).collect());
    match architectures.first() {
        None => Ok(&FAMILIES[0]),
        Some(a) => FAMILIES.iter().find(|f| f.architectures.iter().any(|p| a.starts_with(p))).ok_or_else(|| {
            Error::model(file, format!("no model_type, and architectures names '{a}', a family edgetune does not fine-tune (it knows {})", known()))
        }),
    }
}

/// The family whose `config.json` says `model_type`.
fn family_of(model_type: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.model_types.contains(&model_type))
}

/// Loads a model of whichever family the files hold. With `spec`, the head is the one the spec
/// asks for (kept from the checkpoint when it matches, else freshly initialised); without, the
/// checkpoint must hold a trained head.
pub fn load_any(files: ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    (files.family()?.load)(&files, spec, device)
}

/// Loads a model from a local directory.
pub fn load_dir(dir: &Path, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    load_any(ModelFiles::from_dir(dir)?, spec, device)
}

/// Whether a safetensors file's header names tensor `name` (without decoding anything).
pub(crate) fn header_has(weights: &[u8], name: &str) -> bool {
    let Some(len) = weights.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize) else { return false };
    let quoted = format!("\"{name}\"");
    weights.get(8..8usize.saturating_add(len)).is_some_and(|h| h.windows(quoted.len()).any(|w| w == quoted.as_bytes()))
}
