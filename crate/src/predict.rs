//! Predictions for new texts: the label and the probability of every class (or the value, for
//! regression).

use crate::error::Result;
use crate::model::{Task, TextClassifier};
use crate::train::eval::{argmax, logits, softmax};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Prediction {
    pub text: String,
    /// The predicted class, or the predicted value as text for regression.
    pub label: String,
    /// Probability of each class (empty for regression).
    pub probs: BTreeMap<String, f64>,
    /// The raw outputs of the head.
    pub logits: Vec<f32>,
    /// The predicted value (regression only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

pub async fn predict(model: &TextClassifier, texts: &[String], max_length: usize, batch_size: usize) -> Result<Vec<Prediction>> {
    let ids: Vec<Vec<u32>> = texts.iter().map(|t| model.tokenizer.encode_truncated(t, max_length)).collect();
    let rows = logits(model, &ids, batch_size).await?;
    Ok(texts
        .iter()
        .zip(rows)
        .map(|(text, row)| match model.task {
            Task::Classification => {
                let p = softmax(&row);
                Prediction {
                    text: text.clone(),
                    label: model.labels[argmax(&row)].clone(),
                    probs: model.labels.iter().cloned().zip(p).collect(),
                    value: None,
                    logits: row,
                }
            }
            Task::Regression => Prediction {
                text: text.clone(),
                label: format!("{}", row[0]),
                probs: BTreeMap::new(),
                value: Some(row[0] as f64),
                logits: row,
            },
        })
        .collect())
}
