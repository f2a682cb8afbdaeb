//! Examples to token ids and the tokens the loss is on. A conversation is rendered with the
//! model's chat template and tokenized once; each assistant turn is found as the text between
//! the conversation rendered up to it (with the generation prompt) and rendered through it, and
//! its tokens are trained on up to its stop token (`<|im_end|>`: what ends an answer; the
//! newline the template writes after it is not the model's to predict). That is what
//! `../shared/bench/torch_sft.py` trains on: the answer's tokens and the end token.
//! Plain text is trained on whole.

use super::data::{Record, Sample};
use crate::error::{Error, Result};
use crate::model::causal::LanguageModel;
use serde::{Deserialize, Serialize};

/// Which tokens the loss is on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossOn {
    /// The assistant's turns (the completion) only.
    #[default]
    Assistant,
    /// Every token (the prompts too).
    All,
}

/// An example as the model reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// Whether the loss is on predicting `ids[i]` (from the tokens before it).
    pub train: Vec<bool>,
    /// Tokens were cut at the length limit.
    pub truncated: bool,
    /// The line it came from.
    pub line: usize,
}

/// Encodes `r` (from file `source`) for `lm`, cut at `max_len` tokens.
pub fn encode(lm: &LanguageModel, r: &Record, source: &str, max_len: usize, loss: LossOn) -> Result<Encoded> {
    let err = |m: String| Error::data(format!("{source}:{}", r.line), m);
    let (mut ids, mut train) = match &r.sample {
        Sample::Text(t) => {
            let mut ids = lm.encode_text(t)?;
            ids.extend(lm.stop.first());
            let n = ids.len();
            (ids, vec![true; n])
        }
        Sample::Chat(messages) => match &lm.template {
            Some(t) => {
                let full = t.render(messages, false)?;
                let mut spans = Vec::new();
                for (i, _) in messages.iter().enumerate().filter(|(_, m)| m.role == "assistant") {
                    let (before, through) = (t.render(&messages[..i], true)?, t.render(&messages[..=i], false)?);
                    if !through.starts_with(&before) || !full.starts_with(&through) {
                        return Err(err(format!(
                            "the chat template renders turn {} differently once later turns follow; the answers cannot be found for an assistant-only loss (train on every token instead)",
                            i + 1
                        )));
                    }
                    spans.push(before.len()..through.len());
                }
                let enc = lm.tokenizer.encode(full.as_str(), false).map_err(|e| err(format!("cannot tokenize: {e}")))?;
                let (ids, offsets) = (enc.get_ids().to_vec(), enc.get_offsets()); // offsets: bytes of `full`
                let mut train: Vec<bool> = offsets.iter().map(|(start, _)| spans.iter().any(|s| s.contains(start))).collect();
                // Within each answer, nothing after its last stop token.
                for s in &spans {
                    let inside: Vec<usize> = (0..ids.len()).filter(|&k| s.contains(&offsets[k].0)).collect();
                    if let Some(&last_stop) = inside.iter().rev().find(|&&k| lm.is_stop(ids[k])) {
                        inside.iter().filter(|&&k| k > last_stop).for_each(|&k| train[k] = false);
                    }
                }
                (ids, train)
            }
            None => match messages.as_slice() {
                // No template (a base model): TRL's plain prompt + completion.
                [p, c] if p.role == "user" && c.role == "assistant" => {
                    let mut ids = lm.encode_text(&p.content)?;
                    let n = ids.len();
                    ids.extend(lm.encode_rendered(&c.content)?);
                    ids.extend(lm.stop.first());
                    let train = (0..ids.len()).map(|k| k >= n).collect();
                    (ids, train)
                }
                _ => return Err(err(format!("{} has no chat template: conversations need one (give prompt/completion or text examples)", lm.source))),
            },
        },
    };
    if loss == LossOn::All {
        train.iter_mut().for_each(|t| *t = true);
    }
    // Tokens after the last one trained on change no loss (attention is causal): left out.
    let end = train.iter().rposition(|&t| t).map_or(0, |k| k + 1);
    ids.truncate(end);
    train.truncate(end);
    if !train.iter().any(|&t| t) {
        return Err(err("no token to learn from (the answer is empty after tokenizing)".into()));
    }
    let first = train.iter().position(|&t| t).unwrap_or(0);
    if loss == LossOn::Assistant && first >= max_len {
        return Err(err(format!("the prompt is {first} tokens, at or past the length limit of {max_len}: the answer would be cut away (raise max_len or shorten it)")));
    }
    let truncated = ids.len() > max_len;
    ids.truncate(max_len);
    train.truncate(max_len);
    Ok(Encoded { ids, train, truncated, line: r.line })
}

/// What the data is, once tokenized: what a person reads before training.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SftReport {
    pub source: String,
    pub examples: usize,
    /// Conversation turns, all roles (plain text counts one).
    pub turns: usize,
    pub tokens_mean: f64,
    pub tokens_max: usize,
    /// Tokens the loss is on, in all.
    pub trained_tokens: usize,
    /// Examples cut at the length limit, by line.
    pub truncated: Vec<usize>,
    /// Blank lines or empty rows skipped, by line.
    pub empty: Vec<usize>,
    /// What was held out of this file for validation and test, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_out: Option<String>,
}

impl SftReport {
    pub fn new(source: &str, records: &[Record], encoded: &[Encoded], empty: Vec<usize>) -> Self {
        let lens: Vec<usize> = encoded.iter().map(|e| e.ids.len()).collect();
        SftReport {
            source: source.to_string(),
            examples: encoded.len(),
            turns: records.iter().map(|r| if let Sample::Chat(m) = &r.sample { m.len() } else { 1 }).sum(),
            tokens_mean: lens.iter().sum::<usize>() as f64 / lens.len().max(1) as f64,
            tokens_max: lens.iter().copied().max().unwrap_or(0),
            trained_tokens: encoded.iter().map(|e| e.train.iter().filter(|&&t| t).count()).sum(),
            truncated: encoded.iter().filter(|e| e.truncated).map(|e| e.line).collect(),
            empty,
            held_out: None,
        }
    }

    /// One paragraph for people.
    pub fn describe(&self) -> String {
        let lines = |v: &[usize]| {
            let shown: Vec<String> = v.iter().take(10).map(|l| l.to_string()).collect();
            format!("{}{}", shown.join(", "), if v.len() > 10 { format!(" and {} more", v.len() - 10) } else { String::new() })
        };
        let mut s = format!(
            "{}: {} examples, {} turns, {:.1} tokens on average (longest {}), {} tokens trained on",
            self.source, self.examples, self.turns, self.tokens_mean, self.tokens_max, self.trained_tokens
        );
        if !self.truncated.is_empty() {
            s.push_str(&format!("; {} cut at the length limit (lines {})", self.truncated.len(), lines(&self.truncated)));
        }
        if !self.empty.is_empty() {
            s.push_str(&format!("; {} empty lines skipped ({})", self.empty.len(), lines(&self.empty)));
        }
        if let Some(h) = &self.held_out {
            s.push_str(&format!("; {h}"));
        }
        s
    }
}
