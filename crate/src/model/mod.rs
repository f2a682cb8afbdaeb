//! Models: the BERT encoder and ResNet bodies, their heads, parameters, and loading. A
//! [`Classifier`] is either kind; the model directory says which.

pub mod bert;
pub mod classifier;
pub mod config;
pub mod image;
pub mod kind;
pub mod load;
pub mod lora;
pub mod params;
pub mod peft;
pub mod resnet;

pub use classifier::{Pooling, Task, TextClassifier};
pub use config::BertConfig;
pub use image::ImageClassifier;
pub use kind::{Classifier, ModelKind};
pub use lora::LoraSpec;
pub use load::{load, load_any, load_dir, HeadSpec, ModelFiles};
