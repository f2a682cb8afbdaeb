//! Reading a Llama-architecture model: a Hugging Face checkpoint (names as transformers saves
//! them) or a GGUF file (through [`GgufLlama`], which answers under those names).

use super::config::LlamaConfig;
use super::gguf::GgufLlama;
use super::Llama;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::model::causal::Decoder;
use crate::model::params::ParamStore;
use crate::model::vars::Vars;
use crate::weights::SafeTensors;
use serde_json::Value;

/// From `config.json` and `model.safetensors`.
pub fn from_hf(config: &Value, st: &SafeTensors, device: &Device) -> Result<(Box<dyn Decoder>, ParamStore)> {
    let c = LlamaConfig::from_json(config, "config.json")?;
    let mut params = ParamStore::default();
    let net = Llama::load(Vars::read(st, "", &mut params, device), &c, None)?;
    Ok((Box::new(net), params))
}

/// From a GGUF file of architecture `arch` (`llama`, `qwen2`).
pub fn from_gguf(g: &Gguf, arch: &str, device: &Device) -> Result<(Box<dyn Decoder>, ParamStore)> {
    let c = LlamaConfig::from_gguf(g, arch)?;
    // llama.cpp's Llama 3 files carry the RoPE scaling as per-frequency divisors.
    let factors = match g.info("rope_freqs.weight") {
        Some(_) => Some(g.f32("rope_freqs.weight", &[c.head_dim / 2])?),
        None => None,
    };
    if let Some(bad) = factors.as_ref().and_then(|f| f.iter().find(|&&x| x <= 0.0)) {
        return Err(Error::weights(g.source(), format!("tensor 'rope_freqs.weight' holds {bad}, expected positive factors")));
    }
    let view = GgufLlama { file: g, permuted: arch == "llama", heads: c.num_attention_heads, kv_heads: c.num_key_value_heads };
    let mut params = ParamStore::default();
    let net = Llama::load(Vars::read(&view, "", &mut params, device), &c, factors.as_deref())?;
    Ok((Box::new(net), params))
}
