//! Image families: networks that read normalised pixels (see [`super::input::ImageInput`]).
//! Each family is a folder here; what they share (how an export's `config.json` names the
//! classes) is in this file.

pub mod resnet;

use super::face::Batch;
use super::task::{saved_classes, saved_threshold, Task};
use burn::tensor::Tensor;
use serde_json::Value;

/// What an exported image model's `config.json` says about its head: task, classes, threshold.
pub fn saved_head(config: Option<&Value>) -> (Task, Vec<String>, f64) {
    let (task, labels) = config.and_then(Value::as_object).map_or((Task::Classification, Vec::new()), saved_classes);
    (task, labels, saved_threshold(config.and_then(|c| c.get("edgetune_threshold"))))
}

/// The pixels of an image batch. An image body is only ever given the batches its classifier
/// builds, so tokens here are a caller's bug, reported as an empty batch rather than a crash.
pub fn pixels(batch: Batch) -> Tensor<4> {
    match batch {
        Batch::Pixels(x) => x,
        Batch::Tokens { mask, .. } => Tensor::<4>::zeros([0, 3, 1, 1], &mask.device()),
    }
}
