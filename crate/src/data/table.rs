//! Reading a user's table (CSV, TSV or JSON Lines) into rows of optional strings.
//!
//! The format and whether the first row is a header are detected unless given. Every error names
//! the file and the 1-based line an editor would show, and says what was expected, because the
//! person reading it has a spreadsheet export in front of them, not our source code.

use super::columns::{first_row_is_header, header_names};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Tsv,
    Jsonl,
}

/// How to read a table; `None` means detect.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TableOptions {
    pub format: Option<Format>,
    pub header: Option<bool>,
    /// JSON Lines: a list of scalars (`"labels": ["a", "b"]`) becomes one field joined with this
    /// character (multi-label tags); `None`: a list is an error.
    #[serde(default)]
    pub list_sep: Option<char>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The file name as given, used in every message about this table.
    pub source: String,
    /// The format actually used (given or detected), so reports can say how the file was read.
    pub format: Format,
    /// Whether the first row was taken as a header (always true for JSON Lines: keys are names).
    pub header: bool,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// 1-based line number in the file where this row starts, as an editor shows it.
    pub line: usize,
    /// One entry per column; `None` = missing (JSON null or absent key).
    pub fields: Vec<Option<String>>,
}

impl Format {
    /// The format implied by a file name's extension, if any.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// Guesses from the content: a JSON object first → JSON Lines; the same number of tabs (> 0)
    /// on the first lines → TSV; anything else → CSV.
    pub fn sniff(text: &str) -> Format {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty()).take(20);
        let Some(first) = lines.next() else { return Format::Csv };
        if first.trim_start().starts_with('{') {
            return Format::Jsonl;
        }
        let tabs = first.matches('\t').count();
        if tabs > 0 && lines.all(|l| l.matches('\t').count() == tabs) {
            return Format::Tsv;
        }
        Format::Csv
    }
}

/// Reads and parses a table file; the format comes from `opts`, the extension or the content.
pub fn read_table(path: &Path, opts: &TableOptions) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_table(&bytes, &path.display().to_string(), opts)
}

/// Parses a table held in memory (the browser path); `source` is the file name, used for the
/// extension and in messages.
pub fn parse_table(bytes: &[u8], source: &str, opts: &TableOptions) -> Result<Table> {
    let text = decode(bytes, source)?;
    let format = opts
        .format
        .or_else(|| Format::from_extension(Path::new(source)))
        .unwrap_or_else(|| Format::sniff(&text));
    if text.trim().is_empty() {
        let jsonl = format == Format::Jsonl;
        let expected =
            if jsonl { "one JSON object per line" } else { "a header and at least one row" };
        return Err(Error::data(source, format!("empty file: expected {expected}")));
    }
    match format {
        Format::Jsonl => parse_jsonl(&text, source, opts.list_sep),
        Format::Csv | Format::Tsv => parse_delimited(&text, source, format, opts),
    }
}

/// Strips a BOM and checks UTF-8, pointing at the first bad byte the way an editor would.
fn decode<'a>(bytes: &'a [u8], source: &str) -> Result<Cow<'a, str>> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(Error::data(source, "this file is UTF-16 text; save the file as UTF-8"));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let column = std::str::from_utf8(&before[line_start..]).map_or(0, |s| s.chars().count());
        let byte = bytes.get(at).copied().unwrap_or(0);
        let msg = format!(
            "line {line}: not valid UTF-8 (byte 0x{byte:02X} at column {}); save the file as UTF-8",
            column + 1
        );
        Error::data(source, msg)
    })?;
    // A lone \r ends a line (old Mac files, or a file whose lines were joined from several
    // sources: CRLF, LF and CR mixed): it becomes \n. \r\n stays as it is.
    let b = text.as_bytes();
    let lone_cr = |i: usize| b[i] == b'\r' && b.get(i + 1) != Some(&b'\n');
    if !(0..b.len()).any(lone_cr) {
        return Ok(Cow::Borrowed(text));
    }
    Ok(Cow::Owned(text.char_indices().map(|(i, c)| if lone_cr(i) { '\n' } else { c }).collect()))
}

/// One record of a delimited file: the line it starts on and its fields.
pub(super) struct Record {
    pub(super) line: usize,
    pub(super) fields: Vec<String>,
}

/// Said whenever CSV quoting goes wrong: the usual cause is a bare quote inside a quoted text.
const QUOTE_HINT: &str = "(a quote inside a quoted field is written twice: \"\")";

/// Splits delimited text into records. With `quoting` (CSV) a field opening with `"` runs to the
/// matching `"` and may hold delimiters, newlines and `""`; in TSV quotes are literal. Not the csv
/// crate: it reports a record's line as the end of the previous record across blank lines.
fn split_records(text: &str, delim: u8, quoting: bool, source: &str) -> Result<Vec<Record>> {
    let b = text.as_bytes();
    let find = |from: usize, stop: &dyn Fn(u8) -> bool| {
        b[from.min(b.len())..].iter().position(|&c| stop(c)).map(|p| from + p)
    };
    let (mut out, mut i, mut line) = (Vec::new(), 0usize, 1usize);
    while i < b.len() {
        let eol = find(i, &|c| c == b'\n').unwrap_or(b.len());
        // Blank lines are skipped, but a TSV line of bare tabs is a row of empty fields.
        if text[i..eol].trim().is_empty() && !b[i..eol].contains(&delim) {
            (i, line) = (eol + 1, line + 1);
            continue;
        }
        let mut rec = Record { line, fields: Vec::new() };
        loop {
            // Spaces before an opening quote are allowed: hand-written CSV often has `a, "b, c"`.
            let start = find(i, &|c| c != b' ').filter(|&q| quoting && b[q] == b'"');
            let Some(open) = start else {
                let end = find(i, &|c| c == delim || c == b'\n').unwrap_or(b.len());
                let at_delim = b.get(end) == Some(&delim);
                let val = &text[i..end];
                let val = if at_delim { val } else { val.strip_suffix('\r').unwrap_or(val) };
                rec.fields.push(val.to_string());
                i = end + 1;
                if at_delim {
                    continue;
                }
                line += 1;
                break;
            };
            let (open_line, field) = (line, rec.fields.len() + 1);
            let mut val = String::new();
            let mut j = open + 1;
            loop {
                let Some(q) = find(j, &|c| c == b'"') else {
                    let msg = format!(
                        "line {open_line}: field {field} opens a quote that is never closed; \
                         expected a closing \" {QUOTE_HINT}"
                    );
                    return Err(Error::data(source, msg));
                };
                line += b[j..q].iter().filter(|&&c| c == b'\n').count();
                val.push_str(&text[j..q]);
                j = q + 1;
                if b.get(j) != Some(&b'"') {
                    break;
                }
                val.push('"');
                j += 1;
            }
            while b.get(j) == Some(&b' ')
                || (b.get(j) == Some(&b'\r') && b.get(j + 1) == Some(&b'\n'))
            {
                j += 1;
            }
            rec.fields.push(if val.contains('\r') { val.replace("\r\n", "\n") } else { val });
            i = j + 1;
            match b.get(j) {
                Some(&c) if c == delim => continue,
                None => {}
                Some(b'\n') => line += 1,
                Some(_) => {
                    let msg = format!(
                        "line {line}: text after the closing quote of field {field}; \
                         expected a comma or the end of the line {QUOTE_HINT}"
                    );
                    return Err(Error::data(source, msg));
                }
            }
            break;
        }
        out.push(rec);
    }
    Ok(out)
}

/// CSV or TSV: records, then the header (given or detected), then a field count check per row.
fn parse_delimited(text: &str, source: &str, format: Format, opts: &TableOptions) -> Result<Table> {
    let (delim, quoting) = if format == Format::Tsv { (b'\t', false) } else { (b',', true) };
    let records = split_records(text, delim, quoting, source)?;
    let Some(first) = records.first() else {
        return Err(Error::data(source, "empty file: expected a header and at least one row"));
    };
    let header = opts.header.unwrap_or_else(|| first_row_is_header(&records));
    let n = first.fields.len();
    let (columns, body, like) = if header {
        (header_names(&first.fields), &records[1..], "as in the header".to_string())
    } else {
        (
            (1..=n).map(|k| format!("column{k}")).collect(),
            &records[..],
            format!("as in line {}", first.line),
        )
    };
    if body.is_empty() {
        let names = columns.join(", ");
        let msg =
            format!("only a header ({names}) and no rows below it; expected at least one row");
        return Err(Error::data(source, format!("line {}: {msg}", first.line)));
    }
    let mut rows = Vec::with_capacity(body.len());
    for r in body {
        if r.fields.len() != n {
            let got = r.fields.len();
            let mut msg = format!(
                "line {}: {got} field{}, expected {n} ({like})",
                r.line,
                if got == 1 { "" } else { "s" }
            );
            if quoting && got > n {
                msg.push_str("; a text that contains a comma must be in double quotes");
            }
            return Err(Error::data(source, msg));
        }
        rows.push(Row { line: r.line, fields: r.fields.iter().map(|f| Some(f.clone())).collect() });
    }
    Ok(Table { source: source.to_string(), format, header, columns, rows })
}

/// A JSON object with its keys in file order (serde_json's own map sorts them unless a feature is
/// on), so JSONL columns come out in the order the person wrote them.
struct Object(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Object;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Object, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry::<String, serde_json::Value>()? {
                    out.push(entry);
                }
                Ok(Object(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

fn parse_jsonl(text: &str, source: &str, list_sep: Option<char>) -> Result<Table> {
    let mut columns: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for (k, raw) in text.split('\n').enumerate() {
        // Only the end is trimmed, so serde_json's column is the editor's column.
        let (line, raw) = (k + 1, raw.trim_end());
        if raw.trim_start().is_empty() {
            continue;
        }
        if raw.trim_start().starts_with('[') {
            let like = r#"like {"text": "...", "label": "..."}"#;
            let msg = format!("found a JSON array; expected one object per line, {like}");
            return Err(Error::data(source, format!("line {line}: not a JSON object: {msg}")));
        }
        let obj: Object = serde_json::from_str(raw).map_err(|e| {
            // serde_json says "at line 1 column N" of this one line; keep only the column.
            let full = e.to_string();
            let msg = full.rsplit_once(" at line ").map_or(full.as_str(), |(m, _)| m);
            Error::data(
                source,
                format!("line {line}: not a JSON object: {msg} (column {})", e.column()),
            )
        })?;
        let mut fields = vec![None; columns.len()];
        for (key, value) in obj.0 {
            let value = match (value, list_sep) {
                (serde_json::Value::Array(items), Some(sep)) => {
                    let at = |m: String| Error::data(source, format!("line {line}: key \"{key}\": {m}"));
                    Some(super::tags::join_list(items, sep).map_err(at)?)
                }
                (serde_json::Value::Null, _) => None,
                (serde_json::Value::String(s), _) => Some(s),
                (serde_json::Value::Number(n), _) => Some(n.to_string()),
                (serde_json::Value::Bool(b), _) => Some(b.to_string()),
                (nested, _) => {
                    let list = nested.is_array();
                    let what = if list { "a list" } else { "an object" };
                    let hint = if list { " (a list of tags needs multi-label classification: --multi-label)" } else { "" };
                    let expected = "expected text, a number or true/false";
                    let msg = format!("line {line}: key \"{key}\" holds {what}; {expected}{hint}");
                    return Err(Error::data(source, msg));
                }
            };
            if let Some(c) = columns.iter().position(|c| *c == key) {
                fields[c] = value;
            } else {
                columns.push(key);
                fields.push(value);
            }
        }
        rows.push(Row { line, fields });
    }
    // Rows read before a key first appeared lack it: pad them with `None`.
    for r in &mut rows {
        r.fields.resize(columns.len(), None);
    }
    Ok(Table { source: source.to_string(), format: Format::Jsonl, header: true, columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, source: &str) -> Result<Table> {
        parse_table(text.as_bytes(), source, &TableOptions::default())
    }

    fn fields(t: &Table) -> Vec<(usize, Vec<&str>)> {
        fn row(r: &Row) -> Vec<&str> {
            r.fields.iter().map(|f| f.as_deref().unwrap_or("<none>")).collect()
        }
        t.rows.iter().map(|r| (r.line, row(r))).collect()
    }

    #[test]
    fn csv_with_bom_crlf_blank_lines_and_quoted_newlines() {
        let t = parse(
            "\u{feff}text,label\r\n\r\n\"hi, \"\"you\"\"\",a\r\n\"two\r\nlines\",b\r\n\r\nlast,c",
            "x.csv",
        )
        .unwrap();
        assert_eq!((t.format, t.header), (Format::Csv, true));
        assert_eq!(t.columns, ["text", "label"]);
        assert_eq!(
            fields(&t),
            [(3, vec!["hi, \"you\"", "a"]), (4, vec!["two\nlines", "b"]), (7, vec!["last", "c"])]
        );
    }

    #[test]
    fn tsv_quotes_are_literal_and_format_comes_from_extension_or_content() {
        let text = "ham\t\"Quoted\" she said, \"ok\n\nspam\tWIN \"cash\" now\n";
        let t = parse(text, "SMSSpamCollection").unwrap();
        assert_eq!((t.format, t.header), (Format::Tsv, false));
        assert_eq!(t.columns, ["column1", "column2"]);
        assert_eq!(
            fields(&t),
            [(1, vec!["ham", "\"Quoted\" she said, \"ok"]), (3, vec!["spam", "WIN \"cash\" now"])]
        );
        let t = parse("a\tb\nc\td\n", "f.csv").unwrap(); // the extension wins
        assert_eq!((t.format, t.columns.len()), (Format::Csv, 1));
        assert_eq!(Format::sniff("{\"text\": 1}\n"), Format::Jsonl);
        assert_eq!(Format::sniff("a\tb\nc\td\te\n"), Format::Csv); // inconsistent tabs
        assert_eq!(Format::from_extension(Path::new("d/x.TAB")), Some(Format::Tsv));
        assert_eq!(Format::from_extension(Path::new("x.ndjson")), Some(Format::Jsonl));
        let opts = TableOptions { format: Some(Format::Csv), header: Some(false), list_sep: None };
        let t = parse_table(b"a,b\n", "x.tsv", &opts).unwrap();
        assert_eq!((t.header, t.columns.len(), t.rows.len()), (false, 2, 1));
    }

    #[test]
    fn jsonl_keeps_key_order_and_turns_scalars_into_text() {
        let text = concat!(
            "{\"text\": \"hi\", \"label\": 3, \"ok\": true}\n\n",
            "{\"label\": null, \"text\": \"yo\", \"extra\": 1.5}\r\n"
        );
        let t = parse(text, "d.jsonl").unwrap();
        assert_eq!(t.columns, ["text", "label", "ok", "extra"]);
        assert_eq!(
            fields(&t),
            [(1, vec!["hi", "3", "true", "<none>"]), (3, vec!["yo", "<none>", "<none>", "1.5"])]
        );
    }
}
