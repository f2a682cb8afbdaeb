//! Models: one [`Classifier`] face over every family. A family (BERT, ResNet, ...) lives in its
//! own folder under `text/` or `image/` and answers the [`Body`] trait; the loader's family
//! table ([`load::FAMILIES`]) says which `config.json` is whose. Outside this module nothing
//! names a family. `README.md` here lists the steps to add one.

pub mod causal;
pub mod classifier;
pub mod config_fields;
pub mod face;
pub mod head;
pub mod image;
pub mod input;
pub mod layers;
pub mod load;
pub mod lora;
pub mod params;
pub mod peft;
pub mod task;
pub mod text;
pub mod vars;

pub use classifier::Classifier;
pub use face::{apply_buffer_updates, Batch, Body, BufferUpdate, ModelKind, Mode};
pub use head::{HeadSpec, Pooling};
pub use input::{ImageInput, Input};
pub use layers::Dropout;
pub use load::{load_any, load_dir, ModelFiles};
pub use lora::LoraSpec;
pub use task::{Task, DEFAULT_THRESHOLD};
