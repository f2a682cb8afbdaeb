//! What the page does with the trained (or a loaded fine-tuned) model: predictions for texts or
//! images, and its export as one ZIP (with the replay sample that goes with the model).

use super::{err, files_from, msg, to_js, Session};
use crate::archive;
use crate::predict::{predict, predict_images};
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

#[wasm_bindgen]
impl Session {
    /// Predictions for `texts`: `[{text, label, probs: {label: p}, ...}]`.
    pub fn predict(&self, texts: Vec<String>, max_length: Option<usize>) -> Promise {
        let model = self.state.borrow().model.clone();
        future_to_promise(async move {
            let model = model.ok_or_else(|| msg("no trained model yet: train one or load a fine-tuned model"))?;
            let preds = predict(&model, &texts, max_length.unwrap_or(128), 64).await.map_err(err)?;
            to_js(&preds)
        })
    }

    /// Predictions for image files given as (name, bytes), fitted to the model's input as the
    /// run's settings say: `[{text: name, label, probs: {label: p}, ...}]`. A file that is not
    /// an image is an error naming it.
    #[wasm_bindgen(js_name = predictImages)]
    pub fn predict_images(&self, names: Vec<String>, files: Vec<Uint8Array>) -> Promise {
        let (model, fit) = {
            let st = self.state.borrow();
            (st.model.clone(), st.prepared.as_ref().and_then(|(c, _)| c.image_fit))
        };
        let files = files_from(names, files);
        future_to_promise(async move {
            let model = model.ok_or_else(|| msg("no trained model yet: train one or load a fine-tuned model"))?;
            let preds = predict_images(&model, &files, fit, 64).await.map_err(err)?;
            to_js(&preds)
        })
    }

    /// The trained model as a ZIP of the files `edgetune export` writes (for a LoRA model the
    /// PEFT adapter; with `merge`, the adapters folded in: a full model, as `--merge`).
    #[wasm_bindgen(js_name = exportZip)]
    pub fn export_zip(&self, merge: Option<bool>) -> Promise {
        let (model, replay) = {
            let st = self.state.borrow();
            (st.model.clone(), st.replay.as_ref().map(|r| r.file()))
        };
        future_to_promise(async move {
            let model = model.ok_or_else(|| msg("no trained model to export yet"))?;
            // With its replay sample, so `edgetune personalize` (or "Add examples") can continue it.
            let replay = replay.transpose()?.flatten();
            let files = match merge {
                Some(true) => crate::export::merged_export_files(&model).await,
                _ => crate::export::export_files(&model).await,
            };
            let mut files = files.map_err(err)?;
            files.extend(replay);
            Ok(Uint8Array::from(archive::zip(&files).as_slice()).into())
        })
    }
}
