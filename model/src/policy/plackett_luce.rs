//! Choosing `m` of `K` slots as a policy: the Plackett–Luce distribution over ordered picks
//! without replacement, with scores z (the importance head's logits):
//!
//!   P(a_1, …, a_m) = Π_j exp(z_{a_j}) / Σ_{k ∉ {a_1..a_{j−1}}} exp(z_k)
//!
//! Sampling adds Gumbel noise to z and takes the top m (the Gumbel-top-k trick).

use burn::tensor::{Distribution, Int, Tensor};

/// Log-probability `[B]` of the ordered picks `[B, m]` under scores `z` `[B, K]`.
pub fn log_prob(z: Tensor<2>, picks: Tensor<2, Int>) -> Tensor<1> {
    let [b, k] = z.dims();
    let [_, m] = picks.dims();
    let device = z.device();
    let mut taken = Tensor::<2>::zeros([b, k], &device);
    let mut total = Tensor::<1>::zeros([b], &device);
    for j in 0..m {
        let pick = picks.clone().narrow(1, j, 1); // [B, 1]
        let chosen = z.clone().gather(1, pick.clone()).reshape([b]);
        // Slots already picked leave the normalizer.
        let open = z.clone() - taken.clone() * 1e9;
        let top = open.clone().max_dim(1); // [B, 1]
        let lse = (open - top.clone()).exp().sum_dim(1).log() + top;
        total = total + chosen - lse.reshape([b]);
        taken = taken + pick.reshape([b]).one_hot::<2>(k).float();
    }
    total
}

/// `m` ordered picks `[B, m]` drawn from the Plackett–Luce distribution of `z` (device RNG).
pub fn sample(z: Tensor<2>, m: usize) -> Tensor<2, Int> {
    let u = Tensor::random(
        z.shape(),
        Distribution::Uniform(1e-6, 1.0 - 1e-6),
        &z.device(),
    );
    let gumbel = -(-u.log()).log();
    crate::ops::top_k(z + gumbel, m, 1).1
}

/// Entropy `[B]` of the first pick (the softmax of z), a cheap measure of how decided the policy is.
pub fn first_pick_entropy(z: Tensor<2>) -> Tensor<1> {
    let [b, _] = z.dims();
    let log_p = burn::tensor::activation::log_softmax(z, 1);
    (-(log_p.clone().exp() * log_p).sum_dim(1)).reshape([b])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn log_prob_matches_a_hand_worked_case() {
        // e^z = (1, 2, 3), total 6. Picks (2, 1): 3/6 · 2/(6 − 3) = 1/3.
        let device = Device::flex();
        let z = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 2f32.ln(), 3f32.ln()], [1, 3]),
            &device,
        );
        let picks = Tensor::<2, Int>::from_data(TensorData::new(vec![2i64, 1], [1, 2]), &device);
        let lp = log_prob(z, picks).into_scalar::<f32>();
        assert!((lp - (1.0f32 / 3.0).ln()).abs() < 1e-5, "{lp}");
    }

    #[test]
    fn samples_follow_the_softmax_on_the_first_pick() {
        // P(first = 2) = 3/6.
        let device = Device::flex();
        device.seed(3);
        let rows = 4000;
        let z = Tensor::<2>::from_data(
            TensorData::new([0.0f32, 2f32.ln(), 3f32.ln()].repeat(rows), [rows, 3]),
            &device,
        );
        let picks = sample(z, 2)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        let firsts = picks.chunks(2).filter(|p| p[0] == 2).count() as f64 / rows as f64;
        assert!((firsts - 0.5).abs() < 0.03, "{firsts}");
        assert!(
            picks.chunks(2).all(|p| p[0] != p[1]),
            "picks are without replacement"
        );
    }

    #[test]
    fn entropy_of_equal_scores_is_ln_k() {
        let z = Tensor::<2>::zeros([2, 4], &Device::flex());
        let e = first_pick_entropy(z)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(e.iter().all(|x| (x - 4f32.ln()).abs() < 1e-6));
    }
}
