//! Multi-token passkey: a key marker and a passkey of several tokens early in a sea of noise; at
//! a query `distance` later the model says the passkey back, token by token.
//!
//! ```text
//! noise… KEY p₁ p₂ p₃ p₄ noise… (distance − 1 tokens) QUERY p₁ p₂ p₃
//!                                                       ↓    ↓  ↓  ↓
//!                                                       p₁   p₂ p₃ p₄
//! ```
//!
//! The answer's inputs are the passkey itself (teacher forcing), so a row is answered exactly
//! (every digit right) if and only if greedy decoding from the query would say the whole passkey:
//! the first wrong digit fails both. With 16 values and 4 digits, chance is 16⁻⁴.

use rand::RngExt;
use rand::rngs::StdRng;

use super::{
    Batch, FIRST_DATA, KEY, Placed, QUERY, Sequences, SparseBatch, Task, TaskError, check,
    check_stream_length, within,
};

/// Passkey retrieval at a fixed distance.
#[derive(Debug, Clone, PartialEq)]
pub struct Passkey {
    /// Positions from the passkey's last token to the query (≥ 1; any size).
    pub distance: usize,
    /// Tokens in the passkey.
    pub digits: usize,
    /// Possible values of each digit.
    pub values: usize,
    /// Number of distinct noise tokens.
    pub noise: usize,
    /// Noise tokens before the passkey; it starts at a random position in `0..=lead`.
    pub lead: usize,
}

impl Passkey {
    /// A passkey task; errors name the bad parameter.
    pub fn new(
        distance: usize,
        digits: usize,
        values: usize,
        noise: usize,
        lead: usize,
    ) -> Result<Self, TaskError> {
        check(distance >= 1, "distance", distance, "at least 1")?;
        within("digits", digits, 1..=64)?;
        within("values", values, 2..=65536)?;
        within("noise", noise, 1..=65536)?;
        Ok(Self {
            distance,
            digits,
            values,
            noise,
            lead,
        })
    }

    /// One sequence whose passkey is `digits` (each a value number in `0..values`, as many as
    /// the task's digits), with noise and the passkey's position drawn from `rng`: the input a
    /// user asks a trained model about.
    pub fn with_digits(&self, digits: &[usize], rng: &mut StdRng) -> Result<Batch, TaskError> {
        check(
            digits.len() == self.digits,
            "passkey digits",
            digits.len(),
            format!("{} (the task's passkey length)", self.digits),
        )?;
        for &d in digits {
            check(
                d < self.values,
                "passkey digit",
                d,
                format!("below {} (the number of values)", self.values),
            )?;
        }
        let digits: Vec<u32> = digits.iter().map(|&d| d as u32).collect();
        Ok(self.sparse(1, Some(&digits), rng).materialize())
    }

    /// `batch` rows: noise, the passkey after KEY at a random position, QUERY `distance` after
    /// its last digit, then the passkey but its last digit as the answer's inputs, each answer
    /// position scored by the next digit. The digits are `chosen`, or drawn from `rng`.
    fn sparse(&self, batch: usize, chosen: Option<&[u32]>, rng: &mut StdRng) -> SparseBatch {
        let noise_base = FIRST_DATA + self.values as u32;
        let mut out = SparseBatch::new(self.seq_len(), noise_base, self.noise as u32);
        for _ in 0..batch {
            let seed = rng.random::<u64>();
            let at = rng.random_range(0..=self.lead);
            let q = at + self.digits + self.distance;
            let mut placed = vec![Placed {
                at,
                input: KEY,
                target: None,
            }];
            let mut said = QUERY; // what the answer position `q + d` reads before saying digit d
            for d in 0..self.digits {
                let digit = FIRST_DATA
                    + chosen.map_or_else(|| rng.random_range(0..self.values as u32), |c| c[d]);
                placed.push(Placed {
                    at: at + 1 + d,
                    input: digit,
                    target: None,
                });
                placed.push(Placed {
                    at: q + d,
                    input: said,
                    target: Some(digit),
                });
                said = digit;
            }
            out.push_row(seed, placed);
        }
        out
    }
}

impl Task for Passkey {
    fn name(&self) -> &'static str {
        "passkey"
    }

    fn vocab_size(&self) -> usize {
        FIRST_DATA as usize + self.values + self.noise
    }

    fn seq_len(&self) -> usize {
        self.lead + self.distance + 2 * self.digits
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::value_of;
    use rand::SeedableRng;

    #[test]
    fn the_answer_is_the_passkey_digit_by_digit_at_the_requested_distance() {
        for distance in [1, 50, 100_000] {
            let task = Passkey::new(distance, 4, 16, 16, 8).unwrap();
            let batch = task.sample(&mut StdRng::seed_from_u64(5), 3);
            for b in 0..3 {
                let row = batch.row(b);
                let key = row.iter().position(|&t| t == KEY).unwrap();
                let passkey = &row[key + 1..key + 5];
                assert!(passkey.iter().all(|&t| value_of(t, 16).is_some()));
                let scored = batch.scored(b);
                assert_eq!(scored.len(), 4);
                let q = scored[0];
                assert_eq!(row[q], QUERY);
                assert_eq!(q - (key + 4), distance, "distance from the last digit");
                assert_eq!(scored, (q..q + 4).collect::<Vec<_>>(), "answered in a row");
                let answer: Vec<u32> = scored
                    .iter()
                    .map(|&t| batch.targets[b * batch.len + t])
                    .collect();
                assert_eq!(answer, passkey, "the targets are the passkey in order");
                assert_eq!(&row[q + 1..q + 4], &passkey[..3], "teacher-forced answer");
                assert!(row.iter().all(|&t| (t as usize) < task.vocab_size()));
                assert_eq!(row.iter().filter(|&&t| t == KEY).count(), 1);
            }
        }
    }

    #[test]
    fn one_digit_is_the_needle_layout_and_draws_are_seeded() {
        let task = Passkey::new(10, 1, 8, 8, 4).unwrap();
        assert_eq!(task.seq_len(), 4 + 10 + 2);
        let a = task.sample(&mut StdRng::seed_from_u64(1), 3);
        assert_eq!(a, task.sample(&mut StdRng::seed_from_u64(1), 3));
        assert_ne!(a, task.sample(&mut StdRng::seed_from_u64(2), 3));
    }

    #[test]
    fn a_chosen_passkey_is_hidden_and_asked_for() {
        let task = Passkey::new(30, 4, 16, 16, 8).unwrap();
        let batch = task
            .with_digits(&[3, 1, 4, 1], &mut StdRng::seed_from_u64(2))
            .unwrap();
        let key = batch.inputs.iter().position(|&t| t == KEY).unwrap();
        let hidden: Vec<_> = batch.inputs[key + 1..key + 5]
            .iter()
            .map(|&t| value_of(t, 16))
            .collect();
        assert_eq!(hidden, [Some(3), Some(1), Some(4), Some(1)]);
        let asked: Vec<_> = batch
            .scored(0)
            .iter()
            .map(|&t| value_of(batch.targets[t], 16).unwrap())
            .collect();
        assert_eq!(asked, [3, 1, 4, 1]);
        let mut rng = StdRng::seed_from_u64(2);
        let e = task.with_digits(&[3, 1], &mut rng).unwrap_err().to_string();
        assert!(e.contains("4 (the task's passkey length)"), "{e}");
        let e = task
            .with_digits(&[3, 1, 16, 0], &mut rng)
            .unwrap_err()
            .to_string();
        assert!(e.contains("below 16"), "{e}");
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(matches!(
            Passkey::new(0, 4, 16, 16, 0),
            Err(TaskError::Parameter {
                name: "distance",
                ..
            })
        ));
        assert!(matches!(
            Passkey::new(5, 0, 16, 16, 0),
            Err(TaskError::Parameter { name: "digits", .. })
        ));
        assert!(matches!(
            Passkey::new(5, 4, 1, 16, 0),
            Err(TaskError::Parameter { name: "values", .. })
        ));
    }
}
