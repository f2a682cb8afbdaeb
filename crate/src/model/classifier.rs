//! A text classifier (or regressor): BERT encoder → pooling (mean over tokens, or the [CLS]
//! token through BERT's pooler as `BertForSequenceClassification` does) → dropout → linear head.

use super::bert::{apply_dropout, mean_pool, Bert, Dense, Dropout};
use super::config::BertConfig;
use super::lora::LoraSpec;
use super::params::{Group, ParamStore};
use crate::device::Device;
use crate::error::Result;
use crate::rng::Rng;
use crate::tokenize::Tokenizer;
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

/// How token states become one vector per text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over real tokens: what sentence-transformers models are trained for.
    #[default]
    Mean,
    /// The [CLS] token through `pooler.dense` + tanh: exactly `BertForSequenceClassification`.
    Cls,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Single-label classification, cross-entropy.
    #[default]
    Classification,
    /// One numeric target, mean squared error.
    Regression,
    /// Any number of tags per example: one sigmoid per tag, binary cross-entropy, and a decision
    /// threshold chosen on validation.
    #[serde(rename = "multi_label", alias = "multilabel", alias = "multi-label")]
    MultiLabel,
}

/// The multi-label decision threshold without a validation split to choose one on.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

impl Task {
    /// Whether the head has one output per class or tag (classification and multi-label).
    pub fn has_labels(self) -> bool {
        self != Task::Regression
    }

    /// `problem_type` of a Hugging Face `config.json`: what transformers' heads pick their loss by.
    pub fn problem_type(self) -> &'static str {
        match self {
            Task::Classification => "single_label_classification",
            Task::Regression => "regression",
            Task::MultiLabel => "multi_label_classification",
        }
    }

    /// The task a `config.json`'s `problem_type` names (classification when absent or unknown).
    pub fn from_problem_type(p: Option<&str>) -> Task {
        match p {
            Some("regression") => Task::Regression,
            Some("multi_label_classification") => Task::MultiLabel,
            _ => Task::Classification,
        }
    }
}

/// What a fine-tuned model's `config.json` says about its head: the task (`problem_type`) and
/// the classes in id order (`id2label`; none for a base model).
pub fn saved_classes(config: &serde_json::Map<String, serde_json::Value>) -> (Task, Vec<String>) {
    let task = Task::from_problem_type(config.get("problem_type").and_then(serde_json::Value::as_str));
    let mut labels: Vec<(usize, String)> = config
        .get("id2label")
        .and_then(serde_json::Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    labels.sort();
    (task, labels.into_iter().map(|(_, l)| l).collect())
}

/// The threshold an export keeps in `config.json` (`edgetune_threshold`), if it is a
/// probability strictly between 0 and 1; else [`DEFAULT_THRESHOLD`].
pub fn saved_threshold(value: Option<&serde_json::Value>) -> f64 {
    match value.and_then(serde_json::Value::as_f64) {
        Some(t) if t > 0.0 && t < 1.0 => t,
        _ => DEFAULT_THRESHOLD,
    }
}

/// Parameter ids of the pooling and the classifier head.
#[derive(Clone, Debug)]
pub struct Head {
    pub pooling: Pooling,
    pub pooler: Option<Dense>,
    pub classifier: Dense,
}

/// A loaded model, ready for training, evaluation or prediction.
#[derive(Clone, Debug)]
pub struct TextClassifier {
    pub config: BertConfig,
    pub bert: Bert,
    pub head: Head,
    pub params: ParamStore,
    pub tokenizer: Tokenizer,
    /// Class (or tag) names in output order; empty for regression.
    pub labels: Vec<String>,
    pub task: Task,
    /// Multi-label: a tag is predicted when its probability reaches this (chosen on validation).
    pub threshold: f64,
    pub device: Device,
    /// The LoRA adapters' settings, when the encoder carries adapters (see [`super::lora`]).
    pub lora: Option<LoraSpec>,
    /// Where the base model came from (`base_model_name_or_path` of an exported adapter).
    pub base_model: String,
}

impl TextClassifier {
    /// Number of outputs of the head.
    pub fn num_outputs(&self) -> usize {
        match self.task {
            Task::Classification | Task::MultiLabel => self.labels.len(),
            Task::Regression => 1,
        }
    }

    /// Logits `[batch, outputs]` computed with the parameters `p` (this model's own, or an
    /// autodiff copy of them while training).
    pub fn logits(&self, p: &ParamStore, ids: Tensor<2, Int>, mask: Tensor<2>, drop: Option<Dropout>) -> Tensor<2> {
        let features = self.features(p, ids, mask, drop); // [batch, hidden]
        self.head_logits(p, features, drop)
    }

    /// What the encoder hands the head `[batch, hidden]`: the mean over real tokens, or the raw
    /// [CLS] state (the pooler belongs to the head, which trains it). With a frozen encoder these
    /// are fixed per text, so the head-only fast path computes them once.
    pub fn features(&self, p: &ParamStore, ids: Tensor<2, Int>, mask: Tensor<2>, drop: Option<Dropout>) -> Tensor<2> {
        let hidden = self.bert.forward(p, ids, mask.clone(), drop); // [batch, seq, hidden]
        match (self.head.pooling, self.head.pooler) {
            (Pooling::Cls, Some(_)) => {
                let [batch, _, width] = hidden.dims();
                hidden.narrow(1, 0, 1).reshape([batch, width]) // [batch, hidden]
            }
            _ => mean_pool(hidden, mask),
        }
    }

    /// The head on encoder features `[batch, hidden]`: pooler (for [CLS] pooling), dropout,
    /// classifier → logits `[batch, outputs]`.
    pub fn head_logits(&self, p: &ParamStore, features: Tensor<2>, drop: Option<Dropout>) -> Tensor<2> {
        let pooled = match (self.head.pooling, self.head.pooler) {
            (Pooling::Cls, Some(pooler)) => pooler.forward(p, features).tanh(),
            _ => features,
        };
        let pooled = apply_dropout(pooled, drop.map_or(0.0, |d| d.hidden)); // [batch, hidden]
        self.head.classifier.forward(p, pooled)
    }
}

/// Draws `n` values from N(0, std²) (Box-Muller on the crate's own generator, so a seed gives the
/// same head on every platform).
pub fn normal_init(n: usize, std: f64, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1 = rng.unit_f64().max(1e-300);
            let u2 = rng.unit_f64();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * std) as f32
        })
        .collect()
}

/// Adds a freshly initialised dense layer `name` (`[out, in]` upstream) to the store, as Hugging
/// Face initialises heads: weights N(0, 0.02²), bias 0.
pub fn init_dense(p: &mut ParamStore, name: &str, out: usize, inp: usize, rng: &mut Rng, device: &Device) -> Result<Dense> {
    let w = p.insert(&format!("{name}.weight"), &[out, inp], normal_init(out * inp, 0.02, rng), true, Group::Head, device)?;
    let b = p.insert(&format!("{name}.bias"), &[out], vec![0.0; out], false, Group::Head, device)?;
    Ok(Dense::new(w, b))
}

/// A head for the classes `labels` from a saved one for `saved` (upstream weights
/// `[saved.len(), inp]` and bias): a class both know keeps its row, a class the saved head lacks
/// gets a fresh one, as [`init_dense`] makes them. Personalising grows a head this way, and a
/// fine-tuned model trained further on overlapping classes keeps what it learned of them.
pub fn remap_head(w: &[f32], b: &[f32], saved: &[String], labels: &[String], inp: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let mut weight = Vec::with_capacity(labels.len() * inp);
    let mut bias = Vec::with_capacity(labels.len());
    for label in labels {
        match saved.iter().position(|s| s == label) {
            Some(i) => {
                weight.extend_from_slice(&w[i * inp..(i + 1) * inp]);
                bias.push(b[i]);
            }
            None => {
                weight.extend(normal_init(inp, 0.02, rng));
                bias.push(0.0);
            }
        }
    }
    (weight, bias)
}

/// How a model's saved head serves the head a run asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadReuse {
    /// The same classes in the same order: loaded as saved.
    Same,
    /// Some classes in common: their rows kept, the others fresh ([`remap_head`]).
    Remap,
    /// Nothing in common (or another task): a fresh head.
    Fresh,
}

impl HeadReuse {
    /// `saved`: whether the file holds a head, and for which task and classes.
    pub fn decide(saved: Option<(Task, &[String])>, task: Task, labels: &[String]) -> HeadReuse {
        match saved {
            Some((t, _)) if t == Task::Regression && task == Task::Regression => HeadReuse::Same,
            Some((t, s)) if t == task && s == labels => HeadReuse::Same,
            Some((t, s)) if t == task && task == Task::Classification && labels.iter().any(|l| s.contains(l)) => HeadReuse::Remap,
            _ => HeadReuse::Fresh,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_grown_head_keeps_the_rows_of_known_classes() {
        let saved = names(&["a", "b"]);
        let w = [1.0, 2.0, 3.0, 4.0]; // a: [1, 2], b: [3, 4]
        let b = [0.5, -0.5];
        let mut rng = Rng::new(1);
        let (w2, b2) = remap_head(&w, &b, &saved, &names(&["b", "c", "a"]), 2, &mut rng);
        assert_eq!(&w2[0..2], &[3.0, 4.0]);
        assert_eq!(&w2[4..6], &[1.0, 2.0]);
        assert_eq!((b2[0], b2[1], b2[2]), (-0.5, 0.0, 0.5));
        assert!(w2[2..4].iter().all(|v| v.abs() < 0.2 && *v != 0.0), "{w2:?}");
        let s: &[String] = &saved;
        assert_eq!(HeadReuse::decide(Some((Task::Classification, s)), Task::Classification, &saved), HeadReuse::Same);
        assert_eq!(HeadReuse::decide(Some((Task::Classification, s)), Task::Classification, &names(&["a", "z"])), HeadReuse::Remap);
        assert_eq!(HeadReuse::decide(Some((Task::Classification, s)), Task::Classification, &names(&["y", "z"])), HeadReuse::Fresh);
        assert_eq!(HeadReuse::decide(Some((Task::Regression, &[])), Task::Classification, &saved), HeadReuse::Fresh);
        assert_eq!(HeadReuse::decide(None, Task::Classification, &saved), HeadReuse::Fresh);
    }
}
