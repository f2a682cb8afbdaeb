//! `edgetune serve`: the edge box's HTTP server. Predictions from the served model, labelled
//! examples stored durably, training runs in the background and atomic model swaps. See the
//! README's "Deploying to an edge box" for the endpoints and the data directory's layout.
//!
//! Threads: a small tokio runtime answers HTTP; one thread owns the served model
//! ([`model::Predictor`]); a run trains on a thread of its own at a lower priority
//! ([`runs::Runs`]). burn tensors never cross threads.

mod generator;
mod http;
mod metrics;
mod model;
mod runs;
mod store;

use crate::args::parse_backend;
use anyhow::{bail, Context, Result};
use clap::Args;
use edgetune::device::Backend;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The model served at first (and the base of `finetune` runs): a fine-tuned export or run
    /// directory. Once a run's model is activated, that one is served, across restarts too.
    /// A generative model (a GGUF file, a Hugging Face causal LM, an SFT run directory) is
    /// served at POST /generate instead.
    #[arg(long)]
    pub model: PathBuf,
    /// A generative model served at POST /generate beside the classifier of --model.
    #[arg(long)]
    pub generator: Option<PathBuf>,
    /// Where examples, runs, trained models and the active model's id are kept.
    #[arg(long, default_value = "edgetune-data")]
    pub data_dir: PathBuf,
    /// Address and port to listen on (port 0: any free port; the bound address is printed).
    /// Anything but a loopback address needs --token-file.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// A file holding the bearer token every request but /health must carry
    /// (`Authorization: Bearer TOKEN`).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Largest request body, in MiB (larger: 413).
    #[arg(long, default_value_t = 16)]
    pub max_body_mb: usize,
    /// Most texts or images in one /predict or /examples request.
    #[arg(long, default_value_t = 256)]
    pub max_items: usize,
    /// Predict requests allowed to wait for the model at once (more: 503).
    #[arg(long, default_value_t = 64)]
    pub max_pending: usize,
    /// Threads a training run may use (default: all cores but one).
    #[arg(long)]
    pub train_threads: Option<usize>,
    /// Device for predictions and training.
    #[arg(long, value_parser = parse_backend)]
    pub device: Option<Backend>,
    /// Texts are cut to this many tokens.
    #[arg(long, default_value_t = 128)]
    pub max_length: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

/// Shared by every handler.
pub struct AppState {
    pub token: Option<String>,
    pub base: PathBuf,
    pub data_dir: PathBuf,
    /// The classifier (none when only a generative model is served).
    pub predictor: Option<model::Predictor>,
    /// The generative model behind POST /generate, if one is served.
    pub generator: Option<generator::Generator>,
    pub store: Arc<Mutex<store::Store>>,
    pub runs: Arc<runs::Runs>,
    pub metrics: metrics::Metrics,
    pub pending: Arc<tokio::sync::Semaphore>,
    pub max_items: usize,
    pub device: edgetune::device::Device,
}

const ACTIVE_FILE: &str = "active";

pub fn serve(a: ServeArgs) -> Result<()> {
    let addr: SocketAddr = a.listen.parse().with_context(|| format!("--listen {}: expected ADDRESS:PORT, like 127.0.0.1:8080 or 0.0.0.0:8080", a.listen))?;
    let token = match &a.token_file {
        Some(f) => {
            let t = std::fs::read_to_string(f).with_context(|| format!("reading the token file {}", f.display()))?.trim().to_string();
            if t.len() < 16 {
                bail!("{}: the token is {} characters long; use at least 16 (e.g. `openssl rand -hex 32 > {0}`)", f.display(), t.len());
            }
            Some(t)
        }
        None => None,
    };
    if token.is_none() && !addr.ip().is_loopback() {
        bail!("refusing to listen on {addr} without a token: anyone on the network could use the server; pass --token-file FILE (a secret of 16+ characters), or listen on 127.0.0.1");
    }
    std::fs::create_dir_all(&a.data_dir).with_context(|| format!("creating {}", a.data_dir.display()))?;
    let store = store::Store::open(&a.data_dir)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let runs = Arc::new(runs::Runs::open(&a.data_dir, a.train_threads.unwrap_or(cores.saturating_sub(1).max(1)))?);
    let device = crate::init_device(a.device.unwrap_or_default())?;
    let model = crate::resolve_model(&a.model.to_string_lossy())?;
    let generative = edgetune::sft::is_generative(&model) || edgetune::sft::run::is_generative_run(&model);
    let gen_path = match (&a.generator, generative) {
        (Some(_), true) => bail!("--model {} is a generative model already: give a classifier as --model to serve both, or drop --generator", a.model.display()),
        (Some(g), false) => Some(crate::resolve_model(&g.to_string_lossy())?),
        (None, true) => Some(model.clone()),
        (None, false) => None,
    };
    let generator = gen_path.map(|p| generator::Generator::start(p, device.clone())).transpose()?;
    if let Some(g) = &generator {
        eprintln!("generating with {} at POST /generate", g.info.path.display());
    }
    let base = if generative { model } else { crate::model_path(&a.model)? };
    let predictor = if generative {
        None
    } else {
        let (id, path) = active_model(&a.data_dir, &runs.models, &base);
        let p = model::Predictor::start(&id, path, device.clone(), a.max_length, a.batch_size)?;
        eprintln!("serving model {id} ({} examples stored)", store.len());
        Some(p)
    };
    let state = Arc::new(AppState {
        token,
        base,
        data_dir: a.data_dir.clone(),
        predictor,
        generator,
        store: Arc::new(Mutex::new(store)),
        runs,
        metrics: metrics::Metrics::default(),
        pending: Arc::new(tokio::sync::Semaphore::new(a.max_pending)),
        max_items: a.max_items,
        device,
    });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        let local = listener.local_addr()?;
        eprintln!("listening on http://{local}");
        let app = http::router(state, a.max_body_mb << 20);
        axum::serve(listener, app).with_graceful_shutdown(shutdown()).await.context("serving")
    })
}

/// The model named in `DATA_DIR/active` if it is still there, else the base model.
fn active_model(data_dir: &Path, models: &Path, base: &Path) -> (String, PathBuf) {
    if let Ok(id) = std::fs::read_to_string(data_dir.join(ACTIVE_FILE)) {
        let id = id.trim().to_string();
        if valid_id(&id) && models.join(&id).is_dir() {
            return (id.clone(), models.join(id));
        }
        eprintln!("warning: {} names model '{id}', which is not in {}: serving the base model", data_dir.join(ACTIVE_FILE).display(), models.display());
    }
    ("base".into(), base.to_path_buf())
}

/// A model id is a plain name: letters, digits, `-`, `_`, `.`, not starting with `.`, so it
/// can never name a path outside `models/`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && !id.starts_with('.') && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    eprintln!("shutting down");
}
