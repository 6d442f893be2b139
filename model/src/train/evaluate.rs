//! Evaluation: a model streamed over a batch without training (no autodiff, z = μ), segment by
//! segment as in training, scored on the batch's scored positions, and traced for the viewers.
//! A batch is any [`Sequences`]: one built whole, or one that builds each segment on demand, so
//! that a sequence of 100M tokens costs the memory of one segment.

use burn::tensor::{Device, Tensor};

use super::StepTensors;
use crate::loss::correct_predictions;
use crate::model::{Dmn, ForwardOptions};
use crate::tasks::{Batch, Sequences};
use crate::trace::MemoryTrace;

/// Loss and accuracy of `model` on `batch`, streaming segment by segment.
pub fn evaluate(model: &Dmn, batch: &dyn Sequences, device: &Device) -> StepTensors {
    stream_evaluation(model, batch, device, false)
}

/// [`evaluate`], also keeping the predicted tokens for [`StepTensors::predictions`] (for tasks
/// scored on the predicted sequence, such as F1 and ROUGE-L).
pub fn evaluate_predicting(model: &Dmn, batch: &dyn Sequences, device: &Device) -> StepTensors {
    stream_evaluation(model, batch, device, true)
}

fn stream_evaluation(
    model: &Dmn,
    batch: &dyn Sequences,
    device: &Device,
    keep: bool,
) -> StepTensors {
    let seg = model.segment_len();
    let mut state = model.init_state(batch.rows(), device);
    let zero = || Tensor::<1>::zeros([1], device);
    let (mut loss_sum, mut correct) = (zero(), zero());
    let (mut loss_terms, mut scored) = (0, 0);
    let mut stats = None;
    let mut predicted = Vec::new();
    for (start, len) in super::segments(batch.seq_len(), seg) {
        let window = batch.window(start, len);
        let (inputs, targets, mask) = window.segment(0, len, device);
        let (out, next) = model.forward_segment(state, inputs, ForwardOptions::default());
        if window.has_targets(0, len) {
            if keep {
                let [b, l, _] = out.logits.dims();
                predicted.push((start, out.logits.clone().argmax(2).reshape([b, l])));
            }
            loss_sum = loss_sum
                + crate::loss::masked_cross_entropy(
                    out.logits.clone(),
                    targets.clone(),
                    mask.clone(),
                );
            correct = correct + correct_predictions(out.logits, targets, mask);
            loss_terms += 1;
            scored += window.scored_in(0, len);
        }
        stats = Some(out.stats);
        state = next;
    }
    StepTensors {
        loss_sum,
        loss_terms,
        correct,
        scored,
        stats: stats.expect("a batch has at least one token"),
        predicted,
    }
}

/// What the memory did on batch row 0 of `batch`, one [`MemoryTrace`] per segment, streaming as
/// [`evaluate`] does (no autodiff, z = μ). The desktop and web viewers draw these.
pub fn trace(model: &Dmn, batch: &Batch, device: &Device) -> Vec<MemoryTrace> {
    crate::probe::probe(model, batch, device).read().traces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DmnConfig;
    use crate::tasks::{Needle, Task};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn trace_gives_one_snapshot_per_segment() {
        let device = Device::flex();
        let task = Needle::new(40, 8, 8, 0).unwrap();
        let config = DmnConfig::tiny(task.vocab_size()).with_segment_len(16);
        let model = config.init(&device).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(1), 2);
        let traces = trace(&model, &batch, &device);
        // 40 + the query tokens, in segments of 16.
        assert_eq!(traces.len(), batch.len.div_ceil(16));
        for (i, t) in traces.iter().enumerate() {
            assert_eq!(t.segment, i as u64);
            assert_eq!(t.write_weights.len(), t.updates * t.heads * t.slots);
            assert_eq!(t.hold.len(), t.updates * t.slots);
        }
        // A hold is a write gate: in [0, 1], and above 0 only on a slot written at or before
        // that update (the memory starts empty and carries over from segment to segment).
        let mut written = vec![0.0f32; traces[0].slots];
        for t in &traces {
            let (h, k) = (t.heads, t.slots);
            for u in 0..t.updates {
                for (j, total) in written.iter_mut().enumerate() {
                    *total += (0..h)
                        .map(|i| t.write_weights[(u * h + i) * k + j])
                        .sum::<f32>();
                    let hold = t.hold[u * k + j];
                    assert!((0.0..=1.0).contains(&hold), "hold {hold}");
                    assert!(
                        hold == 0.0 || *total > 0.0,
                        "slot {j} held {hold} unwritten"
                    );
                }
            }
        }
        let held = |t: &MemoryTrace| t.hold.iter().any(|&h| h > 0.0);
        assert!(traces.iter().any(held), "no update wrote with an open gate");
    }
}
