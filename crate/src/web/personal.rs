//! The page's "Add examples": personalising the trained (or a loaded fine-tuned) model with a
//! few new examples, new classes included, as `edgetune personalize` does natively. The run it
//! starts is an ordinary one (the state `startTraining` sets), so the worker steps, finishes and
//! exports it as any other; the export then holds the grown head and its own replay sample.

use super::{err, msg, request, to_js, Session};
use crate::export::checkpoint_model_files;
use crate::model::{Classifier, ModelFiles, ModelKind};
use crate::personalize::{self, REPLAY_IMAGES, REPLAY_TEXT};
use crate::prepare::{DataSource, Prepared};
use crate::run::{load_for_run, prepare_for};
use crate::train::{Trainer, TrainConfig};
use js_sys::Promise;
use serde_json::Value;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// The form's settings that describe the data (and where it runs), which a personalisation
/// keeps; its epochs and learning rate are for full training, so those come from
/// `TrainConfig::personalize_defaults` (or the card's own options).
const DATA_SETTINGS: &[&str] = &["text_column", "label_column", "format", "header", "max_length", "seed", "image_fit", "device", "eval_batch_size"];

/// The replay sample that goes with the page's model: one loaded beside a fine-tuned model, or
/// drawn (when asked for) from the training data of the run that made it.
pub(super) enum Replay {
    File(String, Vec<u8>),
    Run(Box<TrainConfig>, Rc<Prepared>),
}

impl Replay {
    /// The replay file among a loaded model's files, if it has one.
    pub(super) fn among(files: &[(String, Vec<u8>)]) -> Option<Replay> {
        files.iter().find_map(|(name, bytes)| {
            let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
            (base == REPLAY_TEXT || base == REPLAY_IMAGES).then(|| Replay::File(base.to_string(), bytes.clone()))
        })
    }

    /// As the file an export keeps: (name, bytes); None for a run that keeps none (multi-label,
    /// regression, `replay_size` 0).
    pub(super) fn file(&self) -> Result<Option<(String, Vec<u8>)>, JsValue> {
        match self {
            Replay::File(name, bytes) => Ok(Some((name.clone(), bytes.clone()))),
            Replay::Run(cfg, data) => personalize::replay_file(data, cfg).map_err(err),
        }
    }
}

/// `TrainConfig::personalize_defaults(kind, head_only)` with the form's data settings and then
/// the card's `options` (epochs, replay_size, head_only, ...) laid over it.
fn personalize_config(form: JsValue, options: JsValue, kind: ModelKind) -> Result<TrainConfig, JsValue> {
    let bad = |e: String| err(crate::error::Error::config(format!("settings: {e}")));
    let parse = |js: JsValue| -> Result<Value, JsValue> {
        if js.is_undefined() || js.is_null() {
            return Ok(Value::Null);
        }
        serde_wasm_bindgen::from_value(js).map_err(|e| bad(e.to_string()))
    };
    let form = match parse(form)? {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(k, v)| DATA_SETTINGS.contains(&k.as_str()) && !v.is_null()).collect()),
        _ => Value::Null,
    };
    let options = parse(options)?;
    let head_only = options.get("head_only").and_then(Value::as_bool).unwrap_or(false);
    let mut cfg = TrainConfig::personalize_defaults(kind, head_only);
    for given in [form, options] {
        if given.is_object() {
            cfg = TrainConfig::over(&cfg, given).map_err(|e| bad(e.to_string()))?;
        }
    }
    cfg.validate().map_err(err)?;
    Ok(cfg)
}

#[wasm_bindgen]
impl Session {
    /// Continues the page's model with new labelled examples (`dataName`, `dataBytes`: a table,
    /// or for images a zip of class folders), mixing in its replay sample: resolves to the
    /// `{start, fast}` of `startTraining`, and `added` (the new classes), `replayed`,
    /// `old_classes`, `new_examples`, `relabelled`, `reports` and `warning` (no replay sample).
    /// `options` lays personalisation settings over the defaults (`epochs`, `replay_size`: how
    /// many replay examples to mix in at most, `head_only`, ...).
    #[wasm_bindgen(js_name = startPersonalize)]
    pub fn start_personalize(&self, config: JsValue, data_name: String, data_bytes: Vec<u8>, options: JsValue) -> Promise {
        let state = self.state.clone();
        let device = self.device.clone();
        let ready = (|| {
            let mut st = state.borrow_mut();
            if st.training {
                return Err(msg("a run is already in progress: stop it first"));
            }
            let model = st.model.clone().ok_or_else(|| msg("train a model or load a fine-tuned one first"))?;
            let cfg = personalize_config(config, options, model.kind())?;
            let replay = match &st.replay {
                Some(r) => r.file()?,
                None => None,
            };
            st.training = true;
            Ok((model, cfg, replay))
        })();
        future_to_promise(async move {
            let (model, cfg, replay) = ready?;
            let started = start(&state, &device, &model, &cfg, replay, data_name, data_bytes).await;
            if started.is_err() {
                state.borrow_mut().training = false;
            }
            started
        })
    }
}

async fn start(
    state: &Rc<std::cell::RefCell<super::State>>,
    device: &crate::device::Device,
    model: &Classifier,
    cfg: &TrainConfig,
    replay: Option<(String, Vec<u8>)>,
    data_name: String,
    data_bytes: Vec<u8>,
) -> Result<JsValue, JsValue> {
    let files = ModelFiles::from_files("the page's model", checkpoint_model_files(model).await.map_err(err)?).map_err(err)?;
    let warning = replay.is_none().then(|| {
        format!("the model has no replay sample ({REPLAY_TEXT} or {REPLAY_IMAGES}): training on the new examples alone, the old classes may be forgotten")
    });
    let replay = replay.map(|(name, bytes)| DataSource::Bytes { name, bytes });
    let new = DataSource::Bytes { name: data_name, bytes: data_bytes };
    let plan = personalize::plan(&files, &new, replay.as_ref(), Some(cfg.replay_size), cfg).map_err(err)?;
    let data = DataSource::Bytes { name: plan.train.0.clone(), bytes: plan.train.1.clone() };
    let prepared = prepare_for(&files, &request(&data, &plan.config)).map_err(err)?;
    let mut grown = load_for_run(files.clone(), &plan.config, &prepared, device).map_err(err)?;
    personalize::imprint(&mut grown, &prepared, plan.old_labels.len(), plan.config.eval_batch_size).await.map_err(err)?;
    let trainer = Trainer::new(grown, &prepared, &plan.config, None).map_err(err)?;
    let start = trainer.start_event(&prepared, None);
    let fast = crate::train::features::fast_path(&trainer.model, &trainer.cfg);
    let mut st = state.borrow_mut();
    st.model_files = Some(files);
    st.data = Some(data);
    st.trainer = Some(trainer);
    st.prepared = Some((plan.config.clone(), Rc::new(prepared)));
    st.fast.reset();
    to_js(&serde_json::json!({
        "start": start, "fast": fast, "added": plan.new_labels, "replayed": plan.replayed,
        "old_classes": plan.old_labels, "new_examples": plan.new_examples, "relabelled": plan.relabelled,
        "reports": plan.reports, "warning": warning,
    }))
}
