//! The head-only fast path's embeddings, cached so a second run with the same model and data
//! skips embedding: natively one file per key in a directory, in the page one OPFS file per key
//! (and a copy in memory). The bytes are the same on both sides: a magic line, a one-line JSON
//! header (key, width, rows per split, a checksum of the values), then the values as
//! little-endian f32.
//!
//! The key hashes what the features are a function of: the body's weights (their values, so a
//! re-downloaded or fine-tuned model misses; batch-norm running statistics included), how the
//! body's output is pooled or normalised, and every split's inputs — token ids for text (they
//! carry the data, the tokenizer, the max length and the split), the fitted pixels for images
//! (they carry the data, the input size and the fit). A file whose header or values do not match
//! is ignored with a warning and rewritten — never trusted silently.

use super::events::Event;
use super::fast_features::FastFeatures;
use super::features::Features;
use super::trainer::Trainer;
use crate::error::{Error, Result};
use crate::model::params::Group;
use crate::model::{Classifier, Pooling};
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

    /// Bytes, four to a word (the last word zero-padded; callers hash lengths first).
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.words(bytes.chunks(4).map(|c| c.iter().rev().fold(0u32, |w, &b| (w << 8) | b as u32)));
    }

    pub fn hex(&self) -> String {
        format!("{:016x}{:016x}", self.0[0], self.0[1])
    }
}

/// The cache key of `model`'s features for `data`.
pub async fn key(model: &Classifier, data: &Prepared) -> Result<String> {
    let mut h = Hasher::default();
    h.words(model.body.cache_key());
    h.words([(model.head.pooling == Pooling::Cls) as u32]);
    if let Some(i) = model.image_input() {
        // The input size and the normalisation the pixels go through.
        h.words([i.size as u32]);
        h.words(i.mean.iter().chain(&i.std).map(|v| v.to_bits()));
    }
    for (name, shape, values) in model.params().to_upstream_where(|p| p.group == Group::Body).await? {
        h.words(name.bytes().map(u32::from));
        h.words(shape.iter().map(|&s| s as u32));
        h.words(values.iter().map(|v| v.to_bits()));
    }
    for split in [Some(&data.train), Some(&data.valid), data.test.as_ref()] {
        // Lengths first, so two splits' boundaries cannot shift unnoticed.
        let n = split.map_or(0, |s| s.len());
        h.words([u32::MAX, n as u32]);
        let Some(split) = split else { continue };
        for (i, ex) in split.examples.iter().enumerate() {
            match (split.ids.get(i), &ex.image) {
                (Some(row), _) => {
                    h.words([u32::MAX - 1, row.len() as u32]);
                    h.words(row.iter().copied());
                }
                (None, Some(pixels)) => {
                    h.words([u32::MAX - 1, pixels.len() as u32]);
                    h.bytes(pixels);
                }
                (None, None) => h.words([u32::MAX - 1, 0]),
            }
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

/// The cache file of `key` in `dir` (the page names its OPFS file the same way).
pub fn path(dir: &Path, key: &str) -> PathBuf {
    dir.join(file_name(key))
}

/// `<key>.f32`.
pub fn file_name(key: &str) -> String {
    format!("{key}.f32")
}

fn checksum(values: &[&[f32]]) -> String {
    let mut h = Hasher::default();
    for v in values {
        h.words(v.iter().map(|x| x.to_bits()));
    }
    h.hex()
}

/// The features in a cache file's `bytes`, or why they cannot be used for `key` (`rows` per
/// split of width `dim`).
pub fn decode(bytes: &[u8], key: &str, dim: usize, rows: [usize; 3], has_test: bool) -> std::result::Result<Features, String> {
    let bad = |why: &str| Err(why.to_string());
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
    Ok(Features { dim, train: train.to_vec(), valid: valid.to_vec(), test: has_test.then(|| test.to_vec()) })
}

/// The bytes of the cache file of `f` for `key`.
pub fn encode(key: &str, f: &Features) -> Result<Vec<u8>> {
    let test = f.test.as_deref().unwrap_or(&[]);
    let header = Header { key: key.into(), dim: f.dim, rows: f.rows(), has_test: f.test.is_some(), checksum: checksum(&[&f.train, &f.valid, test]) };
    let mut bytes = MAGIC.as_bytes().to_vec();
    bytes.extend(serde_json::to_vec(&header).map_err(|e| Error::Training(format!("embedding cache header: {e}")))?);
    bytes.push(b'\n');
    for v in f.train.iter().chain(&f.valid).chain(test) {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    Ok(bytes)
}

/// Writes `f` to `path` for `key` (through a temporary file and a rename, so a reader never sees
/// half a file).
pub fn store(path: &Path, key: &str, f: &Features) -> Result<()> {
    let bytes = encode(key, f)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Cache files kept in a directory: the most recently used (the page keeps as many in OPFS).
pub const KEEP: usize = 8;

/// Removes all but the `keep` most recently used cache files (`*.f32`) in `dir`. A file that
/// cannot be read or removed stays: a cache that cannot be pruned is only larger.
pub fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "f32"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by(|a, b| b.0.cmp(&a.0));
    for (_, old) in files.into_iter().skip(keep) {
        let _ = std::fs::remove_file(old);
    }
}

/// Marks a cache file as just used, so [`prune`] keeps it.
fn touch(path: &Path) {
    let _ = std::fs::File::options().write(true).open(path).and_then(|f| f.set_modified(std::time::SystemTime::now()));
}

/// The fast path's features for the native loop, by [`FastFeatures`]' rules: from the cache
/// in `dir` when it holds them for this body and data, else embedded now (with `embedding`
/// events) and written there; then the `embedded` event that says which. Without `dir`, no cache.
pub async fn cached_features(t: &Trainer, data: &Prepared, dir: Option<PathBuf>, on_event: &mut dyn FnMut(&Event)) -> Result<Features> {
    let mut search = FastFeatures::new(t, data, dir.is_some()).await?;
    let file = match (&dir, search.key()) {
        (Some(dir), Some(key)) => Some(path(dir, key)),
        _ => None,
    };
    if let Some(file) = &file {
        search.at(file.display().to_string());
        let bytes = match std::fs::read(file) {
            Ok(b) => Some(Ok(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(Err(e.to_string())),
        };
        if let Some((f, event)) = search.offer(bytes) {
            touch(file);
            on_event(&event);
            return Ok(f);
        }
    }
    let f = loop {
        let (event, done) = search.step(&t.model, data).await?;
        on_event(&event);
        if let Some(f) = done {
            break f;
        }
    };
    let kept = match (&file, &dir) {
        (Some(file), Some(dir)) => store(file, search.key().unwrap_or_default(), &f).map(|()| prune(dir, KEEP)).map_err(|e| e.to_string()),
        _ => Ok(()),
    };
    on_event(&search.embedded(kept));
    Ok(f)
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
    fn prune_keeps_the_most_recently_used() {
        let d = dir("prune");
        std::fs::create_dir_all(&d).unwrap();
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(100);
        for i in 0..5u64 {
            let p = d.join(format!("k{i}.f32"));
            std::fs::write(&p, [0u8; 4]).unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(t0 + std::time::Duration::from_secs(i * 10)).unwrap();
        }
        std::fs::write(d.join("notes.txt"), "not a cache file").unwrap();
        touch(&d.join("k0.f32")); // the oldest, just used again
        prune(&d, 3);
        let mut left: Vec<String> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["k0.f32", "k3.f32", "k4.f32", "notes.txt"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// The file at `p` decoded for `key` (None: no file).
    fn load(p: &Path, key: &str, dim: usize, rows: [usize; 3], has_test: bool) -> std::result::Result<Option<Features>, String> {
        std::fs::read(p).ok().map(|b| decode(&b, key, dim, rows, has_test)).transpose()
    }

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
