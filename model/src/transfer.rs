//! The transfer from working to long-term memory at a segment's end (§2.1.3), the arrow of the
//! picture between the two memories: which slots move, and how hard each is compressed.
//!
//! The controller's importance head scores every slot. What moves depends on the
//! [`TransferPolicy`]: the `m` highest-scored slots (the supervised policy), the `m` least used
//! (LRU), or a learned policy's picks and compression levels, sampled or ε-greedy while
//! training and greedy otherwise. A learned policy's choice is recorded as a
//! [`TransferDecision`] so that its learner ([`crate::policy::learner`]) can re-evaluate it.
//!
//! Only a slot the segment wrote can move: a slot no update touched is bit-identical to what it
//! was at the previous transfer, which already had its chance to move it. Moving it again would
//! only copy it, and over a long gap without writes the copies of the last few entries would
//! crowd out everything older. The fixed policies choose among the written slots first; a pick
//! of an unwritten slot, by any policy, moves nothing (it is discarded, as a learned policy's
//! discard is).

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Distribution, Int, Tensor};

use crate::config::TransferPolicy;
use crate::controller::MemoryController;
use crate::long_term_memory::{
    LongTermMemory, LongTermMemoryState, Picks, SlotImportance, Transfer,
};
use crate::ops::{MASKED, top_k};
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
    /// Write mass each slot took during the segment, `[B, K]`: 0 on a slot no update touched,
    /// which therefore cannot move.
    pub written: Tensor<2>,
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
    /// Whether a hindsight loss trains what entries keep as their importance
    /// (`loss_weights.importance` > 0): only then is it computed a second time, from held
    /// inputs ([`SlotImportance::stored`]).
    pub(crate) hindsight: bool,
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
        // What the moved entries keep: the same values, from the inputs held fixed when a
        // hindsight loss will train them (one more pass of the small importance network).
        let stored = match self.hindsight {
            true => sigmoid(
                controller
                    .policy_logits(
                        inputs.slots.clone().detach(),
                        inputs.h_mean.clone().detach(),
                        inputs.ltm_summary.clone().detach(),
                    )
                    .0,
            ),
            false => importance.clone(),
        };
        let learned = match (self.policy, level_logits) {
            (TransferPolicy::Ppo | TransferPolicy::Dqn, Some(level_logits)) => {
                Some(self.choose(logits.detach(), level_logits.detach(), m, sample))
            }
            _ => None,
        };
        let written = inputs.written.clone().greater_elem(0.0);
        let written_first = |score: Tensor<2>| {
            let unwritten = written.clone().bool_not();
            top_k(score.mask_fill(unwritten, MASKED), m, 1).1
        };
        let picks = match (&learned, self.policy) {
            (Some(choice), _) => choice.picks.clone(),
            (None, TransferPolicy::Lru) => written_first(inputs.usage.clone().neg()),
            (None, _) => written_first(importance.clone().detach()),
        };
        let moves = written.float().gather(1, picks.clone());
        let keep = learned
            .as_ref()
            .map(|choice| compression_level::fractions(choice.levels.clone()));
        let (state, transfer) = ltm.transfer_slots(
            state,
            inputs.slots.clone(),
            SlotImportance {
                scores: importance.clone(),
                stored,
            },
            Picks {
                slots: picks,
                moves,
                keep,
            },
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
    use crate::controller::MemoryControllerConfig;
    use crate::long_term_memory::LongTermMemoryConfig;
    use crate::model::tests::tokens;
    use crate::{DmnConfig, ForwardOptions};
    use burn::tensor::TensorData;

    /// `rows` as a `[B, K]` tensor.
    fn matrix<const K: usize>(rows: &[[f32; K]], device: &Device) -> Tensor<2> {
        let flat: Vec<f32> = rows.concat();
        Tensor::from_data(TensorData::new(flat, [rows.len(), K]), device)
    }

    #[test]
    fn only_slots_the_segment_wrote_move_and_lru_takes_the_least_used_of_them() {
        let device = Device::flex();
        let (d, m) = (8, 3);
        let ltm = LongTermMemoryConfig::new(d, 4, m, 4).init(&device);
        let controller = MemoryControllerConfig::new(d, 2).init(&device);
        // Row 0 wrote two slots (fewer than m), one of them barely; row 1 wrote four.
        let written = [
            [0.0, 0.5, 0.0, 0.0, 1e-6, 0.0],
            [1.0, 0.0, 0.3, 2.0, 0.0, 0.7],
        ];
        let usage = [
            [0.0, 3.0, 0.0, 0.0, 2.0, 0.0],
            [0.9, 0.0, 0.2, 0.5, 0.0, 0.1],
        ];
        for policy in [TransferPolicy::Importance, TransferPolicy::Lru] {
            let rule = TransferRule {
                policy,
                exploration: 0.0,
                hindsight: false,
            };
            let inputs = TransferInputs {
                slots: Tensor::random([2, 6, d], Distribution::Normal(0.0, 1.0), &device),
                usage: matrix(&usage, &device),
                written: matrix(&written, &device),
                h_mean: Tensor::random([2, d], Distribution::Normal(0.0, 1.0), &device),
                ltm_summary: Tensor::zeros([2, d], &device),
            };
            let (_, outcome) = rule.apply(&ltm, &controller, ltm.init_state(), inputs, false);
            let picks = outcome.transfer.slots.into_data().convert::<i64>();
            let picks = picks.try_to_vec::<i64>().unwrap();
            let width = outcome.transfer.compressed.width.into_data();
            let width = width.try_to_vec::<f32>().unwrap();
            let moved = |row: usize| -> Vec<i64> {
                let mut v: Vec<i64> = (0..m)
                    .filter(|&j| width[row * m + j] > 0.0)
                    .map(|j| picks[row * m + j])
                    .collect();
                v.sort();
                v
            };
            assert_eq!(moved(0), vec![1, 4], "{policy:?}: {picks:?} {width:?}");
            let expected = match policy {
                TransferPolicy::Lru => vec![2, 3, 5],
                _ => moved(1),
            };
            assert_eq!(moved(1), expected, "{policy:?}: {picks:?} {width:?}");
            assert!(moved(1).iter().all(|s| [0, 2, 3, 5].contains(s)));
            assert_eq!(moved(1).len(), m);
        }
    }

    #[test]
    fn a_learned_policys_pick_of_an_unwritten_slot_moves_nothing() {
        let device = Device::flex();
        let (d, m) = (8, 3);
        let ltm = LongTermMemoryConfig::new(d, 4, m, 4).init(&device);
        let controller = MemoryControllerConfig::new(d, 2)
            .with_compression_levels(compression_level::LEVELS.len())
            .init(&device);
        // Two of six slots written: at least one of the three picks is unwritten.
        let written = [0.0, 0.5, 0.0, 0.0, 1e-6, 0.0];
        for policy in [TransferPolicy::Ppo, TransferPolicy::Dqn] {
            for sample in [true, false] {
                let rule = TransferRule {
                    policy,
                    exploration: 0.5,
                    hindsight: true,
                };
                let inputs = TransferInputs {
                    slots: Tensor::random([1, 6, d], Distribution::Normal(0.0, 1.0), &device),
                    usage: Tensor::zeros([1, 6], &device),
                    written: matrix(&[written], &device),
                    h_mean: Tensor::random([1, d], Distribution::Normal(0.0, 1.0), &device),
                    ltm_summary: Tensor::zeros([1, d], &device),
                };
                let (_, outcome) = rule.apply(&ltm, &controller, ltm.init_state(), inputs, sample);
                let decision = outcome
                    .decision
                    .expect("a learned policy records its decision");
                let picks = outcome.transfer.slots.into_data().convert::<i64>();
                let picks = picks.try_to_vec::<i64>().unwrap();
                let chosen = decision.picks.into_data().convert::<i64>();
                assert_eq!(picks, chosen.try_to_vec::<i64>().unwrap());
                let width = outcome.transfer.compressed.width.into_data();
                let width = width.try_to_vec::<f32>().unwrap();
                let unwritten: Vec<usize> = (0..m)
                    .filter(|&j| written[picks[j] as usize] == 0.0)
                    .collect();
                assert!(!unwritten.is_empty(), "{policy:?}: {picks:?}");
                for j in unwritten {
                    assert_eq!(width[j], 0.0, "{policy:?}: {picks:?} {width:?}");
                }
            }
        }
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
