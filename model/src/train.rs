//! Training on a [`Task`] with truncated back-propagation through segments.
//!
//! A batch of length `T` streams through the model in segments of `segment_len` tokens. Each
//! segment that holds scored positions is back-propagated and followed by an optimizer step; the
//! state is then detached, so gradients never cross a segment boundary and memory does not grow
//! with `T`. Segments without scored positions only advance the state.

use burn::config::Config;
use burn::module::Module;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, MultiGradientsParams};
use burn::tensor::{Device, Int, Tensor};

use crate::config::DmnConfig;
use crate::loss::{correct_predictions, segment_loss};
use crate::model::{Dmn, ForwardOptions, MemoryStats};
use crate::policy::transfer::{PolicyLearner, PolicyStats, host};
use crate::tasks::Batch;
use crate::trace::MemoryTrace;

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
    /// [`evaluate_predicting`] only: the predicted token (argmax) at every position of each
    /// segment holding a scored position, as `(start, [B, len])`; read them with
    /// [`StepTensors::predictions`].
    pub predicted: Vec<(usize, Tensor<2, Int>)>,
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

    /// The predicted token at each scored position of each row of `batch`, in order (blocking;
    /// native only). Empty rows unless the tensors come from [`evaluate_predicting`].
    pub fn predictions(&self, batch: &Batch) -> Vec<Vec<u32>> {
        let mut rows = vec![Vec::new(); batch.batch];
        for (start, tokens) in &self.predicted {
            let [b, len] = tokens.dims();
            let v = tokens
                .clone()
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap_or_default();
            for (r, row) in rows.iter_mut().enumerate().take(b) {
                for t in 0..len {
                    if batch.mask[r * batch.len + start + t] > 0.0 {
                        row.push(v.get(r * len + t).copied().unwrap_or(0).max(0) as u32);
                    }
                }
            }
        }
        rows
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

    /// Reads the figures back without blocking (required in the browser). An error means the
    /// device failed (a lost GPU).
    pub async fn read_async(&self) -> Result<StepStats, String> {
        let data = self
            .packed()
            .into_data_async()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let v = data
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        Ok(self.finish(&v))
    }
}

/// A model, its optimizer and the configs, trained one batch at a time.
///
/// With several devices the trainer is data-parallel: the batch's rows are split into one shard
/// per device, every shard runs forward and backward on its own device with its own copy of the
/// model, and one optimizer step sums the shards' gradients (burn's multi-device optimizer step).
/// Shards are dispatched one after the other; on GPU backends execution is asynchronous, so the
/// devices work at the same time.
pub struct Trainer {
    /// The model being trained (on an autodiff device).
    pub model: Dmn,
    /// Its configuration.
    pub config: DmnConfig,
    /// Optimizer settings.
    pub optimizer_config: OptimizerConfig,
    /// Draw the compression VAE's latent noise while training (the default). Off, a run draws
    /// no random numbers on the device, so the same run on two devices can be compared step by step.
    pub sample_latents: bool,
    /// Run the memories (the default). Off, segments skip both memories and the model trains as
    /// its encoder alone: the pretraining phase of §2.4.3.
    pub use_memory: bool,
    /// Figures of the last transfer-policy update (learned policies only: PPO, DQN).
    pub last_policy: Option<PolicyStats>,
    transfer_learner: Option<PolicyLearner>,
    optimizer: ModuleOptimizer,
    devices: Vec<Device>,
}

impl Trainer {
    /// A trainer for a fresh model; `device` must have autodiff (`Device::flex().autodiff()`).
    pub fn new(
        model: Dmn,
        config: DmnConfig,
        optimizer_config: OptimizerConfig,
        device: Device,
    ) -> Self {
        Self::data_parallel(model, config, optimizer_config, vec![device])
    }

    /// A data-parallel trainer over `devices` (all with autodiff; the model lives on the first).
    pub fn data_parallel(
        model: Dmn,
        config: DmnConfig,
        optimizer_config: OptimizerConfig,
        devices: Vec<Device>,
    ) -> Self {
        assert!(!devices.is_empty(), "a trainer needs at least one device");
        // Parameters are initialized lazily, on first use. Draw them now, on the model's device,
        // so that every shard's copy starts from the same weights instead of each device drawing
        // its own.
        let model = if devices.len() > 1 {
            model.clone().load_record(model.into_record())
        } else {
            model
        };
        let optimizer = AdamWConfig::new()
            .with_weight_decay(optimizer_config.weight_decay as f32)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(
                optimizer_config.grad_clip as f32,
            )))
            .init();
        let transfer_learner =
            PolicyLearner::for_policy(config.transfer_policy, config.d_model, &devices[0]);
        Self {
            model,
            config,
            optimizer_config,
            sample_latents: true,
            use_memory: true,
            last_policy: None,
            transfer_learner,
            optimizer,
            devices,
        }
    }

    /// Stops training the token embedding and the base encoder (the policy fine-tuning phase of
    /// §2.4.3): their parameters no longer receive gradients, everything else keeps training.
    pub fn freeze_encoder(&mut self) {
        self.model = self.model.clone().freeze_encoder();
    }

    /// The transfer-policy learner's state as named files for a checkpoint (none for policies
    /// that learn no RL state).
    pub fn policy_snapshot(&self) -> Result<Vec<(&'static str, Vec<u8>)>, String> {
        self.transfer_learner
            .as_ref()
            .map_or(Ok(Vec::new()), |l| l.snapshot())
    }

    /// Restores the transfer-policy learner from a checkpoint's files (after the model).
    pub fn restore_policy(&mut self, read: impl Fn(&str) -> Option<Vec<u8>>) -> Result<(), String> {
        match self.transfer_learner.as_mut() {
            Some(l) => l.restore(read, &self.model),
            None => Ok(()),
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
    ///
    /// # Panics
    /// If the batch has fewer rows than the trainer has devices.
    pub fn step(&mut self, batch: &Batch) -> StepTensors {
        if let Some(epsilon) = self.transfer_learner.as_ref().and_then(|l| l.exploration()) {
            self.model = self.model.clone().with_exploration(epsilon);
        }
        let shards = batch.split(self.devices.len());
        let seg = self.model.segment_len();
        let device = self.devices[0].clone();
        let mut states: Vec<_> = shards
            .iter()
            .zip(&self.devices)
            .map(|(s, d)| {
                let state = self.model.init_state(s.batch, d);
                if self.use_memory {
                    state
                } else {
                    crate::model::DmnState {
                        working: None,
                        long_term: None,
                        ..state
                    }
                }
            })
            .collect();
        let zero = || Tensor::<1>::zeros([1], &device);
        let (mut loss_sum, mut correct) = (zero(), zero());
        let (mut loss_terms, mut scored) = (0, 0);
        let mut stats = None;
        let mut plain: Option<Vec<Dmn>> = None;
        // The transfer policy's episodes: shard 0's decisions and its rows' task scores.
        let mut decisions = Vec::new();
        let rows0 = shards[0].batch;
        let (mut row_hits, mut row_scored) = (
            Tensor::<1>::zeros([rows0], &device),
            Tensor::<1>::zeros([rows0], &device),
        );
        let mut start = 0;
        while start < batch.len {
            let len = seg.min(batch.len - start);
            let train = batch.has_targets(start, len);
            let mut grads = MultiGradientsParams::default();
            let mut next_states = Vec::with_capacity(shards.len());
            // A segment without targets only advances the state: it runs on a copy of the model
            // without autodiff, so no graph is recorded for it (memory stays flat over any
            // distance). The copies are made once per optimizer update.
            if !train && plain.is_none() {
                plain = Some(
                    self.devices
                        .iter()
                        .map(|d| self.model.clone().fork(d).valid())
                        .collect(),
                );
            }
            for (i, (shard, state)) in shards.iter().zip(states).enumerate() {
                let (model, dev) = match (&plain, train) {
                    (Some(models), false) => (
                        models[i].clone(),
                        self.devices[i].clone().without_autodiff(),
                    ),
                    _ if i == 0 => (self.model.clone(), self.devices[i].clone()),
                    _ => (
                        self.model.clone().fork(&self.devices[i]),
                        self.devices[i].clone(),
                    ),
                };
                let dev = &dev;
                let (inputs, targets, mask) = shard.segment(start, len, dev);
                let (out, next) = model.forward_segment(
                    state,
                    inputs,
                    ForwardOptions {
                        sample: self.sample_latents,
                        trace: false,
                    },
                );
                if i == 0
                    && let Some(d) = out.decision.clone()
                {
                    decisions.push(d.to_device(&device));
                }
                if train && i == 0 && self.transfer_learner.is_some() {
                    let [rb, rl, _] = out.logits.dims();
                    let hits = out
                        .logits
                        .clone()
                        .detach()
                        .argmax(2)
                        .reshape([rb, rl])
                        .equal(targets.clone())
                        .float()
                        * mask.clone();
                    row_hits = row_hits + hits.sum_dim(1).reshape([rb]).to_device(&device);
                    row_scored =
                        row_scored + mask.clone().sum_dim(1).reshape([rb]).to_device(&device);
                }
                if train {
                    let loss = segment_loss(
                        &out,
                        targets.clone(),
                        mask.clone(),
                        &self.config.loss_weights,
                    );
                    correct = correct
                        + correct_predictions(out.logits.clone().detach(), targets, mask)
                            .to_device(&device);
                    // Each shard's loss is a mean over its rows; weight it by its share of the batch.
                    let share = shard.batch as f64 / batch.batch as f64;
                    loss_sum = loss_sum + loss.task.clone().detach().to_device(&device) * share;
                    scored += shard.scored_in(start, len);
                    let g = GradientsParams::from_grads((loss.total * share).backward(), &model);
                    grads.grads.push((g, dev.clone()));
                }
                if i == 0 {
                    stats = Some(out.stats);
                }
                next_states.push(next.detach());
            }
            if train {
                loss_terms += 1;
                plain = None;
                self.model =
                    self.optimizer
                        .step_multi(self.optimizer_config.lr, self.model.clone(), grads);
            }
            states = next_states;
            start += len;
        }
        if let Some(learner) = self.transfer_learner.as_mut()
            && !decisions.is_empty()
        {
            // Each sequence's accuracy on its scored positions.
            let r_task = host(row_hits / row_scored.clamp_min(1.0));
            let cost = self.config.policy_cost as f32;
            let (model, stats) = learner.update(
                self.model.clone(),
                &mut self.optimizer,
                &decisions,
                &r_task,
                cost,
            );
            self.model = model;
            self.last_policy = Some(stats);
        }
        StepTensors {
            loss_sum,
            loss_terms,
            correct,
            scored,
            stats: stats.expect("a batch has at least one token"),
            predicted: Vec::new(),
        }
    }

    /// Loss and accuracy on `batch` without training (no autodiff, z = μ).
    pub fn evaluate(&self, batch: &Batch) -> StepTensors {
        evaluate(
            &self.model.valid(),
            batch,
            &self.devices[0].clone().without_autodiff(),
        )
    }
}

/// Loss and accuracy of `model` on `batch`, streaming segment by segment.
pub fn evaluate(model: &Dmn, batch: &Batch, device: &Device) -> StepTensors {
    stream_evaluation(model, batch, device, false)
}

/// [`evaluate`], also keeping the predicted tokens for [`StepTensors::predictions`] (for tasks
/// scored on the predicted sequence, such as F1 and ROUGE-L).
pub fn evaluate_predicting(model: &Dmn, batch: &Batch, device: &Device) -> StepTensors {
    stream_evaluation(model, batch, device, true)
}

fn stream_evaluation(model: &Dmn, batch: &Batch, device: &Device, keep: bool) -> StepTensors {
    let seg = model.segment_len();
    let mut state = model.init_state(batch.batch, device);
    let zero = || Tensor::<1>::zeros([1], device);
    let (mut loss_sum, mut correct) = (zero(), zero());
    let (mut loss_terms, mut scored) = (0, 0);
    let mut stats = None;
    let mut predicted = Vec::new();
    let mut start = 0;
    while start < batch.len {
        let len = seg.min(batch.len - start);
        let (inputs, targets, mask) = batch.segment(start, len, device);
        let (out, next) = model.forward_segment(state, inputs, ForwardOptions::default());
        if batch.has_targets(start, len) {
            if keep {
                let [b, l, _] = out.logits.dims();
                predicted.push((start, out.logits.clone().argmax(2).reshape([b, l])));
            }
            loss_sum = loss_sum
                + crate::loss::masked_cross_entropy(
                    out.logits.clone(),
                    targets.clone(),
                    mask.clone(),
                );
            correct = correct + correct_predictions(out.logits, targets, mask);
            loss_terms += 1;
            scored += batch.scored_in(start, len);
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
        predicted,
    }
}

/// What the memory did on batch row 0 of `batch`, one [`MemoryTrace`] per segment, streaming as
/// [`evaluate`] does (no autodiff, z = μ). The desktop and web viewers draw these.
pub fn trace(model: &Dmn, batch: &Batch, device: &Device) -> Vec<MemoryTrace> {
    crate::probe::probe(model, batch, device).read().traces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::{Needle, Task};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn trace_gives_one_snapshot_per_segment() {
        let device = Device::flex();
        let task = Needle::new(40, 8, 8, 0).unwrap();
        let config = DmnConfig::tiny(task.vocab_size()).with_segment_len(16);
        let model = config.init(&device).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(1), 2);
        let traces = trace(&model, &batch, &device);
        // 40 + the query tokens, in segments of 16.
        assert_eq!(traces.len(), batch.len.div_ceil(16));
        for (i, t) in traces.iter().enumerate() {
            assert_eq!(t.segment, i as u64);
            assert_eq!(t.write_weights.len(), t.updates * t.heads * t.slots);
        }
    }
}
