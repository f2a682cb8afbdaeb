//! Training runs started by `POST /train`: one at a time, on a thread of their own at a lower
//! priority with a bounded rayon pool, so predictions keep a core. Each run lives in
//! `DATA_DIR/runs/ID/` (`status.json`, the data it trained on, edgetune's run directory in
//! `run/`) and exports its model to `DATA_DIR/models/ID/`, which `/models/ID/activate` serves.
//!
//! `status.json` is rewritten atomically at the start, each epoch and the end. A run still
//! `running` in it when the server starts was cut short by a crash or a restart: it is marked
//! `interrupted` (its examples are all still in the store: start a new run).

use super::store::{self, Example};
use anyhow::{bail, Context, Result};
use base64::Engine;
use edgetune::device::{block_on, Device};
use edgetune::model::{ModelFiles, ModelKind};
use edgetune::personalize;
use edgetune::prepare::DataSource;
use edgetune::run::{self, TrainRequest};
use edgetune::train::{Event, TrainConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunStatus {
    pub id: String,
    /// running, done, failed or interrupted.
    pub state: String,
    /// personalize (continue the served model) or finetune (from the base model).
    pub mode: String,
    /// The model it started from.
    pub from: String,
    pub examples: usize,
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub total_steps: usize,
    pub loss: Option<f64>,
    /// The last validation or final report, as edgetune writes it.
    pub metrics: Option<serde_json::Value>,
    /// The model id to activate once done.
    pub model: Option<String>,
    pub error: Option<String>,
    pub started_s: u64,
    pub finished_s: Option<u64>,
}

/// What `POST /train` may set.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainBody {
    pub mode: Option<String>,
    pub epochs: Option<f64>,
    #[serde(default)]
    pub head_only: bool,
    pub seed: Option<u64>,
}

pub struct Runs {
    pub dir: PathBuf,
    pub models: PathBuf,
    pub statuses: Mutex<BTreeMap<String, RunStatus>>,
    running: Mutex<Option<String>>,
    pub train_threads: usize,
}

pub fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn save(dir: &Path, s: &RunStatus) -> Result<()> {
    let path = dir.join(&s.id).join("status.json");
    edgetune::fsutil::write_atomic(&path, &serde_json::to_vec_pretty(s)?)?;
    Ok(())
}

impl Runs {
    /// Reads every run's status; runs left `running` by the last process become `interrupted`.
    pub fn open(data_dir: &Path, train_threads: usize) -> Result<Self> {
        let dir = data_dir.join("runs");
        let models = data_dir.join("models");
        for d in [&dir, &models] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let mut statuses = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path().join("status.json");
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let mut s: RunStatus = serde_json::from_slice(&bytes).with_context(|| format!("{}: not a run status", path.display()))?;
            if s.state == "running" {
                s.state = "interrupted".into();
                s.error = Some("the server stopped during this run; its examples are kept: start a new run with POST /train".into());
                s.finished_s = Some(now_s());
                save(&dir, &s)?;
                eprintln!("run {} was interrupted by the last shutdown: marked interrupted", s.id);
            }
            statuses.insert(s.id.clone(), s);
        }
        Ok(Runs { dir, models, statuses: Mutex::new(statuses), running: Mutex::new(None), train_threads })
    }

    pub fn get(&self, id: &str) -> Option<RunStatus> {
        self.statuses.lock().ok()?.get(id).cloned()
    }

    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        if let Ok(s) = self.statuses.lock() {
            for r in s.values() {
                *out.entry(r.state.clone()).or_default() += 1;
            }
        }
        out
    }

    fn update(&self, id: &str, persist: bool, f: impl FnOnce(&mut RunStatus)) {
        let Ok(mut all) = self.statuses.lock() else { return };
        if let Some(s) = all.get_mut(id) {
            f(s);
            if persist {
                if let Err(e) = save(&self.dir, s) {
                    eprintln!("warning: run {id}: {e:#}");
                }
            }
        }
    }

    /// Starts a run in the background; Err(None) when one is already running (409).
    pub fn start(self: &Arc<Self>, body: TrainBody, from: (String, PathBuf), base: PathBuf, examples_file: PathBuf, device: Device) -> Result<RunStatus, Option<String>> {
        let mut running = self.running.lock().map_err(|_| Some("internal: lock poisoned".to_string()))?;
        if running.is_some() {
            return Err(None);
        }
        let examples = store::read_all(&examples_file).map_err(|e| Some(format!("{e:#}")))?;
        if examples.is_empty() {
            return Err(Some("no examples stored yet: POST some to /examples first".into()));
        }
        let mode = body.mode.clone().unwrap_or_else(|| "personalize".into());
        if mode != "personalize" && mode != "finetune" {
            return Err(Some(format!("mode '{mode}': expected \"personalize\" (continue the served model) or \"finetune\" (train the base model)")));
        }
        // Ids in time order; a suffix if two runs start within one second.
        let mut id = format!("run-{}", now_s());
        let mut n = 1;
        while self.dir.join(&id).exists() || self.models.join(&id).exists() {
            n += 1;
            id = format!("run-{}-{n}", now_s());
        }
        let from_id = if mode == "personalize" { from.0.clone() } else { "base".into() };
        let status = RunStatus { id: id.clone(), state: "running".into(), mode: mode.clone(), from: from_id, examples: examples.len(), started_s: now_s(), ..Default::default() };
        std::fs::create_dir_all(self.dir.join(&id)).map_err(|e| Some(format!("creating run directory: {e}")))?;
        save(&self.dir, &status).map_err(|e| Some(format!("{e:#}")))?;
        if let Ok(mut s) = self.statuses.lock() {
            s.insert(id.clone(), status.clone());
        }
        *running = Some(id.clone());
        drop(running);
        let runs = Arc::clone(self);
        let model_dir = if mode == "personalize" { from.1 } else { base };
        let threads = self.train_threads;
        std::thread::Builder::new()
            .name("train".into())
            .spawn(move || {
                lower_priority();
                let result = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .start_handler(|_| lower_priority())
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|pool| pool.install(|| runs.train(&id, &mode, &body, &model_dir, &examples, &device)));
                runs.update(&id, true, |s| {
                    s.finished_s = Some(now_s());
                    match result {
                        Ok(()) => {
                            s.state = "done".into();
                            s.model = Some(id.clone());
                        }
                        Err(e) => {
                            s.state = "failed".into();
                            s.error = Some(format!("{e:#}"));
                        }
                    }
                });
                if let Ok(mut r) = runs.running.lock() {
                    *r = None;
                }
            })
            .map_err(|e| Some(format!("starting the training thread: {e}")))?;
        Ok(status)
    }

    fn train(&self, id: &str, mode: &str, body: &TrainBody, model_dir: &Path, examples: &[Example], device: &Device) -> Result<()> {
        let run_root = self.dir.join(id);
        let kind = run::model_kind(model_dir)?;
        let data = write_examples(&run_root, kind, examples)?;
        let files = ModelFiles::from_dir(model_dir)?;
        let mut cfg = if mode == "personalize" {
            TrainConfig::personalize_defaults(kind, body.head_only)
        } else if body.head_only {
            TrainConfig::head_only_defaults_for(kind)
        } else {
            TrainConfig { test_split: 0.0, ..TrainConfig::defaults_for(kind) }
        };
        if let Some(e) = body.epochs {
            cfg.epochs = e;
        }
        if let Some(s) = body.seed {
            cfg.seed = s;
        }
        cfg.validate()?;
        let run_dir = run_root.join("run");
        let (req, first_new) = if mode == "personalize" {
            let replay = personalize::replay_in(model_dir).map(DataSource::Path);
            let plan = personalize::plan(&files, &DataSource::Path(data), replay.as_ref(), Some(cfg.replay_size), &cfg)?;
            (plan.request(model_dir, &run_dir, None, None)?, Some(plan.old_labels.len()))
        } else {
            (TrainRequest { model: model_dir.to_path_buf(), train: DataSource::Path(data), valid: None, test: None, config: cfg, run_dir: Some(run_dir) }, None)
        };
        let (model, prepared) = match first_new {
            Some(first_new) => block_on(personalize::load_grown(&req, first_new, device))?,
            None => run::load_and_prepare(&req, device)?,
        };
        let mut on_event = |e: &Event| self.event(id, e);
        let outcome = block_on(run::train(&req, model, &prepared, &mut on_event))?;
        let report = outcome.test.as_ref().or(outcome.valid.as_ref()).and_then(|r| serde_json::to_value(r).ok());
        let out = self.models.join(id);
        let replay = personalize::replay_file(&prepared, &req.config)?;
        block_on(edgetune::export::export_dir(&outcome.model, &out, false, replay))?;
        store::sync_dir(&self.models)?;
        self.update(id, false, |s| {
            if report.is_some() {
                s.metrics = report;
            }
        });
        Ok(())
    }

    fn event(&self, id: &str, e: &Event) {
        match e {
            Event::Start { epochs, total_steps, .. } => self.update(id, true, |s| {
                s.epochs = *epochs;
                s.total_steps = *total_steps;
            }),
            Event::Step { epoch, step, loss, .. } => self.update(id, false, |s| {
                s.epoch = *epoch;
                s.step = *step;
                s.loss = Some(*loss);
            }),
            Event::Epoch { .. } => {
                let v = serde_json::to_value(e).ok();
                self.update(id, true, |s| s.metrics = v);
            }
            _ => {}
        }
    }
}

/// The stored examples as training data in the run's directory: texts as JSON Lines with text
/// and label; images as class folders (labels were checked to be plain folder names).
fn write_examples(run_root: &Path, kind: ModelKind, examples: &[Example]) -> Result<PathBuf> {
    match kind {
        ModelKind::Text => {
            let mut out = Vec::new();
            for e in examples {
                let Some(text) = &e.text else { bail!("example {} is an image, but the model classifies texts", e.id) };
                serde_json::to_writer(&mut out, &serde_json::json!({ "text": text, "label": e.label }))?;
                out.push(b'\n');
            }
            let path = run_root.join("examples.jsonl");
            edgetune::fsutil::write_atomic(&path, &out)?;
            Ok(path)
        }
        ModelKind::Image => {
            let root = run_root.join("examples");
            for e in examples {
                let Some(b64) = &e.image else { bail!("example {} is a text, but the model classifies images", e.id) };
                let bytes = base64::engine::general_purpose::STANDARD.decode(b64).with_context(|| format!("example {}: image is not base64", e.id))?;
                let ext = if bytes.starts_with(&[0xff, 0xd8]) { "jpg" } else { "png" };
                let dir = root.join(&e.label);
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let path = dir.join(format!("{}.{ext}", e.id));
                std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(root)
        }
    }
}

/// Training yields to predictions: nice 10 for the calling thread (Linux: per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread's id only changes its scheduling priority.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}
