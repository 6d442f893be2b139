//! The hierarchical long-term memory `L = {L¹ … L^M}` (§2.1.3): log-spaced levels that merge
//! like a binary counter, as in Logarithmic Memory Networks.
//!
//! At the end of every segment the `m` most important working-memory slots are compressed
//! ([`Compressor`]) and enter level 0 as one block. A level holds one block. When the block
//! arrives at an occupied level, the two blocks merge (the `m` entries of highest importance out
//! of `2m` survive) and the result carries to the next level, exactly as a carry ripples through
//! a binary counter. Level `i < M − 1` therefore always summarizes exactly `2^i` segments, and
//! after `T` segments at most `⌊log₂ T⌋ + 1` blocks are occupied. The top level absorbs every
//! further carry, so memory stays bounded by `M · m` entries for any length.
//!
//! The flat ablation ([`LongTermMemoryConfig::hierarchical`] off) keeps the same `M` blocks of
//! `m` entries as one store: a transfer fills the first empty block, and once all are full the
//! store keeps the `M · m` most important of its entries and the newcomers, whatever their age.
//! Its blocks have no meaning as levels, so retrieval adds no level bias.
//!
//! Which levels are occupied is the same for every batch row (transfers happen at the same
//! segment ends), so it is bookkept on the host without reading anything back from the device.
//!
//! - [`levels`]: the blocks and how a carry settles (binary counter, flat store, merge);
//! - [`retrieval`]: the level-packed buffer and the hierarchical attention that reads it.

mod levels;
mod retrieval;

pub use levels::LevelBlock;
pub use retrieval::{LongTermRead, PackedLevels};

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor};

use crate::compression::{Compressed, Compressor, CompressorConfig};
use crate::config::CompressionKind;
use crate::state_map::{Detach, Name, TensorMap};
use levels::{store_flat, store_levels};

/// Configuration of the [`LongTermMemory`].
#[derive(Config, Debug)]
pub struct LongTermMemoryConfig {
    /// Entry width `d` (= model width).
    pub d_model: usize,
    /// Levels `M`; level `i` summarizes `2^i` segments (the top level absorbs the rest).
    pub levels: usize,
    /// Entries per level `m`: slots moved from working memory at each segment end.
    pub per_level: usize,
    /// Latent width `Z` of a compressed entry.
    pub latent_dim: usize,
    /// How entries are compressed.
    #[config(default = "CompressionKind::Vae")]
    pub compression: CompressionKind,
    /// Log-spaced levels (`true`) or one flat store (the ablation).
    #[config(default = true)]
    pub hierarchical: bool,
    /// Run retrieval as its WGSL kernel on wgpu devices.
    #[config(default = true)]
    pub kernels: bool,
}

/// The long-term contents carried across segments.
#[derive(Debug, Clone)]
pub struct LongTermMemoryState {
    /// Level `i`, or `None` when empty.
    pub levels: Vec<Option<LevelBlock>>,
    /// Segments transferred so far.
    pub segments: u64,
}

impl LongTermMemoryState {
    /// Cuts the autodiff graph at a segment boundary.
    pub fn detach(self) -> Self {
        self.map_tensors(Name::ROOT, &mut Detach)
    }

    /// Applies `f` to each occupied level's tensors, named `levels.{i}.{field}` under
    /// `prefix`, and to the counters (see [`TensorMap`]).
    pub fn map_tensors(self, prefix: Name<'_>, f: &mut impl TensorMap) -> Self {
        let list = prefix.field("levels");
        let levels = self
            .levels
            .into_iter()
            .enumerate()
            .map(|(i, l)| l.map(|l| l.map_tensors(list.index(i), f)))
            .collect();
        Self {
            levels,
            segments: f.count(prefix.field("segments"), self.segments),
        }
    }

    /// Occupied entries in total.
    pub fn occupied_entries(&self, per_level: usize) -> usize {
        self.levels.iter().filter(|l| l.is_some()).count() * per_level
    }

    /// Fraction of each level occupied: 1 or 0, a level holds one block or none.
    pub fn fill(&self) -> Vec<f32> {
        self.levels
            .iter()
            .map(|l| if l.is_some() { 1.0 } else { 0.0 })
            .collect()
    }

    /// Segments covered by each level (0 when empty).
    pub fn spans(&self) -> Vec<u64> {
        self.levels
            .iter()
            .map(|l| l.as_ref().map_or(0, |b| b.span))
            .collect()
    }

    /// Bytes the compressed entries take: kept latent dimensions × 4 bytes, summed over levels
    /// and averaged over the batch (a `[1]` tensor, on the device).
    pub fn compressed_bytes(&self, device: &Device) -> Tensor<1> {
        self.levels
            .iter()
            .flatten()
            .map(|l| l.width.clone().sum_dim(1).mean() * 4.0)
            .fold(Tensor::zeros([1], device), |a, b| a + b)
    }
}

/// What one transfer did (for traces and the RL policy).
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Working-memory slots moved, `[B, m]`.
    pub slots: Tensor<2, Int>,
    /// Their importance, `[B, m]`.
    pub importance: Tensor<2>,
    /// Level the carry settled in.
    pub level: usize,
    /// VAE terms of this compression.
    pub compressed: Compressed,
}

/// Which working-memory slots a transfer takes, and what becomes of each.
#[derive(Debug, Clone)]
pub struct Picks {
    /// The picked slots, `[B, m]`.
    pub slots: Tensor<2, Int>,
    /// 1 where the pick moves, 0 where it is discarded (a slot no update wrote), `[B, m]`.
    pub moves: Tensor<2>,
    /// A learned policy's compression level per pick: the fraction of the latent width kept,
    /// 0 to discard it, `[B, m]`; `None` lets importance set the width.
    pub keep: Option<Tensor<2>>,
}

/// Each working-memory slot's importance `[B, K]`, twice over, with the same values.
#[derive(Debug, Clone)]
pub struct SlotImportance {
    /// As the importance head computed it from the slots: it sets the compressed width and
    /// carries the straight-through gradient of the selection.
    pub scores: Tensor<2>,
    /// What a moved entry keeps as its importance. When a hindsight loss trains it
    /// ([`crate::loss::hindsight_importance`]), its gradient reaches the importance head alone,
    /// so that loss does not also reshape the slots, the encoder or long-term memory it was
    /// computed from; otherwise it is `scores` itself.
    pub stored: Tensor<2>,
}

/// Long-term memory parameters: the compressor and one retrieval bias per level.
#[derive(Module, Debug)]
pub struct LongTermMemory {
    compressor: Compressor,
    /// `[M]`: added to the retrieval scores of each level's entries.
    pub level_bias: Param<Tensor<1>>,
    levels: usize,
    per_level: usize,
    /// Off: one flat store (see the module documentation).
    hierarchical: bool,
    kernels: bool,
}

impl LongTermMemoryConfig {
    /// Initializes the compressor and the level biases (0: no level is preferred at first).
    pub fn init(&self, device: &Device) -> LongTermMemory {
        LongTermMemory {
            compressor: CompressorConfig::new(self.d_model, self.latent_dim)
                .with_kind(self.compression)
                .init(device),
            level_bias: Param::from_tensor(Tensor::zeros([self.levels], device)),
            levels: self.levels,
            per_level: self.per_level,
            hierarchical: self.hierarchical,
            kernels: self.kernels,
        }
    }
}

impl LongTermMemory {
    /// The retrieval bias per level, `[M]`: learned for levels, zero for a flat store.
    pub fn bias(&self) -> Tensor<1> {
        if self.hierarchical {
            self.level_bias.val()
        } else {
            self.level_bias.val().zeros_like()
        }
    }

    /// Levels `M`.
    pub fn levels(&self) -> usize {
        self.levels
    }

    /// Entries per level `m`.
    pub fn per_level(&self) -> usize {
        self.per_level
    }

    /// Latent width `Z` of a compressed entry.
    pub fn latent_width(&self) -> usize {
        self.compressor.latent_dim()
    }

    /// An empty memory.
    pub fn init_state(&self) -> LongTermMemoryState {
        LongTermMemoryState {
            levels: vec![None; self.levels],
            segments: 0,
        }
    }

    /// Moves the `m` most important slots into level 0 and ripples the carry upwards.
    ///
    /// # Shapes
    /// - slots: `[B, K, d]`, importance: `[B, K]`
    pub fn transfer(
        &self,
        state: LongTermMemoryState,
        slots: Tensor<3>,
        importance: Tensor<2>,
        sample: bool,
    ) -> (LongTermMemoryState, Transfer) {
        let (_, idx) = crate::ops::top_k(importance.clone(), self.per_level, 1); // [B, m]
        let picks = Picks {
            moves: idx.clone().float().ones_like(),
            slots: idx,
            keep: None,
        };
        let importance = SlotImportance {
            scores: importance.clone(),
            stored: importance,
        };
        self.transfer_slots(state, slots, importance, picks, sample)
    }

    /// Moves the picked slots into level 0 and ripples the carry upwards.
    ///
    /// An entry that does not move (`moves` 0, or a learned policy's `keep` 0) is discarded: it
    /// holds zeros, has importance 0 (it is the first to go when blocks merge), width 0 (no
    /// bytes) and is never read. Each moved entry keeps the fraction `keep` of the latent width,
    /// a learned policy's compression level. Without `keep` the slots' importance sets how wide
    /// each is compressed, and a straight-through estimate of the selection carries the task loss
    /// back to it.
    pub fn transfer_slots(
        &self,
        state: LongTermMemoryState,
        slots: Tensor<3>,
        importance: SlotImportance,
        picks: Picks,
        sample: bool,
    ) -> (LongTermMemoryState, Transfer) {
        let [b, _, d] = slots.dims();
        let m = self.per_level;
        let Picks {
            slots: idx,
            moves,
            keep,
        } = picks;
        let stored = importance.stored.gather(1, idx.clone());
        let mut top_importance = importance.scores.gather(1, idx.clone());
        let chosen = slots.gather(1, idx.clone().unsqueeze_dim::<3>(2).expand([b, m, d]));
        let width = keep.clone().unwrap_or_else(|| top_importance.clone());
        let mut compressed = self.compressor.forward(chosen, width, sample);
        let kept = match keep {
            Some(keep) => moves * keep.greater_elem(0.0).float(),
            None => {
                // Straight-through estimate of the selection: forward the entries as they are
                // (the factor is exactly 1), backward each entry's gradient · entry reaches its
                // slot's importance, so the importance head also learns from whether a moved
                // slot helped.
                let st = top_importance.clone() - top_importance.clone().detach() + 1.0;
                compressed.decoded = compressed.decoded * st.unsqueeze_dim::<3>(2);
                moves
            }
        }; // [B, m]
        compressed.decoded = compressed.decoded * kept.clone().unsqueeze_dim::<3>(2);
        compressed.width = compressed.width * kept.clone();
        top_importance = top_importance * kept.clone();
        let carry = LevelBlock {
            entries: compressed.decoded.clone(),
            importance: stored * kept,
            width: compressed.width.clone(),
            span: 1,
        };

        let mut levels = state.levels;
        let landed = if self.hierarchical {
            store_levels(&mut levels, carry, m)
        } else {
            store_flat(&mut levels, carry, m, state.segments + 1)
        };
        let state = LongTermMemoryState {
            levels,
            segments: state.segments + 1,
        };
        (
            state,
            Transfer {
                slots: idx,
                importance: top_importance,
                level: landed,
                compressed,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn the_selection_passes_the_task_gradient_to_importance_straight_through() {
        // Uncompressed entries, so importance reaches the loss only through the selection.
        let device = Device::flex().autodiff();
        let ltm = LongTermMemoryConfig::new(2, 2, 1, 1)
            .with_compression(CompressionKind::Uncompressed)
            .init(&device);
        let slots = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [1, 3, 2]),
            &device,
        );
        let imp = Tensor::<2>::from_data(TensorData::new(vec![0.2f32, 0.9, 0.5], [1, 3]), &device)
            .require_grad();
        let (st, _) = ltm.transfer(ltm.init_state(), slots, imp.clone(), false);
        let entries = ltm.pack(&st, 1, 2, &device).entries;
        // Forward: the most important slot, exactly (the factor is 1).
        let stored = entries.clone().narrow(1, 0, 1).into_data();
        assert_eq!(stored.try_to_vec::<f32>().unwrap(), vec![3.0, 4.0]);
        // Backward: d(Σ entries)/d importance = Σ of the moved slot's values, for the moved slot
        // only.
        let grads = entries.sum().backward();
        let g = imp.grad(&grads).unwrap().into_data();
        assert_eq!(g.try_to_vec::<f32>().unwrap(), vec![0.0, 7.0, 0.0]);
    }

    #[test]
    fn discarded_entries_cost_nothing_and_are_never_read() {
        let device = Device::flex();
        let ltm = LongTermMemoryConfig::new(4, 3, 2, 8).init(&device);
        let slots = Tensor::<3>::random([2, 5, 4], Distribution::Normal(0.0, 1.0), &device);
        let imp = Tensor::<2>::random([2, 5], Distribution::Uniform(0.1, 1.0), &device);
        let idx =
            Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 3], [2, 2]), &device);
        // Row 0 keeps its first entry at a quarter width and discards the second; row 1 keeps
        // both whole.
        let keep = Tensor::<2>::from_data(
            TensorData::new(vec![0.25f32, 0.0, 1.0, 1.0], [2, 2]),
            &device,
        );
        let picks = Picks {
            moves: idx.clone().float().ones_like(),
            slots: idx,
            keep: Some(keep),
        };
        let importance = SlotImportance {
            scores: imp.clone(),
            stored: imp,
        };
        let (st, _) = ltm.transfer_slots(ltm.init_state(), slots, importance, picks, false);
        let valid = ltm.pack(&st, 2, 4, &device).valid;
        let valid = valid.into_data().try_to_vec::<bool>().unwrap();
        // Level 0 holds the block; levels 1 and 2 are empty.
        assert_eq!(
            valid,
            [
                [true, false, false, false, false, false],
                [true, true, false, false, false, false]
            ]
            .concat()
        );
        let block = st.levels[0].as_ref().unwrap();
        let w = block.width.clone().into_data().try_to_vec::<f32>().unwrap();
        assert!(
            (w[0] - 2.0).abs() < 0.3 && w[1] == 0.0 && (w[2] - 8.0).abs() < 0.3,
            "{w:?}"
        );
        let imp = block
            .importance
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(imp[1], 0.0);
        // Bytes: (2 + 0 + 8 + 8) kept dimensions × 4 bytes, averaged over the 2 rows.
        let bytes = st.compressed_bytes(&device).into_scalar::<f32>();
        assert!((bytes - 36.0).abs() < 1.5, "{bytes}");
    }
}
