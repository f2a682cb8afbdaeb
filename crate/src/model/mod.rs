//! Models: the BERT encoder, the classifier head, their parameters, and loading.

pub mod bert;
pub mod classifier;
pub mod config;
pub mod load;
pub mod params;

pub use classifier::{Pooling, Task, TextClassifier};
pub use config::BertConfig;
pub use load::{load, load_dir, HeadSpec, ModelFiles};
