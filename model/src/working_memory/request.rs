//! What the heads ask to write, for every update of a segment at once.
//!
//! A request depends only on the tokens of its own update (the decay apart, which reads the
//! slots as they stand), so the requests of all a segment's updates come from one pass: each
//! layer launches once per segment instead of once per update (12 times on the tiny preset).

use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, sigmoid, softmax, softplus};

use super::groups::Groups;
use super::{WorkingMemory, WorkingMemoryState, hard_gate};
use crate::config::WriteRule;
use crate::ops::PackedWriteRequest;

/// The write requests of `U` updates of `B` rows each, packed as the write kernel reads them
/// ([`PackedWriteRequest`]): update `u` in rows `u·B..(u + 1)·B`, so it takes two slices.
pub(super) struct Requests {
    /// `B`, rows per update.
    rows: usize,
    /// `key ‖ erase ‖ add`, `[U·B, H, 3d]`
    heads: Tensor<3>,
    /// `β, g, α`, `[U·B, H, 3]`
    gates: Tensor<3>,
}

impl Requests {
    /// Update `u`'s request, with the decay of the slots it writes into, `[B, K]`.
    pub(super) fn update(&self, u: usize, decay: Tensor<2>) -> PackedWriteRequest {
        let (start, rows) = (u * self.rows, self.rows);
        PackedWriteRequest {
            heads: self.heads.clone().narrow(0, start, rows),
            gates: self.gates.clone().narrow(0, start, rows),
            decay,
        }
    }

    /// Every update's write gates, `[U·B, H]`.
    fn write_gates(&self) -> Tensor<2> {
        let [n, h, _] = self.gates.dims();
        self.gates.clone().narrow(2, 1, 1).reshape([n, h])
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
    pub(super) fn update(&self, u: usize, decay: Tensor<2>) -> PackedWriteRequest {
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
            .map(Requests::write_gates)
            .collect();
        Tensor::cat(gates, 0)
    }
}

impl WorkingMemory {
    /// The requests of every update of a segment, from its tokens `h`, `[B, L, d]`.
    pub(super) fn segment_requests(&self, h: Tensor<3>) -> SegmentRequests {
        let [b, _, _] = h.dims();
        let groups = Groups::new(h, self.update_interval);
        SegmentRequests {
            whole: groups.whole(),
            full: groups.full.map(|g| self.requests(g, b)),
            last: groups.last.map(|g| self.requests(g, b)),
        }
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
        let key = self.key.forward(summary.clone());
        let strength = softplus(scalar(&self.strength), 1.0) + 1.0;
        let write_gate = hard_gate(scalar(&self.write_gate), self.gate_cut);
        let alloc_gate = sigmoid(scalar(&self.alloc_gate));
        Requests {
            rows,
            heads: Tensor::cat(vec![key, erase, add], 2),
            gates: Tensor::stack(vec![strength, write_gate, alloc_gate], 2),
        }
    }

    /// How much each slot keeps of itself at the next write, `[B, K]`.
    pub(super) fn decay(&self, state: &WorkingMemoryState) -> Tensor<2> {
        let [b, k, _] = state.slots.dims();
        sigmoid(self.decay.forward(state.slots.clone())).reshape([b, k])
    }
}
