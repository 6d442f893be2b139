//! Sequences described instead of stored, for the tasks that hide a few tokens in noise
//! (needle, passkey, multi-key needle): each row is a seed that draws the noise token of every
//! position on its own, and the handful of tokens the task places. Any window of a row is built
//! on demand, so a sequence of 10M or 100M tokens evaluates in the memory of one segment, and
//! [`SparseBatch::materialize`] builds the same tokens whole for training.

use super::{Batch, Sequences};

/// A token a task places, and the answer expected after reading it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// Position in the row.
    pub at: usize,
    /// The input token there.
    pub input: u32,
    /// The target scored there, if any.
    pub target: Option<u32>,
}

/// One described row.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseRow {
    /// Draws the noise: position `t` holds noise token [`noise_index`]`(seed, t)`.
    pub seed: u64,
    /// What the task placed, in position order, at most one per position.
    pub placed: Vec<Placed>,
}

/// `rows` described rows of `len` tokens; noise tokens are `noise_base + 0..noise`.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseBatch {
    /// Tokens per row.
    pub len: usize,
    /// First noise token id.
    pub noise_base: u32,
    /// Distinct noise tokens (≥ 1).
    pub noise: u32,
    /// The rows.
    pub rows: Vec<SparseRow>,
}

/// The noise drawn at position `t` of a row seeded `seed`, in `0..noise`: SplitMix64 of the
/// seed and position, scaled by a multiply-shift (uniform up to 2⁻³² bias). Each position is
/// drawn on its own, so a window costs its length, wherever it lies.
pub fn noise_index(seed: u64, t: u64, noise: u32) -> u32 {
    let mut z = seed.wrapping_add(t.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (((z >> 32) * u64::from(noise)) >> 32) as u32
}

impl SparseBatch {
    /// No rows yet.
    pub fn new(len: usize, noise_base: u32, noise: u32) -> Self {
        Self {
            len,
            noise_base,
            noise: noise.max(1),
            rows: Vec::new(),
        }
    }

    /// Adds a row of noise seeded `seed` with `placed` tokens (any order; a later token at the
    /// same position replaces an earlier one).
    ///
    /// # Panics
    /// If a token lies outside the row (a generator bug).
    pub fn push_row(&mut self, seed: u64, placed: Vec<Placed>) {
        let mut sorted: Vec<Placed> = Vec::with_capacity(placed.len());
        let mut placed = placed;
        placed.sort_by_key(|p| p.at); // stable: of two at one position, the later stays last
        for p in placed {
            assert!(
                p.at < self.len,
                "token placed at {} in a row of {}",
                p.at,
                self.len
            );
            match sorted.last_mut() {
                Some(last) if last.at == p.at => *last = p,
                _ => sorted.push(p),
            }
        }
        self.rows.push(SparseRow {
            seed,
            placed: sorted,
        });
    }

    /// Every row whole, as one batch.
    pub fn materialize(&self) -> Batch {
        self.window(0, self.len)
    }
}

impl Sequences for SparseBatch {
    fn rows(&self) -> usize {
        self.rows.len()
    }

    fn seq_len(&self) -> usize {
        self.len
    }

    fn window(&self, start: usize, len: usize) -> Batch {
        assert!(
            start + len <= self.len,
            "window {start}+{len} outside {}",
            self.len
        );
        let mut out = Batch::zeros(self.rows.len(), len);
        for (b, row) in self.rows.iter().enumerate() {
            let base = b * len;
            for i in 0..len {
                let noise = noise_index(row.seed, (start + i) as u64, self.noise);
                out.inputs[base + i] = self.noise_base + noise;
            }
            let first = row.placed.partition_point(|p| p.at < start);
            for p in row.placed[first..]
                .iter()
                .take_while(|p| p.at < start + len)
            {
                let i = base + p.at - start;
                out.inputs[i] = p.input;
                if let Some(target) = p.target {
                    out.targets[i] = target;
                    out.mask[i] = 1.0;
                }
            }
        }
        out
    }

    fn answers(&self, row: usize) -> Vec<(usize, u32)> {
        self.rows[row]
            .placed
            .iter()
            .filter_map(|p| p.target.map(|t| (p.at, t)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> SparseBatch {
        let mut batch = SparseBatch::new(50, 10, 7);
        let at = |at, input, target| Placed { at, input, target };
        batch.push_row(3, vec![at(49, 2, Some(5)), at(4, 1, None), at(5, 5, None)]);
        batch.push_row(4, vec![at(0, 1, None), at(0, 3, Some(6)), at(17, 2, None)]);
        batch
    }

    #[test]
    fn windows_of_any_split_build_the_rows_whole() {
        let batch = example();
        let whole = batch.materialize();
        for seg in [1, 7, 16, 50] {
            for b in 0..2 {
                let mut row = Vec::new();
                let mut start = 0;
                while start < 50 {
                    let len = seg.min(50 - start);
                    row.extend_from_slice(batch.window(start, len).row(b));
                    start += len;
                }
                assert_eq!(row, whole.row(b), "segments of {seg}");
            }
        }
        // Placed tokens and answers where they were put; the later of two at one place stays.
        assert_eq!(
            (whole.row(0)[4], whole.row(0)[5], whole.row(0)[49]),
            (1, 5, 2)
        );
        assert_eq!(whole.row(1)[0], 3);
        assert_eq!(batch.answers(0), vec![(49, 5)]);
        assert_eq!(batch.answers(1), vec![(0, 6)]);
        assert_eq!(whole.answers(1), vec![(0, 6)]);
        assert!(
            whole
                .row(0)
                .iter()
                .enumerate()
                .all(|(t, &v)| [4, 5, 49].contains(&t) || (10..17).contains(&v))
        );
    }

    /// Streamed in segments, each task gives the tokens and answers it samples whole.
    #[test]
    fn streamed_tasks_equal_their_materialized_samples() {
        use crate::tasks::{MultiKeyNeedle, Needle, Passkey, Task};
        use rand::SeedableRng;
        use rand::rngs::StdRng;

        let tasks: Vec<Box<dyn Task>> = vec![
            Box::new(Needle::new(300, 16, 16, 8).unwrap()),
            Box::new(Passkey::new(300, 4, 16, 16, 8).unwrap()),
            Box::new(MultiKeyNeedle::new(300, 8, 16, 4, 16, 16).unwrap()),
        ];
        for task in tasks {
            let whole = task.sample(&mut StdRng::seed_from_u64(9), 3);
            let streamed = task.sample_streamed(&mut StdRng::seed_from_u64(9), 3);
            let len = streamed.seq_len();
            assert_eq!((streamed.rows(), len), (3, whole.len), "{}", task.name());
            for seg in [16, 100] {
                let mut rows = vec![Vec::new(); 3];
                let mut start = 0;
                while start < len {
                    let w = streamed.window(start, seg.min(len - start));
                    for (b, row) in rows.iter_mut().enumerate() {
                        row.extend_from_slice(w.row(b));
                    }
                    start += w.len;
                }
                for (b, row) in rows.iter().enumerate() {
                    assert_eq!(row, whole.row(b), "{} in segments of {seg}", task.name());
                }
            }
            for b in 0..3 {
                assert_eq!(streamed.answers(b), whole.answers(b), "{}", task.name());
                assert!(!whole.answers(b).is_empty());
            }
        }
    }

    #[test]
    fn noise_is_uniform_over_its_tokens() {
        let mut counts = [0u32; 7];
        for t in 0..70_000 {
            counts[noise_index(11, t, 7) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
        assert_ne!(noise_index(1, 5, 1 << 30), noise_index(2, 5, 1 << 30));
    }
}
