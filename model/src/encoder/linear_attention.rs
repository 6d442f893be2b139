//! A causal transformer block with kernelized linear attention (Katharopoulos et al. 2020,
//! "Transformers are RNNs", eq. 4–6, feature map φ(x) = elu(x) + 1), the second base encoder of
//! §2.4.1. Attention state `S = Σ φ(k) vᵀ`, `z = Σ φ(k)` is carried across segments, so memory is
//! `O(L)` in the sequence and constant across segments.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::elu;
use burn::tensor::{Bool, Device, Tensor};

use super::attention::{AttentionConfig, OutputMlp, QkvHeads};
use crate::state_map::{Name, TensorMap};

/// Configuration of one [`LinearAttentionBlock`].
#[derive(Config, Debug)]
pub struct LinearAttentionBlockConfig {
    /// Model width `D`.
    pub d_model: usize,
    /// Attention heads; must divide `D`.
    pub heads: usize,
    /// Tokens attended quadratically at once (the rest goes through the carried state).
    pub chunk: usize,
}

/// One linear-attention transformer block: attention and MLP, each pre-norm with a residual.
#[derive(Module, Debug)]
pub struct LinearAttentionBlock {
    qkv: QkvHeads,
    output: OutputMlp,
    chunk: usize,
}

/// Attention state carried across segments.
#[derive(Debug, Clone)]
pub struct LinearAttentionState {
    /// `Σ φ(k) vᵀ`, `[B, heads, d_head, d_head]`.
    pub s: Tensor<4>,
    /// `Σ φ(k)`, `[B, heads, d_head, 1]`.
    pub z: Tensor<4>,
}

impl LinearAttentionState {
    /// Applies `f` to each tensor (see [`TensorMap`]).
    pub fn map_tensors(self, prefix: Name<'_>, f: &mut impl TensorMap) -> Self {
        Self {
            s: f.map(prefix.field("s"), self.s),
            z: f.map(prefix.field("z"), self.z),
        }
    }
}

fn feature_map(x: Tensor<4>) -> Tensor<4> {
    elu(x, 1.0) + 1.0
}

impl LinearAttentionBlockConfig {
    /// Initializes a block.
    pub fn init(&self, device: &Device) -> LinearAttentionBlock {
        let attention = AttentionConfig::new(self.d_model, self.heads);
        LinearAttentionBlock {
            qkv: attention.init_qkv(device),
            output: attention.init_output(device),
            chunk: self.chunk,
        }
    }
}

impl LinearAttentionBlock {
    /// A zero state for a batch.
    pub fn init_state(&self, batch: usize, device: &Device) -> LinearAttentionState {
        let (h, dh) = (self.qkv.heads(), self.qkv.head_dim());
        LinearAttentionState {
            s: Tensor::zeros([batch, h, dh, dh], device),
            z: Tensor::zeros([batch, h, dh, 1], device),
        }
    }

    /// # Shapes
    /// - x: `[B, L, D]` → `[B, L, D]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        state: LinearAttentionState,
    ) -> (Tensor<3>, LinearAttentionState) {
        let [b, l, d] = x.dims();
        let h = self.qkv.heads();
        let device = x.device();
        let (q, k, v) = self.qkv.forward(x.clone());
        let (q, k) = (feature_map(q), feature_map(k));

        let (mut s, mut z) = (state.s, state.z);
        let mut outs = Vec::with_capacity(l.div_ceil(self.chunk));
        let mut start = 0;
        while start < l {
            let t = self.chunk.min(l - start);
            let (qc, kc, vc) = (
                q.clone().narrow(2, start, t),
                k.clone().narrow(2, start, t),
                v.clone().narrow(2, start, t),
            );
            let future = Tensor::<2, Bool>::tril_mask([t, t], 0, &device)
                .unsqueeze_dims::<4>(&[0, 1])
                .expand([b, h, t, t]);
            let att = qc
                .clone()
                .matmul(kc.clone().swap_dims(2, 3))
                .mask_fill(future, 0.0); // [B, H, T, T]
            let num = att.clone().matmul(vc.clone()) + qc.clone().matmul(s.clone());
            let den = att.sum_dim(3) + qc.matmul(z.clone());
            outs.push(num / den.clamp_min(1e-6));
            s = s + kc.clone().swap_dims(2, 3).matmul(vc);
            z = z + kc.sum_dim(2).swap_dims(2, 3);
            start += t;
        }
        let att = Tensor::cat(outs, 2).swap_dims(1, 2).reshape([b, l, d]);
        (self.output.forward(x, att), LinearAttentionState { s, z })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn chunking_and_carried_state_do_not_change_the_result() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 13, 8], Distribution::Normal(0.0, 1.0), &device);
        let blk = LinearAttentionBlockConfig::new(8, 2, 64).init(&device);
        let (full, _) = blk.forward(x.clone(), blk.init_state(2, &device));
        assert_eq!(full.dims(), [2, 13, 8]);
        let chunked = LinearAttentionBlock {
            chunk: 3,
            ..blk.clone()
        };
        let (a, st) = chunked.forward(x.clone().narrow(1, 0, 6), chunked.init_state(2, &device));
        let (b, _) = chunked.forward(x.narrow(1, 6, 7), st);
        Tensor::cat(vec![a, b], 1)
            .into_data()
            .assert_approx_eq::<f32>(&full.into_data(), Tolerance::rel_abs(1e-4, 1e-5));
    }
}
