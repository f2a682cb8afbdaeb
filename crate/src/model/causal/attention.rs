//! Causal grouped-query attention with a key/value cache, the attention of every decoder family.
//!
//! Grouped-query attention shares each key/value head among `heads / kv_heads` query heads
//! (transformers' `repeat_kv`). Instead of copying K and V that many times, the query heads of a
//! group are stacked along the sequence axis, so one batched matmul per key/value head does the
//! work: `q` `[batch, kv, group·seq, head_dim]` against `k` `[batch, kv, past+seq, head_dim]`.

use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};

/// Added to the score of a key a query must not see: `exp` of it is exactly 0 in f32.
const MASKED: f32 = -1e9;

/// The keys and values of the positions already processed, one `(k, v)` per layer, each
/// `[batch, kv_heads, positions, head_dim]`.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
}

impl KvCache {
    pub fn new(layers: usize) -> Self {
        KvCache { layers: vec![None; layers] }
    }

    /// Positions held (0 when empty).
    pub fn len(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map_or(0, |(k, _)| k.dims()[2])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends layer `i`'s new keys and values `[batch, kv, seq, head_dim]`; returns all of them.
    fn extend(&mut self, i: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let (k, v) = match self.layers[i].take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        self.layers[i] = Some((k.clone(), v.clone()));
        (k, v)
    }
}

/// The sizes of one attention layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// `softmax(q·kᵀ/√d + mask)·v` for `q` `[batch, seq, heads, head_dim]` and `k`, `v`
/// `[batch, seq, kv_heads, head_dim]` (already rotated), each query seeing the keys at or before
/// its position. `keep` `[batch, past+seq]` (1 = a real token) hides padding keys; `cache`
/// (with its layer index) supplies the earlier positions and keeps these. Returns
/// `[batch, seq, heads·head_dim]`.
pub fn causal_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, n: Heads, keep: Option<Tensor<2>>, cache: Option<(&mut KvCache, usize)>) -> Tensor<3> {
    let [b, s, _, d] = q.dims();
    let (kv, g) = (n.kv_heads, n.heads / n.kv_heads);
    let q = q.reshape([b, s, kv, g, d]).permute([0, 2, 3, 1, 4]).reshape([b, kv, g * s, d]); // [batch, kv, group·seq, head_dim]
    let (k, v) = (k.swap_dims(1, 2), v.swap_dims(1, 2)); // [batch, kv, seq, head_dim]
    let (k, v) = match cache {
        Some((c, i)) => c.extend(i, k, v),
        None => (k, v),
    }; // [batch, kv, past+seq, head_dim]
    let t = k.dims()[2];
    let past = t - s;
    let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(1.0 / (d as f64).sqrt()); // [batch, kv, group·seq, past+seq]
    let mut bias: Option<Tensor<5>> = None;
    if s > 1 {
        let causal: Vec<f32> = (0..s).flat_map(|i| (0..t).map(move |j| if j > past + i { MASKED } else { 0.0 })).collect();
        bias = Some(Tensor::<5>::from_data(TensorData::new(causal, [1, 1, 1, s, t]), &scores.device()));
    }
    if let Some(keep) = keep {
        let pad = (keep.neg() + 1.0).mul_scalar(MASKED).reshape([b, 1, 1, 1, t]); // [batch, 1, 1, 1, past+seq]
        bias = Some(match bias {
            Some(c) => c + pad,
            None => pad,
        });
    }
    let probs = match bias {
        Some(bias) => softmax(scores.reshape([b, kv, g, s, t]) + bias, 4).reshape([b, kv, g * s, t]),
        None => softmax(scores, 3),
    }; // [batch, kv, group·seq, past+seq]
    probs.matmul(v).reshape([b, kv, g, s, d]).permute([0, 3, 1, 2, 4]).reshape([b, s, n.heads * d])
    // [batch, seq, heads·head_dim]
}
