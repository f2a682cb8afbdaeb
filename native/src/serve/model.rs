//! The served model: owned by one prediction thread (burn tensors need not be `Send`), which
//! answers predictions and swaps in a newly activated model between two batches. A swap loads
//! the new model first and replaces the old one only once it loaded, so a prediction queued
//! during a swap waits for it and is answered by the old or the new model, never failed.

use anyhow::{anyhow, Result};
use edgetune::device::{block_on, Device};
use edgetune::model::{load_any, Classifier, ModelFiles, ModelKind};
use edgetune::predict::Prediction;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// What a prediction is asked for.
pub enum Input {
    Texts(Vec<String>),
    /// (name, PNG/JPEG bytes).
    Images(Vec<(String, Vec<u8>)>),
}

/// What is being served, for `/health`.
#[derive(Clone, Debug, Serialize)]
pub struct Served {
    pub id: String,
    pub path: PathBuf,
    pub kind: ModelKind,
    pub labels: Vec<String>,
}

enum Msg {
    Predict(Input, oneshot::Sender<Result<Vec<Prediction>, String>>),
    Swap(String, PathBuf, oneshot::Sender<Result<Served, String>>),
}

#[derive(Clone)]
pub struct Predictor {
    tx: mpsc::Sender<Msg>,
    pub served: Arc<Mutex<Served>>,
}

fn describe(id: &str, path: PathBuf, m: &Classifier) -> Served {
    Served { id: id.to_string(), path, kind: m.kind(), labels: m.labels().to_vec() }
}

fn load(path: &Path, device: &Device) -> Result<Classifier> {
    Ok(load_any(ModelFiles::from_dir(path)?, None, device)?)
}

impl Predictor {
    /// Starts the prediction thread with the model in `path`; fails if it does not load.
    pub fn start(id: &str, path: PathBuf, device: Device, max_length: usize, batch_size: usize) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Served, String>>();
        let id = id.to_string();
        std::thread::Builder::new().name("predict".into()).spawn(move || {
            let mut model = match load(&path, &device) {
                Ok(m) => {
                    let _ = ready_tx.send(Ok(describe(&id, path.clone(), &m)));
                    m
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("loading the model in {}: {e:#}", path.display())));
                    return;
                }
            };
            for msg in rx {
                match msg {
                    Msg::Predict(input, reply) => {
                        let _ = reply.send(run(&model, input, max_length, batch_size).map_err(|e| format!("{e:#}")));
                    }
                    Msg::Swap(id, path, reply) => match load(&path, &device) {
                        Ok(m) => {
                            let served = describe(&id, path, &m);
                            model = m;
                            let _ = reply.send(Ok(served));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(format!("loading the model in {}: {e:#}", path.display())));
                        }
                    },
                }
            }
        })?;
        let served = ready_rx.recv().map_err(|_| anyhow!("the prediction thread stopped"))?.map_err(|e| anyhow!(e))?;
        Ok(Predictor { tx, served: Arc::new(Mutex::new(served)) })
    }

    pub async fn predict(&self, input: Input) -> Result<Vec<Prediction>, String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Predict(input, reply)).map_err(|_| "the prediction thread stopped".to_string())?;
        rx.await.map_err(|_| "the prediction thread stopped".to_string())?
    }

    /// Swaps in the model in `path`: the prediction thread loads it between two batches
    /// (predictions queued meanwhile wait, then get the new model); if it does not load, the
    /// old one stays.
    pub async fn swap(&self, id: &str, path: PathBuf) -> Result<Served, String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Swap(id.to_string(), path, reply)).map_err(|_| "the prediction thread stopped".to_string())?;
        let served = rx.await.map_err(|_| "the prediction thread stopped".to_string())??;
        if let Ok(mut s) = self.served.lock() {
            *s = served.clone();
        }
        Ok(served)
    }
}

fn run(model: &Classifier, input: Input, max_length: usize, batch_size: usize) -> Result<Vec<Prediction>> {
    Ok(match (model.kind(), input) {
        (ModelKind::Text, Input::Texts(texts)) => block_on(edgetune::predict::predict(model, &texts, max_length, batch_size))?,
        (ModelKind::Image, Input::Images(files)) => block_on(edgetune::predict::predict_images(model, &files, None, batch_size))?,
        (ModelKind::Text, Input::Images(_)) => anyhow::bail!("the served model classifies texts: send {{\"texts\": [...]}}, not images"),
        (ModelKind::Image, Input::Texts(_)) => anyhow::bail!("the served model classifies images: send {{\"images\": [base64 PNG/JPEG, ...]}}, not texts"),
    })
}
