//! Training on a [`Task`], streaming through segments.
//!
//! A batch of length `T` streams through the model in segments of `segment_len` tokens. The
//! encoder's state is cut at every segment boundary; the memories' state keeps its graph across
//! the segments of a credit window ([`credit`]), which ends at a scored segment with one backward
//! pass and an optimizer step, so the loss at a question reaches the write it needed segments
//! before. A window spans at most `credit_segments` segments, so the graph does not grow with
//! `T`; segments outside every window only advance the state.

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

mod credit;
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
    /// Hand every row's encoder state to the next row at each segment boundary
    /// ([`crate::encoder::EncoderState::handed_on`]; off by default). A boundary then acts as a
    /// gap beyond the encoder's memory, so only the memories carry a needle across it, as they
    /// must over 100K tokens, while training sequences stay short. For tasks whose answers lie
    /// segments after what they ask about (needle, passkey, multi-key needle), never for text.
    pub simulate_gaps: bool,
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
            simulate_gaps: false,
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

    /// One pass over `batch`: one backward pass and optimizer step per credit window
    /// ([`credit::credit_windows`]); segments outside every window only advance the state.
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
        let segments = segments(batch.len, self.model.segment_len());
        let scored: Vec<bool> = segments
            .iter()
            .map(|&(start, len)| batch.has_targets(start, len))
            .collect();
        // Without the memories there is no state worth the credit (the encoder's is cut anyway).
        let cap = if self.use_memory {
            self.config.credit_segments
        } else {
            1
        };
        let mut windows = credit::credit_windows(&scored, cap).into_iter().peekable();
        // Copies of the model without autodiff for segments that only advance the state; made
        // once per optimizer update.
        let mut frozen: Option<Vec<Dmn>> = None;
        let mut i = 0;
        while i < segments.len() {
            if let Some(window) = windows.next_if(|w| *w.start() == i) {
                // A credit window: forward through its segments and one backward on every
                // shard, one optimizer step.
                let span = &segments[window.clone()];
                let scored = &scored[window.clone()];
                let (next, grads) = self.train_window(&shards, states, span, scored, &mut tally);
                self.model =
                    self.optimizer
                        .step_multi(self.optimizer_config.lr, self.model.clone(), grads);
                frozen = None;
                states = next;
                i = window.end() + 1;
            } else {
                // Outside every window: the state advances, no graph is recorded, so memory
                // stays flat over any distance.
                let models = frozen.get_or_insert_with(|| self.frozen_copies());
                let (start, len) = segments[i];
                states = self.advance_segment(models, &shards, states, start, len, &mut tally);
                i += 1;
            }
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

    /// One credit window on every shard: its segments forward with the memories' graph kept
    /// from one to the next (the encoder's state is cut), the mean loss of its scored segments,
    /// and one backward pass; each shard on its own device with its own copy of the model.
    /// Returns the next states (detached) and the shards' gradients.
    fn train_window(
        &self,
        shards: &[Batch],
        states: Vec<DmnState>,
        span: &[(usize, usize)],
        scored: &[bool],
        tally: &mut StepTally,
    ) -> (Vec<DmnState>, MultiGradientsParams) {
        let rows: usize = shards.iter().map(|s| s.batch).sum();
        let mut grads = MultiGradientsParams::default();
        let mut next_states = Vec::with_capacity(shards.len());
        for (i, (shard, mut state)) in shards.iter().zip(states).enumerate() {
            let device = &self.devices[i];
            let model = match i {
                0 => self.model.clone(),
                _ => self.model.clone().fork(device),
            };
            let mut losses = Vec::new();
            for (&(start, len), &scored) in span.iter().zip(scored) {
                let (inputs, targets, mask) = shard.segment(start, len, device);
                let (out, next) = model.forward_segment(state, inputs, self.forward_options());
                state = self.across_boundary(next.detach_encoder());
                if scored {
                    if i == 0 && self.transfer_learner.is_some() {
                        tally.score_rows(&out, &targets, &mask);
                    }
                    let loss = segment_loss(
                        &out,
                        targets.clone(),
                        mask.clone(),
                        &self.config.loss_weights,
                    );
                    // Each shard's loss is a mean over its rows; weight it by its share of the
                    // batch.
                    let share = shard.batch as f64 / rows as f64;
                    let correct = correct_predictions(out.logits.clone().detach(), targets, mask);
                    tally.add_loss(loss.task.clone().detach() * share, correct);
                    tally.scored += shard.scored_in(start, len);
                    if i == 0 {
                        tally.loss_terms += 1;
                    }
                    losses.push(loss.total * share);
                }
                if i == 0 {
                    tally.observe(out);
                }
            }
            let terms = losses.len() as f64;
            let total = losses
                .into_iter()
                .reduce(|a, b| a + b)
                .expect("a credit window ends at a scored segment");
            let g = GradientsParams::from_grads((total / terms).backward(), &model);
            grads.grads.push((g, device.clone()));
            next_states.push(state.detach());
        }
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
            next_states.push(self.across_boundary(next.detach()));
        }
        next_states
    }

    /// The state a segment hands to the next one: as it is, or with the encoder's state handed
    /// on to the next row ([`Self::simulate_gaps`]).
    fn across_boundary(&self, state: DmnState) -> DmnState {
        if !self.simulate_gaps {
            return state;
        }
        DmnState {
            encoder: state.encoder.handed_on(),
            ..state
        }
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

/// The segments `(start, len)` of a sequence of `len` tokens, `segment_len` each (the last may
/// be shorter).
pub(crate) fn segments(len: usize, segment_len: usize) -> Vec<(usize, usize)> {
    (0..len)
        .step_by(segment_len)
        .map(|start| (start, segment_len.min(len - start)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::{Needle, Task};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// The losses of one step on `batch` from the same weights, without and with simulated gaps.
    fn first_losses(batch: &Batch, segment_len: usize, vocab: usize) -> (f32, f32) {
        let device = Device::flex().autodiff();
        let config = DmnConfig::tiny(vocab).with_segment_len(segment_len);
        let model = config.init(&device).unwrap();
        // Parameters are drawn lazily: draw them once, through the record, for both runs.
        let model = model.clone().load_record(model.into_record());
        let loss = |gaps| {
            let optimizer = OptimizerConfig::new();
            let mut trainer =
                Trainer::new(model.clone(), config.clone(), optimizer, device.clone());
            trainer.sample_latents = false;
            trainer.simulate_gaps = gaps;
            trainer.step(batch).read().loss
        };
        (loss(false), loss(true))
    }

    #[test]
    fn simulated_gaps_act_only_at_segment_boundaries() {
        let task = Needle::new(20, 8, 8, 2).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(3), 4);
        // One segment holds the whole sequence: nothing to hand on.
        let (a, b) = first_losses(&batch, batch.len, task.vocab_size());
        assert_eq!(a, b);
        // Two segments: the question's segment starts from another row's encoder state.
        let (a, b) = first_losses(&batch, 12, task.vocab_size());
        assert_ne!(a, b);
    }
}
