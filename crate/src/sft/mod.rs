//! Supervised fine-tuning of generative models on people's own conversations: the data
//! (`data.rs`: TRL's JSON Lines formats, prompt/completion and text,label tables) and its
//! tokens with the loss on the answers (`encode.rs`, with the data report).

pub mod data;
pub mod encode;

pub use data::{read_sft, Record, Sample, LABEL_PROMPT};
pub use encode::{encode, Encoded, LossOn, SftReport};
