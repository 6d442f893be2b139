//! The three ops that carry most of the work, each as a contract plus a reference made of plain
//! Burn tensor ops. The reference is the specification: a faster implementation (the WGSL kernels)
//! must produce the same values and gradients.

pub mod auto;
pub mod fixtures;
mod memory_read;
mod memory_write;
mod retrieve;
mod scan;
mod sparse;
#[cfg(feature = "wgpu")]
mod wgsl;

pub use memory_read::{MemoryRead, memory_read};
pub use memory_write::{MemoryWrite, PackedWriteRequest, WriteRequest, memory_write};
pub use retrieve::{Retrieval, retrieve};
pub use scan::{ScanInputs, ScanOutput, scan, scan_sequential};
pub use sparse::{cosine_scores, top_k, top_k_softmax};

/// Large negative score used for masked entries: `exp` of it is exactly 0 in f32, and unlike
/// `-inf` it cannot produce `inf - inf = NaN` in a backward pass.
pub(crate) const MASKED: f32 = -1.0e9;
