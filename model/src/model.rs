//! [`Dmn`]: embedding → base encoder → working and long-term memory through the controller →
//! heads, run one segment at a time with every state carried across segments.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Int, Tensor};

use crate::config::{ConfigError, DmnConfig, TransferPolicy};
use crate::controller::{MemoryController, MemoryControllerConfig};
use crate::encoder::{BaseEncoder, EncoderState};
use crate::long_term_memory::{LongTermMemory, LongTermMemoryState};
use crate::ops::auto;
use crate::policy::{compression_level, plackett_luce};
use crate::trace::SegmentTrace;
use crate::working_memory::{WorkingMemory, WorkingMemoryConfig, WorkingMemoryState};

/// Guards `ln 0` in entropies.
const ENTROPY_EPS: f64 = 1e-9;

/// The Dynamic Memory Network.
#[derive(Module, Debug)]
pub struct Dmn {
    embedding: Embedding,
    encoder: BaseEncoder,
    working_memory: Option<WorkingMemory>,
    long_term_memory: Option<LongTermMemory>,
    controller: MemoryController,
    /// `D → V`: next-token head.
    lm_head: Linear,
    /// `D → classes` on the last token: sequence-classification head.
    class_head: Option<Linear>,
    d_model: usize,
    segment_len: usize,
    update_interval: usize,
    kernels: bool,
    /// How slots are chosen for long-term memory.
    #[module(skip)]
    transfer_policy: TransferPolicy,
    /// ε of the Q-learned policy's exploration while training.
    #[module(skip)]
    exploration: f32,
}

/// A learned policy's transfer decision at a segment's end, with what it was decided from
/// (detached), so that policy updates can re-evaluate it.
#[derive(Debug, Clone)]
pub struct TransferDecision {
    /// Working-memory slots, `[B, K, D]`.
    pub slots: Tensor<3>,
    /// Mean encoder state of the segment, `[B, D]`.
    pub h_mean: Tensor<2>,
    /// Long-term summary, `[B, D]`.
    pub ltm_summary: Tensor<2>,
    /// Slots moved, in pick order, `[B, m]`.
    pub picks: Tensor<2, Int>,
    /// Compression level of each pick (an index into [`crate::policy::compression_level::LEVELS`];
    /// 0 discards it), `[B, m]`.
    pub levels: Tensor<2, Int>,
    /// log π(picks, levels) when decided, `[B]`.
    pub log_prob: Tensor<1>,
    /// Fraction of the latent width the moved entries keep (mean over them), `[B]`.
    pub width_fraction: Tensor<1>,
}

impl TransferDecision {
    /// The same decision with its tensors on `device`.
    pub fn to_device(self, device: &Device) -> Self {
        Self {
            slots: self.slots.to_device(device),
            h_mean: self.h_mean.to_device(device),
            ltm_summary: self.ltm_summary.to_device(device),
            picks: self.picks.to_device(device),
            levels: self.levels.to_device(device),
            log_prob: self.log_prob.to_device(device),
            width_fraction: self.width_fraction.to_device(device),
        }
    }
}

/// Everything carried from one segment to the next.
#[derive(Debug, Clone)]
pub struct DmnState {
    /// Scan / attention states.
    pub encoder: EncoderState,
    /// Slots, age, usage (`None` when the working memory is off).
    pub working: Option<WorkingMemoryState>,
    /// Levels (`None` when the long-term memory is off).
    pub long_term: Option<LongTermMemoryState>,
    /// Segments processed.
    pub segments: u64,
}

impl DmnState {
    /// Leaves the autodiff graph: the carried state becomes a constant for the next segment, so
    /// gradients are truncated at segment boundaries and no graph outlives its segment.
    pub fn detach(self) -> Self {
        Self {
            encoder: self.encoder.detach(),
            working: self.working.map(WorkingMemoryState::detach),
            long_term: self.long_term.map(LongTermMemoryState::detach),
            segments: self.segments,
        }
    }
}

/// Per-call switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardOptions {
    /// Sample the VAE's ε (training); otherwise z = μ.
    pub sample: bool,
    /// Gather a [`SegmentTrace`] (costs a few small tensors; nothing when off).
    pub trace: bool,
}

/// Auxiliary loss terms of one segment, each a `[1]` tensor (0 when the memory they concern is off).
#[derive(Debug, Clone)]
pub struct AuxLosses {
    /// Entropy of the mean write distribution over slots, divided by ln K (in [0, 1]; higher is better).
    pub utilization: Tensor<1>,
    /// Mean write-gate activity.
    pub pressure: Tensor<1>,
    /// Mean entropy of read distributions (nats).
    pub read_entropy: Tensor<1>,
    /// VAE KL of the segment's transfer.
    pub kl: Tensor<1>,
    /// VAE reconstruction error of the segment's transfer.
    pub reconstruction: Tensor<1>,
}

/// Memory statistics of one segment (for metrics), `[1]` tensors on the device.
#[derive(Debug, Clone)]
pub struct MemoryStats {
    /// Entropy of the normalized slot usage at the segment's end, divided by ln K.
    pub slot_usage_entropy: Tensor<1>,
    /// Mean slot age at the segment's end (in memory updates).
    pub mean_age: Tensor<1>,
    /// Mean entropy of the segment's read distributions (nats; lower is sparser).
    pub read_entropy: Tensor<1>,
    /// Bytes of compressed long-term entries.
    pub ltm_bytes: Tensor<1>,
    /// Fraction of each long-term level occupied (host data: no readback needed).
    pub ltm_fill: Vec<f32>,
}

/// Output of one segment.
#[derive(Debug, Clone)]
pub struct SegmentOutput {
    /// `[B, L, V]`
    pub logits: Tensor<3>,
    /// `y`, `[B, L, D]`
    pub hidden: Tensor<3>,
    /// Auxiliary losses.
    pub aux: AuxLosses,
    /// Memory statistics.
    pub stats: MemoryStats,
    /// Present when [`ForwardOptions::trace`] was set.
    pub trace: Option<SegmentTrace>,
    /// The transfer decision, under a learned policy ([`TransferPolicy::Ppo`]).
    pub decision: Option<TransferDecision>,
}

impl DmnConfig {
    /// Validates the config and builds the model.
    pub fn init(&self, device: &Device) -> Result<Dmn, ConfigError> {
        self.validate()?;
        if self.use_long_term_memory && !self.use_working_memory {
            return Err(ConfigError {
                field: "use_long_term_memory",
                value: "true".into(),
                allowed: "false when use_working_memory is false (long-term memory is filled from working memory)".into(),
            });
        }
        let d = self.d_model;
        let working_memory = self.use_working_memory.then(|| {
            WorkingMemoryConfig::new(
                d,
                self.wm_slots,
                self.wm_heads,
                self.top_k,
                self.bottleneck,
                self.usage_decay,
            )
            .with_kernels(self.kernels)
            .init(device)
        });
        let long_term_memory = self.use_long_term_memory.then(|| {
            LongTermMemory::new(
                d,
                self.ltm_levels,
                self.ltm_entries_per_level,
                self.latent_dim,
                device,
            )
            .with_compression(self.compression)
            .with_hierarchy(self.ltm_hierarchical)
        });
        Ok(Dmn {
            embedding: EmbeddingConfig::new(self.vocab_size, d).init(device),
            encoder: BaseEncoder::new(self, device),
            working_memory,
            long_term_memory,
            controller: MemoryControllerConfig::new(d, self.wm_heads)
                .with_compression_levels(match self.transfer_policy {
                    TransferPolicy::Ppo | TransferPolicy::Dqn => compression_level::LEVELS.len(),
                    TransferPolicy::Importance | TransferPolicy::Lru => 0,
                })
                .init(device),
            lm_head: LinearConfig::new(d, self.vocab_size).init(device),
            class_head: (self.num_classes > 0)
                .then(|| LinearConfig::new(d, self.num_classes).init(device)),
            d_model: d,
            segment_len: self.segment_len,
            update_interval: self.memory_update_interval,
            kernels: self.kernels,
            transfer_policy: self.transfer_policy,
            exploration: 0.0,
        })
    }
}

/// The `m` best slots by `z` `[B, K]`, except that each row, with probability `epsilon`, takes
/// `m` slots at random instead.
fn epsilon_greedy(z: Tensor<2>, m: usize, epsilon: f32) -> Tensor<2, Int> {
    let [b, k] = z.dims();
    let device = z.device();
    let unit = burn::tensor::Distribution::Uniform(0.0, 1.0);
    let explore = Tensor::<2>::random([b, 1], unit, &device)
        .lower_elem(epsilon)
        .float();
    let noise = Tensor::<2>::random([b, k], unit, &device);
    let scores = z * (explore.clone().neg() + 1.0) + noise * explore;
    crate::ops::top_k(scores, m, 1).1
}

fn scalar(value: f32, device: &Device) -> Tensor<1> {
    Tensor::full([1], value, device)
}

/// Entropy of each row of non-negative weights along the last axis (rows need not sum to 1).
fn entropy<const D: usize>(p: Tensor<D>) -> Tensor<D> {
    let p = p.clone() / p.sum_dim(D - 1).clamp_min(ENTROPY_EPS);
    (p.clone() * (p + ENTROPY_EPS).log()).sum_dim(D - 1).neg()
}

impl Dmn {
    /// Tokens per segment.
    pub fn segment_len(&self) -> usize {
        self.segment_len
    }

    /// Model width.
    pub fn d_model(&self) -> usize {
        self.d_model
    }

    /// Working-memory slots (0 when off).
    pub fn wm_slots(&self) -> usize {
        self.working_memory.as_ref().map_or(0, |w| w.slots())
    }

    /// The state before any token.
    pub fn init_state(&self, batch: usize, device: &Device) -> DmnState {
        DmnState {
            encoder: self.encoder.init_state(batch, device),
            working: self
                .working_memory
                .as_ref()
                .map(|w| w.init_state(batch, self.d_model, device)),
            long_term: self.long_term_memory.as_ref().map(|l| l.init_state()),
            segments: 0,
        }
    }

    /// A learned transfer policy's scores for recorded decision inputs: the importance head's
    /// logits `[B, K]` (which slots move) and the compression head's `[B, K, C]` (how hard each
    /// is compressed).
    ///
    /// # Panics
    /// If the model's transfer policy is not learned (PPO or DQN), which is what gives it a
    /// compression head.
    pub fn policy_logits(
        &self,
        slots: Tensor<3>,
        h_mean: Tensor<2>,
        ltm_summary: Tensor<2>,
    ) -> (Tensor<2>, Tensor<3>) {
        let (z, levels) = self.controller.policy_logits(slots, h_mean, ltm_summary);
        (
            z,
            levels.expect("a learned transfer policy has a compression head"),
        )
    }

    /// The same model exploring with probability `epsilon` per sequence when it takes
    /// Q-learned transfer decisions while training ([`TransferPolicy::Dqn`]).
    pub fn with_exploration(self, epsilon: f32) -> Self {
        Self {
            exploration: epsilon,
            ..self
        }
    }

    /// The same model with the token embedding and the base encoder frozen (no gradients).
    pub fn freeze_encoder(self) -> Self {
        Self {
            embedding: self.embedding.no_grad(),
            encoder: self.encoder.no_grad(),
            ..self
        }
    }

    /// Runs one segment (any length ≥ 1; normally [`Self::segment_len`]).
    ///
    /// Tokens read the working memory as written by earlier updates (every
    /// `memory_update_interval` tokens), and the long-term memory as it stood when the segment
    /// began. At the segment's end the most important slots move to long-term memory.
    ///
    /// # Shapes
    /// - tokens: `[B, L]` → logits `[B, L, V]`
    pub fn forward_segment(
        &self,
        state: DmnState,
        tokens: Tensor<2, Int>,
        options: ForwardOptions,
    ) -> (SegmentOutput, DmnState) {
        let [b, l] = tokens.dims();
        let device = tokens.device();
        let d = self.d_model;
        let (h, encoder_state) = self
            .encoder
            .forward(self.embedding.forward(tokens), state.encoder);

        let zero = || scalar(0.0, &device);
        let mut aux = AuxLosses {
            utilization: zero(),
            pressure: zero(),
            read_entropy: zero(),
            kl: zero(),
            reconstruction: zero(),
        };
        let mut trace = options.trace.then(|| SegmentTrace {
            segment: state.segments,
            slots: self.wm_slots(),
            heads: self.working_memory.as_ref().map_or(0, |w| w.heads()),
            levels: self.long_term_memory.as_ref().map_or(0, |m| m.levels()),
            per_update: Vec::new(),
            importance: None,
            transfer: None,
            level_fill: Vec::new(),
            level_span: Vec::new(),
            retrieval_per_level: None,
        });

        // Working memory: read, then write, once per update interval.
        let mut working = state.working;
        let mut wm_read = None;
        if let (Some(wm), Some(mut st)) = (&self.working_memory, working.take()) {
            let (k, hh) = (wm.slots(), wm.heads());
            let queries = self.controller.read_queries(h.clone());
            let mut reads = Vec::new();
            let mut write_mass = Tensor::<2>::zeros([b, k], &device);
            let (mut gate_sum, mut read_entropy_sum) = (zero(), zero());
            let mut updates = 0;
            let mut start = 0;
            while start < l {
                let t = self.update_interval.min(l - start);
                let q = queries
                    .query
                    .clone()
                    .narrow(1, start, t)
                    .reshape([b, t * hh, d]);
                let s = queries
                    .strength
                    .clone()
                    .narrow(1, start, t)
                    .reshape([b, t * hh]);
                let (read, st_read) = wm.read(st, q, s);
                reads.push(read.read.reshape([b, t, hh * d]));
                read_entropy_sum = read_entropy_sum + entropy(read.weights.clone()).mean();
                let (written, gate) = wm.write(st_read, h.clone().narrow(1, start, t));
                write_mass = write_mass + written.write_weights.clone().sum_dim(1).reshape([b, k]);
                gate_sum = gate_sum + gate.mean();
                if let Some(tr) = trace.as_mut() {
                    let row = |x: Tensor<2>| x.narrow(0, 0, 1).reshape([k]);
                    let read_heads = read
                        .weights
                        .narrow(0, 0, 1)
                        .reshape([t, hh, k])
                        .mean_dim(0)
                        .reshape([hh * k]);
                    tr.per_update.push([
                        written
                            .write_weights
                            .clone()
                            .narrow(0, 0, 1)
                            .reshape([hh * k]),
                        read_heads,
                        row(written
                            .slots
                            .clone()
                            .powi_scalar(2)
                            .sum_dim(2)
                            .sqrt()
                            .reshape([b, k])),
                        row(written.age.clone()),
                        row(written.usage.clone()),
                    ]);
                }
                st = WorkingMemoryState {
                    slots: written.slots,
                    age: written.age,
                    usage: written.usage,
                };
                updates += 1;
                start += t;
            }
            let n = updates as f64;
            let mean_write = write_mass.sum_dim(0).reshape([k]);
            aux.utilization = entropy(mean_write) / (k as f64).ln().max(ENTROPY_EPS);
            aux.pressure = gate_sum / n;
            aux.read_entropy = read_entropy_sum / n;
            wm_read = Some(Tensor::cat(reads, 1));
            working = Some(st);
        }

        // Long-term memory: retrieval for every token from the levels as they stood.
        let mut long_term = state.long_term;
        let mut ltm_context = None;
        let mut ltm_summary = None;
        if let (Some(ltm), Some(lst)) = (&self.long_term_memory, long_term.as_ref()) {
            let packed = ltm.pack(lst, b, d, &device);
            let r = auto::retrieve(
                self.kernels,
                self.controller.ltm_query(h.clone()),
                packed.entries.clone(),
                ltm.bias(),
                packed.valid.clone(),
            );
            if let Some(tr) = trace.as_mut() {
                let m = ltm.per_level();
                let w = r
                    .weights
                    .clone()
                    .narrow(0, 0, 1)
                    .mean_dim(1)
                    .reshape([ltm.levels(), m])
                    .sum_dim(1);
                tr.retrieval_per_level = Some(w.reshape([ltm.levels()]));
            }
            let valid = packed.valid.float().unsqueeze_dim::<3>(2); // [B, E, 1]
            ltm_summary = Some(
                (packed.entries * valid.clone()).sum_dim(1).reshape([b, d])
                    / valid.sum_dim(1).reshape([b, 1]).clamp_min(1.0),
            );
            ltm_context = Some(r.context);
        }

        let y = self.controller.output(h.clone(), wm_read, ltm_context);
        let logits = self.lm_head.forward(y.clone());

        // Segment end: importance-scored transfer from working to long-term memory (§2.1.3).
        let mut decision = None;
        if let (Some(ltm), Some(lst), Some(wst), Some(summary)) = (
            &self.long_term_memory,
            long_term.take(),
            working.as_ref(),
            ltm_summary,
        ) {
            let [_, _, hd] = h.dims();
            let h_mean = h.mean_dim(1).reshape([b, hd]);
            let (logits, level_logits) =
                self.controller
                    .policy_logits(wst.slots.clone(), h_mean.clone(), summary.clone());
            let importance = sigmoid(logits.clone());
            let m = ltm.per_level();
            let slots = wst.slots.clone();
            let (next, transfer) = match (self.transfer_policy, level_logits) {
                (TransferPolicy::Ppo | TransferPolicy::Dqn, Some(level_logits)) => {
                    // Explore while training (sampled or ε-greedy picks and levels), exploit
                    // otherwise.
                    let z = logits.detach();
                    let picks = match (self.transfer_policy, options.sample) {
                        (TransferPolicy::Ppo, true) => plackett_luce::sample(z.clone(), m),
                        (_, true) => epsilon_greedy(z.clone(), m, self.exploration),
                        _ => crate::ops::top_k(z.clone(), m, 1).1,
                    };
                    let level_logits =
                        compression_level::of_picks(level_logits.detach(), picks.clone());
                    let levels = match (self.transfer_policy, options.sample) {
                        (TransferPolicy::Ppo, true) => {
                            compression_level::sample(level_logits.clone())
                        }
                        (_, true) => compression_level::epsilon_greedy(
                            level_logits.clone(),
                            self.exploration,
                        ),
                        _ => compression_level::greedy(level_logits.clone()),
                    };
                    let (moved, transfer) = ltm.transfer_slots(
                        lst,
                        slots.clone(),
                        importance.clone(),
                        picks.clone(),
                        Some(compression_level::fractions(levels.clone())),
                        options.sample,
                    );
                    let latent = ltm.latent_width() as f64;
                    decision = Some(TransferDecision {
                        slots: slots.detach(),
                        h_mean: h_mean.detach(),
                        ltm_summary: summary.detach(),
                        log_prob: plackett_luce::log_prob(z, picks.clone())
                            + compression_level::log_prob(level_logits, levels.clone()),
                        picks,
                        levels,
                        width_fraction: (transfer.compressed.width.clone().detach().mean_dim(1)
                            / latent)
                            .reshape([b]),
                    });
                    (moved, transfer)
                }
                (TransferPolicy::Lru, _) => {
                    let (_, least_used) = crate::ops::top_k(wst.usage.clone().neg(), m, 1);
                    ltm.transfer_slots(
                        lst,
                        slots,
                        importance.clone(),
                        least_used,
                        None,
                        options.sample,
                    )
                }
                _ => ltm.transfer(lst, slots, importance.clone(), options.sample),
            };
            aux.kl = transfer.compressed.kl.clone();
            aux.reconstruction = transfer.compressed.reconstruction.clone();
            if let Some(tr) = trace.as_mut() {
                let k = self.wm_slots();
                let m = ltm.per_level();
                tr.importance = Some(importance.narrow(0, 0, 1).reshape([k]));
                tr.transfer = Some((
                    transfer.slots.narrow(0, 0, 1).reshape([m]),
                    transfer.importance.narrow(0, 0, 1).reshape([m]),
                    transfer.level,
                ));
            }
            long_term = Some(next);
        }

        let stats = self.stats(
            working.as_ref(),
            long_term.as_ref(),
            aux.read_entropy.clone().detach(),
            &device,
        );
        if let Some(tr) = trace.as_mut() {
            tr.level_fill = stats.ltm_fill.clone();
            tr.level_span = long_term.as_ref().map(|l| l.spans()).unwrap_or_default();
        }
        let out = SegmentOutput {
            logits,
            hidden: y,
            aux,
            stats,
            trace,
            decision,
        };
        let state = DmnState {
            encoder: encoder_state,
            working,
            long_term,
            segments: state.segments + 1,
        };
        (out, state)
    }

    fn stats(
        &self,
        working: Option<&WorkingMemoryState>,
        long_term: Option<&LongTermMemoryState>,
        read_entropy: Tensor<1>,
        device: &Device,
    ) -> MemoryStats {
        let (slot_usage_entropy, mean_age) = match working {
            Some(w) => {
                let k = w.usage.dims()[1] as f64;
                let e = entropy(w.usage.clone().detach()).mean() / k.ln().max(ENTROPY_EPS);
                (e, w.age.clone().detach().mean())
            }
            None => (scalar(0.0, device), scalar(0.0, device)),
        };
        let (ltm_bytes, ltm_fill) = match long_term {
            Some(l) => (
                l.compressed_bytes(device).detach(),
                l.levels
                    .iter()
                    .map(|x| if x.is_some() { 1.0 } else { 0.0 })
                    .collect(),
            ),
            None => (scalar(0.0, device), Vec::new()),
        };
        MemoryStats {
            slot_usage_entropy,
            mean_age,
            read_entropy,
            ltm_bytes,
            ltm_fill,
        }
    }

    /// Class logits from the last token's output (`None` without a classification head).
    ///
    /// # Shapes
    /// - hidden: `[B, L, D]` → `[B, classes]`
    pub fn class_logits(&self, hidden: Tensor<3>) -> Option<Tensor<2>> {
        let [b, l, d] = hidden.dims();
        self.class_head
            .as_ref()
            .map(|head| head.forward(hidden.narrow(1, l - 1, 1).reshape([b, d])))
    }

    /// Streams a whole sequence segment by segment from a fresh state and concatenates the logits.
    /// No gradient flows between segments.
    ///
    /// # Shapes
    /// - tokens: `[B, T]` → `[B, T, V]`
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let device = tokens.device();
        let mut state = self.init_state(b, &device);
        let mut logits = Vec::with_capacity(t.div_ceil(self.segment_len));
        let mut start = 0;
        while start < t {
            let len = self.segment_len.min(t - start);
            let (out, next) = self.forward_segment(
                state,
                tokens.clone().narrow(1, start, len),
                ForwardOptions::default(),
            );
            logits.push(out.logits);
            state = next.detach();
            start += len;
        }
        Tensor::cat(logits, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EncoderKind;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    fn tokens(b: usize, l: usize, vocab: usize, device: &Device) -> Tensor<2, Int> {
        Tensor::<2>::random([b, l], Distribution::Uniform(0.0, vocab as f64), device)
            .int()
            .clamp(0, vocab as i64 - 1)
    }

    #[test]
    fn shapes_of_a_segment_for_every_encoder() {
        let device = Device::flex();
        for kind in EncoderKind::ALL {
            let config = DmnConfig::tiny(20).with_encoder(kind).with_num_classes(3);
            let model = config.init(&device).unwrap();
            let state = model.init_state(2, &device);
            let (out, state) = model.forward_segment(
                state,
                tokens(2, 21, 20, &device),
                ForwardOptions {
                    sample: true,
                    trace: true,
                },
            );
            assert_eq!(out.logits.dims(), [2, 21, 20]);
            assert_eq!(out.hidden.dims(), [2, 21, 32]);
            assert_eq!(model.class_logits(out.hidden).unwrap().dims(), [2, 3]);
            assert_eq!(state.working.as_ref().unwrap().slots.dims(), [2, 16, 32]);
            assert_eq!(state.long_term.as_ref().unwrap().spans()[0], 1);
            let trace = out.trace.unwrap().read();
            assert_eq!(trace.updates, 3, "21 tokens with updates every 8");
            assert_eq!(trace.write_weights.len(), 3 * 2 * 16);
            assert_eq!(trace.transfer.unwrap().slots.len(), 2);
            assert_eq!(trace.level_fill, vec![1.0, 0.0, 0.0, 0.0, 0.0]);
        }
    }

    #[test]
    fn lru_transfer_moves_the_least_used_slots() {
        let device = Device::flex();
        let config = DmnConfig::tiny(20).with_transfer_policy(TransferPolicy::Lru);
        let model = config.init(&device).unwrap();
        let state = model.init_state(1, &device);
        let options = ForwardOptions {
            sample: false,
            trace: true,
        };
        let (out, next) = model.forward_segment(state, tokens(1, 21, 20, &device), options);
        let usage = next
            .working
            .unwrap()
            .usage
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let moved = out.trace.unwrap().read().transfer.unwrap().slots;
        // Every moved slot is used no more than any slot that stayed (ties may go either way).
        let is_moved = |i: usize| moved.contains(&(i as u32));
        let most_moved = (0..usage.len()).filter(|&i| is_moved(i)).map(|i| usage[i]);
        let least_kept = (0..usage.len()).filter(|&i| !is_moved(i)).map(|i| usage[i]);
        let (hi, lo) = (
            most_moved.fold(f32::MIN, f32::max),
            least_kept.fold(f32::MAX, f32::min),
        );
        assert!(
            !moved.is_empty() && hi <= lo,
            "moved {moved:?}, usage {usage:?}"
        );
    }

    #[test]
    fn epsilon_greedy_is_greedy_at_0_and_random_at_1() {
        let device = Device::flex();
        device.seed(5);
        let z = Tensor::<2>::from_data(
            TensorData::new([0.0f32, 1.0, 2.0, 3.0].repeat(200), [200, 4]),
            &device,
        );
        let picks = |eps: f32| {
            let p = epsilon_greedy(z.clone(), 1, eps)
                .into_data()
                .convert::<i64>();
            p.try_to_vec::<i64>().unwrap()
        };
        assert!(picks(0.0).iter().all(|&p| p == 3));
        let random = picks(1.0);
        let best = random.iter().filter(|&&p| p == 3).count() as f64 / 200.0;
        assert!((best - 0.25).abs() < 0.1, "{best}");
    }

    #[test]
    fn ppo_transfer_records_its_decision() {
        let device = Device::flex();
        let config = DmnConfig::tiny(20).with_transfer_policy(TransferPolicy::Ppo);
        let model = config.init(&device).unwrap();
        for sample in [true, false] {
            let options = ForwardOptions {
                sample,
                trace: true,
            };
            let state = model.init_state(3, &device);
            let (out, _) = model.forward_segment(state, tokens(3, 16, 20, &device), options);
            let d = out.decision.expect("a PPO transfer records its decision");
            let m = d.picks.dims()[1];
            assert_eq!(d.picks.dims(), [3, m]);
            assert_eq!(d.levels.dims(), [3, m]);
            let levels = d.levels.clone().into_data().convert::<i64>();
            let levels = levels.try_to_vec::<i64>().unwrap();
            assert!(
                levels
                    .iter()
                    .all(|&l| (0..compression_level::LEVELS.len() as i64).contains(&l))
            );
            let lp = d.log_prob.into_data().try_to_vec::<f32>().unwrap();
            assert!(lp.iter().all(|&x| x <= 0.0 && x.is_finite()), "{lp:?}");
            let w = d.width_fraction.into_data().try_to_vec::<f32>().unwrap();
            assert!(w.iter().all(|&x| (0.0..=1.0).contains(&x)), "{w:?}");
            // What moved is what the decision says.
            let moved = out.trace.unwrap().read().transfer.unwrap().slots;
            let picks = d.picks.narrow(0, 0, 1).into_data().convert::<i64>();
            let picks: Vec<u32> = picks
                .try_to_vec::<i64>()
                .unwrap()
                .iter()
                .map(|&p| p as u32)
                .collect();
            assert_eq!(moved, picks);
        }
        // Other policies record nothing.
        let plain = DmnConfig::tiny(20).init(&device).unwrap();
        let (out, _) = plain.forward_segment(
            plain.init_state(1, &device),
            tokens(1, 16, 20, &device),
            ForwardOptions::default(),
        );
        assert!(out.decision.is_none());
    }

    #[test]
    fn a_frozen_encoder_gets_no_gradients_and_the_rest_does() {
        use burn::optim::GradientsParams;
        let device = Device::flex().autodiff();
        let model = DmnConfig::tiny(20).init(&device).unwrap().freeze_encoder();
        let state = model.init_state(2, &device);
        let (out, _) =
            model.forward_segment(state, tokens(2, 8, 20, &device), ForwardOptions::default());
        let grads = GradientsParams::from_grads(out.logits.sum().backward(), &model);
        assert!(grads.get::<2>(model.embedding.weight.id).is_none());
        assert!(grads.get::<2>(model.lm_head.weight.id).is_some());
    }

    #[test]
    fn streaming_equals_a_single_pass_when_long_term_memory_is_off() {
        // Segments of 16 and updates every 8: splitting at a segment boundary changes nothing,
        // because scan state and working memory are carried exactly.
        let device = Device::flex();
        let config = DmnConfig::tiny(20)
            .with_use_long_term_memory(false)
            .with_segment_len(48);
        let model = config.init(&device).unwrap();
        let x = tokens(2, 48, 20, &device);
        let single = model.forward(x.clone());
        let model16 = Dmn {
            segment_len: 16,
            ..model
        };
        let pieces = model16.forward(x);
        pieces
            .into_data()
            .assert_approx_eq::<f32>(&single.into_data(), Tolerance::rel_abs(1e-4, 1e-4));
    }

    #[test]
    fn with_long_term_memory_the_first_segment_streams_identically() {
        let device = Device::flex();
        let model = DmnConfig::tiny(20).init(&device).unwrap();
        let x = tokens(1, 40, 20, &device);
        let whole = model.forward(x.clone());
        let (out, _) =
            model.forward_segment(model.init_state(1, &device), x, ForwardOptions::default());
        out.logits
            .into_data()
            .assert_approx_eq::<f32>(&whole.into_data(), Tolerance::rel_abs(1e-5, 1e-5));
    }

    #[test]
    fn invalid_configs_are_errors_not_panics() {
        let device = Device::flex();
        let err = DmnConfig::tiny(20)
            .with_use_working_memory(false)
            .init(&device)
            .unwrap_err();
        assert_eq!(err.field, "use_long_term_memory");
        assert!(DmnConfig::tiny(20).with_wm_heads(0).init(&device).is_err());
    }
}

#[cfg(test)]
mod gradient_tests {
    use super::*;
    use crate::loss::segment_loss;
    use crate::tasks::{Needle, Task};
    use burn::module::{ModuleVisitor, Param, ParamId};
    use burn::optim::GradientsParams;
    use rand::SeedableRng;

    struct Ids(Vec<(ParamId, Vec<usize>)>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push((param.id, param.val().dims().to_vec()));
        }
    }

    #[test]
    fn gradients_reach_every_parameter_and_are_finite() {
        for kind in crate::config::EncoderKind::ALL {
            let device = Device::flex().autodiff();
            let task = Needle::new(42, 8, 8, 4).unwrap(); // 48 tokens: two segments of 24
            let config = DmnConfig::tiny(task.vocab_size())
                .with_encoder(kind)
                .with_segment_len(24);
            let model = config.init(&device).unwrap();
            let batch = task.sample(&mut rand::rngs::StdRng::seed_from_u64(3), 2);
            // Two segments: the second retrieves from a non-empty long-term memory.
            let (_, state) = model.forward_segment(
                model.init_state(2, &device),
                batch.segment(0, 24, &device).0,
                ForwardOptions {
                    sample: true,
                    trace: false,
                },
            );
            let (inputs, targets, _) = batch.segment(24, 24, &device);
            let (out, _) = model.forward_segment(
                state.detach(),
                inputs,
                ForwardOptions {
                    sample: true,
                    trace: false,
                },
            );
            let mask = Tensor::<2>::ones([2, 24], &device);
            let loss = segment_loss(&out, targets, mask, &config.loss_weights);
            let mut grads = GradientsParams::from_grads(loss.total.backward(), &model);
            let mut ids = Ids(Vec::new());
            model.visit(&mut ids);
            assert!(ids.0.len() > 40, "{} parameters", ids.0.len());
            for (id, dims) in ids.0 {
                let g: Option<Tensor<1>> = match dims.len() {
                    1 => grads.remove::<1>(id),
                    2 => grads.remove::<2>(id).map(|g| g.flatten(0, 1)),
                    n => panic!("unexpected rank {n}"),
                };
                let g = g.unwrap_or_else(|| {
                    panic!("{kind:?}: no gradient for a parameter of shape {dims:?}")
                });
                let finite = g.is_finite().all().into_scalar::<bool>();
                assert!(
                    finite,
                    "{kind:?}: non-finite gradient for a parameter of shape {dims:?}"
                );
            }
        }
    }
}
