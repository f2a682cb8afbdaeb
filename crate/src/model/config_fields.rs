//! Reading the fields transformers' configs share (`config.json` of BERT-architecture encoders,
//! ViT, ...): numbers with defaults, the hidden activation, dropout probabilities, and the
//! attention sizes' checks, each error naming the file and the field.

use super::layers::Activation;
use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// A `config.json` object and its file name (for errors).
pub struct Fields<'a> {
    pub raw: &'a Map<String, Value>,
    pub file: &'a str,
}

impl Fields<'_> {
    pub fn error(&self, msg: String) -> Error {
        Error::model(self.file, msg)
    }

    /// Number `name`, or `default` when absent or null.
    pub fn float(&self, name: &str, default: f64) -> Result<f64> {
        match self.raw.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| self.error(format!("field '{name}' is {v}, expected a number"))),
        }
    }

    /// A dropout probability `name` in [0, 1), or `default`.
    pub fn probability(&self, name: &str, default: f64) -> Result<f64> {
        let p = self.float(name, default)?;
        if !(0.0..1.0).contains(&p) {
            return Err(self.error(format!("{name} is {p}, expected a probability in [0, 1)")));
        }
        Ok(p)
    }

    /// The feed-forward activation `name` (`hidden_act`; GELU when absent).
    pub fn activation(&self, name: &str) -> Result<Activation> {
        let act = self.raw.get(name).and_then(Value::as_str).unwrap_or("gelu");
        Activation::from_name(act).ok_or_else(|| self.error(format!("hidden_act '{act}' is not supported (gelu, gelu_new, relu)")))
    }

    /// Positive sizes, and `hidden` split evenly into `heads`.
    pub fn check_attention(&self, hidden: usize, heads: usize, layers: usize) -> Result<()> {
        if hidden == 0 || heads == 0 || layers == 0 {
            return Err(self.error("hidden_size, num_attention_heads and num_hidden_layers must be positive".into()));
        }
        if hidden % heads != 0 {
            return Err(self.error(format!("hidden_size {hidden} is not a multiple of num_attention_heads {heads}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_file_and_field() {
        let Value::Object(raw) = json!({"p": 1.0, "x": "a", "hidden_act": "swish"}) else { unreachable!() };
        let f = Fields { raw: &raw, file: "config.json" };
        assert_eq!(f.float("y", 0.5).unwrap(), 0.5);
        assert_eq!(f.float("x", 0.5).unwrap_err().to_string(), "config.json: field 'x' is \"a\", expected a number");
        assert_eq!(f.probability("p", 0.1).unwrap_err().to_string(), "config.json: p is 1, expected a probability in [0, 1)");
        assert!(f.activation("hidden_act").unwrap_err().to_string().contains("'swish' is not supported"));
        assert_eq!(f.check_attention(384, 5, 1).unwrap_err().to_string(), "config.json: hidden_size 384 is not a multiple of num_attention_heads 5");
    }
}
