//! Safetensors files: parsed from bytes with every offset checked, and written in the same
//! layout as the Python `safetensors` library, so checkpoints round-trip through both.
//!
//! Layout: an 8-byte little-endian header length `n`, `n` bytes of JSON
//! (`{"__metadata__": {..}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [s, e]}}`),
//! then the data section; offsets are relative to the start of the data section.
//! Every error names the file and, where there is one, the tensor.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Upstream refuses headers above 100 MB; a larger claim means the file is not safetensors.
const MAX_HEADER: u64 = 100_000_000;

/// Element types of the safetensors format (the subset BERT-family checkpoints use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Dtype {
    const ALL: [Dtype; 10] = [
        Dtype::F64,
        Dtype::F32,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I64,
        Dtype::I32,
        Dtype::I16,
        Dtype::I8,
        Dtype::U8,
        Dtype::Bool,
    ];

    /// The string used in safetensors headers ("F32", "BF16", "BOOL", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I64 => "I64",
            Dtype::I32 => "I32",
            Dtype::I16 => "I16",
            Dtype::I8 => "I8",
            Dtype::U8 => "U8",
            Dtype::Bool => "BOOL",
        }
    }

    pub fn parse(s: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F64 | Dtype::F32 | Dtype::F16 | Dtype::BF16)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one tensor lives: `start..end` are byte offsets into the data section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub start: usize,
    pub end: usize,
}

/// A parsed safetensors file held in memory; tensors are decoded on request.
#[derive(Clone, Debug)]
pub struct SafeTensors {
    source: String,
    /// The whole file, shared: a model's files and every parse of them hold the same bytes.
    data: Arc<Vec<u8>>,
    /// Offset of the data section in `data` (8 + header length).
    data_start: usize,
    tensors: BTreeMap<String, TensorInfo>,
    pub metadata: BTreeMap<String, String>,
}

impl SafeTensors {
    /// Parses a whole file already in memory (a `Vec<u8>`, or an `Arc` of one shared without a
    /// copy). `source` names it in errors.
    pub fn parse(bytes: impl Into<Arc<Vec<u8>>>, source: &str) -> Result<Self> {
        let bytes: Arc<Vec<u8>> = bytes.into();
        let err = |msg: String| Error::weights(source, msg);
        let Some(len_bytes) = bytes.get(..8) else {
            return Err(err(format!(
                "truncated: {} bytes, a safetensors file starts with an 8-byte header length",
                bytes.len()
            )));
        };
        let mut n8 = [0u8; 8];
        n8.copy_from_slice(len_bytes);
        let n = u64::from_le_bytes(n8);
        // Checked before anything is sliced or allocated: a corrupt length must only cost a message.
        let available = (bytes.len() - 8) as u64;
        if n > available {
            return Err(err(format!(
                "header claims {n} bytes but the file has {} bytes (truncated, or not a safetensors file)",
                bytes.len()
            )));
        }
        if n > MAX_HEADER {
            return Err(err(format!(
                "header claims {n} bytes, more than the {MAX_HEADER}-byte limit"
            )));
        }
        let data_start = 8 + n as usize;
        let header = std::str::from_utf8(&bytes[8..data_start])
            .map_err(|e| err(format!("corrupt header: not UTF-8 ({e})")))?;
        if !header.trim_start().starts_with('{') {
            return Err(err("corrupt header: expected a JSON object".into()));
        }
        // Entries in file order, duplicates kept: a JSON map would silently keep the last one.
        let Entries(map) =
            serde_json::from_str(header).map_err(|e| err(format!("corrupt header: {e}")))?;
        let data_len = bytes.len() - data_start;

        let mut metadata = BTreeMap::new();
        let mut tensors = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        for (name, value) in map {
            if !seen.insert(name.clone()) {
                return Err(err(format!("corrupt header: '{name}' appears twice")));
            }
            if name == "__metadata__" {
                let serde_json::Value::Object(m) = value else {
                    return Err(err("corrupt header: __metadata__ is not an object".into()));
                };
                for (k, v) in m {
                    let serde_json::Value::String(v) = v else {
                        return Err(err(format!(
                            "corrupt header: __metadata__ value '{k}' is not a string"
                        )));
                    };
                    metadata.insert(k, v);
                }
                continue;
            }
            let info = parse_entry(&value).map_err(|m| err(format!("tensor '{name}' {m}")))?;
            tensors.insert(name, info);
        }

        // Check bounds in offset order so a truncated file reports the first tensor that was cut.
        let mut by_offset: Vec<(&String, &TensorInfo)> = tensors.iter().collect();
        by_offset.sort_by_key(|(_, t)| (t.start, t.end));
        let mut prev: Option<(&String, &TensorInfo)> = None;
        for (name, t) in by_offset {
            if t.end > data_len {
                return Err(err(format!(
                    "tensor '{name}' ends at byte {} but the data section has {data_len} bytes (file truncated?)",
                    t.end
                )));
            }
            if t.start == t.end {
                continue; // empty tensors occupy no bytes and cannot overlap anything
            }
            if let Some((pname, p)) = prev {
                if t.start < p.end {
                    return Err(err(format!(
                        "tensors '{pname}' [{}, {}] and '{name}' [{}, {}] overlap",
                        p.start, p.end, t.start, t.end
                    )));
                }
            }
            prev = Some((name, t));
        }
        Ok(SafeTensors { source: source.to_string(), data: bytes, data_start, tensors, metadata })
    }

    /// Reads and parses a file; errors name its path.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = crate::fsutil::read(path)?;
        Self::parse(bytes, &path.display().to_string())
    }

    /// Tensor names in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name)
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The f32 values of float tensor `name`, which must have shape `expected_shape`.
    pub fn f32(&self, name: &str, expected_shape: &[usize]) -> Result<Vec<f32>> {
        let info = self.check(name, expected_shape)?;
        self.decode(name, info)
    }

    /// Tensor `name`'s description, if it has shape `expected_shape` (nothing decoded).
    pub fn check(&self, name: &str, expected_shape: &[usize]) -> Result<&TensorInfo> {
        let info = self.lookup(name)?;
        if info.shape != expected_shape {
            return Err(Error::weights(
                &self.source,
                format!("tensor '{name}' has shape {:?}, expected {expected_shape:?}", info.shape),
            ));
        }
        Ok(info)
    }

    /// The f32 values of float tensor `name` and its shape, whatever it is.
    pub fn f32_any(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let info = self.lookup(name)?;
        Ok((self.decode(name, info)?, info.shape.clone()))
    }

    fn lookup(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors.get(name).ok_or_else(|| {
            let hint = if self.tensors.is_empty() {
                "the file has no tensors".to_string()
            } else {
                format!(
                    "the file has {} tensors, e.g. {}",
                    self.tensors.len(),
                    self.similar(name).join(", ")
                )
            };
            Error::weights(&self.source, format!("no tensor '{name}' ({hint})"))
        })
    }

    /// Up to three names sharing the longest suffix with `name`: a missing tensor is most often a
    /// prefix mismatch ("bert.encoder..." vs "encoder..."), which this makes visible.
    fn similar(&self, name: &str) -> Vec<&str> {
        let common =
            |n: &str| n.bytes().rev().zip(name.bytes().rev()).take_while(|(a, b)| a == b).count();
        let mut names: Vec<&str> = self.names().collect();
        // Longest shared suffix first, then fewest dotted parts absent from `name`; the sort is
        // stable, so ties keep name order.
        let parts: Vec<&str> = name.split('.').collect();
        let foreign = |n: &str| n.split('.').filter(|p| !parts.contains(p)).count();
        names.sort_by_key(|n| (std::cmp::Reverse(common(n)), foreign(n)));
        names.truncate(3);
        names
    }

    /// The values of float tensor `name`, refused if one is NaN or infinite (saving refuses
    /// them too, so such a file is corrupt or from a diverged run); the error names the tensor.
    fn decode(&self, name: &str, info: &TensorInfo) -> Result<Vec<f32>> {
        let values = self.decode_raw(name, info)?;
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::weights(
                &self.source,
                format!(
                    "tensor '{name}' holds {} at element {at} of {}: the weights are broken \
                     (a diverged run or a damaged file)",
                    values[at],
                    values.len()
                ),
            ));
        }
        Ok(values)
    }

    fn decode_raw(&self, name: &str, info: &TensorInfo) -> Result<Vec<f32>> {
        // parse() checked these bounds; keep the access fallible anyway rather than indexing.
        let raw =
            self.data.get(self.data_start + info.start..self.data_start + info.end).ok_or_else(
                || Error::weights(&self.source, format!("tensor '{name}' lies outside the file")),
            )?;
        Ok(match info.dtype {
            Dtype::F32 => {
                raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::F64 => raw
                .chunks_exact(8)
                .map(|c| {
                    f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
            other => {
                return Err(Error::weights(
                    &self.source,
                    format!("tensor '{name}' is {other}, expected a float tensor"),
                ))
            }
        })
    }
}

/// The members of the header's JSON object in file order, duplicate names included.
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Validates one header entry; the message is appended to "tensor 'name' ".
fn parse_entry(value: &serde_json::Value) -> std::result::Result<TensorInfo, String> {
    let obj = value.as_object().ok_or("is not a JSON object")?;
    let dtype_str = obj.get("dtype").and_then(|d| d.as_str()).ok_or("has no \"dtype\" string")?;
    let dtype = Dtype::parse(dtype_str).ok_or_else(|| {
        let known: Vec<&str> = Dtype::ALL.iter().map(|d| d.as_str()).collect();
        format!("has unknown dtype \"{dtype_str}\" (supported: {})", known.join(", "))
    })?;
    let shape: Vec<usize> = obj
        .get("shape")
        .and_then(|s| s.as_array())
        .and_then(|a| a.iter().map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok())).collect())
        .ok_or("has no valid \"shape\" (a list of non-negative integers)")?;
    let offsets: Option<Vec<usize>> = obj
        .get("data_offsets")
        .and_then(|o| o.as_array())
        .and_then(|a| a.iter().map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok())).collect());
    let (start, end) = match offsets.as_deref() {
        Some(&[start, end]) if start <= end => (start, end),
        _ => {
            let got = obj.get("data_offsets").map_or("nothing".to_string(), |v| v.to_string());
            return Err(format!("has data_offsets {got}, expected [start, end] with start <= end"));
        }
    };
    let bytes = shape
        .iter()
        .try_fold(dtype.size(), |acc: usize, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("has shape {shape:?}, too large to address"))?;
    if bytes != end - start {
        return Err(format!(
            "is {dtype} with shape {shape:?} ({bytes} bytes) but data_offsets [{start}, {end}] span {} bytes",
            end - start
        ));
    }
    Ok(TensorInfo { dtype, shape, start, end })
}

/// Serialises f32 tensors as the Python library does: names sorted, data packed in that order,
/// the JSON header padded with spaces to a multiple of 8 bytes so the data section is aligned.
/// Each tensor's data length must equal the product of its shape (a caller bug otherwise).
pub fn to_bytes(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut sorted: Vec<&(String, Vec<usize>, Vec<f32>)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    debug_assert!(sorted.iter().all(|(_, s, d)| s.iter().product::<usize>() == d.len()));
    debug_assert!(sorted.windows(2).all(|w| w[0].0 != w[1].0), "duplicate tensor names");

    // Written by hand (not via a serde map) to keep the upstream key order: metadata first,
    // then tensors in data order, each as {"dtype","shape","data_offsets"}.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut entries = Vec::with_capacity(sorted.len() + 1);
    if !metadata.is_empty() {
        let m: Vec<String> =
            metadata.iter().map(|(k, v)| format!("{}:{}", quote(k), quote(v))).collect();
        entries.push(format!("\"__metadata__\":{{{}}}", m.join(",")));
    }
    let mut offset = 0usize;
    for (name, shape, data) in &sorted {
        let end = offset + data.len() * 4;
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        entries.push(format!(
            "{}:{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            quote(name),
            dims.join(",")
        ));
        offset = end;
    }
    let mut header = format!("{{{}}}", entries.join(","));
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for (_, _, data) in &sorted {
        for v in data.iter() {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINILM: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/models/all-MiniLM-L6-v2/model.safetensors"
    );

    /// A file from a literal header and data section.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    fn parse_err(bytes: Vec<u8>) -> String {
        match SafeTensors::parse(bytes, "t.safetensors") {
            Ok(_) => panic!("parse unexpectedly succeeded"),
            Err(e) => e.to_string(),
        }
    }

    fn minilm() -> Vec<u8> {
        std::fs::read(MINILM)
            .unwrap_or_else(|e| panic!("{MINILM}: {e} (the shared models are part of the repo)"))
    }

    #[test]
    fn round_trip() {
        let tensors = vec![
            ("b.weight".to_string(), vec![2, 3], vec![1.0, -2.5, 3.25, 0.0, f32::MAX, -0.0]),
            ("a.bias".to_string(), vec![3], vec![0.5, 1.5, 2.5]),
            ("scalar".to_string(), vec![], vec![7.0]),
            ("empty".to_string(), vec![0, 4], vec![]),
        ];
        let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        let bytes = to_bytes(&tensors, &meta);
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0, "header must be padded to 8 bytes");
        let st = SafeTensors::parse(bytes, "mem").unwrap();
        assert_eq!(st.metadata, meta);
        assert_eq!(st.names().collect::<Vec<_>>(), ["a.bias", "b.weight", "empty", "scalar"]);
        // Data is packed in name order.
        assert_eq!(
            st.info("a.bias").unwrap(),
            &TensorInfo { dtype: Dtype::F32, shape: vec![3], start: 0, end: 12 }
        );
        for (name, shape, data) in &tensors {
            assert_eq!(&st.f32(name, shape).unwrap(), data, "{name}");
            assert_eq!(st.f32_any(name).unwrap(), (data.clone(), shape.clone()));
        }
        // No metadata: no __metadata__ key at all.
        let bytes = to_bytes(&tensors[..1], &BTreeMap::new());
        assert!(!String::from_utf8_lossy(&bytes).contains("__metadata__"));
        assert!(SafeTensors::parse(bytes, "mem").unwrap().metadata.is_empty());
    }

    #[test]
    fn real_minilm() {
        let st = SafeTensors::read(Path::new(MINILM)).unwrap();
        assert_eq!(st.len(), 104);
        assert_eq!(st.metadata.get("format").map(String::as_str), Some("pt"));
        let emb = st.f32("embeddings.word_embeddings.weight", &[30522, 384]).unwrap();
        assert_eq!(emb.len(), 30522 * 384);
        assert!(emb[..1000].iter().all(|v| v.is_finite()) && emb[..1000].iter().any(|v| *v != 0.0));
        let (ln, shape) = st.f32_any("embeddings.LayerNorm.weight").unwrap();
        assert_eq!(shape, [384]);
        assert!(ln.iter().all(|v| v.is_finite()));

        let src = st.source().to_string();
        let e = st.f32("embeddings.word_embeddings.weight", &[30522, 768]).unwrap_err().to_string();
        assert_eq!(e, format!("{src}: tensor 'embeddings.word_embeddings.weight' has shape [30522, 384], expected [30522, 768]"));
        let e = st.f32("embeddings.position_ids", &[1, 512]).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{src}: tensor 'embeddings.position_ids' is I64, expected a float tensor")
        );
        // The hint shows the names closest to the one asked for (here: a "bert." prefix mismatch).
        let e = st.f32("bert.encoder.layer.3.output.dense.bias", &[384]).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{src}: no tensor 'bert.encoder.layer.3.output.dense.bias' (the file has 104 tensors, e.g. \
                 encoder.layer.3.output.dense.bias, encoder.layer.0.output.dense.bias, encoder.layer.1.output.dense.bias)"
            )
        );
    }

    #[test]
    fn real_minilm_truncated() {
        let full = minilm();
        let data_start = 8 + 11408;
        let cut = |n: usize| parse_err(full[..n].to_vec());
        assert_eq!(cut(0), "t.safetensors: truncated: 0 bytes, a safetensors file starts with an 8-byte header length");
        assert_eq!(cut(5), "t.safetensors: truncated: 5 bytes, a safetensors file starts with an 8-byte header length");
        assert_eq!(
            cut(8),
            "t.safetensors: header claims 11408 bytes but the file has 8 bytes (truncated, or not a safetensors file)"
        );
        assert_eq!(
            cut(5000),
            "t.safetensors: header claims 11408 bytes but the file has 5000 bytes (truncated, or not a safetensors file)"
        );
        // Cut inside the data: the first tensor (in file order) that no longer fits is named.
        assert_eq!(
            cut(data_start + 100),
            "t.safetensors: tensor 'embeddings.position_ids' ends at byte 4096 but the data section has 100 bytes (file truncated?)"
        );
        assert_eq!(
            cut(data_start + 1_000_000),
            "t.safetensors: tensor 'embeddings.word_embeddings.weight' ends at byte 47678464 but the data section has 1000000 bytes (file truncated?)"
        );
        assert!(cut(full.len() - 1)
            .ends_with("but the data section has 90856959 bytes (file truncated?)"));
        // Every prefix fails cleanly (sampled): never a panic, never success.
        for n in (0..full.len()).step_by(997_001) {
            assert!(SafeTensors::parse(full[..n].to_vec(), "t").is_err());
        }
    }

    #[test]
    fn hand_made_errors() {
        let e = parse_err(u64::MAX.to_le_bytes().to_vec());
        assert_eq!(
            e,
            format!("t.safetensors: header claims {} bytes but the file has 8 bytes (truncated, or not a safetensors file)", u64::MAX)
        );
        let mut b = 200_000_000u64.to_le_bytes().to_vec();
        b.resize(200_000_100, b' ');
        assert_eq!(
            parse_err(b),
            "t.safetensors: header claims 200000000 bytes, more than the 100000000-byte limit"
        );
        let mut b = 4u64.to_le_bytes().to_vec();
        b.extend_from_slice(&[b'{', 0xff, 0xfe, b'}']);
        assert!(parse_err(b).starts_with("t.safetensors: corrupt header: not UTF-8 ("));
        assert_eq!(
            parse_err(file("{\"a\":", &[])),
            "t.safetensors: corrupt header: EOF while parsing a value at line 1 column 5"
        );
        assert_eq!(
            parse_err(file("[1, 2]", &[])),
            "t.safetensors: corrupt header: expected a JSON object"
        );
        assert_eq!(
            parse_err(file(r#"{"__metadata__":{"n":3}}"#, &[])),
            "t.safetensors: corrupt header: __metadata__ value 'n' is not a string"
        );
        assert_eq!(
            parse_err(file(r#"{"x":3}"#, &[])),
            "t.safetensors: tensor 'x' is not a JSON object"
        );
        assert_eq!(
            parse_err(file(r#"{"x":{"dtype":"U32","shape":[1],"data_offsets":[0,4]}}"#, &[0; 4])),
            "t.safetensors: tensor 'x' has unknown dtype \"U32\" (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)"
        );
        assert_eq!(
            parse_err(file(r#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, &[0; 4])),
            "t.safetensors: tensor 'x' has no valid \"shape\" (a list of non-negative integers)"
        );
        assert_eq!(
            parse_err(file(r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, &[0; 8])),
            "t.safetensors: tensor 'x' has data_offsets [8,4], expected [start, end] with start <= end"
        );
        assert_eq!(
            parse_err(file(r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, &[0; 8])),
            "t.safetensors: tensor 'x' has data_offsets [0], expected [start, end] with start <= end"
        );
        assert_eq!(
            parse_err(file(r#"{"x":{"dtype":"F32","shape":[1]}}"#, &[0; 8])),
            "t.safetensors: tensor 'x' has data_offsets nothing, expected [start, end] with start <= end"
        );
        assert_eq!(
            parse_err(file(r#"{"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#, &[0; 24])),
            "t.safetensors: tensor 'x' is F32 with shape [2, 3] (24 bytes) but data_offsets [0, 20] span 20 bytes"
        );
        let huge = format!(
            r#"{{"x":{{"dtype":"F64","shape":[{},4],"data_offsets":[0,8]}}}}"#,
            usize::MAX / 2
        );
        assert_eq!(
            parse_err(file(&huge, &[0; 8])),
            format!(
                "t.safetensors: tensor 'x' has shape [{}, 4], too large to address",
                usize::MAX / 2
            )
        );
        assert_eq!(
            parse_err(file(r#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, &[0; 8])),
            "t.safetensors: tensor 'x' ends at byte 12 but the data section has 8 bytes (file truncated?)"
        );
        assert_eq!(
            parse_err(file(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}}"#,
                &[0; 8]
            )),
            "t.safetensors: tensors 'a' [0, 8] and 'b' [4, 8] overlap"
        );
        // Empty tensors may sit anywhere inside the data.
        let ok = file(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#,
            &[0; 8],
        );
        assert_eq!(SafeTensors::parse(ok, "t").unwrap().f32("z", &[0]).unwrap(), Vec::<f32>::new());
    }

    #[test]
    fn half_and_double_conversion() {
        let vals = [1.0f32, -2.0, 0.5, 65504.0];
        let f16: Vec<u8> =
            vals.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        let bf16: Vec<u8> =
            vals.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect();
        let f64b: Vec<u8> = vals.iter().flat_map(|v| (*v as f64).to_le_bytes()).collect();
        let mut data = f16.clone();
        data.extend(&bf16);
        data.extend(&f64b);
        // Data at odd offsets within the file must still decode (no alignment assumptions).
        let header = r#"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]},"d":{"dtype":"F64","shape":[4],"data_offsets":[16,48]}}"#;
        let st = SafeTensors::parse(file(header, &data), "t").unwrap();
        assert_eq!(st.f32("h", &[4]).unwrap(), vals);
        assert_eq!(st.f32("d", &[4]).unwrap(), vals);
        // 65504 is not exact in bf16 (8 mantissa bits): 65536.
        assert_eq!(st.f32_any("b").unwrap(), (vec![1.0, -2.0, 0.5, 65536.0], vec![2, 2]));
        assert_eq!(st.info("b").unwrap().dtype, Dtype::BF16);
        assert_eq!(Dtype::parse("BOOL"), Some(Dtype::Bool));
        assert_eq!(Dtype::parse("bool"), None);
    }

    #[test]
    fn never_panics_on_mutated_bytes() {
        let tensors = vec![("w".to_string(), vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])];
        let good = to_bytes(&tensors, &BTreeMap::from([("format".into(), "pt".into())]));
        // Flip every byte through a few values; parse and decode must return, never panic.
        for i in 0..good.len() {
            for x in [0u8, 1, 0x7f, 0xff, b'9', b'"', b'-'] {
                let mut b = good.clone();
                b[i] = x;
                if let Ok(st) = SafeTensors::parse(b, "t") {
                    let names: Vec<String> = st.names().map(String::from).collect();
                    for n in names {
                        let _ = st.f32_any(&n);
                    }
                }
            }
        }
    }
}
