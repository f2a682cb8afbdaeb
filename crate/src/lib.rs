//! # edgetune
//!
//! Fine-tunes small pre-trained models on a user's own labelled data, where the data lives: in a
//! web page (wasm + WebGPU, CPU fallback) and on edge boxes (wgpu, CUDA, CPU). This crate is the
//! whole product; the native runner (`native/`) and the page (`web/`) are thin shells around it.
//!
//! - [`tokenize`]: Hugging Face's `tokenizers` (WordPiece, BPE, Unigram), identical ids to transformers.
//! - [`weights`]: safetensors in and out, in the upstream tensor names.
//! - [`model`]: the BERT encoder and the classifier head, loaded from a Hugging Face directory;
//!   LoRA adapters on the encoder, in PEFT's files.
//! - [`data`]: CSV/TSV/JSONL with column mapping, cleaning report, stratified splits, batching;
//!   multi-label tags ([`data::tags`]).
//! - [`vision`]: image folders/zips/lists → Pillow-exact resized inputs, augmentation, previews.
//! - [`prepare`]: user files → tokenized splits.
//! - [`train`]: AdamW/SGD, schedules, clipping, accumulation, early stopping, checkpoints.
//! - [`metrics`] (single-label, regression, multi-label), [`predict`], [`export`] (a directory
//!   PyTorch `transformers` loads back).
//! - [`device`]: the only place that names backends; [`kernels`]: the backend extensions (host
//!   convolution and fused batch norm) that model code calls as plain operations.

pub mod archive;
pub mod chat;
pub mod data;
pub mod device;
pub mod error;
pub mod export;
pub mod fsutil;
pub mod gguf;
#[cfg(feature = "hub")]
pub mod hub;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod personalize;
pub mod predict;
pub mod prepare;
pub mod rng;
pub mod run;
pub mod sft;
pub mod tokenize;
pub mod train;
pub mod vision;
pub mod weights;

pub use error::{Error, Result};

// The page's JS boundary: the only wasm-bindgen code.
#[cfg(target_arch = "wasm32")]
mod web;
