//! Random augmentation of training images: small rotations and zooms, shifts (a random crop of
//! the zero-padded image), mirror images, brightness and contrast changes and pixel noise.
//!
//! The geometry (rotation + zoom, crop, flip) is one inverse mapping per output pixel with one
//! bilinear sample, so a 32×32 image costs a few microseconds; everything outside the image is
//! filled with zeros (black), like torchvision's `RandomAffine` (fill 0) and `RandomCrop(padding)`.
//! Each call draws its parameters from the caller's [`Rng`] in a fixed order, so a seed gives the
//! same augmented images natively and in the browser.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// What to vary, and how far. All zero = [`Augment::none`].
///
/// The defaults suit small images such as 32×32 digits or icons: a 2-pixel shift (what the
/// PyTorch reference uses for 32×32 inputs), ±10° rotation, ±10 % zoom, ±20 % brightness and
/// contrast, noise of 2 % of the full range; no mirroring, because mirrored digits or letters are
/// different symbols (turn `hflip` on for photos of objects, animals, scenes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Augment {
    /// Shift by up to this many pixels each way (random crop of the image padded with zeros).
    pub crop_padding: usize,
    /// Mirror left-right with probability 1/2.
    pub hflip: bool,
    /// Rotate by up to this many degrees either way, about the centre.
    pub rotation_deg: f32,
    /// Zoom in or out by up to this fraction (0.1 = 90 % to 110 %).
    pub scale: f32,
    /// Multiply all values by a factor in `1 ± brightness` (torchvision `ColorJitter(brightness)`).
    pub brightness: f32,
    /// Move values toward or away from the image's mean grey by a factor in `1 ± contrast`.
    pub contrast: f32,
    /// Standard deviation of the noise added to each value (values are in 0..1).
    pub noise_std: f32,
}

impl Default for Augment {
    fn default() -> Self {
        Augment {
            crop_padding: 2,
            hflip: false,
            rotation_deg: 10.0,
            scale: 0.1,
            brightness: 0.2,
            contrast: 0.2,
            noise_std: 0.02,
        }
    }
}

impl Augment {
    /// Rejects settings that cannot work, naming the field (as `TrainConfig::validate` does).
    pub fn validate(&self) -> crate::Result<()> {
        let fields = [("rotation_deg", self.rotation_deg, 180.0), ("scale", self.scale, 0.9), ("brightness", self.brightness, 1.0), ("contrast", self.contrast, 1.0), ("noise_std", self.noise_std, 1.0)];
        for (name, v, max) in fields {
            if !(0.0..=max).contains(&v) {
                return Err(crate::Error::config(format!("augment.{name} is {v}, expected a number from 0 to {max}")));
            }
        }
        if self.crop_padding > 64 {
            return Err(crate::Error::config(format!("augment.crop_padding is {}, expected at most 64 pixels", self.crop_padding)));
        }
        Ok(())
    }

    /// No augmentation: `augment` then returns the image as it is (as [`to_unit`] does).
    pub fn none() -> Self {
        Augment {
            crop_padding: 0,
            hflip: false,
            rotation_deg: 0.0,
            scale: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            noise_std: 0.0,
        }
    }
}

/// The image as floats in 0..1 (`x / 255`, bit for bit torchvision's `ToTensor`), unchanged: the
/// evaluation path.
pub fn to_unit(chw: &[u8]) -> Vec<f32> {
    chw.iter().map(|&v| UNIT[v as usize]).collect()
}

/// `v / 255` for every byte: a table is faster than dividing each value.
static UNIT: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut v = 0;
    while v < 256 {
        t[v] = v as f32 / 255.0;
        v += 1;
    }
    t
};

/// A uniform draw in `[-1, 1)`.
fn sym(rng: &mut Rng) -> f32 {
    (rng.unit_f64() * 2.0 - 1.0) as f32
}

/// One randomly augmented copy of `chw` (`[3, size, size]` u8) as CHW floats in 0..1 (not
/// normalised). Draws 7 numbers from `rng`, plus one per pixel when there is noise.
pub fn augment(chw: &[u8], size: usize, aug: &Augment, rng: &mut Rng) -> Vec<f32> {
    let plane = size * size;
    assert_eq!(chw.len(), 3 * plane, "augment: expected a [3, {size}, {size}] image");
    // Every draw is made whatever the settings, so that switching one kind of augmentation off
    // does not change what the others do under the same seed.
    let angle = sym(rng) * aug.rotation_deg.abs().to_radians();
    let zoom = 1.0 + sym(rng) * aug.scale.abs().min(0.9);
    let pad = aug.crop_padding.min(size) as isize;
    let (ox, oy) =
        (rng.below(2 * pad as usize + 1) as isize, rng.below(2 * pad as usize + 1) as isize);
    let flip = rng.unit_f64() < 0.5 && aug.hflip;
    let bright = (1.0 + sym(rng) * aug.brightness.abs()).max(0.0);
    let contrast = (1.0 + sym(rng) * aug.contrast.abs()).max(0.0);

    let mut out = vec![0f32; 3 * plane];
    geometry(chw, size, &mut out, angle, zoom, (ox - pad, oy - pad), flip);

    // Brightness (clamped, as torchvision clamps after each step), then contrast around the mean
    // of the image's grey (ITU-R 601 weights, as torchvision's `rgb_to_grayscale`).
    let (r, gb) = out.split_at_mut(plane);
    let (g, b) = gb.split_at_mut(plane);
    let mut grey = 0f32;
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        (*r, *g, *b) = ((*r * bright).min(1.0), (*g * bright).min(1.0), (*b * bright).min(1.0));
        grey += 0.299 * *r + 0.587 * *g + 0.114 * *b;
    }
    let mean = grey / plane.max(1) as f32;
    let shift = (1.0 - contrast) * mean;
    let std = aug.noise_std.abs();
    let adjust = |v: &mut f32, n: f32| *v = (contrast * *v + shift + n).clamp(0.0, 1.0);
    if std == 0.0 {
        out.iter_mut().for_each(|v| adjust(v, 0.0));
    } else if chw[..plane] == chw[plane..2 * plane] && chw[..plane] == chw[2 * plane..] {
        // A grey image (like digits) gets the same noise in every channel, so it stays grey.
        for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
            let n = std * gaussish(rng);
            adjust(r, n);
            adjust(g, n);
            adjust(b, n);
        }
    } else {
        out.iter_mut().for_each(|v| adjust(v, std * gaussish(rng)));
    }
    out
}

/// Approximately standard normal from one 64-bit draw: the Irwin-Hall sum of four 16-bit uniforms,
/// centred and scaled to variance 1 (tails end at ±3.46: fine for noise, and ~20× cheaper than
/// Box-Muller's logarithm and cosine on every value).
#[inline]
fn gaussish(rng: &mut Rng) -> f32 {
    let r = rng.next_u64();
    let sum = (r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48);
    // Each part is uniform on [0, 65535]: mean 2 * 65535, sd sqrt(4 / 12) * 65536 (close enough).
    (sum as f32 - 2.0 * 65535.0) * (3f32.sqrt() / 65536.0)
}

/// Fills `out` (CHW floats, 0..1): output pixel (x, y) is unflipped, shifted back by `shift`
/// (outside the image: zero padding), then mapped through the inverse rotation + zoom about the
/// centre and sampled bilinearly (outside the image: zero).
fn geometry(
    chw: &[u8],
    size: usize,
    out: &mut [f32],
    angle: f32,
    zoom: f32,
    shift: (isize, isize),
    flip: bool,
) {
    let (plane, n) = (size * size, size as isize);
    let src = [&chw[..plane], &chw[plane..2 * plane], &chw[2 * plane..]];
    let (o0, rest) = out.split_at_mut(plane);
    let (o1, o2) = rest.split_at_mut(plane);
    let mut dst = [o0, o1, o2];
    let c = (size as f32 - 1.0) / 2.0;
    let (sin, cos) = angle.sin_cos();
    let (a, b) = (cos / zoom, sin / zoom);
    let identity = angle == 0.0 && zoom == 1.0;
    let at = |s: &[u8], x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x >= n || y >= n {
            0.0
        } else {
            s[(y * n + x) as usize] as f32
        }
    };
    for y in 0..n {
        let v = y + shift.1;
        if v < 0 || v >= n {
            continue; // a padding row: stays 0
        }
        for x in 0..n {
            let u = if flip { n - 1 - x } else { x } + shift.0;
            if u < 0 || u >= n {
                continue; // padding
            }
            let o = (y * n + x) as usize;
            if identity {
                let i = (v * n + u) as usize;
                for (s, d) in src.iter().zip(dst.iter_mut()) {
                    d[o] = UNIT[s[i] as usize];
                }
                continue;
            }
            let (du, dv) = (u as f32 - c, v as f32 - c);
            let sx = c + a * du + b * dv;
            let sy = c - b * du + a * dv;
            if sx <= -1.0 || sy <= -1.0 || sx >= n as f32 || sy >= n as f32 {
                continue; // entirely outside: 0
            }
            // floor without a libm call (sx, sy > -1 here, so +1 makes truncation a floor).
            let (x0, y0) = ((sx + 1.0) as isize - 1, (sy + 1.0) as isize - 1);
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let w = [(1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy];
            if x0 >= 0 && y0 >= 0 && x0 + 1 < n && y0 + 1 < n {
                let i = (y0 * n + x0) as usize;
                for (s, d) in src.iter().zip(dst.iter_mut()) {
                    let (p, q) = (&s[i..i + 2], &s[i + size..i + size + 2]);
                    let sum = w[0] * p[0] as f32
                        + w[1] * p[1] as f32
                        + w[2] * q[0] as f32
                        + w[3] * q[1] as f32;
                    d[o] = sum * (1.0 / 255.0);
                }
            } else {
                // At the border: taps outside the image are 0.
                for (s, d) in src.iter().zip(dst.iter_mut()) {
                    let sum = w[0] * at(s, x0, y0)
                        + w[1] * at(s, x0 + 1, y0)
                        + w[2] * at(s, x0, y0 + 1)
                        + w[3] * at(s, x0 + 1, y0 + 1);
                    d[o] = sum * (1.0 / 255.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(size: usize) -> Vec<u8> {
        (0..3 * size * size).map(|i| ((i * 37) % 256) as u8).collect()
    }

    #[test]
    fn same_seed_same_images_and_values_stay_in_range() {
        let img = image(32);
        let aug = Augment { hflip: true, ..Augment::default() };
        let a = augment(&img, 32, &aug, &mut Rng::derive(7, "augment"));
        let b = augment(&img, 32, &aug, &mut Rng::derive(7, "augment"));
        let c = augment(&img, 32, &aug, &mut Rng::derive(8, "augment"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 3 * 32 * 32);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
        // Successive calls differ (the generator moves on).
        let mut rng = Rng::new(1);
        assert_ne!(augment(&img, 32, &aug, &mut rng), augment(&img, 32, &aug, &mut rng));
    }

    #[test]
    fn none_is_the_identity_and_each_part_does_its_job() {
        let img = image(8);
        assert_eq!(augment(&img, 8, &Augment::none(), &mut Rng::new(3)), to_unit(&img));
        assert_eq!(to_unit(&[0, 255, 51]), [0.0, 1.0, 0.2]);

        // A flip alone mirrors each row (some seed in the first few flips).
        let flip = Augment { hflip: true, ..Augment::none() };
        let flipped = (0..20)
            .map(|s| augment(&img, 8, &flip, &mut Rng::new(s)))
            .find(|o| *o != to_unit(&img))
            .unwrap();
        assert_eq!(flipped[0], img[7] as f32 / 255.0);
        assert_eq!(flipped[8 * 8 + 9], img[8 * 8 + 8 + 6] as f32 / 255.0);

        // A shift alone moves the image by whole pixels and fills with zeros.
        let shift = Augment { crop_padding: 2, ..Augment::none() };
        for s in 0..10 {
            let o = augment(&[255; 3 * 64], 8, &shift, &mut Rng::new(s));
            let ones = o.iter().filter(|&&v| v == 1.0).count();
            let zeros = o.iter().filter(|&&v| v == 0.0).count();
            assert_eq!(ones + zeros, o.len());
            assert!(ones >= 3 * 36, "at most 2 rows and 2 columns lost");
        }

        // Noise keeps a grey image grey; its spread is about noise_std.
        let grey = vec![128u8; 3 * 32 * 32];
        let noisy = Augment { noise_std: 0.05, ..Augment::none() };
        let o = augment(&grey, 32, &noisy, &mut Rng::new(5));
        let p = 32 * 32;
        assert!((0..p).all(|i| o[i] == o[p + i] && o[i] == o[2 * p + i]));
        let mean = o[..p].iter().sum::<f32>() / p as f32;
        let sd = (o[..p].iter().map(|v| (v - mean).powi(2)).sum::<f32>() / p as f32).sqrt();
        assert!((sd - 0.05).abs() < 0.005 && (mean - 128.0 / 255.0).abs() < 0.005, "{sd} {mean}");

        // A rotation keeps the centre of a flat image and blackens some corners.
        let rot = Augment { rotation_deg: 30.0, ..Augment::none() };
        let o = augment(&[200; 3 * 32 * 32], 32, &rot, &mut Rng::new(11));
        assert!((o[16 * 32 + 16] - 200.0 / 255.0).abs() < 1e-5);
        assert!(o.contains(&0.0));
    }

    #[test]
    fn gaussish_has_mean_0_and_sd_1() {
        let mut rng = Rng::new(9);
        let xs: Vec<f32> = (0..100_000).map(|_| gaussish(&mut rng)).collect();
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        let sd = (xs.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / xs.len() as f32).sqrt();
        assert!(mean.abs() < 0.01 && (sd - 1.0).abs() < 0.01, "{mean} {sd}");
    }

    #[test]
    #[ignore = "timing: cargo test --release -p edgetune --lib augment_speed -- --ignored --nocapture"]
    fn augment_speed() {
        let img = image(32);
        let aug = Augment { hflip: true, ..Augment::default() };
        let mut rng = Rng::new(0);
        let n = 20_000;
        let t = web_time::Instant::now();
        let mut sink = 0f32;
        for _ in 0..n {
            sink += augment(&img, 32, &aug, &mut rng)[100];
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        let t = web_time::Instant::now();
        for _ in 0..n {
            sink += to_unit(&img)[100];
        }
        let unit = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("augment: {us:.2} µs per 32×32 image (to_unit: {unit:.2} µs) [{sink}]");
    }
}
