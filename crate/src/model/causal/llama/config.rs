//! The sizes of a Llama-architecture decoder, from a Hugging Face `config.json` (`LlamaConfig`,
//! `Qwen2Config`) or from a GGUF file's metadata (`{arch}.block_count`, ...), checked, with
//! errors that name the field.

use crate::error::{Error, Result};
use crate::gguf::Gguf;
use serde_json::{Map, Value};

/// Llama 3's frequency-dependent RoPE scaling (`rope_type: "llama3"`).
#[derive(Clone, Debug, PartialEq)]
pub struct Llama3Scaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_positions: f64,
}

/// How RoPE's frequencies are adjusted for long contexts.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor` (`rope_type: "linear"`).
    Linear(f64),
    Llama3(Llama3Scaling),
}

#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    /// `llama` or `qwen2` (Hugging Face's `model_type`).
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub max_position_embeddings: usize,
    /// The output layer is the token embedding (no `lm_head.weight`).
    pub tie_word_embeddings: bool,
    /// q/k/v projections have a bias (Qwen2 always; Llama with `attention_bias`).
    pub qkv_bias: bool,
    /// The `config.json` as read (written back on export), or one made from GGUF metadata.
    pub raw: Map<String, Value>,
}

impl LlamaConfig {
    /// From `config.json` (`source` names it in errors).
    pub fn from_json(raw: &Value, source: &str) -> Result<Self> {
        let err = |m: String| Error::model(source, m);
        let map = raw.as_object().ok_or_else(|| err("config.json is not a JSON object".into()))?.clone();
        let uint = |k: &str| -> Result<Option<usize>> {
            match map.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().filter(|&n| n > 0).map(|n| Some(n as usize)).ok_or_else(|| err(format!("'{k}' is {v}, expected a positive integer"))),
            }
        };
        let need = |k: &str| uint(k)?.ok_or_else(|| err(format!("'{k}' is missing")));
        let num = |m: &Map<String, Value>, k: &str| -> Result<Option<f64>> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_f64().filter(|x| x.is_finite() && *x > 0.0).map(Some).ok_or_else(|| err(format!("'{k}' is {v}, expected a positive number"))),
            }
        };
        let model_type = map.get("model_type").and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(act) = map.get("hidden_act").and_then(Value::as_str).filter(|a| *a != "silu") {
            return Err(err(format!("'hidden_act' is '{act}': the Llama architecture uses 'silu'")));
        }
        if map.get("use_sliding_window").and_then(Value::as_bool) == Some(true) {
            return Err(err("'use_sliding_window' is true: sliding-window attention is not supported".into()));
        }
        let (hidden, heads) = (need("hidden_size")?, need("num_attention_heads")?);
        // transformers 5 keeps theta and scaling in `rope_parameters`; 4.x at the top level.
        let rope = map.get("rope_parameters").or(map.get("rope_scaling")).and_then(Value::as_object).cloned().unwrap_or_default();
        let rope_theta = num(&rope, "rope_theta")?.or(num(&map, "rope_theta")?).unwrap_or(10000.0);
        let kind = rope.get("rope_type").or(rope.get("type")).and_then(Value::as_str).unwrap_or("default");
        let rope_scaling = match kind {
            "default" => RopeScaling::None,
            "linear" => RopeScaling::Linear(num(&rope, "factor")?.ok_or_else(|| err("linear RoPE scaling without 'factor'".into()))?),
            "llama3" => {
                let f = |k: &str| num(&rope, k)?.ok_or_else(|| err(format!("llama3 RoPE scaling without '{k}'")));
                RopeScaling::Llama3(Llama3Scaling {
                    factor: f("factor")?,
                    low_freq_factor: f("low_freq_factor")?,
                    high_freq_factor: f("high_freq_factor")?,
                    original_max_positions: f("original_max_position_embeddings")?,
                })
            }
            other => return Err(err(format!("RoPE scaling '{other}' is not supported (edgetune has default, linear and llama3)"))),
        };
        let head_dim = uint("head_dim")?.unwrap_or(hidden / heads);
        let c = LlamaConfig {
            qkv_bias: model_type == "qwen2" || map.get("attention_bias").and_then(Value::as_bool).unwrap_or(false),
            model_type,
            vocab_size: need("vocab_size")?,
            hidden_size: hidden,
            intermediate_size: need("intermediate_size")?,
            num_hidden_layers: need("num_hidden_layers")?,
            num_attention_heads: heads,
            num_key_value_heads: uint("num_key_value_heads")?.unwrap_or(heads),
            head_dim,
            rms_norm_eps: num(&map, "rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            max_position_embeddings: uint("max_position_embeddings")?.unwrap_or(2048),
            tie_word_embeddings: map.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(false),
            raw: map,
        };
        c.check(source)
    }

    /// From a GGUF file's metadata under its architecture `arch` (`llama`, `qwen2`); tied when
    /// the file has no `output.weight`.
    pub fn from_gguf(g: &Gguf, arch: &str) -> Result<Self> {
        let key = |k: &str| format!("{arch}.{k}");
        let uint = |k: &str| -> Result<usize> { Ok(g.uint(&key(k))? as usize) };
        let hidden = uint("embedding_length")?;
        let heads = uint("attention.head_count")?;
        if heads == 0 {
            return Err(Error::weights(g.source(), format!("metadata '{}' is 0", key("attention.head_count"))));
        }
        let vocab = match g.info("token_embd.weight") {
            Some(t) if t.shape.len() == 2 => t.shape[0],
            _ => return Err(Error::weights(g.source(), "no 2-D tensor 'token_embd.weight' (the token embedding)")),
        };
        let head_dim = if g.meta(&key("attention.key_length")).is_some() { uint("attention.key_length")? } else { hidden / heads };
        let kv_heads = if g.meta(&key("attention.head_count_kv")).is_some() { uint("attention.head_count_kv")? } else { heads };
        let theta = if g.meta(&key("rope.freq_base")).is_some() { g.float(&key("rope.freq_base"))? } else { 10000.0 };
        let rope_scaling = match g.meta(&key("rope.scaling.type")).and_then(|v| v.as_str()) {
            None | Some("none") => RopeScaling::None,
            Some("linear") => RopeScaling::Linear(g.float(&key("rope.scaling.factor"))?),
            Some(other) => return Err(Error::weights(g.source(), format!("metadata '{}' is '{other}': not supported", key("rope.scaling.type")))),
        };
        let tied = g.info("output.weight").is_none();
        let c = LlamaConfig {
            model_type: arch.to_string(),
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: uint("feed_forward_length")?,
            num_hidden_layers: uint("block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            rms_norm_eps: g.float(&key("attention.layer_norm_rms_epsilon"))?,
            rope_theta: theta,
            rope_scaling,
            max_position_embeddings: uint("context_length")?,
            tie_word_embeddings: tied,
            qkv_bias: g.info("blk.0.attn_q.bias").is_some(),
            raw: Map::new(),
        };
        let mut c = c.check(g.source())?;
        c.raw = c.to_json();
        Ok(c)
    }

    fn check(self, source: &str) -> Result<Self> {
        let err = |m: String| Err(Error::model(source, m));
        let c = &self;
        if c.num_hidden_layers > 1024 || c.hidden_size > 1 << 16 || c.vocab_size > 1 << 22 || c.intermediate_size > 1 << 18 {
            return err(format!("sizes out of range (layers {}, hidden {}, vocab {}, MLP {})", c.num_hidden_layers, c.hidden_size, c.vocab_size, c.intermediate_size));
        }
        if c.num_key_value_heads == 0 || c.num_attention_heads % c.num_key_value_heads != 0 {
            return err(format!("{} attention heads are not a multiple of {} key/value heads", c.num_attention_heads, c.num_key_value_heads));
        }
        if c.head_dim == 0 || c.head_dim % 2 != 0 || c.head_dim > 1024 {
            return err(format!("head size {} is not an even number up to 1024 (RoPE rotates pairs)", c.head_dim));
        }
        Ok(self)
    }

    /// The Hugging Face `config.json` of this model (for an export, and a GGUF base's config).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = self.raw.clone();
        let arch = if self.model_type == "qwen2" { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" };
        let mut rope = serde_json::json!({"rope_type": "default", "rope_theta": self.rope_theta});
        match &self.rope_scaling {
            RopeScaling::None => {}
            RopeScaling::Linear(f) => rope = serde_json::json!({"rope_type": "linear", "rope_theta": self.rope_theta, "factor": f}),
            RopeScaling::Llama3(s) => {
                rope = serde_json::json!({"rope_type": "llama3", "rope_theta": self.rope_theta, "factor": s.factor,
                    "low_freq_factor": s.low_freq_factor, "high_freq_factor": s.high_freq_factor,
                    "original_max_position_embeddings": s.original_max_positions})
            }
        }
        for (k, v) in [
            ("architectures", serde_json::json!([arch])),
            ("model_type", Value::from(self.model_type.clone())),
            ("vocab_size", self.vocab_size.into()),
            ("hidden_size", self.hidden_size.into()),
            ("intermediate_size", self.intermediate_size.into()),
            ("num_hidden_layers", self.num_hidden_layers.into()),
            ("num_attention_heads", self.num_attention_heads.into()),
            ("num_key_value_heads", self.num_key_value_heads.into()),
            ("head_dim", self.head_dim.into()),
            ("rms_norm_eps", self.rms_norm_eps.into()),
            ("rope_theta", self.rope_theta.into()),
            ("rope_parameters", rope),
            ("max_position_embeddings", self.max_position_embeddings.into()),
            ("tie_word_embeddings", self.tie_word_embeddings.into()),
            ("hidden_act", "silu".into()),
        ] {
            m.insert(k.into(), v);
        }
        if self.model_type != "qwen2" {
            m.insert("attention_bias".into(), self.qkv_bias.into());
        }
        m
    }
}
