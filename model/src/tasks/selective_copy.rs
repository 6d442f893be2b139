//! Selective copying (Gu & Dao 2023, §4.1.1): `count` data tokens at random positions among
//! blanks, then `count` query markers; at the markers the model outputs the data tokens in order.

use rand::RngExt;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use super::{Batch, FIRST_DATA, QUERY, Task, TaskError, check};

/// Selective copying.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveCopy {
    /// Length of the region holding the data tokens among blanks.
    pub region: usize,
    /// Data tokens to copy.
    pub count: usize,
    /// Distinct data tokens.
    pub values: usize,
}

impl SelectiveCopy {
    /// A selective-copy task.
    pub fn new(region: usize, count: usize, values: usize) -> Result<Self, TaskError> {
        check(count >= 1, "count", count, "at least 1")?;
        check(
            region >= count,
            "region",
            region,
            format!("at least count ({count})"),
        )?;
        check(
            (2..=65536).contains(&values),
            "values",
            values,
            "in 2..=65536",
        )?;
        Ok(Self {
            region,
            count,
            values,
        })
    }
}

impl Task for SelectiveCopy {
    fn name(&self) -> &'static str {
        "copy"
    }

    fn vocab_size(&self) -> usize {
        FIRST_DATA as usize + self.values
    }

    fn seq_len(&self) -> usize {
        self.region + self.count
    }

    fn sample(&self, rng: &mut StdRng, batch: usize) -> Batch {
        let len = self.seq_len();
        let mut out = Batch::zeros(batch, len);
        for b in 0..batch {
            let row = b * len;
            let mut positions = sample(rng, self.region, self.count).into_vec();
            positions.sort_unstable();
            for (i, &p) in positions.iter().enumerate() {
                let v = FIRST_DATA + rng.random_range(0..self.values as u32);
                out.inputs[row + p] = v;
                let q = row + self.region + i;
                out.inputs[q] = QUERY;
                out.targets[q] = v;
                out.mask[q] = 1.0;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::PAD;
    use rand::SeedableRng;

    #[test]
    fn targets_are_the_data_tokens_in_order() {
        let task = SelectiveCopy::new(50, 6, 10).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(3), 4);
        for b in 0..4 {
            let row = batch.row(b);
            let data: Vec<u32> = row[..50].iter().copied().filter(|&t| t != PAD).collect();
            let scored = batch.scored(b);
            assert_eq!(scored, (50..56).collect::<Vec<_>>());
            let targets: Vec<u32> = scored
                .iter()
                .map(|&t| batch.targets[b * batch.len + t])
                .collect();
            assert_eq!(data, targets);
        }
        assert!(SelectiveCopy::new(3, 4, 10).is_err());
    }
}
