//! What a step measures: [`StepTensors`] on the device, [`StepStats`] once read back, and the
//! tally a training step keeps over its segments.

use burn::tensor::{Device, Int, Tensor};

use crate::memory_stats::MemoryStats;
use crate::model::SegmentOutput;
use crate::tasks::Sequences;
use crate::transfer::TransferDecision;

/// A readback from the device failed: the device was lost (a GPU reset, a browser tab's WebGPU
/// device destroyed) or the work behind the result failed.
#[derive(Debug, thiserror::Error)]
#[error("reading results back from the device failed: {0}")]
pub struct DeviceError(String);

impl DeviceError {
    pub(crate) fn of(e: impl core::fmt::Debug) -> Self {
        Self(format!("{e:?}"))
    }
}

/// What one step measured, still on the device.
#[derive(Debug, Clone)]
pub struct StepTensors {
    /// Sum over scored segments of the task loss, `[1]`.
    pub loss_sum: Tensor<1>,
    /// Scored segments (host count).
    pub loss_terms: usize,
    /// Correct predictions, `[1]`.
    pub correct: Tensor<1>,
    /// Scored positions (host count).
    pub scored: usize,
    /// Memory statistics of the last segment.
    pub stats: MemoryStats,
    /// [`evaluate_predicting`] only: the predicted token (argmax) at every position of each
    /// segment holding a scored position, as `(start, [B, len])`; read them with
    /// [`StepTensors::predictions`].
    pub predicted: Vec<(usize, Tensor<2, Int>)>,
}

/// Host-side figures of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepStats {
    /// Mean task loss over scored segments.
    pub loss: f32,
    /// Fraction of scored positions predicted right.
    pub accuracy: f32,
    /// See [`MemoryStats`].
    pub slot_usage_entropy: f32,
    /// Mean slot age.
    pub mean_age: f32,
    /// Long-term bytes.
    pub ltm_bytes: f32,
    /// Fill per level.
    pub ltm_fill: Vec<f32>,
    /// Mean read entropy (read sparsity; lower is sparser).
    pub read_entropy: f32,
    /// Mean write gate of the working memory's updates.
    pub write_gate: f32,
}

impl StepTensors {
    fn packed(&self) -> Tensor<1> {
        Tensor::cat(
            vec![
                self.loss_sum.clone(),
                self.correct.clone(),
                self.stats.slot_usage_entropy.clone(),
                self.stats.mean_age.clone(),
                self.stats.ltm_bytes.clone(),
                self.stats.read_entropy.clone(),
                self.stats.write_gate.clone(),
            ],
            0,
        )
    }

    fn finish(&self, v: &[f32]) -> StepStats {
        StepStats {
            loss: v[0] / self.loss_terms.max(1) as f32,
            accuracy: v[1] / self.scored.max(1) as f32,
            slot_usage_entropy: v[2],
            mean_age: v[3],
            ltm_bytes: v[4],
            read_entropy: v[5],
            write_gate: v[6],
            ltm_fill: self.stats.ltm_fill.clone(),
        }
    }

    /// The predicted token at each scored position of each row of `batch`, in order (blocking;
    /// native only). Empty rows unless the tensors come from [`evaluate_predicting`].
    pub fn predictions(&self, batch: &dyn Sequences) -> Vec<Vec<u32>> {
        let answers: Vec<Vec<(usize, u32)>> = (0..batch.rows()).map(|r| batch.answers(r)).collect();
        let mut rows = vec![Vec::new(); batch.rows()];
        for (start, tokens) in &self.predicted {
            let [b, len] = tokens.dims();
            let v = tokens
                .clone()
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap_or_default();
            let inside = |&&(t, _): &&(usize, u32)| (*start..start + len).contains(&t);
            for (r, row) in rows.iter_mut().enumerate().take(b) {
                for &(t, _) in answers[r].iter().filter(inside) {
                    let i = r * len + t - start;
                    row.push(v.get(i).copied().unwrap_or(0).max(0) as u32);
                }
            }
        }
        rows
    }

    /// Reads the figures back (blocking; native only).
    pub fn read(&self) -> StepStats {
        let v = self
            .packed()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        self.finish(&v)
    }

    /// Reads the figures back without blocking (required in the browser). An error means the
    /// device failed (a lost GPU).
    pub async fn read_async(&self) -> Result<StepStats, DeviceError> {
        let data = self
            .packed()
            .into_data_async()
            .await
            .map_err(DeviceError::of)?;
        let v = data
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        Ok(self.finish(&v))
    }
}

/// What a training step accumulates over its segments, on the first device.
pub(super) struct StepTally {
    device: Device,
    loss_sum: Tensor<1>,
    pub(super) loss_terms: usize,
    correct: Tensor<1>,
    pub(super) scored: usize,
    /// Memory statistics of the last segment (shard 0).
    stats: Option<MemoryStats>,
    /// The transfer policy's episodes: shard 0's decisions, and its rows' hits and scored
    /// positions, `[rows]`.
    pub(super) decisions: Vec<TransferDecision>,
    pub(super) row_hits: Tensor<1>,
    pub(super) row_scored: Tensor<1>,
}

impl StepTally {
    pub(super) fn new(rows: usize, device: &Device) -> Self {
        Self {
            device: device.clone(),
            loss_sum: Tensor::zeros([1], device),
            loss_terms: 0,
            correct: Tensor::zeros([1], device),
            scored: 0,
            stats: None,
            decisions: Vec::new(),
            row_hits: Tensor::zeros([rows], device),
            row_scored: Tensor::zeros([rows], device),
        }
    }

    /// Adds one shard's task loss (already weighted by its share) and correct predictions.
    pub(super) fn add_loss(&mut self, loss: Tensor<1>, correct: Tensor<1>) {
        self.loss_sum = self.loss_sum.clone() + loss.to_device(&self.device);
        self.correct = self.correct.clone() + correct.to_device(&self.device);
    }

    /// Counts each row's hits on its scored positions (the policy's task reward).
    pub(super) fn score_rows(
        &mut self,
        out: &SegmentOutput,
        targets: &Tensor<2, Int>,
        mask: &Tensor<2>,
    ) {
        let [rows, len, _] = out.logits.dims();
        let hits = out
            .logits
            .clone()
            .detach()
            .argmax(2)
            .reshape([rows, len])
            .equal(targets.clone())
            .float()
            * mask.clone();
        let per_row = |t: Tensor<2>| t.sum_dim(1).reshape([rows]).to_device(&self.device);
        self.row_hits = self.row_hits.clone() + per_row(hits);
        self.row_scored = self.row_scored.clone() + per_row(mask.clone());
    }

    /// Keeps shard 0's decision and statistics of a segment.
    pub(super) fn observe(&mut self, out: SegmentOutput) {
        if let Some(d) = out.decision {
            self.decisions.push(d.to_device(&self.device));
        }
        self.stats = Some(out.stats);
    }

    pub(super) fn finish(self) -> StepTensors {
        StepTensors {
            loss_sum: self.loss_sum,
            loss_terms: self.loss_terms,
            correct: self.correct,
            scored: self.scored,
            stats: self.stats.expect("a batch has at least one token"),
            predicted: Vec::new(),
        }
    }
}
