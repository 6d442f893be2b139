//! Learning the model's transfer policy: PPO ([`crate::TransferPolicy::Ppo`]) and Q-learning
//! ([`crate::TransferPolicy::Dqn`]).
//!
//! An episode is one sequence of a training batch; its decisions are the transfers at the ends of
//! its segments: which `m` slots move, and the compression level of each (level 0 discards it).
//! Each decision earns `λ · r_comp` with `r_comp = −(fraction of the latent width the moved
//! entries keep)`, and the last one also earns `r_task`, the sequence's accuracy on its scored
//! positions. A small critic over (mean encoder state, long-term summary) gives the values for
//! GAE; the policy is the importance head's Plackett–Luce distribution times the compression
//! head's per-slot categorical, re-evaluated on the detached inputs each decision was taken from.
//!
//! Q-learning reads the importance head's logits as per-slot Q-values and the compression head's
//! as per-(slot, level) Q-values: a decision's m picked slots and their m levels are actions
//! sharing its reward, with targets `r + γ · mean of the m best target-network slot values of the
//! next decision` (0 after the last), replayed from a buffer of past decisions.
//!
//! A learner's state goes into checkpoints ([`PolicyLearner::snapshot`]): PPO's critic and its
//! optimizer, Q-learning's target network and schedule position. The replay buffer does not:
//! after a resume it fills again from new decisions.

mod ppo;
mod q_learning;

pub use ppo::TransferLearner;
pub use q_learning::QTransferLearner;

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor};

use crate::config::TransferPolicy;
use crate::model::Dmn;
use crate::transfer::TransferDecision;

/// Figures of one policy update (written to `metrics.jsonl`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PolicyStats {
    /// Mean undiscounted return of an episode.
    pub episode_reward: f32,
    /// Mean task reward (accuracy of a sequence).
    pub r_task: f32,
    /// Mean compression reward per decision (before λ).
    pub r_comp: f32,
    /// Mean entropy of the first pick (nats).
    pub entropy: f32,
    /// Approximate KL between the policy before and after the update.
    pub approx_kl: f32,
    /// Critic loss.
    pub value_loss: f32,
    /// Entries stored per decision (picks not discarded), averaged over the batch.
    pub transfers_per_update: f32,
    /// Exploration ε of the step (Q-learning; 0 for PPO).
    pub epsilon: f32,
}

/// Why a learner's state cannot be saved into, or restored from, a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum PolicyStateError {
    /// A record did not serialize.
    #[error("cannot serialize the {what} ({reason})")]
    Serialize {
        /// What was being saved.
        what: &'static str,
        /// Burn's error.
        reason: String,
    },
    /// A checkpoint file did not load.
    #[error("{file} is corrupt ({reason})")]
    Corrupt {
        /// The file in the checkpoint.
        file: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

/// Reads a `[N]` tensor back to the host.
pub(crate) fn host(t: Tensor<1>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("an f32 tensor reads back as f32")
}

/// The learner of a learned transfer policy.
pub enum PolicyLearner {
    /// PPO with a critic.
    Ppo(TransferLearner),
    /// Q-learning with replay and a target network.
    Dqn(QTransferLearner),
}

impl PolicyLearner {
    /// The learner `policy` needs (none for the importance head and LRU), for width-`d` states
    /// on `device`.
    pub fn for_policy(policy: TransferPolicy, d: usize, device: &Device) -> Option<Self> {
        match policy {
            TransferPolicy::Ppo => Some(Self::Ppo(TransferLearner::new(d, device))),
            TransferPolicy::Dqn => Some(Self::Dqn(QTransferLearner::default())),
            TransferPolicy::Importance | TransferPolicy::Lru => None,
        }
    }

    /// The exploration ε of the coming step (Q-learning only).
    pub fn exploration(&self) -> Option<f32> {
        match self {
            Self::Ppo(_) => None,
            Self::Dqn(q) => Some(q.epsilon()),
        }
    }

    /// One update from a training step's `decisions` and each sequence's task reward.
    pub fn update(
        &mut self,
        model: Dmn,
        optimizer: &mut ModuleOptimizer,
        decisions: &[TransferDecision],
        r_task: &[f32],
        cost: f32,
    ) -> (Dmn, PolicyStats) {
        match self {
            Self::Ppo(l) => l.update(model, optimizer, decisions, r_task, cost),
            Self::Dqn(l) => l.update(model, optimizer, decisions, r_task, cost),
        }
    }
}

impl PolicyLearner {
    /// The learner's state as named files for a checkpoint: PPO's critic and its optimizer;
    /// Q-learning's schedule position and target network.
    pub fn snapshot(&self) -> Result<Vec<(&'static str, Vec<u8>)>, PolicyStateError> {
        let bytes = |r: Result<Bytes, burn::store::RecordError>, what: &'static str| {
            r.map(|b| b.to_vec())
                .map_err(|e| PolicyStateError::Serialize {
                    what,
                    reason: format!("{e:?}"),
                })
        };
        match self {
            Self::Ppo(l) => Ok(vec![
                (
                    "critic.bpk",
                    bytes(l.critic.clone().into_record().into_bytes(), "critic")?,
                ),
                (
                    "critic-optimizer.bpk",
                    bytes(l.critic_optimizer.into_bytes(), "critic's optimizer")?,
                ),
            ]),
            Self::Dqn(q) => {
                let mut files = vec![(
                    "q-learning.json",
                    serde_json::to_vec(&serde_json::json!({
                        "steps": q.steps,
                        "updates": q.updates,
                    }))
                    .expect("two integers serialize"),
                )];
                if let Some(target) = &q.target {
                    let record = target.clone().into_record().into_bytes();
                    files.push(("target.bpk", bytes(record, "target network")?));
                }
                Ok(files)
            }
        }
    }

    /// Restores what [`Self::snapshot`] saved; `read(name)` gives a file's bytes, or `None` when
    /// the checkpoint lacks it (written before the learner was saved: the learner then starts
    /// afresh). `model` is the restored model, the template of Q-learning's target network.
    pub fn restore(
        &mut self,
        read: impl Fn(&str) -> Option<Vec<u8>>,
        model: &Dmn,
    ) -> Result<(), PolicyStateError> {
        let corrupt = |file: &'static str, e: &dyn core::fmt::Debug| PolicyStateError::Corrupt {
            file,
            reason: format!("{e:?}"),
        };
        match self {
            Self::Ppo(l) => {
                if let Some(b) = read("critic.bpk") {
                    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(b))
                        .map_err(|e| corrupt("critic.bpk", &e))?;
                    l.critic = l
                        .critic
                        .clone()
                        .try_load_record(record)
                        .map_err(|e| corrupt("critic.bpk", &e))?;
                }
                if let Some(b) = read("critic-optimizer.bpk") {
                    let record = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(b))
                        .map_err(|e| corrupt("critic-optimizer.bpk", &e))?;
                    l.critic_optimizer = l.critic_optimizer.clone().load_record(record);
                }
            }
            Self::Dqn(q) => {
                if let Some(b) = read("q-learning.json") {
                    let v: serde_json::Value =
                        serde_json::from_slice(&b).map_err(|e| corrupt("q-learning.json", &e))?;
                    let count = |k: &str| {
                        v[k].as_u64()
                            .map(|n| n as usize)
                            .ok_or_else(|| PolicyStateError::Corrupt {
                                file: "q-learning.json",
                                reason: format!("no count \"{k}\""),
                            })
                    };
                    q.steps = count("steps")?;
                    q.updates = count("updates")?;
                }
                if let Some(b) = read("target.bpk") {
                    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(b))
                        .map_err(|e| corrupt("target.bpk", &e))?;
                    let target = model
                        .clone()
                        .try_load_record(record)
                        .map_err(|e| corrupt("target.bpk", &e))?;
                    q.target = Some(target);
                }
            }
        }
        Ok(())
    }
}

/// Rewards per decision (decision-major, `[J][B]`) and their parts: `λ r_comp` at every
/// decision, plus `r_task` at the last.
fn rewards(
    decisions: &[TransferDecision],
    r_task: &[f32],
    cost: f32,
) -> (Vec<Vec<f32>>, PolicyStats) {
    let (j, b) = (decisions.len(), r_task.len());
    // One readback for every decision: the width fractions `[J·B]`, then the entries stored.
    let mut parts: Vec<Tensor<1>> = decisions
        .iter()
        .map(|d| -d.width_fraction.clone())
        .collect();
    parts.extend(
        decisions
            .iter()
            .map(|d| d.levels.clone().greater_elem(0).float().sum().reshape([1])),
    );
    let flat = if parts.is_empty() {
        Vec::new()
    } else {
        host(Tensor::cat(parts, 0))
    };
    let comp: Vec<Vec<f32>> = flat[..j * b]
        .chunks(b.max(1))
        .map(<[f32]>::to_vec)
        .collect();
    let stored: f32 = flat[j * b..].iter().sum();
    let rewards: Vec<Vec<f32>> = (0..j)
        .map(|t| {
            (0..b)
                .map(|row| cost * comp[t][row] + if t + 1 == j { r_task[row] } else { 0.0 })
                .collect()
        })
        .collect();
    let stats = PolicyStats {
        episode_reward: rewards.iter().flatten().sum::<f32>() / b as f32,
        r_task: r_task.iter().sum::<f32>() / b as f32,
        r_comp: comp.iter().flatten().sum::<f32>() / (j * b) as f32,
        transfers_per_update: stored / (j * b) as f32,
        ..PolicyStats::default()
    };
    (rewards, stats)
}
