//! `memory_read`: multi-head top-k cosine read of the working memory (seed 002 "Multi-Head
//! Sparse Addressing"; the read side of §2.2.3's `MultiHeadAttention(h_t, W_t, W_t)`).

use burn::tensor::Tensor;

use super::{cosine_scores, top_k_softmax};

/// A read: the weighted slot contents and the (sparse) weights that produced them.
#[derive(Debug, Clone)]
pub struct MemoryRead {
    /// `[B, R, d]`
    pub read: Tensor<3>,
    /// `[B, R, K]`, at most `top_k` non-zero per row, each row sums to 1.
    pub weights: Tensor<3>,
}

/// Reads the slots for `R` queries (tokens × heads, flattened).
///
/// `w = top_k_softmax(β ⊙ cos(q, W))`, `read = w W`. The key strength `β ≥ 1` sharpens the
/// distribution (a cosine alone lies in [−1, 1], far too flat for a softmax).
///
/// # Shapes
/// - query: `[B, R, d]`, strength: `[B, R]`, slots: `[B, K, d]`
/// - returns read `[B, R, d]`, weights `[B, R, K]`
pub fn memory_read(
    query: Tensor<3>,
    strength: Tensor<2>,
    slots: Tensor<3>,
    top_k: usize,
) -> MemoryRead {
    let [b, r, d] = query.dims();
    let [bs, _k, ds] = slots.dims();
    assert_eq!(
        (b, d),
        (bs, ds),
        "memory_read: query [B, R, d] and slots [B, K, d] disagree"
    );
    assert_eq!(
        strength.dims(),
        [b, r],
        "memory_read: strength must be [B, R]"
    );
    let scores = cosine_scores(query, slots.clone()) * strength.unsqueeze_dim::<3>(2);
    let weights = top_k_softmax(scores, top_k);
    MemoryRead {
        read: weights.clone().matmul(slots),
        weights,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData, Tolerance};

    #[test]
    fn matching_query_reads_its_slot() {
        let device = Device::flex();
        let slots = Tensor::<3>::random([1, 8, 16], Distribution::Normal(0.0, 1.0), &device);
        let target = slots.clone().narrow(1, 5, 1); // [1, 1, 16]
        let out = memory_read(
            target.clone(),
            Tensor::full([1, 1], 50.0, &device),
            slots,
            2,
        );
        out.read
            .into_data()
            .assert_approx_eq::<f32>(&target.into_data(), Tolerance::absolute(1e-3));
        let w = out.weights.into_data().try_to_vec::<f32>().unwrap();
        assert!(w[5] > 0.999, "{w:?}");
    }

    #[test]
    fn shapes_and_sparsity() {
        let device = Device::flex();
        let q = Tensor::<3>::random([2, 6, 4], Distribution::Normal(0.0, 1.0), &device);
        let s = Tensor::<3>::random([2, 9, 4], Distribution::Normal(0.0, 1.0), &device);
        let out = memory_read(q, Tensor::ones([2, 6], &device), s, 3);
        assert_eq!(out.read.dims(), [2, 6, 4]);
        assert_eq!(out.weights.dims(), [2, 6, 9]);
        let sums = out.weights.clone().sum_dim(2).into_data();
        sums.assert_approx_eq::<f32>(
            &TensorData::new(vec![1.0f32; 12], [2, 6, 1]),
            Tolerance::absolute(1e-5),
        );
        let nonzero = out
            .weights
            .greater_elem(0.0)
            .int()
            .sum_dim(2)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert!(nonzero.iter().all(|&c| c <= 3), "{nonzero:?}");
    }
}
