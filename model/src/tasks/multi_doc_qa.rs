//! Synthetic multi-document question answering: `docs` documents of noise, each opened by a
//! separator and its document id and holding `facts` facts `KEY attribute value`; then
//! `questions` questions `QUERY doc attribute`, answered by the value that document gave the
//! attribute.
//!
//! ```text
//! SEP d₀ noise… KEY a v noise… KEY a′ v′ noise…   SEP d₁ noise… KEY a w noise…   …
//! QUERY d₁ a → w   QUERY d₀ a′ → v′   …
//! ```
//!
//! Every document states a value for the same `facts` attributes (drawn per sequence), and the
//! documents give one attribute different values (distinct ones whenever there are at least as
//! many values as documents). The attribute alone therefore says nothing about the answer: the
//! model must bind each value to the document id read thousands of tokens earlier, not only to
//! its key as in [MQAR](super::MultiQueryRecall).
//!
//! Token layout (`FIRST_DATA` = 4): markers `0..4`, then `values` value tokens, `attributes`
//! attribute tokens, `docs` document-id tokens and `noise` noise tokens, in that order;
//! [`Task::vocab_size`] is their total. Value tokens come first so that [`super::value_of`]
//! reads a prediction.

use rand::RngExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::seq::index::sample;

use super::{Batch, FIRST_DATA, KEY, QUERY, SEP, Task, TaskError, check, within};

/// Multi-document question answering.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiDocQa {
    /// Documents per sequence (each has its own id token; ids are assigned in random order).
    pub docs: usize,
    /// Facts per document: every document states a value for the same `facts` attributes.
    pub facts: usize,
    /// Questions after the documents, each about a distinct (document, attribute) pair.
    pub questions: usize,
    /// Total sequence length: the documents share everything before the `3 · questions`
    /// question tokens equally (the first ones get one extra token when it does not divide).
    pub len: usize,
    /// Number of possible values (chance accuracy is `1 / values`).
    pub values: usize,
    /// Attribute vocabulary (at least `facts`); each sequence draws its `facts` attributes from it.
    pub attributes: usize,
    /// Number of distinct noise tokens.
    pub noise: usize,
}

impl MultiDocQa {
    /// A multi-document QA task; errors name the bad parameter. `len` must leave every document
    /// room for its separator, its id and its `3 · facts` fact tokens after the questions:
    /// `len ≥ 3 · questions + docs · (2 + 3 · facts)` (any noise is extra).
    pub fn new(
        docs: usize,
        facts: usize,
        questions: usize,
        len: usize,
        values: usize,
        attributes: usize,
        noise: usize,
    ) -> Result<Self, TaskError> {
        within("docs", docs, 1..=65536)?;
        check(facts >= 1, "facts", facts, "at least 1")?;
        check(
            (facts..=65536).contains(&attributes),
            "attributes",
            attributes,
            format!("in facts ({facts})..=65536"),
        )?;
        within("values", values, 2..=65536)?;
        within("noise", noise, 1..=65536)?;
        // Saturating: `usize` is 32 bits on wasm32.
        let pairs = docs.saturating_mul(facts);
        check(
            (1..=pairs).contains(&questions),
            "questions",
            questions,
            format!("in 1..=docs · facts ({pairs}), one per (document, attribute) pair"),
        )?;
        let needed = questions
            .saturating_mul(3)
            .saturating_add(docs.saturating_mul(2 + 3 * facts));
        check(
            len >= needed,
            "len",
            len,
            format!(
                "at least {needed}: 3 tokens per question ({questions}) plus, per document \
                 ({docs}), a separator, an id and 3 tokens per fact ({facts})"
            ),
        )?;
        Ok(Self {
            docs,
            facts,
            questions,
            len,
            values,
            attributes,
            noise,
        })
    }

    /// First value token id (value `v` is `first_value() + v`).
    pub fn first_value(&self) -> u32 {
        FIRST_DATA
    }

    /// Token id of attribute number `a` (`0..attributes`).
    pub fn attribute_token(&self, a: usize) -> u32 {
        FIRST_DATA + (self.values + a) as u32
    }

    /// Token id of document id number `d` (`0..docs`).
    pub fn doc_token(&self, d: usize) -> u32 {
        FIRST_DATA + (self.values + self.attributes + d) as u32
    }

    /// First noise token id.
    pub fn first_noise(&self) -> u32 {
        FIRST_DATA + (self.values + self.attributes + self.docs) as u32
    }

    /// The value number a predicted token stands for (`None` for a token that is not a value).
    pub fn value_of(&self, token: u32) -> Option<usize> {
        super::value_of(token, self.values)
    }

    /// Length of document `i` (`0..docs`), separator and id included.
    fn doc_len(&self, i: usize) -> usize {
        let space = self.len - 3 * self.questions;
        space / self.docs + usize::from(i < space % self.docs)
    }

    /// Row `b`: the documents, then the questions.
    fn fill_row(&self, out: &mut Batch, b: usize, rng: &mut StdRng) {
        let row = b * self.len;
        let noise_base = self.first_noise();
        for t in 0..self.len - 3 * self.questions {
            out.inputs[row + t] = noise_base + rng.random_range(0..self.noise as u32);
        }
        // The attributes every document states, and document ids in random order.
        let attrs: Vec<usize> = sample(rng, self.attributes, self.facts).into_vec();
        let mut ids: Vec<usize> = (0..self.docs).collect();
        ids.shuffle(rng);
        // value[a][i]: what document i says attribute attrs[a] is; distinct across documents
        // whenever there are enough values.
        let value: Vec<Vec<u32>> = (0..self.facts)
            .map(|_| {
                if self.values >= self.docs {
                    sample(rng, self.values, self.docs)
                        .into_iter()
                        .map(|v| v as u32)
                        .collect()
                } else {
                    (0..self.docs)
                        .map(|_| rng.random_range(0..self.values as u32))
                        .collect()
                }
            })
            .collect();
        let mut start = row;
        for (i, &id) in ids.iter().enumerate() {
            let doc_len = self.doc_len(i);
            out.inputs[start] = SEP;
            out.inputs[start + 1] = self.doc_token(id);
            // Non-overlapping facts: `facts` sorted slots among `body − 2 · facts`, the i-th
            // fact shifted by 2·i, is a uniform placement of the 3-token facts in the body.
            let body = doc_len - 2;
            let mut slots = sample(rng, body - 2 * self.facts, self.facts).into_vec();
            slots.sort_unstable();
            let mut order: Vec<usize> = (0..self.facts).collect();
            order.shuffle(rng);
            for (j, (&slot, &a)) in slots.iter().zip(&order).enumerate() {
                let at = start + 2 + slot + 2 * j;
                out.inputs[at] = KEY;
                out.inputs[at + 1] = self.attribute_token(attrs[a]);
                out.inputs[at + 2] = FIRST_DATA + value[a][i];
            }
            start += doc_len;
        }
        debug_assert_eq!(start, row + self.len - 3 * self.questions);
        // Questions about distinct (document, attribute) pairs, scored at the attribute token.
        let asked = sample(rng, self.docs * self.facts, self.questions);
        for (q, pair) in asked.into_iter().enumerate() {
            let (i, a) = (pair / self.facts, pair % self.facts);
            let at = start + 3 * q;
            out.inputs[at] = QUERY;
            out.inputs[at + 1] = self.doc_token(ids[i]);
            out.inputs[at + 2] = self.attribute_token(attrs[a]);
            out.targets[at + 2] = FIRST_DATA + value[a][i];
            out.mask[at + 2] = 1.0;
        }
    }
}

impl Task for MultiDocQa {
    fn name(&self) -> &'static str {
        "multi_doc_qa"
    }

    fn vocab_size(&self) -> usize {
        FIRST_DATA as usize + self.values + self.attributes + self.docs + self.noise
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
    use rand::SeedableRng;
    use std::collections::HashMap;

    /// Per document id token, its facts `attribute token → value token`, read off the row.
    fn read_docs(task: &MultiDocQa, row: &[u32]) -> HashMap<u32, HashMap<u32, u32>> {
        let mut docs: HashMap<u32, HashMap<u32, u32>> = HashMap::new();
        let mut current = None;
        let questions = task.len - 3 * task.questions;
        for t in 0..questions {
            match row[t] {
                SEP => {
                    current = Some(row[t + 1]);
                    assert!(docs.insert(row[t + 1], HashMap::new()).is_none());
                }
                KEY => {
                    let facts = docs.get_mut(&current.unwrap()).unwrap();
                    assert!(facts.insert(row[t + 1], row[t + 2]).is_none());
                }
                _ => {}
            }
        }
        docs
    }

    #[test]
    fn every_answer_is_the_value_its_document_gave_the_attribute() {
        let task = MultiDocQa::new(6, 4, 10, 400, 16, 10, 20).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(4), 3);
        for b in 0..3 {
            let row = batch.row(b);
            assert!(row.iter().all(|&t| (t as usize) < task.vocab_size()));
            let docs = read_docs(&task, row);
            assert_eq!(docs.len(), 6);
            let ids: Vec<u32> = (0..6).map(|d| task.doc_token(d)).collect();
            assert!(docs.keys().all(|id| ids.contains(id)));
            // Every document states the same attributes, with distinct values across documents.
            let attrs: Vec<u32> = docs.values().next().unwrap().keys().copied().collect();
            assert_eq!(attrs.len(), 4);
            for a in &attrs {
                assert!((task.attribute_token(0)..task.doc_token(0)).contains(a));
                let mut vals: Vec<u32> = docs.values().map(|f| f[a]).collect();
                assert!(vals.iter().all(|&v| task.value_of(v).is_some()));
                vals.sort_unstable();
                vals.dedup();
                assert_eq!(vals.len(), 6, "the documents disagree on every attribute");
            }
            let scored = batch.scored(b);
            assert_eq!(scored.len(), 10);
            let mut asked = Vec::new();
            for (q, &t) in scored.iter().enumerate() {
                assert_eq!(t, 400 - 30 + 3 * q + 2);
                assert_eq!(row[t - 2], QUERY);
                let (doc, attr) = (row[t - 1], row[t]);
                assert_eq!(batch.targets[b * batch.len + t], docs[&doc][&attr]);
                asked.push((doc, attr));
            }
            asked.sort_unstable();
            asked.dedup();
            assert_eq!(asked.len(), 10, "questions ask distinct pairs");
        }
    }

    #[test]
    fn only_answer_positions_are_masked_in() {
        let task = MultiDocQa::new(3, 2, 5, 120, 8, 4, 8).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(9), 2);
        for b in 0..2 {
            let row = batch.row(b);
            for (t, &input) in row.iter().enumerate() {
                let i = b * batch.len + t;
                let answer = t >= 105 && (t - 105) % 3 == 2;
                assert_eq!(batch.mask[i] > 0.0, answer, "position {t}");
                if answer {
                    assert!(task.value_of(batch.targets[i]).is_some());
                    assert!((task.attribute_token(0)..task.doc_token(0)).contains(&input));
                } else {
                    assert_eq!(batch.targets[i], 0);
                }
            }
        }
    }

    #[test]
    fn documents_fill_the_space_before_the_questions_even_at_the_minimum() {
        // Minimum length: no noise at all, and 3 documents over 7 leftover tokens.
        let min = 3 * 2 + 3 * (2 + 3 * 2);
        for len in [min, min + 7] {
            let task = MultiDocQa::new(3, 2, 2, len, 4, 2, 1).unwrap();
            let batch = task.sample(&mut StdRng::seed_from_u64(1), 2);
            for b in 0..2 {
                let row = batch.row(b);
                let seps = row.iter().filter(|&&t| t == SEP).count();
                let keys = row.iter().filter(|&&t| t == KEY).count();
                assert_eq!((seps, keys), (3, 6));
                assert_eq!(row[0], SEP);
                assert_eq!(batch.scored(b), vec![len - 4, len - 1]);
            }
        }
        // Fewer values than documents: values repeat, answers stay right.
        let task = MultiDocQa::new(8, 1, 8, 200, 2, 1, 4).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(2), 1);
        let docs = read_docs(&task, batch.row(0));
        for t in batch.scored(0) {
            let row = batch.row(0);
            assert_eq!(batch.targets[t], docs[&row[t - 1]][&row[t]]);
        }
    }

    #[test]
    fn long_sequences_are_generated_quickly() {
        let task = MultiDocQa::new(50, 8, 64, 100_000, 64, 16, 256).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(3), 2);
        assert_eq!(batch.inputs.len(), 200_000);
        assert_eq!(batch.scored(1).len(), 64);
    }

    #[test]
    fn deterministic_from_the_seed() {
        let task = MultiDocQa::new(4, 3, 6, 200, 8, 6, 8).unwrap();
        let a = task.sample(&mut StdRng::seed_from_u64(1), 3);
        let b = task.sample(&mut StdRng::seed_from_u64(1), 3);
        assert_eq!(a, b);
        assert_ne!(a, task.sample(&mut StdRng::seed_from_u64(2), 3));
    }

    #[test]
    fn bad_parameters_are_errors() {
        let name = |r: Result<MultiDocQa, TaskError>| match r {
            Err(TaskError::Parameter { name, .. }) => name,
            Ok(_) => "ok",
            Err(e) => panic!("{e}"),
        };
        assert_eq!(name(MultiDocQa::new(0, 2, 2, 100, 8, 4, 8)), "docs");
        assert_eq!(name(MultiDocQa::new(3, 0, 2, 100, 8, 4, 8)), "facts");
        assert_eq!(name(MultiDocQa::new(3, 5, 2, 100, 8, 4, 8)), "attributes");
        assert_eq!(name(MultiDocQa::new(3, 2, 2, 100, 1, 4, 8)), "values");
        assert_eq!(name(MultiDocQa::new(3, 2, 2, 100, 8, 4, 0)), "noise");
        assert_eq!(name(MultiDocQa::new(3, 2, 0, 100, 8, 4, 8)), "questions");
        assert_eq!(name(MultiDocQa::new(3, 2, 7, 100, 8, 4, 8)), "questions");
        // 3·2 + 3·(2 + 6) = 30 tokens at least.
        assert_eq!(name(MultiDocQa::new(3, 2, 2, 29, 8, 4, 8)), "len");
        assert_eq!(name(MultiDocQa::new(3, 2, 2, 30, 8, 4, 8)), "ok");
        let err = MultiDocQa::new(3, 2, 2, 29, 8, 4, 8).unwrap_err();
        assert!(err.to_string().contains("at least 30"), "{err}");
    }
}
