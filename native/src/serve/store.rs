//! The labelled examples posted to `/examples`: one append-only JSON Lines file,
//! `DATA_DIR/examples.jsonl`, each batch written whole and fsynced before the server answers 2xx.
//!
//! Why this survives a SIGKILL or a power cut with every acknowledged example intact: an example
//! is acknowledged only after `sync_data` returned for the write holding it, and a write that
//! was cut short can only be the file's tail (appends never touch earlier bytes). On start the
//! store keeps every complete line and truncates an incomplete last line (one without its `\n`:
//! it was never acknowledged). A damaged line *before* the tail is not ours to guess at: starting
//! fails naming the file and line.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const EXAMPLES_FILE: &str = "examples.jsonl";

/// One stored example: a text, or an image (base64 of its PNG/JPEG bytes), and its label.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Example {
    pub id: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub image: Option<String>,
    pub label: String,
}

pub struct Store {
    path: PathBuf,
    file: File,
    next_id: u64,
    count: usize,
}

impl Store {
    /// Opens (or creates) the store in `dir`, recovering a torn last line.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(EXAMPLES_FILE);
        let existed = path.exists();
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
        if !existed {
            // The new file's directory entry must be durable too.
            sync_dir(dir)?;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let (mut next_id, mut count) = (1, 0);
        let complete = for_each_example(&bytes, &path, |e| {
            next_id = next_id.max(e.id + 1);
            count += 1;
        })?;
        if complete < bytes.len() {
            eprintln!("{}: dropping an incomplete last line of {} bytes (a write cut short, never acknowledged)", path.display(), bytes.len() - complete);
            file.set_len(complete as u64).with_context(|| format!("truncating {}", path.display()))?;
            file.sync_all().with_context(|| format!("syncing {}", path.display()))?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok(Store { path, file, next_id, count })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// Appends `batch` (ids assigned here) in one write and fsyncs it; returns the ids.
    pub fn append(&mut self, batch: Vec<(Option<String>, Option<String>, String)>) -> Result<Vec<u64>> {
        let mut buf = Vec::new();
        let mut ids = Vec::with_capacity(batch.len());
        for (offset, (text, image, label)) in batch.into_iter().enumerate() {
            let e = Example { id: self.next_id + offset as u64, text, image, label };
            serde_json::to_writer(&mut buf, &e)?;
            buf.push(b'\n');
            ids.push(e.id);
        }
        let before = self.file.metadata().with_context(|| format!("reading {}", self.path.display()))?.len();
        let written = self.file.write_all(&buf).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Cut back whatever part reached the file, so the next append starts on a line.
            let _ = self.file.set_len(before);
            bail!("writing {}: {e}", self.path.display());
        }
        self.next_id += ids.len() as u64;
        self.count += ids.len();
        Ok(ids)
    }
}

/// The complete lines of an examples file (a torn last line is left out).
pub fn read_all(path: &Path) -> Result<Vec<Example>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for_each_example(&bytes, path, |e| out.push(e))?;
    Ok(out)
}

/// Calls `f` with the example of each complete line of `bytes` (the file `path`) and returns
/// where the complete lines end: a torn last line (no `\n`) is not read. A line that does not
/// parse is an error naming it.
fn for_each_example(bytes: &[u8], path: &Path, mut f: impl FnMut(Example)) -> Result<usize> {
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    for (i, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        f(serde_json::from_slice(line).with_context(|| {
            format!("{} line {}: not a stored example (expected a JSON object with id, label and text or image); the file is damaged before its last line, which a crash cannot do: restore it from a backup", path.display(), i + 1)
        })?);
    }
    Ok(complete)
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing directory {}", dir.display()))
}
