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
use burn::tensor::Device;

use crate::config::DmnConfig;
use crate::loss::{correct_predictions, segment_loss};
use crate::model::{Dmn, DmnState, ForwardOptions};
use crate::policy::learner::{PolicyLearner, PolicyStateError, PolicyStats, host};
use crate::tasks::Batch;
use step::StepTally;

mod evaluate;
mod step;

pub use evaluate::{evaluate, evaluate_predicting, trace};
pub use step::{DeviceError, StepStats, StepTensors};

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
    pub fn policy_snapshot(&self) -> Result<Vec<(&'static str, Vec<u8>)>, PolicyStateError> {
        self.transfer_learner
            .as_ref()
            .map_or(Ok(Vec::new()), |l| l.snapshot())
    }

    /// Restores the transfer-policy learner from a checkpoint's files (after the model).
    pub fn restore_policy(
        &mut self,
        read: impl Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<(), PolicyStateError> {
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
        let mut states = self.initial_states(&shards);
        let mut tally = StepTally::new(shards[0].batch, &self.devices[0]);
        // Copies of the model without autodiff for segments that only advance the state; made
        // once per optimizer update.
        let mut frozen: Option<Vec<Dmn>> = None;
        let mut start = 0;
        while start < batch.len {
            let len = self.model.segment_len().min(batch.len - start);
            states = if batch.has_targets(start, len) {
                // A scored segment: forward and backward on every shard, one optimizer step.
                let (next, grads) = self.train_segment(&shards, states, start, len, &mut tally);
                self.model =
                    self.optimizer
                        .step_multi(self.optimizer_config.lr, self.model.clone(), grads);
                frozen = None;
                next
            } else {
                // No targets: the state advances, no graph is recorded, so memory stays flat
                // over any distance.
                let models = frozen.get_or_insert_with(|| self.frozen_copies());
                self.advance_segment(models, &shards, states, start, len, &mut tally)
            };
            start += len;
        }
        self.update_policy(&tally);
        tally.finish()
    }

    /// Every shard's state before its first token; without memory (the pretraining phase) the
    /// memories are left out.
    fn initial_states(&self, shards: &[Batch]) -> Vec<DmnState> {
        shards
            .iter()
            .zip(&self.devices)
            .map(|(shard, device)| {
                let state = self.model.init_state(shard.batch, device);
                if self.use_memory {
                    state
                } else {
                    DmnState {
                        working: None,
                        long_term: None,
                        ..state
                    }
                }
            })
            .collect()
    }

    /// The model without autodiff, one copy per device.
    fn frozen_copies(&self) -> Vec<Dmn> {
        self.devices
            .iter()
            .map(|d| self.model.clone().fork(d).valid())
            .collect()
    }

    fn forward_options(&self) -> ForwardOptions {
        ForwardOptions {
            sample: self.sample_latents,
            trace: false,
        }
    }

    /// One scored segment on every shard: forward, loss and backward, each shard on its own
    /// device with its own copy of the model. Returns the next states and the shards' gradients.
    fn train_segment(
        &self,
        shards: &[Batch],
        states: Vec<DmnState>,
        start: usize,
        len: usize,
        tally: &mut StepTally,
    ) -> (Vec<DmnState>, MultiGradientsParams) {
        let rows: usize = shards.iter().map(|s| s.batch).sum();
        let mut grads = MultiGradientsParams::default();
        let mut next_states = Vec::with_capacity(shards.len());
        for (i, (shard, state)) in shards.iter().zip(states).enumerate() {
            let device = &self.devices[i];
            let model = match i {
                0 => self.model.clone(),
                _ => self.model.clone().fork(device),
            };
            let (inputs, targets, mask) = shard.segment(start, len, device);
            let (out, next) = model.forward_segment(state, inputs, self.forward_options());
            if i == 0 && self.transfer_learner.is_some() {
                tally.score_rows(&out, &targets, &mask);
            }
            let loss = segment_loss(
                &out,
                targets.clone(),
                mask.clone(),
                &self.config.loss_weights,
            );
            // Each shard's loss is a mean over its rows; weight it by its share of the batch.
            let share = shard.batch as f64 / rows as f64;
            let correct = correct_predictions(out.logits.clone().detach(), targets, mask);
            tally.add_loss(loss.task.clone().detach() * share, correct);
            tally.scored += shard.scored_in(start, len);
            let g = GradientsParams::from_grads((loss.total * share).backward(), &model);
            grads.grads.push((g, device.clone()));
            if i == 0 {
                tally.observe(out);
            }
            next_states.push(next.detach());
        }
        tally.loss_terms += 1;
        (next_states, grads)
    }

    /// One segment without scored positions on every shard, on the copies without autodiff.
    fn advance_segment(
        &self,
        models: &[Dmn],
        shards: &[Batch],
        states: Vec<DmnState>,
        start: usize,
        len: usize,
        tally: &mut StepTally,
    ) -> Vec<DmnState> {
        let mut next_states = Vec::with_capacity(shards.len());
        for (i, ((shard, state), model)) in shards.iter().zip(states).zip(models).enumerate() {
            let device = self.devices[i].clone().without_autodiff();
            let (inputs, _, _) = shard.segment(start, len, &device);
            let (out, next) = model.forward_segment(state, inputs, self.forward_options());
            if i == 0 {
                tally.observe(out);
            }
            next_states.push(next.detach());
        }
        next_states
    }

    /// Updates a learned transfer policy (PPO, DQN) from the step's decisions, each sequence
    /// rewarded by its accuracy on its scored positions.
    fn update_policy(&mut self, tally: &StepTally) {
        let Some(learner) = self.transfer_learner.as_mut() else {
            return;
        };
        if tally.decisions.is_empty() {
            return;
        }
        let r_task = host(tally.row_hits.clone() / tally.row_scored.clone().clamp_min(1.0));
        let cost = self.config.policy_cost as f32;
        let (model, stats) = learner.update(
            self.model.clone(),
            &mut self.optimizer,
            &tally.decisions,
            &r_task,
            cost,
        );
        self.model = model;
        self.last_policy = Some(stats);
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
