//! [`Timeline`]: a whole stream's memory along the token axis, in a size that does not grow with
//! the stream. A stream of 100M tokens has 12.5M working-memory updates; the timeline keeps them
//! in at most `capacity` buckets of equal width, and when the stream outgrows them, neighbours
//! merge pairwise and the width doubles (so a bucket always covers a power of two of updates).
//! Around marked positions (a needle, a question) whole segments are kept in detail, tokens
//! included, so a viewer can zoom from the whole stream down to single tokens where it matters;
//! and for each answer, its [`Answer`] provenance: the slot it read most, the update that wrote
//! that slot, and whether and where that slot then moved into long-term memory.
//!
//! Built from the [`MemoryTrace`]s the model gives per segment (batch row 0), so it needs
//! nothing the viewers do not already read; `dmn stream --trace` writes it as JSON.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::config::DmnConfig;
use crate::trace::MemoryTrace;

mod bucket;
mod provenance;

pub use bucket::Bucket;
use bucket::add;
pub use provenance::{Answer, Asked, Transferred, Written};

/// Buckets kept by default: full resolution (one update per bucket) up to 32K tokens on the
/// tiny preset, 256 tokens per bucket at 1M, and at most about 2 MB of JSON on tiny at any
/// length (2.1 MB measured at 1M tokens).
pub const CAPACITY: usize = 4096;
/// Segments kept in detail at most; marks beyond them are kept without detail.
pub const MAX_DETAILS: usize = 64;
/// Answers kept with their provenance at most; later ones are counted only.
pub const MAX_ANSWERS: usize = 1024;

/// A position a viewer marks on the axis (a needle, a key, a question).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// Token position.
    pub position: u64,
    /// What it is (`needle`, `query`, …).
    pub label: String,
}

/// One segment kept whole: its tokens and its trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    /// First token of the segment.
    pub start: u64,
    /// The segment's input tokens.
    pub tokens: Vec<u32>,
    /// What the memory did over it.
    pub trace: MemoryTrace,
}

/// A stream's memory along the token axis, bounded in size (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Working-memory slots `K`.
    pub slots: usize,
    /// Heads `H`.
    pub heads: usize,
    /// Long-term levels `M`.
    pub levels: usize,
    /// Tokens per working-memory update.
    pub update_tokens: u64,
    /// Whether tokens are bytes of text (shown as characters), not task symbols.
    #[serde(default)]
    pub bytes: bool,
    /// Most buckets kept.
    pub capacity: usize,
    /// Tokens per bucket: `update_tokens` times a power of two.
    pub bucket_tokens: u64,
    /// Tokens pushed so far.
    pub tokens: u64,
    /// Buckets in order, contiguous from token 0.
    pub buckets: Vec<Bucket>,
    /// Marked positions, in order of marking.
    pub marks: Vec<Mark>,
    /// Segments kept whole (those holding a mark), in order.
    pub details: Vec<Detail>,
    /// Answers with their provenance, in order.
    pub answers: Vec<Answer>,
    /// Answers asked beyond [`MAX_ANSWERS`], not kept.
    pub answers_dropped: u64,
    /// Each slot's last write so far (the live state behind [`Answer::written`]).
    pub last_write: Vec<Option<Written>>,
}

impl Timeline {
    /// An empty timeline for a memory of `slots` slots, `heads` heads and `levels` levels,
    /// updated every `update_tokens` tokens, in at most `capacity` buckets (at least 2).
    pub fn new(
        slots: usize,
        heads: usize,
        levels: usize,
        update_tokens: usize,
        capacity: usize,
    ) -> Self {
        let update_tokens = update_tokens.max(1) as u64;
        Self {
            slots,
            heads,
            levels,
            update_tokens,
            bytes: false,
            capacity: capacity.max(2),
            bucket_tokens: update_tokens,
            tokens: 0,
            buckets: Vec::new(),
            marks: Vec::new(),
            details: Vec::new(),
            answers: Vec::new(),
            answers_dropped: 0,
            last_write: vec![None; slots],
        }
    }

    /// An empty timeline for a model built from `config`, in [`CAPACITY`] buckets.
    pub fn for_config(config: &DmnConfig) -> Self {
        let (slots, heads) = if config.use_working_memory {
            (config.wm_slots, config.wm_heads)
        } else {
            (0, 0)
        };
        let levels = if config.use_long_term_memory {
            config.ltm_levels
        } else {
            0
        };
        Self {
            // A text run reads bytes; the tasks' vocabularies are far smaller.
            bytes: config.vocab_size >= 256,
            ..Self::new(slots, heads, levels, config.wm_update_interval, CAPACITY)
        }
    }

    /// Marks `position` with `label`; the segment holding it is kept in detail when pushed.
    pub fn mark(&mut self, position: u64, label: &str) {
        self.marks.push(Mark {
            position,
            label: label.to_string(),
        });
    }

    /// Adds the segment of `tokens` starting at token `start` (right after the last one
    /// pushed) with its `trace`, and the provenance of the answers `asked` inside it.
    pub fn push(&mut self, start: u64, tokens: &[u32], trace: &MemoryTrace, asked: &[Asked]) {
        let end = start + tokens.len() as u64;
        // A trace missing figures (read back from a failing device) counts its tokens only.
        let updates = if trace.slots == self.slots && trace.is_complete() {
            trace.updates
        } else {
            0
        };
        if updates == 0 {
            self.bucket_at(start).tokens += end - start;
        }
        for u in 0..updates {
            let first = start + u as u64 * self.update_tokens;
            let range = first..(first + self.update_tokens).min(end);
            let write = per_slot(&trace.write_weights, u, trace.heads, self.slots);
            let read = per_slot(&trace.read_weights, u, trace.heads, self.slots);
            // An update's tokens read the memory as it stood before the update wrote.
            for a in asked.iter().filter(|a| range.contains(&a.position)) {
                self.answer(a, &read, trace);
            }
            self.written(&range, &write);
            let norm = &trace.slot_norms[u * self.slots..(u + 1) * self.slots];
            let bucket = self.bucket_at(first);
            bucket.tokens += range.end - range.start;
            bucket.updates += 1;
            add(&mut bucket.write, &write);
            add(&mut bucket.read, &read);
            bucket.norm.copy_from_slice(norm);
        }
        self.segment_end(end, trace);
        if self
            .marks
            .iter()
            .any(|m| (start..end).contains(&m.position))
            && self.details.len() < MAX_DETAILS
        {
            self.details.push(Detail {
                start,
                tokens: tokens.to_vec(),
                trace: trace.clone(),
            });
        }
        self.tokens = end;
    }

    /// The transfer and level state at the end of a segment (token `end`).
    fn segment_end(&mut self, end: u64, trace: &MemoryTrace) {
        if let Some(t) = &trace.transfer {
            self.transferred(end, t);
        }
        let levels = self.levels;
        let bucket = self.bucket_at(end.saturating_sub(1));
        bucket.transfers += u32::from(trace.transfer.is_some());
        if !trace.level_fill.is_empty() {
            bucket.level_fill.clone_from(&trace.level_fill);
        }
        if trace.retrieval_per_level.len() == levels {
            add(&mut bucket.retrieval, &trace.retrieval_per_level);
        }
        bucket.segments += 1;
    }

    /// The bucket holding token `position`, merging buckets pairwise while it would lie past
    /// the capacity.
    fn bucket_at(&mut self, position: u64) -> &mut Bucket {
        while position / self.bucket_tokens >= self.capacity as u64 {
            self.halve();
        }
        let index = (position / self.bucket_tokens) as usize;
        while self.buckets.len() <= index {
            let start = self.buckets.len() as u64 * self.bucket_tokens;
            self.buckets
                .push(Bucket::empty(start, self.slots, self.levels));
        }
        &mut self.buckets[index]
    }

    /// Merges neighbouring buckets pairwise; the width doubles.
    fn halve(&mut self) {
        let merged = self
            .buckets
            .chunks(2)
            .map(|pair| {
                let mut first = pair[0].clone();
                if let Some(second) = pair.get(1) {
                    first.absorb(second);
                }
                first
            })
            .collect();
        self.buckets = merged;
        self.bucket_tokens *= 2;
    }

    /// The buckets over tokens `range`, summed into `columns` columns of equal width (the last
    /// may be narrower); a bucket counts in the column holding its first token. Zooming is
    /// asking for a narrower range: below one bucket per column, each column is one bucket.
    pub fn view(&self, range: Range<u64>, columns: usize) -> Vec<Bucket> {
        if range.end <= range.start || columns == 0 {
            return Vec::new();
        }
        let width = self.column_width(&range, columns);
        let first = range.start / self.bucket_tokens * self.bucket_tokens;
        let mut out: Vec<Bucket> = Vec::new();
        let mut column_start = first;
        while column_start < range.end {
            let mut column = Bucket::empty(column_start, self.slots, self.levels);
            let lo = (column_start / self.bucket_tokens) as usize;
            let hi = ((column_start + width) / self.bucket_tokens) as usize;
            for b in self.buckets.iter().take(hi).skip(lo) {
                column.absorb(b);
            }
            out.push(column);
            column_start += width;
        }
        out
    }

    /// Tokens per column of [`Timeline::view`]`(range, columns)`: whole buckets, at least one.
    pub fn column_width(&self, range: &Range<u64>, columns: usize) -> u64 {
        let span = range.end.saturating_sub(range.start).max(1);
        span.div_ceil(columns.max(1) as u64)
            .max(self.bucket_tokens)
            .next_multiple_of(self.bucket_tokens)
    }

    /// The segments kept in detail that overlap tokens `range`.
    pub fn details_in(&self, range: Range<u64>) -> impl Iterator<Item = &Detail> {
        self.details
            .iter()
            .filter(move |d| d.start < range.end && d.start + d.tokens.len() as u64 > range.start)
    }
}

/// Update `u`'s weights summed over heads, per slot, from a `[U, H, K]` array.
fn per_slot(weights: &[f32], u: usize, heads: usize, slots: usize) -> Vec<f32> {
    let row = &weights[u * heads * slots..(u + 1) * heads * slots];
    (0..slots)
        .map(|j| (0..heads).map(|h| row[h * slots + j]).sum())
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) const K: usize = 4;
    pub(super) const H: usize = 2;

    /// A segment of `updates` updates where `writes[u]` = (slot, weight) written by head 0 and
    /// `reads[u]` = (slot, weight) read by head 1; norms equal the update index.
    pub(super) fn segment(
        segment: u64,
        updates: usize,
        writes: &[(usize, usize, f32)],
        reads: &[(usize, usize, f32)],
    ) -> MemoryTrace {
        let mut write_weights = vec![0.0; updates * H * K];
        let mut read_weights = vec![0.0; updates * H * K];
        for &(u, slot, w) in writes {
            write_weights[u * H * K + slot] = w;
        }
        for &(u, slot, w) in reads {
            read_weights[u * H * K + K + slot] = w;
        }
        MemoryTrace {
            segment,
            slots: K,
            heads: H,
            levels: 2,
            updates,
            write_weights,
            read_weights,
            slot_norms: (0..updates * K).map(|i| (i / K) as f32).collect(),
            age: vec![0.0; updates * K],
            usage: vec![0.0; updates * K],
            hold: vec![0.0; updates * K],
            importance: vec![0.5; K],
            transfer: None,
            level_fill: vec![0.5, 0.0],
            level_span: vec![1, 0],
            retrieval_per_level: vec![0.25, 0.75],
        }
    }

    #[test]
    fn buckets_stay_within_capacity_and_keep_every_update() {
        // 4 tokens per update, 3 updates per segment, 8 buckets at most.
        let mut timeline = Timeline::new(K, H, 2, 4, 8);
        let tokens = vec![1u32; 12];
        for s in 0..100u64 {
            let trace = segment(s, 3, &[(0, (s % 4) as usize, 1.0)], &[(2, 1, 0.5)]);
            timeline.push(s * 12, &tokens, &trace, &[]);
            assert!(timeline.buckets.len() <= 8, "{}", timeline.buckets.len());
        }
        assert_eq!(timeline.tokens, 1200);
        // 1200 tokens in at most 8 buckets of 4·2^k tokens: 256 tokens each.
        assert_eq!(timeline.bucket_tokens, 256);
        let updates: u32 = timeline.buckets.iter().map(|b| b.updates).sum();
        let written: f32 = timeline.buckets.iter().flat_map(|b| &b.write).sum();
        let segments: u32 = timeline.buckets.iter().map(|b| b.segments).sum();
        let covered: u64 = timeline.buckets.iter().map(|b| b.tokens).sum();
        assert_eq!(
            (updates, written, segments, covered),
            (300, 100.0, 100, 1200)
        );
        for (i, b) in timeline.buckets.iter().enumerate() {
            assert_eq!(b.start, i as u64 * 256);
        }
        // The last bucket's norm is the last update's (index 2 of its segment).
        assert_eq!(timeline.buckets.last().unwrap().norm, vec![2.0; K]);

        // A trace read back without its figures counts its tokens and nothing else.
        let mut broken = segment(100, 3, &[(0, 1, 1.0)], &[]);
        broken.write_weights.clear();
        timeline.push(1200, &tokens, &broken, &[]);
        let covered: u64 = timeline.buckets.iter().map(|b| b.tokens).sum();
        let updates: u32 = timeline.buckets.iter().map(|b| b.updates).sum();
        assert_eq!((timeline.tokens, covered, updates), (1212, 1212, 300));
    }

    #[test]
    fn a_view_sums_buckets_into_columns_and_zooms_to_single_updates() {
        let mut timeline = Timeline::new(K, H, 2, 4, 64);
        let tokens = vec![1u32; 16];
        for s in 0..4u64 {
            // Slot s written at the segment's update 1.
            let trace = segment(s, 4, &[(1, s as usize, 1.0)], &[]);
            timeline.push(s * 16, &tokens, &trace, &[]);
        }
        // Full resolution: 16 buckets of one update each.
        assert_eq!(timeline.bucket_tokens, 4);
        let whole = timeline.view(0..64, 4);
        assert_eq!(whole.len(), 4);
        for (s, column) in whole.iter().enumerate() {
            assert_eq!(
                (column.start, column.updates, column.tokens),
                (s as u64 * 16, 4, 16)
            );
            let mut expected = vec![0.0; K];
            expected[s] = 1.0;
            assert_eq!(column.write, expected);
            assert_eq!(column.segments, 1);
        }
        // Zoomed into segment 2 at more columns than updates: one update per column.
        let zoomed = timeline.view(32..48, 100);
        assert_eq!(zoomed.len(), 4);
        assert_eq!(zoomed[1].write, vec![0.0, 0.0, 1.0, 0.0]);
        assert!(zoomed.iter().all(|c| c.updates == 1 && c.tokens == 4));
        assert_eq!(timeline.view(10..10, 4), Vec::new());
    }
}
