//! Image files → model inputs, with the same kind of report as for tables: what was kept, what
//! was skipped and why, exact duplicates removed, identical images under different labels listed.

use super::dataset::{ImageFile, Skipped};
use super::pixels::{decode, Pixels};
use super::resize::{to_input, Fit};
use crate::data::clean::{Conflict, DataReport, Example};
use crate::error::Error;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// How many duplicate names a report keeps.
const NAMES_SHOWN: usize = 5;

/// A fingerprint of the decoded pixels (size included): equal images, equal hashes.
fn fingerprint(p: &Pixels) -> u64 {
    // SipHash with fixed keys: the same everywhere, and 64 bits make a false match between two
    // different images of a collection vanishingly unlikely.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    (p.width, p.height).hash(&mut h);
    h.write(&p.rgb);
    h.finish()
}

/// Decodes `files` and fits each to `size`×`size` (`fit`), in order, as examples whose `text` is
/// the file name and whose `image` holds the CHW pixels. Undecodable files join
/// `skipped` with the decoder's reason; an image identical (same decoded pixels) to an earlier one
/// with the same label is a duplicate and dropped; identical images under different labels are
/// kept and listed as conflicts.
pub fn clean_images(
    source: &str,
    files: Vec<ImageFile>,
    mut skipped: Vec<Skipped>,
    size: usize,
    fit: Fit,
) -> (Vec<Example>, DataReport) {
    let mut report = DataReport {
        source: source.to_string(),
        rows: files.len() + skipped.len(),
        images: true,
        ..Default::default()
    };
    let mut seen: HashSet<(u64, String)> = HashSet::new();
    let mut hashes: Vec<u64> = Vec::new(); // per kept example
    let mut examples = Vec::new();
    for f in files {
        let pixels = match decode(&f.bytes, &f.name) {
            Ok(p) => p,
            Err(e) => {
                let why = match e {
                    Error::Data { msg, .. } => msg,
                    other => other.to_string(),
                };
                let why = if f.line > 0 { format!("line {}: {why}", f.line) } else { why };
                skipped.push(Skipped { name: f.name, why });
                continue;
            }
        };
        let hash = fingerprint(&pixels);
        if !seen.insert((hash, f.label.clone())) {
            report.duplicates_removed += 1;
            if report.duplicate_names.len() < NAMES_SHOWN {
                report.duplicate_names.push(f.name);
            }
            continue;
        }
        let pixels = to_input(&pixels, size, fit);
        hashes.push(hash);
        examples.push(Example { text: f.name, label: f.label, line: f.line, image: Some(Arc::new(pixels)) });
    }
    report.kept = examples.len();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in &examples {
        *counts.entry(&e.label).or_default() += 1;
    }
    let mut labels: Vec<String> = counts.keys().map(|l| l.to_string()).collect();
    crate::prepare::sort_labels(&mut labels);
    report.classes = labels.into_iter().map(|l| (l.clone(), counts[l.as_str()])).collect();
    report.conflicts = conflicts(&examples, &hashes);
    skipped.sort_by(|a, b| a.name.cmp(&b.name));
    report.skipped = skipped;
    (examples, report)
}

/// Groups of identical images with more than one label, in order of first appearance.
fn conflicts(examples: &[Example], hashes: &[u64]) -> Vec<Conflict> {
    let mut groups: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (k, &h) in hashes.iter().enumerate() {
        let g = groups.entry(h).or_default();
        if g.is_empty() {
            order.push(h);
        }
        g.push(k);
    }
    let mut out = Vec::new();
    for h in order {
        let members = &groups[&h];
        let mut labels: Vec<String> = Vec::new();
        for &k in members {
            if !labels.contains(&examples[k].label) {
                labels.push(examples[k].label.clone());
            }
        }
        if labels.len() < 2 {
            continue;
        }
        let names: Vec<&str> = members.iter().map(|&k| examples[k].text.as_str()).collect();
        let lines = members.iter().map(|&k| examples[k].line).filter(|&l| l > 0).collect();
        out.push(Conflict { text: names.join(", "), labels, lines });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::dataset::from_entries;
    use image::{ExtendedColorType, ImageEncoder};

    fn png(grey: &[u8], w: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let h = grey.len() as u32 / w;
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(grey, w, h, ExtendedColorType::L8)
            .unwrap();
        out
    }

    #[test]
    fn decodes_fits_dedupes_and_reports() {
        let a = png(&[0, 255, 255, 0], 2);
        let b = png(&[10; 9], 3);
        // The same picture as `a`, saved differently (RGB, not greyscale): still a duplicate.
        let mut a_rgb = Vec::new();
        image::codecs::png::PngEncoder::new(&mut a_rgb)
            .write_image(
                &[0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0],
                2,
                2,
                ExtendedColorType::Rgb8,
            )
            .unwrap();
        let entries = vec![
            ("d/10/a.png".to_string(), a.clone()),
            ("d/10/a copy.png".to_string(), a_rgb),
            ("d/9/b.png".to_string(), b),
            ("d/9/a again.png".to_string(), a),
            ("d/9/broken.png".to_string(), b"\x89PNG\r\n\x1a\nnope".to_vec()),
            ("d/notes.txt".to_string(), b"hi".to_vec()),
        ];
        let (files, skipped) = from_entries("d.zip", entries).unwrap();
        let (examples, r) = clean_images("d.zip", files, skipped, 4, Fit::Resize);
        let names: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(names, ["d/10/a copy.png", "d/9/a again.png", "d/9/b.png"]);
        assert_eq!(examples[2].image.as_deref(), Some(&vec![10; 48]));
        assert_eq!((r.rows, r.kept, r.duplicates_removed), (6, 3, 1));
        assert_eq!(r.duplicate_names, ["d/10/a.png"]);
        assert_eq!(r.classes, [("9".to_string(), 2), ("10".to_string(), 1)]); // numeric order
        assert_eq!(r.conflicts.len(), 1);
        assert_eq!(r.conflicts[0].text, "d/10/a copy.png, d/9/a again.png");
        assert_eq!(r.conflicts[0].labels, ["10", "9"]);
        assert_eq!(
            r.to_string(),
            "d.zip: 6 files, 3 kept
  2 classes: 9 2, 10 1
  classes with fewer than 3 examples (too few to validate on): 9, 10
  files skipped: 2
    d/9/broken.png: cannot decode: unexpected end of file
    d/notes.txt: not an image file (PNG, JPEG, WebP, BMP, GIF)
  duplicates removed: 1 (d/10/a.png)
  identical images with different labels (all kept; check them): 1
    d/10/a copy.png, d/9/a again.png: 10 / 9"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["images"], true);
        assert_eq!(json["skipped"][1]["name"], "d/notes.txt");
        assert!(
            json.get("duplicate_lines").is_some() && json["duplicate_names"][0] == "d/10/a.png"
        );
    }
}
