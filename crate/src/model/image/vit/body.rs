//! A ViT through the model face: what the training loop, memory estimate, LoRA, export and the
//! page ask of a body.

use super::load::PREFIX;
use super::{linear_shapes, Vit, VitConfig, LINEARS};

/// [`LINEARS`] as transformers 5's `ViTLayer` names them in memory.
const PEFT_LINEARS: [&str; 6] = ["attention.q_proj", "attention.k_proj", "attention.v_proj", "attention.o_proj", "mlp.fc1", "mlp.fc2"];
use crate::error::Result;
use crate::model::face::{adaptables, Activations, Adaptable, Batch, Body, BufferUpdate, Mode};
use crate::model::head::{Head, Pooling};
use crate::model::image::pixels;
use crate::model::input::Input;
use crate::model::layers::Dropout;
use crate::model::params::ParamStore;
use crate::model::vars::Vars;
use burn::tensor::Tensor;
use serde_json::{json, Map, Value};

impl Body for Vit {
    fn family(&self) -> &'static str {
        "vit"
    }

    fn describe(&self) -> Map<String, Value> {
        let c = &self.config;
        Map::from_iter([
            ("architecture".to_string(), json!(format!("ViT, {} layers, {}×{} patches", c.num_hidden_layers, c.patch_size, c.patch_size))),
            ("hidden_size".to_string(), json!(c.hidden_size)),
            ("layers".to_string(), json!(c.num_hidden_layers)),
            ("heads".to_string(), json!(c.num_attention_heads)),
        ])
    }

    fn width(&self) -> usize {
        self.config.hidden_size
    }

    fn dropout(&self) -> Dropout {
        Dropout { hidden: self.config.hidden_dropout_prob, attention: self.config.attention_probs_dropout_prob }
    }

    fn features(&self, p: &ParamStore, batch: Batch, _: Pooling, mode: Mode, _: &mut Vec<BufferUpdate>) -> Tensor<2> {
        self.forward(p, pixels(batch), mode.dropout) // [batch, hidden]
    }

    /// The patch projection, class token and positions are the embeddings; `encoder.layer.i`
    /// the i-th layer. The final layer norm is never frozen (the head reads it).
    fn frozen(&self, name: &str, embeddings: bool, layers: usize) -> bool {
        let layer = name.strip_prefix("encoder.layer.").and_then(|r| r.split('.').next()).and_then(|i| i.parse::<usize>().ok());
        (embeddings && name.starts_with("embeddings.")) || layer.is_some_and(|i| i < layers)
    }

    fn adaptable(&mut self) -> Vec<Adaptable<'_>> {
        let shapes = linear_shapes(&self.config);
        adaptables(self.linears_mut(), &shapes)
    }

    fn rebind(&mut self, p: &ParamStore) -> Result<()> {
        *self = Vit::load(Vars::bind(p), &self.config)?;
        Ok(())
    }

    fn activations(&self, batch: usize, _: usize) -> Activations {
        activations(&self.config, batch)
    }

    fn export_key(&self, name: &str) -> String {
        let body = ["embeddings.", "encoder.", "layernorm."].iter().any(|p| name.starts_with(p));
        if body { format!("{PREFIX}{name}") } else { name.to_string() }
    }

    /// transformers 5 builds ViT's layers as `vit.layers.N` with `attention.{q,k,v,o}_proj` and
    /// `mlp.fc1/fc2` (its checkpoints keep the old names, converted on load), and PEFT names
    /// adapters by those modules; an adapter in the old names is read too.
    fn peft_key(&self, name: &str) -> String {
        let Some(rest) = name.strip_prefix("encoder.layer.") else { return self.export_key(name) };
        let Some((layer, tail)) = rest.split_once('.') else { return self.export_key(name) };
        let tail = LINEARS.iter().zip(PEFT_LINEARS).find_map(|(old, new)| tail.strip_prefix(old).map(|t| format!("{new}{t}"))).unwrap_or(tail.to_string());
        format!("{PREFIX}layers.{layer}.{tail}")
    }

    fn peft_target(&self, kind: &'static str) -> &'static str {
        LINEARS.iter().position(|k| *k == kind).map_or(kind, |i| PEFT_LINEARS[i])
    }

    fn export_config(&self, _: &Head, _: &Input) -> Map<String, Value> {
        let mut c = self.config.raw.clone();
        for k in ["_name_or_path", "auto_map", "id2label", "label2id", "problem_type", "num_labels", "edgetune_threshold"] {
            c.remove(k);
        }
        c.insert("model_type".into(), json!("vit"));
        c.insert("architectures".into(), json!(["ViTForImageClassification"]));
        c
    }

    fn export_code(&self, _: &Head) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    fn export_hint(&self, _: &Head) -> String {
        "transformers: AutoModelForImageClassification.from_pretrained(dir), AutoImageProcessor.from_pretrained(dir)".into()
    }

    fn cache_key(&self) -> Vec<u32> {
        // A tag no hidden size takes, then the shape.
        let c = &self.config;
        vec![u32::MAX - 4, c.hidden_size as u32, c.num_hidden_layers as u32, c.patch_size as u32]
    }

    fn clone_box(&self) -> Box<dyn Body> {
        Box::new(self.clone())
    }
}

/// What training a batch keeps for backward: per layer about a dozen token×hidden tensors
/// (norms, projections, residuals, dropout masks), two token×intermediate ones (MLP in, GELU
/// out) and three score-sized ones, plus the cut-out patches.
fn activations(c: &VitConfig, batch: usize) -> Activations {
    let (b, t) = (batch as f64, c.tokens() as f64);
    let (h, i, a) = (c.hidden_size as f64, c.intermediate_size as f64, c.num_attention_heads as f64);
    let per_layer = b * t * (12.0 * h + 2.0 * i) + 3.0 * b * a * t * t;
    let pixels = b * 3.0 * (c.image_size as f64).powi(2);
    Activations {
        kept: per_layer * c.num_hidden_layers as f64 + 2.0 * pixels + 4.0 * b * t * h,
        largest: [b * a * t * t, b * t * i, pixels].into_iter().fold(0.0, f64::max),
        layers: c.num_hidden_layers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ViT-B/16 at 224: 197 tokens; the MLP's 197 × 3,072 is the largest tensor (the 12 heads'
    /// scores are 12 × 197²).
    #[test]
    fn base_activations() {
        let c = VitConfig::from_json(&json!({}), "config.json").unwrap();
        let a = activations(&c, 1);
        assert_eq!(a.largest, 197.0 * 3072.0);
        assert_eq!(a.layers, 12);
        assert_eq!(activations(&c, 8).kept, 8.0 * a.kept);
    }

    #[test]
    fn peft_names_are_transformers_5s() {
        let c = VitConfig::from_json(&json!({"num_hidden_layers": 1}), "config.json").unwrap();
        let mut p = ParamStore::default();
        let device = crate::device::block_on(crate::device::init(crate::device::Backend::Cpu)).unwrap();
        let vit = Vit::load(Vars::zeros(&mut p, &device), &c).unwrap();
        assert_eq!(vit.peft_key("encoder.layer.0.attention.attention.query.lora_A.weight"), "vit.layers.0.attention.q_proj.lora_A.weight");
        assert_eq!(vit.peft_key("encoder.layer.0.output.dense.lora_B.weight"), "vit.layers.0.mlp.fc2.lora_B.weight");
        assert_eq!(vit.peft_key("encoder.layer.0.attention.output.dense.lora_B.weight"), "vit.layers.0.attention.o_proj.lora_B.weight");
        assert_eq!(vit.peft_key("classifier.weight"), "classifier.weight");
        assert_eq!(vit.peft_key("embeddings.cls_token"), "vit.embeddings.cls_token");
        assert_eq!(vit.peft_target("attention.attention.value"), "attention.v_proj");
    }
}
