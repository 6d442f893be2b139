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

/// Output of a scan: per-token outputs and the final state, which the next segment starts from.
#[derive(Debug, Clone)]
pub struct ScanOutput {
    /// `[B, L, E_in]`
    pub y: Tensor<3>,
    /// `[B, E_in, N]`
    pub h_last: Tensor<3>,
}

fn check_shapes(
    x: &Tensor<3>,
    delta: &Tensor<3>,
    a_log: &Tensor<2>,
    b: &Tensor<3>,
    c: &Tensor<3>,
    d_skip: &Tensor<1>,
    h0: &Tensor<3>,
) -> [usize; 4] {
    let [bs, l, d] = x.dims();
    let [_, n] = a_log.dims();
    assert_eq!(
        delta.dims(),
        [bs, l, d],
        "scan: delta must be [B, L, E_in] like x"
    );
    assert_eq!(a_log.dims(), [d, n], "scan: a_log must be [E_in, N]");
    assert_eq!(b.dims(), [bs, l, n], "scan: b must be [B, L, N]");
    assert_eq!(c.dims(), [bs, l, n], "scan: c must be [B, L, N]");
    assert_eq!(d_skip.dims(), [d], "scan: d_skip must be [E_in]");
    assert_eq!(h0.dims(), [bs, d, n], "scan: h0 must be [B, E_in, N]");
    [bs, l, d, n]
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
/// - x: `[B, L, E_in]`, delta: `[B, L, E_in]` (already positive, after softplus)
/// - a_log: `[E_in, N]` (A = −exp(a_log)), b, c: `[B, L, N]`, d_skip: `[E_in]`
/// - h0: `[B, E_in, N]`
/// - returns y `[B, L, E_in]`, h_last `[B, E_in, N]`
///
/// Memory: `B · E_in · N · chunk²` floats per chunk.
pub fn scan(
    x: Tensor<3>,
    delta: Tensor<3>,
    a_log: Tensor<2>,
    b: Tensor<3>,
    c: Tensor<3>,
    d_skip: Tensor<1>,
    h0: Tensor<3>,
    chunk: usize,
) -> ScanOutput {
    let [bs, l, d, n] = check_shapes(&x, &delta, &a_log, &b, &c, &d_skip, &h0);
    assert!(chunk >= 1, "scan: chunk must be at least 1");
    let device = x.device();
    let a = a_log.exp().neg(); // [E_in, N]
    let mut h = h0;
    let mut ys = Vec::with_capacity(l.div_ceil(chunk));
    let mut start = 0;
    while start < l {
        let t = chunk.min(l - start);
        let xc = x.clone().narrow(1, start, t); // [B, T, E_in]
        let dc = delta.clone().narrow(1, start, t);
        let bc = b.clone().narrow(1, start, t); // [B, T, N]
        let cc = c.clone().narrow(1, start, t);

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
        ys.push(y + xc * d_skip.clone().unsqueeze_dims::<3>(&[0, 1]));
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
pub fn scan_sequential(
    x: Tensor<3>,
    delta: Tensor<3>,
    a_log: Tensor<2>,
    b: Tensor<3>,
    c: Tensor<3>,
    d_skip: Tensor<1>,
    h0: Tensor<3>,
) -> ScanOutput {
    let [bs, l, d, _] = check_shapes(&x, &delta, &a_log, &b, &c, &d_skip, &h0);
    let a = a_log.exp().neg().unsqueeze_dim::<3>(0); // [1, E_in, N]
    let mut h = h0;
    let mut ys = Vec::with_capacity(l);
    for t in 0..l {
        let xt = x.clone().narrow(1, t, 1).reshape([bs, d, 1]);
        let dt = delta.clone().narrow(1, t, 1).reshape([bs, d, 1]);
        let bt = b.clone().narrow(1, t, 1); // [B, 1, N]
        let ct = c.clone().narrow(1, t, 1);
        h = (dt.clone() * a.clone()).exp() * h + (dt * xt.clone()) * bt;
        let y = (h.clone() * ct).sum_dim(2).reshape([bs, 1, d]);
        ys.push(y + xt.reshape([bs, 1, d]) * d_skip.clone().reshape([1, 1, d]));
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

    pub(crate) fn random_inputs(
        [bs, l, d, n]: [usize; 4],
        device: &Device,
    ) -> (
        Tensor<3>,
        Tensor<3>,
        Tensor<2>,
        Tensor<3>,
        Tensor<3>,
        Tensor<1>,
        Tensor<3>,
    ) {
        let x = Tensor::random([bs, l, d], Distribution::Normal(0.0, 1.0), device);
        let delta = Tensor::random([bs, l, d], Distribution::Uniform(0.01, 0.5), device);
        let a_log = Tensor::random([d, n], Distribution::Uniform(-1.0, 1.0), device);
        let b = Tensor::random([bs, l, n], Distribution::Normal(0.0, 1.0), device);
        let c = Tensor::random([bs, l, n], Distribution::Normal(0.0, 1.0), device);
        let d_skip = Tensor::random([d], Distribution::Normal(0.0, 1.0), device);
        let h0 = Tensor::random([bs, d, n], Distribution::Normal(0.0, 1.0), device);
        (x, delta, a_log, b, c, d_skip, h0)
    }

    #[test]
    fn hand_computed_single_channel() {
        // One channel, one state, A = -exp(0) = -1, Δ = ln 2 so Ā = 1/2; B = C = 1; D = 0; h0 = 4.
        // h1 = 2 + ln2·1, y1 = h1; h2 = h1/2 + ln2·2.
        let device = Device::flex();
        let ln2 = core::f32::consts::LN_2;
        let x = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 2.0], [1, 2, 1]), &device);
        let delta = Tensor::<3>::from_data(TensorData::new(vec![ln2, ln2], [1, 2, 1]), &device);
        let a_log = Tensor::<2>::zeros([1, 1], &device);
        let ones = Tensor::<3>::ones([1, 2, 1], &device);
        let d_skip = Tensor::<1>::zeros([1], &device);
        let h0 = Tensor::<3>::full([1, 1, 1], 4.0, &device);
        let out = scan(x, delta, a_log, ones.clone(), ones, d_skip, h0, 16);
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
        let (x, delta, a_log, b, c, d_skip, h0) = random_inputs([2, 37, 5, 3], &device);
        let seq = scan_sequential(
            x.clone(),
            delta.clone(),
            a_log.clone(),
            b.clone(),
            c.clone(),
            d_skip.clone(),
            h0.clone(),
        );
        for chunk in [1, 4, 16, 37, 64] {
            let out = scan(
                x.clone(),
                delta.clone(),
                a_log.clone(),
                b.clone(),
                c.clone(),
                d_skip.clone(),
                h0.clone(),
                chunk,
            );
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
        let (x, delta, a_log, b, c, d_skip, h0) = random_inputs([2, 11, 3, 2], &device);
        let inputs = [x, delta, b, c, h0].map(|t| t.require_grad());
        let a_log = a_log.require_grad();
        let d_skip = d_skip.require_grad();
        let [x, delta, b, c, h0] = inputs.clone();
        let run = |chunked: bool| {
            let out = if chunked {
                scan(
                    x.clone(),
                    delta.clone(),
                    a_log.clone(),
                    b.clone(),
                    c.clone(),
                    d_skip.clone(),
                    h0.clone(),
                    4,
                )
            } else {
                scan_sequential(
                    x.clone(),
                    delta.clone(),
                    a_log.clone(),
                    b.clone(),
                    c.clone(),
                    d_skip.clone(),
                    h0.clone(),
                )
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
            let mut all: Vec<TensorData> = [&x, &delta, &b, &c, &h0]
                .iter()
                .map(|t| t.grad(&grads).unwrap().into_data())
                .collect();
            all.push(a_log.grad(&grads).unwrap().into_data());
            all.push(d_skip.grad(&grads).unwrap().into_data());
            all
        };
        for (g1, g2) in run(true).into_iter().zip(run(false)) {
            g1.assert_approx_eq::<f32>(&g2, Tolerance::rel_abs(1e-4, 1e-4));
        }
    }

    #[test]
    fn streaming_in_pieces_equals_one_call() {
        let device = Device::flex();
        let (x, delta, a_log, b, c, d_skip, h0) = random_inputs([1, 24, 4, 2], &device);
        let full = scan(
            x.clone(),
            delta.clone(),
            a_log.clone(),
            b.clone(),
            c.clone(),
            d_skip.clone(),
            h0.clone(),
            8,
        );
        let first = scan(
            x.clone().narrow(1, 0, 10),
            delta.clone().narrow(1, 0, 10),
            a_log.clone(),
            b.clone().narrow(1, 0, 10),
            c.clone().narrow(1, 0, 10),
            d_skip.clone(),
            h0,
            8,
        );
        let second = scan(
            x.narrow(1, 10, 14),
            delta.narrow(1, 10, 14),
            a_log,
            b.narrow(1, 10, 14),
            c.narrow(1, 10, 14),
            d_skip,
            first.h_last,
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
