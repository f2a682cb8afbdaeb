//! `config.json` of a Vision Transformer (transformers' `ViTConfig`), parsed and checked. The
//! whole object is kept so an export writes it back with the classifier's labels.

use crate::error::{Error, Result};
use crate::model::config_fields::Fields;
use crate::model::layers::Activation;
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct VitConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: Activation,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub layer_norm_eps: f64,
    /// Side of the square input the position embeddings are for.
    pub image_size: usize,
    /// Side of a square patch: the input is a grid of (image_size / patch_size)² of them.
    pub patch_size: usize,
    pub num_channels: usize,
    /// The whole original JSON object.
    pub raw: Map<String, Value>,
}

impl VitConfig {
    /// Parses a ViT `config.json` (`file` names it in errors).
    pub fn from_json(v: &Value, file: &str) -> Result<Self> {
        let Value::Object(raw) = v else { return Err(Error::model(file, "expected a JSON object")) };
        let bad = |m: String| Error::model(file, m);
        let int = |name: &str, default: Option<usize>| -> Result<usize> {
            match raw.get(name) {
                // transformers also takes a (height, width) pair: square ones are fine.
                Some(Value::Array(a)) if a.len() == 2 && a[0] == a[1] => {
                    a[0].as_u64().map(|n| n as usize).ok_or_else(|| bad(format!("'{name}' is {}, expected a positive integer", a[0])))
                }
                Some(Value::Array(a)) => Err(bad(format!("'{name}' is {}, expected one integer (edgetune trains on square images and patches)", Value::Array(a.clone())))),
                Some(x) => x.as_u64().map(|n| n as usize).ok_or_else(|| bad(format!("'{name}' is {x}, expected a positive integer"))),
                None => default.ok_or_else(|| bad(format!("missing field '{name}' (a ViT config needs it)"))),
            }
        };
        let fields = Fields { raw, file };
        let hidden_act = fields.activation("hidden_act")?;
        if raw.get("qkv_bias").and_then(Value::as_bool) == Some(false) {
            return Err(bad("qkv_bias is false: edgetune reads ViTs whose query, key and value layers have biases (the usual ones)".into()));
        }
        let c = VitConfig {
            hidden_size: int("hidden_size", Some(768))?,
            num_hidden_layers: int("num_hidden_layers", Some(12))?,
            num_attention_heads: int("num_attention_heads", Some(12))?,
            intermediate_size: int("intermediate_size", Some(3072))?,
            hidden_act,
            hidden_dropout_prob: fields.probability("hidden_dropout_prob", 0.0)?,
            attention_probs_dropout_prob: fields.probability("attention_probs_dropout_prob", 0.0)?,
            layer_norm_eps: fields.float("layer_norm_eps", 1e-12)?,
            image_size: int("image_size", Some(224))?,
            patch_size: int("patch_size", Some(16))?,
            num_channels: int("num_channels", Some(3))?,
            raw: raw.clone(),
        };
        fields.check_attention(c.hidden_size, c.num_attention_heads, c.num_hidden_layers)?;
        c.validate(file)?;
        Ok(c)
    }

    fn validate(&self, file: &str) -> Result<()> {
        let bad = |m: String| Err(Error::model(file, m));
        if self.intermediate_size == 0 {
            return bad("intermediate_size must be positive".into());
        }
        if self.num_channels != 3 {
            return bad(format!("num_channels is {}, expected 3 (edgetune reads RGB images)", self.num_channels));
        }
        if self.patch_size == 0 || self.image_size == 0 || self.image_size % self.patch_size != 0 {
            return bad(format!("patch_size {} does not divide image_size {}: the image must be a whole grid of patches", self.patch_size, self.image_size));
        }
        // Guard absurd sizes before anything is allocated from them (a hostile config).
        if self.hidden_size > 1 << 14 || self.intermediate_size > 1 << 16 || self.num_hidden_layers > 256 || self.image_size > 4096 || self.tokens() > 1 << 16 {
            return bad("sizes are too large for an on-device model".into());
        }
        Ok(())
    }

    /// Patches along each side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Tokens the encoder reads: one per patch and the class token.
    pub fn tokens(&self) -> usize {
        self.grid() * self.grid() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_defaults_and_errors() {
        let c = VitConfig::from_json(&json!({"model_type": "vit"}), "config.json").unwrap();
        assert_eq!((c.hidden_size, c.num_hidden_layers, c.image_size, c.patch_size, c.tokens()), (768, 12, 224, 16, 197));
        let err = |v: Value| VitConfig::from_json(&v, "config.json").unwrap_err().to_string();
        assert!(err(json!({"image_size": 224, "patch_size": 15})).contains("patch_size 15 does not divide image_size 224"));
        assert!(err(json!({"image_size": [224, 160]})).contains("square"));
        assert!(err(json!({"num_channels": 1})).contains("RGB"));
        assert!(err(json!({"hidden_size": 100, "num_attention_heads": 12})).contains("not a multiple"));
        assert!(err(json!({"qkv_bias": false})).contains("qkv_bias"));
        assert!(err(json!({"hidden_act": "swish"})).contains("swish"));
        assert!(err(json!({"image_size": 4096, "patch_size": 1})).contains("too large"));
    }
}
