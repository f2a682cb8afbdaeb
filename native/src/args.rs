//! Command-line flags. Training flags mirror `TrainConfig` fields; a flag given on the command
//! line overrides the same field of `--config FILE`.

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use edgetune::device::Backend;
use edgetune::model::{Pooling, Task};
use edgetune::train::{ClassWeights, Metric, OptimizerKind, Schedule, TrainConfig};
use std::path::PathBuf;

pub const DEFAULT_MODEL: &str = "hf:sentence-transformers/all-MiniLM-L6-v2";

#[derive(Parser, Debug)]
#[command(name = "edgetune", version, about = "Fine-tune small pre-trained models on your own labelled data")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fine-tune a model on a CSV/TSV/JSONL file and write a run directory.
    Train(TrainArgs),
    /// Evaluate a fine-tuned model on a labelled file.
    Eval(EvalArgs),
    /// Predict labels for texts (arguments, --file, or standard input).
    Predict(PredictArgs),
    /// Export a fine-tuned model as a Hugging Face directory (transformers loads it back).
    Export(ExportArgs),
    /// Time the reference fine-tuning workload (see ../shared/bench) and print one JSON line.
    Bench(BenchArgs),
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    s.parse().map_err(|e: edgetune::Error| e.to_string())
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Model: a local Hugging Face-style directory, or hf:ORG/NAME[@REVISION] from the Hub.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Training data (CSV, TSV or JSONL).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Validation file (otherwise --valid-split of the training data is held out).
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Test file (otherwise --test-split of the training data is held out).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Training configuration file (TOML or JSON); flags override its fields.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where to write the run (default runs/run-TIMESTAMP).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Continue an interrupted run from its directory.
    #[arg(long, conflicts_with_all = ["data", "config"])]
    pub resume: Option<PathBuf>,
    /// Also export the best model to this directory when training ends.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// One JSON object per line on stdout instead of a progress bar.
    #[arg(long)]
    pub json: bool,
    /// cpu, wgpu or cuda.
    #[arg(long, value_parser = parse_backend)]
    pub device: Option<Backend>,

    #[arg(long)]
    pub text_column: Option<String>,
    #[arg(long)]
    pub label_column: Option<String>,
    /// classification or regression.
    #[arg(long, value_parser = ["classification", "regression"])]
    pub task: Option<String>,
    /// mean (default) or cls.
    #[arg(long, value_parser = ["mean", "cls"])]
    pub pooling: Option<String>,
    #[arg(long)]
    pub epochs: Option<f64>,
    #[arg(long)]
    pub max_steps: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub grad_accum: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub head_lr: Option<f64>,
    /// adamw or sgd.
    #[arg(long, value_parser = ["adamw", "sgd"])]
    pub optimizer: Option<String>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// linear, cosine or constant.
    #[arg(long, value_parser = ["linear", "cosine", "constant"])]
    pub schedule: Option<String>,
    #[arg(long)]
    pub warmup_ratio: Option<f64>,
    /// Clip gradients to this global norm (0 disables clipping).
    #[arg(long)]
    pub max_grad_norm: Option<f64>,
    #[arg(long)]
    pub dropout: Option<f64>,
    /// none or balanced.
    #[arg(long, value_parser = ["none", "balanced"])]
    pub class_weights: Option<String>,
    #[arg(long)]
    pub freeze_embeddings: bool,
    #[arg(long)]
    pub freeze_layers: Option<usize>,
    #[arg(long)]
    pub head_only: bool,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub max_length: Option<usize>,
    #[arg(long)]
    pub valid_split: Option<f64>,
    #[arg(long)]
    pub test_split: Option<f64>,
    /// Early-stopping patience in epochs (0 = never stop early).
    #[arg(long)]
    pub patience: Option<usize>,
    /// accuracy, macro_f1 or loss.
    #[arg(long, value_parser = ["accuracy", "macro_f1", "loss"])]
    pub metric: Option<String>,
    /// Also checkpoint every N steps.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Batches of mixed lengths instead of length-grouped ones.
    #[arg(long)]
    pub no_group_by_length: bool,
}

fn enum_from<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    Ok(serde_json::from_value(serde_json::Value::String(s.to_string()))?)
}

impl TrainArgs {
    /// Writes the flags that were given over `cfg`.
    pub fn apply(&self, cfg: &mut TrainConfig) -> Result<()> {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = &self.$field { cfg.$field = v.clone().into(); } )* };
        }
        set!(epochs, batch_size, grad_accum, lr, weight_decay, warmup_ratio, seed, max_length, valid_split, test_split, patience, checkpoint_every);
        if self.max_steps.is_some() {
            cfg.max_steps = self.max_steps;
        }
        if self.head_lr.is_some() {
            cfg.head_lr = self.head_lr;
        }
        if self.dropout.is_some() {
            cfg.dropout = self.dropout;
        }
        if let Some(n) = self.max_grad_norm {
            cfg.max_grad_norm = (n > 0.0).then_some(n);
        }
        if let Some(l) = self.freeze_layers {
            cfg.freeze_layers = l;
        }
        if self.text_column.is_some() {
            cfg.text_column = self.text_column.clone();
        }
        if self.label_column.is_some() {
            cfg.label_column = self.label_column.clone();
        }
        if let Some(t) = &self.task {
            cfg.task = enum_from::<Task>(t)?;
        }
        if let Some(p) = &self.pooling {
            cfg.pooling = enum_from::<Pooling>(p)?;
        }
        if let Some(o) = &self.optimizer {
            cfg.optimizer = enum_from::<OptimizerKind>(o)?;
        }
        if let Some(s) = &self.schedule {
            cfg.schedule = enum_from::<Schedule>(s)?;
        }
        if let Some(c) = &self.class_weights {
            cfg.class_weights = enum_from::<ClassWeights>(c)?;
        }
        if let Some(m) = &self.metric {
            cfg.metric = Some(enum_from::<Metric>(m)?);
        }
        if let Some(d) = self.device {
            cfg.device = d;
        }
        cfg.freeze_embeddings |= self.freeze_embeddings;
        cfg.head_only |= self.head_only;
        if self.no_group_by_length {
            cfg.group_by_length = false;
        }
        cfg.validate()?;
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A fine-tuned model directory (an export, a checkpoint, or a run directory).
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled data (CSV, TSV or JSONL).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub text_column: Option<String>,
    #[arg(long)]
    pub label_column: Option<String>,
    #[arg(long, default_value_t = 128)]
    pub max_length: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_parser = parse_backend)]
    pub device: Option<Backend>,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A fine-tuned model directory (an export, a checkpoint, or a run directory).
    #[arg(long)]
    pub model: PathBuf,
    /// Texts to classify.
    pub texts: Vec<String>,
    /// A file with one text per line.
    #[arg(long)]
    pub file: Option<PathBuf>,
    #[arg(long, default_value_t = 128)]
    pub max_length: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_parser = parse_backend)]
    pub device: Option<Backend>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A fine-tuned model directory (a checkpoint or a run directory: its best checkpoint).
    #[arg(long)]
    pub model: PathBuf,
    /// The directory to write.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    #[arg(long)]
    pub train: PathBuf,
    #[arg(long)]
    pub test: PathBuf,
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 64)]
    pub max_length: usize,
    /// Evaluate on the first N test rows only (0 = all).
    #[arg(long, default_value_t = 0)]
    pub eval_limit: usize,
    /// Random batches instead of length-grouped ones (the reference's batching).
    #[arg(long)]
    pub no_group_by_length: bool,
    #[arg(long, value_parser = parse_backend)]
    pub device: Option<Backend>,
}
