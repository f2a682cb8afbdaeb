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
    /// Fine-tune the built-in demo (ResNet-20 on handwritten digits): nothing to download.
    Demo(DemoArgs),
    /// Write a PNG grid of augmented training images, to see what the model will be shown.
    PreviewAugment(PreviewAugmentArgs),
    /// Continue a fine-tuned model with a few new examples (new classes too) without forgetting
    /// the old ones: mixes in the replay sample kept with the model.
    Personalize(crate::personalize::PersonalizeArgs),
    /// Serve a model over HTTP on an edge box: predictions, labelled examples, background
    /// training runs and model swaps.
    Serve(crate::serve::ServeArgs),
    /// Answer prompts with a generative model (a GGUF file or a Hugging Face directory; default
    /// SmolLM2-135M-Instruct), streaming the text.
    Generate(crate::generate::GenerateArgs),
    /// Chat with a generative model on the terminal: the conversation is kept between turns.
    Chat(crate::generate::ChatArgs),
}

pub fn parse_backend(s: &str) -> Result<Backend, String> {
    s.parse().map_err(|e: edgetune::Error| e.to_string())
}

/// A size in MB from `1500`, `1500M`, `1.5G`, `2GB`, `512MiB`.
pub fn parse_size_mb(s: &str) -> Result<f64, String> {
    let t = s.trim().to_ascii_uppercase();
    let t = t.strip_suffix("IB").or_else(|| t.strip_suffix('B')).unwrap_or(&t);
    let (num, scale) = match t.chars().last() {
        Some('G') => (&t[..t.len() - 1], 1024.0),
        Some('M') => (&t[..t.len() - 1], 1.0),
        Some('K') => (&t[..t.len() - 1], 1.0 / 1024.0),
        _ => (t, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v * scale),
        _ => Err(format!("'{s}' is not a memory size: give e.g. 2G, 1500M or a number of MB")),
    }
}

/// One character; "tab" (or "\t") for a tab.
fn parse_sep(s: &str) -> Result<char, String> {
    if s == "tab" || s == "\\t" {
        return Ok('\t');
    }
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!("'{s}' is not one character: give the one character between tags, like ',' or '|'")),
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Model: a local Hugging Face-style directory, or hf:ORG/NAME[@REVISION] from the Hub. A
    /// generative model (a .gguf file, or a Hugging Face causal LM) is fine-tuned on
    /// conversations with LoRA (its own defaults: all-linear r 8, lr 2e-4, batch 8, 3 epochs).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Training data: CSV, TSV or JSONL for a text model; for an image model a folder with one
    /// sub-folder per class, a zip of one, or a CSV with an image-path and a label column.
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
    /// With LoRA, export the full model with the adapters folded in instead of the adapter.
    #[arg(long, requires = "export")]
    pub merge: bool,
    /// One JSON object per line on stdout instead of a progress bar.
    #[arg(long)]
    pub json: bool,
    /// cpu, wgpu or cuda.
    #[arg(long, value_parser = parse_backend)]
    pub device: Option<Backend>,

    /// The text column (for images listed in a CSV: the column of image paths).
    #[arg(long, visible_alias = "image-column")]
    pub text_column: Option<String>,
    #[arg(long)]
    pub label_column: Option<String>,
    /// classification, regression or multi_label.
    #[arg(long, value_parser = ["classification", "regression", "multi_label", "multi-label"])]
    pub task: Option<String>,
    /// Multi-label classification: each label holds several tags (separated by --label-sep; in
    /// JSON Lines also a list), one sigmoid per tag, the threshold chosen on validation.
    #[arg(long)]
    pub multi_label: bool,
    /// The character between tags in a multi-label label column (default ","; "tab" for a tab).
    #[arg(long, value_parser = parse_sep)]
    pub label_sep: Option<char>,
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
    /// When a step's loss or gradients hold NaN or infinity: stop (default; the last good
    /// checkpoint is kept) or skip the batch and go on (the run still stops after 10 in a row).
    #[arg(long, value_parser = ["stop", "skip"])]
    pub on_nan: Option<String>,
    /// Refuse a run whose estimated peak memory exceeds this (e.g. 2G, 1500M; a plain number is
    /// MB), before training starts; the estimate is shown with what to change.
    #[arg(long, value_parser = parse_size_mb)]
    pub max_memory: Option<f64>,
    #[arg(long)]
    pub dropout: Option<f64>,
    /// none or balanced.
    #[arg(long, value_parser = ["none", "balanced"])]
    pub class_weights: Option<String>,
    #[arg(long)]
    pub freeze_embeddings: bool,
    #[arg(long)]
    pub freeze_layers: Option<usize>,
    /// Train only the head on a frozen encoder. For text: the fast path, which embeds the data
    /// once (cached in $EDGETUNE_CACHE_DIR or ~/.cache/edgetune/embeddings) and trains the head
    /// on the vectors, with its own defaults (40 epochs, batch 512,
    /// head lr 1e-2, no early stopping).
    #[arg(long)]
    pub head_only: bool,
    #[command(flatten)]
    pub lora: LoraFlags,
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
    /// accuracy, macro_f1, micro_f1 or loss (default: accuracy; micro_f1 for multi-label).
    #[arg(long, value_parser = ["accuracy", "macro_f1", "micro_f1", "loss"])]
    pub metric: Option<String>,
    /// Also checkpoint every N steps.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Batches of mixed lengths instead of length-grouped ones.
    #[arg(long)]
    pub no_group_by_length: bool,
    /// How many training examples the export and run directory keep as the replay sample that
    /// `personalize` mixes in (default 1000; 0 for none).
    #[arg(long)]
    pub replay_size: Option<usize>,
    #[command(flatten)]
    pub image: ImageFlags,
    #[command(flatten)]
    pub sft: crate::sft::SftFlags,
}

/// LoRA: a frozen encoder with low-rank adapters. Any `--lora-*` flag implies `--lora`.
#[derive(Args, Debug, Default, Clone)]
pub struct LoraFlags {
    /// Train LoRA adapters (and the head) on a frozen encoder instead of the whole model.
    #[arg(long)]
    pub lora: bool,
    /// Adapter rank (default 8).
    #[arg(long)]
    pub lora_r: Option<usize>,
    /// lora_alpha: updates are scaled by alpha / r (default 16).
    #[arg(long)]
    pub lora_alpha: Option<f64>,
    /// Dropout on the adapters' input (default 0.1).
    #[arg(long)]
    pub lora_dropout: Option<f64>,
    /// Layers to adapt, comma-separated names as PEFT matches them (default query,value; e.g.
    /// query,key,value,dense or all-linear).
    #[arg(long, value_delimiter = ',')]
    pub lora_targets: Option<Vec<String>>,
    /// Learning rate of the adapters (default 1e-3; the head keeps --head-lr).
    #[arg(long)]
    pub lora_lr: Option<f64>,
    /// Continue training the PEFT adapter in this directory (adapter_config.json +
    /// adapter_model.safetensors) on --model.
    #[arg(long)]
    pub lora_adapter: Option<PathBuf>,
}

impl LoraFlags {
    pub fn apply(&self, cfg: &mut TrainConfig) {
        let any = self.lora
            || self.lora_r.is_some()
            || self.lora_alpha.is_some()
            || self.lora_dropout.is_some()
            || self.lora_targets.is_some()
            || self.lora_lr.is_some()
            || self.lora_adapter.is_some();
        if !any {
            return;
        }
        let l = cfg.lora.get_or_insert_with(Default::default);
        macro_rules! set {
            ($($flag:ident => $field:ident),*) => { $( if let Some(v) = &self.$flag { l.$field = v.clone(); } )* };
        }
        set!(lora_r => r, lora_alpha => alpha, lora_dropout => dropout, lora_targets => target_modules, lora_lr => lr);
        if let Some(d) = &self.lora_adapter {
            l.adapter = Some(d.display().to_string());
        }
    }
}

/// Image options: augmentation, batch norm, fitting images to the model's input.
#[derive(Args, Debug, Default, Clone)]
pub struct ImageFlags {
    /// Train on the images as they are (no augmentation).
    #[arg(long)]
    pub no_augment: bool,
    /// Random horizontal flips (off by default: wrong for digits and text-like images).
    #[arg(long)]
    pub hflip: bool,
    /// Random crop after zero padding by N pixels.
    #[arg(long)]
    pub crop_padding: Option<usize>,
    /// Random rotation up to ± DEGREES.
    #[arg(long)]
    pub rotation: Option<f32>,
    /// Random zoom up to ± this fraction.
    #[arg(long)]
    pub scale: Option<f32>,
    /// Random brightness change up to ± this fraction.
    #[arg(long)]
    pub brightness: Option<f32>,
    /// Random contrast change up to ± this fraction.
    #[arg(long)]
    pub contrast: Option<f32>,
    /// Gaussian pixel noise with this standard deviation (pixels in 0..1).
    #[arg(long)]
    pub noise: Option<f32>,
    /// Keep batch-norm statistics fixed (evaluation mode): for tiny datasets.
    #[arg(long)]
    pub freeze_bn: bool,
    /// How images reach the model's input size: resize or center_crop (default: the model's).
    #[arg(long, value_parser = ["resize", "center_crop"])]
    pub image_fit: Option<String>,
    /// Side of the square images the model trains on (default: the model's own, 224 for
    /// ImageNet models); the trained model keeps it. Smaller trains faster on small photos.
    #[arg(long)]
    pub image_size: Option<usize>,
}

impl ImageFlags {
    pub fn apply(&self, cfg: &mut TrainConfig) -> Result<()> {
        let a = &mut cfg.augment;
        if self.no_augment {
            *a = edgetune::vision::Augment::none();
        }
        a.hflip |= self.hflip;
        if let Some(v) = self.crop_padding {
            a.crop_padding = v;
        }
        macro_rules! set {
            ($($flag:ident => $field:ident),*) => { $( if let Some(v) = self.$flag { a.$field = v; } )* };
        }
        set!(rotation => rotation_deg, scale => scale, brightness => brightness, contrast => contrast, noise => noise_std);
        cfg.freeze_bn |= self.freeze_bn;
        if let Some(f) = &self.image_fit {
            cfg.image_fit = Some(enum_from(f)?);
        }
        if self.image_size.is_some() {
            cfg.image_size = self.image_size;
        }
        Ok(())
    }
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
        set!(epochs, batch_size, grad_accum, lr, weight_decay, warmup_ratio, seed, max_length, valid_split, test_split, patience, checkpoint_every, replay_size);
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
        if let Some(o) = &self.on_nan {
            cfg.on_nan = enum_from(o)?;
        }
        if self.max_memory.is_some() {
            cfg.max_memory_mb = self.max_memory;
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
        if self.multi_label {
            if cfg.task == Task::Regression {
                anyhow::bail!("--multi-label is a kind of classification: it cannot go with regression (--task regression, or task = \"regression\" in the config file)");
            }
            cfg.task = Task::MultiLabel;
        }
        if let Some(c) = self.label_sep {
            if cfg.task != Task::MultiLabel {
                anyhow::bail!("--label-sep separates the tags of a multi-label run: add --multi-label");
            }
            cfg.label_sep = c;
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
        self.image.apply(cfg)?;
        self.lora.apply(cfg);
        cfg.validate()?;
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A fine-tuned model directory (an export, a checkpoint, or a run directory).
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled data (CSV, TSV or JSONL; for an image model a folder of class folders, a zip, or
    /// a CSV of image paths).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub text_column: Option<String>,
    #[arg(long)]
    pub label_column: Option<String>,
    /// Multi-label models: the character between tags in the label column (default ",").
    #[arg(long, value_parser = parse_sep, default_value = ",")]
    pub label_sep: char,
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
    /// Texts to classify (for an image model: image files or folders of them).
    pub texts: Vec<String>,
    /// A file with one text (or image path) per line.
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
    /// For a model with LoRA adapters: write the full model with the adapters folded in
    /// (default: the PEFT adapter, which loads onto the base model).
    #[arg(long)]
    pub merge: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Training data (text: the CSV; images: the folder, of which --test-split is held out).
    #[arg(long)]
    pub train: PathBuf,
    /// Test data (text models).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Images: the fraction held out for test when there is no --test (the reference's 0.2).
    #[arg(long, default_value_t = 0.2)]
    pub test_split: f64,
    /// Train for this many epochs instead of --steps steps (images: the reference runs 10).
    #[arg(long)]
    pub epochs: Option<f64>,
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    /// Default: 32 for text, 64 for images (the references').
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Default: 64 for text models, 256 for generative ones (the references').
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Evaluate on the first N test rows only (0 = all).
    #[arg(long, default_value_t = 0)]
    pub eval_limit: usize,
    /// Random batches instead of length-grouped ones (the reference's batching).
    #[arg(long)]
    pub no_group_by_length: bool,
    /// Train LoRA adapters (r = 8 on query and value) on the frozen encoder instead of the whole
    /// model (text models).
    #[arg(long)]
    pub lora: bool,
    #[arg(long, value_parser = parse_backend)]
    pub device: Option<Backend>,
    /// Generative models: also score the base model's answers before training
    /// (`exact_match_before`, as torch_sft.py does without --no-before).
    #[arg(long)]
    pub before: bool,
    /// Images: size, fit and augmentation (default: the reference's 2-pixel random shift).
    #[command(flatten)]
    pub image: ImageFlags,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to write the run (default runs/demo-TIMESTAMP).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Also export the fine-tuned model to this directory.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// One JSON object per line on stdout (the same events as `train --json`).
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub epochs: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// cpu, wgpu or cuda.
    #[arg(long, value_parser = parse_backend)]
    pub device: Option<Backend>,
}

#[derive(Args, Debug)]
pub struct PreviewAugmentArgs {
    /// Images: a folder of class folders, a zip of one, or a CSV of image paths.
    #[arg(long)]
    pub data: PathBuf,
    /// The image model (its input size and fit); default: the demo's ResNet-20 (32×32).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The PNG to write.
    #[arg(long, default_value = "augment-preview.png")]
    pub out: PathBuf,
    /// How many images: each row shows one image as loaded, then augmented variants.
    #[arg(long, default_value_t = 8)]
    pub rows: usize,
    #[arg(long, default_value_t = 7)]
    pub variants: usize,
    /// Pixels per input pixel in the grid.
    #[arg(long, default_value_t = 3)]
    pub zoom: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Augmentation settings (TOML or JSON training configuration; its [augment] table).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub image: ImageFlags,
}
