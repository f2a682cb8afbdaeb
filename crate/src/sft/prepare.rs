//! A generative run's data: the training file read and tokenized, a validation share held out
//! when no validation file is given (and a test share when asked), and the test prompts with
//! the answers expected of them. Splits are a pure function of the seed, so a resumed run sees
//! the same ones.

use super::data::{read_sft, Record, Sample};
use super::encode::{encode, Encoded, SftReport};
use super::eval::TestCase;
use crate::error::{Error, Result};
use crate::model::causal::LanguageModel;
use crate::prepare::DataSource;
use crate::rng::Rng;
use crate::train::TrainConfig;

/// Tokenized splits, ready to train on.
#[derive(Clone, Debug)]
pub struct SftData {
    pub train: Vec<Encoded>,
    pub valid: Vec<Encoded>,
    /// The test split, tokenized (its loss).
    pub test: Vec<Encoded>,
    /// The test split as prompts and expected answers (its generation score).
    pub cases: Vec<TestCase>,
    /// One report per file read (and the held-out shares), for people.
    pub reports: Vec<SftReport>,
}

/// The bytes of a data source (a file, or bytes the page read).
fn bytes_of(source: &DataSource) -> Result<Vec<u8>> {
    match source {
        DataSource::Path(p) => std::fs::read(p).map_err(|e| Error::io(p, e)),
        DataSource::Bytes { bytes, .. } => Ok(bytes.clone()),
        DataSource::Files { name, .. } => Err(Error::data(name, "is a folder: a generative run reads a JSONL, CSV or TSV file")),
    }
}

/// Reads and tokenizes one file: its records, their encodings and its report.
fn read_encode(lm: &LanguageModel, source: &DataSource, cfg: &TrainConfig) -> Result<(Vec<Record>, Vec<Encoded>, SftReport)> {
    let name = source.name();
    let (records, skipped) = read_sft(&bytes_of(source)?, &name, &cfg.sft.label_prompt)?;
    if records.is_empty() {
        return Err(Error::data(&name, "has no examples"));
    }
    let encoded = records.iter().map(|r| encode(lm, r, &name, cfg.max_length, cfg.sft.loss_on)).collect::<Result<Vec<_>>>()?;
    let report = SftReport::new(&name, &records, &encoded, skipped.empty_lines);
    Ok((records, encoded, report))
}

/// The record as a test case: the conversation before its last answer, and that answer. Plain
/// text has no answer to generate (it still counts in the test loss).
fn test_case(r: &Record) -> Option<TestCase> {
    let Sample::Chat(messages) = &r.sample else { return None };
    let last = messages.iter().rposition(|m| m.role == "assistant")?;
    Some(TestCase { prompt: messages[..last].to_vec(), expected: messages[last].content.clone(), line: r.line })
}

/// Reads, tokenizes and splits a run's data for `lm`.
pub fn prepare_sft(lm: &LanguageModel, train: &DataSource, valid: Option<&DataSource>, test: Option<&DataSource>, cfg: &TrainConfig) -> Result<SftData> {
    let (records, encoded, report) = read_encode(lm, train, cfg)?;
    let mut reports = vec![report];
    // Held-out shares: a seeded shuffle of the training file's examples.
    let n = records.len();
    let mut order: Vec<usize> = (0..n).collect();
    Rng::derive(cfg.seed, "sft-split").shuffle(&mut order);
    let share = |f: f64, given: bool| if given || f <= 0.0 { 0 } else { ((n as f64 * f).round() as usize).max(1) };
    let (n_valid, n_test) = (share(cfg.valid_split, valid.is_some()), share(cfg.test_split, test.is_some()));
    if n_valid + n_test >= n {
        return Err(Error::data(
            train.name(),
            format!("has {n} examples: too few to hold out {n_valid} for validation and {n_test} for test (give --valid/--test files, or lower --valid-split)"),
        ));
    }
    let pick = |idx: &[usize]| -> (Vec<Record>, Vec<Encoded>) {
        let mut idx = idx.to_vec();
        idx.sort_unstable();
        (idx.iter().map(|&i| records[i].clone()).collect(), idx.iter().map(|&i| encoded[i].clone()).collect())
    };
    let (valid_part, test_part, train_part) = (&order[..n_valid], &order[n_valid..n_valid + n_test], &order[n_valid + n_test..]);
    let (_, train_enc) = pick(train_part);
    let (valid_enc, valid_note) = match valid {
        Some(v) => {
            let (_, enc, r) = read_encode(lm, v, cfg)?;
            reports.push(r);
            (enc, None)
        }
        None => (pick(valid_part).1, (n_valid > 0).then(|| format!("{n_valid} held out for validation"))),
    };
    let (test_records, test_enc) = match test {
        Some(t) => {
            let (rec, enc, r) = read_encode(lm, t, cfg)?;
            reports.push(r);
            (rec, enc)
        }
        None => pick(test_part),
    };
    if let Some(note) = valid_note.into_iter().chain((n_test > 0).then(|| format!("{n_test} held out for test"))).reduce(|a, b| format!("{a}, {b}")) {
        reports[0].held_out = Some(note);
    }
    let cases = test_records.iter().filter_map(test_case).collect();
    Ok(SftData { train: train_enc, valid: valid_enc, test: test_enc, cases, reports })
}
