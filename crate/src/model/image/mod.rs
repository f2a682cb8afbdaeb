//! Image families: networks that read normalised pixels (see [`super::input::ImageInput`]).
//! Each family is a folder here; what they share (how an export's `config.json` names the
//! classes) is in this file.

pub mod conv_bn;
pub mod mobilenet;
pub mod processor;
pub mod resnet;
pub mod vit;

use super::face::{Batch, Body};
use super::head::{load_head, HeadSpec, SavedHead};
use super::input::{ImageInput, Input};
use super::load::ModelFiles;
use super::params::ParamStore;
use super::peft::apply as apply_adapter;
use super::task::{saved_classes, saved_threshold, Task};
use super::Classifier;
use crate::device::Device;
use crate::error::Result;
use crate::weights::SafeTensors;
use burn::tensor::Tensor;
use serde_json::{Map, Value};

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

/// The `config.json` fields of an export whose architecture is `fields` (an edgetune config of
/// a torchvision network): those, and the input's size and normalisation.
pub fn export_config(mut fields: Map<String, Value>, input: &Input) -> Map<String, Value> {
    if let Some(i) = input.image() {
        fields.extend(i.to_json_fields());
    }
    fields
}

/// An image classifier around a loaded `body` (its tensors already in `params`): the head
/// `head` as the checkpoint `st` keeps it (kept when `spec`'s classes are the checkpoint's,
/// else fresh), the classes an export's `config` names, the `input` it reads, and the PEFT
/// adapter among `files` (whose saved head wins).
#[allow(clippy::too_many_arguments)]
pub fn classifier(files: &ModelFiles, st: &SafeTensors, config: Option<&Value>, mut params: ParamStore, body: Box<dyn Body>, input: ImageInput, head: &str, spec: Option<&HeadSpec>, device: &Device) -> Result<Classifier> {
    let (task, labels, threshold) = saved_head(config);
    let adapter = files.adapter()?;
    let find = |name: &str| -> Option<(&SafeTensors, String)> {
        if let Some(key) = adapter.as_ref().and_then(|a| a.key_of(name, &body.export_key(name))) {
            return adapter.as_ref().map(|a| (&a.weights, key));
        }
        st.info(&format!("{name}.weight")).is_some().then(|| (st, name.to_string()))
    };
    let head_name = head.to_string();
    let saved = SavedHead { classifier: &head_name, pooler: None, task, labels, pooling: Default::default(), threshold, find: &find };
    let head = load_head(&mut params, saved, spec, body.width(), &files.source, device)?;
    let mut model = Classifier {
        input: Input::Image(input),
        body,
        head: head.head,
        params,
        labels: head.labels,
        task: head.task,
        threshold: head.threshold,
        device: device.clone(),
        lora: None,
        base_model: adapter.as_ref().and_then(|a| a.base_model.clone()).unwrap_or(files.source.clone()),
    };
    if let Some(a) = &adapter {
        apply_adapter(&mut model, a)?;
    }
    Ok(model)
}
