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
mod sparse;
mod text;

pub use batch::{Batch, MAX_BATCH_TOKENS, Sequences, check_batch_size};
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
pub use sparse::{Placed, SparseBatch, SparseRow, noise_index};
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

/// The longest sequence a task streams ([`Task::sample_streamed`]), 2³² tokens: far beyond
/// any evaluation (10⁸ tokens take about 80 minutes on the tiny preset on two CPU cores), short
/// of a mistyped length that would run for years.
pub const MAX_STREAM_TOKENS: u64 = 1 << 32;

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

    /// Draws a batch to stream: the same sequences as [`Task::sample`] from the same `rng`,
    /// which tasks that hide a few tokens in noise describe rather than store
    /// ([`SparseBatch`]), so that their length costs no memory. Other tasks build it whole.
    fn sample_streamed(&self, rng: &mut StdRng, batch: usize) -> Box<dyn Sequences> {
        Box::new(self.sample(rng, batch))
    }

    /// Checks, before anything is built, that `rows` sequences can be drawn by
    /// [`Task::sample_streamed`]: within [`MAX_BATCH_TOKENS`] for a batch built whole; a
    /// streamed one is bounded by [`MAX_STREAM_TOKENS`] a sequence instead.
    fn check_streamed_rows(&self, rows: usize) -> Result<(), TaskError> {
        check_batch_size(rows, self.seq_len())
    }
}

/// [`Task::check_streamed_rows`] for a task whose streamed rows are [`SparseBatch`]es.
pub(crate) fn check_stream_length(len: usize) -> Result<(), TaskError> {
    check(
        len as u64 <= MAX_STREAM_TOKENS,
        "sequence length",
        len,
        format!(
            "at most {MAX_STREAM_TOKENS} tokens (a streamed sequence's limit); give a shorter length"
        ),
    )
}
