//! `memory_write`: the gated write/forget of the working memory (§2.1.2, §2.2.1; seed 002
//! "Learnable Read / Write Policies", "Age-based Forgetting (LRU Logic)").
//!
//! ```text
//! open  = hold ≤ max(max_h g_h, min_k hold_k)                           slots this update may write
//! w_h   = α_h · lru_h + (1 − α_h) · top_k_softmax(β_h cos(key_h, W) | open)   address of head h
//! ω_h   = g_h · w_h                                                     write weights
//! m     = clamp(Σ_h ω_h, 0, 1)                                          written mass per slot
//! keep  = (1 − f ⊙ m) ⊙ Π_h (1 − ω_h ⊗ e_h)                             forget: decay and erase
//! W'    = W ⊙ keep + Σ_h ω_h ⊗ a_h                                      W_t = W ⊙ (1 − f_t) + g_t ⊙ W̃_t
//! usage' = usage · (1 − (1 − λ) max_h g_h) + m
//! hold' = max(hold ⊙ (1 − m), max_h ω_h / max_k w_hk)
//! ```
//! `lru_h` is one-hot on the h-th least used open slot, so a write that does not match any
//! content goes to stale memory first. Age counts updates since a slot was last overwritten;
//! usage is a decayed count of reads and writes (reads add to it in [`crate::working_memory`]).
//! Age, usage, hold and the written mass `m` are statistics, not differentiable state.
//!
//! `hold` is the gate of the strongest write whose content a slot still holds, less what later
//! writes erased: a head's gate on the slot it addresses most, and proportionally less on the
//! slots it addresses less. A slot is open to an update only if no write of it was stronger
//! than the update's strongest gate: weak writes (the noise a model half-decides to store)
//! cannot evict or wear away what a strong write stored, however many of them pass and however
//! long ago the strong write was; usage only orders the open slots. The weakest-held slot is
//! always open, so a write has somewhere to go when everything is held.
//!
//! An update touches only the slots it writes: decay and erase act through `m` and `ω`, which are
//! 0 outside each head's top-k and least-used pick, and usage decays only when a head writes. With
//! every write gate at exactly 0 the update is an exact no-op on the slots, their usage and hold,
//! so what a slot holds does not fade with the number of updates that pass over it (the working
//! memory's gates can be exactly 0: [`crate::working_memory`]).

use burn::tensor::{Int, Tensor};

use super::{MASKED, cosine_scores, top_k_softmax};

/// What the write heads ask for, one row per head.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// Content key, `[B, H, d]`.
    pub key: Tensor<3>,
    /// Key strength β ≥ 1, `[B, H]`.
    pub strength: Tensor<2>,
    /// Erase factors in [0, 1], `[B, H, d]`.
    pub erase: Tensor<3>,
    /// Candidate content W̃ (the bottleneck MLP's output), `[B, H, d]`.
    pub add: Tensor<3>,
    /// Write gate g in [0, 1], `[B, H]`.
    pub write_gate: Tensor<2>,
    /// Allocation gate α in [0, 1] (1: least-used slot, 0: content address), `[B, H]`.
    pub alloc_gate: Tensor<2>,
    /// Slot-wise decay f in [0, 1], `[B, K]`.
    pub decay: Tensor<2>,
}

/// A [`WriteRequest`] as the write kernel reads it: per head `key ‖ erase ‖ add` and `β, g, α`
/// side by side. The working memory computes its requests in this form for all updates of a
/// segment at once, so an update takes two slices of them and packs nothing.
#[derive(Debug, Clone)]
pub struct PackedWriteRequest {
    /// `key ‖ erase ‖ add`, `[B, H, 3d]`.
    pub heads: Tensor<3>,
    /// `β, g, α`, `[B, H, 3]`.
    pub gates: Tensor<3>,
    /// Slot-wise decay f in [0, 1], `[B, K]`.
    pub decay: Tensor<2>,
}

impl From<WriteRequest> for PackedWriteRequest {
    fn from(request: WriteRequest) -> Self {
        let WriteRequest {
            key,
            strength,
            erase,
            add,
            write_gate,
            alloc_gate,
            decay,
        } = request;
        Self {
            heads: Tensor::cat(vec![key, erase, add], 2),
            gates: Tensor::stack(vec![strength, write_gate, alloc_gate], 2),
            decay,
        }
    }
}

impl PackedWriteRequest {
    /// Width `d` of a head's key.
    fn width(&self) -> usize {
        self.heads.dims()[2] / 3
    }

    /// Write gates g, `[B, H]`.
    pub fn write_gate(&self) -> Tensor<2> {
        self.gate(1)
    }

    fn gate(&self, i: usize) -> Tensor<2> {
        let [b, h, _] = self.gates.dims();
        self.gates.clone().narrow(2, i, 1).reshape([b, h])
    }

    fn head(&self, i: usize) -> Tensor<3> {
        let d = self.width();
        self.heads.clone().narrow(2, i * d, d)
    }

    /// The request field by field.
    pub fn unpack(self) -> WriteRequest {
        WriteRequest {
            key: self.head(0),
            strength: self.gate(0),
            erase: self.head(1),
            add: self.head(2),
            write_gate: self.gate(1),
            alloc_gate: self.gate(2),
            decay: self.decay,
        }
    }
}

/// The memory after a write.
#[derive(Debug, Clone)]
pub struct MemoryWrite {
    /// `[B, K, d]`
    pub slots: Tensor<3>,
    /// `[B, K]`, updates since last overwritten.
    pub age: Tensor<2>,
    /// `[B, K]`, decayed count of use.
    pub usage: Tensor<2>,
    /// `[B, K]`, gate of the strongest write each slot still holds.
    pub hold: Tensor<2>,
    /// ω, `[B, H, K]`.
    pub write_weights: Tensor<3>,
}

/// The slots this update may write, `[B, K]` (1 open, 0 closed): those whose `hold` is at most
/// the update's strongest write gate, and the weakest-held slot whatever its hold.
fn open_slots(hold: &Tensor<2>, write_gate: &Tensor<2>) -> Tensor<2> {
    let hold = hold.clone().detach();
    let strongest = write_gate.clone().detach().max_dim(1); // [B, 1]
    let weakest = hold.clone().min_dim(1);
    hold.lower_equal(strongest.max_pair(weakest)).float()
}

/// One-hot rows on the least used open slots: head `h` gets the `h`-th least used (ties to the
/// lower index, as the kernel breaks them), or the least used where fewer than `h + 1` slots are
/// open (heads then share it). Stays on the device (no readback, unlike a sort), so it works
/// unchanged in the browser.
fn least_used(usage: &Tensor<2>, open: &Tensor<2>, heads: usize) -> Tensor<3> {
    let [_, k] = usage.dims();
    let closed = open.clone().equal_elem(0.0);
    let ranked = usage
        .clone()
        .detach()
        .neg()
        .mask_fill(closed, f32::NEG_INFINITY);
    let (_, order) = super::sparse::top_k(ranked, heads, 1); // [B, H]
    let device = usage.device();
    let head = Tensor::<1, Int>::arange(0..heads as i64, &device).unsqueeze::<2>();
    let opened = open.clone().sum_dim(1).int(); // [B, 1]
    let rank = head.clone().mask_fill(head.greater_equal(opened), 0);
    order.gather(1, rank).one_hot::<3>(k).float()
}

/// Writes `H` heads into the slots and updates age, usage and hold.
///
/// # Shapes
/// - slots: `[B, K, d]`, age, usage, hold: `[B, K]`, request fields as documented on
///   [`WriteRequest`] (packed or not)
/// - returns slots `[B, K, d]`, age/usage/hold `[B, K]`, write_weights `[B, H, K]`
pub fn memory_write(
    slots: Tensor<3>,
    age: Tensor<2>,
    usage: Tensor<2>,
    hold: Tensor<2>,
    request: impl Into<PackedWriteRequest>,
    top_k: usize,
    usage_decay: f32,
) -> MemoryWrite {
    let request = request.into();
    assert_eq!(
        request.heads.dims()[2] % 3,
        0,
        "memory_write: heads must be [B, H, 3d]"
    );
    assert_eq!(
        request.gates.dims()[2],
        3,
        "memory_write: gates must be [B, H, 3]"
    );
    let request = request.unpack();
    let [b, k, d] = slots.dims();
    let [_, h, _] = request.key.dims();
    assert_eq!(
        request.key.dims(),
        [b, h, d],
        "memory_write: key must be [B, H, d]"
    );
    assert_eq!(
        request.erase.dims(),
        [b, h, d],
        "memory_write: erase must be [B, H, d]"
    );
    assert_eq!(
        request.add.dims(),
        [b, h, d],
        "memory_write: add must be [B, H, d]"
    );
    for (name, t) in [
        ("strength", &request.strength),
        ("write_gate", &request.write_gate),
        ("alloc_gate", &request.alloc_gate),
    ] {
        assert_eq!(t.dims(), [b, h], "memory_write: {name} must be [B, H]");
    }
    assert_eq!(
        request.decay.dims(),
        [b, k],
        "memory_write: decay must be [B, K]"
    );
    assert_eq!(age.dims(), [b, k], "memory_write: age must be [B, K]");
    assert_eq!(usage.dims(), [b, k], "memory_write: usage must be [B, K]");
    assert_eq!(hold.dims(), [b, k], "memory_write: hold must be [B, K]");

    let open = open_slots(&hold, &request.write_gate);
    let closed = open
        .clone()
        .equal_elem(0.0)
        .unsqueeze_dim::<3>(1)
        .expand([b, h, k]);
    let scores = cosine_scores(request.key, slots.clone()) * request.strength.unsqueeze_dim::<3>(2);
    let content = top_k_softmax(scores.mask_fill(closed, MASKED), top_k);
    let alpha = request.alloc_gate.unsqueeze_dim::<3>(2);
    let address = alpha.clone() * least_used(&usage, &open, h) + (alpha.neg() + 1.0) * content;
    // Whether any head writes, [B, 1]: usage decays only then.
    let active = request.write_gate.clone().detach().max_dim(1);
    let omega = request.write_gate.unsqueeze_dim::<3>(2) * address.clone(); // [B, H, K]
    let written = omega
        .clone()
        .detach()
        .sum_dim(1)
        .reshape([b, k])
        .clamp(0.0, 1.0);

    let mut keep = (request.decay * written.clone())
        .neg()
        .add_scalar(1.0)
        .unsqueeze_dim::<3>(2); // [B, K, 1]
    for head in 0..h {
        let w = omega.clone().narrow(1, head, 1).swap_dims(1, 2); // [B, K, 1]
        let e = request.erase.clone().narrow(1, head, 1); // [B, 1, d]
        keep = keep * (w * e).neg().add_scalar(1.0);
    }
    let slots = slots * keep + omega.clone().swap_dims(1, 2).matmul(request.add);

    let age = (age + 1.0) * (written.clone().neg() + 1.0);
    let usage = usage * (active * (usage_decay - 1.0)).add_scalar(1.0) + written.clone();
    let peak = address.detach().max_dim(2); // [B, H, 1], at least 1/K: the address sums to 1
    let strongest = (omega.clone().detach() / peak).max_dim(1).reshape([b, k]);
    let hold = (hold * (written.neg() + 1.0)).max_pair(strongest);
    MemoryWrite {
        slots,
        age,
        usage,
        hold,
        write_weights: omega,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData, Tolerance};

    fn request(key: Tensor<3>, add: Tensor<3>, alloc: f32, k: usize) -> WriteRequest {
        let [b, h, d] = key.dims();
        let device = key.device();
        WriteRequest {
            key,
            strength: Tensor::full([b, h], 20.0, &device),
            erase: Tensor::ones([b, h, d], &device),
            add,
            write_gate: Tensor::ones([b, h], &device),
            alloc_gate: Tensor::full([b, h], alloc, &device),
            decay: Tensor::zeros([b, k], &device),
        }
    }

    #[test]
    fn hand_computed_allocation_write() {
        // Two slots, slot 1 less used: an allocating write of [3, 4] lands in slot 1 exactly,
        // slot 0 is untouched, ages advance, usage decays and counts the write.
        let device = Device::flex();
        let slots = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 1.0, 0.0, 0.0], [1, 2, 2]),
            &device,
        );
        let age = Tensor::<2>::from_data(TensorData::new(vec![2.0f32, 7.0], [1, 2]), &device);
        let usage = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.5], [1, 2]), &device);
        let add = Tensor::<3>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 1, 2]), &device);
        let hold = Tensor::zeros([1, 2], &device);
        let request = request(add.clone(), add, 1.0, 2);
        let out = memory_write(slots, age, usage, hold, request, 1, 0.5);
        out.slots.into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![1.0f32, 1.0, 3.0, 4.0], [1, 2, 2]),
            Tolerance::absolute(1e-6),
        );
        out.age.into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![3.0f32, 0.0], [1, 2]),
            Tolerance::absolute(1e-6),
        );
        out.usage.into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![0.5f32, 1.25], [1, 2]),
            Tolerance::absolute(1e-6),
        );
    }

    #[test]
    fn content_write_updates_the_matching_slot() {
        let device = Device::flex();
        let slots = Tensor::<3>::random([1, 6, 8], Distribution::Normal(0.0, 1.0), &device);
        let key = slots.clone().narrow(1, 2, 1);
        let new = Tensor::<3>::random([1, 1, 8], Distribution::Normal(0.0, 1.0), &device);
        let out = memory_write(
            slots.clone(),
            Tensor::zeros([1, 6], &device),
            Tensor::zeros([1, 6], &device),
            Tensor::zeros([1, 6], &device),
            request(key, new.clone(), 0.0, 6),
            1,
            0.9,
        );
        out.slots
            .clone()
            .narrow(1, 2, 1)
            .into_data()
            .assert_approx_eq::<f32>(&new.into_data(), Tolerance::absolute(1e-4));
        out.slots
            .narrow(1, 0, 2)
            .into_data()
            .assert_approx_eq::<f32>(
                &slots.narrow(1, 0, 2).into_data(),
                Tolerance::absolute(1e-6),
            );
    }

    /// Bits of a tensor, for exact comparison.
    fn bits(t: Tensor<3>) -> Vec<u32> {
        t.into_data().iter::<f32>().map(f32::to_bits).collect()
    }

    #[test]
    fn a_closed_gate_leaves_slots_and_usage_bit_identical() {
        // 10^5 updates with random keys, erases, candidates, allocation and decay, every write
        // gate exactly 0: the slots and their usage never change by a single bit, while age
        // counts the updates (it is a statistic, not memory).
        let device = Device::flex();
        let (b, h, k, d) = (2, 2, 6, 4);
        let slots = Tensor::<3>::random([b, k, d], Distribution::Normal(0.0, 1.0), &device);
        let usage = Tensor::<2>::random([b, k], Distribution::Uniform(0.0, 3.0), &device);
        let (want_slots, want_usage) = (bits(slots.clone()), bits(usage.clone().unsqueeze()));
        let updates = 100_000;
        // 64 random requests, used in turn (drawing one per update would dominate the time).
        let uniform = |lo, hi| Distribution::Uniform(lo, hi);
        let requests: Vec<WriteRequest> = (0..64)
            .map(|_| WriteRequest {
                key: Tensor::random([b, h, d], Distribution::Normal(0.0, 1.0), &device),
                strength: Tensor::random([b, h], uniform(1.0, 6.0), &device),
                erase: Tensor::random([b, h, d], uniform(0.0, 1.0), &device),
                add: Tensor::random([b, h, d], Distribution::Normal(0.0, 1.0), &device),
                write_gate: Tensor::zeros([b, h], &device),
                alloc_gate: Tensor::random([b, h], uniform(0.0, 1.0), &device),
                decay: Tensor::random([b, k], uniform(0.0, 0.5), &device),
            })
            .collect();
        let hold = Tensor::<2>::random([b, k], Distribution::Uniform(0.0, 1.0), &device);
        let want_hold = bits(hold.clone().unsqueeze());
        let mut state = (slots, Tensor::<2>::zeros([b, k], &device), usage, hold);
        for update in 0..updates {
            let request = requests[update % requests.len()].clone();
            let out = memory_write(state.0, state.1, state.2, state.3, request, 2, 0.9);
            state = (out.slots, out.age, out.usage, out.hold);
        }
        assert_eq!(bits(state.0), want_slots, "slots changed");
        assert_eq!(bits(state.2.unsqueeze()), want_usage, "usage changed");
        assert_eq!(bits(state.3.unsqueeze()), want_hold, "hold changed");
        let age = state.1.into_data().try_to_vec::<f32>().unwrap();
        assert!(age.iter().all(|&a| a == updates as f32), "age {age:?}");
    }

    #[test]
    fn decay_and_erase_touch_only_written_slots() {
        // One head writes a content-addressed update with top-1: the matching slot is replaced,
        // every other slot is untouched although decay is 0.5 everywhere.
        let device = Device::flex();
        let slots = Tensor::<3>::random([1, 5, 8], Distribution::Normal(0.0, 1.0), &device);
        let key = slots.clone().narrow(1, 3, 1);
        let new = Tensor::<3>::random([1, 1, 8], Distribution::Normal(0.0, 1.0), &device);
        let mut req = request(key, new, 0.0, 5);
        req.decay = Tensor::full([1, 5], 0.5, &device);
        req.write_gate = Tensor::full([1, 1], 0.7, &device);
        let out = memory_write(
            slots.clone(),
            Tensor::zeros([1, 5], &device),
            Tensor::zeros([1, 5], &device),
            Tensor::zeros([1, 5], &device),
            req,
            1,
            0.9,
        );
        for i in [0, 1, 2, 4] {
            assert_eq!(
                bits(out.slots.clone().narrow(1, i, 1)),
                bits(slots.clone().narrow(1, i, 1)),
                "slot {i} was not written but changed"
            );
        }
    }

    #[test]
    fn heads_allocate_distinct_least_used_open_slots() {
        let device = Device::flex();
        let usage = Tensor::<2>::from_data(
            TensorData::new(vec![0.9f32, 0.1, 0.5, 0.0, 0.2, 0.3], [2, 3]),
            &device,
        );
        let one_hot = |open: Vec<f32>| {
            let open = Tensor::<2>::from_data(TensorData::new(open, [2, 3]), &device);
            least_used(&usage, &open, 2)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        // All open: the two least used of each row, head 0 first.
        let all = one_hot(vec![1.0; 6]);
        assert_eq!(&all[..6], [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(&all[6..], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        // Row 0: slot 1 closed; row 1: only slot 2 open, so both heads take it.
        let some = one_hot(vec![1.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        assert_eq!(&some[..6], [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(&some[6..], [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
    }

    /// One batch row of `k` random slots of width 8.
    fn random_slots(k: usize, device: &Device) -> Tensor<3> {
        Tensor::random([1, k, 8], Distribution::Normal(0.0, 1.0), device)
    }

    /// One head's allocating write (α = 1) at `gate` into three random slots of this hold and
    /// usage.
    fn allocating_write(
        hold: [f32; 3],
        usage: [f32; 3],
        gate: f32,
        device: &Device,
    ) -> MemoryWrite {
        let add = Tensor::<3>::random([1, 1, 8], Distribution::Normal(0.0, 1.0), device);
        let mut req = request(add.clone(), add, 1.0, 3);
        req.write_gate = Tensor::full([1, 1], gate, device);
        let hold = Tensor::<2>::from_floats([hold], device);
        let usage = Tensor::<2>::from_floats([usage], device);
        let age = Tensor::zeros([1, 3], device);
        memory_write(random_slots(3, device), age, usage, hold, req, 1, 0.9)
    }

    #[test]
    fn a_weaker_write_neither_evicts_nor_wears_a_stronger_one() {
        // Slot 0 holds a write of weight 0.9 and is the least used: an allocating write at gate
        // 0.5 goes to the least used open slot (2), and a content write whose key is slot 0's
        // own content cannot reach it either. Slot 0 stays bit-identical.
        let device = Device::flex();
        let slots = random_slots(4, &device);
        let hold = Tensor::<2>::from_floats([[0.9, 0.2, 0.3, 0.6]], &device);
        let usage = Tensor::<2>::from_floats([[0.0, 3.0, 1.0, 0.5]], &device);
        let own = slots.clone().narrow(1, 0, 1);
        let add = Tensor::<3>::random([1, 1, 8], Distribution::Normal(0.0, 1.0), &device);
        for alloc in [1.0, 0.0] {
            let mut req = request(own.clone(), add.clone(), alloc, 4);
            req.write_gate = Tensor::full([1, 1], 0.5, &device);
            let age = Tensor::zeros([1, 4], &device);
            let out = memory_write(slots.clone(), age, usage.clone(), hold.clone(), req, 2, 0.9);
            let omega = out.write_weights.into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(
                omega[0], 0.0,
                "alloc {alloc}: slot 0 was written: {omega:?}"
            );
            assert_eq!(
                omega[3], 0.0,
                "alloc {alloc}: slot 3 (hold 0.6) was written"
            );
            if alloc == 1.0 {
                assert_eq!(omega, [0.0, 0.0, 0.5, 0.0], "to the least used open slot");
            }
            assert_eq!(
                bits(out.slots.narrow(1, 0, 1)),
                bits(own.clone()),
                "alloc {alloc}: the held slot changed"
            );
            let hold = out.hold.into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(hold[0], 0.9, "alloc {alloc}: {hold:?}");
        }
    }

    #[test]
    fn a_stronger_write_may_evict_and_hold_follows_what_is_written() {
        // Gate 0.95 opens every slot; the allocating write lands in the least used one (0), whose
        // hold becomes the write's gate; a half-erased slot keeps half its hold.
        let device = Device::flex();
        let out = allocating_write([0.9, 0.8, 0.4], [0.0, 2.0, 1.0], 0.95, &device);
        out.hold.into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![0.95f32, 0.8, 0.4], [1, 3]),
            Tolerance::absolute(1e-6),
        );
        // Two heads at gate 0.25 each, both content-addressed onto open slot 1 of hold 0.4 …
        let hold = Tensor::<2>::from_floats([[0.9, 0.4, 0.9]], &device);
        let slots = Tensor::<3>::random([1, 3, 8], Distribution::Normal(0.0, 1.0), &device);
        let key = slots.clone().narrow(1, 1, 1).repeat_dim(1, 2);
        let add = Tensor::<3>::zeros([1, 2, 8], &device);
        let mut req = request(key, add, 0.0, 3);
        req.write_gate = Tensor::full([1, 2], 0.25, &device);
        let usage = Tensor::zeros([1, 3], &device);
        let out = memory_write(slots, usage.clone(), usage, hold, req, 1, 0.9);
        // … written mass 0.5: hold 0.4 · (1 − 0.5) = 0.2 is below the write's own 0.25.
        out.hold.into_data().assert_approx_eq::<f32>(
            &TensorData::new(vec![0.9f32, 0.25, 0.9], [1, 3]),
            Tolerance::absolute(1e-6),
        );
    }

    #[test]
    fn when_every_slot_is_held_the_weakest_is_written() {
        let device = Device::flex();
        let out = allocating_write([0.9, 0.7, 0.8], [0.0, 5.0, 1.0], 0.3, &device);
        let omega = out.write_weights.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(omega, [0.0, 0.3, 0.0]);
    }

    #[test]
    fn a_held_entry_survives_ten_thousand_weaker_writes() {
        // One strong write, then 10^4 updates of two heads at gates up to 0.6 with random keys
        // (some equal to the held content), erases, candidates, allocation and decay: the held
        // slot never changes by a bit while the other slots churn.
        let device = Device::flex();
        let (h, k, d) = (2, 6, 8);
        let uniform = |lo, hi| Distribution::Uniform(lo, hi);
        let normal = Distribution::Normal(0.0, 1.0);
        let mut slots = Tensor::<3>::random([1, k, d], normal, &device);
        let mut usage = Tensor::<2>::random([1, k], uniform(0.0, 1.0), &device);
        let mut hold = Tensor::<2>::random([1, k], uniform(0.0, 0.5), &device);
        let needle = Tensor::<3>::random([1, 1, d], normal, &device);
        let mut strong = request(needle.clone(), needle.clone(), 1.0, k);
        strong.key = strong.key.repeat_dim(1, h);
        strong.add = strong.add.repeat_dim(1, h);
        strong.erase = strong.erase.repeat_dim(1, h);
        strong.strength = Tensor::full([1, h], 20.0, &device);
        strong.alloc_gate = Tensor::from_floats([[1.0, 0.0]], &device);
        strong.write_gate = Tensor::from_floats([[0.9, 0.0]], &device);
        let age = Tensor::zeros([1, k], &device);
        let out = memory_write(slots, age, usage, hold, strong, 2, 0.9);
        let held = out.write_weights.clone().narrow(1, 0, 1).argmax(2);
        let held = held.into_scalar::<i64>() as usize;
        let want = bits(out.slots.clone().narrow(1, held, 1));
        let (mut age, mut churn) = (out.age, 0);
        (slots, usage, hold) = (out.slots, out.usage, out.hold);
        let requests: Vec<WriteRequest> = (0..32)
            .map(|i| WriteRequest {
                key: if i % 4 == 0 {
                    needle.clone().repeat_dim(1, h)
                } else {
                    Tensor::random([1, h, d], normal, &device)
                },
                strength: Tensor::random([1, h], uniform(1.0, 20.0), &device),
                erase: Tensor::random([1, h, d], uniform(0.0, 1.0), &device),
                add: Tensor::random([1, h, d], normal, &device),
                write_gate: Tensor::random([1, h], uniform(0.0, 0.6), &device),
                alloc_gate: Tensor::random([1, h], uniform(0.0, 1.0), &device),
                decay: Tensor::random([1, k], uniform(0.0, 0.5), &device),
            })
            .collect();
        for update in 0..10_000 {
            let request = requests[update % requests.len()].clone();
            let before = slots.clone();
            let out = memory_write(slots, age, usage, hold, request, 2, 0.9);
            churn += usize::from(bits(out.slots.clone()) != bits(before));
            (slots, age, usage, hold) = (out.slots, out.age, out.usage, out.hold);
        }
        assert_eq!(
            bits(slots.narrow(1, held, 1)),
            want,
            "the held slot changed"
        );
        assert_eq!(churn, 10_000, "every weaker write changed some other slot");
    }
}
