//! Turning token id lists into padded tensors. Batches pad to their own longest text, not to
//! max_length: with length-grouped batches most of the padding disappears.

use crate::device::Device;
use burn::tensor::{Int, Tensor, TensorData};

/// `ids [batch, seq]` (padded with `pad_id`) and `mask [batch, seq]` (1 for real tokens).
pub fn pad_batch(rows: &[&[u32]], pad_id: u32, device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
    let batch = rows.len();
    let seq = rows.iter().map(|r| r.len()).max().unwrap_or(1).max(1);
    let mut ids = vec![pad_id as i64; batch * seq];
    let mut mask = vec![0f32; batch * seq];
    for (b, row) in rows.iter().enumerate() {
        for (s, &id) in row.iter().enumerate() {
            ids[b * seq + s] = id as i64;
            mask[b * seq + s] = 1.0;
        }
    }
    (
        Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, seq]), device),
        Tensor::<2>::from_data(TensorData::new(mask, [batch, seq]), device),
    )
}
