//! UTF-8 checked on a stream read in pieces: a character split between two reads — or between
//! a stream and the one that continues it from a saved state — is fine, a bad byte is an error
//! naming its offset in the input, as for a training corpus.

use anyhow::{Result, bail};

/// The check's state between pieces.
#[derive(Debug, Default)]
pub struct Utf8Check {
    /// Bytes of a character that the last piece began and the next must finish (at most 3).
    open: Vec<u8>,
    /// Input bytes checked before `open` (negative while `open` holds bytes of the stream
    /// this one continues, which are not in this input).
    offset: i64,
}

impl Utf8Check {
    /// The check of an input that continues a stream whose last bytes were `before`: a
    /// character they begin is finished by this input.
    pub fn continuing(before: &[u8]) -> Self {
        // The last character's first byte is among the last three (a 4-byte character that
        // began before them would be complete).
        let recent = before.len().saturating_sub(3);
        let start = (recent..before.len())
            .rev()
            .find(|&i| begins_char(u32::from(before[i])));
        let tail = start.map_or(&[][..], |i| &before[i..]);
        let open = match std::str::from_utf8(tail) {
            Err(e) if e.error_len().is_none() => tail.to_vec(),
            _ => Vec::new(),
        };
        Self {
            offset: -(open.len() as i64),
            open,
        }
    }

    /// Checks the next piece of the input; `name` names the input in the error.
    pub fn next(&mut self, piece: &[u8], name: &str) -> Result<()> {
        let mut bytes = std::mem::take(&mut self.open);
        bytes.extend_from_slice(piece);
        match std::str::from_utf8(&bytes) {
            Ok(_) => self.offset += bytes.len() as i64,
            // The piece ends inside a character: keep its first bytes for the next piece.
            Err(e) if e.error_len().is_none() => {
                self.offset += e.valid_up_to() as i64;
                self.open = bytes[e.valid_up_to()..].to_vec();
            }
            Err(e) => bail!(
                "{name} is not valid UTF-8 at byte offset {}; convert it to UTF-8 (e.g. `iconv -t UTF-8`)",
                (self.offset + e.valid_up_to() as i64).max(0)
            ),
        }
        Ok(())
    }

    /// Checks that the input did not end inside a character (unless a stream continues it).
    pub fn finish(&self, name: &str) -> Result<()> {
        if !self.open.is_empty() {
            bail!(
                "{name} ends inside a UTF-8 character at byte offset {}; it was cut short or is not UTF-8",
                self.offset
            );
        }
        Ok(())
    }
}

/// Whether `byte` begins a character (is not a continuation byte `10xxxxxx`).
pub fn begins_char(byte: u32) -> bool {
    byte & 0xC0 != 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_between_pieces_pass_and_a_bad_byte_names_its_offset() {
        let text = "añb€c".as_bytes();
        for cut in 0..=text.len() {
            let mut check = Utf8Check::default();
            check.next(&text[..cut], "doc").unwrap();
            check.next(&text[cut..], "doc").unwrap();
            check.finish("doc").unwrap();
        }
        let mut check = Utf8Check::default();
        check.next(b"abc", "doc").unwrap();
        let e = check.next(b"d\xffe", "doc").unwrap_err().to_string();
        assert!(e.contains("byte offset 4"), "{e}");

        let mut check = Utf8Check::default();
        check
            .next("a€".as_bytes().split_last().unwrap().1, "doc")
            .unwrap();
        let e = check.finish("doc").unwrap_err().to_string();
        assert!(
            e.contains("ends inside a UTF-8 character at byte offset 1"),
            "{e}"
        );
        // The stream that continues it finishes the character.
        let mut check = Utf8Check::continuing("\u{80}a€".as_bytes().split_last().unwrap().1);
        check.next(&"€".as_bytes()[2..], "rest").unwrap();
        let e = check.next(b"\xff", "rest").unwrap_err().to_string();
        assert!(e.contains("byte offset 1"), "{e}");
        assert!(Utf8Check::continuing(b"ab").next(b"\x82", "r").is_err());
        assert_eq!("añ€".bytes().filter(|&b| begins_char(b as u32)).count(), 3);
    }
}
