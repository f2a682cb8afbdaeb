//! Decoding an image file (PNG, JPEG, WebP, BMP, GIF) into 8-bit RGB, the way PyTorch's usual
//! loader does: `PIL.Image.open(f).convert("RGB")`.
//!
//! The format comes from the content, not the name (files are often misnamed: a `.jpg` that is a
//! PNG). Greyscale is repeated into the three channels, palettes are expanded, alpha is dropped
//! (not blended: Pillow's `convert("RGB")` drops it too) and 16-bit samples keep their high byte
//! (Pillow's RGB;16 reading). One deliberate difference: Pillow *clips* 16-bit greyscale to 255
//! (almost every pixel white), here it is scaled like 16-bit colour. EXIF orientation is not
//! applied, as neither Pillow's `open` nor torchvision's `ImageFolder` applies it.

use crate::error::{Error, Result};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// The largest image decoded: anything bigger is almost surely not a training photo, and decoding
/// it would take gigabytes (and in the browser, more memory than a page gets).
pub const MAX_PIXELS: u64 = 100_000_000;

/// Decoded bytes any image may take whatever its file's size (64 MB: 21 megapixels of RGB).
const FREE_DECODE_BYTES: u64 = 64 << 20;

/// Beyond [`FREE_DECODE_BYTES`], decoded bytes per byte of file at most: above deflate's 1,032:1
/// (a PNG of one colour), far above any photograph.
const MAX_DECODE_RATIO: u64 = 1100;

/// An image as interleaved 8-bit RGB, row by row: pixel (x, y) is `rgb[3 * (y * width + x)..][..3]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pixels {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

/// The formats edgetune reads, as said in messages.
pub const FORMATS: &str = "PNG, JPEG, WebP, BMP, GIF";

/// Decodes `bytes` (an image file; `name` is only for messages) to RGB8; a GIF gives its first
/// frame.
pub fn decode(bytes: &[u8], name: &str) -> Result<Pixels> {
    let err = |msg: String| Error::data(name, msg);
    if bytes.is_empty() {
        return Err(err("empty file (0 bytes)".into()));
    }
    let not_ours = |what: &str| err(format!("not an image edgetune reads ({FORMATS}){what}"));
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP)) => f,
        Ok(f @ (ImageFormat::Bmp | ImageFormat::Gif)) => f,
        Ok(other) => {
            let hint = format!(
                ": it is a {} file; convert it to PNG or JPEG",
                format!("{other:?}").to_uppercase()
            );
            return Err(not_ours(&hint));
        }
        Err(_) => return Err(not_ours("")),
    };
    let cannot = |e: image::ImageError| err(format!("cannot decode: {e}"));
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // The decoders' own allocation cap: a header is checked below, but a decoder may allocate
    // before we see it (PNG checks limits while reading the header).
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(cannot)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(err(format!("cannot decode: the image is {w}×{h} pixels (empty)")));
    }
    if w as u64 * h as u64 > MAX_PIXELS {
        let mp = (w as u64 * h as u64) as f64 / 1e6;
        return Err(err(format!(
            "the image is {w}×{h} pixels ({mp:.0} megapixels): more than edgetune decodes \
             ({} megapixels); shrink it first",
            MAX_PIXELS / 1_000_000
        )));
    }
    // A header may declare a size its data cannot fill (11×8,452,098 pixels of 16-bit RGB, 558 MB,
    // in a 62-byte PNG): past a free allowance, the decoded size must be one the file's bytes could
    // hold. Deflate (PNG) tops out at 1,032:1 and real photographs at far less.
    let need = decoder.total_bytes();
    let len = bytes.len() as u64;
    if need > FREE_DECODE_BYTES + len.saturating_mul(MAX_DECODE_RATIO) {
        return Err(err(format!(
            "the header declares {w}×{h} pixels ({:.0} MB decoded), more than a file of {len} \
             bytes can hold: the file is damaged or truncated",
            need as f64 / 1e6
        )));
    }
    // Now that the size is known, the decoder gets what this image needs (twice: a GIF frame is
    // read into its own buffer first), so a header that lies (a GIF frame of 20000×8000 pixels on
    // a 1×1 screen, in 62 bytes) costs a message instead of gigabytes.
    let mut tight = Limits::default();
    tight.max_alloc = Some(need.saturating_mul(2).saturating_add(64 << 20));
    decoder.set_limits(tight).map_err(cannot)?;
    let img = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => err(format!(
            "cannot decode: a frame inside is larger than the {w}×{h} pixels the header declares"
        )),
        e => cannot(e),
    })?;
    Ok(to_rgb8(img))
}

/// Any decoded image as RGB8: alpha dropped, 16-bit samples keep their high byte.
fn to_rgb8(img: DynamicImage) -> Pixels {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let rgb = match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageRgba8(b) => b.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        DynamicImage::ImageLuma8(b) => b.iter().flat_map(|&v| [v, v, v]).collect(),
        DynamicImage::ImageLumaA8(b) => b.chunks_exact(2).flat_map(|p| [p[0]; 3]).collect(),
        DynamicImage::ImageRgb16(b) => b.iter().map(|&v| (v >> 8) as u8).collect(),
        DynamicImage::ImageRgba16(b) => {
            b.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]].map(|v| (v >> 8) as u8)).collect()
        }
        DynamicImage::ImageLuma16(b) => b.iter().flat_map(|&v| [(v >> 8) as u8; 3]).collect(),
        DynamicImage::ImageLumaA16(b) => {
            b.chunks_exact(2).flat_map(|p| [(p[0] >> 8) as u8; 3]).collect()
        }
        // Float images (none of our decoders makes them) and future variants.
        other => other.to_rgb8().into_raw(),
    };
    Pixels { width, height, rgb }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ExtendedColorType, ImageEncoder};

    pub(crate) fn png(w: u32, h: u32, color: ExtendedColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out).write_image(data, w, h, color).unwrap();
        out
    }

    fn msg(bytes: &[u8]) -> String {
        decode(bytes, "cats/1.png").unwrap_err().to_string()
    }

    #[test]
    fn bad_files_are_errors_that_name_the_file() {
        assert_eq!(msg(b""), "cats/1.png: empty file (0 bytes)");
        assert_eq!(
            msg(b"hello, I am a text file\n"),
            "cats/1.png: not an image edgetune reads (PNG, JPEG, WebP, BMP, GIF)"
        );
        assert_eq!(
            msg(b"II*\0\x08\0\0\0rest of a tiff"),
            "cats/1.png: not an image edgetune reads (PNG, JPEG, WebP, BMP, GIF): it is a TIFF file; convert it to PNG or JPEG"
        );
        let good = png(4, 3, ExtendedColorType::Rgb8, &[9u8; 36]);
        let truncated = msg(&good[..good.len() - 20]);
        assert!(truncated.starts_with("cats/1.png: cannot decode: "), "{truncated}");
        let header_only = msg(&good[..20]);
        assert!(header_only.starts_with("cats/1.png: cannot decode: "), "{header_only}");
        // A PNG header announcing 20000×20000 pixels: refused before anything is allocated.
        let mut huge = png(1, 1, ExtendedColorType::L8, &[0]);
        huge[16..24].copy_from_slice(&[0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20]);
        let ihdr_crc = crate::archive::crc32(&huge[12..29]);
        huge[29..33].copy_from_slice(&ihdr_crc.to_be_bytes());
        assert_eq!(
            msg(&huge),
            "cats/1.png: the image is 20000×20000 pixels (400 megapixels): more than edgetune decodes (100 megapixels); shrink it first"
        );
    }

    #[test]
    fn every_colour_type_becomes_rgb8() {
        let rgb = |bytes: Vec<u8>| decode(&bytes, "x").unwrap();
        let grey = rgb(png(2, 1, ExtendedColorType::L8, &[0, 200]));
        assert_eq!((grey.width, grey.height, grey.rgb), (2, 1, vec![0, 0, 0, 200, 200, 200]));
        let la = rgb(png(1, 1, ExtendedColorType::La8, &[77, 0]));
        assert_eq!(la.rgb, [77, 77, 77]); // fully transparent, colour kept (alpha dropped)
        let rgba = rgb(png(1, 1, ExtendedColorType::Rgba8, &[1, 2, 3, 4]));
        assert_eq!(rgba.rgb, [1, 2, 3]);
        // 16-bit samples go in native byte order.
        let wide = |v: &[u16]| v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>();
        let deep = rgb(png(1, 1, ExtendedColorType::Rgb16, &wide(&[0x9C40, 0x00FF, 0xFFFF])));
        assert_eq!(deep.rgb, [0x9C, 0, 0xFF]); // high byte, as Pillow reads 16-bit RGB
        let grey16 = rgb(png(1, 1, ExtendedColorType::L16, &wide(&[0x1234])));
        assert_eq!(grey16.rgb, [0x12; 3]);

        let mut gif = Vec::new();
        let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
        let frame = image::RgbaImage::from_raw(2, 1, vec![255, 0, 0, 255, 0, 0, 255, 255]).unwrap();
        enc.encode_frame(image::Frame::new(frame)).unwrap();
        drop(enc);
        assert_eq!(rgb(gif).rgb, [255, 0, 0, 0, 0, 255]);

        let mut bmp = Vec::new();
        image::codecs::bmp::BmpEncoder::new(&mut bmp)
            .write_image(&[10, 20, 30, 40, 50, 60], 2, 1, ExtendedColorType::Rgb8)
            .unwrap();
        assert_eq!(rgb(bmp).rgb, [10, 20, 30, 40, 50, 60]);
    }
}
