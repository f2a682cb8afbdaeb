//! Depthwise 2-D convolution on host memory (NCHW, f32, one square filter per channel: PyTorch's
//! `groups = channels`), forward, input gradient and weight gradient, as direct loops over each
//! channel's plane: row by row, one filter tap at a time, so the inner loop is a contiguous
//! multiply-add along a row (stride 1) that vectorises. Parallel over planes (forward, input
//! gradient) or channels (weight gradient, so no two threads add into one filter).
//!
//! Hand-written because neither path burn offers fits: a grouped convolution on its CPU backend
//! is an im2col + GEMM per group, of depth k² = 9, which no GEMM makes fast, and its weight
//! gradient is a convolution whose kernel is the whole output map. MobileNetV2 has 17 of these
//! layers, on the largest maps of the network.

use super::conv::valid_range;
use super::host::{filled, simd};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Input `[n, c, h, w]`, weight `[c, 1, k, k]`, output `[n, c, ho, wo]`, `stride`, zero `pad`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
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
    fn plane(&self) -> usize {
        self.h * self.w
    }
    fn out_plane(&self) -> usize {
        self.ho() * self.wo()
    }

    /// For each tap `(kh, kw)` and output row `oy` whose input row is inside the image:
    /// `f(tap index, oy, iy, output columns lo..hi, input column of lo)`.
    #[inline(always)]
    fn taps(&self, mut f: impl FnMut(usize, usize, usize, usize, usize, usize)) {
        let (ho, wo, s) = (self.ho(), self.wo(), self.stride);
        for kh in 0..self.k {
            for oy in 0..ho {
                let iy = (oy * s + kh) as isize - self.pad as isize;
                if iy < 0 || iy >= self.h as isize {
                    continue;
                }
                for kw in 0..self.k {
                    let offset = kw as isize - self.pad as isize;
                    let (lo, hi) = valid_range(wo, self.w, s, offset);
                    if lo < hi {
                        f(kh * self.k + kw, oy, iy as usize, lo, hi, ((lo * s) as isize + offset) as usize);
                    }
                }
            }
        }
    }
}

/// `y = conv(x, w)` over one plane (`y` zeroed first).
#[inline(always)]
fn plane_forward(g: &Geom, x: &[f32], w: &[f32], y: &mut [f32]) {
    y.fill(0.0);
    let (wo, s) = (g.wo(), g.stride);
    g.taps(|t, oy, iy, lo, hi, ix| {
        let (wt, xrow) = (w[t], &x[iy * g.w..(iy + 1) * g.w]);
        let yrow = &mut y[oy * wo + lo..oy * wo + hi];
        if s == 1 {
            yrow.iter_mut().zip(&xrow[ix..]).for_each(|(y, x)| *y += wt * x);
        } else {
            yrow.iter_mut().zip(xrow[ix..].iter().step_by(s)).for_each(|(y, x)| *y += wt * x);
        }
    });
}

/// `dx += convᵀ(dy, w)` over one plane (`dx` zeroed first).
#[inline(always)]
fn plane_backward_x(g: &Geom, w: &[f32], dy: &[f32], dx: &mut [f32]) {
    dx.fill(0.0);
    let (wo, s) = (g.wo(), g.stride);
    g.taps(|t, oy, iy, lo, hi, ix| {
        let (wt, dyrow) = (w[t], &dy[oy * wo + lo..oy * wo + hi]);
        let dxrow = &mut dx[iy * g.w..(iy + 1) * g.w];
        if s == 1 {
            dxrow[ix..].iter_mut().zip(dyrow).for_each(|(dx, dy)| *dx += wt * dy);
        } else {
            dxrow[ix..].iter_mut().step_by(s).zip(dyrow).for_each(|(dx, dy)| *dx += wt * dy);
        }
    });
}

/// `dw[t] += Σ dy · x` over one plane, each row's dot product summed in f64.
#[inline(always)]
fn plane_backward_w(g: &Geom, x: &[f32], dy: &[f32], dw: &mut [f64]) {
    let (wo, s) = (g.wo(), g.stride);
    g.taps(|t, oy, iy, lo, hi, ix| {
        let (xrow, dyrow) = (&x[iy * g.w..(iy + 1) * g.w], &dy[oy * wo + lo..oy * wo + hi]);
        let dot: f32 = if s == 1 {
            dyrow.iter().zip(&xrow[ix..]).map(|(d, x)| d * x).sum()
        } else {
            dyrow.iter().zip(xrow[ix..].iter().step_by(s)).map(|(d, x)| d * x).sum()
        };
        dw[t] += dot as f64;
    });
}

/// Initialises `s` (the kernels zero their planes before adding into them).
fn init(s: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    s.fill(MaybeUninit::new(0.0));
    // SAFETY: every element was just initialised.
    unsafe { &mut *(s as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// `y = conv(x, w)`: `[n, c, ho, wo]`.
pub fn forward(g: &Geom, x: &[f32], w: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), g.n * g.c * g.plane(), "depthwise input");
    assert_eq!(w.len(), g.c * g.k * g.k, "depthwise weight");
    let kk = g.k * g.k;
    filled(g.n * g.c * g.out_plane(), |y| {
        y.par_chunks_mut(g.out_plane()).zip(x.par_chunks(g.plane())).enumerate().for_each(|(i, (y, x))| {
            let c = i % g.c;
            simd(#[inline(always)] || plane_forward(g, x, &w[c * kk..(c + 1) * kk], init(y)));
        })
    })
}

/// The gradient with respect to the input: `[n, c, h, w]`.
pub fn backward_x(g: &Geom, w: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(dy.len(), g.n * g.c * g.out_plane(), "depthwise output gradient");
    let kk = g.k * g.k;
    filled(g.n * g.c * g.plane(), |dx| {
        dx.par_chunks_mut(g.plane()).zip(dy.par_chunks(g.out_plane())).enumerate().for_each(|(i, (dx, dy))| {
            let c = i % g.c;
            simd(#[inline(always)] || plane_backward_x(g, &w[c * kk..(c + 1) * kk], dy, init(dx)));
        })
    })
}

/// The gradient with respect to the weight: `[c, 1, k, k]`.
pub fn backward_w(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), g.n * g.c * g.plane(), "depthwise input");
    assert_eq!(dy.len(), g.n * g.c * g.out_plane(), "depthwise output gradient");
    let kk = g.k * g.k;
    let mut dw = vec![0.0f32; g.c * kk];
    dw.par_chunks_mut(kk).enumerate().for_each(|(c, dw)| {
        let mut acc = vec![0.0f64; kk];
        for n in 0..g.n {
            let plane = n * g.c + c;
            let x = &x[plane * g.plane()..(plane + 1) * g.plane()];
            let dy = &dy[plane * g.out_plane()..(plane + 1) * g.out_plane()];
            simd(#[inline(always)] || plane_backward_w(g, x, dy, &mut acc));
        }
        dw.iter_mut().zip(acc).for_each(|(d, a)| *d = a as f32);
    });
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::host::test_values as values;
    use crate::kernels::depthwise_conv2d;
    use burn::tensor::module::conv2d as burn_conv2d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::Tensor;
    use burn::tensor::{Device, TensorData};

    fn naive(g: &Geom, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (ho, wo) = (g.ho(), g.wo());
        let mut y = vec![0.0; g.n * g.c * ho * wo];
        for p in 0..g.n * g.c {
            let c = p % g.c;
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = 0.0f64;
                    for kh in 0..g.k {
                        for kw in 0..g.k {
                            let iy = (oy * g.stride + kh) as isize - g.pad as isize;
                            let ix = (ox * g.stride + kw) as isize - g.pad as isize;
                            if iy >= 0 && ix >= 0 && iy < g.h as isize && ix < g.w as isize {
                                acc += x[p * g.plane() + iy as usize * g.w + ix as usize] as f64 * w[(c * g.k + kh) * g.k + kw] as f64;
                            }
                        }
                    }
                    y[(p * ho + oy) * wo + ox] = acc as f32;
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
            Geom { n: 3, c: 4, h: 7, w: 6, k: 3, stride: 1, pad: 1 },
            Geom { n: 2, c: 5, h: 8, w: 8, k: 3, stride: 2, pad: 1 },
            Geom { n: 2, c: 3, h: 7, w: 9, k: 3, stride: 2, pad: 1 },
            Geom { n: 1, c: 2, h: 11, w: 10, k: 5, stride: 2, pad: 2 },
            Geom { n: 2, c: 3, h: 3, w: 3, k: 3, stride: 1, pad: 0 },
            Geom { n: 2, c: 2, h: 1, w: 4, k: 3, stride: 1, pad: 1 },
            Geom { n: 2, c: 2, h: 2, w: 2, k: 3, stride: 2, pad: 1 },
        ];
        for (i, g) in shapes.iter().enumerate() {
            let x = values(g.n * g.c * g.plane(), 1 + i as u32);
            let w = values(g.c * g.k * g.k, 100 + i as u32);
            let y = forward(g, &x, &w);
            let want = naive(g, &x, &w);
            let err = y.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err < 1e-5, "{g:?}: forward differs by {err}");
            // <dy, conv(x, w)> = <backward_x(dy), x> = <backward_w(dy), w>
            let dy = values(y.len(), 200 + i as u32);
            let lhs = dot(&dy, &y);
            let via_x = dot(&backward_x(g, &w, &dy), &x);
            let via_w = dot(&backward_w(g, &x, &dy), &w);
            assert!((lhs - via_x).abs() < 1e-4 * lhs.abs().max(1.0), "{g:?}: input gradient {via_x} vs {lhs}");
            assert!((lhs - via_w).abs() < 1e-4 * lhs.abs().max(1.0), "{g:?}: weight gradient {via_w} vs {lhs}");
        }
    }

    /// Through burn's autodiff on the CPU backend: the values and gradients of burn's grouped
    /// `conv2d`, including for a strided view as input.
    #[test]
    fn as_a_burn_operation_matches_burn_grouped_conv2d() {
        let dev = Device::flex();
        for (k, stride, pad) in [(3, 1, 1), (3, 2, 1), (5, 2, 2)] {
            let g = Geom { n: 3, c: 4, h: 9, w: 9, k, stride, pad };
            let x0 = Tensor::<4>::from_data(TensorData::new(values(g.n * g.c * g.plane(), 7), [g.n, g.c, g.h, g.w]), &dev).swap_dims(2, 3);
            let w0 = Tensor::<4>::from_data(TensorData::new(values(g.c * g.k * g.k, 8), [g.c, 1, g.k, g.k]), &dev);
            let run = |ours: bool| {
                let (x, w) = (x0.clone().autodiff().require_grad(), w0.clone().autodiff().require_grad());
                let y = if ours {
                    depthwise_conv2d(x.clone(), w.clone(), stride, pad)
                } else {
                    burn_conv2d(x.clone(), w.clone(), None, ConvOptions::new([stride; 2], [pad; 2], [1, 1], g.c))
                };
                let grads = (y.clone() * y.clone()).sum().backward();
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
