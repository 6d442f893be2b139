//! The working-memory read as a burn backend extension: [`DmnMemoryRead`] (the forward the
//! model calls), [`DmnMemoryReadBackward`] (what its autodiff node runs), the launchers of
//! `memory_read.wgsl` / `memory_read_wide.wgsl` (forward), `memory_read_backward.wgsl` (per query
//! row) and `memory_read_slots_backward.wgsl` (per slot). The contract is
//! `dmn::ops::memory_read`'s.

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
use crate::launch::{
    BLOCKED_WG, MAX_UNROLLED_WIDTH, Wgsl, blocked_groups, dims, groups, input, output, pad_last,
    region,
};

/// The read's forward, run by the model. On `Autodiff` it records [`DmnMemoryReadBackward`] as
/// its backward. `read` and `weights` come packed in one tensor (an autodiff node has one
/// output).
#[backend_extension(Cube, Fusion, Autodiff)]
pub trait DmnMemoryRead: Backend {
    /// Working-memory read; returns `read ‖ weights` packed as `[B, R, d + K]`.
    #[fusion(dtype = query, shape = packed_shape(query, slots))]
    fn dmn_memory_read(
        query: FloatTensor<Self>,
        strength: FloatTensor<Self>,
        slots: FloatTensor<Self>,
        top_k: usize,
    ) -> FloatTensor<Self>;
}

/// What the read's autodiff node runs; never differentiated itself.
#[backend_extension(Cube, Fusion)]
pub trait DmnMemoryReadBackward: Backend {
    /// Gradients of the query, the strength and the slots from the packed output gradient.
    #[fusion(meta = |query, strength, slots, _forward, _dout, _top_k| backward_meta(query, strength, slots))]
    fn dmn_memory_read_backward(
        query: FloatTensor<Self>,
        strength: FloatTensor<Self>,
        slots: FloatTensor<Self>,
        forward: FloatTensor<Self>,
        dout: FloatTensor<Self>,
        top_k: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

const WG: u32 = 64;

/// Slots per tile of workgroup memory: T · d ≤ 2048 floats (8 KB).
fn slot_tile(k: usize, d: usize) -> usize {
    (2048 / d.max(1)).clamp(1, k.max(1))
}

/// Whether rows of width `d` take the unrolled `memory_read.wgsl`, their slots padded to a
/// multiple of 4, rather than `memory_read_wide.wgsl`.
fn unrolled(d: usize) -> bool {
    4 * d.div_ceil(4) <= MAX_UNROLLED_WIDTH
}

/// The forward kernel for `K` slots of width `d`.
fn forward_kernel(k: usize, d: usize) -> Wgsl {
    if unrolled(d) {
        let d4 = d.div_ceil(4);
        Wgsl::new("memory_read", include_str!("memory_read.wgsl"))
            .constant("wg", BLOCKED_WG)
            .constant("k", k as u32)
            .constant("d", d as u32)
            .constant("d4", d4 as u32)
            .constant("d_pad", 4 * d4 as u32)
    } else {
        Wgsl::new("memory_read_wide", include_str!("memory_read_wide.wgsl"))
            .constant("wg", BLOCKED_WG)
            .constant("k", k as u32)
            .constant("d", d as u32)
    }
}

/// `memory_read_backward.wgsl` (per query row) for `K` slots of width `d`.
fn rows_backward_kernel(k: usize, d: usize) -> Wgsl {
    let tile = slot_tile(k, d);
    Wgsl::new(
        "memory_read_backward",
        include_str!("memory_read_backward.wgsl"),
    )
    .constant("wg", WG)
    .constant("k", k as u32)
    .constant("d", d as u32)
    .constant("tile", tile as u32)
    .constant("tile_d", (tile * d) as u32)
}

/// `memory_read_slots_backward.wgsl` (per slot) for `K` slots of width `d`.
fn slots_backward_kernel(k: usize, d: usize) -> Wgsl {
    Wgsl::new(
        "memory_read_slots_backward",
        include_str!("memory_read_slots_backward.wgsl"),
    )
    .constant("wg", WG)
    .constant("k", k as u32)
    .constant("per", d.div_ceil(WG as usize).max(1) as u32)
}

/// Shape of the packed output `read ‖ weights`: `[B, R, d + K]`.
fn packed_shape(query: &Shape, slots: &Shape) -> Shape {
    Shape::from(vec![query[0], query[1], query[2] + slots[1]])
}

fn backward_meta(
    query: &TensorSpec,
    strength: &TensorSpec,
    slots: &TensorSpec,
) -> (TensorSpec, TensorSpec, TensorSpec) {
    (query.clone(), strength.clone(), slots.clone())
}

/// Runs `memory_read.wgsl`.
fn forward(query: CubeTensor, strength: CubeTensor, slots: CubeTensor, top_k: usize) -> CubeTensor {
    let [b, r, d] = dims(&query);
    let [_, k, _] = dims(&slots);
    assert!(top_k >= 1, "memory_read kernel: top_k must be at least 1");
    let top_k = top_k.min(k);
    let (query, strength, slots) = (
        input(query, "memory_read"),
        input(strength, "memory_read"),
        input(slots, "memory_read"),
    );
    let out = output(&query, [b, r, d + k]);
    let buffers = |slots: &CubeTensor| {
        vec![
            query.handle.clone(),
            strength.handle.clone(),
            slots.handle.clone(),
            out.handle.clone(),
        ]
    };
    let slots = if unrolled(d) {
        pad_last(slots, 4 * d.div_ceil(4))
    } else {
        slots
    };
    forward_kernel(k, d).launch(
        &query,
        BLOCKED_WG,
        blocked_groups(r, b),
        buffers(&slots),
        &[r, top_k],
    );
    out
}

/// Runs the two backward kernels; returns `[dquery, dstrength, dslots]`.
fn backward(
    query: CubeTensor,
    strength: CubeTensor,
    slots: CubeTensor,
    forward: CubeTensor,
    dout: CubeTensor,
    top_k: usize,
) -> [CubeTensor; 3] {
    let [b, r, d] = dims(&query);
    let [_, k, _] = dims(&slots);
    let top_k = top_k.min(k);
    let what = "memory_read backward";
    let (query, strength, slots) = (
        input(query, what),
        input(strength, what),
        input(slots, what),
    );
    let (forward, dout) = (input(forward, what), input(dout, what));

    let off_dbeta = b * r * d;
    let off_dc = off_dbeta + b * r;
    let off_qnorm = off_dc + b * r * k;
    let rowgrads = output(&query, [off_qnorm + b * r]);
    rows_backward_kernel(k, d).launch(
        &query,
        WG,
        [groups(r, WG), b as u32, 1],
        vec![
            query.handle.clone(),
            strength.handle.clone(),
            slots.handle.clone(),
            dout.handle.clone(),
            rowgrads.handle.clone(),
        ],
        &[r, top_k, off_dbeta, off_dc, off_qnorm],
    );

    let dslots = output(&query, [b, k, d]);
    slots_backward_kernel(k, d).launch(
        &query,
        WG,
        [k as u32, b as u32, 1],
        vec![
            query.handle.clone(),
            slots.handle.clone(),
            forward.handle.clone(),
            dout.handle.clone(),
            rowgrads.handle.clone(),
            dslots.handle.clone(),
        ],
        &[r, d, off_dc, off_qnorm],
    );
    [
        region(&rowgrads, 0, &[b, r, d]),
        region(&rowgrads, off_dbeta, &[b, r]),
        dslots,
    ]
}

#[derive(Debug)]
struct MemoryReadBackward;

impl<B: DmnMemoryReadBackward> Backward<B, 3> for MemoryReadBackward {
    // query, strength, slots, the packed forward output; top_k
    type State = ([FloatTensor<B>; 4], usize);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        autodiff::backward::<B, _, _>(
            ops,
            grads,
            |([query, strength, slots, forward], top_k), dout| {
                let (dq, dstrength, dslots) =
                    B::dmn_memory_read_backward(query, strength, slots, forward, dout, top_k);
                [dq, dstrength, dslots]
            },
        );
    }
}

impl DmnMemoryRead for CubeBackend {
    fn dmn_memory_read(
        query: FloatTensor<Self>,
        strength: FloatTensor<Self>,
        slots: FloatTensor<Self>,
        top_k: usize,
    ) -> FloatTensor<Self> {
        forward(query, strength, slots, top_k)
    }
}

impl DmnMemoryReadBackward for CubeBackend {
    fn dmn_memory_read_backward(
        query: FloatTensor<Self>,
        strength: FloatTensor<Self>,
        slots: FloatTensor<Self>,
        forward: FloatTensor<Self>,
        dout: FloatTensor<Self>,
        top_k: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [dq, dstrength, dslots] = backward(query, strength, slots, forward, dout, top_k);
        (dq, dstrength, dslots)
    }
}

impl<B, C> DmnMemoryRead for Autodiff<B, C>
where
    B: DmnMemoryRead + DmnMemoryReadBackward,
    C: CheckpointStrategy,
{
    fn dmn_memory_read(
        query: FloatTensor<Self>,
        strength: FloatTensor<Self>,
        slots: FloatTensor<Self>,
        top_k: usize,
    ) -> FloatTensor<Self> {
        let ([query, strength, slots], nodes) =
            autodiff::split::<B, C, _>([query, strength, slots]);
        let out = B::dmn_memory_read(query.clone(), strength.clone(), slots.clone(), top_k);
        match MemoryReadBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                prep.finish(([query, strength, slots, out.clone()], top_k), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{forward_kernel, rows_backward_kernel, slots_backward_kernel};
    use crate::launch::assert_compiles;

    #[test]
    fn kernels_compile_for_narrow_and_wide_rows() {
        // [K, d]: odd widths on both sides of the unrolled kernel's limit (96), one slot, the
        // paper's 512 slots.
        for [k, d] in [[64, 96], [3, 5], [16, 17], [7, 200], [512, 40], [1, 1]] {
            assert_compiles(&forward_kernel(k, d));
            assert_compiles(&rows_backward_kernel(k, d));
            assert_compiles(&slots_backward_kernel(k, d));
        }
    }
}
