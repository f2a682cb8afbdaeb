//! Training: configuration, optimiser and schedules, the loop, evaluation and checkpoints.

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod embed_cache;
pub mod eval;
pub mod features;
pub mod fit;
pub mod memory;
pub mod multilabel;
pub mod optim;
pub mod trainer;

pub use checkpoint::{RunSpec, RunState};
pub use config::{ClassWeights, Metric, OptimizerKind, Schedule, TrainConfig};
pub use eval::{evaluate, EvalReport};
pub use fit::{fit, Event, FitOutcome, Resume};
pub use trainer::{EpochEnd, Progress, Trainer};
