//! The timeline panel's arithmetic, apart from drawing: which tokens are in view after a zoom
//! or a drag, the cells of the picture, the labels under the axis, and an answer's provenance
//! as sentences.

use std::ops::Range;

use dmn::timeline::{Answer, Bucket};

/// What a cell shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Write weight received (summed over heads and the column's updates).
    Write,
    /// Read weight received (summed likewise).
    Read,
    /// Content norm after the column's last update.
    Norm,
}

/// Narrowest view, in tokens: a few dozen tokens are still legible one by one.
const MIN_SPAN: u64 = 16;

/// `range` zoomed by `factor` (below 1 narrows) around token `at`, which stays where it is on
/// screen, kept inside `0..total` and at least [`MIN_SPAN`] tokens wide.
pub fn zoom(range: &Range<u64>, at: u64, factor: f64, total: u64) -> Range<u64> {
    let span = (range.end - range.start).max(1) as f64;
    let new_span = (span * factor)
        .round()
        .clamp(MIN_SPAN.min(total) as f64, total.max(1) as f64) as u64;
    let left = (at.clamp(range.start, range.end) - range.start) as f64 / span;
    let start = at as f64 - left * new_span as f64;
    let start = (start.max(0.0) as u64).min(total.saturating_sub(new_span));
    start..start + new_span
}

/// `range` moved by `delta` tokens (negative: towards the start), kept inside `0..total`.
pub fn pan(range: &Range<u64>, delta: i64, total: u64) -> Range<u64> {
    let span = range.end - range.start;
    let start = (range.start as i64 + delta).clamp(0, total.saturating_sub(span) as i64) as u64;
    start..start + span
}

/// The `n` slots read most (weight above 0), most first, as `slot j w`.
fn most_read(read: &[f32], n: usize) -> Vec<String> {
    let mut slots: Vec<(usize, f32)> = read.iter().copied().enumerate().collect();
    slots.sort_by(|a, b| b.1.total_cmp(&a.1));
    slots
        .into_iter()
        .take(n)
        .filter(|&(_, w)| w > 0.0)
        .map(|(j, w)| format!("slot {j} {w:.3}"))
        .collect()
}

/// What the provenance of `answer` says, one line per fact.
pub fn provenance_lines(answer: &Answer) -> Vec<String> {
    let verdict = match answer.expected {
        Some(e) if e == answer.predicted => format!("predicted {} (right)", answer.predicted),
        Some(e) => format!("predicted {} (expected {e})", answer.predicted),
        None => format!("predicted {}", answer.predicted),
    };
    let mut lines = vec![
        format!("answer at token {}: {verdict}", answer.position),
        format!(
            "read slot {} most; read weights at the answer: {} (of {:.3} over all slots)",
            answer.slot,
            most_read(&answer.read, 4).join(", "),
            answer.read.iter().sum::<f32>()
        ),
    ];
    match &answer.written {
        None => lines.push("that slot was never written before the answer".into()),
        Some(w) => {
            lines.push(format!(
                "written by the update over tokens {}–{} (write weight {:.3}), {} tokens before",
                w.tokens.start,
                w.tokens.end,
                w.weight,
                answer.position.saturating_sub(w.tokens.start)
            ));
            lines.push(match &w.transferred {
                Some(t) => {
                    let kept = t
                        .width
                        .map(|w| format!(", compressed to {w:.1} latent dimensions"))
                        .unwrap_or_default();
                    format!(
                        "moved to long-term level {} at token {} (importance {:.3}{kept})",
                        t.level, t.at, t.importance
                    )
                }
                None => "not moved to long-term memory before the answer".into(),
            });
        }
    }
    if !answer.retrieval_per_level.is_empty() {
        let levels: Vec<String> = answer
            .retrieval_per_level
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect();
        lines.push(format!("retrieval per level: {}", levels.join(" / ")));
    }
    lines
}

/// The cells `[K rows, columns]` (row-major) of `quantity` over `columns`.
pub(super) fn cells(columns: &[Bucket], slots: usize, quantity: Quantity) -> Vec<f32> {
    let mut out = vec![0.0; slots * columns.len()];
    for (c, column) in columns.iter().enumerate() {
        let values = match quantity {
            Quantity::Write => &column.write,
            Quantity::Read => &column.read,
            Quantity::Norm => &column.norm,
        };
        for (slot, v) in values.iter().enumerate().take(slots) {
            out[slot * columns.len() + c] = *v;
        }
    }
    out
}

/// A token as a character where the tokens are bytes of text, else its id.
pub(super) fn token_label(token: u32, bytes: bool) -> String {
    match char::from_u32(token) {
        Some(c) if bytes && c.is_ascii_graphic() => c.to_string(),
        Some(' ') if bytes => "␣".into(),
        _ if bytes => "·".into(),
        _ => token.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmn::timeline::{Transferred, Written};

    #[test]
    fn zoom_keeps_the_pointed_token_in_place_and_stays_inside_the_stream() {
        // Zooming in 4× around token 500 of 0..1000: 500 stays at the middle.
        assert_eq!(zoom(&(0..1000), 500, 0.25, 1000), 375..625);
        // Around the start, the view starts at 0.
        assert_eq!(zoom(&(0..1000), 0, 0.5, 1000), 0..500);
        // Never narrower than MIN_SPAN, never wider than the stream.
        assert_eq!(zoom(&(100..120), 110, 0.01, 1000), 102..118);
        assert_eq!(zoom(&(0..1000), 900, 10.0, 1000), 0..1000);
        // A 1M-token stream zooms down to single tokens in a few steps.
        let mut range = 0..1_000_000;
        for _ in 0..10 {
            range = zoom(&range, 123_456, 0.25, 1_000_000);
        }
        assert_eq!(range.end - range.start, MIN_SPAN);
        assert!(range.contains(&123_456));
    }

    #[test]
    fn pan_moves_the_view_and_stops_at_the_ends() {
        assert_eq!(pan(&(100..200), 50, 1000), 150..250);
        assert_eq!(pan(&(100..200), -500, 1000), 0..100);
        assert_eq!(pan(&(100..200), 5000, 1000), 900..1000);
    }

    #[test]
    fn provenance_reads_as_the_path_from_write_to_answer() {
        let answer = Answer {
            position: 2999,
            predicted: 5,
            expected: Some(5),
            read: vec![0.1, 0.0, 0.6, 0.0],
            slot: 2,
            written: Some(Written {
                tokens: 0..8,
                weight: 0.9,
                transferred: Some(Transferred {
                    at: 96,
                    level: 0,
                    importance: 0.75,
                    width: Some(3.5),
                }),
            }),
            retrieval_per_level: vec![0.5, 0.25],
        };
        let lines = provenance_lines(&answer);
        assert_eq!(lines[0], "answer at token 2999: predicted 5 (right)");
        assert_eq!(
            lines[1],
            "read slot 2 most; read weights at the answer: slot 2 0.600, slot 0 0.100 (of 0.700 \
             over all slots)"
        );
        assert!(lines[2].contains("tokens 0–8") && lines[2].contains("2999 tokens before"));
        assert_eq!(
            lines[3],
            "moved to long-term level 0 at token 96 (importance 0.750, compressed to 3.5 \
             latent dimensions)"
        );
        assert_eq!(lines[4], "retrieval per level: 0.50 / 0.25");
        let never = Answer {
            written: None,
            expected: Some(4),
            ..answer
        };
        let lines = provenance_lines(&never);
        assert!(lines[0].ends_with("(expected 4)"));
        assert_eq!(lines[2], "that slot was never written before the answer");
    }

    #[test]
    fn cells_are_slots_by_columns() {
        let column = |w: Vec<f32>| Bucket {
            start: 0,
            tokens: 8,
            updates: 1,
            write: w.clone(),
            read: w.clone(),
            norm: w,
            transfers: 0,
            level_fill: Vec::new(),
            retrieval: Vec::new(),
            segments: 0,
        };
        let grid = cells(
            &[column(vec![1.0, 2.0]), column(vec![3.0, 4.0])],
            2,
            Quantity::Write,
        );
        assert_eq!(grid, vec![1.0, 3.0, 2.0, 4.0]);
        assert_eq!(token_label(u32::from(b'a'), true), "a");
        assert_eq!(token_label(7, false), "7");
    }
}
