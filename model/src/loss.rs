//! The training objective: masked next-token cross-entropy plus the weighted auxiliary terms.
//!
//! `loss = CE − λ_util · utilization + λ_press · pressure + λ_sparse · read_entropy
//!        + λ_kl · KL + λ_rec · reconstruction`

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use crate::config::LossWeights;
use crate::model::SegmentOutput;

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

/// The terms of one segment's loss.
#[derive(Debug, Clone)]
pub struct SegmentLoss {
    /// What is back-propagated.
    pub total: Tensor<1>,
    /// The task's cross-entropy alone.
    pub task: Tensor<1>,
}

/// Combines the task loss with the auxiliary terms of `out`.
pub fn segment_loss(
    out: &SegmentOutput,
    targets: Tensor<2, Int>,
    mask: Tensor<2>,
    weights: &LossWeights,
) -> SegmentLoss {
    let task = masked_cross_entropy(out.logits.clone(), targets, mask);
    let a = &out.aux;
    let total = task.clone() - a.utilization.clone() * weights.utilization
        + a.pressure.clone() * weights.pressure
        + a.read_entropy.clone() * weights.read_sparsity
        + a.kl.clone() * weights.kl
        + a.reconstruction.clone() * weights.reconstruction;
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
