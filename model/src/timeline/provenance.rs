//! Provenance: for an answer, the slot it read most, the update that last wrote that slot, and
//! whether and where the slot then moved into long-term memory. The timeline follows each slot's
//! last write as the stream goes ([`Timeline::last_write`]) and copies it into an [`Answer`] when
//! one is asked.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::{MAX_ANSWERS, Timeline};
use crate::trace::{MemoryTrace, TransferEvent};

/// The last write of a slot, and what became of its contents after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Written {
    /// Tokens of the update that wrote the slot.
    pub tokens: Range<u64>,
    /// Write weight it received (summed over heads).
    pub weight: f32,
    /// Set once the slot, holding that write, moved into long-term memory.
    pub transferred: Option<Transferred>,
}

/// A slot's move into long-term memory at a segment end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transferred {
    /// Token position of the segment end where it moved.
    pub at: u64,
    /// Level where the carry settled.
    pub level: usize,
    /// Its importance score, which sets how wide the compression keeps it.
    pub importance: f32,
    /// Latent dimensions the compression kept of it (absent in traces without them).
    #[serde(default)]
    pub width: Option<f32>,
}

/// An answer asked of the stream at one position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Asked {
    /// Token position of the answer.
    pub position: u64,
    /// What the model predicted there.
    pub predicted: u32,
    /// The right answer, where known.
    pub expected: Option<u32>,
}

/// Why the model answered what it did at one position: what it read, and where that came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Token position.
    pub position: u64,
    /// Predicted token.
    pub predicted: u32,
    /// The right token, where known.
    pub expected: Option<u32>,
    /// Read weight per slot (summed over heads) of the update holding the answer, averaged
    /// over that update's tokens, `[K]`.
    pub read: Vec<f32>,
    /// The slot read most.
    pub slot: usize,
    /// That slot's last write before the answer (`None`: never written).
    pub written: Option<Written>,
    /// Retrieval weight per long-term level over the answer's segment, `[M]`.
    pub retrieval_per_level: Vec<f32>,
}

impl Timeline {
    /// Update tokens `range` wrote `write[slot]` (summed over heads) into each slot.
    pub(super) fn written(&mut self, range: &Range<u64>, write: &[f32]) {
        for (slot, &w) in write.iter().enumerate() {
            if w > 0.0 {
                self.last_write[slot] = Some(Written {
                    tokens: range.clone(),
                    weight: w,
                    transferred: None,
                });
            }
        }
    }

    /// The segment ending at token `end` moved the slots of `transfer` into long-term memory;
    /// a pick kept at width 0 was discarded, not moved.
    pub(super) fn transferred(&mut self, end: u64, transfer: &TransferEvent) {
        for (i, (&slot, &importance)) in transfer.slots.iter().zip(&transfer.importance).enumerate()
        {
            if transfer.width.get(i) == Some(&0.0) {
                continue;
            }
            let moved = self
                .last_write
                .get_mut(slot as usize)
                .and_then(Option::as_mut);
            if let Some(written) = moved.filter(|w| w.transferred.is_none()) {
                written.transferred = Some(Transferred {
                    at: end,
                    level: transfer.level,
                    importance,
                    width: transfer.width.get(i).copied(),
                });
            }
        }
    }

    /// Records the provenance of one answer, read with weights `read` `[K]`.
    pub(super) fn answer(&mut self, asked: &Asked, read: &[f32], trace: &MemoryTrace) {
        if self.answers.len() >= MAX_ANSWERS {
            self.answers_dropped += 1;
            return;
        }
        let slot = most_read(read);
        self.answers.push(Answer {
            position: asked.position,
            predicted: asked.predicted,
            expected: asked.expected,
            read: read.to_vec(),
            slot,
            written: self.last_write.get(slot).cloned().flatten(),
            retrieval_per_level: trace.retrieval_per_level.clone(),
        });
    }
}

/// The slot read most; of equal weights, the lowest slot (as a viewer lists them).
fn most_read(read: &[f32]) -> usize {
    let mut best = 0;
    for (j, &w) in read.iter().enumerate() {
        if w > read[best] {
            best = j;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::tests::{H, K, segment};

    #[test]
    fn an_answer_traces_the_slot_it_read_to_its_write_and_transfer() {
        let mut timeline = Timeline::new(K, H, 2, 4, 64);
        let tokens = vec![7u32; 12];
        timeline.mark(5, "needle");
        // Segment 0: update 1 (tokens 4..8) writes slot 3, update 0 slot 1; the segment end
        // moves slot 3 to level 1 and discards its pick of slot 1 (width 0).
        let mut first = segment(0, 3, &[(1, 3, 0.8), (0, 1, 0.3)], &[]);
        first.transfer = Some(TransferEvent {
            slots: vec![3, 1],
            importance: vec![0.9, 0.0],
            width: vec![2.5, 0.0],
            level: 1,
        });
        timeline.push(0, &tokens, &first, &[]);
        let discarded = timeline.last_write[1].clone().unwrap();
        assert_eq!(discarded.transferred, None);
        // Segment 1: update 0 reads slot 3 and answers; update 1 then overwrites slot 3.
        timeline.mark(13, "query");
        let second = segment(1, 3, &[(1, 3, 0.4)], &[(0, 3, 0.7), (0, 0, 0.1)]);
        let asked = Asked {
            position: 13,
            predicted: 4,
            expected: Some(4),
        };
        timeline.push(12, &tokens, &second, &[asked]);

        let answer = &timeline.answers[0];
        assert_eq!(answer.slot, 3);
        assert_eq!(answer.read, vec![0.1, 0.0, 0.0, 0.7]);
        let written = answer.written.clone().unwrap();
        assert_eq!((written.tokens, written.weight), (4..8, 0.8));
        assert_eq!(
            written.transferred,
            Some(Transferred {
                at: 12,
                level: 1,
                importance: 0.9,
                width: Some(2.5),
            })
        );
        assert_eq!(answer.retrieval_per_level, vec![0.25, 0.75]);
        // The later overwrite is the slot's live state, not the answer's.
        let live = timeline.last_write[3].clone().unwrap();
        assert_eq!((live.tokens, live.transferred), (16..20, None));
        // Both marked segments are kept in detail, with their tokens.
        assert_eq!(timeline.details.len(), 2);
        assert_eq!(timeline.details_in(12..13).count(), 1);
        assert_eq!(timeline.details[1].tokens, tokens);
    }

    #[test]
    fn of_equal_reads_the_lowest_slot_is_the_one_read_most() {
        assert_eq!(most_read(&[0.25, 0.5, 0.0, 0.5]), 1);
        assert_eq!(most_read(&[0.25; 4]), 0);
        assert_eq!(most_read(&[]), 0);
    }
}
