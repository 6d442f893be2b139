//! The memory controller (§2.1.4): importance `I_t = σ(f_I(h_t, W_t, L_t))`, retrieval
//! `c_t = Combine(MultiHeadAttention(h_t, W_t, W_t), HierarchicalAttention(h_t, L_t))` (§2.2.3)
//! and output `y_t = f_O(h_t, c_t)`.
//!
//! Read vectors pass a LayerNorm and enter the output through a residual (seed 002, "Structural
//! Stability"): `y = h + W_o · Combine(LN(c^W), LN(c^L))`, with per-token gates deciding how much
//! each memory contributes.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, sigmoid, softplus};
use burn::tensor::{Device, Tensor};

/// Configuration of the [`MemoryController`].
#[derive(Config, Debug)]
pub struct MemoryControllerConfig {
    /// Model width `D` (= slot width).
    pub d_model: usize,
    /// Working-memory read heads `H`.
    pub heads: usize,
    /// Compression levels a learned transfer policy chooses among (0: no compression head).
    #[config(default = 0)]
    pub compression_levels: usize,
}

/// Importance, retrieval and output networks.
#[derive(Module, Debug)]
pub struct MemoryController {
    /// `D → H·D`: one working-memory query per head.
    wm_query: Linear,
    /// `D → H`: key strength β per head.
    wm_strength: Linear,
    /// `H·D → D`, then LayerNorm.
    wm_out: Linear,
    wm_norm: LayerNorm,
    /// `D → D`: long-term query.
    ltm_query: Linear,
    /// `D → D`, then LayerNorm.
    ltm_out: Linear,
    ltm_norm: LayerNorm,
    /// `D → 2`: per-token gates of the two memories.
    combine: Linear,
    /// `D → D`: f_O.
    output: Linear,
    /// `3D → D → 1`: f_I over (slot, segment summary, long-term summary).
    importance_hidden: Linear,
    pub(crate) importance_out: Linear,
    /// `D → C`: a learned policy's compression-level logits per slot, on f_I's hidden layer.
    level_out: Option<Linear>,
    heads: usize,
}

/// Read queries for every token of a segment.
#[derive(Debug, Clone)]
pub struct ReadQueries {
    /// `[B, L, H, D]`
    pub query: Tensor<4>,
    /// `[B, L, H]`
    pub strength: Tensor<3>,
}

impl MemoryControllerConfig {
    /// Initializes the controller.
    pub fn init(&self, device: &Device) -> MemoryController {
        let (d, h) = (self.d_model, self.heads);
        MemoryController {
            wm_query: LinearConfig::new(d, h * d).init(device),
            wm_strength: LinearConfig::new(d, h).init(device),
            wm_out: LinearConfig::new(h * d, d).init(device),
            wm_norm: LayerNormConfig::new(d).init(device),
            ltm_query: LinearConfig::new(d, d).init(device),
            ltm_out: LinearConfig::new(d, d).init(device),
            ltm_norm: LayerNormConfig::new(d).init(device),
            combine: LinearConfig::new(d, 2).init(device),
            output: LinearConfig::new(d, d).init(device),
            importance_hidden: LinearConfig::new(3 * d, d).init(device),
            importance_out: LinearConfig::new(d, 1).init(device),
            level_out: (self.compression_levels > 0)
                .then(|| LinearConfig::new(d, self.compression_levels).init(device)),
            heads: h,
        }
    }
}

impl MemoryController {
    /// Working-memory read queries and strengths (β = 1 + softplus, at least 1).
    ///
    /// # Shapes
    /// - h: `[B, L, D]` → query `[B, L, H, D]`, strength `[B, L, H]`
    pub fn read_queries(&self, h: Tensor<3>) -> ReadQueries {
        let [b, l, d] = h.dims();
        ReadQueries {
            query: self
                .wm_query
                .forward(h.clone())
                .reshape([b, l, self.heads, d]),
            strength: softplus(self.wm_strength.forward(h), 1.0) + 1.0,
        }
    }

    /// Long-term query.
    ///
    /// # Shapes
    /// - h: `[B, L, D]` → `[B, L, D]`
    pub fn ltm_query(&self, h: Tensor<3>) -> Tensor<3> {
        self.ltm_query.forward(h)
    }

    /// `y = f_O(h, c)`: combines the reads with the encoder state.
    ///
    /// # Shapes
    /// - h: `[B, L, D]`, wm_read: `[B, L, H·D]`, ltm_context: `[B, L, D]` → `[B, L, D]`
    pub fn output(
        &self,
        h: Tensor<3>,
        wm_read: Option<Tensor<3>>,
        ltm_context: Option<Tensor<3>>,
    ) -> Tensor<3> {
        let gates = sigmoid(self.combine.forward(h.clone())); // [B, L, 2]
        let mut c: Option<Tensor<3>> = None;
        if let Some(r) = wm_read {
            let cw = self.wm_norm.forward(self.wm_out.forward(r)) * gates.clone().narrow(2, 0, 1);
            c = Some(cw);
        }
        if let Some(ctx) = ltm_context {
            let cl = self.ltm_norm.forward(self.ltm_out.forward(ctx)) * gates.narrow(2, 1, 1);
            c = Some(match c {
                Some(cw) => cw + cl,
                None => cl,
            });
        }
        match c {
            Some(c) => h + self.output.forward(c),
            None => h,
        }
    }

    /// Importance of every working-memory slot, `I = σ(f_I(slot, mean h, mean L))`.
    ///
    /// # Shapes
    /// - slots: `[B, K, D]`, h: `[B, L, D]`, ltm_summary: `[B, D]` → `[B, K]` in (0, 1)
    pub fn importance(&self, slots: Tensor<3>, h: Tensor<3>, ltm_summary: Tensor<2>) -> Tensor<2> {
        let [b, _, d] = h.dims();
        sigmoid(self.importance_logits(slots, h.mean_dim(1).reshape([b, d]), ltm_summary))
    }

    /// `f_I` before the sigmoid: the scores a learned transfer policy samples slots by.
    ///
    /// # Shapes
    /// - slots: `[B, K, D]`, h_mean: `[B, D]`, ltm_summary: `[B, D]` → `[B, K]`
    pub fn importance_logits(
        &self,
        slots: Tensor<3>,
        h_mean: Tensor<2>,
        ltm_summary: Tensor<2>,
    ) -> Tensor<2> {
        self.policy_logits(slots, h_mean, ltm_summary).0
    }

    /// `f_I` before the sigmoid, and the compression-level logits when the controller has a
    /// compression head: both read the same hidden features of (slot, h, L).
    ///
    /// # Shapes
    /// - slots: `[B, K, D]`, h_mean: `[B, D]`, ltm_summary: `[B, D]` → `[B, K]`, `[B, K, C]`
    pub fn policy_logits(
        &self,
        slots: Tensor<3>,
        h_mean: Tensor<2>,
        ltm_summary: Tensor<2>,
    ) -> (Tensor<2>, Option<Tensor<3>>) {
        let [b, k, d] = slots.dims();
        let context = Tensor::cat(
            vec![
                h_mean.unsqueeze_dim::<3>(1),
                ltm_summary.unsqueeze_dim::<3>(1),
            ],
            2,
        )
        .expand([b, k, 2 * d]);
        let x = Tensor::cat(vec![slots, context], 2);
        let hidden = gelu(self.importance_hidden.forward(x));
        let levels = self.level_out.as_ref().map(|l| l.forward(hidden.clone()));
        (self.importance_out.forward(hidden).reshape([b, k]), levels)
    }
}
