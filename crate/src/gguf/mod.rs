//! GGUF files (llama.cpp's format: a header, typed metadata, a tensor index, aligned tensor data;
//! versions 2 and 3), read from bytes in memory: the metadata (architecture, tokenizer, chat
//! template) and each tensor de-quantised to f32 in PyTorch's layout (`dequant.rs`); the
//! tokenizer the metadata describes (`tokenizer.rs`).
//!
//! Hand-written: the Rust GGUF readers are either part of a whole inference engine (candle-core
//! and its tensor library; llama.cpp bindings, which are C++) or young single-author crates; the
//! format is small and fixed (`ggml/docs/gguf.md`). Every length, count, offset and shape is
//! checked against the file before use: a damaged or hostile file is an error that names the
//! file and the key or tensor, never a panic or an allocation it asks for.

mod dequant;
mod meta;
pub mod tokenizer;

pub use dequant::GgmlType;
pub use meta::Value;

use crate::error::{Error, Result};
use meta::Cursor;
use std::collections::BTreeMap;
use std::sync::Arc;

/// More tensors or metadata entries than this is not a model file.
const MAX_ENTRIES: u64 = 1 << 20;

/// One tensor of the index.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    /// PyTorch's shape (GGUF lists dimensions fastest first; this is the reverse).
    pub shape: Vec<usize>,
    pub kind: GgmlType,
    /// Byte range in the file.
    start: usize,
    len: usize,
}

/// A parsed GGUF file.
#[derive(Clone, Debug)]
pub struct Gguf {
    source: String,
    data: Arc<Vec<u8>>,
    pub version: u32,
    meta: BTreeMap<String, Value>,
    tensors: BTreeMap<String, TensorInfo>,
}

impl Gguf {
    /// Parses a whole file already in memory; `source` names it in errors.
    pub fn parse(bytes: impl Into<Arc<Vec<u8>>>, source: &str) -> Result<Self> {
        let data: Arc<Vec<u8>> = bytes.into();
        let err = |msg: String| Error::weights(source, msg);
        let mut c = Cursor::new(&data, source);
        if c.bytes(4)? != b"GGUF" {
            return Err(err("not a GGUF file (it does not start with 'GGUF')".into()));
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(err(format!("GGUF version {version}: edgetune reads versions 2 and 3")));
        }
        let (n_tensors, n_meta) = (c.u64()?, c.u64()?);
        if n_tensors > MAX_ENTRIES || n_meta > MAX_ENTRIES {
            return Err(err(format!("the header claims {n_tensors} tensors and {n_meta} metadata entries: not a model file")));
        }
        let mut meta = BTreeMap::new();
        for _ in 0..n_meta {
            let key = c.string()?;
            let value = c.value(&key)?;
            meta.insert(key, value);
        }
        let mut index = Vec::new();
        for _ in 0..n_tensors {
            let name = c.string()?;
            let n_dims = c.u32()?;
            if n_dims == 0 || n_dims > 4 {
                return Err(err(format!("tensor '{name}' has {n_dims} dimensions, expected 1 to 4")));
            }
            let mut dims = Vec::new();
            for _ in 0..n_dims {
                dims.push(c.u64()?);
            }
            let kind = GgmlType::from_id(c.u32()?).map_err(|t| err(format!("tensor '{name}' is of {t}, which edgetune does not read (it reads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)")))?;
            let offset = c.u64()?;
            index.push((name, dims, kind, offset));
        }
        let alignment = match meta.get("general.alignment") {
            None => 32,
            Some(v) => v.as_u64().filter(|a| a.is_power_of_two() && *a <= 1 << 16).ok_or_else(|| err(format!("general.alignment is {v:?}, expected a power of two")))?,
        } as usize;
        let start = c.position().div_ceil(alignment) * alignment;
        let mut tensors = BTreeMap::new();
        for (name, dims, kind, offset) in index {
            let numel = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d)).filter(|&n| n > 0 && n < 1 << 36);
            let (block_n, block_bytes) = kind.block();
            let Some(numel) = numel.filter(|n| n % block_n as u64 == 0) else {
                return Err(err(format!("tensor '{name}' has dimensions {dims:?}, not a positive whole number of {} blocks of {block_n}", kind.name())));
            };
            if dims[0] % block_n as u64 != 0 {
                return Err(err(format!("tensor '{name}': rows of {} values are not whole {} blocks of {block_n}", dims[0], kind.name())));
            }
            let len = (numel / block_n as u64) as usize * block_bytes;
            let at = (start as u64).checked_add(offset).filter(|&a| a % alignment as u64 == 0);
            let Some(at) = at.map(|a| a as usize).filter(|&a| a.checked_add(len).is_some_and(|end| end <= data.len())) else {
                return Err(err(format!("tensor '{name}' ({len} bytes at data offset {offset}) lies outside the file ({} bytes) or is not aligned", data.len())));
            };
            let shape = dims.iter().rev().map(|&d| d as usize).collect();
            if tensors.insert(name.clone(), TensorInfo { shape, kind, start: at, len }).is_some() {
                return Err(err(format!("tensor '{name}' is listed twice")));
            }
        }
        Ok(Gguf { source: source.to_string(), data, version, meta, tensors })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Metadata entry `key`.
    pub fn meta(&self, key: &str) -> Option<&Value> {
        self.meta.get(key)
    }

    /// Every metadata key, sorted.
    pub fn meta_keys(&self) -> impl Iterator<Item = &str> {
        self.meta.keys().map(String::as_str)
    }

    /// String entry `key` (an error naming it when absent or of another type).
    pub fn str(&self, key: &str) -> Result<&str> {
        match self.meta(key) {
            Some(Value::String(s)) => Ok(s),
            Some(v) => Err(Error::weights(&self.source, format!("metadata '{key}' is {}, expected a string", v.kind()))),
            None => Err(Error::weights(&self.source, format!("no metadata '{key}'"))),
        }
    }

    /// Integer entry `key`, whatever its integer type.
    pub fn uint(&self, key: &str) -> Result<u64> {
        let v = self.meta(key).ok_or_else(|| Error::weights(&self.source, format!("no metadata '{key}'")))?;
        v.as_u64().ok_or_else(|| Error::weights(&self.source, format!("metadata '{key}' is {}, expected a non-negative integer", v.kind())))
    }

    /// Number entry `key`, whatever its numeric type.
    pub fn float(&self, key: &str) -> Result<f64> {
        let v = self.meta(key).ok_or_else(|| Error::weights(&self.source, format!("no metadata '{key}'")))?;
        v.as_f64().ok_or_else(|| Error::weights(&self.source, format!("metadata '{key}' is {}, expected a number", v.kind())))
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name)
    }

    /// Tensor `name` as f32 in PyTorch's row-major layout; it must have shape `expected`.
    pub fn f32(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let info = self.tensors.get(name).ok_or_else(|| Error::weights(&self.source, format!("no tensor '{name}' (the file has {} tensors)", self.tensors.len())))?;
        if info.shape != expected {
            return Err(Error::weights(&self.source, format!("tensor '{name}' has shape {:?}, expected {expected:?}", info.shape)));
        }
        let mut out = vec![0.0; info.shape.iter().product()];
        dequant::dequantize(info.kind, &self.data[info.start..info.start + info.len], &mut out);
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(Error::weights(&self.source, format!("tensor '{name}' holds a value that is not finite (element {i})")));
        }
        Ok(out)
    }
}
