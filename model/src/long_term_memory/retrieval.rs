//! Reading the long-term memory: the levels packed into one buffer, and the hierarchical
//! attention of a segment's tokens over it (§2.2.3), [`crate::ops::retrieve`] with one learned
//! bias per level.

use burn::tensor::{Bool, Device, Tensor, TensorData};

use super::{LongTermMemory, LongTermMemoryState};
use crate::ops::auto;

/// The level-packed view that [`crate::ops::retrieve`] reads.
#[derive(Debug, Clone)]
pub struct PackedLevels {
    /// `[B, E, d]`, level `i` at entries `[i·m, (i+1)·m)`.
    pub entries: Tensor<3>,
    /// `[B, E]`
    pub valid: Tensor<2, Bool>,
    /// `[B, E]`: each entry's importance (0 in empty levels).
    pub importance: Tensor<2>,
}

/// What a segment's tokens read from long-term memory.
#[derive(Debug, Clone)]
pub struct LongTermRead {
    /// Retrieved context per token, `[B, L, d]`.
    pub context: Tensor<3>,
    /// Retrieval weights over the packed entries, `[B, L, E]`.
    pub weights: Tensor<3>,
    /// Mean of the valid entries, `[B, d]`: what the importance head sees of long-term memory.
    pub summary: Tensor<2>,
    /// Which packed entries could be read, `[B, E]`.
    pub valid: Tensor<2, Bool>,
    /// The packed entries' importance, `[B, E]`, as the transfers that stored them gave it
    /// (with its gradient): what [`crate::loss::hindsight_importance`] trains.
    pub importance: Tensor<2>,
}

impl LongTermMemory {
    /// Packs the levels into one buffer; empty levels and discarded entries (width 0) are
    /// invalid, and empty levels are zeros.
    pub fn pack(
        &self,
        state: &LongTermMemoryState,
        batch: usize,
        d_model: usize,
        device: &Device,
    ) -> PackedLevels {
        let m = self.per_level;
        let entries = state
            .levels
            .iter()
            .map(|l| match l {
                Some(b) => b.entries.clone(),
                None => Tensor::zeros([batch, m, d_model], device),
            })
            .collect();
        let valid = state
            .levels
            .iter()
            .map(|l| match l {
                Some(b) => b.width.clone().greater_elem(0.0),
                None => Tensor::<2, Bool>::from_data(
                    TensorData::new(vec![false; batch * m], [batch, m]),
                    device,
                ),
            })
            .collect();
        let importance = state
            .levels
            .iter()
            .map(|l| match l {
                Some(b) => b.importance.clone(),
                None => Tensor::zeros([batch, m], device),
            })
            .collect();
        PackedLevels {
            entries: Tensor::cat(entries, 1),
            valid: Tensor::cat(valid, 1),
            importance: Tensor::cat(importance, 1),
        }
    }

    /// Every token's query attends over all levels as `state` holds them.
    ///
    /// # Shapes
    /// - query: `[B, L, d]` → context `[B, L, d]`, weights `[B, L, E]`, summary `[B, d]`
    pub fn read(&self, state: &LongTermMemoryState, query: Tensor<3>) -> LongTermRead {
        let [b, _, d] = query.dims();
        let packed = self.pack(state, b, d, &query.device());
        let retrieved = auto::retrieve(
            self.kernels,
            query,
            packed.entries.clone(),
            self.bias(),
            packed.valid.clone(),
        );
        let valid = packed.valid.clone().float().unsqueeze_dim::<3>(2); // [B, E, 1]
        let summary = (packed.entries * valid.clone()).sum_dim(1).reshape([b, d])
            / valid.sum_dim(1).reshape([b, 1]).clamp_min(1.0);
        LongTermRead {
            context: retrieved.context,
            weights: retrieved.weights,
            summary,
            valid: packed.valid,
            importance: packed.importance,
        }
    }
}
