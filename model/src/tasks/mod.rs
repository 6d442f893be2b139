//! Long-range tasks, each deterministic from a seed. A generator yields a [`Batch`] of
//! `(inputs, targets, mask)`: `targets[t]` is what the model should output after reading
//! `inputs[..=t]`, and only positions with `mask = 1` are scored.
//!
//! Token ids `0..FIRST_DATA` are reserved markers shared by all tasks.

mod batch;
mod induction;
mod key_sentences;
mod listops;
mod mqar;
mod multi_doc_qa;
mod multi_key;
mod needle;
mod overlap;
mod passkey;
mod seeds;
mod selective_copy;
mod text;

pub use batch::{Batch, MAX_BATCH_TOKENS, check_batch_size};
pub use induction::InductionHeads;
pub use key_sentences::KeySentences;
pub use listops::{ListOps, ListOpsOperator};
pub use mqar::MultiQueryRecall;
pub use multi_doc_qa::MultiDocQa;
pub use multi_key::MultiKeyNeedle;
pub use needle::Needle;
pub use overlap::{rouge_l, unigram_f1};
pub use passkey::Passkey;
pub use seeds::{EVAL_SEED, step_seed};
pub use selective_copy::SelectiveCopy;
pub use text::CharText;

use rand::rngs::StdRng;

/// Padding / blank token.
pub const PAD: u32 = 0;
/// Marks that the next token is the one to remember (the needle's key).
pub const KEY: u32 = 1;
/// Asks for an answer at this position.
pub const QUERY: u32 = 2;
/// Separator.
pub const SEP: u32 = 3;
/// First id free for task data.
pub const FIRST_DATA: u32 = 4;

/// The value number (from 0) that `token` stands for in a task with `values` data values, or
/// `None` for a token that is not one (a marker, noise).
pub fn value_of(token: u32, values: usize) -> Option<usize> {
    token
        .checked_sub(FIRST_DATA)
        .map(|v| v as usize)
        .filter(|&v| v < values)
}

/// Why a task could not be built or sampled.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TaskError {
    /// A parameter out of range.
    #[error("task parameter `{name}` is {value}, but it must be {allowed}")]
    Parameter {
        /// Parameter name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// A text source that cannot be used.
    #[error("{path}: {reason}")]
    Text {
        /// The file (or folder).
        path: String,
        /// What is wrong and where.
        reason: String,
    },
}

/// Checks that `value` lies in `range`, naming the parameter in the error.
pub(crate) fn within(
    name: &'static str,
    value: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<(), TaskError> {
    let allowed = format!("in {}..={}", range.start(), range.end());
    check(range.contains(&value), name, value, allowed)
}

pub(crate) fn check(
    ok: bool,
    name: &'static str,
    value: impl std::fmt::Display,
    allowed: impl Into<String>,
) -> Result<(), TaskError> {
    if ok {
        Ok(())
    } else {
        Err(TaskError::Parameter {
            name,
            value: value.to_string(),
            allowed: allowed.into(),
        })
    }
}

/// A generator of batches.
pub trait Task {
    /// Short name (`needle`, `copy`, …).
    fn name(&self) -> &'static str;
    /// Token ids the task uses: the model's `vocab_size` must be at least this.
    fn vocab_size(&self) -> usize;
    /// Sequence length of every sample.
    fn seq_len(&self) -> usize;
    /// Draws a batch.
    fn sample(&self, rng: &mut StdRng, batch: usize) -> Batch;
}
