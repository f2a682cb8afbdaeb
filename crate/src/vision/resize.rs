//! Resizing exactly as Pillow does, so a model sees the same pixels here as in a PyTorch pipeline
//! (`Image.resize((w, h), Image.BILINEAR)`, and torchvision's `Resize` on PIL images, which calls it).
//!
//! A port of Pillow's `ImagingResample` (src/libImaging/Resample.c) for 8-bit images: separable
//! convolution in two passes, with a triangle filter whose support grows with the
//! downscale factor (antialiasing); weights normalised per output pixel, then turned into 22-bit
//! fixed point (`PRECISION_BITS = 32 - 8 - 2`) and accumulated in `i32` with a rounding half, as
//! Pillow does, so results match to the last bit. A pass whose size does not change is skipped,
//! and the order of the two passes follows Pillow 13's rule. Checked against Pillow 13.0 by
//! `tests/golden/make_preprocess_golden.py`.

use super::pixels::Pixels;
use serde::{Deserialize, Serialize};

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// How an image of any shape becomes a `size`×`size` model input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Stretch the whole image to a square (nothing is cut off; the aspect ratio is not kept).
    #[default]
    Resize,
    /// torchvision's `Resize(size)` + `CenterCrop(size)`: the shorter side to `size`, then the
    /// middle square (the usual ImageNet evaluation transform; the edges of long images are lost).
    #[serde(alias = "center_crop", alias = "center-crop")]
    CenterCrop,
}

/// Per output pixel: the first input index and the fixed-point weights of the inputs from there.
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>, // (first input, number of inputs)
    weights: Vec<i32>,           // [out, ksize]
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear filter (support 1),
/// with the box the whole input (`in0 = 0`, `in1 = in_size`).
fn coeffs(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // bilinear support 1.0, times filterscale
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's `(int)` truncates toward zero; a negative start is then clamped to 0 anyway.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(xmax) {
            let t = ((x + xmin) as f64 - center + 0.5) * ss;
            let w = (1.0 - t.abs()).max(0.0); // the triangle (bilinear) filter
            *kx = w;
            ww += w;
        }
        let row = &mut weights[xx * ksize..][..ksize];
        for x in 0..xmax {
            let w = if ww != 0.0 { k[x] / ww } else { k[x] };
            // Weights are never negative for this filter; Pillow rounds half away from zero.
            row[x] = (0.5 + w * (1 << PRECISION_BITS) as f64) as i32;
        }
        bounds.push((xmin, xmax));
    }
    Coeffs { ksize, bounds, weights }
}

/// Pillow's `clip8`: the accumulator back to 8 bits.
#[inline]
fn clip8(ss: i32) -> u8 {
    (ss >> PRECISION_BITS).clamp(0, 255) as u8
}

/// `img` resized to `w`×`h` exactly as Pillow's `Image.resize((w, h), Image.BILINEAR)` does on
/// an RGB image. `w` or `h` of 0 gives an empty image.
pub fn resize_bilinear(img: &Pixels, w: usize, h: usize) -> Pixels {
    let (iw, ih) = (img.width, img.height);
    if w == 0 || h == 0 || iw == 0 || ih == 0 {
        return Pixels { width: w, height: h, rgb: vec![0; 3 * w * h] };
    }
    let (need_h, need_v) = (w != iw, h != ih);
    // Pillow 13 runs the vertical pass first when the height shrinks more than twice as much as
    // the width (fewer rows for the horizontal pass); earlier releases always went horizontal
    // first. The order changes results by a level here and there, so it is followed exactly.
    let (dh, dw) = (ih as i64 - h as i64, iw as i64 - w as i64);
    let horizontal_first = !(dh > 0 && dh > dw * 2);
    let rgb = if !need_h && !need_v {
        img.rgb.clone()
    } else if !need_v {
        horizontal(&img.rgb, iw, 0..ih, &coeffs(iw, w))
    } else if !need_h {
        vertical(&img.rgb, iw, 0, &coeffs(ih, h))
    } else if horizontal_first {
        // Only the input rows the vertical pass reads are resampled horizontally (as in Pillow).
        let vert = coeffs(ih, h);
        let first = vert.bounds[0].0;
        let last = vert.bounds[h - 1].0 + vert.bounds[h - 1].1;
        let tmp = horizontal(&img.rgb, iw, first..last, &coeffs(iw, w));
        vertical(&tmp, w, first, &vert)
    } else {
        let tmp = vertical(&img.rgb, iw, 0, &coeffs(ih, h));
        horizontal(&tmp, iw, 0..h, &coeffs(iw, w))
    };
    Pixels { width: w, height: h, rgb }
}

/// Pillow's `ImagingResampleHorizontal_8bpc` for RGB: `rows` of `src` (`width` pixels wide)
/// resampled to `c.bounds.len()` pixels each.
fn horizontal(src: &[u8], width: usize, rows: std::ops::Range<usize>, c: &Coeffs) -> Vec<u8> {
    let (w, half) = (c.bounds.len(), 1i32 << (PRECISION_BITS - 1));
    let mut out = vec![0u8; 3 * w * rows.len()];
    for (yy, y) in rows.enumerate() {
        let in_row = &src[3 * y * width..][..3 * width];
        let out_row = &mut out[3 * yy * w..][..3 * w];
        for (xx, o) in out_row.chunks_exact_mut(3).enumerate() {
            let (xmin, n) = c.bounds[xx];
            let k = &c.weights[xx * c.ksize..][..n];
            let (mut s0, mut s1, mut s2) = (half, half, half);
            for (p, &kx) in in_row[3 * xmin..][..3 * n].chunks_exact(3).zip(k) {
                s0 = s0.wrapping_add(p[0] as i32 * kx);
                s1 = s1.wrapping_add(p[1] as i32 * kx);
                s2 = s2.wrapping_add(p[2] as i32 * kx);
            }
            o.copy_from_slice(&[clip8(s0), clip8(s1), clip8(s2)]);
        }
    }
    out
}

/// Pillow's `ImagingResampleVertical_8bpc` for RGB: `src` (`width` pixels wide, its first row
/// being input row `row0`) resampled to `c.bounds.len()` rows.
fn vertical(src: &[u8], width: usize, row0: usize, c: &Coeffs) -> Vec<u8> {
    let (h, half) = (c.bounds.len(), 1i32 << (PRECISION_BITS - 1));
    let mut out = vec![0u8; 3 * width * h];
    let mut acc = vec![0i32; 3 * width];
    for yy in 0..h {
        let (ymin, n) = c.bounds[yy];
        let k = &c.weights[yy * c.ksize..][..n];
        acc.fill(half);
        // Row by row rather than pixel by pixel: the same sums in the same order, cache-friendly.
        for (y, &ky) in k.iter().enumerate() {
            let row = &src[3 * (ymin + y - row0) * width..][..3 * width];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a = a.wrapping_add(v as i32 * ky);
            }
        }
        for (o, &a) in out[3 * yy * width..][..3 * width].iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

/// The model input for `img`: `[3, size, size]` u8, channel-major (CHW), fitted as `fit` says.
pub fn to_input(img: &Pixels, size: usize, fit: Fit) -> Vec<u8> {
    let square = match fit {
        Fit::Resize => resize_bilinear(img, size, size),
        Fit::CenterCrop => {
            let (w, h) = (img.width, img.height);
            // torchvision's `_compute_resized_output_size`: the long side is `int(size * long / short)`.
            let (nw, nh) = if w <= h {
                (size, (size as f64 * h as f64 / w.max(1) as f64) as usize)
            } else {
                ((size as f64 * w as f64 / h.max(1) as f64) as usize, size)
            };
            let resized =
                if (nw, nh) == (w, h) { img.clone() } else { resize_bilinear(img, nw, nh) };
            crop_center(&resized, size)
        }
    };
    let plane = size * size;
    let mut chw = vec![0u8; 3 * plane];
    for (i, p) in square.rgb.chunks_exact(3).enumerate() {
        chw[i] = p[0];
        chw[plane + i] = p[1];
        chw[2 * plane + i] = p[2];
    }
    chw
}

/// torchvision's `center_crop` for a crop no larger than the image: offsets
/// `int(round((h - size) / 2.0))`, where Python rounds half to even.
fn crop_center(img: &Pixels, size: usize) -> Pixels {
    let off = |n: usize| (n.saturating_sub(size) as f64 / 2.0).round_ties_even() as usize;
    let (top, left) = (off(img.height), off(img.width));
    let mut rgb = vec![0u8; 3 * size * size];
    for y in 0..size.min(img.height) {
        let src = &img.rgb[3 * ((top + y) * img.width + left)..][..3 * size.min(img.width)];
        rgb[3 * y * size..][..src.len()].copy_from_slice(src);
    }
    Pixels { width: size, height: size, rgb }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> Pixels {
        let rgb = (0..w * h).flat_map(|i| [f(i % w, i / w); 3]).collect();
        Pixels { width: w, height: h, rgb }
    }

    #[test]
    fn flat_images_stay_flat_and_same_size_is_a_copy() {
        let flat = grey(37, 23, |_, _| 200);
        for (w, h) in [(32, 32), (5, 50), (37, 7), (100, 23), (1, 1)] {
            let r = resize_bilinear(&flat, w, h);
            assert_eq!((r.width, r.height, r.rgb.len()), (w, h, 3 * w * h));
            assert!(r.rgb.iter().all(|&v| v == 200), "{w}×{h}");
        }
        let ramp = grey(9, 4, |x, y| (x * 20 + y) as u8);
        assert_eq!(resize_bilinear(&ramp, 9, 4), ramp);
    }

    #[test]
    fn upscaling_two_pixels_interpolates_like_pillow() {
        // Pillow: Image.fromarray(np.array([[0, 255]], np.uint8)).resize((4, 1), BILINEAR)
        // gives [0, 64, 191, 255].
        let r = resize_bilinear(&grey(2, 1, |x, _| if x == 0 { 0 } else { 255 }), 4, 1);
        assert_eq!(r.rgb.iter().step_by(3).copied().collect::<Vec<_>>(), [0, 64, 191, 255]);
    }

    #[test]
    fn center_crop_follows_torchvision_offsets() {
        // 40×33 → Resize(32) makes it 38×32 (int(32 * 40 / 33) = 38); the crop starts at
        // round(6 / 2) = 3. A width of 35 gives round(1.5) = 2, of 33: round(0.5) = 0.
        let img = grey(40, 33, |x, _| x as u8);
        let chw = to_input(&img, 32, Fit::CenterCrop);
        assert_eq!(chw.len(), 3 * 32 * 32);
        let direct = resize_bilinear(&img, 38, 32);
        assert_eq!(chw[0], direct.rgb[3 * 3]);
        assert_eq!(crop_center(&grey(33, 32, |x, _| x as u8), 32).rgb[0], 0);
        assert_eq!(crop_center(&grey(35, 32, |x, _| x as u8), 32).rgb[0], 2);
        assert_eq!(crop_center(&grey(37, 32, |x, _| x as u8), 32).rgb[0], 2);
        assert_eq!(crop_center(&grey(39, 32, |x, _| x as u8), 32).rgb[0], 4);
        assert_eq!(serde_json::to_string(&Fit::CenterCrop).unwrap(), "\"centercrop\"");
        assert_eq!(serde_json::from_str::<Fit>("\"center_crop\"").unwrap(), Fit::CenterCrop);
    }
}
