//! The head-only fast path in the page ("Quick train", or "Train the head only"): the run's
//! features come from this page's memory, else from the OPFS file the worker keeps under the
//! same key as the native cache (`embed_cache::key`: body weights + preprocessing + the data's
//! inputs), else they are embedded here one batch per call, so the worker can post progress.
//!
//! The worker's sequence after `startTraining` says `fast`: `featureKey()` → `{key, file, hit}`;
//! on a miss, the OPFS file's bytes (if any) to `useFeatureFile` → `{ok, warning}`; if still none,
//! `embedStep()` until `finished`, then `featureFile()` → the bytes to keep in OPFS. Then `step`
//! as for any run.

use super::{err, msg, take_trainer, to_js, Session, State};
use crate::train::embed_cache;
use crate::train::features::{rows_of, Embedder, Features};
use js_sys::{Promise, Uint8Array};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// Feature sets kept in memory for the page's life (each is `[n, dim]` f32: a few MB).
const KEEP: usize = 4;

/// The fast path's state beside the trainer.
#[derive(Default)]
pub(super) struct Fast {
    /// The run's cache key, once `featureKey` computed it.
    key: Option<String>,
    embedder: Option<Embedder>,
    /// Recently used feature sets, newest first, by key.
    kept: Vec<(String, Arc<Features>)>,
}

impl Fast {
    /// Forgets the run's progress (not the kept features).
    pub(super) fn reset(&mut self) {
        self.key = None;
        self.embedder = None;
    }

    fn find(&mut self, key: &str) -> Option<Arc<Features>> {
        let i = self.kept.iter().position(|(k, _)| k == key)?;
        let entry = self.kept.remove(i);
        let f = entry.1.clone();
        self.kept.insert(0, entry);
        Some(f)
    }

    fn keep(&mut self, key: String, f: Arc<Features>) {
        self.kept.retain(|(k, _)| *k != key);
        self.kept.insert(0, (key, f));
        self.kept.truncate(KEEP);
    }

    fn key(&self) -> Result<String, JsValue> {
        self.key.clone().ok_or_else(|| msg("no feature key yet: call featureKey first"))
    }
}

/// Runs `f` on the trainer and its data, putting the trainer back whatever `f` returns.
async fn with_trainer<T>(
    state: &Rc<RefCell<State>>,
    f: impl AsyncFnOnce(&mut crate::train::Trainer, &crate::prepare::Prepared) -> Result<T, JsValue>,
) -> Result<T, JsValue> {
    let (mut trainer, data) = take_trainer(state)?;
    let out = f(&mut trainer, &data).await;
    state.borrow_mut().trainer = Some(trainer);
    out
}

#[wasm_bindgen]
impl Session {
    /// The cache key of the fast-path run's features: `{key, file, hit, rows, dim}`; `file` is
    /// the OPFS file name for them, `hit` says this page already holds them (the run then
    /// uses them at once).
    #[wasm_bindgen(js_name = featureKey)]
    pub fn feature_key(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let st = state.clone();
            with_trainer(&state, async move |trainer, data| {
                let key = embed_cache::key(&trainer.model, data).await.map_err(err)?;
                let found = st.borrow_mut().fast.find(&key);
                let hit = found.is_some();
                if let Some(f) = found {
                    trainer.use_features(data, f).map_err(err)?;
                }
                st.borrow_mut().fast.key = Some(key.clone());
                let rows: usize = rows_of(data).iter().sum();
                to_js(&serde_json::json!({ "key": key, "file": embed_cache::file_name(&key), "hit": hit, "rows": rows, "dim": trainer.model.feature_dim() }))
            })
            .await
        })
    }

    /// Uses the features of a cache file (read from OPFS): `{ok, warning}`; a file made from
    /// another model or data, or damaged, is refused with the reason (then embed).
    #[wasm_bindgen(js_name = useFeatureFile)]
    pub fn use_feature_file(&self, bytes: Vec<u8>) -> Result<JsValue, JsValue> {
        let mut st = self.state.borrow_mut();
        let key = st.fast.key()?;
        let data = st.prepared.as_ref().map(|(_, p)| p.clone()).ok_or_else(|| msg("no run in progress"))?;
        let trainer = st.trainer.as_mut().ok_or_else(|| msg("no run in progress, or a step is still running"))?;
        let dim = trainer.model.feature_dim();
        match embed_cache::decode(&bytes, &key, dim, rows_of(&data), data.test.is_some()) {
            Ok(f) => {
                let f = Arc::new(f);
                trainer.use_features(&data, f.clone()).map_err(err)?;
                st.fast.keep(key, f);
                to_js(&serde_json::json!({ "ok": true, "warning": null }))
            }
            Err(why) => to_js(&serde_json::json!({ "ok": false, "warning": format!("ignoring the saved embeddings: {why}") })),
        }
    }

    /// Embeds the next batch of the run's examples with the frozen body:
    /// `{embedded, total, finished}`; once finished the run trains on them.
    #[wasm_bindgen(js_name = embedStep)]
    pub fn embed_step(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let st = state.clone();
            with_trainer(&state, async move |trainer, data| {
                let (key, embedder) = {
                    let mut s = st.borrow_mut();
                    (s.fast.key()?, s.fast.embedder.take())
                };
                let mut e = embedder.unwrap_or_else(|| Embedder::new(&trainer.model, data, trainer.cfg.eval_batch_size));
                e.step(&trainer.model, data).await.map_err(err)?;
                let (embedded, total, finished) = (e.done(), e.total(), e.is_done());
                if finished {
                    let f = Arc::new(e.finish());
                    trainer.use_features(data, f.clone()).map_err(err)?;
                    st.borrow_mut().fast.keep(key, f);
                } else {
                    st.borrow_mut().fast.embedder = Some(e);
                }
                to_js(&serde_json::json!({ "embedded": embedded, "total": total, "finished": finished }))
            })
            .await
        })
    }

    /// The run's features as a cache file (the bytes `edgetune` writes natively), for OPFS.
    #[wasm_bindgen(js_name = featureFile)]
    pub fn feature_file(&self) -> Result<Uint8Array, JsValue> {
        let mut st = self.state.borrow_mut();
        let key = st.fast.key()?;
        let f = st.fast.find(&key).ok_or_else(|| msg("the run's features are not ready yet"))?;
        Ok(Uint8Array::from(embed_cache::encode(&key, &f).map_err(err)?.as_slice()))
    }
}
