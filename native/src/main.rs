//! `edgetune`: the native runner. Parses flags, shows progress, and calls the core; everything
//! else lives in the `edgetune` crate.

mod args;
mod bench;
mod bench_sft;
mod demo;
mod generate;
mod personalize;
mod progress;
mod serve;
mod sft;

use anyhow::{bail, Context, Result};
use args::{Cli, Command, EvalArgs, ExportArgs, PredictArgs, TrainArgs};
use clap::Parser;
use edgetune::device::{self, block_on, Backend, Device};
use edgetune::model::{load_any, Classifier, ModelFiles, ModelKind};
use edgetune::prepare::{prepare_eval, DataSource, Encoder};
use edgetune::run::{self, TrainRequest};
use edgetune::train::{evaluate, TrainConfig};
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    device::tune_host_allocator();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a),
        Command::Predict(a) => predict(a),
        Command::Export(a) => export(a),
        Command::Bench(a) => bench::bench(a),
        Command::Demo(a) => demo::demo(a),
        Command::PreviewAugment(a) => demo::preview_augment(a),
        Command::Personalize(a) => personalize::personalize(a),
        Command::Serve(a) => serve::serve(a),
        Command::Generate(a) => generate::generate_cmd(a),
        Command::Chat(a) => generate::chat_cmd(a),
    }
}

/// A local directory for `spec`: itself, or a Hugging Face Hub download (`hf:org/name`).
pub(crate) fn resolve_model(spec: &str) -> Result<PathBuf> {
    if spec.starts_with("hf:") {
        return Ok(edgetune::hub::resolve(spec)?);
    }
    Ok(PathBuf::from(spec))
}

pub(crate) fn init_device(backend: Backend) -> Result<Device> {
    Ok(block_on(device::init(backend))?)
}

fn train(a: TrainArgs) -> Result<()> {
    if let Some(dir) = &a.resume {
        if edgetune::sft::run::is_generative_run(dir) {
            return sft::resume(&a, dir);
        }
        let device = init_device(a.device.unwrap_or_default())?;
        let (req, model, data, resume) = run::load_resume(dir, &device)?;
        if !a.json {
            eprintln!("resuming {} at step {}", dir.display(), resume.state.global_step);
        }
        let mut progress = progress::Progress::new(a.json);
        let outcome = block_on(run::resume(&req, model, &data, resume, &mut |e| progress.event(e)))?;
        progress.finish(&outcome);
        return export_model(a.export.as_deref(), &outcome.model, a.json, a.merge, edgetune::personalize::replay_file(&data, &req.config)?);
    }
    let model_dir = resolve_model(&a.model)?;
    if edgetune::sft::is_generative(&model_dir) {
        let Some(data) = &a.data else {
            bail!("--data FILE is required: JSONL conversations ({{\"messages\": [...]}}), {{\"prompt\", \"completion\"}} or {{\"text\"}} lines, or a CSV/TSV with prompt,completion or text,label columns")
        };
        return sft::train(&a, model_dir, data);
    }
    let kind = run::model_kind(&model_dir)?;
    let Some(data) = &a.data else {
        bail!(match kind {
            ModelKind::Text => "--data FILE is required (a CSV, TSV or JSONL file with a text and a label column)",
            ModelKind::Image => "--data is required (a folder with one sub-folder of images per class, a zip of one, or a CSV of image paths and labels)",
        })
    };
    // --head-only takes the fast path, whose head trains on cached vectors: its own defaults
    // (also when `head_only = true` comes from the config file).
    let base = |head_only: bool| if head_only { TrainConfig::head_only_defaults_for(kind) } else { TrainConfig::defaults_for(kind) };
    let mut cfg = match &a.config {
        Some(p) => match TrainConfig::from_file_over(p, &base(a.head_only))? {
            c if c.head_only && !a.head_only => TrainConfig::from_file_over(p, &base(true))?,
            c => c,
        },
        None => base(a.head_only),
    };
    a.apply(&mut cfg)?;
    let run_dir = a.run_dir.clone().unwrap_or_else(|| default_run_dir("run"));
    let req = TrainRequest {
        model: model_dir,
        train: DataSource::Path(data.clone()),
        valid: a.valid.clone().map(DataSource::Path),
        test: a.test.clone().map(DataSource::Path),
        config: cfg,
        run_dir: Some(run_dir),
    };
    let device = init_device(req.config.device)?;
    train_request(&req, &device, a.json, a.export.as_deref(), a.merge)
}

/// Loads, shows the data report, trains with progress output, and exports if asked.
pub(crate) fn train_request(req: &TrainRequest, device: &Device, json: bool, export: Option<&Path>, merge: bool) -> Result<()> {
    let (model, data) = run::load_and_prepare(req, device)?;
    if !json {
        eprintln!("{}", run::format_reports(&data.reports));
    }
    let mut progress = progress::Progress::new(json);
    let outcome = block_on(run::train(req, model, &data, &mut |e| progress.event(e)))?;
    progress.finish(&outcome);
    export_model(export, &outcome.model, json, merge, edgetune::personalize::replay_file(&data, &req.config)?)
}

/// Exports `model` to `out` if asked, with the replay sample `personalize` mixes in.
fn export_model(out: Option<&Path>, model: &Classifier, json: bool, merge: bool, replay: Option<(String, Vec<u8>)>) -> Result<()> {
    if let Some(out) = out {
        block_on(edgetune::export::export_dir(model, out, merge, replay))?;
        if !json {
            eprintln!("exported to {}", out.display());
        }
    }
    Ok(())
}

/// `runs/KIND-TIMESTAMP`: where a run goes when no --run-dir is given.
pub(crate) fn default_run_dir(kind: &str) -> PathBuf {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    PathBuf::from("runs").join(format!("{kind}-{secs}"))
}

/// A model directory: a run directory means its best checkpoint.
pub(crate) fn model_path(p: &Path) -> Result<PathBuf> {
    let spec = p.to_string_lossy();
    let dir = resolve_model(&spec)?;
    if dir.join("run.json").exists() {
        return edgetune::train::checkpoint::find_checkpoint(&dir, "best")
            .with_context(|| format!("{} has no best checkpoint yet", dir.display()));
    }
    Ok(dir)
}

fn eval(a: EvalArgs) -> Result<()> {
    let device = init_device(a.device.unwrap_or_default())?;
    let model = load_any(ModelFiles::from_dir(&model_path(&a.model)?)?, None, &device)?;
    let cfg = TrainConfig {
        text_column: a.text_column.clone(),
        label_column: a.label_column.clone(),
        max_length: a.max_length,
        task: model.task(),
        label_sep: a.label_sep,
        valid_split: 0.0,
        test_split: 0.0,
        ..TrainConfig::default()
    };
    let source = DataSource::Path(a.data.clone());
    let (split, report) = prepare_eval(&source, &cfg, Encoder::for_model(&model, None), model.labels())?;
    if !a.json {
        eprintln!("{report}");
    }
    let report = block_on(evaluate(&model, &split, a.batch_size))?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

fn predict(a: PredictArgs) -> Result<()> {
    let device = init_device(a.device.unwrap_or_default())?;
    let model = load_any(ModelFiles::from_dir(&model_path(&a.model)?)?, None, &device)?;
    let mut texts = a.texts.clone();
    if let Some(f) = &a.file {
        let body = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        texts.extend(body.lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
    }
    if texts.is_empty() {
        if std::io::stdin().is_terminal() {
            bail!("nothing to predict: pass texts (or image paths) as arguments, with --file FILE (one per line), or on standard input");
        }
        for line in std::io::stdin().lock().lines() {
            let line = line.context("reading standard input")?;
            if !line.trim().is_empty() {
                texts.push(line);
            }
        }
    }
    let preds = match model.kind() {
        ModelKind::Text => block_on(edgetune::predict::predict(&model, &texts, a.max_length, a.batch_size))?,
        ModelKind::Image => {
            let files = demo::image_files(&texts)?;
            block_on(edgetune::predict::predict_images(&model, &files, None, a.batch_size))?
        }
    };
    let width = preds.iter().map(|p| p.label.chars().count()).max().unwrap_or(0);
    for p in &preds {
        if a.json {
            println!("{}", serde_json::to_string(p)?);
        } else if let Some(v) = p.value {
            println!("{v:>10.4}  {}", p.text);
        } else if let Some(tags) = &p.tags {
            // Multi-label: every tag at or above the threshold, with its probability.
            let shown: Vec<String> = tags.iter().map(|t| format!("{t} {:.1} %", p.probs.get(t).copied().unwrap_or(0.0) * 100.0)).collect();
            let shown = if shown.is_empty() { format!("(no tag reaches {:.2})", p.threshold.unwrap_or(0.5)) } else { shown.join(", ") };
            println!("{shown}  |  {}", p.text);
        } else {
            let conf = p.probs.get(&p.label).copied().unwrap_or(0.0);
            println!("{:<width$}  {:>6.2} %  {}", p.label, conf * 100.0, p.text);
        }
    }
    Ok(())
}

fn export(a: ExportArgs) -> Result<()> {
    let device = init_device(Backend::Cpu)?;
    let path = resolve_model(&a.model.to_string_lossy())?;
    if edgetune::sft::is_generative(&path) || edgetune::sft::run::is_generative_run(&path) {
        // A generative run (its best adapter on its base) or model.
        let lm = edgetune::sft::run::load_trained(&path, None, &device)?;
        block_on(lm.export_dir(&a.out, a.merge))?;
        eprintln!("{}", sft::exported(&a.out, a.merge || lm.lora.is_none()));
        return Ok(());
    }
    let dir = model_path(&a.model)?;
    let model = load_any(ModelFiles::from_dir(&dir)?, None, &device)?;
    let replay = match edgetune::personalize::replay_in(&dir) {
        Some(p) => Some((p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), edgetune::fsutil::read(&p)?)),
        None => None,
    };
    block_on(edgetune::export::export_dir(&model, &a.out, a.merge, replay))?;
    if model.lora.is_some() && !a.merge {
        eprintln!(
            "exported the LoRA adapter of {} to {} (base model: {}; in Python: PeftModel.from_pretrained(model, dir), or --merge for a full model)",
            a.model.display(),
            a.out.display(),
            model.base_model
        );
    } else {
        eprintln!("exported {} to {} (load it with {})", a.model.display(), a.out.display(), model.body.export_hint(&model.head));
    }
    Ok(())
}
