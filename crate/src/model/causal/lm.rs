//! The one face of a generative model: parameters, the family's decoder, its tokenizer and chat
//! template, and the tokens that end an answer. Text in, ids out, and back.

use super::Decoder;
use crate::chat::{ChatTemplate, Message};
use crate::device::{self, Device};
use crate::error::{Error, Result};
use crate::model::lora::{attach_layers, layer_kinds, target_kinds, LoraSpec};
use crate::model::params::{Group, ParamStore};
use burn::tensor::{Int, Tensor, TensorData};
use std::sync::Arc;

/// Cloning is cheap: tensors and the tokenizer are shared, not copied.
#[derive(Clone)]
pub struct LanguageModel {
    pub params: ParamStore,
    pub net: Box<dyn Decoder>,
    pub tokenizer: Arc<tokenizers::Tokenizer>,
    /// The chat template (none: prompts are plain text).
    pub template: Option<Arc<ChatTemplate>>,
    /// Token ids that end an answer (`<|im_end|>`, `<|eot_id|>`, the EOS).
    pub stop: Vec<u32>,
    /// Prepended to plain text when the tokenizer itself does not (a GGUF file's
    /// `tokenizer.ggml.add_bos_token`).
    pub bos: Option<u32>,
    pub device: Device,
    /// Where the model came from, for messages.
    pub source: String,
    /// The LoRA adapters' settings, when the model has adapters.
    pub lora: Option<LoraSpec>,
}

impl std::fmt::Debug for LanguageModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageModel").field("source", &self.source).field("net", &self.net).finish_non_exhaustive()
    }
}

impl LanguageModel {
    /// Ids of plain text, with the special tokens the tokenizer adds (and the BOS when asked).
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.encode(text, true)?;
        if let Some(bos) = self.bos.filter(|b| ids.first() != Some(b)) {
            ids.insert(0, bos);
        }
        Ok(ids)
    }

    /// Ids of text a chat template wrote (its special tokens are already in the text).
    pub fn encode_rendered(&self, text: &str) -> Result<Vec<u32>> {
        self.encode(text, false)
    }

    fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, special).map_err(|e| Error::model(&self.source, format!("cannot tokenize the text: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The ids of a conversation up to where the assistant's answer starts, through the chat
    /// template (without one: the messages' text, one per line).
    pub fn prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        match &self.template {
            Some(t) => self.encode_rendered(&t.render(messages, true)?),
            None => self.encode_text(&messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n")),
        }
    }

    /// Text of `ids`; `skip_special` leaves out special tokens (`<|im_end|>`).
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.tokenizer.decode(ids, skip_special).map_err(|e| Error::model(&self.source, format!("cannot decode ids: {e}")))
    }

    /// Puts fresh LoRA adapters (B zero: the model answers as before) on the linear layers
    /// `spec.target_modules` names (`q_proj`, ..., `all-linear`) and freezes everything else.
    pub fn attach_lora(&mut self, spec: &LoraSpec, seed: u64) -> Result<()> {
        spec.validate()?;
        let kinds = target_kinds(&layer_kinds(&self.net.adaptable()), &spec.target_modules, "lora.target_modules")?;
        attach_layers(&mut self.params, self.net.adaptable(), &kinds, spec, seed, &self.device)?;
        for p in self.params.params.iter_mut().filter(|p| p.group != Group::Adapter) {
            p.trainable = false;
        }
        self.lora = Some(spec.clone());
        Ok(())
    }

    /// Whether `id` ends an answer.
    pub fn is_stop(&self, id: u32) -> bool {
        self.stop.contains(&id)
    }

    /// `ids` as a `[1, len]` tensor on the model's device, refused when an id is outside the vocabulary.
    pub fn ids_tensor(&self, ids: &[u32]) -> Result<Tensor<2, Int>> {
        let vocab = self.net.vocab_size();
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= vocab) {
            return Err(Error::model(&self.source, format!("token id {bad} is outside the model's vocabulary of {vocab}")));
        }
        let data: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        Ok(Tensor::<2, Int>::from_data(TensorData::new(data, [1, ids.len()]), &self.device))
    }

    /// Logits `[len, vocab]` (row-major) of every position of `ids`, without a cache: what the
    /// golden tests compare with transformers.
    pub async fn all_logits(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let hidden = self.net.hidden(&self.params, self.ids_tensor(ids)?, None, None, false); // [1, len, hidden]
        let [_, s, h] = hidden.dims();
        let logits = self.net.logits(&self.params, hidden.reshape([s, h])); // [len, vocab]
        device::read_f32(logits, "logits").await
    }
}
