//! Needle (passkey) retrieval: a key marker and a value early in a sea of noise, a query at a
//! chosen distance after the value; the answer is the value.
//!
//! ```text
//! noise… KEY v noise… (distance − 1 tokens) QUERY → v
//! ```

use rand::RngExt;
use rand::rngs::StdRng;

use super::{
    Batch, FIRST_DATA, KEY, Placed, QUERY, Sequences, SparseBatch, Task, TaskError, check,
    check_stream_length, within,
};

/// Needle retrieval at a fixed distance.
#[derive(Debug, Clone, PartialEq)]
pub struct Needle {
    /// Positions from the value to the query (≥ 1; any size, e.g. 1 000 000).
    pub distance: usize,
    /// Number of possible values (chance accuracy is `1 / values`).
    pub values: usize,
    /// Number of distinct noise tokens.
    pub noise: usize,
    /// Noise tokens before the needle; the needle starts at a random position in `0..=lead`.
    pub lead: usize,
}

impl Needle {
    /// A needle task; errors name the bad parameter.
    pub fn new(
        distance: usize,
        values: usize,
        noise: usize,
        lead: usize,
    ) -> Result<Self, TaskError> {
        check(distance >= 1, "distance", distance, "at least 1")?;
        within("values", values, 2..=65536)?;
        within("noise", noise, 1..=65536)?;
        Ok(Self {
            distance,
            values,
            noise,
            lead,
        })
    }

    /// First value token id.
    pub fn first_value(&self) -> u32 {
        FIRST_DATA
    }
}

impl Task for Needle {
    fn name(&self) -> &'static str {
        "needle"
    }

    fn vocab_size(&self) -> usize {
        FIRST_DATA as usize + self.values + self.noise
    }

    fn seq_len(&self) -> usize {
        self.lead + self.distance + 2
    }

    fn sample(&self, rng: &mut StdRng, batch: usize) -> Batch {
        self.sparse(batch, None, rng).materialize()
    }

    fn sample_streamed(&self, rng: &mut StdRng, batch: usize) -> Box<dyn Sequences> {
        Box::new(self.sparse(batch, None, rng))
    }

    fn check_streamed_rows(&self, _rows: usize) -> Result<(), TaskError> {
        check_stream_length(self.seq_len())
    }
}

impl Needle {
    /// One sequence whose needle is value number `value` (`0..values`), with noise and the
    /// needle's position drawn from `rng`: the input a user asks a trained model about.
    pub fn with_value(&self, value: usize, rng: &mut StdRng) -> Result<Batch, TaskError> {
        check(
            value < self.values,
            "value",
            value,
            &format!("below {} (the number of values)", self.values),
        )?;
        Ok(self.sparse(1, Some(value as u32), rng).materialize())
    }

    /// The value number a predicted token stands for (`None` for a token that is not a value).
    pub fn value_of(&self, token: u32) -> Option<usize> {
        super::value_of(token, self.values)
    }

    /// `batch` rows: noise, then KEY and the value (`value`, or drawn) at a random position,
    /// QUERY `distance` later, answered by the value.
    fn sparse(&self, batch: usize, value: Option<u32>, rng: &mut StdRng) -> SparseBatch {
        let noise_base = FIRST_DATA + self.values as u32;
        let mut out = SparseBatch::new(self.seq_len(), noise_base, self.noise as u32);
        for _ in 0..batch {
            let seed = rng.random::<u64>();
            let at = rng.random_range(0..=self.lead);
            let value =
                FIRST_DATA + value.unwrap_or_else(|| rng.random_range(0..self.values as u32));
            let q = at + 1 + self.distance;
            let placed = vec![
                Placed {
                    at,
                    input: KEY,
                    target: None,
                },
                Placed {
                    at: at + 1,
                    input: value,
                    target: None,
                },
                Placed {
                    at: q,
                    input: QUERY,
                    target: Some(value),
                },
            ];
            out.push_row(seed, placed);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn answer_is_recoverable_at_the_requested_distance() {
        for distance in [1, 64, 1000, 1_000_000] {
            let task = Needle::new(distance, 16, 16, 8).unwrap();
            let batch = task.sample(&mut StdRng::seed_from_u64(7), 2);
            for b in 0..2 {
                let row = batch.row(b);
                let scored = batch.scored(b);
                assert_eq!(scored.len(), 1);
                let q = scored[0];
                assert_eq!(row[q], QUERY);
                let key = row.iter().position(|&t| t == KEY).unwrap();
                assert_eq!(q - (key + 1), distance, "distance as requested");
                assert_eq!(
                    batch.targets[b * batch.len + q],
                    row[key + 1],
                    "the answer is the needle's value"
                );
                assert!(row.iter().all(|&t| (t as usize) < task.vocab_size()));
            }
        }
    }

    #[test]
    fn with_value_places_the_chosen_value() {
        let task = Needle::new(30, 8, 8, 4).unwrap();
        let b = task.with_value(5, &mut StdRng::seed_from_u64(3)).unwrap();
        let key = b.row(0).iter().position(|&t| t == KEY).unwrap();
        assert_eq!(b.row(0)[key + 1], FIRST_DATA + 5);
        assert_eq!(b.scored(0), vec![key + 1 + 30]);
        assert!(matches!(
            task.with_value(8, &mut StdRng::seed_from_u64(3)),
            Err(TaskError::Parameter { name: "value", .. })
        ));
    }

    #[test]
    fn deterministic_from_the_seed() {
        let task = Needle::new(10, 8, 8, 4).unwrap();
        let a = task.sample(&mut StdRng::seed_from_u64(1), 3);
        let b = task.sample(&mut StdRng::seed_from_u64(1), 3);
        assert_eq!(a, b);
        assert_ne!(a, task.sample(&mut StdRng::seed_from_u64(2), 3));
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(matches!(
            Needle::new(0, 16, 16, 0),
            Err(TaskError::Parameter {
                name: "distance",
                ..
            })
        ));
        assert!(matches!(
            Needle::new(5, 1, 16, 0),
            Err(TaskError::Parameter { name: "values", .. })
        ));
    }
}
