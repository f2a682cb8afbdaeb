//! DistilBERT (`DistilBertForSequenceClassification`): BERT's encoder (see [`super::bert`]) with
//! six layers' worth of other names (`transformer.layer.{i}.attention.q_lin`, `sa_layer_norm`,
//! `ffn.lin1`, `output_layer_norm`), no token types, `distilbert.` keys, config fields `dim`,
//! `n_layers`, `n_heads`, `hidden_dim`, and a head on the first token of `pre_classifier` + ReLU
//! then `classifier`. Golden values: `tests/golden/make_family_golden.py` (`tests/families.rs`).

use super::bert::{load_variant, FieldNames, Positions, Variant};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::model::head::{HeadSpec, PoolerAct};
use crate::model::load::ModelFiles;
use crate::model::Classifier;

static FIELDS: FieldNames = FieldNames {
    hidden_size: "dim",
    num_hidden_layers: "n_layers",
    num_attention_heads: "n_heads",
    intermediate_size: "hidden_dim",
    hidden_act: "activation",
    hidden_dropout_prob: "dropout",
    attention_probs_dropout_prob: "attention_dropout",
    type_vocab_size: None,
};

pub static DISTILBERT: Variant = Variant {
    family: "distilbert",
    name: "DistilBERT",
    prefix: "distilbert.",
    positions: Positions::FromZero,
    classifier: "classifier",
    pooler: "pre_classifier",
    pooler_act: PoolerAct::Relu,
    model_types: &["distilbert"],
    fields: &FIELDS,
    layers: "transformer.layer",
    names: ["attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"],
    tokenizers: &["WordPiece"],
    architecture: "DistilBertForSequenceClassification",
    mean_classes: ("EdgetuneDistilBertForSequenceClassification", "EdgetuneDistilBertConfig"),
    relative_bias: None,
};

/// Loads a DistilBERT classifier.
pub fn load(files: &ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    if files.config_json()?.is_some_and(|c| c.get("sinusoidal_pos_embds").and_then(serde_json::Value::as_bool) == Some(true)) {
        return Err(Error::model("config.json", "sinusoidal_pos_embds is true: not supported (edgetune reads learned position embeddings)"));
    }
    load_variant(files, spec, device, &DISTILBERT)
}
