//! `retrieve`: hierarchical attention of queries over every long-term level at once (§2.2.3,
//! `HierarchicalAttention(h_t, L_t)`).
//!
//! The long-term memory is one level-packed buffer: level `i` owns entries `[i·m, (i+1)·m)`.
//! Each level adds a learned bias to its scores (how much to trust older, coarser summaries), then
//! one softmax runs over all valid entries. A query costs `O(M · m)`: it grows with the number of
//! levels, i.e. with the logarithm of the sequence length, not with the length itself.

use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Tensor};

use super::MASKED;

/// Retrieved context and the attention weights over entries.
#[derive(Debug, Clone)]
pub struct Retrieval {
    /// `[B, L, d]`
    pub context: Tensor<3>,
    /// `[B, L, E]`: each row sums to 1 over valid entries, or is all 0 when no entry is valid.
    pub weights: Tensor<3>,
}

/// Attends from every query to every valid entry of the level-packed buffer.
///
/// `score = q·l / √d + bias[level(l)]`, masked to valid entries, softmax over entries.
///
/// # Shapes
/// - query: `[B, L, d]`, ltm: `[B, E, d]` with `E = M · m`, level_bias: `[M]`, valid: `[B, E]`
/// - returns context `[B, L, d]`, weights `[B, L, E]`
pub fn retrieve(
    query: Tensor<3>,
    ltm: Tensor<3>,
    level_bias: Tensor<1>,
    valid: Tensor<2, Bool>,
) -> Retrieval {
    let [b, l, d] = query.dims();
    let [bl, e, dl] = ltm.dims();
    let [m_levels] = level_bias.dims();
    assert_eq!(
        (b, d),
        (bl, dl),
        "retrieve: query [B, L, d] and ltm [B, E, d] disagree"
    );
    assert!(
        m_levels >= 1 && e % m_levels == 0,
        "retrieve: E ({e}) must be a multiple of the levels ({m_levels})"
    );
    assert_eq!(valid.dims(), [b, e], "retrieve: valid must be [B, E]");
    let per_level = e / m_levels;

    let bias = level_bias
        .unsqueeze_dim::<2>(1)
        .expand([m_levels, per_level])
        .reshape([1, 1, e]);
    let scores = query.matmul(ltm.clone().swap_dims(1, 2)) / (d as f64).sqrt() + bias; // [B, L, E]
    let invalid = valid
        .clone()
        .bool_not()
        .unsqueeze_dim::<3>(1)
        .expand([b, l, e]);
    let weights = softmax(scores.mask_fill(invalid, MASKED), 2);
    // A batch row with no valid entry gets zero weights instead of a uniform softmax.
    let any = valid
        .float()
        .sum_dim(1)
        .clamp_max(1.0)
        .unsqueeze_dim::<3>(2); // [B, 1, 1]
    let weights = weights * any;
    Retrieval {
        context: weights.clone().matmul(ltm),
        weights,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData, Tolerance};

    #[test]
    fn weights_sum_to_one_over_valid_entries_only() {
        let device = Device::flex();
        let q = Tensor::<3>::random([2, 5, 4], Distribution::Normal(0.0, 1.0), &device);
        let ltm = Tensor::<3>::random([2, 6, 4], Distribution::Normal(0.0, 1.0), &device);
        let valid = Tensor::<2, Bool>::from_data(
            TensorData::new(
                vec![
                    true, true, false, false, true, false, false, false, false, false, false, false,
                ],
                [2, 6],
            ),
            &device,
        );
        let out = retrieve(q, ltm, Tensor::zeros([3], &device), valid);
        let w = out.weights.into_data().try_to_vec::<f32>().unwrap();
        for (row, chunk) in w.chunks(6).enumerate() {
            let sum: f32 = chunk.iter().sum();
            if row < 5 {
                assert!((sum - 1.0).abs() < 1e-5);
                assert_eq!((chunk[2], chunk[3], chunk[5]), (0.0, 0.0, 0.0));
            } else {
                assert_eq!(sum, 0.0, "an empty memory retrieves nothing");
            }
        }
        assert_eq!(out.context.dims(), [2, 5, 4]);
    }

    #[test]
    fn hand_computed_level_bias() {
        // Two levels of one entry each, orthogonal to the query: scores are the biases 0 and ln 3,
        // so the weights are 1/4 and 3/4.
        let device = Device::flex();
        let q = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 0.0, 0.0], [1, 1, 3]), &device);
        let ltm = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 4.0, 0.0, 0.0, 0.0, 8.0], [1, 2, 3]),
            &device,
        );
        let bias = Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 3f32.ln()], [2]), &device);
        let valid =
            Tensor::<2, Bool>::from_data(TensorData::new(vec![true, true], [1, 2]), &device);
        let out = retrieve(q, ltm, bias, valid);
        out.weights.into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![0.25f32, 0.75], [1, 1, 2]),
            Tolerance::absolute(1e-6),
        );
        out.context.into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![0.0f32, 1.0, 6.0], [1, 1, 3]),
            Tolerance::absolute(1e-5),
        );
    }
}
