//! The causal Transformer baseline: a pre-norm block with softmax attention over a sliding
//! window of the last `W` tokens (Longformer's local attention, Beltagy et al. 2020). The keys
//! and values of the last `W − 1` tokens are carried across segments, so a sequence of any length
//! streams with memory `O(W)` and time `O(L · W)`, and a token never sees further back than
//! `W − 1` tokens. Positions enter only through causal masking (no positional encoding).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Int, Tensor};

use super::attention::{AttentionConfig, OutputMlp, QkvHeads};
use crate::state_map::{Name, TensorMap};

/// Configuration of one [`SlidingWindowBlock`].
#[derive(Config, Debug)]
pub struct SlidingWindowBlockConfig {
    /// Model width `D`.
    pub d_model: usize,
    /// Attention heads; must divide `D`.
    pub heads: usize,
    /// Tokens a query sees, itself included.
    pub window: usize,
}

/// One Transformer block: windowed attention and MLP, each pre-norm with a residual.
#[derive(Module, Debug)]
pub struct SlidingWindowBlock {
    qkv: QkvHeads,
    output: OutputMlp,
    window: usize,
}

/// Keys and values of the last tokens, carried across segments.
#[derive(Debug, Clone)]
pub struct SlidingWindowState {
    /// `[B, H, W − 1, d_head]`; the last `cached` rows hold real tokens, in order.
    pub k: Tensor<4>,
    /// Same layout as `k`.
    pub v: Tensor<4>,
    /// Tokens cached so far (at most `W − 1`; host-side, the same for every row).
    pub cached: usize,
}

impl SlidingWindowState {
    /// Applies `f` to each tensor and to the count of cached tokens (see [`TensorMap`]).
    pub fn map_tensors(self, prefix: Name<'_>, f: &mut impl TensorMap) -> Self {
        Self {
            k: f.map(prefix.field("k"), self.k),
            v: f.map(prefix.field("v"), self.v),
            cached: f.count(prefix.field("cached"), self.cached as u64) as usize,
        }
    }
}

impl SlidingWindowBlockConfig {
    /// Initializes a block.
    pub fn init(&self, device: &Device) -> SlidingWindowBlock {
        let attention = AttentionConfig::new(self.d_model, self.heads);
        SlidingWindowBlock {
            qkv: attention.init_qkv(device),
            output: attention.init_output(device),
            window: self.window.max(1),
        }
    }
}

impl SlidingWindowBlock {
    fn cache_len(&self) -> usize {
        // At least one row, so the cache is never an empty tensor; unused rows are masked.
        (self.window - 1).max(1)
    }

    /// An empty cache for a batch.
    pub fn init_state(&self, batch: usize, device: &Device) -> SlidingWindowState {
        let shape = [
            batch,
            self.qkv.heads(),
            self.cache_len(),
            self.qkv.head_dim(),
        ];
        SlidingWindowState {
            k: Tensor::zeros(shape, device),
            v: Tensor::zeros(shape, device),
            cached: 0,
        }
    }

    /// # Shapes
    /// - x: `[B, L, D]` → `[B, L, D]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        state: SlidingWindowState,
    ) -> (Tensor<3>, SlidingWindowState) {
        let [b, l, d] = x.dims();
        let (h, dh) = (self.qkv.heads(), self.qkv.head_dim());
        let device = x.device();
        let (q, k, v) = self.qkv.forward(x.clone()); // [B, H, L, dh]
        let c = self.cache_len();
        let keys = Tensor::cat(vec![state.k, k], 2); // [B, H, C + L, dh]
        let values = Tensor::cat(vec![state.v, v], 2);

        // Key j sits at position p = j − C relative to the segment's first token. Query i sees
        // it when p ≤ i, i − p < W, and it is a real token (a cache row that was filled).
        let i = Tensor::<1, Int>::arange(0..l as i64, &device)
            .reshape([l, 1])
            .expand([l, c + l]);
        let p = Tensor::<1, Int>::arange(-(c as i64)..l as i64, &device)
            .reshape([1, c + l])
            .expand([l, c + l]);
        let offset = i - p.clone(); // i − p
        let filled = p.greater_equal_elem(-(state.cached as i64));
        let visible = offset
            .clone()
            .greater_equal_elem(0)
            .bool_and(offset.lower_elem(self.window as i64))
            .bool_and(filled);
        let hidden: Tensor<4, Bool> =
            visible
                .bool_not()
                .unsqueeze_dims::<4>(&[0, 1])
                .expand([b, h, l, c + l]);
        let scores = q.matmul(keys.clone().swap_dims(2, 3)) / (dh as f64).sqrt();
        let weights = softmax(scores.mask_fill(hidden, -1e9), 3);
        let att = weights
            .matmul(values.clone())
            .swap_dims(1, 2)
            .reshape([b, l, d]);
        let y = self.output.forward(x, att);
        let next = SlidingWindowState {
            k: keys.narrow(2, l, c),
            v: values.narrow(2, l, c),
            cached: (state.cached + l).min(c),
        };
        (y, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn streaming_equals_one_call_and_the_window_limits_what_is_seen() {
        let device = Device::flex();
        let block = SlidingWindowBlockConfig::new(8, 2, 4).init(&device);
        let x = Tensor::<3>::random([2, 11, 8], Distribution::Normal(0.0, 1.0), &device);
        let (whole, _) = block.forward(x.clone(), block.init_state(2, &device));
        let mut state = block.init_state(2, &device);
        let mut parts = Vec::new();
        for (start, len) in [(0, 2), (2, 5), (7, 4)] {
            let (y, s) = block.forward(x.clone().narrow(1, start, len), state);
            parts.push(y);
            state = s;
        }
        Tensor::cat(parts, 1)
            .into_data()
            .assert_approx_eq::<f32>(&whole.clone().into_data(), Tolerance::rel_abs(1e-4, 1e-5));

        // Changing token 0 changes outputs 0..3 (within the window of 4) and nothing after.
        let mut changed = x.clone().into_data().try_to_vec::<f32>().unwrap();
        // Not a constant shift: the block's LayerNorm would remove that.
        for (i, v) in changed[..8].iter_mut().enumerate() {
            *v += if i % 2 == 0 { 1.0 } else { -2.0 };
        }
        let changed =
            Tensor::<3>::from_data(burn::tensor::TensorData::new(changed, [2, 11, 8]), &device);
        let (other, _) = block.forward(changed, block.init_state(2, &device));
        let diff = (other - whole).abs().sum_dim(2).reshape([2, 11]);
        let diff = diff
            .narrow(0, 0, 1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(diff[..4].iter().all(|&d| d > 1e-4), "{diff:?}");
        assert!(diff[4..].iter().all(|&d| d < 1e-5), "{diff:?}");
    }
}
