//! LoRA, low-rank adapters on a frozen encoder (Hu et al. 2021, "LoRA: Low-Rank Adaptation of
//! Large Language Models"), as Hugging Face PEFT implements them (`peft/tuners/lora/layer.py`,
//! `Linear.forward` and `reset_lora_parameters`):
//!
//! `y = x·Wᵀ + b + scale · dropout(x)·Aᵀ·Bᵀ`, A `[r, in]` kaiming-uniform, B `[out, r]` zeros,
//! `scale = alpha / r` (`alpha / √r` with rsLoRA).
//!
//! The product B·A is never formed while training: two thin matmuls through rank r per layer cost
//! less than a dense `[out, in]` copy per step, and autodiff keeps state only for the adapters,
//! so the frozen base weights get no gradients and no optimiser state (that is where the memory
//! goes down). A and B live in the [`ParamStore`] beside the base weights as
//! `{module}.lora_A.weight` / `{module}.lora_B.weight`, stored transposed like every linear
//! weight, in [`Group::Adapter`]. Which layers can take adapters is the body's answer
//! ([`super::Body::adaptable`]). This file: the settings, which layers they target, attaching
//! fresh adapters, and folding them into the base weights (`--merge`). The PEFT files
//! (`adapter_config.json`, `adapter_model.safetensors`) are in [`super::peft`].

use super::classifier::Classifier;
use super::face::{Adaptable, Body};
use super::layers::dropout as apply_dropout;
use super::params::{Group, ParamId, ParamStore};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::rng::Rng;
use burn::tensor::module::linear;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// LoRA settings (`lora` in the training configuration; `--lora`, `--lora-r`, ... on the CLI).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraSpec {
    /// Rank of the adapters.
    pub r: usize,
    /// `lora_alpha`: the update is scaled by alpha / r.
    pub alpha: f64,
    /// Dropout on the adapters' input while training.
    pub dropout: f64,
    /// Linear layers to adapt, matched as PEFT matches a list: a module whose name is the entry or
    /// ends with `.entry` (`query`, `value`, `attention.output.dense`, `dense`, ...), or
    /// `all-linear` for every linear layer of the encoder.
    pub target_modules: Vec<String>,
    /// rsLoRA: scale by alpha / √r instead.
    pub use_rslora: bool,
    /// Learning rate of the adapters (LoRA wants a higher one than full fine-tuning); the head
    /// keeps `head_lr`.
    pub lr: f64,
    /// Continue training this PEFT adapter (a directory with `adapter_config.json` and
    /// `adapter_model.safetensors`): r, alpha, dropout and targets then come from its config.
    pub adapter: Option<String>,
}

impl Default for LoraSpec {
    fn default() -> Self {
        LoraSpec {
            r: 8,
            alpha: 16.0,
            dropout: 0.1,
            target_modules: vec!["query".into(), "value".into()],
            use_rslora: false,
            lr: 1e-3,
            adapter: None,
        }
    }
}

impl LoraSpec {
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }

    /// Rejects settings that cannot work, with the field named.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::config(format!("lora.{m}")));
        if self.r == 0 {
            return bad("r is 0, expected a rank of at least 1".into());
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return bad(format!("alpha is {}, expected a positive number", self.alpha));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout is {}, expected a probability in [0, 1)", self.dropout));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("lr is {}, expected a positive number", self.lr));
        }
        if self.target_modules.is_empty() {
            return bad("target_modules is empty, expected layer names such as query, value".into());
        }
        Ok(())
    }
}

/// One adapter on a dense layer: parameter ids of A (stored `[in, r]`) and B (stored `[r, out]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lora {
    pub a: ParamId,
    pub b: ParamId,
    pub scale: f64,
    pub dropout: f64,
}

impl Lora {
    /// `scale · dropout(x)·Aᵀ·Bᵀ` for `x [.., in]`: `[.., out]`, through rank r.
    pub fn delta<const D: usize>(&self, p: &ParamStore, x: Tensor<D>, training: bool) -> Tensor<D> {
        let x = if training { apply_dropout(x, self.dropout) } else { x };
        let down = linear(x, p.t2(self.a), None); // [.., r]
        linear(down, p.t2(self.b), None).mul_scalar(self.scale) // [.., out]
    }
}

/// The kinds of linear layer a LoRA target list names, in the body's order. `all`: the kinds
/// the body has (`attention.self.query`, ...). `what` names the setting or file in the error for
/// a target that matches nothing.
pub fn target_kinds(all: &[&'static str], targets: &[String], what: &str) -> Result<Vec<&'static str>> {
    if all.is_empty() {
        return Err(Error::config(format!("{what}: LoRA adapts attention and feed-forward layers, and this model has none: train it fully, or the head only")));
    }
    let mut kinds = Vec::new();
    for t in targets {
        // PEFT's list semantics: the full module name (`encoder.layer.0.{kind}`) equals the
        // target or ends with `.target`.
        let named = |t: &str| -> Vec<&'static str> { all.iter().copied().filter(|k| *k == t || k.ends_with(&format!(".{t}"))).collect() };
        let mut matched: Vec<&'static str> = if t == "all-linear" { all.to_vec() } else { named(t) };
        if matched.is_empty() {
            // The default targets (query, value) name the projections of any attention, as
            // other families call them (DistilBERT's q_lin, v_lin; MPNet's q, v; q_proj, v_proj).
            let aliases: &[&str] = match t.as_str() {
                "query" => &["q_lin", "q_proj", "q"],
                "key" => &["k_lin", "k_proj", "k"],
                "value" => &["v_lin", "v_proj", "v"],
                _ => &[],
            };
            matched = aliases.iter().flat_map(|a| named(a)).collect();
        }
        if matched.is_empty() {
            return Err(Error::config(format!(
                "{what}: target module '{t}' matches no linear layer of the encoder (they are {}, or all-linear)",
                all.join(", ")
            )));
        }
        kinds.extend(matched);
    }
    Ok(all.iter().copied().filter(|k| kinds.contains(k)).collect())
}

/// The kinds of linear layer a body lets LoRA adapt, in order, each once.
pub fn body_kinds(body: &mut dyn Body) -> Vec<&'static str> {
    layer_kinds(&body.adaptable())
}

/// The target list written to `adapter_config.json`: the full sub-module names, so PEFT's
/// suffix matching wraps exactly the layers edgetune adapted (no pooler or classifier).
pub fn peft_targets(model: &Classifier, spec: &LoraSpec) -> Result<Vec<String>> {
    let mut body = model.body.clone();
    let kinds = target_kinds(&body_kinds(body.as_mut()), &spec.target_modules, "lora.target_modules")?;
    Ok(kinds.into_iter().map(|k| model.body.peft_target(k).to_string()).collect())
}

/// A target list with PEFT's names for this body (`q_proj` for a ViT's query: see
/// [`Body::peft_key`]) put back in edgetune's kinds; other names are kept as they are.
fn own_targets(body: &mut dyn Body, targets: &[String]) -> Vec<String> {
    let kinds = body_kinds(body);
    targets
        .iter()
        .map(|t| {
            let peft = |k: &&&'static str| body.peft_target(k) != **k && (body.peft_target(k) == t || body.peft_target(k).ends_with(&format!(".{t}")));
            kinds.iter().find(peft).map_or(t.clone(), |k| k.to_string())
        })
        .collect()
}

/// Adds fresh adapters (A kaiming-uniform as PEFT, B zero: the model starts as the base) to the
/// targeted layers. `what` names the source of `spec` in errors.
pub fn attach(model: &mut Classifier, spec: &LoraSpec, seed: u64, what: &str) -> Result<()> {
    spec.validate()?;
    let targets = own_targets(model.body.as_mut(), &spec.target_modules);
    let kinds = target_kinds(&body_kinds(model.body.as_mut()), &targets, what)?;
    let device = model.device.clone();
    attach_layers(&mut model.params, model.body.adaptable(), &kinds, spec, seed, &device)?;
    model.lora = Some(spec.clone());
    Ok(())
}

/// The kinds of linear layer among `layers`, in order, each once.
pub fn layer_kinds(layers: &[Adaptable]) -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = Vec::new();
    for a in layers {
        if !kinds.contains(&a.kind) {
            kinds.push(a.kind);
        }
    }
    kinds
}

/// Fresh adapters on the `layers` of the given `kinds` (any model face: a classifier's body, a
/// decoder), their A and B added to `params` in the adapter group.
pub fn attach_layers(params: &mut ParamStore, layers: Vec<Adaptable>, kinds: &[&str], spec: &LoraSpec, seed: u64, device: &Device) -> Result<()> {
    let mut rng = Rng::derive(seed, "lora-init");
    let r = spec.r;
    for layer in layers {
        if !kinds.contains(&layer.kind) {
            continue;
        }
        let (name, out, inp) = (&layer.module, layer.out, layer.inp);
        // kaiming_uniform_(a=√5) on a [r, in] weight: bound = 1/√in.
        let bound = 1.0 / (inp as f64).sqrt();
        let a_init: Vec<f32> = (0..r * inp).map(|_| ((rng.unit_f64() * 2.0 - 1.0) * bound) as f32).collect();
        let a = params.insert(&format!("{name}.lora_A.weight"), &[r, inp], a_init, true, Group::Adapter, device)?;
        let b = params.insert(&format!("{name}.lora_B.weight"), &[out, r], vec![0.0; out * r], true, Group::Adapter, device)?;
        layer.dense.lora = Some(Lora { a, b, scale: spec.scale(), dropout: spec.dropout });
    }
    Ok(())
}

/// Folds each layer's adapter into its base weight (`W + scale·B·A`) and drops the adapter
/// parameters; the caller binds its network to the remaining parameters again (ids shifted).
pub fn fold_adapters(p: &mut ParamStore, layers: Vec<Adaptable>) {
    for layer in layers {
        let Some(l) = layer.dense.lora.take() else { continue };
        let w = p.t2(layer.dense.weight); // [in, out]
        let [inp, out] = w.dims();
        let delta = p.t2(l.a).matmul(p.t2(l.b)).mul_scalar(l.scale); // [in, r] @ [r, out] = (B·A)ᵀ
        p.params[layer.dense.weight].value = (w + delta).reshape([inp * out]);
    }
    p.retain(|p| p.group != Group::Adapter);
}

/// A copy of `model` with every adapter folded into its base weight (`W + scale·B·A`) and the
/// adapter parameters dropped: a plain classifier, as PEFT's `merge_and_unload()` gives.
pub fn merged(model: &Classifier) -> Result<Classifier> {
    let mut m = model.clone();
    if m.lora.is_none() {
        return Ok(m);
    }
    fold_adapters(&mut m.params, m.body.adaptable());
    // Ids shifted: bind to the remaining parameters by name again.
    m.body.rebind(&m.params)?;
    m.head.rebind(&m.params)?;
    m.lora = None;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::Dense;

    #[test]
    fn targets_match_like_peft() {
        let all = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense"];
        let t = |v: &[&str]| target_kinds(&all, &v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "lora.target_modules");
        assert_eq!(t(&["value", "query"]).unwrap(), vec!["attention.self.query", "attention.self.value"]);
        // `dense` ends three module names; `output.dense` two (as in PEFT).
        assert_eq!(t(&["dense"]).unwrap(), vec!["attention.output.dense", "intermediate.dense", "output.dense"]);
        assert_eq!(t(&["output.dense"]).unwrap(), vec!["attention.output.dense", "output.dense"]);
        assert_eq!(t(&["all-linear"]).unwrap().len(), 6);
        assert_eq!(
            t(&["query", "q_proj"]).unwrap_err().to_string(),
            "lora.target_modules: target module 'q_proj' matches no linear layer of the encoder (they are attention.self.query, \
             attention.self.key, attention.self.value, attention.output.dense, intermediate.dense, output.dense, or all-linear)"
        );
    }

    /// `x·Wᵀ + b + scale·(x·Aᵀ)·Bᵀ` on small hand-made tensors, against the sum written out.
    #[test]
    fn the_adapter_adds_scale_times_b_a() {
        let dev = crate::device::Device::flex();
        let (out, inp, r, scale) = (3, 4, 2, 1.5);
        let w: Vec<f32> = (0..out * inp).map(|i| i as f32 * 0.1 - 0.5).collect(); // [out, in]
        let bias = vec![0.1, -0.2, 0.3];
        let a: Vec<f32> = (0..r * inp).map(|i| (i as f32 - 3.0) * 0.2).collect(); // [r, in]
        let b: Vec<f32> = (0..out * r).map(|i| 0.3 - i as f32 * 0.1).collect(); // [out, r]
        let x: Vec<f32> = (0..2 * inp).map(|i| (i as f32 * 0.7).sin()).collect(); // [2, in]
        let mut p = ParamStore::default();
        let weight = p.insert("l.weight", &[out, inp], w.clone(), true, Group::Body, &dev).unwrap();
        let bias_id = p.insert("l.bias", &[out], bias.clone(), false, Group::Body, &dev).unwrap();
        let a_id = p.insert("l.lora_A.weight", &[r, inp], a.clone(), true, Group::Adapter, &dev).unwrap();
        let b_id = p.insert("l.lora_B.weight", &[out, r], b.clone(), true, Group::Adapter, &dev).unwrap();
        let dense = Dense { weight, bias: Some(bias_id), lora: Some(Lora { a: a_id, b: b_id, scale, dropout: 0.5 }) };
        let xt = Tensor::<2>::from_data(burn::tensor::TensorData::new(x.clone(), [2, inp]), &dev);
        let y = crate::device::block_on(crate::device::read_f32(dense.forward(&p, xt), "y")).unwrap();
        for n in 0..2 {
            let xn = &x[n * inp..(n + 1) * inp];
            let ax: Vec<f64> = (0..r).map(|k| (0..inp).map(|i| a[k * inp + i] as f64 * xn[i] as f64).sum()).collect();
            for o in 0..out {
                let base: f64 = (0..inp).map(|i| w[o * inp + i] as f64 * xn[i] as f64).sum::<f64>() + bias[o] as f64;
                let delta: f64 = (0..r).map(|k| b[o * r + k] as f64 * ax[k]).sum();
                let want = base + scale * delta;
                assert!((y[n * out + o] as f64 - want).abs() < 1e-5, "y[{n}][{o}] = {} vs {want}", y[n * out + o]);
            }
        }
    }

    #[test]
    fn scale_and_validation() {
        let s = LoraSpec::default();
        assert_eq!(s.scale(), 2.0);
        assert_eq!(LoraSpec { use_rslora: true, r: 16, ..s.clone() }.scale(), 4.0);
        let e = LoraSpec { r: 0, ..s.clone() }.validate().unwrap_err().to_string();
        assert_eq!(e, "lora.r is 0, expected a rank of at least 1");
        let e = LoraSpec { dropout: 1.0, ..s }.validate().unwrap_err().to_string();
        assert_eq!(e, "lora.dropout is 1, expected a probability in [0, 1)");
    }
}
