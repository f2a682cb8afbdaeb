//! A generative model's files — one GGUF file, or a Hugging Face directory (`config.json`,
//! `model.safetensors`, `tokenizer.json`, `tokenizer_config.json` with its `chat_template` or a
//! `chat_template.jinja`, `generation_config.json`) — read into a [`LanguageModel`]. The family
//! table below is the one place that maps an architecture to its loader.

use super::{Decoder, LanguageModel};
use crate::chat::ChatTemplate;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::gguf::{self, Gguf};
use crate::model::params::ParamStore;
use crate::weights::SafeTensors;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// A decoder family: the `model_type`s (and GGUF `general.architecture`s) it reads.
struct Family {
    names: &'static [&'static str],
    from_hf: fn(&Value, &SafeTensors, &Device) -> Result<(Box<dyn Decoder>, ParamStore)>,
    from_gguf: fn(&Gguf, &str, &Device) -> Result<(Box<dyn Decoder>, ParamStore)>,
}

const FAMILIES: &[Family] = &[Family { names: &["llama", "qwen2"], from_hf: super::llama::load::from_hf, from_gguf: super::llama::load::from_gguf }];

fn family(name: &str, source: &str) -> Result<&'static Family> {
    FAMILIES.iter().find(|f| f.names.contains(&name)).ok_or_else(|| {
        let known: Vec<&str> = FAMILIES.iter().flat_map(|f| f.names.iter().copied()).collect();
        Error::model(source, format!("architecture '{name}' is not supported for generation (edgetune has {})", known.join(", ")))
    })
}

/// A generative model's files, as bytes (the page has no filesystem).
pub enum LmFiles {
    Gguf { source: String, bytes: Arc<Vec<u8>> },
    Hf { source: String, files: Vec<(String, Vec<u8>)> },
}

impl LmFiles {
    /// A `.gguf` file, a directory holding one, or a Hugging Face directory.
    pub fn from_path(path: &Path) -> Result<Self> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| Error::io(p, e));
        if path.is_file() {
            return Ok(LmFiles::Gguf { source: path.display().to_string(), bytes: Arc::new(read(path)?) });
        }
        if !path.is_dir() {
            return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such model file or directory")));
        }
        if path.join("config.json").exists() {
            let mut files = Vec::new();
            for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja"] {
                let p = path.join(name);
                if p.exists() {
                    files.push((name.to_string(), read(&p)?));
                }
            }
            return Ok(LmFiles::Hf { source: path.display().to_string(), files });
        }
        let ggufs: Vec<_> =
            std::fs::read_dir(path).map_err(|e| Error::io(path, e))?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "gguf")).collect();
        match ggufs.as_slice() {
            [one] => LmFiles::from_path(one),
            [] => Err(Error::model(path.display().to_string(), "holds neither a config.json (a Hugging Face model) nor a .gguf file")),
            _ => Err(Error::model(path.display().to_string(), format!("holds {} .gguf files: name the one to use", ggufs.len()))),
        }
    }
}

/// Reads a model from a path (see [`LmFiles::from_path`]) onto `device`.
pub fn load_lm(path: &Path, device: &Device) -> Result<LanguageModel> {
    load_files(LmFiles::from_path(path)?, device)
}

/// Reads a model from its files onto `device`.
pub fn load_files(files: LmFiles, device: &Device) -> Result<LanguageModel> {
    match files {
        LmFiles::Gguf { source, bytes } => from_gguf(Gguf::parse(bytes, &source)?, device),
        LmFiles::Hf { source, files } => from_hf(&source, files, device),
    }
}

fn from_gguf(g: Gguf, device: &Device) -> Result<LanguageModel> {
    let arch = g.str("general.architecture")?.to_string();
    let (net, params) = (family(&arch, g.source())?.from_gguf)(&g, &arch, device)?;
    let tokenizer = gguf::tokenizer::tokenizer(&g)?;
    let (bos, eos, _) = gguf::tokenizer::special_ids(&g);
    let token = |id: Option<u32>| id.and_then(|i| tokenizer.id_to_token(i)).unwrap_or_default();
    let template = match g.meta("tokenizer.chat_template").and_then(|v| v.as_str()) {
        Some(t) => Some(Arc::new(ChatTemplate::new(t, &token(bos), &token(eos), g.source())?)),
        None => None,
    };
    let eot = g.uint("tokenizer.ggml.eot_token_id").ok().and_then(|v| u32::try_from(v).ok());
    let stop: Vec<u32> = [eos, eot].into_iter().flatten().collect();
    let add_bos = matches!(g.meta("tokenizer.ggml.add_bos_token"), Some(gguf::Value::Bool(true)));
    Ok(LanguageModel { params, net, tokenizer: Arc::new(tokenizer), template, stop, bos: if add_bos { bos } else { None }, device: device.clone(), source: g.source().to_string(), lora: None })
}

/// A special token as `tokenizer_config.json` writes it: a string or `{"content": ...}`.
fn token_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// `eos_token_id` as a number or a list of them.
fn ids(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).filter_map(|x| u32::try_from(x).ok()).collect(),
        Some(v) => v.as_u64().and_then(|x| u32::try_from(x).ok()).into_iter().collect(),
        None => Vec::new(),
    }
}

fn from_hf(source: &str, mut files: Vec<(String, Vec<u8>)>, device: &Device) -> Result<LanguageModel> {
    // The checkpoint is moved out, not copied: it is most of the bytes.
    let weights = files.iter().position(|(n, _)| n == "model.safetensors").map(|i| files.swap_remove(i).1);
    let get = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_slice());
    let json = |name: &str| -> Result<Option<Value>> {
        get(name).map(|b| serde_json::from_slice(b).map_err(|e| Error::model(format!("{source}/{name}"), format!("is not valid JSON: {e}")))).transpose()
    };
    let config = json("config.json")?.ok_or_else(|| Error::model(source, "has no config.json"))?;
    let weights = weights.ok_or_else(|| {
        Error::model(source, "has no model.safetensors (sharded and .bin checkpoints are not read: save it with safe_serialization and max_shard_size large enough for one file)")
    })?;
    let st = SafeTensors::parse(weights, &format!("{source}/model.safetensors"))?;
    let arch = config.get("model_type").and_then(Value::as_str).unwrap_or("");
    let (net, params) = (family(arch, &format!("{source}/config.json"))?.from_hf)(&config, &st, device)?;
    let tok_bytes = get("tokenizer.json").ok_or_else(|| Error::model(source, "has no tokenizer.json"))?;
    let tokenizer = tokenizers::Tokenizer::from_bytes(tok_bytes).map_err(|e| Error::model(format!("{source}/tokenizer.json"), format!("is not a tokenizer: {e}")))?;
    let tc = json("tokenizer_config.json")?.unwrap_or(Value::Null);
    let (bos, eos) = (token_text(tc.get("bos_token")).unwrap_or_default(), token_text(tc.get("eos_token")).unwrap_or_default());
    let template_text = match get("chat_template.jinja") {
        Some(b) => Some(String::from_utf8_lossy(b).into_owned()),
        None => match tc.get("chat_template") {
            Some(Value::String(s)) => Some(s.clone()),
            // A list of named templates: the "default" one.
            Some(Value::Array(list)) => {
                list.iter().find(|t| t.get("name").and_then(Value::as_str) == Some("default")).and_then(|t| t.get("template")).and_then(Value::as_str).map(str::to_string)
            }
            _ => None,
        },
    };
    let template = match template_text {
        Some(t) => Some(Arc::new(ChatTemplate::new(&t, &bos, &eos, &format!("{source}/tokenizer_config.json"))?)),
        None => None,
    };
    let gen = json("generation_config.json")?.unwrap_or(Value::Null);
    let mut stop = ids(gen.get("eos_token_id"));
    stop.extend(ids(config.get("eos_token_id")));
    stop.extend(tokenizer.token_to_id(&eos));
    stop.sort_unstable();
    stop.dedup();
    Ok(LanguageModel { params, net, tokenizer: Arc::new(tokenizer), template, stop, bos: None, device: device.clone(), source: source.to_string(), lora: None })
}
