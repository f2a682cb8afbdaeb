//! Building a network the way its checkpoint names it (candle's `VarBuilder` idea, over
//! edgetune's flat [`ParamStore`]): a family's code walks its modules with nested
//! `vars.pp("encoder").pp("layer").pp(3)` calls and asks for each tensor once, where the module
//! uses it, with the shape it expects. Loading, that reads the tensor from the checkpoint behind
//! the family's own prefix (`bert.`, `vit.`; the family decides whether the file has it) into the
//! store under the name without it. Rebinding (after the store changed: adapters merged away),
//! the same walk finds the tensors already in the store. So every name is written once, in the
//! module that owns it, and no table maps one naming onto another.
//!
//! Hand-written: burn's record loaders bind to burn `Module` structs, and edgetune's networks
//! are functions over one flat store (see `params.rs`).

use super::params::{Group, ParamId, ParamStore};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::weights::SafeTensors;
use std::fmt::Display;

/// What a network's tensors are read from, by checkpoint key: a safetensors file, or a file in
/// another format seen under Hugging Face's names (a GGUF file through its family's name map).
pub trait Checkpoint {
    /// The file, for messages.
    fn source(&self) -> &str;
    /// Whether tensor `key` is in the file.
    fn has(&self, key: &str) -> bool;
    /// Tensor `key` as f32 in PyTorch's layout; it must have shape `shape`.
    fn f32(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>>;
    /// Checks that tensor `key` exists with shape `shape`, without decoding it.
    fn check(&self, key: &str, shape: &[usize]) -> Result<()>;
}

impl Checkpoint for SafeTensors {
    fn source(&self) -> &str {
        SafeTensors::source(self)
    }
    fn has(&self, key: &str) -> bool {
        self.info(key).is_some()
    }
    fn f32(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        SafeTensors::f32(self, key, shape)
    }
    fn check(&self, key: &str, shape: &[usize]) -> Result<()> {
        SafeTensors::check(self, key, shape).map(|_| ())
    }
}

/// Where the tensors come from.
enum Source<'a> {
    /// A checkpoint, read into `store`; checkpoint keys are `prefix` + the store name.
    Read { st: &'a dyn Checkpoint, prefix: &'a str, store: &'a mut ParamStore, device: &'a Device },
    /// A store that already holds them.
    Bind(&'a ParamStore),
    /// Only checks that the checkpoint has each tensor at its shape (a layout's detection): the
    /// network it gives has no parameters and is thrown away.
    Probe { st: &'a dyn Checkpoint, prefix: &'a str },
    /// Zeros of the asked shapes, into `store` (tests: a network without a checkpoint).
    Zeros { store: &'a mut ParamStore, device: &'a Device },
}

/// How a tensor is kept in the store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    /// A linear weight `[out, in]`, stored as `[in, out]`.
    Linear,
    /// Trained but never weight-decayed (batch-norm scale and shift).
    NoDecay,
    /// A non-trainable buffer (batch-norm running statistics).
    Buffer,
}

/// A position in a network's module tree (see the module doc).
pub struct Vars<'a> {
    source: Source<'a>,
    /// The module path so far, with a trailing `.` (empty at the root).
    path: String,
}

impl<'a> Vars<'a> {
    /// Reads from `st` into `store` (all in the body group); `prefix` is what the checkpoint puts
    /// before the names the network uses (`"bert."`, or `""`).
    pub fn read(st: &'a dyn Checkpoint, prefix: &'a str, store: &'a mut ParamStore, device: &'a Device) -> Self {
        Vars { source: Source::Read { st, prefix, store, device }, path: String::new() }
    }

    /// Finds the tensors in `store`, where an earlier [`Vars::read`] put them.
    pub fn bind(store: &'a ParamStore) -> Self {
        Vars { source: Source::Bind(store), path: String::new() }
    }

    /// Checks names and shapes against `st` without reading values (see `Source::Probe`).
    pub fn probe(st: &'a dyn Checkpoint, prefix: &'a str) -> Self {
        Vars { source: Source::Probe { st, prefix }, path: String::new() }
    }

    /// Makes every tensor zeros of the asked shape (a network to test names and shapes on).
    pub fn zeros(store: &'a mut ParamStore, device: &'a Device) -> Self {
        Vars { source: Source::Zeros { store, device }, path: String::new() }
    }

    /// The sub-module `name` (which may itself be dotted: `attention.self`).
    pub fn pp(&mut self, name: impl Display) -> Vars<'_> {
        let source = match &mut self.source {
            Source::Read { st, prefix, store, device } => Source::Read { st: *st, prefix: *prefix, store: &mut **store, device: *device },
            Source::Bind(store) => Source::Bind(*store),
            Source::Probe { st, prefix } => Source::Probe { st: *st, prefix: *prefix },
            Source::Zeros { store, device } => Source::Zeros { store: &mut **store, device: *device },
        };
        Vars { source, path: format!("{}{name}.", self.path) }
    }

    /// The store name of tensor `name` here.
    fn name(&self, name: &str) -> String {
        format!("{}{name}", self.path)
    }

    /// Whether tensor `name` exists here (in the checkpoint being read, or the store).
    pub fn contains(&self, name: &str) -> bool {
        match &self.source {
            Source::Read { st, prefix, .. } | Source::Probe { st, prefix } => st.has(&format!("{prefix}{}", self.name(name))),
            Source::Bind(store) => store.id(&self.name(name)).is_some(),
            Source::Zeros { .. } => true,
        }
    }

    /// Tensor `name` of upstream shape `shape` (trained, weight-decayed unless a bias or norm).
    pub fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<ParamId> {
        self.get(name, name, shape, Kind::Plain, None)
    }

    /// A linear layer's weight, `[out, in]` in the checkpoint, kept `[in, out]`.
    pub fn linear_weight(&mut self, name: &str, out: usize, inp: usize) -> Result<ParamId> {
        self.get(name, name, &[out, inp], Kind::Linear, None)
    }

    /// A trained tensor never weight-decayed (batch norm's scale and shift).
    pub fn no_decay(&mut self, name: &str, shape: &[usize]) -> Result<ParamId> {
        self.get(name, name, shape, Kind::NoDecay, None)
    }

    /// A buffer (never trained, saved and exported), refused when `valid` says why its values
    /// cannot be (e.g. a negative variance).
    pub fn buffer(&mut self, name: &str, shape: &[usize], valid: fn(&[f32]) -> Option<&'static str>) -> Result<ParamId> {
        self.get(name, name, shape, Kind::Buffer, Some(valid))
    }

    /// Tensor `name`, which older checkpoints call `old` (LayerNorm's `gamma`/`beta`): read from
    /// whichever the checkpoint has, kept as `name`.
    pub fn tensor_or(&mut self, name: &str, old: &str, shape: &[usize]) -> Result<ParamId> {
        let key = if !self.contains(name) && self.contains(old) { old } else { name };
        self.get(name, key, shape, Kind::Plain, None)
    }

    fn get(&mut self, name: &str, key: &str, shape: &[usize], kind: Kind, valid: Option<fn(&[f32]) -> Option<&'static str>>) -> Result<ParamId> {
        let name = self.name(name);
        let (store, device, values) = match &mut self.source {
            Source::Read { st, prefix, store, device } => {
                let key = format!("{prefix}{}{key}", self.path);
                let values = st.f32(&key, shape)?;
                if let Some(why) = valid.and_then(|v| v(&values)) {
                    return Err(Error::weights(st.source(), format!("tensor '{key}' {why}")));
                }
                (store, device, values)
            }
            Source::Zeros { store, device } => (store, device, vec![0.0; shape.iter().product()]),
            Source::Probe { st, prefix } => {
                st.check(&format!("{prefix}{}{key}", self.path), shape)?;
                return Ok(0);
            }
            Source::Bind(store) => {
                let id = store.id(&name).ok_or_else(|| Error::weights("model", format!("no parameter '{name}'")))?;
                let have = store.get(id).upstream_shape();
                if have != shape {
                    return Err(Error::weights("model", format!("parameter '{name}' has shape {have:?}, expected {shape:?}")));
                }
                return Ok(id);
            }
        };
        let id = match kind {
            Kind::Buffer => store.insert_buffer(&name, shape, values, Group::Body, device)?,
            _ => store.insert(&name, shape, values, kind == Kind::Linear, Group::Body, device)?,
        };
        if kind == Kind::NoDecay {
            store.params[id].no_decay = true;
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::to_bytes;

    fn checkpoint() -> SafeTensors {
        let t = vec![
            ("bert.enc.0.q.weight".to_string(), vec![3, 2], vec![1., 2., 3., 4., 5., 6.]),
            ("bert.enc.0.norm.gamma".to_string(), vec![2], vec![1., 1.]),
            ("bert.enc.0.bn.running_var".to_string(), vec![2], vec![1., -1.]),
        ];
        SafeTensors::parse(to_bytes(&t, &Default::default()), "m.safetensors").unwrap()
    }

    #[test]
    fn nested_names_read_once_and_bind_again() {
        let (st, device) = (checkpoint(), Device::flex());
        let mut store = ParamStore::default();
        let mut vars = Vars::read(&st, "bert.", &mut store, &device);
        let mut enc = vars.pp("enc");
        let mut layer = enc.pp(0);
        let q = layer.pp("q").linear_weight("weight", 3, 2).unwrap();
        let g = layer.pp("norm").tensor_or("weight", "gamma", &[2]).unwrap();
        let e = layer.pp("bn").buffer("running_var", &[2], |v| v.iter().any(|&x| x < 0.0).then_some("holds a negative variance")).unwrap_err();
        assert_eq!(e.to_string(), "m.safetensors: tensor 'bert.enc.0.bn.running_var' holds a negative variance");
        let e = layer.pp("k").tensor("weight", &[3, 2]).unwrap_err().to_string();
        assert!(e.starts_with("m.safetensors: no tensor 'bert.enc.0.k.weight'"), "{e}");
        assert_eq!(store.get(q).name, "enc.0.q.weight");
        assert_eq!((store.get(q).shape.clone(), store.get(q).transposed), (vec![2, 3], true));
        assert_eq!(store.get(g).name, "enc.0.norm.weight");

        let mut again = Vars::bind(&store);
        assert_eq!(again.pp("enc.0.q").linear_weight("weight", 3, 2).unwrap(), q);
        let e = again.pp("enc.0.q").linear_weight("weight", 2, 3).unwrap_err().to_string();
        assert_eq!(e, "model: parameter 'enc.0.q.weight' has shape [3, 2], expected [2, 3]");
    }
}
