//! The Llama network behind the causal face ([`Decoder`]).

use super::Llama;
use crate::error::Result;
use crate::model::causal::{Decoder, KvCache};
use crate::model::face::{adaptables, Adaptable};
use crate::model::params::ParamStore;
use crate::model::vars::Vars;
use burn::tensor::{Int, Tensor};
use serde_json::{json, Map, Value};

impl Decoder for Llama {
    fn family(&self) -> &str {
        &self.config.model_type
    }

    fn describe(&self) -> Map<String, Value> {
        let c = &self.config;
        let v = json!({
            "architecture": c.model_type,
            "layers": c.num_hidden_layers,
            "hidden": c.hidden_size,
            "heads": c.num_attention_heads,
            "kv_heads": c.num_key_value_heads,
            "mlp": c.intermediate_size,
            "vocab": c.vocab_size,
            "context": c.max_position_embeddings,
            "tied_output": c.tie_word_embeddings,
        });
        v.as_object().cloned().unwrap_or_default()
    }

    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }

    fn new_cache(&self) -> KvCache {
        KvCache::new(self.layers.len())
    }

    fn hidden(&self, p: &ParamStore, ids: Tensor<2, Int>, keep: Option<Tensor<2>>, cache: Option<&mut KvCache>, training: bool) -> Tensor<3> {
        Llama::hidden(self, p, ids, keep, cache, training)
    }

    fn logits(&self, p: &ParamStore, hidden: Tensor<2>) -> Tensor<2> {
        Llama::logits(self, p, hidden)
    }

    fn adaptable(&mut self) -> Vec<Adaptable<'_>> {
        let c = &self.config;
        let (h, qd, kvd, m) = (c.hidden_size, c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim, c.intermediate_size);
        let shapes = [("q_proj", qd, h), ("k_proj", kvd, h), ("v_proj", kvd, h), ("o_proj", h, qd), ("gate_proj", m, h), ("up_proj", m, h), ("down_proj", h, m)];
        let linears = self
            .layers
            .iter_mut()
            .enumerate()
            .flat_map(|(i, l)| l.linears().into_iter().map(move |(group, kind, dense)| (format!("model.layers.{i}.{group}.{kind}"), kind, dense)))
            .collect();
        adaptables(linears, &shapes)
    }

    fn rebind(&mut self, p: &ParamStore) -> Result<()> {
        let mut fresh = Llama::load(Vars::bind(p), &self.config, None)?;
        fresh.rope = self.rope.clone();
        for (new, old) in fresh.layers.iter_mut().zip(&mut self.layers) {
            for ((_, _, n), (_, _, o)) in new.linears().into_iter().zip(old.linears()) {
                n.lora = o.lora;
            }
        }
        *self = fresh;
        Ok(())
    }

    fn export_config(&self) -> Map<String, Value> {
        self.config.to_json()
    }

    fn clone_box(&self) -> Box<dyn Decoder> {
        Box::new(self.clone())
    }
}
