//! Which segments of a training sequence share one backward pass: credit across segments.
//!
//! A needle written in one segment and asked for in a later one can only be learned if the loss
//! at the question reaches the write. So the memory state (working and long-term) keeps its
//! autodiff graph from segment to segment inside a *credit window*, which ends at a scored
//! segment with one backward pass and one optimizer step; the encoder's state is still cut at
//! every boundary. A window spans at most `cap` segments, which bounds the graph a step holds.
//! Segments outside every window (after the last scored one, or more than `cap` before the next)
//! only advance the state, without a graph.
//!
//! ```text
//! scored:   .  .  .  .  x  .  .  x  x          cap 4
//! windows:        [1 ..= 4]  [5 ..= 8]
//! ```

use std::ops::RangeInclusive;

/// The credit windows over segments whose scored flags are `scored`, each ending at a scored
/// segment and spanning at most `cap` segments (`cap` ≥ 1; 1 is truncation at every boundary).
///
/// Windows are greedy: one grows to take in the next scored segment while the cap allows, so a
/// sequence scored everywhere (text) gets one optimizer step per `cap` segments and a sequence
/// scored only at its end (a needle's question) one step whose window reaches `cap − 1`
/// segments back.
pub fn credit_windows(scored: &[bool], cap: usize) -> Vec<RangeInclusive<usize>> {
    let cap = cap.max(1);
    let mut windows = Vec::new();
    let mut free = 0; // first segment not yet in a window
    let mut ends = scored
        .iter()
        .enumerate()
        .filter(|&(_, &s)| s)
        .map(|(i, _)| i)
        .peekable();
    while let Some(mut end) = ends.next() {
        let start = free.max((end + 1).saturating_sub(cap));
        while let Some(&next) = ends.peek() {
            if next - start >= cap {
                break;
            }
            end = next;
            ends.next();
        }
        windows.push(start..=end);
        free = end + 1;
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(s: &str) -> Vec<bool> {
        s.chars().map(|c| c == 'x').collect()
    }

    #[test]
    fn cap_one_is_truncation_at_every_boundary() {
        assert_eq!(
            credit_windows(&flags("..x.xx"), 1),
            vec![2..=2, 4..=4, 5..=5]
        );
    }

    #[test]
    fn a_question_at_the_end_reaches_back_cap_segments() {
        assert_eq!(credit_windows(&flags("......x"), 4), vec![3..=6]);
        assert_eq!(credit_windows(&flags("......x"), 64), vec![0..=6]);
    }

    #[test]
    fn scored_segments_are_grouped_up_to_the_cap() {
        assert_eq!(credit_windows(&flags("....x..xx"), 4), vec![1..=4, 5..=8]);
        assert_eq!(
            credit_windows(&flags("xxxxxxx"), 3),
            vec![0..=2, 3..=5, 6..=6]
        );
    }

    #[test]
    fn windows_never_overlap_and_end_scored() {
        let scored = flags("x..x.x...xx.x....x");
        for cap in 1..8 {
            let windows = credit_windows(&scored, cap);
            for w in &windows {
                assert!(scored[*w.end()], "cap {cap}: {w:?} ends unscored");
                assert!(w.end() - w.start() < cap, "cap {cap}: {w:?} too long");
            }
            for pair in windows.windows(2) {
                assert!(pair[0].end() < pair[1].start(), "cap {cap}: {windows:?}");
            }
            // Every scored segment is in a window.
            let covered = |i: usize| windows.iter().any(|w| w.contains(&i));
            assert!((0..scored.len()).filter(|&i| scored[i]).all(covered));
        }
    }

    #[test]
    fn nothing_scored_no_window() {
        assert!(credit_windows(&flags("...."), 4).is_empty());
    }
}
