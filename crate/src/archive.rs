//! ZIP archives: a minimal writer (stored, no compression) and a reader for stored and deflated
//! entries. The page offers an export or a checkpoint as one download (safetensors weights barely
//! compress, so storing keeps it fast and simple), and people hand over image collections as a
//! zip. Format: PKWARE APPNOTE 6.3, local headers + central directory, no ZIP64 (< 4 GiB).

use crate::error::{Error, Result};

/// The ZIP archive of `files` (name, bytes), in order, stored.
pub fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    write(files, false)
}

/// The writer; `deflate` compresses every entry (the tests make archives like the ones people
/// send with it).
fn write(files: &[(String, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, bytes) in files {
        let crc = crc32(bytes);
        let offset = out.len() as u32;
        let packed =
            if deflate { miniz_oxide::deflate::compress_to_vec(bytes, 6) } else { Vec::new() };
        let data = if deflate { &packed } else { bytes };
        let h = Header {
            method: if deflate { 8 } else { 0 },
            crc,
            packed: data.len() as u32,
            size: bytes.len() as u32,
            name_len: name.len() as u16,
        };
        // Local file header.
        out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        h.push(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // Central directory entry.
        central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        h.push(&mut central);
        central.extend_from_slice(&[0; 6]); // comment len, disk, internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_size, n) = (out.len() as u32, central.len() as u32, files.len() as u16);
    out.extend_from_slice(&central);
    out.extend_from_slice(&END_SIG.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The fields local headers and central directory entries share.
struct Header {
    method: u16,
    crc: u32,
    packed: u32,
    size: u32,
    name_len: u16,
}

impl Header {
    fn push(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0x0800u16.to_le_bytes()); // flags: UTF-8 names
        out.extend_from_slice(&self.method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0x21, 0]); // time 00:00, date 1980-01-01
        out.extend_from_slice(&self.crc.to_le_bytes());
        out.extend_from_slice(&self.packed.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra len
    }
}

/// CRC-32 (IEEE 802.3, reflected), as ZIP uses; a byte at a time from a table.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = (crc >> 8) ^ CRC_TABLE[((crc ^ b as u32) & 0xFF) as usize];
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// The most an archive may unpack to: beyond this it is refused before anything is inflated, so
/// a zip bomb fails with a message instead of exhausting memory (in the browser, 4 GiB is all).
pub const MAX_UNZIPPED: u64 = 2 << 30;

/// The files of an archive, in archive order, and the entries left out with the reason.
#[derive(Debug, Default)]
pub struct Unzipped {
    pub files: Vec<(String, Vec<u8>)>,
    pub skipped: Vec<(String, String)>,
}

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// One central directory entry, before its data is read.
struct Entry {
    name: String,
    flags: u16,
    method: u16,
    crc: u32,
    packed: u32,
    size: u32,
    offset: u32,
}

/// Reads the archive `bytes` (`source` names it in messages). Directory entries are left out
/// silently; encrypted entries, compression methods other than stored and deflate, and names that
/// climb out of the archive (`..`) are left out and listed. A damaged archive (bad CRC, sizes
/// that disagree, truncated data), ZIP64 and split archives are errors.
pub fn unzip(bytes: &[u8], source: &str) -> Result<Unzipped> {
    let err = |msg: String| Error::data(source, msg);
    let damaged = |what: &str| err(format!("{what}: the ZIP archive is damaged or truncated"));
    // The end-of-central-directory record: 22 bytes plus a comment of up to 64 KiB, at the end.
    let lowest = bytes.len().saturating_sub(22 + 0xFFFF);
    let end = (lowest..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&at| u32_at(bytes, at) == Some(END_SIG))
        .ok_or_else(|| {
            if u32_at(bytes, 0) == Some(LOCAL_SIG) {
                damaged("no central directory at the end")
            } else {
                err("not a ZIP archive".into())
            }
        })?;
    let field16 = |k: usize| u16_at(bytes, end + k).unwrap_or(0);
    let (disk, cd_disk, count) = (field16(4), field16(6), field16(10) as usize);
    let cd_size = u32_at(bytes, end + 12).unwrap_or(0);
    let cd_offset = u32_at(bytes, end + 16).unwrap_or(0);
    let zip64 = count == 0xFFFF
        || cd_size == u32::MAX
        || cd_offset == u32::MAX
        || (end >= 20 && u32_at(bytes, end - 20) == Some(ZIP64_LOCATOR_SIG));
    if zip64 {
        return Err(err("a ZIP64 archive (over 4 GiB or 65,535 files), which edgetune does not \
                        read; make smaller zips or give the unpacked folder"
            .into()));
    }
    if disk != 0 || cd_disk != 0 {
        return Err(err("a split (multi-part) ZIP archive, which edgetune does not read; join \
                        the parts into one zip"
            .into()));
    }
    if cd_offset as usize + cd_size as usize > end {
        return Err(damaged("the central directory points past the end"));
    }

    let mut entries = Vec::with_capacity(count);
    let mut at = cd_offset as usize;
    for k in 0..count {
        if u32_at(bytes, at) != Some(CENTRAL_SIG) || at + 46 > end {
            return Err(damaged(&format!("central directory entry {} of {count}", k + 1)));
        }
        let f16 = |o: usize| u16_at(bytes, at + o).unwrap_or(0);
        let f32 = |o: usize| u32_at(bytes, at + o).unwrap_or(0);
        let (name_len, extra_len, comment_len) =
            (f16(28) as usize, f16(30) as usize, f16(32) as usize);
        let raw = bytes.get(at + 46..at + 46 + name_len).ok_or_else(|| damaged("a file name"))?;
        entries.push(Entry {
            name: entry_name(raw, f16(8)),
            flags: f16(8),
            method: f16(10),
            crc: f32(16),
            packed: f32(20),
            size: f32(24),
            offset: f32(42),
        });
        at += 46 + name_len + extra_len + comment_len;
    }

    let mut out = Unzipped::default();
    let skip = |out: &mut Unzipped, e: &Entry, why: &str| {
        out.skipped.push((e.name.clone(), why.to_string()))
    };
    let mut total = 0u64;
    let mut wanted = Vec::with_capacity(entries.len());
    for e in &entries {
        if e.name.ends_with('/') {
            continue; // a directory
        }
        if e.name.split('/').any(|c| c == "..") {
            skip(&mut out, e, "unsafe path: it climbs out of the archive ('..')");
        } else if e.flags & 1 != 0 {
            skip(&mut out, e, "encrypted (password-protected); edgetune reads only plain zips");
        } else if e.method != 0 && e.method != 8 {
            let why = format!(
                "compressed with method {} (edgetune reads stored and deflate, the usual ones); \
                 re-create the zip with standard compression",
                e.method
            );
            skip(&mut out, e, &why);
        } else {
            total += e.size as u64;
            wanted.push(e);
        }
    }
    if total > MAX_UNZIPPED {
        return Err(err(format!(
            "unpacks to {:.1} GiB, more than edgetune reads ({} GiB); make smaller zips",
            total as f64 / (1u64 << 30) as f64,
            MAX_UNZIPPED >> 30
        )));
    }
    for e in wanted {
        let bad = |what: &str| damaged(&format!("entry '{}': {what}", e.name));
        let at = e.offset as usize;
        if u32_at(bytes, at) != Some(LOCAL_SIG) {
            return Err(bad("no local header where the directory says"));
        }
        let (name_len, extra_len) =
            (u16_at(bytes, at + 26).unwrap_or(0), u16_at(bytes, at + 28).unwrap_or(0));
        let start = at + 30 + name_len as usize + extra_len as usize;
        let data =
            bytes.get(start..start + e.packed as usize).ok_or_else(|| bad("data cut short"))?;
        let data = if e.method == 0 {
            if e.packed != e.size {
                return Err(bad("stored sizes disagree"));
            }
            data.to_vec()
        } else {
            // Never more than the size the directory declares (and already counted above).
            miniz_oxide::inflate::decompress_to_vec_with_limit(data, e.size as usize)
                .map_err(|d| bad(&format!("cannot inflate ({d})")))?
        };
        if data.len() != e.size as usize {
            return Err(bad(&format!("{} bytes, expected {}", data.len(), e.size)));
        }
        if crc32(&data) != e.crc {
            return Err(bad("CRC-32 mismatch"));
        }
        out.files.push((e.name.clone(), data));
    }
    Ok(out)
}

/// An entry's name: UTF-8 when flagged (bit 11) or valid, else IBM code page 437 (the ZIP
/// default that old Windows tools write); backslashes become slashes, a leading slash goes.
fn entry_name(raw: &[u8], flags: u16) -> String {
    let name = match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) if flags & 0x0800 != 0 => String::from_utf8_lossy(raw).into_owned(),
        Err(_) => raw
            .iter()
            .map(|&b| {
                if b < 0x80 {
                    b as char
                } else {
                    CP437_HIGH.chars().nth(b as usize - 0x80).unwrap_or('?')
                }
            })
            .collect(),
    };
    name.replace('\\', "/").trim_start_matches('/').to_string()
}

/// Code page 437, bytes 0x80..=0xFF.
const CP437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_known_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn code_page_437_has_128_characters() {
        assert_eq!(CP437_HIGH.chars().count(), 128);
        assert_eq!(entry_name(b"caf\x82\\\xa4.png", 0), "café/ñ.png");
        assert_eq!(entry_name("/x/é.png".as_bytes(), 0), "x/é.png");
    }

    fn files() -> Vec<(String, Vec<u8>)> {
        let noise: Vec<u8> =
            (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        vec![
            ("cats/".to_string(), Vec::new()),
            ("cats/1.png".to_string(), vec![7u8; 3000]),
            ("café/ñ.png".to_string(), noise),
            ("empty.txt".to_string(), Vec::new()),
        ]
    }

    /// Where the `k`-th central directory entry of an archive from `write` starts.
    fn central_entry(z: &[u8], k: usize) -> usize {
        let mut at = u32_at(z, z.len() - 6).unwrap() as usize;
        for _ in 0..k {
            at += 46 + u16_at(z, at + 28).unwrap() as usize;
        }
        at
    }

    fn err(bytes: &[u8]) -> String {
        unzip(bytes, "d.zip").unwrap_err().to_string()
    }

    #[test]
    fn reads_back_what_it_writes_stored_and_deflated() {
        for deflate in [false, true] {
            let z = write(&files(), deflate);
            let got = unzip(&z, "d.zip").unwrap();
            assert_eq!(got.files, files()[1..].to_vec(), "deflate {deflate}");
            assert!(got.skipped.is_empty());
        }
        // A deflated archive really is smaller, and a comment after the directory is fine.
        let mut z = write(&files(), true);
        assert!(z.len() < write(&files(), false).len() - 2500);
        let n = z.len();
        z[n - 2..].copy_from_slice(&5u16.to_le_bytes());
        z.extend_from_slice(b"hello");
        assert_eq!(unzip(&z, "d.zip").unwrap().files.len(), 3);
    }

    #[test]
    fn damaged_archives_and_bombs_fail_cleanly() {
        let z = zip(&files());
        let at = z.windows(3000).position(|w| w.iter().all(|&b| b == 7)).unwrap();
        let mut bad = z.clone();
        bad[at + 100] = 8;
        assert_eq!(
            err(&bad),
            "d.zip: entry 'cats/1.png': CRC-32 mismatch: the ZIP archive is damaged or truncated"
        );
        assert_eq!(err(b"just text"), "d.zip: not a ZIP archive");
        assert_eq!(err(b""), "d.zip: not a ZIP archive");
        assert_eq!(
            err(&z[..z.len() - 30]),
            "d.zip: no central directory at the end: the ZIP archive is damaged or truncated"
        );
        // Declared sizes over the limit: refused before inflating anything.
        let mut bomb = write(&files(), true);
        let cd = central_entry(&bomb, 1); // cats/1.png
        bomb[cd + 24..cd + 28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            err(&bomb),
            "d.zip: unpacks to 4.0 GiB, more than edgetune reads (2 GiB); make smaller zips"
        );
        // An entry that inflates to more than it declares stops at the declared size.
        let mut liar = write(&files(), true);
        liar[cd + 24..cd + 28].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(
            err(&liar),
            "d.zip: entry 'cats/1.png': cannot inflate (Output size exceeded the specified limit): the ZIP archive is damaged or truncated"
        );
        let mut zip64 = z.clone();
        let n = zip64.len();
        zip64[n - 12..n - 10].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(err(&zip64).starts_with("d.zip: a ZIP64 archive"), "{}", err(&zip64));
    }

    #[test]
    fn unsafe_encrypted_and_exotic_entries_are_skipped_with_a_reason() {
        let names = ["../evil.png", "ok/a.png", "locked.png", "lzma.png"];
        let mut z = zip(&names.iter().map(|n| (n.to_string(), vec![1u8; 10])).collect::<Vec<_>>());
        // Flag the third entry encrypted and the fourth LZMA (method 14) in the central directory.
        let (locked, lzma) = (central_entry(&z, 2), central_entry(&z, 3));
        z[locked + 8] |= 1;
        z[lzma + 10] = 14;
        let got = unzip(&z, "d.zip").unwrap();
        assert_eq!(got.files, [("ok/a.png".to_string(), vec![1u8; 10])]);
        let why: Vec<(&str, &str)> =
            got.skipped.iter().map(|(n, w)| (n.as_str(), &w[..20])).collect();
        assert_eq!(
            why,
            [
                ("../evil.png", "unsafe path: it clim"),
                ("locked.png", "encrypted (password-"),
                ("lzma.png", "compressed with meth")
            ]
        );
    }

    #[test]
    fn python_zipfile_reads_it_back() {
        let files = vec![
            ("config.json".to_string(), b"{}".to_vec()),
            ("dir/é.txt".to_string(), vec![7u8; 1000]),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.zip");
        std::fs::write(&path, zip(&files)).unwrap();
        let py = std::env::var("EDGETUNE_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(','.join(f'{i.filename}:{len(z.read(i))}' for i in z.infolist()))";
        let out = std::process::Command::new(py).args(["-c", script]).arg(&path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "config.json:2,dir/é.txt:1000");
    }
}
