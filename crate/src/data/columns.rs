//! Which columns hold the text and the labels, and whether a file's first row names its columns.
//!
//! People export tables with all sorts of headers (`text,category`, `Sentence,Label`, none at
//! all), so both are guessed from common names and from the data itself; when a guess would be a
//! coin toss we stop and ask for `--text-column` / `--label-column` rather than train on the wrong
//! column.

use super::table::{Record, Table};
use crate::error::{Error, Result};

/// Column names (case-insensitive) that mean "the text to classify".
pub const TEXT_NAMES: &[&str] = &[
    "text",
    "sentence",
    "utterance",
    "query",
    "content",
    "message",
    "review",
    "document",
    "input",
];
/// Column names (case-insensitive) that mean "the label".
pub const LABEL_NAMES: &[&str] =
    &["label", "labels", "tags", "category", "class", "intent", "target", "y", "sentiment"];

/// Picks `(text_idx, label_idx)`: named columns match case-insensitively; otherwise the usual
/// names are looked for; otherwise, with exactly two columns, the one with the longer texts on
/// average is the text and the other the label.
pub fn pick_columns(
    table: &Table,
    text: Option<&str>,
    label: Option<&str>,
) -> Result<(usize, usize)> {
    let cols = &table.columns;
    let err = |msg: String| Error::data(&table.source, msg);
    if cols.len() < 2 {
        let what = match cols.first() {
            Some(c) => format!("only one column (\"{c}\")"),
            None => "no columns".to_string(),
        };
        return Err(err(format!("{what}: expected a text column and a label column")));
    }
    let listed = cols.join(", ");
    let named = |name: &str| -> Result<usize> {
        let name = name.trim();
        cols.iter()
            .position(|c| c == name)
            .or_else(|| cols.iter().position(|c| c.eq_ignore_ascii_case(name)))
            .ok_or_else(|| err(format!("no column named \"{name}\": columns are {listed}")))
    };
    let text_idx = match text {
        Some(name) => Some(named(name)?),
        None => None,
    };
    let label_idx = match label {
        Some(name) => Some(named(name)?),
        None => None,
    };
    // Candidates by name, never the column already chosen for the other role.
    let by_name = |names: &[&str], not: Option<usize>| -> Vec<usize> {
        (0..cols.len())
            .filter(|&k| {
                Some(k) != not && names.iter().any(|n| n.eq_ignore_ascii_case(cols[k].trim()))
            })
            .collect()
    };
    let unclear = |what: &str, why: String, name: &str, flag: &str| {
        err(format!("cannot tell which column holds the {what}: {why}; name {name} with {flag}"))
    };
    let ambiguous = |found: &[usize], what: &str, flag: &str| {
        let names: Vec<String> = found.iter().map(|&k| format!("\"{}\"", cols[k])).collect();
        let (rest, last) = names.split_at(names.len().saturating_sub(1));
        let both = if names.len() == 2 { "both" } else { "all" };
        let why = format!("columns {} and {} {both} could", rest.join(", "), last.join(""));
        unclear(what, why, "one", flag)
    };
    let text_idx = match text_idx {
        Some(k) => Some(k),
        None => match by_name(TEXT_NAMES, label_idx)[..] {
            [k] => Some(k),
            [] => None,
            ref many => return Err(ambiguous(many, "text", "--text-column")),
        },
    };
    let label_idx = match label_idx {
        Some(k) => Some(k),
        None => match by_name(LABEL_NAMES, text_idx)[..] {
            [k] => Some(k),
            [] => None,
            ref many => return Err(ambiguous(many, "labels", "--label-column")),
        },
    };
    let (text_idx, label_idx) = match (text_idx, label_idx) {
        (Some(t), Some(l)) => (t, l),
        // Two columns and one is known: the other is the other.
        (Some(t), None) if cols.len() == 2 => (t, 1 - t),
        (None, Some(l)) if cols.len() == 2 => (1 - l, l),
        (None, None) if cols.len() == 2 => {
            let (a, b) = (average_chars(table, 0), average_chars(table, 1));
            if b > a {
                (1, 0)
            } else {
                (0, 1)
            }
        }
        (None, _) => {
            return Err(unclear("text", format!("columns are {listed}"), "it", "--text-column"));
        }
        (Some(_), None) => {
            return Err(unclear("labels", format!("columns are {listed}"), "it", "--label-column"));
        }
    };
    if text_idx == label_idx {
        return Err(err(format!(
            "the text and the label column are both \"{}\"; name two different columns",
            cols[text_idx]
        )));
    }
    Ok((text_idx, label_idx))
}

/// Mean length in characters of a column's values (missing counts as empty).
fn average_chars(table: &Table, col: usize) -> f64 {
    let total: usize = table
        .rows
        .iter()
        .map(|r| r.fields.get(col).and_then(|f| f.as_deref()).map_or(0, |f| f.chars().count()))
        .sum();
    total as f64 / table.rows.len().max(1) as f64
}

/// Header fields become column names: trimmed, blanks named `columnN`, repeats made unique.
pub(super) fn header_names(fields: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(fields.len());
    for (k, f) in fields.iter().enumerate() {
        let base =
            if f.trim().is_empty() { format!("column{}", k + 1) } else { f.trim().to_string() };
        let (mut name, mut n) = (base.clone(), 1);
        while names.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        names.push(name);
    }
    names
}

/// The rough kind of a field, to compare the first row's shape with the rows below it.
#[derive(PartialEq)]
enum Kind {
    Empty,
    Number,
    Word,
    Words,
}

fn kind(f: &str) -> Kind {
    let f = f.trim();
    if f.is_empty() {
        Kind::Empty
    } else if is_number(f) {
        Kind::Number
    } else if f.contains(char::is_whitespace) {
        Kind::Words
    } else {
        Kind::Word
    }
}

fn is_number(f: &str) -> bool {
    f.parse::<f64>().is_ok() && f.contains(|c: char| c.is_ascii_digit())
}

/// Could this be a column name: short, identifier-like, a few words at most, no punctuation.
fn is_name_like(f: &str) -> bool {
    let f = f.trim();
    let mut chars = f.chars();
    f.chars().count() <= 40
        && f.matches(' ').count() <= 2
        && chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || "_- ()".contains(c))
}

/// Decides whether the first record names the columns. Files usually have a header, so that is
/// the answer unless the first row looks like data: a known column name settles it; a long or
/// wordy field, a number or a repeated value is data; a value that recurs in the same column
/// further down (a label such as `ham`) is data; so is the shape of the rows below with nothing
/// name-like in it.
pub(super) fn first_row_is_header(records: &[Record]) -> bool {
    let Some(first_record) = records.first() else { return true };
    let first: Vec<&str> = first_record.fields.iter().map(|f| f.trim()).collect();
    let below = &records[1..records.len().min(51)];
    // `y` is left out: a one-letter value is as likely a label as a name.
    let known = |f: &str| {
        f.len() > 1 && TEXT_NAMES.iter().chain(LABEL_NAMES).any(|n| n.eq_ignore_ascii_case(f))
    };
    if first.iter().any(|f| known(f)) {
        return true;
    }
    let wordy = |f: &&str| f.chars().count() > 40 || f.matches(' ').count() >= 3 || is_number(f);
    let repeated = first.iter().enumerate().any(|(k, f)| !f.is_empty() && first[..k].contains(f));
    if first.iter().any(wordy) || repeated {
        return false;
    }
    let recurs = first.iter().enumerate().any(|(c, f)| {
        !f.is_empty() && below.iter().any(|r| r.fields.get(c).map(|v| v.trim()) == Some(*f))
    });
    if recurs {
        return false;
    }
    let shape = |fields: &[String]| fields.iter().map(|f| kind(f)).collect::<Vec<_>>();
    let first_shape = shape(&first_record.fields);
    let same = below.iter().filter(|r| shape(&r.fields) == first_shape).count();
    let same_shape = !below.is_empty() && same * 2 > below.len();
    !same_shape || first.iter().any(|f| is_name_like(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::table::{parse_table, TableOptions};

    fn table(text: &str) -> Table {
        parse_table(text.as_bytes(), "d.csv", &TableOptions::default()).unwrap()
    }

    fn pick(
        text: &str,
        t: Option<&str>,
        l: Option<&str>,
    ) -> std::result::Result<(usize, usize), String> {
        pick_columns(&table(text), t, l).map_err(|e| e.to_string())
    }

    #[test]
    fn names_are_matched_without_case_and_guessed_from_common_names() {
        assert_eq!(pick("id,Category,Text\n1,a,hello there\n", None, None), Ok((2, 1)));
        assert_eq!(
            pick("id,Category,Text\n1,a,hello there\n", Some("TEXT"), Some("id")),
            Ok((2, 0))
        );
        assert_eq!(pick("Sentence,Label,x\nhi,a,b\n", None, None), Ok((0, 1)));
        // Two columns, one known: the other is the other.
        assert_eq!(pick("msg,intent\nhello there,greet\n", None, None), Ok((0, 1)));
        assert_eq!(pick("content,kind\nhello there,greet\n", None, None), Ok((0, 1)));
        assert_eq!(pick("a,b\nx,hello there friend\n", None, Some("a")), Ok((1, 0)));
        // Two unknown columns: the longer texts are the text.
        assert_eq!(
            pick("kind,body\ngreet,hello there\nbye,see you later\n", None, None),
            Ok((1, 0))
        );
    }

    #[test]
    fn unclear_columns_are_errors_that_say_what_to_do() {
        assert_eq!(
            pick("text,label\nhi,a\n", Some("review"), None),
            Err("d.csv: no column named \"review\": columns are text, label".into())
        );
        assert_eq!(
            pick("a,b,c\nhi,x,y\n", None, None),
            Err("d.csv: cannot tell which column holds the text: columns are a, b, c; name it with --text-column".into())
        );
        assert_eq!(
            pick("text,b,c\nhi,x,y\n", None, None),
            Err("d.csv: cannot tell which column holds the labels: columns are text, b, c; name it with --label-column".into())
        );
        assert_eq!(
            pick("text,sentence,label\nhi,ho,x\n", None, None),
            Err("d.csv: cannot tell which column holds the text: columns \"text\" and \"sentence\" both could; name one with --text-column".into())
        );
        assert_eq!(
            pick("text,label,class,intent\nhi,x,y,z\n", None, None),
            Err("d.csv: cannot tell which column holds the labels: columns \"label\", \"class\" and \"intent\" all could; name one with --label-column".into())
        );
        assert_eq!(
            pick("text,label\nhi,x\n", Some("text"), Some("TEXT")),
            Err("d.csv: the text and the label column are both \"text\"; name two different columns".into())
        );
        assert_eq!(
            pick("text\nhi\n", None, None),
            Err("d.csv: only one column (\"text\"): expected a text column and a label column"
                .into())
        );
        let empty = parse_table(b"{}\n", "d.jsonl", &TableOptions::default()).unwrap();
        assert_eq!(
            pick_columns(&empty, None, None).unwrap_err().to_string(),
            "d.jsonl: no columns: expected a text column and a label column"
        );
    }

    #[test]
    fn header_is_detected_from_names_and_from_the_data() {
        let header = |text: &str| table(text).header;
        assert!(header("text,category\nI am still waiting on my card?,card_arrival\n"));
        assert!(header("Review,Stars\nGreat phone,5\nMeh,2\n")); // known name
        assert!(header("body,kind\nhello there,greet\nsee you later,bye\n")); // shape differs
        assert!(header(",sms,kind\n0,hello there,greet\n")); // pandas index column
        assert!(!header("ham,Go until jurong point crazy available only\nspam,Free entry\n")); // long field
        assert!(!header("positive,great\nnegative,bad\npositive,fine\n")); // value recurs below
        assert!(!header("3,hello\n4,bye\n")); // a number
        assert!(!header("yes,yes\nno,x\n")); // a value twice in the row
        assert!(!header("Hi!,ok.\nBye!,no.\nWhy?,yes.\n")); // same shape, nothing name-like
        let t = table(",text,text\n1,a,b\n");
        assert_eq!(t.columns, ["column1", "text", "text_2"]);
    }
}
