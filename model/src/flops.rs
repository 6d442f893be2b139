//! FLOPs per token of a forward pass, counted analytically from a [`DmnConfig`] (seed 000
//! §2.5.2), so methods of different shapes can be compared at equal compute.
//!
//! Convention: a multiply-add is 2 FLOPs. Counted: linear maps (weights; biases are not), the
//! causal convolution, the scan's recurrence, attention scores and weighted sums, memory
//! addressing (similarity scores over every slot or entry) and the reads and writes of the
//! addressed slots. Not counted: nonlinearities, norms, softmax, top-k selection and elementwise
//! gates — lower-order terms at any width. Work done once per memory update or per segment is
//! spread over the tokens it serves. Attention encoders are counted in their steady state: the
//! linear-attention block in its recurrent form, the sliding-window Transformer with a full
//! window.

use crate::config::{CompressionKind, DmnConfig, EncoderKind, TransferPolicy};
use crate::policy::compression_level;

/// Forward FLOPs per token, by part.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Flops {
    /// The base encoder's blocks.
    pub encoder: f64,
    /// Working memory: read addressing and reads for every token, writes per update.
    pub working_memory: f64,
    /// Long-term memory: retrieval for every token, transfer and compression per segment.
    pub long_term_memory: f64,
    /// The controller's query, gate and output projections.
    pub controller: f64,
    /// The output head (`D → V`).
    pub head: f64,
}

impl Flops {
    /// All parts together.
    pub fn total(&self) -> f64 {
        self.encoder + self.working_memory + self.long_term_memory + self.controller + self.head
    }
}

/// Multiply-adds per token of one encoder block.
fn encoder_block_macs(c: &DmnConfig) -> f64 {
    let d = c.d_model as f64;
    match c.encoder {
        EncoderKind::Ssm => {
            let e = (c.expand * c.d_model) as f64;
            let (n, r, k) = (c.d_state as f64, c.dt_rank() as f64, c.d_conv as f64);
            // in-projection to x and z; depthwise convolution; Δ, B, C; Δ's up-projection;
            // state update h ← Āh + B̄x (2 per state) and readout C·h (1); skip D·x; out.
            d * 2.0 * e + e * k + e * (r + 2.0 * n) + r * e + 3.0 * e * n + e + e * d
        }
        EncoderKind::LinearAttention => {
            let dh = d / c.attn_heads as f64;
            // q, k, v; per head S += φ(k)vᵀ, z += φ(k), then φ(q)S and φ(q)z; out; MLP 4D.
            3.0 * d * d + c.attn_heads as f64 * (2.0 * dh * dh + 2.0 * dh) + d * d + 8.0 * d * d
        }
        // Four gates, each from the input and the hidden state.
        EncoderKind::Lstm => 8.0 * d * d,
        // Three gates, each from the input and the hidden state.
        EncoderKind::Gru => 6.0 * d * d,
        EncoderKind::Transformer => {
            let w = c.attn_window as f64;
            // q, k, v; scores against W keys and their weighted sum; out; MLP 4D.
            3.0 * d * d + 2.0 * w * d + d * d + 8.0 * d * d
        }
    }
}

/// Forward FLOPs per token of the model `config` describes.
pub fn per_token(config: &DmnConfig) -> Flops {
    let c = config;
    let d = c.d_model as f64;
    let mut macs = Flops {
        encoder: c.n_layers as f64 * encoder_block_macs(c),
        head: d * c.vocab_size as f64,
        ..Flops::default()
    };
    let mut controller_output = false;
    if c.use_working_memory {
        let (h, k, top) = (c.wm_heads as f64, c.wm_slots as f64, c.wm_top_k as f64);
        let interval = c.wm_update_interval as f64;
        // Read: per head a query D → D and a strength D → 1; cosine scores against K slots; the
        // top-k weighted read; then H·D → D.
        macs.controller += h * d * d + h * d + h * d * d;
        macs.working_memory += h * k * d + h * top * d;
        // Write, per token: the pooling scores D → H and the pooled sum (H·D).
        // Per update, per head: key D → D, strength, write and allocation gates D → 1 each,
        // erase D → D, candidate D → b → D; per slot a decay D → 1; cosine scores against K
        // slots, and erase-and-add on the top-k slots (2 per element).
        let b = c.wm_bottleneck as f64;
        let per_update =
            h * (d * d + 3.0 * d + d * d + 2.0 * d * b) + k * d + h * k * d + h * top * 2.0 * d;
        macs.working_memory += d * h + h * d + per_update / interval;
        controller_output = true;
    }
    if c.use_long_term_memory {
        let entries = c.ltm_capacity() as f64;
        let (m, z) = (c.ltm_entries_per_level as f64, c.ltm_latent_dim as f64);
        let seg = c.segment_len as f64;
        // Retrieval: query D → D, scores against every entry and their weighted sum, out D → D.
        macs.controller += d * d + d * d;
        macs.long_term_memory += 2.0 * entries * d;
        // Per segment: the importance head on every slot (3D → D → 1), the compression head of
        // a learned policy (D → levels), and the compression of the m moved slots: the VAE
        // (D → 2Z, Z → D), a mean-pool (each channel added once, and spread back once), or none.
        let k = c.wm_slots as f64;
        let levels = match c.transfer_policy {
            TransferPolicy::Ppo | TransferPolicy::Dqn => compression_level::LEVELS.len() as f64,
            TransferPolicy::Importance | TransferPolicy::Lru => 0.0,
        };
        let compress = match c.ltm_compression {
            CompressionKind::Vae => d * 2.0 * z + z * d,
            CompressionKind::MeanPool => 2.0 * d,
            CompressionKind::Uncompressed => 0.0,
        };
        let per_segment = k * (3.0 * d * d + d + d * levels) + m * compress;
        macs.long_term_memory += per_segment / seg;
    }
    if controller_output {
        // The memories' gates D → 2 and the output map D → D.
        macs.controller += 2.0 * d + d * d;
    }
    Flops {
        encoder: 2.0 * macs.encoder,
        working_memory: 2.0 * macs.working_memory,
        long_term_memory: 2.0 * macs.long_term_memory,
        controller: 2.0 * macs.controller,
        head: 2.0 * macs.head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small config whose counts are worked out by hand below.
    fn small() -> DmnConfig {
        DmnConfig::new(10)
            .with_d_model(4)
            .with_n_layers(2)
            .with_d_state(2)
            .with_expand(2)
            .with_d_conv(3)
            .with_attn_heads(2)
            .with_attn_window(5)
            .with_wm_slots(6)
            .with_wm_heads(2)
            .with_wm_top_k(3)
            .with_wm_bottleneck(2)
            .with_wm_update_interval(4)
            .with_ltm_levels(3)
            .with_ltm_entries_per_level(2)
            .with_ltm_latent_dim(3)
            .with_segment_len(8)
    }

    #[test]
    fn encoders_match_hand_counts() {
        let memoryless = || {
            small()
                .with_use_working_memory(false)
                .with_use_long_term_memory(false)
        };
        // SSM, D = 4, E = 8, N = 2, R = 1, conv 3:
        // 32·2 (in) + 24 (conv) + 8·5 (x_proj) + 8 (dt) + 48 (scan) + 8 (skip) + 32 (out) = 224
        // MACs per block; 2 blocks, 2 FLOPs each: 896. Head 4·10 MACs: 80 FLOPs.
        let f = per_token(&memoryless());
        assert_eq!(f.encoder, 896.0);
        assert_eq!(f.head, 80.0);
        assert_eq!(f.total(), 976.0);
        // Linear attention, 2 heads of 2: 48 + 2·(8 + 4) + 16 + 128 = 216 MACs per block.
        let f = per_token(&memoryless().with_encoder(EncoderKind::LinearAttention));
        assert_eq!(f.encoder, 2.0 * 2.0 * 216.0);
        // LSTM 8·16 = 128, GRU 6·16 = 96 MACs per block.
        assert_eq!(
            per_token(&memoryless().with_encoder(EncoderKind::Lstm)).encoder,
            512.0
        );
        assert_eq!(
            per_token(&memoryless().with_encoder(EncoderKind::Gru)).encoder,
            384.0
        );
        // Transformer, window 5: 48 + 40 + 16 + 128 = 232 MACs per block.
        let f = per_token(&memoryless().with_encoder(EncoderKind::Transformer));
        assert_eq!(f.encoder, 928.0);
        assert_eq!(f.working_memory + f.long_term_memory + f.controller, 0.0);
    }

    #[test]
    fn memories_match_hand_counts() {
        // D = 4, H = 2, K = 6, top-3, bottleneck 2, updates every 4 tokens.
        // Read: controller 2·16 + 2·4 + 2·16 = 72; memory 2·6·4 + 2·3·4 = 72.
        // Write per token: 4·2 + 2·4 = 16; per update 2·(16 + 12 + 16 + 16) + 24 + 48 + 48 = 240,
        // i.e. 60 per token. Working memory: 72 + 16 + 60 = 148 MACs.
        let wm_only = small().with_use_long_term_memory(false);
        let f = per_token(&wm_only);
        assert_eq!(f.working_memory, 2.0 * 148.0);
        // Controller: 72 + gates 8 + output 16 = 96 MACs.
        assert_eq!(f.controller, 2.0 * 96.0);
        assert_eq!(f.long_term_memory, 0.0);

        // Long-term, 6 entries, m = 2, Z = 3, segments of 8: retrieval 2·6·4 = 48; per segment
        // 6·(48 + 4) + 2·(24 + 12) = 384, i.e. 48 per token: 96 MACs. Controller + 32.
        let f = per_token(&small());
        assert_eq!(f.long_term_memory, 2.0 * 96.0);
        assert_eq!(f.controller, 2.0 * 128.0);
        // A learned policy adds its compression head: 6 slots · 4 · 4 levels / 8 = 12 MACs.
        let ppo = per_token(&small().with_transfer_policy(TransferPolicy::Ppo));
        assert_eq!(ppo.long_term_memory - f.long_term_memory, 24.0);
        // Compression of the 2 moved slots per segment of 8: the VAE's 2·36 = 72 MACs (9 per
        // token) become a mean-pool's 2·(4 + 4) = 16 (2 per token) or nothing.
        let pooled = per_token(&small().with_ltm_compression(CompressionKind::MeanPool));
        assert_eq!(f.long_term_memory - pooled.long_term_memory, 2.0 * 7.0);
        let raw = per_token(&small().with_ltm_compression(CompressionKind::Uncompressed));
        assert_eq!(f.long_term_memory - raw.long_term_memory, 2.0 * 9.0);
    }
}
