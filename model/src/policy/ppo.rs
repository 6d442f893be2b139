//! Proximal policy optimization (Schulman et al. 2017) over an actor-critic:
//!
//!   ρ = π(a|s) / π_old(a|s)
//!   L_clip = E[min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)]
//!   loss = −L_clip + c_v (V(s) − R)² − c_H H(π(·|s))
//!
//! with advantages A and returns R from [`super::gae`], several epochs of shuffled minibatches
//! per rollout, advantages normalized per minibatch.

use burn::config::Config;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;
use rand::seq::SliceRandom;

/// PPO hyper-parameters.
#[derive(Config, Debug)]
pub struct PpoConfig {
    /// ε of the clipped ratio.
    #[config(default = 0.2)]
    pub clip: f32,
    /// Weight c_v of the value loss.
    #[config(default = 0.5)]
    pub value_coef: f32,
    /// Weight c_H of the entropy bonus.
    #[config(default = 0.01)]
    pub entropy_coef: f32,
    /// Passes over each rollout.
    #[config(default = 4)]
    pub epochs: usize,
    /// Samples per minibatch.
    #[config(default = 128)]
    pub minibatch: usize,
    /// Learning rate.
    #[config(default = 3e-3)]
    pub lr: f64,
    /// Discount γ.
    #[config(default = 1.0)]
    pub gamma: f32,
    /// GAE λ.
    #[config(default = 0.95)]
    pub lambda: f32,
}

/// A policy with a value head: action logits `[N, A]` and values `[N]` for observations `[N, F]`.
pub trait ActorCritic: Module {
    /// Logits and values.
    fn evaluate(&self, obs: Tensor<2>) -> (Tensor<2>, Tensor<1>);
}

/// What the policy did: one row per decision.
#[derive(Debug, Clone, Default)]
pub struct Rollout {
    /// Observation width `F`.
    pub features: usize,
    /// `[N, F]` row-major.
    pub obs: Vec<f32>,
    /// Action taken.
    pub actions: Vec<i64>,
    /// log π_old(a|s) when it was taken.
    pub log_probs: Vec<f32>,
    /// GAE advantages.
    pub advantages: Vec<f32>,
    /// Value targets.
    pub returns: Vec<f32>,
}

/// Per-sample clipped surrogate `min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)`.
pub fn clipped_surrogate(ratio: Tensor<1>, advantages: Tensor<1>, clip: f32) -> Tensor<1> {
    let unclipped = ratio.clone() * advantages.clone();
    let clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * advantages;
    unclipped.min_pair(clipped)
}

/// Figures of one update.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PpoStats {
    /// Mean −L_clip over the last epoch.
    pub policy_loss: f32,
    /// Mean value loss.
    pub value_loss: f32,
    /// Mean policy entropy (nats).
    pub entropy: f32,
    /// Approximate KL(π_old ‖ π): mean of log π_old − log π.
    pub approx_kl: f32,
}

/// The PPO loss of a minibatch and its parts.
pub fn ppo_loss(
    logits: Tensor<2>,
    values: Tensor<1>,
    actions: Tensor<1, Int>,
    old_log_probs: Tensor<1>,
    advantages: Tensor<1>,
    returns: Tensor<1>,
    config: &PpoConfig,
) -> (Tensor<1>, PpoStats) {
    let [n, _] = logits.dims();
    let log_p = log_softmax(logits, 1);
    let taken = log_p
        .clone()
        .gather(1, actions.reshape([n, 1]))
        .reshape([n]);
    let ratio = (taken.clone() - old_log_probs.clone()).exp();
    let policy = -clipped_surrogate(ratio, advantages, config.clip).mean();
    let value = (values - returns).powi_scalar(2).mean();
    let entropy = -(log_p.clone().exp() * log_p).sum_dim(1).mean();
    let kl = (old_log_probs - taken).mean();
    let total =
        policy.clone() + value.clone() * config.value_coef - entropy.clone() * config.entropy_coef;
    let scalar = |t: Tensor<1>| t.into_scalar::<f32>();
    let stats = PpoStats {
        policy_loss: scalar(policy),
        value_loss: scalar(value),
        entropy: scalar(entropy),
        approx_kl: scalar(kl),
    };
    (total, stats)
}

/// Several epochs of minibatch updates on `rollout`; returns the model and the last epoch's
/// mean figures.
pub fn update<M: ActorCritic>(
    mut model: M,
    optimizer: &mut ModuleOptimizer,
    rollout: &Rollout,
    config: &PpoConfig,
    rng: &mut impl Rng,
    device: &Device,
) -> (M, PpoStats) {
    let n = rollout.actions.len();
    let f = rollout.features;
    let mut order: Vec<usize> = (0..n).collect();
    let mut last = PpoStats::default();
    for _ in 0..config.epochs {
        order.shuffle(rng);
        let mut sums = PpoStats::default();
        let mut batches = 0;
        for chunk in order.chunks(config.minibatch.max(1)) {
            let m = chunk.len();
            let pick = |v: &[f32]| chunk.iter().map(|&i| v[i]).collect::<Vec<f32>>();
            let obs: Vec<f32> = chunk
                .iter()
                .flat_map(|&i| rollout.obs[i * f..(i + 1) * f].iter().copied())
                .collect();
            let mut adv = pick(&rollout.advantages);
            let mean = adv.iter().sum::<f32>() / m as f32;
            let std = (adv.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / m as f32).sqrt();
            adv.iter_mut().for_each(|a| *a = (*a - mean) / (std + 1e-8));
            let t1 = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [m]), device);
            let actions: Vec<i64> = chunk.iter().map(|&i| rollout.actions[i]).collect();
            let (logits, values) =
                model.evaluate(Tensor::from_data(TensorData::new(obs, [m, f]), device));
            let (loss, stats) = ppo_loss(
                logits,
                values,
                Tensor::from_data(TensorData::new(actions, [m]), device),
                t1(pick(&rollout.log_probs)),
                t1(adv),
                t1(pick(&rollout.returns)),
                config,
            );
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(config.lr, model, grads);
            sums.policy_loss += stats.policy_loss;
            sums.value_loss += stats.value_loss;
            sums.entropy += stats.entropy;
            sums.approx_kl += stats.approx_kl;
            batches += 1;
        }
        let k = batches.max(1) as f32;
        last = PpoStats {
            policy_loss: sums.policy_loss / k,
            value_loss: sums.value_loss / k,
            entropy: sums.entropy / k,
            approx_kl: sums.approx_kl / k,
        };
    }
    (model, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t1(v: &[f32]) -> Tensor<1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Device::flex())
    }

    #[test]
    fn clipped_surrogate_matches_hand_worked_cases() {
        // ε = 0.2:
        //   ρ = 1.5, A = 2  → min(3.0, 1.2·2) = 2.4      (gain capped)
        //   ρ = 0.5, A = −1 → min(−0.5, 0.8·−1) = −0.8   (loss not capped)
        //   ρ = 1.1, A = 1  → 1.1                          (inside the clip range)
        //   ρ = 0.5, A = 3  → min(1.5, 2.4) = 1.5
        let got = clipped_surrogate(t1(&[1.5, 0.5, 1.1, 0.5]), t1(&[2.0, -1.0, 1.0, 3.0]), 0.2)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let want = [2.4, -0.8, 1.1, 1.5];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn loss_of_an_unchanged_policy_has_zero_kl_and_uniform_entropy() {
        let device = Device::flex();
        // Two actions, equal logits: π = (½, ½), entropy ln 2, log π_old = ln ½ → ρ = 1.
        let logits = Tensor::<2>::zeros([2, 2], &device);
        let half = (0.5f32).ln();
        let (loss, stats) = ppo_loss(
            logits,
            t1(&[0.0, 1.0]),
            Tensor::from_data(TensorData::new(vec![0i64, 1], [2]), &device),
            t1(&[half, half]),
            t1(&[1.0, -1.0]),
            t1(&[1.0, 1.0]),
            &PpoConfig::new(),
        );
        // −mean(ρA) = 0; value loss = mean((0−1)², (1−1)²) = 0.5; entropy ln 2.
        assert!(stats.approx_kl.abs() < 1e-6);
        assert!((stats.entropy - 2f32.ln()).abs() < 1e-6);
        assert!((stats.value_loss - 0.5).abs() < 1e-6);
        assert!(stats.policy_loss.abs() < 1e-6);
        let total = loss.into_scalar::<f32>();
        assert!((total - (0.25 - 0.01 * 2f32.ln())).abs() < 1e-6, "{total}");
    }
}
