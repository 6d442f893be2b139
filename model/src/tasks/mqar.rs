//! Multi-query associative recall (Arora et al. 2023, "Zoology", §3): key–value pairs first, then
//! the keys again at positions drawn from a power law; at each queried key the model outputs its
//! value. Keys come from the first half of the data vocabulary, values from the second.

use rand::RngExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{Batch, FIRST_DATA, Task, TaskError, check};

/// Multi-query associative recall.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiQueryRecall {
    /// Key–value pairs per sequence (each key is queried once).
    pub pairs: usize,
    /// Total sequence length (≥ 3 · pairs).
    pub len: usize,
    /// Data vocabulary, split into keys (first half) and values (second half).
    pub data_vocab: usize,
    /// Power-law exponent α: gap g after the context is drawn with weight `g^(α−1)` (Zoology uses 0.01… 1).
    pub alpha: f64,
}

impl MultiQueryRecall {
    /// An MQAR task.
    pub fn new(pairs: usize, len: usize, data_vocab: usize, alpha: f64) -> Result<Self, TaskError> {
        check(pairs >= 1, "pairs", pairs, "at least 1")?;
        check(
            data_vocab >= 2 * pairs && data_vocab <= 131072,
            "data_vocab",
            data_vocab,
            format!("in 2·pairs ({})..=131072", 2 * pairs),
        )?;
        check(
            len >= 3 * pairs,
            "len",
            len,
            format!("at least 3·pairs ({})", 3 * pairs),
        )?;
        check(alpha > 0.0 && alpha <= 1.0, "alpha", alpha, "in (0, 1]")?;
        Ok(Self {
            pairs,
            len,
            data_vocab,
            alpha,
        })
    }

    /// `pairs` distinct query positions after the context, drawn from the power law.
    fn query_positions(&self, rng: &mut StdRng) -> Vec<usize> {
        let context = 2 * self.pairs;
        let space = self.len - context;
        let weights: Vec<f64> = (1..=space)
            .map(|g| (g as f64).powf(self.alpha - 1.0))
            .collect();
        let mut cumulative = Vec::with_capacity(space);
        let mut acc = 0.0;
        for w in &weights {
            acc += w;
            cumulative.push(acc);
        }
        let mut chosen = Vec::with_capacity(self.pairs);
        let mut taken = vec![false; space];
        while chosen.len() < self.pairs {
            let x = rng.random::<f64>() * acc;
            let mut g = cumulative.partition_point(|&c| c < x).min(space - 1);
            // On a collision take the nearest free gap, so sampling always terminates.
            while taken[g] {
                g = (g + 1) % space;
            }
            taken[g] = true;
            chosen.push(context + g);
        }
        chosen
    }
}

impl Task for MultiQueryRecall {
    fn name(&self) -> &'static str {
        "mqar"
    }

    fn vocab_size(&self) -> usize {
        FIRST_DATA as usize + self.data_vocab
    }

    fn seq_len(&self) -> usize {
        self.len
    }

    fn sample(&self, rng: &mut StdRng, batch: usize) -> Batch {
        let half = (self.data_vocab / 2) as u32;
        let mut out = Batch::zeros(batch, self.len);
        for b in 0..batch {
            let row = b * self.len;
            let mut keys: Vec<u32> = (0..half).collect();
            keys.shuffle(rng);
            keys.truncate(self.pairs);
            let values: Vec<u32> = (0..self.pairs)
                .map(|_| FIRST_DATA + half + rng.random_range(0..half))
                .collect();
            for (i, (&k, &v)) in keys.iter().zip(&values).enumerate() {
                out.inputs[row + 2 * i] = FIRST_DATA + k;
                out.inputs[row + 2 * i + 1] = v;
            }
            let mut order: Vec<usize> = (0..self.pairs).collect();
            order.shuffle(rng);
            for (pos, i) in self.query_positions(rng).into_iter().zip(order) {
                out.inputs[row + pos] = FIRST_DATA + keys[i];
                out.targets[row + pos] = values[i];
                out.mask[row + pos] = 1.0;
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
    fn every_query_asks_a_key_whose_value_is_the_target() {
        let task = MultiQueryRecall::new(8, 200, 64, 0.1).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(11), 3);
        for b in 0..3 {
            let row = batch.row(b);
            let scored = batch.scored(b);
            assert_eq!(scored.len(), 8);
            for &q in &scored {
                let key = row[q];
                assert!(key < FIRST_DATA + 32, "keys come from the first half");
                let at = (0..8)
                    .find(|&i| row[2 * i] == key)
                    .expect("queried key is in the context");
                assert_eq!(batch.targets[b * batch.len + q], row[2 * at + 1]);
                assert!(
                    batch.targets[b * batch.len + q] >= FIRST_DATA + 32,
                    "values come from the second half"
                );
            }
        }
    }

    #[test]
    fn power_law_favours_short_gaps() {
        let task = MultiQueryRecall::new(1, 10_002, 4, 0.1).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        let near = (0..400)
            .filter(|_| task.query_positions(&mut rng)[0] - 2 < 1000)
            .count();
        // Uniform would put 10 % of the queries in the first tenth; this law puts far more.
        assert!(near > 120, "{near}");
    }
}
