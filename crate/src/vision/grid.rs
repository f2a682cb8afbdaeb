//! A contact sheet of images as one PNG, so a person can see what augmentation does before
//! training on it (`edgetune preview-augment`, and the page's preview).

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::pixels::decode;

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
