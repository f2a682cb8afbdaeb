//! Routes, the bearer-token check, request metrics and the handlers. Request bodies are read as
//! bytes (over the limit: 413) and parsed here, so malformed JSON is a 400 saying where.

use super::model::Input;
use super::runs::TrainBody;
use super::{valid_id, AppState, ACTIVE_FILE};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

type St = State<Arc<AppState>>;

/// An error answer: the status and a message saying what was expected.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn internal(msg: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, msg.to_string())
}

pub fn router(state: Arc<AppState>, max_body: usize) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/predict", post(predict))
        .route("/generate", post(generate))
        .route("/examples", post(examples))
        .route("/train", post(train))
        .route("/runs/{id}", get(run_status))
        .route("/models/{id}/activate", post(activate))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// Every route but /health needs `Authorization: Bearer TOKEN` when the server has a token.
async fn auth(State(s): St, req: Request, next: Next) -> Response {
    if let Some(token) = &s.token {
        if req.uri().path() != "/health" {
            let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
                let mut r = ApiError(StatusCode::UNAUTHORIZED, "missing or wrong bearer token: send `Authorization: Bearer TOKEN` with the token in the server's --token-file".into()).into_response();
                r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
                return r;
            }
        }
    }
    next.run(req).await
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn record(State(s): St, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    s.metrics.record(&route, resp.status().as_u16(), start.elapsed().as_secs_f64());
    resp
}

/// Parses a JSON body, naming the line and column of a syntax error and the field of a type error.
fn parse<T: DeserializeOwned>(body: &Bytes, expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("request body: {e}; expected {expected}")))
}

async fn health(State(s): St) -> Json<Value> {
    let served = s.predictor.as_ref().and_then(|p| p.served.lock().map(|m| m.clone()).ok());
    let examples = s.store.lock().map(|st| st.len()).unwrap_or(0);
    let generator = s.generator.as_ref().map(|g| g.info.clone());
    Json(json!({ "status": "ok", "model": served, "generator": generator, "examples": examples, "runs": s.runs.counts() }))
}

/// The classifier, or a 409 saying this server only generates.
fn predictor(s: &AppState) -> Result<&super::model::Predictor, ApiError> {
    s.predictor.as_ref().ok_or_else(|| ApiError(StatusCode::CONFLICT, "this server serves a generative model only: POST /generate (start it with a classifier as --model and --generator for both)".into()))
}

async fn metrics(State(s): St) -> Response {
    let examples = s.store.lock().map(|st| st.len()).unwrap_or(0);
    let text = s.metrics.render(examples, &s.runs.counts());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictBody {
    texts: Option<Vec<String>>,
    /// Base64 of PNG or JPEG files.
    images: Option<Vec<String>>,
}

const PREDICT_SHAPE: &str = "{\"texts\": [\"...\"]} or {\"images\": [\"<base64 PNG/JPEG>\"]}";

fn image_bytes(b64: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|e| bad(format!("{what}: not base64 ({e}); expected the base64 of a PNG or JPEG file")))?;
    if !(bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(&[0xff, 0xd8, 0xff])) {
        return Err(bad(format!("{what}: not a PNG or JPEG file (its first bytes are neither format's signature)")));
    }
    Ok(bytes)
}

async fn predict(State(s): St, body: Bytes) -> Result<Json<Value>, ApiError> {
    let b: PredictBody = parse(&body, PREDICT_SHAPE)?;
    let input = match (b.texts, b.images) {
        (Some(t), None) => Input::Texts(t),
        (None, Some(imgs)) => Input::Images(imgs.iter().enumerate().map(|(i, b64)| Ok((format!("image {i}"), image_bytes(b64, &format!("images[{i}]"))?))).collect::<Result<_, ApiError>>()?),
        _ => return Err(bad(format!("give either texts or images, one of them: {PREDICT_SHAPE}"))),
    };
    let n = match &input {
        Input::Texts(t) => t.len(),
        Input::Images(i) => i.len(),
    };
    if n == 0 || n > s.max_items {
        return Err(bad(format!("{n} items: send 1 to {} per request", s.max_items)));
    }
    // A bounded queue: past it, say busy rather than pile up memory.
    let _permit = tokio::time::timeout(Duration::from_secs(30), s.pending.clone().acquire_owned())
        .await
        .map_err(|_| ApiError(StatusCode::SERVICE_UNAVAILABLE, "busy: too many predictions waiting; retry shortly".into()))?
        .map_err(internal)?;
    let p = predictor(&s)?;
    let model = p.served.lock().map(|m| m.id.clone()).unwrap_or_default();
    let preds = p.predict(input).await.map_err(bad)?;
    s.metrics.predicted(preds.len());
    let out: Vec<Value> = preds.into_iter().map(|p| json!({ "label": p.label, "probs": p.probs, "tags": p.tags, "value": p.value })).collect();
    Ok(Json(json!({ "model": model, "predictions": out })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExamplesBody {
    examples: Vec<ExampleIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleIn {
    text: Option<String>,
    image: Option<String>,
    label: String,
}

const EXAMPLES_SHAPE: &str = "{\"examples\": [{\"text\": \"...\", \"label\": \"...\"} or {\"image\": \"<base64 PNG/JPEG>\", \"label\": \"...\"}]}";

async fn examples(State(s): St, body: Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: ExamplesBody = parse(&body, EXAMPLES_SHAPE)?;
    if b.examples.is_empty() || b.examples.len() > s.max_items {
        return Err(bad(format!("{} examples: send 1 to {} per request", b.examples.len(), s.max_items)));
    }
    let mut batch = Vec::with_capacity(b.examples.len());
    for (i, e) in b.examples.into_iter().enumerate() {
        let label = e.label.trim().to_string();
        if label.is_empty() || label.len() > 200 || label.chars().any(char::is_control) {
            return Err(bad(format!("examples[{i}].label: expected 1 to 200 printable characters")));
        }
        match (&e.text, &e.image) {
            (Some(t), None) if !t.trim().is_empty() => {}
            (None, Some(img)) => {
                image_bytes(img, &format!("examples[{i}].image"))?;
                // Image labels become class folder names when a run trains.
                if label.starts_with('.') || label.contains(['/', '\\', ':']) {
                    return Err(bad(format!("examples[{i}].label '{label}': an image label names a class folder: no '/', '\\', ':' and no leading '.'")));
                }
            }
            _ => return Err(bad(format!("examples[{i}]: give a non-empty text or an image, one of them: {EXAMPLES_SHAPE}"))),
        }
        batch.push((e.text, e.image, label));
    }
    let store = s.store.clone();
    // The write and its fsync block: off the async threads.
    let ids = tokio::task::spawn_blocking(move || {
        let mut store = store.lock().map_err(|_| anyhow::anyhow!("store lock poisoned"))?;
        store.append(batch)
    })
        .await
        .map_err(internal)?
        .map_err(|e| internal(format!("{e:#}")))?;
    let total = s.store.lock().map(|st| st.len()).unwrap_or(0);
    Ok((StatusCode::CREATED, Json(json!({ "ids": ids, "stored": total }))))
}

async fn train(State(s): St, body: Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    let b: TrainBody = if body.iter().all(u8::is_ascii_whitespace) {
        TrainBody::default()
    } else {
        parse(&body, "{} or {\"mode\": \"personalize\"|\"finetune\", \"epochs\": N, \"head_only\": true|false, \"seed\": N}")?
    };
    let (id, path) = predictor(&s)?.served.lock().map(|m| (m.id.clone(), m.path.clone())).map_err(internal)?;
    let examples_file = s.data_dir.join(super::store::EXAMPLES_FILE);
    match s.runs.start(b, (id, path), s.base.clone(), examples_file, s.device.clone()) {
        Ok(status) => Ok((StatusCode::ACCEPTED, Json(json!({ "id": status.id, "status": format!("/runs/{}", status.id) })))),
        Err(None) => Err(ApiError(StatusCode::CONFLICT, "a run is already training: wait for it to finish (GET /runs/ID)".into())),
        Err(Some(msg)) => Err(bad(msg)),
    }
}

async fn run_status(State(s): St, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    if !valid_id(&id) {
        return Err(bad(format!("run id '{id}': expected a name of letters, digits, '-', '_' or '.'")));
    }
    let status = s.runs.get(&id).ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no run '{id}'")))?;
    Ok(Json(serde_json::to_value(status).map_err(internal)?))
}

async fn activate(State(s): St, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    if !valid_id(&id) {
        return Err(bad(format!("model id '{id}': expected a name of letters, digits, '-', '_' or '.' (a run id, or \"base\")")));
    }
    let predictor = predictor(&s)?;
    let path = if id == "base" { s.base.clone() } else { s.runs.models.join(&id) };
    if !path.is_dir() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no model '{id}' (models are those of finished runs, and \"base\")")));
    }
    let served = predictor.swap(&id, path).await.map_err(internal)?;
    let active = s.data_dir.join(ACTIVE_FILE);
    edgetune::fsutil::write_atomic(&active, id.as_bytes()).map_err(|e| internal(format!("{e:#}")))?;
    Ok(Json(json!({ "active": served })))
}

const GENERATE_SHAPE: &str = "{\"messages\": [{\"role\": \"user\", \"content\": \"...\"}]} or {\"prompt\": \"...\"} (with \"raw\": true, no chat template), \
     and decoding settings max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, stop; \"stream\": false for one JSON answer";

/// `POST /generate`: an answer from the generative model, streamed as JSON lines
/// (`{"text": piece}` as it is written, then `{"done": true, "text", "tokens", "stop", ...}`),
/// or with `"stream": false` one JSON object. Settings are checked before anything streams.
async fn generate(State(s): St, body: Bytes) -> Result<Response, ApiError> {
    let g = s.generator.as_ref().ok_or_else(|| ApiError(StatusCode::CONFLICT, "no generative model is served: start the server with --generator MODEL (or a generative --model)".into()))?;
    let mut v: serde_json::Map<String, Value> = parse(&body, GENERATE_SHAPE)?;
    let messages = v.remove("messages");
    let prompt_text = v.remove("prompt");
    let raw = v.remove("raw").map(|r| r.as_bool().ok_or_else(|| bad("raw: expected true or false"))).transpose()?.unwrap_or(false);
    let stream = v.remove("stream").map(|r| r.as_bool().ok_or_else(|| bad("stream: expected true or false"))).transpose()?.unwrap_or(true);
    let sampling: edgetune::model::causal::Sampling = serde_json::from_value(Value::Object(v)).map_err(|e| bad(format!("request body: {e}; expected {GENERATE_SHAPE}")))?;
    sampling.validate().map_err(|e| bad(e.to_string()))?;
    let prompt = match (messages, prompt_text) {
        (Some(m), None) if !raw => {
            let m: Vec<edgetune::chat::Message> = serde_json::from_value(m).map_err(|e| bad(format!("messages: {e}; expected [{{\"role\": \"user\", \"content\": \"...\"}}]")))?;
            if m.is_empty() || m.iter().any(|x| !edgetune::sft::data::ROLES.contains(&x.role.as_str())) {
                return Err(bad(format!("messages: expected at least one, each with a role of {}", edgetune::sft::data::ROLES.join(", "))));
            }
            super::generator::Prompt::Chat(m)
        }
        (None, Some(Value::String(t))) if raw => super::generator::Prompt::Raw(t),
        (None, Some(Value::String(t))) => super::generator::Prompt::Chat(vec![edgetune::chat::Message::new("user", &t)]),
        _ => return Err(bad(format!("give messages or a prompt string, one of them (raw only with a prompt): {GENERATE_SHAPE}"))),
    };
    let (_, mut lines) = g.generate(prompt, sampling).await.map_err(bad)?;
    if !stream {
        // The last line is the whole answer (or the error).
        let mut last = String::new();
        while let Some(l) = lines.recv().await {
            last = l;
        }
        let v: Value = serde_json::from_str(&last).map_err(internal)?;
        let status = if v.get("error").is_some() { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
        return Ok((status, Json(v)).into_response());
    }
    let body = axum::body::Body::from_stream(Lines(lines));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// The answer's JSON lines as a response body stream.
struct Lines(tokio::sync::mpsc::UnboundedReceiver<String>);

impl futures_core::Stream for Lines {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|line| line.map(|l| Ok(Bytes::from(l))))
    }
}
