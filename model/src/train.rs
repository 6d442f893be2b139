//! Training on a [`Task`] with truncated back-propagation through segments.
//!
//! A batch of length `T` streams through the model in segments of `segment_len` tokens. Each
//! segment that holds scored positions is back-propagated and followed by an optimizer step; the
//! state is then detached, so gradients never cross a segment boundary and memory does not grow
//! with `T`. Segments without scored positions only advance the state.

use burn::config::Config;
use burn::module::Module;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

use crate::config::DmnConfig;
use crate::loss::{correct_predictions, segment_loss};
use crate::model::{Dmn, ForwardOptions, MemoryStats};
use crate::tasks::Batch;

/// Optimizer settings.
#[derive(Config, Debug)]
pub struct OptimizerConfig {
    /// AdamW learning rate.
    #[config(default = 3e-3)]
    pub lr: f64,
    /// AdamW decoupled weight decay.
    #[config(default = 0.01)]
    pub weight_decay: f64,
    /// Global gradient-norm clip (the memory's multiplicative gates can spike gradients).
    #[config(default = 1.0)]
    pub grad_clip: f64,
}

/// What one step measured, still on the device.
#[derive(Debug, Clone)]
pub struct StepTensors {
    /// Sum over scored segments of the task loss, `[1]`.
    pub loss_sum: Tensor<1>,
    /// Scored segments (host count).
    pub loss_terms: usize,
    /// Correct predictions, `[1]`.
    pub correct: Tensor<1>,
    /// Scored positions (host count).
    pub scored: usize,
    /// Memory statistics of the last segment.
    pub stats: MemoryStats,
}

/// Host-side figures of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepStats {
    /// Mean task loss over scored segments.
    pub loss: f32,
    /// Fraction of scored positions predicted right.
    pub accuracy: f32,
    /// See [`MemoryStats`].
    pub slot_usage_entropy: f32,
    /// Mean slot age.
    pub mean_age: f32,
    /// Long-term bytes.
    pub ltm_bytes: f32,
    /// Fill per level.
    pub ltm_fill: Vec<f32>,
    /// Mean read entropy (read sparsity; lower is sparser).
    pub read_entropy: f32,
}

impl StepTensors {
    fn packed(&self) -> Tensor<1> {
        Tensor::cat(
            vec![
                self.loss_sum.clone(),
                self.correct.clone(),
                self.stats.slot_usage_entropy.clone(),
                self.stats.mean_age.clone(),
                self.stats.ltm_bytes.clone(),
                self.stats.read_entropy.clone(),
            ],
            0,
        )
    }

    fn finish(&self, v: &[f32]) -> StepStats {
        StepStats {
            loss: v[0] / self.loss_terms.max(1) as f32,
            accuracy: v[1] / self.scored.max(1) as f32,
            slot_usage_entropy: v[2],
            mean_age: v[3],
            ltm_bytes: v[4],
            read_entropy: v[5],
            ltm_fill: self.stats.ltm_fill.clone(),
        }
    }

    /// Reads the figures back (blocking; native only).
    pub fn read(&self) -> StepStats {
        let v = self
            .packed()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        self.finish(&v)
    }

    /// Reads the figures back without blocking (required in the browser).
    pub async fn read_async(&self) -> StepStats {
        let v = match self.packed().into_data_async().await {
            Ok(d) => d.convert::<f32>().try_to_vec::<f32>().unwrap_or_default(),
            Err(_) => vec![f32::NAN; 6],
        };
        self.finish(&v)
    }
}

/// A model, its optimizer and the configs, trained one batch at a time.
pub struct Trainer {
    /// The model being trained (on an autodiff device).
    pub model: Dmn,
    /// Its configuration.
    pub config: DmnConfig,
    /// Optimizer settings.
    pub optimizer_config: OptimizerConfig,
    optimizer: ModuleOptimizer,
    device: Device,
}

impl Trainer {
    /// A trainer for a fresh model; `device` must have autodiff (`Device::flex().autodiff()`).
    pub fn new(
        model: Dmn,
        config: DmnConfig,
        optimizer_config: OptimizerConfig,
        device: Device,
    ) -> Self {
        let optimizer = AdamWConfig::new()
            .with_weight_decay(optimizer_config.weight_decay as f32)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(
                optimizer_config.grad_clip as f32,
            )))
            .init();
        Self {
            model,
            config,
            optimizer_config,
            optimizer,
            device,
        }
    }

    /// The optimizer, for checkpoints.
    pub fn optimizer(&self) -> &ModuleOptimizer {
        &self.optimizer
    }

    /// Replaces the optimizer state (resuming from a checkpoint).
    pub fn set_optimizer(&mut self, optimizer: ModuleOptimizer) {
        self.optimizer = optimizer;
    }

    /// One pass over `batch` with an optimizer step after every scored segment.
    pub fn step(&mut self, batch: &Batch) -> StepTensors {
        let seg = self.model.segment_len();
        let mut state = self.model.init_state(batch.batch, &self.device);
        let zero = || Tensor::<1>::zeros([1], &self.device);
        let (mut loss_sum, mut correct) = (zero(), zero());
        let (mut loss_terms, mut scored) = (0, 0);
        let mut stats = None;
        let mut start = 0;
        while start < batch.len {
            let len = seg.min(batch.len - start);
            let (inputs, targets, mask) = batch.segment(start, len, &self.device);
            let (out, next) = self.model.forward_segment(
                state,
                inputs,
                ForwardOptions {
                    sample: true,
                    trace: false,
                },
            );
            if batch.has_targets(start, len) {
                let loss = segment_loss(
                    &out,
                    targets.clone(),
                    mask.clone(),
                    &self.config.loss_weights,
                );
                correct = correct + correct_predictions(out.logits.clone().detach(), targets, mask);
                loss_sum = loss_sum + loss.task.clone().detach();
                loss_terms += 1;
                scored += (0..batch.batch)
                    .map(|b| {
                        batch.mask[b * batch.len + start..b * batch.len + start + len]
                            .iter()
                            .filter(|&&m| m > 0.0)
                            .count()
                    })
                    .sum::<usize>();
                let grads = GradientsParams::from_grads(loss.total.backward(), &self.model);
                self.model =
                    self.optimizer
                        .step(self.optimizer_config.lr, self.model.clone(), grads);
            }
            stats = Some(out.stats);
            state = next.detach();
            start += len;
        }
        StepTensors {
            loss_sum,
            loss_terms,
            correct,
            scored,
            stats: stats.expect("a batch has at least one token"),
        }
    }

    /// Loss and accuracy on `batch` without training (no autodiff, z = μ).
    pub fn evaluate(&self, batch: &Batch) -> StepTensors {
        evaluate(
            &self.model.valid(),
            batch,
            &self.device.clone().without_autodiff(),
        )
    }
}

/// Loss and accuracy of `model` on `batch`, streaming segment by segment.
pub fn evaluate(model: &Dmn, batch: &Batch, device: &Device) -> StepTensors {
    let seg = model.segment_len();
    let mut state = model.init_state(batch.batch, device);
    let zero = || Tensor::<1>::zeros([1], device);
    let (mut loss_sum, mut correct) = (zero(), zero());
    let (mut loss_terms, mut scored) = (0, 0);
    let mut stats = None;
    let mut start = 0;
    while start < batch.len {
        let len = seg.min(batch.len - start);
        let (inputs, targets, mask) = batch.segment(start, len, device);
        let (out, next) = model.forward_segment(state, inputs, ForwardOptions::default());
        if batch.has_targets(start, len) {
            loss_sum = loss_sum
                + crate::loss::masked_cross_entropy(
                    out.logits.clone(),
                    targets.clone(),
                    mask.clone(),
                );
            correct = correct + correct_predictions(out.logits, targets, mask);
            loss_terms += 1;
            scored += (0..batch.batch)
                .map(|b| {
                    batch.mask[b * batch.len + start..b * batch.len + start + len]
                        .iter()
                        .filter(|&&m| m > 0.0)
                        .count()
                })
                .sum::<usize>();
        }
        stats = Some(out.stats);
        state = next;
        start += len;
    }
    StepTensors {
        loss_sum,
        loss_terms,
        correct,
        scored,
        stats: stats.expect("a batch has at least one token"),
    }
}
