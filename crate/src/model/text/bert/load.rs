//! Loading a classifier with a BERT-architecture encoder from a Hugging Face directory: the
//! encoder (keys with or without the sequence-classification checkpoint's prefix, `bert.` or
//! `roberta.`: [`Bert::load`] walks the names), the head (see [`load_head`]), the
//! tokenizer, and a PEFT adapter when one is given.

use super::{Bert, BertConfig, Variant, BERT};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::model::head::{load_head, HeadSpec, SavedHead};
use crate::model::input::Input;
use crate::model::load::ModelFiles;
use crate::model::params::ParamStore;
use crate::model::peft::apply as apply_adapter;
use crate::model::text::{check_tokenizer, saved_head};
use crate::model::vars::Vars;
use crate::model::Classifier;
use crate::weights::SafeTensors;

/// Loads a BERT classifier. With `spec`, the head is the one the spec asks for (kept from the
/// checkpoint when it matches, else freshly initialised); without, the checkpoint must hold a
/// trained head.
pub fn load(files: &ModelFiles, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    load_variant(files, spec, device, &BERT)
}

/// Loads a classifier of `variant`.
pub fn load_variant(files: &ModelFiles, spec: Option<&HeadSpec>, device: &Device, variant: &'static Variant) -> Result<Classifier> {
    let raw = files.config.as_deref().ok_or_else(|| Error::model(&files.source, "the model directory is missing config.json"))?;
    let config = BertConfig::from_json_as(raw, "config.json", variant.model_types, variant.fields)?;
    let tokenizer = files.tokenizer()?;
    let file = if files.tokenizer_json.is_some() { "tokenizer.json" } else { "vocab.txt" };
    check_tokenizer(&tokenizer, config.vocab_size, file)?;
    if !variant.tokenizers.contains(&tokenizer.kind()) {
        return Err(Error::model(
            file,
            format!(
                "a {} tokenizer, but {} models read {} token ids: this tokenizer belongs to another model",
                tokenizer.kind(),
                variant.name,
                variant.tokenizers.join(" or ")
            ),
        ));
    }
    let adapter = files.adapter()?;
    let st = SafeTensors::parse(files.weights.clone(), "model.safetensors")?;
    // A sequence-classification checkpoint puts its prefix (`bert.`) before the encoder's names.
    let prefix = if st.names().any(|n| n.starts_with(variant.prefix)) { variant.prefix } else { "" };
    let mut params = ParamStore::default();
    let bert = Bert::load(Vars::read(&st, prefix, &mut params, device), &config, variant)?;

    let (task, labels, pooling, threshold) = saved_head(&config.raw);
    // An adapter saves the head it was trained with (`modules_to_save`): that one wins.
    // The checkpoint's name for a head layer: the pooler of a BERT checkpoint carries the prefix
    // (`bert.pooler.dense`), a classifier does not.
    let key_of = |name: &str| if name == variant.pooler && variant.pooler.starts_with("pooler.") { format!("{prefix}{name}") } else { name.to_string() };
    let find = |name: &str| -> Option<(&SafeTensors, String)> {
        if let Some(a) = &adapter {
            if let Some(key) = a.key_of(name, &format!("{}{name}", variant.prefix)) {
                return Some((&a.weights, key));
            }
        }
        let key = key_of(name);
        st.info(&format!("{key}.weight")).is_some().then_some((&st, key))
    };
    let saved = SavedHead { classifier: variant.classifier, pooler: Some((variant.pooler, variant.pooler_act)), task, labels, pooling, threshold, find: &find };
    let head = load_head(&mut params, saved, spec, config.hidden_size, &files.source, device)?;
    let mut model = Classifier {
        body: Box::new(bert),
        head: head.head,
        params,
        input: Input::Text(tokenizer),
        labels: head.labels,
        task: head.task,
        threshold: head.threshold,
        device: device.clone(),
        lora: None,
        base_model: adapter.as_ref().and_then(|a| a.base_model.clone()).unwrap_or(files.source.clone()),
    };
    if let Some(a) = &adapter {
        apply_adapter(&mut model, a)?;
    }
    Ok(model)
}
