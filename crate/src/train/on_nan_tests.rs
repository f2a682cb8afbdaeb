//! NaN in a step: `on_nan = "stop"` ends the run at that step with a message naming it;
//! `"skip"` passes over the batch without touching the weights and trains on; a run whose
//! batches keep failing stops anyway. The NaN comes from one poisoned row of the head-only fast
//! path's features, so exactly the batches holding that row fail.

use super::config::{OnNan, MAX_SKIPS_IN_A_ROW};
use super::features::{embed_all, Features};
use super::{Event, TrainConfig, Trainer};
use crate::data::Example;
use crate::device::{block_on, read_f32, Device};
use crate::model::HeadSpec;
use crate::model::{load_any, Classifier, ModelFiles, ModelKind};
use crate::prepare::{Prepared, Split, Target};
use std::sync::Arc;

const ROWS: usize = 12;
const BATCH: usize = 4;

/// The demo's ResNet-20 with a fresh 2-class head, 12 training images of pseudo-random pixels
/// (no validation or test split), and their features.
fn model_data_features() -> (Classifier, Prepared, Features) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/resnet20-cifar10");
    let spec = HeadSpec { task: Default::default(), labels: vec!["a".into(), "b".into()], pooling: Default::default(), seed: 3 };
    let model = load_any(ModelFiles::from_dir(&dir).unwrap(), Some(&spec), &Device::flex()).unwrap();
    let mut seed = 11u32;
    let examples = (0..ROWS)
        .map(|i| {
            let pixels = (0..3 * 32 * 32).map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 24) as u8
            });
            Example { text: format!("{i}.png"), label: ["a", "b"][i % 2].into(), line: i, image: Some(Arc::new(pixels.collect())) }
        })
        .collect();
    let targets = (0..ROWS).map(|i| Target::Class(i % 2)).collect();
    let empty = Split { examples: Vec::new(), ids: Vec::new(), targets: Vec::new() };
    let data = Prepared { labels: spec.labels.clone(), train: Split { examples, ids: Vec::new(), targets }, valid: empty, test: None, reports: Vec::new() };
    let f = block_on(embed_all(&model, &data, 8)).unwrap();
    (model, data, f)
}

fn config(on_nan: OnNan, epochs: f64) -> TrainConfig {
    TrainConfig { on_nan, epochs, batch_size: BATCH, valid_split: 0.0, test_split: 0.0, ..TrainConfig::head_only_defaults_for(ModelKind::Image) }
}

/// Runs to the end (or the first error), collecting the step and skip events.
fn run(model: Classifier, data: &Prepared, f: Features, cfg: &TrainConfig) -> (crate::error::Result<Classifier>, Vec<Event>) {
    let mut t = Trainer::new(model, data, cfg, None).unwrap();
    t.use_features(data, f).unwrap();
    let mut events = Vec::new();
    while !t.is_finished() {
        match block_on(t.step(data)) {
            Ok(p) => events.extend(p.step),
            Err(e) => return (Err(e), events),
        }
    }
    (block_on(t.finish(data)).map(|o| o.model), events)
}

fn head(model: &Classifier) -> Vec<f32> {
    let p = model.params();
    [model.head.classifier.weight, model.head.classifier.bias_id()].iter().flat_map(|&id| block_on(read_f32(p.t1(id), "head")).unwrap()).collect()
}

fn poison(f: &mut Features, row: usize) {
    f.train[row * f.dim] = f32::NAN;
}

#[test]
fn stop_names_the_step_and_skip_trains_on() {
    let (model, data, mut poisoned) = model_data_features();
    poison(&mut poisoned, 5);

    // Stop: the first batch holding row 5 ends the run, with its step in the message.
    let (stopped, events) = run(model.clone(), &data, poisoned.clone(), &config(OnNan::Stop, 2.0));
    let msg = stopped.err().expect("a NaN loss stops the run").to_string();
    assert!(msg.starts_with(&format!("training diverged at step {}: the loss is NaN", events.len() + 1)), "{msg}");
    assert!(events.iter().all(|e| matches!(e, Event::Step { .. })));

    // Skip: one batch in each epoch is passed over, the others train; the head stays finite
    // and moved from where it started.
    let epochs = 3;
    let (skipped, events) = run(model.clone(), &data, poisoned, &config(OnNan::Skip, epochs as f64));
    let trained = skipped.expect("skipping trains on");
    let skips: Vec<usize> = events.iter().filter_map(|e| if let Event::Skipped { step, .. } = e { Some(*step) } else { None }).collect();
    assert_eq!(skips.len(), epochs, "one poisoned batch per epoch: {skips:?}");
    assert_eq!(events.len(), epochs * ROWS.div_ceil(BATCH));
    let (before, after) = (head(&model), head(&trained));
    assert!(after.iter().all(|x| x.is_finite()));
    assert!(before.iter().zip(&after).any(|(a, b)| a != b), "the clean batches trained the head");
    if let Some(Event::Skipped { reason, skipped, .. }) = events.iter().find(|e| matches!(e, Event::Skipped { .. })) {
        assert!(reason.starts_with("the loss is NaN"), "{reason}");
        assert_eq!(*skipped, 1);
    }
}

#[test]
fn a_skipped_batch_changes_nothing() {
    // A run whose only batch is poisoned: one skipped step leaves the head bit for bit as it was.
    let (model, data, mut poisoned) = model_data_features();
    (0..ROWS).for_each(|row| poison(&mut poisoned, row));
    let cfg = TrainConfig { max_steps: Some(1), ..config(OnNan::Skip, 1.0) };
    let (out, events) = run(model.clone(), &data, poisoned, &cfg);
    assert_eq!(events.len(), 1);
    assert!(matches!(events[0], Event::Skipped { step: 1, .. }), "{events:?}");
    assert_eq!(head(&out.unwrap()), head(&model));
}

#[test]
fn skipping_gives_up_after_too_many_in_a_row() {
    let (model, data, mut poisoned) = model_data_features();
    (0..ROWS).for_each(|row| poison(&mut poisoned, row));
    let (out, events) = run(model, &data, poisoned, &config(OnNan::Skip, 10.0));
    let msg = out.err().expect("every batch fails").to_string();
    assert_eq!(events.len(), MAX_SKIPS_IN_A_ROW - 1);
    assert!(msg.contains(&format!("after {} skipped batches in a row", MAX_SKIPS_IN_A_ROW - 1)), "{msg}");
}
