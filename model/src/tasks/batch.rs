//! [`Batch`]: host-side token arrays, sliced into device tensors one segment at a time, so a
//! sequence of a million tokens never lives on the device whole.

use burn::tensor::{Device, Int, Tensor, TensorData};

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
