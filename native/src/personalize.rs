//! `edgetune personalize`: continue a fine-tuned model with a few new examples (new classes
//! included), mixing in the replay sample kept with it; accuracy on old and new classes.

use crate::args::parse_backend;
use crate::{init_device, model_path, progress};
use anyhow::Result;
use clap::Args;
use edgetune::device::{block_on, Backend};
use edgetune::model::{load_any, ModelFiles, ModelKind};
use edgetune::personalize::{self, Comparison};
use edgetune::prepare::DataSource;
use edgetune::run;
use edgetune::train::TrainConfig;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PersonalizeArgs {
    /// The fine-tuned model to continue: an export (with its replay sample), or a run directory.
    #[arg(long)]
    pub from: PathBuf,
    /// The new labelled examples, in the formats `train --data` reads; unknown classes are added.
    #[arg(long)]
    pub data: PathBuf,
    /// Labelled test data: accuracy is reported for the old and the new classes separately,
    /// beside the old classes' accuracy before.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Validation data (by default none is held out of the few new examples).
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Mix in at most N examples of the model's replay sample, balanced over classes (default:
    /// the replay size, 1000).
    #[arg(long, conflicts_with = "no_replay")]
    pub replay: Option<usize>,
    /// Train on the new examples alone: the old classes are then likely to be forgotten.
    #[arg(long)]
    pub no_replay: bool,
    /// A replay file to use instead of the one beside the model (JSON Lines with text and label,
    /// or for images a zip of class folders).
    #[arg(long, conflicts_with = "no_replay")]
    pub replay_file: Option<PathBuf>,
    /// How many examples the personalised model's export keeps as its replay sample, and the
    /// default for --replay (1000).
    #[arg(long)]
    pub replay_size: Option<usize>,
    /// Training configuration file (TOML or JSON); flags override its fields.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where to write the run (default runs/personalize-TIMESTAMP); resume it with `train --resume`.
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Export the personalised model (and its new replay sample) to this directory.
    #[arg(long)]
    pub export: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_parser = parse_backend)]
    pub device: Option<Backend>,
    #[arg(long)]
    pub text_column: Option<String>,
    #[arg(long)]
    pub label_column: Option<String>,
    #[arg(long)]
    pub epochs: Option<f64>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub head_lr: Option<f64>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train only the head (the encoder stays as it is).
    #[arg(long)]
    pub head_only: bool,
}

impl PersonalizeArgs {
    fn config(&self, kind: ModelKind) -> Result<TrainConfig> {
        let base = TrainConfig::personalize_defaults(kind, self.head_only);
        let mut cfg = match &self.config {
            Some(p) => TrainConfig::from_file_over(p, &base)?,
            None => base,
        };
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = &self.$field { cfg.$field = v.clone().into(); } )* };
        }
        set!(epochs, lr, batch_size, seed, replay_size);
        if self.head_lr.is_some() {
            cfg.head_lr = self.head_lr;
        }
        if self.text_column.is_some() {
            cfg.text_column = self.text_column.clone();
        }
        if self.label_column.is_some() {
            cfg.label_column = self.label_column.clone();
        }
        if let Some(d) = self.device {
            cfg.device = d;
        }
        cfg.head_only |= self.head_only;
        if cfg.head_only && kind == ModelKind::Image {
            // Each image is embedded once, as it is: augmentation cannot apply.
            cfg.augment = edgetune::vision::Augment::none();
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

pub fn personalize(a: PersonalizeArgs) -> Result<()> {
    let model_dir = model_path(&a.from)?;
    let cfg = a.config(run::model_kind(&model_dir)?)?;
    let files = ModelFiles::from_dir(&model_dir)?;
    let replay = match (&a.replay_file, a.no_replay) {
        (_, true) => None,
        (Some(f), false) => Some(f.clone()),
        (None, false) => {
            let found = personalize::replay_in(&model_dir);
            if found.is_none() && !a.json {
                eprintln!(
                    "warning: {} has no replay sample ({} or {}): training on the new examples alone, old classes may be forgotten",
                    model_dir.display(),
                    personalize::REPLAY_TEXT,
                    personalize::REPLAY_IMAGES
                );
            }
            found
        }
    };
    let replay = replay.map(DataSource::Path);
    let plan = personalize::plan(&files, &DataSource::Path(a.data.clone()), replay.as_ref(), Some(a.replay.unwrap_or(cfg.replay_size)), &cfg)?;
    if !a.json {
        eprintln!("{}", run::format_reports(&plan.reports));
        eprintln!(
            "personalising {} ({} classes) with {} new examples{}, and {} replayed examples of its training data{}",
            a.from.display(),
            plan.old_labels.len(),
            plan.new_examples,
            if plan.new_labels.is_empty() { String::new() } else { format!(" adding {} classes ({})", plan.new_labels.len(), plan.new_labels.join(", ")) },
            plan.replayed,
            if plan.relabelled > 0 { format!(" ({} left out: the new data labels them otherwise)", plan.relabelled) } else { String::new() },
        );
    }
    let run_dir = a.run_dir.clone().unwrap_or_else(|| crate::default_run_dir("personalize"));
    if run_dir.join("run.json").exists() {
        anyhow::bail!("{} already holds a run: resume it with `edgetune train --resume {0}`, or choose another --run-dir", run_dir.display());
    }
    let req = plan.request(&model_dir, &run_dir, a.valid.clone().map(DataSource::Path), a.test.clone().map(DataSource::Path))?;
    let device = init_device(req.config.device)?;
    let first_new = plan.old_labels.len();
    let (model, data) = block_on(personalize::load_grown(&req, first_new, &device))?;
    let before = match &data.test {
        Some(test) => {
            let original = load_any(files, None, &device)?;
            block_on(personalize::accuracy_before(&original, test, first_new, req.config.eval_batch_size))?
        }
        None => None,
    };
    let mut progress = progress::Progress::new(a.json);
    let outcome = block_on(run::train(&req, model, &data, &mut |e| progress.event(e)))?;
    progress.finish(&outcome);
    if let Some(test) = &data.test {
        let c = block_on(personalize::compare(&outcome.model, test, first_new, before, req.config.eval_batch_size))?;
        show(&c, a.json)?;
    }
    if let Some(out) = &a.export {
        let replay = personalize::replay_file(&data, &req.config)?;
        block_on(edgetune::export::export_dir(&outcome.model, out, false, replay))?;
        if !a.json {
            eprintln!("exported to {}", out.display());
        }
    }
    Ok(())
}

fn show(c: &Comparison, json: bool) -> Result<()> {
    if json {
        let mut v = serde_json::to_value(c)?;
        if let Some(m) = v.as_object_mut() {
            m.insert("event".into(), "personalized".into());
        }
        println!("{v}");
    } else {
        println!("{c}");
    }
    Ok(())
}
