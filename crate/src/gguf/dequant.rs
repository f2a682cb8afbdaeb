//! llama.cpp's tensor types and their de-quantisation to f32, block by block, as `ggml-quants.c`
//! (`dequantize_row_*`) and gguf-py's `quants.py` compute them, in the same order of operations
//! (so the values are equal, not close: `tests/golden/make_gguf_golden.py` checks every type
//! against gguf-py on random blocks).
//!
//! Block layouts (bytes): Q4_0 `d:f16, qs[16]`; Q4_1 `d, m:f16, qs[16]`; Q5_0 `d, qh:u32,
//! qs[16]`; Q5_1 `d, m, qh, qs[16]`; Q8_0 `d, qs:i8[32]`; Q4_K `d, dmin:f16, scales[12],
//! qs[128]`; Q5_K `d, dmin, scales[12], qh[32], qs[128]`; Q6_K `ql[128], qh[64], scales:i8[16],
//! d:f16`. Blocks of 32 values, 256 for the K-quants.

use half::{bf16, f16};

/// A tensor's element type (ggml's `ggml_type` numbers), named as llama.cpp names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4_K,
    Q5_K,
    Q6_K,
}

impl GgmlType {
    /// The type numbered `n` in a GGUF file, or its name when edgetune cannot read it.
    pub fn from_id(n: u32) -> Result<Self, String> {
        Ok(match n {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4_K,
            13 => GgmlType::Q5_K,
            14 => GgmlType::Q6_K,
            30 => GgmlType::BF16,
            _ => {
                let name = match n {
                    9 => "Q8_1",
                    10 => "Q2_K",
                    11 => "Q3_K",
                    15 => "Q8_K",
                    16..=23 | 29 => "an IQ quantisation",
                    34 | 35 => "a ternary quantisation (TQ1_0/TQ2_0)",
                    _ => "an unknown type",
                };
                return Err(format!("type {n} ({name})"));
            }
        })
    }

    /// `(values per block, bytes per block)`.
    pub fn block(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::BF16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q5_0 => (32, 22),
            GgmlType::Q5_1 => (32, 24),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q4_K => (256, 144),
            GgmlType::Q5_K => (256, 176),
            GgmlType::Q6_K => (256, 210),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::BF16 => "BF16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q4_K => "Q4_K",
            GgmlType::Q5_K => "Q5_K",
            GgmlType::Q6_K => "Q6_K",
        }
    }
}

fn h(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// Q4_K's and Q5_K's 6-bit scale and minimum of sub-block `j` (0..8) from the 12 packed bytes.
fn scale_min(s: &[u8], j: usize) -> (f32, f32) {
    let (sc, m) = if j < 4 { (s[j] & 63, s[j + 4] & 63) } else { ((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)) };
    (sc as f32, m as f32)
}

/// De-quantises `bytes` (whole blocks of `t`) into `out` (`bytes.len() / block bytes · block values`).
pub fn dequantize(t: GgmlType, bytes: &[u8], out: &mut [f32]) {
    let (n, size) = t.block();
    for (b, y) in bytes.chunks_exact(size).zip(out.chunks_exact_mut(n)) {
        block(t, b, y);
    }
}

fn block(t: GgmlType, b: &[u8], y: &mut [f32]) {
    match t {
        GgmlType::F32 => y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        GgmlType::F16 => y[0] = h(b, 0),
        GgmlType::BF16 => y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        GgmlType::Q4_0 => {
            let d = h(b, 0);
            for (j, &q) in b[2..18].iter().enumerate() {
                y[j] = d * ((q & 0xF) as i32 - 8) as f32;
                y[j + 16] = d * ((q >> 4) as i32 - 8) as f32;
            }
        }
        GgmlType::Q4_1 => {
            let (d, m) = (h(b, 0), h(b, 2));
            for (j, &q) in b[4..20].iter().enumerate() {
                y[j] = d * (q & 0xF) as f32 + m;
                y[j + 16] = d * (q >> 4) as f32 + m;
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let (d, m, rest) = if t == GgmlType::Q5_0 { (h(b, 0), None, &b[2..]) } else { (h(b, 0), Some(h(b, 2)), &b[4..]) };
            let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            for (j, &q) in rest[4..20].iter().enumerate() {
                let lo = ((q & 0xF) as u32 | (((qh >> j) & 1) << 4)) as i32;
                let hi = ((q >> 4) as u32 | (((qh >> (j + 16)) & 1) << 4)) as i32;
                (y[j], y[j + 16]) = match m {
                    None => (d * (lo - 16) as f32, d * (hi - 16) as f32),
                    Some(m) => (d * lo as f32 + m, d * hi as f32 + m),
                };
            }
        }
        GgmlType::Q8_0 => {
            let d = h(b, 0);
            for (j, &q) in b[2..34].iter().enumerate() {
                y[j] = d * (q as i8) as f32;
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            let (d, dmin, scales) = (h(b, 0), h(b, 2), &b[4..16]);
            let (qh, qs) = if t == GgmlType::Q5_K { (Some(&b[16..48]), &b[48..176]) } else { (None, &b[16..144]) };
            // Four chunks of 64 values: 32 low nibbles then 32 high ones, each with its scale.
            for c in 0..4 {
                let q = &qs[32 * c..32 * c + 32];
                for half in 0..2 {
                    let (sc, m) = scale_min(scales, 2 * c + half);
                    let (dl, ml) = (d * sc, dmin * m);
                    for l in 0..32 {
                        let mut v = if half == 0 { q[l] & 0xF } else { q[l] >> 4 } as u32;
                        if let Some(qh) = qh {
                            v |= ((qh[l] as u32 >> (2 * c + half)) & 1) << 4;
                        }
                        y[64 * c + 32 * half + l] = dl * v as f32 - ml;
                    }
                }
            }
        }
        GgmlType::Q6_K => {
            let (ql, qh, scales, d) = (&b[..128], &b[128..192], &b[192..208], h(b, 208));
            for half in 0..2 {
                let (ql, qh) = (&ql[64 * half..64 * half + 64], &qh[32 * half..32 * half + 32]);
                for l in 0..32 {
                    let q = [
                        (ql[l] & 0xF) | ((qh[l] & 3) << 4),
                        (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4),
                        (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                        (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
                    ];
                    for (k, q) in q.into_iter().enumerate() {
                        let i = 128 * half + 32 * k + l;
                        let sc = scales[i / 16] as i8 as f32;
                        y[i] = (d * sc) * (q as i32 - 32) as f32;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-made blocks with known values (the golden test covers random ones against gguf-py).
    #[test]
    fn known_blocks() {
        let one = f16::from_f32(0.5).to_le_bytes();
        // Q4_0: nibble 9 low, 7 high → (9-8)·0.5, (7-8)·0.5.
        let mut b = one.to_vec();
        b.extend([0x79u8; 16]);
        let mut y = [0.0; 32];
        dequantize(GgmlType::Q4_0, &b, &mut y);
        assert_eq!((y[0], y[16]), (0.5, -0.5));
        // Q8_0: -3 · 0.5.
        let mut b = one.to_vec();
        b.extend([(-3i8) as u8; 32]);
        dequantize(GgmlType::Q8_0, &b, &mut y);
        assert_eq!(y[31], -1.5);
        assert_eq!(GgmlType::from_id(10).unwrap_err(), "type 10 (Q2_K)");
        assert_eq!(GgmlType::Q6_K.block(), (256, 210));
    }
}
