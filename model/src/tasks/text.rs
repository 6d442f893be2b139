//! Character-level language modelling on any UTF-8 text: a user's file or folder, or bytes the
//! caller already holds (in the browser). Tokens are the text's UTF-8 bytes (vocabulary 256), so
//! every text and every checkpoint share one vocabulary; for English text a byte is a character.

use rand::RngExt;
use rand::rngs::StdRng;

use super::{Batch, Task, TaskError, check};

/// A text corpus sampled in random windows.
#[derive(Debug, Clone, PartialEq)]
pub struct CharText {
    bytes: Vec<u8>,
    /// Tokens per sample.
    pub len: usize,
    /// Where the text came from (for messages).
    pub source: String,
}

fn text_error(path: impl Into<String>, reason: impl Into<String>) -> TaskError {
    TaskError::Text {
        path: path.into(),
        reason: reason.into(),
    }
}

/// Checks that `bytes` is UTF-8, naming the first bad byte.
fn validate_utf8(name: &str, bytes: &[u8]) -> Result<(), TaskError> {
    std::str::from_utf8(bytes).map(|_| ()).map_err(|e| {
        text_error(name, format!("not valid UTF-8 at byte offset {}; convert the file to UTF-8 (e.g. `iconv -t UTF-8`)", e.valid_up_to()))
    })
}

impl CharText {
    /// A corpus from bytes already in memory.
    pub fn from_bytes(source: &str, bytes: Vec<u8>, len: usize) -> Result<Self, TaskError> {
        check(len >= 1, "len", len, "at least 1")?;
        if bytes.is_empty() {
            return Err(text_error(source, "is empty; give a file with text in it"));
        }
        validate_utf8(source, &bytes)?;
        if bytes.len() < len + 1 {
            return Err(text_error(
                source,
                format!(
                    "has {} bytes, fewer than one sample needs ({}); use a longer text or a shorter length",
                    bytes.len(),
                    len + 1
                ),
            ));
        }
        Ok(Self {
            bytes,
            len,
            source: source.to_string(),
        })
    }

    /// A corpus from a file, or from every file under a folder (sorted by path, joined by a
    /// newline). Unreadable, empty or non-UTF-8 files are errors naming the file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: &std::path::Path, len: usize) -> Result<Self, TaskError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path)
            .map_err(|e| text_error(&shown, format!("cannot be read: {e}")))?;
        let files = if meta.is_dir() {
            let mut files = Vec::new();
            collect_files(path, &mut files)?;
            files.sort();
            if files.is_empty() {
                return Err(text_error(&shown, "is a folder with no files in it"));
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut all = Vec::new();
        for f in &files {
            let name = f.display().to_string();
            let bytes = read_at_most(f, MAX_TEXT_BYTES - all.len() as u64)?;
            if bytes.is_empty() {
                return Err(text_error(
                    &name,
                    "is empty; remove it or give a file with text in it",
                ));
            }
            validate_utf8(&name, &bytes)?;
            if !all.is_empty() {
                all.push(b'\n');
            }
            all.extend_from_slice(&bytes);
        }
        Self::from_bytes(&shown, all, len)
    }

    /// Bytes in the corpus.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Splits off the last 5 % of the text (at least one sample's worth) for evaluation, so
    /// bits per character are measured on text the model never trained on. Returns
    /// `(training part, held-out part)`; a text too short for both is an error.
    pub fn split_held_out(&self) -> Result<(Self, Self), TaskError> {
        let need = self.len + 1;
        let held = (self.bytes.len() / 20).max(need);
        if self.bytes.len() < held + need {
            return Err(text_error(
                &self.source,
                format!(
                    "has {} bytes, too few for a training part and a held-out part of {} each; \
                     use a longer text or a shorter length",
                    self.bytes.len(),
                    need
                ),
            ));
        }
        let cut = self.bytes.len() - held;
        let part = |bytes: &[u8], what: &str| Self {
            bytes: bytes.to_vec(),
            len: self.len,
            source: format!("{} ({what})", self.source),
        };
        Ok((
            part(&self.bytes[..cut], "training part"),
            part(&self.bytes[cut..], "held-out last 5 %"),
        ))
    }
}

/// The most bytes a text corpus may hold: it is read whole into memory (from a file: not in
/// the browser).
#[cfg(not(target_arch = "wasm32"))]
pub const MAX_TEXT_BYTES: u64 = 1 << 30;

/// The bytes of `path`, or an error naming it when it holds more than `limit`. A regular file
/// is measured before it is read; anything else (a pipe, a device such as `/dev/zero`) is read
/// up to one byte past the limit, never until memory runs out.
#[cfg(not(target_arch = "wasm32"))]
fn read_at_most(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, TaskError> {
    use std::io::Read;
    let name = path.display().to_string();
    let unreadable = |e: std::io::Error| text_error(&name, format!("cannot be read: {e}"));
    let too_large = || {
        text_error(
            &name,
            format!(
                "holds more than the {limit} bytes left of the {MAX_TEXT_BYTES} a corpus may hold \
                 (it is read into memory); give a smaller file or a folder of smaller ones"
            ),
        )
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_file() && meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(not(target_arch = "wasm32"))]
fn collect_files(
    dir: &std::path::Path,
    out: &mut Vec<std::path::PathBuf>,
) -> Result<(), TaskError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| text_error(dir.display().to_string(), format!("cannot be listed: {e}")))?;
    for entry in entries {
        let entry = entry
            .map_err(|e| text_error(dir.display().to_string(), format!("cannot be listed: {e}")))?;
        let p = entry.path();
        if p.is_dir() {
            collect_files(&p, out)?;
        } else if p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

impl Task for CharText {
    fn name(&self) -> &'static str {
        "text"
    }

    fn vocab_size(&self) -> usize {
        256
    }

    fn seq_len(&self) -> usize {
        self.len
    }

    fn sample(&self, rng: &mut StdRng, batch: usize) -> Batch {
        let len = self.len;
        let mut out = Batch::zeros(batch, len);
        for b in 0..batch {
            let start = rng.random_range(0..=self.bytes.len() - len - 1);
            let window = &self.bytes[start..start + len + 1];
            for t in 0..len {
                out.inputs[b * len + t] = window[t] as u32;
                out.targets[b * len + t] = window[t + 1] as u32;
                out.mask[b * len + t] = 1.0;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn targets_are_the_next_bytes() {
        let text = CharText::from_bytes(
            "mem",
            b"In the beginning God created the heaven and the earth.".to_vec(),
            10,
        )
        .unwrap();
        let batch = text.sample(&mut StdRng::seed_from_u64(0), 3);
        for b in 0..3 {
            for t in 0..9 {
                assert_eq!(batch.targets[b * 10 + t], batch.inputs[b * 10 + t + 1]);
            }
        }
    }

    #[test]
    fn the_held_out_part_is_the_last_twentieth_and_never_sampled_in_training() {
        let bytes: Vec<u8> = (0..400u32).map(|i| b'a' + (i % 26) as u8).collect();
        let text = CharText::from_bytes("mem", bytes.clone(), 8).unwrap();
        let (train, held) = text.split_held_out().unwrap();
        assert_eq!(held.size(), 20);
        assert_eq!(train.size(), 380);
        assert_eq!(held.bytes, bytes[380..]);
        let batch = train.sample(&mut StdRng::seed_from_u64(3), 64);
        // Every training window lies in the first 380 bytes: the last input is at most byte 378.
        assert!(train.bytes.ends_with(&bytes[370..380]));
        assert_eq!(batch.inputs.len(), 64 * 8);
        // Too short for two samples of 9 bytes.
        let short = CharText::from_bytes("s.txt", bytes[..17].to_vec(), 8).unwrap();
        let e = short.split_held_out().unwrap_err().to_string();
        assert!(e.contains("s.txt") && e.contains("held-out"), "{e}");
    }

    #[test]
    fn bad_sources_name_the_file_and_offset() {
        let e = CharText::from_bytes("a.txt", b"ok \xff bad".to_vec(), 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.txt: not valid UTF-8 at byte offset 3; convert the file to UTF-8 (e.g. `iconv -t UTF-8`)"
        );
        assert!(
            CharText::from_bytes("e.txt", Vec::new(), 2)
                .unwrap_err()
                .to_string()
                .starts_with("e.txt: is empty")
        );
        assert!(
            CharText::from_bytes("s.txt", b"ab".to_vec(), 5)
                .unwrap_err()
                .to_string()
                .contains("fewer than one sample needs")
        );
    }

    #[test]
    fn files_and_folders() {
        let dir = std::env::temp_dir().join(format!("dmn-text-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.txt"), "first file of text").unwrap();
        std::fs::write(dir.join("sub/b.txt"), "second file").unwrap();
        let t = CharText::from_path(&dir, 8).unwrap();
        assert_eq!(
            t.size(),
            "first file of text".len() + 1 + "second file".len()
        );
        std::fs::write(dir.join("sub/c.txt"), b"\xc3\x28").unwrap();
        let e = CharText::from_path(&dir, 8).unwrap_err().to_string();
        assert!(e.contains("c.txt") && e.contains("byte offset 0"), "{e}");
        std::fs::write(dir.join("sub/c.txt"), b"").unwrap();
        assert!(
            CharText::from_path(&dir, 8)
                .unwrap_err()
                .to_string()
                .contains("c.txt: is empty")
        );
        assert!(
            CharText::from_path(&dir.join("missing"), 8)
                .unwrap_err()
                .to_string()
                .contains("cannot be read")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_source_is_read_up_to_the_limit_and_refused() {
        let e = read_at_most(std::path::Path::new("/dev/zero"), 1 << 16).unwrap_err();
        let e = e.to_string();
        assert!(
            e.starts_with("/dev/zero: holds more than the 65536 bytes"),
            "{e}"
        );
        let path = std::env::temp_dir().join(format!("dmn-big-{}.txt", std::process::id()));
        std::fs::write(&path, vec![b'a'; 100]).unwrap();
        let e = read_at_most(&path, 99).unwrap_err().to_string();
        assert!(
            e.contains("big") && e.contains("holds more than the 99 bytes"),
            "{e}"
        );
        assert_eq!(read_at_most(&path, 100).unwrap().len(), 100);
        std::fs::remove_file(path).unwrap();
    }
}
