//! The page's JS boundary, and the only wasm-bindgen code (with its sub-modules: `quick.rs` the
//! head-only fast path, `trained.rs` predictions and export, `memory.rs` the memory check): a
//! [`Session`] that the Web Worker (`web/worker.js`) owns. It converts JS values to the core's
//! serde structs and back, and core errors to `Error` objects whose message is the core's;
//! training logic stays in the core.
//!
//! Methods that await the device return Promises. wasm-bindgen futures must be `'static`, so
//! state lives in an `Rc<RefCell<..>>` and the trainer is taken out for the length of a step:
//! a second call while one is running gets a clear "busy" error instead of a borrow panic.

use crate::archive;
use crate::device::{self, Backend, Device};
use crate::error::Error;
use crate::model::{load_any, Body, Classifier, HeadSpec, ModelFiles, ModelKind};
use crate::prepare::{augment_preview, image_preview, preview, DataSource, Prepared};
use crate::run::{demo_config, load_for_run, prepare_for, resume_from_files, TrainRequest};
use crate::train::eval::{misclassified, split_logits};
use crate::train::driver::{Saver, Saves};
use crate::train::{Trainer, TrainConfig};
use crate::vision::PreviewSpec;
use js_sys::{Array, Promise, Uint8Array};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

mod memory;
mod personal;
mod quick;
mod trained;

use memory::{data_len, memory_check};

/// File names per class in an image collection's preview (the page shows them as thumbnails).
const SAMPLES_PER_CLASS: usize = 6;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn err(e: Error) -> JsValue {
    JsError::new(&e.to_string()).into()
}

fn msg(m: &str) -> JsValue {
    JsError::new(m).into()
}

/// A JS value of `v` through JSON text: one `JSON.parse` instead of a boundary crossing per field
/// (serde-wasm-bindgen's way), which cost milliseconds per step event when a head trains on
/// cached features at hundreds of steps a second.
fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(v).map_err(|e| msg(&e.to_string()))?;
    js_sys::JSON::parse(&text)
}

/// The page's settings laid over the defaults for the model's kind (as the CLI's flags are), so
/// a setting the page does not show keeps the image or text default; then checked.
fn config_from(js: JsValue, kind: ModelKind) -> Result<TrainConfig, JsValue> {
    let base = TrainConfig::defaults_for(kind);
    let cfg = if js.is_undefined() || js.is_null() {
        base
    } else {
        let bad = |e: String| err(Error::config(format!("settings: {e}")));
        let given: serde_json::Value = serde_wasm_bindgen::from_value(js).map_err(|e| bad(e.to_string()))?;
        TrainConfig::over(&base, given).map_err(|e| bad(e.to_string()))?
    };
    cfg.validate().map_err(err)?;
    Ok(cfg)
}

/// The settings a kind of model starts from: `"text"`, `"image"` (`TrainConfig::defaults_for`) or
/// `"demo"` (those of `edgetune demo`). The page fills its form with them.
#[wasm_bindgen(js_name = defaultConfig)]
pub fn default_config(kind: String) -> Result<JsValue, JsValue> {
    let cfg = match kind.as_str() {
        "text" => TrainConfig::defaults_for(ModelKind::Text),
        "image" => TrainConfig::defaults_for(ModelKind::Image),
        "demo" => demo_config(),
        other => return Err(msg(&format!("no default settings for '{other}': expected text, image or demo"))),
    };
    to_js(&cfg)
}

/// (name, bytes) pairs from parallel JS arrays.
fn files_from(names: Vec<String>, files: Vec<Uint8Array>) -> Vec<(String, Vec<u8>)> {
    names.into_iter().zip(files).map(|(n, f)| (n, f.to_vec())).collect()
}

fn files_to_js(files: Vec<(String, Vec<u8>)>) -> JsValue {
    let out = Array::new();
    for (name, bytes) in files {
        out.push(&Array::of2(&JsValue::from_str(&name), &Uint8Array::from(bytes.as_slice())));
    }
    out.into()
}

#[derive(Default)]
struct State {
    model_files: Option<ModelFiles>,
    /// The loaded model's body: what the memory check asks about the architecture.
    body: Option<Box<dyn Body>>,
    data: Option<DataSource>,
    /// The data prepared for the settings it holds (reused when training starts with settings
    /// that give the same data).
    prepared: Option<(TrainConfig, Rc<Prepared>)>,
    trainer: Option<Trainer>,
    /// When the run in progress last saved (the core's checkpoint rule, `train::driver`).
    saver: Saver,
    /// The trained model (or a loaded fine-tuned one): what predict and export use.
    model: Option<Rc<Classifier>>,
    training: bool,
    /// The head-only fast path of the run in progress (see `quick.rs`).
    fast: quick::Fast,
    /// The replay sample that goes with `model` (see `personal.rs`): kept in its export, and
    /// mixed into "Add examples".
    replay: Option<personal::Replay>,
}

#[wasm_bindgen]
pub struct Session {
    device: Device,
    backend: Backend,
    state: Rc<RefCell<State>>,
}

#[wasm_bindgen]
impl Session {
    /// `await Session.create("webgpu" | "cpu")`: initialises the device (WebGPU once per page).
    pub async fn create(backend: String) -> Result<Session, JsValue> {
        let backend: Backend = backend.parse().map_err(err)?;
        let device = device::init(backend).await.map_err(err)?;
        Ok(Session { device, backend, state: Rc::default() })
    }

    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        match self.backend {
            Backend::Wgpu => "webgpu".into(),
            other => other.to_string(),
        }
    }

    /// Loads a model from its files (config.json, model.safetensors, tokenizer.json/vocab.txt)
    /// and checks them; returns what the page shows about it.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&self, source: String, names: Vec<String>, files: Vec<Uint8Array>) -> Result<JsValue, JsValue> {
        let files = files_from(names, files);
        let replay = personal::Replay::among(&files);
        let files = ModelFiles::from_files(&source, files).map_err(err)?;
        // A full load checks every tensor's name and shape now rather than at training time.
        let probe = HeadSpec { task: Default::default(), labels: vec!["a".into(), "b".into()], pooling: Default::default(), seed: 0 };
        // A fine-tuned model loads with its own head; a base model (no trained head) with a probe.
        let fine_tuned = load_any(files.clone(), None, &self.device).ok();
        let model = match &fine_tuned {
            Some(m) => m,
            None => &load_any(files.clone(), Some(&probe), &self.device).map_err(err)?,
        };
        let head = model.params().params.iter().filter(|p| p.group == crate::model::params::Group::Head).map(|p| p.numel()).sum::<usize>();
        let params = model.params().total_count() - if fine_tuned.is_some() { 0 } else { head };
        let fine_tuned_labels = fine_tuned.as_ref().map(|m| m.labels().to_vec()).unwrap_or_default();
        let mut info = model.describe();
        info.insert("source".into(), source.into());
        info.insert("params".into(), params.into());
        info.insert("fine_tuned_labels".into(), fine_tuned_labels.into());
        let body = model.body.clone();
        let mut st = self.state.borrow_mut();
        st.body = Some(body);
        st.model_files = Some(files);
        st.replay = if fine_tuned.is_some() { replay } else { None };
        st.model = fine_tuned.map(Rc::new);
        st.prepared = None;
        to_js(&info)
    }

    /// Reads a data file (CSV/TSV/JSONL) and returns its preview and the columns picked; a zip
    /// of class folders is an image collection, and gets the preview `loadImages` gives.
    #[wasm_bindgen(js_name = loadData)]
    pub fn load_data(&self, name: String, bytes: Vec<u8>, text_column: Option<String>, label_column: Option<String>) -> Result<JsValue, JsValue> {
        let zip = name.to_ascii_lowercase().ends_with(".zip");
        let source = DataSource::Bytes { name, bytes };
        let cfg = TrainConfig { text_column, label_column, ..Default::default() };
        let p = if zip {
            to_js(&image_preview(&source, &cfg, SAMPLES_PER_CLASS).map_err(err)?)?
        } else {
            to_js(&preview(&source, &cfg, 50).map_err(err)?)?
        };
        self.set_data(source);
        Ok(p)
    }

    /// Takes a dropped or picked folder of class folders as (relative path, bytes) and returns
    /// its listing: files per class, the first few names of each, files left out and why.
    #[wasm_bindgen(js_name = loadImages)]
    pub fn load_images(&self, name: String, names: Vec<String>, files: Vec<Uint8Array>) -> Result<JsValue, JsValue> {
        let source = DataSource::Files { name, entries: files_from(names, files) };
        let p = image_preview(&source, &TrainConfig::default(), SAMPLES_PER_CLASS).map_err(err)?;
        self.set_data(source);
        to_js(&p)
    }

    fn set_data(&self, source: DataSource) {
        let mut st = self.state.borrow_mut();
        st.data = Some(source);
        st.prepared = None;
    }

    /// The augmentation preview for `config`, as PNG bytes: rows of images as loaded, each
    /// followed by augmented variants (what `edgetune preview-augment` writes).
    #[wasm_bindgen(js_name = previewAugment)]
    pub fn preview_augment(&self, config: JsValue) -> Result<Uint8Array, JsValue> {
        let st = self.state.borrow();
        let (Some(files), Some(data)) = (&st.model_files, &st.data) else {
            return Err(msg("load an image model and images first"));
        };
        if files.kind().map_err(err)? != ModelKind::Image {
            return Err(msg("this is a text model: augmentation previews are for image models"));
        }
        let cfg = config_from(config, ModelKind::Image)?;
        let input = files.image_input().map_err(err)?;
        let (size, fit) = (input.size, input.fit());
        let spec = PreviewSpec { seed: cfg.seed, ..Default::default() };
        let (png, _) = augment_preview(data, &cfg, size, fit, &spec).map_err(err)?;
        Ok(Uint8Array::from(png.as_slice()))
    }

    /// Cleans, splits and tokenizes the data for `config`; returns the data reports, the
    /// classes, split sizes and whether training fits in memory (`max_buffer_mb`: the adapter's
    /// largest storage buffer; `budget_mb`: memory the device can give).
    pub fn prepare(&self, config: JsValue, max_buffer_mb: Option<f64>, budget_mb: Option<f64>) -> Result<JsValue, JsValue> {
        let mut st = self.state.borrow_mut();
        let (Some(files), Some(data)) = (&st.model_files, &st.data) else {
            return Err(msg("load a model and a data file first"));
        };
        let cfg = config_from(config, files.kind().map_err(err)?)?;
        let prepared = prepare_for(files, &request(data, &cfg)).map_err(err)?;
        // Text runs are checked against the page's memory before they start (image runs here
        // are small next to it).
        let memory = match (files.kind().map_err(err)?, &st.body) {
            (ModelKind::Text, Some(body)) => Some(memory_check(body.as_ref(), files, &prepared, &cfg, data_len(data), max_buffer_mb, budget_mb)),
            _ => None,
        };
        let out = serde_json::json!({
            "reports": prepared.reports, "labels": prepared.labels,
            "splits": { "train": prepared.train.len(), "valid": prepared.valid.len(), "test": prepared.test.as_ref().map_or(0, |t| t.len()) },
            "memory": memory,
        });
        st.prepared = Some((cfg, Rc::new(prepared)));
        to_js(&out)
    }

    /// Starts a run from the loaded model and data: `{start, fast}`, the `start` event and
    /// whether the run takes the head-only fast path (then its features come first: see
    /// `featureKey`). `quick`: the page's "Quick train (head only)", the fast path's settings
    /// for the data the form describes (`TrainConfig::quick`).
    #[wasm_bindgen(js_name = startTraining)]
    pub fn start_training(&self, config: JsValue, quick: Option<bool>) -> Result<JsValue, JsValue> {
        let mut st = self.state.borrow_mut();
        if st.training {
            return Err(msg("a run is already in progress: stop it first"));
        }
        let (Some(files), Some(data)) = (&st.model_files, &st.data) else {
            return Err(msg("load a model and a data file first"));
        };
        let kind = files.kind().map_err(err)?;
        let mut cfg = config_from(config, kind)?;
        if quick == Some(true) {
            cfg = cfg.quick(kind);
        }
        // `prepare` already read and encoded the data for these settings: reuse it.
        let prepared = match &st.prepared {
            Some((c, p)) if c.same_data(&cfg) => p.clone(),
            _ => Rc::new(prepare_for(files, &request(data, &cfg)).map_err(err)?),
        };
        let model = load_for_run(files.clone(), &cfg, &prepared, &self.device).map_err(err)?;
        let trainer = Trainer::new(model, &prepared, &cfg, None).map_err(err)?;
        let start = trainer.start_event(&prepared, None);
        let fast = crate::train::features::fast_path(&trainer.model, &trainer.cfg);
        st.trainer = Some(trainer);
        st.saver = Saver::default();
        st.prepared = Some((cfg, prepared));
        st.training = true;
        st.fast.reset();
        to_js(&serde_json::json!({ "start": start, "fast": fast }))
    }

    /// Drops the run in progress after a failure (the worker calls it when a run throws), so
    /// the next one can start.
    pub fn abandon(&self) {
        let mut st = self.state.borrow_mut();
        st.trainer = None;
        st.training = false;
        st.fast.reset();
    }

    /// Continues a run from the checkpoint files the worker kept in OPFS, with the run's data and
    /// settings; returns the `start` event (its `resumed_at_step` says where).
    #[wasm_bindgen(js_name = resumeTraining)]
    #[allow(clippy::too_many_arguments)]
    pub fn resume_training(
        &self,
        config: JsValue,
        data_name: String,
        data_bytes: Vec<u8>,
        last_names: Vec<String>,
        last_files: Vec<Uint8Array>,
        best_names: Vec<String>,
        best_files: Vec<Uint8Array>,
    ) -> Result<JsValue, JsValue> {
        let mut st = self.state.borrow_mut();
        if st.training {
            return Err(msg("a run is already in progress: stop it first"));
        }
        let last = files_from(last_names, last_files);
        let best = (!best_names.is_empty()).then(|| files_from(best_names, best_files));
        // The checkpoint is a complete model directory: it is also the model to predict with
        // and to start over from.
        let model_files = ModelFiles::from_files("checkpoint", last.clone()).map_err(err)?;
        let cfg = config_from(config, model_files.kind().map_err(err)?)?;
        // An image run keeps its images as one zip (a dropped folder is zipped by the worker).
        let data = DataSource::Bytes { name: data_name, bytes: data_bytes };
        let req = request(&data, &cfg);
        let (model, prepared, resume) = resume_from_files("the saved checkpoint", last, best, &req, &self.device).map_err(err)?;
        let trainer = Trainer::new(model, &prepared, &cfg, Some(resume)).map_err(err)?;
        let start = trainer.start_event(&prepared, None);
        st.model_files = Some(model_files);
        st.data = Some(data);
        st.trainer = Some(trainer);
        st.saver = Saver::default();
        st.prepared = Some((cfg, Rc::new(prepared)));
        st.training = true;
        to_js(&start)
    }

    /// One optimiser step: `{step, epoch, improved, finished, global_step, save}` (`step`/`epoch`
    /// are events or null; `save`: `{best, last}`, the checkpoints the core's rule says are due
    /// now, see `train::driver`). With `budget_ms`, further steps while that time lasts, up to the
    /// epoch's end: a head on cached features takes hundreds of steps a second, and a call per
    /// step would spend more time crossing into JS than training (`step` is then the last one).
    pub fn step(&self, budget_ms: Option<f64>) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let (mut trainer, data) = take_trainer(&state)?;
            let mut saver = std::mem::take(&mut state.borrow_mut().saver);
            let t0 = web_time::Instant::now();
            let mut save = Saves::default();
            let mut result = trainer.step(&data).await;
            while let Ok(p) = &result {
                let due = saver.due(&trainer, p);
                save = Saves { best: save.best || due.best, last: save.last || due.last };
                if p.epoch.is_some() || trainer.is_finished() || t0.elapsed().as_secs_f64() * 1e3 >= budget_ms.unwrap_or(0.0) {
                    break;
                }
                result = trainer.step(&data).await;
            }
            let out = result.as_ref().ok().map(|p| {
                serde_json::json!({
                    "step": p.step, "epoch": p.epoch.as_ref().and_then(|e| e.event()),
                    "improved": p.epoch.as_ref().is_some_and(|e| e.improved),
                    "epoch_end": p.epoch.is_some(),
                    "finished": trainer.is_finished(), "global_step": trainer.state.global_step,
                    "save": save,
                })
            });
            state.borrow_mut().saver = saver;
            state.borrow_mut().trainer = Some(trainer);
            result.map_err(err)?;
            to_js(&out)
        })
    }

    /// Asks the run to end: the next `finish` keeps the best parameters so far.
    pub fn stop(&self) -> Result<(), JsValue> {
        let mut st = self.state.borrow_mut();
        st.trainer.as_mut().ok_or_else(|| msg("no run in progress (or a step is running)"))?.stop();
        Ok(())
    }

    /// The current checkpoint as `[[name, Uint8Array], ...]` (with the optimiser state when
    /// `with_optimizer`, for resuming).
    pub fn checkpoint(&self, with_optimizer: bool) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let (trainer, data) = take_trainer(&state)?;
            let files = trainer.checkpoint_files(with_optimizer).await;
            state.borrow_mut().trainer = Some(trainer);
            drop(data);
            Ok(files_to_js(files.map_err(err)?))
        })
    }

    /// Ends the run with the best parameters: `{done, misclassified, kind, lora, fast}`; the model is then
    /// what `predict` / `predictImages` and `exportZip` use.
    pub fn finish(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let (trainer, data) = take_trainer(&state)?;
            let bs = trainer.cfg.eval_batch_size;
            let cfg = trainer.cfg.clone();
            let fast = trainer.has_features();
            let outcome = trainer.finish(&data).await;
            state.borrow_mut().training = false;
            let outcome = outcome.map_err(err)?;
            let split = data.test.as_ref().unwrap_or(&data.valid);
            let computed;
            let rows = match &outcome.final_logits {
                Some(rows) => rows,
                None => {
                    computed = split_logits(&outcome.model, split, bs).await.map_err(err)?;
                    &computed
                }
            };
            let wrong = misclassified(&outcome.model, split, rows, 50);
            let kind = outcome.model.kind().name();
            // A LoRA model exports as a PEFT adapter, or merged on request (`exportZip(true)`).
            let lora = outcome.model.lora.is_some();
            let out = serde_json::json!({ "done": outcome.done_event(None), "misclassified": wrong, "kind": kind, "lora": lora, "fast": fast });
            let mut st = state.borrow_mut();
            st.model = Some(Rc::new(outcome.model));
            // Its export keeps a replay sample of this run's training data.
            st.replay = Some(personal::Replay::Run(Box::new(cfg), data));
            to_js(&out)
        })
    }
}

/// Packs files into a ZIP (the worker zips the checkpoint it kept in OPFS, and a dropped folder
/// of images to keep beside a run).
#[wasm_bindgen(js_name = zipFiles)]
pub fn zip_files(names: Vec<String>, files: Vec<Uint8Array>) -> Uint8Array {
    Uint8Array::from(archive::zip(&files_from(names, files)).as_slice())
}

/// The files of a ZIP as `[[name, Uint8Array], ...]`: the page shows a zip's images as
/// thumbnails (a damaged archive is an error naming `name`).
#[wasm_bindgen(js_name = unzipFiles)]
pub fn unzip_files(name: String, bytes: Vec<u8>) -> Result<JsValue, JsValue> {
    Ok(files_to_js(archive::unzip(&bytes, &name).map_err(err)?.files))
}

/// A request for the page's one data source (no files on disk, no run directory).
fn request(data: &DataSource, cfg: &TrainConfig) -> TrainRequest {
    TrainRequest { model: Default::default(), train: data.clone(), valid: None, test: None, config: cfg.clone(), run_dir: None }
}

fn take_trainer(state: &Rc<RefCell<State>>) -> Result<(Trainer, Rc<Prepared>), JsValue> {
    let mut st = state.borrow_mut();
    let data = st.prepared.as_ref().map(|(_, p)| p.clone()).ok_or_else(|| msg("no run in progress"))?;
    let trainer = st.trainer.take().ok_or_else(|| msg("no run in progress, or a step is still running"))?;
    Ok((trainer, data))
}
