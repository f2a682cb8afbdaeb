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

/// Per-parameter optimiser state (first and second moments / momentum buffer).
pub struct Optimizer {
    pub kind: OptimizerKind,
    lr: f64,
    head_lr: f64,
    weight_decay: f64,
    momentum: f64,
    betas: (f64, f64),
    eps: f64,
    /// Optimiser steps taken so far.
    pub step: usize,
    /// `m` (AdamW) or the momentum buffer (SGD), per parameter id; None for frozen ones.
    pub first: Vec<Option<Tensor<1>>>,
    /// `v` (AdamW only).
    pub second: Vec<Option<Tensor<1>>>,
}

impl Optimizer {
    pub fn new(cfg: &TrainConfig, params: &ParamStore) -> Self {
        let n = params.len();
        Optimizer {
            kind: cfg.optimizer,
            lr: cfg.lr,
            head_lr: cfg.head_lr(),
            weight_decay: cfg.weight_decay,
            momentum: cfg.momentum,
            betas: cfg.betas,
            eps: cfg.eps,
            step: 0,
            first: vec![None; n],
            second: vec![None; n],
        }
    }

    /// Applies one update with gradients `grads[i]` (None for frozen parameters), the schedule's
    /// multiplier already folded into `factor`.
    pub fn apply(&mut self, params: &mut ParamStore, grads: Vec<Option<Tensor<1>>>, factor: f64) {
        self.step += 1;
        let t = self.step as i32;
        for (i, grad) in grads.into_iter().enumerate() {
            let Some(g) = grad else { continue };
            let p = &mut params.params[i];
            let base = if p.group == Group::Head { self.head_lr } else { self.lr };
            let lr = base * factor;
            let wd = if p.no_decay { 0.0 } else { self.weight_decay };
            let value = p.value.clone();
            p.value = match self.kind {
                OptimizerKind::AdamW => {
                    let (b1, b2) = self.betas;
                    let m = match self.first[i].take() {
                        Some(m) => m.mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1),
                        None => g.clone().mul_scalar(1.0 - b1),
                    };
                    let g2 = g.clone() * g;
                    let v = match self.second[i].take() {
                        Some(v) => v.mul_scalar(b2) + g2.mul_scalar(1.0 - b2),
                        None => g2.mul_scalar(1.0 - b2),
                    };
                    let bc1 = 1.0 - b1.powi(t);
                    let bc2 = 1.0 - b2.powi(t);
                    // torch: denom = sqrt(v) / sqrt(bc2) + eps; p -= lr / bc1 * m / denom
                    let denom = v.clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(self.eps);
                    let update = (m.clone() / denom).mul_scalar(lr / bc1);
                    self.first[i] = Some(m);
                    self.second[i] = Some(v);
                    let decayed = if wd > 0.0 { value.mul_scalar(1.0 - lr * wd) } else { value };
                    decayed - update
                }
                OptimizerKind::Sgd => {
                    // torch.optim.SGD: L2 decay added to the gradient, momentum without dampening.
                    let g = if wd > 0.0 { g + value.clone().mul_scalar(wd) } else { g };
                    let buf = match self.first[i].take() {
                        Some(b) if self.momentum > 0.0 => b.mul_scalar(self.momentum) + g,
                        _ => g,
                    };
                    let update = buf.clone().mul_scalar(lr);
                    if self.momentum > 0.0 {
                        self.first[i] = Some(buf);
                    }
                    value - update
                }
            };
        }
    }

    /// Named state tensors for a checkpoint: `exp_avg.{name}`, `exp_avg_sq.{name}`.
    pub async fn state(&self, params: &ParamStore) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>> {
        let mut out = Vec::new();
        for (i, p) in params.params.iter().enumerate() {
            for (prefix, t) in [("exp_avg", &self.first[i]), ("exp_avg_sq", &self.second[i])] {
                if let Some(t) = t {
                    let v = crate::device::read_f32(t.clone(), &p.name).await?;
                    out.push((format!("{prefix}.{}", p.name), vec![v.len()], v));
                }
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
                if st.info(&name).is_some() {
                    let v = st.f32(&name, &[n])?;
                    *slot = Some(Tensor::<1>::from_data(TensorData::new(v, [n]), device));
                }
            }
        }
        Ok(())
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
