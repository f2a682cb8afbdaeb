//! GGUF header, metadata, tensor index (crate/src/gguf/): parse, de-quantise every tensor, build
//! the tokenizer the metadata describes, and read the file as a generative model (architecture
//! sizes from the metadata, tensors under Hugging Face names).
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::device::Device;
use edgetune::gguf::{tokenizer, Gguf};
use edgetune::model::causal::load::load_files;
use edgetune::model::causal::LmFiles;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = Gguf::parse(data.to_vec(), "fuzz.gguf") {
        let tensors: Vec<(String, Vec<usize>)> = g.names().map(|n| (n.to_string(), g.info(n).map(|i| i.shape.clone()).unwrap_or_default())).collect();
        for (name, shape) in tensors {
            let _ = g.f32(&name, &shape);
        }
        let _ = tokenizer::tokenizer(&g);
    }
    let files = LmFiles::Gguf { source: "fuzz.gguf".into(), bytes: std::sync::Arc::new(data.to_vec()) };
    let _ = load_files(files, &Device::flex());
});
