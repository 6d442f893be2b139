//! Q-learning (seed 001) in the DQN style (Mnih et al. 2015): a Q-network trained on minibatches
//! replayed from past decisions against the targets
//!
//!   y = r + γ (1 − done) max_a' Q_target(s', a')
//!
//! of a target network that follows the Q-network every `target_every` updates; actions are
//! ε-greedy with ε decaying linearly.

use burn::config::Config;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, RngExt};

use super::Mlp;

/// DQN hyper-parameters.
#[derive(Config, Debug)]
pub struct DqnConfig {
    /// Discount γ.
    #[config(default = 1.0)]
    pub gamma: f32,
    /// Transitions per update.
    #[config(default = 128)]
    pub batch: usize,
    /// Transitions the replay buffer keeps.
    #[config(default = 20000)]
    pub capacity: usize,
    /// Updates between copies of the Q-network into the target network.
    #[config(default = 50)]
    pub target_every: usize,
    /// Learning rate.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// ε at the start.
    #[config(default = 1.0)]
    pub epsilon_start: f64,
    /// ε at the end of the decay.
    #[config(default = 0.05)]
    pub epsilon_end: f64,
    /// Decisions over which ε decays.
    #[config(default = 20000)]
    pub epsilon_decisions: usize,
}

impl DqnConfig {
    /// ε after `decisions` decisions.
    pub fn epsilon(&self, decisions: usize) -> f64 {
        let t = (decisions as f64 / self.epsilon_decisions.max(1) as f64).min(1.0);
        self.epsilon_start + (self.epsilon_end - self.epsilon_start) * t
    }
}

/// One decision and what followed.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Observation before.
    pub obs: Vec<f32>,
    /// Action taken.
    pub action: usize,
    /// Reward received.
    pub reward: f32,
    /// Observation after.
    pub next_obs: Vec<f32>,
    /// Whether the episode ended.
    pub done: bool,
}

/// A ring buffer of transitions.
#[derive(Debug, Clone)]
pub struct Replay<T = Transition> {
    capacity: usize,
    items: Vec<T>,
    next: usize,
}

impl<T> Replay<T> {
    /// An empty buffer keeping the newest `capacity` transitions.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            items: Vec::new(),
            next: 0,
        }
    }

    /// Adds a transition, replacing the oldest when full.
    pub fn push(&mut self, t: T) {
        if self.items.len() < self.capacity {
            self.items.push(t);
        } else {
            self.items[self.next] = t;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    /// Transitions held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `n` transitions drawn uniformly with replacement.
    pub fn sample(&self, rng: &mut impl Rng, n: usize) -> Vec<&T> {
        (0..n)
            .map(|_| &self.items[rng.random_range(0..self.items.len())])
            .collect()
    }
}

/// ε-greedy action of `q` for one observation.
pub fn act(q: &Mlp, obs: &[f32], epsilon: f64, rng: &mut impl Rng, device: &Device) -> usize {
    let values = q
        .forward(Tensor::from_data(
            TensorData::new(obs.to_vec(), [1, obs.len()]),
            device,
        ))
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 Q-values");
    if rng.random::<f64>() < epsilon {
        rng.random_range(0..values.len())
    } else {
        argmax(&values)
    }
}

/// Index of the largest value (the first among ties).
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &v)| if v > b.1 { (i, v) } else { b },
        )
        .0
}

/// Mean squared TD error of `q` on `batch` against `target`'s bootstrapped targets.
pub fn td_loss(
    q: &Mlp,
    target: &Mlp,
    batch: &[&Transition],
    gamma: f32,
    device: &Device,
) -> Tensor<1> {
    let n = batch.len();
    let f = batch[0].obs.len();
    let rows = |get: &dyn Fn(&Transition) -> &[f32]| {
        let flat: Vec<f32> = batch.iter().flat_map(|t| get(t).iter().copied()).collect();
        Tensor::<2>::from_data(TensorData::new(flat, [n, f]), device)
    };
    let next_max: Vec<f32> = target
        .forward(rows(&|t| &t.next_obs))
        .max_dim(1)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 Q-values");
    let y: Vec<f32> = batch
        .iter()
        .zip(next_max)
        .map(|(t, m)| t.reward + if t.done { 0.0 } else { gamma * m })
        .collect();
    let actions: Vec<i64> = batch.iter().map(|t| t.action as i64).collect();
    let taken = q
        .forward(rows(&|t| &t.obs))
        .gather(
            1,
            Tensor::<1, Int>::from_data(TensorData::new(actions, [n]), device).reshape([n, 1]),
        )
        .reshape([n]);
    (taken - Tensor::from_data(TensorData::new(y, [n]), device))
        .powi_scalar(2)
        .mean()
}

/// The learner: Q-network, target network, replay and optimizer.
pub struct Dqn {
    /// The Q-network being trained.
    pub q: Mlp,
    /// The target network.
    pub target: Mlp,
    /// Past decisions.
    pub replay: Replay,
    /// Settings.
    pub config: DqnConfig,
    optimizer: ModuleOptimizer,
    updates: usize,
}

impl Dqn {
    /// A learner for `q` (on an autodiff device).
    pub fn new(q: Mlp, config: DqnConfig) -> Self {
        Self {
            target: q.clone(),
            replay: Replay::new(config.capacity),
            optimizer: burn::optim::AdamConfig::new().init(),
            q,
            config,
            updates: 0,
        }
    }

    /// One update from a replayed minibatch (nothing until a minibatch is available); returns
    /// the TD loss.
    pub fn update(&mut self, rng: &mut impl Rng, device: &Device) -> Option<f32> {
        if self.replay.len() < self.config.batch {
            return None;
        }
        let batch = self.replay.sample(rng, self.config.batch);
        let target = self.target.valid();
        let loss = td_loss(&self.q, &target, &batch, self.config.gamma, device);
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &self.q);
        self.q = self.optimizer.step(self.config.lr, self.q.clone(), grads);
        self.updates += 1;
        if self.updates.is_multiple_of(self.config.target_every) {
            self.target = self.q.clone();
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn replay_keeps_the_newest_transitions() {
        let t = |r: f32| Transition {
            obs: vec![0.0],
            action: 0,
            reward: r,
            next_obs: vec![0.0],
            done: true,
        };
        let mut replay = Replay::new(2);
        for r in [1.0, 2.0, 3.0] {
            replay.push(t(r));
        }
        assert_eq!(replay.len(), 2);
        let mut rewards: Vec<f32> = replay
            .sample(&mut StdRng::seed_from_u64(0), 50)
            .iter()
            .map(|t| t.reward)
            .collect();
        rewards.sort_by(f32::total_cmp);
        rewards.dedup();
        assert_eq!(rewards, vec![2.0, 3.0]);
    }

    #[test]
    fn epsilon_decays_linearly_then_stays() {
        let c = DqnConfig::new().with_epsilon_decisions(100);
        assert_eq!(c.epsilon(0), 1.0);
        assert!((c.epsilon(50) - 0.525).abs() < 1e-12);
        assert!((c.epsilon(500) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn td_target_is_zero_past_the_end_of_an_episode() {
        // With done, y = r whatever the target network says: a zero Q-network has loss r².
        let device = Device::flex();
        let q = super::super::MlpConfig::new(1, 2).init(&device);
        let zero = q.clone().map(&mut Zero);
        let t = Transition {
            obs: vec![1.0],
            action: 1,
            reward: 3.0,
            next_obs: vec![1.0],
            done: true,
        };
        let loss = td_loss(&zero, &q, &[&t], 0.9, &device).into_scalar::<f32>();
        assert!((loss - 9.0).abs() < 1e-5, "{loss}");
    }

    /// Sets every parameter to 0.
    struct Zero;
    impl burn::module::ModuleMapper for Zero {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            param.map(|t| t.zeros_like())
        }
    }
}
