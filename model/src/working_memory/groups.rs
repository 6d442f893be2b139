//! A segment's tokens in the groups that the memory updates take, laid out so that each group
//! is a contiguous block: the `U` whole groups of `update_interval` tokens stacked along the
//! batch, `[U·B, T, C]`, and the shorter last group (if any) apart, `[B, T', C]`.
//!
//! Taking group `u` is then a slice along the first dimension, which needs no copy, where a
//! slice along time of `[B, L, C]` would be copied before every update's kernel could bind it.

use burn::tensor::Tensor;

/// The groups of one tensor `[B, L, C]` ([module docs](self)).
pub(super) struct Groups {
    /// `B`, rows per group.
    rows: usize,
    /// Whole groups `U`.
    whole: usize,
    /// `[U·B, T, C]`, group `u` in rows `u·B..(u + 1)·B`.
    pub(super) full: Option<Tensor<3>>,
    /// `[B, T', C]`, the shorter last group.
    pub(super) last: Option<Tensor<3>>,
}

impl Groups {
    /// Splits `x`, `[B, L, C]`, into groups of `interval` tokens along `L`.
    pub(super) fn new(x: Tensor<3>, interval: usize) -> Self {
        let [b, l, c] = x.dims();
        let (whole, rest) = (l / interval, l % interval);
        let full = (whole > 0).then(|| {
            x.clone()
                .narrow(1, 0, whole * interval)
                .reshape([b, whole, interval, c])
                .swap_dims(0, 1)
                .reshape([whole * b, interval, c])
        });
        let last = (rest > 0).then(|| x.narrow(1, whole * interval, rest));
        Self {
            rows: b,
            whole,
            full,
            last,
        }
    }

    /// Whole groups `U`.
    pub(super) fn whole(&self) -> usize {
        self.whole
    }

    /// Group `u`, `[B, T, C]`.
    pub(super) fn group(&self, u: usize) -> Tensor<3> {
        match (&self.full, &self.last) {
            (Some(full), _) if u < self.whole => full.clone().narrow(0, u * self.rows, self.rows),
            (_, Some(last)) if u == self.whole => last.clone(),
            _ => panic!("group {u} is past the segment's last"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn each_group_is_its_slice_of_time() {
        let device = Device::flex();
        let x = Tensor::<3>::random([3, 11, 2], Distribution::Normal(0.0, 1.0), &device);
        let groups = Groups::new(x.clone(), 4);
        assert_eq!(groups.whole(), 2);
        for (u, len) in [(0, 4), (1, 4), (2, 3)] {
            let want = x.clone().narrow(1, u * 4, len);
            assert_eq!(groups.group(u).into_data(), want.into_data(), "group {u}");
        }
        let exact = Groups::new(x.narrow(1, 0, 8), 4);
        assert!(exact.last.is_none());
        assert_eq!(exact.whole(), 2);
    }
}
