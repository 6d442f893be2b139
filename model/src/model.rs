//! [`Dmn`]: embedding → base encoder → working and long-term memory through the controller →
//! heads, run one segment at a time with every state carried across segments.
//!
//! [`Dmn::forward_segment`] reads like the picture: encode → working memory → retrieve →
//! output → transfer; each box's work lives in its own file. The tests at the end (a third of
//! the file, past 450 lines) are the model's end-to-end checks: shapes for every encoder,
//! gradients across segments, streaming in segments against one pass, and memories left unread.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};

use crate::config::{ConfigError, DmnConfig, TransferPolicy};
use crate::controller::{MemoryController, MemoryControllerConfig};
use crate::encoder::{BaseEncoder, EncoderState};
use crate::long_term_memory::{LongTermMemory, LongTermMemoryState, LongTermRead};
use crate::loss::AuxLosses;
use crate::memory_stats::MemoryStats;
use crate::policy::compression_level;
use crate::state_map::{Detach, Name, TensorMap};
use crate::trace::SegmentTrace;
use crate::transfer::{TransferDecision, TransferInputs, TransferOutcome, TransferRule};
use crate::working_memory::{SegmentRun, WorkingMemory, WorkingMemoryState};

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
    /// How slots are chosen for long-term memory.
    #[module(skip)]
    transfer_rule: TransferRule,
    /// Which memories the output reads.
    #[module(skip)]
    reads: MemoryReads,
}

/// Which memories the output reads: both, normally. Turning one off on a trained model (an
/// ablation at evaluation time) measures the work that memory does: it is still written and
/// transferred as usual, but the output no longer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryReads {
    /// Working-memory reads reach the output.
    pub working: bool,
    /// Long-term retrieval reaches the output.
    pub long_term: bool,
}

impl Default for MemoryReads {
    fn default() -> Self {
        Self {
            working: true,
            long_term: true,
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
        self.map_tensors(&mut Detach)
    }

    /// Applies `f` to every tensor of the state, named `encoder.…`, `working.…` and
    /// `long_term.…`, and to its counters (see [`TensorMap`]).
    pub fn map_tensors(self, f: &mut impl TensorMap) -> Self {
        let root = Name::ROOT;
        Self {
            encoder: self.encoder.map_tensors(root.field("encoder"), f),
            working: self
                .working
                .map(|w| w.map_tensors(root.field("working"), f)),
            long_term: self
                .long_term
                .map(|l| l.map_tensors(root.field("long_term"), f)),
            segments: f.count(root.field("segments"), self.segments),
        }
    }

    /// Cuts only the encoder's state: the memories keep their graph, so a later segment's loss
    /// reaches the writes and transfers of this one (credit across segments, see
    /// [`crate::train`]).
    pub fn detach_encoder(self) -> Self {
        Self {
            encoder: self.encoder.detach(),
            ..self
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
    /// What the segment's tokens read from long-term memory (with a long-term memory).
    pub long_term_read: Option<LongTermRead>,
}

impl DmnConfig {
    /// Validates the config and builds the model.
    pub fn init(&self, device: &Device) -> Result<Dmn, ConfigError> {
        self.validate()?;
        let d = self.d_model;
        let learned = matches!(
            self.transfer_policy,
            TransferPolicy::Ppo | TransferPolicy::Dqn
        );
        Ok(Dmn {
            embedding: EmbeddingConfig::new(self.vocab_size, d).init(device),
            encoder: self.encoder_config().init(device),
            working_memory: self
                .use_working_memory
                .then(|| self.working_memory_config().init(device)),
            long_term_memory: self
                .use_long_term_memory
                .then(|| self.long_term_memory_config().init(device)),
            controller: MemoryControllerConfig::new(d, self.wm_heads)
                .with_compression_levels(if learned {
                    compression_level::LEVELS.len()
                } else {
                    0
                })
                .init(device),
            lm_head: LinearConfig::new(d, self.vocab_size).init(device),
            class_head: (self.num_classes > 0)
                .then(|| LinearConfig::new(d, self.num_classes).init(device)),
            d_model: d,
            segment_len: self.segment_len,
            transfer_rule: TransferRule {
                policy: self.transfer_policy,
                exploration: 0.0,
                hindsight: self.loss_weights.importance > 0.0,
            },
            reads: MemoryReads::default(),
        })
    }
}

impl Dmn {
    /// Tokens per segment.
    pub fn segment_len(&self) -> usize {
        self.segment_len
    }

    /// Tokens between working-memory updates (`None` without a working memory).
    pub fn update_interval(&self) -> Option<usize> {
        self.working_memory
            .as_ref()
            .map(WorkingMemory::update_interval)
    }

    /// Model width.
    pub fn d_model(&self) -> usize {
        self.d_model
    }

    /// The long-term memory, when the model has one.
    pub fn long_term_memory(&self) -> Option<&LongTermMemory> {
        self.long_term_memory.as_ref()
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
            transfer_rule: TransferRule {
                exploration: epsilon,
                ..self.transfer_rule
            },
            ..self
        }
    }

    /// The same model with its output reading only the memories `reads` names.
    pub fn with_reads(self, reads: MemoryReads) -> Self {
        Self { reads, ..self }
    }

    /// The same model with its working memory's write gates cut below `cut`
    /// ([`crate::working_memory::hard_gate`]) instead of the cut it was trained with.
    pub fn with_gate_cut(self, cut: f64) -> Self {
        Self {
            working_memory: self.working_memory.map(|wm| wm.with_gate_cut(cut)),
            ..self
        }
    }

    /// The same model with its working memory writing by `rule` instead of the rule it was
    /// trained with.
    pub fn with_write_rule(self, rule: crate::WriteRule) -> Self {
        Self {
            working_memory: self.working_memory.map(|wm| wm.with_write_rule(rule)),
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

    /// An empty trace of the memories' shapes for segment `segment`.
    fn new_trace(&self, segment: u64) -> SegmentTrace {
        SegmentTrace::new(
            segment,
            self.wm_slots(),
            self.working_memory.as_ref().map_or(0, |w| w.heads()),
            self.long_term_memory.as_ref().map_or(0, |m| m.levels()),
        )
    }

    /// Runs one segment (any length ≥ 1; normally [`Self::segment_len`]), box by box of the
    /// picture: encode → working memory → retrieve → output → transfer.
    ///
    /// Tokens read the working memory as written by earlier updates (every
    /// `wm_update_interval` tokens), and the long-term memory as it stood when the segment
    /// began. At the segment's end slots move to long-term memory.
    ///
    /// # Shapes
    /// - tokens: `[B, L]` → logits `[B, L, V]`
    pub fn forward_segment(
        &self,
        state: DmnState,
        tokens: Tensor<2, Int>,
        options: ForwardOptions,
    ) -> (SegmentOutput, DmnState) {
        let device = tokens.device();
        let mut trace = options.trace.then(|| self.new_trace(state.segments));

        // Encode: h = BaseEncoder(Embedding(tokens)), [B, L, D].
        let (h, encoder) = self
            .encoder
            .forward(self.embedding.forward(tokens), state.encoder);

        // Working memory: read and written once per update interval.
        let working = self
            .working_memory
            .as_ref()
            .zip(state.working)
            .map(|(wm, st)| {
                let queries = self.controller.read_queries(h.clone());
                wm.run_segment(st, queries, h.clone(), trace.as_mut())
            });

        // Retrieve: every token reads long-term memory as it stood when the segment began.
        let retrieved = self.retrieve(state.long_term.as_ref(), &h, trace.as_mut());

        // Output: y = f_O(h, c), then the next-token head.
        let y = self.controller.output(
            h.clone(),
            (working.as_ref())
                .filter(|_| self.reads.working)
                .map(|w| w.read.clone()),
            (retrieved.as_ref())
                .filter(|_| self.reads.long_term)
                .map(|r| r.context.clone()),
        );
        let logits = self.lm_head.forward(y.clone());

        // Transfer: at the segment's end slots move from working to long-term memory (§2.1.3).
        let long_term_read = retrieved.clone();
        let (long_term, transfer) = self.transfer(
            state.long_term,
            working.as_ref(),
            retrieved,
            &h,
            options.sample,
            trace.as_mut(),
        );

        let aux = AuxLosses::of(working.as_ref(), transfer.as_ref(), &device);
        let working = working.map(|w| w.state);
        let stats = MemoryStats::of(
            working.as_ref(),
            long_term.as_ref(),
            aux.read_entropy.clone(),
            aux.pressure.clone(),
            &device,
        );
        if let (Some(tr), Some(lst)) = (trace.as_mut(), &long_term) {
            tr.record_levels(lst.fill(), lst.spans());
        }
        let out = SegmentOutput {
            logits,
            hidden: y,
            aux,
            stats,
            trace,
            decision: transfer.and_then(|t| t.decision),
            long_term_read,
        };
        let state = DmnState {
            encoder,
            working,
            long_term,
            segments: state.segments + 1,
        };
        (out, state)
    }

    /// Long-term retrieval for the segment's encoder states `h` `[B, L, D]`, when the model
    /// has a long-term memory.
    fn retrieve(
        &self,
        state: Option<&LongTermMemoryState>,
        h: &Tensor<3>,
        trace: Option<&mut SegmentTrace>,
    ) -> Option<LongTermRead> {
        let (ltm, state) = self.long_term_memory.as_ref().zip(state)?;
        let read = ltm.read(state, self.controller.ltm_query(h.clone()));
        if let Some(trace) = trace {
            trace.record_retrieval(read.weights.clone());
        }
        Some(read)
    }

    /// The segment-end transfer from the working memory a segment left into long-term memory;
    /// returns long-term memory after it (unchanged without a transfer).
    fn transfer(
        &self,
        state: Option<LongTermMemoryState>,
        working: Option<&SegmentRun>,
        retrieved: Option<LongTermRead>,
        h: &Tensor<3>,
        sample: bool,
        trace: Option<&mut SegmentTrace>,
    ) -> (Option<LongTermMemoryState>, Option<TransferOutcome>) {
        let (Some(ltm), Some(working), Some(retrieved)) =
            (&self.long_term_memory, working, retrieved)
        else {
            return (state, None);
        };
        let Some(lst) = state else {
            return (None, None);
        };
        let [b, _, d] = h.dims();
        let inputs = TransferInputs {
            slots: working.state.slots.clone(),
            usage: working.state.usage.clone(),
            written: working.written.clone(),
            h_mean: h.clone().mean_dim(1).reshape([b, d]),
            ltm_summary: retrieved.summary,
        };
        let (next, outcome) = self
            .transfer_rule
            .apply(ltm, &self.controller, lst, inputs, sample);
        if let Some(trace) = trace {
            trace.record_transfer(outcome.importance.clone(), &outcome.transfer);
        }
        (Some(next), Some(outcome))
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
pub(crate) mod tests {
    use super::*;
    use crate::config::EncoderKind;
    use burn::tensor::{Distribution, Tolerance};

    /// `[B, L]` random tokens below `vocab`.
    pub(crate) fn tokens(b: usize, l: usize, vocab: usize, device: &Device) -> Tensor<2, Int> {
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
            let transfer = trace.transfer.unwrap();
            assert_eq!(transfer.slots.len(), 2);
            // Kept latent widths, one per moved slot, within the compressor's latent width.
            let z = config.ltm_latent_dim as f32;
            assert_eq!(transfer.width.len(), 2);
            assert!(
                transfer.width.iter().all(|w| (0.0..=z).contains(w)),
                "{transfer:?}"
            );
            assert_eq!(trace.level_fill, vec![1.0, 0.0, 0.0, 0.0, 0.0]);
        }
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

    /// Summed |gradient| of a parameter, 0 when it got none.
    fn grad_mass<const D: usize>(
        grads: &burn::optim::GradientsParams,
        id: burn::module::ParamId,
    ) -> f32 {
        grads
            .get::<D>(id)
            .map_or(0.0, |g| g.abs().sum().into_scalar::<f32>())
    }

    #[test]
    fn a_loss_segments_later_reaches_write_gate_importance_and_level_biases() {
        // Three segments of 16 tokens (levels 0 and 1 hold entries after them, so the level
        // biases do not cancel), the loss on a fourth of 8: within the last segment no token
        // reads a write of its own (updates come every 8 tokens) and its transfer comes after
        // every read, so write gate and importance learn only through the memories carried
        // from earlier segments. Cut at every boundary they get nothing.
        use burn::optim::GradientsParams;
        let device = Device::flex().autodiff();
        let model = DmnConfig::tiny(20)
            .with_segment_len(16)
            .init(&device)
            .unwrap();
        let inputs: Vec<_> = (0..3).map(|_| tokens(2, 16, 20, &device)).collect();
        let last = tokens(2, 8, 20, &device);
        let masses = |keep_graph: bool| {
            let mut state = model.init_state(2, &device);
            for x in &inputs {
                let (_, next) = model.forward_segment(state, x.clone(), ForwardOptions::default());
                state = if keep_graph {
                    next.detach_encoder()
                } else {
                    next.detach()
                };
            }
            let (out, _) = model.forward_segment(state, last.clone(), ForwardOptions::default());
            let grads = GradientsParams::from_grads(out.logits.sum().backward(), &model);
            let wm = model.working_memory.as_ref().unwrap();
            let ltm = model.long_term_memory.as_ref().unwrap();
            [
                grad_mass::<2>(&grads, wm.write_gate.weight.id),
                grad_mass::<2>(&grads, model.controller.importance_out.weight.id),
                grad_mass::<1>(&grads, ltm.level_bias.id),
            ]
        };
        let [gate, importance, bias] = masses(true);
        assert!(gate > 0.0, "write gate got no gradient across segments");
        assert!(
            importance > 0.0,
            "importance got no gradient across segments"
        );
        assert!(bias > 0.0, "level biases got no gradient");
        let [gate, importance, _] = masses(false);
        assert_eq!((gate, importance), (0.0, 0.0), "cut at every boundary");
    }

    #[test]
    fn hindsight_importance_trains_the_importance_head_and_nothing_the_slots_came_from() {
        use crate::loss::hindsight_importance;
        use burn::optim::GradientsParams;
        let device = Device::flex().autodiff();
        let mut weights = crate::LossWeights::new();
        weights.importance = 0.5;
        let model = DmnConfig::tiny(20)
            .with_segment_len(16)
            .with_loss_weights(weights)
            .init(&device)
            .unwrap();
        let mut state = model.init_state(2, &device);
        for _ in 0..3 {
            let x = tokens(2, 16, 20, &device);
            let (_, next) = model.forward_segment(state, x, ForwardOptions::default());
            state = next.detach_encoder();
        }
        let (out, _) =
            model.forward_segment(state, tokens(2, 8, 20, &device), ForwardOptions::default());
        let read = out
            .long_term_read
            .expect("the model has a long-term memory");
        let loss = hindsight_importance(&read, Tensor::ones([2, 8], &device));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let wm = model.working_memory.as_ref().unwrap();
        assert!(grad_mass::<2>(&grads, model.controller.importance_out.weight.id) > 0.0);
        assert_eq!(grad_mass::<2>(&grads, wm.write_gate.weight.id), 0.0);
        assert_eq!(grad_mass::<2>(&grads, model.embedding.weight.id), 0.0);
    }

    #[test]
    fn a_rows_outputs_do_not_depend_on_the_other_rows() {
        let device = Device::flex();
        let model = DmnConfig::tiny(20)
            .with_segment_len(16)
            .init(&device)
            .unwrap();
        let x = tokens(4, 160, 20, &device);
        let together = model.forward(x.clone());
        for r in 0..4 {
            let alone = model.forward(x.clone().narrow(0, r, 1));
            let diff = (together.clone().narrow(0, r, 1) - alone)
                .abs()
                .max()
                .into_scalar::<f32>();
            assert!(diff < 1e-4, "row {r} differs by {diff}");
        }
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
    fn a_memory_the_output_does_not_read_cannot_change_it() {
        // Two states with the same (empty) encoder state: one fresh, one whose memories hold
        // three segments of other tokens. A memory that is read makes the outputs differ;
        // unread, what it holds cannot matter.
        let device = Device::flex();
        let model = DmnConfig::tiny(20)
            .with_segment_len(16)
            .init(&device)
            .unwrap();
        let fresh = model.init_state(2, &device);
        let mut full = model.init_state(2, &device);
        for _ in 0..3 {
            let x = tokens(2, 16, 20, &device);
            full = model.forward_segment(full, x, ForwardOptions::default()).1;
        }
        let x = tokens(2, 16, 20, &device);
        // Whether the output is the same from the fresh and the full state when only the
        // memories named vary between them.
        let same = |model: &Dmn, vary_working: bool, vary_long_term: bool| {
            let with = |s: &DmnState| DmnState {
                encoder: fresh.encoder.clone(),
                working: if vary_working { s } else { &full }.working.clone(),
                long_term: if vary_long_term { s } else { &full }.long_term.clone(),
                segments: 3,
            };
            let logits = |s| {
                let out = model.forward_segment(s, x.clone(), ForwardOptions::default());
                out.0.logits.into_data().try_to_vec::<f32>().unwrap()
            };
            logits(with(&fresh)) == logits(with(&full))
        };
        let ablate =
            |working, long_term| model.clone().with_reads(MemoryReads { working, long_term });
        // Read, a memory's contents change the output.
        assert!(!same(&model, true, false), "working memory is read");
        assert!(!same(&model, false, true), "long-term memory is read");
        // Unread, they do not.
        assert!(same(&ablate(false, true), true, false));
        assert!(same(&ablate(true, false), false, true));
        assert!(same(&ablate(false, false), true, true));
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
