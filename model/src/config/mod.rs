//! [`DmnConfig`]: every size and weight of the model, saved as JSON beside each run. Each box
//! of the picture has its own config with `init` ([`EncoderConfig`], [`WorkingMemoryConfig`],
//! [`LongTermMemoryConfig`]); this one holds them all, flat, so that a run's `config.json` reads
//! as one list (working-memory fields start with `wm_`, long-term ones with `ltm_`).
//!
//! - [`validation`]: the table of allowed values ([`DmnConfig::validate`]);
//! - [`json`]: loading configs, including ones written before a field existed or was renamed.

mod json;
mod validation;

pub use json::ConfigParseError;
pub use validation::ConfigError;

use burn::config::Config;

use crate::encoder::EncoderConfig;
use crate::long_term_memory::LongTermMemoryConfig;
use crate::working_memory::WorkingMemoryConfig;

/// Which base encoder turns tokens into hidden states (§2.4.1).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum EncoderKind {
    /// Mamba-style selective state-space blocks: O(1) state per channel, linear time.
    Ssm,
    /// Causal transformer blocks with kernelized (linear) attention: O(L) time and memory.
    LinearAttention,
    /// LSTM layers (a baseline of the evaluation).
    Lstm,
    /// GRU layers (a baseline of the evaluation).
    Gru,
    /// Causal softmax-attention Transformer blocks over a sliding window of `attn_window`
    /// tokens (a baseline of the evaluation).
    Transformer,
}

impl EncoderKind {
    /// Every kind: the proposal's two encoders, then the baselines.
    pub const ALL: [Self; 5] = [
        Self::Ssm,
        Self::LinearAttention,
        Self::Lstm,
        Self::Gru,
        Self::Transformer,
    ];
}

/// How a working-memory write mixes its candidate into the slots it addresses
/// ([`crate::working_memory`]).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum WriteRule {
    /// `W' = W ⊙ (1 − ω e) + ω a` with a learned erase `e`: writes that erase little pile up, so
    /// a slot that many weak writes touch grows with their number (towards `|a| / e`).
    Additive,
    /// `W' = W ⊙ (1 − ω) + ω a`: every write erases fully where it writes, so a slot moves
    /// towards the candidate by ω and stays within the candidates written to it, however many
    /// writes pass (the erase head is not used). Measured on the 4-token passkey (seed 1,
    /// trained additive at 128 tokens): the slots that noise wrote grew to norms of 3–5 by 10K
    /// tokens, and the question, reading them with the same weights as at 1K, took in more
    /// noise; evaluated with this rule, exact match at 10K went from 0.898 to 0.992. Trained
    /// with it, slots stay small at any length, but training learned less in as many steps.
    Replace,
}

/// Which working-memory slots move to long-term memory at a segment's end (§2.1.3).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum TransferPolicy {
    /// The slots the controller's importance head scores highest; the head learns through the
    /// task loss, by the width each moved slot keeps and a straight-through estimate of the
    /// selection (the supervised policy, no RL).
    Importance,
    /// The least-used slots (lowest usage), the ones allocation would overwrite next: a fixed
    /// heuristic baseline.
    Lru,
    /// Slots sampled from a Plackett–Luce policy over the importance head's logits while
    /// training, the most likely ones otherwise; the head is trained by PPO on
    /// task reward + `policy_cost` × compression economy (seed 000 §2.3).
    Ppo,
    /// The importance head's scores read as per-slot Q-values: the top ones, ε-greedy while
    /// training; trained by Q-learning with replay and a target network (seed 001).
    Dqn,
}

/// How a working-memory slot is compressed on its way into long-term memory (§2.2.2).
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum CompressionKind {
    /// A learned VAE: `d → Z` latent of which importance sets the kept width, `Z → d` decoder.
    Vae,
    /// A fixed average over `Z` groups of adjacent channels, spread back over each group; the
    /// kept width follows importance as for the VAE (an ablation: compression without learning).
    MeanPool,
    /// The slot stored as it is, all `d` channels (an ablation: no compression).
    Uncompressed,
}

/// Weights of the auxiliary losses added to the task loss.
#[derive(Config, Debug, PartialEq)]
pub struct LossWeights {
    /// Slot-utilization term: rewards high entropy of the mean write distribution so the model
    /// does not collapse onto a few slots (seed 002, `L_util`).
    #[config(default = 0.01)]
    pub utilization: f64,
    /// Memory pressure: penalizes the mean write-gate activity, so writes are not forced at every
    /// update (seed 002, "global memory pressure regularization").
    #[config(default = 0.001)]
    pub pressure: f64,
    /// Read sparsity: penalizes the entropy of read distributions (sharper, more interpretable reads).
    #[config(default = 0.001)]
    pub read_sparsity: f64,
    /// KL term of the compression VAE (§2.2.2).
    #[config(default = 0.001)]
    pub kl: f64,
    /// Reconstruction term of the compression VAE: what long-term memory stores must decode back
    /// to the working-memory slot it came from.
    #[config(default = 0.01)]
    pub reconstruction: f64,
    /// Importance in hindsight: each long-term entry's importance is pulled toward how much the
    /// segment's answering tokens read it, so that what survives a full store or a merge is
    /// what questions ask about ([`crate::loss::hindsight_importance`]). 0 leaves importance
    /// to the task gradient that reaches it through the transfer alone.
    #[config(default = 0.0)]
    pub importance: f64,
}

/// Configuration of the whole Dynamic Memory Network.
#[derive(Config, Debug)]
pub struct DmnConfig {
    /// Number of token ids. Tasks reserve the first few ids for markers (see [`crate::tasks`]).
    pub vocab_size: usize,
    /// Encoder width, and the width of every memory slot and long-term entry.
    #[config(default = 64)]
    pub d_model: usize,
    /// Number of encoder blocks.
    #[config(default = 2)]
    pub n_layers: usize,
    /// Base encoder family (§2.4.1).
    #[config(default = "EncoderKind::Ssm")]
    pub encoder: EncoderKind,
    /// Which slots move to long-term memory.
    #[config(default = "TransferPolicy::Importance")]
    pub transfer_policy: TransferPolicy,
    /// λ of the learned policy's reward `r_task + λ r_comp`, where r_comp = −(fraction of the
    /// latent width each transferred entry keeps).
    #[config(default = 0.1)]
    pub policy_cost: f64,
    /// SSM state size per channel (Mamba's `d_state`).
    #[config(default = "EncoderConfig::D_STATE")]
    pub d_state: usize,
    /// SSM inner width is `expand · d_model` (Mamba uses 2).
    #[config(default = "EncoderConfig::EXPAND")]
    pub expand: usize,
    /// Kernel width of the causal depthwise convolution in front of the scan.
    #[config(default = "EncoderConfig::D_CONV")]
    pub d_conv: usize,
    /// Heads of the attention encoders; must divide `d_model`.
    #[config(default = "EncoderConfig::ATTN_HEADS")]
    pub attn_heads: usize,
    /// Tokens each query of the sliding-window Transformer sees, itself included.
    #[config(default = "EncoderConfig::ATTN_WINDOW")]
    pub attn_window: usize,
    /// Time chunk of the reference scan and of linear attention. The chunked reference
    /// materializes a `chunk × chunk` decay matrix per channel and state, so its cost grows as
    /// `L · chunk`; on a CPU, chunks of 4–8 are fastest (measured: the `small` preset trains
    /// 2.8× faster with 4 than with 16).
    #[config(default = "EncoderConfig::SCAN_CHUNK")]
    pub scan_chunk: usize,
    /// Run scan, memory read/write and retrieval as the hand-written WGSL kernels when the model
    /// is on a wgpu device. Off: the Burn-op reference everywhere, to compare the two.
    #[config(default = true)]
    pub kernels: bool,
    /// Use the working memory (off: an ablation, and a memory-free baseline).
    #[config(default = true)]
    pub use_working_memory: bool,
    /// Working-memory slots `K` (the proposal uses 512, §2.4.2).
    #[config(default = 32)]
    pub wm_slots: usize,
    /// Working-memory read/write heads `H` (seed 002: parallel, specializing heads).
    #[config(default = 4)]
    pub wm_heads: usize,
    /// Slots addressed by each head: the top-k of the cosine scores (seed 002).
    #[config(default = 4)]
    pub wm_top_k: usize,
    /// Per-update decay of slot usage; lower forgets use faster, so LRU favours older slots sooner.
    #[config(default = 0.9)]
    pub wm_usage_decay: f64,
    /// Width of the semantic bottleneck in the candidate MLP (seed 002 "information filter").
    #[config(default = 32)]
    pub wm_bottleneck: usize,
    /// Write gates below this write nothing at all, in training as at inference
    /// ([`crate::working_memory::hard_gate`]): an update gated below it leaves every slot
    /// bit-identical, so what the memory holds does not depend on how much was skipped.
    #[config(default = "crate::working_memory::GATE_CUT")]
    pub wm_gate_cut: f64,
    /// How a write mixes its candidate into a slot (see the README on the passkey at length).
    #[config(default = "WriteRule::Additive")]
    pub wm_write: WriteRule,
    /// Use the long-term memory (off: the "without LTM" ablation).
    #[config(default = true)]
    pub use_long_term_memory: bool,
    /// Long-term levels `M`; level `i` summarizes `2^i` segments (the top level absorbs the rest).
    #[config(default = 5)]
    pub ltm_levels: usize,
    /// Entries per level `m`: slots moved from working memory at each segment end.
    #[config(default = 4)]
    pub ltm_entries_per_level: usize,
    /// VAE latent width `Z`; the used width follows importance (§2.2.2).
    #[config(default = 16)]
    pub ltm_latent_dim: usize,
    /// How slots are compressed for long-term memory.
    #[config(default = "CompressionKind::Vae")]
    pub ltm_compression: CompressionKind,
    /// Log-spaced levels merging like a binary counter (§2.1.3). Off: one flat store of the same
    /// `M · m` entries keeping the most important ones (the "flat LTM" ablation).
    #[config(default = true)]
    pub ltm_hierarchical: bool,
    /// Tokens per segment: the unit of streaming and of the encoder's truncated
    /// back-propagation.
    #[config(default = 128)]
    pub segment_len: usize,
    /// Segments that one backward pass spans through the memories' state (the encoder's state is
    /// cut at every segment): a question can credit a write up to this many segments earlier.
    /// 1 truncates at every segment. Bounds the graph a training step holds.
    #[config(default = 64)]
    pub credit_segments: usize,
    /// Tokens between working-memory writes. A token reads the memory as written by the
    /// previous updates, so smaller intervals mean fresher memory and more sequential steps.
    #[config(default = 8)]
    pub wm_update_interval: usize,
    /// Classes of the sequence-classification head (0: no such head; the LM head is always there).
    #[config(default = 0)]
    pub num_classes: usize,
    /// Weights of the auxiliary losses.
    #[config(default = "LossWeights::new()")]
    pub loss_weights: LossWeights,
}

impl DmnConfig {
    /// Tiny model for tests: trains on a CPU in seconds.
    pub fn tiny(vocab_size: usize) -> Self {
        Self::new(vocab_size)
            .with_d_model(32)
            .with_n_layers(1)
            .with_d_state(8)
            .with_wm_slots(16)
            .with_wm_heads(2)
            .with_wm_top_k(4)
            .with_wm_bottleneck(16)
            .with_ltm_levels(5)
            .with_ltm_entries_per_level(2)
            .with_ltm_latent_dim(8)
            .with_segment_len(96)
            .with_wm_update_interval(8)
            // The chunked reference scan costs L · chunk per channel and state: short chunks
            // are cheapest at this width.
            .with_scan_chunk(8)
    }

    /// Small model for the demo and the default training run.
    pub fn small(vocab_size: usize) -> Self {
        Self::new(vocab_size)
            .with_d_model(96)
            .with_n_layers(2)
            .with_d_state(16)
            .with_wm_slots(64)
            .with_wm_heads(4)
            .with_wm_top_k(8)
            .with_wm_bottleneck(48)
            .with_ltm_levels(5)
            .with_ltm_entries_per_level(4)
            .with_ltm_latent_dim(32)
            .with_segment_len(256)
            .with_wm_update_interval(16)
            .with_scan_chunk(4)
    }

    /// The proposal's sizes (§2.4.2): 512 slots × 768 dims, 5 long-term levels. Needs a GPU.
    pub fn paper(vocab_size: usize) -> Self {
        Self::new(vocab_size)
            .with_d_model(768)
            .with_n_layers(12)
            .with_d_state(16)
            .with_wm_slots(512)
            .with_wm_heads(8)
            .with_wm_top_k(16)
            .with_wm_bottleneck(192)
            .with_ltm_levels(5)
            .with_ltm_entries_per_level(32)
            .with_ltm_latent_dim(128)
            .with_segment_len(2048)
            .with_wm_update_interval(64)
            .with_scan_chunk(8)
    }

    /// A preset by name (`tiny`, `small`, `paper`).
    pub fn preset(name: &str, vocab_size: usize) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny(vocab_size)),
            "small" => Some(Self::small(vocab_size)),
            "paper" => Some(Self::paper(vocab_size)),
            _ => None,
        }
    }

    /// The base encoder this config describes.
    pub fn encoder_config(&self) -> EncoderConfig {
        EncoderConfig::new(self.encoder, self.d_model, self.n_layers)
            .with_d_state(self.d_state)
            .with_expand(self.expand)
            .with_d_conv(self.d_conv)
            .with_dt_rank(self.dt_rank())
            .with_attn_heads(self.attn_heads)
            .with_attn_window(self.attn_window)
            .with_scan_chunk(self.scan_chunk)
            .with_kernels(self.kernels)
    }

    /// The working memory this config describes.
    pub fn working_memory_config(&self) -> WorkingMemoryConfig {
        WorkingMemoryConfig::new(
            self.d_model,
            self.wm_slots,
            self.wm_heads,
            self.wm_top_k,
            self.wm_bottleneck,
            self.wm_usage_decay,
        )
        .with_update_interval(self.wm_update_interval)
        .with_gate_cut(self.wm_gate_cut)
        .with_write_rule(self.wm_write)
        .with_kernels(self.kernels)
    }

    /// The long-term memory this config describes.
    pub fn long_term_memory_config(&self) -> LongTermMemoryConfig {
        LongTermMemoryConfig::new(
            self.d_model,
            self.ltm_levels,
            self.ltm_entries_per_level,
            self.ltm_latent_dim,
        )
        .with_compression(self.ltm_compression)
        .with_hierarchical(self.ltm_hierarchical)
        .with_kernels(self.kernels)
    }

    /// SSM inner width `E_in`.
    pub fn d_inner(&self) -> usize {
        self.expand * self.d_model
    }

    /// Rank of the Δ projection (Mamba: `ceil(d_model / 16)`).
    pub fn dt_rank(&self) -> usize {
        self.d_model.div_ceil(16)
    }

    /// Entries in the level-packed long-term buffer, `E = M · m`.
    pub fn ltm_capacity(&self) -> usize {
        self.ltm_levels * self.ltm_entries_per_level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        for name in ["tiny", "small", "paper"] {
            let c = DmnConfig::preset(name, 64).unwrap();
            c.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(DmnConfig::preset("huge", 64).is_none());
    }

    #[test]
    fn paper_preset_has_the_proposal_sizes() {
        let c = DmnConfig::paper(256);
        assert_eq!((c.wm_slots, c.d_model, c.ltm_levels), (512, 768, 5));
    }
}
