//! Image decoding (crate/src/vision/pixels.rs): PNG, JPEG, WebP, BMP, GIF to RGB8.
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::vision::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = decode(data, "fuzz.png") {
        assert_eq!(p.rgb.len(), p.width * p.height * 3, "decode returned a wrong-sized buffer");
    }
});
