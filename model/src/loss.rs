//! The training objective: masked next-token cross-entropy plus the weighted auxiliary terms.
//!
//! `loss = CE − λ_util · utilization + λ_press · pressure + λ_sparse · read_entropy
//!        + λ_kl · KL + λ_rec · reconstruction + λ_imp · hindsight importance`

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor};

use crate::config::LossWeights;
use crate::long_term_memory::LongTermRead;
use crate::model::SegmentOutput;
use crate::transfer::TransferOutcome;
use crate::working_memory::SegmentRun;

/// Mean cross-entropy over the positions where `mask` is 1 (0 when none is).
///
/// # Shapes
/// - logits: `[B, L, V]`, targets: `[B, L]`, mask: `[B, L]` → `[1]`
pub fn masked_cross_entropy(
    logits: Tensor<3>,
    targets: Tensor<2, Int>,
    mask: Tensor<2>,
) -> Tensor<1> {
    let [b, l, _] = logits.dims();
    let nll = log_softmax(logits, 2)
        .gather(2, targets.unsqueeze_dim::<3>(2))
        .reshape([b, l])
        .neg();
    (nll * mask.clone()).sum() / mask.sum().clamp_min(1.0)
}

/// Masked positions whose arg-max prediction equals the target, as a `[1]` float count.
pub fn correct_predictions(
    logits: Tensor<3>,
    targets: Tensor<2, Int>,
    mask: Tensor<2>,
) -> Tensor<1> {
    let [b, l, _] = logits.dims();
    let hits = logits.argmax(2).reshape([b, l]).equal(targets).float();
    (hits * mask).sum()
}

/// Auxiliary loss terms of one segment, each a `[1]` tensor (0 when the memory they concern is off).
#[derive(Debug, Clone)]
pub struct AuxLosses {
    /// Entropy of the mean write distribution over slots, divided by ln K (in [0, 1]; higher is better).
    pub utilization: Tensor<1>,
    /// Mean write-gate activity.
    pub pressure: Tensor<1>,
    /// Mean entropy of read distributions (nats).
    pub read_entropy: Tensor<1>,
    /// VAE KL of the segment's transfer.
    pub kl: Tensor<1>,
    /// VAE reconstruction error of the segment's transfer.
    pub reconstruction: Tensor<1>,
}

impl AuxLosses {
    /// The terms of what the working memory and the transfer did in one segment.
    pub(crate) fn of(
        working: Option<&SegmentRun>,
        transfer: Option<&TransferOutcome>,
        device: &Device,
    ) -> Self {
        let zero = || Tensor::zeros([1], device);
        let (utilization, pressure, read_entropy) = match working {
            Some(w) => (
                w.utilization.clone(),
                w.pressure.clone(),
                w.read_entropy.clone(),
            ),
            None => (zero(), zero(), zero()),
        };
        let (kl, reconstruction) = match transfer {
            Some(t) => (
                t.transfer.compressed.kl.clone(),
                t.transfer.compressed.reconstruction.clone(),
            ),
            None => (zero(), zero()),
        };
        Self {
            utilization,
            pressure,
            read_entropy,
            kl,
            reconstruction,
        }
    }
}

/// The terms of one segment's loss.
#[derive(Debug, Clone)]
pub struct SegmentLoss {
    /// What is back-propagated.
    pub total: Tensor<1>,
    /// The task's cross-entropy alone.
    pub task: Tensor<1>,
}

/// Importance learned in hindsight: binary cross-entropy between each valid long-term entry's
/// importance and the read mass the answering tokens (`mask`) put on it, clipped to 1 and
/// held fixed. An entry an answer read is pulled toward 1, one no answer read toward 0, so a
/// full flat store or a merge, which keep the most important entries, keep what is asked
/// about. Rows without an answer in the segment do not count. `[1]`; 0 without long-term memory.
///
/// # Shapes
/// - weights: `[B, L, E]`, importance: `[B, E]`, valid: `[B, E]`, mask: `[B, L]` → `[1]`
pub fn hindsight_importance(read: &LongTermRead, mask: Tensor<2>) -> Tensor<1> {
    let [b, l, e] = read.weights.dims();
    let answers = mask.clone().sum_dim(1).clamp_max(1.0); // [B, 1]
    let target = (read.weights.clone().detach() * mask.reshape([b, l, 1]))
        .sum_dim(1)
        .reshape([b, e])
        .clamp_max(1.0);
    let counted = read.valid.clone().float() * answers;
    let p = read.importance.clone().clamp(1e-6, 1.0 - 1e-6);
    let bce =
        (target.clone() * p.clone().log() + (target.neg() + 1.0) * (p.neg() + 1.0).log()).neg();
    (bce * counted.clone()).sum() / counted.sum().clamp_min(1.0)
}

/// Combines the task loss with the auxiliary terms of `out`.
pub fn segment_loss(
    out: &SegmentOutput,
    targets: Tensor<2, Int>,
    mask: Tensor<2>,
    weights: &LossWeights,
) -> SegmentLoss {
    let task = masked_cross_entropy(out.logits.clone(), targets, mask.clone());
    let a = &out.aux;
    let total = task.clone() - a.utilization.clone() * weights.utilization
        + a.pressure.clone() * weights.pressure
        + a.read_entropy.clone() * weights.read_sparsity
        + a.kl.clone() * weights.kl
        + a.reconstruction.clone() * weights.reconstruction;
    let total = match &out.long_term_read {
        Some(read) if weights.importance > 0.0 => {
            total + hindsight_importance(read, mask) * weights.importance
        }
        _ => total,
    };
    SegmentLoss { total, task }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn hand_computed_masked_cross_entropy_and_accuracy() {
        let device = Device::flex();
        // Two positions, two classes. Position 0: logits (0, ln 3) → p(target 1) = 3/4.
        // Position 1 is masked out and must not count.
        let logits = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 3f32.ln(), 5.0, 0.0], [1, 2, 2]),
            &device,
        );
        let targets = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 1], [1, 2]), &device);
        let mask = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &device);
        let ce = masked_cross_entropy(logits.clone(), targets.clone(), mask.clone())
            .into_scalar::<f32>();
        assert!((ce - (4.0f32 / 3.0).ln()).abs() < 1e-6, "{ce}");
        assert_eq!(
            correct_predictions(logits, targets, mask).into_scalar::<f32>(),
            1.0
        );
    }
}

#[cfg(test)]
mod hindsight_tests {
    use super::*;
    use burn::tensor::{Bool, TensorData};

    #[test]
    fn importance_is_pulled_toward_what_the_answers_read() {
        let device = Device::flex().autodiff();
        // Row 0: token 1 answers and reads entries 0 and 1 half and half; entry 2 is invalid.
        // Row 1 has no answer in the segment and does not count.
        let weights = Tensor::<3>::from_data(
            TensorData::new(
                vec![
                    0.9f32, 0.1, 0.0, 0.5, 0.5, 0.0, 0.2, 0.8, 0.0, 0.2, 0.8, 0.0,
                ],
                [2, 2, 3],
            ),
            &device,
        );
        let importance = Tensor::<2>::from_data(
            TensorData::new(vec![0.5f32, 0.8, 0.9, 0.3, 0.3, 0.3], [2, 3]),
            &device,
        )
        .require_grad();
        let valid = Tensor::<2, Bool>::from_data(
            TensorData::new(vec![true, true, false, true, true, true], [2, 3]),
            &device,
        );
        let mask = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 0.0, 0.0], [2, 2]),
            &device,
        );
        let read = LongTermRead {
            context: Tensor::zeros([2, 2, 4], &device),
            weights,
            summary: Tensor::zeros([2, 4], &device),
            valid,
            importance: importance.clone(),
        };
        let loss = hindsight_importance(&read, mask);
        // BCE(0.5 | 0.5) = ln 2; BCE(0.8 | 0.5) = −(ln 0.8 + ln 0.2) / 2.
        let expected = (2f32.ln() - (0.8f32.ln() + 0.2f32.ln()) / 2.0) / 2.0;
        let got = loss.clone().into_scalar::<f32>();
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
        let grads = loss.backward();
        let g = importance.grad(&grads).unwrap().into_data();
        let g = g.try_to_vec::<f32>().unwrap();
        // At its target, entry 0 feels nothing; entry 1, above its target, is pushed down; the
        // invalid entry and the row without an answer get no gradient.
        assert!(g[0].abs() < 1e-6 && g[1] > 0.0, "{g:?}");
        assert!(g[2..].iter().all(|&x| x == 0.0), "{g:?}");
    }
}

#[cfg(test)]
mod gradient_tests {
    use super::*;
    use crate::tasks::{Needle, Task};
    use crate::{DmnConfig, ForwardOptions};
    use burn::module::{Module, ModuleVisitor, Param, ParamId};
    use burn::optim::GradientsParams;
    use rand::SeedableRng;

    struct Ids(Vec<(ParamId, Vec<usize>)>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push((param.id, param.val().dims().to_vec()));
        }
    }

    #[test]
    fn gradients_reach_every_parameter_and_are_finite() {
        for kind in crate::config::EncoderKind::ALL {
            let device = Device::flex().autodiff();
            let task = Needle::new(42, 8, 8, 4).unwrap(); // 48 tokens: two segments of 24
            let config = DmnConfig::tiny(task.vocab_size())
                .with_encoder(kind)
                .with_segment_len(24);
            let model = config.init(&device).unwrap();
            let batch = task.sample(&mut rand::rngs::StdRng::seed_from_u64(3), 2);
            // Two segments: the second retrieves from a non-empty long-term memory.
            let (_, state) = model.forward_segment(
                model.init_state(2, &device),
                batch.segment(0, 24, &device).0,
                ForwardOptions {
                    sample: true,
                    trace: false,
                },
            );
            let (inputs, targets, _) = batch.segment(24, 24, &device);
            let (out, _) = model.forward_segment(
                state.detach(),
                inputs,
                ForwardOptions {
                    sample: true,
                    trace: false,
                },
            );
            let mask = Tensor::<2>::ones([2, 24], &device);
            let loss = segment_loss(&out, targets, mask, &config.loss_weights);
            let mut grads = GradientsParams::from_grads(loss.total.backward(), &model);
            let mut ids = Ids(Vec::new());
            model.visit(&mut ids);
            assert!(ids.0.len() > 40, "{} parameters", ids.0.len());
            for (id, dims) in ids.0 {
                let g: Option<Tensor<1>> = match dims.len() {
                    1 => grads.remove::<1>(id),
                    2 => grads.remove::<2>(id).map(|g| g.flatten(0, 1)),
                    n => panic!("unexpected rank {n}"),
                };
                let g = g.unwrap_or_else(|| {
                    panic!("{kind:?}: no gradient for a parameter of shape {dims:?}")
                });
                let finite = g.is_finite().all().into_scalar::<bool>();
                assert!(
                    finite,
                    "{kind:?}: non-finite gradient for a parameter of shape {dims:?}"
                );
            }
        }
    }
}
