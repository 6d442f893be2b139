//! The working memory `W ∈ R^{K×d}` (§2.1.2): a slot memory written by `H` heads at every memory
//! update and read by every token (seed 002's multi-head bank with age and usage buffers).
//!
//! A write summarizes the tokens since the previous update by attention pooling (one pooling per
//! head, so heads can pick different tokens), then derives key, erase, candidate and gates from
//! that summary and calls [`crate::ops::memory_write`]. The candidate passes a narrow MLP, the "semantic
//! bottleneck" that keeps noise out of the slots. What a write asks for depends only on its own
//! tokens, so a segment computes the requests of all its updates in one pass ([`request`]);
//! the reads and writes themselves go one update after the other.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

use crate::config::WriteRule;
use crate::controller::ReadQueries;
use crate::memory_stats::{entropy, max_entropy};
use crate::ops::{MemoryRead, MemoryWrite, PackedWriteRequest, auto};
use crate::state_map::{Detach, Name, TensorMap};
use crate::trace::SegmentTrace;
use groups::Groups;

mod groups;
mod request;

/// Configuration of the [`WorkingMemory`].
#[derive(Config, Debug)]
pub struct WorkingMemoryConfig {
    /// Slot width `d` (= model width).
    pub d_model: usize,
    /// Slots `K`.
    pub slots: usize,
    /// Write heads `H`.
    pub heads: usize,
    /// Slots addressed per head.
    pub top_k: usize,
    /// Width of the candidate MLP's bottleneck.
    pub bottleneck: usize,
    /// Per-update usage decay.
    pub usage_decay: f64,
    /// Tokens between memory updates (see [`WorkingMemory::run_segment`]).
    #[config(default = 8)]
    pub update_interval: usize,
    /// Write gates below this are cut to exactly 0 ([`hard_gate`]).
    #[config(default = "GATE_CUT")]
    pub gate_cut: f64,
    /// How a write mixes its candidate into a slot.
    #[config(default = "WriteRule::Additive")]
    pub write_rule: WriteRule,
    /// Run reads and writes as WGSL kernels on wgpu devices.
    #[config(default = true)]
    pub kernels: bool,
}

/// Write-side parameters of the working memory (reads are projected by the controller).
#[derive(Module, Debug)]
pub struct WorkingMemory {
    /// `D → H`: per-head pooling scores over the tokens of one update.
    pool: Linear,
    /// `D → D`
    key: Linear,
    /// `D → 1`, β = 1 + softplus.
    strength: Linear,
    /// `D → D`, σ.
    erase: Linear,
    /// `D → bottleneck`, then `bottleneck → D`: the candidate `MLP_W(h_t)`.
    candidate_in: Linear,
    candidate_out: Linear,
    /// `D → 1`: write gate g ([`hard_gate`]).
    pub(crate) write_gate: Linear,
    /// `D → 1`, σ: allocation gate α.
    alloc_gate: Linear,
    /// `D → 1` on each slot, σ: slot-wise decay f (bias starts very negative: forget slowly).
    decay: Linear,
    slots: usize,
    heads: usize,
    top_k: usize,
    usage_decay: f64,
    update_interval: usize,
    gate_cut: f64,
    #[module(skip)]
    write_rule: WriteRule,
    kernels: bool,
}

/// The memory contents carried across updates and segments.
#[derive(Debug, Clone)]
pub struct WorkingMemoryState {
    /// `[B, K, d]`
    pub slots: Tensor<3>,
    /// `[B, K]`: updates since the slot was last overwritten.
    pub age: Tensor<2>,
    /// `[B, K]`: decayed count of reads and writes (orders LRU allocation).
    pub usage: Tensor<2>,
    /// `[B, K]`: gate of the strongest write a slot still holds; weaker writes cannot touch it
    /// ([`crate::ops::memory_write`]).
    pub hold: Tensor<2>,
}

/// What the working memory did over one segment ([`WorkingMemory::run_segment`]).
#[derive(Debug, Clone)]
pub struct SegmentRun {
    /// What every token read, its heads side by side, `[B, L, H·d]`.
    pub read: Tensor<3>,
    /// The memory after the segment's last update.
    pub state: WorkingMemoryState,
    /// Write mass each slot took over the segment, summed over heads and updates, `[B, K]`
    /// (detached). Exactly 0 on a slot that no update touched: that slot is bit-identical to
    /// what it was when the segment began.
    pub written: Tensor<2>,
    /// Entropy of the segment's mean write distribution over slots, divided by ln K, `[1]`.
    pub utilization: Tensor<1>,
    /// Mean write-gate activity, `[1]`.
    pub pressure: Tensor<1>,
    /// Mean entropy of the read distributions (nats), `[1]`.
    pub read_entropy: Tensor<1>,
}

impl From<MemoryWrite> for WorkingMemoryState {
    fn from(written: MemoryWrite) -> Self {
        Self {
            slots: written.slots,
            age: written.age,
            usage: written.usage,
            hold: written.hold,
        }
    }
}

impl WorkingMemoryState {
    /// Cuts the autodiff graph at a segment boundary.
    pub fn detach(self) -> Self {
        self.map_tensors(Name::ROOT, &mut Detach)
    }

    /// Applies `f` to each tensor (see [`TensorMap`]).
    pub fn map_tensors(self, prefix: Name<'_>, f: &mut impl TensorMap) -> Self {
        Self {
            slots: f.map(prefix.field("slots"), self.slots),
            age: f.map(prefix.field("age"), self.age),
            usage: f.map(prefix.field("usage"), self.usage),
            hold: f.map(prefix.field("hold"), self.hold),
        }
    }
}

/// The mean over updates of each update's mean read entropy, from every update's read weights
/// `[B, R, K]`, of which the first `whole` have the same shape (a shorter last one counts as
/// much as a whole one).
fn mean_read_entropy(mut weights: Vec<Tensor<3>>, whole: usize) -> Tensor<1> {
    let updates = weights.len() as f64;
    let shorter = weights.split_off(whole);
    let whole_sum = (whole > 0).then(|| entropy(Tensor::cat(weights, 1)).mean() * whole as f64);
    whole_sum
        .into_iter()
        .chain(shorter.into_iter().map(|w| entropy(w).mean()))
        .reduce(|a, b| a + b)
        .expect("a segment has at least one update")
        / updates
}

/// The write gate `g = σ(z)` cut to exactly 0 below `cut`: an update that decides not to
/// write leaves every slot bit-identical ([`crate::ops::memory_write`]), however many such updates
/// pass. The cut is straight-through: the gradient is σ's everywhere, so a closed gate still
/// learns when it should have opened, and above the cut the gate trains as a plain sigmoid.
///
/// By default training and inference cut alike (`wm_gate_cut`). Weak writes cannot touch a
/// slot that a stronger write filled (`hold` in [`crate::ops::memory_write`]), but they still
/// fill the other slots, which a question may then read. Measured on the 4-token passkey
/// (seed 1, trained at 128 tokens with the cut at 0.05): noise was written at 1,235–1,244 of
/// 1,248 updates over 10K tokens, gated at 0.18 at most against 0.99 for the passkey, and the
/// passkey's slots were never touched, yet exact match fell from 1.000 at 1K to 0.898 at 10K;
/// the same weights cut at 0.3 (`dmn eval --gate-cut`) write nothing over the noise and say
/// the passkey back in 0.988 of sequences at 1K and 10K, 0.969 at 100K and 1.000 at 1M.
/// Which cut suits a model depends on where its gates fall: seed 0's noise gates reach 0.6,
/// and a needle model trained at ≤ 256 tokens recalled 1.00 at 300, 1K, 10K and 100K tokens
/// with one cut, and 0.88 / 0.75 / 0.75 / 0.69 cut at 0.4 at inference. Training with the
/// higher cut does not teach the gates to skip noise: they settle above it.
pub fn hard_gate(logit: Tensor<2>, cut: f64) -> Tensor<2> {
    let soft = sigmoid(logit);
    let open = soft.clone().greater_equal_elem(cut).float();
    // soft + (soft·open − soft) is exactly soft·open in floating point: x + (−x) = 0, x + 0 = x.
    soft.clone() + (soft.clone() * open - soft).detach()
}

/// The cut a model trains and runs with unless its config says otherwise ([`hard_gate`]).
pub const GATE_CUT: f64 = 0.05;

/// The cuts a write gate can have: a sigmoid never reaches 1, so a cut of 1 or more would shut
/// every gate.
pub const GATE_CUTS: std::ops::Range<f64> = 0.0..1.0;

fn gate_bias(mut layer: Linear, value: f32, device: &Device) -> Linear {
    let [_, out] = layer.weight.dims();
    layer.bias = Some(burn::module::Param::from_tensor(Tensor::full(
        [out],
        value,
        device,
    )));
    layer
}

impl WorkingMemoryConfig {
    /// Initializes the write heads.
    pub fn init(&self, device: &Device) -> WorkingMemory {
        let d = self.d_model;
        WorkingMemory {
            pool: LinearConfig::new(d, self.heads).init(device),
            key: LinearConfig::new(d, d).init(device),
            strength: LinearConfig::new(d, 1).init(device),
            erase: LinearConfig::new(d, d).init(device),
            candidate_in: LinearConfig::new(d, self.bottleneck).init(device),
            candidate_out: LinearConfig::new(self.bottleneck, d).init(device),
            // Open at first (g ≈ 0.73), far from the floor where gates are cut to 0: the model
            // learns what to write before it learns what to skip.
            write_gate: gate_bias(LinearConfig::new(d, 1).init(device), 1.0, device),
            // New content goes to stale slots by default; the model learns when to update in place.
            alloc_gate: gate_bias(LinearConfig::new(d, 1).init(device), 1.0, device),
            decay: gate_bias(LinearConfig::new(d, 1).init(device), -6.0, device),
            slots: self.slots,
            heads: self.heads,
            top_k: self.top_k,
            usage_decay: self.usage_decay,
            update_interval: self.update_interval,
            gate_cut: self.gate_cut,
            write_rule: self.write_rule,
            kernels: self.kernels,
        }
    }
}

impl WorkingMemory {
    /// The same memory with its write gates cut below `cut` ([`hard_gate`]).
    pub fn with_gate_cut(self, cut: f64) -> Self {
        Self {
            gate_cut: cut,
            ..self
        }
    }

    /// The same memory writing by `rule` ([`WriteRule`]).
    pub fn with_write_rule(self, rule: WriteRule) -> Self {
        Self {
            write_rule: rule,
            ..self
        }
    }

    /// Slots `K`.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Heads `H`.
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// Slots addressed per head.
    pub fn top_k(&self) -> usize {
        self.top_k
    }

    /// Tokens between memory updates.
    pub fn update_interval(&self) -> usize {
        self.update_interval
    }

    /// An empty memory: zero slots (they score 0 against every key), age, usage and hold 0.
    pub fn init_state(&self, batch: usize, d_model: usize, device: &Device) -> WorkingMemoryState {
        WorkingMemoryState {
            slots: Tensor::zeros([batch, self.slots, d_model], device),
            age: Tensor::zeros([batch, self.slots], device),
            usage: Tensor::zeros([batch, self.slots], device),
            hold: Tensor::zeros([batch, self.slots], device),
        }
    }

    /// Reads for `R` queries and counts the reads into usage.
    ///
    /// # Shapes
    /// - query: `[B, R, d]`, strength: `[B, R]` → read `[B, R, d]`, weights `[B, R, K]`
    pub fn read(
        &self,
        state: WorkingMemoryState,
        query: Tensor<3>,
        strength: Tensor<2>,
    ) -> (MemoryRead, WorkingMemoryState) {
        let [b, r, _] = query.dims();
        let out = auto::memory_read(
            self.kernels,
            query,
            strength,
            state.slots.clone(),
            self.top_k,
        );
        // Usage grows by the read mass per token (summed over heads), so a slot read by every
        // token of an update counts like a slot written once.
        let tokens = (r / self.heads).max(1) as f64;
        let read_mass = out
            .weights
            .clone()
            .detach()
            .sum_dim(1)
            .reshape([b, self.slots])
            / tokens;
        let usage = state.usage + read_mass;
        (out, WorkingMemoryState { usage, ..state })
    }

    /// Runs one segment through the memory: its tokens come in groups of `update_interval`;
    /// each group first reads the memory as the previous updates left it (so no token reads
    /// what it wrote itself), then one update writes a summary of the group.
    ///
    /// # Shapes
    /// - queries: `[B, L, H, d]` and strengths `[B, L, H]`, h: `[B, L, d]` → read `[B, L, H·d]`
    pub fn run_segment(
        &self,
        mut state: WorkingMemoryState,
        queries: ReadQueries,
        h: Tensor<3>,
        mut trace: Option<&mut SegmentTrace>,
    ) -> SegmentRun {
        let [b, l, d] = h.dims();
        let (k, hh, interval) = (self.slots, self.heads, self.update_interval);
        let requests = self.segment_requests(h);
        let query = Groups::new(queries.query.reshape([b, l, hh * d]), interval);
        let strength = Groups::new(queries.strength, interval);
        let updates = l.div_ceil(interval);
        let mut reads = Vec::with_capacity(updates);
        let mut read_weights = Vec::with_capacity(updates);
        let mut write_weights = Vec::with_capacity(updates);
        for u in 0..updates {
            let t = interval.min(l - u * interval);
            let (read, after_read) = self.read(
                state,
                query.group(u).reshape([b, t * hh, d]),
                strength.group(u).reshape([b, t * hh]),
            );
            reads.push(read.read.reshape([b, t, hh * d]));
            let request = requests.update(u, self.decay(&after_read));
            let written = self.apply(after_read, request);
            if let Some(trace) = trace.as_deref_mut() {
                trace.record_update(&written, read.weights.clone());
            }
            read_weights.push(read.weights);
            write_weights.push(written.write_weights.clone());
            state = written.into();
        }
        // Statistics over all updates at once: every update's gates and write weights have the
        // same shape, so the mean over all of them is the mean of each update's mean.
        let write_mass = Tensor::cat(write_weights, 1).sum_dim(1).reshape([b, k]);
        let mean_write = write_mass.clone().sum_dim(0).reshape([k]);
        SegmentRun {
            read: Tensor::cat(reads, 1),
            state,
            utilization: entropy(mean_write) / max_entropy(k),
            pressure: requests.write_gates().mean(),
            read_entropy: mean_read_entropy(read_weights, l / interval),
            written: write_mass.detach(),
        }
    }

    /// One memory update from the tokens since the previous one.
    ///
    /// # Shapes
    /// - h: `[B, T, d]` → write weights `[B, H, K]` and write gates `[B, H]`
    pub fn write(&self, state: WorkingMemoryState, h: Tensor<3>) -> (MemoryWrite, Tensor<2>) {
        let [b, _, _] = h.dims();
        let request = self.requests(h, b).update(0, self.decay(&state));
        let write_gate = request.write_gate();
        (self.apply(state, request), write_gate)
    }

    /// Writes `request` into the memory.
    fn apply(&self, state: WorkingMemoryState, request: PackedWriteRequest) -> MemoryWrite {
        auto::memory_write(
            self.kernels,
            state.slots,
            state.age,
            state.usage,
            state.hold,
            request,
            self.top_k,
            self.usage_decay as f32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{WriteRequest, memory_write};
    use burn::tensor::{Distribution, Tolerance};

    fn memory(device: &Device) -> WorkingMemory {
        WorkingMemoryConfig::new(8, 4, 1, 1, 4, 0.5).init(device)
    }

    /// Drives `memory_write` directly with a forced allocation write of `v`.
    fn force_write(wm: &WorkingMemory, st: WorkingMemoryState, v: Tensor<3>) -> WorkingMemoryState {
        let device = v.device();
        let req = WriteRequest {
            key: v.clone(),
            strength: Tensor::ones([1, 1], &device),
            erase: Tensor::ones([1, 1, 8], &device),
            add: v,
            write_gate: Tensor::ones([1, 1], &device),
            alloc_gate: Tensor::ones([1, 1], &device),
            decay: Tensor::zeros([1, 4], &device),
        };
        let out = memory_write(
            st.slots,
            st.age,
            st.usage,
            st.hold,
            req,
            wm.top_k,
            wm.usage_decay as f32,
        );
        out.into()
    }

    #[test]
    fn written_vector_is_read_back_by_a_matching_key() {
        let device = Device::flex();
        let wm = memory(&device);
        let mut st = wm.init_state(1, 8, &device);
        let vs: Vec<Tensor<3>> = (0..3)
            .map(|_| Tensor::random([1, 1, 8], Distribution::Normal(0.0, 1.0), &device))
            .collect();
        for v in &vs {
            st = force_write(&wm, st, v.clone());
        }
        for v in &vs {
            let (r, _) = wm.read(st.clone(), v.clone(), Tensor::full([1, 1], 30.0, &device));
            r.read
                .into_data()
                .assert_approx_eq::<f32>(&v.to_data(), Tolerance::rel_abs(1e-3, 1e-3));
        }
    }

    #[test]
    fn when_full_the_least_recently_used_slot_is_overwritten() {
        let device = Device::flex();
        let wm = memory(&device);
        let mut st = wm.init_state(1, 8, &device);
        let vs: Vec<Tensor<3>> = (0..4)
            .map(|_| Tensor::random([1, 1, 8], Distribution::Normal(0.0, 1.0), &device))
            .collect();
        for v in &vs {
            st = force_write(&wm, st, v.clone());
        }
        // Slots 0..4 hold v0..v3; v0 is the oldest. Reading v0 makes v1 the least recently used.
        let (_, st) = wm.read(st, vs[0].clone(), Tensor::full([1, 1], 30.0, &device));
        let fresh = Tensor::<3>::random([1, 1, 8], Distribution::Normal(0.0, 1.0), &device);
        let st = force_write(&wm, st, fresh.clone());
        let slot = |i: usize| st.slots.clone().narrow(1, i, 1).into_data();
        slot(1).assert_approx_eq::<f32>(&fresh.to_data(), Tolerance::absolute(1e-5));
        slot(0).assert_approx_eq::<f32>(&vs[0].to_data(), Tolerance::absolute(1e-5));
        let age = st.age.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(
            age[1], 0.0,
            "an overwritten slot starts again at age 0: {age:?}"
        );
        assert_eq!(age[0], 4.0, "{age:?}");
    }

    #[test]
    fn the_gate_is_exactly_zero_below_its_cut_and_learns_through_it() {
        let device = Device::flex().autodiff();
        // σ(z) = 0.018, 0.12, 0.5, 0.88.
        let z = Tensor::<2>::from_floats([[-4.0, -2.0, 0.0, 2.0]], &device).require_grad();
        let want_open = [false, true, true, true];
        let g = hard_gate(z.clone(), GATE_CUT);
        let values = g.clone().into_data().try_to_vec::<f32>().unwrap();
        let soft = sigmoid(z.clone()).into_data().try_to_vec::<f32>().unwrap();
        for i in 0..4 {
            let want = if want_open[i] { soft[i] } else { 0.0 };
            assert_eq!(values[i].to_bits(), want.to_bits(), "z[{i}]");
        }
        // Straight-through: σ's gradient, σ(1 − σ), also where the gate is cut.
        let grad = z.grad(&g.sum().backward()).unwrap();
        let grad = grad.into_data().try_to_vec::<f32>().unwrap();
        for i in 0..4 {
            let want = soft[i] * (1.0 - soft[i]);
            assert!((grad[i] - want).abs() < 1e-6, "{grad:?}");
        }
    }

    #[test]
    fn the_configured_cut_decides_which_updates_write() {
        let device = Device::flex();
        let config = WorkingMemoryConfig::new(8, 6, 2, 3, 4, 0.9);
        let h = Tensor::<3>::random([2, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let state = |wm: &WorkingMemory| WorkingMemoryState {
            slots: Tensor::random([2, 6, 8], Distribution::Normal(0.0, 1.0), &device),
            ..wm.init_state(2, 8, &device)
        };
        // Gates start near σ(1) ≈ 0.73: open under the default cut, shut under a cut of 0.99.
        let wm = config.clone().with_gate_cut(0.99).init(&device);
        let before = state(&wm);
        let (out, g) = wm.write(before.clone(), h.clone());
        assert!(g.into_data().iter::<f32>().all(|x| x == 0.0));
        assert!(
            out.write_weights
                .into_data()
                .iter::<f32>()
                .all(|x| x == 0.0)
        );
        let bits = |t: Tensor<3>| -> Vec<u32> {
            let values = t.into_data().try_to_vec::<f32>().unwrap();
            values.into_iter().map(f32::to_bits).collect()
        };
        assert_eq!(bits(out.slots), bits(before.slots), "no slot changes");
        let wm = config.init(&device);
        let (_, g) = wm.write(state(&wm), h);
        assert!(
            g.into_data().iter::<f32>().all(|x| x > 0.5),
            "default cut {GATE_CUT}"
        );
    }

    /// Largest `|W_i| / max |a_i|` over the slots after `updates` writes of the same tokens from
    /// an empty memory, where `a` is the candidate, under `rule`. The erase is near 0.02, so
    /// additive writes keep almost all of what they add.
    fn reach_after_writes(rule: WriteRule, updates: usize) -> f32 {
        let device = Device::flex();
        let mut wm = WorkingMemoryConfig::new(8, 4, 1, 1, 4, 0.9)
            .with_gate_cut(0.0)
            .with_write_rule(rule)
            .init(&device);
        wm.erase = gate_bias(wm.erase, -4.0, &device);
        let h = Tensor::<3>::random([1, 3, 8], Distribution::Normal(0.0, 1.0), &device);
        let mut state = wm.init_state(1, 8, &device);
        let request = wm.requests(h.clone(), 1).update(0, wm.decay(&state));
        let candidate = request.unpack().add;
        let reach: f32 = candidate.abs().max().into_scalar();
        for _ in 0..updates {
            state = wm.write(state, h.clone()).0.into();
        }
        state.slots.abs().max().into_scalar::<f32>() / reach
    }

    #[test]
    fn replacing_writes_keep_each_channel_within_the_candidates() {
        // 500 writes of the same candidate: replacing ones never pass it, additive ones pile up
        // towards a / e.
        let replace = reach_after_writes(WriteRule::Replace, 500);
        assert!(replace <= 1.0 + 1e-5, "{replace}");
        assert!(replace > 0.1, "the slots were written: {replace}");
        let additive = reach_after_writes(WriteRule::Additive, 500);
        assert!(additive > 5.0, "{additive}");
    }

    /// A segment whose updates' requests come from one pass writes and reads what its updates
    /// do one at a time, a shorter last update included; its statistics average the updates.
    #[test]
    fn a_segment_runs_like_its_updates_one_by_one() {
        use crate::controller::ReadQueries;
        let device = Device::flex();
        let (b, l, d, hh, interval) = (2, 11, 8, 2, 4);
        let wm = WorkingMemoryConfig::new(d, 4, hh, 2, 4, 0.9)
            .with_update_interval(interval)
            .with_gate_cut(0.0)
            .init(&device);
        let normal = Distribution::Normal(0.0, 1.0);
        let h = Tensor::<3>::random([b, l, d], normal, &device);
        let queries = ReadQueries {
            query: Tensor::random([b, l, hh, d], normal, &device),
            strength: Tensor::random([b, l, hh], Distribution::Uniform(1.0, 3.0), &device),
        };
        let run = wm.run_segment(
            wm.init_state(b, d, &device),
            queries.clone(),
            h.clone(),
            None,
        );

        let mut state = wm.init_state(b, d, &device);
        let (mut reads, mut gates, mut entropies) = (Vec::new(), Vec::new(), Vec::new());
        for start in (0..l).step_by(interval) {
            let t = interval.min(l - start);
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
            let (read, after) = wm.read(state, q, s);
            reads.push(read.read.reshape([b, t, hh * d]));
            entropies.push(entropy(read.weights).mean());
            let (written, gate) = wm.write(after, h.clone().narrow(1, start, t));
            gates.push(gate.mean());
            state = written.into();
        }
        let close = |got: Tensor<3>, want: Tensor<3>| {
            got.into_data()
                .assert_approx_eq::<f32>(&want.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
        };
        close(run.state.slots, state.slots);
        close(run.read, Tensor::cat(reads, 1));
        let mean = |v: Vec<Tensor<1>>| Tensor::cat(v, 0).mean().reshape([1, 1, 1]);
        close(run.pressure.reshape([1, 1, 1]), mean(gates));
        close(run.read_entropy.reshape([1, 1, 1]), mean(entropies));
    }

    #[test]
    fn write_shapes() {
        let device = Device::flex();
        let wm = WorkingMemoryConfig::new(8, 6, 2, 3, 4, 0.9).init(&device);
        let st = wm.init_state(3, 8, &device);
        let h = Tensor::<3>::random([3, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let (out, g) = wm.write(st, h);
        assert_eq!(out.slots.dims(), [3, 6, 8]);
        assert_eq!(out.write_weights.dims(), [3, 2, 6]);
        assert_eq!(g.dims(), [3, 2]);
    }
}
