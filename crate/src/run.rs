//! A whole training run from files: load the model, prepare the data, train, write the run
//! directory — and resume one from its directory alone. The CLI and the tests call this.

use crate::data::DataReport;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::model::{load_any, Classifier, HeadSpec, Input, ModelFiles, ModelKind};
use crate::prepare::{prepare, DataSource, Encoder, Prepared};
use crate::train::checkpoint::{self, find_checkpoint, RunSpec};
use crate::train::fit::fit_trainer;
use crate::train::{fit, Event, FitOutcome, Resume, TrainConfig, Trainer};
use std::path::{Path, PathBuf};

/// What to train.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    /// A local model directory (hub ids are resolved by the caller).
    pub model: PathBuf,
    pub train: DataSource,
    pub valid: Option<DataSource>,
    pub test: Option<DataSource>,
    pub config: TrainConfig,
    /// Where to write the run; None keeps everything in memory.
    pub run_dir: Option<PathBuf>,
}

/// The demo's training settings (`edgetune demo` and the page's "Try the demo"): the image
/// defaults with the reference's 80/20 train/test split, of which a tenth of the whole is held
/// out for validation (best epoch, early stop).
pub fn demo_config() -> TrainConfig {
    TrainConfig { test_split: 0.2, valid_split: 0.1, ..TrainConfig::defaults_for(ModelKind::Image) }
}

/// The head a run's configuration and classes ask for.
pub fn head_spec(cfg: &TrainConfig, data: &Prepared) -> HeadSpec {
    HeadSpec { task: cfg.task, labels: data.labels.clone(), pooling: cfg.pooling, seed: cfg.seed }
}

/// Which kind of model a directory holds (its `config.json`, else its tensor names).
pub fn model_kind(dir: &Path) -> Result<ModelKind> {
    ModelFiles::from_dir(dir)?.kind()
}

/// Calls `f` with the model's encoder: its tokenizer, or its image size and fit (the run's
/// `image_size` and `image_fit` overriding the model's own).
pub fn with_encoder<T>(files: &ModelFiles, cfg: &TrainConfig, f: impl FnOnce(Encoder) -> Result<T>) -> Result<T> {
    match files.kind()? {
        ModelKind::Text => f(Encoder::Text(&files.tokenizer()?)),
        ModelKind::Image => {
            let input = files.image_input()?.for_run(cfg.image_size, cfg.image_fit)?;
            f(Encoder::Image { size: input.size, fit: input.fit() })
        }
    }
}

/// Loads the model in `files` for a run on `data`: the head the run asks for, and the image
/// size and fit it trains with.
pub fn load_for_run(files: ModelFiles, cfg: &TrainConfig, data: &Prepared, device: &Device) -> Result<Classifier> {
    let mut model = load_any(files, Some(&head_spec(cfg, data)), device)?;
    if let Input::Image(i) = &model.input {
        model.input = Input::Image(i.for_run(cfg.image_size, cfg.image_fit)?);
    }
    Ok(model)
}

/// Reads, cleans, splits and encodes a run's data for the model in `files`.
pub fn prepare_for(files: &ModelFiles, req: &TrainRequest) -> Result<Prepared> {
    with_encoder(files, &req.config, |enc| prepare(&req.train, req.valid.as_ref(), req.test.as_ref(), &req.config, enc))
}

/// Loads the model and prepares the data (the data reports are in the result, to show before
/// training starts).
pub fn load_and_prepare(req: &TrainRequest, device: &Device) -> Result<(Classifier, Prepared)> {
    req.config.validate()?;
    let mut files = ModelFiles::from_dir(&req.model)?;
    if let Some(dir) = req.config.lora.as_ref().and_then(|l| l.adapter.as_ref()) {
        // Continue training a PEFT adapter: it goes on the base model as it is loaded.
        files = files.with_adapter_dir(Path::new(dir))?;
    }
    crate::train::setup::check_kind(files.kind()?, &req.config)?;
    let data = prepare_for(&files, req)?;
    let model = load_for_run(files, &req.config, &data, device)?;
    Ok((model, data))
}

/// Starts a run: writes `run.json`, `config.json` and `data_report.json`, then trains.
pub async fn train(
    req: &TrainRequest,
    model: Classifier,
    data: &Prepared,
    on_event: &mut dyn FnMut(&Event),
) -> Result<FitOutcome> {
    // Refused configurations (memory, frozen everything, ...) write nothing.
    let trainer = Trainer::new(model, data, &req.config, None)?;
    if let Some(dir) = &req.run_dir {
        begin_run_dir(dir, &req.model, [Some(&req.train), req.valid.as_ref(), req.test.as_ref()], &req.config, &data.reports)?;
        // The replay sample `personalize` mixes in, for exports of this run's checkpoints.
        if let Some((name, bytes)) = crate::personalize::replay_file(data, &req.config)? {
            crate::fsutil::write_atomic(&dir.join(name), &bytes)?;
        }
    }
    fit_trainer(trainer, data, req.run_dir.clone(), on_event).await
}

/// Starts a run directory: refuses one that already holds a run, then writes `config.json`,
/// `data_report.json` and `run.json` (the base model and the train, validation and test data,
/// so `--resume` needs nothing else; written last: a directory with a `run.json` is a run).
pub fn begin_run_dir(dir: &Path, model: &Path, data: [Option<&DataSource>; 3], config: &TrainConfig, reports: &impl serde::Serialize) -> Result<()> {
    if dir.join("run.json").exists() {
        return Err(Error::config(format!("{} already holds a run: resume it with --resume {0}, or choose another --run-dir", dir.display())));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
    let name = |s: &DataSource| match s {
        DataSource::Path(p) => abs(p),
        other => other.name(),
    };
    let [train, valid, test] = data.map(|d| d.map(name));
    let spec = RunSpec { model: abs(model), train: train.unwrap_or_default(), valid, test, edgetune_version: env!("CARGO_PKG_VERSION").into() };
    checkpoint::write_json(&dir.join("config.json"), config)?;
    checkpoint::write_json(&dir.join("data_report.json"), reports)?;
    checkpoint::write_json(&dir.join("run.json"), &spec)
}

/// What a run directory says it was started with: the model, the train, validation and test
/// data, and the configuration.
pub fn read_run_dir(dir: &Path) -> Result<RunFiles> {
    let spec: RunSpec = checkpoint::read_json(&dir.join("run.json"))?;
    let config: TrainConfig = checkpoint::read_json(&dir.join("config.json"))?;
    let path = |s: &String| DataSource::Path(PathBuf::from(s));
    Ok(RunFiles { model: PathBuf::from(&spec.model), train: path(&spec.train), valid: spec.valid.as_ref().map(path), test: spec.test.as_ref().map(path), config })
}

/// A run directory's model, data and configuration ([`read_run_dir`]).
pub struct RunFiles {
    pub model: PathBuf,
    pub train: DataSource,
    pub valid: Option<DataSource>,
    pub test: Option<DataSource>,
    pub config: TrainConfig,
}

/// Everything needed to continue a run from its directory.
pub fn load_resume(run_dir: &Path, device: &Device) -> Result<(TrainRequest, Classifier, Prepared, Resume)> {
    let RunFiles { model, train, valid, test, config } = read_run_dir(run_dir)?;
    let req = TrainRequest { model, train, valid, test, config, run_dir: Some(run_dir.to_path_buf()) };
    let Some(last) = find_checkpoint(run_dir, "last") else {
        // Interrupted before the first checkpoint: start over from the base model.
        let (model, data) = load_and_prepare(&req, device)?;
        let resume = Resume { state: Default::default(), optimizer: None, best: None };
        return Ok((req, model, data, resume));
    };
    let best = find_checkpoint(run_dir, "best").map(|b| read_dir_files(&b)).transpose()?;
    let (model, data, resume) = resume_from_files(&last.display().to_string(), read_dir_files(&last)?, best, &req, device)?;
    Ok((req, model, data, resume))
}

pub fn read_dir_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_file() {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            files.push((name, std::fs::read(&path).map_err(|e| Error::io(&path, e))?));
        }
    }
    Ok(files)
}

/// A run's model, data and resume point from its `last` (and `best`) checkpoint files — a run
/// directory natively, OPFS in the page. The data is prepared with the checkpoint's encoder
/// and the run's configuration, so splits and batch order are those of the original run.
pub fn resume_from_files(
    source: &str,
    last: Vec<(String, Vec<u8>)>,
    best: Option<Vec<(String, Vec<u8>)>>,
    req: &TrainRequest,
    device: &Device,
) -> Result<(Classifier, Prepared, Resume)> {
    let (state, optimizer) = checkpoint::state_from_files(&last, source)?;
    let files = ModelFiles::from_files(source, last)?;
    let data = prepare_for(&files, req)?;
    let model = load_for_run(files, &req.config, &data, device)?;
    let best = match best {
        Some(b) => Some(load_any(ModelFiles::from_files(&format!("{source} (best)"), b)?, Some(&head_spec(&req.config, &data)), device)?.params().clone()),
        None => None,
    };
    Ok((model, data, Resume { state, optimizer, best }))
}

/// Continues a run where its last checkpoint left it.
pub async fn resume(
    req: &TrainRequest,
    model: Classifier,
    data: &Prepared,
    resume: Resume,
    on_event: &mut dyn FnMut(&Event),
) -> Result<FitOutcome> {
    fit(model, data, &req.config, req.run_dir.clone(), Some(resume), on_event).await
}

/// The reports, as printed before training.
pub fn format_reports(reports: &[DataReport]) -> String {
    reports.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n")
}
