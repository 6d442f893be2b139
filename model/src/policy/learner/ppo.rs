//! PPO of the transfer policy: a critic over (mean encoder state, long-term summary) gives the
//! values for GAE, and clipped-surrogate epochs update the importance and compression heads.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};

use super::{PolicyStats, host, rewards};
use crate::model::Dmn;
use crate::policy::gae::gae;
use crate::policy::ppo::{PpoConfig, clipped_surrogate};
use crate::policy::{Mlp, MlpConfig, compression_level, plackett_luce};
use crate::transfer::TransferDecision;

/// The critic and its optimizer.
pub struct TransferLearner {
    pub(super) critic: Mlp,
    pub(super) critic_optimizer: ModuleOptimizer,
    /// PPO settings.
    pub config: PpoConfig,
}

impl TransferLearner {
    /// A fresh critic for width-`d` states on `device` (with autodiff).
    pub fn new(d: usize, device: &Device) -> Self {
        Self {
            critic: MlpConfig::new(2 * d, 1).init(device),
            critic_optimizer: AdamConfig::new().init(),
            config: PpoConfig::new().with_lr(1e-3),
        }
    }

    fn values(&self, decisions: &[TransferDecision]) -> Tensor<1> {
        let x: Vec<Tensor<2>> = decisions
            .iter()
            .map(|d| Tensor::cat(vec![d.h_mean.clone(), d.ltm_summary.clone()], 1))
            .collect();
        let x = Tensor::cat(x, 0);
        let [n, _] = x.dims();
        self.critic.forward(x).reshape([n])
    }

    /// PPO epochs on one batch of episodes: `decisions` in segment order (each `[B]` rows),
    /// `r_task` per row. Returns the updated model.
    pub fn update(
        &mut self,
        model: Dmn,
        optimizer: &mut ModuleOptimizer,
        decisions: &[TransferDecision],
        r_task: &[f32],
        cost: f32,
    ) -> (Dmn, PolicyStats) {
        let (j, b) = (decisions.len(), r_task.len());
        let device = decisions[0].log_prob.device();
        let old = host(Tensor::cat(
            decisions.iter().map(|d| d.log_prob.clone()).collect(),
            0,
        ));
        let (per_decision, mut stats) = rewards(decisions, r_task, cost);
        let values = host(self.values(decisions).detach());

        // Advantages and returns per row; flattened decision-major like `old`.
        let (mut advantages, mut returns) = (vec![0.0; j * b], vec![0.0; j * b]);
        for row in 0..b {
            let rewards: Vec<f32> = (0..j).map(|t| per_decision[t][row]).collect();
            let v: Vec<f32> = (0..j).map(|t| values[t * b + row]).collect();
            let mut done = vec![false; j];
            done[j - 1] = true;
            let (a, r) = gae(
                &rewards,
                &v,
                &done,
                0.0,
                self.config.gamma,
                self.config.lambda,
            );
            for t in 0..j {
                advantages[t * b + row] = a[t];
                returns[t * b + row] = r[t];
            }
        }
        let n = j * b;
        let mean = advantages.iter().sum::<f32>() / n as f32;
        let std = (advantages.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
        let normalized: Vec<f32> = advantages
            .iter()
            .map(|a| (a - mean) / (std + 1e-8))
            .collect();
        let t1 = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [n]), &device);
        let (adv, ret, old_t) = (t1(normalized), t1(returns), t1(old.clone()));

        let slots = Tensor::cat(decisions.iter().map(|d| d.slots.clone()).collect(), 0);
        let h_mean = Tensor::cat(decisions.iter().map(|d| d.h_mean.clone()).collect(), 0);
        let summary = Tensor::cat(decisions.iter().map(|d| d.ltm_summary.clone()).collect(), 0);
        let picks = Tensor::cat(decisions.iter().map(|d| d.picks.clone()).collect(), 0);
        let levels = Tensor::cat(decisions.iter().map(|d| d.levels.clone()).collect(), 0);

        let mut model = model;
        for _ in 0..self.config.epochs {
            let (z, level_logits) =
                model.policy_logits(slots.clone(), h_mean.clone(), summary.clone());
            let level_logits = compression_level::of_picks(level_logits, picks.clone());
            let new = plackett_luce::log_prob(z.clone(), picks.clone())
                + compression_level::log_prob(level_logits.clone(), levels.clone());
            let ratio = (new.clone() - old_t.clone()).exp();
            let policy = -clipped_surrogate(ratio, adv.clone(), self.config.clip).mean();
            let entropy = plackett_luce::first_pick_entropy(z).mean()
                + compression_level::entropy(level_logits).mean();
            let loss = policy - entropy.clone() * self.config.entropy_coef;
            stats.entropy = entropy.into_scalar::<f32>();
            stats.approx_kl = (old_t.clone() - new.detach()).mean().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(self.config.lr, model, grads);

            let value_loss = (self.values(decisions) - ret.clone()).powi_scalar(2).mean();
            stats.value_loss = value_loss.clone().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(value_loss.backward(), &self.critic);
            self.critic = self
                .critic_optimizer
                .step(self.config.lr, self.critic.clone(), grads);
        }
        (model, stats)
    }
}

impl core::fmt::Debug for TransferLearner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TransferLearner")
            .field("params", &self.critic.num_params())
            .finish()
    }
}
