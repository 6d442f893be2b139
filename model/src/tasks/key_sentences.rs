//! Key-sentence extraction, a long-document summarization surrogate: a document of random
//! "sentences" (runs of word tokens, each ended by a separator), `k` of them marked key by a
//! KEY token in front; after the document a QUERY token asks for the summary, the key sentences
//! reproduced in order, separators included.
//!
//! ```text
//! PAD… s₁ SEP  KEY w w w SEP  s₃ SEP  …  KEY w′ w′ w′ w′ SEP  s_n SEP
//! QUERY  w   w   w   SEP  w′  w′  w′  w′        ← inputs
//!  ↓     ↓   ↓   ↓    ↓   ↓   ↓   ↓   ↓
//!  w     w   w  SEP   w′  w′  w′  w′ SEP        ← targets (the summary)
//! ```
//!
//! The summary region is teacher-forced: its input at each position is the previous summary
//! token (QUERY at the first), its target the summary token itself, so `targets[t]` is what the
//! model should output after reading `inputs[..=t]` and the mask is 1 exactly on the summary.
//! Unlike [selective copying](super::SelectiveCopy) the model must store whole spans chosen by a
//! marker among look-alike spans, and grade as a summary: [`unigram_f1`](super::unigram_f1) and
//! [`rouge_l`](super::rouge_l) of the predicted summary against [`KeySentences::summary`].
//!
//! Token layout: markers `0..FIRST_DATA`, then `words` word tokens; [`Task::vocab_size`] is
//! `FIRST_DATA + words`. The document fills what the summary leaves of `len`; the fewer than
//! `min_sentence + 1` tokens no sentence fits in are PAD at the start.

use std::ops::Range;

use rand::RngExt;
use rand::rngs::StdRng;
use rand::seq::index::sample;

use super::{Batch, FIRST_DATA, KEY, PAD, QUERY, SEP, Task, TaskError, check};

/// Key-sentence extraction.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySentences {
    /// Total sequence length: document, then the summary region.
    pub len: usize,
    /// Key sentences per document (the summary is their concatenation).
    pub k: usize,
    /// Distinct word tokens.
    pub words: usize,
    /// Fewest words in a sentence (separator not counted).
    pub min_sentence: usize,
    /// Most words in a sentence (separator not counted).
    pub max_sentence: usize,
}

impl KeySentences {
    /// A key-sentence task; errors name the bad parameter. `len` must hold the `k` marked
    /// sentences and their summary even when every sentence is as long as allowed:
    /// `len ≥ k · (2 · (max_sentence + 1) + 1)`; what is left over holds distractor sentences.
    pub fn new(
        len: usize,
        k: usize,
        words: usize,
        min_sentence: usize,
        max_sentence: usize,
    ) -> Result<Self, TaskError> {
        check(k >= 1, "k", k, "at least 1")?;
        check((2..=65536).contains(&words), "words", words, "in 2..=65536")?;
        check(
            min_sentence >= 1,
            "min_sentence",
            min_sentence,
            "at least 1",
        )?;
        check(
            (min_sentence..=65536).contains(&max_sentence),
            "max_sentence",
            max_sentence,
            format!("in min_sentence ({min_sentence})..=65536"),
        )?;
        // Saturating: `usize` is 32 bits on wasm32.
        let needed = k.saturating_mul(2 * (max_sentence + 1) + 1);
        check(
            len >= needed,
            "len",
            len,
            format!(
                "at least {needed}: k ({k}) key sentences of up to {max_sentence} words, each \
                 with its KEY and SEP, plus their summary"
            ),
        )?;
        Ok(Self {
            len,
            k,
            words,
            min_sentence,
            max_sentence,
        })
    }

    /// The scored (summary) positions of row `b`: a range ending at the row's end, whose length
    /// varies from row to row with the key sentences' lengths. Read off the mask, in
    /// O(summary length).
    pub fn summary_positions(&self, batch: &Batch, b: usize) -> Range<usize> {
        let mask = &batch.mask[b * batch.len..(b + 1) * batch.len];
        let start = mask.iter().rposition(|&m| m <= 0.0).map_or(0, |t| t + 1);
        start..batch.len
    }

    /// The reference summary of row `b`: the key sentences in order, each with its SEP.
    pub fn summary(&self, batch: &Batch, b: usize) -> Vec<u32> {
        let row = b * batch.len;
        let range = self.summary_positions(batch, b);
        batch.targets[row + range.start..row + range.end].to_vec()
    }

    /// A random sentence length (in words) in `min_sentence..=min(max_sentence, at_most)`.
    fn sentence_len(&self, at_most: usize, rng: &mut StdRng) -> usize {
        rng.random_range(self.min_sentence..=self.max_sentence.min(at_most))
    }

    /// Row `b`: padding, the sentences with the key ones marked, then the summary region.
    fn fill_row(&self, out: &mut Batch, b: usize, rng: &mut StdRng) {
        let row = b * self.len;
        let key_lens: Vec<usize> = (0..self.k)
            .map(|_| self.sentence_len(self.max_sentence, rng))
            .collect();
        // Summary: every key sentence and its SEP.
        let summary_len: usize = key_lens.iter().map(|l| l + 1).sum();
        // Key sentences take their summary's length plus a KEY each; distractors fill the rest.
        let mut free = self.len - 2 * summary_len - self.k;
        let mut other_lens = Vec::with_capacity(free / (self.min_sentence + 1));
        while free > self.min_sentence {
            let l = self.sentence_len(free - 1, rng);
            other_lens.push(l);
            free -= l + 1;
        }
        let sentences = other_lens.len() + self.k;
        let mut is_key = vec![false; sentences];
        for i in sample(rng, sentences, self.k) {
            is_key[i] = true;
        }
        let mut summary = Vec::with_capacity(summary_len);
        let (mut keys, mut others) = (key_lens.iter(), other_lens.iter());
        let mut t = row;
        for _ in 0..free {
            out.inputs[t] = PAD;
            t += 1;
        }
        for key in is_key {
            let words = if key {
                out.inputs[t] = KEY;
                t += 1;
                *keys.next().expect("k key sentences")
            } else {
                *others.next().expect("one length per distractor")
            };
            for _ in 0..words {
                let w = FIRST_DATA + rng.random_range(0..self.words as u32);
                out.inputs[t] = w;
                t += 1;
                if key {
                    summary.push(w);
                }
            }
            out.inputs[t] = SEP;
            t += 1;
            if key {
                summary.push(SEP);
            }
        }
        let q = t - row;
        debug_assert_eq!(q, self.len - summary_len);
        // Teacher-forced summary: QUERY, then the summary shifted by one.
        for (j, &s) in summary.iter().enumerate() {
            out.inputs[t + j] = if j == 0 { QUERY } else { summary[j - 1] };
            out.targets[t + j] = s;
            out.mask[t + j] = 1.0;
        }
    }
}

impl Task for KeySentences {
    fn name(&self) -> &'static str {
        "key_sentences"
    }

    fn vocab_size(&self) -> usize {
        FIRST_DATA as usize + self.words
    }

    fn seq_len(&self) -> usize {
        self.len
    }

    fn sample(&self, rng: &mut StdRng, batch: usize) -> Batch {
        let mut out = Batch::zeros(batch, self.len);
        for b in 0..batch {
            self.fill_row(&mut out, b, rng);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::{rouge_l, unigram_f1};
    use rand::SeedableRng;

    /// The document of `row` (everything before QUERY) as `(marked, words)` sentences, after
    /// checking it is PAD then well-formed sentences.
    fn sentences(task: &KeySentences, row: &[u32], query: usize) -> Vec<(bool, Vec<u32>)> {
        let doc = &row[..query];
        let lead = doc.iter().take_while(|&&t| t == PAD).count();
        assert!(lead <= task.min_sentence, "lead {lead}");
        let mut out = Vec::new();
        let mut t = lead;
        while t < query {
            let marked = doc[t] == KEY;
            t += usize::from(marked);
            let end = t + doc[t..].iter().position(|&w| w == SEP).unwrap();
            let words = doc[t..end].to_vec();
            assert!((task.min_sentence..=task.max_sentence).contains(&words.len()));
            assert!(
                words
                    .iter()
                    .all(|&w| (FIRST_DATA..FIRST_DATA + task.words as u32).contains(&w))
            );
            out.push((marked, words));
            t = end + 1;
        }
        out
    }

    #[test]
    fn summary_is_the_marked_sentences_in_order() {
        let task = KeySentences::new(300, 4, 20, 4, 8).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(6), 4);
        for b in 0..4 {
            let row = batch.row(b);
            let range = task.summary_positions(&batch, b);
            assert_eq!(batch.scored(b), range.clone().collect::<Vec<_>>());
            assert_eq!(range.end, 300);
            let q = range.start;
            assert_eq!(row[q], QUERY);
            assert_eq!(row.iter().filter(|&&t| t == QUERY).count(), 1);
            let sents = sentences(&task, row, q);
            assert_eq!(sents.iter().filter(|s| s.0).count(), 4);
            assert!(sents.len() > 8, "distractors fill the document");
            let expected: Vec<u32> = sents
                .iter()
                .filter(|s| s.0)
                .flat_map(|s| s.1.iter().copied().chain([SEP]))
                .collect();
            let summary = task.summary(&batch, b);
            assert_eq!(summary, expected);
            // Teacher forcing: each summary input is the previous summary token.
            assert_eq!(&row[q + 1..], &summary[..summary.len() - 1]);
            assert!(row.iter().all(|&t| (t as usize) < task.vocab_size()));
            assert_eq!(rouge_l(&summary, &expected), 1.0);
            assert_eq!(unigram_f1(&summary, &expected), 1.0);
        }
    }

    #[test]
    fn the_minimum_length_holds_the_longest_key_sentences() {
        // Fixed-length sentences: exactly the key sentences, no distractor, no padding.
        let task = KeySentences::new(3 * (2 * 6 + 1), 3, 5, 5, 5).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(1), 2);
        for b in 0..2 {
            let row = batch.row(b);
            assert_eq!(row[0], KEY);
            assert_eq!(task.summary_positions(&batch, b), 21..39);
            let sents = sentences(&task, row, 21);
            assert_eq!(sents.len(), 3);
            assert!(sents.iter().all(|s| s.0));
        }
        // Varying lengths at the minimum: shorter draws leave room for padding or distractors.
        let task = KeySentences::new(2 * (2 * 9 + 1), 2, 5, 1, 8).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(2), 8);
        for b in 0..8 {
            let q = task.summary_positions(&batch, b).start;
            assert_eq!(
                sentences(&task, batch.row(b), q)
                    .iter()
                    .filter(|s| s.0)
                    .count(),
                2
            );
        }
    }

    #[test]
    fn long_documents_are_generated_quickly() {
        let task = KeySentences::new(100_000, 16, 1000, 4, 8).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(3), 2);
        for b in 0..2 {
            let range = task.summary_positions(&batch, b);
            assert!((16 * 5..=16 * 9).contains(&range.len()));
            let marked = batch.row(b).iter().filter(|&&t| t == KEY).count();
            assert_eq!(marked, 16);
        }
    }

    #[test]
    fn deterministic_from_the_seed() {
        let task = KeySentences::new(200, 3, 10, 4, 8).unwrap();
        let a = task.sample(&mut StdRng::seed_from_u64(1), 3);
        let b = task.sample(&mut StdRng::seed_from_u64(1), 3);
        assert_eq!(a, b);
        assert_ne!(a, task.sample(&mut StdRng::seed_from_u64(2), 3));
    }

    #[test]
    fn bad_parameters_are_errors() {
        let name = |r: Result<KeySentences, TaskError>| match r {
            Err(TaskError::Parameter { name, .. }) => name,
            Ok(_) => "ok",
            Err(e) => panic!("{e}"),
        };
        assert_eq!(name(KeySentences::new(200, 0, 10, 4, 8)), "k");
        assert_eq!(name(KeySentences::new(200, 3, 1, 4, 8)), "words");
        assert_eq!(name(KeySentences::new(200, 3, 10, 0, 8)), "min_sentence");
        assert_eq!(name(KeySentences::new(200, 3, 10, 5, 4)), "max_sentence");
        // k = 3 sentences of up to 8 words: 3 · (2 · 9 + 1) = 57 tokens at least.
        assert_eq!(name(KeySentences::new(56, 3, 10, 4, 8)), "len");
        assert_eq!(name(KeySentences::new(57, 3, 10, 4, 8)), "ok");
        assert_eq!(name(KeySentences::new(200, 12, 10, 4, 8)), "len");
        let err = KeySentences::new(56, 3, 10, 4, 8).unwrap_err();
        assert!(err.to_string().contains("at least 57"), "{err}");
    }
}
