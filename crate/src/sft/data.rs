//! Supervised fine-tuning data as people bring it, read into conversations: JSON Lines in TRL's
//! formats — `{"messages": [{"role", "content"}, ...]}`, `{"prompt", "completion"}` (either may
//! also be a list of messages, TRL's conversational prompt-completion), `{"text"}` (plain
//! language modelling) — or a CSV/TSV table with `prompt`/`completion` columns, or a text,label
//! table trained as generation (the label as the answer, the text put into a prompt template).
//! Every problem names the file and the line: malformed JSON, an unknown role, a conversation
//! without an assistant turn. Blank lines and rows with nothing in them are skipped and listed
//! in the report.

use crate::chat::Message;
use crate::data::table::{parse_table, TableOptions};
use crate::error::{Error, Result};
use serde_json::Value;

/// The roles a conversation may have.
pub const ROLES: [&str; 3] = ["system", "user", "assistant"];

/// The prompt a text,label table is asked with (`{text}` is replaced by the row's text); the
/// label is the answer. The reference (`../shared/bench/torch_sft.py`) asks the same.
pub const LABEL_PROMPT: &str = "Classify the text. Answer with the label only.\n\n{text}";

/// One training example.
#[derive(Clone, Debug, PartialEq)]
pub enum Sample {
    /// A conversation; the loss is on its assistant turns.
    Chat(Vec<Message>),
    /// Plain text; the loss is on all of it.
    Text(String),
}

/// An example and the line it came from (1-based; the first line of a table's row).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub line: usize,
    pub sample: Sample,
}

/// What reading found, besides the records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Skipped {
    /// Lines with nothing on them, or rows whose every field is empty.
    pub empty_lines: Vec<usize>,
}

/// Reads `bytes` (named `source`); `label_prompt` is the template for text,label tables.
pub fn read_sft(bytes: &[u8], source: &str, label_prompt: &str) -> Result<(Vec<Record>, Skipped)> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::data(source, format!("is not UTF-8 text: {e}")))?;
    let first = text.trim_start_matches('\u{feff}').trim_start();
    if first.starts_with('{') {
        read_jsonl(text, source)
    } else {
        read_table_sft(bytes, source, label_prompt)
    }
}

fn read_jsonl(text: &str, source: &str) -> Result<(Vec<Record>, Skipped)> {
    let (mut records, mut skipped) = (Vec::new(), Skipped::default());
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let err = |m: String| Error::data(format!("{source}:{n}"), m);
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            skipped.empty_lines.push(n);
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| err(format!("is not valid JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| err("is not a JSON object".into()))?;
        let sample = if let Some(m) = obj.get("messages") {
            Sample::Chat(messages(m, "messages").map_err(err)?)
        } else if let (Some(p), Some(c)) = (obj.get("prompt"), obj.get("completion")) {
            let mut msgs = turn(p, "user", "prompt").map_err(err)?;
            msgs.extend(turn(c, "assistant", "completion").map_err(err)?);
            Sample::Chat(msgs)
        } else if let Some(t) = obj.get("text") {
            Sample::Text(t.as_str().ok_or_else(|| err("'text' is not a string".into()))?.to_string())
        } else {
            let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            return Err(err(format!("has the fields {keys:?}; expected \"messages\", \"prompt\" and \"completion\", or \"text\"")));
        };
        check(&sample).map_err(err)?;
        records.push(Record { line: n, sample });
    }
    Ok((records, skipped))
}

/// A list of `{"role", "content"}` objects.
fn messages(v: &Value, field: &str) -> std::result::Result<Vec<Message>, String> {
    let list = v.as_array().ok_or_else(|| format!("'{field}' is not a list of messages"))?;
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let role = m.get("role").and_then(Value::as_str).ok_or_else(|| format!("{field}[{i}] has no \"role\" string"))?;
            if !ROLES.contains(&role) {
                return Err(format!("{field}[{i}] has the role '{role}'; expected one of {}", ROLES.join(", ")));
            }
            let content = m.get("content").and_then(Value::as_str).ok_or_else(|| format!("{field}[{i}] has no \"content\" string"))?;
            Ok(Message::new(role, content))
        })
        .collect()
}

/// A prompt or completion: a string (one turn of `role`) or a list of messages.
fn turn(v: &Value, role: &str, field: &str) -> std::result::Result<Vec<Message>, String> {
    match v {
        Value::String(s) => Ok(vec![Message::new(role, s)]),
        Value::Array(_) => messages(v, field),
        _ => Err(format!("'{field}' is neither a string nor a list of messages")),
    }
}

/// A conversation must give the model something to learn: an assistant turn with text.
fn check(sample: &Sample) -> std::result::Result<(), String> {
    match sample {
        Sample::Chat(m) if !m.iter().any(|m| m.role == "assistant") => Err("the conversation has no assistant turn: nothing to learn from".into()),
        Sample::Chat(m) if m.iter().filter(|m| m.role == "assistant").all(|m| m.content.trim().is_empty()) => Err("every assistant turn is empty: nothing to learn from".into()),
        Sample::Text(t) if t.trim().is_empty() => Err("'text' is empty".into()),
        _ => Ok(()),
    }
}

fn read_table_sft(bytes: &[u8], source: &str, label_prompt: &str) -> Result<(Vec<Record>, Skipped)> {
    let table = parse_table(bytes, source, &TableOptions::default())?;
    let col = |names: &[&str]| table.columns.iter().position(|c| names.contains(&c.trim().to_ascii_lowercase().as_str()));
    let (prompt, completion) = (col(&["prompt", "input", "question", "instruction"]), col(&["completion", "output", "answer", "response"]));
    let (text, label) = (col(&["text", "sentence", "content"]), col(&["label", "labels", "intent", "category", "class"]));
    let (q, a, templated) = match (prompt, completion, text, label) {
        (Some(p), Some(c), _, _) => (p, c, false),
        (_, _, Some(t), Some(l)) => (t, l, true),
        _ => {
            return Err(Error::data(
                source,
                format!("has the columns {:?}; expected prompt and completion columns, or text and label columns (trained as generation)", table.columns),
            ))
        }
    };
    if templated && !label_prompt.contains("{text}") {
        return Err(Error::config(format!("the label prompt {label_prompt:?} has no {{text}} to put the row's text in")));
    }
    let (mut records, mut skipped) = (Vec::new(), Skipped::default());
    for row in &table.rows {
        let field = |i: usize| row.fields.get(i).cloned().flatten().unwrap_or_default();
        let (question, answer) = (field(q), field(a));
        if question.trim().is_empty() && answer.trim().is_empty() {
            skipped.empty_lines.push(row.line);
            continue;
        }
        let err = |m: &str| Error::data(format!("{source}:{}", row.line), m.to_string());
        if answer.trim().is_empty() {
            return Err(err(if templated { "the label is empty" } else { "the completion is empty: nothing to learn from" }));
        }
        if question.trim().is_empty() {
            return Err(err(if templated { "the text is empty" } else { "the prompt is empty" }));
        }
        let user = if templated { label_prompt.replace("{text}", &question) } else { question };
        records.push(Record { line: row.line, sample: Sample::Chat(vec![Message::new("user", &user), Message::new("assistant", &answer)]) });
    }
    Ok((records, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        read_sft(text.as_bytes(), "d.jsonl", LABEL_PROMPT).unwrap_err().to_string()
    }

    #[test]
    fn formats_and_errors() {
        let jsonl = "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]}\n\n{\"prompt\": \"2+2?\", \"completion\": \"4\"}\n{\"text\": \"Once upon a time\"}\n";
        let (r, s) = read_sft(jsonl.as_bytes(), "d.jsonl", LABEL_PROMPT).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].line, r[1].line, r[2].line), (1, 3, 4));
        assert_eq!(s.empty_lines, [2]);
        assert_eq!(r[1].sample, Sample::Chat(vec![Message::new("user", "2+2?"), Message::new("assistant", "4")]));
        assert_eq!(r[2].sample, Sample::Text("Once upon a time".into()));

        assert_eq!(err("{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}"), "d.jsonl:1: messages[0] has the role 'bot'; expected one of system, user, assistant");
        assert_eq!(err("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}"), "d.jsonl:1: the conversation has no assistant turn: nothing to learn from");
        assert!(err("{\"prompt\": \"x\"").starts_with("d.jsonl:1: is not valid JSON"));
        assert_eq!(err("{\"input\": 1}"), "d.jsonl:1: has the fields [\"input\"]; expected \"messages\", \"prompt\" and \"completion\", or \"text\"");

        let csv = "text,label\nmy card is lost,lost_card\n,\nwhere is my money,transfer\n";
        let (r, s) = read_sft(csv.as_bytes(), "b.csv", LABEL_PROMPT).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(s.empty_lines, [3]);
        let Sample::Chat(m) = &r[1].sample else { panic!() };
        assert_eq!(m[0].content, "Classify the text. Answer with the label only.\n\nwhere is my money");
        assert_eq!((r[1].line, m[1].content.as_str()), (4, "transfer"));
        let e = read_sft(b"prompt,completion\nhello,\n", "p.csv", LABEL_PROMPT).unwrap_err().to_string();
        assert_eq!(e, "p.csv:2: the completion is empty: nothing to learn from");
    }
}
