//! Chat templates rendered as transformers' `apply_chat_template` renders them (jinja2): the
//! same text, character for character, for SmolLM2's own template and Llama-3, Mistral, Qwen and
//! feature-heavy ones, with and without the generation prompt; a template's `raise_exception`
//! is an error carrying its message. Golden values: `tests/golden/make_chat_template_golden.py`.

mod common;

use edgetune::chat::{ChatTemplate, Message};
use serde_json::Value;

#[test]
fn templates_render_as_transformers_renders_them() {
    let Some(python) = common::python_or_skip("transformers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.json");
    let out = std::process::Command::new(python).arg(common::repo("tests/golden/make_chat_template_golden.py")).arg(&path).output().unwrap();
    assert!(out.status.success(), "make_chat_template_golden.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let g: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let (bos, eos) = (g["bos"].as_str().unwrap(), g["eos"].as_str().unwrap());
    let conversations: Vec<Vec<Message>> = serde_json::from_value(g["conversations"].clone()).unwrap();
    let cases = g["cases"].as_array().unwrap();
    let mut checked = 0;
    for c in cases {
        let name = c["template"].as_str().unwrap();
        let template = ChatTemplate::new(g["templates"][name].as_str().unwrap(), bos, eos, name).unwrap();
        let messages = &conversations[c["conversation"].as_u64().unwrap() as usize];
        let got = template.render(messages, c["generation_prompt"].as_bool().unwrap());
        let what = format!("{name}, conversation {}, generation prompt {}", c["conversation"], c["generation_prompt"]);
        match (c["text"].as_str(), c["error"].as_str()) {
            (Some(want), _) => assert_eq!(got.unwrap(), want, "{what}"),
            (None, Some(why)) => {
                let e = got.unwrap_err().to_string();
                assert!(e.ends_with(why), "{what}: {e}");
            }
            _ => unreachable!(),
        }
        checked += 1;
    }
    assert_eq!(checked, 40);
    eprintln!("{checked} renders of {} templates equal transformers'", g["templates"].as_object().unwrap().len());
}
