//! Selective copying (Gu & Dao 2023, §4.1.1): `count` data tokens at random positions among
//! blanks, then `count` query markers; at the markers the model outputs the data tokens in order.

use rand::RngExt;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use super::{Batch, FIRST_DATA, QUERY, Task, TaskError, check, within};

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
        within("values", values, 2..=65536)?;
        Ok(Self {
            region,
            count,
            values,
        })
    }
}

impl SelectiveCopy {
    /// One sequence holding the chosen `values` (numbered from 0), in order, at random positions
    /// of the region: the input a user asks a trained model to copy. Any number of values from
    /// 1 to the region's length may be given; the queries follow them one for one.
    pub fn with_values(&self, values: &[usize], rng: &mut StdRng) -> Result<Batch, TaskError> {
        check(
            (1..=self.region).contains(&values.len()),
            "values",
            values.len(),
            format!("1 to {} values (the region's length)", self.region),
        )?;
        if let Some(&bad) = values.iter().find(|&&v| v >= self.values) {
            check(
                false,
                "value",
                bad,
                format!("below {} (the number of values)", self.values),
            )?;
        }
        let task = Self {
            count: values.len(),
            ..self.clone()
        };
        let mut out = Batch::zeros(1, task.seq_len());
        task.fill_row(&mut out, 0, Some(values), rng);
        Ok(out)
    }

    /// The value number a predicted token stands for (`None` for a token that is not a value).
    pub fn value_of(&self, token: u32) -> Option<usize> {
        super::value_of(token, self.values)
    }

    /// Row `b`: the data tokens (`values`, or random ones) among blanks, then the queries.
    fn fill_row(&self, out: &mut Batch, b: usize, values: Option<&[usize]>, rng: &mut StdRng) {
        let len = self.seq_len();
        let row = b * len;
        let mut positions = sample(rng, self.region, self.count).into_vec();
        positions.sort_unstable();
        for (i, &p) in positions.iter().enumerate() {
            let v = FIRST_DATA
                + match values {
                    Some(values) => values[i] as u32,
                    None => rng.random_range(0..self.values as u32),
                };
            out.inputs[row + p] = v;
            let q = row + self.region + i;
            out.inputs[q] = QUERY;
            out.targets[q] = v;
            out.mask[q] = 1.0;
        }
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
        Batch::from_rows(batch, self.seq_len(), |out, b| {
            self.fill_row(out, b, None, rng)
        })
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

    #[test]
    fn with_values_places_the_chosen_values_in_order() {
        let task = SelectiveCopy::new(40, 8, 10).unwrap();
        let b = task
            .with_values(&[3, 1, 4], &mut StdRng::seed_from_u64(2))
            .unwrap();
        assert_eq!(b.len, 43);
        let data: Vec<u32> = b.row(0)[..40]
            .iter()
            .copied()
            .filter(|&t| t != PAD)
            .collect();
        assert_eq!(data, vec![FIRST_DATA + 3, FIRST_DATA + 1, FIRST_DATA + 4]);
        assert_eq!(b.scored(0), vec![40, 41, 42]);
        assert_eq!(task.value_of(FIRST_DATA + 4), Some(4));
        assert_eq!(task.value_of(QUERY), None);
        let mut rng = StdRng::seed_from_u64(2);
        assert!(matches!(
            task.with_values(&[3, 10], &mut rng),
            Err(TaskError::Parameter { name: "value", .. })
        ));
        assert!(task.with_values(&[], &mut rng).is_err());
        assert!(task.with_values(&[0; 41], &mut rng).is_err());
    }
}
