//! `config.json` of a BERT-family encoder (Hugging Face `BertConfig`), parsed and checked.
//!
//! Only the fields the encoder needs are read; unknown fields are kept so an export can write the
//! original file back with the classifier's labels added.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use crate::model::config_fields::Fields;
use crate::model::layers::Activation;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: Activation,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub pad_token_id: usize,
    /// Rows of the relative attention bias table (MPNet's; 32 unless the config says).
    #[serde(default = "default_buckets")]
    pub relative_attention_num_buckets: usize,
    /// The whole original JSON object, written back (with labels) on export.
    #[serde(skip)]
    pub raw: Map<String, Value>,
}

fn default_buckets() -> usize {
    32
}

/// What a family's `config.json` calls the sizes of a BERT-architecture encoder.
#[derive(Debug)]
pub struct FieldNames {
    pub hidden_size: &'static str,
    pub num_hidden_layers: &'static str,
    pub num_attention_heads: &'static str,
    pub intermediate_size: &'static str,
    pub hidden_act: &'static str,
    pub hidden_dropout_prob: &'static str,
    pub attention_probs_dropout_prob: &'static str,
    /// None: the family has no token types.
    pub type_vocab_size: Option<&'static str>,
}

/// `BertConfig`'s names (RoBERTa's and XLM-RoBERTa's too).
pub static BERT_FIELDS: FieldNames = FieldNames {
    hidden_size: "hidden_size",
    num_hidden_layers: "num_hidden_layers",
    num_attention_heads: "num_attention_heads",
    intermediate_size: "intermediate_size",
    hidden_act: "hidden_act",
    hidden_dropout_prob: "hidden_dropout_prob",
    attention_probs_dropout_prob: "attention_probs_dropout_prob",
    type_vocab_size: Some("type_vocab_size"),
};

impl BertConfig {
    /// Parses a BERT `config.json`; `file` names the file in errors.
    pub fn from_json(bytes: &[u8], file: &str) -> Result<Self> {
        Self::from_json_as(bytes, file, &["bert"], &BERT_FIELDS)
    }

    /// Parses `config.json` of an encoder with BERT's architecture whose `model_type` is one of
    /// `model_types` (the first is assumed when it has none), its sizes under the names `f`.
    pub fn from_json_as(bytes: &[u8], file: &str, model_types: &[&str], f: &FieldNames) -> Result<Self> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::model(file, format!("not valid JSON: {e}")))?;
        let Value::Object(raw) = value else {
            return Err(Error::model(file, "expected a JSON object"));
        };
        let model_type = raw.get("model_type").and_then(Value::as_str).unwrap_or(model_types[0]);
        if !model_types.contains(&model_type) {
            let expected = model_types.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(" or ");
            return Err(Error::model(file, format!("model_type is '{model_type}', expected {expected}")));
        }
        let usize_field = |name: &str| -> Result<usize> {
            match raw.get(name) {
                Some(v) => v.as_u64().map(|n| n as usize).ok_or_else(|| {
                    Error::model(file, format!("field '{name}' is {v}, expected a non-negative integer"))
                }),
                None => Err(Error::model(file, format!("missing field '{name}' (a BertModel config needs it)"))),
            }
        };
        let fields = Fields { raw: &raw, file };
        let hidden_act = fields.activation(f.hidden_act)?;
        if let Some(p) = raw.get("position_embedding_type").and_then(Value::as_str) {
            if p != "absolute" {
                return Err(Error::model(file, format!("position_embedding_type '{p}' is not supported (absolute)")));
            }
        }
        let cfg = BertConfig {
            vocab_size: usize_field("vocab_size")?,
            hidden_size: usize_field(f.hidden_size)?,
            num_hidden_layers: usize_field(f.num_hidden_layers)?,
            num_attention_heads: usize_field(f.num_attention_heads)?,
            intermediate_size: usize_field(f.intermediate_size)?,
            max_position_embeddings: usize_field("max_position_embeddings")?,
            type_vocab_size: f.type_vocab_size.map_or(0, |name| raw.get(name).and_then(Value::as_u64).unwrap_or(2) as usize),
            layer_norm_eps: fields.float("layer_norm_eps", 1e-12)?,
            hidden_act,
            hidden_dropout_prob: fields.probability(f.hidden_dropout_prob, 0.1)?,
            attention_probs_dropout_prob: fields.probability(f.attention_probs_dropout_prob, 0.1)?,
            pad_token_id: raw.get("pad_token_id").and_then(Value::as_u64).unwrap_or(0) as usize,
            relative_attention_num_buckets: raw.get("relative_attention_num_buckets").and_then(Value::as_u64).map_or(default_buckets(), |n| n as usize),
            raw: raw.clone(),
        };
        if f.type_vocab_size.is_some() && cfg.type_vocab_size == 0 {
            return Err(Error::model(file, "type_vocab_size must be positive"));
        }
        fields.check_attention(cfg.hidden_size, cfg.num_attention_heads, cfg.num_hidden_layers)?;
        cfg.validate(file)?;
        Ok(cfg)
    }

    fn validate(&self, file: &str) -> Result<()> {
        let bad = |msg: String| Err(Error::model(file, msg));
        if self.vocab_size == 0 || self.max_position_embeddings < 2 {
            return bad("vocab_size and max_position_embeddings must be positive".into());
        }
        if self.relative_attention_num_buckets == 0 || self.relative_attention_num_buckets > 1024 {
            return bad(format!("relative_attention_num_buckets is {}, expected 1 to 1024", self.relative_attention_num_buckets));
        }
        // Guard absurd sizes before anything is allocated from them (a hostile config).
        let emb = self.vocab_size.checked_mul(self.hidden_size);
        if emb.is_none_or(|n| n > 1 << 31) || self.intermediate_size > 1 << 20 || self.num_hidden_layers > 256 {
            return bad("sizes are too large for an on-device model".into());
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
