//! Safetensors header and tensor table (crate/src/weights.rs): parse, then decode every tensor.
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::weights::SafeTensors;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(st) = SafeTensors::parse(data.to_vec(), "fuzz.safetensors") {
        let names: Vec<String> = st.names().map(String::from).collect();
        for name in names {
            let _ = st.f32_any(&name);
        }
    }
});
