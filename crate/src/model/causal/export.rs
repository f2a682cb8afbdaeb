//! A generative model written as a Hugging Face directory that transformers, PEFT, vLLM or
//! llama.cpp's `convert_hf_to_gguf.py` read: the adapters folded into the base weights first
//! (PEFT's `merge_and_unload`), then `config.json`, `model.safetensors` (float32, PyTorch's
//! `[out, in]` layout), `tokenizer.json`, `tokenizer_config.json` (the chat template and special
//! tokens) and `generation_config.json` (the stop tokens). A GGUF base becomes a plain
//! Hugging Face model this way, its quantised weights de-quantised.

use super::LanguageModel;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::model::lora::fold_adapters;
use crate::weights::to_bytes;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

impl LanguageModel {
    /// A copy with every adapter folded into its base weight (`W + scale·B·A`): a plain model.
    pub fn merged(&self) -> Result<LanguageModel> {
        let mut m = self.clone();
        if m.lora.is_none() {
            return Ok(m);
        }
        fold_adapters(&mut m.params, m.net.adaptable());
        // Ids shifted: bind to the remaining parameters by name again.
        m.net.rebind(&m.params)?;
        m.lora = None;
        Ok(m)
    }

    /// The model (merged) as a Hugging Face directory's files. Non-finite weights are refused.
    pub async fn export_files(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let m = self.merged()?;
        let json_bytes = |v: &Value| serde_json::to_vec_pretty(v).map_err(|e| Error::config(e.to_string()));
        let token = |id: Option<&u32>| id.and_then(|&i| m.tokenizer.id_to_token(i));
        let (bos, eos) = match &m.template {
            Some(t) => {
                let (b, e) = t.special_tokens();
                (Some(b.to_string()).filter(|s| !s.is_empty()), Some(e.to_string()).filter(|s| !s.is_empty()))
            }
            None => (m.bos.and_then(|b| m.tokenizer.id_to_token(b)), token(m.stop.first())),
        };
        let mut config = Value::Object(m.net.export_config());
        config["torch_dtype"] = json!("float32");
        if config.get("eos_token_id").is_none_or(Value::is_null) {
            config["eos_token_id"] = json!(m.stop.first());
        }
        let mut tokenizer_config = json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "clean_up_tokenization_spaces": false,
            "model_max_length": m.net.max_positions(),
            "bos_token": bos,
            "eos_token": eos,
            "add_bos_token": m.bos.is_some(),
        });
        if let Some(t) = &m.template {
            tokenizer_config["chat_template"] = json!(t.text());
        }
        let generation = json!({"eos_token_id": m.stop, "bos_token_id": m.bos, "do_sample": false});
        let tokenizer = m.tokenizer.to_string(false).map_err(|e| Error::model(&m.source, format!("cannot write its tokenizer: {e}")))?;
        let mut tensors = Vec::with_capacity(m.params.len());
        for (name, shape, values) in m.params.to_upstream_where(|_| true).await? {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite(name));
            }
            tensors.push((name, shape, values));
        }
        let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        Ok(vec![
            ("config.json".into(), json_bytes(&config)?),
            ("model.safetensors".into(), to_bytes(&tensors, &metadata)),
            ("tokenizer.json".into(), tokenizer.into_bytes()),
            ("tokenizer_config.json".into(), json_bytes(&tokenizer_config)?),
            ("generation_config.json".into(), json_bytes(&generation)?),
        ])
    }

    /// Writes the PEFT adapter (or with `merge`, or without adapters, the whole merged model) to
    /// `dir`, each file atomically and the config last: a directory with its config is complete.
    /// Files of an earlier export of the other kind are removed (they would change what loads).
    pub async fn export_dir(&self, dir: &Path, merge: bool) -> Result<()> {
        let files = if merge || self.lora.is_none() { self.export_files().await? } else { self.adapter_files().await? };
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for stale in ["model.safetensors", "config.json", "adapter_config.json", "adapter_model.safetensors"] {
            if !files.iter().any(|(n, _)| n == stale) && dir.join(stale).exists() {
                std::fs::remove_file(dir.join(stale)).map_err(|e| Error::io(dir.join(stale), e))?;
            }
        }
        let is_config = |n: &str| n == "config.json" || n == "adapter_config.json";
        for (name, bytes) in files.iter().filter(|(n, _)| !is_config(n)).chain(files.iter().filter(|(n, _)| is_config(n))) {
            write_atomic(&dir.join(name), bytes)?;
        }
        Ok(())
    }
}
