//! Chooses, per call, between the WGSL kernels and the reference.
//!
//! The kernels run when the crate is built with the `wgpu` feature, the model asks for them
//! ([`crate::DmnConfig::kernels`]) and the tensors live on a wgpu device; everything else (CPU,
//! the browser's CPU fallback, `kernels: false` for comparison) runs the reference. Both have one
//! contract, documented on the reference.

use burn::tensor::{Bool, Device, Tensor};

use super::{MemoryRead, MemoryWrite, PackedWriteRequest, Retrieval, ScanInputs, ScanOutput};

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
pub fn scan(kernels: bool, inputs: ScanInputs, chunk: usize) -> ScanOutput {
    #[cfg(feature = "wgpu")]
    if kernels_run_on(kernels, &inputs.x.device()) {
        return super::wgsl::scan(inputs);
    }
    let _ = kernels;
    super::scan(inputs, chunk)
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
        return super::wgsl::memory_read(query, strength, slots, top_k);
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
        return super::wgsl::retrieve(query, ltm, level_bias, valid);
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
    hold: Tensor<2>,
    request: impl Into<PackedWriteRequest>,
    top_k: usize,
    usage_decay: f32,
) -> MemoryWrite {
    #[cfg(feature = "wgpu")]
    if kernels_run_on(kernels, &slots.device()) {
        return super::wgsl::memory_write(
            slots,
            age,
            usage,
            hold,
            request.into(),
            top_k,
            usage_decay,
        );
    }
    let _ = kernels;
    super::memory_write(slots, age, usage, hold, request, top_k, usage_decay)
}
