//! The memory-management policy, learned by reinforcement learning (seed 000 §2.3: PPO; seed 001:
//! Q-learning).
//!
//! Which working-memory slots move to long-term memory, how hard they are compressed and what is
//! discarded are discrete decisions taken at every memory update. The reward is the task reward
//! plus λ times a compression-economy reward, discounted by γ. This module holds the learners,
//! independent of the model:
//!
//! - [`gae`]: generalized advantage estimation;
//! - [`ppo`]: the clipped surrogate objective, value and entropy terms, minibatch epochs over an
//!   actor-critic;
//! - [`dqn`]: Q-learning with a replay buffer, a target network and ε-greedy exploration;
//! - [`plackett_luce`]: which `m` of `K` slots move (ordered picks without replacement);
//! - [`compression_level`]: how hard each moved slot is compressed, or whether it is discarded;
//! - [`toy`]: a memory problem whose optimal decisions are known (keep the one segment holding
//!   the needle when long-term memory has one free entry), on which both learners are tested;
//! - [`learner`]: both learners applied to the model's transfer decisions
//!   ([`crate::transfer`]).

pub mod compression_level;
pub mod dqn;
pub mod gae;
pub mod learner;
pub mod plackett_luce;
pub mod ppo;
pub mod toy;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// A two-layer perceptron `F → hidden → out`, the body of the toy actor-critic and Q-network.
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input features.
    pub input: usize,
    /// Hidden units.
    #[config(default = 32)]
    pub hidden: usize,
    /// Outputs.
    pub output: usize,
}

/// See [`MlpConfig`].
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Linear,
    out: Linear,
}

impl MlpConfig {
    /// Initializes the perceptron.
    pub fn init(&self, device: &Device) -> Mlp {
        Mlp {
            hidden: LinearConfig::new(self.input, self.hidden).init(device),
            out: LinearConfig::new(self.hidden, self.output).init(device),
        }
    }
}

impl Mlp {
    /// `[N, F] → [N, out]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out.forward(relu(self.hidden.forward(x)))
    }
}
