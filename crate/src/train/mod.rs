//! Training: configuration, optimiser and schedules, the loop, evaluation and checkpoints.

pub mod checkpoint;
pub mod config;
pub mod driver;
pub mod embed_cache;
pub mod eval;
pub mod events;
pub mod fast_features;
pub mod features;
pub mod fit;
pub mod memory;
pub mod multilabel;
pub mod optim;
pub mod setup;
pub mod tally;
pub mod trainer;

pub use checkpoint::{RunSpec, RunState};
pub use config::{ClassWeights, Metric, OnNan, OptimizerKind, Schedule, TrainConfig};
pub use eval::{evaluate, EvalReport};
pub use events::{EpochEnd, Event, Progress};
pub use fit::{fit, FitOutcome, Resume};
pub use trainer::Trainer;
#[cfg(test)]
mod on_nan_tests;
