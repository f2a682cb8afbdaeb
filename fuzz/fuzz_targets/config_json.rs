//! config.json of a model (crate/src/model/text/bert/config.rs, as BERT and as DistilBERT names
//! its fields, and the family detection in crate/src/model/load.rs).
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::model::text::bert::{BertConfig, BERT_FIELDS};
use edgetune::model::text::distilbert::DISTILBERT;
use edgetune::model::ModelFiles;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = BertConfig::from_json(data, "config.json");
    let _ = BertConfig::from_json_as(data, "config.json", &["roberta"], &BERT_FIELDS);
    let _ = BertConfig::from_json_as(data, "config.json", DISTILBERT.model_types, DISTILBERT.fields);
    let files = ModelFiles {
        source: "fuzz".into(),
        config: Some(data.to_vec()),
        ..Default::default()
    };
    let _ = files.kind();
    let _ = files.family();
    let _ = files.config_json();
});
