//! The thin layer between a `.wgsl` file and burn-wgpu: the helpers of `common.wgsl`, template
//! constants, buffer allocation and the dispatch itself. Every kernel of this crate goes through
//! [`Wgsl::launch`].

use burn::backend::ops::FloatTensorOps;
use burn::backend::wgpu::{
    CubeBackend, CubeTensor, KernelSource, SourceKernel, SourceTemplate, into_contiguous,
};
use burn::tensor::{DType, FloatDType, Shape, Slice};
use cubecl::server::{Handle, KernelArguments, MetadataBindingInfo};
use cubecl::{CubeCount, CubeDim, prelude::KernelId};
use std::sync::atomic::{AtomicBool, Ordering};

/// A WGSL source with its template constants filled in (`{{ name }}` in the file).
///
/// Constants that size arrays (state width, workgroup size, tile length) are compiled in; sizes
/// that change from call to call (sequence length, batch) are passed as the launch's metadata
/// ([`Wgsl::launch`]), so a new length does not compile a new shader.
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
    /// `@binding(0..)` in order, and `sizes` to the binding after them, read by the shader as
    /// `var<storage, read> sizes: array<u32>`.
    ///
    /// The sizes travel as cubecl's launch metadata, not as a buffer of their own: cubecl keeps
    /// one copy of each distinct set of metadata and binds it again, where uploading a buffer
    /// would end the command encoder's batch (cubecl submits the queued work before every
    /// write) and, every 64 writes, wait for the device.
    pub(crate) fn launch(
        self,
        like: &CubeTensor,
        workgroup_size: u32,
        groups: [u32; 3],
        buffers: Vec<Handle>,
        sizes: &[usize],
    ) {
        crate::counters::note_wgsl(&like.device, self.name);
        let kernel = SourceKernel::new(self, CubeDim::new_1d(workgroup_size));
        like.client.launch(
            Box::new(kernel),
            CubeCount::Static(groups[0], groups[1], groups[2]),
            KernelArguments::new()
                .with_buffers(buffers.into_iter().map(|h| h.binding()).collect())
                .with_info(MetadataBindingInfo::custom(metadata_words(sizes))),
        );
    }
}

/// Whether every kernel launches as an empty shader (see [`set_empty_kernels`]).
static EMPTY_KERNELS: AtomicBool = AtomicBool::new(false);

/// From now on, launch every kernel as an empty shader with the same bindings and dispatch, or
/// again as written. A benchmark times an op both ways: what remains with empty shaders is the
/// cost of everything around them (packing inputs, allocating outputs, dispatching), which no
/// shader work can remove. Outputs are garbage while this is on.
pub fn set_empty_kernels(on: bool) {
    EMPTY_KERNELS.store(on, Ordering::SeqCst);
}

/// A shader with the bindings and workgroup size of `source` whose threads do nothing: each
/// binding is touched under a condition no thread meets, so none is compiled away.
fn emptied(source: &str) -> String {
    let mut out = String::new();
    let mut touch = String::new();
    for line in source.lines() {
        let line = line.trim();
        if line.starts_with("@group(") {
            out.push_str(line);
            out.push('\n');
            let name = line
                .split_once('>')
                .and_then(|(_, rest)| rest.split(':').next())
                .map(str::trim)
                .unwrap_or_default();
            if line.contains("read_write>") {
                touch.push_str(&format!("        {name}[0] = {name}[1];\n"));
            } else {
                touch.push_str(&format!("        _ = {name}[0];\n"));
            }
        } else if line.starts_with("@compute") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("fn main(@builtin(local_invocation_index) i: u32) {\n    if i == 0xffffffffu {\n");
    out.push_str(&touch);
    out.push_str("    }\n}\n");
    out
}

/// The helpers kernels share, in parts (see [`use_parts`]).
const COMMON: &str = include_str!("common.wgsl");

/// `DIR/<name>.wgsl` when `DMN_WGSL_OVERRIDE=DIR` is set and the file exists, else `builtin`.
fn overridable(name: &str, builtin: &str) -> String {
    std::env::var("DMN_WGSL_OVERRIDE")
        .ok()
        .and_then(|dir| std::fs::read_to_string(format!("{dir}/{name}.wgsl")).ok())
        .unwrap_or_else(|| builtin.to_string())
}

impl Wgsl {
    /// The shader text as compiled: with the parts of `common.wgsl` it uses, unrolled, `empty`
    /// as [`emptied`], with its constants filled in. With `DMN_WGSL_OVERRIDE=DIR` set,
    /// `DIR/<name>.wgsl` (and `DIR/common.wgsl`) replaces the built-in text where it exists: a
    /// kernel can be edited and re-measured (`dmn bench kernels`) without a rebuild.
    fn text(&self, empty: bool) -> String {
        let text = use_parts(
            &overridable(self.name, self.source),
            &overridable("common", COMMON),
        );
        let text = unroll(&text, &self.constants);
        let text = if empty { emptied(&text) } else { text };
        self.constants
            .iter()
            .fold(SourceTemplate::new(text), |t, (name, value)| {
                t.register(*name, value.to_string())
            })
            .complete()
    }
}

impl KernelSource for Wgsl {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(self.text(EMPTY_KERNELS.load(Ordering::SeqCst)))
    }

    fn id(&self) -> KernelId {
        // One compiled pipeline per file and set of constants.
        KernelId::new::<Self>().info((
            self.name,
            self.constants.clone(),
            EMPTY_KERNELS.load(Ordering::SeqCst),
        ))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// Replaces each `//#use NAME …` line of a shader with those parts of `common` (a part is a
/// `//#part NAME` line and what follows it, up to the next part), in the order named.
///
/// A forward kernel and its backward recompute the same selections and states; taking the code
/// from one place means they cannot round or break ties differently.
fn use_parts(source: &str, common: &str) -> String {
    let mut parts: Vec<(&str, String)> = Vec::new();
    for line in common.lines() {
        if let Some(name) = line.trim().strip_prefix("//#part ") {
            parts.push((name.trim(), String::new()));
        } else if let Some((_, text)) = parts.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let Some(names) = line.trim().strip_prefix("//#use ") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        for name in names.split_whitespace() {
            let (_, text) = parts
                .iter()
                .find(|(part, _)| *part == name)
                .unwrap_or_else(|| panic!("`//#use {names}`: common.wgsl has no part `{name}`"));
            out.push_str(text);
        }
    }
    out
}

/// Expands the `//#unroll NAME COUNT` … `//#end` blocks of a shader: the lines between repeat
/// COUNT times (a number or a template constant), with `{NAME}` replaced by 0, 1, … in turn.
/// Blocks nest.
///
/// WGSL has no unroll attribute, and a private array indexed by a loop counter lives in memory:
/// on lavapipe every such access is a gather over the SIMD lanes, on GPUs a trip to local memory.
/// Indexed by constants, the same array is a set of registers.
fn unroll(source: &str, constants: &[(&'static str, u32)]) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < lines.len() {
        let Some(head) = lines[i].trim().strip_prefix("//#unroll ") else {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        };
        let (name, count) = head
            .split_once(' ')
            .unwrap_or_else(|| panic!("`//#unroll {head}`: expected `//#unroll NAME COUNT`"));
        let count = count.trim();
        let count = count.parse::<u32>().unwrap_or_else(|_| {
            constants
                .iter()
                .find(|(c, _)| *c == count)
                .unwrap_or_else(|| panic!("`//#unroll {head}`: no template constant `{count}`"))
                .1
        });
        // The matching `//#end`, past any nested blocks.
        let mut depth = 1;
        let mut end = i + 1;
        while end < lines.len() {
            let t = lines[end].trim();
            if t.starts_with("//#unroll ") {
                depth += 1;
            } else if t == "//#end" {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            end += 1;
        }
        assert!(end < lines.len(), "`//#unroll {head}` has no `//#end`");
        let body = unroll(&lines[i + 1..end].join("\n"), constants);
        let marker = format!("{{{name}}}");
        for value in 0..count {
            out.push_str(&body.replace(&marker, &value.to_string()));
        }
        i = end + 1;
    }
    out
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

/// `tensor` `[B, K, d]` with its rows zero-padded to `width` (≥ d), for kernels that read rows
/// as `vec4`; the tensor itself when no padding is needed.
pub(crate) fn pad_last(tensor: CubeTensor, width: usize) -> CubeTensor {
    let [b, k, d] = dims(&tensor);
    if d == width {
        return tensor;
    }
    let zeros = CubeBackend::float_zeros(
        Shape::from(vec![b, k, width - d]),
        &tensor.device,
        FloatDType::F32,
    );
    CubeBackend::float_cat(vec![tensor, zeros], 2)
}

/// Per-call sizes as the 64-bit words of cubecl's metadata, two `u32` to a word (low half
/// first), so that the shader reads them as one `array<u32>` in order.
fn metadata_words(values: &[usize]) -> Vec<u64> {
    values
        .chunks(2)
        .map(|pair| {
            let word = |i: usize| {
                pair.get(i).map_or(0, |&v| {
                    u64::from(
                        u32::try_from(v)
                            .expect("sizes beyond u32 are not supported by the kernels"),
                    )
                })
            };
            word(0) | word(1) << 32
        })
        .collect()
}

/// The widest row (padded to a multiple of 4) that `memory_read.wgsl` unrolls; wider rows go to
/// `memory_read_wide.wgsl`. Measured on lavapipe: at 96 (the small preset) the unrolled shader
/// compiles in well under a second; at 200 its compilation took eleven minutes.
pub(crate) const MAX_UNROLLED_WIDTH: usize = 96;

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

/// Asserts that `kernel`, as written and emptied, is valid WGSL to naga, the compiler wgpu runs
/// on every native backend: a shader that would fail to compile on a device fails here, on any
/// machine.
#[cfg(test)]
pub(crate) fn assert_compiles(kernel: &Wgsl) {
    use naga::valid::{Capabilities, ValidationFlags, Validator};
    for empty in [false, true] {
        let text = kernel.text(empty);
        let module = naga::front::wgsl::parse_str(&text).unwrap_or_else(|e| {
            panic!(
                "{} (emptied: {empty}) does not parse:\n{}",
                kernel.name,
                e.emit_to_string(&text)
            )
        });
        Validator::new(ValidationFlags::all(), Capabilities::default())
            .validate(&module)
            .unwrap_or_else(|e| {
                panic!(
                    "{} (emptied: {empty}) is not valid:\n{}",
                    kernel.name,
                    e.emit_to_string(&text)
                )
            });
    }
}

#[cfg(test)]
mod tests {
    use super::{emptied, metadata_words, unroll, use_parts};

    #[test]
    fn sizes_pack_two_to_a_metadata_word_in_the_order_the_shader_reads() {
        let words = metadata_words(&[7, 8, u32::MAX as usize]);
        let bytes: &[u8] = bytemuck::cast_slice(&words);
        let read: &[u32] = bytemuck::cast_slice(bytes);
        assert_eq!(read, [7, 8, u32::MAX, 0]);
        assert!(metadata_words(&[]).is_empty());
    }

    #[test]
    fn use_lines_take_the_named_parts_in_order() {
        let common = "// header\n//#part a\nfn a() {}\n//#part b\nfn b() {}\n\n";
        let got = use_parts("x\n  //#use b a\ny\n", common);
        assert_eq!(got, "x\nfn b() {}\n\nfn a() {}\ny\n");
        assert_eq!(use_parts("z\n", common), "z\n");
    }

    #[test]
    fn an_emptied_shader_keeps_bindings_and_workgroup_size() {
        let source = "// x\n@group(0) @binding(0) var<storage, read_write> query: array<f32>;\n\
                      @group(0) @binding(1) var<storage, read_write> slots: array<vec4<f32>>; // [B]\n\
                      const K: u32 = 3u;\n@compute @workgroup_size(32, 1, 1)\nfn main() { heavy(); }\n";
        let got = emptied(source);
        assert!(got.contains("@group(0) @binding(0) var<storage, read_write> query: array<f32>;"));
        assert!(got.contains("slots: array<vec4<f32>>;"));
        assert!(got.contains("@compute @workgroup_size(32, 1, 1)"));
        assert!(got.contains("query[0] = query[1];") && got.contains("slots[0] = slots[1];"));
        // A read-only binding is read, not written.
        let read_only = emptied("@group(0) @binding(0) var<storage, read> sizes: array<u32>;\n");
        assert!(read_only.contains("_ = sizes[0];"), "{read_only}");
        assert!(!got.contains("heavy") && !got.contains("const K"));
    }

    #[test]
    fn unroll_repeats_blocks_with_their_index_and_nests() {
        let source = "a\n  //#unroll i n\n  x[{i}u] = {i};\n  //#unroll j 2\n  y[{i}][{j}];\n  //#end\n  //#end\nb\n";
        let got = unroll(source, &[("n", 2)]);
        assert_eq!(
            got,
            "a\n  x[0u] = 0;\n  y[0][0];\n  y[0][1];\n  x[1u] = 1;\n  y[1][0];\n  y[1][1];\nb\n"
        );
        assert_eq!(unroll("//#unroll i 0\nz\n//#end\nw\n", &[]), "w\n");
    }
}
