//! What each suite trains and measures: its sections, their training, methods, evaluated
//! distances and samples.

use std::fmt;

use clap::ValueEnum;

use super::methods::{
    DMN, DQN, FLAT, GRU, LSTM, MAMBA, MEAN_POOL, METHODS, Method, NO_LTM, PPO, TRANSFORMER,
    UNCOMPRESSED, slots,
};
use crate::task_spec::TaskKind;

/// The suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Every section at toy sizes: the pipeline end to end in under 2 CPU-minutes.
    Micro,
    /// Every section on the tiny preset, needle retrieval evaluated up to 4000 tokens.
    Quick,
    /// Every section on the small preset, evaluated up to 100K tokens (needs a GPU).
    Full,
    /// Recall at 10K, 100K and 1M tokens: needle, 4-token passkey and multi-key needle on the
    /// tiny preset, DMN, its ablations and the baselines (hours on a CPU; see [`super::long`]).
    Long,
}

/// A task length that grows from `start` to the trained length over the first `steps` steps.
#[derive(Clone, Copy, PartialEq)]
pub(super) struct Curriculum {
    pub start: u64,
    pub steps: u64,
}

impl fmt::Debug for Curriculum {
    /// As the pair `(start, steps)`: `results.json` records a section's training in this form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("")
            .field(&self.start)
            .field(&self.steps)
            .finish()
    }
}

/// How a section trains each method.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Training {
    pub task: TaskKind,
    pub preset: &'static str,
    /// Task length at the end of the curriculum (the whole run without one).
    pub length: u64,
    pub steps: u64,
    pub curriculum: Option<Curriculum>,
    pub batch_size: usize,
    /// `dmn train --simulate-gaps`: only the memories carry what a sequence asks about across
    /// a segment boundary.
    pub simulate_gaps: bool,
    /// What the task needs of the model beyond its preset.
    pub model: ModelOptions,
}

/// `dmn train`'s model flags that a task sets beyond its preset (`None`: the preset's). A
/// method's own knob (an ablation's slots, compression or layout) overrides the task's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ModelOptions {
    /// `--wm-slots`.
    pub wm_slots: Option<usize>,
    /// `--ltm-levels` and `--ltm-entries-per-level`.
    pub ltm_capacity: Option<(usize, usize)>,
    /// `--compression`.
    pub compression: Option<&'static str>,
    /// `--ltm`.
    pub ltm: Option<&'static str>,
}

impl ModelOptions {
    /// The preset as it is.
    pub const PRESET: Self = Self {
        wm_slots: None,
        ltm_capacity: None,
        compression: None,
        ltm: None,
    };

    /// The options set, as a run-directory suffix: empty for the preset.
    fn key(&self) -> String {
        let mut key = String::new();
        if let Some(k) = self.wm_slots {
            key += &format!("-wm{k}");
        }
        if let Some((levels, entries)) = self.ltm_capacity {
            key += &format!("-ltm{levels}x{entries}");
        }
        for option in [self.ltm, self.compression].into_iter().flatten() {
            key += &format!("-{option}");
        }
        key
    }
}

impl Training {
    /// Runs trained alike share a directory, so a method in two sections trains once.
    pub fn key(&self) -> String {
        let curriculum = self.curriculum.map_or(String::new(), |c| {
            format!("-from{}over{}", c.start, c.steps)
        });
        let gaps = if self.simulate_gaps { "-gaps" } else { "" };
        format!(
            "{}-{}{}-len{}-{}steps-batch{}{curriculum}{gaps}",
            self.task.name(),
            self.preset,
            self.model.key(),
            self.length,
            self.steps,
            self.batch_size
        )
    }
}

/// A group of methods trained and evaluated alike.
#[derive(Debug, Clone)]
pub(super) struct Section {
    pub training: Training,
    pub methods: Vec<Method>,
    /// Lengths evaluated at (the distance of the needle, the length of a document).
    pub distances: Vec<u64>,
    /// Held-out sequences per distance.
    pub samples: usize,
}

/// One task of a continual sequence, at its length.
#[derive(Debug, Clone, Copy)]
pub(super) struct ContinualTask {
    pub kind: TaskKind,
    pub length: usize,
}

/// Tasks learned one after the other.
#[derive(Debug, Clone)]
pub(super) struct Continual {
    pub methods: Vec<Method>,
    pub tasks: Vec<ContinualTask>,
    pub steps_per_task: u64,
    pub batch_size: usize,
    /// Held-out sequences per task and phase.
    pub samples: usize,
}

/// Where memory behaviour is traced: on this many needle sequences at this distance.
#[derive(Debug, Clone, Copy)]
pub(super) struct Behaviour {
    pub distance: u64,
    pub samples: usize,
}

/// What a suite trains and measures.
#[derive(Debug, Clone)]
pub(super) struct SuiteSpec {
    pub needle: Section,
    pub ablations: Section,
    /// Multi-document QA.
    pub qa: Section,
    /// Key-sentence extraction.
    pub summary: Section,
    pub text: Section,
    pub continual: Continual,
    pub behaviour: Behaviour,
}

impl Suite {
    /// As on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Micro => "micro",
            Self::Quick => "quick",
            Self::Full => "full",
            Self::Long => "long",
        }
    }

    /// What the suite measures; `None` for `long`, which has its own plan ([`super::long`]).
    pub(super) fn spec(self) -> Option<SuiteSpec> {
        match self {
            Self::Micro => Some(micro()),
            Self::Quick => Some(quick()),
            Self::Full => Some(full()),
            Self::Long => None,
        }
    }
}

/// The methods trained alike in every section but needle retrieval and the ablations.
const TASK_METHODS: [Method; 3] = [DMN, LSTM, TRANSFORMER];

fn micro() -> SuiteSpec {
    let needle = Training {
        task: TaskKind::Needle,
        preset: "tiny",
        length: 8,
        steps: 100,
        curriculum: None,
        batch_size: 8,
        simulate_gaps: false,
        model: ModelOptions::PRESET,
    };
    let short = |task| Training {
        task,
        preset: "tiny",
        length: 48,
        steps: 20,
        curriculum: None,
        batch_size: 4,
        simulate_gaps: false,
        model: ModelOptions::PRESET,
    };
    let two_methods = |task| Section {
        training: short(task),
        methods: vec![DMN, LSTM],
        distances: vec![48],
        samples: 4,
    };
    SuiteSpec {
        needle: Section {
            training: needle.clone(),
            methods: vec![DMN, MAMBA, LSTM, GRU, TRANSFORMER],
            distances: vec![8, 32, 128],
            samples: 8,
        },
        ablations: Section {
            training: needle,
            methods: vec![DMN, FLAT, MEAN_POOL],
            distances: vec![8, 128],
            samples: 8,
        },
        qa: two_methods(TaskKind::Qa),
        summary: two_methods(TaskKind::Summary),
        text: two_methods(TaskKind::Text),
        continual: Continual {
            methods: vec![DMN, LSTM],
            tasks: [TaskKind::Needle, TaskKind::Copy]
                .map(|kind| ContinualTask { kind, length: 8 })
                .to_vec(),
            steps_per_task: 20,
            batch_size: 4,
            samples: 8,
        },
        behaviour: Behaviour {
            distance: 128,
            samples: 2,
        },
    }
}

/// Needle retrieval on the tiny preset, learned at length 128 in 600 steps of batch 8 (a
/// curriculum from 16 over 300 steps): about 100 s on two CPU cores.
pub(super) fn tiny_needle() -> Training {
    Training {
        task: TaskKind::Needle,
        preset: "tiny",
        length: 128,
        steps: 600,
        curriculum: Some(Curriculum {
            start: 16,
            steps: 300,
        }),
        batch_size: 8,
        simulate_gaps: false,
        model: ModelOptions::PRESET,
    }
}

fn quick() -> SuiteSpec {
    // Needle retrieval is evaluated up to 10K; the ablations train alike, so DMN's own runs are
    // shared.
    let needle = tiny_needle();
    let task = |task| Section {
        training: Training {
            task,
            curriculum: None,
            ..needle.clone()
        },
        methods: TASK_METHODS.to_vec(),
        distances: vec![128, 1000, 10_000],
        samples: 32,
    };
    SuiteSpec {
        needle: Section {
            training: needle.clone(),
            methods: METHODS.to_vec(),
            distances: vec![128, 1000, 4000, 10_000],
            samples: 32,
        },
        ablations: Section {
            training: needle.clone(),
            methods: vec![
                DMN,
                NO_LTM,
                slots("WM 64 slots", 64),
                slots("WM 256 slots", 256),
                MEAN_POOL,
                UNCOMPRESSED,
                FLAT,
                PPO,
                DQN,
            ],
            distances: vec![128, 1000, 4000],
            samples: 32,
        },
        qa: task(TaskKind::Qa),
        summary: task(TaskKind::Summary),
        text: Section {
            training: Training {
                task: TaskKind::Text,
                preset: "tiny",
                length: 128,
                steps: 300,
                curriculum: None,
                batch_size: 8,
                simulate_gaps: false,
                model: ModelOptions::PRESET,
            },
            methods: vec![DMN, MAMBA, LSTM, TRANSFORMER],
            distances: vec![128, 1024],
            samples: 16,
        },
        continual: Continual {
            methods: TASK_METHODS.to_vec(),
            tasks: [TaskKind::Needle, TaskKind::Copy, TaskKind::Qa]
                .map(|kind| ContinualTask { kind, length: 64 })
                .to_vec(),
            steps_per_task: 200,
            batch_size: 8,
            samples: 32,
        },
        behaviour: Behaviour {
            distance: 1000,
            samples: 8,
        },
    }
}

fn full() -> SuiteSpec {
    let needle = Training {
        task: TaskKind::Needle,
        preset: "small",
        length: 4096,
        steps: 5000,
        curriculum: Some(Curriculum {
            start: 64,
            steps: 2000,
        }),
        batch_size: 16,
        simulate_gaps: false,
        model: ModelOptions::PRESET,
    };
    let long = |task| Section {
        training: Training {
            task,
            preset: "small",
            length: 2048,
            steps: 3000,
            curriculum: Some(Curriculum {
                start: 128,
                steps: 1000,
            }),
            batch_size: 16,
            simulate_gaps: false,
            model: ModelOptions::PRESET,
        },
        methods: TASK_METHODS.to_vec(),
        distances: vec![2048, 100_000],
        samples: 64,
    };
    SuiteSpec {
        needle: Section {
            training: needle.clone(),
            methods: METHODS.to_vec(),
            distances: vec![1000, 10_000, 100_000],
            samples: 64,
        },
        ablations: Section {
            training: needle,
            methods: vec![
                DMN,
                NO_LTM,
                slots("WM 16 slots", 16),
                slots("WM 256 slots", 256),
                slots("WM 512 slots", 512),
                MEAN_POOL,
                UNCOMPRESSED,
                FLAT,
                PPO,
                DQN,
            ],
            distances: vec![1000, 10_000, 100_000],
            samples: 64,
        },
        qa: long(TaskKind::Qa),
        summary: long(TaskKind::Summary),
        text: Section {
            training: Training {
                task: TaskKind::Text,
                preset: "small",
                length: 1024,
                steps: 5000,
                curriculum: None,
                batch_size: 16,
                simulate_gaps: false,
                model: ModelOptions::PRESET,
            },
            methods: vec![DMN, MAMBA, LSTM, TRANSFORMER],
            distances: vec![1024, 16_384],
            samples: 32,
        },
        continual: Continual {
            methods: TASK_METHODS.to_vec(),
            tasks: [
                TaskKind::Needle,
                TaskKind::Copy,
                TaskKind::Qa,
                TaskKind::Summary,
            ]
            .map(|kind| ContinualTask { kind, length: 512 })
            .to_vec(),
            steps_per_task: 1000,
            batch_size: 16,
            samples: 64,
        },
        behaviour: Behaviour {
            distance: 10_000,
            samples: 16,
        },
    }
}
