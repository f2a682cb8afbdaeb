//! AdamW and SGD over a [`ParamStore`], with learning-rate schedules and global-norm clipping.
//!
//! Written out rather than taken from burn-optim so that it matches PyTorch step for step
//! (`torch.optim.AdamW`, `clip_grad_norm_`, the warmup/decay lambdas of Hugging Face), keeps
//! per-group learning rates (body vs new head) and decay exclusions, and stores its state as
//! plain named tensors in the checkpoint.

use super::config::{OptimizerKind, Schedule, TrainConfig};
use crate::device::Device;
use crate::error::Result;
use crate::model::params::{Group, ParamStore};
use crate::device::read_f32;
use burn::tensor::{Tensor, TensorData};

/// The learning-rate multiplier at optimiser step `step` (0-based) of `total`, `warmup` of them
/// warming up. Warmup starts at 1/warmup rather than 0 so the first step is not wasted.
pub fn lr_factor(schedule: Schedule, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    match schedule {
        Schedule::Linear => ((total as f64 - step as f64) / span).max(0.0),
        Schedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        Schedule::Constant => 1.0,
    }
}

/// One moment buffer: a device tensor, or (CPU backend) a plain vector that one fused loop
/// updates in a single pass (a chain of tensor operations makes ~14 passes).
#[derive(Clone, Debug)]
pub enum Moment {
    Device(Tensor<1>),
    Host(Vec<f32>),
}

impl Moment {
    fn into_device(self) -> Option<Tensor<1>> {
        match self {
            Moment::Device(t) => Some(t),
            Moment::Host(_) => None,
        }
    }

    fn into_host(self) -> Option<Vec<f32>> {
        match self {
            Moment::Host(v) => Some(v),
            Moment::Device(_) => None,
        }
    }
}

/// Per-parameter optimiser state (first and second moments / momentum buffer).
pub struct Optimizer {
    pub kind: OptimizerKind,
    lr: f64,
    head_lr: f64,
    adapter_lr: f64,
    weight_decay: f64,
    momentum: f64,
    betas: (f64, f64),
    eps: f64,
    /// Optimiser steps taken so far.
    pub step: usize,
    /// `m` (AdamW) or the momentum buffer (SGD), per parameter id; None before the first update.
    pub first: Vec<Option<Moment>>,
    /// `v` (AdamW only).
    pub second: Vec<Option<Moment>>,
    /// Keep the moments in host memory and update with a fused loop (CPU backend).
    host: bool,
}

impl Optimizer {
    pub fn new(cfg: &TrainConfig, params: &ParamStore) -> Self {
        let n = params.len();
        Optimizer {
            kind: cfg.optimizer,
            lr: cfg.lr,
            head_lr: cfg.head_lr(),
            adapter_lr: cfg.lora.as_ref().map_or(cfg.lr, |l| l.lr),
            weight_decay: cfg.weight_decay,
            momentum: cfg.momentum,
            betas: cfg.betas,
            eps: cfg.eps,
            step: 0,
            first: vec![None; n],
            second: vec![None; n],
            host: false,
        }
    }

    /// Keeps the optimiser state in host memory and updates with a fused loop (CPU backend).
    pub fn on_host(mut self, host: bool) -> Self {
        self.host = host;
        self
    }

    /// One AdamW/SGD update of `p` in place, in a single pass over host memory.
    fn fused(&mut self, i: usize, p: &mut [f32], g: &[f32], lr: f64, wd: f64) {
        let t = self.step as i32;
        match self.kind {
            OptimizerKind::AdamW => {
                let (b1, b2) = (self.betas.0 as f32, self.betas.1 as f32);
                let zeros = || vec![0.0; p.len()];
                let mut m = self.first[i].take().and_then(Moment::into_host).unwrap_or_else(zeros);
                let mut v = self.second[i].take().and_then(Moment::into_host).unwrap_or_else(zeros);
                let step = (lr / (1.0 - self.betas.0.powi(t))) as f32;
                let inv_bc2 = (1.0 / (1.0 - self.betas.1.powi(t)).sqrt()) as f32;
                let eps = self.eps as f32;
                let decay = (1.0 - lr * wd) as f32;
                // Zipped slices: no bounds checks, so the loop vectorises.
                for (((pk, &gk), mk), vk) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    *mk = b1 * *mk + (1.0 - b1) * gk;
                    *vk = b2 * *vk + (1.0 - b2) * gk * gk;
                    *pk = *pk * decay - step * *mk / (vk.sqrt() * inv_bc2 + eps);
                }
                self.first[i] = Some(Moment::Host(m));
                self.second[i] = Some(Moment::Host(v));
            }
            OptimizerKind::Sgd => {
                let (lr, wd, mu) = (lr as f32, wd as f32, self.momentum as f32);
                // torch.optim.SGD: the first step's buffer is the gradient itself.
                let prev = self.first[i].take().and_then(Moment::into_host);
                let mut buf = vec![0.0; if mu > 0.0 { p.len() } else { 0 }];
                for k in 0..p.len() {
                    let mut d = g[k] + wd * p[k];
                    if mu > 0.0 {
                        d = prev.as_ref().map_or(d, |b| mu * b[k] + d);
                        buf[k] = d;
                    }
                    p[k] -= lr * d;
                }
                if mu > 0.0 {
                    self.first[i] = Some(Moment::Host(buf));
                }
            }
        }
    }

    /// Applies one update with gradients `grads[i]` (None for frozen parameters), the schedule's
    /// multiplier already folded into `factor`.
    pub async fn apply(&mut self, params: &mut ParamStore, grads: Vec<Option<Tensor<1>>>, factor: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        for (i, grad) in grads.into_iter().enumerate() {
            let Some(g) = grad else { continue };
            let p = &mut params.params[i];
            let base = match p.group {
                Group::Head => self.head_lr,
                Group::Adapter => self.adapter_lr,
                Group::Body => self.lr,
            };
            let lr = base * factor;
            let wd = if p.no_decay { 0.0 } else { self.weight_decay };
            if self.host {
                let device = p.value.device();
                let mut values = read_f32(std::mem::replace(&mut p.value, Tensor::empty([0], &device)), &p.name).await?;
                let g = read_f32(g, &p.name).await?;
                let n = values.len();
                self.fused(i, &mut values, &g, lr, wd);
                params.params[i].value = Tensor::<1>::from_data(TensorData::new(values, [n]), &device);
                continue;
            }
            let value = p.value.clone();
            p.value = match self.kind {
                OptimizerKind::AdamW => {
                    let (b1, b2) = self.betas;
                    let m = match self.first[i].take().and_then(Moment::into_device) {
                        Some(m) => m.mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1),
                        None => g.clone().mul_scalar(1.0 - b1),
                    };
                    let g2 = g.clone() * g;
                    let v = match self.second[i].take().and_then(Moment::into_device) {
                        Some(v) => v.mul_scalar(b2) + g2.mul_scalar(1.0 - b2),
                        None => g2.mul_scalar(1.0 - b2),
                    };
                    let bc1 = 1.0 - b1.powi(t);
                    let bc2 = 1.0 - b2.powi(t);
                    // torch: denom = sqrt(v) / sqrt(bc2) + eps; p -= lr / bc1 * m / denom
                    let denom = v.clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(self.eps);
                    let update = (m.clone() / denom).mul_scalar(lr / bc1);
                    self.first[i] = Some(Moment::Device(m));
                    self.second[i] = Some(Moment::Device(v));
                    let decayed = if wd > 0.0 { value.mul_scalar(1.0 - lr * wd) } else { value };
                    decayed - update
                }
                OptimizerKind::Sgd => {
                    // torch.optim.SGD: L2 decay added to the gradient, momentum without dampening.
                    let g = if wd > 0.0 { g + value.clone().mul_scalar(wd) } else { g };
                    let buf = match self.first[i].take().and_then(Moment::into_device) {
                        Some(b) if self.momentum > 0.0 => b.mul_scalar(self.momentum) + g,
                        _ => g,
                    };
                    let update = buf.clone().mul_scalar(lr);
                    if self.momentum > 0.0 {
                        self.first[i] = Some(Moment::Device(buf));
                    }
                    value - update
                }
            };
        }
        Ok(())
    }

    /// Named state tensors for a checkpoint: `exp_avg.{name}`, `exp_avg_sq.{name}`.
    pub async fn state(&self, params: &ParamStore) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>> {
        let mut out = Vec::new();
        for (i, p) in params.params.iter().enumerate() {
            for (prefix, moment) in [("exp_avg", &self.first[i]), ("exp_avg_sq", &self.second[i])] {
                let values = match moment {
                    Some(Moment::Host(v)) => v.clone(),
                    Some(Moment::Device(t)) => read_f32(t.clone(), &p.name).await?,
                    None => continue,
                };
                out.push((format!("{prefix}.{}", p.name), vec![values.len()], values));
            }
        }
        Ok(out)
    }

    /// Restores state written by [`Optimizer::state`].
    pub fn restore(&mut self, params: &ParamStore, step: usize, st: &crate::weights::SafeTensors, device: &Device) -> Result<()> {
        self.step = step;
        for (i, p) in params.params.iter().enumerate() {
            let n = p.numel();
            for (prefix, slot) in [("exp_avg", &mut self.first[i]), ("exp_avg_sq", &mut self.second[i])] {
                let name = format!("{prefix}.{}", p.name);
                if st.info(&name).is_none() {
                    continue;
                }
                let v = st.f32(&name, &[n])?;
                *slot = Some(if self.host {
                    Moment::Host(v)
                } else {
                    Moment::Device(Tensor::<1>::from_data(TensorData::new(v, [n]), device))
                });
            }
        }
        Ok(())
    }
}

/// Backward of `loss` through `live`, each trainable parameter's gradient added into `acc`
/// (indexed like `live.params`): one micro-batch of gradient accumulation.
pub fn accumulate_grads(live: &ParamStore, loss: &Tensor<1>, acc: &mut [Option<Tensor<1>>]) {
    let mut grads = loss.backward();
    for (i, p) in live.params.iter().enumerate().filter(|(_, p)| p.trainable) {
        if let Some(g) = p.value.grad_remove(&mut grads) {
            acc[i] = Some(match acc[i].take() {
                Some(a) => a + g,
                None => g,
            });
        }
    }
}

/// Sum of squares of all gradients, as a 1-element tensor (read together with the loss: one
/// device sync per step).
pub fn grad_sq_norm(grads: &[Option<Tensor<1>>]) -> Option<Tensor<1>> {
    grads.iter().flatten().map(|g| (g.clone() * g.clone()).sum()).reduce(|a, b| a + b)
}

/// Scales every gradient by `coef` (global-norm clipping, as `torch.nn.utils.clip_grad_norm_`).
pub fn scale_grads(grads: Vec<Option<Tensor<1>>>, coef: f64) -> Vec<Option<Tensor<1>>> {
    if coef >= 1.0 {
        return grads;
    }
    grads.into_iter().map(|g| g.map(|g| g.mul_scalar(coef))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_warm_up_then_decay() {
        // 10 steps, 2 warmup: 0.5, 1.0, then linear down to 1/8 at the last step.
        let f: Vec<f64> = (0..10).map(|s| lr_factor(Schedule::Linear, s, 2, 10)).collect();
        assert_eq!(&f[..3], &[0.5, 1.0, 1.0]);
        assert!((f[9] - 0.125).abs() < 1e-12);
        assert!((lr_factor(Schedule::Cosine, 6, 2, 10) - 0.5).abs() < 1e-12);
        assert_eq!(lr_factor(Schedule::Constant, 9, 2, 10), 1.0);
    }
}
