//! The one training configuration: read from a TOML/JSON file or flags by the CLI, and from a JS
//! object by the page. Defaults give a good run when a user names only a model and a data file.

use crate::data::{Format, TableOptions};
use crate::device::Backend;
use crate::error::{Error, Result};
use crate::model::{LoraSpec, ModelKind, Pooling, Task};
use crate::vision::{Augment, Fit};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    #[default]
    AdamW,
    Sgd,
}

/// What a step whose loss or gradients hold NaN or infinity does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnNan {
    /// Stop the run with a message naming the step (and the tensors, for gradients); the last
    /// good checkpoint stays as it was.
    #[default]
    Stop,
    /// Skip the batch (no update: weights, optimiser state and batch-norm statistics stay as they
    /// were) and go on; a run whose batches keep failing stops after [`MAX_SKIPS_IN_A_ROW`].
    Skip,
}

/// How many batches in a row `on_nan = "skip"` passes over before the run stops anyway.
pub const MAX_SKIPS_IN_A_ROW: usize = 10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Linear warmup, then linear decay to zero.
    #[default]
    Linear,
    /// Linear warmup, then half a cosine to zero.
    Cosine,
    /// Linear warmup, then constant.
    Constant,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeights {
    #[default]
    None,
    /// n / (classes × n_c), as scikit-learn's "balanced".
    Balanced,
}

/// The validation metric that picks the best checkpoint and drives early stopping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Accuracy; for multi-label, subset accuracy (every tag of an example right).
    #[default]
    Accuracy,
    MacroF1,
    /// F1 over every (example, tag) decision: the multi-label default (for single-label
    /// classification it equals accuracy).
    MicroF1,
    Loss,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    // --- data ---
    pub text_column: Option<String>,
    pub label_column: Option<String>,
    pub format: Option<Format>,
    pub header: Option<bool>,
    /// Fraction of the training file held out for validation when no validation file is given.
    pub valid_split: f64,
    /// Fraction held out for test when no test file is given.
    pub test_split: f64,
    pub max_length: usize,
    /// Batches of similar lengths (shuffled buckets): much less padding, same learning.
    pub group_by_length: bool,
    /// Class order: these classes first, in this order, then any others the data has (sorted).
    /// Personalising sets it to the model's own classes, so that they keep their outputs.
    pub labels: Vec<String>,
    /// The replay sample: how many training examples an export keeps beside the model
    /// (`replay.jsonl`, or `replay.zip` of images), and how many of them `personalize` mixes in
    /// with the new examples; balanced over classes. 0: none.
    pub replay_size: usize,
    /// Multi-label: the character between an example's tags in the label column (JSON Lines may
    /// give a list instead).
    pub label_sep: char,
    // --- model ---
    pub task: Task,
    pub pooling: Pooling,
    /// Overrides the model's hidden and attention dropout.
    pub dropout: Option<f64>,
    pub freeze_embeddings: bool,
    /// Freeze the first N encoder layers (and the embeddings).
    pub freeze_layers: usize,
    /// Train only the head on a frozen encoder.
    pub head_only: bool,
    /// LoRA: freeze the encoder and train low-rank adapters on its linear layers (and the head).
    pub lora: Option<LoraSpec>,
    // --- images ---
    /// Training-time augmentation of images (all zero: none).
    pub augment: Augment,
    /// Keep batch-norm layers in evaluation mode (running statistics fixed): for tiny datasets.
    pub freeze_bn: bool,
    /// How images become the model's input size (default: the model's own, e.g. resize for
    /// CIFAR models, centre crop for ImageNet ones).
    pub image_fit: Option<Fit>,
    /// Side of the square images the model trains on (default: the model's own, e.g. 224 for
    /// ImageNet models): smaller trains faster on small photos. The trained model keeps it.
    pub image_size: Option<usize>,
    // --- optimisation ---
    pub epochs: f64,
    /// Stop after this many optimiser steps (tests, benchmarks).
    pub max_steps: Option<usize>,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub grad_accum: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    /// Learning rate of the new head (defaults to `head_lr_factor` × lr).
    pub head_lr: Option<f64>,
    /// The head's learning rate relative to the body's when `head_lr` is not given: 20 for text
    /// (a fresh layer on a pre-trained encoder learns faster), 1 for images.
    pub head_lr_factor: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub schedule: Schedule,
    pub warmup_ratio: f64,
    pub max_grad_norm: Option<f64>,
    /// NaN or infinity in a step's loss or gradients: stop (default) or skip the batch.
    pub on_nan: OnNan,
    pub class_weights: ClassWeights,
    pub seed: u64,
    // --- validation ---
    pub metric: Option<Metric>,
    /// Stop when the metric has not improved for this many epochs (0 = never).
    pub patience: usize,
    /// Also checkpoint every N steps (0: every couple of minutes, see
    /// [`super::driver::CHECKPOINT_SECONDS`]).
    pub checkpoint_every: usize,
    pub device: Backend,
    /// Refuse, before training starts, a run whose estimated peak memory exceeds this many MB
    /// (`--max-memory`; see [`super::memory::check`]).
    pub max_memory_mb: Option<f64>,
    // --- generative models ---
    /// What a generative (SFT) run also needs: which tokens the loss is on, the prompt of a
    /// text,label table, how the test set is answered.
    pub sft: crate::sft::SftOptions,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            text_column: None,
            label_column: None,
            format: None,
            header: None,
            valid_split: 0.1,
            test_split: 0.1,
            max_length: 128,
            group_by_length: true,
            labels: Vec::new(),
            replay_size: 1000,
            label_sep: ',',
            task: Task::Classification,
            pooling: Pooling::Mean,
            dropout: None,
            freeze_embeddings: false,
            freeze_layers: 0,
            head_only: false,
            lora: None,
            augment: Augment::default(),
            freeze_bn: false,
            image_fit: None,
            image_size: None,
            epochs: 4.0,
            max_steps: None,
            batch_size: 32,
            eval_batch_size: 64,
            grad_accum: 1,
            optimizer: OptimizerKind::AdamW,
            lr: 1e-4,
            head_lr: None,
            head_lr_factor: 20.0,
            weight_decay: 0.01,
            momentum: 0.9,
            betas: (0.9, 0.999),
            eps: 1e-8,
            schedule: Schedule::Linear,
            warmup_ratio: 0.1,
            max_grad_norm: Some(1.0),
            on_nan: OnNan::Stop,
            class_weights: ClassWeights::None,
            seed: 42,
            metric: None,
            patience: 2,
            checkpoint_every: 0,
            device: Backend::Cpu,
            max_memory_mb: None,
            sft: Default::default(),
        }
    }
}

impl TrainConfig {
    /// The defaults for a kind of model: those above for text; for images those of the usual
    /// CNN fine-tune (AdamW 1e-3, weight decay 1e-4, batch 64, 10 epochs, cosine decay).
    pub fn defaults_for(kind: ModelKind) -> Self {
        match kind {
            ModelKind::Text => TrainConfig::default(),
            ModelKind::Image => TrainConfig {
                lr: 1e-3,
                head_lr_factor: 1.0,
                weight_decay: 1e-4,
                batch_size: 64,
                eval_batch_size: 128,
                epochs: 10.0,
                schedule: Schedule::Cosine,
                warmup_ratio: 0.02,
                patience: 3,
                group_by_length: false,
                ..TrainConfig::default()
            },
        }
    }

    /// The defaults of `--head-only`: the head then trains on cached body vectors (see
    /// [`super::features`]) in milliseconds per epoch, so many epochs of large batches at a
    /// learning rate for a linear model. No early stopping: the whole run takes seconds, and the
    /// best epoch's head is kept anyway. No augmentation: each image is embedded once, as it is.
    /// A ResNet's pooled features (64 wide for the CIFAR ResNets) want more, smaller steps at a
    /// higher rate than BERT's: on the digits, 100 epochs of batch 64 at 0.1 reach 92.8 % test
    /// accuracy where the text settings stop at 76 %.
    pub fn head_only_defaults_for(kind: ModelKind) -> Self {
        let fast = TrainConfig { head_only: true, patience: 0, augment: Augment::none(), ..TrainConfig::defaults_for(kind) };
        match kind {
            ModelKind::Text => TrainConfig { epochs: 40.0, batch_size: 512, head_lr: Some(1e-2), ..fast },
            ModelKind::Image => TrainConfig { epochs: 100.0, batch_size: 64, head_lr: Some(0.1), ..fast },
        }
    }

    /// The page's "Quick train (head only)" for a run otherwise set as `self`: the fast path's
    /// defaults for `kind`, keeping from `self` which data and how it is read and split
    /// ([`TrainConfig::data_over`]), and the choices that also make sense for a head alone
    /// (class weights, pooling, the validation metric).
    pub fn quick(&self, kind: ModelKind) -> Self {
        let base = TrainConfig::head_only_defaults_for(kind);
        self.data_over(TrainConfig { class_weights: self.class_weights, pooling: self.pooling, metric: self.metric, ..base })
    }

    /// `base` with this configuration's data settings: what reading, cleaning, splitting and
    /// encoding depend on.
    pub fn data_over(&self, base: TrainConfig) -> TrainConfig {
        TrainConfig {
            text_column: self.text_column.clone(),
            label_column: self.label_column.clone(),
            format: self.format,
            header: self.header,
            valid_split: self.valid_split,
            test_split: self.test_split,
            max_length: self.max_length,
            seed: self.seed,
            task: self.task,
            image_fit: self.image_fit,
            image_size: self.image_size,
            ..base
        }
    }

    /// Whether two configurations give the same prepared data (so the page reuses it).
    pub fn same_data(&self, other: &TrainConfig) -> bool {
        self.data_over(TrainConfig::default()) == other.data_over(TrainConfig::default())
    }

    /// `edgetune personalize`: a short run at half the learning rate on a few new examples plus
    /// the replay sample, with balanced class weights (a new class has a few examples against
    /// the replay's dozen or so per old class) and nothing held out of the few new examples
    /// (give --valid / --test files to measure). With `head_only`, the fast path's defaults
    /// ([`TrainConfig::head_only_defaults_for`]) with the same weights and splits.
    pub fn personalize_defaults(kind: ModelKind, head_only: bool) -> Self {
        let base = if head_only { Self::head_only_defaults_for(kind) } else { Self::defaults_for(kind) };
        TrainConfig {
            // A head alone keeps the fast path's epochs and rate.
            epochs: if head_only { base.epochs } else { 8.0 },
            lr: if head_only { base.lr } else { base.lr * 0.5 },
            class_weights: ClassWeights::Balanced,
            valid_split: 0.0,
            test_split: 0.0,
            patience: 0,
            ..base
        }
    }

    /// Reads a TOML or JSON file (by extension; JSON if it starts with `{`) over the text defaults.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::from_file_over(path, &TrainConfig::default())
    }

    /// Reads a TOML or JSON file; what it leaves out comes from `base`.
    pub fn from_file_over(path: &Path, base: &TrainConfig) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let name = path.display().to_string();
        let is_json = path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
        // Parsed once as a whole configuration, so an unknown field or a wrong type is reported
        // with its line; then only the fields the file gives are laid over `base`.
        let given: serde_json::Value = if is_json {
            let json_err = |e: serde_json::Error| {
                // serde_json appends " at line L column C": say the line first, as for data files.
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                Error::config(format!("{name}: line {}: {msg}", e.line()))
            };
            serde_json::from_str::<TrainConfig>(&text).map_err(json_err)?;
            serde_json::from_str(&text).map_err(json_err)?
        } else {
            let toml_err = |e: toml::de::Error| {
                let line = e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                Error::config(format!("{name}: line {line}: {}", e.message().trim()))
            };
            toml::from_str::<TrainConfig>(&text).map_err(toml_err)?;
            toml::from_str(&text).map_err(toml_err)?
        };
        let cfg = Self::over(base, given).map_err(|e| Error::config(format!("{name}: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// `given` (a JSON object of some fields, from a file or the page) over `base`.
    pub fn over(base: &TrainConfig, given: serde_json::Value) -> std::result::Result<Self, serde_json::Error> {
        let mut merged = serde_json::to_value(base)?;
        if let (Some(m), serde_json::Value::Object(g)) = (merged.as_object_mut(), given) {
            for (k, v) in g {
                match (m.get_mut(&k), v) {
                    // Nested tables (augment) merge field by field.
                    (Some(serde_json::Value::Object(inner)), serde_json::Value::Object(v)) => inner.extend(v),
                    (_, v) => {
                        m.insert(k, v);
                    }
                }
            }
        }
        serde_json::from_value(merged)
    }

    pub fn head_lr(&self) -> f64 {
        self.head_lr.unwrap_or(self.lr * self.head_lr_factor)
    }

    pub fn metric(&self) -> Metric {
        self.metric.unwrap_or(match self.task {
            Task::Classification => Metric::Accuracy,
            Task::Regression => Metric::Loss,
            Task::MultiLabel => Metric::MicroF1,
        })
    }

    /// The tag separator, for a multi-label run.
    pub fn tag_sep(&self) -> Option<char> {
        (self.task == Task::MultiLabel).then_some(self.label_sep)
    }

    pub fn table_options(&self) -> TableOptions {
        TableOptions { format: self.format, header: self.header, list_sep: self.tag_sep() }
    }

    /// Rejects settings that cannot work, with the field named.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::config(m));
        if !(self.epochs > 0.0) && self.max_steps.is_none() {
            return bad(format!("epochs is {}, expected > 0", self.epochs));
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 || self.grad_accum == 0 {
            return bad("batch_size, eval_batch_size and grad_accum must be at least 1".into());
        }
        if self.image_size.is_some_and(|s| !(8..=1024).contains(&s)) {
            return bad(format!("image_size is {}, expected 8 to 1024 pixels", self.image_size.unwrap_or(0)));
        }
        if self.max_length < 3 {
            return bad(format!("max_length is {}, expected at least 3 ([CLS], a token, [SEP])", self.max_length));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) || !(self.head_lr() > 0.0 && self.head_lr().is_finite()) {
            return bad(format!("lr is {}, expected a positive number", self.lr));
        }
        for (name, v) in [("valid_split", self.valid_split), ("test_split", self.test_split), ("warmup_ratio", self.warmup_ratio)] {
            if !(0.0..1.0).contains(&v) {
                return bad(format!("{name} is {v}, expected a fraction in [0, 1)"));
            }
        }
        if self.valid_split + self.test_split >= 0.9 {
            return bad("valid_split + test_split leave less than 10 % to train on".into());
        }
        if let Some(p) = self.dropout {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("dropout is {p}, expected a probability in [0, 1)"));
            }
        }
        if self.weight_decay < 0.0 || !(0.0..1.0).contains(&self.betas.0) || !(0.0..1.0).contains(&self.betas.1) {
            return bad("weight_decay must be ≥ 0 and betas in [0, 1)".into());
        }
        if let Some(n) = self.max_grad_norm {
            if !(n > 0.0) {
                return bad(format!("max_grad_norm is {n}, expected > 0 (omit it to disable clipping)"));
            }
        }
        if !(self.head_lr_factor > 0.0 && self.head_lr_factor.is_finite()) {
            return bad(format!("head_lr_factor is {}, expected a positive number", self.head_lr_factor));
        }
        self.augment.validate()?;
        if let Some(l) = &self.lora {
            l.validate()?;
            if self.head_only || self.freeze_layers > 0 || self.freeze_embeddings {
                return bad("lora freezes the whole encoder already: drop head_only, freeze_layers and freeze_embeddings".into());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for l in &self.labels {
            if l.trim().is_empty() {
                return bad("labels has an empty class name".into());
            }
            if !seen.insert(l.as_str()) {
                return bad(format!("labels lists '{l}' twice"));
            }
        }
        if self.task == Task::Regression && self.class_weights != ClassWeights::None {
            return bad("class_weights apply to classification, not regression".into());
        }
        if matches!(self.label_sep, '\n' | '\r' | '"') {
            return bad(format!("label_sep is {:?}, expected a character that can sit between tags on one line, like ',' or '|'", self.label_sep));
        }
        if self.task == Task::Regression && matches!(self.metric, Some(Metric::Accuracy | Metric::MacroF1 | Metric::MicroF1)) {
            return bad("metric: regression is scored by its loss (mean squared error); accuracy and F1 apply to classification".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quick training keeps the data settings and the head's choices, and takes the fast path's
    /// optimisation (no augmentation, no LoRA) whatever the form said.
    #[test]
    fn quick_keeps_the_data_and_takes_the_fast_path() {
        let form = TrainConfig {
            text_column: Some("t".into()),
            valid_split: 0.2,
            test_split: 0.15,
            seed: 7,
            image_fit: Some(Fit::CenterCrop),
            class_weights: ClassWeights::Balanced,
            epochs: 3.0,
            lr: 5e-5,
            lora: Some(LoraSpec::default()),
            freeze_layers: 2,
            ..TrainConfig::defaults_for(ModelKind::Image)
        };
        let q = form.quick(ModelKind::Image);
        assert!(q.same_data(&form));
        assert_eq!((q.text_column.as_deref(), q.valid_split, q.test_split, q.seed, q.image_fit), (Some("t"), 0.2, 0.15, 7, Some(Fit::CenterCrop)));
        assert_eq!(q.class_weights, ClassWeights::Balanced);
        assert_eq!((q.head_only, q.epochs, q.batch_size, q.head_lr, q.patience), (true, 100.0, 64, Some(0.1), 0));
        assert_eq!((&q.lora, q.freeze_layers, &q.augment), (&None, 0, &Augment::none()));
        q.validate().unwrap();
        assert!(!q.same_data(&TrainConfig { seed: 8, ..form }));
    }

    /// A `[lora]` table in a TOML file gives LoRA with the fields it names and the defaults for
    /// the others; settings that contradict LoRA are refused by name.
    #[test]
    fn lora_from_a_file() {
        let dir = std::env::temp_dir().join(format!("edgetune-lora-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cfg.toml");
        std::fs::write(&path, "epochs = 6\n[lora]\nr = 4\ntarget_modules = [\"query\", \"key\", \"value\"]\n").unwrap();
        let cfg = TrainConfig::from_file(&path).unwrap();
        let l = cfg.lora.unwrap();
        assert_eq!((l.r, l.alpha, l.dropout, l.lr), (4, 16.0, 0.1, 1e-3));
        assert_eq!(l.target_modules, ["query", "key", "value"]);
        std::fs::write(&path, "head_only = true\n[lora]\n").unwrap();
        let e = TrainConfig::from_file(&path).unwrap_err().to_string();
        assert_eq!(e, "lora freezes the whole encoder already: drop head_only, freeze_layers and freeze_embeddings");
        // Which layers the targets name is the model's answer, checked when adapters attach
        // (tests/bad_input.rs: `lora_adapters`).
        std::fs::write(&path, "[lora]\nrank = 4\n").unwrap();
        let e = TrainConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: line 2: unknown field `rank`", path.display())), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `task = "multi_label"` and `label_sep` in a file: micro-F1 picks the best epoch, JSON
    /// Lines lists are joined with the separator; separators that cannot work are refused.
    #[test]
    fn multi_label_from_a_file() {
        let dir = std::env::temp_dir().join(format!("edgetune-ml-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cfg.toml");
        std::fs::write(&path, "task = \"multi_label\"\nlabel_sep = \"|\"\nclass_weights = \"balanced\"\n").unwrap();
        let cfg = TrainConfig::from_file(&path).unwrap();
        assert_eq!((cfg.task, cfg.label_sep, cfg.metric(), cfg.tag_sep()), (Task::MultiLabel, '|', Metric::MicroF1, Some('|')));
        assert_eq!(cfg.table_options().list_sep, Some('|'));
        assert_eq!(TrainConfig::default().table_options().list_sep, None);
        let json = dir.join("cfg.json");
        std::fs::write(&json, "{\"task\": \"multi-label\"}").unwrap();
        assert_eq!(TrainConfig::from_file(&json).unwrap().tag_sep(), Some(','));
        std::fs::write(&path, "task = \"multi_label\"\nlabel_sep = \"\\n\"\n").unwrap();
        let e = TrainConfig::from_file(&path).unwrap_err().to_string();
        assert_eq!(e, "label_sep is '\\n', expected a character that can sit between tags on one line, like ',' or '|'");
        std::fs::write(&path, "task = \"multi_label\"\nlabel_sep = \"ab\"\n").unwrap();
        let e = TrainConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: line 2: invalid value", path.display())), "{e}");
        std::fs::write(&path, "task = \"regression\"\nmetric = \"micro_f1\"\n").unwrap();
        let e = TrainConfig::from_file(&path).unwrap_err().to_string();
        assert!(e.starts_with("metric: regression is scored by its loss"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
