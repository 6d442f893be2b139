//! The selective scan as a burn backend extension: [`DmnScan`] (the forward the model calls),
//! [`DmnScanBackward`] (what its autodiff node runs), the launchers of `scan.wgsl` (forward) and
//! `scan_backward.wgsl` (reverse scan), and the tensor-level [`scan`] with the contract of
//! `dmn::ops::scan`.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::{Shape, Slice, Tensor};

use crate::launch::{Wgsl, dims, groups, input, output, region, sizes};

/// The scan's forward, run by the model. On `Autodiff` it records [`DmnScanBackward`]'s reverse
/// scan as its backward. An autodiff node has exactly one output, so `y` and `h_last` come
/// packed in one tensor, which [`scan`] slices apart.
#[backend_extension(Cube, Fusion, Autodiff)]
pub trait DmnScan: Backend {
    /// Selective scan; returns `y ‖ h_last` packed as `[B, L·E + E·N]`.
    #[fusion(dtype = x, shape = packed_shape(x, a_log))]
    fn dmn_scan(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// What the scan's autodiff node runs: a forward that also saves the state entering each tile,
/// and the reverse scan. Never differentiated itself.
#[backend_extension(Cube, Fusion)]
pub trait DmnScanBackward: Backend {
    /// Selective scan that also returns the state entering every tile, `[B, ⌈L/TILE⌉, E, N]`.
    #[fusion(meta = |x, _delta, a_log, _b, _c, _d_skip, _h0| train_meta(x, a_log))]
    fn dmn_scan_train(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Reverse scan: gradients for x, Δ, a_log, B, C, D and h0 from the packed output gradient.
    #[fusion(meta = |x, delta, a_log, b, c, d_skip, _tiles, _dout| backward_meta(x, delta, a_log, b, c, d_skip))]
    #[allow(clippy::type_complexity)]
    fn dmn_scan_backward(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        tiles: FloatTensor<Self>,
        dout: FloatTensor<Self>,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );
}

/// Threads per workgroup in the forward pass (one channel each).
const WG_FORWARD: u32 = 64;

/// Steps per tile: the tile's B and C sit in workgroup memory, and the backward pass keeps the
/// tile's TILE × N states per thread, so TILE · N stays at 256 floats.
fn tile_len(n: usize) -> usize {
    (256 / n).max(1)
}

/// Threads per workgroup in the backward pass: its per-step reduction buffer holds WG × 2N floats,
/// kept at 8 KB so the kernel fits WebGPU's 16 KB of workgroup memory.
fn wg_backward(n: usize) -> u32 {
    (1024 / n).clamp(1, 64) as u32
}

/// Shape of the packed forward output `y ‖ h_last`: `[B, L·E + E·N]`.
fn packed_shape(x: &Shape, a_log: &Shape) -> Shape {
    let (e, n) = (a_log[0], a_log[1]);
    Shape::from(vec![x[0], x[1] * e + e * n])
}

fn train_meta(x: &TensorSpec, a_log: &TensorSpec) -> (TensorSpec, TensorSpec) {
    let (bs, l) = (x.shape[0], x.shape[1]);
    let (e, n) = (a_log.shape[0], a_log.shape[1]);
    (
        TensorSpec::new(packed_shape(&x.shape, &a_log.shape), x.dtype),
        TensorSpec::new(
            Shape::from(vec![bs, l.div_ceil(tile_len(n)), e, n]),
            x.dtype,
        ),
    )
}

#[allow(clippy::type_complexity)]
fn backward_meta(
    x: &TensorSpec,
    delta: &TensorSpec,
    a_log: &TensorSpec,
    b: &TensorSpec,
    c: &TensorSpec,
    d_skip: &TensorSpec,
) -> (
    TensorSpec,
    TensorSpec,
    TensorSpec,
    TensorSpec,
    TensorSpec,
    TensorSpec,
    TensorSpec,
) {
    let h0 = Shape::from(vec![x.shape[0], a_log.shape[0], a_log.shape[1]]);
    (
        x.clone(),
        delta.clone(),
        a_log.clone(),
        b.clone(),
        c.clone(),
        d_skip.clone(),
        TensorSpec::new(h0, x.dtype),
    )
}

/// The parameters `a_log ‖ d_skip` and the projections `B ‖ C`, packed so that a kernel binds
/// eight buffers at most (WebGPU's guaranteed per-stage limit).
fn pack_inputs(
    a_log: CubeTensor,
    d_skip: CubeTensor,
    b: CubeTensor,
    c: CubeTensor,
) -> (CubeTensor, CubeTensor) {
    let [e, n] = {
        let s = a_log.meta.shape();
        [s[0], s[1]]
    };
    let weights = CubeBackend::float_cat(
        vec![
            CubeBackend::float_reshape(a_log, Shape::from(vec![e * n])),
            d_skip,
        ],
        0,
    );
    let bc = CubeBackend::float_cat(vec![b, c], 2);
    (input(weights, "scan"), input(bc, "scan"))
}

/// Runs `scan.wgsl`; returns the packed output and, when `save_tiles`, the tile states.
#[allow(clippy::too_many_arguments)]
fn forward(
    x: CubeTensor,
    delta: CubeTensor,
    a_log: CubeTensor,
    b: CubeTensor,
    c: CubeTensor,
    d_skip: CubeTensor,
    h0: CubeTensor,
    save_tiles: bool,
) -> (CubeTensor, CubeTensor) {
    let [bs, l, e] = dims(&x);
    let n = a_log.meta.shape()[1];
    assert!(
        (1..=256).contains(&n),
        "scan kernel: state size N must be 1..=256, got {n}"
    );
    let (x, delta, h0) = (input(x, "scan"), input(delta, "scan"), input(h0, "scan"));
    let (weights, bc) = pack_inputs(a_log, d_skip, b, c);
    let tile = tile_len(n);
    let out = output(&x, [bs, l * e + e * n]);
    let tiles = if save_tiles {
        output(&x, [bs, l.div_ceil(tile), e, n])
    } else {
        output(&x, [1])
    };
    let sizes = sizes(&x, &[l, e, save_tiles as usize]);
    Wgsl::new("scan", include_str!("scan.wgsl"))
        .constant("wg", WG_FORWARD)
        .constant("n", n as u32)
        .constant("tile", tile as u32)
        .constant("tile_2n", (tile * 2 * n) as u32)
        .launch(
            &x,
            WG_FORWARD,
            [groups(e, WG_FORWARD), bs as u32, 1],
            vec![
                x.handle.clone(),
                delta.handle.clone(),
                weights.handle.clone(),
                bc.handle.clone(),
                h0.handle.clone(),
                out.handle.clone(),
                tiles.handle.clone(),
                sizes,
            ],
        );
    (out, tiles)
}

/// Runs `scan_backward.wgsl`; returns `[dx, dΔ, da_log, dB, dC, dD, dh0]`.
#[allow(clippy::too_many_arguments)]
fn backward(
    x: CubeTensor,
    delta: CubeTensor,
    a_log: CubeTensor,
    b: CubeTensor,
    c: CubeTensor,
    d_skip: CubeTensor,
    tiles: CubeTensor,
    dout: CubeTensor,
) -> [CubeTensor; 7] {
    let [bs, l, e] = dims(&x);
    let n = a_log.meta.shape()[1];
    let (x, delta) = (input(x, "scan backward"), input(delta, "scan backward"));
    let (tiles, dout) = (input(tiles, "scan backward"), input(dout, "scan backward"));
    let (weights, bc) = pack_inputs(a_log, d_skip, b, c);
    let tile = tile_len(n);
    let wg = wg_backward(n);
    let g = groups(e, wg) as usize;

    let ble = bs * l * e;
    let off_ddelta = ble;
    let off_dbc = 2 * ble;
    let off_da = off_dbc + g * bs * l * 2 * n;
    let off_dd = off_da + bs * e * n;
    let off_dh0 = off_dd + bs * e;
    let total = off_dh0 + bs * e * n;
    let grads = output(&x, [total]);
    let sizes = sizes(
        &x,
        &[l, e, bs, off_ddelta, off_dbc, off_da, off_dd, off_dh0],
    );
    Wgsl::new("scan_backward", include_str!("scan_backward.wgsl"))
        .constant("wg", wg)
        .constant("n", n as u32)
        .constant("tile", tile as u32)
        .constant("tile_2n", (tile * 2 * n) as u32)
        .constant("tile_n", (tile * n) as u32)
        .constant("wg_2n", wg * 2 * n as u32)
        .launch(
            &x,
            wg,
            [g as u32, bs as u32, 1],
            vec![
                x.handle.clone(),
                delta.handle.clone(),
                weights.handle.clone(),
                bc.handle.clone(),
                tiles.handle.clone(),
                dout.handle.clone(),
                grads.handle.clone(),
                sizes,
            ],
        );

    let dx = region(&grads, 0, &[bs, l, e]);
    let ddelta = region(&grads, off_ddelta, &[bs, l, e]);
    let dbc = CubeBackend::float_sum_dim(region(&grads, off_dbc, &[g, bs, l, 2 * n]), 0);
    let dbc = CubeBackend::float_reshape(dbc, Shape::from(vec![bs, l, 2 * n]));
    let half = |range: core::ops::Range<usize>| {
        CubeBackend::float_slice(
            dbc.clone(),
            &[Slice::from(0..bs), Slice::from(0..l), Slice::from(range)],
        )
    };
    let (db, dc) = (half(0..n), half(n..2 * n));
    let da_log = CubeBackend::float_sum_dim(region(&grads, off_da, &[bs, e, n]), 0);
    let da_log = CubeBackend::float_reshape(da_log, Shape::from(vec![e, n]));
    let dd = CubeBackend::float_sum_dim(region(&grads, off_dd, &[bs, e]), 0);
    let dd = CubeBackend::float_reshape(dd, Shape::from(vec![e]));
    let dh0 = region(&grads, off_dh0, &[bs, e, n]);
    [dx, ddelta, da_log, db, dc, dd, dh0]
}

/// The autodiff node: the training forward saves its inputs and the tile states; the backward
/// runs the reverse-scan kernel.
#[derive(Debug)]
struct ScanBackward;

impl<B: DmnScanBackward> Backward<B, 7> for ScanBackward {
    // x, Δ, a_log, B, C, D, tile states
    type State = [FloatTensor<B>; 7];

    fn backward(self, ops: Ops<Self::State, 7>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dout = grads.consume::<B>(&ops.node);
        let [x, delta, a_log, b, c, d_skip, tiles] = ops.state;
        let (dx, ddelta, da_log, db, dc, dd, dh0) =
            B::dmn_scan_backward(x, delta, a_log, b, c, d_skip, tiles, dout);
        for (parent, grad) in ops
            .parents
            .into_iter()
            .zip([dx, ddelta, da_log, db, dc, dd, dh0])
        {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl DmnScan for CubeBackend {
    fn dmn_scan(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        forward(x, delta, a_log, b, c, d_skip, h0, false).0
    }
}

impl DmnScanBackward for CubeBackend {
    fn dmn_scan_train(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        forward(x, delta, a_log, b, c, d_skip, h0, true)
    }

    fn dmn_scan_backward(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        tiles: FloatTensor<Self>,
        dout: FloatTensor<Self>,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let [dx, ddelta, da_log, db, dc, dd, dh0] =
            backward(x, delta, a_log, b, c, d_skip, tiles, dout);
        (dx, ddelta, da_log, db, dc, dd, dh0)
    }
}

impl<B: DmnScan + DmnScanBackward, C: CheckpointStrategy> DmnScan for Autodiff<B, C> {
    fn dmn_scan(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let parts = [x, delta, a_log, b, c, d_skip, h0].map(|t| t.into_parts());
        let [x, delta, a_log, b, c, d_skip, h0] = parts.each_ref().map(|(p, _)| p.clone());
        let nodes = parts.map(|(_, node)| node);
        match ScanBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, tiles) = B::dmn_scan_train(
                    x.clone(),
                    delta.clone(),
                    a_log.clone(),
                    b.clone(),
                    c.clone(),
                    d_skip.clone(),
                    h0,
                );
                prep.finish([x, delta, a_log, b, c, d_skip, tiles], out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dmn_scan(x, delta, a_log, b, c, d_skip, h0)),
        }
    }
}

/// Selective scan on the GPU, with the contract of `dmn::ops::scan`:
/// x, Δ `[B, L, E]`, a_log `[E, N]`, B, C `[B, L, N]`, D `[E]`, h0 `[B, E, N]` →
/// (y `[B, L, E]`, h_last `[B, E, N]`). Differentiable when the tensors are on an autodiff device.
pub fn scan(
    x: Tensor<3>,
    delta: Tensor<3>,
    a_log: Tensor<2>,
    b: Tensor<3>,
    c: Tensor<3>,
    d_skip: Tensor<1>,
    h0: Tensor<3>,
) -> (Tensor<3>, Tensor<3>) {
    let [bs, l, e] = x.dims();
    let [_, n] = a_log.dims();
    let packed: Tensor<2> = Tensor::from_dispatch(Dispatch::dmn_scan(
        x.into_dispatch(),
        delta.into_dispatch(),
        a_log.into_dispatch(),
        b.into_dispatch(),
        c.into_dispatch(),
        d_skip.into_dispatch(),
        h0.into_dispatch(),
    ));
    let y = packed.clone().narrow(1, 0, l * e).reshape([bs, l, e]);
    let h_last = packed.narrow(1, l * e, e * n).reshape([bs, e, n]);
    (y, h_last)
}
