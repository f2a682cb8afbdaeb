//! Evaluation: logits for a split (batched by length, mapped back to the split's order), then the
//! classification, regression or multi-label report.

use super::fit::input_batch;
use super::multilabel;
use crate::data::sequential_batches;
use crate::device::read_f32;
use crate::error::Result;
use crate::metrics::{classification_report, regression_report, ClassificationReport, MultiLabelReport, RegressionReport};
use crate::model::{Classifier, Mode, Task};
use crate::prepare::{Split, Target};
use serde::{Deserialize, Serialize};

/// Metrics of one evaluation; serialises as the report's own fields (`accuracy`, `macro_f1`,
/// `loss`, ...; `mae`, `rmse`, `r2`, `loss`; or `micro_f1`, `macro_f1`, `subset_accuracy`, ...).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EvalReport {
    Classification(ClassificationReport),
    Regression(RegressionReport),
    MultiLabel(MultiLabelReport),
}

impl EvalReport {
    pub fn loss(&self) -> f64 {
        match self {
            EvalReport::Classification(r) => r.loss,
            EvalReport::Regression(r) => r.loss,
            EvalReport::MultiLabel(r) => r.loss,
        }
    }

    /// Accuracy / macro F1 / micro F1 (= accuracy) for classification; subset accuracy / macro
    /// F1 / micro F1 for multi-label; for regression the metric is the loss.
    pub fn metric(&self, metric: super::Metric) -> f64 {
        use super::Metric::*;
        match (self, metric) {
            (EvalReport::Classification(r), Accuracy | MicroF1) => r.accuracy,
            (EvalReport::Classification(r), MacroF1) => r.macro_f1,
            (EvalReport::MultiLabel(r), Accuracy) => r.subset_accuracy,
            (EvalReport::MultiLabel(r), MacroF1) => r.macro_f1,
            (EvalReport::MultiLabel(r), MicroF1) => r.micro_f1,
            (r, _) => r.loss(),
        }
    }

    /// A one-line summary for progress output.
    pub fn summary(&self) -> String {
        match self {
            EvalReport::Classification(r) => {
                format!("loss {:.4}  accuracy {:.2} %  macro F1 {:.4}", r.loss, r.accuracy * 100.0, r.macro_f1)
            }
            EvalReport::Regression(r) => format!("mse {:.4}  mae {:.4}  rmse {:.4}  R² {:.4}", r.loss, r.mae, r.rmse, r.r2),
            EvalReport::MultiLabel(r) => format!(
                "loss {:.4}  micro F1 {:.4}  macro F1 {:.4}  subset accuracy {:.2} %  (threshold {:.2})",
                r.loss,
                r.micro_f1,
                r.macro_f1,
                r.subset_accuracy * 100.0,
                r.threshold
            ),
        }
    }
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalReport::Classification(r) => r.fmt(f),
            EvalReport::Regression(r) => r.fmt(f),
            EvalReport::MultiLabel(r) => r.fmt(f),
        }
    }
}

/// Logits `[n][outputs]` for every example of `split`, in order (evaluation mode). Texts are
/// batched longest first, so each batch pads little; results are put back in order.
pub async fn split_logits(model: &Classifier, split: &Split, batch_size: usize) -> Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..split.len()).collect();
    if !split.ids.is_empty() {
        order.sort_by_key(|&i| std::cmp::Reverse(split.ids[i].len()));
    }
    let outputs = model.num_outputs();
    let mut out = vec![Vec::new(); split.len()];
    for batch in sequential_batches(order.len(), batch_size) {
        let rows: Vec<usize> = batch.iter().map(|&b| order[b]).collect();
        let (logits, _) = model.logits(&model.params, input_batch(model, split, &rows, None), Mode::EVAL); // [batch, outputs]
        let values = read_f32(logits, "logits").await?;
        for (k, &i) in rows.iter().enumerate() {
            out[i] = values[k * outputs..(k + 1) * outputs].to_vec();
        }
    }
    Ok(out)
}

/// Softmax of one row of logits, computed stably.
pub fn softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = row.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Evaluates `model` on `split`.
pub async fn evaluate(model: &Classifier, split: &Split, batch_size: usize) -> Result<EvalReport> {
    Ok(evaluate_keeping_logits(model, split, batch_size).await?.0)
}

/// Evaluates `model` on `split`, and returns the logits too (for the misclassified examples).
pub async fn evaluate_keeping_logits(model: &Classifier, split: &Split, batch_size: usize) -> Result<(EvalReport, Vec<Vec<f32>>)> {
    let logits = split_logits(model, split, batch_size).await?;
    Ok((report_from_logits(model, &logits, &split.targets), logits))
}

/// The report for precomputed logits (multi-label: tags from the model's threshold on).
pub fn report_from_logits(model: &Classifier, logits: &[Vec<f32>], targets: &[Target]) -> EvalReport {
    match model.task() {
        Task::MultiLabel => EvalReport::MultiLabel(multilabel::report(model.labels(), logits, targets, model.threshold())),
        Task::Classification => {
            let (mut truth, mut pred, mut loss) = (Vec::new(), Vec::new(), 0.0);
            for (row, t) in logits.iter().zip(targets) {
                let Target::Class(c) = *t else { continue };
                let p = softmax(row);
                loss -= p[c].max(1e-12).ln();
                pred.push(argmax(row));
                truth.push(c);
            }
            let loss = loss / truth.len().max(1) as f64;
            EvalReport::Classification(classification_report(model.labels(), &truth, &pred, loss))
        }
        Task::Regression => {
            let (mut truth, mut pred) = (Vec::new(), Vec::new());
            for (row, t) in logits.iter().zip(targets) {
                if let Target::Value(v) = *t {
                    truth.push(v as f64);
                    pred.push(row[0] as f64);
                }
            }
            EvalReport::Regression(regression_report(&truth, &pred))
        }
    }
}

pub fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

/// An example the model gets wrong, for the page's "misclassified" list.
#[derive(Clone, Debug, Serialize)]
pub struct Misclassified {
    /// The text, or the image's file name.
    pub text: String,
    /// The true class (multi-label: the true tags, comma-separated).
    pub label: String,
    pub predicted: String,
    /// The probability the model gave its (wrong) prediction; multi-label: how sure its worst
    /// wrong decision about one tag was.
    pub confidence: f64,
    pub line: usize,
}

/// The examples of `split` the model classifies wrongly (from its `logits` on the split), most
/// confident mistakes first; multi-label: those whose predicted tag set is not the true one.
pub fn misclassified(model: &Classifier, split: &Split, rows: &[Vec<f32>], limit: usize) -> Vec<Misclassified> {
    let mut wrong: Vec<Misclassified> = match model.task() {
        Task::Classification => wrong_classes(model, split, rows),
        Task::MultiLabel => multilabel::wrong_sets(model.labels(), split, rows, model.threshold())
            .into_iter()
            .map(|(e, label, predicted, confidence)| Misclassified { text: e.text.clone(), label, predicted, confidence, line: e.line })
            .collect(),
        Task::Regression => Vec::new(),
    };
    wrong.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    wrong.truncate(limit);
    wrong
}

fn wrong_classes(model: &Classifier, split: &Split, rows: &[Vec<f32>]) -> Vec<Misclassified> {
    rows
        .iter()
        .zip(&split.targets)
        .zip(&split.examples)
        .filter_map(|((row, t), e)| {
            let Target::Class(c) = *t else { return None };
            let p = argmax(row);
            (p != c).then(|| Misclassified {
                text: e.text.clone(),
                label: model.labels()[c].clone(),
                predicted: model.labels()[p].clone(),
                confidence: softmax(row)[p],
                line: e.line,
            })
        })
        .collect()
}
