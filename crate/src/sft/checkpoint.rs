//! A generative run's checkpoints: the PEFT adapter (what LoRA trains; the base model is read
//! again from where the run names it) or, for full fine-tuning, the whole model as a Hugging
//! Face directory; `state.json` and, for `last`, `optimizer.safetensors` — written to a run
//! directory with the classifiers' atomic swap (`train::checkpoint::save`), or kept as files in
//! the page's OPFS.

use super::trainer::SftResume;
use crate::error::{Error, Result};
use crate::model::causal::load::load_files;
use crate::model::causal::{LanguageModel, LmFiles};
use crate::model::peft::Adapter;
use crate::train::checkpoint::state_from_files;
use crate::train::optim::Optimizer;
use crate::train::RunState;
use crate::weights::to_bytes;
use std::collections::BTreeMap;

/// The checkpoint's files: the adapter, with `opt` its optimiser state, and the run state.
pub async fn files(lm: &LanguageModel, opt: Option<&Optimizer>, state: &RunState) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = if lm.lora.is_some() { lm.adapter_files().await? } else { lm.export_files().await? };
    if let Some(opt) = opt {
        let tensors = opt.state(&lm.params).await?;
        let meta = BTreeMap::from([("step".to_string(), opt.step.to_string())]);
        files.push(("optimizer.safetensors".into(), to_bytes(&tensors, &meta)));
    }
    let state = serde_json::to_vec_pretty(state).map_err(|e| Error::config(e.to_string()))?;
    files.push(("state.json".into(), state));
    Ok(files)
}

/// The adapter in a checkpoint's (or an export's) files.
pub fn adapter_from_files(files: &[(String, Vec<u8>)], source: &str) -> Result<Adapter> {
    let find = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone()).ok_or_else(|| Error::model(source, format!("has no {name}")));
    Adapter::parse(&find("adapter_config.json")?, find("adapter_model.safetensors")?, source)
}

/// Whether a checkpoint's files hold a whole model (full fine-tuning) rather than an adapter.
pub fn is_whole(files: &[(String, Vec<u8>)]) -> bool {
    files.iter().any(|(n, _)| n == "config.json")
}

/// Where the run stands from its `last` checkpoint, whose weights go onto `lm` (its adapter, or
/// for full fine-tuning every weight), with the `best` checkpoint's weights.
pub fn resume_files(lm: &mut LanguageModel, last: Vec<(String, Vec<u8>)>, best: Option<Vec<(String, Vec<u8>)>>, source: &str) -> Result<SftResume> {
    let (state, optimizer) = state_from_files(&last, source)?;
    let best_source = format!("{source} (best)");
    let best = match best {
        Some(b) if is_whole(&b) => Some(Best::Whole(whole_model(lm, b, &best_source)?.params)),
        Some(b) => Some(Best::Adapter(adapter_from_files(&b, &best_source)?)),
        None => None,
    };
    if is_whole(&last) {
        *lm = whole_model(lm, last, source)?;
    } else {
        lm.apply_adapter(&adapter_from_files(&last, source)?)?;
    }
    Ok(SftResume { state, optimizer, best })
}

/// A fully fine-tuned checkpoint read as a model on `lm`'s device.
fn whole_model(lm: &LanguageModel, files: Vec<(String, Vec<u8>)>, source: &str) -> Result<LanguageModel> {
    load_files(LmFiles::Hf { source: source.to_string(), files }, &lm.device)
}

/// The best weights so far, as a checkpoint holds them.
pub enum Best {
    Adapter(Adapter),
    Whole(crate::model::params::ParamStore),
}
