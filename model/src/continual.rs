//! Continual learning under distribution shift (seed 002): one model trains on a sequence of
//! tasks, one after the other with no replay, and after each phase it is evaluated on every
//! task. The rows of the result are the forgetting curves: how much of task 1 survives training
//! on tasks 2, 3, ….

use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::config::{ConfigError, DmnConfig};
use crate::tasks::Task;
use crate::train::{OptimizerConfig, Trainer};

/// How each phase trains and how each evaluation samples.
#[derive(Debug, Clone)]
pub struct ContinualSettings {
    /// Optimizer steps on each task.
    pub steps_per_task: u64,
    /// Sequences per step.
    pub batch_size: usize,
    /// Held-out sequences per task at each evaluation.
    pub eval_samples: usize,
    /// Seed of the initialization and of the training data.
    pub seed: u64,
    /// Seed of the evaluation data (the same held-out sequences after every phase).
    pub eval_seed: u64,
    /// Optimizer.
    pub optimizer: OptimizerConfig,
}

/// Accuracy on every task after every phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForgettingCurves {
    /// Task names, in training order.
    pub tasks: Vec<String>,
    /// `accuracy[p][t]`: accuracy on task `t` after the phase that trained task `p`.
    pub accuracy: Vec<Vec<f64>>,
}

impl ForgettingCurves {
    /// Forgetting of each task but the last: its best accuracy after any phase before the last,
    /// minus its accuracy at the end (positive: lost; Chaudhry et al.'s measure).
    pub fn forgetting(&self) -> Vec<f64> {
        let Some(last) = self.accuracy.last() else {
            return Vec::new();
        };
        (0..self.tasks.len().saturating_sub(1))
            .map(|t| {
                let best = self.accuracy[..self.accuracy.len() - 1]
                    .iter()
                    .map(|row| row[t])
                    .fold(f64::NEG_INFINITY, f64::max);
                best - last[t]
            })
            .collect()
    }

    /// Mean accuracy over all tasks after the last phase.
    pub fn final_mean_accuracy(&self) -> f64 {
        self.accuracy
            .last()
            .map_or(0.0, |row| row.iter().sum::<f64>() / row.len().max(1) as f64)
    }
}

/// Why a continual-learning run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ContinualError {
    /// A task uses more token ids than the model embeds.
    #[error("the {task} task needs {needs} token ids but the model has {has}")]
    Vocabulary {
        /// The task's name.
        task: String,
        /// Its vocabulary size.
        needs: usize,
        /// The model's.
        has: usize,
    },
    /// The model config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Trains a fresh model of `config` on `tasks` in order and evaluates every task after each
/// phase. `device` is the training device (with autodiff). `config.vocab_size` must cover every
/// task's vocabulary.
pub fn run(
    config: &DmnConfig,
    tasks: &[Box<dyn Task>],
    settings: &ContinualSettings,
    device: &Device,
) -> Result<ForgettingCurves, ContinualError> {
    if let Some(t) = tasks.iter().find(|t| t.vocab_size() > config.vocab_size) {
        return Err(ContinualError::Vocabulary {
            task: t.name().to_string(),
            needs: t.vocab_size(),
            has: config.vocab_size,
        });
    }
    let model = config.init(device)?;
    let mut trainer = Trainer::new(
        model,
        config.clone(),
        settings.optimizer.clone(),
        device.clone(),
    );
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let mut accuracy = Vec::with_capacity(tasks.len());
    for task in tasks {
        for _ in 0..settings.steps_per_task {
            let batch = task.sample(&mut rng, settings.batch_size);
            trainer.step(&batch);
        }
        let row = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut eval_rng = StdRng::seed_from_u64(settings.eval_seed ^ i as u64);
                let batch = t.sample(&mut eval_rng, settings.eval_samples);
                f64::from(trainer.evaluate(&batch).read().accuracy)
            })
            .collect();
        accuracy.push(row);
    }
    Ok(ForgettingCurves {
        tasks: tasks.iter().map(|t| t.name().to_string()).collect(),
        accuracy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::{Needle, SelectiveCopy};

    #[test]
    fn forgetting_is_the_drop_from_the_best_earlier_accuracy() {
        let curves = ForgettingCurves {
            tasks: vec!["a".into(), "b".into(), "c".into()],
            accuracy: vec![
                vec![0.9, 0.1, 0.1],
                vec![0.5, 0.8, 0.1],
                vec![0.3, 0.7, 0.9],
            ],
        };
        let f = curves.forgetting();
        assert_eq!(f.len(), 2);
        assert!(
            (f[0] - 0.6).abs() < 1e-12 && (f[1] - 0.1).abs() < 1e-12,
            "{f:?}"
        );
        assert!((curves.final_mean_accuracy() - 1.9 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn every_task_is_evaluated_after_every_phase() {
        let device = Device::flex();
        let tasks: Vec<Box<dyn Task>> = vec![
            Box::new(Needle::new(8, 4, 4, 0).unwrap()),
            Box::new(SelectiveCopy::new(8, 2, 4).unwrap()),
        ];
        let vocab = tasks.iter().map(|t| t.vocab_size()).max().unwrap();
        let settings = ContinualSettings {
            steps_per_task: 2,
            batch_size: 2,
            eval_samples: 4,
            seed: 0,
            eval_seed: 1,
            optimizer: OptimizerConfig::new(),
        };
        let curves = run(
            &DmnConfig::tiny(vocab).with_segment_len(16),
            &tasks,
            &settings,
            &device.clone().autodiff(),
        )
        .unwrap();
        assert_eq!(curves.tasks, vec!["needle", "copy"]);
        assert_eq!(curves.accuracy.len(), 2);
        assert!(
            curves
                .accuracy
                .iter()
                .all(|row| row.len() == 2 && row.iter().all(|a| (0.0..=1.0).contains(a)))
        );
        let small = DmnConfig::tiny(3);
        assert!(run(&small, &tasks, &settings, &device.autodiff()).is_err());
    }
}
