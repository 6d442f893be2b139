//! A Mamba block (Gu & Dao 2023, §3.4 and Fig. 3): in-projection to `x` and a gate `z`, causal
//! depthwise convolution, input-dependent Δ, B, C, the selective [`scan`], SiLU gate and
//! out-projection, inside a pre-norm residual. Mirrors `MambaBlock` of mamba-minimal.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{silu, softplus};
use burn::tensor::{Device, Distribution, Int, Tensor};

use crate::ops::{ScanInputs, auto};
use crate::state_map::{Name, TensorMap};

/// Configuration of one [`SelectiveSsmBlock`].
#[derive(Config, Debug)]
pub struct SelectiveSsmBlockConfig {
    /// Model width `D`.
    pub d_model: usize,
    /// State size `N`.
    pub d_state: usize,
    /// Inner width is `expand · D`.
    pub expand: usize,
    /// Causal convolution width.
    pub d_conv: usize,
    /// Rank of the Δ projection.
    pub dt_rank: usize,
    /// Time chunk of the reference scan.
    pub chunk: usize,
    /// Run the scan as a WGSL kernel on wgpu devices.
    #[config(default = true)]
    pub kernels: bool,
}

/// One selective-SSM block.
#[derive(Module, Debug)]
pub struct SelectiveSsmBlock {
    norm: LayerNorm,
    /// `D → 2 E_in` (x and the gate z).
    in_proj: Linear,
    /// Depthwise causal convolution weights, `[E_in, d_conv]`.
    conv_weight: Param<Tensor<2>>,
    /// `[E_in]`
    conv_bias: Param<Tensor<1>>,
    /// `E_in → dt_rank + 2N` (Δ, B, C are functions of the input: the "selective" part).
    x_proj: Linear,
    /// `dt_rank → E_in`
    dt_proj: Linear,
    /// `[E_in, N]`, A = −exp(a_log).
    a_log: Param<Tensor<2>>,
    /// `[E_in]`
    d_skip: Param<Tensor<1>>,
    /// `E_in → D`
    out_proj: Linear,
    d_inner: usize,
    d_state: usize,
    d_conv: usize,
    dt_rank: usize,
    chunk: usize,
    kernels: bool,
}

/// What a block carries from one segment to the next.
#[derive(Debug, Clone)]
pub struct SsmState {
    /// The last `d_conv − 1` convolution inputs, `[B, E_in, d_conv − 1]` (`None` when d_conv = 1).
    pub conv: Option<Tensor<3>>,
    /// Scan state, `[B, E_in, N]`.
    pub h: Tensor<3>,
}

impl SsmState {
    /// Applies `f` to each tensor (see [`TensorMap`]).
    pub fn map_tensors(self, prefix: Name<'_>, f: &mut impl TensorMap) -> Self {
        Self {
            conv: self.conv.map(|c| f.map(prefix.field("conv"), c)),
            h: f.map(prefix.field("h"), self.h),
        }
    }
}

impl SelectiveSsmBlockConfig {
    /// Initializes a block; Δ's bias and A follow Mamba's initialization (Δ in [0.001, 0.1],
    /// A_n = −n, the S4D-real spectrum).
    pub fn init(&self, device: &Device) -> SelectiveSsmBlock {
        let e = self.expand * self.d_model;
        let n = self.d_state;
        let a = Tensor::<1, Int>::arange(1..(n as i64 + 1), device)
            .float()
            .log()
            .unsqueeze_dim::<2>(0)
            .repeat_dim(0, e);
        let dt = Tensor::<1>::random(
            [e],
            Distribution::Uniform(0.001f64.ln(), 0.1f64.ln()),
            device,
        )
        .exp();
        // Inverse of softplus, so that softplus(bias) = dt.
        let dt_bias = dt.clone() + (dt.neg().exp().neg() + 1.0).log();
        let mut dt_proj = LinearConfig::new(self.dt_rank, e).init(device);
        dt_proj.bias = Some(Param::from_tensor(dt_bias));
        let bound = 1.0 / (self.d_conv as f64).sqrt();
        SelectiveSsmBlock {
            norm: LayerNormConfig::new(self.d_model).init(device),
            in_proj: LinearConfig::new(self.d_model, 2 * e).init(device),
            conv_weight: Param::from_tensor(Tensor::random(
                [e, self.d_conv],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            conv_bias: Param::from_tensor(Tensor::zeros([e], device)),
            x_proj: LinearConfig::new(e, self.dt_rank + 2 * n)
                .with_bias(false)
                .init(device),
            dt_proj,
            a_log: Param::from_tensor(a),
            d_skip: Param::from_tensor(Tensor::ones([e], device)),
            out_proj: LinearConfig::new(e, self.d_model).init(device),
            d_inner: e,
            d_state: n,
            d_conv: self.d_conv,
            dt_rank: self.dt_rank,
            chunk: self.chunk,
            kernels: self.kernels,
        }
    }
}

impl SelectiveSsmBlock {
    /// A zero state for a batch.
    pub fn init_state(&self, batch: usize, device: &Device) -> SsmState {
        SsmState {
            conv: (self.d_conv > 1)
                .then(|| Tensor::zeros([batch, self.d_inner, self.d_conv - 1], device)),
            h: Tensor::zeros([batch, self.d_inner, self.d_state], device),
        }
    }

    /// # Shapes
    /// - x: `[B, L, D]` → `[B, L, D]`
    pub fn forward(&self, x: Tensor<3>, state: SsmState) -> (Tensor<3>, SsmState) {
        let [b, l, _] = x.dims();
        let e = self.d_inner;
        let xz = self.in_proj.forward(self.norm.forward(x.clone())); // [B, L, 2E]
        let xi = xz.clone().narrow(2, 0, e).swap_dims(1, 2); // [B, E, L]
        let z = xz.narrow(2, e, e);

        // Causal depthwise convolution over [carried inputs, this segment].
        let padded = match state.conv {
            Some(prev) => Tensor::cat(vec![prev, xi], 2), // [B, E, L + d_conv − 1]
            None => xi,
        };
        let w = self.conv_weight.val();
        let mut conv = self.conv_bias.val().reshape([1, e, 1]).expand([b, e, l]);
        for j in 0..self.d_conv {
            conv = conv
                + padded.clone().narrow(2, j, l) * w.clone().narrow(1, j, 1).reshape([1, e, 1]);
        }
        let conv_state = (self.d_conv > 1).then(|| padded.clone().narrow(2, l, self.d_conv - 1));
        let u = silu(conv).swap_dims(1, 2); // [B, L, E]

        let dbc = self.x_proj.forward(u.clone()); // [B, L, R + 2N]
        let delta = softplus(
            self.dt_proj.forward(dbc.clone().narrow(2, 0, self.dt_rank)),
            1.0,
        );
        let bm = dbc.clone().narrow(2, self.dt_rank, self.d_state);
        let cm = dbc.narrow(2, self.dt_rank + self.d_state, self.d_state);
        let inputs = ScanInputs {
            x: u,
            delta,
            a_log: self.a_log.val(),
            b: bm,
            c: cm,
            d_skip: self.d_skip.val(),
            h0: state.h,
        };
        let out = auto::scan(self.kernels, inputs, self.chunk);
        let y = self.out_proj.forward(out.y * silu(z));
        (
            x + y,
            SsmState {
                conv: conv_state,
                h: out.h_last,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tolerance;

    fn block(device: &Device) -> SelectiveSsmBlock {
        SelectiveSsmBlockConfig::new(8, 4, 2, 4, 1, 4).init(device)
    }

    #[test]
    fn shapes() {
        let device = Device::flex();
        let blk = block(&device);
        let x = Tensor::<3>::random([2, 7, 8], Distribution::Normal(0.0, 1.0), &device);
        let (y, st) = blk.forward(x, blk.init_state(2, &device));
        assert_eq!(y.dims(), [2, 7, 8]);
        assert_eq!(st.h.dims(), [2, 16, 4]);
        assert_eq!(st.conv.unwrap().dims(), [2, 16, 3]);
    }

    #[test]
    fn carried_state_makes_pieces_equal_one_pass() {
        let device = Device::flex();
        let blk = block(&device);
        let x = Tensor::<3>::random([1, 12, 8], Distribution::Normal(0.0, 1.0), &device);
        let (full, _) = blk.forward(x.clone(), blk.init_state(1, &device));
        let (a, st) = blk.forward(x.clone().narrow(1, 0, 5), blk.init_state(1, &device));
        let (b, _) = blk.forward(x.narrow(1, 5, 7), st);
        Tensor::cat(vec![a, b], 1)
            .into_data()
            .assert_approx_eq::<f32>(&full.into_data(), Tolerance::rel_abs(1e-4, 1e-5));
    }
}
