//! The decoding loop: the prompt in one forward pass that fills the key/value cache, then one
//! token at a time through the cache, until a stop token, a stop string, the token budget or the
//! model's context ends it. Text is streamed as it becomes whole characters.

use super::sample::Sampling;
use super::LanguageModel;
use crate::device;
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde::Serialize;

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model wrote one of its stop tokens.
    StopToken,
    /// A stop string appeared.
    StopString,
    /// `max_new_tokens` were written.
    Length,
    /// The model's context is full.
    Context,
    /// The caller's stream said stop.
    Cancelled,
}

/// An answer.
#[derive(Clone, Debug, Serialize)]
pub struct Generated {
    /// The new token ids (a stop token not included).
    pub ids: Vec<u32>,
    /// Their text, special tokens left out, cut before a stop string.
    pub text: String,
    pub reason: StopReason,
    pub prompt_tokens: usize,
}

/// Generates from `prompt` ids; `on_text` gets each new piece of text as it is decoded and
/// returns false to stop.
pub async fn generate(lm: &LanguageModel, prompt: &[u32], s: &Sampling, on_text: &mut dyn FnMut(&str) -> bool) -> Result<Generated> {
    s.validate()?;
    let limit = lm.net.max_positions();
    if prompt.is_empty() {
        return Err(Error::config("the prompt is empty".to_string()));
    }
    if prompt.len() >= limit {
        return Err(Error::model(&lm.source, format!("the prompt has {} tokens; the model reads at most {limit}", prompt.len())));
    }
    let mut rng = Rng::derive(s.seed, "generate");
    let mut cache = lm.net.new_cache();
    let mut seen = prompt.to_vec();
    let mut next = lm.ids_tensor(prompt)?; // [1, seq]
    let (mut ids, mut text, mut sent) = (Vec::new(), String::new(), 0usize);
    let reason = loop {
        let hidden = lm.net.hidden(&lm.params, next, None, Some(&mut cache), false); // [1, seq, hidden]
        let [_, seq, h] = hidden.dims();
        let last = hidden.slice([0..1, seq - 1..seq, 0..h]).reshape([1, h]); // [1, hidden]
        let mut logits = device::read_f32(lm.net.logits(&lm.params, last), "logits").await?; // [vocab]
        let id = s.pick(&mut logits, &seen, &mut rng);
        if lm.is_stop(id) {
            break StopReason::StopToken;
        }
        ids.push(id);
        seen.push(id);
        text = lm.decode(&ids, true)?;
        if let Some(cut) = s.stop.iter().filter_map(|w| text.find(w.as_str())).min() {
            text.truncate(cut);
            if cut > sent && !on_text(&text[sent..]) {
                break StopReason::Cancelled;
            }
            break StopReason::StopString;
        }
        // Hold back a piece that ends inside a character (more bytes to come), and what could
        // be the start of a stop string.
        let held = s.stop.iter().map(|w| partial_suffix(&text, w)).max().unwrap_or(0);
        let ready = text.len() - held;
        if !text.ends_with('\u{FFFD}') && ready > sent && text.is_char_boundary(ready) {
            if !on_text(&text[sent..ready]) {
                break StopReason::Cancelled;
            }
            sent = ready;
        }
        if ids.len() >= s.max_new_tokens {
            break StopReason::Length;
        }
        if cache.len() + 1 >= limit {
            break StopReason::Context;
        }
        next = lm.ids_tensor(&[id])?;
    };
    if reason != StopReason::StopString && reason != StopReason::Cancelled && text.len() > sent {
        on_text(&text[sent..]);
    }
    Ok(Generated { ids, text, reason, prompt_tokens: prompt.len() })
}

/// The length of the longest end of `text` that begins `word` (but is not all of it).
fn partial_suffix(text: &str, word: &str) -> usize {
    (1..word.len()).rev().find(|&n| text.len() >= n && text.is_char_boundary(text.len() - n) && word.is_char_boundary(n) && text.ends_with(&word[..n])).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::partial_suffix;

    #[test]
    fn held_back_text() {
        assert_eq!(partial_suffix("hello wor", "world"), 3);
        assert_eq!(partial_suffix("hello", "world"), 0);
        assert_eq!(partial_suffix("é", "éa"), 2);
    }
}
