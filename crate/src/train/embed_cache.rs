//! The head-only fast path's embeddings on disk, so a second run with the same encoder and data
//! skips embedding. One file per key, `<key>.f32`: a magic line, a one-line JSON header (key,
//! width, rows per split, a checksum of the values), then the values as little-endian f32.
//!
//! The key hashes what the features are a function of: the encoder's weights (their values, so
//! a re-downloaded or fine-tuned model misses), the pooling, and every split's token ids (which
//! carry the data, the tokenizer, the max length and the split). A file whose header or values
//! do not match is ignored with a warning and rewritten — never trusted silently.

use super::features::Features;
use crate::error::{Error, Result};
use crate::model::params::Group;
use crate::model::{Pooling, TextClassifier};
use crate::prepare::Prepared;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const MAGIC: &str = "edgetune-embeddings 1\n";

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Header {
    key: String,
    dim: usize,
    /// Rows of train, valid and test.
    rows: [usize; 3],
    has_test: bool,
    checksum: String,
}

/// A 128-bit hash (two independently seeded 64-bit lanes over 32-bit words): enough to tell
/// models and data sets apart, with no dependency.
#[derive(Clone)]
pub struct Hasher([u64; 2]);

impl Default for Hasher {
    fn default() -> Self {
        Hasher([0xcbf2_9ce4_8422_2325, 0x6c62_272e_07bb_0142])
    }
}

impl Hasher {
    pub fn words(&mut self, words: impl IntoIterator<Item = u32>) {
        for w in words {
            self.0[0] = (self.0[0] ^ w as u64).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(5);
            self.0[1] = (self.0[1] ^ w as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17);
        }
    }

    pub fn hex(&self) -> String {
        format!("{:016x}{:016x}", self.0[0], self.0[1])
    }
}

/// The cache key of `model`'s features for `data`.
pub async fn key(model: &TextClassifier, data: &Prepared) -> Result<String> {
    let mut h = Hasher::default();
    h.words([model.config.hidden_size as u32, (model.head.pooling == Pooling::Cls) as u32]);
    for (name, shape, values) in model.params.to_upstream_where(|p| p.group == Group::Body).await? {
        h.words(name.bytes().map(u32::from));
        h.words(shape.iter().map(|&s| s as u32));
        h.words(values.iter().map(|v| v.to_bits()));
    }
    let empty = Vec::new();
    for ids in [&data.train.ids, &data.valid.ids, data.test.as_ref().map_or(&empty, |t| &t.ids)] {
        // Lengths first, so two splits' boundaries cannot shift unnoticed.
        h.words([u32::MAX, ids.len() as u32]);
        for row in ids {
            h.words([u32::MAX - 1, row.len() as u32]);
            h.words(row.iter().copied());
        }
    }
    Ok(h.hex())
}

/// Where embeddings are cached: `$EDGETUNE_CACHE_DIR`, else `$XDG_CACHE_HOME/edgetune/embeddings`,
/// else `~/.cache/edgetune/embeddings`; None where there is no such place (the page).
pub fn default_dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("EDGETUNE_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("edgetune").join("embeddings")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("edgetune").join("embeddings")))
}

/// The cache file of `key` in `dir`.
pub fn path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.f32"))
}

fn checksum(values: &[&[f32]]) -> String {
    let mut h = Hasher::default();
    for v in values {
        h.words(v.iter().map(|x| x.to_bits()));
    }
    h.hex()
}

/// Reads the features cached at `path` for `key`. `Ok(None)`: no file; `Err(why)`: a file that
/// does not hold what is expected (`rows` per split of width `dim`), to ignore with a warning.
pub fn load(path: &Path, key: &str, dim: usize, rows: [usize; 3], has_test: bool) -> std::result::Result<Option<Features>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let bad = |why: &str| Err(format!("ignoring the embedding cache {}: {why}", path.display()));
    let Some(rest) = bytes.strip_prefix(MAGIC.as_bytes()) else { return bad("not an edgetune embedding file") };
    let Some(nl) = rest.iter().position(|&b| b == b'\n') else { return bad("no header") };
    let Ok(header) = serde_json::from_slice::<Header>(&rest[..nl]) else { return bad("unreadable header") };
    if header.key != key {
        return bad("it was made from another model or data");
    }
    if header.dim != dim || header.rows != rows || header.has_test != has_test {
        return bad(&format!("it holds {:?} rows of width {}, expected {rows:?} of width {dim}", header.rows, header.dim));
    }
    let payload = &rest[nl + 1..];
    let total: usize = rows.iter().sum::<usize>() * dim;
    if payload.len() != total * 4 {
        return bad(&format!("{} bytes of values, expected {}", payload.len(), total * 4));
    }
    let values: Vec<f32> = payload.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if values.iter().any(|v| !v.is_finite()) {
        return bad("it holds values that are not finite");
    }
    let (train, rest) = values.split_at(rows[0] * dim);
    let (valid, test) = rest.split_at(rows[1] * dim);
    if checksum(&[train, valid, test]) != header.checksum {
        return bad("its checksum does not match its values");
    }
    Ok(Some(Features { dim, train: train.to_vec(), valid: valid.to_vec(), test: has_test.then(|| test.to_vec()) }))
}

/// Writes `f` to `path` for `key` (through a temporary file and a rename, so a reader never sees
/// half a file).
pub fn store(path: &Path, key: &str, f: &Features) -> Result<()> {
    let test = f.test.as_deref().unwrap_or(&[]);
    let header = Header { key: key.into(), dim: f.dim, rows: f.rows(), has_test: f.test.is_some(), checksum: checksum(&[&f.train, &f.valid, test]) };
    let mut bytes = MAGIC.as_bytes().to_vec();
    bytes.extend(serde_json::to_vec(&header).map_err(|e| Error::Training(format!("embedding cache header: {e}")))?);
    bytes.push(b'\n');
    for v in f.train.iter().chain(&f.valid).chain(test) {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Features {
        Features { dim: 2, train: vec![1.0, -2.0, 0.5, 3.25], valid: vec![7.0, 8.0], test: Some(vec![-0.125, 4.0]) }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("edgetune-embcache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Stored features come back bit for bit; a missing file is no error.
    #[test]
    fn round_trip() {
        let d = dir("rt");
        let p = path(&d, "k1");
        assert_eq!(load(&p, "k1", 2, [2, 1, 1], true), Ok(None));
        store(&p, "k1", &sample()).unwrap();
        assert_eq!(load(&p, "k1", 2, [2, 1, 1], true), Ok(Some(sample())));
        let no_test = Features { test: None, ..sample() };
        store(&p, "k1", &no_test).unwrap();
        assert_eq!(load(&p, "k1", 2, [2, 1, 0], false), Ok(Some(no_test)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Another key, other shapes, a flipped value or a truncated file are refused with the reason.
    #[test]
    fn mismatches_and_corruption_are_refused() {
        let d = dir("bad");
        let p = path(&d, "k1");
        store(&p, "k1", &sample()).unwrap();
        let why = |r: std::result::Result<Option<Features>, String>| r.unwrap_err().rsplit(": ").next().unwrap().to_string();
        assert_eq!(why(load(&p, "k2", 2, [2, 1, 1], true)), "it was made from another model or data");
        assert_eq!(why(load(&p, "k1", 2, [3, 1, 1], true)), "it holds [2, 1, 1] rows of width 2, expected [3, 1, 1] of width 2");
        assert_eq!(why(load(&p, "k1", 4, [2, 1, 1], true)), "it holds [2, 1, 1] rows of width 2, expected [2, 1, 1] of width 4");
        let good = std::fs::read(&p).unwrap();
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01; // the high byte of the last value: 4.0 becomes another finite number
        std::fs::write(&p, &flipped).unwrap();
        assert_eq!(why(load(&p, "k1", 2, [2, 1, 1], true)), "its checksum does not match its values");
        std::fs::write(&p, &good[..good.len() - 3]).unwrap();
        assert_eq!(why(load(&p, "k1", 2, [2, 1, 1], true)), "29 bytes of values, expected 32");
        std::fs::write(&p, b"hello\n").unwrap();
        assert_eq!(why(load(&p, "k1", 2, [2, 1, 1], true)), "not an edgetune embedding file");
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// The hash sees every word and their order.
    #[test]
    fn hash_tells_inputs_apart() {
        let h = |w: &[u32]| {
            let mut h = Hasher::default();
            h.words(w.iter().copied());
            h.hex()
        };
        assert_eq!(h(&[1, 2, 3]), h(&[1, 2, 3]));
        assert_ne!(h(&[1, 2, 3]), h(&[1, 3, 2]));
        assert_ne!(h(&[1, 2, 3]), h(&[1, 2, 3, 0]));
        assert_eq!(h(&[]).len(), 32);
    }
}
