//! Which task a run trains on, its length schedule (the curriculum of §2.4.3, phase 2) and the
//! other training settings, as saved in `config.json`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use dmn::tasks::{
    CharText, InductionHeads, KeySentences, ListOps, MultiDocQa, MultiKeyNeedle, MultiQueryRecall,
    Needle, Passkey, SelectiveCopy, Task,
};
use serde::{Deserialize, Serialize};

/// The tasks `dmn` can train and evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Needle retrieval; length = distance from the value to the query.
    Needle,
    /// A 4-token passkey said back token by token; length = distance from its last token to the
    /// query.
    Passkey,
    /// Multi-key needle: `pairs` key/value needles spread over the sequence (at most one per 16
    /// tokens), 16 keys asked back at its end; length = region holding the pairs.
    Multikey,
    /// Selective copying; length = region holding the tokens to copy.
    Copy,
    /// Multi-query associative recall; length = sequence length.
    Mqar,
    /// Induction heads; length = total sequence length (a prefix and its repeat).
    Induction,
    /// ListOps; length = sequence length.
    Listops,
    /// Character-level text from `--text`; length = tokens per sample.
    Text,
    /// Multi-document QA: facts spread over 4 generated documents, 4 questions at the end;
    /// length = sequence length.
    Qa,
    /// Key-sentence extraction (a summarization surrogate): reproduce the 2 marked sentences of
    /// a document, scored by F1 and ROUGE-L; length = sequence length.
    Summary,
}

impl TaskKind {
    /// Name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Needle => "needle",
            Self::Passkey => "passkey",
            Self::Multikey => "multikey",
            Self::Copy => "copy",
            Self::Mqar => "mqar",
            Self::Induction => "induction",
            Self::Listops => "listops",
            Self::Text => "text",
            Self::Qa => "qa",
            Self::Summary => "summary",
        }
    }

    /// A sensible default length for a preset's segment length.
    pub fn default_length(self) -> usize {
        match self {
            Self::Needle => 64,
            Self::Passkey => 64,
            Self::Multikey => 256,
            Self::Copy => 64,
            Self::Mqar => 128,
            Self::Induction => 64,
            Self::Listops => 128,
            Self::Text => 256,
            Self::Qa => 128,
            Self::Summary => 128,
        }
    }
}

/// A task and its size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Which task.
    pub kind: TaskKind,
    /// Its length parameter (see [`TaskKind`]).
    pub length: usize,
    /// Distinct values to remember (needle, copy) — chance accuracy is 1 / values.
    pub values: usize,
    /// Key/value pairs per sequence of the multi-key needle.
    #[serde(default = "default_pairs")]
    pub pairs: usize,
    /// The text file or folder for `text`.
    pub text: Option<PathBuf>,
}

/// Pairs of the multi-key needle when a run does not say (the benchmark's n = 64: more than the
/// working-memory slots of the tiny and small presets' long-term memory can hold at once).
pub const DEFAULT_PAIRS: usize = 64;

fn default_pairs() -> usize {
    DEFAULT_PAIRS
}

/// Length stays at `start` for `hold` steps, then grows geometrically to the task's length over
/// `steps` more steps (§2.4.3: memory is integrated on progressively longer sequences).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Curriculum {
    /// Length at step 1.
    pub start: usize,
    /// Steps of growth until the full length.
    pub steps: u64,
    /// Steps at the start length before growth begins.
    #[serde(default)]
    pub hold: u64,
}

impl Curriculum {
    /// Length at `step` (1-based) for a final length `target`.
    pub fn length_at(&self, step: u64, target: usize) -> usize {
        if self.start >= target {
            return target;
        }
        if step <= self.hold {
            return self.start;
        }
        let step = step - self.hold;
        if self.steps <= 1 || step >= self.steps {
            return target;
        }
        let f = (step - 1) as f64 / (self.steps - 1) as f64;
        let len = (self.start as f64) * ((target as f64) / (self.start as f64)).powf(f);
        (len.round() as usize).clamp(self.start.max(1), target)
    }
}

/// The training phases of seed 000 §2.4.3, run in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The encoder alone on next-token prediction (both memories off).
    Pretrain,
    /// The whole model end to end on the task, on progressively longer sequences.
    Memory,
    /// The memory policy fine-tuned with the embedding and encoder frozen.
    Policy,
}

impl Phase {
    /// Name as typed on the command line and written in `metrics.jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pretrain => "pretrain",
            Self::Memory => "memory",
            Self::Policy => "policy",
        }
    }
}

/// One phase and its number of steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSteps {
    /// The phase.
    pub phase: Phase,
    /// Steps spent in it.
    pub steps: u64,
}

/// All training settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    /// The task.
    pub task: TaskSpec,
    /// Optimizer steps in total.
    pub steps: u64,
    /// Seed of data and initialization.
    pub seed: u64,
    /// Sequences per step.
    pub batch_size: usize,
    /// AdamW learning rate (at step 1, when [`TrainSpec::min_lr`] decays it).
    pub lr: f64,
    /// The rate at the last step, reached along a cosine from `lr` (nanoGPT's schedule, without
    /// warm-up); `None` keeps `lr` throughout. A decayed rate settles the weights at the end
    /// of a run instead of leaving them where the last steps at full rate threw them.
    #[serde(default)]
    pub min_lr: Option<f64>,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
    /// Checkpoints kept (older ones are deleted).
    pub keep_checkpoints: usize,
    /// Steps between metrics lines.
    pub log_every: u64,
    /// Optional length schedule.
    pub curriculum: Option<Curriculum>,
    /// Device kind (`cpu`).
    pub device: String,
    /// Phases in order with their steps; empty: the `memory` phase throughout. Steps past the
    /// schedule's end (a resumed run given more steps) belong to the last phase.
    #[serde(default)]
    pub phases: Vec<PhaseSteps>,
    /// Hand each sequence's encoder state to the next at segment boundaries, so that only the
    /// memories carry a needle across one ([`dmn::train::Trainer::simulate_gaps`]).
    #[serde(default)]
    pub simulate_gaps: bool,
    /// The safetensors weights the run started from (`dmn train --weights`), if not a fresh
    /// initialization.
    #[serde(default)]
    pub init_weights: Option<std::path::PathBuf>,
}

impl TrainSpec {
    /// The learning rate of step `step` (counted from 1): `lr` at step 1, `min_lr` at the last,
    /// a cosine between; a pure function of the step, so a resumed run continues its schedule.
    pub fn lr_at(&self, step: u64) -> f64 {
        let Some(min_lr) = self.min_lr else {
            return self.lr;
        };
        let progress = match self.steps {
            0 | 1 => 1.0,
            n => (step.clamp(1, n) - 1) as f64 / (n - 1) as f64,
        };
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        min_lr + (self.lr - min_lr) * cosine
    }

    /// The phase that step `step` (counted from 1) belongs to.
    pub fn phase_at(&self, step: u64) -> Phase {
        let mut end = 0;
        for p in &self.phases {
            end += p.steps;
            if step <= end {
                return p.phase;
            }
        }
        self.phases.last().map_or(Phase::Memory, |p| p.phase)
    }
}

/// The needle task of a run at `distance` (what `build_task` builds for needle runs).
pub fn needle(spec: &TaskSpec, distance: usize) -> Result<Needle> {
    Ok(Needle::new(distance, spec.values, 16, 8)?)
}

/// The passkey task of a run at `distance`: 4 digits of `values` each.
pub fn passkey(spec: &TaskSpec, distance: usize) -> Result<Passkey> {
    Ok(Passkey::new(distance, 4, spec.values, 16, 8)?)
}

/// The multi-key needle of a run over a region of `length` tokens: the run's `pairs`, but at most
/// one per 16 tokens, so that the shorter lengths of a curriculum hold fewer pairs (64 pairs from
/// 1,024 tokens on); keys from a vocabulary of `pairs` ids; 16 keys asked (fewer when there are
/// fewer pairs).
pub fn multi_key(spec: &TaskSpec, length: usize) -> Result<MultiKeyNeedle> {
    if spec.pairs == 0 {
        bail!("--pairs must be at least 1 (the multi-key needle's key/value pairs)");
    }
    let pairs = (length / 16).clamp(1, spec.pairs);
    Ok(MultiKeyNeedle::new(
        length.max(3 * pairs),
        pairs,
        spec.pairs,
        16.min(pairs),
        spec.values,
        16,
    )?)
}

/// The copy task of a run with a region of `region` tokens (what `build_task` builds for copy
/// runs).
pub fn copy(spec: &TaskSpec, region: usize) -> Result<SelectiveCopy> {
    Ok(SelectiveCopy::new(region, 8.min(region), spec.values)?)
}

/// The multi-document QA task of a run at `length` (4 documents of 2 facts about 8 attributes,
/// 4 questions; shorter lengths are raised to the 44 tokens it needs).
pub fn qa(spec: &TaskSpec, length: usize) -> Result<MultiDocQa> {
    let (docs, facts, questions) = (4, 2, 4);
    let least = 3 * questions + docs * (2 + 3 * facts);
    Ok(MultiDocQa::new(
        docs,
        facts,
        questions,
        length.max(least),
        spec.values,
        8,
        16,
    )?)
}

/// The key-sentence task at `length` (2 key sentences of 3–6 words from 24; shorter lengths
/// are raised to the 30 tokens it needs).
pub fn summary(length: usize) -> Result<KeySentences> {
    let (k, min, max) = (2, 3, 6);
    Ok(KeySentences::new(
        length.max(k * (2 * (max + 1) + 1)),
        k,
        24,
        min,
        max,
    )?)
}

/// Builds the task at a given length, as training samples it; text comes from all but the
/// held-out last 5 % of the corpus.
pub fn build_task(spec: &TaskSpec, length: usize) -> Result<Box<dyn Task>> {
    build(spec, length, false)
}

/// Builds the task at a given length for evaluation: the same as [`build_task`] except that
/// text comes from the held-out last 5 % of the corpus.
pub fn build_eval_task(spec: &TaskSpec, length: usize) -> Result<Box<dyn Task>> {
    build(spec, length, true)
}

fn build(spec: &TaskSpec, length: usize, held_out: bool) -> Result<Box<dyn Task>> {
    if length == 0 {
        bail!("the task length must be at least 1");
    }
    let values = spec.values;
    Ok(match spec.kind {
        TaskKind::Needle => Box::new(needle(spec, length)?),
        TaskKind::Passkey => Box::new(passkey(spec, length)?),
        TaskKind::Multikey => Box::new(multi_key(spec, length)?),
        TaskKind::Copy => Box::new(copy(spec, length)?),
        TaskKind::Mqar => Box::new(MultiQueryRecall::new(8, length.max(24), 64, 0.1)?),
        TaskKind::Induction => Box::new(InductionHeads::new((length / 2).max(2), values)?),
        TaskKind::Listops => Box::new(ListOps::new(length.max(2), 10, 10)?),
        TaskKind::Qa => Box::new(qa(spec, length)?),
        TaskKind::Summary => Box::new(summary(length)?),
        TaskKind::Text => {
            let Some(path) = &spec.text else {
                bail!("--task text needs --text PATH (a UTF-8 file or a folder of them)");
            };
            let (train, held) = text_task(path, length)?.split_held_out()?;
            Box::new(if held_out { held } else { train })
        }
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn text_task(path: &std::path::Path, length: usize) -> Result<CharText> {
    Ok(CharText::from_path(path, length)?)
}

/// The browser has no file system to read a corpus from.
#[cfg(target_arch = "wasm32")]
fn text_task(path: &std::path::Path, _length: usize) -> Result<CharText> {
    bail!(
        "the text task reads {} from disk, which the browser cannot; train it with `dmn train`",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curriculum_grows_geometrically_to_the_target() {
        let c = Curriculum {
            start: 16,
            steps: 5,
            hold: 0,
        };
        let lens: Vec<usize> = (1..=6).map(|s| c.length_at(s, 256)).collect();
        assert_eq!(lens, vec![16, 32, 64, 128, 256, 256]);
        let held = Curriculum { hold: 2, ..c };
        let lens: Vec<usize> = (1..=8).map(|s| held.length_at(s, 256)).collect();
        assert_eq!(lens, vec![16, 16, 16, 32, 64, 128, 256, 256]);
    }

    #[test]
    fn the_rate_falls_along_a_cosine_from_lr_to_min_lr() {
        let mut spec = TrainSpec {
            task: TaskSpec {
                kind: TaskKind::Needle,
                length: 64,
                values: 16,
                pairs: DEFAULT_PAIRS,
                text: None,
            },
            steps: 5,
            seed: 0,
            batch_size: 4,
            lr: 1e-2,
            min_lr: None,
            checkpoint_every: 1,
            keep_checkpoints: 1,
            log_every: 1,
            curriculum: None,
            device: "cpu".into(),
            phases: Vec::new(),
            simulate_gaps: false,
            init_weights: None,
        };
        assert!((1..=5).all(|s| spec.lr_at(s) == 1e-2));
        spec.min_lr = Some(1e-3);
        let rates: Vec<f64> = (1..=6).map(|s| spec.lr_at(s)).collect();
        // Halfway (step 3 of 5) the cosine is at 0: the mean of the two rates.
        let expected = [1e-2, 8.682e-3, 5.5e-3, 2.318e-3, 1e-3, 1e-3];
        for (r, e) in rates.iter().zip(expected) {
            assert!((r - e).abs() < 1e-6, "{rates:?}");
        }
        // A config written before the schedule existed keeps its constant rate.
        let mut json = serde_json::to_value(&spec).unwrap();
        json.as_object_mut().unwrap().remove("min_lr");
        let old: TrainSpec = serde_json::from_value(json).unwrap();
        assert_eq!(old.min_lr, None);
    }

    #[test]
    fn every_task_builds_and_text_needs_a_path() {
        for kind in [
            TaskKind::Needle,
            TaskKind::Passkey,
            TaskKind::Multikey,
            TaskKind::Copy,
            TaskKind::Mqar,
            TaskKind::Induction,
            TaskKind::Listops,
        ] {
            let spec = TaskSpec {
                kind,
                length: kind.default_length(),
                values: 16,
                pairs: DEFAULT_PAIRS,
                text: None,
            };
            assert!(build_task(&spec, spec.length).is_ok(), "{kind:?}");
        }
        let spec = TaskSpec {
            kind: TaskKind::Text,
            length: 32,
            values: 16,
            pairs: DEFAULT_PAIRS,
            text: None,
        };
        assert!(
            build_task(&spec, 32)
                .err()
                .unwrap()
                .to_string()
                .contains("--text")
        );
    }
}
