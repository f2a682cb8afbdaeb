//! 2-D convolution on host memory (NCHW, f32, no groups or dilation): forward, input gradient
//! and weight gradient, each as per-sample im2col + one GEMM, parallel over the batch.
//!
//! burn's CPU backend computes a convolution's weight gradient as a second convolution whose
//! kernel is the whole output map (for ResNet-20 on 32×32 inputs, 60 % of a training step);
//! here it is one `[out, in·k²] += dy[out, h'w'] × cols[h'w', in·k²]` GEMM per sample.

use super::host::{filled, simd};
use std::mem::MaybeUninit;
use rayon::prelude::*;

/// The shapes of one convolution: input `[n, c, h, w]`, weight `[o, c, k, k]`, output
/// `[n, o, ho, wo]`, with `stride` and zero `pad` on every side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Geom {
    pub fn ho(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    pub fn wo(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    fn out_len(&self) -> usize {
        self.o * self.ho() * self.wo()
    }
    /// Rows of the im2col matrix: `c·k²`.
    fn ckk(&self) -> usize {
        self.c * self.k * self.k
    }
    /// A 1×1, stride-1, unpadded convolution: the input is its own im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }
}

/// For output column `ox`, the input column is `ox·stride + kw − pad`: the range of `ox` for
/// which it falls inside `[0, w)`.
pub(super) fn valid_range(out: usize, size: usize, stride: usize, offset: isize) -> (usize, usize) {
    // ox·stride + offset ≥ 0  and  ox·stride + offset < size
    let lo = if offset >= 0 { 0 } else { ((-offset) as usize).div_ceil(stride) };
    let hi = if (size as isize) <= offset { 0 } else { ((size as isize - offset) as usize).div_ceil(stride).min(out) };
    (lo.min(hi), hi)
}

/// A stride-1 convolution whose output is the size of its input: row `(kh, kw)` of the im2col
/// matrix is then the input plane shifted by `(kh − p)·w + kw − p`, except in the columns where
/// the shift wraps across a row.
fn is_same_size(g: &Geom) -> bool {
    g.stride == 1 && g.ho() == g.h && g.wo() == g.w
}

/// For a [`is_same_size`] convolution: the shift of row `(kh, kw)`, its valid range of output
/// positions (whole rows), and the output columns whose source wraps into the next or previous row.
fn same_size_shift(g: &Geom, kh: usize, kw: usize) -> (isize, std::ops::Range<usize>, std::ops::Range<usize>) {
    let (dy, dx) = (kh as isize - g.pad as isize, kw as isize - g.pad as isize);
    let (y0, y1) = valid_range(g.h, g.h, 1, dy);
    let (x0, x1) = valid_range(g.w, g.w, 1, dx);
    (dy * g.w as isize + dx, y0 * g.w..y1 * g.w, x0..x1)
}

/// The part of `valid` whose shifted positions fall inside a plane of `len` (the rest are wrapped
/// columns at the plane's first or last row).
fn inside(valid: &std::ops::Range<usize>, shift: isize, len: usize) -> std::ops::Range<usize> {
    let lo = (valid.start as isize).max(-shift) as usize;
    let hi = (valid.end as isize).min(len as isize - shift).max(lo as isize) as usize;
    lo..hi
}

/// Zeroes the columns outside `cols_ok` in every line of `w` values: at most `pad` per line, so
/// column by column down the lines (a strided store) rather than a `fill` per line, which
/// becomes a `memset` call for one or two values: 3,000 calls per sample in ResNet-20's first stage.
fn zero_wrapped(rows: &mut [f32], w: usize, cols_ok: &std::ops::Range<usize>) {
    for x in (0..cols_ok.start).chain(cols_ok.end..w) {
        for v in rows.iter_mut().skip(x).step_by(w) {
            *v = 0.0;
        }
    }
}

/// `cols[(c·k + kh)·k + kw][oy·wo + ox] = x[c][oy·s + kh − p][ox·s + kw − p]` (0 outside).
fn im2col(g: &Geom, x: &[f32], cols: &mut [f32]) {
    if is_same_size(g) {
        // One copy per row of the matrix, then zero the wrapped columns: ~3× faster than a
        // copy per output row at 32×32.
        let (hw, k, w) = (g.h * g.w, g.k, g.w);
        for c in 0..g.c {
            let plane = &x[c * hw..(c + 1) * hw];
            for kh in 0..k {
                for kw in 0..k {
                    let (shift, valid, cols_ok) = same_size_shift(g, kh, kw);
                    let row = &mut cols[((c * k + kh) * k + kw) * hw..][..hw];
                    row[..valid.start].fill(0.0);
                    row[valid.end..].fill(0.0);
                    let copy = inside(&valid, shift, hw);
                    if !copy.is_empty() {
                        let src = (copy.start as isize + shift) as usize;
                        row[copy.clone()].copy_from_slice(&plane[src..src + copy.len()]);
                    }
                    zero_wrapped(&mut row[valid], w, &cols_ok);
                }
            }
        }
        return;
    }
    let (ho, wo, k, s) = (g.ho(), g.wo(), g.k, g.stride);
    let p = g.pad as isize;
    for c in 0..g.c {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for kh in 0..k {
            let (y0, y1) = valid_range(ho, g.h, s, kh as isize - p);
            for kw in 0..k {
                let (x0, x1) = valid_range(wo, g.w, s, kw as isize - p);
                let row = &mut cols[((c * k + kh) * k + kw) * ho * wo..][..ho * wo];
                row[..y0 * wo].fill(0.0);
                row[y1 * wo..].fill(0.0);
                for oy in y0..y1 {
                    let iy = oy * s + kh - g.pad;
                    let dst = &mut row[oy * wo..(oy + 1) * wo];
                    dst[..x0].fill(0.0);
                    dst[x1..].fill(0.0);
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    let ix0 = (x0 * s + kw) as isize - p;
                    if s == 1 {
                        dst[x0..x1].copy_from_slice(&src[ix0 as usize..ix0 as usize + (x1 - x0)]);
                    } else {
                        for (j, d) in dst[x0..x1].iter_mut().enumerate() {
                            *d = src[ix0 as usize + j * s];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: `dx[c][iy][ix] += cols[…]` over every kernel position.
/// Overwrites `cols`' wrapped columns in the [`is_same_size`] case.
#[inline(always)]
fn col2im(g: &Geom, cols: &mut [f32], dx: &mut [f32]) {
    if is_same_size(g) {
        let (hw, k, w) = (g.h * g.w, g.k, g.w);
        for c in 0..g.c {
            let plane = &mut dx[c * hw..(c + 1) * hw];
            for kh in 0..k {
                for kw in 0..k {
                    let (shift, valid, cols_ok) = same_size_shift(g, kh, kw);
                    let row = &mut cols[((c * k + kh) * k + kw) * hw..][..hw];
                    zero_wrapped(&mut row[valid.clone()], w, &cols_ok);
                    let add = inside(&valid, shift, hw);
                    if !add.is_empty() {
                        let dst = (add.start as isize + shift) as usize;
                        for (d, v) in plane[dst..dst + add.len()].iter_mut().zip(&row[add]) {
                            *d += v;
                        }
                    }
                }
            }
        }
        return;
    }
    let (ho, wo, k, s) = (g.ho(), g.wo(), g.k, g.stride);
    let p = g.pad as isize;
    for c in 0..g.c {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for kh in 0..k {
            let (y0, y1) = valid_range(ho, g.h, s, kh as isize - p);
            for kw in 0..k {
                let (x0, x1) = valid_range(wo, g.w, s, kw as isize - p);
                let row = &cols[((c * k + kh) * k + kw) * ho * wo..][..ho * wo];
                for oy in y0..y1 {
                    let iy = oy * s + kh - g.pad;
                    let src = &row[oy * wo..(oy + 1) * wo];
                    let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                    let ix0 = ((x0 * s + kw) as isize - p) as usize;
                    if s == 1 {
                        for (d, v) in dst[ix0..ix0 + (x1 - x0)].iter_mut().zip(&src[x0..x1]) {
                            *d += v;
                        }
                    } else {
                        for (j, v) in src[x0..x1].iter().enumerate() {
                            dst[ix0 + j * s] += v;
                        }
                    }
                }
            }
        }
    }
}

/// A row-major matrix view for [`matmul`]: `rows × cols` with a row stride and a column stride.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

fn rm(ptr: *const f32, cols: usize) -> View {
    View { ptr, rs: cols as isize, cs: 1 }
}

fn tr(ptr: *const f32, cols: usize) -> View {
    // The transpose of a row-major matrix with `cols` columns.
    View { ptr, rs: 1, cs: cols as isize }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, dst row-major. Without `accumulate`, `dst` is only
/// written (it may be uninitialised).
///
/// # Safety
/// The views must address `m×k` and `k×n` valid elements and `dst` must hold `m×n`.
unsafe fn matmul([m, n, k]: [usize; 3], dst: *mut f32, accumulate: bool, lhs: View, rhs: View, parallel: bool) {
    let par = if parallel && m * n * k >= 64 * 64 * 64 { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    unsafe {
        gemm::gemm(
            m, n, k, dst, 1, n as isize, accumulate, lhs.ptr, lhs.cs, lhs.rs, rhs.ptr, rhs.cs, rhs.rs,
            1.0f32, 1.0f32, false, false, false, par,
        );
    }
}

thread_local! {
    /// Each thread's im2col buffer, kept between calls (fresh buffers cost page faults and a fill).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch buffer of `len` values (contents unspecified).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        // Re-entered on this thread (a work-stealing wait inside `f`): a buffer of its own.
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Whether to spread samples over threads (then each GEMM runs on one) or run samples in turn
/// with threaded GEMMs: the former when there are enough samples to keep every thread busy.
fn per_sample_threads(n: usize) -> bool {
    n >= rayon::current_num_threads().max(1) * 2
}

/// `f(cols)` with the im2col matrix `[c·k², ho·wo]` of one sample `xs`: the sample itself for a
/// pointwise convolution, else built in this thread's scratch buffer.
fn with_cols(g: &Geom, xs: &[f32], f: impl FnOnce(&[f32])) {
    if g.is_pointwise() {
        f(xs)
    } else {
        with_scratch(g.ckk() * g.ho() * g.wo(), |cols| {
            im2col(g, xs, cols);
            f(cols)
        })
    }
}

/// `f(src sample, dst sample, threaded GEMM)` for each of `n` samples: samples spread over
/// threads when there are enough of them, else in turn with threaded GEMMs.
fn each_sample(n: usize, src: &[f32], src_len: usize, dst: &mut [MaybeUninit<f32>], dst_len: usize, f: impl Fn(&[f32], &mut [MaybeUninit<f32>], bool) + Sync) {
    if per_sample_threads(n) {
        src.par_chunks(src_len).zip(dst.par_chunks_mut(dst_len)).for_each(|(s, d)| f(s, d, false));
    } else {
        src.chunks(src_len).zip(dst.chunks_mut(dst_len)).for_each(|(s, d)| f(s, d, true));
    }
}

/// `y = conv(x, w)`: `[n, o, ho, wo]`.
pub fn forward(g: &Geom, x: &[f32], w: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), g.n * g.in_len(), "conv input");
    assert_eq!(w.len(), g.o * g.ckk(), "conv weight");
    let (hw, ckk) = (g.ho() * g.wo(), g.ckk());
    let one = |xs: &[f32], ys: &mut [MaybeUninit<f32>], parallel: bool| {
        // y[o, hw] = w[o, ckk] · cols[ckk, hw]
        let ys = ys.as_mut_ptr().cast::<f32>();
        with_cols(g, xs, |cols| unsafe { matmul([g.o, hw, ckk], ys, false, rm(w.as_ptr(), ckk), rm(cols.as_ptr(), hw), parallel) })
    };
    filled(g.n * g.out_len(), |y| each_sample(g.n, x, g.in_len(), y, g.out_len(), one))
}

/// `s` set to zeros.
fn zeroed(s: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    s.fill(MaybeUninit::new(0.0));
    // SAFETY: every element was just initialised.
    unsafe { &mut *(s as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// The gradient with respect to the input: `[n, c, h, w]`.
pub fn backward_x(g: &Geom, w: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(dy.len(), g.n * g.out_len(), "conv output gradient");
    if is_same_size(g) && g.k % 2 == 1 && g.pad == g.k / 2 && !g.is_pointwise() {
        // A stride-1 "same" convolution's input gradient is itself a "same" convolution of dy,
        // with the kernel flipped and in/out channels swapped: a GEMM of depth o·k² instead of o
        // (144 instead of 16 in ResNet-20's first stage), and im2col instead of col2im's
        // scattered adds. 2-4 % less time per training step than the transposed GEMM below.
        let kk = g.k * g.k;
        let mut flipped = vec![0.0f32; w.len()]; // [c, o, k, k]
        for o in 0..g.o {
            for c in 0..g.c {
                let src = &w[(o * g.c + c) * kk..][..kk];
                let dst = &mut flipped[(c * g.o + o) * kk..][..kk];
                for (i, v) in src.iter().enumerate() {
                    dst[kk - 1 - i] = *v; // (kh, kw) → (k − 1 − kh, k − 1 − kw)
                }
            }
        }
        return forward(&Geom { c: g.o, o: g.c, ..*g }, dy, &flipped);
    }
    let (hw, ckk) = (g.ho() * g.wo(), g.ckk());
    let one = |dys: &[f32], dxs: &mut [MaybeUninit<f32>], parallel: bool| {
        // cols[ckk, hw] = wᵀ[ckk, o] · dy[o, hw]
        let gemm = |cols: *mut f32| unsafe { matmul([ckk, hw, g.o], cols, false, tr(w.as_ptr(), ckk), rm(dys.as_ptr(), hw), parallel) };
        if g.is_pointwise() {
            gemm(dxs.as_mut_ptr().cast())
        } else {
            with_scratch(ckk * hw, |cols| {
                gemm(cols.as_mut_ptr());
                simd(#[inline(always)] || col2im(g, cols, zeroed(dxs)));
            })
        }
    };
    filled(g.n * g.in_len(), |dx| each_sample(g.n, dy, g.out_len(), dx, g.in_len(), one))
}

/// The gradient with respect to the weight: `[o, c, k, k]`.
pub fn backward_w(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), g.n * g.in_len(), "conv input");
    assert_eq!(dy.len(), g.n * g.out_len(), "conv output gradient");
    let (hw, ckk, o) = (g.ho() * g.wo(), g.ckk(), g.o);
    let one = |xs: &[f32], dys: &[f32], dw_t: &mut [f32], parallel: bool| {
        // dwᵀ[ckk, o] += cols[ckk, hw] · dyᵀ[hw, o]: in this orientation the GEMM runs 1.6–3×
        // faster than dw[o, ckk] += dy · colsᵀ (measured, AVX2 and AVX-512 kernels alike).
        with_cols(g, xs, |cols| unsafe { matmul([ckk, o, hw], dw_t.as_mut_ptr(), true, rm(cols.as_ptr(), hw), tr(dys.as_ptr(), hw), parallel) })
    };
    let dw_t = if per_sample_threads(g.n) {
        x.par_chunks(g.in_len())
            .zip(dy.par_chunks(g.out_len()))
            .fold(
                || vec![0.0f32; o * ckk],
                |mut dw, (xs, dys)| {
                    one(xs, dys, &mut dw, false);
                    dw
                },
            )
            .reduce(
                || vec![0.0f32; o * ckk],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                    a
                },
            )
    } else {
        let mut dw = vec![0.0f32; o * ckk];
        x.chunks(g.in_len()).zip(dy.chunks(g.out_len())).for_each(|(xs, dys)| one(xs, dys, &mut dw, true));
        dw
    };
    // [ckk, o] → [o, ckk]
    let mut dw = vec![0.0f32; o * ckk];
    for (r, row) in dw_t.chunks(o).enumerate() {
        for (j, v) in row.iter().enumerate() {
            dw[j * ckk + r] = *v;
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::host::test_values as values;
    use crate::kernels::conv2d;
    use burn::tensor::module::conv2d as burn_conv2d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::Tensor;
    use burn::tensor::{Device, TensorData};

    /// Direct definitions, for checking.
    fn naive(g: &Geom, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (ho, wo) = (g.ho(), g.wo());
        let mut y = vec![0.0; g.n * g.o * ho * wo];
        for n in 0..g.n {
            for o in 0..g.o {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = 0.0f64;
                        for c in 0..g.c {
                            for kh in 0..g.k {
                                for kw in 0..g.k {
                                    let iy = (oy * g.stride + kh) as isize - g.pad as isize;
                                    let ix = (ox * g.stride + kw) as isize - g.pad as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                        continue;
                                    }
                                    let xv = x[((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize];
                                    acc += xv as f64 * w[((o * g.c + c) * g.k + kh) * g.k + kw] as f64;
                                }
                            }
                        }
                        y[((n * g.o + o) * ho + oy) * wo + ox] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    #[test]
    fn matches_the_definition_and_its_adjoints() {
        let shapes = [
            Geom { n: 3, c: 4, h: 7, w: 6, o: 5, k: 3, stride: 1, pad: 1 },
            Geom { n: 5, c: 3, h: 8, w: 8, o: 4, k: 3, stride: 2, pad: 1 },
            Geom { n: 2, c: 3, h: 11, w: 9, o: 4, k: 7, stride: 2, pad: 3 },
            Geom { n: 6, c: 5, h: 4, w: 4, o: 3, k: 1, stride: 1, pad: 0 },
            Geom { n: 4, c: 5, h: 5, w: 5, o: 3, k: 1, stride: 2, pad: 0 },
            Geom { n: 1, c: 2, h: 3, w: 3, o: 2, k: 3, stride: 1, pad: 0 },
            Geom { n: 2, c: 3, h: 6, w: 5, o: 4, k: 5, stride: 1, pad: 2 },
            Geom { n: 2, c: 2, h: 1, w: 4, o: 3, k: 3, stride: 1, pad: 1 },
        ];
        for (i, g) in shapes.iter().enumerate() {
            let x = values(g.n * g.in_len(), 1 + i as u32);
            let w = values(g.o * g.ckk(), 100 + i as u32);
            let y = forward(g, &x, &w);
            let want = naive(g, &x, &w);
            let err = y.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err < 1e-4, "{g:?}: forward differs by {err}");
            // <dy, conv(x, w)> = <backward_x(dy), x> = <backward_w(dy), w>: the adjoint identities.
            let dy = values(y.len(), 200 + i as u32);
            let lhs = dot(&dy, &y);
            let via_x = dot(&backward_x(g, &w, &dy), &x);
            let via_w = dot(&backward_w(g, &x, &dy), &w);
            assert!((lhs - via_x).abs() < 1e-3 * lhs.abs().max(1.0), "{g:?}: input gradient {via_x} vs {lhs}");
            assert!((lhs - via_w).abs() < 1e-3 * lhs.abs().max(1.0), "{g:?}: weight gradient {via_w} vs {lhs}");
        }
    }

    /// Through burn's autodiff on the CPU backend: the same values and gradients as burn's own
    /// `conv2d`, including for a strided view as input.
    #[test]
    fn as_a_burn_operation_matches_burn_conv2d() {
        let dev = Device::flex();
        for (k, stride, pad) in [(3, 1, 1), (3, 2, 1), (1, 2, 0), (7, 2, 3)] {
            let g = Geom { n: 3, c: 4, h: 9, w: 9, o: 5, k, stride, pad };
            let x0 = Tensor::<4>::from_data(TensorData::new(values(g.n * g.in_len(), 7), [g.n, g.c, g.h, g.w]), &dev);
            // A permuted view: the kernels must not assume a contiguous input.
            let x0 = x0.swap_dims(2, 3);
            let w0 = Tensor::<4>::from_data(TensorData::new(values(g.o * g.ckk(), 8), [g.o, g.c, g.k, g.k]), &dev);
            let run = |ours: bool| {
                let x = x0.clone().autodiff().require_grad();
                let w = w0.clone().autodiff().require_grad();
                assert!(crate::kernels::host::tensors_on_host(&[&x, &w]), "the CPU backend under autodiff takes the host kernels");
                let y = if ours {
                    conv2d(x.clone(), w.clone(), stride, pad)
                } else {
                    burn_conv2d(x.clone(), w.clone(), None, ConvOptions::new([stride; 2], [pad; 2], [1, 1], 1))
                };
                let loss = (y.clone() * y.clone()).sum();
                let grads = loss.backward();
                let flat = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
                (flat(y.without_autodiff()), flat(x.grad(&grads).unwrap()), flat(w.grad(&grads).unwrap()))
            };
            let (ours, theirs) = (run(true), run(false));
            for (name, a, b) in [("output", &ours.0, &theirs.0), ("input gradient", &ours.1, &theirs.1), ("weight gradient", &ours.2, &theirs.2)] {
                assert_eq!(a.len(), b.len(), "k{k} s{stride}: {name} size");
                let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                let err = a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(err <= 1e-5 * scale, "k{k} s{stride} p{pad}: {name} differs by {err} (scale {scale})");
            }
        }
    }
}
