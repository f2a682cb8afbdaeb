//! Personalising a fine-tuned model with a few new examples, new classes included, without
//! forgetting the old ones (`edgetune personalize`, the page's "add examples").
//!
//! An export keeps a class-balanced replay sample of its training data beside the weights
//! ([`REPLAY_TEXT`]: one `{"text", "label"}` object per line; [`REPLAY_IMAGES`]: PNGs in class
//! folders). Personalising reads the new examples, checks their classes against the model's
//! ([`plan`]), and trains on the new examples plus the replay sample as one file, with the
//! model's classes first in its class order: old classes keep their head rows, a new class gets
//! a row imprinted from its examples' features ([`imprint`]). [`compare`] then reports accuracy
//! on the old and the new classes separately, beside the old classes' accuracy before.

use crate::data::{DataReport, Example};
use crate::device::{read_f32, Device};
use crate::error::{Error, Result};
use crate::model::task::saved_classes;
use crate::model::{Classifier, ModelFiles, Task};
use crate::prepare::{read, DataSource, Prepared, Split, Target};
use crate::rng::Rng;
use crate::run::TrainRequest;
use crate::train::eval::{argmax, split_logits};
use crate::train::TrainConfig;
use image::{ExtendedColorType, ImageEncoder};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The replay sample of a text model, beside its export.
pub const REPLAY_TEXT: &str = "replay.jsonl";
/// The replay sample of an image model: a zip of PNGs at the model's input size, in class folders.
pub const REPLAY_IMAGES: &str = "replay.zip";

/// A class-balanced sample of at most `size` examples: classes take turns (a small class gives
/// all it has), each drawing its examples in a seeded random order.
pub fn replay_sample<'a>(examples: &[&'a Example], size: usize, seed: u64) -> Vec<&'a Example> {
    let mut by_class: BTreeMap<&str, Vec<&'a Example>> = BTreeMap::new();
    for e in examples {
        by_class.entry(e.label.as_str()).or_default().push(e);
    }
    let mut rng = Rng::derive(seed, "replay");
    let mut queues: Vec<Vec<&'a Example>> = by_class
        .into_values()
        .map(|mut v| {
            rng.shuffle(&mut v);
            v
        })
        .collect();
    let mut out = Vec::with_capacity(size.min(examples.len()));
    while out.len() < size && queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if out.len() < size {
                out.extend(q.pop());
            }
        }
    }
    out
}

/// The replay sample of a run's training split, as the file to keep beside its export; None
/// unless the run is single-label classification, or with `replay_size` 0.
pub fn replay_file(data: &Prepared, cfg: &TrainConfig) -> Result<Option<(String, Vec<u8>)>> {
    if cfg.replay_size == 0 || cfg.task != Task::Classification || data.labels.is_empty() {
        return Ok(None);
    }
    let all: Vec<&Example> = data.train.examples.iter().collect();
    let sample = replay_sample(&all, cfg.replay_size, cfg.seed);
    let (ext, bytes) = examples_file(&sample, ("text", "label"))?;
    Ok(Some((format!("replay.{ext}"), bytes)))
}

/// `examples` as a data file edgetune reads back: JSON Lines with the given text and label keys,
/// or, for images, a zip of PNGs in class folders. Returns the extension and the bytes. Images
/// of a class whose name cannot be a folder name (with a `/`) are left out.
fn examples_file(examples: &[&Example], (text_key, label_key): (&str, &str)) -> Result<(&'static str, Vec<u8>)> {
    if examples.first().is_some_and(|e| e.image.is_some()) {
        let mut entries = Vec::with_capacity(examples.len());
        for (i, e) in examples.iter().enumerate() {
            let bad_folder = e.label.contains(['/', '\\']) || e.label == "." || e.label == "..";
            if let (Some(pixels), false) = (&e.image, bad_folder) {
                entries.push((format!("{}/{i:05}.png", e.label), png(pixels)?));
            }
        }
        return Ok(("zip", crate::archive::zip(&entries)));
    }
    let mut out = Vec::new();
    for e in examples {
        let mut row = serde_json::Map::new();
        row.insert(text_key.to_string(), Value::String(e.text.clone()));
        row.insert(label_key.to_string(), Value::String(e.label.clone()));
        out.extend_from_slice(Value::Object(row).to_string().as_bytes());
        out.push(b'\n');
    }
    Ok(("jsonl", out))
}

/// A PNG of square CHW pixels.
fn png(chw: &[u8]) -> Result<Vec<u8>> {
    let plane = chw.len() / 3;
    let size = (plane as f64).sqrt().round() as usize;
    let mut hwc = vec![0u8; chw.len()];
    for i in 0..plane {
        for c in 0..3 {
            hwc[i * 3 + c] = chw[c * plane + i];
        }
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&hwc, size as u32, size as u32, ExtendedColorType::Rgb8)
        .map_err(|e| Error::data("replay image", e.to_string()))?;
    Ok(out)
}

/// The replay sample kept with a model directory: beside it, or for a checkpoint in its run
/// directory.
pub fn replay_in(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let run_dir = dir.parent().and_then(|p| p.parent()).filter(|r| r.join("run.json").exists());
    [Some(dir), run_dir]
        .into_iter()
        .flatten()
        .flat_map(|d| [d.join(REPLAY_TEXT), d.join(REPLAY_IMAGES)])
        .find(|p| p.is_file())
}

/// The classes a fine-tuned model was trained on (its `config.json`'s `id2label`, in id order).
pub fn model_classes(files: &ModelFiles) -> Result<Vec<String>> {
    let config = files.config_json()?;
    let (task, labels) = config.as_ref().and_then(Value::as_object).map_or((Task::Classification, Vec::new()), saved_classes);
    if task != Task::Classification {
        return Err(Error::model(&files.source, "personalize continues a single-label classifier: this model is not one (problem_type in config.json)"));
    }
    if labels.is_empty() {
        return Err(Error::model(
            &files.source,
            "no classes (config.json has no id2label): personalize continues a fine-tuned model; fine-tune the base model first with `edgetune train`",
        ));
    }
    Ok(labels)
}

/// What a personalisation trains on, and how.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The run's configuration: the model's classes first, the combined file's columns.
    pub config: TrainConfig,
    /// The new examples, then the replayed ones, as one data file: (name, bytes).
    pub train: (String, Vec<u8>),
    pub old_labels: Vec<String>,
    /// Classes the model did not know, in the order their outputs are added.
    pub new_labels: Vec<String>,
    pub new_examples: usize,
    pub replayed: usize,
    /// Replay examples left out because the new data gives the same text or image another label.
    pub relabelled: usize,
    /// The new data's report (and the replay sample's).
    pub reports: Vec<DataReport>,
}

impl Plan {
    /// The run that trains on this plan, its combined data written into `run_dir` first, so
    /// that `edgetune train --resume` finds it there.
    pub fn request(&self, model: &Path, run_dir: &Path, valid: Option<DataSource>, test: Option<DataSource>) -> Result<TrainRequest> {
        std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
        let train_file = run_dir.join(&self.train.0);
        crate::fsutil::write_atomic(&train_file, &self.train.1)?;
        Ok(TrainRequest { model: model.to_path_buf(), train: DataSource::Path(train_file), valid, test, config: self.config.clone(), run_dir: Some(run_dir.to_path_buf()) })
    }
}

/// The model a personalisation request continues, its head grown to the plan's classes with
/// the rows of the classes from `first_new` on imprinted ([`imprint`]), and the prepared data.
pub async fn load_grown(req: &TrainRequest, first_new: usize, device: &Device) -> Result<(Classifier, Prepared)> {
    let (mut model, data) = crate::run::load_and_prepare(req, device)?;
    imprint(&mut model, &data, first_new, req.config.eval_batch_size).await?;
    Ok((model, data))
}

/// A label as compared for near-misses: letters and digits only, lower case.
fn label_key(l: &str) -> String {
    l.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Reads the new examples and the replay sample (at most `replay_limit` of it, balanced over
/// classes) for the model in `files`, and checks them: a class the model does not know but whose
/// name differs from one of its classes only in case or punctuation is a clear error (it would
/// silently become a new class), as is a replay sample with classes the model does not have.
pub fn plan(files: &ModelFiles, new: &DataSource, replay: Option<&DataSource>, replay_limit: Option<usize>, cfg: &TrainConfig) -> Result<Plan> {
    if cfg.task != Task::Classification {
        return Err(Error::config("personalize continues a classifier: task must be classification"));
    }
    let old_labels = model_classes(files)?;
    let replay_cfg = TrainConfig { format: None, header: None, ..cfg.clone() };
    let (new_ex, new_report, text_col, label_col, replay_read) = crate::run::with_encoder(files, cfg, |enc| {
        let (ex, report, t, l) = read(new, cfg, None, enc, 1)?;
        let replay_read = replay.map(|r| read(r, &replay_cfg, Some(("text", "label")), enc, 1)).transpose()?;
        Ok((ex, report, t, l, replay_read))
    })?;
    if new_ex.is_empty() {
        return Err(Error::data(new.name(), "no usable rows after cleaning (every row had an empty text or label)"));
    }
    let known: HashMap<String, &str> = old_labels.iter().map(|l| (label_key(l), l.as_str())).collect();
    let mut new_labels: Vec<String> = Vec::new();
    for e in &new_ex {
        if old_labels.contains(&e.label) || new_labels.contains(&e.label) {
            continue;
        }
        if let Some(old) = known.get(&label_key(&e.label)) {
            let at = if e.image.is_some() { format!("'{}'", e.text) } else { format!("line {}", e.line) };
            return Err(Error::data(
                new.name(),
                format!(
                    "{at}: label '{}' is not one of the model's classes but looks like its class '{old}': \
                     spell it '{old}' to add examples to that class, or give the new class a clearly different name",
                    e.label
                ),
            ));
        }
        new_labels.push(e.label.clone());
    }
    crate::prepare::sort_labels(&mut new_labels);
    let mut reports = vec![new_report];
    let mut replay_ex = Vec::new();
    if let (Some((ex, report, _, _)), Some(src)) = (replay_read, replay) {
        if let Some(e) = ex.iter().find(|e| !old_labels.contains(&e.label)) {
            return Err(Error::data(
                src.name(),
                format!("label '{}' is not one of the model's classes: this replay sample belongs to another model", e.label),
            ));
        }
        replay_ex = ex;
        reports.push(report);
    }
    // The new data wins where it labels a replayed text or image.
    let same = |a: &Example, b: &Example| match (&a.image, &b.image) {
        (Some(x), Some(y)) => x == y,
        _ => a.text == b.text,
    };
    let before = replay_ex.len();
    replay_ex.retain(|r| !new_ex.iter().any(|n| same(n, r) && n.label != r.label));
    let relabelled = before - replay_ex.len();
    replay_ex.retain(|r| !new_ex.iter().any(|n| same(n, r)));
    let replay_refs: Vec<&Example> = replay_ex.iter().collect();
    let replayed = replay_sample(&replay_refs, replay_limit.unwrap_or(usize::MAX), cfg.seed);
    let mut combined: Vec<&Example> = new_ex.iter().collect();
    combined.extend(&replayed);
    let (ext, bytes) = examples_file(&combined, (&text_col, &label_col))?;
    let config = TrainConfig {
        labels: old_labels.clone(),
        text_column: Some(text_col),
        label_column: Some(label_col),
        format: None,
        header: None,
        ..cfg.clone()
    };
    Ok(Plan {
        config,
        train: (format!("personalize.{ext}"), bytes),
        old_labels,
        new_labels,
        new_examples: new_ex.len(),
        replayed: replayed.len(),
        relabelled,
        reports,
    })
}

/// The features the head sees for the examples `rows` of `split`, row-major `[rows, dim]`.
async fn head_features(model: &Classifier, split: &Split, rows: &[usize], batch_size: usize) -> Result<(Vec<f32>, usize)> {
    let mut out = Vec::with_capacity(rows.len() * model.feature_dim());
    for batch in rows.chunks(batch_size.max(1)) {
        out.extend(read_f32(crate::train::features::batch_features(model, split, batch), "features").await?);
    }
    Ok((out, model.feature_dim()))
}

/// Sets the head rows of the classes from `first_new` on from their training examples'
/// features, so that a new class starts where its examples are instead of at random ("weight
/// imprinting", Qi et al. 2018) and a few examples and a short run are enough. A new row points
/// from the mean feature of all the training examples to its class's mean, scaled to the old
/// rows' mean norm: centring matters, since features share a large common component (a CNN's
/// pooled features are all non-negative), and a row along it would win for every input. Its
/// bias makes its logit on its own class mean what the old rows give on theirs, on average, so
/// that it neither dominates nor vanishes.
pub async fn imprint(model: &mut Classifier, data: &Prepared, first_new: usize, batch_size: usize) -> Result<()> {
    let outputs = data.labels.len();
    if first_new == 0 || first_new >= outputs || data.train.is_empty() {
        return Ok(());
    }
    let rows: Vec<usize> = (0..data.train.len()).collect();
    let (features, dim) = head_features(model, &data.train, &rows, batch_size).await?;
    let (w_id, b_id) = (model.head.classifier.weight, model.head.classifier.bias_id());
    let device = model.device().clone();
    let params = model.params_mut();
    let (w_name, b_name) = (params.get(w_id).name.clone(), params.get(b_id).name.clone());
    let stored = read_f32(params.t1(w_id), &w_name).await?; // [dim, outputs]
    let mut w = crate::model::params::transpose(&stored, dim, outputs); // [outputs, dim]
    let mut b = read_f32(params.t1(b_id), &b_name).await?;
    // Per-class mean features, and the mean over all examples.
    let mut means = vec![0.0f64; outputs * dim];
    let mut counts = vec![0usize; outputs];
    let mut all = vec![0.0f64; dim];
    for (i, f) in features.chunks(dim).enumerate() {
        let Target::Class(c) = data.train.targets[i] else { continue };
        counts[c] += 1;
        for (j, &x) in f.iter().enumerate() {
            means[c * dim + j] += x as f64;
            all[j] += x as f64 / data.train.len() as f64;
        }
    }
    for c in 0..outputs {
        let n = counts[c].max(1) as f64;
        means[c * dim..(c + 1) * dim].iter_mut().for_each(|m| *m /= n);
    }
    let dot = |w: &[f32], m: &[f64]| w.iter().zip(m).map(|(&a, &b)| a as f64 * b).sum::<f64>();
    let norm = |v: &[f32]| v.iter().map(|x| (x * x) as f64).sum::<f64>().sqrt();
    let old_norm = (0..first_new).map(|c| norm(&w[c * dim..(c + 1) * dim])).sum::<f64>() / first_new as f64;
    // What an old row gives its own class's mean (over the old classes the replay sample holds).
    let seen: Vec<usize> = (0..first_new).filter(|&c| counts[c] > 0).collect();
    let own_logit = if seen.is_empty() {
        None
    } else {
        Some(seen.iter().map(|&c| dot(&w[c * dim..(c + 1) * dim], &means[c * dim..(c + 1) * dim]) + b[c] as f64).sum::<f64>() / seen.len() as f64)
    };
    let old_bias = b[..first_new].iter().map(|&x| x as f64).sum::<f64>() / first_new as f64;
    for c in first_new..outputs {
        if counts[c] == 0 {
            continue;
        }
        let mean = &means[c * dim..(c + 1) * dim];
        let dir: Vec<f64> = mean.iter().zip(&all).map(|(m, a)| m - a).collect();
        let n = dir.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !(n > 0.0 && n.is_finite()) {
            continue;
        }
        let row: Vec<f32> = dir.iter().map(|x| (x / n * old_norm) as f32).collect();
        // Without old examples to compare with, the logit at the class mean is the row's own
        // reach there plus the old rows' mean bias.
        let bias = match own_logit {
            Some(target) => target - dot(&row, mean),
            None => old_bias,
        };
        w[c * dim..(c + 1) * dim].copy_from_slice(&row);
        b[c] = bias as f32;
    }
    params.insert(&w_name, &[outputs, dim], w, true, crate::model::params::Group::Head, &device)?;
    params.insert(&b_name, &[outputs], b, false, crate::model::params::Group::Head, &device)?;
    Ok(())
}

/// Accuracy on the model's old classes and on the new ones, on a labelled test split.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Comparison {
    pub old_classes: usize,
    pub new_classes: usize,
    /// Test examples of old and of new classes.
    pub old_examples: usize,
    pub new_examples: usize,
    /// The old classes' accuracy before personalising (the original model, its own classes).
    pub old_accuracy_before: Option<f64>,
    pub old_accuracy: Option<f64>,
    pub new_accuracy: Option<f64>,
    /// Over the whole test split.
    pub accuracy: f64,
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2} %", v * 100.0));
        write!(f, "old classes ({}, {} test examples): {}", self.old_classes, self.old_examples, pct(self.old_accuracy))?;
        if let (Some(before), Some(after)) = (self.old_accuracy_before, self.old_accuracy) {
            write!(f, " (before: {:.2} %, {:+.2} points)", before * 100.0, (after - before) * 100.0)?;
        }
        write!(f, "\nnew classes ({}, {} test examples): {}", self.new_classes, self.new_examples, pct(self.new_accuracy))?;
        write!(f, "\nall classes: {:.2} %", self.accuracy * 100.0)
    }
}

/// The rows of `split` whose class is below `first_new` (old), or not (new).
fn rows_of(split: &Split, first_new: usize, old: bool) -> Vec<usize> {
    (0..split.len()).filter(|&i| matches!(split.targets[i], Target::Class(c) if (c < first_new) == old)).collect()
}

fn accuracy(logits: &[Vec<f32>], split: &Split, rows: &[usize]) -> Option<f64> {
    let right = rows.iter().filter(|&&i| split.targets[i] == Target::Class(argmax(&logits[i]))).count();
    (!rows.is_empty()).then(|| right as f64 / rows.len() as f64)
}

/// The accuracy of `original` (the model before personalising, its own classes only) on the
/// test examples of its classes.
pub async fn accuracy_before(original: &Classifier, test: &Split, first_new: usize, batch_size: usize) -> Result<Option<f64>> {
    let rows = rows_of(test, first_new, true);
    let sub = Split {
        examples: rows.iter().map(|&i| test.examples[i].clone()).collect(),
        ids: if test.ids.is_empty() { Vec::new() } else { rows.iter().map(|&i| test.ids[i].clone()).collect() },
        targets: rows.iter().map(|&i| test.targets[i].clone()).collect(),
    };
    let logits = split_logits(original, &sub, batch_size).await?;
    Ok(accuracy(&logits, &sub, &(0..sub.len()).collect::<Vec<_>>()))
}

/// Old- and new-class accuracy of the personalised `model` on `test`.
pub async fn compare(model: &Classifier, test: &Split, first_new: usize, before: Option<f64>, batch_size: usize) -> Result<Comparison> {
    let logits = split_logits(model, test, batch_size).await?;
    let (old, new) = (rows_of(test, first_new, true), rows_of(test, first_new, false));
    let all: Vec<usize> = (0..test.len()).collect();
    Ok(Comparison {
        old_classes: first_new,
        new_classes: model.labels().len().saturating_sub(first_new),
        old_examples: old.len(),
        new_examples: new.len(),
        old_accuracy_before: before,
        old_accuracy: accuracy(&logits, test, &old),
        new_accuracy: accuracy(&logits, test, &new),
        accuracy: accuracy(&logits, test, &all).unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str, label: &str) -> Example {
        Example { text: text.into(), label: label.into(), line: 0, image: None }
    }

    #[test]
    fn the_replay_sample_is_balanced_over_classes() {
        let mut all = Vec::new();
        for i in 0..50 {
            all.push(ex(&format!("a{i}"), "a"));
        }
        for i in 0..3 {
            all.push(ex(&format!("b{i}"), "b"));
        }
        for i in 0..20 {
            all.push(ex(&format!("c{i}"), "c"));
        }
        let refs: Vec<&Example> = all.iter().collect();
        let s = replay_sample(&refs, 20, 7);
        let count = |l: &str| s.iter().filter(|e| e.label == l).count();
        assert_eq!((s.len(), count("a"), count("b"), count("c")), (20, 9, 3, 8));
        assert_eq!(replay_sample(&refs, 1000, 7).len(), all.len());
        // Seeded: the same sample every time; another seed, another sample.
        let names = |s: &[&Example]| s.iter().map(|e| e.text.clone()).collect::<Vec<_>>();
        assert_eq!(names(&s), names(&replay_sample(&refs, 20, 7)));
        assert_ne!(names(&s), names(&replay_sample(&refs, 20, 8)));
    }

    #[test]
    fn replay_files_read_back_as_data() {
        let rows = [ex("hello, \"world\"", "greet"), ex("bye\nnow", "leave")];
        let refs: Vec<&Example> = rows.iter().collect();
        let (ext, bytes) = examples_file(&refs, ("utterance", "intent")).unwrap();
        assert_eq!(ext, "jsonl");
        let table = crate::data::parse_table(&bytes, "r.jsonl", &Default::default()).unwrap();
        let (t, l) = crate::data::pick_columns(&table, Some("utterance"), Some("intent")).unwrap();
        let (back, _) = crate::data::clean(&table, t, l);
        let back: Vec<(&str, &str)> = back.iter().map(|e| (e.text.as_str(), e.label.as_str())).collect();
        assert_eq!(back, [("hello, \"world\"", "greet"), ("bye\nnow", "leave")]);

        // Images: PNGs in class folders, the same pixels when decoded at the same size.
        let pixels: Vec<u8> = (0..3 * 4 * 4).map(|i| (i * 5) as u8).collect();
        let cat = Example { image: Some(std::sync::Arc::new(pixels.clone())), ..ex("x.png", "cat") };
        let dog = Example { image: Some(std::sync::Arc::new(pixels.iter().map(|p| 255 - p).collect())), ..ex("y.png", "dog") };
        let odd = Example { label: "a/b".into(), ..cat.clone() }; // cannot be a folder: left out
        let (ext, zip) = examples_file(&[&cat, &odd, &dog], ("path", "label")).unwrap();
        assert_eq!(ext, "zip");
        let (files, _) = crate::vision::read_zip(&zip, "replay.zip").unwrap();
        let labels: Vec<&str> = files.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(labels, ["cat", "dog"]);
        let (back, _) = crate::vision::clean_images("replay.zip", files, Vec::new(), 4, crate::vision::Fit::Resize);
        assert_eq!(back[0].image.as_deref(), Some(&pixels));
        assert_eq!(back[1].image.as_deref(), dog.image.as_deref());
    }

    #[test]
    fn near_miss_labels_are_compared_without_case_and_punctuation() {
        assert_eq!(label_key("Card Arrival"), label_key("card_arrival"));
        assert_ne!(label_key("card_arrival"), label_key("card_arrivals"));
    }
}
