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
//! The flat ablation ([`LongTermMemory::with_hierarchy`]) keeps the same `M` blocks of `m`
//! entries as one store: a transfer fills the first empty block, and once all are full the
//! store keeps the `M · m` most important of its entries and the newcomers, whatever their age.
//! Its blocks have no meaning as levels, so retrieval adds no level bias.
//!
//! Which levels are occupied is the same for every batch row (transfers happen at the same
//! segment ends), so it is bookkept on the host without reading anything back from the device.

use burn::module::{Module, Param};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::compression::{Compressed, Compressor, CompressorConfig};
use crate::config::CompressionKind;

/// One occupied level: `m` entries with their importance and kept latent width.
#[derive(Debug, Clone)]
pub struct LevelBlock {
    /// `[B, m, d]`
    pub entries: Tensor<3>,
    /// `[B, m]`
    pub importance: Tensor<2>,
    /// `[B, m]`: latent dimensions kept when the entry was compressed.
    pub width: Tensor<2>,
    /// Segments this block summarizes.
    pub span: u64,
}

impl LevelBlock {
    fn detach(self) -> Self {
        Self {
            entries: self.entries.without_autodiff(),
            importance: self.importance.without_autodiff(),
            width: self.width.without_autodiff(),
            span: self.span,
        }
    }
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
        Self {
            levels: self
                .levels
                .into_iter()
                .map(|l| l.map(LevelBlock::detach))
                .collect(),
            segments: self.segments,
        }
    }

    /// Occupied entries in total.
    pub fn occupied_entries(&self, per_level: usize) -> usize {
        self.levels.iter().filter(|l| l.is_some()).count() * per_level
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

/// The level-packed view that [`crate::ops::retrieve`] reads.
#[derive(Debug, Clone)]
pub struct PackedLevels {
    /// `[B, E, d]`, level `i` at entries `[i·m, (i+1)·m)`.
    pub entries: Tensor<3>,
    /// `[B, E]`
    pub valid: Tensor<2, Bool>,
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
}

impl LongTermMemory {
    /// Builds `levels` levels of `per_level` entries, compressing through `latent_dim`.
    pub fn new(
        d_model: usize,
        levels: usize,
        per_level: usize,
        latent_dim: usize,
        device: &Device,
    ) -> Self {
        Self {
            compressor: CompressorConfig::new(d_model, latent_dim).init(device),
            level_bias: Param::from_tensor(Tensor::zeros([levels], device)),
            levels,
            per_level,
            hierarchical: true,
        }
    }

    /// The same memory compressing with `kind`.
    pub fn with_compression(mut self, kind: CompressionKind) -> Self {
        let device = self.level_bias.val().device();
        let [d, _] = self.compressor.encoder_dims();
        self.compressor = CompressorConfig::new(d, self.compressor.configured_latent())
            .with_kind(kind)
            .init(&device);
        self
    }

    /// The same memory as log-spaced levels (`true`, the default) or one flat store.
    pub fn with_hierarchy(mut self, hierarchical: bool) -> Self {
        self.hierarchical = hierarchical;
        self
    }

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
        let valid = Tensor::cat(valid, 1);
        PackedLevels {
            entries: Tensor::cat(entries, 1),
            valid,
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
        self.transfer_slots(state, slots, importance, idx, None, sample)
    }

    /// Moves the chosen slots `idx` (`[B, m]`) into level 0 and ripples the carry upwards.
    ///
    /// Each entry keeps the fraction `keep` (`[B, m]`) of the latent width, a learned policy's
    /// compression level; an entry with `keep = 0` is discarded: it holds zeros, has importance
    /// 0 (it is the first to go when blocks merge), width 0 (no bytes) and is never read.
    /// Without `keep` the slots' importance sets how wide each is compressed, and a
    /// straight-through estimate of the selection carries the task loss back to it.
    pub fn transfer_slots(
        &self,
        state: LongTermMemoryState,
        slots: Tensor<3>,
        importance: Tensor<2>,
        idx: Tensor<2, Int>,
        keep: Option<Tensor<2>>,
        sample: bool,
    ) -> (LongTermMemoryState, Transfer) {
        let [b, _, d] = slots.dims();
        let m = self.per_level;
        let mut top_importance = importance.gather(1, idx.clone());
        let chosen = slots.gather(1, idx.clone().unsqueeze_dim::<3>(2).expand([b, m, d]));
        let width = keep.clone().unwrap_or_else(|| top_importance.clone());
        let mut compressed = self.compressor.forward(chosen, width, sample);
        if keep.is_none() {
            // Straight-through estimate of the selection: forward the entries as they are (the
            // factor is exactly 1), backward each entry's gradient · entry reaches its slot's
            // importance, so the importance head also learns from whether a moved slot helped.
            let st = top_importance.clone() - top_importance.clone().detach() + 1.0;
            compressed.decoded = compressed.decoded * st.unsqueeze_dim::<3>(2);
        }
        if let Some(keep) = keep {
            let kept = keep.greater_elem(0.0).float(); // [B, m]
            compressed.decoded = compressed.decoded * kept.clone().unsqueeze_dim::<3>(2);
            compressed.width = compressed.width * kept.clone();
            top_importance = top_importance * kept;
        }
        let carry = LevelBlock {
            entries: compressed.decoded.clone(),
            importance: top_importance.clone(),
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

/// Puts `carry` in level 0 and ripples the carry upwards as in a binary counter; the top level
/// absorbs what reaches it. Returns the level the carry settled in.
fn store_levels(levels: &mut [Option<LevelBlock>], mut carry: LevelBlock, m: usize) -> usize {
    let top = levels.len() - 1;
    for (i, level) in levels.iter_mut().enumerate() {
        match level.take() {
            None => {
                *level = Some(carry);
                return i;
            }
            Some(existing) if i == top => {
                *level = Some(merge(existing, carry, m));
                return i;
            }
            Some(existing) => carry = merge(existing, carry, m),
        }
    }
    top
}

/// Puts `carry` in the first empty block of a flat store, or, when every block is full, keeps
/// the `M · m` most important of all entries and the carry's, refilling the blocks in order of
/// importance. Every block then reports the span of the whole store, `segments`. Returns the
/// block the carry went to (the last one for a full store).
fn store_flat(
    blocks: &mut [Option<LevelBlock>],
    carry: LevelBlock,
    m: usize,
    segments: u64,
) -> usize {
    if let Some(free) = blocks.iter().position(Option::is_none) {
        blocks[free] = Some(carry);
        return free;
    }
    let mut all: Vec<LevelBlock> = blocks.iter_mut().filter_map(Option::take).collect();
    all.push(carry);
    let [batch, _, d] = all[0].entries.dims();
    let keep = blocks.len() * m;
    let cat = |f: fn(&LevelBlock) -> Tensor<2>| Tensor::cat(all.iter().map(f).collect(), 1);
    let importance = cat(|b| b.importance.clone());
    let width = cat(|b| b.width.clone());
    let entries = Tensor::cat(all.iter().map(|b| b.entries.clone()).collect(), 1);
    let (importance, idx) = crate::ops::top_k(importance, keep, 1);
    let entries = entries.gather(
        1,
        idx.clone().unsqueeze_dim::<3>(2).expand([batch, keep, d]),
    );
    let width = width.gather(1, idx);
    for (i, block) in blocks.iter_mut().enumerate() {
        *block = Some(LevelBlock {
            entries: entries.clone().narrow(1, i * m, m),
            importance: importance.clone().narrow(1, i * m, m),
            width: width.clone().narrow(1, i * m, m),
            span: segments,
        });
    }
    blocks.len() - 1
}

/// Keeps the `m` most important of two blocks' `2m` entries; spans add.
fn merge(a: LevelBlock, b: LevelBlock, m: usize) -> LevelBlock {
    let [batch, _, d] = a.entries.dims();
    let entries = Tensor::cat(vec![a.entries, b.entries], 1);
    let importance = Tensor::cat(vec![a.importance, b.importance], 1);
    let width = Tensor::cat(vec![a.width, b.width], 1);
    let (importance, idx) = crate::ops::top_k(importance, m, 1);
    LevelBlock {
        entries: entries.gather(1, idx.clone().unsqueeze_dim::<3>(2).expand([batch, m, d])),
        importance,
        width: width.gather(1, idx),
        span: a.span + b.span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn binary_counter_levels_cover_powers_of_two() {
        let device = Device::flex();
        let ltm = LongTermMemory::new(4, 6, 2, 3, &device);
        let mut st = ltm.init_state();
        for t in 1..=40u64 {
            let slots = Tensor::<3>::random([2, 5, 4], Distribution::Normal(0.0, 1.0), &device);
            let imp = Tensor::<2>::random([2, 5], Distribution::Uniform(0.0, 1.0), &device);
            st = ltm.transfer(st, slots, imp, false).0.detach();
            // Occupied levels are the set bits of t (below the top level): O(log T) entries.
            let occupied = st.levels.iter().filter(|l| l.is_some()).count();
            assert!(occupied as u32 <= t.ilog2() + 1, "t={t}: {occupied} levels");
            assert_eq!(occupied as u32, t.count_ones(), "t={t}");
            for (i, span) in st.spans().into_iter().enumerate() {
                if span > 0 {
                    assert_eq!(span, 1 << i, "t={t}: level {i} must cover 2^{i} segments");
                }
            }
            assert_eq!(st.spans().iter().sum::<u64>(), t);
        }
    }

    #[test]
    fn top_level_absorbs_carries_and_memory_stays_bounded() {
        let device = Device::flex();
        let ltm = LongTermMemory::new(4, 3, 2, 3, &device);
        let mut st = ltm.init_state();
        for _ in 0..20 {
            let slots = Tensor::<3>::random([1, 4, 4], Distribution::Normal(0.0, 1.0), &device);
            st = ltm
                .transfer(
                    st,
                    slots,
                    Tensor::random([1, 4], Distribution::Uniform(0.0, 1.0), &device),
                    false,
                )
                .0;
        }
        assert!(st.occupied_entries(2) <= 6);
        assert_eq!(st.spans().iter().sum::<u64>(), 20);
        let packed = ltm.pack(&st, 1, 4, &device);
        assert_eq!(packed.entries.dims(), [1, 6, 4]);
    }

    #[test]
    fn a_flat_store_keeps_the_most_important_entries_of_any_age() {
        let device = Device::flex();
        let ltm = LongTermMemory::new(1, 3, 2, 1, &device)
            .with_compression(CompressionKind::Uncompressed)
            .with_hierarchy(false);
        // One slot value per segment; its importance is the value itself except that segment 1's
        // slots are the most important of all, so they must survive every later transfer.
        let mut st = ltm.init_state();
        for t in 1..=9u32 {
            let imp = if t == 1 { 0.99 } else { t as f32 / 20.0 };
            let slots = Tensor::<3>::from_data(
                TensorData::new(vec![t as f32, t as f32 + 0.5], [1, 2, 1]),
                &device,
            );
            let imp = Tensor::<2>::from_data(TensorData::new(vec![imp, imp], [1, 2]), &device);
            st = ltm.transfer(st, slots, imp, false).0;
            // Blocks fill one per segment, then each reports the span of the whole store.
            let expected: Vec<u64> = (0..3)
                .map(|i| {
                    if t <= 3 {
                        u64::from(i < t)
                    } else {
                        u64::from(t)
                    }
                })
                .collect();
            assert_eq!(st.spans(), expected, "t={t}");
        }
        let kept = ltm
            .pack(&st, 1, 1, &device)
            .entries
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let mut kept = kept;
        kept.sort_by(f32::total_cmp);
        // Segment 1 and the two most recent (most important) segments, 8 and 9.
        assert_eq!(kept, vec![1.0, 1.5, 8.0, 8.5, 9.0, 9.5]);
        // A flat store has no levels to prefer.
        assert_eq!(
            ltm.bias().into_data().try_to_vec::<f32>().unwrap(),
            vec![0.0; 3]
        );
    }

    #[test]
    fn levels_follow_the_binary_counter_where_a_flat_store_fills_every_block() {
        let device = Device::flex();
        let run = |hierarchical: bool| {
            let ltm = LongTermMemory::new(1, 2, 1, 1, &device)
                .with_compression(CompressionKind::Uncompressed)
                .with_hierarchy(hierarchical);
            let mut st = ltm.init_state();
            for (t, imp) in [(1.0f32, 0.9f32), (2.0, 0.1), (3.0, 0.2), (4.0, 0.3)] {
                let slots = Tensor::<3>::from_data(TensorData::new(vec![t], [1, 1, 1]), &device);
                let imp = Tensor::<2>::from_data(TensorData::new(vec![imp], [1, 1]), &device);
                st = ltm.transfer(st, slots, imp, false).0;
            }
            let mut v = ltm
                .pack(&st, 1, 1, &device)
                .entries
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            v.sort_by(f32::total_cmp);
            v
        };
        // After 4 segments the two levels hold one block, in the top level: the most important
        // of segments 1–4; level 0 is empty (zeros). The flat store fills both blocks with the
        // two most important entries of all.
        assert_eq!(run(false), vec![1.0, 4.0]);
        assert_eq!(run(true), vec![0.0, 1.0]);
    }

    #[test]
    fn the_selection_passes_the_task_gradient_to_importance_straight_through() {
        // Uncompressed entries, so importance reaches the loss only through the selection.
        let device = Device::flex().autodiff();
        let ltm = LongTermMemory::new(2, 2, 1, 1, &device)
            .with_compression(CompressionKind::Uncompressed);
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
        let ltm = LongTermMemory::new(4, 3, 2, 8, &device);
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
        let (st, _) = ltm.transfer_slots(ltm.init_state(), slots, imp, idx, Some(keep), false);
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

    #[test]
    fn merge_keeps_the_most_important_entries() {
        let device = Device::flex();
        let block = |vals: [f32; 2], imp: [f32; 2]| LevelBlock {
            entries: Tensor::from_data(TensorData::new(vals.to_vec(), [1, 2, 1]), &device),
            importance: Tensor::from_data(TensorData::new(imp.to_vec(), [1, 2]), &device),
            width: Tensor::ones([1, 2], &device),
            span: 1,
        };
        let merged = merge(
            block([1.0, 2.0], [0.1, 0.9]),
            block([3.0, 4.0], [0.8, 0.2]),
            2,
        );
        let mut kept = merged.entries.into_data().try_to_vec::<f32>().unwrap();
        kept.sort_by(f32::total_cmp);
        assert_eq!(kept, vec![2.0, 3.0]);
        assert_eq!(merged.span, 2);
    }
}
