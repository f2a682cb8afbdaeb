//! What a classifier predicts (one class, tags, or a number) and what a saved `config.json`
//! says about it.

use serde::{Deserialize, Serialize};

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
