//! The transfer from working to long-term memory at a segment's end (§2.1.3), the arrow of the
//! picture between the two memories: which slots move, and how hard each is compressed.
//!
//! The controller's importance head scores every slot. What moves depends on the
//! [`TransferPolicy`]: the `m` highest-scored slots (the supervised policy), the `m` least used
//! (LRU), or a learned policy's picks and compression levels, sampled or ε-greedy while
//! training and greedy otherwise. A learned policy's choice is recorded as a
//! [`TransferDecision`] so that its learner ([`crate::policy::learner`]) can re-evaluate it.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Int, Tensor};

use crate::config::TransferPolicy;
use crate::controller::MemoryController;
use crate::long_term_memory::{LongTermMemory, LongTermMemoryState, Transfer};
use crate::ops::top_k;
use crate::policy::{compression_level, plackett_luce};

/// A learned policy's transfer decision at a segment's end, with what it was decided from
/// (detached), so that policy updates can re-evaluate it.
#[derive(Debug, Clone)]
pub struct TransferDecision {
    /// Working-memory slots, `[B, K, D]`.
    pub slots: Tensor<3>,
    /// Mean encoder state of the segment, `[B, D]`.
    pub h_mean: Tensor<2>,
    /// Long-term summary, `[B, D]`.
    pub ltm_summary: Tensor<2>,
    /// Slots moved, in pick order, `[B, m]`.
    pub picks: Tensor<2, Int>,
    /// Compression level of each pick (an index into [`compression_level::LEVELS`]; 0 discards
    /// it), `[B, m]`.
    pub levels: Tensor<2, Int>,
    /// log π(picks, levels) when decided, `[B]`.
    pub log_prob: Tensor<1>,
    /// Fraction of the latent width the moved entries keep (mean over them), `[B]`.
    pub width_fraction: Tensor<1>,
}

impl TransferDecision {
    /// The same decision with its tensors on `device`.
    pub fn to_device(self, device: &Device) -> Self {
        Self {
            slots: self.slots.to_device(device),
            h_mean: self.h_mean.to_device(device),
            ltm_summary: self.ltm_summary.to_device(device),
            picks: self.picks.to_device(device),
            levels: self.levels.to_device(device),
            log_prob: self.log_prob.to_device(device),
            width_fraction: self.width_fraction.to_device(device),
        }
    }
}

/// What a transfer is decided from.
#[derive(Debug, Clone)]
pub struct TransferInputs {
    /// Working-memory slots at the segment's end, `[B, K, D]`.
    pub slots: Tensor<3>,
    /// Their usage, `[B, K]` (what LRU ranks by).
    pub usage: Tensor<2>,
    /// Mean encoder state of the segment, `[B, D]`.
    pub h_mean: Tensor<2>,
    /// Mean of the long-term entries, `[B, D]`.
    pub ltm_summary: Tensor<2>,
}

/// What a transfer did.
#[derive(Debug, Clone)]
pub struct TransferOutcome {
    /// Which slots moved, where to, and how they were compressed.
    pub transfer: Transfer,
    /// Every slot's importance, `[B, K]`.
    pub importance: Tensor<2>,
    /// A learned policy's decision (PPO, DQN), for its update.
    pub decision: Option<TransferDecision>,
}

/// How the model chooses what moves: the configured policy and, for the Q-learned one, its
/// exploration rate while training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TransferRule {
    pub(crate) policy: TransferPolicy,
    /// ε of the Q-learned policy's exploration while training.
    pub(crate) exploration: f32,
}

/// A learned policy's picks and their compression levels, before the transfer carries them out.
struct LearnedChoice {
    picks: Tensor<2, Int>,
    levels: Tensor<2, Int>,
    log_prob: Tensor<1>,
}

impl TransferRule {
    /// Moves slots from working memory into `state` and returns the memory after it; `sample`
    /// explores (training) where the policy can.
    pub(crate) fn apply(
        &self,
        ltm: &LongTermMemory,
        controller: &MemoryController,
        state: LongTermMemoryState,
        inputs: TransferInputs,
        sample: bool,
    ) -> (LongTermMemoryState, TransferOutcome) {
        let m = ltm.per_level();
        let (logits, level_logits) = controller.policy_logits(
            inputs.slots.clone(),
            inputs.h_mean.clone(),
            inputs.ltm_summary.clone(),
        );
        let importance = sigmoid(logits.clone());
        let learned = match (self.policy, level_logits) {
            (TransferPolicy::Ppo | TransferPolicy::Dqn, Some(level_logits)) => {
                Some(self.choose(logits.detach(), level_logits.detach(), m, sample))
            }
            _ => None,
        };
        let picks = match (&learned, self.policy) {
            (Some(choice), _) => choice.picks.clone(),
            (None, TransferPolicy::Lru) => top_k(inputs.usage.clone().neg(), m, 1).1,
            (None, _) => top_k(importance.clone(), m, 1).1,
        };
        let keep = learned
            .as_ref()
            .map(|choice| compression_level::fractions(choice.levels.clone()));
        let (state, transfer) = ltm.transfer_slots(
            state,
            inputs.slots.clone(),
            importance.clone(),
            picks,
            keep,
            sample,
        );
        let decision = learned.map(|choice| {
            let [b, _] = choice.picks.dims();
            let latent = ltm.latent_width() as f64;
            let width = transfer.compressed.width.clone().detach().mean_dim(1) / latent;
            TransferDecision {
                slots: inputs.slots.detach(),
                h_mean: inputs.h_mean.detach(),
                ltm_summary: inputs.ltm_summary.detach(),
                picks: choice.picks,
                levels: choice.levels,
                log_prob: choice.log_prob,
                width_fraction: width.reshape([b]),
            }
        });
        let outcome = TransferOutcome {
            transfer,
            importance,
            decision,
        };
        (state, outcome)
    }

    /// A learned policy's `m` picks from the slot scores `z` `[B, K]` and a compression level
    /// for each from `level_logits` `[B, K, C]`: sampled (PPO) or ε-greedy (Q-learning) while
    /// training, the most likely otherwise.
    fn choose(
        &self,
        z: Tensor<2>,
        level_logits: Tensor<3>,
        m: usize,
        sample: bool,
    ) -> LearnedChoice {
        let ppo = self.policy == TransferPolicy::Ppo;
        let picks = match (ppo, sample) {
            (true, true) => plackett_luce::sample(z.clone(), m),
            (false, true) => epsilon_greedy(z.clone(), m, self.exploration),
            _ => top_k(z.clone(), m, 1).1,
        };
        let level_logits = compression_level::of_picks(level_logits, picks.clone());
        let levels = match (ppo, sample) {
            (true, true) => compression_level::sample(level_logits.clone()),
            (false, true) => {
                compression_level::epsilon_greedy(level_logits.clone(), self.exploration)
            }
            _ => compression_level::greedy(level_logits.clone()),
        };
        LearnedChoice {
            log_prob: plackett_luce::log_prob(z, picks.clone())
                + compression_level::log_prob(level_logits, levels.clone()),
            picks,
            levels,
        }
    }
}

/// The `m` best slots by `z` `[B, K]`, except that each row, with probability `epsilon`, takes
/// `m` slots at random instead.
fn epsilon_greedy(z: Tensor<2>, m: usize, epsilon: f32) -> Tensor<2, Int> {
    let [b, k] = z.dims();
    let device = z.device();
    let unit = Distribution::Uniform(0.0, 1.0);
    let explore = Tensor::<2>::random([b, 1], unit, &device)
        .lower_elem(epsilon)
        .float();
    let noise = Tensor::<2>::random([b, k], unit, &device);
    let scores = z * (explore.clone().neg() + 1.0) + noise * explore;
    top_k(scores, m, 1).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::tokens;
    use crate::{DmnConfig, ForwardOptions};
    use burn::tensor::TensorData;

    #[test]
    fn lru_transfer_moves_the_least_used_slots() {
        let device = Device::flex();
        let config = DmnConfig::tiny(20).with_transfer_policy(TransferPolicy::Lru);
        let model = config.init(&device).unwrap();
        let state = model.init_state(1, &device);
        let options = ForwardOptions {
            sample: false,
            trace: true,
        };
        let (out, next) = model.forward_segment(state, tokens(1, 21, 20, &device), options);
        let usage = next
            .working
            .unwrap()
            .usage
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let moved = out.trace.unwrap().read().transfer.unwrap().slots;
        // Every moved slot is used no more than any slot that stayed (ties may go either way).
        let is_moved = |i: usize| moved.contains(&(i as u32));
        let most_moved = (0..usage.len()).filter(|&i| is_moved(i)).map(|i| usage[i]);
        let least_kept = (0..usage.len()).filter(|&i| !is_moved(i)).map(|i| usage[i]);
        let (hi, lo) = (
            most_moved.fold(f32::MIN, f32::max),
            least_kept.fold(f32::MAX, f32::min),
        );
        assert!(
            !moved.is_empty() && hi <= lo,
            "moved {moved:?}, usage {usage:?}"
        );
    }

    #[test]
    fn epsilon_greedy_is_greedy_at_0_and_random_at_1() {
        let device = Device::flex();
        device.seed(5);
        let z = Tensor::<2>::from_data(
            TensorData::new([0.0f32, 1.0, 2.0, 3.0].repeat(200), [200, 4]),
            &device,
        );
        let picks = |eps: f32| {
            let p = epsilon_greedy(z.clone(), 1, eps)
                .into_data()
                .convert::<i64>();
            p.try_to_vec::<i64>().unwrap()
        };
        assert!(picks(0.0).iter().all(|&p| p == 3));
        let random = picks(1.0);
        let best = random.iter().filter(|&&p| p == 3).count() as f64 / 200.0;
        assert!((best - 0.25).abs() < 0.1, "{best}");
    }

    #[test]
    fn ppo_transfer_records_its_decision() {
        let device = Device::flex();
        let config = DmnConfig::tiny(20).with_transfer_policy(TransferPolicy::Ppo);
        let model = config.init(&device).unwrap();
        for sample in [true, false] {
            let options = ForwardOptions {
                sample,
                trace: true,
            };
            let state = model.init_state(3, &device);
            let (out, _) = model.forward_segment(state, tokens(3, 16, 20, &device), options);
            let d = out.decision.expect("a PPO transfer records its decision");
            let m = d.picks.dims()[1];
            assert_eq!(d.picks.dims(), [3, m]);
            assert_eq!(d.levels.dims(), [3, m]);
            let levels = d.levels.clone().into_data().convert::<i64>();
            let levels = levels.try_to_vec::<i64>().unwrap();
            assert!(
                levels
                    .iter()
                    .all(|&l| (0..compression_level::LEVELS.len() as i64).contains(&l))
            );
            let lp = d.log_prob.into_data().try_to_vec::<f32>().unwrap();
            assert!(lp.iter().all(|&x| x <= 0.0 && x.is_finite()), "{lp:?}");
            let w = d.width_fraction.into_data().try_to_vec::<f32>().unwrap();
            assert!(w.iter().all(|&x| (0.0..=1.0).contains(&x)), "{w:?}");
            // What moved is what the decision says.
            let moved = out.trace.unwrap().read().transfer.unwrap().slots;
            let picks = d.picks.narrow(0, 0, 1).into_data().convert::<i64>();
            let picks: Vec<u32> = picks
                .try_to_vec::<i64>()
                .unwrap()
                .iter()
                .map(|&p| p as u32)
                .collect();
            assert_eq!(moved, picks);
        }
        // Other policies record nothing.
        let plain = DmnConfig::tiny(20).init(&device).unwrap();
        let (out, _) = plain.forward_segment(
            plain.init_state(1, &device),
            tokens(1, 16, 20, &device),
            ForwardOptions::default(),
        );
        assert!(out.decision.is_none());
    }
}
