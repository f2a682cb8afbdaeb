//! A contact sheet of images as one PNG, so a person can see what augmentation does before
//! training on it (`edgetune preview-augment`, and the page's preview).

use super::augment::{augment, to_unit, Augment};
use crate::data::Example;
use crate::rng::Rng;
use image::{ExtendedColorType, ImageEncoder};

/// Width of the white lines between images, in output pixels.
const GAP: usize = 2;

/// PNG bytes of `images` (each CHW `[3, size, size]`, values 0..1) in rows of `cols`, each
/// enlarged `upscale` times (nearest neighbour, so single pixels stay visible) and separated by
/// 2-pixel white lines. No images gives a 1×1 white PNG.
pub fn grid_png(images: &[Vec<f32>], size: usize, cols: usize, upscale: usize) -> Vec<u8> {
    let (cols, up) = (cols.max(1).min(images.len().max(1)), upscale.max(1));
    let rows = images.len().div_ceil(cols);
    let cell = size * up;
    let (width, height) = match rows {
        0 => (1, 1),
        _ => ((cols * cell + (cols - 1) * GAP).max(1), (rows * cell + (rows - 1) * GAP).max(1)),
    };
    let mut rgb = vec![255u8; 3 * width * height];
    let plane = size * size;
    for (k, img) in images.iter().enumerate() {
        let (x0, y0) = ((k % cols) * (cell + GAP), (k / cols) * (cell + GAP));
        for y in 0..cell {
            for x in 0..cell {
                let src = (y / up) * size + x / up;
                let dst = 3 * ((y0 + y) * width + x0 + x);
                for c in 0..3 {
                    let v = img.get(c * plane + src).copied().unwrap_or(0.0);
                    rgb[dst + c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
    }
    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut png);
    // Only a zero or overflowing dimension can fail, and both are ruled out above.
    match encoder.write_image(&rgb, width as u32, height as u32, ExtendedColorType::Rgb8) {
        Ok(()) => png,
        Err(_) => Vec::new(),
    }
}

/// What an augmentation preview shows: `rows` images, each as loaded then `variants` augmented
/// copies, every pixel `zoom` times larger; `seed` picks the variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreviewSpec {
    pub rows: usize,
    pub variants: usize,
    pub zoom: usize,
    pub seed: u64,
}

impl Default for PreviewSpec {
    fn default() -> Self {
        PreviewSpec { rows: 8, variants: 7, zoom: 3, seed: 42 }
    }
}

/// The preview grid of `examples` (CHW pixels at `size`): rows spread over the examples, which
/// come in class order, so that every class shows up. Examples without pixels are passed over;
/// none at all gives the 1×1 white PNG of an empty grid.
pub fn augment_grid(examples: &[Example], size: usize, aug: &Augment, spec: &PreviewSpec) -> Vec<u8> {
    let pictures: Vec<&[u8]> = examples.iter().filter_map(|e| e.image.as_deref().map(Vec::as_slice)).filter(|p| p.len() == 3 * size * size).collect();
    let rows = spec.rows.max(1).min(pictures.len());
    let mut images = Vec::with_capacity(rows * (spec.variants + 1));
    for r in 0..rows {
        let pixels = pictures[r * pictures.len() / rows];
        images.push(to_unit(pixels));
        for v in 0..spec.variants {
            let mut rng = Rng::derive(spec.seed, &format!("preview-{r}-{v}"));
            images.push(augment(pixels, size, aug, &mut rng));
        }
    }
    grid_png(&images, size, spec.variants + 1, spec.zoom.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::pixels::decode;
    use std::sync::Arc;

    #[test]
    fn augment_grid_shows_each_image_then_its_variants() {
        // Two 4×4 images: a black one with a white centre, then a white one; three variants each.
        let mut dot = vec![0u8; 48];
        for c in 0..3 {
            for (y, x) in [(1, 1), (1, 2), (2, 1), (2, 2)] {
                dot[c * 16 + y * 4 + x] = 255;
            }
        }
        let example = |pixels: Vec<u8>, label: &str| Example { text: label.into(), label: label.into(), line: 0, image: Some(Arc::new(pixels)) };
        let examples = [example(dot, "a"), example(vec![255; 48], "b"), Example { image: None, ..example(vec![], "c") }];
        let spec = PreviewSpec { rows: 5, variants: 3, zoom: 2, seed: 7 };
        let png = augment_grid(&examples, 4, &Augment::default(), &spec);
        let p = decode(&png, "grid.png").unwrap();
        // Two rows (the example without pixels is passed over), 1 + 3 columns of 8 px, 2-px gaps.
        assert_eq!((p.width, p.height), (4 * 8 + 3 * 2, 2 * 8 + 2));
        let at = |x: usize, y: usize| p.rgb[3 * (y * p.width + x)];
        // The first cell is the image as loaded: black corner, white centre, upscaled.
        assert_eq!((at(0, 0), at(3, 3), at(4, 4), at(7, 7)), (0, 255, 255, 0));
        // Augmented variants differ from the original and from each other (seeded draws).
        let cell = |k: usize| (0..8).flat_map(|y| (0..8).map(move |x| (k * 10 + x, y))).map(|(x, y)| at(x, y)).collect::<Vec<_>>();
        assert_ne!(cell(0), cell(1));
        assert_ne!(cell(1), cell(2));
        // Same spec, same bytes; another seed, other variants.
        assert_eq!(png, augment_grid(&examples, 4, &Augment::default(), &spec));
        assert_ne!(png, augment_grid(&examples, 4, &Augment::default(), &PreviewSpec { seed: 8, ..spec }));
        // Without augmentation every variant is the original.
        let none = decode(&augment_grid(&examples, 4, &Augment::none(), &spec), "none.png").unwrap();
        let row0 = |x: usize, y: usize| none.rgb[3 * (y * none.width + x)];
        assert!((0..8).all(|y| (0..8).all(|x| row0(x, y) == row0(30 + x, y))));
        // No images: an empty grid, no panic.
        let empty = decode(&augment_grid(&examples[2..], 4, &Augment::default(), &spec), "e.png").unwrap();
        assert_eq!((empty.width, empty.height), (1, 1));
    }

    #[test]
    fn grid_lays_out_upscaled_images_with_gaps() {
        // Three 2×2 images: black, red, a grey ramp; two per row, 3× larger.
        let black = vec![0.0; 12];
        let red = [vec![1.0; 4], vec![0.0; 8]].concat();
        let ramp: Vec<f32> = (0..12).map(|i| (i % 4) as f32 / 3.0).collect();
        let png = grid_png(&[black, red, ramp], 2, 2, 3);
        let p = decode(&png, "grid.png").unwrap();
        assert_eq!((p.width, p.height), (2 * 6 + 2, 2 * 6 + 2));
        let at = |x: usize, y: usize| &p.rgb[3 * (y * p.width + x)..][..3];
        assert_eq!(at(0, 0), [0, 0, 0]);
        assert_eq!(at(5, 5), [0, 0, 0]);
        assert_eq!(at(6, 0), [255, 255, 255]); // gap
        assert_eq!(at(8, 0), [255, 0, 0]);
        assert_eq!(at(13, 5), [255, 0, 0]);
        assert_eq!(at(0, 8), [0, 0, 0]); // ramp pixel (0, 0)
        assert_eq!(at(3, 13), [255, 255, 255]); // ramp pixel (1, 1)
        assert_eq!(at(10, 10), [255, 255, 255]); // the empty fourth cell
        let empty = decode(&grid_png(&[], 32, 4, 2), "e.png").unwrap();
        assert_eq!((empty.width, empty.height), (1, 1));
    }
}
