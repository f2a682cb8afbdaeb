//! Predictions for new texts or images: the label and the probability of every class (or the
//! value, for regression; or the tags whose probability reaches the model's threshold, for
//! multi-label).

use crate::error::{Error, Result};
use crate::model::{Classifier, Task};
use crate::prepare::Split;
use crate::train::eval::{argmax, softmax, split_logits};
use crate::train::multilabel::{predicted_tags, sigmoid};
use crate::vision::{decode, to_input, Fit};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Prediction {
    /// The text, or the image's file name.
    pub text: String,
    /// The predicted class, the predicted value as text for regression, or the predicted tags
    /// joined with ", " for multi-label.
    pub label: String,
    /// Probability of each class (empty for regression); multi-label: of each tag, on its own.
    pub probs: BTreeMap<String, f64>,
    /// Multi-label: the predicted tags (probability at least `threshold`), most probable first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The raw outputs of the head.
    pub logits: Vec<f32>,
    /// The predicted value (regression only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Predictions for texts (truncated to `max_length` tokens). An image model refuses them.
pub async fn predict(model: &Classifier, texts: &[String], max_length: usize, batch_size: usize) -> Result<Vec<Prediction>> {
    let Some(tokenizer) = model.tokenizer() else {
        return Err(Error::data("input", "this model classifies images: give it images, not texts"));
    };
    let ids = texts
        .iter()
        .enumerate()
        .map(|(i, t)| tokenizer.encode_truncated(t, max_length).map_err(|e| Error::data(format!("text {}", i + 1), e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let examples = texts.iter().enumerate().map(|(i, t)| crate::data::Example { text: t.clone(), label: String::new(), line: i + 1, image: None }).collect();
    let split = Split { examples, ids, targets: Vec::new() };
    let rows = split_logits(model, &split, batch_size).await?;
    Ok(texts.iter().zip(rows).map(|(text, row)| prediction(text, row, model.task, &model.labels, model.threshold)).collect())
}

/// Predictions for image files given as (name, bytes); `fit` overrides the model's own way of
/// reaching its input size. A file that is not a readable image is an error naming it; a text
/// model refuses images.
pub async fn predict_images(model: &Classifier, files: &[(String, Vec<u8>)], fit: Option<Fit>, batch_size: usize) -> Result<Vec<Prediction>> {
    let Some(input) = model.image_input() else {
        return Err(Error::data("input", "this model classifies texts: give it texts, not images"));
    };
    let fit = fit.unwrap_or(input.fit());
    let mut split = Split::default();
    for (i, (name, bytes)) in files.iter().enumerate() {
        let pixels = to_input(&decode(bytes, name)?, input.size, fit);
        split.examples.push(crate::data::Example { text: name.clone(), label: String::new(), line: i + 1, image: Some(Arc::new(pixels)) });
    }
    let rows = split_logits(model, &split, batch_size).await?;
    Ok(files.iter().zip(rows).map(|((name, _), row)| prediction(name, row, model.task, &model.labels, model.threshold)).collect())
}

fn prediction(text: &str, row: Vec<f32>, task: Task, labels: &[String], threshold: f64) -> Prediction {
    let text = text.to_string();
    match task {
        Task::Classification => Prediction {
            text,
            label: labels.get(argmax(&row)).cloned().unwrap_or_default(),
            probs: labels.iter().cloned().zip(softmax(&row)).collect(),
            tags: None,
            threshold: None,
            value: None,
            logits: row,
        },
        Task::Regression => Prediction {
            text,
            label: row.first().map_or(String::new(), |v| v.to_string()),
            probs: BTreeMap::new(),
            tags: None,
            threshold: None,
            value: row.first().map(|&v| v as f64),
            logits: row,
        },
        Task::MultiLabel => {
            let tags: Vec<String> = predicted_tags(labels, &row, threshold).into_iter().map(|(t, _)| t).collect();
            Prediction {
                text,
                label: tags.join(", "),
                probs: labels.iter().cloned().zip(row.iter().map(|&x| sigmoid(x))).collect(),
                tags: Some(tags),
                threshold: Some(threshold),
                value: None,
                logits: row,
            }
        }
    }
}
