//! The classifier head every family shares: an optional pooler (a dense layer with tanh on the
//! first token, as `BertForSequenceClassification` pools) and a linear classifier, with their
//! initialisation, and how a saved head serves a run's classes.

use super::layers::{dropout, Dense};
use super::params::{Group, ParamStore};
use super::task::{Task, DEFAULT_THRESHOLD};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::weights::SafeTensors;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// How token states become one vector per text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over real tokens: what sentence-transformers models are trained for.
    #[default]
    Mean,
    /// The [CLS] token through `pooler.dense` + tanh: exactly `BertForSequenceClassification`.
    Cls,
}

/// The activation after the pooler: tanh (BERT's pooler, RoBERTa's classifier.dense) or ReLU
/// (DistilBERT's pre_classifier).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PoolerAct {
    #[default]
    Tanh,
    Relu,
}

/// Parameter ids of the pooling and the classifier head, and the head's names in the store
/// (`classifier`, `linear`, `fc`: the checkpoint's own).
#[derive(Clone, Debug)]
pub struct Head {
    pub pooling: Pooling,
    pub pooler: Option<Dense>,
    pub classifier: Dense,
    /// Store name of the classifier layer (its parameters are `{name}.weight`, `{name}.bias`).
    pub name: String,
    /// Store name of the pooler, when there is one.
    pub pooler_name: Option<String>,
    pub pooler_act: PoolerAct,
}

impl Head {
    /// Binds again to the head's parameters in `p` by name (after parameters were removed).
    pub fn rebind(&mut self, p: &ParamStore) -> Result<()> {
        self.classifier = Dense::lookup(p, &self.name)?;
        if let Some(name) = &self.pooler_name {
            self.pooler = Some(Dense::lookup(p, name)?);
        }
        Ok(())
    }

    /// Logits `[batch, outputs]` from body features `[batch, width]`: pooler (for first-token
    /// pooling), dropout while training, classifier.
    pub fn forward(&self, p: &ParamStore, features: Tensor<2>, hidden_dropout: f64) -> Tensor<2> {
        let pooled = match (self.pooling, self.pooler) {
            (Pooling::Cls, Some(pooler)) => match self.pooler_act {
                PoolerAct::Tanh => pooler.forward(p, features).tanh(),
                PoolerAct::Relu => burn::tensor::activation::relu(pooler.forward(p, features)),
            },
            _ => features,
        };
        let pooled = dropout(pooled, hidden_dropout); // [batch, width]
        self.classifier.forward(p, pooled)
    }
}

/// Draws `n` values from N(0, std²) (Box-Muller on the crate's own generator, so a seed gives the
/// same head on every platform).
pub fn normal_init(n: usize, std: f64, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1 = rng.unit_f64().max(1e-300);
            let u2 = rng.unit_f64();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * std) as f32
        })
        .collect()
}

/// Adds a freshly initialised dense layer `name` (`[out, in]` upstream) to the store, as Hugging
/// Face initialises heads: weights N(0, 0.02²), bias 0.
pub fn init_dense(p: &mut ParamStore, name: &str, out: usize, inp: usize, rng: &mut Rng, device: &Device) -> Result<Dense> {
    let w = p.insert(&format!("{name}.weight"), &[out, inp], normal_init(out * inp, 0.02, rng), true, Group::Head, device)?;
    let b = p.insert(&format!("{name}.bias"), &[out], vec![0.0; out], false, Group::Head, device)?;
    Ok(Dense::new(w, b))
}

/// A head for the classes `labels` from a saved one for `saved` (upstream weights
/// `[saved.len(), inp]` and bias): a class both know keeps its row, a class the saved head lacks
/// gets a fresh one, as [`init_dense`] makes them. Personalising grows a head this way, and a
/// fine-tuned model trained further on overlapping classes keeps what it learned of them.
pub fn remap_head(w: &[f32], b: &[f32], saved: &[String], labels: &[String], inp: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let mut weight = Vec::with_capacity(labels.len() * inp);
    let mut bias = Vec::with_capacity(labels.len());
    for label in labels {
        match saved.iter().position(|s| s == label) {
            Some(i) => {
                weight.extend_from_slice(&w[i * inp..(i + 1) * inp]);
                bias.push(b[i]);
            }
            None => {
                weight.extend(normal_init(inp, 0.02, rng));
                bias.push(0.0);
            }
        }
    }
    (weight, bias)
}

/// How a model's saved head serves the head a run asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadReuse {
    /// The same classes in the same order: loaded as saved.
    Same,
    /// Some classes in common: their rows kept, the others fresh ([`remap_head`]).
    Remap,
    /// Nothing in common (or another task): a fresh head.
    Fresh,
}

impl HeadReuse {
    /// `saved`: whether the file holds a head, and for which task and classes.
    pub fn decide(saved: Option<(Task, &[String])>, task: Task, labels: &[String]) -> HeadReuse {
        match saved {
            Some((t, _)) if t == Task::Regression && task == Task::Regression => HeadReuse::Same,
            Some((t, s)) if t == task && s == labels => HeadReuse::Same,
            Some((t, s)) if t == task && task == Task::Classification && labels.iter().any(|l| s.contains(l)) => HeadReuse::Remap,
            _ => HeadReuse::Fresh,
        }
    }
}

/// The head a training run wants: its task, class names and pooling.
#[derive(Clone, Debug)]
pub struct HeadSpec {
    pub task: Task,
    pub labels: Vec<String>,
    pub pooling: Pooling,
    pub seed: u64,
}

/// Where a family keeps its head, and what the checkpoint says about it.
pub struct SavedHead<'a> {
    /// Store name of the classifier layer (`classifier`, `fc`, `linear`).
    pub classifier: &'a str,
    /// Store name of the pooler and its activation, for families that pool the first token
    /// through one.
    pub pooler: Option<(&'a str, PoolerAct)>,
    /// What `config.json` says: task, classes, pooling, multi-label threshold.
    pub task: Task,
    pub labels: Vec<String>,
    pub pooling: Pooling,
    pub threshold: f64,
    /// The file and key where the checkpoint keeps store layer `name`, if it does.
    pub find: &'a dyn Fn(&str) -> Option<(&'a SafeTensors, String)>,
}

/// A head as loaded for a run (or as saved, without a spec).
pub struct LoadedHead {
    pub head: Head,
    pub task: Task,
    /// Empty for regression.
    pub labels: Vec<String>,
    pub threshold: f64,
}

/// The head of a model, for every family: with `spec`, the head the run asks for (kept when the
/// checkpoint's is for the same classes and features, grown when some classes are shared, else
/// fresh); without, the checkpoint's own, which must exist. `width`: the body's feature width.
pub fn load_head(p: &mut ParamStore, saved: SavedHead, spec: Option<&HeadSpec>, width: usize, source: &str, device: &Device) -> Result<LoadedHead> {
    let find = saved.find;
    let has_classifier = find(saved.classifier).is_some();
    let (task, labels, pooling, reuse) = match spec {
        Some(s) => {
            // A head trained on other features (another pooling) is not reused.
            let same_features = saved.pooler.is_none() || s.pooling == saved.pooling;
            let in_file = (has_classifier && same_features).then_some((saved.task, saved.labels.as_slice()));
            let pooling = if saved.pooler.is_some() { s.pooling } else { Pooling::Mean };
            (s.task, s.labels.clone(), pooling, HeadReuse::decide(in_file, s.task, &s.labels))
        }
        None if has_classifier => (saved.task, saved.labels.clone(), saved.pooling, HeadReuse::Same),
        None => {
            return Err(Error::weights(
                "model.safetensors",
                format!(
                    "{source} has no classifier head (tensor '{}.weight'): it is a pre-trained base model; fine-tune it first with `edgetune train`",
                    saved.classifier
                ),
            ))
        }
    };
    let outputs = if task == Task::Regression { 1 } else { labels.len() };
    if outputs == 0 {
        return Err(Error::model(
            format!("{source}/config.json"),
            "the classifier has no class names (id2label is missing or empty): it is a pre-trained model; fine-tune it first with `edgetune train`",
        ));
    }
    let mut rng = Rng::derive(spec.map_or(0, |s| s.seed), "head-init");
    let layer = |p: &mut ParamStore, rng: &mut Rng, name: &str, rows: usize, at: Option<(&SafeTensors, String)>, remap: Option<&[String]>| -> Result<Dense> {
        let Some((st, key)) = at else { return init_dense(p, name, rows, width, rng, device) };
        let n = remap.map_or(rows, <[String]>::len);
        let w = st.f32(&format!("{key}.weight"), &[n, width])?;
        let b = st.f32(&format!("{key}.bias"), &[n])?;
        let (w, b) = match remap {
            Some(saved) => remap_head(&w, &b, saved, &labels, width, rng),
            None => (w, b),
        };
        let weight = p.insert(&format!("{name}.weight"), &[rows, width], w, true, Group::Head, device)?;
        let bias = p.insert(&format!("{name}.bias"), &[rows], b, false, Group::Head, device)?;
        Ok(Dense::new(weight, bias))
    };
    let pooler = match (pooling, saved.pooler) {
        (Pooling::Cls, Some((name, _))) => Some(layer(p, &mut rng, name, width, find(name), None)?),
        _ => None,
    };
    let name = saved.classifier;
    let classifier = match reuse {
        HeadReuse::Same => layer(p, &mut rng, name, outputs, find(name), None)?,
        HeadReuse::Remap => layer(p, &mut rng, name, outputs, find(name), Some(&saved.labels))?,
        HeadReuse::Fresh => layer(p, &mut rng, name, outputs, None, None)?,
    };
    Ok(LoadedHead {
        head: Head {
            pooling,
            pooler_name: pooler.and(saved.pooler.map(|(n, _)| n.to_string())),
            pooler_act: saved.pooler.map_or(PoolerAct::Tanh, |(_, a)| a),
            pooler,
            classifier,
            name: name.to_string(),
        },
        labels: if task == Task::Regression { Vec::new() } else { labels },
        task,
        // A kept head keeps the threshold chosen for it; a new one starts from the default.
        threshold: if reuse == HeadReuse::Same { saved.threshold } else { DEFAULT_THRESHOLD },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_grown_head_keeps_the_rows_of_known_classes() {
        let saved = names(&["a", "b"]);
        let w = [1.0, 2.0, 3.0, 4.0]; // a: [1, 2], b: [3, 4]
        let b = [0.5, -0.5];
        let mut rng = Rng::new(1);
        let (w2, b2) = remap_head(&w, &b, &saved, &names(&["b", "c", "a"]), 2, &mut rng);
        assert_eq!(&w2[0..2], &[3.0, 4.0]);
        assert_eq!(&w2[4..6], &[1.0, 2.0]);
        assert_eq!((b2[0], b2[1], b2[2]), (-0.5, 0.0, 0.5));
        assert!(w2[2..4].iter().all(|v| v.abs() < 0.2 && *v != 0.0), "{w2:?}");
        let s: &[String] = &saved;
        assert_eq!(HeadReuse::decide(Some((Task::Classification, s)), Task::Classification, &saved), HeadReuse::Same);
        assert_eq!(HeadReuse::decide(Some((Task::Classification, s)), Task::Classification, &names(&["a", "z"])), HeadReuse::Remap);
        assert_eq!(HeadReuse::decide(Some((Task::Classification, s)), Task::Classification, &names(&["y", "z"])), HeadReuse::Fresh);
        assert_eq!(HeadReuse::decide(Some((Task::Regression, &[])), Task::Classification, &saved), HeadReuse::Fresh);
        assert_eq!(HeadReuse::decide(None, Task::Classification, &saved), HeadReuse::Fresh);
    }
}
