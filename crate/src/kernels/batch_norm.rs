//! Batch normalisation in training mode on host memory (NCHW, f32), fused with what follows it in
//! a ResNet or MobileNet block — an optional residual add, then an optional ReLU or ReLU6:
//! `out = act((y − mean) · γ / √(var + eps) + β + skip)`, with each channel's batch mean and
//! biased variance, as `torch.nn.BatchNorm2d` computes in training mode (and differentiates
//! through the statistics as it does). Forward and backward are each two or three passes over one
//! channel's values at a time, which stay in cache, parallel over channels.
//!
//! Composed from burn tensor operations (as on the GPU devices, [`batch_norm_train`]) the same layer is
//! about ten passes forward and twenty backward on the CPU backend, each on one thread: a quarter
//! of a ResNet-20 training step ran on one core.

use super::host::{filled, flex, host_f32, simd, tensors_on_host, Shared};
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::TensorMetadata;
use burn::backend::{backend_extension, Autodiff, AutodiffBackend, Backend, Dispatch, Flex};
use burn::tensor::Tensor;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The layout `[n, c, hw]` of a batch of feature maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planes {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
}

impl Planes {
    fn len(&self) -> usize {
        self.n * self.c * self.hw
    }
    /// The offsets of channel `ch`'s plane in each sample.
    fn of(&self, ch: usize) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        (0..self.n).map(move |i| (i * self.c + ch) * self.hw..(i * self.c + ch + 1) * self.hw)
    }
    /// Values per channel.
    fn count(&self) -> f64 {
        (self.n * self.hw) as f64
    }
}

/// Sums `f(x)` in 16 lanes (vectorised), each lane short enough to keep f32 rounding small;
/// planes are then summed in f64.
#[inline(always)]
fn lanes_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut acc = [0.0f32; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        let c: &[f32; 16] = c.try_into().expect("16 values");
        for i in 0..16 {
            acc[i] += f(c[i]);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|v| f(*v)).sum();
    acc.iter().map(|a| *a as f64).sum::<f64>() + tail as f64
}

/// What follows the normalisation (and the residual add).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Identity,
    Relu,
    /// `min(max(x, 0), 6)`: MobileNet's activation.
    Relu6,
}

/// [`Act`] as a const parameter of the loops, so that each activation gets its own vectorised
/// code (plain ReLU's is what it was before ReLU6 existed).
const IDENTITY: u8 = 0;
const RELU: u8 = 1;
const RELU6: u8 = 2;

/// Calls `$f::<ACT>($args)` with the const matching `$act`.
macro_rules! with_act {
    ($act:expr, $f:ident($($arg:expr),*)) => {
        match $act {
            Act::Identity => $f::<IDENTITY>($($arg),*),
            Act::Relu => $f::<RELU>($($arg),*),
            Act::Relu6 => $f::<RELU6>($($arg),*),
        }
    };
}

/// The activation, keeping NaN (a diverged run must show as NaN, not as zeros).
#[inline(always)]
fn activate<const ACT: u8>(v: f32) -> f32 {
    match ACT {
        IDENTITY => v,
        _ if v < 0.0 => 0.0,
        RELU6 if v > 6.0 => 6.0,
        _ => v,
    }
}

/// The output gradient through the activation (`out` its output: the gradient passes where
/// positive, and for ReLU6 below 6). A bit mask rather than a branch, so that the loops using it
/// vectorise.
#[inline(always)]
fn mask<const ACT: u8>(d: f32, out: f32) -> f32 {
    if ACT == RELU {
        f32::from_bits(d.to_bits() & (-((out > 0.0) as i32)) as u32)
    } else if ACT == RELU6 {
        f32::from_bits(d.to_bits() & (-(((out > 0.0) & (out < 6.0)) as i32)) as u32)
    } else {
        d
    }
}

/// A forward pass's output and each channel's batch mean and biased variance.
pub struct Normalised {
    pub out: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

/// `o = act(y · a + b + s?)` over one plane.
#[inline(always)]
fn affine<const ACT: u8>(o: &mut [MaybeUninit<f32>], y: &[f32], s: Option<&[f32]>, a: f32, b: f32) {
    let act = activate::<ACT>;
    match s {
        Some(s) => o.iter_mut().zip(y).zip(s).for_each(|((o, y), s)| {
            o.write(act(y * a + b + s));
        }),
        None => o.iter_mut().zip(y).for_each(|(o, y)| {
            o.write(act(y * a + b));
        }),
    }
}

pub fn forward(g: Planes, y: &[f32], gamma: &[f32], beta: &[f32], skip: Option<&[f32]>, act: Act, eps: f64) -> Normalised {
    assert_eq!(y.len(), g.len(), "batch norm input");
    assert!(gamma.len() == g.c && beta.len() == g.c, "batch norm affine parameters");
    assert!(skip.is_none_or(|s| s.len() == g.len()), "batch norm residual");
    let mut stats = vec![(0.0f32, 0.0f32); g.c];
    let out = filled(g.len(), |out| {
        let out = Shared(out.as_mut_ptr());
        stats.par_iter_mut().enumerate().for_each(|(ch, stat)| {
            *stat = simd(#[inline(always)] || {
                let mean = g.of(ch).map(|r| lanes_sum(&y[r], |v| v)).sum::<f64>() / g.count();
                let m = mean as f32;
                let var = g.of(ch).map(|r| lanes_sum(&y[r], |v| (v - m) * (v - m))).sum::<f64>() / g.count();
                let scale = gamma[ch] as f64 / (var + eps).sqrt();
                let (a, b) = (scale as f32, (beta[ch] as f64 - mean * scale) as f32);
                for r in g.of(ch) {
                    // SAFETY: channel `ch`'s planes are written by this task only.
                    let o = unsafe { out.slice(r.start, r.len()) };
                    let s = skip.map(|s| &s[r.clone()]);
                    with_act!(act, affine(o, &y[r], s, a, b))
                }
                (m, var as f32)
            });
        });
    });
    let (mean, var) = stats.into_iter().unzip();
    Normalised { out, mean, var }
}

/// Gradients of a forward pass: the input's, γ's, β's and (if asked) the residual's.
pub struct NormGrads {
    pub dy: Vec<f32>,
    pub dgamma: Vec<f32>,
    pub dbeta: Vec<f32>,
    pub dskip: Option<Vec<f32>>,
}

/// `(Σ d, Σ d · (y − m))` over a plane, `d` the output gradient through the ReLU.
#[inline(always)]
fn masked_sums<const ACT: u8>(dout: &[f32], out: &[f32], y: &[f32], m: f32) -> (f64, f64) {
    let (mut a, mut b) = ([0.0f32; 16], [0.0f32; 16]);
    let n = dout.len() / 16 * 16;
    for ((d, o), y) in dout[..n].chunks_exact(16).zip(out[..n].chunks_exact(16)).zip(y[..n].chunks_exact(16)) {
        let (d, o, y): (&[f32; 16], &[f32; 16], &[f32; 16]) = (d.try_into().unwrap(), o.try_into().unwrap(), y.try_into().unwrap());
        for i in 0..16 {
            let d = mask::<ACT>(d[i], o[i]);
            a[i] += d;
            b[i] += d * (y[i] - m);
        }
    }
    let (mut ta, mut tb) = (0.0f32, 0.0f32);
    for i in n..dout.len() {
        let d = mask::<ACT>(dout[i], out[i]);
        ta += d;
        tb += d * (y[i] - m);
    }
    let sum = |v: [f32; 16], t: f32| v.iter().map(|x| *x as f64).sum::<f64>() + t as f64;
    (sum(a, ta), sum(b, tb))
}

/// `ds = d` through the activation, over one plane: the residual's gradient.
#[inline(always)]
fn through<const ACT: u8>(ds: &mut [MaybeUninit<f32>], dout: &[f32], out: &[f32]) {
    ds.iter_mut().zip(dout).zip(out).for_each(|((ds, d), o)| {
        ds.write(mask::<ACT>(*d, *o));
    });
}

/// `dy = k · d − c0 − c1 · (y − m)` over one plane, `d` through the ReLU.
#[inline(always)]
fn input_grad<const ACT: u8>(dy: &mut [MaybeUninit<f32>], dout: &[f32], out: &[f32], y: &[f32], [k, c0, c1, m]: [f32; 4]) {
    dy.iter_mut().zip(dout).zip(out).zip(y).for_each(|(((o, d), out), y)| {
        o.write(k * mask::<ACT>(*d, *out) - c0 - c1 * (y - m));
    });
}

/// Channel `ch`'s gradients: writes its planes of `dy`, returns `(Σ d, Σ d · x̂)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn channel_backward<const ACT: u8>(g: Planes, ch: usize, dy: Shared<MaybeUninit<f32>>, dout: &[f32], y: &[f32], out: &[f32], [m, var, gamma]: [f32; 3], eps: f64) -> (f64, f64) {
    let (mut sd, mut sdx) = (0.0f64, 0.0f64);
    for r in g.of(ch) {
        let (a, b) = masked_sums::<ACT>(&dout[r.clone()], &out[r.clone()], &y[r], m);
        sd += a;
        sdx += b;
    }
    let invstd = 1.0 / (var as f64 + eps).sqrt();
    let k = gamma as f64 * invstd;
    // dy = k · (d − mean(d) − x̂ · mean(d · x̂)),  x̂ = (y − m) · invstd
    let coeffs = [k as f32, (k * sd / g.count()) as f32, (k * sdx * invstd * invstd / g.count()) as f32, m];
    for r in g.of(ch) {
        // SAFETY: channel `ch`'s planes are written by this task only.
        let dst = unsafe { dy.slice(r.start, r.len()) };
        input_grad::<ACT>(dst, &dout[r.clone()], &out[r.clone()], &y[r], coeffs);
    }
    (sd, sdx * invstd)
}

/// `out` is the forward output (its sign is the ReLU's mask); `mean` and `var` its statistics.
#[allow(clippy::too_many_arguments)]
pub fn backward(g: Planes, dout: &[f32], y: &[f32], out: &[f32], mean: &[f32], var: &[f32], gamma: &[f32], act: Act, want_skip: bool, eps: f64) -> NormGrads {
    assert!(dout.len() == g.len() && y.len() == g.len() && out.len() == g.len(), "batch norm backward sizes");
    // The residual's gradient is the one reaching the sum: after the ReLU.
    let dskip = want_skip.then(|| {
        filled(g.len(), |ds| {
            ds.par_chunks_mut(g.hw).zip(dout.par_chunks(g.hw)).zip(out.par_chunks(g.hw)).for_each(|((ds, d), o)| {
                simd(#[inline(always)] || with_act!(act, through(ds, d, o)))
            });
        })
    });
    let mut sums = vec![(0.0f64, 0.0f64); g.c];
    let dy = filled(g.len(), |dy| {
        let dy = Shared(dy.as_mut_ptr());
        sums.par_iter_mut().enumerate().for_each(|(ch, sum)| {
            let stats = [mean[ch], var[ch], gamma[ch]];
            *sum = simd(#[inline(always)] || {
                with_act!(act, channel_backward(g, ch, dy, dout, y, out, stats, eps))
            });
        });
    });
    let (dbeta, dgamma) = sums.into_iter().map(|(sd, sdx)| (sd as f32, sdx as f32)).unzip();
    NormGrads { dy, dgamma, dbeta, dskip }
}

/// `act(batch_norm(y) + skip?)` in training mode on any device, with gradients through autodiff:
/// `(output [n, c, h, w], batch mean [c], biased batch variance [c])`, the statistics detached.
/// On the CPU backend in f32 this is the fused host operation; elsewhere it is composed from
/// tensor operations (fusion merges them on the GPU backends).
pub fn batch_norm_train(y: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, skip: Option<Tensor<4>>, act: Act, eps: f64) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    if tensors_on_host(&[&y]) && tensors_on_host(&[&gamma, &beta]) && skip.as_ref().is_none_or(|s| tensors_on_host(&[s])) {
        return host_batch_norm_train(y, gamma, beta, skip, act, eps);
    }
    // Composed rather than burn's `batch_norm`: no swap-dims copies, and autodiff still
    // differentiates through the batch statistics as PyTorch does.
    let [_, c, _, _] = y.dims();
    let mean = y.clone().mean_dim(0).mean_dim(2).mean_dim(3); // [1, c, 1, 1]
    let centered = y - mean.clone();
    let var = centered.clone().square().mean_dim(0).mean_dim(2).mean_dim(3); // biased, [1, c, 1, 1]
    let scale = var.clone().add_scalar(eps).sqrt().recip() * gamma.reshape([1, c, 1, 1]);
    let out = centered * scale + beta.reshape([1, c, 1, 1]); // [n, c, h, w]
    let out = match skip {
        Some(s) => out + s,
        None => out,
    };
    let out = match act {
        Act::Identity => out,
        Act::Relu => burn::tensor::activation::relu(out),
        Act::Relu6 => out.clamp(0.0, 6.0),
    };
    (out, mean.without_autodiff().reshape([c]), var.without_autodiff().reshape([c]))
}

/// The fused host operation of [`batch_norm_train`]: tensors on the CPU backend in f32 only.
fn host_batch_norm_train(y: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, skip: Option<Tensor<4>>, act: Act, eps: f64) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let (y, gamma, beta) = (y.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch());
    let (out, mean, var) = match skip {
        None => <Dispatch as HostBatchNorm>::host_batch_norm(y, gamma, beta, act, eps),
        Some(skip) => <Dispatch as HostBatchNorm>::host_batch_norm_add(y, gamma, beta, skip.into_dispatch(), act, eps),
    };
    (Tensor::from_dispatch(out), Tensor::from_dispatch(mean), Tensor::from_dispatch(var))
}

/// `(output, batch mean, biased batch variance)` of a fused batch norm.
type Normed<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

/// The fused batch norm as a burn backend operation, with its own backward pass under autodiff
/// (two operations: the extension macro does not route optional tensors).
#[backend_extension(Flex, Autodiff)]
pub trait HostBatchNorm: Backend {
    // The macro needs the tuples spelt out (not `Normed<Self>`) to route their tensors.
    fn host_batch_norm(
        y: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        act: Act,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// With a residual added before the ReLU.
    fn host_batch_norm_add(
        y: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        skip: FloatTensor<Self>,
        act: Act,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

fn planes(y: &FlexTensor) -> Planes {
    let [n, c, h, w] = y.shape().dims();
    Planes { n, c, hw: h * w }
}

fn flex_forward(y: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, skip: Option<&FlexTensor>, act: Act, eps: f64) -> Normed<Flex> {
    let g = planes(y);
    let skip = skip.map(host_f32);
    let r = forward(g, &host_f32(y), &host_f32(gamma), &host_f32(beta), skip.as_deref(), act, eps);
    (FlexTensor::from_data(burn::tensor::TensorData::new(r.out, y.shape())), flex(r.mean, [g.c]), flex(r.var, [g.c]))
}

impl HostBatchNorm for Flex {
    fn host_batch_norm(y: FlexTensor, gamma: FlexTensor, beta: FlexTensor, act: Act, eps: f64) -> Normed<Self> {
        flex_forward(&y, &gamma, &beta, None, act, eps)
    }
    fn host_batch_norm_add(y: FlexTensor, gamma: FlexTensor, beta: FlexTensor, skip: FlexTensor, act: Act, eps: f64) -> Normed<Self> {
        flex_forward(&y, &gamma, &beta, Some(&skip), act, eps)
    }
}

/// What the backward pass needs: the input, the output, γ and the statistics.
#[derive(Clone, Debug)]
struct State {
    y: FlexTensor,
    out: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    var: FlexTensor,
    act: Act,
    eps: f64,
}

impl State {
    fn grads(&self, dout: FlexTensor, want_skip: bool) -> NormGrads {
        let g = planes(&self.y);
        let (y, out, gamma) = (host_f32(&self.y), host_f32(&self.out), host_f32(&self.gamma));
        backward(g, &host_f32(&dout), &y, &out, &host_f32(&self.mean), &host_f32(&self.var), &gamma, self.act, want_skip, self.eps)
    }
}

#[derive(Debug)]
struct NormBackward;

impl Backward<Flex, 3> for NormBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let r = ops.state.grads(grads.consume::<Flex>(&ops.node), false);
        register(grads, ops.parents.map(|p| p.map(|n| n.id)), &ops.state, r);
    }
}

#[derive(Debug)]
struct NormSkipBackward;

impl Backward<Flex, 4> for NormSkipBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [y, gamma, beta, skip] = ops.parents.map(|p| p.map(|n| n.id));
        let mut r = ops.state.grads(grads.consume::<Flex>(&ops.node), skip.is_some());
        if let (Some(id), Some(ds)) = (skip, r.dskip.take()) {
            grads.register::<Flex>(id, FlexTensor::from_data(burn::tensor::TensorData::new(ds, ops.state.y.shape())));
        }
        register(grads, [y, gamma, beta], &ops.state, r);
    }
}

fn register(grads: &mut Gradients, [y, gamma, beta]: [Option<NodeId>; 3], s: &State, r: NormGrads) {
    let c = r.dgamma.len();
    if let Some(id) = y {
        grads.register::<Flex>(id, FlexTensor::from_data(burn::tensor::TensorData::new(r.dy, s.y.shape())));
    }
    if let Some(id) = gamma {
        grads.register::<Flex>(id, flex(r.dgamma, [c]));
    }
    if let Some(id) = beta {
        grads.register::<Flex>(id, flex(r.dbeta, [c]));
    }
}

/// The autodiff side of both operations: forward on the inner tensors, then record the step.
fn tracked<C: CheckpointStrategy>(
    y: FloatTensor<Autodiff<Flex, C>>,
    gamma: FloatTensor<Autodiff<Flex, C>>,
    beta: FloatTensor<Autodiff<Flex, C>>,
    skip: Option<FloatTensor<Autodiff<Flex, C>>>,
    act: Act,
    eps: f64,
) -> Normed<Autodiff<Flex, C>> {
    let (py, pg) = (y.primitive().clone(), gamma.primitive().clone());
    let (out, mean, var) = flex_forward(&py, &pg, beta.primitive(), skip.as_ref().map(|s| s.primitive()), act, eps);
    let state = State { y: py, out: out.clone(), gamma: pg, mean: mean.clone(), var: var.clone(), act, eps };
    let out = match skip {
        None => match NormBackward.prepare::<C>([y.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(state, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        },
        Some(skip) => match NormSkipBackward.prepare::<C>([y.node(), gamma.node(), beta.node(), skip.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(state, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        },
    };
    (out, Autodiff::<Flex, C>::from_inner(mean), Autodiff::<Flex, C>::from_inner(var))
}

impl<C: CheckpointStrategy> HostBatchNorm for Autodiff<Flex, C> {
    fn host_batch_norm(y: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, act: Act, eps: f64) -> Normed<Self> {
        tracked::<C>(y, gamma, beta, None, act, eps)
    }
    fn host_batch_norm_add(y: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, skip: FloatTensor<Self>, act: Act, eps: f64) -> Normed<Self> {
        tracked::<C>(y, gamma, beta, Some(skip), act, eps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::host::test_values;
    use burn::tensor::activation::relu as burn_relu;
    use burn::tensor::{Device, TensorData};

    /// Deterministic values in [-2, 2].
    fn values(len: usize, seed: u32) -> Vec<f32> {
        test_values(len, seed).into_iter().map(|v| 2.0 * v).collect()
    }

    /// The textbook composition, as `resnet.rs` runs it on GPU devices.
    fn composed(y: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, skip: Option<Tensor<4>>, act: Act) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
        let [_, c, _, _] = y.dims();
        let mean = y.clone().mean_dim(0).mean_dim(2).mean_dim(3);
        let centered = y - mean.clone();
        let var = centered.clone().square().mean_dim(0).mean_dim(2).mean_dim(3);
        let mut out = centered * var.clone().add_scalar(1e-5).sqrt().recip() * gamma.reshape([1, c, 1, 1]) + beta.reshape([1, c, 1, 1]);
        if let Some(s) = skip {
            out = out + s;
        }
        match act {
            Act::Identity => {}
            Act::Relu => out = burn_relu(out),
            Act::Relu6 => out = burn_relu(out).clamp_max(6.0),
        }
        (out, mean.reshape([c]), var.reshape([c]))
    }

    /// Values, statistics and every gradient equal the composed operations' through autodiff, for
    /// each combination of residual and ReLU, on a 7×5 map (a plane length not a multiple of 8).
    #[test]
    fn matches_the_composed_operations() {
        let dev = Device::flex();
        let (n, c, h, w) = (3, 4, 7, 5);
        let len = n * c * h * w;
        let acts = [(false, Act::Identity), (false, Act::Relu), (true, Act::Identity), (true, Act::Relu), (false, Act::Relu6), (true, Act::Relu6)];
        for (case, (with_skip, act)) in acts.into_iter().enumerate() {
            let t4 = |seed| Tensor::<4>::from_data(TensorData::new(values(len, seed), [n, c, h, w]), &dev).autodiff().require_grad();
            // γ up to ±8 for ReLU6, so that outputs pass its cap of 6.
            let spread = if act == Act::Relu6 { 4.0 } else { 1.0 };
            let t1 = |seed| Tensor::<1>::from_data(TensorData::new(values(c, seed).into_iter().map(|v| v * spread).collect::<Vec<_>>(), [c]), &dev).autodiff().require_grad();
            let upstream = Tensor::<4>::from_data(TensorData::new(values(len, 99), [n, c, h, w]), &dev).autodiff();
            let run = |ours: bool| {
                let (y, gamma, beta, skip) = (t4(1 + case as u32), t1(10), t1(11), t4(20));
                assert!(tensors_on_host(&[&y, &skip]));
                let s = with_skip.then(|| skip.clone());
                let (out, mean, var) = if ours {
                    batch_norm_train(y.clone(), gamma.clone(), beta.clone(), s, act, 1e-5)
                } else {
                    composed(y.clone(), gamma.clone(), beta.clone(), s, act)
                };
                let grads = (out.clone() * upstream.clone()).sum().backward();
                let flat = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
                let flat1 = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
                let dskip = if with_skip { flat(skip.grad(&grads).unwrap()) } else { vec![] };
                vec![
                    ("output", flat(out.without_autodiff())),
                    ("mean", flat1(mean.without_autodiff())),
                    ("variance", flat1(var.without_autodiff())),
                    ("input gradient", flat(y.grad(&grads).unwrap())),
                    ("gamma gradient", flat1(gamma.grad(&grads).unwrap())),
                    ("beta gradient", flat1(beta.grad(&grads).unwrap())),
                    ("residual gradient", dskip),
                ]
            };
            for ((name, a), (_, b)) in run(true).into_iter().zip(run(false)) {
                assert_eq!(a.len(), b.len(), "{name}");
                let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                let err = a.iter().zip(&b).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(err <= 2e-5 * scale, "skip {with_skip}, {act:?}: {name} differs by {err} (scale {scale})");
            }
        }
    }

    /// NaN in the input reaches the output (a diverged run is reported, not hidden by the ReLU).
    #[test]
    fn keeps_nan_visible() {
        let g = Planes { n: 2, c: 1, hw: 3 };
        let y = [1.0, f32::NAN, 0.5, 2.0, 1.0, 0.0];
        let r = forward(g, &y, &[1.0], &[0.0], None, Act::Relu6, 1e-5);
        assert!(r.out.iter().all(|v| v.is_nan()), "{:?}", r.out);
    }
}
