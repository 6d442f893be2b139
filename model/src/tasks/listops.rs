//! ListOps (Nangia & Bowman 2018; Long Range Arena): nested prefix expressions over the digits
//! 0–9 with MIN, MAX, MED (median) and SM (sum modulo 10); the answer is the value, a digit.
//!
//! ```text
//! [MAX 2 9 [MIN 4 7 ] 0 ] → 9          (tokens: MAX 2 9 MIN 4 7 ] 0 ], padded, then QUERY)
//! ```
//! An operator token opens its list, `]` closes it. The expression is left-padded so every
//! sample has the configured length, and a final QUERY position holds the answer.

use rand::RngExt;
use rand::rngs::StdRng;

use super::{Batch, FIRST_DATA, PAD, QUERY, Task, TaskError, check};

/// The four operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOpsOperator {
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Median (the lower one for an even count).
    Med,
    /// Sum modulo 10.
    Sm,
}

impl ListOpsOperator {
    const ALL: [Self; 4] = [Self::Min, Self::Max, Self::Med, Self::Sm];

    /// Applies the operator to digit arguments.
    pub fn apply(self, args: &[u32]) -> u32 {
        let mut v = args.to_vec();
        v.sort_unstable();
        match self {
            Self::Min => v[0],
            Self::Max => v[v.len() - 1],
            Self::Med => v[(v.len() - 1) / 2],
            Self::Sm => v.iter().sum::<u32>() % 10,
        }
    }

    fn token(self) -> u32 {
        FIRST_DATA + 10 + Self::ALL.iter().position(|&o| o == self).unwrap() as u32
    }
}

/// Token closing a list.
const CLOSE: u32 = FIRST_DATA + 14;

/// ListOps with a maximum depth and argument count.
#[derive(Debug, Clone, PartialEq)]
pub struct ListOps {
    /// Total sequence length (expression + padding + the QUERY position).
    pub len: usize,
    /// Maximum nesting depth (LRA: 10).
    pub max_depth: usize,
    /// Maximum arguments per operator (LRA: 10).
    pub max_args: usize,
}

impl ListOps {
    /// A ListOps task.
    pub fn new(len: usize, max_depth: usize, max_args: usize) -> Result<Self, TaskError> {
        check(
            (2..=10_000_000).contains(&len),
            "len",
            len,
            "in 2..=10000000",
        )?;
        check(
            (1..=10).contains(&max_depth),
            "max_depth",
            max_depth,
            "in 1..=10",
        )?;
        check(
            (2..=10).contains(&max_args),
            "max_args",
            max_args,
            "in 2..=10",
        )?;
        Ok(Self {
            len,
            max_depth,
            max_args,
        })
    }

    /// Appends an expression of at most `budget` tokens; returns its value.
    fn expression(&self, rng: &mut StdRng, depth: usize, budget: usize, out: &mut Vec<u32>) -> u32 {
        // An operator needs its token, ≥ 2 arguments and the closing token.
        let leaf = depth >= self.max_depth || budget < 4 || (depth > 0 && rng.random_bool(0.15));
        if leaf {
            let d = rng.random_range(0..10u32);
            out.push(FIRST_DATA + d);
            return d;
        }
        let op = ListOpsOperator::ALL[rng.random_range(0..4)];
        let n = rng.random_range(2..=self.max_args.min(budget - 2));
        out.push(op.token());
        // Share the remaining budget among the arguments: one token each, the rest at random cuts.
        let extra = budget - 2 - n;
        let mut cuts: Vec<usize> = (0..n - 1).map(|_| rng.random_range(0..=extra)).collect();
        cuts.sort_unstable();
        cuts.push(extra);
        let mut args = Vec::with_capacity(n);
        let mut prev = 0;
        for cut in cuts {
            args.push(self.expression(rng, depth + 1, 1 + cut - prev, out));
            prev = cut;
        }
        out.push(CLOSE);
        op.apply(&args)
    }

    /// Evaluates a token sequence (expression tokens only); `None` if malformed.
    pub fn evaluate(tokens: &[u32]) -> Option<u32> {
        let mut stack: Vec<(ListOpsOperator, Vec<u32>)> = Vec::new();
        let mut result = None;
        for &t in tokens.iter().filter(|&&t| t != PAD) {
            if (FIRST_DATA..FIRST_DATA + 10).contains(&t) {
                let d = t - FIRST_DATA;
                match stack.last_mut() {
                    Some((_, args)) => args.push(d),
                    None => result = Some(d),
                }
            } else if t == CLOSE {
                let (op, args) = stack.pop()?;
                let v = op.apply(&args);
                match stack.last_mut() {
                    Some((_, a)) => a.push(v),
                    None => result = Some(v),
                }
            } else {
                let op = *ListOpsOperator::ALL.iter().find(|o| o.token() == t)?;
                stack.push((op, Vec::new()));
            }
        }
        if stack.is_empty() { result } else { None }
    }
}

impl Task for ListOps {
    fn name(&self) -> &'static str {
        "listops"
    }

    fn vocab_size(&self) -> usize {
        CLOSE as usize + 1
    }

    fn seq_len(&self) -> usize {
        self.len
    }

    fn sample(&self, rng: &mut StdRng, batch: usize) -> Batch {
        let len = self.len;
        let mut out = Batch::zeros(batch, len);
        for b in 0..batch {
            let mut expr = Vec::new();
            let value = self.expression(rng, 0, len - 1, &mut expr);
            let row = b * len;
            let pad = len - 1 - expr.len();
            out.inputs[row + pad..row + len - 1].copy_from_slice(&expr);
            out.inputs[row + len - 1] = QUERY;
            out.targets[row + len - 1] = FIRST_DATA + value;
            out.mask[row + len - 1] = 1.0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn hand_computed_operators() {
        assert_eq!(ListOpsOperator::Min.apply(&[4, 7, 2]), 2);
        assert_eq!(ListOpsOperator::Max.apply(&[4, 7, 2]), 7);
        assert_eq!(ListOpsOperator::Med.apply(&[4, 7, 2, 9]), 4);
        assert_eq!(ListOpsOperator::Sm.apply(&[4, 7, 2]), 3);
        // [MAX 2 9 [MIN 4 7] 0] = 9
        let d = |x: u32| FIRST_DATA + x;
        let expr = [
            ListOpsOperator::Max.token(),
            d(2),
            d(9),
            ListOpsOperator::Min.token(),
            d(4),
            d(7),
            CLOSE,
            d(0),
            CLOSE,
        ];
        assert_eq!(ListOps::evaluate(&expr), Some(9));
    }

    #[test]
    fn answer_is_recoverable_and_limits_hold() {
        for len in [16, 500, 100_000] {
            let task = ListOps::new(len, 10, 10).unwrap();
            let batch = task.sample(&mut StdRng::seed_from_u64(len as u64), 2);
            for b in 0..2 {
                let row = batch.row(b);
                assert_eq!(row.len(), len);
                assert_eq!(row[len - 1], QUERY);
                let answer = batch.targets[b * len + len - 1] - FIRST_DATA;
                assert_eq!(ListOps::evaluate(&row[..len - 1]), Some(answer));
                // Depth and argument counts.
                let (mut depth, mut max_depth) = (0usize, 0usize);
                for &t in &row[..len - 1] {
                    if (FIRST_DATA + 10..FIRST_DATA + 14).contains(&t) {
                        depth += 1;
                        max_depth = max_depth.max(depth);
                    } else if t == CLOSE {
                        depth -= 1;
                    }
                }
                assert!(max_depth <= 10);
            }
        }
    }
}
