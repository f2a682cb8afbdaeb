//! CSV/TSV/JSONL reading with column mapping and cleaning (crate/src/data/). The first byte picks
//! the file name (extension) and options; the rest is the file.
#![no_main]
extern crate edgetune_fuzz; // the capped allocator
use edgetune::data::{clean, clean_tags, pick_columns, parse_table, Format, TableOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let name = ["data.csv", "data.tsv", "data.jsonl", "data"][(sel & 3) as usize];
    let format = match (sel >> 2) & 3 {
        0 => None,
        1 => Some(Format::Csv),
        2 => Some(Format::Tsv),
        _ => Some(Format::Jsonl),
    };
    let header = match (sel >> 4) & 3 {
        0 => None,
        1 => Some(true),
        _ => Some(false),
    };
    let list_sep = (sel & 0x40 != 0).then_some('|');
    let opts = TableOptions { format, header, list_sep };
    let Ok(table) = parse_table(rest, name, &opts) else { return };
    let named = sel & 0x80 != 0;
    let picked = if named { pick_columns(&table, Some("text"), Some("label")) } else { pick_columns(&table, None, None) };
    if let Ok((t, l)) = picked {
        let _ = clean(&table, t, l);
        let _ = clean_tags(&table, t, l, '|');
    }
});
