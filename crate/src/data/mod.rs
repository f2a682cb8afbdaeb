//! The user's labelled data: from a file to shuffled, length-grouped batches of examples.
//!
//! The path is `read_table` (CSV, TSV or JSON Lines, format and header detected) →
//! `pick_columns` (which column is the text, which the label) → `clean` (drop empty rows and
//! duplicates, with a [`DataReport`] a person reads before training) → `stratified_split` →
//! `length_grouped_batches` for training and `sequential_batches` for evaluation. Nothing here
//! panics on user input: every problem is an [`Error`](crate::error::Error) naming the file, the
//! line and what was expected. All randomness comes from [`Rng`](crate::rng::Rng), so a seed gives
//! the same split and batches natively and in the browser.

pub mod batch;
pub mod clean;
pub mod columns;
pub mod split;
pub mod table;
pub mod tags;

pub use batch::{length_grouped_batches, padded_tokens, sequential_batches};
pub use clean::{clean, clean_tags, Conflict, DataReport, Example};
pub use columns::{pick_columns, LABEL_NAMES, TEXT_NAMES};
pub use split::{stratified_split, stratified_split_by};
pub use table::{parse_table, read_table, Format, Row, Table, TableOptions};

/// End-to-end checks: the real data sets shipped beside the repository (`../shared/data`), every
/// message a person can get from reading a table, and odd input through the whole pipeline.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::rng::Rng;
    use std::path::Path;

    const BANKING_TRAIN: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/banking77/train.csv");
    const BANKING_TEST: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/banking77/test.csv");
    const SMS: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/sms_spam/SMSSpamCollection");

    fn load(path: &str) -> (Table, Vec<Example>, DataReport) {
        let table = read_table(Path::new(path), &TableOptions::default()).unwrap();
        let (t, l) = pick_columns(&table, None, None).unwrap();
        let (examples, report) = clean(&table, t, l);
        println!("{report}\n");
        (table, examples, report)
    }

    fn count<'a>(labels: impl Iterator<Item = &'a str>, label: &str) -> usize {
        labels.filter(|l| *l == label).count()
    }

    #[test]
    fn banking77_reads_with_its_header_and_77_classes() {
        let (table, examples, r) = load(BANKING_TRAIN);
        assert_eq!((table.format, table.header), (Format::Csv, true));
        assert_eq!(table.columns, ["text", "category"]);
        assert_eq!(table.rows.len(), 10_003);
        assert_eq!(pick_columns(&table, None, None).unwrap(), (0, 1));
        // Ten texts span several lines inside quotes: rows keep the line they start on.
        assert!(table.rows.last().unwrap().line > 10_003);
        assert_eq!(
            (r.rows, r.kept, r.duplicates_removed, r.conflicts.len()),
            (10_003, 9_999, 4, 0)
        );
        assert_eq!((r.empty_text, r.missing_label), (0, 0));
        assert_eq!(r.classes.len(), 77);
        let sizes: Vec<usize> = r.classes.iter().map(|c| c.1).collect();
        assert_eq!((sizes.iter().min(), sizes.iter().max()), (Some(&35), Some(&187)));
        assert!(examples.iter().all(|e| !e.text.starts_with('\n') && !e.text.is_empty()));

        let (test, _, tr) = load(BANKING_TEST);
        assert_eq!((test.rows.len(), tr.kept, tr.classes.len()), (3_080, 3_079, 77));
        assert!(tr.to_string().contains("77 classes, 39 to 40 examples each"));
    }

    #[test]
    fn sms_spam_is_headerless_tsv_with_literal_quotes() {
        let (table, examples, r) = load(SMS);
        assert_eq!((table.format, table.header), (Format::Tsv, false));
        assert_eq!(table.columns, ["column1", "column2"]);
        assert_eq!(table.rows.len(), 5_574);
        assert_eq!(pick_columns(&table, None, None).unwrap(), (1, 0)); // longer texts in column 2
        let raw = table.rows.iter().map(|r| r.fields[0].as_deref().unwrap_or(""));
        let raw: Vec<&str> = raw.collect();
        assert_eq!(
            (count(raw.iter().copied(), "ham"), count(raw.iter().copied(), "spam")),
            (4_827, 747)
        );
        assert_eq!(examples.iter().filter(|e| e.text.contains('"')).count(), 123);
        let cave = examples.iter().find(|e| e.line == 54).unwrap();
        assert!(
            cave.text.contains("seemed so happy about \"the cave\". I'm sorry")
                && cave.label == "ham"
        );
        assert_eq!(
            (r.rows, r.kept, r.duplicates_removed, r.conflicts.len()),
            (5_574, 5_160, 414, 0)
        );
        assert_eq!(r.duplicate_lines, [104, 155, 208, 224, 327]);
        assert_eq!(r.classes, [("ham".to_string(), 4_518), ("spam".to_string(), 642)]);
    }

    #[test]
    fn real_data_splits_per_class_and_batches_by_length() {
        let (_, examples, r) = load(BANKING_TRAIN);
        let (train, valid, test) = stratified_split(examples.clone(), 0.1, 0.1, 42);
        assert_eq!(train.len() + valid.len() + test.len(), r.kept);
        for (label, n) in &r.classes {
            let expect = (*n as f64 * 0.1).round() as usize;
            assert_eq!(count(valid.iter().map(|e| e.label.as_str()), label), expect, "{label}");
            assert_eq!(count(test.iter().map(|e| e.label.as_str()), label), expect, "{label}");
        }
        assert_eq!(
            (train.clone(), valid.clone(), test.clone()),
            stratified_split(examples, 0.1, 0.1, 42)
        );

        let lengths: Vec<usize> =
            train.iter().map(|e| e.text.split_whitespace().count() + 2).collect();
        let batches = length_grouped_batches(&lengths, 32, &mut Rng::derive(42, "order"));
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..train.len()).collect::<Vec<_>>());
        let plain = sequential_batches(train.len(), 32);
        let (g, p) = (padded_tokens(&lengths, &batches), padded_tokens(&lengths, &plain));
        println!(
            "banking77 train padded tokens: grouped {g}, file order {p}, real {}",
            lengths.iter().sum::<usize>()
        );
        assert!(g * 10 < p * 7, "grouping should cut padding by 30 % or more: {g} vs {p}");
    }

    fn err(bytes: &[u8], source: &str) -> String {
        match parse_table(bytes, source, &TableOptions::default()) {
            Ok(t) => panic!("expected an error, got {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_error_names_the_file_the_line_and_what_was_expected() {
        let missing =
            read_table(Path::new("/nonexistent/d.csv"), &TableOptions::default()).unwrap_err();
        assert!(matches!(missing, Error::Io { .. }));
        assert!(missing.to_string().starts_with("/nonexistent/d.csv: "), "{missing}");
        assert_eq!(err(b"", "d.csv"), "d.csv: empty file: expected a header and at least one row");
        assert_eq!(
            err(b"\xEF\xBB\xBF \r\n\n", "d.csv"),
            "d.csv: empty file: expected a header and at least one row"
        );
        assert_eq!(err(b"\n", "d.jsonl"), "d.jsonl: empty file: expected one JSON object per line");
        let mut latin1 = b"text,label\n".repeat(6);
        latin1.extend_from_slice(b"Cr\xC3\xA8mes br\xC3\xBBl\xE9e,x\n");
        assert_eq!(
            err(&latin1, "d.csv"),
            "d.csv: line 7: not valid UTF-8 (byte 0xE9 at column 12); save the file as UTF-8"
        );
        assert_eq!(
            err(b"\xFF\xFEt\0", "d.csv"),
            "d.csv: this file is UTF-16 text; save the file as UTF-8"
        );
        let rows = format!("text,label\n{}a,b,c\n", "x,y\n".repeat(10));
        assert_eq!(
            err(rows.as_bytes(), "d.csv"),
            "d.csv: line 12: 3 fields, expected 2 (as in the header); a text that contains a comma must be in double quotes"
        );
        assert_eq!(
            err(b"text,label\nx,y\n\nlonely\n", "d.csv"),
            "d.csv: line 4: 1 field, expected 2 (as in the header)"
        );
        assert_eq!(
            err(b"ham\tthis is a sentence of data\nspam\tx\ty\n", "d.tsv"),
            "d.tsv: line 2: 3 fields, expected 2 (as in line 1)"
        );
        assert_eq!(
            err(b"text,label\n\"fine\",a\n\"open,b\nc,d\n", "d.csv"),
            "d.csv: line 3: field 1 opens a quote that is never closed; expected a closing \" (a quote inside a quoted field is written twice: \"\")"
        );
        assert_eq!(
            err(b"text,label\n\"say \"hi\"\",a\n", "d.csv"),
            "d.csv: line 2: text after the closing quote of field 1; expected a comma or the end of the line (a quote inside a quoted field is written twice: \"\")"
        );
        assert_eq!(
            err(b"text,label\n\n", "d.csv"),
            "d.csv: line 1: only a header (text, label) and no rows below it; expected at least one row"
        );
        assert_eq!(
            err(b"{\"text\": \"a\"}\n{\"text\": \"b\"}\n\n{\"text\": \"c\",}\n", "d.jsonl"),
            "d.jsonl: line 4: not a JSON object: trailing comma (column 14)"
        );
        assert_eq!(
            err(b"{\"text\": \"a\"}\n\"just text\"\n", "d.jsonl"),
            "d.jsonl: line 2: not a JSON object: invalid type: string \"just text\", expected a JSON object (column 11)"
        );
        assert_eq!(
            err(b"[{\"text\": \"a\"}]", "d.json"),
            "d.json: line 1: not a JSON object: found a JSON array; expected one object per line, like {\"text\": \"...\", \"label\": \"...\"}"
        );
        assert_eq!(
            err(b"{\"text\": \"a\", \"meta\": {\"x\": 1}}\n", "d.jsonl"),
            "d.jsonl: line 1: key \"meta\" holds an object; expected text, a number or true/false"
        );
        assert_eq!(
            err(b"{\"text\": \"a\"}\n{\"text\": \"a\", \"tags\": [1]}\n", "d.jsonl"),
            "d.jsonl: line 2: key \"tags\" holds a list; expected text, a number or true/false (a list of tags needs multi-label classification: --multi-label)"
        );
    }

    #[test]
    fn odd_input_never_panics() {
        let inputs: [&[u8]; 10] = [
            b"\"",
            b",",
            b"\n\n,\n",
            b"\"a\"\"",
            b"a,\"b\r",
            b"\xEF\xBB",
            b"{",
            b"\t\t\n\t",
            b"x\ry\rz",
            b"\"\"\"\"",
        ];
        for bytes in inputs {
            for format in [None, Some(Format::Csv), Some(Format::Tsv), Some(Format::Jsonl)] {
                for header in [None, Some(true), Some(false)] {
                    // Whatever parses must go through the rest of the pipeline too.
                    let Ok(t) = parse_table(bytes, "odd", &TableOptions { format, header, list_sep: None }) else {
                        continue;
                    };
                    let (ti, li) = pick_columns(&t, None, None).unwrap_or((0, 1));
                    let (examples, report) = clean(&t, ti, li);
                    let _ = report.to_string();
                    let (train, _, _) = stratified_split(examples, 0.5, 0.5, 0);
                    let lengths: Vec<usize> = train.iter().map(|e| e.text.len()).collect();
                    let _ = length_grouped_batches(&lengths, 0, &mut Rng::new(0));
                }
            }
        }
    }
}
