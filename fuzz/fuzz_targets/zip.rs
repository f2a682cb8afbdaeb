//! The zip reader (crate/src/archive.rs) and the image-zip layout on top (crate/src/vision/dataset.rs).
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::archive::unzip;
use edgetune::vision::read_zip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(u) = unzip(data, "fuzz.zip") {
        for (name, _) in &u.files {
            assert!(!name.split('/').any(|c| c == ".."), "unzip returned a climbing name {name:?}");
            assert!(!name.starts_with('/'), "unzip returned an absolute name {name:?}");
        }
    }
    let _ = read_zip(data, "fuzz.zip");
});
