//! [`Batch`]: host-side token arrays, sliced into device tensors one segment at a time, so a
//! sequence of a million tokens never lives on the device whole.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::TaskError;

/// The most tokens one [`Batch`] may hold. A batch is built whole in host memory, 12 bytes a
/// token (input, target, mask), so this many take 3 GiB: sixteen sequences of 16M tokens, or
/// one of 268M.
pub const MAX_BATCH_TOKENS: usize = 1 << 28;

/// Checks, before anything is built, that `rows` sequences of `len` tokens fit in one batch
/// ([`MAX_BATCH_TOKENS`]); the error says how many rows of that length would.
pub fn check_batch_size(rows: usize, len: usize) -> Result<(), TaskError> {
    let tokens = rows.checked_mul(len);
    if tokens.is_some_and(|t| t <= MAX_BATCH_TOKENS) {
        return Ok(());
    }
    let fit = MAX_BATCH_TOKENS / len.max(1);
    let allowed = if fit == 0 {
        format!(
            "at most {MAX_BATCH_TOKENS} tokens a sequence (a batch is built in memory, 12 bytes a \
             token); give a shorter length"
        )
    } else {
        format!(
            "at most {MAX_BATCH_TOKENS} tokens in all (a batch is built in memory, 12 bytes a \
             token); at this length give a batch size of at most {fit}"
        )
    };
    Err(TaskError::Parameter {
        name: "batch tokens (sequences × tokens per sequence)",
        value: format!("{rows} × {len}"),
        allowed,
    })
}

/// `batch × len` inputs, targets and mask, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Rows.
    pub batch: usize,
    /// Tokens per row.
    pub len: usize,
    /// `[batch · len]`
    pub inputs: Vec<u32>,
    /// `[batch · len]`
    pub targets: Vec<u32>,
    /// `[batch · len]`, 1 where the target is scored.
    pub mask: Vec<f32>,
}

impl Batch {
    /// An all-padding batch to fill in.
    pub fn zeros(batch: usize, len: usize) -> Self {
        Self {
            batch,
            len,
            inputs: vec![0; batch * len],
            targets: vec![0; batch * len],
            mask: vec![0.0; batch * len],
        }
    }

    /// `batch` rows of `len` tokens, row `b` filled in by `fill(batch, b)`, in order (so a
    /// generator drawing from one random stream stays deterministic).
    pub fn from_rows(batch: usize, len: usize, mut fill: impl FnMut(&mut Batch, usize)) -> Self {
        let mut out = Self::zeros(batch, len);
        for b in 0..batch {
            fill(&mut out, b);
        }
        out
    }

    /// The same sequences as a next-token prediction batch (the encoder pretraining of §2.4.3):
    /// every position's target is the following input token, and all but the last position of
    /// each row are scored.
    pub fn next_token(&self) -> Batch {
        let mut out = self.clone();
        for b in 0..self.batch {
            let row = b * self.len;
            for t in 0..self.len {
                let next = t + 1 < self.len;
                out.targets[row + t] = if next { self.inputs[row + t + 1] } else { 0 };
                out.mask[row + t] = if next { 1.0 } else { 0.0 };
            }
        }
        out
    }

    /// Row `b` of the inputs.
    pub fn row(&self, b: usize) -> &[u32] {
        &self.inputs[b * self.len..(b + 1) * self.len]
    }

    /// Scored positions of row `b`.
    pub fn scored(&self, b: usize) -> Vec<usize> {
        (0..self.len)
            .filter(|&t| self.mask[b * self.len + t] > 0.0)
            .collect()
    }

    /// Whether any position in `start..start + len` is scored.
    pub fn has_targets(&self, start: usize, len: usize) -> bool {
        (0..self.batch).any(|b| {
            self.mask[b * self.len + start..b * self.len + start + len]
                .iter()
                .any(|&m| m > 0.0)
        })
    }

    /// Scored positions in `start..start + len`, over all rows.
    pub fn scored_in(&self, start: usize, len: usize) -> usize {
        (0..self.batch)
            .map(|b| {
                self.mask[b * self.len + start..b * self.len + start + len]
                    .iter()
                    .filter(|&&m| m > 0.0)
                    .count()
            })
            .sum()
    }

    /// Splits the rows into `parts` batches of near-equal size (the first ones get the extra rows).
    ///
    /// # Panics
    /// If `parts` is 0 or larger than the number of rows.
    pub fn split(&self, parts: usize) -> Vec<Batch> {
        assert!(
            parts >= 1 && parts <= self.batch,
            "cannot split {} rows into {parts} parts",
            self.batch
        );
        let mut out = Vec::with_capacity(parts);
        let mut row = 0;
        for p in 0..parts {
            let rows = self.batch / parts + usize::from(p < self.batch % parts);
            let range = row * self.len..(row + rows) * self.len;
            out.push(Batch {
                batch: rows,
                len: self.len,
                inputs: self.inputs[range.clone()].to_vec(),
                targets: self.targets[range.clone()].to_vec(),
                mask: self.mask[range].to_vec(),
            });
            row += rows;
        }
        out
    }

    fn slice<T: Copy>(&self, v: &[T], start: usize, len: usize) -> Vec<T> {
        (0..self.batch)
            .flat_map(|b| {
                v[b * self.len + start..b * self.len + start + len]
                    .iter()
                    .copied()
            })
            .collect()
    }

    /// Device tensors for tokens `start..start + len`: inputs `[B, len]`, targets `[B, len]`, mask `[B, len]`.
    pub fn segment(
        &self,
        start: usize,
        len: usize,
        device: &Device,
    ) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<2>) {
        assert!(
            start + len <= self.len,
            "segment {start}..{} is outside a batch of length {}",
            start + len,
            self.len
        );
        let ints = |v: &[u32]| {
            let data: Vec<i64> = self
                .slice(v, start, len)
                .into_iter()
                .map(i64::from)
                .collect();
            Tensor::<2, Int>::from_data(TensorData::new(data, [self.batch, len]), device)
        };
        let mask = Tensor::<2>::from_data(
            TensorData::new(self.slice(&self.mask, start, len), [self.batch, len]),
            device,
        );
        (ints(&self.inputs), ints(&self.targets), mask)
    }
}

/// Sequences that evaluation streams over a window at a time: a [`Batch`] held whole, or a
/// [`super::SparseBatch`] that builds each window on demand.
pub trait Sequences {
    /// Rows.
    fn rows(&self) -> usize;
    /// Tokens per row.
    fn seq_len(&self) -> usize;
    /// Positions `start..start + len` of every row, as a batch of that width.
    fn window(&self, start: usize, len: usize) -> Batch;
    /// Row `row`'s scored positions with their targets, in order.
    fn answers(&self, row: usize) -> Vec<(usize, u32)>;
}

impl Sequences for Batch {
    fn rows(&self) -> usize {
        self.batch
    }

    fn seq_len(&self) -> usize {
        self.len
    }

    fn window(&self, start: usize, len: usize) -> Batch {
        Batch {
            batch: self.batch,
            len,
            inputs: self.slice(&self.inputs, start, len),
            targets: self.slice(&self.targets, start, len),
            mask: self.slice(&self.mask, start, len),
        }
    }

    fn answers(&self, row: usize) -> Vec<(usize, u32)> {
        self.scored(row)
            .into_iter()
            .map(|t| (t, self.targets[row * self.len + t]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_row_once() {
        let mut b = Batch::zeros(5, 3);
        b.inputs = (0..15).collect();
        b.mask[4] = 1.0;
        let parts = b.split(2);
        assert_eq!((parts[0].batch, parts[1].batch), (3, 2));
        let joined: Vec<u32> = parts.iter().flat_map(|p| p.inputs.clone()).collect();
        assert_eq!(joined, b.inputs);
        assert_eq!(b.scored_in(0, 3), 1);
        assert_eq!(parts[0].scored_in(1, 2), 1);
    }

    #[test]
    fn next_token_scores_every_position_but_the_last() {
        let mut batch = Batch::zeros(2, 3);
        batch.inputs = vec![5, 6, 7, 8, 9, 10];
        batch.mask = vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let nt = batch.next_token();
        assert_eq!(nt.inputs, batch.inputs);
        assert_eq!(nt.targets, vec![6, 7, 0, 9, 10, 0]);
        assert_eq!(nt.mask, vec![1.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn a_batch_too_large_for_memory_is_refused_with_what_fits() {
        assert!(check_batch_size(16, MAX_BATCH_TOKENS / 16).is_ok());
        let e = check_batch_size(16, MAX_BATCH_TOKENS / 8)
            .unwrap_err()
            .to_string();
        assert!(e.contains("batch size of at most 8"), "{e}");
        let e = check_batch_size(1, MAX_BATCH_TOKENS + 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("give a shorter length"), "{e}");
        // A product beyond usize is refused, not wrapped around.
        assert!(check_batch_size(usize::MAX, 2).is_err());
    }
}
