//! What the two attention blocks (linear attention and the sliding-window Transformer) share:
//! the pre-norm q/k/v projection split into heads, and the output projection followed by the
//! pre-norm MLP, each with its residual. Only how queries meet keys differs between them.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};

/// Sizes of an attention block's [`QkvHeads`] and [`OutputMlp`].
#[derive(Config, Debug)]
pub struct AttentionConfig {
    /// Model width `D`.
    pub d_model: usize,
    /// Attention heads; must divide `D`.
    pub heads: usize,
}

/// LayerNorm, then `D → 3D` (q, k, v), split into heads.
#[derive(Module, Debug)]
pub struct QkvHeads {
    norm: LayerNorm,
    qkv: Linear,
    heads: usize,
}

/// `x + out(att)`, then `x + MLP(LN(x))` with the MLP `D → 4D → D`.
#[derive(Module, Debug)]
pub struct OutputMlp {
    /// `D → D`
    out: Linear,
    norm: LayerNorm,
    /// `D → 4D`
    mlp_in: Linear,
    /// `4D → D`
    mlp_out: Linear,
}

impl AttentionConfig {
    /// The q/k/v projection.
    pub fn init_qkv(&self, device: &Device) -> QkvHeads {
        let d = self.d_model;
        QkvHeads {
            norm: LayerNormConfig::new(d).init(device),
            qkv: LinearConfig::new(d, 3 * d).init(device),
            heads: self.heads,
        }
    }

    /// The output projection and MLP.
    pub fn init_output(&self, device: &Device) -> OutputMlp {
        let d = self.d_model;
        OutputMlp {
            out: LinearConfig::new(d, d).init(device),
            norm: LayerNormConfig::new(d).init(device),
            mlp_in: LinearConfig::new(d, 4 * d).init(device),
            mlp_out: LinearConfig::new(4 * d, d).init(device),
        }
    }
}

impl QkvHeads {
    /// Heads `H`.
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// Width of one head, `D / H`.
    pub fn head_dim(&self) -> usize {
        self.qkv.weight.dims()[0] / self.heads
    }

    /// # Shapes
    /// - x: `[B, L, D]` → q, k, v: `[B, H, L, D/H]` each
    pub fn forward(&self, x: Tensor<3>) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
        let [b, l, d] = x.dims();
        let qkv = self.qkv.forward(self.norm.forward(x));
        let split = |i: usize| {
            qkv.clone()
                .narrow(2, i * d, d)
                .reshape([b, l, self.heads, d / self.heads])
                .swap_dims(1, 2)
        };
        (split(0), split(1), split(2))
    }
}

impl OutputMlp {
    /// # Shapes
    /// - x, att: `[B, L, D]` → `[B, L, D]`
    pub fn forward(&self, x: Tensor<3>, att: Tensor<3>) -> Tensor<3> {
        let x = x + self.out.forward(att);
        x.clone()
            + self
                .mlp_out
                .forward(gelu(self.mlp_in.forward(self.norm.forward(x))))
    }
}
