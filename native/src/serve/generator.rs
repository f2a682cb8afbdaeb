//! The served generative model: owned by one thread (as the classifier is by `model.rs`), which
//! answers `POST /generate` requests one at a time, streaming each answer's text as it is
//! written. A request is checked on that thread first (the prompt through the chat template,
//! its length against the model's context) and refused before anything streams; once it
//! streams, a client that goes away stops the generation at the next token.

use anyhow::{anyhow, Result};
use edgetune::chat::Message;
use edgetune::device::{block_on, Device};
use edgetune::model::causal::{generate, LanguageModel, Sampling};
use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;
use std::sync::mpsc;
use tokio::sync::{mpsc as tmpsc, oneshot};

/// What is asked: a conversation through the chat template, or raw text to continue.
pub enum Prompt {
    Chat(Vec<Message>),
    Raw(String),
}

/// What `/health` says about the generative model.
#[derive(Clone, Debug, Serialize)]
pub struct GeneratorInfo {
    pub path: PathBuf,
    pub family: String,
    pub chat_template: bool,
    pub max_positions: usize,
}

struct Job {
    prompt: Prompt,
    sampling: Sampling,
    /// The prompt's token count once accepted, or why it was refused.
    accepted: oneshot::Sender<Result<usize, String>>,
    /// JSON lines: `{"text": piece}` while writing, then the final line.
    lines: tmpsc::UnboundedSender<String>,
}

#[derive(Clone)]
pub struct Generator {
    tx: mpsc::Sender<Job>,
    pub info: GeneratorInfo,
}

impl Generator {
    /// Loads the model in `path` (a GGUF file, a Hugging Face directory, a run directory) on
    /// its own thread; fails if it does not load.
    pub fn start(path: PathBuf, device: Device) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<GeneratorInfo, String>>();
        std::thread::Builder::new().name("generate".into()).spawn(move || {
            let lm = match edgetune::sft::run::load_trained(&path, None, &device) {
                Ok(lm) => {
                    let info = GeneratorInfo { path: path.clone(), family: lm.net.family().to_string(), chat_template: lm.template.is_some(), max_positions: lm.net.max_positions() };
                    let _ = ready_tx.send(Ok(info));
                    lm
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("loading the generative model {}: {e:#}", path.display())));
                    return;
                }
            };
            for job in rx {
                answer(&lm, job);
            }
        })?;
        let info = ready_rx.recv().map_err(|_| anyhow!("the generation thread stopped"))?.map_err(|e| anyhow!(e))?;
        Ok(Generator { tx, info })
    }

    /// Queues a request; the answer's lines arrive on the returned receiver once it is accepted.
    pub async fn generate(&self, prompt: Prompt, sampling: Sampling) -> Result<(usize, tmpsc::UnboundedReceiver<String>), String> {
        let (accepted, ok) = oneshot::channel();
        let (lines, rx) = tmpsc::unbounded_channel();
        self.tx.send(Job { prompt, sampling, accepted, lines }).map_err(|_| "the generation thread stopped".to_string())?;
        let prompt_tokens = ok.await.map_err(|_| "the generation thread stopped".to_string())??;
        Ok((prompt_tokens, rx))
    }
}

fn answer(lm: &LanguageModel, job: Job) {
    let ids = match &job.prompt {
        Prompt::Chat(_) if lm.template.is_none() => Err(format!("{} has no chat template: send {{\"prompt\": \"...\", \"raw\": true}} to continue plain text", lm.source)),
        Prompt::Chat(m) => lm.prompt(m).map_err(|e| e.to_string()),
        Prompt::Raw(t) => lm.encode_text(t).map_err(|e| e.to_string()),
    };
    let ids = match ids {
        Ok(ids) if ids.len() >= lm.net.max_positions() => Err(format!("the prompt has {} tokens; the model reads at most {}", ids.len(), lm.net.max_positions())),
        Ok(ids) if ids.is_empty() => Err("the prompt is empty".to_string()),
        other => other,
    };
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => {
            let _ = job.accepted.send(Err(e));
            return;
        }
    };
    if job.accepted.send(Ok(ids.len())).is_err() {
        return;
    }
    let t0 = std::time::Instant::now();
    let lines = &job.lines;
    // A closed receiver (the client left) stops generation at the next token.
    let result = block_on(generate(lm, &ids, &job.sampling, &mut |piece| lines.send(json!({ "text": piece }).to_string() + "\n").is_ok()));
    let last = match result {
        Ok(g) => {
            let secs = t0.elapsed().as_secs_f64();
            json!({ "done": true, "text": g.text, "tokens": g.ids.len(), "prompt_tokens": g.prompt_tokens, "stop": g.reason, "seconds": secs,
                    "tokens_per_s": g.ids.len() as f64 / secs.max(1e-9) })
        }
        Err(e) => json!({ "error": e.to_string() }),
    };
    let _ = lines.send(last.to_string() + "\n");
}
