//! Multi-label tags: a label field holds several tags separated by a chosen character
//! (`"card, arrival"` with `,`), or, in JSON Lines, a list of them (`["card", "arrival"]`).
//!
//! A field is split on the separator, each part trimmed, empty parts dropped, and the rest sorted
//! and deduplicated: its *canonical* form (`"arrival,card"`) is what an [`Example`] then carries,
//! so `"b, a"` and `"a,b,a"` are the same label for duplicate detection and conflicts, and a
//! field with no tag at all (`" , "`) is a missing label. The model's outputs are the union of
//! the tags (sorted as classes are); a stratified split keys each row on its rarest tag.

use super::clean::Example;
use std::collections::{BTreeMap, HashMap};

/// The tags of a label field: trimmed, non-empty, sorted, each once.
pub fn split_tags(label: &str, sep: char) -> Vec<&str> {
    let mut tags: Vec<&str> = label.split(sep).map(str::trim).filter(|t| !t.is_empty()).collect();
    tags.sort_unstable();
    tags.dedup();
    tags
}

/// The canonical form of a label field: its tags joined with `sep` ("" when it has none).
pub fn canonical(label: &str, sep: char) -> String {
    split_tags(label, sep).join(&sep.to_string())
}

/// (tag, number of rows carrying it), sorted by tag.
pub fn tag_counts<'a>(labels: impl IntoIterator<Item = &'a str>, sep: char) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for label in labels {
        for t in split_tags(label, sep) {
            *counts.entry(t).or_default() += 1;
        }
    }
    counts.into_iter().map(|(t, n)| (t.to_string(), n)).collect()
}

/// Every tag of `examples`, in class order (numerically when all are numbers, else as strings).
pub fn tag_set(examples: &[Example], sep: char) -> Vec<String> {
    let mut tags: Vec<String> = tag_counts(examples.iter().map(|e| e.label.as_str()), sep).into_iter().map(|(t, _)| t).collect();
    crate::prepare::sort_labels(&mut tags);
    tags
}

/// The stratum of each example for a split: its rarest tag (the first by name among equally
/// rare ones), so that every tag, rare ones first, is spread over the splits in proportion.
pub fn rarest_tags(examples: &[Example], sep: char) -> Vec<String> {
    let counts: HashMap<String, usize> = tag_counts(examples.iter().map(|e| e.label.as_str()), sep).into_iter().collect();
    examples
        .iter()
        .map(|e| {
            let tags = split_tags(&e.label, sep);
            let rarest = tags.iter().min_by_key(|t| (counts.get(**t).copied().unwrap_or(0), **t));
            rarest.map_or(String::new(), |t| t.to_string())
        })
        .collect()
}

/// The output indices (ascending) of the tags of `label` in `index` (the model's outputs), or
/// the first tag that is not one of them.
pub fn tag_ids<'a>(label: &'a str, sep: char, index: &HashMap<&str, usize>) -> Result<Vec<usize>, &'a str> {
    let mut ids = split_tags(label, sep).into_iter().map(|t| index.get(t).copied().ok_or(t)).collect::<Result<Vec<usize>, &str>>()?;
    ids.sort_unstable();
    Ok(ids)
}

/// A JSON list of tags as one field, joined with `sep`; an item that is itself a list or an
/// object, or that contains `sep` (it would split into other tags), is an error.
pub(crate) fn join_list(items: Vec<serde_json::Value>, sep: char) -> Result<String, String> {
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        let s = match item {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return Err("a list item is a list or an object; expected a list of tags (text or numbers)".into()),
        };
        if s.contains(sep) {
            return Err(format!("tag '{s}' contains the label separator '{sep}'; choose another with --label-sep"));
        }
        parts.push(s);
    }
    Ok(parts.join(&sep.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{clean_tags, parse_table, TableOptions};

    fn ex(label: &str, line: usize) -> Example {
        Example { text: format!("text {line}"), label: label.into(), line, image: None }
    }

    #[test]
    fn fields_split_trim_and_drop_empty_parts() {
        assert_eq!(split_tags(" card , arrival,,card ", ','), ["arrival", "card"]);
        assert_eq!(split_tags("a|b | c", '|'), ["a", "b", "c"]);
        assert_eq!(split_tags("a,b", '|'), ["a,b"]); // another separator: one tag
        assert!(split_tags(" , ,", ',').is_empty());
        assert!(split_tags("", ',').is_empty());
        assert_eq!(canonical("b, a ,a", ','), "a,b");
        assert_eq!(canonical(" ; ", ';'), "");
    }

    #[test]
    fn counts_union_ids_and_rarest_tags() {
        let examples = [ex("card,arrival", 2), ex("card", 3), ex("card,lost", 4), ex("top,up", 5)];
        let counts = tag_counts(examples.iter().map(|e| e.label.as_str()), ',');
        let expect = [("arrival", 1), ("card", 3), ("lost", 1), ("top", 1), ("up", 1)];
        assert_eq!(counts, expect.map(|(t, n)| (t.to_string(), n)));
        assert_eq!(tag_set(&examples, ','), ["arrival", "card", "lost", "top", "up"]);
        assert_eq!(rarest_tags(&examples, ','), ["arrival", "card", "lost", "top"]);
        let numbers = [ex("10,2", 2), ex("1", 3)];
        assert_eq!(tag_set(&numbers, ','), ["1", "2", "10"]);
        let index: HashMap<&str, usize> = [("arrival", 1), ("card", 0)].into_iter().collect();
        assert_eq!(tag_ids("card, arrival", ',', &index), Ok(vec![0, 1]));
        assert_eq!(tag_ids("card,stolen", ',', &index), Err("stolen"));
    }

    #[test]
    fn jsonl_lists_join_with_the_separator() {
        let opts = TableOptions { list_sep: Some('|'), ..Default::default() };
        let t = parse_table(b"{\"text\": \"a\", \"labels\": [\"x\", \"y z\", 3]}\n{\"text\": \"b\", \"labels\": []}\n", "d.jsonl", &opts).unwrap();
        assert_eq!(t.rows[0].fields[1].as_deref(), Some("x|y z|3"));
        assert_eq!(t.rows[1].fields[1].as_deref(), Some(""));
        let e = parse_table(b"{\"text\": \"a\", \"labels\": [\"x|y\"]}\n", "d.jsonl", &opts).unwrap_err();
        assert_eq!(e.to_string(), "d.jsonl: line 1: key \"labels\": tag 'x|y' contains the label separator '|'; choose another with --label-sep");
        let e = parse_table(b"{\"text\": \"a\", \"labels\": [[\"x\"]]}\n", "d.jsonl", &opts).unwrap_err();
        assert_eq!(e.to_string(), "d.jsonl: line 1: key \"labels\": a list item is a list or an object; expected a list of tags (text or numbers)");
    }

    #[test]
    fn cleaning_canonicalises_reports_tags_and_missing_labels() {
        let csv = "text,labels\nhello,\"b, a\"\nhello,\"a,b,a\"\nbye,\" , \"\nok,a\nhello,c\n";
        let t = parse_table(csv.as_bytes(), "t.csv", &TableOptions::default()).unwrap();
        let (examples, r) = clean_tags(&t, 0, 1, ',');
        let got: Vec<(&str, &str)> = examples.iter().map(|e| (e.text.as_str(), e.label.as_str())).collect();
        assert_eq!(got, [("hello", "a,b"), ("ok", "a"), ("hello", "c")]);
        assert_eq!((r.duplicates_removed, r.duplicate_lines.clone()), (1, vec![3]));
        assert_eq!((r.missing_label, r.missing_label_lines.clone()), (1, vec![4]));
        assert!(r.multi_label);
        assert_eq!(r.classes, [("a".to_string(), 2), ("b".to_string(), 1), ("c".to_string(), 1)]);
        assert_eq!((r.tag_sets, r.tags_per_row), (3, 4.0 / 3.0));
        assert_eq!(r.conflicts.len(), 1); // "hello" with two different tag sets
        assert_eq!(
            r.to_string(),
            "t.csv: 5 rows, 3 kept
  3 tags: a 2, b 1, c 1 (1.33 per row, 3 distinct sets)
  tags with fewer than 3 examples (too few to validate on): a, b, c
  duplicates removed: 1 (line 3)
  missing labels dropped: 1 (line 4)
  texts with different labels (all kept; check them): 1
    \"hello\": a,b / c (lines 2, 6)"
        );
    }
}
