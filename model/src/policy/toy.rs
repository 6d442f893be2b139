//! A memory problem whose optimal decisions are known, to test the learners.
//!
//! An episode is a sequence of `S` segments; one of them, at a random position, holds the needle.
//! Long-term memory has a single free entry. At each segment the policy decides: transfer the
//! segment into long-term memory (replacing what the entry held) or not. Each transfer costs λ
//! (the compression-economy reward); at the end the task reward is 1 if the entry holds the
//! needle. The optimal policy transfers exactly the needle segment, for a return of 1 − λ.
//!
//! Observation: (segment holds the needle, entry holds the needle, entry holds something else,
//! position in the sequence).

use burn::module::Module;
use burn::optim::AdamConfig;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use super::dqn::{Dqn, DqnConfig, Transition, act, argmax};
use super::gae::gae;
use super::ppo::{ActorCritic, PpoConfig, Rollout, update};
use super::{Mlp, MlpConfig};

/// Observation width.
pub const FEATURES: usize = 4;
/// Actions: 0 keep going, 1 transfer.
pub const ACTIONS: usize = 2;

/// The game's settings.
#[derive(Debug, Clone, Copy)]
pub struct TransferGame {
    /// Segments per episode `S`.
    pub segments: usize,
    /// Cost of one transfer λ.
    pub cost: f32,
}

/// One episode in progress.
#[derive(Debug, Clone)]
pub struct Episode {
    needle: usize,
    t: usize,
    /// What the entry holds: `None`, or `Some(is the needle)`.
    entry: Option<bool>,
}

impl TransferGame {
    /// The best possible expected return.
    pub fn optimal_return(&self) -> f32 {
        1.0 - self.cost
    }

    /// A new episode.
    pub fn start(&self, rng: &mut impl Rng) -> Episode {
        Episode {
            needle: rng.random_range(0..self.segments),
            t: 0,
            entry: None,
        }
    }

    /// The observation of `e`.
    pub fn observe(&self, e: &Episode) -> [f32; FEATURES] {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        [
            flag(e.t == e.needle),
            flag(e.entry == Some(true)),
            flag(e.entry == Some(false)),
            e.t as f32 / self.segments as f32,
        ]
    }

    /// Applies `action`; returns (reward, done).
    pub fn step(&self, e: &mut Episode, action: usize) -> (f32, bool) {
        let mut reward = 0.0;
        if action == 1 {
            e.entry = Some(e.t == e.needle);
            reward -= self.cost;
        }
        e.t += 1;
        let done = e.t == self.segments;
        if done && e.entry == Some(true) {
            reward += 1.0;
        }
        (reward, done)
    }

    /// Mean return of `policy` (observation → action) over `episodes` episodes.
    pub fn evaluate(
        &self,
        episodes: usize,
        seed: u64,
        mut policy: impl FnMut(&[f32; FEATURES]) -> usize,
    ) -> f32 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut total = 0.0;
        for _ in 0..episodes {
            let mut e = self.start(&mut rng);
            loop {
                let action = policy(&self.observe(&e));
                let (r, done) = self.step(&mut e, action);
                total += r;
                if done {
                    break;
                }
            }
        }
        total / episodes as f32
    }
}

/// The toy actor-critic: one perceptron, `ACTIONS` logits and a value.
#[derive(Module, Debug)]
pub struct ToyActorCritic {
    body: Mlp,
}

impl ActorCritic for ToyActorCritic {
    fn evaluate(&self, obs: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let out = self.body.forward(obs);
        let [n, _] = out.dims();
        let logits = out.clone().narrow(1, 0, ACTIONS);
        let value = out.narrow(1, ACTIONS, 1).reshape([n]);
        (logits, value)
    }
}

fn rows(obs: &[[f32; FEATURES]], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = obs.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [obs.len(), FEATURES]), device)
}

/// Trains PPO for `iterations` rollouts of `envs` parallel episodes; returns the greedy policy's
/// mean return over 2 000 held-out episodes.
pub fn train_ppo(game: TransferGame, iterations: usize, envs: usize, seed: u64) -> f32 {
    let device = Device::flex().autodiff();
    device.seed(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let config = PpoConfig::new();
    let mut model = ToyActorCritic {
        body: MlpConfig::new(FEATURES, ACTIONS + 1).init(&device),
    };
    let mut optimizer = AdamConfig::new().init();
    let plain = device.clone().without_autodiff();
    for _ in 0..iterations {
        // Roll out `envs` episodes side by side (all have S steps).
        let policy = model.valid();
        let mut episodes: Vec<Episode> = (0..envs).map(|_| game.start(&mut rng)).collect();
        let s = game.segments;
        let (mut obs, mut actions, mut logps, mut values, mut rewards, mut dones) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..s {
            let o: Vec<[f32; FEATURES]> = episodes.iter().map(|e| game.observe(e)).collect();
            let (logits, v) = policy.evaluate(rows(&o, &plain));
            let p = softmax(logits, 1)
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32");
            let v = v.into_data().try_to_vec::<f32>().expect("f32");
            for (i, e) in episodes.iter_mut().enumerate() {
                let probs = &p[i * ACTIONS..(i + 1) * ACTIONS];
                let a = if rng.random::<f32>() < probs[0] { 0 } else { 1 };
                let (r, done) = game.step(e, a);
                obs.push(o[i]);
                actions.push(a as i64);
                logps.push(probs[a].max(1e-12).ln());
                values.push(v[i]);
                rewards.push(r);
                dones.push(done);
            }
        }
        // Rows are time-major (step, env): GAE per env over its S steps.
        let mut rollout = Rollout {
            features: FEATURES,
            ..Rollout::default()
        };
        for env in 0..envs {
            let idx: Vec<usize> = (0..s).map(|t| t * envs + env).collect();
            let take = |v: &[f32]| idx.iter().map(|&i| v[i]).collect::<Vec<f32>>();
            let d: Vec<bool> = idx.iter().map(|&i| dones[i]).collect();
            let (adv, ret) = gae(
                &take(&rewards),
                &take(&values),
                &d,
                0.0,
                config.gamma,
                config.lambda,
            );
            for (k, &i) in idx.iter().enumerate() {
                rollout.obs.extend_from_slice(&obs[i]);
                rollout.actions.push(actions[i]);
                rollout.log_probs.push(logps[i]);
                rollout.advantages.push(adv[k]);
                rollout.returns.push(ret[k]);
            }
        }
        model = update(model, &mut optimizer, &rollout, &config, &mut rng, &device).0;
    }
    let policy = model.valid();
    game.evaluate(2000, seed ^ 0xfeed, |o| {
        let (logits, _) = policy.evaluate(rows(&[*o], &plain));
        argmax(&logits.into_data().try_to_vec::<f32>().expect("f32"))
    })
}

/// Trains DQN for `decisions` decisions (one update per `envs` decisions); returns the greedy
/// policy's mean return over 2 000 held-out episodes.
pub fn train_dqn(game: TransferGame, decisions: usize, envs: usize, seed: u64) -> f32 {
    let device = Device::flex().autodiff();
    device.seed(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    let config = DqnConfig::new().with_epsilon_decisions(decisions * 2 / 3);
    let mut learner = Dqn::new(MlpConfig::new(FEATURES, ACTIONS).init(&device), config);
    let plain = device.clone().without_autodiff();
    let mut episodes: Vec<Episode> = (0..envs).map(|_| game.start(&mut rng)).collect();
    let mut made = 0;
    while made < decisions {
        let q = learner.q.valid();
        let epsilon = learner.config.epsilon(made);
        for e in episodes.iter_mut() {
            let o = game.observe(e);
            let a = act(&q, &o, epsilon, &mut rng, &plain);
            let (r, done) = game.step(e, a);
            learner.replay.push(Transition {
                obs: o.to_vec(),
                action: a,
                reward: r,
                next_obs: game.observe(e).to_vec(),
                done,
            });
            if done {
                *e = game.start(&mut rng);
            }
            made += 1;
        }
        learner.update(&mut rng, &device);
    }
    let q = learner.q.valid();
    game.evaluate(2000, seed ^ 0xfeed, |o| {
        argmax(
            &q.forward(rows(&[*o], &plain))
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAME: TransferGame = TransferGame {
        segments: 6,
        cost: 0.1,
    };

    #[test]
    fn the_optimal_policy_earns_the_optimal_return_and_others_less() {
        let optimal = GAME.evaluate(500, 1, |o| usize::from(o[0] > 0.5));
        assert!((optimal - GAME.optimal_return()).abs() < 1e-4, "{optimal}");
        let always = GAME.evaluate(500, 1, |_| 1);
        let never = GAME.evaluate(500, 1, |_| 0);
        assert!(always < 0.5 && never == 0.0, "{always} {never}");
    }

    #[test]
    fn ppo_reaches_ninety_percent_of_the_optimal_return() {
        let got = train_ppo(GAME, 40, 64, 7);
        assert!(
            got >= 0.9 * GAME.optimal_return(),
            "PPO: {got} of an optimal {}",
            GAME.optimal_return()
        );
    }

    #[test]
    fn dqn_reaches_ninety_percent_of_the_optimal_return() {
        let got = train_dqn(GAME, 30_000, 32, 7);
        assert!(
            got >= 0.9 * GAME.optimal_return(),
            "DQN: {got} of an optimal {}",
            GAME.optimal_return()
        );
    }
}
