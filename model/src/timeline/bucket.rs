//! [`Bucket`]: the timeline's unit, what the memory did over a run of consecutive updates, and
//! how two neighbours merge into one when the timeline halves its resolution.

use serde::{Deserialize, Serialize};

/// What the memory did over a run of consecutive updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// First token covered.
    pub start: u64,
    /// Tokens covered (up to the bucket width; less in the last, unfinished bucket).
    pub tokens: u64,
    /// Memory updates inside.
    pub updates: u32,
    /// Write weight each slot received, summed over heads and updates, `[K]`.
    pub write: Vec<f32>,
    /// Read weight each slot received, summed over heads and updates, `[K]`.
    pub read: Vec<f32>,
    /// Each slot's L2 norm after the bucket's last update, `[K]`.
    pub norm: Vec<f32>,
    /// Transfers into long-term memory that happened at segment ends inside.
    pub transfers: u32,
    /// Each level's fill after the bucket's last transfer, `[M]` (empty before any).
    pub level_fill: Vec<f32>,
    /// Retrieval weight each level received, summed over the segments ending inside, `[M]`.
    pub retrieval: Vec<f32>,
    /// Segments ending inside (to turn `retrieval` into a mean).
    pub segments: u32,
}

impl Bucket {
    pub(super) fn empty(start: u64, slots: usize, levels: usize) -> Self {
        Self {
            start,
            tokens: 0,
            updates: 0,
            write: vec![0.0; slots],
            read: vec![0.0; slots],
            norm: vec![0.0; slots],
            transfers: 0,
            level_fill: Vec::new(),
            retrieval: vec![0.0; levels],
            segments: 0,
        }
    }

    /// Adds `later`, which follows this bucket directly.
    pub(super) fn absorb(&mut self, later: &Bucket) {
        self.tokens += later.tokens;
        self.updates += later.updates;
        add(&mut self.write, &later.write);
        add(&mut self.read, &later.read);
        if later.updates > 0 {
            self.norm.clone_from(&later.norm);
        }
        self.transfers += later.transfers;
        if !later.level_fill.is_empty() {
            self.level_fill.clone_from(&later.level_fill);
        }
        add(&mut self.retrieval, &later.retrieval);
        self.segments += later.segments;
    }
}

pub(super) fn add(into: &mut [f32], from: &[f32]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}
