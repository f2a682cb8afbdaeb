//! MPNet's relative position bias (`MPNetEncoder.compute_position_bias` in transformers'
//! `modeling_mpnet.py`): T5's bucketing of the distance between two tokens (exact up to 8 each
//! way, then logarithmic up to 128), a learned `[buckets, heads]` table, the same bias added to
//! every layer's attention scores. The bucket of each (query, key) pair is computed on the host,
//! in f32 as PyTorch computes it, so the boundaries (16, 32, 64 apart) fall where they do there.

use burn::tensor::module::embedding;
use burn::tensor::{Int, Tensor, TensorData};

/// transformers calls `relative_position_bucket` with these (whatever the config says).
const BUCKETS: i64 = 32;
const MAX_DISTANCE: i64 = 128;

/// The bucket of `key − query` (`relative_position_bucket`).
pub fn bucket(relative: i64) -> i64 {
    let half = BUCKETS / 2;
    let mut n = -relative;
    let ret = if n < 0 { half } else { 0 };
    n = n.abs();
    let max_exact = half / 2;
    if n < max_exact {
        return ret + n;
    }
    let log = (n as f32 / max_exact as f32).ln() / (MAX_DISTANCE as f32 / max_exact as f32).ln();
    ret + (max_exact + (log * (half - max_exact) as f32) as i64).min(half - 1)
}

/// The bias `[1, heads, seq, seq]` from the table `[buckets, heads]`.
pub fn bias(table: Tensor<2>, seq: usize, heads: usize) -> Tensor<4> {
    let ids: Vec<i64> = (0..seq as i64).flat_map(|q| (0..seq as i64).map(move |k| bucket(k - q))).collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [seq, seq]), &table.device());
    embedding(table, ids) // [seq, seq, heads]
        .permute([2, 0, 1])
        .reshape([1, heads, seq, seq])
}

#[cfg(test)]
mod tests {
    use super::bucket;

    /// transformers' `MPNetEncoder.relative_position_bucket(torch.arange(-130, 131))` at the
    /// boundaries of its ranges.
    #[test]
    fn buckets_are_transformers() {
        let torch = [
            (-129, 15), (-128, 15), (-127, 15), (-65, 14), (-64, 14), (-63, 13), (-33, 12), (-32, 12), (-31, 11), (-17, 10), (-16, 10), (-15, 9),
            (-9, 8), (-8, 8), (-7, 7), (7, 23), (8, 24), (9, 24), (15, 25), (16, 26), (17, 26), (31, 27), (32, 28), (33, 28), (63, 29), (64, 30),
            (65, 30), (127, 31), (128, 31), (129, 31), (0, 0), (-1, 1), (1, 17),
        ];
        for (rel, want) in torch {
            assert_eq!(bucket(rel), want, "relative position {rel}");
        }
    }
}
