//! The blocks of the long-term memory and how a transfer's block settles among them: rippling up
//! the levels like a carry through a binary counter, or, in the flat ablation, into one store
//! that keeps the most important entries of any age. Two blocks meet by [`merge`], which keeps
//! the `m` most important of their `2m` entries.

use burn::tensor::{Device, Tensor};

use crate::state_map::{Name, TensorMap};

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
    /// A block of `m` zero entries of width `d` in each of `batch` rows.
    pub fn zeros(batch: usize, m: usize, d: usize, device: &Device) -> Self {
        Self {
            entries: Tensor::zeros([batch, m, d], device),
            importance: Tensor::zeros([batch, m], device),
            width: Tensor::zeros([batch, m], device),
            span: 0,
        }
    }

    /// Applies `f` to each tensor and to the span (see [`TensorMap`]).
    pub fn map_tensors(self, prefix: Name<'_>, f: &mut impl TensorMap) -> Self {
        Self {
            entries: f.map(prefix.field("entries"), self.entries),
            importance: f.map(prefix.field("importance"), self.importance),
            width: f.map(prefix.field("width"), self.width),
            span: f.count(prefix.field("span"), self.span),
        }
    }
}

/// Puts `carry` in level 0 and ripples the carry upwards as in a binary counter; the top level
/// absorbs what reaches it. Returns the level the carry settled in.
pub(super) fn store_levels(
    levels: &mut [Option<LevelBlock>],
    mut carry: LevelBlock,
    m: usize,
) -> usize {
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
pub(super) fn store_flat(
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
    use crate::config::CompressionKind;
    use crate::long_term_memory::LongTermMemoryConfig;
    use burn::tensor::{Device, Distribution, TensorData};

    #[test]
    fn binary_counter_levels_cover_powers_of_two() {
        let device = Device::flex();
        let ltm = LongTermMemoryConfig::new(4, 6, 2, 3).init(&device);
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
        let ltm = LongTermMemoryConfig::new(4, 3, 2, 3).init(&device);
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
        let ltm = LongTermMemoryConfig::new(1, 3, 2, 1)
            .with_compression(CompressionKind::Uncompressed)
            .with_hierarchical(false)
            .init(&device);
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
            let ltm = LongTermMemoryConfig::new(1, 2, 1, 1)
                .with_compression(CompressionKind::Uncompressed)
                .with_hierarchical(hierarchical)
                .init(&device);
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
