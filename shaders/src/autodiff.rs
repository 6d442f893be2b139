//! What every op's autodiff node does alike: split its inputs into primitives and graph nodes
//! before the forward, and hand each tracked input its gradient after the backward.

use burn::backend::Backend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{NodeGuard, Ops};
use burn::backend::tensor::FloatTensor;

/// The primitives under autodiff tensors, and the tensors' graph nodes (what
/// `Backward::prepare` takes).
pub(crate) fn split<B: Backend, C: CheckpointStrategy, const N: usize>(
    tensors: [FloatTensor<Autodiff<B, C>>; N],
) -> ([FloatTensor<B>; N], [NodeGuard; N]) {
    let parts = tensors.map(|t| t.into_parts());
    let primitives = parts.each_ref().map(|(primitive, _)| primitive.clone());
    (primitives, parts.map(|(_, node)| node))
}

/// A node's backward: `gradients` turns the saved state and the output's gradient into one
/// gradient per input, and each input that is tracked receives its own.
pub(crate) fn backward<B: Backend, S, const N: usize>(
    ops: Ops<S, N>,
    grads: &mut Gradients,
    gradients: impl FnOnce(S, FloatTensor<B>) -> [FloatTensor<B>; N],
) {
    let dout = grads.consume::<B>(&ops.node);
    for (parent, grad) in ops.parents.into_iter().zip(gradients(ops.state, dout)) {
        if let Some(node) = parent {
            grads.register::<B>(node.id, grad);
        }
    }
}
