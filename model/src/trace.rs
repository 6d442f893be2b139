//! [`MemoryTrace`]: what the memory did during one segment, for visualization. The app and the
//! web demo consume only this type; the model knows nothing about UI.
//!
//! The model fills a [`SegmentTrace`] of device tensors (batch row 0 only, so it stays small) when
//! asked to; [`SegmentTrace::read`] and [`SegmentTrace::read_async`] turn it into host data.

use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::long_term_memory::Transfer;
use crate::ops::MemoryWrite;
use crate::train::DeviceError;

/// One transfer from working memory into long-term memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferEvent {
    /// Working-memory slots that moved.
    pub slots: Vec<u32>,
    /// Their importance scores.
    pub importance: Vec<f32>,
    /// Latent dimensions the compression kept of each (of the compressor's latent width).
    #[serde(default)]
    pub width: Vec<f32>,
    /// Long-term level where the carry settled (0 when level 0 was free).
    pub level: usize,
}

/// Host-side snapshot of the memory over one segment (batch row 0).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MemoryTrace {
    /// Segments processed before this one.
    pub segment: u64,
    /// Working-memory slots `K`.
    pub slots: usize,
    /// Heads `H`.
    pub heads: usize,
    /// Long-term levels `M`.
    pub levels: usize,
    /// Memory updates in this segment `U`.
    pub updates: usize,
    /// Write weights ω per update and head, `[U, H, K]` row-major.
    pub write_weights: Vec<f32>,
    /// Read weights per update and head (mean over the update's tokens), `[U, H, K]`.
    pub read_weights: Vec<f32>,
    /// L2 norm of each slot after each update, `[U, K]` (a cheap projection of the contents).
    pub slot_norms: Vec<f32>,
    /// Age of each slot after each update, `[U, K]`.
    pub age: Vec<f32>,
    /// Usage of each slot after each update, `[U, K]`.
    pub usage: Vec<f32>,
    /// Hold of each slot after each update, `[U, K]`: the gate of the strongest write it keeps,
    /// which weaker writes cannot touch (absent from traces written before it existed).
    #[serde(default)]
    pub hold: Vec<f32>,
    /// Importance of each slot at the segment's end, `[K]` (empty without long-term memory).
    pub importance: Vec<f32>,
    /// The transfer at the segment's end.
    pub transfer: Option<TransferEvent>,
    /// Fraction of each level occupied after the transfer, `[M]`.
    pub level_fill: Vec<f32>,
    /// Segments each level summarizes, `[M]`.
    pub level_span: Vec<u64>,
    /// Retrieval weight each level received, averaged over the segment's tokens, `[M]`.
    pub retrieval_per_level: Vec<f32>,
}

/// Device tensors gathered during a segment; read them back once, at the end.
#[derive(Debug, Clone)]
pub struct SegmentTrace {
    pub(crate) segment: u64,
    pub(crate) slots: usize,
    pub(crate) heads: usize,
    pub(crate) levels: usize,
    /// Per update: write weights `[H, K]`, read weights `[H, K]`, slot norms, age, usage, hold
    /// `[K]`.
    pub(crate) per_update: Vec<[Tensor<1>; 6]>,
    pub(crate) importance: Option<Tensor<1>>,
    /// Moved slots, their importance, their kept latent width, the level the carry settled in.
    pub(crate) transfer: Option<(Tensor<1, Int>, Tensor<1>, Tensor<1>, usize)>,
    pub(crate) level_fill: Vec<f32>,
    pub(crate) level_span: Vec<u64>,
    pub(crate) retrieval_per_level: Option<Tensor<1>>,
}

impl MemoryTrace {
    /// Whether the trace holds every per-update figure its shape promises (write and read
    /// weights, slot norms): a trace read back from a failing device may hold fewer, and is
    /// then left out rather than read past its end.
    pub fn is_complete(&self) -> bool {
        let (k, h, u) = (self.slots, self.heads, self.updates);
        self.write_weights.len() == u * h * k
            && self.read_weights.len() == u * h * k
            && self.slot_norms.len() == u * k
    }
}

impl SegmentTrace {
    /// An empty trace of segment `segment` for a memory of `slots` slots, `heads` heads and
    /// `levels` long-term levels (0 where a memory is off).
    pub(crate) fn new(segment: u64, slots: usize, heads: usize, levels: usize) -> Self {
        Self {
            segment,
            slots,
            heads,
            levels,
            per_update: Vec::new(),
            importance: None,
            transfer: None,
            level_fill: Vec::new(),
            level_span: Vec::new(),
            retrieval_per_level: None,
        }
    }

    /// Records one memory update: what it wrote, and how the update's tokens read the memory
    /// before it (`read_weights` `[B, T·H, K]`, averaged over the `T` tokens per head).
    pub(crate) fn record_update(&mut self, written: &MemoryWrite, read_weights: Tensor<3>) {
        let (k, h) = (self.slots, self.heads);
        let [_, rows, _] = read_weights.dims();
        let row = |x: Tensor<2>| x.narrow(0, 0, 1).reshape([k]);
        let read = read_weights
            .narrow(0, 0, 1)
            .reshape([rows / h, h, k])
            .mean_dim(0)
            .reshape([h * k]);
        let [b, _, _] = written.slots.dims();
        let norms = written
            .slots
            .clone()
            .powi_scalar(2)
            .sum_dim(2)
            .sqrt()
            .reshape([b, k]);
        self.per_update.push([
            written
                .write_weights
                .clone()
                .narrow(0, 0, 1)
                .reshape([h * k]),
            read,
            row(norms),
            row(written.age.clone()),
            row(written.usage.clone()),
            row(written.hold.clone()),
        ]);
    }

    /// Records the retrieval weights `[B, L, E]` of a segment's tokens, summed per level and
    /// averaged over the tokens.
    pub(crate) fn record_retrieval(&mut self, weights: Tensor<3>) {
        let [_, _, e] = weights.dims();
        let per_level = weights
            .narrow(0, 0, 1)
            .mean_dim(1)
            .reshape([self.levels, e / self.levels])
            .sum_dim(1);
        self.retrieval_per_level = Some(per_level.reshape([self.levels]));
    }

    /// Records the transfer at the segment's end: every slot's importance `[B, K]` and what
    /// moved.
    pub(crate) fn record_transfer(&mut self, importance: Tensor<2>, transfer: &Transfer) {
        let [_, m] = transfer.slots.dims();
        self.importance = Some(importance.narrow(0, 0, 1).reshape([self.slots]));
        let width = transfer.compressed.width.clone().detach();
        self.transfer = Some((
            transfer.slots.clone().narrow(0, 0, 1).reshape([m]),
            transfer.importance.clone().narrow(0, 0, 1).reshape([m]),
            width.narrow(0, 0, 1).reshape([m]),
            transfer.level,
        ));
    }

    /// Records how full each level is after the segment, and how many segments it covers.
    pub(crate) fn record_levels(&mut self, fill: Vec<f32>, span: Vec<u64>) {
        self.level_fill = fill;
        self.level_span = span;
    }

    /// Every float tensor in a fixed order, concatenated, so one readback suffices.
    fn parts(&self) -> (Tensor<1>, Option<Tensor<1, Int>>) {
        let mut floats: Vec<Tensor<1>> = Vec::new();
        for kinds in 0..6 {
            floats.extend(self.per_update.iter().map(|u| u[kinds].clone()));
        }
        floats.extend(self.importance.clone());
        if let Some((_, imp, width, _)) = &self.transfer {
            floats.push(imp.clone());
            floats.push(width.clone());
        }
        floats.extend(self.retrieval_per_level.clone());
        let device = self.per_update.first().map(|u| u[0].device());
        let flat = match device {
            Some(_) if !floats.is_empty() => Tensor::cat(floats, 0),
            _ => Tensor::from_data(
                burn::tensor::TensorData::new(Vec::<f32>::new(), [0]),
                &Default::default(),
            ),
        };
        (flat, self.transfer.as_ref().map(|t| t.0.clone()))
    }

    fn assemble(&self, flat: Vec<f32>, slot_ids: Option<Vec<i64>>) -> MemoryTrace {
        let (k, h, u) = (self.slots, self.heads, self.per_update.len());
        let mut rest = flat.as_slice();
        let mut take = |n: usize| {
            let (a, b) = rest.split_at(n.min(rest.len()));
            rest = b;
            a.to_vec()
        };
        let write_weights = take(u * h * k);
        let read_weights = take(u * h * k);
        let slot_norms = take(u * k);
        let age = take(u * k);
        let usage = take(u * k);
        let hold = take(u * k);
        let importance = if self.importance.is_some() {
            take(k)
        } else {
            Vec::new()
        };
        let transfer = self.transfer.as_ref().map(|(_, _, _, level)| {
            let ids = slot_ids.clone().unwrap_or_default();
            TransferEvent {
                importance: take(ids.len()),
                width: take(ids.len()),
                slots: ids.into_iter().map(|i| i as u32).collect(),
                level: *level,
            }
        });
        let retrieval_per_level = if self.retrieval_per_level.is_some() {
            take(self.levels)
        } else {
            Vec::new()
        };
        MemoryTrace {
            segment: self.segment,
            slots: k,
            heads: h,
            levels: self.levels,
            updates: u,
            write_weights,
            read_weights,
            slot_norms,
            age,
            usage,
            hold,
            importance,
            transfer,
            level_fill: self.level_fill.clone(),
            level_span: self.level_span.clone(),
            retrieval_per_level,
        }
    }

    /// Reads the trace back (blocking; native only).
    pub fn read(&self) -> MemoryTrace {
        let (flat, ids) = self.parts();
        let flat = flat
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let ids = ids.map(|t| {
            t.into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap_or_default()
        });
        self.assemble(flat, ids)
    }

    /// Reads the trace back without blocking (required in the browser). An error means the
    /// device failed (a lost GPU): a trace is never handed on with figures missing.
    pub async fn read_async(&self) -> Result<MemoryTrace, DeviceError> {
        let (flat, ids) = self.parts();
        let expected = flat.dims()[0];
        let flat = flat
            .into_data_async()
            .await
            .map_err(DeviceError::of)?
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        if flat.len() != expected {
            return Err(DeviceError::of(format!(
                "the trace read back {} of its {expected} values",
                flat.len()
            )));
        }
        let ids = match ids {
            Some(t) => Some(
                t.into_data_async()
                    .await
                    .map_err(DeviceError::of)?
                    .convert::<i64>()
                    .try_to_vec::<i64>()
                    .unwrap_or_default(),
            ),
            None => None,
        };
        Ok(self.assemble(flat, ids))
    }
}
