//! Image collections on disk: a folder of class folders, or a CSV/TSV listing image files and
//! their labels. Native only (the page hands over bytes: `from_entries`, `read_zip`).

use super::dataset::{
    check_classes, from_entries, kind, ImageFile, Kind, Skipped, IMAGE_EXTENSIONS,
};
use crate::data::{pick_columns, read_table, Table, TableOptions};
use crate::error::{Error, Result};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Folders nested deeper than this are not followed.
const MAX_DEPTH: usize = 32;

/// A folder of class folders, read recursively. Only image files are read; other files are
/// listed as skipped, hidden ones ignored, unreadable ones reported.
pub fn read_folder(dir: &Path) -> Result<(Vec<ImageFile>, Vec<Skipped>)> {
    let source = dir.display().to_string();
    if !fs::metadata(dir).map_err(|e| Error::io(dir, e))?.is_dir() {
        return Err(Error::data(&source, "not a folder"));
    }
    let (mut entries, mut skipped) = (Vec::new(), Vec::new());
    fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    // Each folder is read once, by its real path: a symbolic link loop (or two links to one
    // folder, which would double its images and fan out exponentially) is skipped, not followed.
    let mut seen = HashSet::new();
    seen.insert(fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?);
    walk(dir, "", 0, &mut seen, &mut entries, &mut skipped);
    let (files, more) = from_entries(&source, entries)?;
    skipped.extend(more);
    skipped.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((files, skipped))
}

fn walk(
    dir: &Path,
    rel: &str,
    depth: usize,
    seen: &mut HashSet<PathBuf>,
    entries: &mut Vec<(String, Vec<u8>)>,
    skipped: &mut Vec<Skipped>,
) {
    let skip = |skipped: &mut Vec<Skipped>, name: &str, why: String| {
        skipped.push(Skipped { name: name.to_string(), why })
    };
    let list = match fs::read_dir(dir) {
        Ok(list) => list,
        Err(e) => {
            return skip(skipped, &format!("{rel}/"), format!("cannot read this folder: {e}"))
        }
    };
    for entry in list {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                skip(skipped, &format!("{rel}/"), format!("cannot list an entry: {e}"));
                continue;
            }
        };
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let name = if rel.is_empty() { file_name } else { format!("{rel}/{file_name}") };
        let path = entry.path();
        // `file_type` does not follow links; `metadata` does (a linked folder is a folder).
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir())
            || fs::metadata(&path).is_ok_and(|m| m.is_dir());
        if is_dir {
            if matches!(kind(&name), Kind::Junk) {
                continue; // .git, __MACOSX, ...: not even listed
            }
            if depth >= MAX_DEPTH {
                skip(skipped, &format!("{name}/"), "folders nested too deeply: not read".into());
            } else if !fs::canonicalize(&path).is_ok_and(|real| seen.insert(real)) {
                let why = "a link to a folder already read (a symbolic link loop?): not read again";
                skip(skipped, &format!("{name}/"), why.into());
            } else {
                walk(&path, &name, depth + 1, seen, entries, skipped);
            }
            continue;
        }
        match kind(&name) {
            Kind::Junk => {}
            Kind::Other(why) => skip(skipped, &name, why),
            Kind::Image => match fs::read(&path) {
                Ok(bytes) => entries.push((name, bytes)),
                Err(e) => skip(skipped, &name, format!("cannot read: {e}")),
            },
        }
    }
}

/// Column names (case-insensitive) that mean "the image file", when several columns could be.
const PATH_NAMES: &[&str] = &[
    "path",
    "file",
    "filename",
    "file_name",
    "filepath",
    "image",
    "image_path",
    "img",
    "image_file",
];

/// Does this value name an image file?
fn is_image_name(v: &str) -> bool {
    let v = v.trim();
    v.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && IMAGE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
    })
}

/// The column whose values are image file names (at least half of those filled in).
fn image_column(table: &Table) -> Result<usize> {
    let cols = &table.columns;
    let looks = |c: usize| {
        let values = table
            .rows
            .iter()
            .filter_map(|r| r.fields.get(c)?.as_deref())
            .filter(|v| !v.trim().is_empty());
        let (mut n, mut images) = (0usize, 0usize);
        for v in values.take(1000) {
            n += 1;
            images += is_image_name(v) as usize;
        }
        n > 0 && images * 2 >= n
    };
    let found: Vec<usize> = (0..cols.len()).filter(|&c| looks(c)).collect();
    let named: Vec<usize> = found
        .iter()
        .copied()
        .filter(|&c| PATH_NAMES.iter().any(|n| n.eq_ignore_ascii_case(cols[c].trim())))
        .collect();
    let err = |why: String| {
        let msg = format!(
            "cannot tell which column holds the image files: {why}; name it with --image-column"
        );
        Error::data(&table.source, msg)
    };
    match (&found[..], &named[..]) {
        ([c], _) | (_, [c]) => Ok(*c),
        ([], _) => Err(err(format!(
            "no column's values end in .png, .jpg, .jpeg, .webp, .bmp or .gif (columns are {})",
            cols.join(", ")
        ))),
        (many, _) => {
            let names: Vec<String> = many.iter().map(|&c| format!("\"{}\"", cols[c])).collect();
            Err(err(format!("columns {} all hold file names", names.join(", "))))
        }
    }
}

/// A CSV/TSV (or JSON Lines) listing image files and their labels. Paths are relative to the
/// table's folder, or absolute. Missing or unreadable files are skipped and reported with
/// the line that lists them.
pub fn read_csv(
    path: &Path,
    path_col: Option<&str>,
    label_col: Option<&str>,
) -> Result<(Vec<ImageFile>, Vec<Skipped>)> {
    read_csv_with(path, path_col, label_col, &TableOptions::default())
}

/// [`read_csv`] with the table read as `opts` say (a multi-label run joins JSON lists of tags).
pub fn read_csv_with(
    path: &Path,
    path_col: Option<&str>,
    label_col: Option<&str>,
    opts: &TableOptions,
) -> Result<(Vec<ImageFile>, Vec<Skipped>)> {
    let table = read_table(path, opts)?;
    let source = table.source.clone();
    if table.columns.len() < 2 {
        let msg = "only one column: expected a column of image files and a column of labels";
        return Err(Error::data(&source, msg));
    }
    let image_col = match path_col {
        Some(name) => name.to_string(),
        None => table.columns[image_column(&table)?].clone(),
    };
    // The table's text-column logic, with the image column in the text's place.
    let (pi, li) = pick_columns(&table, Some(&image_col), label_col)?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let (mut files, mut skipped) = (Vec::new(), Vec::new());
    for row in &table.rows {
        let field = |k: usize| row.fields.get(k).and_then(|f| f.as_deref()).map_or("", str::trim);
        let (file, label, line) = (field(pi), field(li), row.line);
        let name = file.replace('\\', "/");
        let mut skip = |why: String| {
            skipped.push(Skipped { name: name.clone(), why: format!("line {line}: {why}") })
        };
        if file.is_empty() {
            skip("no image file named".into());
            continue;
        }
        if label.is_empty() {
            skip("no label".into());
            continue;
        }
        let resolve = |f: &str| -> PathBuf {
            let p = Path::new(f);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let mut full = resolve(file);
        if !full.exists() && file.contains('\\') {
            full = resolve(&name); // a list written on Windows
        }
        match fs::read(&full) {
            Ok(bytes) => files.push(ImageFile { name, label: label.to_string(), bytes, line }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                skip(format!("file not found ({})", full.display()))
            }
            Err(e) => skip(format!("cannot read {}: {e}", full.display())),
        }
    }
    check_classes(&source, &files, &skipped, true, 1)?;
    Ok((files, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_csv_lists() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (f, bytes) in
            [("ünï/a.png", &b"A"[..]), ("ünï/sub/b.png", b"B"), ("z/c.gif", b"C"), ("z/n.txt", b"")]
        {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), bytes).unwrap();
        }
        std::fs::create_dir_all(root.join(".git/objects")).unwrap();
        std::fs::write(root.join(".git/objects/x.png"), b"no").unwrap();
        let (got, skipped) = read_folder(root).unwrap();
        let names: Vec<(&str, &str, &[u8])> =
            got.iter().map(|f| (f.label.as_str(), f.name.as_str(), f.bytes.as_slice())).collect();
        assert_eq!(
            names,
            [
                ("z", "z/c.gif", &b"C"[..]),
                ("ünï", "ünï/a.png", b"A"),
                ("ünï", "ünï/sub/b.png", b"B")
            ]
        );
        assert_eq!(skipped.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["z/n.txt"]);
        let missing = read_folder(&root.join("nope")).unwrap_err().to_string();
        assert!(missing.contains("nope: "), "{missing}");

        let csv = "file,label\nünï/a.png,x\nz\\c.gif,y\nmissing.png,y\n,y\nünï/sub/b.png,\n";
        std::fs::write(root.join("list.csv"), csv).unwrap();
        let (got, skipped) = read_csv(&root.join("list.csv"), None, None).unwrap();
        let names: Vec<(&str, &str, usize)> =
            got.iter().map(|f| (f.label.as_str(), f.name.as_str(), f.line)).collect();
        assert_eq!(names, [("x", "ünï/a.png", 2), ("y", "z/c.gif", 3)]);
        let why: Vec<String> = skipped.iter().map(|s| format!("{}: {}", s.name, s.why)).collect();
        assert_eq!(
            why[0],
            format!("missing.png: line 4: file not found ({})", root.join("missing.png").display())
        );
        assert_eq!(why[1..], [": line 5: no image file named", "ünï/sub/b.png: line 6: no label"]);
        // Columns: auto-picked from the values, or named; unclear ones are errors that say what to do.
        std::fs::write(root.join("t.tsv"), "id\tkind\tpic\n1\tx\tünï/a.png\n2\ty\tz/c.gif\n")
            .unwrap();
        let (got, _) = read_csv(&root.join("t.tsv"), None, Some("kind")).unwrap();
        assert_eq!(got.len(), 2);
        let err = read_csv(&root.join("t.tsv"), None, None).unwrap_err().to_string();
        assert!(err.ends_with("cannot tell which column holds the labels: columns are id, kind, pic; name it with --label-column"), "{err}");
        std::fs::write(root.join("one.csv"), "file,label\nünï/a.png,x\nz/c.gif,x\n").unwrap();
        // One label is a fine list (a test set, new examples); training data needs two.
        let (one, skipped) = read_csv(&root.join("one.csv"), None, None).unwrap();
        let err = super::super::check_classes("one.csv", &one, &skipped, true, 2).unwrap_err().to_string();
        assert!(err.ends_with("found only one label 'x': image classification needs at least two (expected a column of image files and a column of their labels)"), "{err}");
        std::fs::write(root.join("u.csv"), "a,b\n1,x\n2,y\n").unwrap();
        let err = read_csv(&root.join("u.csv"), None, None).unwrap_err().to_string();
        assert!(err.ends_with("cannot tell which column holds the image files: no column's values end in .png, .jpg, .jpeg, .webp, .bmp or .gif (columns are a, b); name it with --image-column"), "{err}");
    }
}
