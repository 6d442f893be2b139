//! What the heads ask to write, for every update of a segment at once.
//!
//! A request depends only on the tokens of its own update (the decay apart, which reads the
//! slots as they stand), so the requests of all a segment's updates come from one pass: each
//! layer launches once per segment instead of once per update (12 times on the tiny preset).

use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, sigmoid, softmax, softplus};

use super::{WorkingMemory, WorkingMemoryState, hard_gate};
use crate::config::WriteRule;
use crate::ops::WriteRequest;

/// The write requests of `U` updates of `B` rows each: every field `[U·B, …]`, update `u` in
/// rows `u·B..(u + 1)·B`.
pub(super) struct Requests {
    /// `B`, rows per update.
    rows: usize,
    /// `[U·B, H, d]`
    key: Tensor<3>,
    /// `[U·B, H]`
    strength: Tensor<2>,
    /// `[U·B, H, d]`
    erase: Tensor<3>,
    /// `[U·B, H, d]`
    pub(super) add: Tensor<3>,
    /// `[U·B, H]`
    pub(super) write_gate: Tensor<2>,
    /// `[U·B, H]`
    alloc_gate: Tensor<2>,
}

impl Requests {
    /// Update `u`'s request, with the decay of the slots it writes into, `[B, K]`.
    pub(super) fn update(&self, u: usize, decay: Tensor<2>) -> WriteRequest {
        let (start, rows) = (u * self.rows, self.rows);
        WriteRequest {
            key: self.key.clone().narrow(0, start, rows),
            strength: self.strength.clone().narrow(0, start, rows),
            erase: self.erase.clone().narrow(0, start, rows),
            add: self.add.clone().narrow(0, start, rows),
            write_gate: self.write_gate.clone().narrow(0, start, rows),
            alloc_gate: self.alloc_gate.clone().narrow(0, start, rows),
            decay,
        }
    }
}

/// The requests of a segment's updates: those of `update_interval` tokens from one pass, the
/// shorter last one (if any) from another.
pub(super) struct SegmentRequests {
    /// Updates of `update_interval` tokens.
    whole: usize,
    full: Option<Requests>,
    last: Option<Requests>,
}

impl SegmentRequests {
    /// Update `u`'s request, with the decay of the slots it writes into, `[B, K]`.
    pub(super) fn update(&self, u: usize, decay: Tensor<2>) -> WriteRequest {
        match (&self.full, &self.last) {
            (Some(full), _) if u < self.whole => full.update(u, decay),
            (_, Some(last)) if u == self.whole => last.update(0, decay),
            _ => panic!("update {u} is past the segment's last"),
        }
    }

    /// Every update's write gates, `[updates·B, H]`.
    pub(super) fn write_gates(&self) -> Tensor<2> {
        let gates = [&self.full, &self.last]
            .into_iter()
            .flatten()
            .map(|r| r.write_gate.clone())
            .collect();
        Tensor::cat(gates, 0)
    }
}

impl WorkingMemory {
    /// The requests of every update of a segment, from its tokens `h`, `[B, L, d]`.
    pub(super) fn segment_requests(&self, h: Tensor<3>) -> SegmentRequests {
        let [b, l, d] = h.dims();
        let interval = self.update_interval;
        let (whole, rest) = (l / interval, l % interval);
        let full = (whole > 0).then(|| {
            // [B, U·T, d] → [U·B, T, d]: update `u`'s tokens in rows `u·B..(u + 1)·B`.
            let groups = h
                .clone()
                .narrow(1, 0, whole * interval)
                .reshape([b, whole, interval, d])
                .swap_dims(0, 1)
                .reshape([whole * b, interval, d]);
            self.requests(groups, b)
        });
        let last = (rest > 0).then(|| self.requests(h.narrow(1, whole * interval, rest), b));
        SegmentRequests { whole, full, last }
    }

    /// What the heads ask to write from each group of tokens: each head pools the group into a
    /// summary, from which come its key, gates, erase and candidate.
    ///
    /// # Shapes
    /// - groups: `[U·B, T, d]`, update `u`'s tokens in rows `u·B..(u + 1)·B` → [`Requests`]
    pub(super) fn requests(&self, groups: Tensor<3>, rows: usize) -> Requests {
        let [n, _, _] = groups.dims();
        let hh = self.heads;
        // Attention pooling per head: [N, T, H] → softmax over T → summary [N, H, d].
        let pool = softmax(self.pool.forward(groups.clone()), 1);
        let summary = pool.swap_dims(1, 2).matmul(groups);
        let scalar = |l: &Linear| l.forward(summary.clone()).reshape([n, hh]);
        let erase = match self.write_rule {
            WriteRule::Additive => sigmoid(self.erase.forward(summary.clone())),
            WriteRule::Replace => summary.ones_like(),
        };
        let add = self
            .candidate_out
            .forward(gelu(self.candidate_in.forward(summary.clone())));
        Requests {
            rows,
            key: self.key.forward(summary.clone()),
            strength: softplus(scalar(&self.strength), 1.0) + 1.0,
            erase,
            add,
            write_gate: hard_gate(scalar(&self.write_gate), self.gate_cut),
            alloc_gate: sigmoid(scalar(&self.alloc_gate)),
        }
    }

    /// How much each slot keeps of itself at the next write, `[B, K]`.
    pub(super) fn decay(&self, state: &WorkingMemoryState) -> Tensor<2> {
        let [b, k, _] = state.slots.dims();
        sigmoid(self.decay.forward(state.slots.clone())).reshape([b, k])
    }
}
