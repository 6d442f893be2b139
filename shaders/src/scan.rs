//! The selective scan as a burn backend extension: [`DmnScan`] (the forward the model calls),
//! [`DmnScanBackward`] (what its autodiff node runs) and the launchers of `scan.wgsl` (forward)
//! and `scan_backward.wgsl` (reverse scan). The contract is `dmn::ops::scan`'s.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::backend::{Backend, ExtensionType, backend_extension};
use burn::tensor::{Shape, Slice};

use crate::autodiff;
use crate::launch::{Wgsl, dims, groups, input, output, region};

/// The scan's seven tensors as backend primitives (`dmn::ops::ScanInputs` below the tensor
/// API), shapes as there: x, Δ `[B, L, E]`, a_log `[E, N]`, B, C `[B, L, N]`, D `[E]`,
/// h0 `[B, E, N]`. [`DmnScanBackward::dmn_scan_backward`] returns the gradients in the same
/// fields.
#[derive(ExtensionType, Debug, Clone)]
#[extension_type(fusion)]
pub struct ScanPrimitive<B: Backend> {
    /// `[B, L, E]`
    pub x: FloatTensor<B>,
    /// Δ, `[B, L, E]`
    pub delta: FloatTensor<B>,
    /// `[E, N]`
    pub a_log: FloatTensor<B>,
    /// B, `[B, L, N]`
    pub b: FloatTensor<B>,
    /// C, `[B, L, N]`
    pub c: FloatTensor<B>,
    /// D, `[E]`
    pub d_skip: FloatTensor<B>,
    /// `[B, E, N]`
    pub h0: FloatTensor<B>,
}

impl<B: Backend> ScanPrimitive<B> {
    /// The fields in declaration order.
    fn into_array(self) -> [FloatTensor<B>; 7] {
        [
            self.x,
            self.delta,
            self.a_log,
            self.b,
            self.c,
            self.d_skip,
            self.h0,
        ]
    }

    fn from_array([x, delta, a_log, b, c, d_skip, h0]: [FloatTensor<B>; 7]) -> Self {
        Self {
            x,
            delta,
            a_log,
            b,
            c,
            d_skip,
            h0,
        }
    }
}

/// The scan's forward, run by the model. On `Autodiff` it records [`DmnScanBackward`]'s reverse
/// scan as its backward. An autodiff node has exactly one output, so `y` and `h_last` come
/// packed in one tensor.
#[backend_extension(Cube, Fusion, Autodiff)]
pub trait DmnScan: Backend {
    /// Selective scan; returns `y ‖ h_last` packed as `[B, L·E + E·N]`.
    #[fusion(meta = |inputs| train_meta(&inputs.x, &inputs.a_log).0)]
    fn dmn_scan(#[extension_type] inputs: ScanPrimitive<Self>) -> FloatTensor<Self>;
}

/// What the scan's autodiff node runs: a forward that also saves the state entering each tile,
/// and the reverse scan. Never differentiated itself.
#[backend_extension(Cube, Fusion)]
pub trait DmnScanBackward: Backend {
    /// Selective scan that also returns the state entering every tile, `[B, ⌈L/TILE⌉, E, N]`.
    #[fusion(meta = |inputs| train_meta(&inputs.x, &inputs.a_log))]
    fn dmn_scan_train(
        #[extension_type] inputs: ScanPrimitive<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Reverse scan: the gradient of every input, from the tile states and the packed output
    /// gradient (`inputs.h0` is not read: the first tile state is h0).
    #[fusion(meta = |inputs, _tiles, _dout| inputs.clone())]
    fn dmn_scan_backward(
        #[extension_type] inputs: ScanPrimitive<Self>,
        tiles: FloatTensor<Self>,
        dout: FloatTensor<Self>,
    ) -> ScanPrimitive<Self>;
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

/// The packed output and the tile states of a training forward.
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

/// `scan.wgsl` for state size `n`.
fn forward_kernel(n: usize) -> Wgsl {
    let tile = tile_len(n);
    Wgsl::new("scan", include_str!("scan.wgsl"))
        .constant("wg", WG_FORWARD)
        .constant("n", n as u32)
        .constant("tile", tile as u32)
        .constant("tile_2n", (tile * 2 * n) as u32)
}

/// `scan_backward.wgsl` for state size `n`.
fn backward_kernel(n: usize) -> Wgsl {
    let (tile, wg) = (tile_len(n), wg_backward(n));
    Wgsl::new("scan_backward", include_str!("scan_backward.wgsl"))
        .constant("wg", wg)
        .constant("n", n as u32)
        .constant("tile", tile as u32)
        .constant("tile_2n", (tile * 2 * n) as u32)
        .constant("tile_n", (tile * n) as u32)
        .constant("wg_2n", wg * 2 * n as u32)
}

/// Runs `scan.wgsl`; returns the packed output and, when `save_tiles`, the tile states.
fn forward(inputs: ScanPrimitive<CubeBackend>, save_tiles: bool) -> (CubeTensor, CubeTensor) {
    let ScanPrimitive {
        x,
        delta,
        a_log,
        b,
        c,
        d_skip,
        h0,
    } = inputs;
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
    forward_kernel(n).launch(
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
        ],
        &[l, e, save_tiles as usize],
    );
    (out, tiles)
}

/// Runs `scan_backward.wgsl`; returns the gradient of each input in its field.
fn backward(
    inputs: ScanPrimitive<CubeBackend>,
    tiles: CubeTensor,
    dout: CubeTensor,
) -> ScanPrimitive<CubeBackend> {
    let ScanPrimitive {
        x,
        delta,
        a_log,
        b,
        c,
        d_skip,
        ..
    } = inputs;
    let [bs, l, e] = dims(&x);
    let n = a_log.meta.shape()[1];
    let (x, delta) = (input(x, "scan backward"), input(delta, "scan backward"));
    let (tiles, dout) = (input(tiles, "scan backward"), input(dout, "scan backward"));
    let (weights, bc) = pack_inputs(a_log, d_skip, b, c);
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
    backward_kernel(n).launch(
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
        ],
        &[l, e, bs, off_ddelta, off_dbc, off_da, off_dd, off_dh0],
    );

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
    let dd = CubeBackend::float_sum_dim(region(&grads, off_dd, &[bs, e]), 0);
    ScanPrimitive {
        x: region(&grads, 0, &[bs, l, e]),
        delta: region(&grads, off_ddelta, &[bs, l, e]),
        a_log: CubeBackend::float_reshape(da_log, Shape::from(vec![e, n])),
        b: db,
        c: dc,
        d_skip: CubeBackend::float_reshape(dd, Shape::from(vec![e])),
        h0: region(&grads, off_dh0, &[bs, e, n]),
    }
}

/// The autodiff node: the training forward saves its inputs and the tile states; the backward
/// runs the reverse-scan kernel.
#[derive(Debug)]
struct ScanBackward;

impl<B: DmnScanBackward> Backward<B, 7> for ScanBackward {
    // the inputs, the tile states
    type State = (ScanPrimitive<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 7>, grads: &mut Gradients, _: &mut Checkpointer) {
        autodiff::backward::<B, _, _>(ops, grads, |(inputs, tiles), dout| {
            B::dmn_scan_backward(inputs, tiles, dout).into_array()
        });
    }
}

impl DmnScan for CubeBackend {
    fn dmn_scan(inputs: ScanPrimitive<Self>) -> FloatTensor<Self> {
        forward(inputs, false).0
    }
}

impl DmnScanBackward for CubeBackend {
    fn dmn_scan_train(inputs: ScanPrimitive<Self>) -> (FloatTensor<Self>, FloatTensor<Self>) {
        forward(inputs, true)
    }

    fn dmn_scan_backward(
        inputs: ScanPrimitive<Self>,
        tiles: FloatTensor<Self>,
        dout: FloatTensor<Self>,
    ) -> ScanPrimitive<Self> {
        backward(inputs, tiles, dout)
    }
}

impl<B: DmnScan + DmnScanBackward, C: CheckpointStrategy> DmnScan for Autodiff<B, C> {
    fn dmn_scan(inputs: ScanPrimitive<Self>) -> FloatTensor<Self> {
        let (inputs, nodes) = autodiff::split::<B, C, _>(inputs.into_array());
        let inputs = ScanPrimitive::from_array(inputs);
        match ScanBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, tiles) = B::dmn_scan_train(inputs.clone());
                prep.finish((inputs, tiles), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dmn_scan(inputs)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{backward_kernel, forward_kernel};
    use crate::launch::assert_compiles;

    #[test]
    fn kernels_compile_for_every_state_size() {
        // N sets the tile length, the backward's workgroup and every per-thread array.
        for n in [1, 3, 16, 64, 256] {
            assert_compiles(&forward_kernel(n));
            assert_compiles(&backward_kernel(n));
        }
    }
}
