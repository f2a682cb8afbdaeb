//! Images in: from a user's files to the `[3, size, size]` inputs an image classifier trains on.
//!
//! The path is `read_folder` / `read_zip` / `read_csv` / `from_entries` (a labelled collection:
//! one folder per class, or a list) → `clean_images` (decode any PNG, JPEG, WebP, BMP or GIF, fit
//! it to the model's size exactly as Pillow + torchvision would, drop duplicates, with a
//! [`DataReport`](crate::data::DataReport)) → per training step `augment` (or `to_unit` for
//! evaluation). `augment_grid` (a `grid_png`) shows what augmentation does. Resizing matches
//! Pillow to the last bit (tests/golden/make_preprocess_golden.py), so a model fine-tuned here
//! sees what it would see in a PyTorch pipeline.

pub mod augment;
pub mod clean;
pub mod dataset;
// The page hands over bytes (`from_entries`, `read_zip`); only the native runner reads disks.
pub mod disk;
pub mod grid;
pub mod pixels;
pub mod resize;

pub use augment::{augment, to_unit, Augment};
pub use clean::clean_images;
pub use dataset::{check_classes, from_entries, read_zip, ImageFile, Skipped};
pub use disk::{read_csv, read_csv_with, read_folder};
pub use grid::{augment_grid, grid_png, PreviewSpec};
pub use pixels::{decode, Pixels};
pub use resize::{resize_bilinear, to_input, Fit};

/// Parity with Pillow + torchvision on the images of tests/golden (regenerate them with
/// `tests/golden/make_preprocess_golden.py`), and the real digits beside the repository.
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden");

    fn u8s(v: &Value) -> Vec<u8> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u8).collect()
    }

    fn max_diff(a: &[u8], b: &[u8]) -> u8 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
    }

    fn mean_diff(a: &[u8], b: &[u8]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as f64).sum::<f64>() / a.len().max(1) as f64
    }

    /// CHW → HWC, the layout Pillow's arrays have.
    fn hwc(chw: &[u8], size: usize) -> Vec<u8> {
        let plane = size * size;
        (0..plane).flat_map(|i| [chw[i], chw[plane + i], chw[2 * plane + i]]).collect()
    }

    #[test]
    fn pillow_parity() {
        let text = std::fs::read_to_string(format!("{GOLDEN}/preprocess.json")).unwrap();
        let golden: Value = serde_json::from_str(&text).unwrap();
        let size = golden["size"].as_u64().unwrap() as usize;
        for g in golden["images"].as_array().unwrap() {
            let file = g["file"].as_str().unwrap();
            let bytes = std::fs::read(format!("{GOLDEN}/images/{file}")).unwrap();
            let img = decode(&bytes, file).unwrap();
            assert_eq!(
                (img.width as u64, img.height as u64),
                (g["width"].as_u64().unwrap(), g["height"].as_u64().unwrap())
            );
            // Lossless formats decode to exactly Pillow's pixels, so every resize must match
            // exactly. A JPEG with subsampled colour (4:2:0, the usual) decodes up to a few levels
            // apart in a quarter of the values: zune-jpeg and libjpeg-turbo upsample the colour
            // planes with different rounding, a bias of about +0.3 / -0.2 / +0.4 levels in R / G / B
            // that resizing cannot average away (4:4:4 and greyscale JPEGs agree within 1-2
            // levels in under 1 % of the values). Bounded here, and printed.
            let lossless = !file.ends_with(".jpg");
            let decoded =
                if g["decoded"].is_null() { 0 } else { max_diff(&img.rgb, &u8s(&g["decoded"])) };
            let ours = hwc(&to_input(&img, size, Fit::Resize), size);
            let (resize, mean) =
                (max_diff(&ours, &u8s(&g["resize"])), mean_diff(&ours, &u8s(&g["resize"])));
            let crop = max_diff(
                &hwc(&to_input(&img, size, Fit::CenterCrop), size),
                &u8s(&g["center_crop"]),
            );
            let mut others = 0;
            for r in g["resizes"].as_array().unwrap() {
                let (w, h) =
                    (r["width"].as_u64().unwrap() as usize, r["height"].as_u64().unwrap() as usize);
                others = others.max(max_diff(&resize_bilinear(&img, w, h).rgb, &u8s(&r["rgb"])));
            }
            println!(
                "{file}: max |Δ| decode {decoded}, resize {resize} (mean {mean:.4}), \
                 resize+center-crop {crop}, other sizes {others}"
            );
            if lossless {
                assert_eq!((decoded, resize, crop, others), (0, 0, 0, 0), "{file}");
            } else {
                assert!(resize <= 2 && crop <= 2 && mean < 0.5, "{file}");
            }
        }
    }

    #[test]
    fn real_digits_decode_and_resize() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/digits/images/3");
        let Ok(list) = std::fs::read_dir(dir) else {
            println!("skipped: {dir} is not there");
            return;
        };
        let mut n = 0;
        for entry in list {
            let path = entry.unwrap().path();
            let img = decode(&std::fs::read(&path).unwrap(), &path.display().to_string()).unwrap();
            assert_eq!((img.width, img.height), (8, 8));
            let chw = to_input(&img, 32, Fit::Resize);
            assert_eq!(chw.len(), 3 * 32 * 32);
            assert!(chw.iter().any(|&v| v > 128) && chw[..1024] == chw[1024..2048]);
            n += 1;
        }
        assert_eq!(n, 183);
        let (files, skipped) =
            disk::read_folder(std::path::Path::new(dir).parent().unwrap()).unwrap();
        let (examples, report) = clean_images("digits", files, skipped, 32, Fit::Resize);
        println!("{report}");
        assert_eq!((report.rows, report.classes.len()), (1797, 10));
        assert_eq!(report.classes[3].0, "3");
        assert_eq!(examples.len() + report.duplicates_removed, 1797);
    }
}
