//! The WGSL kernels of `dmn-shaders` behind the references' contracts: each op's tensors handed
//! to its backend extension (`dmn_shaders::DmnScan`, …) as dispatch primitives, and the packed
//! output sliced apart. An autodiff node has exactly one output, so every kernel returns its
//! outputs packed in one tensor. On an autodiff device the kernels record their own backward.

use burn::backend::Dispatch;
use burn::tensor::{Bool, Tensor};
use dmn_shaders::{DmnMemoryRead, DmnMemoryWrite, DmnRetrieve, DmnScan, ScanPrimitive};

use super::{MemoryRead, MemoryWrite, PackedWriteRequest, Retrieval, ScanInputs, ScanOutput};

/// [`super::scan`] as `scan.wgsl`, which tiles time itself (no chunk).
pub(super) fn scan(inputs: ScanInputs) -> ScanOutput {
    let [bs, l, e, n] = inputs.dims();
    let packed: Tensor<2> = Tensor::from_dispatch(Dispatch::dmn_scan(ScanPrimitive {
        x: inputs.x.into_dispatch(),
        delta: inputs.delta.into_dispatch(),
        a_log: inputs.a_log.into_dispatch(),
        b: inputs.b.into_dispatch(),
        c: inputs.c.into_dispatch(),
        d_skip: inputs.d_skip.into_dispatch(),
        h0: inputs.h0.into_dispatch(),
    }));
    ScanOutput {
        y: packed.clone().narrow(1, 0, l * e).reshape([bs, l, e]),
        h_last: packed.narrow(1, l * e, e * n).reshape([bs, e, n]),
    }
}

/// [`super::memory_read`] as `memory_read.wgsl`.
pub(super) fn memory_read(
    query: Tensor<3>,
    strength: Tensor<2>,
    slots: Tensor<3>,
    top_k: usize,
) -> MemoryRead {
    let [_, _, d] = query.dims();
    let [_, k, _] = slots.dims();
    let packed: Tensor<3> = Tensor::from_dispatch(Dispatch::dmn_memory_read(
        query.into_dispatch(),
        strength.into_dispatch(),
        slots.into_dispatch(),
        top_k,
    ));
    MemoryRead {
        read: packed.clone().narrow(2, 0, d),
        weights: packed.narrow(2, d, k),
    }
}

/// [`super::memory_write`] as `memory_write.wgsl`. The request comes packed as the kernel reads
/// it; the per-slot inputs are packed here, `age, usage, f, hold`, where autodiff routes the
/// decay's gradient back through the stack.
pub(super) fn memory_write(
    slots: Tensor<3>,
    age: Tensor<2>,
    usage: Tensor<2>,
    hold: Tensor<2>,
    request: PackedWriteRequest,
    top_k: usize,
    usage_decay: f32,
) -> MemoryWrite {
    let [b, k, d] = slots.dims();
    let [_, h, _] = request.heads.dims();
    let PackedWriteRequest {
        heads,
        gates,
        decay,
    } = request;
    let per_slot = Tensor::stack::<3>(vec![age.detach(), usage.detach(), decay, hold.detach()], 2);
    let packed: Tensor<2> = Tensor::from_dispatch(Dispatch::dmn_memory_write(
        slots.into_dispatch(),
        heads.into_dispatch(),
        gates.into_dispatch(),
        per_slot.into_dispatch(),
        top_k,
        usage_decay,
    ));
    let at = |start: usize, len: usize| packed.clone().narrow(1, start, len);
    MemoryWrite {
        slots: at(0, k * d).reshape([b, k, d]),
        write_weights: at(k * d, h * k).reshape([b, h, k]),
        age: at(k * d + h * k, k).detach(),
        usage: at(k * d + h * k + k, k).detach(),
        hold: at(k * d + h * k + 2 * k, k).detach(),
    }
}

/// [`super::retrieve`] as `retrieve.wgsl`; the validity mask goes as floats, a constant.
pub(super) fn retrieve(
    query: Tensor<3>,
    ltm: Tensor<3>,
    level_bias: Tensor<1>,
    valid: Tensor<2, Bool>,
) -> Retrieval {
    let [_, _, d] = query.dims();
    let [_, e, _] = ltm.dims();
    let valid = valid.float().detach();
    let packed: Tensor<3> = Tensor::from_dispatch(Dispatch::dmn_retrieve(
        query.into_dispatch(),
        ltm.into_dispatch(),
        level_bias.into_dispatch(),
        valid.into_dispatch(),
    ));
    Retrieval {
        context: packed.clone().narrow(2, 0, d),
        weights: packed.narrow(2, d, e),
    }
}
