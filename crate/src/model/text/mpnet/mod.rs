//! MPNet (`MPNetForSequenceClassification`, the family of all-mpnet-base-v2): BERT's encoder
//! (see [`super::bert`]) with a relative position bias shared by every layer
//! (`encoder.relative_attention_bias`, T5-style buckets) on top of absolute positions counted
//! from 2 (after padding index 1, as transformers fixes it), no token types, `mpnet.` keys, attention modules named
//! `attention.attn.q/k/v/o`, and RoBERTa's head on the first token (`classifier.dense` + tanh,
//! then `classifier.out_proj`). Golden values: `tests/golden/make_family_golden.py`
//! (`tests/families.rs`).

use super::bert::{load_variant, FieldNames, Positions, Variant, BERT_FIELDS};
use crate::device::Device;
use crate::error::Result;
use crate::model::head::{HeadSpec, PoolerAct};
use crate::model::load::ModelFiles;
use crate::model::Classifier;

static FIELDS: FieldNames = FieldNames { type_vocab_size: None, ..BERT_FIELDS };

pub static MPNET: Variant = Variant {
    family: "mpnet",
    name: "MPNet",
    prefix: "mpnet.",
    // `MPNetEmbeddings` fixes its padding index at 1 (the `<pad>` of MPNet's vocabulary).
    positions: Positions::AfterIndex(1),
    classifier: "classifier.out_proj",
    pooler: "classifier.dense",
    pooler_act: PoolerAct::Tanh,
    model_types: &["mpnet"],
    fields: &FIELDS,
    layers: "encoder.layer",
    names: ["attention.attn.q", "attention.attn.k", "attention.attn.v", "attention.attn.o", "attention.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"],
    tokenizers: &["WordPiece"],
    architecture: "MPNetForSequenceClassification",
    mean_classes: ("EdgetuneMPNetForSequenceClassification", "EdgetuneMPNetConfig"),
    relative_bias: Some("encoder.relative_attention_bias"),
};

/// Loads an MPNet classifier.
pub fn load(files: &ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    load_variant(files, spec, device, &MPNET)
}
