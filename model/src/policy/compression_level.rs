//! The second part of a learned transfer decision: how hard each moved slot is compressed, or
//! whether it is discarded. Every picked slot takes one of [`LEVELS`], a bucket of the VAE's
//! bottleneck width (seed 000 §2.2.2); level 0 keeps nothing, and the entry is dropped from
//! long-term memory (it is never read and costs no bytes).
//!
//! The policy is a categorical distribution per picked slot over the compression head's logits
//! `[B, m, C]`; the slots' choices are independent given the state, so a decision's
//! log-probability is the sum of theirs.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Distribution, Int, Tensor, TensorData};

/// Fraction of the latent width an entry keeps, per level. Level 0 discards the entry.
pub const LEVELS: [f32; 4] = [0.0, 0.25, 0.5, 1.0];

/// The kept fraction `[B, m]` of each chosen level `[B, m]`.
pub fn fractions(levels: Tensor<2, Int>) -> Tensor<2> {
    let [b, m] = levels.dims();
    let table = Tensor::<1>::from_data(
        TensorData::new(LEVELS.to_vec(), [LEVELS.len()]),
        &levels.device(),
    );
    table.select(0, levels.reshape([b * m])).reshape([b, m])
}

/// The compression logits `[B, m, C]` of the picked slots `[B, m]`, from all slots' `[B, K, C]`.
pub fn of_picks(logits: Tensor<3>, picks: Tensor<2, Int>) -> Tensor<3> {
    let [b, _, c] = logits.dims();
    let [_, m] = picks.dims();
    logits.gather(1, picks.unsqueeze_dim::<3>(2).expand([b, m, c]))
}

/// One level per picked slot, drawn from the softmax of `logits` `[B, m, C]` (device RNG; the
/// Gumbel-max trick).
pub fn sample(logits: Tensor<3>) -> Tensor<2, Int> {
    let u = Tensor::random(
        logits.shape(),
        Distribution::Uniform(1e-6, 1.0 - 1e-6),
        &logits.device(),
    );
    greedy(logits - (-u.log()).log())
}

/// The most likely (or highest-valued) level per picked slot.
pub fn greedy(logits: Tensor<3>) -> Tensor<2, Int> {
    let [b, m, _] = logits.dims();
    logits.argmax(2).reshape([b, m])
}

/// The greedy levels, except that each row, with probability `epsilon`, takes uniformly random
/// levels instead (Q-learning's exploration).
pub fn epsilon_greedy(logits: Tensor<3>, epsilon: f32) -> Tensor<2, Int> {
    let [b, m, c] = logits.dims();
    let device = logits.device();
    let unit = Distribution::Uniform(0.0, 1.0);
    let explore = Tensor::<3>::random([b, 1, 1], unit, &device)
        .lower_elem(epsilon)
        .float();
    let noise = Tensor::<3>::random([b, m, c], unit, &device);
    greedy(logits * (explore.clone().neg() + 1.0) + noise * explore)
}

/// Log-probability `[B]` of the chosen levels `[B, m]`, summed over the picked slots.
pub fn log_prob(logits: Tensor<3>, levels: Tensor<2, Int>) -> Tensor<1> {
    let [b, m, _] = logits.dims();
    log_softmax(logits, 2)
        .gather(2, levels.unsqueeze_dim::<3>(2))
        .reshape([b, m])
        .sum_dim(1)
        .reshape([b])
}

/// The chosen levels' values `[B, m]` when `logits` are read as Q-values.
pub fn chosen(logits: Tensor<3>, levels: Tensor<2, Int>) -> Tensor<2> {
    let [b, m, _] = logits.dims();
    logits
        .gather(2, levels.unsqueeze_dim::<3>(2))
        .reshape([b, m])
}

/// Mean entropy `[B]` of the picked slots' level distributions (nats).
pub fn entropy(logits: Tensor<3>) -> Tensor<1> {
    let [b, m, _] = logits.dims();
    let log_p = log_softmax(logits, 2);
    (-(log_p.clone().exp() * log_p).sum_dim(2))
        .reshape([b, m])
        .mean_dim(1)
        .reshape([b])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn logits(v: Vec<f32>, shape: [usize; 3]) -> Tensor<3> {
        Tensor::from_data(TensorData::new(v, shape), &Device::flex())
    }

    fn ints(t: Tensor<2, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().try_to_vec::<i64>().unwrap()
    }

    #[test]
    fn log_prob_and_entropy_match_hand_worked_cases() {
        // One row, two picked slots over 4 levels. Slot 0: e^z = (1, 1, 2, 4), total 8;
        // slot 1: uniform. Levels (3, 0): 4/8 · 1/4 = 1/8.
        let l = logits(
            vec![0.0, 0.0, 2f32.ln(), 4f32.ln(), 0.0, 0.0, 0.0, 0.0],
            [1, 2, 4],
        );
        let levels =
            Tensor::<2, Int>::from_data(TensorData::new(vec![3i64, 0], [1, 2]), &l.device());
        let lp = log_prob(l.clone(), levels).into_scalar::<f32>();
        assert!((lp - (1.0f32 / 8.0).ln()).abs() < 1e-5, "{lp}");
        // Entropies: slot 0 has p = (1/8, 1/8, 1/4, 1/2) → 1.75 bits; slot 1 → 2 bits.
        let h = entropy(l).into_scalar::<f32>();
        let expected = (1.75 + 2.0) / 2.0 * std::f32::consts::LN_2;
        assert!((h - expected).abs() < 1e-5, "{h} vs {expected}");
    }

    #[test]
    fn fractions_follow_the_level_table_and_level_0_discards() {
        let device = Device::flex();
        let levels =
            Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 3], [2, 2]), &device);
        let f = fractions(levels).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(f, LEVELS.to_vec());
    }

    #[test]
    fn sampling_follows_the_softmax_and_greedy_takes_the_best() {
        let device = Device::flex();
        device.seed(3);
        // p = (0.1, 0.2, 0.3, 0.4) for 500 rows.
        let row: Vec<f32> = [0.1f32, 0.2, 0.3, 0.4].iter().map(|p| p.ln()).collect();
        let l = logits(row.repeat(500), [500, 1, 4]);
        let drawn = ints(sample(l.clone()));
        for (level, p) in [0.1, 0.2, 0.3, 0.4].iter().enumerate() {
            let f = drawn.iter().filter(|&&x| x == level as i64).count() as f64 / 500.0;
            assert!((f - p).abs() < 0.06, "level {level}: {f} vs {p}");
        }
        assert!(ints(greedy(l.clone())).iter().all(|&x| x == 3));
        assert!(ints(epsilon_greedy(l.clone(), 0.0)).iter().all(|&x| x == 3));
        let random = ints(epsilon_greedy(l, 1.0));
        let best = random.iter().filter(|&&x| x == 3).count() as f64 / 500.0;
        assert!((best - 0.25).abs() < 0.08, "{best}");
    }

    #[test]
    fn of_picks_gathers_the_picked_slots_rows() {
        let device = Device::flex();
        // K = 3 slots, C = 2 levels; slot s has logits (s, 10 + s).
        let l = logits(vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0], [1, 3, 2]);
        let picks = Tensor::<2, Int>::from_data(TensorData::new(vec![2i64, 0], [1, 2]), &device);
        let got = of_picks(l, picks).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got, vec![2.0, 12.0, 0.0, 10.0]);
        let q = chosen(
            logits(got, [1, 2, 2]),
            Tensor::from_data(TensorData::new(vec![1i64, 0], [1, 2]), &device),
        );
        assert_eq!(q.into_data().try_to_vec::<f32>().unwrap(), vec![12.0, 0.0]);
    }
}
