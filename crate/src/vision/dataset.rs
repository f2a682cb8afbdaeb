//! Labelled image collections: a folder per class (on disk, in a zip, or dropped on the page), or
//! a CSV/TSV listing image files and their labels.
//!
//! Everything ends as a list of [`ImageFile`]s (name, label, bytes) plus the files left out and
//! why ([`Skipped`]); decoding and cleaning come after (`clean_images`). The folder layout is the
//! one torchvision's `ImageFolder` reads: the label is the first folder under the root, files
//! deeper inside a class folder belong to it, and a single wrapping folder (a zip of `images/`)
//! is looked through.

use super::pixels::FORMATS;
use crate::archive;
pub use crate::data::clean::Skipped;
use crate::error::{Error, Result};
use std::collections::BTreeSet;

/// One image file of a collection, not yet decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFile {
    /// The path relative to the collection root (or as written in the CSV), `/`-separated.
    pub name: String,
    pub label: String,
    pub bytes: Vec<u8>,
    /// The CSV line that lists the file; 0 for folders and zips.
    pub line: usize,
}

/// Extensions of the formats edgetune decodes (the content decides; these pick what to read).
pub const IMAGE_EXTENSIONS: &[&str] =
    &["png", "jpg", "jpeg", "jpe", "jfif", "webp", "bmp", "dib", "gif"];
/// Image formats people have that edgetune does not decode: named in the reason they are skipped.
const OTHER_IMAGES: &[&str] = &[
    "tif", "tiff", "heic", "heif", "avif", "svg", "ico", "psd", "raw", "cr2", "nef", "dng", "jxl",
];

/// What a file is, judged by its name before reading it.
pub(super) enum Kind {
    /// An image (or no extension: the content will tell).
    Image,
    /// Left out silently: hidden files and folders, macOS and Windows bookkeeping.
    Junk,
    /// Left out and reported.
    Other(String),
}

pub(super) fn kind(path: &str) -> Kind {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let junk = |p: &&str| {
        (p.starts_with('.') && *p != "..")
            || *p == "__MACOSX"
            || p.eq_ignore_ascii_case("Thumbs.db")
            || p.eq_ignore_ascii_case("desktop.ini")
    };
    if parts.iter().any(junk) {
        return Kind::Junk;
    }
    if parts.contains(&"..") {
        return Kind::Other("unsafe path: it climbs out of the folder ('..')".into());
    }
    let file = parts.last().copied().unwrap_or("");
    let Some((_, ext)) = file.rsplit_once('.') else { return Kind::Image };
    let ext = ext.to_ascii_lowercase();
    if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
        Kind::Image
    } else if OTHER_IMAGES.contains(&ext.as_str()) {
        let up = ext.to_uppercase();
        Kind::Other(format!(
            "{up} is not an image format edgetune reads ({FORMATS}); convert it to PNG or JPEG"
        ))
    } else {
        Kind::Other(format!("not an image file ({FORMATS})"))
    }
}

/// The class-folder layout from a flat list of (relative path, bytes): shared by folders, zips and
/// the page's dropped folders. `source` names the collection in messages.
pub fn from_entries(
    source: &str,
    entries: Vec<(String, Vec<u8>)>,
) -> Result<(Vec<ImageFile>, Vec<Skipped>)> {
    let mut skipped = Vec::new();
    let mut found: Vec<(Vec<String>, Vec<u8>)> = Vec::new();
    for (path, bytes) in entries {
        let path = path.replace('\\', "/");
        let parts: Vec<String> =
            path.split('/').filter(|p| !p.is_empty() && *p != ".").map(str::to_string).collect();
        if parts.is_empty() {
            continue;
        }
        match kind(&path) {
            Kind::Image => found.push((parts, bytes)),
            Kind::Junk => {}
            Kind::Other(why) => skipped.push(Skipped { name: parts.join("/"), why }),
        }
    }
    // Look through wrapping folders: while every image is at least two folders deep under one
    // and the same top folder, that folder is not a class but the real root.
    let mut depth = 0;
    while let Some((first, _)) = found.first() {
        let top = &first[depth];
        if !found.iter().all(|(p, _)| p.len() >= depth + 3 && p[depth] == *top) {
            break;
        }
        depth += 1;
    }
    let mut files = Vec::new();
    for (parts, bytes) in found {
        let name = parts.join("/");
        if parts.len() == depth + 1 {
            let why = "not inside a class folder (expected one folder per class, like cats/1.jpg)";
            skipped.push(Skipped { name, why: why.into() });
        } else {
            files.push(ImageFile { name, label: parts[depth].clone(), bytes, line: 0 });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    skipped.sort_by(|a, b| a.name.cmp(&b.name));
    check_classes(source, &files, &skipped, false, 1)?;
    Ok((files, skipped))
}

/// At least one image in each of at least `min_classes` classes, or an error that says what was
/// found. `listed`: the files come from a CSV list (classes are labels there, not folders).
/// Listing checks for images only; training data needs two classes, while a test set or the new
/// examples of a personalisation may hold one.
pub fn check_classes(
    source: &str,
    files: &[ImageFile],
    skipped: &[Skipped],
    listed: bool,
    min_classes: usize,
) -> Result<()> {
    let layout = match listed {
        true => "expected a column of image files and a column of their labels",
        false => {
            "expected one folder per class with the images inside, like cats/1.jpg and dogs/2.jpg"
        }
    };
    if files.is_empty() {
        let msg = match skipped.first() {
            None => format!("no image files ({FORMATS}) found; {layout}"),
            Some(s) => format!(
                "no usable image files ({FORMATS}): {} skipped, the first '{}': {}",
                skipped.len(),
                s.name,
                s.why
            ),
        };
        return Err(Error::data(source, msg));
    }
    let classes: BTreeSet<&str> = files.iter().map(|f| f.label.as_str()).collect();
    if classes.len() < min_classes.min(2) {
        let (only, what) = (&files[0].label, if listed { "label" } else { "class folder" });
        let msg = format!(
            "found only one {what} '{only}': image classification needs at least two ({layout})"
        );
        return Err(Error::data(source, msg));
    }
    Ok(())
}

/// A zip of class folders (works on the page too: it takes bytes).
pub fn read_zip(bytes: &[u8], name: &str) -> Result<(Vec<ImageFile>, Vec<Skipped>)> {
    let unzipped = archive::unzip(bytes, name)?;
    let (files, mut skipped) = from_entries(name, unzipped.files)?;
    skipped.extend(unzipped.skipped.into_iter().map(|(name, why)| Skipped { name, why }));
    skipped.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((files, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(names: &[&str]) -> Vec<(String, Vec<u8>)> {
        names.iter().map(|n| (n.to_string(), vec![1u8])).collect()
    }

    /// (label, name) of the files and "name: why" of the skipped, or the error.
    type Layout = std::result::Result<(Vec<(String, String)>, Vec<String>), String>;

    fn layout(names: &[&str]) -> Layout {
        let (files, skipped) = from_entries("src", entries(names)).map_err(|e| e.to_string())?;
        check_classes("src", &files, &skipped, false, 2).map_err(|e| e.to_string())?;
        let files = files.into_iter().map(|f| (f.label, f.name)).collect();
        Ok((files, skipped.into_iter().map(|s| format!("{}: {}", s.name, s.why)).collect()))
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn class_folders_wrapping_folders_and_nesting() {
        let (files, skipped) = layout(&["dogs/b.jpg", "cats/a.png", "cats/2020/c.PNG"]).unwrap();
        assert_eq!(
            files,
            pairs(&[("cats", "cats/2020/c.PNG"), ("cats", "cats/a.png"), ("dogs", "dogs/b.jpg")])
        );
        assert!(skipped.is_empty());
        // A zip of `images/`, with macOS junk, hidden files and a README beside the classes.
        let (files, skipped) = layout(&[
            "images/0/x.png",
            "images/1/y.png",
            "images/README.md",
            "__MACOSX/images/0/._x.png",
            "images/.DS_Store",
            "images/1/.hidden.png",
            "images/1/Thumbs.db",
        ])
        .unwrap();
        assert_eq!(files, pairs(&[("0", "images/0/x.png"), ("1", "images/1/y.png")]));
        assert_eq!(skipped, ["images/README.md: not an image file (PNG, JPEG, WebP, BMP, GIF)"]);
        // Two wrapping folders, Windows separators, non-ASCII names, files with no extension.
        let (files, _) = layout(&["a\\b\\café\\ñ.png", "a/b/thé/1", "./a/b/thé/x.HEIC"]).unwrap();
        assert_eq!(files, pairs(&[("café", "a/b/café/ñ.png"), ("thé", "a/b/thé/1")]));
        let (_, skipped) =
            layout(&["c/1.png", "d/2.png", "d/x.HEIC", "../up.png", "loose.jpg"]).unwrap();
        assert_eq!(
            skipped,
            [
                "../up.png: unsafe path: it climbs out of the folder ('..')",
                "d/x.HEIC: HEIC is not an image format edgetune reads (PNG, JPEG, WebP, BMP, GIF); convert it to PNG or JPEG",
                "loose.jpg: not inside a class folder (expected one folder per class, like cats/1.jpg)"
            ]
        );
    }

    #[test]
    fn too_few_classes_or_no_images_are_errors() {
        assert_eq!(
            layout(&["cats/a.png", "cats/b.png", "notes.txt"]).unwrap_err(),
            "src: found only one class folder 'cats': image classification needs at least two (expected one folder per class with the images inside, like cats/1.jpg and dogs/2.jpg)"
        );
        // One wrapping folder holding one class: still one class.
        assert!(layout(&["data/cats/a.png"]).unwrap_err().contains("only one class folder 'cats'"));
        assert_eq!(
            layout(&[]).unwrap_err(),
            "src: no image files (PNG, JPEG, WebP, BMP, GIF) found; expected one folder per class with the images inside, like cats/1.jpg and dogs/2.jpg"
        );
        assert_eq!(layout(&[".DS_Store", "__MACOSX/x.png"]).unwrap_err(), layout(&[]).unwrap_err());
        assert_eq!(
            layout(&["a.txt", "b.png"]).unwrap_err(),
            "src: no usable image files (PNG, JPEG, WebP, BMP, GIF): 2 skipped, the first 'a.txt': not an image file (PNG, JPEG, WebP, BMP, GIF)"
        );
    }

    #[test]
    fn zips_are_read_like_folders() {
        let files: Vec<(String, Vec<u8>)> = ["set/café/ñ.png", "set/tea/1.png", "set/../x.png"]
            .iter()
            .map(|n| (n.to_string(), vec![2u8; 3]))
            .collect();
        let (got, skipped) = read_zip(&archive::zip(&files), "set.zip").unwrap();
        let names: Vec<(&str, &str)> =
            got.iter().map(|f| (f.label.as_str(), f.name.as_str())).collect();
        assert_eq!(names, [("café", "set/café/ñ.png"), ("tea", "set/tea/1.png")]);
        assert_eq!(skipped[0].name, "set/../x.png");
    }
}
