//! Rotary position embeddings (Su et al. 2021, "RoFormer"), as transformers' Llama applies them:
//! per pair of dimensions `(i, i + d/2)` of each head, a rotation by `position · inv_freq[i]`
//! (`rotate_half`), with `inv_freq[i] = 1 / theta^(2i/d)` adjusted by linear or Llama 3 scaling
//! or by a GGUF file's per-frequency factors. The angles are computed in f32 as PyTorch does
//! (`modeling_rope_utils.py`), so the tables match transformers' to the last bit or two.

use super::llama::config::{Llama3Scaling, RopeScaling};
use crate::device::Device;
use burn::tensor::{Tensor, TensorData};

/// The inverse frequencies of one head's `head_dim / 2` rotation pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct Rope {
    inv_freq: Vec<f32>,
}

impl Rope {
    /// `theta` and `scaling` as the config gives them; `factors` (a GGUF file's `rope_freqs`)
    /// divide each frequency.
    pub fn new(head_dim: usize, theta: f64, scaling: &RopeScaling, factors: Option<&[f32]>) -> Self {
        let base = theta as f32;
        let mut inv_freq: Vec<f32> = (0..head_dim / 2).map(|i| 1.0 / base.powf((2 * i) as f32 / head_dim as f32)).collect();
        match scaling {
            RopeScaling::None => {}
            RopeScaling::Linear(f) => inv_freq.iter_mut().for_each(|x| *x /= *f as f32),
            RopeScaling::Llama3(s) => inv_freq = llama3(&inv_freq, s),
        }
        if let Some(f) = factors {
            inv_freq.iter_mut().zip(f).for_each(|(x, f)| *x /= f);
        }
        Rope { inv_freq }
    }

    /// Number of rotation pairs (half the head size).
    pub fn pairs(&self) -> usize {
        self.inv_freq.len()
    }

    /// `(cos, sin)` `[1, seq, 1, head_dim]` for positions `start..start + seq`.
    pub fn tables(&self, start: usize, seq: usize, device: &Device) -> (Tensor<4>, Tensor<4>) {
        let d = 2 * self.inv_freq.len();
        let (mut cos, mut sin) = (Vec::with_capacity(seq * d), Vec::with_capacity(seq * d));
        for pos in start..start + seq {
            let angles: Vec<f32> = self.inv_freq.iter().map(|f| pos as f32 * f).collect();
            for _ in 0..2 {
                cos.extend(angles.iter().map(|a| a.cos()));
                sin.extend(angles.iter().map(|a| a.sin()));
            }
        }
        let t = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, seq, 1, d]), device);
        (t(cos), t(sin))
    }
}

/// Rotates `x` `[batch, seq, heads, head_dim]` by the tables of [`Rope::tables`]:
/// `x·cos + rotate_half(x)·sin`, `rotate_half([x1, x2]) = [-x2, x1]`.
pub fn apply(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let [b, s, h, d] = x.dims();
    let x1 = x.clone().slice([0..b, 0..s, 0..h, 0..d / 2]);
    let x2 = x.clone().slice([0..b, 0..s, 0..h, d / 2..d]);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3); // [batch, seq, heads, head_dim]
    x * cos.clone() + rotated * sin.clone()
}

/// transformers' `_compute_llama3_parameters`: long wavelengths slowed by `factor`, short ones
/// kept, those between blended.
fn llama3(inv_freq: &[f32], s: &Llama3Scaling) -> Vec<f32> {
    let (factor, low, high, old) = (s.factor as f32, s.low_freq_factor as f32, s.high_freq_factor as f32, s.original_max_positions as f32);
    let (low_wavelen, high_wavelen) = (old / low, old / high);
    inv_freq
        .iter()
        .map(|&f| {
            let wavelen = 2.0 * std::f32::consts::PI / f;
            let scaled = if wavelen > low_wavelen { f / factor } else { f };
            if wavelen < high_wavelen || wavelen > low_wavelen {
                return scaled;
            }
            let smooth = (old / wavelen - low) / (high - low);
            (1.0 - smooth) * scaled / factor + smooth * scaled
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_and_scaling() {
        let r = Rope::new(8, 10000.0, &RopeScaling::None, None);
        assert_eq!(r.pairs(), 4);
        assert_eq!(r.inv_freq[0], 1.0);
        assert!((r.inv_freq[1] - 0.1).abs() < 1e-7);
        let lin = Rope::new(8, 10000.0, &RopeScaling::Linear(2.0), None);
        assert_eq!(lin.inv_freq[0], 0.5);
        let f = Rope::new(8, 10000.0, &RopeScaling::None, Some(&[1.0, 2.0, 1.0, 1.0]));
        assert!((f.inv_freq[1] - 0.05).abs() < 1e-7);
    }
}
