//! How well a generative model answers: on validation, the loss over the answer tokens and its
//! perplexity (what early stopping and the best checkpoint go by); on a test file, answers
//! generated greedily and scored against the expected ones by exact match (the trimmed texts
//! equal, as `../shared/bench/torch_sft.py` scores) and ROUGE-L (for free text, where a close
//! answer still counts for something), with a table of examples.
//! ROUGE-L is the longest common subsequence F-measure over lower-cased words (Lin, 2004); it is
//! a dozen lines, so written here rather than pulled in with a metrics crate.

use super::encode::Encoded;
use super::loss::{sft_loss, SftBatch};
use crate::chat::Message;
use crate::device::read_f32;
use crate::error::Result;
use crate::model::causal::{generate, LanguageModel, Sampling};
use serde::{Deserialize, Serialize};

/// The validation loss: the mean over every trained token of the split.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossReport {
    pub loss: f64,
    /// exp(loss): how many tokens the model hesitates between, on average.
    pub perplexity: f64,
    /// Tokens the loss is over.
    pub tokens: usize,
}

/// A test prompt and the answer expected of it.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    /// The conversation up to the answer.
    pub prompt: Vec<Message>,
    pub expected: String,
    pub line: usize,
}

/// One scored answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub line: usize,
    /// The last user message (what a person reads as the question).
    pub prompt: String,
    pub expected: String,
    pub generated: String,
    pub exact: bool,
    pub rouge_l: f64,
}

/// Generation on a test set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationReport {
    pub examples: usize,
    pub exact_match: f64,
    pub rouge_l: f64,
    /// Tokens written per second (greedy, with the KV cache).
    pub tokens_per_s: f64,
    pub scored: Vec<Scored>,
}

impl GenerationReport {
    /// The summary line and a table of the first `rows` examples.
    pub fn table(&self, rows: usize) -> String {
        let cut = |s: &str, n: usize| {
            let one_line = s.replace('\n', " ");
            if one_line.chars().count() > n { format!("{}…", one_line.chars().take(n - 1).collect::<String>()) } else { one_line }
        };
        let mut s = format!("exact match {:.1} %, ROUGE-L {:.3} on {} examples\n", self.exact_match * 100.0, self.rouge_l, self.examples);
        s.push_str(&format!("{:<6} {:<40} {:<24} {:<24}\n", "line", "prompt", "expected", "generated"));
        for e in self.scored.iter().take(rows) {
            let mark = if e.exact { ' ' } else { '✗' };
            s.push_str(&format!("{:<6} {:<40} {:<24} {:<24}{mark}\n", e.line, cut(&e.prompt, 40), cut(&e.expected, 24), cut(&e.generated, 24)));
        }
        s
    }
}

/// The validation loss of `examples` in batches of `batch_size` (grouped by length: less padding).
pub async fn loss_report(lm: &LanguageModel, examples: &[Encoded], batch_size: usize, pad: u32) -> Result<LossReport> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| examples[i].ids.len());
    let (mut sum, mut tokens) = (0.0f64, 0usize);
    for chunk in order.chunks(batch_size.max(1)) {
        let rows: Vec<&Encoded> = chunk.iter().map(|&i| &examples[i]).collect();
        let batch = SftBatch::new(lm, &rows, pad);
        if batch.trained == 0 {
            continue;
        }
        let loss = read_f32(sft_loss(lm, &lm.params, &batch, false), "validation loss").await?[0] as f64;
        sum += loss * batch.trained as f64;
        tokens += batch.trained;
    }
    let loss = sum / tokens.max(1) as f64;
    Ok(LossReport { loss, perplexity: loss.exp(), tokens })
}

/// Greedy answers to `cases` (at most `max_new_tokens` each), scored; `on_each` sees each as it
/// is scored (progress).
pub async fn score_generation(lm: &LanguageModel, cases: &[TestCase], max_new_tokens: usize, on_each: &mut dyn FnMut(usize, &Scored)) -> Result<GenerationReport> {
    let sampling = Sampling { max_new_tokens, ..Sampling::default() };
    let (mut scored, mut written, mut seconds) = (Vec::with_capacity(cases.len()), 0usize, 0.0f64);
    for (i, c) in cases.iter().enumerate() {
        let ids = lm.prompt(&c.prompt)?;
        let t0 = web_time::Instant::now();
        let g = generate(lm, &ids, &sampling, &mut |_| true).await?;
        seconds += t0.elapsed().as_secs_f64();
        written += g.ids.len();
        let generated = g.text.trim().to_string();
        let s = Scored {
            line: c.line,
            prompt: c.prompt.iter().rev().find(|m| m.role == "user").map_or(String::new(), |m| m.content.clone()),
            expected: c.expected.clone(),
            exact: generated == c.expected.trim(),
            rouge_l: rouge_l(&generated, &c.expected),
            generated,
        };
        on_each(i + 1, &s);
        scored.push(s);
    }
    let n = scored.len().max(1) as f64;
    Ok(GenerationReport {
        examples: scored.len(),
        exact_match: scored.iter().filter(|s| s.exact).count() as f64 / n,
        rouge_l: scored.iter().map(|s| s.rouge_l).sum::<f64>() / n,
        tokens_per_s: written as f64 / seconds.max(1e-9),
        scored,
    })
}

/// ROUGE-L F1 of `candidate` against `reference`: the longest common subsequence of their
/// lower-cased words, as precision and recall, combined (1 when both are empty).
pub fn rouge_l(candidate: &str, reference: &str) -> f64 {
    let words = |s: &str| s.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>();
    let (c, r) = (words(candidate), words(reference));
    if c.is_empty() || r.is_empty() {
        return if c.is_empty() && r.is_empty() { 1.0 } else { 0.0 };
    }
    // One row of the LCS table at a time.
    let mut prev = vec![0usize; r.len() + 1];
    for cw in &c {
        let mut row = vec![0usize; r.len() + 1];
        for (j, rw) in r.iter().enumerate() {
            row[j + 1] = if cw == rw { prev[j] + 1 } else { row[j].max(prev[j + 1]) };
        }
        prev = row;
    }
    let lcs = prev[r.len()] as f64;
    if lcs == 0.0 {
        return 0.0;
    }
    let (p, rc) = (lcs / c.len() as f64, lcs / r.len() as f64);
    2.0 * p * rc / (p + rc)
}

#[cfg(test)]
mod tests {
    use super::rouge_l;

    #[test]
    fn rouge_l_matches_the_definition() {
        assert_eq!(rouge_l("the cat sat", "the cat sat"), 1.0);
        assert_eq!(rouge_l("", ""), 1.0);
        assert_eq!(rouge_l("dog", "the cat"), 0.0);
        // LCS "the cat" (2): precision 2/3, recall 2/2 → F1 0.8. rouge_score gives 0.8 too.
        assert!((rouge_l("the big cat", "The cat") - 0.8).abs() < 1e-12);
        // Order matters: LCS of "a b c d" and "d c b a" is 1.
        assert!((rouge_l("a b c d", "d c b a") - 0.25).abs() < 1e-12);
    }
}
