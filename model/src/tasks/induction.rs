//! Induction heads (Olsson et al. 2022): a random token sequence followed by its exact repeat;
//! in the second copy every next token is predictable by finding the previous occurrence of the
//! current token and copying what followed it.

use rand::RngExt;
use rand::rngs::StdRng;

use super::{Batch, FIRST_DATA, Task, TaskError, check, within};

/// Induction heads.
#[derive(Debug, Clone, PartialEq)]
pub struct InductionHeads {
    /// Length of the random prefix (the sequence is twice this).
    pub prefix: usize,
    /// Distinct data tokens.
    pub values: usize,
}

impl InductionHeads {
    /// An induction-heads task.
    pub fn new(prefix: usize, values: usize) -> Result<Self, TaskError> {
        check(prefix >= 2, "prefix", prefix, "at least 2")?;
        within("values", values, 2..=65536)?;
        Ok(Self { prefix, values })
    }
}

impl Task for InductionHeads {
    fn name(&self) -> &'static str {
        "induction"
    }

    fn vocab_size(&self) -> usize {
        FIRST_DATA as usize + self.values
    }

    fn seq_len(&self) -> usize {
        2 * self.prefix
    }

    fn sample(&self, rng: &mut StdRng, batch: usize) -> Batch {
        let (n, len) = (self.prefix, 2 * self.prefix);
        let mut out = Batch::zeros(batch, len);
        for b in 0..batch {
            let row = b * len;
            for t in 0..n {
                let v = FIRST_DATA + rng.random_range(0..self.values as u32);
                out.inputs[row + t] = v;
                out.inputs[row + n + t] = v;
            }
            // From the first repeated token on, the next token is the one that followed last time.
            for t in n..len - 1 {
                out.targets[row + t] = out.inputs[row + t + 1];
                out.mask[row + t] = 1.0;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn second_half_repeats_and_targets_are_next_tokens() {
        let task = InductionHeads::new(20, 50).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(2), 2);
        for b in 0..2 {
            let row = batch.row(b);
            assert_eq!(row[..20], row[20..]);
            for t in batch.scored(b) {
                assert_eq!(
                    batch.targets[b * 40 + t],
                    row[t - 20 + 1],
                    "recoverable from the first copy"
                );
            }
            assert_eq!(batch.scored(b).len(), 19);
        }
    }
}
