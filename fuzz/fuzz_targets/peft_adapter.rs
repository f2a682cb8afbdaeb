//! PEFT adapter_config.json (crate/src/model/peft.rs). The weights are a fixed empty safetensors
//! file unless the input has a 0xFF byte: then the part after it is the weights file.
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::model::peft::Adapter;
use libfuzzer_sys::fuzz_target;

fn empty_safetensors() -> Vec<u8> {
    let mut b = 8u64.to_le_bytes().to_vec();
    b.extend_from_slice(b"{}      ");
    b
}

fuzz_target!(|data: &[u8]| {
    let (config, weights) = match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], data[at + 1..].to_vec()),
        None => (data, empty_safetensors()),
    };
    let _ = Adapter::parse(config, weights, "fuzz-adapter");
});
