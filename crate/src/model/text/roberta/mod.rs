//! RoBERTa (`RobertaForSequenceClassification`) and XLM-RoBERTa, its multilingual sibling
//! (`XLMRobertaForSequenceClassification`, a SentencePiece Unigram tokenizer): BERT's encoder
//! (see [`super::bert`]) with position ids that count from after the padding id, one token type,
//! `roberta.` keys, and a head on the first token (`<s>`) of dense + tanh (`classifier.dense`)
//! then `classifier.out_proj`. Golden values: `tests/golden/make_family_golden.py`
//! (`tests/families.rs`).

use super::bert::{load_variant, Positions, Variant, BERT_FIELDS, BERT_NAMES};
use crate::model::head::PoolerAct;
use crate::device::Device;
use crate::error::Result;
use crate::model::head::HeadSpec;
use crate::model::load::ModelFiles;
use crate::model::Classifier;

pub static ROBERTA: Variant = Variant {
    family: "roberta",
    name: "RoBERTa",
    prefix: "roberta.",
    positions: Positions::AfterPad,
    classifier: "classifier.out_proj",
    pooler: "classifier.dense",
    pooler_act: PoolerAct::Tanh,
    model_types: &["roberta"],
    fields: &BERT_FIELDS,
    layers: "encoder.layer",
    names: BERT_NAMES,
    tokenizers: &["BPE"],
    architecture: "RobertaForSequenceClassification",
    mean_classes: ("EdgetuneRobertaForSequenceClassification", "EdgetuneRobertaConfig"),
    relative_bias: None,
};

pub static XLM_ROBERTA: Variant = Variant {
    family: "xlm-roberta",
    name: "XLM-RoBERTa",
    model_types: &["xlm-roberta"],
    tokenizers: &["Unigram"],
    architecture: "XLMRobertaForSequenceClassification",
    mean_classes: ("EdgetuneXLMRobertaForSequenceClassification", "EdgetuneXLMRobertaConfig"),
    ..ROBERTA
};

/// Loads a RoBERTa classifier.
pub fn load(files: &ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    load_variant(files, spec, device, &ROBERTA)
}

/// Loads an XLM-RoBERTa classifier.
pub fn load_xlmr(files: &ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    load_variant(files, spec, device, &XLM_ROBERTA)
}
