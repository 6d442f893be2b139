//! [`probe`]: what the model answers on one input and what its memory did meanwhile — the
//! question a user asks of a trained model ("which value follows KEY?"), natively (`dmn probe`)
//! and in the browser, where every readback must be asynchronous.

use std::ops::Range;

use burn::tensor::{Device, Int, Tensor};
use serde::Serialize;

use crate::MemoryTrace;
use crate::model::{Dmn, DmnState, ForwardOptions};
use crate::tasks::Batch;
use crate::trace::SegmentTrace;
use crate::train::DeviceError;

/// Device-side results of [`probe`]; read them with [`ProbeTensors::read`] (native) or
/// [`ProbeTensors::read_async`] (browser).
#[derive(Debug, Clone)]
pub struct ProbeTensors {
    /// Row 0's predicted token at every position of the segments holding a scored position,
    /// concatenated.
    predictions: Option<Tensor<1, Int>>,
    /// The positions those predictions stand for.
    positions: Vec<usize>,
    /// Row 0's scored positions.
    scored: Vec<usize>,
    traces: Vec<SegmentTrace>,
    /// The tokens of each working-memory update, in order over the whole input.
    updates: Vec<Range<usize>>,
}

/// Host-side results of [`probe`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probe {
    /// The predicted token at each scored position of row 0, in order.
    pub answers: Vec<u32>,
    /// One snapshot per segment (row 0).
    pub traces: Vec<MemoryTrace>,
    /// The tokens of each working-memory update, in the order of the traces' updates.
    pub updates: Vec<Range<usize>>,
}

/// Streams `batch` through `model` segment by segment (no autodiff, z = μ) and keeps row 0's
/// predictions at its scored positions and one [`MemoryTrace`] per segment.
pub fn probe(model: &Dmn, batch: &Batch, device: &Device) -> ProbeTensors {
    probe_from(model, model.init_state(batch.batch, device), batch, device)
}

/// [`probe`] starting from the memory `state` (of `batch.batch` rows; e.g. a stream's, restored
/// from a snapshot) instead of an empty one: the question asked of a memory that has already
/// read something.
pub fn probe_from(model: &Dmn, state: DmnState, batch: &Batch, device: &Device) -> ProbeTensors {
    let seg = model.segment_len();
    let mut state = state;
    let scored = batch.scored(0);
    let mut predictions = Vec::new();
    let mut positions = Vec::new();
    let mut traces = Vec::new();
    let mut updates = Vec::new();
    for (start, len) in crate::train::segments(batch.len, seg) {
        if let Some(every) = model.update_interval() {
            updates.extend(
                (0..len)
                    .step_by(every)
                    .map(|s| start + s..start + (s + every).min(len)),
            );
        }
        let (inputs, _, _) = batch.segment(start, len, device);
        let options = ForwardOptions {
            sample: false,
            trace: true,
        };
        let (out, next) = model.forward_segment(state, inputs, options);
        if scored.iter().any(|&t| (start..start + len).contains(&t)) {
            let [_, l, v] = out.logits.dims();
            predictions.push(
                out.logits
                    .narrow(0, 0, 1)
                    .reshape([l, v])
                    .argmax(1)
                    .reshape([l]),
            );
            positions.extend(start..start + len);
        }
        traces.extend(out.trace);
        state = next;
    }
    ProbeTensors {
        predictions: (!predictions.is_empty()).then(|| Tensor::cat(predictions, 0)),
        positions,
        scored,
        traces,
        updates,
    }
}

impl ProbeTensors {
    fn assemble(&self, predicted: Vec<i64>, traces: Vec<MemoryTrace>) -> Probe {
        let answers = self
            .scored
            .iter()
            .filter_map(|t| self.positions.iter().position(|p| p == t))
            .map(|i| predicted.get(i).copied().unwrap_or(-1).max(0) as u32)
            .collect();
        Probe {
            answers,
            traces,
            updates: self.updates.clone(),
        }
    }

    /// Reads the results back (blocking; native only).
    pub fn read(&self) -> Probe {
        let predicted = self.predictions.clone().map_or_else(Vec::new, |p| {
            p.into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap_or_default()
        });
        let traces = self.traces.iter().map(SegmentTrace::read).collect();
        self.assemble(predicted, traces)
    }

    /// Reads the results back without blocking (required in the browser). An error means the
    /// device failed (a lost GPU).
    pub async fn read_async(&self) -> Result<Probe, DeviceError> {
        let predicted = match self.predictions.clone() {
            Some(p) => p
                .into_data_async()
                .await
                .map_err(DeviceError::of)?
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let mut traces = Vec::with_capacity(self.traces.len());
        for t in &self.traces {
            traces.push(t.read_async().await?);
        }
        Ok(self.assemble(predicted, traces))
    }
}

/// What became of the tokens a probe hid (a needle, a passkey) in working memory: the slots
/// that the updates over them wrote, and what touched those slots until the update that holds
/// the question. The trace behind "why did it answer that": a slot overwritten in between, or
/// one bit-identical at the question whose content was read wrongly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// Updates between the writing ones and the one holding the question.
    pub updates_between: usize,
    /// Of these, the updates that wrote any slot at all.
    pub updates_writing: usize,
    /// The strongest write gate of the writing updates (a head's gate is its write weights'
    /// sum).
    pub gate_written: f32,
    /// The strongest write gate of the updates in between: a write below `gate_written` cannot
    /// touch what the writing updates stored ([`crate::ops::memory_write`]).
    pub gate_between: f32,
    /// The slots written, most written first.
    pub slots: Vec<SlotProvenance>,
    /// Read weight of every slot in the update holding the question, summed over heads
    /// (each head's weights are the mean over the update's tokens), `[K]`: whether the
    /// question read the hidden tokens' slots or others.
    pub read_at_question: Vec<f32>,
    /// L2 norm of every slot when the question's update began, `[K]`: what a read weight on
    /// a slot brings into the read.
    pub norms_at_question: Vec<f32>,
}

/// One slot of a [`Provenance`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotProvenance {
    /// Slot index.
    pub slot: usize,
    /// Write weight the slot received from the writing updates (summed over heads).
    pub written: f32,
    /// Its L2 norm after them.
    pub norm_written: f32,
    /// Its L2 norm when the question's update began.
    pub norm_at_question: f32,
    /// Updates in between that wrote to it.
    pub overwrites: usize,
}

/// [`Probe::per_update`]'s writes, norms, gates and reads.
type PerUpdate = (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<f32>, Vec<Vec<f32>>);

/// Write weight below which a slot does not count as holding the hidden tokens.
const HELD: f32 = 0.05;

impl Probe {
    /// The [`Provenance`] of the tokens at `hidden`, asked about at position `question`. The
    /// writing updates are those over `hidden` and the one after (its summary may come a group
    /// late). `None` without a working memory, or where `question` is not after `hidden`.
    pub fn provenance(&self, hidden: Range<usize>, question: usize) -> Option<Provenance> {
        let first = self.updates.iter().position(|u| u.end > hidden.start)?;
        let last = self.updates.iter().position(|u| u.end >= hidden.end)? + 1;
        let asked = self.updates.iter().position(|u| u.contains(&question))?;
        if asked <= first {
            return None;
        }
        let last = last.min(asked - 1);
        let (writes, norms, gates, reads) = self.per_update();
        let strongest = |u: Range<usize>| gates[u].iter().copied().fold(0.0, f32::max);
        let k = writes.first()?.len();
        let mut slots: Vec<SlotProvenance> = (0..k)
            .map(|j| SlotProvenance {
                slot: j,
                written: (first..=last).map(|u| writes[u][j]).sum(),
                norm_written: norms[last][j],
                norm_at_question: norms[asked - 1][j],
                overwrites: (last + 1..asked).filter(|&u| writes[u][j] > 0.0).count(),
            })
            .filter(|s| s.written > HELD)
            .collect();
        slots.sort_by(|a, b| b.written.total_cmp(&a.written));
        Some(Provenance {
            updates_between: asked - last - 1,
            updates_writing: (last + 1..asked)
                .filter(|&u| writes[u].iter().any(|&w| w > 0.0))
                .count(),
            gate_written: strongest(first..last + 1),
            gate_between: strongest(last + 1..asked),
            slots,
            read_at_question: reads[asked].clone(),
            norms_at_question: norms[asked - 1].clone(),
        })
    }

    /// Per update, in order: write weight per slot (summed over heads), slot norms, the
    /// strongest head's write gate (a head's gate is its write weights' sum), and read weight
    /// per slot (summed over heads).
    fn per_update(&self) -> PerUpdate {
        let (mut writes, mut norms, mut gates) = (Vec::new(), Vec::new(), Vec::new());
        let mut reads = Vec::new();
        for t in &self.traces {
            let (h, k) = (t.heads, t.slots);
            let per_slot = |w: &[f32]| -> Vec<f32> {
                (0..k).map(|j| (0..h).map(|i| w[i * k + j]).sum()).collect()
            };
            for u in 0..t.updates {
                let w = &t.write_weights[u * h * k..(u + 1) * h * k];
                writes.push(per_slot(w));
                reads.push(match t.read_weights.get(u * h * k..(u + 1) * h * k) {
                    Some(r) => per_slot(r),
                    None => vec![0.0; k],
                });
                norms.push(t.slot_norms[u * k..(u + 1) * k].to_vec());
                let gate = |i: usize| w[i * k..(i + 1) * k].iter().sum::<f32>();
                gates.push((0..h).map(gate).fold(0.0, f32::max));
            }
        }
        (writes, norms, gates, reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DmnConfig;
    use crate::tasks::{Needle, Task};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn answers_match_the_evaluation_argmax_and_traces_cover_every_segment() {
        let device = Device::flex();
        let task = Needle::new(40, 8, 8, 0).unwrap();
        let config = DmnConfig::tiny(task.vocab_size()).with_segment_len(16);
        let model = config.init(&device).unwrap();
        let batch = task.sample(&mut StdRng::seed_from_u64(1), 2);
        let p = probe(&model, &batch, &device).read();
        assert_eq!(p.traces.len(), batch.len.div_ceil(16));
        assert_eq!(p.answers.len(), 1);
        // The same answer from a plain forward pass over the whole row, segment by segment.
        let q = batch.scored(0)[0];
        let mut state = model.init_state(batch.batch, &device);
        let mut start = 0;
        let mut expected = None;
        while start < batch.len {
            let len = 16.min(batch.len - start);
            let (inputs, _, _) = batch.segment(start, len, &device);
            let (out, next) = model.forward_segment(state, inputs, ForwardOptions::default());
            if (start..start + len).contains(&q) {
                let row: Vec<f32> = out
                    .logits
                    .narrow(0, 0, 1)
                    .narrow(1, q - start, 1)
                    .into_data()
                    .try_to_vec()
                    .unwrap();
                let best = (0..row.len())
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap();
                expected = Some(best as u32);
            }
            state = next;
            start += len;
        }
        assert_eq!(Some(p.answers[0]), expected);
        // The updates tile the input, as many as the traces hold.
        assert_eq!(p.updates.first().map(|u| u.start), Some(0));
        assert!(p.updates.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(p.updates.last().map(|u| u.end), Some(batch.len));
        let traced: usize = p.traces.iter().map(|t| t.updates).sum();
        assert_eq!(p.updates.len(), traced);
    }

    #[test]
    fn provenance_follows_the_hidden_tokens_slots_to_the_question() {
        // One head, 3 slots, 5 updates of 8 tokens; the hidden tokens sit in update 0, the
        // question in update 4. Update 1 (the late one) adds to slot 1, update 3 overwrites it.
        let writes = [
            [0.0, 0.9, 0.0],
            [0.0, 0.1, 0.02],
            [0.0, 0.0, 0.0],
            [0.0, 0.2, 0.0],
            [0.5, 0.0, 0.0],
        ];
        let norms = [
            [0.0, 3.0, 0.0],
            [0.0, 3.5, 0.1],
            [0.0, 3.5, 0.1],
            [0.0, 2.0, 0.1],
            [1.0, 2.0, 0.1],
        ];
        let trace = MemoryTrace {
            slots: 3,
            heads: 1,
            updates: 5,
            write_weights: writes.concat(),
            slot_norms: norms.concat(),
            // The question's update reads mostly slot 1, the others read slot 0.
            read_weights: [[1.0, 0.0, 0.0]; 4]
                .concat()
                .into_iter()
                .chain([0.1, 0.7, 0.2])
                .collect(),
            ..MemoryTrace::default()
        };
        let probe = Probe {
            answers: vec![],
            traces: vec![trace],
            updates: (0..5).map(|u| u * 8..u * 8 + 8).collect(),
        };
        let p = probe.provenance(5..7, 35).unwrap();
        assert_eq!(p.read_at_question, [0.1, 0.7, 0.2]);
        assert_eq!(p.norms_at_question, [0.0, 2.0, 0.1]);
        assert_eq!((p.updates_between, p.updates_writing), (2, 1));
        assert!((p.gate_written - 0.9).abs() < 1e-6, "{}", p.gate_written);
        assert!((p.gate_between - 0.2).abs() < 1e-6, "{}", p.gate_between);
        assert_eq!(p.slots.len(), 1, "slot 2's 0.02 is below the held weight");
        let s = &p.slots[0];
        assert_eq!((s.slot, s.overwrites), (1, 1));
        assert!((s.written - 1.0).abs() < 1e-6);
        assert_eq!((s.norm_written, s.norm_at_question), (3.5, 2.0));
        // A question inside the hidden tokens' update has no provenance.
        assert_eq!(probe.provenance(5..7, 6), None);
    }
}
