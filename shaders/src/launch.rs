//! The thin layer between a `.wgsl` file and burn-wgpu: template constants, buffer allocation and
//! the dispatch itself. Every kernel of this crate goes through [`Wgsl::launch`].

use burn::backend::ops::FloatTensorOps;
use burn::backend::wgpu::{
    CubeBackend, CubeTensor, KernelSource, SourceKernel, SourceTemplate, into_contiguous,
};
use burn::tensor::{DType, Shape, Slice};
use cubecl::server::{Handle, KernelArguments};
use cubecl::{CubeCount, CubeDim, prelude::KernelId};

/// A WGSL source with its template constants filled in (`{{ name }}` in the file).
///
/// Constants that size arrays (state width, workgroup size, tile length) are compiled in; sizes
/// that change from call to call (sequence length, batch) are passed in a `sizes` buffer, so a
/// new length does not compile a new shader.
#[derive(Debug, Clone)]
pub(crate) struct Wgsl {
    name: &'static str,
    source: &'static str,
    constants: Vec<(&'static str, u32)>,
}

impl Wgsl {
    pub(crate) fn new(name: &'static str, source: &'static str) -> Self {
        Self {
            name,
            source,
            constants: Vec::new(),
        }
    }

    pub(crate) fn constant(mut self, name: &'static str, value: u32) -> Self {
        self.constants.push((name, value));
        self
    }

    /// Dispatches `groups` workgroups of `workgroup_size` threads; `buffers` bind to
    /// `@binding(0..)` in order.
    pub(crate) fn launch(
        self,
        like: &CubeTensor,
        workgroup_size: u32,
        groups: [u32; 3],
        buffers: Vec<Handle>,
    ) {
        let kernel = SourceKernel::new(self, CubeDim::new_1d(workgroup_size));
        like.client.launch(
            Box::new(kernel),
            CubeCount::Static(groups[0], groups[1], groups[2]),
            KernelArguments::new().with_buffers(buffers.into_iter().map(|h| h.binding()).collect()),
        );
    }
}

impl KernelSource for Wgsl {
    fn source(&self) -> SourceTemplate {
        self.constants
            .iter()
            .fold(SourceTemplate::new(self.source), |t, (name, value)| {
                t.register(*name, value.to_string())
            })
    }

    fn id(&self) -> KernelId {
        // One compiled pipeline per file and set of constants.
        KernelId::new::<Self>().info((self.name, self.constants.clone()))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// A contiguous f32 input ready to bind. The kernels are written for f32 only.
pub(crate) fn input(tensor: CubeTensor, what: &str) -> CubeTensor {
    assert_eq!(
        tensor.dtype,
        DType::F32,
        "{what}: the WGSL kernels take f32 tensors; use the reference ops for other dtypes"
    );
    into_contiguous(tensor)
}

/// A new uninitialised f32 tensor on the device of `like`.
pub(crate) fn output(like: &CubeTensor, shape: impl Into<Shape>) -> CubeTensor {
    let shape = shape.into();
    // Never allocate 0 bytes: an unused buffer still has to be bound.
    let bytes = (shape.num_elements() * 4).max(4);
    let handle = like.client.empty(bytes);
    CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        shape,
        handle,
        DType::F32,
    )
}

/// Per-call sizes, read by the shader as `array<u32>`.
pub(crate) fn sizes(like: &CubeTensor, values: &[usize]) -> Handle {
    let values: Vec<u32> = values
        .iter()
        .map(|&v| u32::try_from(v).expect("sizes beyond u32 are not supported by the kernels"))
        .collect();
    like.client.create_from_slice(bytemuck::cast_slice(&values))
}

/// Threads per workgroup of the row-blocked kernels (`memory_read.wgsl`, `retrieve.wgsl`).
pub(crate) const BLOCKED_WG: u32 = 32;
/// Query rows each thread of a row-blocked kernel owns: `RB` in the WGSL, written there as two
/// `vec4` halves, so it is fixed at 8.
pub(crate) const ROWS_PER_THREAD: u32 = 8;

/// The dispatch of a row-blocked kernel over `rows` rows per batch row and `batch` batch rows.
pub(crate) fn blocked_groups(rows: usize, batch: usize) -> [u32; 3] {
    [groups(rows, BLOCKED_WG * ROWS_PER_THREAD), batch as u32, 1]
}

/// `⌈n / d⌉` as a workgroup count.
pub(crate) fn groups(n: usize, d: u32) -> u32 {
    u32::try_from(n.div_ceil(d as usize)).expect("workgroup count beyond u32")
}

/// The three dimensions of a rank-3 tensor.
pub(crate) fn dims(t: &CubeTensor) -> [usize; 3] {
    let s = t.meta.shape();
    [s[0], s[1], s[2]]
}

/// A region of a flat output buffer, viewed as a tensor of `shape` (a slice, no copy). Kernels
/// with several outputs write them into one buffer to stay within 8 bindings.
pub(crate) fn region(buffer: &CubeTensor, start: usize, shape: &[usize]) -> CubeTensor {
    let len: usize = shape.iter().product();
    let flat = CubeBackend::float_slice(buffer.clone(), &[Slice::from(start..start + len)]);
    CubeBackend::float_reshape(flat, Shape::from(shape.to_vec()))
}
