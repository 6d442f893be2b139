//! The working-memory write as a burn backend extension: [`DmnMemoryWrite`] (the forward the
//! model calls), [`DmnMemoryWriteBackward`] (what its autodiff node runs), the launchers of
//! `memory_write.wgsl` and `memory_write_backward.wgsl`. The contract is
//! `dmn::ops::memory_write`'s.
//!
//! The op's many inputs come packed, by the caller at the tensor level, where autodiff routes
//! the gradients back through the concatenation: per head `key ‖ erase ‖ add` and `β, g, α`, per
//! slot `age, usage, f, hold`. The kernels then bind six buffers.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::backend::{Backend, backend_extension};
use burn::tensor::Shape;

use crate::autodiff;
use crate::launch::{Wgsl, dims, input, output, region};

/// The write's forward, run by the model. On `Autodiff` it records [`DmnMemoryWriteBackward`] as
/// its backward. Its outputs come packed in one tensor (an autodiff node has one output).
#[backend_extension(Cube, Fusion, Autodiff)]
pub trait DmnMemoryWrite: Backend {
    /// Working-memory write; returns `W' ‖ ω ‖ age' ‖ usage' ‖ hold'` packed as
    /// `[B, K·d + H·K + 3K]`. `heads` is `key ‖ erase ‖ add` `[B, H, 3d]`, `gates` is `β, g, α`
    /// `[B, H, 3]` and `per_slot` is `age, usage, f, hold` `[B, K, 4]`.
    #[fusion(dtype = slots, shape = packed_shape(slots, heads))]
    fn dmn_memory_write(
        slots: FloatTensor<Self>,
        heads: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        per_slot: FloatTensor<Self>,
        top_k: usize,
        usage_decay: f32,
    ) -> FloatTensor<Self>;
}

/// What the write's autodiff node runs; never differentiated itself.
#[backend_extension(Cube, Fusion)]
pub trait DmnMemoryWriteBackward: Backend {
    /// Gradients of the four packed inputs of [`DmnMemoryWrite::dmn_memory_write`].
    #[fusion(meta = |slots, heads, gates, per_slot, _dout, _top_k| backward_meta(slots, heads, gates, per_slot))]
    fn dmn_memory_write_backward(
        slots: FloatTensor<Self>,
        heads: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        per_slot: FloatTensor<Self>,
        dout: FloatTensor<Self>,
        top_k: usize,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );
}

const WG: u32 = 64;

/// Shape of the packed output `W' ‖ ω ‖ age' ‖ usage' ‖ hold'`: `[B, K·d + H·K + 3K]`.
fn packed_shape(slots: &Shape, heads: &Shape) -> Shape {
    let (b, k, d, h) = (slots[0], slots[1], slots[2], heads[1]);
    Shape::from(vec![b, k * d + h * k + 3 * k])
}

fn backward_meta(
    slots: &TensorSpec,
    heads: &TensorSpec,
    gates: &TensorSpec,
    per_slot: &TensorSpec,
) -> (TensorSpec, TensorSpec, TensorSpec, TensorSpec) {
    (
        slots.clone(),
        heads.clone(),
        gates.clone(),
        per_slot.clone(),
    )
}

/// A write kernel for `K` slots and `H` heads.
fn kernel(name: &'static str, source: &'static str, k: usize, h: usize) -> Wgsl {
    Wgsl::new(name, source)
        .constant("wg", WG)
        .constant("k", k as u32)
        .constant("h", h as u32)
}

fn forward_kernel(k: usize, h: usize) -> Wgsl {
    kernel("memory_write", include_str!("memory_write.wgsl"), k, h)
}

fn backward_kernel(k: usize, h: usize) -> Wgsl {
    kernel(
        "memory_write_backward",
        include_str!("memory_write_backward.wgsl"),
        k,
        h,
    )
}

/// Runs `memory_write.wgsl`.
fn forward(
    slots: CubeTensor,
    heads: CubeTensor,
    gates: CubeTensor,
    per_slot: CubeTensor,
    top_k: usize,
    usage_decay: f32,
) -> CubeTensor {
    let [b, k, d] = dims(&slots);
    let h = heads.meta.shape()[1];
    assert!(top_k >= 1, "memory_write kernel: top_k must be at least 1");
    assert!(
        h <= k,
        "memory_write kernel: more heads ({h}) than slots ({k})"
    );
    let what = "memory_write";
    let (slots, heads) = (input(slots, what), input(heads, what));
    let (gates, per_slot) = (input(gates, what), input(per_slot, what));
    let out = output(&slots, [b, k * d + h * k + 3 * k]);
    forward_kernel(k, h).launch(
        &slots,
        WG,
        [b as u32, 1, 1],
        vec![
            slots.handle.clone(),
            heads.handle.clone(),
            gates.handle.clone(),
            per_slot.handle.clone(),
            out.handle.clone(),
        ],
        &[d, top_k.min(k), usage_decay.to_bits() as usize],
    );
    out
}

/// Runs `memory_write_backward.wgsl`; returns `[dslots, dheads, dgates, dper_slot]`.
fn backward(
    slots: CubeTensor,
    heads: CubeTensor,
    gates: CubeTensor,
    per_slot: CubeTensor,
    dout: CubeTensor,
    top_k: usize,
) -> [CubeTensor; 4] {
    let [b, k, d] = dims(&slots);
    let h = heads.meta.shape()[1];
    let what = "memory_write backward";
    let (slots, heads) = (input(slots, what), input(heads, what));
    let (gates, per_slot, dout) = (input(gates, what), input(per_slot, what), input(dout, what));
    let off_heads = b * k * d;
    let off_gates = off_heads + b * h * 3 * d;
    let off_slot = off_gates + b * h * 3;
    let off_scratch = off_slot + b * k * 4;
    let scratch = 4 * h * k + k + 2 * h;
    let grads = output(&slots, [off_scratch + b * scratch]);
    backward_kernel(k, h).launch(
        &slots,
        WG,
        [b as u32, 1, 1],
        vec![
            slots.handle.clone(),
            heads.handle.clone(),
            gates.handle.clone(),
            per_slot.handle.clone(),
            dout.handle.clone(),
            grads.handle.clone(),
        ],
        &[d, top_k.min(k), off_heads, off_gates, off_slot, off_scratch],
    );
    [
        region(&grads, 0, &[b, k, d]),
        region(&grads, off_heads, &[b, h, 3 * d]),
        region(&grads, off_gates, &[b, h, 3]),
        region(&grads, off_slot, &[b, k, 4]),
    ]
}

#[derive(Debug)]
struct MemoryWriteBackward;

impl<B: DmnMemoryWriteBackward> Backward<B, 4> for MemoryWriteBackward {
    // slots, heads, gates, per_slot; top_k
    type State = ([FloatTensor<B>; 4], usize);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        autodiff::backward::<B, _, _>(
            ops,
            grads,
            |([slots, heads, gates, per_slot], top_k), dout| {
                let (ds, dh, dg, dp) =
                    B::dmn_memory_write_backward(slots, heads, gates, per_slot, dout, top_k);
                [ds, dh, dg, dp]
            },
        );
    }
}

impl DmnMemoryWrite for CubeBackend {
    fn dmn_memory_write(
        slots: FloatTensor<Self>,
        heads: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        per_slot: FloatTensor<Self>,
        top_k: usize,
        usage_decay: f32,
    ) -> FloatTensor<Self> {
        forward(slots, heads, gates, per_slot, top_k, usage_decay)
    }
}

impl DmnMemoryWriteBackward for CubeBackend {
    fn dmn_memory_write_backward(
        slots: FloatTensor<Self>,
        heads: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        per_slot: FloatTensor<Self>,
        dout: FloatTensor<Self>,
        top_k: usize,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let [ds, dh, dg, dp] = backward(slots, heads, gates, per_slot, dout, top_k);
        (ds, dh, dg, dp)
    }
}

impl<B, C> DmnMemoryWrite for Autodiff<B, C>
where
    B: DmnMemoryWrite + DmnMemoryWriteBackward,
    C: CheckpointStrategy,
{
    fn dmn_memory_write(
        slots: FloatTensor<Self>,
        heads: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        per_slot: FloatTensor<Self>,
        top_k: usize,
        usage_decay: f32,
    ) -> FloatTensor<Self> {
        let (inputs, nodes) = autodiff::split::<B, C, _>([slots, heads, gates, per_slot]);
        let [slots, heads, gates, per_slot] = inputs.clone();
        let out = B::dmn_memory_write(slots, heads, gates, per_slot, top_k, usage_decay);
        match MemoryWriteBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((inputs, top_k), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{backward_kernel, forward_kernel};
    use crate::launch::assert_compiles;

    #[test]
    fn kernels_compile_for_slots_and_heads() {
        // [K, H]: the small preset, one slot per head, the paper's 512 slots and 8 heads.
        for [k, h] in [[64, 4], [4, 1], [1, 1], [512, 8]] {
            assert_compiles(&forward_kernel(k, h));
            assert_compiles(&backward_kernel(k, h));
        }
    }
}
