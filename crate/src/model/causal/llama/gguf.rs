//! A GGUF file seen as a Hugging Face Llama checkpoint: llama.cpp's tensor names
//! (`blk.3.attn_q.weight`) answered under transformers' (`model.layers.3.self_attn.q_proj.weight`),
//! and the row order llama.cpp's converter gives Q and K for its rotary kernel undone, so the
//! network is the one transformers builds from the file (`integrations/gguf`,
//! `TensorProcessor`'s reverse permute).

use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::model::vars::Checkpoint;

/// `model.layers.{i}.<hf>` ↔ `blk.{i}.<gguf>`.
const LAYER_NAMES: [(&str, &str); 12] = [
    ("input_layernorm.weight", "attn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"),
    ("self_attn.q_proj.bias", "attn_q.bias"),
    ("self_attn.k_proj.weight", "attn_k.weight"),
    ("self_attn.k_proj.bias", "attn_k.bias"),
    ("self_attn.v_proj.weight", "attn_v.weight"),
    ("self_attn.v_proj.bias", "attn_v.bias"),
    ("self_attn.o_proj.weight", "attn_output.weight"),
    ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ("mlp.gate_proj.weight", "ffn_gate.weight"),
    ("mlp.up_proj.weight", "ffn_up.weight"),
    ("mlp.down_proj.weight", "ffn_down.weight"),
];

/// The GGUF name of Hugging Face tensor `key`, if the map has one.
pub fn gguf_name(key: &str) -> Option<String> {
    match key {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = key.strip_prefix("model.layers.")?;
    let (layer, sub) = rest.split_once('.')?;
    layer.parse::<usize>().ok()?;
    LAYER_NAMES.iter().find(|(hf, _)| *hf == sub).map(|(_, g)| format!("blk.{layer}.{g}"))
}

/// A GGUF Llama/Qwen2 file under Hugging Face names.
pub struct GgufLlama<'a> {
    pub file: &'a Gguf,
    /// llama.cpp permuted Q and K rows (its `llama` architecture; `qwen2` is left as is).
    pub permuted: bool,
    pub heads: usize,
    pub kv_heads: usize,
}

impl GgufLlama<'_> {
    fn name(&self, key: &str) -> Result<String> {
        gguf_name(key).ok_or_else(|| Error::weights(self.file.source(), format!("no GGUF name for tensor '{key}'")))
    }

    /// The heads whose rows `key`'s tensor holds, when llama.cpp permuted them.
    fn permuted_heads(&self, key: &str) -> Option<usize> {
        if !self.permuted {
            return None;
        }
        if key.contains("self_attn.q_proj.") {
            Some(self.heads)
        } else if key.contains("self_attn.k_proj.") {
            Some(self.kv_heads)
        } else {
            None
        }
    }
}

impl Checkpoint for GgufLlama<'_> {
    fn source(&self) -> &str {
        self.file.source()
    }

    fn has(&self, key: &str) -> bool {
        gguf_name(key).is_some_and(|n| self.file.info(&n).is_some())
    }

    fn f32(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let values = self.file.f32(&self.name(key)?, shape)?;
        Ok(match self.permuted_heads(key) {
            Some(heads) => unpermute(&values, shape[0], values.len() / shape[0], heads),
            None => values,
        })
    }

    fn check(&self, key: &str, shape: &[usize]) -> Result<()> {
        let name = self.name(key)?;
        match self.file.info(&name) {
            Some(t) if t.shape == shape => Ok(()),
            Some(t) => Err(Error::weights(self.source(), format!("tensor '{name}' has shape {:?}, expected {shape:?}", t.shape))),
            None => Err(Error::weights(self.source(), format!("no tensor '{name}'"))),
        }
    }
}

/// Undoes llama.cpp's Q/K permutation of `rows × cols` values (`cols` 1 for a bias): within each
/// of `heads` heads of `2·half` rows, GGUF row `2j + a` is Hugging Face row `a·half + j`.
pub fn unpermute(values: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let half = rows / heads / 2;
    let mut out = vec![0.0; values.len()];
    for h in 0..heads {
        for j in 0..half {
            for a in 0..2 {
                let from = (h * 2 * half + 2 * j + a) * cols;
                let to = (h * 2 * half + a * half + j) * cols;
                out[to..to + cols].copy_from_slice(&values[from..from + cols]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_row_order() {
        assert_eq!(gguf_name("model.layers.12.mlp.down_proj.weight").as_deref(), Some("blk.12.ffn_down.weight"));
        assert_eq!(gguf_name("model.layers.x.mlp.down_proj.weight"), None);
        assert_eq!(gguf_name("model.embed_tokens.weight").as_deref(), Some("token_embd.weight"));
        // One head of 4 rows: HF rows [r0 r1 | r2 r3] were written as [r0 r2 r1 r3].
        let gguf = [0.0, 2.0, 1.0, 3.0];
        assert_eq!(unpermute(&gguf, 4, 1, 1), [0.0, 1.0, 2.0, 3.0]);
    }
}
