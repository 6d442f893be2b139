//! # DMN — a Dynamic Memory Network for ultra-long sequences
//!
//! A base encoder (a Mamba-style selective SSM, or a causal linear-attention transformer) feeds a
//! slot **working memory** (gated write/forget, multi-head top-k cosine addressing, age and usage
//! per slot) and a hierarchical **long-term memory** (log-spaced levels merged like a binary
//! counter, VAE compression whose width follows importance). A **memory controller** scores
//! importance, retrieves from both memories and combines the result with the encoder state.
//! Long sequences stream segment by segment: the scan state, the working memory and the
//! long-term memory are carried across segments; in training, gradients cross segment boundaries
//! through the memories (up to `credit_segments` of them) and stop at the encoder's state.
//!
//! The source for every equation is the DMN proposal (seed 000, cited as "§2.x"); the slot
//! memory follows the MemNet design (seed 002).
//!
//! ## Dimension glossary
//! | letter | meaning |
//! |---|---|
//! | `B` | batch size |
//! | `L` | tokens in one segment |
//! | `D` | `d_model`, the encoder width; also the width `d` of a memory slot |
//! | `E_in` | inner width of the SSM block, `expand · D` |
//! | `N` | SSM state size `d_state` |
//! | `K` | working-memory slots |
//! | `H` | working-memory heads |
//! | `R` | read queries in one call (tokens × heads) |
//! | `M` | long-term-memory levels |
//! | `m` | entries per level (= slots moved per transfer) |
//! | `E` | long-term-memory entries in the level-packed buffer, `M · m` |
//! | `Z` | VAE latent width |
//! | `V` | vocabulary size |
//!
//! ## The three ops
//! [`ops::scan`], [`ops::memory_read`] / [`ops::memory_write`] and [`ops::retrieve`] carry most of
//! the work. Each has a written contract and a reference made of plain Burn tensor ops, which runs
//! on every backend and is the specification any faster implementation must match. With the
//! `wgpu` feature, [`ops::auto`] runs them as the hand-written WGSL kernels of `dmn-shaders`
//! whenever the tensors are on a wgpu device (unless [`DmnConfig::kernels`] is off).

pub mod compression;
pub mod config;
pub mod continual;
pub mod controller;
pub mod encoder;
pub mod flops;
pub mod long_term_memory;
pub mod loss;
pub mod memory_stats;
pub mod model;
pub mod ops;
pub mod policy;
pub mod probe;
pub mod snapshot;
pub mod state_map;
pub mod tasks;
pub mod timeline;
pub mod trace;
pub mod train;
pub mod transfer;
pub mod working_memory;

pub use config::{
    CompressionKind, ConfigError, ConfigParseError, DmnConfig, EncoderKind, LossWeights,
    TransferPolicy, WriteRule,
};
pub use model::{Dmn, DmnState, ForwardOptions, MemoryReads, SegmentOutput};
pub use trace::MemoryTrace;

/// The WGSL kernels (crate `dmn-shaders`), built with the `wgpu` feature.
#[cfg(feature = "wgpu")]
pub use dmn_shaders as shaders;
