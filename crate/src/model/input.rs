//! What a model reads and how its input is prepared: a tokenizer for text models, the side,
//! fit and normalisation for image models. Shared by every family of a kind.

use super::face::{Batch, ModelKind};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tokenize::Tokenizer;
use crate::vision::Fit;
use burn::tensor::{Int, Tensor, TensorData};
use serde_json::{json, Map, Value};

/// ImageNet statistics, what torchvision's models (and most image checkpoints) expect.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// An image model's input: a square of `size` pixels, normalised per channel.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageInput {
    pub size: usize,
    /// Resize the short side to `size` and take the middle square (torchvision's `Resize(size)`
    /// + `CenterCrop(size)`, see [`Fit::CenterCrop`]) rather than resize the whole image.
    pub center_crop: bool,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// The model reads images of `size` only (a ViT's position embeddings are for one grid of
    /// patches): a run may not choose another size.
    pub fixed_size: bool,
    /// The checkpoint's `preprocessor_config.json` (a transformers image processor's), written
    /// back on export with this input's size and normalisation; None for torchvision models.
    pub processor: Option<Map<String, Value>>,
}

impl ImageInput {
    /// An input of `size` pixels normalised by `mean` and `std`, any size a run chooses.
    pub fn new(size: usize, center_crop: bool, mean: [f32; 3], std: [f32; 3]) -> ImageInput {
        ImageInput { size, center_crop, mean, std, fixed_size: false, processor: None }
    }

    /// This input as a run trains it: the run's image size and fit over the model's own (the
    /// trained model then keeps them: its checkpoints and exports say what it was trained on).
    /// A model that reads one size only refuses another.
    pub fn for_run(&self, size: Option<usize>, fit: Option<Fit>) -> Result<ImageInput> {
        if let Some(s) = size.filter(|&s| self.fixed_size && s != self.size) {
            return Err(Error::config(format!(
                "image_size is {s}, but this model reads {0}×{0} images only (its position embeddings are for that size): leave image_size out",
                self.size
            )));
        }
        Ok(ImageInput { size: size.unwrap_or(self.size), center_crop: fit.map_or(self.center_crop, |f| f == Fit::CenterCrop), ..self.clone() })
    }

    /// How images are brought to the input size unless the run says otherwise.
    pub fn fit(&self) -> Fit {
        if self.center_crop { Fit::CenterCrop } else { Fit::Resize }
    }

    /// The normalised input `[n, 3, size, size]` from images as CHW values in 0..1.
    pub fn pixels(&self, images: &[Vec<f32>], device: &Device) -> Tensor<4> {
        let s = self.size;
        let plane = s * s;
        let mut x = Vec::with_capacity(images.len() * 3 * plane);
        for img in images {
            for c in 0..3 {
                let (m, sd) = (self.mean[c], self.std[c]);
                x.extend(img[c * plane..(c + 1) * plane].iter().map(|v| (v - m) / sd));
            }
        }
        Tensor::<4>::from_data(TensorData::new(x, [images.len(), 3, s, s]), device)
    }

    /// `preprocessor_config.json` for an export, when the model came with one: the original
    /// with this input's size, crop and normalisation (pixels in 0..1 from 0..255: rescale 1/255).
    pub fn export_files(&self) -> Vec<(String, Vec<u8>)> {
        let Some(p) = &self.processor else { return Vec::new() };
        let mut p = p.clone();
        let square = json!({ "height": self.size, "width": self.size });
        if self.center_crop {
            // The short side to size, then the middle square (what edgetune trained on).
            p.insert("size".into(), json!({ "shortest_edge": self.size }));
            p.insert("crop_size".into(), square);
        } else {
            p.insert("size".into(), square);
            p.remove("crop_size");
        }
        for (key, value) in [
            ("do_resize", json!(true)),
            ("do_center_crop", json!(self.center_crop)),
            ("do_rescale", json!(true)),
            ("rescale_factor", json!(1.0 / 255.0)),
            ("do_normalize", json!(true)),
            ("image_mean", json!(self.mean)),
            ("image_std", json!(self.std)),
        ] {
            p.insert(key.into(), value);
        }
        serde_json::to_vec_pretty(&Value::Object(p)).map_or(Vec::new(), |b| vec![("preprocessor_config.json".to_string(), b)])
    }

    /// The preprocessing fields of an exported `config.json`.
    pub fn to_json_fields(&self) -> Map<String, Value> {
        Map::from_iter([
            ("image_size".to_string(), json!(self.size)),
            ("center_crop".to_string(), json!(self.center_crop)),
            ("image_mean".to_string(), json!(self.mean)),
            ("image_std".to_string(), json!(self.std)),
        ])
    }
}

/// A model's input side.
#[derive(Clone, Debug)]
pub enum Input {
    Text(Tokenizer),
    Image(ImageInput),
}

impl Input {
    pub fn kind(&self) -> ModelKind {
        match self {
            Input::Text(_) => ModelKind::Text,
            Input::Image(_) => ModelKind::Image,
        }
    }

    pub fn tokenizer(&self) -> Option<&Tokenizer> {
        match self {
            Input::Text(t) => Some(t),
            Input::Image(_) => None,
        }
    }

    pub fn image(&self) -> Option<&ImageInput> {
        match self {
            Input::Image(i) => Some(i),
            Input::Text(_) => None,
        }
    }
}

/// Token id rows of different lengths as one batch: ids `[batch, max_len]` padded with `pad`,
/// and the attention mask (1 for real tokens).
pub fn token_batch(rows: &[&[u32]], pad: u32, device: &Device) -> Batch {
    let len = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
    let mut ids = Vec::with_capacity(rows.len() * len);
    let mut mask = Vec::with_capacity(rows.len() * len);
    for r in rows {
        ids.extend(r.iter().map(|&t| t as i64));
        ids.extend(std::iter::repeat_n(pad as i64, len - r.len()));
        mask.extend(std::iter::repeat_n(1.0f32, r.len()));
        mask.extend(std::iter::repeat_n(0.0f32, len - r.len()));
    }
    let n = rows.len();
    Batch::Tokens {
        ids: Tensor::<2, Int>::from_data(TensorData::new(ids, [n, len]), device),
        mask: Tensor::<2>::from_data(TensorData::new(mask, [n, len]), device),
    }
}
