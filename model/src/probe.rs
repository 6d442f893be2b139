//! [`probe`]: what the model answers on one input and what its memory did meanwhile — the
//! question a user asks of a trained model ("which value follows KEY?"), natively (`dmn probe`)
//! and in the browser, where every readback must be asynchronous.

use burn::tensor::{Device, Int, Tensor};

use crate::MemoryTrace;
use crate::model::{Dmn, ForwardOptions};
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
}

/// Host-side results of [`probe`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probe {
    /// The predicted token at each scored position of row 0, in order.
    pub answers: Vec<u32>,
    /// One snapshot per segment (row 0).
    pub traces: Vec<MemoryTrace>,
}

/// Streams `batch` through `model` segment by segment (no autodiff, z = μ) and keeps row 0's
/// predictions at its scored positions and one [`MemoryTrace`] per segment.
pub fn probe(model: &Dmn, batch: &Batch, device: &Device) -> ProbeTensors {
    let seg = model.segment_len();
    let mut state = model.init_state(batch.batch, device);
    let scored = batch.scored(0);
    let mut predictions = Vec::new();
    let mut positions = Vec::new();
    let mut traces = Vec::new();
    for (start, len) in crate::train::segments(batch.len, seg) {
        let (inputs, _, _) = batch.segment(start, len, device);
        let options = ForwardOptions {
            sample: false,
            trace: true,
            training: false,
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
        Probe { answers, traces }
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
    }
}
