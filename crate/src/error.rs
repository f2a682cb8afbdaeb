//! One error type for everything that touches user data, files or settings.
//!
//! Every message names *what* was wrong (the file, the row, the tensor) and *what was expected*,
//! so a person can fix their input without reading the source. Nothing in the crate panics on
//! user input: parsers, loaders and the training loop all return [`Result`].

use std::path::Path;

/// The crate-wide result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    // The io::Error is part of the message, not a `source`: printed once, not twice.
    #[error("{path}: {err}")]
    Io { path: String, err: std::io::Error },
    /// A data file (CSV/TSV/JSONL, images) is malformed or unusable: `file` names it, `msg` says
    /// where (row, column) and what was expected.
    #[error("{file}: {msg}")]
    Data { file: String, msg: String },
    /// A weights file (safetensors, checkpoint) is malformed or does not fit the model.
    #[error("{file}: {msg}")]
    Weights { file: String, msg: String },
    /// A model configuration (config.json, tokenizer files) is malformed or unsupported.
    #[error("{file}: {msg}")]
    Model { file: String, msg: String },
    /// Settings that cannot work together (bad flag value, unknown option, ...).
    #[error("{0}")]
    Config(String),
    /// Training stopped: NaN or exploding loss, nothing to train on, ...
    #[error("{0}")]
    Training(String),
    /// Downloading from the Hugging Face Hub failed (offline, missing file, HTTP error).
    #[error("{0}")]
    Hub(String),
    /// A tensor about to be saved holds NaN or infinity: nothing broken is written.
    #[error("tensor '{0}' holds a non-finite value: refusing to save a broken model")]
    NonFinite(String),
    /// The compute backend could not be initialised.
    #[error("{0}")]
    Backend(String),
}

impl Error {
    /// An IO error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), err: source }
    }

    pub fn data(file: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Data { file: file.into(), msg: msg.into() }
    }

    pub fn weights(file: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Weights { file: file.into(), msg: msg.into() }
    }

    pub fn model(file: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Model { file: file.into(), msg: msg.into() }
    }

    pub fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }
}
