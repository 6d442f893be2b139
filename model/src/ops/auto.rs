//! Chooses, per call, between the WGSL kernels and the reference.
//!
//! The kernels run when the crate is built with the `wgpu` feature, the model asks for them
//! ([`crate::DmnConfig::kernels`]) and the tensors live on a wgpu device; everything else (CPU,
//! the browser's CPU fallback, `kernels: false` for comparison) runs the reference. Both have one
//! contract, documented on the reference.

use burn::tensor::{Bool, Device, Tensor};

use super::{MemoryRead, MemoryWrite, Retrieval, ScanOutput, WriteRequest};

/// Whether the kernels take ops on `device` when `enabled`.
pub fn kernels_run_on(enabled: bool, device: &Device) -> bool {
    #[cfg(feature = "wgpu")]
    {
        enabled && dmn_shaders::runs_on(device)
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = (enabled, device);
        false
    }
}

/// [`super::scan`], or the `scan.wgsl` kernel (which ignores `chunk`: it tiles time itself).
#[allow(clippy::too_many_arguments)]
pub fn scan(
    kernels: bool,
    x: Tensor<3>,
    delta: Tensor<3>,
    a_log: Tensor<2>,
    b: Tensor<3>,
    c: Tensor<3>,
    d_skip: Tensor<1>,
    h0: Tensor<3>,
    chunk: usize,
) -> ScanOutput {
    #[cfg(feature = "wgpu")]
    if kernels_run_on(kernels, &x.device()) {
        let (y, h_last) = dmn_shaders::scan(x, delta, a_log, b, c, d_skip, h0);
        return ScanOutput { y, h_last };
    }
    let _ = kernels;
    super::scan(x, delta, a_log, b, c, d_skip, h0, chunk)
}

/// [`super::memory_read`], or the `memory_read.wgsl` kernel.
pub fn memory_read(
    kernels: bool,
    query: Tensor<3>,
    strength: Tensor<2>,
    slots: Tensor<3>,
    top_k: usize,
) -> MemoryRead {
    #[cfg(feature = "wgpu")]
    if kernels_run_on(kernels, &query.device()) {
        let (read, weights) = dmn_shaders::memory_read(query, strength, slots, top_k);
        return MemoryRead { read, weights };
    }
    let _ = kernels;
    super::memory_read(query, strength, slots, top_k)
}

/// [`super::retrieve`], or the `retrieve.wgsl` kernel.
pub fn retrieve(
    kernels: bool,
    query: Tensor<3>,
    ltm: Tensor<3>,
    level_bias: Tensor<1>,
    valid: Tensor<2, Bool>,
) -> Retrieval {
    #[cfg(feature = "wgpu")]
    if kernels_run_on(kernels, &query.device()) {
        let (context, weights) = dmn_shaders::retrieve(query, ltm, level_bias, valid);
        return Retrieval { context, weights };
    }
    let _ = kernels;
    super::retrieve(query, ltm, level_bias, valid)
}

/// [`super::memory_write`], or the `memory_write.wgsl` kernel.
pub fn memory_write(
    kernels: bool,
    slots: Tensor<3>,
    age: Tensor<2>,
    usage: Tensor<2>,
    request: WriteRequest,
    top_k: usize,
    usage_decay: f32,
) -> MemoryWrite {
    #[cfg(feature = "wgpu")]
    if kernels_run_on(kernels, &slots.device()) {
        let r = request;
        let w = dmn_shaders::memory_write(
            slots,
            age,
            usage,
            r.key,
            r.strength,
            r.erase,
            r.add,
            r.write_gate,
            r.alloc_gate,
            r.decay,
            top_k,
            usage_decay,
        );
        return MemoryWrite {
            slots: w.slots,
            age: w.age,
            usage: w.usage,
            write_weights: w.write_weights,
        };
    }
    let _ = kernels;
    super::memory_write(slots, age, usage, request, top_k, usage_decay)
}
