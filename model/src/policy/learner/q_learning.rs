//! Q-learning of the transfer policy: the importance head's logits read as per-slot Q-values,
//! the compression head's as per-(slot, level) Q-values, replayed from a buffer of past
//! decisions against a target network, with an ε schedule over training steps.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Tensor, TensorData};

use super::{PolicyStats, rewards};
use crate::model::Dmn;
use crate::policy::compression_level;
use crate::policy::dqn::{DqnConfig, Replay};
use crate::transfer::TransferDecision;

/// One replayed transition: a decision (all rows), its rewards `[B]`, and the next decision of
/// the same sequences (`None` after the last).
#[derive(Debug, Clone)]
struct Replayed {
    decision: TransferDecision,
    reward: Tensor<1>,
    next: Option<TransferDecision>,
}

/// Q-learning of the transfer policy: replay, target network, ε schedule.
pub struct QTransferLearner {
    replay: Replay<Replayed>,
    pub(super) target: Option<Dmn>,
    pub(super) updates: usize,
    pub(super) steps: usize,
    /// Settings (`epsilon_decisions` counts training steps here).
    pub config: DqnConfig,
    /// Updates per training step.
    pub updates_per_step: usize,
    rng: rand::rngs::StdRng,
}

impl Default for QTransferLearner {
    fn default() -> Self {
        let config = DqnConfig::new()
            .with_capacity(256)
            .with_epsilon_decisions(500)
            .with_target_every(20);
        Self {
            replay: Replay::new(config.capacity),
            target: None,
            updates: 0,
            steps: 0,
            config,
            updates_per_step: 4,
            rng: rand::SeedableRng::seed_from_u64(0),
        }
    }
}

impl QTransferLearner {
    /// ε for the coming training step.
    pub fn epsilon(&self) -> f32 {
        self.config.epsilon(self.steps) as f32
    }

    /// Stores one step's decisions and runs `updates_per_step` replayed updates.
    pub fn update(
        &mut self,
        model: Dmn,
        optimizer: &mut ModuleOptimizer,
        decisions: &[TransferDecision],
        r_task: &[f32],
        cost: f32,
    ) -> (Dmn, PolicyStats) {
        let (per_decision, mut stats) = rewards(decisions, r_task, cost);
        stats.epsilon = self.epsilon();
        let device = decisions[0].log_prob.device();
        let b = r_task.len();
        for (t, d) in decisions.iter().enumerate() {
            let item = Replayed {
                decision: d.clone(),
                reward: Tensor::from_data(TensorData::new(per_decision[t].clone(), [b]), &device),
                next: decisions.get(t + 1).cloned(),
            };
            self.replay.push(item);
        }
        self.steps += 1;

        let mut model = model;
        let mut losses = Vec::new();
        for _ in 0..self.updates_per_step {
            let item = self.replay.sample(&mut self.rng, 1)[0];
            let target = self.target.get_or_insert_with(|| model.clone());
            let d = &item.decision;
            let m = d.picks.dims()[1];
            let y = match &item.next {
                Some(n) => {
                    let (q_next, _) = target.policy_logits(
                        n.slots.clone(),
                        n.h_mean.clone(),
                        n.ltm_summary.clone(),
                    );
                    let q_next = q_next.detach();
                    let best = crate::ops::top_k(q_next, m, 1).0.mean_dim(1).reshape([b]);
                    item.reward.clone() + best * self.config.gamma
                }
                None => item.reward.clone(),
            };
            let (q, q_levels) =
                model.policy_logits(d.slots.clone(), d.h_mean.clone(), d.ltm_summary.clone());
            let q = q.gather(1, d.picks.clone());
            let q_level = compression_level::chosen(
                compression_level::of_picks(q_levels, d.picks.clone()),
                d.levels.clone(),
            );
            let y = y.unsqueeze_dim::<2>(1).expand([b, m]);
            let loss = (q - y.clone()).powi_scalar(2).mean() + (q_level - y).powi_scalar(2).mean();
            losses.push(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(self.config.lr, model, grads);
            self.updates += 1;
            if self.updates.is_multiple_of(self.config.target_every) {
                self.target = Some(model.clone());
            }
        }
        stats.value_loss = losses.iter().sum::<f32>() / losses.len().max(1) as f32;
        (model, stats)
    }
}
