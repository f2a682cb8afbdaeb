//! Checkpoints and run directories.
//!
//! A run directory holds what a person or `--resume` needs:
//! `run.json` (the model and data it was started with), `config.json` (the training
//! configuration actually used), `data_report.json`, `history.jsonl` (one line per epoch),
//! `checkpoints/last/` and `checkpoints/best/` (each a complete Hugging Face-style model
//! directory; `last` adds `optimizer.safetensors` and `state.json`), and `report.json`.
//! A checkpoint is written to `NAME.tmp/` and swapped in with renames, so a crash leaves either
//! the old checkpoint or the new one (`NAME.old/` is picked up if the crash fell between renames).

use super::optim::Optimizer;
use crate::error::{Error, Result};
use crate::export::checkpoint_model_files;
use crate::fsutil::write_atomic;
use crate::model::Classifier;
use crate::weights::{to_bytes, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where training stands; saved with every `last` checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RunState {
    /// Epoch in progress (0-based).
    pub epoch: usize,
    /// Optimiser steps already taken in that epoch.
    pub step_in_epoch: usize,
    pub global_step: usize,
    pub best_metric: Option<f64>,
    pub best_epoch: Option<usize>,
    /// Epochs since the metric last improved (early stopping).
    pub bad_epochs: usize,
    pub finished: bool,
    /// Batches skipped for NaN or infinity (`on_nan = "skip"`), in the whole run.
    #[serde(default)]
    pub skipped: usize,
}

impl RunState {
    /// Closes the epoch in progress with its validation `value` (None: no validation, which
    /// counts as improving): the best so far is noted, the early-stopping count kept, and the
    /// run marked finished when `total` steps are done or `patience` epochs passed without
    /// improvement (then `stop_early` is set). Returns whether the epoch improved.
    pub fn end_epoch(&mut self, value: Option<f64>, lower_is_better: bool, patience: usize, total: usize, stop_early: &mut bool) -> bool {
        let improved = match (value, self.best_metric) {
            (Some(v), Some(b)) if lower_is_better => v < b,
            (Some(v), Some(b)) => v > b,
            _ => true,
        };
        if improved {
            self.best_metric = value;
            self.best_epoch = Some(self.epoch + 1);
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        self.epoch += 1;
        self.step_in_epoch = 0;
        if patience > 0 && self.bad_epochs >= patience && self.global_step < total {
            *stop_early = true;
        }
        self.finished = *stop_early || self.global_step >= total;
        improved
    }
}

/// What a run was started with, so `--resume RUN_DIR` needs nothing else.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSpec {
    pub model: String,
    pub train: String,
    pub valid: Option<String>,
    pub test: Option<String>,
    pub edgetune_version: String,
}

pub fn checkpoint_dir(run_dir: &Path, name: &str) -> PathBuf {
    run_dir.join("checkpoints").join(name)
}

/// The usable checkpoint directory `name`, falling back to the one a crash left mid-swap.
pub fn find_checkpoint(run_dir: &Path, name: &str) -> Option<PathBuf> {
    // A classifier's checkpoint is a model directory; a generative run's, a PEFT adapter.
    let whole = |d: &Path| d.join("config.json").exists() || d.join("adapter_config.json").exists();
    let dir = checkpoint_dir(run_dir, name);
    if whole(&dir) {
        return Some(dir);
    }
    let old = dir.with_extension("old");
    whole(&old).then_some(old)
}

/// A checkpoint as (file name, bytes): the model as an export, `state.json`, and with `opt` the
/// optimiser state (`optimizer.safetensors`). The page stores these in OPFS; natively [`save`]
/// writes them to a directory.
pub async fn files(model: &Classifier, opt: Option<&Optimizer>, state: &RunState) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = checkpoint_model_files(model).await?;
    if let Some(opt) = opt {
        let tensors = opt.state(model.params()).await?;
        let meta = BTreeMap::from([("step".to_string(), opt.step.to_string())]);
        files.push(("optimizer.safetensors".into(), to_bytes(&tensors, &meta)));
    }
    let state = serde_json::to_vec_pretty(state).map_err(|e| Error::config(e.to_string()))?;
    files.push(("state.json".into(), state));
    Ok(files)
}

/// Writes checkpoint `name` of a run: to `NAME.tmp/` first, then swapped in with renames.
pub fn save(run_dir: &Path, name: &str, files: Vec<(String, Vec<u8>)>) -> Result<()> {
    let dir = checkpoint_dir(run_dir, name);
    let tmp = dir.with_extension("tmp");
    let old = dir.with_extension("old");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    for (file, bytes) in files {
        write_atomic(&tmp.join(file), &bytes)?;
    }
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        std::fs::rename(&dir, &old).map_err(|e| Error::io(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| Error::io(&dir, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(())
}

/// The state and optimiser of a checkpoint held as files (the page's OPFS copy).
pub fn state_from_files(files: &[(String, Vec<u8>)], source: &str) -> Result<(RunState, Option<SafeTensors>)> {
    let find = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| b);
    let state = find("state.json").ok_or_else(|| Error::model(source, "the checkpoint has no state.json"))?;
    let state: RunState = serde_json::from_slice(state).map_err(|e| Error::config(format!("{source}/state.json: {e}")))?;
    let opt = match find("optimizer.safetensors") {
        Some(b) => Some(SafeTensors::parse(b.clone(), &format!("{source}/optimizer.safetensors"))?),
        None => None,
    };
    Ok((state, opt))
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::config(format!("{}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::config(format!("{}: {e}", path.display())))
}

/// Appends one JSON line to `history.jsonl` (and fsyncs: the history survives a crash).
pub fn append_history<T: Serialize>(run_dir: &Path, value: &T) -> Result<()> {
    use std::io::Write;
    let path = run_dir.join("history.jsonl");
    let mut line = serde_json::to_vec(value).map_err(|e| Error::config(e.to_string()))?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
    f.write_all(&line).and_then(|_| f.sync_data()).map_err(|e| Error::io(&path, e))
}
