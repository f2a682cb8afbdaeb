//! config.json of a model (crate/src/model/config.rs and the kind detection in load.rs).
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::model::{BertConfig, ModelFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = BertConfig::from_json(data, "config.json");
    let files = ModelFiles {
        source: "fuzz".into(),
        config: Some(data.to_vec()),
        weights: Vec::new(),
        ..Default::default()
    };
    let _ = files.kind();
    let _ = files.config_json();
});
