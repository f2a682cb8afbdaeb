//! A model's chat template (Jinja, from `tokenizer_config.json` or a GGUF file's
//! `tokenizer.chat_template`) rendered with `minijinja` the way transformers'
//! `apply_chat_template` renders it with jinja2: blocks trimmed (`trim_blocks`, `lstrip_blocks`),
//! loop controls, `raise_exception`, `strftime_now`, Python's string and dict methods
//! (`.strip()`, `.items()`, ...), the special tokens as variables. `tests/chat_template.rs` checks
//! the text against transformers on ChatML, Llama-3, Mistral-style and Qwen-style templates.

use super::Message;
use crate::error::{Error, Result};
use minijinja::{context, Environment, ErrorKind};

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Where it came from, for errors (`tokenizer_config.json`, `model.gguf`).
    source: String,
    bos: String,
    eos: String,
    /// The template as written (an export's `tokenizer_config.json` carries it).
    text: String,
}

/// What the template refused or could not do, as a message for people.
fn explain(e: &minijinja::Error) -> String {
    let mut msg = match e.kind() {
        ErrorKind::InvalidOperation if e.detail().is_some_and(|d| d.starts_with("template says: ")) => e.detail().unwrap_or_default().trim_start_matches("template says: ").to_string(),
        _ => e.to_string(),
    };
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        msg.push_str(&format!(": {c}"));
        cause = c.source();
    }
    msg
}

impl ChatTemplate {
    /// Compiles `template`; `bos` and `eos` are the tokenizer's special tokens (templates write
    /// `{{ bos_token }}`). `source` names where the template came from in errors.
    pub fn new(template: &str, bos: &str, eos: &str, source: &str) -> Result<Self> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, format!("template says: {msg}")))
        });
        env.add_function("strftime_now", |format: String| -> String { strftime_now(&format) });
        env.add_filter("tojson", tojson);
        env.add_template_owned("chat", template.to_string())
            .map_err(|e| Error::model(source, format!("its chat template does not compile: {}", explain(&e))))?;
        Ok(ChatTemplate { env, source: source.to_string(), bos: bos.to_string(), eos: eos.to_string(), text: template.to_string() })
    }

    /// The template's Jinja text, as it was read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The tokenizer's BOS and EOS tokens the template is rendered with.
    pub fn special_tokens(&self) -> (&str, &str) {
        (&self.bos, &self.eos)
    }

    /// The conversation as the model reads it; with `generation_prompt` it ends where the
    /// assistant's answer starts (`<|im_start|>assistant\n`).
    pub fn render(&self, messages: &[Message], generation_prompt: bool) -> Result<String> {
        let template = self.env.get_template("chat").map_err(|e| Error::model(&self.source, explain(&e)))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => generation_prompt,
                bos_token => self.bos,
                eos_token => self.eos,
            })
            .map_err(|e| Error::model(&self.source, format!("its chat template cannot render this conversation: {}", explain(&e))))
    }
}

/// Python's `json.dumps` separators without an indent: `", "` between items, `": "` after keys.
struct PythonSeparators;

impl serde_json::ser::Formatter for PythonSeparators {
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent)` (minijinja's own
/// escapes `<`, `>`, `&` and `'` for HTML, which a prompt must not get).
fn tojson(value: minijinja::Value, indent: Option<usize>) -> std::result::Result<minijinja::Value, minijinja::Error> {
    use serde::Serialize;
    let mut out = Vec::new();
    let written = match indent {
        Some(n) => {
            let pad = vec![b' '; n];
            value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(&pad)))
        }
        None => value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, PythonSeparators)),
    };
    written.map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, format!("tojson: {e}")))?;
    Ok(minijinja::Value::from_safe_string(String::from_utf8(out).unwrap_or_default()))
}

/// Today's date in `format` (the `strftime` codes templates use: `%d %b %Y`, `%Y-%m-%d`), UTC.
fn strftime_now(format: &str) -> String {
    let days = web_time::SystemTime::now().duration_since(web_time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    let name = MONTHS[(month - 1) as usize];
    format
        .replace("%Y", &year.to_string())
        .replace("%m", &format!("{month:02}"))
        .replace("%d", &format!("{day:02}"))
        .replace("%B", name)
        .replace("%b", &name[..3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_template_and_say_why() {
        let e = ChatTemplate::new("{% for m in messages %}", "", "", "tokenizer_config.json").err().unwrap().to_string();
        assert!(e.starts_with("tokenizer_config.json: its chat template does not compile"), "{e}");
        let t = ChatTemplate::new("{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok", "", "", "m.gguf").unwrap();
        let e = t.render(&[Message::new("system", "x")], false).unwrap_err().to_string();
        assert_eq!(e, "m.gguf: its chat template cannot render this conversation: System role not supported");
        assert_eq!(t.render(&[Message::new("user", "x")], false).unwrap(), "ok");
        let date = strftime_now("%d %b %Y");
        assert_eq!(date.len(), 11, "{date}");
    }
}
