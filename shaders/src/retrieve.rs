//! Hierarchical retrieval as a burn backend extension: [`DmnRetrieve`] (the forward the model
//! calls), [`DmnRetrieveBackward`] (what its autodiff node runs), the launchers of
//! `retrieve.wgsl` (forward), `retrieve_backward.wgsl` (per query row) and
//! `retrieve_entries_backward.wgsl` (per long-term entry). The contract is
//! `dmn::ops::retrieve`'s.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::backend::{Backend, backend_extension};
use burn::tensor::Shape;

use crate::autodiff;
use crate::launch::{BLOCKED_WG, Wgsl, blocked_groups, dims, groups, input, output, region};

/// Retrieval's forward, run by the model. On `Autodiff` it records [`DmnRetrieveBackward`] as its
/// backward. `context` and `weights` come packed in one tensor (an autodiff node has one
/// output). `valid` is the mask as floats (1 or 0), a constant.
#[backend_extension(Cube, Fusion, Autodiff)]
pub trait DmnRetrieve: Backend {
    /// Hierarchical retrieval; returns `context ‖ weights` packed as `[B, L, d + E]`.
    #[fusion(dtype = query, shape = packed_shape(query, ltm))]
    fn dmn_retrieve(
        query: FloatTensor<Self>,
        ltm: FloatTensor<Self>,
        level_bias: FloatTensor<Self>,
        valid: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// What retrieval's autodiff node runs; never differentiated itself.
#[backend_extension(Cube, Fusion)]
pub trait DmnRetrieveBackward: Backend {
    /// Gradients of the query, the entries and the level bias from the packed output gradient.
    #[fusion(meta = |query, ltm, level_bias, _forward, _dout| backward_meta(query, ltm, level_bias))]
    fn dmn_retrieve_backward(
        query: FloatTensor<Self>,
        ltm: FloatTensor<Self>,
        level_bias: FloatTensor<Self>,
        forward: FloatTensor<Self>,
        dout: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

const WG: u32 = 64;

/// `retrieve.wgsl` for `E` entries of width `d`.
fn forward_kernel(e: usize, d: usize) -> Wgsl {
    Wgsl::new("retrieve", include_str!("retrieve.wgsl"))
        .constant("wg", BLOCKED_WG)
        .constant("e", e as u32)
        .constant("d", d as u32)
}

/// `retrieve_backward.wgsl` (per query row) for `E` entries of width `d`; entries stream through
/// workgroup memory in tiles of T · d ≤ 2048 floats (8 KB).
fn rows_backward_kernel(e: usize, d: usize) -> Wgsl {
    let tile = (2048 / d.max(1)).clamp(1, e.max(1));
    Wgsl::new("retrieve_backward", include_str!("retrieve_backward.wgsl"))
        .constant("wg", WG)
        .constant("e", e as u32)
        .constant("d", d as u32)
        .constant("tile", tile as u32)
        .constant("tile_d", (tile * d) as u32)
}

/// `retrieve_entries_backward.wgsl` (per entry) for `E` entries of width `d`.
fn entries_backward_kernel(e: usize, d: usize) -> Wgsl {
    Wgsl::new(
        "retrieve_entries_backward",
        include_str!("retrieve_entries_backward.wgsl"),
    )
    .constant("wg", WG)
    .constant("e", e as u32)
    .constant("per", d.div_ceil(WG as usize).max(1) as u32)
}

/// Shape of the packed output `context ‖ weights`: `[B, L, d + E]`.
fn packed_shape(query: &Shape, ltm: &Shape) -> Shape {
    Shape::from(vec![query[0], query[1], query[2] + ltm[1]])
}

fn backward_meta(
    query: &TensorSpec,
    ltm: &TensorSpec,
    level_bias: &TensorSpec,
) -> (TensorSpec, TensorSpec, TensorSpec) {
    (query.clone(), ltm.clone(), level_bias.clone())
}

fn levels(ltm: &CubeTensor, level_bias: &CubeTensor) -> (usize, usize) {
    let e = ltm.meta.shape()[1];
    let m = level_bias.meta.shape()[0];
    assert!(
        m >= 1 && e % m == 0,
        "retrieve kernel: E ({e}) must be a multiple of the levels ({m})"
    );
    (m, e / m)
}

/// Runs `retrieve.wgsl`.
fn forward(
    query: CubeTensor,
    ltm: CubeTensor,
    level_bias: CubeTensor,
    valid: CubeTensor,
) -> CubeTensor {
    let [b, l, d] = dims(&query);
    let e = ltm.meta.shape()[1];
    let (_, per_level) = levels(&ltm, &level_bias);
    let what = "retrieve";
    let (query, ltm) = (input(query, what), input(ltm, what));
    let (level_bias, valid) = (input(level_bias, what), input(valid, what));
    let out = output(&query, [b, l, d + e]);
    forward_kernel(e, d).launch(
        &query,
        BLOCKED_WG,
        blocked_groups(l, b),
        vec![
            query.handle.clone(),
            ltm.handle.clone(),
            level_bias.handle.clone(),
            valid.handle.clone(),
            out.handle.clone(),
        ],
        &[l, per_level],
    );
    out
}

/// Runs the two backward kernels; returns `[dquery, dltm, dlevel_bias]`.
fn backward(
    query: CubeTensor,
    ltm: CubeTensor,
    level_bias: CubeTensor,
    forward: CubeTensor,
    dout: CubeTensor,
) -> [CubeTensor; 3] {
    let [b, l, d] = dims(&query);
    let e = ltm.meta.shape()[1];
    let (m, per_level) = levels(&ltm, &level_bias);
    let what = "retrieve backward";
    let (query, ltm) = (input(query, what), input(ltm, what));
    let (forward, dout) = (input(forward, what), input(dout, what));

    let off_ds = b * l * d;
    let rowgrads = output(&query, [off_ds + b * l * e]);
    rows_backward_kernel(e, d).launch(
        &query,
        WG,
        [groups(l, WG), b as u32, 1],
        vec![
            ltm.handle.clone(),
            forward.handle.clone(),
            dout.handle.clone(),
            rowgrads.handle.clone(),
        ],
        &[l, off_ds],
    );

    let off_dbias = b * e * d;
    let grads = output(&query, [off_dbias + b * e]);
    entries_backward_kernel(e, d).launch(
        &query,
        WG,
        [e as u32, b as u32, 1],
        vec![
            query.handle.clone(),
            forward.handle.clone(),
            dout.handle.clone(),
            rowgrads.handle.clone(),
            grads.handle.clone(),
        ],
        &[l, d, off_ds, off_dbias],
    );
    let dbias = region(&grads, off_dbias, &[b, m, per_level]);
    let dbias = CubeBackend::float_sum_dim(CubeBackend::float_sum_dim(dbias, 0), 2);
    [
        region(&rowgrads, 0, &[b, l, d]),
        region(&grads, 0, &[b, e, d]),
        CubeBackend::float_reshape(dbias, Shape::from(vec![m])),
    ]
}

#[derive(Debug)]
struct RetrieveBackward;

impl<B: DmnRetrieveBackward> Backward<B, 3> for RetrieveBackward {
    // query, ltm, level_bias, the packed forward output
    type State = [FloatTensor<B>; 4];

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        autodiff::backward::<B, _, _>(ops, grads, |[query, ltm, level_bias, forward], dout| {
            let (dq, dltm, dbias) = B::dmn_retrieve_backward(query, ltm, level_bias, forward, dout);
            [dq, dltm, dbias]
        });
    }
}

impl DmnRetrieve for CubeBackend {
    fn dmn_retrieve(
        query: FloatTensor<Self>,
        ltm: FloatTensor<Self>,
        level_bias: FloatTensor<Self>,
        valid: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        forward(query, ltm, level_bias, valid)
    }
}

impl DmnRetrieveBackward for CubeBackend {
    fn dmn_retrieve_backward(
        query: FloatTensor<Self>,
        ltm: FloatTensor<Self>,
        level_bias: FloatTensor<Self>,
        forward: FloatTensor<Self>,
        dout: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [dq, dltm, dbias] = backward(query, ltm, level_bias, forward, dout);
        (dq, dltm, dbias)
    }
}

/// The validity mask is a constant: only query, entries and level bias get gradients.
impl<B, C> DmnRetrieve for Autodiff<B, C>
where
    B: DmnRetrieve + DmnRetrieveBackward,
    C: CheckpointStrategy,
{
    fn dmn_retrieve(
        query: FloatTensor<Self>,
        ltm: FloatTensor<Self>,
        level_bias: FloatTensor<Self>,
        valid: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let ([query, ltm, level_bias], nodes) =
            autodiff::split::<B, C, _>([query, ltm, level_bias]);
        let out = B::dmn_retrieve(
            query.clone(),
            ltm.clone(),
            level_bias.clone(),
            valid.into_primitive(),
        );
        match RetrieveBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish([query, ltm, level_bias, out.clone()], out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{entries_backward_kernel, forward_kernel, rows_backward_kernel};
    use crate::launch::assert_compiles;

    #[test]
    fn kernels_compile_for_entries_and_widths() {
        // [E, d]: the small preset's levels, one entry, rows wider than a thread's share.
        for [e, d] in [[20, 96], [1, 8], [9, 130]] {
            assert_compiles(&forward_kernel(e, d));
            assert_compiles(&rows_backward_kernel(e, d));
            assert_compiles(&entries_backward_kernel(e, d));
        }
    }
}
