//! Hand-written WGSL compute shaders for DMN's three hot ops, inside burn-wgpu.
//!
//! | op | forward | backward |
//! |---|---|---|
//! | [`scan`] | `scan.wgsl` | `scan_backward.wgsl` |
//! | [`memory_read`] | `memory_read.wgsl` (`memory_read_wide.wgsl` for rows wider than 96) | `memory_read_backward.wgsl`, `memory_read_slots_backward.wgsl` |
//! | [`memory_write`] | `memory_write.wgsl` | `memory_write_backward.wgsl` |
//! | [`retrieve`] | `retrieve.wgsl` | `retrieve_backward.wgsl`, `retrieve_entries_backward.wgsl` |
//!
//! Each op has the contract of its reference in `dmn::ops`, which defines what it must compute;
//! the tests in `dmn` run both on the same inputs and compare values and gradients. Each op is a
//! burn backend extension declared in its own module: a trait for the forward (implemented for
//! burn-wgpu's `CubeBackend`, its `Fusion` wrapper and `Autodiff`, whose implementation records a
//! custom backward) and one for what that backward runs. They run on burn's wgpu backend, with or
//! without autodiff, and [`runs_on`] says whether a device can take them; `dmn::ops` calls them
//! on tensors. Steps that a forward kernel and its backward both compute (cosine scores, top-k
//! selection and its tie-breaking, the least used slot, the scan's recurrence) are written once,
//! in `common.wgsl`, which the launcher splices into the kernels that use them.
//!
//! One `.wgsl` file per kernel, one thin launcher per op, in the manner of web-rwkv.
//! [`count_launches`] counts the dispatches a piece of work issues, and ours by kernel.

mod autodiff;
mod copy;
pub mod counters;
mod launch;
pub mod memory_read;
pub mod memory_write;
pub mod retrieve;
pub mod scan;

pub use copy::{DmnBench, copy};
pub use counters::{Launches, count_launches};
pub use launch::set_empty_kernels;
pub use memory_read::{DmnMemoryRead, DmnMemoryReadBackward};
pub use memory_write::{DmnMemoryWrite, DmnMemoryWriteBackward};
pub use retrieve::{DmnRetrieve, DmnRetrieveBackward};
pub use scan::{DmnScan, DmnScanBackward, ScanPrimitive};

use burn::backend::DispatchDevice;
use burn::tensor::Device;

/// Whether the kernels can run on `device`: a wgpu device (Vulkan, Metal, DX12, WebGPU), with or
/// without autodiff. Other devices use the reference ops.
pub fn runs_on(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Cube(cubecl::Device::Wgpu(_))
    )
}

/// The default wgpu adapter, probed, or `None` when the machine has no usable driver. Without
/// the probe a missing driver surfaces as a panic deep inside the runtime at the first op.
pub fn wgpu_device() -> Option<Device> {
    wgpu_device_of(burn::tensor::DeviceKind::DefaultDevice)
}

/// A second wgpu device, apart from [`wgpu_device`]: the first discrete, integrated or CPU adapter
/// that works (on a machine with one adapter, the same adapter opened twice), or `None`. A device
/// compiles its shaders one at a time, so work on this one compiles beside work on the default.
pub fn second_wgpu_device() -> Option<Device> {
    use burn::tensor::DeviceKind;
    [
        DeviceKind::DiscreteGpu(0),
        DeviceKind::IntegratedGpu(0),
        DeviceKind::Cpu,
    ]
    .into_iter()
    .find_map(wgpu_device_of)
}

/// The wgpu device of `kind`, probed with one small op (see [`wgpu_device`]).
fn wgpu_device_of(kind: burn::tensor::DeviceKind) -> Option<Device> {
    use burn::tensor::Tensor;
    use std::panic::{AssertUnwindSafe, catch_unwind, set_hook, take_hook};

    // One probe at a time: two at once could restore each other's silent panic hook and leave
    // panics unreported for the rest of the process.
    static PROBING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _probing = PROBING.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::wgpu(kind);
    let hook = take_hook();
    set_hook(Box::new(|_| {}));
    let probe = catch_unwind(AssertUnwindSafe(|| {
        Tensor::<1>::ones([4], &device).sum().into_scalar::<f32>()
    }));
    set_hook(hook);
    matches!(probe, Ok(v) if v == 4.0).then_some(device)
}
