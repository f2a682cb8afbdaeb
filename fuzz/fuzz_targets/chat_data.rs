//! SFT data (crate/src/sft/data.rs): TRL's JSON Lines formats and prompt/completion or
//! text,label tables read into conversations, each rendered through a ChatML template.
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::chat::ChatTemplate;
use edgetune::sft::{read_sft, Sample, LABEL_PROMPT};
use libfuzzer_sys::fuzz_target;

const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

fuzz_target!(|data: &[u8]| {
    let template = ChatTemplate::new(CHATML, "", "<|im_end|>", "fuzz").expect("the template compiles");
    if let Ok((records, _)) = read_sft(data, "fuzz.jsonl", LABEL_PROMPT) {
        for r in records {
            if let Sample::Chat(m) = r.sample {
                let _ = template.render(&m, false);
                let _ = template.render(&m[..m.len() - 1], true);
            }
        }
    }
});
