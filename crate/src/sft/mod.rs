//! Supervised fine-tuning of generative models on people's own conversations: the data
//! (`data.rs`: TRL's JSON Lines formats, prompt/completion and text,label tables) and its
//! tokens with the loss on the answers (`encode.rs`, with the data report); the loss over a
//! padded batch (`loss.rs`); one optimiser step (`step.rs`).

pub mod data;
pub mod encode;
pub mod loss;
pub mod step;

pub use data::{read_sft, Record, Sample, LABEL_PROMPT};
pub use encode::{encode, Encoded, LossOn, SftReport};
pub use loss::{sft_loss, SftBatch};
pub use step::{sft_step, StepStats};
