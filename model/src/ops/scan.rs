//! `scan`: the selective state-space recurrence of Mamba (Gu & Dao 2023, Alg. 2, eq. 2a–2b with
//! zero-order-hold discretization Ā = exp(ΔA) and the simplified B̄ = ΔB).
//!
//! ```text
//! h_t = exp(Δ_t ⊙ A) ⊙ h_{t-1} + (Δ_t ⊙ x_t) ⊗ B_t        h: [B, E_in, N]
//! y_t = h_t · C_t + D ⊙ x_t
//! ```
//!
//! Two implementations with one signature sit side by side, as in mamba.py's `pscan` /
//! `selective_scan_seq`: [`scan`] (chunked, the reference used by the model) and
//! [`scan_sequential`] (one step per token, the most literal reading of the equations).

use burn::tensor::{Bool, Tensor};

use super::MASKED;

/// The scan's inputs, one struct through the reference, the kernel and their callers.
///
/// Shapes: x, Δ `[B, L, E_in]`, a_log `[E_in, N]`, B, C `[B, L, N]`, D `[E_in]`,
/// h0 `[B, E_in, N]`.
#[derive(Debug, Clone)]
pub struct ScanInputs {
    /// Input sequence, `[B, L, E_in]`.
    pub x: Tensor<3>,
    /// Step sizes Δ, already positive (after softplus), `[B, L, E_in]`.
    pub delta: Tensor<3>,
    /// A = −exp(a_log), `[E_in, N]`.
    pub a_log: Tensor<2>,
    /// Input projections B_t, `[B, L, N]`.
    pub b: Tensor<3>,
    /// Output projections C_t, `[B, L, N]`.
    pub c: Tensor<3>,
    /// Skip weights D, `[E_in]`.
    pub d_skip: Tensor<1>,
    /// State entering the sequence, `[B, E_in, N]`.
    pub h0: Tensor<3>,
}

impl ScanInputs {
    /// `[B, L, E_in, N]`, after checking that every input has its shape.
    pub fn dims(&self) -> [usize; 4] {
        let [bs, l, d] = self.x.dims();
        let [_, n] = self.a_log.dims();
        assert_eq!(
            self.delta.dims(),
            [bs, l, d],
            "scan: delta must be [B, L, E_in] like x"
        );
        assert_eq!(self.a_log.dims(), [d, n], "scan: a_log must be [E_in, N]");
        assert_eq!(self.b.dims(), [bs, l, n], "scan: b must be [B, L, N]");
        assert_eq!(self.c.dims(), [bs, l, n], "scan: c must be [B, L, N]");
        assert_eq!(self.d_skip.dims(), [d], "scan: d_skip must be [E_in]");
        assert_eq!(self.h0.dims(), [bs, d, n], "scan: h0 must be [B, E_in, N]");
        [bs, l, d, n]
    }

    /// Steps `start .. start + len` of the sequence, entering with the same h0: a long sequence
    /// streams in such pieces, each starting from the previous piece's `h_last`.
    pub fn steps(self, start: usize, len: usize) -> Self {
        Self {
            x: self.x.narrow(1, start, len),
            delta: self.delta.narrow(1, start, len),
            b: self.b.narrow(1, start, len),
            c: self.c.narrow(1, start, len),
            ..self
        }
    }
}

/// Output of a scan: per-token outputs and the final state, which the next segment starts from.
#[derive(Debug, Clone)]
pub struct ScanOutput {
    /// `[B, L, E_in]`
    pub y: Tensor<3>,
    /// `[B, E_in, N]`
    pub h_last: Tensor<3>,
}

/// Chunked selective scan (the reference).
///
/// Within a chunk of `T ≤ chunk` steps the recurrence is unrolled in closed form: with
/// `S_t = Σ_{r≤t} Δ_r A` (a cumulative sum of non-positive terms),
/// `h_t = exp(S_t) h_0 + Σ_{s≤t} exp(S_t − S_s) u_s` where `u_s = (Δ_s x_s) ⊗ B_s`. Only
/// differences with `s ≤ t` are exponentiated, so no term can overflow (the segment-sum trick of
/// Mamba-2's reference). The state is carried from chunk to chunk.
///
/// # Shapes
/// - inputs: as documented on [`ScanInputs`]
/// - returns y `[B, L, E_in]`, h_last `[B, E_in, N]`
///
/// Memory: `B · E_in · N · chunk²` floats per chunk.
pub fn scan(inputs: ScanInputs, chunk: usize) -> ScanOutput {
    let [bs, l, d, n] = inputs.dims();
    assert!(chunk >= 1, "scan: chunk must be at least 1");
    let device = inputs.x.device();
    let a = inputs.a_log.clone().exp().neg(); // [E_in, N]
    let d_skip = inputs.d_skip.clone().unsqueeze_dims::<3>(&[0, 1]);
    let mut h = inputs.h0.clone();
    let mut ys = Vec::with_capacity(l.div_ceil(chunk));
    let mut start = 0;
    while start < l {
        let t = chunk.min(l - start);
        // x_t, Δ_t [B, T, E_in] and B_t, C_t [B, T, N] of the chunk's steps
        let ScanInputs {
            x: xc,
            delta: dc,
            b: bc,
            c: cc,
            ..
        } = inputs.clone().steps(start, t);

        // Δ_t A and u_t = (Δ_t x_t) ⊗ B_t, laid out [B, E_in, N, T] so time is the matmul axis.
        let da = (dc.clone().unsqueeze_dim::<4>(3) * a.clone().unsqueeze_dims::<4>(&[0, 1]))
            .permute([0, 2, 3, 1]);
        let u = ((dc * xc.clone()).unsqueeze_dim::<4>(3) * bc.unsqueeze_dim::<4>(2))
            .permute([0, 2, 3, 1]);
        let cum = da.cumsum(3); // S_t, [B, E_in, N, T]

        // seg[t, s] = S_t − S_s for s ≤ t; future entries are masked before exp.
        let seg = cum.clone().unsqueeze_dim::<5>(4) - cum.clone().unsqueeze_dim::<5>(3); // [B,E_in,N,T,T]
        let future = Tensor::<2, Bool>::tril_mask([t, t], 0, &device)
            .unsqueeze_dims::<5>(&[0, 1, 2])
            .expand([bs, d, n, t, t]);
        let decay = seg.mask_fill(future, MASKED).exp();
        let hs = decay.matmul(u.unsqueeze_dim::<5>(4)).squeeze_dim::<4>(4)
            + cum.exp() * h.unsqueeze_dim::<4>(3); // [B, E_in, N, T]

        // y_t = Σ_n h_t[n] C_t[n] + D x_t
        let y = (hs.clone() * cc.permute([0, 2, 1]).unsqueeze_dim::<4>(1))
            .sum_dim(2)
            .reshape([bs, d, t])
            .swap_dims(1, 2);
        ys.push(y + xc * d_skip.clone());
        h = hs.narrow(3, t - 1, 1).reshape([bs, d, n]);
        start += t;
    }
    ScanOutput {
        y: Tensor::cat(ys, 1),
        h_last: h,
    }
}

/// One step per token: the literal recurrence, same contract as [`scan`].
///
/// # Shapes
/// As [`scan`].
pub fn scan_sequential(inputs: ScanInputs) -> ScanOutput {
    let [bs, l, d, _] = inputs.dims();
    let a = inputs.a_log.clone().exp().neg().unsqueeze_dim::<3>(0); // [1, E_in, N]
    let d_skip = inputs.d_skip.clone().reshape([1, 1, d]);
    let mut h = inputs.h0.clone();
    let mut ys = Vec::with_capacity(l);
    for t in 0..l {
        let step = inputs.clone().steps(t, 1);
        let xt = step.x.reshape([bs, d, 1]);
        let dt = step.delta.reshape([bs, d, 1]);
        let (bt, ct) = (step.b, step.c); // [B, 1, N]
        h = (dt.clone() * a.clone()).exp() * h + (dt * xt.clone()) * bt;
        let y = (h.clone() * ct).sum_dim(2).reshape([bs, 1, d]);
        ys.push(y + xt.reshape([bs, 1, d]) * d_skip.clone());
    }
    ScanOutput {
        y: Tensor::cat(ys, 1),
        h_last: h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData, Tolerance};

    fn random_inputs([bs, l, d, n]: [usize; 4], device: &Device) -> ScanInputs {
        let normal = Distribution::Normal(0.0, 1.0);
        ScanInputs {
            x: Tensor::random([bs, l, d], normal, device),
            delta: Tensor::random([bs, l, d], Distribution::Uniform(0.01, 0.5), device),
            a_log: Tensor::random([d, n], Distribution::Uniform(-1.0, 1.0), device),
            b: Tensor::random([bs, l, n], normal, device),
            c: Tensor::random([bs, l, n], normal, device),
            d_skip: Tensor::random([d], normal, device),
            h0: Tensor::random([bs, d, n], normal, device),
        }
    }

    #[test]
    fn hand_computed_single_channel() {
        // One channel, one state, A = -exp(0) = -1, Δ = ln 2 so Ā = 1/2; B = C = 1; D = 0; h0 = 4.
        // h1 = 2 + ln2·1, y1 = h1; h2 = h1/2 + ln2·2.
        let device = Device::flex();
        let ln2 = core::f32::consts::LN_2;
        let ones = Tensor::<3>::ones([1, 2, 1], &device);
        let inputs = ScanInputs {
            x: Tensor::from_data(TensorData::new(vec![1.0f32, 2.0], [1, 2, 1]), &device),
            delta: Tensor::from_data(TensorData::new(vec![ln2, ln2], [1, 2, 1]), &device),
            a_log: Tensor::zeros([1, 1], &device),
            b: ones.clone(),
            c: ones,
            d_skip: Tensor::zeros([1], &device),
            h0: Tensor::full([1, 1, 1], 4.0, &device),
        };
        let out = scan(inputs, 16);
        let h1 = 2.0 + ln2;
        let h2 = h1 / 2.0 + 2.0 * ln2;
        out.y.into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![h1, h2], [1, 2, 1]),
            Tolerance::absolute(1e-5),
        );
        out.h_last.into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![h2], [1, 1, 1]),
            Tolerance::absolute(1e-5),
        );
    }

    #[test]
    fn chunked_equals_sequential_for_every_chunk_size() {
        let device = Device::flex();
        let inputs = random_inputs([2, 37, 5, 3], &device);
        let seq = scan_sequential(inputs.clone());
        for chunk in [1, 4, 16, 37, 64] {
            let out = scan(inputs.clone(), chunk);
            out.y
                .into_data()
                .assert_approx_eq::<f32>(&seq.y.to_data(), Tolerance::rel_abs(1e-4, 1e-4));
            out.h_last
                .into_data()
                .assert_approx_eq::<f32>(&seq.h_last.to_data(), Tolerance::rel_abs(1e-4, 1e-4));
        }
    }

    #[test]
    fn gradients_of_chunked_equal_sequential() {
        let device = Device::flex().autodiff();
        let r = random_inputs([2, 11, 3, 2], &device);
        let inputs = ScanInputs {
            x: r.x.require_grad(),
            delta: r.delta.require_grad(),
            a_log: r.a_log.require_grad(),
            b: r.b.require_grad(),
            c: r.c.require_grad(),
            d_skip: r.d_skip.require_grad(),
            h0: r.h0.require_grad(),
        };
        let run = |chunked: bool| {
            let out = if chunked {
                scan(inputs.clone(), 4)
            } else {
                scan_sequential(inputs.clone())
            };
            // A loss that weights every output differently, so each gradient entry is distinct.
            let dims = out.y.dims();
            let w = Tensor::<1, burn::tensor::Int>::arange(
                0..(dims.iter().product::<usize>() as i64),
                &device,
            )
            .float()
            .reshape(dims)
                / 10.0;
            let grads = ((out.y * w).sum() + out.h_last.powi_scalar(2).sum()).backward();
            let mut all: Vec<TensorData> =
                [&inputs.x, &inputs.delta, &inputs.b, &inputs.c, &inputs.h0]
                    .iter()
                    .map(|t| t.grad(&grads).unwrap().into_data())
                    .collect();
            all.push(inputs.a_log.grad(&grads).unwrap().into_data());
            all.push(inputs.d_skip.grad(&grads).unwrap().into_data());
            all
        };
        for (g1, g2) in run(true).into_iter().zip(run(false)) {
            g1.assert_approx_eq::<f32>(&g2, Tolerance::rel_abs(1e-4, 1e-4));
        }
    }

    #[test]
    fn streaming_in_pieces_equals_one_call() {
        let device = Device::flex();
        let inputs = random_inputs([1, 24, 4, 2], &device);
        let full = scan(inputs.clone(), 8);
        let first = scan(inputs.clone().steps(0, 10), 8);
        let second = scan(
            ScanInputs {
                h0: first.h_last,
                ..inputs.steps(10, 14)
            },
            8,
        );
        Tensor::cat(vec![first.y, second.y], 1)
            .into_data()
            .assert_approx_eq::<f32>(&full.y.into_data(), Tolerance::rel_abs(1e-4, 1e-5));
        second
            .h_last
            .into_data()
            .assert_approx_eq::<f32>(&full.h_last.into_data(), Tolerance::rel_abs(1e-4, 1e-5));
    }
}
