//! A plain copy as a burn backend extension, [`DmnBench`]: the bandwidth reference of the
//! benchmarks, and the launcher of `copy.wgsl`.

use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::Tensor;

use crate::launch::{Wgsl, groups, input, output};

/// What the benchmarks need besides the ops: a plain copy, to measure the device's bandwidth.
#[backend_extension(Cube, Fusion)]
pub trait DmnBench: Backend {
    /// Copies a 1-D tensor whose length is a multiple of 4.
    #[fusion(dtype = src, shape = src)]
    fn dmn_copy(src: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl DmnBench for CubeBackend {
    fn dmn_copy(src: FloatTensor<Self>) -> FloatTensor<Self> {
        forward(src)
    }
}

const WG: u32 = 256;
/// Workgroups along x before wrapping to y (the per-dimension dispatch limit is 65 535).
const ROW: u32 = 32_768;

fn kernel() -> Wgsl {
    Wgsl::new("copy", include_str!("copy.wgsl")).constant("wg", WG)
}

fn forward(src: CubeTensor) -> CubeTensor {
    let n = src.meta.shape()[0];
    assert!(
        n % 4 == 0,
        "copy kernel: length must be a multiple of 4, got {n}"
    );
    let src = input(src, "copy");
    let dst = output(&src, [n]);
    let total = groups(n / 4, WG);
    let (x, y) = (total.min(ROW), total.div_ceil(ROW));
    kernel().launch(
        &src,
        WG,
        [x, y, 1],
        vec![src.handle.clone(), dst.handle.clone()],
        &[n / 4, x as usize],
    );
    dst
}

/// Copies a tensor whose length is a multiple of 4 with `copy.wgsl` (a wgpu device, no autodiff).
pub fn copy(src: Tensor<1>) -> Tensor<1> {
    Tensor::from_dispatch(Dispatch::dmn_copy(src.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use super::kernel;
    use crate::launch::assert_compiles;

    #[test]
    fn kernel_compiles() {
        assert_compiles(&kernel());
    }
}
