//! Supervised fine-tuning of generative models on people's own conversations: the data
//! (`data.rs`: TRL's JSON Lines formats, prompt/completion and text,label tables) and its
//! tokens with the loss on the answers (`encode.rs`, with the data report); the splits
//! (`prepare.rs`); the loss over a padded batch (`loss.rs`); one optimiser step (`step.rs`);
//! the run as a state machine (`trainer.rs`) with its settings (`config.rs`), events
//! (`events.rs`), checkpoints (`checkpoint.rs`) and evaluation (`eval.rs`: validation loss and
//! perplexity, exact match and ROUGE-L of generated answers); a whole run from files (`run.rs`).

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod encode;
pub mod eval;
pub mod events;
pub mod loss;
pub mod prepare;
pub mod run;
pub mod step;
pub mod trainer;

pub use config::{check_sft, sft_defaults, SftOptions};
pub use data::{read_sft, Record, Sample, LABEL_PROMPT};
pub use encode::{encode, Encoded, LossOn, SftReport};
pub use eval::{rouge_l, GenerationReport, LossReport, Scored, TestCase};
pub use events::SftEvent;
pub use loss::{sft_loss, SftBatch};
pub use prepare::{prepare_sft, SftData};
pub use run::{is_generative, SftRequest};
pub use step::{sft_step, StepStats};
pub use trainer::{SftOutcome, SftProgress, SftResume, SftTrainer};
