//! The two kinds of model edgetune fine-tunes, behind one type: the training loop, evaluation,
//! checkpoints and export take a [`Classifier`] and ask it only for what every kind has.

use super::classifier::{Task, TextClassifier};
use super::image::ImageClassifier;
use super::params::ParamStore;
use crate::device::Device;
use serde::{Deserialize, Serialize};

/// What a model reads: text (a BERT encoder + tokenizer) or images (a ResNet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Text,
    Image,
}

/// A loaded model of either kind, ready for training, evaluation or prediction.
#[derive(Clone, Debug)]
pub enum Classifier {
    Text(TextClassifier),
    Image(ImageClassifier),
}

impl From<TextClassifier> for Classifier {
    fn from(m: TextClassifier) -> Self {
        Classifier::Text(m)
    }
}

impl From<ImageClassifier> for Classifier {
    fn from(m: ImageClassifier) -> Self {
        Classifier::Image(m)
    }
}

impl Classifier {
    pub fn kind(&self) -> ModelKind {
        match self {
            Classifier::Text(_) => ModelKind::Text,
            Classifier::Image(_) => ModelKind::Image,
        }
    }

    pub fn params(&self) -> &ParamStore {
        match self {
            Classifier::Text(m) => &m.params,
            Classifier::Image(m) => &m.params,
        }
    }

    pub fn params_mut(&mut self) -> &mut ParamStore {
        match self {
            Classifier::Text(m) => &mut m.params,
            Classifier::Image(m) => &mut m.params,
        }
    }

    /// Class names in output order; empty for regression.
    pub fn labels(&self) -> &[String] {
        match self {
            Classifier::Text(m) => &m.labels,
            Classifier::Image(m) => &m.labels,
        }
    }

    pub fn task(&self) -> Task {
        match self {
            Classifier::Text(m) => m.task,
            Classifier::Image(m) => m.task,
        }
    }

    /// Multi-label: the probability from which a tag is predicted.
    pub fn threshold(&self) -> f64 {
        match self {
            Classifier::Text(m) => m.threshold,
            Classifier::Image(m) => m.threshold,
        }
    }

    pub fn set_threshold(&mut self, threshold: f64) {
        match self {
            Classifier::Text(m) => m.threshold = threshold,
            Classifier::Image(m) => m.threshold = threshold,
        }
    }

    pub fn device(&self) -> &Device {
        match self {
            Classifier::Text(m) => &m.device,
            Classifier::Image(m) => &m.device,
        }
    }

    /// Number of outputs of the head.
    pub fn num_outputs(&self) -> usize {
        match self.task() {
            Task::Classification | Task::MultiLabel => self.labels().len(),
            Task::Regression => 1,
        }
    }

    /// Width of the vector the body hands the head (BERT's hidden size, a ResNet's last
    /// channel count): what the head-only fast path caches per example.
    pub fn feature_dim(&self) -> usize {
        match self {
            Classifier::Text(m) => m.config.hidden_size,
            Classifier::Image(m) => m.config.num_features(),
        }
    }

    pub fn as_text(&self) -> Option<&TextClassifier> {
        match self {
            Classifier::Text(m) => Some(m),
            Classifier::Image(_) => None,
        }
    }

    pub fn as_image(&self) -> Option<&ImageClassifier> {
        match self {
            Classifier::Image(m) => Some(m),
            Classifier::Text(_) => None,
        }
    }
}
