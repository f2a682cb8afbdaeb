//! The head-only fast path in the page ("Quick train", or "Train the head only"), by the core's
//! rules ([`FastFeatures`]: the native runner follows them too): the run's features come from this
//! page's memory, else from the OPFS file the worker keeps under the run's key, else they are
//! embedded here one batch per call, so the worker can post progress, and kept in OPFS.
//!
//! The worker's sequence after `startTraining` says `fast`: `featureKey()` → `{file, event}`
//! (`event`: the features were in memory); else the OPFS file's bytes, or null, to
//! `useFeatureFile` → `{event}` (null: embed); else `embedStep()` → `{event, finished}` until
//! finished, `featureFile()` → the bytes to keep in OPFS, and `embeddingsKept(error or null)` →
//! the `embedded` event. The worker posts the events it is given. Then `step` as for any run.

use super::{err, msg, take_trainer, to_js, Session, State};
use crate::train::fast_features::FastFeatures;
use crate::train::features::Features;
use js_sys::{Promise, Uint8Array};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// Feature sets kept in memory for the page's life (each is `[n, dim]` f32: a few MB).
const KEEP: usize = 4;

/// The OPFS directory of the cache files (`web/worker.js` keeps them there).
const EMBEDDINGS: &str = "edgetune-embeddings";

/// The fast path's state beside the trainer.
#[derive(Default)]
pub(super) struct Fast {
    /// The run's search for its features, once `featureKey` started it.
    search: Option<FastFeatures>,
    /// Recently used feature sets, newest first, by key.
    kept: Vec<(String, Arc<Features>)>,
}

impl Fast {
    /// Forgets the run's progress (not the kept features).
    pub(super) fn reset(&mut self) {
        self.search = None;
    }

    fn find(&mut self, key: &str) -> Option<Arc<Features>> {
        let i = self.kept.iter().position(|(k, _)| k == key)?;
        let entry = self.kept.remove(i);
        let f = entry.1.clone();
        self.kept.insert(0, entry);
        Some(f)
    }

    fn keep(&mut self, f: Arc<Features>) -> Result<(), JsValue> {
        let key = self.key()?;
        self.kept.retain(|(k, _)| *k != key);
        self.kept.insert(0, (key, f));
        self.kept.truncate(KEEP);
        Ok(())
    }

    fn search(&mut self) -> Result<&mut FastFeatures, JsValue> {
        self.search.as_mut().ok_or_else(|| msg("no feature search yet: call featureKey first"))
    }

    fn key(&mut self) -> Result<String, JsValue> {
        Ok(self.search()?.key().unwrap_or_default().to_string())
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
    /// Starts the fast-path run's search for its features: `{key, file, event}`; `file` is the
    /// OPFS file name for them, `event` the `embedded` event when this page already holds them
    /// (the run then uses them at once), else null.
    #[wasm_bindgen(js_name = featureKey)]
    pub fn feature_key(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let st = state.clone();
            with_trainer(&state, async move |trainer, data| {
                let mut search = FastFeatures::new(trainer, data, true).await.map_err(err)?;
                let (key, file) = (search.key().unwrap_or_default().to_string(), search.file_name().unwrap_or_default());
                search.at(format!("OPFS {EMBEDDINGS}/{file}"));
                let found = st.borrow_mut().fast.find(&key);
                let event = match found {
                    Some(f) => {
                        trainer.use_features(data, f).map_err(err)?;
                        Some(search.found_in_memory())
                    }
                    None => None,
                };
                st.borrow_mut().fast.search = Some(search);
                to_js(&serde_json::json!({ "key": key, "file": file, "event": event }))
            })
            .await
        })
    }

    /// Offers the OPFS file's bytes (null: there is none): `{event}`, the `embedded` event when
    /// they are this run's features (the run then uses them), else null: embed (why a file was
    /// ignored goes in the final event's warning).
    #[wasm_bindgen(js_name = useFeatureFile)]
    pub fn use_feature_file(&self, bytes: Option<Vec<u8>>) -> Result<JsValue, JsValue> {
        let mut st = self.state.borrow_mut();
        let data = st.prepared.as_ref().map(|(_, p)| p.clone()).ok_or_else(|| msg("no run in progress"))?;
        let Some((f, event)) = st.fast.search()?.offer(bytes.map(Ok)) else {
            return to_js(&serde_json::json!({ "event": null }));
        };
        let f = Arc::new(f);
        let trainer = st.trainer.as_mut().ok_or_else(|| msg("no run in progress, or a step is still running"))?;
        trainer.use_features(&data, f.clone()).map_err(err)?;
        st.fast.keep(f)?;
        to_js(&serde_json::json!({ "event": event }))
    }

    /// Embeds the next batch of the run's examples with the frozen body: `{event, finished}`
    /// (`event`: the `embedding` progress); once finished the run trains on them.
    #[wasm_bindgen(js_name = embedStep)]
    pub fn embed_step(&self) -> Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let st = state.clone();
            with_trainer(&state, async move |trainer, data| {
                let mut search = st.borrow_mut().fast.search.take().ok_or_else(|| msg("no feature search yet: call featureKey first"))?;
                let stepped = search.step(&trainer.model, data).await;
                st.borrow_mut().fast.search = Some(search);
                let (event, done) = stepped.map_err(err)?;
                let finished = done.is_some();
                if let Some(f) = done {
                    let f = Arc::new(f);
                    trainer.use_features(data, f.clone()).map_err(err)?;
                    st.borrow_mut().fast.keep(f)?;
                }
                to_js(&serde_json::json!({ "event": event, "finished": finished }))
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
        let bytes = st.fast.search()?.encode(&f).ok_or_else(|| msg("no cache for this run"))?.map_err(err)?;
        Ok(Uint8Array::from(bytes.as_slice()))
    }

    /// After the worker kept the embedded features in OPFS (`error`: why it could not): the
    /// `embedded` event.
    #[wasm_bindgen(js_name = embeddingsKept)]
    pub fn embeddings_kept(&self, error: Option<String>) -> Result<JsValue, JsValue> {
        let mut st = self.state.borrow_mut();
        let event = st.fast.search()?.embedded(error.map_or(Ok(()), Err));
        to_js(&event)
    }
}
