//! A BERT-architecture encoder (BERT, RoBERTa, XLM-RoBERTa: see [`super::Variant`]) through
//! the model face: what the training loop, memory estimate, LoRA, export and the page ask of a
//! body.

use super::Bert;
use crate::error::Result;
use crate::model::face::{adaptables, Activations, Adaptable, Batch, Body, BufferUpdate, Mode};
use crate::model::head::{Head, Pooling};
use crate::model::input::Input;
use crate::model::layers::Dropout;
use crate::model::params::ParamStore;
use crate::model::vars::Vars;
use crate::model::text::{pool, tokens, MODELING};
use burn::tensor::Tensor;
use serde_json::{json, Map, Value};

impl Body for Bert {
    fn family(&self) -> &'static str {
        self.variant.family
    }

    fn describe(&self) -> Map<String, Value> {
        let c = &self.config;
        Map::from_iter([
            ("architecture".to_string(), json!(format!("{}, {} layers", self.variant.name, c.num_hidden_layers))),
            ("hidden_size".to_string(), json!(c.hidden_size)),
            ("layers".to_string(), json!(c.num_hidden_layers)),
            ("heads".to_string(), json!(c.num_attention_heads)),
            ("max_position".to_string(), json!(c.max_position_embeddings)),
        ])
    }

    fn width(&self) -> usize {
        self.config.hidden_size
    }

    fn dropout(&self) -> Dropout {
        Dropout { hidden: self.config.hidden_dropout_prob, attention: self.config.attention_probs_dropout_prob }
    }

    fn features(&self, p: &ParamStore, batch: Batch, pooling: Pooling, mode: Mode, _: &mut Vec<BufferUpdate>) -> Tensor<2> {
        let (mut ids, mut mask) = tokens(batch);
        let [_, seq] = ids.dims();
        if seq > self.max_tokens() {
            // Longer than the position table: the model sees the first tokens, as a tokenizer
            // truncating to the model's length would give it.
            (ids, mask) = (ids.narrow(1, 0, self.max_tokens()), mask.narrow(1, 0, self.max_tokens()));
        }
        let hidden = self.forward(p, ids, mask.clone(), mode.dropout); // [batch, seq, hidden]
        pool(hidden, mask, pooling) // [batch, hidden]
    }

    fn frozen(&self, name: &str, embeddings: bool, layers: usize) -> bool {
        let layer = name
            .strip_prefix(self.variant.layers)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| i < layers);
        // MPNet's relative position table goes with the position embeddings.
        let positions = self.variant.relative_bias.is_some_and(|t| name.strip_prefix(t).is_some_and(|r| r.starts_with('.')));
        (embeddings && (name.starts_with("embeddings.") || positions)) || layer
    }

    fn adaptable(&mut self) -> Vec<Adaptable<'_>> {
        let shapes = self.variant.linear_shapes(self.config.hidden_size, self.config.intermediate_size);
        adaptables(self.linears_mut(), &shapes)
    }

    fn rebind(&mut self, p: &ParamStore) -> Result<()> {
        *self = Bert::load(Vars::bind(p), &self.config, self.variant)?;
        Ok(())
    }

    fn activations(&self, batch: usize, seq: usize) -> Activations {
        activations(&self.config, batch, seq)
    }

    fn export_key(&self, name: &str) -> String {
        // The encoder's parameters, and a pooler named outside the classifier (`pooler.dense`).
        let top = self.variant.layers.split('.').next().unwrap_or("encoder");
        let encoder = name.starts_with("embeddings.") || name.strip_prefix(top).is_some_and(|r| r.starts_with('.')) || name.starts_with("pooler.");
        if encoder { format!("{}{name}", self.variant.prefix) } else { name.to_string() }
    }

    fn export_config(&self, head: &Head, _: &Input) -> Map<String, Value> {
        let mut c = self.config.raw.clone();
        for k in ["_name_or_path", "auto_map", "id2label", "label2id", "problem_type", "classifier_pooling", "num_labels", "edgetune_threshold"] {
            c.remove(k);
        }
        let v = self.variant;
        c.insert("model_type".into(), json!(v.family));
        match head.pooling {
            Pooling::Mean => {
                let module = MODELING.0.trim_end_matches(".py");
                let (model, config) = v.mean_classes;
                c.insert("classifier_pooling".into(), json!("mean"));
                c.insert("architectures".into(), json!([model]));
                c.insert(
                    "auto_map".into(),
                    json!({ "AutoConfig": format!("{module}.{config}"), "AutoModelForSequenceClassification": format!("{module}.{model}") }),
                );
            }
            Pooling::Cls => {
                c.insert("classifier_pooling".into(), json!("cls"));
                c.insert("architectures".into(), json!([v.architecture]));
            }
        }
        c
    }

    fn export_code(&self, head: &Head) -> Vec<(&'static str, &'static str)> {
        match head.pooling {
            Pooling::Mean => vec![MODELING],
            Pooling::Cls => Vec::new(),
        }
    }

    fn export_hint(&self, head: &Head) -> String {
        let remote = if head.pooling == Pooling::Mean { ", trust_remote_code=True" } else { "" };
        format!("transformers: AutoModelForSequenceClassification.from_pretrained(dir{remote})")
    }

    /// Mean pooling does not use the pooler, but PEFT's sequence classifiers load every module
    /// named `*classifier` (or inside one) whole: RoBERTa's and MPNet's `classifier.dense`,
    /// DistilBERT's `pre_classifier`. An identity dense layer stands in.
    fn unused_head_tensors(&self, head: &Head) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let pooler = self.variant.pooler;
        let mut path = String::new();
        let wrapped = pooler.split('.').any(|part| {
            path = if path.is_empty() { part.to_string() } else { format!("{path}.{part}") };
            path.ends_with("classifier") || path.ends_with("score")
        });
        if head.pooler_name.is_some() || !wrapped {
            return Vec::new();
        }
        let h = self.config.hidden_size;
        let identity = (0..h * h).map(|i| if i % (h + 1) == 0 { 1.0 } else { 0.0 }).collect();
        vec![(format!("{pooler}.weight"), vec![h, h], identity), (format!("{pooler}.bias"), vec![h], vec![0.0; h])]
    }

    fn cache_key(&self) -> Vec<u32> {
        vec![self.config.hidden_size as u32]
    }

    fn clone_box(&self) -> Box<dyn Body> {
        Box::new(self.clone())
    }
}

/// What training a batch of `batch` texts of `seq` tokens keeps for backward.
fn activations(c: &super::BertConfig, batch: usize, seq: usize) -> Activations {
    let (b, l) = (batch as f64, seq.max(1) as f64);
    let (h, i, a) = (c.hidden_size as f64, c.intermediate_size as f64, c.num_attention_heads as f64);
    // Per layer: ~12 hidden-sized tensors (projections, residuals, norms, dropout masks), the
    // two intermediate-sized ones (FFN in, GELU out) and 3 score-sized ones (scores, softmax,
    // dropout) are kept for backward.
    let per_layer = b * l * (12.0 * h + 2.0 * i) + 3.0 * b * a * l * l;
    Activations {
        kept: per_layer * c.num_hidden_layers as f64 + b * l * h * 4.0,
        largest: [c.vocab_size as f64 * h, b * a * l * l, b * l * i].into_iter().fold(0.0, f64::max),
        layers: c.num_hidden_layers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MiniLM's activations grow with the batch and faster than linearly with the length; the
    /// word embeddings (30522 × 384) are the largest buffer at short lengths.
    #[test]
    fn grows_with_batch_and_length() {
        let json = br#"{"vocab_size":30522,"hidden_size":384,"num_hidden_layers":6,"num_attention_heads":12,"intermediate_size":1536,"max_position_embeddings":512}"#;
        let c = super::super::BertConfig::from_json(json, "config.json").unwrap();
        let (small, long) = (activations(&c, 32, 32), activations(&c, 32, 128));
        assert!(long.kept > 4.0 * small.kept);
        assert_eq!((small.largest * 4.0 / 1024.0 / 1024.0 * 10.0).round() / 10.0, 44.7);
        assert_eq!(activations(&c, 64, 32).kept, 2.0 * small.kept);
    }
}
