//! Choosing the next token from the logits, as transformers' `generate` does with its logits
//! processors in this order: repetition penalty, temperature, top-k, top-p; then the most likely
//! token (greedy, temperature 0) or a draw from the softmax.

use crate::error::{Error, Result};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// Decoding settings (`edgetune generate --temperature ...`; `POST /generate`'s JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sampling {
    /// The most tokens to generate.
    pub max_new_tokens: usize,
    /// 0 chooses the most likely token (greedy); above, the softmax of logits / temperature is sampled.
    pub temperature: f64,
    /// Sample among the k most likely tokens only (0: all).
    pub top_k: usize,
    /// Sample among the most likely tokens whose probabilities add up to p (1: all).
    pub top_p: f64,
    /// Above 1, tokens already in the prompt or the answer are made less likely (CTRL's rule:
    /// a positive logit divided by it, a negative one multiplied).
    pub repetition_penalty: f64,
    /// Seed of the draws.
    pub seed: u64,
    /// Text that ends the answer when it appears (it is not included), besides the model's stop tokens.
    pub stop: Vec<String>,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling { max_new_tokens: 256, temperature: 0.0, top_k: 0, top_p: 1.0, repetition_penalty: 1.0, seed: 0, stop: Vec::new() }
    }
}

impl Sampling {
    /// Rejects settings that cannot work, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::config(m.to_string()));
        if self.max_new_tokens == 0 {
            return bad("max_new_tokens is 0, expected at least 1");
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad("temperature must be 0 (greedy) or positive");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad("repetition_penalty must be positive (1 = off)");
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("a stop string is empty");
        }
        Ok(())
    }

    /// The next token from `logits` `[vocab]` (changed in place), given the tokens `seen` so far.
    pub fn pick(&self, logits: &mut [f32], seen: &[u32], rng: &mut Rng) -> u32 {
        if self.repetition_penalty != 1.0 {
            let penalty = self.repetition_penalty as f32;
            let mut done = std::collections::HashSet::new();
            let vocab = logits.len();
            for &t in seen.iter().filter(|&&t| (t as usize) < vocab && done.insert(t)) {
                let l = &mut logits[t as usize];
                *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
            }
        }
        if self.temperature == 0.0 {
            return argmax(logits);
        }
        let t = self.temperature as f32;
        let mut order: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, l / t)).collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1));
        if self.top_k > 0 {
            order.truncate(self.top_k.max(1));
        }
        let max = order[0].1;
        let mut probs: Vec<f64> = order.iter().map(|(_, l)| ((l - max) as f64).exp()).collect();
        let sum: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= sum);
        if self.top_p < 1.0 {
            // Keep the smallest head whose mass reaches top_p (at least one token).
            let mut mass = 0.0;
            let keep = probs.iter().position(|p| {
                mass += p;
                mass >= self.top_p
            });
            let keep = keep.map_or(probs.len(), |i| i + 1);
            probs.truncate(keep);
            let sum: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|p| *p /= sum);
        }
        let mut u = rng.unit_f64();
        for (i, p) in probs.iter().enumerate() {
            if u < *p {
                return order[i].0;
            }
            u -= p;
        }
        order[probs.len() - 1].0
    }
}

/// Index of the largest value (the first of equal ones, as PyTorch's `argmax`).
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_penalty_and_truncation() {
        let s = Sampling::default();
        let mut rng = Rng::new(0);
        assert_eq!(s.pick(&mut [1.0, 3.0, 3.0, -1.0], &[], &mut rng), 1);
        let pen = Sampling { repetition_penalty: 2.0, ..Sampling::default() };
        let mut l = [1.0, 3.0, 2.0, -1.0];
        assert_eq!(pen.pick(&mut l, &[1, 1, 3], &mut rng), 2);
        assert_eq!(l, [1.0, 1.5, 2.0, -2.0]);
        // top-k 1 and a tiny top-p are greedy whatever the draw.
        let k1 = Sampling { temperature: 1.0, top_k: 1, ..Sampling::default() };
        let p0 = Sampling { temperature: 1.0, top_p: 1e-6, ..Sampling::default() };
        for _ in 0..20 {
            assert_eq!(k1.pick(&mut [0.0, 0.5, 0.4], &[], &mut rng), 1);
            assert_eq!(p0.pick(&mut [0.0, 0.5, 0.4], &[], &mut rng), 1);
        }
        // Sampling follows the softmax: about e/(1+e) ≈ 0.73 of draws take token 1.
        let t1 = Sampling { temperature: 1.0, ..Sampling::default() };
        let ones = (0..4000).filter(|_| t1.pick(&mut [0.0, 1.0], &[], &mut rng) == 1).count();
        assert!((2800..3050).contains(&ones), "{ones}");
        assert!(Sampling { top_p: 0.0, ..Sampling::default() }.validate().is_err());
    }
}
