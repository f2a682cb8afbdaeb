//! A transformers image processor's `preprocessor_config.json` (ViT's, and the other Hugging Face
//! image models'): the input size, whether images are center-cropped, and the normalisation,
//! read into an [`ImageInput`]. edgetune decodes images to RGB values in 0..1, so the processor's
//! rescaling (`rescale_factor`, 1/255 for 0..255 pixels) is folded into the mean and std.
//! Hand-written: transformers' processors are Python; this reads the handful of fields they share.

use crate::error::{Error, Result};
use crate::model::input::ImageInput;
use serde_json::{Map, Value};

/// transformers' `IMAGENET_STANDARD_MEAN` / `_STD`: what `ViTImageProcessor` uses by default.
const STANDARD: [f32; 3] = [0.5, 0.5, 0.5];

/// The side of a square `size` (an integer, `{"height", "width"}` or `{"shortest_edge"}`).
fn side(v: &Value, key: &str, file: &str) -> Result<usize> {
    let bad = || Error::model(file, format!("'{key}' is {v}, expected a square size: an integer, {{\"height\": n, \"width\": n}} or {{\"shortest_edge\": n}}"));
    let int = |x: Option<&Value>| x.and_then(Value::as_u64).map(|n| n as usize);
    let n = match v {
        Value::Number(_) => int(Some(v)),
        Value::Object(m) => match (int(m.get("height")), int(m.get("width")), int(m.get("shortest_edge"))) {
            (Some(h), Some(w), _) if h == w => Some(h),
            (Some(h), Some(w), _) => {
                return Err(Error::model(file, format!("'{key}' is {h}×{w}: edgetune trains on square images, expected height = width")));
            }
            (None, None, Some(s)) => Some(s),
            _ => None,
        },
        _ => None,
    };
    n.filter(|&n| (8..=4096).contains(&n)).ok_or_else(bad)
}

/// Three per-channel values (`image_mean`, `image_std`); a single number means all three.
fn channels(m: &Map<String, Value>, key: &str, default: [f32; 3], file: &str) -> Result<[f32; 3]> {
    let Some(v) = m.get(key).filter(|v| !v.is_null()) else { return Ok(default) };
    let bad = || Error::model(file, format!("'{key}' is {v}, expected 3 numbers (red, green, blue)"));
    let nums: Vec<f32> = match v {
        Value::Number(n) => vec![n.as_f64().ok_or_else(bad)? as f32; 3],
        Value::Array(a) => a.iter().map(|x| x.as_f64().map(|x| x as f32)).collect::<Option<_>>().ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    let out: [f32; 3] = nums.try_into().map_err(|_| bad())?;
    if out.iter().any(|x| !x.is_finite()) {
        return Err(bad());
    }
    Ok(out)
}

/// The input a `preprocessor_config.json` describes (`file` names it in errors). The original
/// JSON is kept in [`ImageInput::processor`] so an export writes it back.
pub fn read(bytes: &[u8], file: &str) -> Result<ImageInput> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Error::model(file, format!("not valid JSON: {e}")))?;
    let Value::Object(m) = v else { return Err(Error::model(file, "expected a JSON object")) };
    let flag = |key: &str, default: bool| m.get(key).and_then(Value::as_bool).unwrap_or(default);
    let crop = flag("do_center_crop", false);
    let size = match (crop, m.get("crop_size"), m.get("size")) {
        (true, Some(c), _) => side(c, "crop_size", file)?,
        (_, _, Some(s)) => side(s, "size", file)?,
        _ => return Err(Error::model(file, "no 'size': expected the input size the model was trained on")),
    };
    let (mut mean, mut std) = if flag("do_normalize", true) {
        (channels(&m, "image_mean", STANDARD, file)?, channels(&m, "image_std", STANDARD, file)?)
    } else {
        ([0.0; 3], [1.0; 3])
    };
    // The model saw `(x · 255 · rescale - mean) / std` for 0..1 pixels x: the same as
    // `(x - mean / k) / (std / k)` with k = 255 · rescale (1 for the usual 1/255).
    let rescale = if flag("do_rescale", true) { m.get("rescale_factor").and_then(Value::as_f64).unwrap_or(1.0 / 255.0) } else { 1.0 };
    let k = (255.0 * rescale) as f32;
    if !(k.is_finite() && k > 0.0) {
        return Err(Error::model(file, format!("rescale_factor is {rescale}, expected a positive number (1/255 for 8-bit pixels)")));
    }
    for c in 0..3 {
        (mean[c], std[c]) = (mean[c] / k, std[c] / k);
    }
    if std.iter().any(|&s| s <= 0.0) {
        return Err(Error::model(file, format!("image_std is {std:?}, expected positive values")));
    }
    let mut input = ImageInput::new(size, crop, mean, std);
    input.processor = Some(m);
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vit_processor() {
        let json = br#"{"do_normalize": true, "do_rescale": true, "do_resize": true, "image_mean": [0.5, 0.5, 0.5],
            "image_processor_type": "ViTImageProcessor", "image_std": [0.5, 0.5, 0.5], "resample": 2,
            "rescale_factor": 0.00392156862745098, "size": {"height": 224, "width": 224}}"#;
        let i = read(json, "preprocessor_config.json").unwrap();
        assert_eq!((i.size, i.center_crop), (224, false));
        assert!((i.mean[0] - 0.5).abs() < 1e-6 && (i.std[2] - 0.5).abs() < 1e-6);
        // What the export writes back reads the same.
        let (_, bytes) = i.export_files().pop().unwrap();
        let again = read(&bytes, "export").unwrap();
        assert_eq!((again.size, again.center_crop, again.mean, again.std), (i.size, i.center_crop, i.mean, i.std));
    }

    #[test]
    fn crop_rescale_and_errors() {
        let i = read(br#"{"do_center_crop": true, "crop_size": 224, "size": {"shortest_edge": 256}, "do_rescale": false,
            "image_mean": [123.675, 116.28, 103.53], "image_std": [58.395, 57.12, 57.375]}"#, "p.json").unwrap();
        assert_eq!((i.size, i.center_crop), (224, true));
        assert!((i.mean[0] - 0.485).abs() < 1e-5 && (i.std[0] - 0.229).abs() < 1e-5);
        let err = |j: &str| read(j.as_bytes(), "p.json").unwrap_err().to_string();
        assert!(err(r#"{"size": {"height": 224, "width": 160}}"#).contains("224×160"), "{}", err(r#"{"size": {"height": 224, "width": 160}}"#));
        assert!(err(r#"{"do_resize": true}"#).contains("no 'size'"));
        assert!(err(r#"{"size": 224, "image_mean": [0.5, 0.5]}"#).contains("expected 3 numbers"));
        assert!(err(r#"{"size": 224, "image_std": [0.5, 0.0, 0.5]}"#).contains("positive"));
        assert!(err("[1]").contains("JSON object"));
    }
}
