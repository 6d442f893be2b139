//! The ops the kernels provide, declared as burn backend extensions.
//!
//! [`DmnKernels`] holds the forward ops the model calls; it is implemented for burn-wgpu's
//! `CubeBackend`, for its `Fusion` wrapper and for `Autodiff`, whose implementation records a
//! custom backward. [`DmnKernelsBackward`] holds what that backward (and a training forward that
//! saves what the backward needs) runs; it is never differentiated itself.
//!
//! An autodiff node has exactly one output, so an op with several outputs returns them packed in
//! one tensor and the tensor-level wrapper (e.g. [`crate::scan`]) slices them apart.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::CubeBackend;
use burn::backend::{Backend, backend_extension};

use crate::{copy, memory_read, memory_write, retrieve, scan};

#[backend_extension(Cube, Fusion, Autodiff)]
pub trait DmnKernels: Backend {
    /// Selective scan; returns `y ‖ h_last` packed as `[B, L·E + E·N]`.
    #[fusion(dtype = x, shape = scan::packed_shape(x, a_log))]
    fn dmn_scan(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Working-memory read; returns `read ‖ weights` packed as `[B, R, d + K]`.
    #[fusion(dtype = query, shape = memory_read::packed_shape(query, slots))]
    fn dmn_memory_read(
        query: FloatTensor<Self>,
        strength: FloatTensor<Self>,
        slots: FloatTensor<Self>,
        top_k: usize,
    ) -> FloatTensor<Self>;

    /// Hierarchical retrieval; returns `context ‖ weights` packed as `[B, L, d + E]`.
    #[fusion(dtype = query, shape = retrieve::packed_shape(query, ltm))]
    fn dmn_retrieve(
        query: FloatTensor<Self>,
        ltm: FloatTensor<Self>,
        level_bias: FloatTensor<Self>,
        valid: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Working-memory write; returns `W' ‖ ω ‖ age' ‖ usage'` packed as `[B, K·d + H·K + 2K]`.
    /// `heads` is `key ‖ erase ‖ add` `[B, H, 3d]`, `gates` is `β, g, α` `[B, H, 3]` and
    /// `per_slot` is `age, usage, f` `[B, K, 3]`.
    #[fusion(dtype = slots, shape = memory_write::packed_shape(slots, heads))]
    fn dmn_memory_write(
        slots: FloatTensor<Self>,
        heads: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        per_slot: FloatTensor<Self>,
        top_k: usize,
        usage_decay: f32,
    ) -> FloatTensor<Self>;
}

#[backend_extension(Cube, Fusion)]
pub trait DmnKernelsBackward: Backend {
    /// Selective scan that also returns the state entering every tile, `[B, ⌈L/TILE⌉, E, N]`.
    #[fusion(meta = |x, _delta, a_log, _b, _c, _d_skip, _h0| scan::train_meta(x, a_log))]
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
    #[fusion(meta = |x, delta, a_log, b, c, d_skip, _tiles, _dout| scan::backward_meta(x, delta, a_log, b, c, d_skip))]
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

    /// Gradients of the query, the strength and the slots from the packed output gradient.
    #[fusion(meta = |query, strength, slots, _forward, _dout, _top_k| memory_read::backward_meta(query, strength, slots))]
    fn dmn_memory_read_backward(
        query: FloatTensor<Self>,
        strength: FloatTensor<Self>,
        slots: FloatTensor<Self>,
        forward: FloatTensor<Self>,
        dout: FloatTensor<Self>,
        top_k: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients of the query, the entries and the level bias from the packed output gradient.
    #[fusion(meta = |query, ltm, level_bias, _forward, _dout| retrieve::backward_meta(query, ltm, level_bias))]
    fn dmn_retrieve_backward(
        query: FloatTensor<Self>,
        ltm: FloatTensor<Self>,
        level_bias: FloatTensor<Self>,
        forward: FloatTensor<Self>,
        dout: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients of the four packed inputs of [`DmnKernels::dmn_memory_write`].
    #[fusion(meta = |slots, heads, gates, per_slot, _dout, _top_k| memory_write::backward_meta(slots, heads, gates, per_slot))]
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

impl DmnKernels for CubeBackend {
    fn dmn_scan(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        scan::forward(x, delta, a_log, b, c, d_skip, h0, false).0
    }

    fn dmn_memory_read(
        query: FloatTensor<Self>,
        strength: FloatTensor<Self>,
        slots: FloatTensor<Self>,
        top_k: usize,
    ) -> FloatTensor<Self> {
        memory_read::forward(query, strength, slots, top_k)
    }

    fn dmn_retrieve(
        query: FloatTensor<Self>,
        ltm: FloatTensor<Self>,
        level_bias: FloatTensor<Self>,
        valid: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        retrieve::forward(query, ltm, level_bias, valid)
    }

    fn dmn_memory_write(
        slots: FloatTensor<Self>,
        heads: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        per_slot: FloatTensor<Self>,
        top_k: usize,
        usage_decay: f32,
    ) -> FloatTensor<Self> {
        memory_write::forward(slots, heads, gates, per_slot, top_k, usage_decay)
    }
}

impl DmnKernelsBackward for CubeBackend {
    fn dmn_scan_train(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        scan::forward(x, delta, a_log, b, c, d_skip, h0, true)
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
            scan::backward(x, delta, a_log, b, c, d_skip, tiles, dout);
        (dx, ddelta, da_log, db, dc, dd, dh0)
    }

    fn dmn_memory_read_backward(
        query: FloatTensor<Self>,
        strength: FloatTensor<Self>,
        slots: FloatTensor<Self>,
        forward: FloatTensor<Self>,
        dout: FloatTensor<Self>,
        top_k: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [dq, dstrength, dslots] =
            memory_read::backward(query, strength, slots, forward, dout, top_k);
        (dq, dstrength, dslots)
    }

    fn dmn_retrieve_backward(
        query: FloatTensor<Self>,
        ltm: FloatTensor<Self>,
        level_bias: FloatTensor<Self>,
        forward: FloatTensor<Self>,
        dout: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [dq, dltm, dbias] = retrieve::backward(query, ltm, level_bias, forward, dout);
        (dq, dltm, dbias)
    }

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
        let [ds, dh, dg, dp] = memory_write::backward(slots, heads, gates, per_slot, dout, top_k);
        (ds, dh, dg, dp)
    }
}

impl<B, C> DmnKernels for Autodiff<B, C>
where
    B: DmnKernels + DmnKernelsBackward,
    C: CheckpointStrategy,
{
    fn dmn_scan(
        x: FloatTensor<Self>,
        delta: FloatTensor<Self>,
        a_log: FloatTensor<Self>,
        b: FloatTensor<Self>,
        c: FloatTensor<Self>,
        d_skip: FloatTensor<Self>,
        h0: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        scan::autodiff::<B, C>(x, delta, a_log, b, c, d_skip, h0)
    }

    fn dmn_memory_read(
        query: FloatTensor<Self>,
        strength: FloatTensor<Self>,
        slots: FloatTensor<Self>,
        top_k: usize,
    ) -> FloatTensor<Self> {
        memory_read::autodiff::<B, C>(query, strength, slots, top_k)
    }

    fn dmn_retrieve(
        query: FloatTensor<Self>,
        ltm: FloatTensor<Self>,
        level_bias: FloatTensor<Self>,
        valid: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        retrieve::autodiff::<B, C>(query, ltm, level_bias, valid)
    }

    fn dmn_memory_write(
        slots: FloatTensor<Self>,
        heads: FloatTensor<Self>,
        gates: FloatTensor<Self>,
        per_slot: FloatTensor<Self>,
        top_k: usize,
        usage_decay: f32,
    ) -> FloatTensor<Self> {
        memory_write::autodiff::<B, C>(slots, heads, gates, per_slot, top_k, usage_decay)
    }
}

/// What the benchmarks need besides the ops: a plain copy, to measure the device's bandwidth.
#[backend_extension(Cube, Fusion)]
pub trait DmnBench: Backend {
    /// Copies a 1-D tensor whose length is a multiple of 4.
    #[fusion(dtype = src, shape = src)]
    fn dmn_copy(src: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl DmnBench for CubeBackend {
    fn dmn_copy(src: FloatTensor<Self>) -> FloatTensor<Self> {
        copy::forward(src)
    }
}
