//! Checkpoint files (crate/src/train/checkpoint.rs): state.json and optimizer.safetensors. The
//! input is split at the first 0xFF byte (state.json before, optimizer after; none: state only).
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::train::checkpoint::state_from_files;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut files = Vec::new();
    match data.iter().position(|&b| b == 0xFF) {
        Some(at) => {
            files.push(("state.json".to_string(), data[..at].to_vec()));
            files.push(("optimizer.safetensors".to_string(), data[at + 1..].to_vec()));
        }
        None => files.push(("state.json".to_string(), data.to_vec())),
    }
    let _ = state_from_files(&files, "fuzz/checkpoints/last");
});
