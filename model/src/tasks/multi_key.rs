//! Multi-key needle: `pairs` key/value needles spread evenly over a region of noise, then some
//! of the keys asked back; after each asked key the answer is its value.
//!
//! ```text
//! noise… KEY k₁ v₁ noise… KEY k₂ v₂ noise… … (region tokens)  QUERY kᵢ QUERY kⱼ …
//!                                                                    ↓        ↓
//!                                                                    vᵢ       vⱼ
//! ```
//!
//! Each sequence draws its keys, all distinct, from a fixed key vocabulary in a random order, so
//! a key says nothing about where its value is; with the vocabulary fixed, one model can train
//! on few pairs and be asked about many. With more pairs than working-memory slots, only a memory that moves the right entries
//! to long-term memory, keeps them and retrieves them by key can answer for the earliest keys.

use rand::RngExt;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use super::{
    Batch, FIRST_DATA, KEY, Placed, QUERY, Sequences, SparseBatch, Task, TaskError, check,
    check_stream_length, within,
};

/// Multi-key needle retrieval over a region of fixed length.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiKeyNeedle {
    /// Tokens of the region holding the pairs (≥ 3 · pairs; any size).
    pub region: usize,
    /// Key/value pairs per sequence.
    pub pairs: usize,
    /// Distinct key ids (≥ pairs).
    pub keys: usize,
    /// Keys asked after the region (distinct, each answered once).
    pub queries: usize,
    /// Possible values (chance accuracy is `1 / values`).
    pub values: usize,
    /// Number of distinct noise tokens.
    pub noise: usize,
}

impl MultiKeyNeedle {
    /// A multi-key needle task; errors name the bad parameter.
    pub fn new(
        region: usize,
        pairs: usize,
        keys: usize,
        queries: usize,
        values: usize,
        noise: usize,
    ) -> Result<Self, TaskError> {
        within("pairs", pairs, 1..=65536)?;
        within("keys", keys, pairs..=65536)?;
        check(
            region >= 3 * pairs,
            "region",
            region,
            format!("at least 3 · pairs ({})", 3 * pairs),
        )?;
        check(
            (1..=pairs).contains(&queries),
            "queries",
            queries,
            format!("in 1..=pairs ({pairs})"),
        )?;
        within("values", values, 2..=65536)?;
        within("noise", noise, 1..=65536)?;
        Ok(Self {
            region,
            pairs,
            keys,
            queries,
            values,
            noise,
        })
    }

    /// Token id of key number `k`.
    fn key(&self, k: usize) -> u32 {
        FIRST_DATA + (self.values + k) as u32
    }

    /// First position of the `i`-th of `pairs` stretches that split the region evenly (each at
    /// least 3 tokens long, since the region holds at least 3 · pairs).
    fn stretch_start(&self, i: usize) -> usize {
        (i as u128 * self.region as u128 / self.pairs as u128) as usize
    }

    /// `batch` rows: in each, pair `i` somewhere in the `i`-th of `pairs` equal stretches of
    /// the region (so the pairs cover it from start to end), noise elsewhere, then the queries.
    fn sparse(&self, batch: usize, rng: &mut StdRng) -> SparseBatch {
        let noise_base = FIRST_DATA + (self.values + self.keys) as u32;
        let mut out = SparseBatch::new(self.seq_len(), noise_base, self.noise as u32);
        for _ in 0..batch {
            let seed = rng.random::<u64>();
            let keys = sample(rng, self.keys, self.pairs).into_vec();
            let values: Vec<u32> = (0..self.pairs)
                .map(|_| FIRST_DATA + rng.random_range(0..self.values as u32))
                .collect();
            let mut placed = Vec::with_capacity(3 * self.pairs + 2 * self.queries);
            for (i, (&k, &v)) in keys.iter().zip(&values).enumerate() {
                let (start, end) = (self.stretch_start(i), self.stretch_start(i + 1));
                let at = rng.random_range(start..=end - 3);
                placed.push(Placed {
                    at,
                    input: KEY,
                    target: None,
                });
                placed.push(Placed {
                    at: at + 1,
                    input: self.key(k),
                    target: None,
                });
                placed.push(Placed {
                    at: at + 2,
                    input: v,
                    target: None,
                });
            }
            for (j, i) in sample(rng, self.pairs, self.queries)
                .into_iter()
                .enumerate()
            {
                let q = self.region + 2 * j;
                placed.push(Placed {
                    at: q,
                    input: QUERY,
                    target: None,
                });
                placed.push(Placed {
                    at: q + 1,
                    input: self.key(keys[i]),
                    target: Some(values[i]),
                });
            }
            out.push_row(seed, placed);
        }
        out
    }
}

impl Task for MultiKeyNeedle {
    fn name(&self) -> &'static str {
        "multikey"
    }

    fn vocab_size(&self) -> usize {
        FIRST_DATA as usize + self.values + self.keys + self.noise
    }

    fn seq_len(&self) -> usize {
        self.region + 2 * self.queries
    }

    fn sample(&self, rng: &mut StdRng, batch: usize) -> Batch {
        self.sparse(batch, rng).materialize()
    }

    fn sample_streamed(&self, rng: &mut StdRng, batch: usize) -> Box<dyn Sequences> {
        Box::new(self.sparse(batch, rng))
    }

    fn check_streamed_rows(&self, _rows: usize) -> Result<(), TaskError> {
        check_stream_length(self.seq_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashMap;

    #[test]
    fn every_query_is_answered_by_the_value_stored_under_its_key() {
        for region in [192, 1000, 100_000] {
            let task = MultiKeyNeedle::new(region, 64, 64, 16, 16, 16).unwrap();
            let batch = task.sample(&mut StdRng::seed_from_u64(9), 2);
            for b in 0..2 {
                let row = batch.row(b);
                let stored: HashMap<u32, (usize, u32)> = (0..region)
                    .filter(|&t| row[t] == KEY)
                    .map(|t| (row[t + 1], (t, row[t + 2])))
                    .collect();
                assert_eq!(stored.len(), 64, "every key stored once");
                let first = stored.values().map(|&(t, _)| t).min().unwrap();
                let last = stored.values().map(|&(t, _)| t).max().unwrap();
                assert!(first < region / 64 && last >= region - region / 64 - 3);
                let scored = batch.scored(b);
                assert_eq!(scored.len(), 16);
                for &q in &scored {
                    assert_eq!(row[q - 1], QUERY);
                    let (_, value) = stored[&row[q]];
                    assert_eq!(batch.targets[b * batch.len + q], value);
                }
                assert!(row.iter().all(|&t| (t as usize) < task.vocab_size()));
            }
        }
    }

    #[test]
    fn draws_are_seeded_and_bad_parameters_are_errors() {
        let task = MultiKeyNeedle::new(30, 10, 12, 4, 8, 8).unwrap();
        let few = MultiKeyNeedle::new(30, 2, 12, 2, 8, 8).unwrap();
        assert_eq!(
            few.vocab_size(),
            task.vocab_size(),
            "the key vocabulary is fixed"
        );
        let a = task.sample(&mut StdRng::seed_from_u64(1), 2);
        assert_eq!(a, task.sample(&mut StdRng::seed_from_u64(1), 2));
        assert_ne!(a, task.sample(&mut StdRng::seed_from_u64(2), 2));
        assert!(matches!(
            MultiKeyNeedle::new(29, 10, 10, 4, 8, 8),
            Err(TaskError::Parameter { name: "region", .. })
        ));
        assert!(matches!(
            MultiKeyNeedle::new(30, 10, 10, 11, 8, 8),
            Err(TaskError::Parameter {
                name: "queries",
                ..
            })
        ));
        assert!(matches!(
            MultiKeyNeedle::new(30, 0, 0, 0, 8, 8),
            Err(TaskError::Parameter { name: "pairs", .. })
        ));
        assert!(matches!(
            MultiKeyNeedle::new(30, 10, 9, 4, 8, 8),
            Err(TaskError::Parameter { name: "keys", .. })
        ));
    }
}
