//! Every tensor of the carried state, visited by name in one fixed order. Cutting the graph at
//! a segment boundary, handing the encoder state to the next row and writing or reading a state
//! snapshot ([`crate::snapshot`]) are each one [`TensorMap`]; the state types list their tensors
//! once, in their `map_tensors`.

use burn::tensor::Tensor;

/// A function applied to each tensor of a state, told the tensor's name (`encoder.blocks.0.h`,
/// `working.slots`, `long_term.levels.2.entries`, …). It must return a tensor of the same rank.
pub trait TensorMap {
    /// The tensor that replaces `t`.
    fn map<const D: usize>(&mut self, name: &str, t: Tensor<D>) -> Tensor<D>;

    /// The value that replaces the host-side counter `value` (segments seen, tokens cached, …);
    /// kept as it is unless the map reads or writes counters.
    fn count(&mut self, _name: &str, value: u64) -> u64 {
        value
    }
}

/// `prefix.field`, or `field` alone at the top.
pub fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// Leaves the autodiff graph: the state becomes a constant.
pub struct Detach;

impl TensorMap for Detach {
    fn map<const D: usize>(&mut self, _: &str, t: Tensor<D>) -> Tensor<D> {
        t.without_autodiff()
    }
}
