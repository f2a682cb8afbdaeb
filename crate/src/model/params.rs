//! Named parameters in one flat store, in the upstream (Hugging Face) names.
//!
//! Every parameter is held as a flat `Tensor<1>` plus its shape, so the optimiser, gradient
//! clipping and checkpoints treat all of them alike; layers reshape on use (a free view).
//! Linear weights are kept as `[in, out]` (burn's row layout, no transpose in the forward pass)
//! and marked `transposed`, so that loading and export see PyTorch's `[out, in]`.

use crate::device::Device;
use crate::error::{Error, Result};
use burn::tensor::{Tensor, TensorData};
use std::collections::HashMap;

/// Index of a parameter in a [`ParamStore`].
pub type ParamId = usize;

/// Which learning rate a parameter gets: the pre-trained body, the freshly initialised head, or
/// LoRA adapters on a frozen body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Body,
    Head,
    Adapter,
}

#[derive(Clone, Debug)]
pub struct Param {
    /// Upstream name, e.g. `encoder.layer.0.attention.self.query.weight`.
    pub name: String,
    /// Shape as stored (for a transposed linear weight: `[in, out]`).
    pub shape: Vec<usize>,
    pub value: Tensor<1>,
    pub trainable: bool,
    /// Stored as the transpose of the upstream tensor.
    pub transposed: bool,
    /// Excluded from weight decay (biases, LayerNorm), as Hugging Face's Trainer does.
    pub no_decay: bool,
    pub group: Group,
    /// A non-trainable buffer (batch-norm running statistics): never trained nor weight-decayed,
    /// but saved, exported and checkpointed like a parameter. Updated outside autodiff.
    pub buffer: bool,
}

impl Param {
    /// The upstream shape (`[out, in]` for a linear weight).
    pub fn upstream_shape(&self) -> Vec<usize> {
        let mut s = self.shape.clone();
        if self.transposed {
            s.reverse();
        }
        s
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

#[derive(Clone, Debug, Default)]
pub struct ParamStore {
    pub params: Vec<Param>,
    index: HashMap<String, ParamId>,
}

impl ParamStore {
    /// Adds a parameter from upstream-layout values (`[out, in]` for `transposed`).
    pub fn insert(
        &mut self,
        name: &str,
        upstream_shape: &[usize],
        values: Vec<f32>,
        transposed: bool,
        group: Group,
        device: &Device,
    ) -> Result<ParamId> {
        let n: usize = upstream_shape.iter().product();
        if values.len() != n {
            return Err(Error::weights(name, format!("{} values for shape {upstream_shape:?}", values.len())));
        }
        let (shape, values) = if transposed {
            let [rows, cols] = upstream_shape else {
                return Err(Error::weights(name, "only 2-D weights can be stored transposed"));
            };
            (vec![*cols, *rows], transpose(&values, *rows, *cols))
        } else {
            (upstream_shape.to_vec(), values)
        };
        let value = Tensor::<1>::from_data(TensorData::new(values, [n]), device);
        let no_decay = name.ends_with("bias") || ["LayerNorm", "layer_norm", "layernorm"].iter().any(|n| name.contains(n));
        let param = Param { name: name.to_string(), shape, value, trainable: true, transposed, no_decay, group, buffer: false };
        if let Some(&id) = self.index.get(name) {
            self.params[id] = param;
            return Ok(id);
        }
        self.params.push(param);
        self.index.insert(name.to_string(), self.params.len() - 1);
        Ok(self.params.len() - 1)
    }

    /// Adds a non-trainable buffer (e.g. `bn1.running_mean`) in upstream layout.
    pub fn insert_buffer(&mut self, name: &str, shape: &[usize], values: Vec<f32>, group: Group, device: &Device) -> Result<ParamId> {
        let id = self.insert(name, shape, values, false, group, device)?;
        let p = &mut self.params[id];
        (p.trainable, p.no_decay, p.buffer) = (false, true, true);
        Ok(id)
    }

    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.index.get(name).copied()
    }

    pub fn get(&self, id: ParamId) -> &Param {
        &self.params[id]
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// A 1-D parameter.
    pub fn t1(&self, id: ParamId) -> Tensor<1> {
        self.params[id].value.clone()
    }

    /// A 2-D parameter, in stored layout.
    pub fn t2(&self, id: ParamId) -> Tensor<2> {
        let p = &self.params[id];
        p.value.clone().reshape([p.shape[0], p.shape[1]])
    }

    /// A 4-D parameter (a convolution kernel `[out, in, kh, kw]`).
    pub fn t4(&self, id: ParamId) -> Tensor<4> {
        let p = &self.params[id];
        p.value.clone().reshape([p.shape[0], p.shape[1], p.shape[2], p.shape[3]])
    }

    /// Number of trainable values.
    pub fn trainable_count(&self) -> usize {
        self.params.iter().filter(|p| p.trainable).map(Param::numel).sum()
    }

    pub fn total_count(&self) -> usize {
        self.params.iter().map(Param::numel).sum()
    }

    /// Marks parameters whose name satisfies `pred` as frozen.
    pub fn freeze_where(&mut self, pred: impl Fn(&str) -> bool) {
        for p in &mut self.params {
            if pred(&p.name) {
                p.trainable = false;
            }
        }
    }

    /// Keeps only the parameters `keep` accepts (ids of later ones shift: rebind by name).
    pub fn retain(&mut self, keep: impl Fn(&Param) -> bool) {
        self.params.retain(|p| keep(p));
        self.index = self.params.iter().enumerate().map(|(i, p)| (p.name.clone(), i)).collect();
    }

    /// A copy whose trainable parameters are fresh autodiff leaves (gradients retained); frozen
    /// ones stay plain tensors, so no backward work is spent on them.
    pub fn with_grad(&self) -> ParamStore {
        let mut out = self.clone();
        for p in &mut out.params {
            if p.trainable {
                p.value = p.value.clone().autodiff().require_grad();
            }
        }
        out
    }

    /// Reads every parameter back in upstream layout: `(name, upstream shape, values)`.
    pub async fn to_upstream(&self) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>> {
        self.to_upstream_where(|_| true).await
    }

    /// [`ParamStore::to_upstream`] for the parameters `pred` accepts.
    pub async fn to_upstream_where(&self, pred: impl Fn(&Param) -> bool) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>> {
        let mut out = Vec::with_capacity(self.params.len());
        for p in self.params.iter().filter(|p| pred(p)) {
            let values = crate::device::read_f32(p.value.clone(), &p.name).await?;
            let values = if p.transposed { transpose(&values, p.shape[0], p.shape[1]) } else { values };
            out.push((p.name.clone(), p.upstream_shape(), values));
        }
        Ok(out)
    }
}

/// Transposes a row-major `[rows, cols]` matrix.
pub fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}
