//! Text families: encoders that read token ids through the model's own tokenizer. Each family
//! is a folder here; what they share (pooling over tokens, the tokenizer check, how a
//! fine-tuned `config.json` names its head) is in this file.

pub mod bert;
pub mod distilbert;
pub mod mpnet;
pub mod roberta;

use super::face::Batch;
use super::head::Pooling;
use super::task::{saved_classes, saved_threshold, Task};
use crate::error::{Error, Result};
use crate::tokenize::Tokenizer;
use burn::tensor::{Int, Tensor};
use serde_json::{Map, Value};

/// `modeling_edgetune.py`: every text family's sequence-classification model with mean pooling,
/// for exports trained that way (`trust_remote_code=True`); each family's `Variant` names its
/// classes in it.
pub const MODELING: (&str, &str) = ("modeling_edgetune.py", include_str!("modeling_edgetune.py"));

/// Mean of the hidden states over real (unpadded) tokens: `[batch, hidden]`.
pub fn mean_pool(hidden: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [batch, seq, width] = hidden.dims();
    let m = mask.reshape([batch, seq, 1]);
    let summed = (hidden * m.clone()).sum_dim(1).reshape([batch, width]); // [batch, hidden]
    let counts = m.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9); // [batch, 1]
    summed / counts
}

/// The first token's state `[batch, hidden]` (what a pooler reads), or the mean over real
/// tokens, as `pooling` asks.
pub fn pool(hidden: Tensor<3>, mask: Tensor<2>, pooling: Pooling) -> Tensor<2> {
    match pooling {
        Pooling::Cls => {
            let [batch, _, width] = hidden.dims();
            hidden.narrow(1, 0, 1).reshape([batch, width]) // [batch, hidden]
        }
        Pooling::Mean => mean_pool(hidden, mask),
    }
}

/// The token ids and mask of a text batch. A text body is only ever given the batches its
/// classifier builds from its tokenizer, so pixels here are a caller's bug, reported as an
/// empty batch rather than a crash.
pub fn tokens(batch: Batch) -> (Tensor<2, Int>, Tensor<2>) {
    match batch {
        Batch::Tokens { ids, mask } => (ids, mask),
        Batch::Pixels(x) => {
            let device = x.device();
            (Tensor::<2, Int>::zeros([0, 1], &device), Tensor::<2>::zeros([0, 1], &device))
        }
    }
}

/// A tokenizer with more tokens than the embedding has rows does not belong to the model.
pub fn check_tokenizer(tokenizer: &Tokenizer, vocab_size: usize, file: &str) -> Result<()> {
    if tokenizer.vocab_size() > vocab_size {
        return Err(Error::model(
            file,
            format!(
                "the tokenizer has {} tokens but config.json's vocab_size is {vocab_size} (rows of the embedding): \
                 this tokenizer does not belong to this model",
                tokenizer.vocab_size()
            ),
        ));
    }
    Ok(())
}

/// What a fine-tuned checkpoint's `config.json` says about its head: task, classes, pooling
/// (`classifier_pooling`; a plain sequence-classification checkpoint pools its first token
/// through the pooler), and the multi-label threshold.
pub fn saved_head(raw: &Map<String, Value>) -> (Task, Vec<String>, Pooling, f64) {
    let (task, labels) = saved_classes(raw);
    let pooling = match raw.get("classifier_pooling").and_then(Value::as_str) {
        Some("mean") => Pooling::Mean,
        _ => Pooling::Cls,
    };
    (task, labels, pooling, saved_threshold(raw.get("edgetune_threshold")))
}
