//! A whole generative run from files, as `crate::run` is for classifiers: load the model,
//! prepare the data, train with checkpoints, write the run directory — and resume one from its
//! directory alone. The CLI and the tests call this; the page drives [`SftTrainer`] itself.
//!
//! The run directory: `run.json` (the base model and data files), `config.json`,
//! `data_report.json`, `history.jsonl` (one line per epoch), `checkpoints/last/` and
//! `checkpoints/best/` (each a PEFT adapter; `last` adds `optimizer.safetensors` and
//! `state.json`), and `report.json` (validation and test losses, the generation score and
//! every scored answer).

use super::checkpoint::{adapter_from_files, resume_files};
use super::events::SftEvent;
use super::prepare::{prepare_sft, SftData};
use super::trainer::{SftOutcome, SftResume, SftTrainer};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::model::causal::{load_lm, LanguageModel};
use crate::run::{begin_run_dir, read_dir_files, read_run_dir, RunFiles};
use crate::train::checkpoint::{self, find_checkpoint, RunSpec};
use crate::train::driver::Saver;
use std::path::{Path, PathBuf};

/// What to train: a generative run asks what a classifier's does ([`crate::run::TrainRequest`]),
/// its model being a GGUF file, a directory holding one, or a Hugging Face directory.
pub use crate::run::TrainRequest as SftRequest;

/// Whether `path` holds a generative model: a `.gguf` file, a directory with one, or a Hugging
/// Face directory whose `config.json` names a causal LM (`...ForCausalLM`).
pub fn is_generative(path: &Path) -> bool {
    if path.is_file() {
        return path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    }
    let config = path.join("config.json");
    if config.exists() {
        let Ok(v) = std::fs::read(&config).map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap_or_default()) else { return false };
        let archs = v.get("architectures").and_then(|a| a.as_array()).cloned().unwrap_or_default();
        return archs.iter().filter_map(|a| a.as_str()).any(|a| a.ends_with("ForCausalLM"));
    }
    // A directory holding one GGUF file (listed, not read).
    let ggufs = std::fs::read_dir(path).map(|d| d.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "gguf")).count());
    ggufs.is_ok_and(|n| n == 1)
}

/// Whether `path` is the run directory of a generative run.
pub fn is_generative_run(path: &Path) -> bool {
    checkpoint::read_json::<RunSpec>(&path.join("run.json")).is_ok_and(|s| is_generative(Path::new(&s.model)))
}

/// Reads a PEFT adapter directory (`adapter_config.json`, `adapter_model.safetensors`).
pub fn read_adapter(dir: &Path) -> Result<crate::model::peft::Adapter> {
    adapter_from_files(&read_dir_files(dir)?, &dir.display().to_string())
}

/// Loads the base model (with the adapter `lora.adapter` names, to continue training it) and
/// prepares the data. The data reports are in the result, to show before training starts.
pub fn load_and_prepare(req: &SftRequest, device: &Device) -> Result<(LanguageModel, SftData)> {
    super::config::check_sft(&req.config)?;
    let mut lm = load_lm(&req.model, device)?;
    if let Some(dir) = req.config.lora.as_ref().and_then(|l| l.adapter.as_ref()) {
        lm.apply_adapter(&read_adapter(Path::new(dir))?)?;
    }
    let data = prepare_sft(&lm, &req.train, req.valid.as_ref(), req.test.as_ref(), &req.config)?;
    Ok((lm, data))
}

/// Starts a run: writes `run.json`, `config.json` and `data_report.json`, then trains.
pub async fn train(req: &SftRequest, lm: LanguageModel, data: &SftData, on_event: &mut dyn FnMut(&SftEvent)) -> Result<SftOutcome> {
    // Refused settings write nothing.
    let trainer = SftTrainer::new(lm, data, &req.config, None)?;
    if let Some(dir) = &req.run_dir {
        begin_run_dir(dir, &req.model, [Some(&req.train), req.valid.as_ref(), req.test.as_ref()], &trainer.cfg, &data.reports)?;
    }
    fit(trainer, data, req.run_dir.clone(), on_event).await
}

/// Everything needed to continue a run from its directory: the base model with the `last`
/// adapter on it, the same data splits, and where training stands.
pub fn load_resume(run_dir: &Path, device: &Device) -> Result<(SftRequest, LanguageModel, SftData, SftResume)> {
    let RunFiles { model, train, valid, test, config } = read_run_dir(run_dir)?;
    let req = SftRequest { model, train, valid, test, config, run_dir: Some(run_dir.to_path_buf()) };
    let mut lm = load_lm(&req.model, device)?;
    let resume = match find_checkpoint(run_dir, "last") {
        Some(last) => {
            let best = find_checkpoint(run_dir, "best").map(|b| read_dir_files(&b)).transpose()?;
            resume_files(&mut lm, read_dir_files(&last)?, best, &last.display().to_string())?
        }
        // Interrupted before the first checkpoint: start over from the base model.
        None => SftResume { state: Default::default(), optimizer: None, best: None },
    };
    let data = prepare_sft(&lm, &req.train, req.valid.as_ref(), req.test.as_ref(), &req.config)?;
    Ok((req, lm, data, resume))
}

/// Continues a run where its last checkpoint left it.
pub async fn resume(req: &SftRequest, lm: LanguageModel, data: &SftData, resume: SftResume, on_event: &mut dyn FnMut(&SftEvent)) -> Result<SftOutcome> {
    fit(SftTrainer::new(lm, data, &req.config, Some(resume))?, data, req.run_dir.clone(), on_event).await
}

/// The native loop over [`SftTrainer`]: steps, checkpoints as [`Saver`] decides (the
/// classifiers' rule), the history, and at the end the report.
async fn fit(mut t: SftTrainer, data: &SftData, run_dir: Option<PathBuf>, on_event: &mut dyn FnMut(&SftEvent)) -> Result<SftOutcome> {
    if let Some(dir) = &run_dir {
        t.keep_hint = format!("; the last good checkpoint is kept in {}", checkpoint::checkpoint_dir(dir, "last").display());
    }
    on_event(&t.start_event(data, run_dir.clone()));
    let mut saver = Saver::default();
    while !t.is_finished() {
        let p = t.step(data).await?;
        if let Some(step) = &p.step {
            on_event(step);
        }
        let end = p.epoch.as_ref().map(|_| p.improved);
        let saves = saver.due_after(false, t.is_finished(), t.cfg.checkpoint_every, t.state.global_step, p.step.is_some(), end);
        if let Some(dir) = &run_dir {
            if saves.best {
                checkpoint::save(dir, "best", t.best_files().await?)?;
            }
            if saves.last {
                checkpoint::save(dir, "last", t.checkpoint_files(true).await?)?;
            }
            if let Some(e) = &p.epoch {
                checkpoint::append_history(dir, e)?;
            }
        }
        if let Some(e) = &p.epoch {
            on_event(e);
        }
    }
    let outcome = t.finish(data, on_event).await?;
    let done = SftEvent::Done {
        run_dir: run_dir.clone(),
        best_epoch: outcome.state.best_epoch,
        stopped_early: outcome.stopped_early,
        valid: outcome.valid,
        test_loss: outcome.test_loss,
        test: outcome.test.clone(),
        train_s: outcome.train_s,
    };
    if let Some(dir) = &run_dir {
        checkpoint::write_json(&dir.join("report.json"), &done)?;
    }
    on_event(&done);
    Ok(outcome)
}

/// A generative model ready to answer: `path` itself (a base model, with the PEFT `adapter` on
/// it when one is given), or for a run directory its base model with its best adapter.
pub fn load_trained(path: &Path, adapter: Option<&Path>, device: &Device) -> Result<LanguageModel> {
    let (base, run_adapter) = if path.join("run.json").exists() {
        let spec: RunSpec = checkpoint::read_json(&path.join("run.json"))?;
        let best = find_checkpoint(path, "best")
            .or_else(|| find_checkpoint(path, "last"))
            .ok_or_else(|| Error::model(path.display().to_string(), "is a run directory without a checkpoint yet"))?;
        if best.join("config.json").exists() {
            // Fully fine-tuned: the checkpoint is the whole model.
            (best, None)
        } else {
            (PathBuf::from(spec.model), Some(best))
        }
    } else {
        (path.to_path_buf(), None)
    };
    let mut lm = load_lm(&base, device)?;
    if let Some(dir) = adapter.map(Path::to_path_buf).or(run_adapter) {
        lm.apply_adapter(&read_adapter(&dir)?)?;
    }
    Ok(lm)
}
