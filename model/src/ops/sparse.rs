//! Cosine addressing and the top-k sparse softmax shared by memory reads and writes (seed 002:
//! "top-k cosine similarity addressing … softmax-normalized sparse weights").

use burn::tensor::activation::softmax;
use burn::tensor::{IndexingUpdateOp, Int, Tensor};

/// Added under the square root of norms: an empty (all-zero) slot scores 0 instead of NaN, and
/// the norm's gradient stays finite at 0 (a clamp after `sqrt` would still multiply 0 by ∞).
const NORM_EPS2: f32 = 1e-12;

/// Cosine similarity of every query with every slot.
///
/// # Shapes
/// - query: `[B, R, d]`, slots: `[B, K, d]` → `[B, R, K]`
pub fn cosine_scores(query: Tensor<3>, slots: Tensor<3>) -> Tensor<3> {
    let qn = query.clone() / (query.powi_scalar(2).sum_dim(2) + NORM_EPS2).sqrt();
    let sn = slots.clone() / (slots.powi_scalar(2).sum_dim(2) + NORM_EPS2).sqrt();
    qn.matmul(sn.swap_dims(1, 2))
}

/// The `k` largest entries along `dim` and their indices, largest first (ties: the lowest index
/// first), like `Tensor::topk_with_indices`, but as `k` rounds of argmax. Burn's sort reads the
/// tensor back to the host on GPU backends, which blocks natively and is impossible in the
/// browser; argmax stays on the device, and `k` is small here (top-k addressing, the slots of
/// one transfer).
///
/// # Shapes
/// - x: `[…, n, …]` (`n` at `dim`, `k ≤ n`) → values and indices `[…, k, …]`
pub fn top_k<const D: usize>(x: Tensor<D>, k: usize, dim: usize) -> (Tensor<D>, Tensor<D, Int>) {
    let dims = x.dims();
    let mut shape = [1usize; D];
    shape[dim] = dims[dim];
    let positions = Tensor::<1, Int>::arange(0..dims[dim] as i64, &x.device())
        .reshape(shape)
        .expand(dims);
    let (mut values, mut indices) = (Vec::with_capacity(k), Vec::with_capacity(k));
    let mut rest = x;
    for round in 0..k {
        let at = rest.clone().argmax(dim);
        values.push(rest.clone().gather(dim, at.clone()));
        if round + 1 < k {
            let taken = positions.clone().equal(at.clone().expand(dims));
            rest = rest.mask_fill(taken, f32::NEG_INFINITY);
        }
        indices.push(at);
    }
    (Tensor::cat(values, dim), Tensor::cat(indices, dim))
}

/// Softmax over the `top_k` largest scores of the last axis; every other weight is exactly 0, so
/// at most `top_k` weights per row are non-zero whatever ties the scores have.
///
/// # Shapes
/// - scores: `[B, R, K]` → weights `[B, R, K]`
pub fn top_k_softmax(scores: Tensor<3>, top_k: usize) -> Tensor<3> {
    let [b, r, k] = scores.dims();
    let top_k = top_k.min(k);
    if top_k == k {
        return softmax(scores, 2);
    }
    let device = scores.device();
    let (values, indices) = self::top_k(scores, top_k, 2);
    Tensor::zeros([b, r, k], &device).scatter(2, indices, softmax(values, 2), IndexingUpdateOp::Add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData, Tolerance};

    #[test]
    fn top_k_matches_sorting_and_takes_the_lowest_index_on_ties() {
        let device = Device::flex();
        let data = vec![0.3f32, -1.0, 2.5, 0.3, 7.0, 1.0, 0.0, 0.0];
        let x = Tensor::<2>::from_data(TensorData::new(data, [2, 4]), &device);
        let (v, i) = top_k(x.clone(), 3, 1);
        let (sv, _) = x.clone().topk_with_indices(3, 1);
        v.into_data()
            .assert_approx_eq::<f32>(&sv.into_data(), Tolerance::absolute(0.0));
        assert_eq!(
            i.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(),
            vec![2, 0, 3, 0, 1, 2]
        );
        // Along the first axis of a 3-d tensor.
        let y = x.reshape([2, 4, 1]);
        let (v, i) = top_k(y, 1, 0);
        assert_eq!(v.dims(), [1, 4, 1]);
        assert_eq!(
            i.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(),
            vec![1, 1, 0, 0]
        );
    }

    #[test]
    fn cosine_of_parallel_orthogonal_and_empty() {
        let device = Device::flex();
        let q = Tensor::<3>::from_data(TensorData::new(vec![2.0f32, 0.0], [1, 1, 2]), &device);
        let s = Tensor::<3>::from_data(
            TensorData::new(vec![5.0f32, 0.0, 0.0, 3.0, 0.0, 0.0], [1, 3, 2]),
            &device,
        );
        cosine_scores(q, s).into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![1.0f32, 0.0, 0.0], [1, 1, 3]),
            Tolerance::absolute(1e-6),
        );
    }

    #[test]
    fn top_k_keeps_k_weights_that_sum_to_one() {
        let device = Device::flex();
        // Ties everywhere: a dense softmax would give 5 equal weights.
        let scores = Tensor::<3>::zeros([2, 3, 5], &device);
        let w = top_k_softmax(scores, 2);
        let data = w.clone().into_data().try_to_vec::<f32>().unwrap();
        for row in data.chunks(5) {
            assert_eq!(row.iter().filter(|&&v| v > 0.0).count(), 2);
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        // Hand-computed: scores [0, ln 3, 5, -1] with k = 2 → softmax over {ln 3 … no: 5 and ln 3}.
        let s = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 3f32.ln(), 5.0, -1.0], [1, 1, 4]),
            &device,
        );
        let w = top_k_softmax(s, 2).into_data();
        let e5 = 5f32.exp();
        w.assert_approx_eq::<f32>(
            &TensorData::new(
                vec![0.0f32, 3.0 / (3.0 + e5), e5 / (3.0 + e5), 0.0],
                [1, 1, 4],
            ),
            Tolerance::absolute(1e-6),
        );
    }
}
