//! What the memory did. [`MemoryStats`] are the device-side figures of one segment that every
//! logged step reports; [`MemoryBehaviour`] is summarized from [`MemoryTrace`]s: how often and
//! where the memory writes, how long what it writes survives, and how focused its reads are
//! (seed 000 §2.5.2, seed 002's memory-behaviour metrics). The evaluation report and the
//! viewers' survival panel use the latter.

use burn::tensor::{Device, Tensor};
use serde::Serialize;

use crate::MemoryTrace;
use crate::long_term_memory::LongTermMemoryState;
use crate::working_memory::WorkingMemoryState;

/// Guards `ln 0` in entropies.
const ENTROPY_EPS: f64 = 1e-9;

/// Entropy (nats) of each row of non-negative weights along the last axis; rows need not sum
/// to 1, they are normalized first.
pub(crate) fn entropy<const D: usize>(p: Tensor<D>) -> Tensor<D> {
    let p = p.clone() / p.sum_dim(D - 1).clamp_min(ENTROPY_EPS);
    (p.clone() * (p + ENTROPY_EPS).log()).sum_dim(D - 1).neg()
}

/// The largest entropy of `n` outcomes, `ln n` (floored above 0): divides an [`entropy`] into
/// [0, 1].
pub(crate) fn max_entropy(n: usize) -> f64 {
    (n as f64).ln().max(ENTROPY_EPS)
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
    /// Mean write gate over the segment's updates and heads (what the pressure loss penalizes;
    /// 0 when no update wrote anything).
    pub write_gate: Tensor<1>,
    /// Bytes of compressed long-term entries.
    pub ltm_bytes: Tensor<1>,
    /// Fraction of each long-term level occupied (host data: no readback needed).
    pub ltm_fill: Vec<f32>,
}

impl MemoryStats {
    /// The statistics of the memories as a segment left them; `read_entropy` and `write_gate`
    /// are the segment's means. Every tensor is detached: statistics are never trained on.
    pub fn of(
        working: Option<&WorkingMemoryState>,
        long_term: Option<&LongTermMemoryState>,
        read_entropy: Tensor<1>,
        write_gate: Tensor<1>,
        device: &Device,
    ) -> Self {
        let zero = || Tensor::zeros([1], device);
        let (slot_usage_entropy, mean_age) = match working {
            Some(w) => {
                let k = w.usage.dims()[1];
                let e = entropy(w.usage.clone().detach()).mean() / max_entropy(k);
                (e, w.age.clone().detach().mean())
            }
            None => (zero(), zero()),
        };
        let (ltm_bytes, ltm_fill) = match long_term {
            Some(l) => (l.compressed_bytes(device).detach(), l.fill()),
            None => (zero(), Vec::new()),
        };
        Self {
            slot_usage_entropy,
            mean_age,
            read_entropy: read_entropy.detach(),
            write_gate: write_gate.detach(),
            ltm_bytes,
            ltm_fill,
        }
    }
}

/// A head writes the slot of its largest write weight, when that weight is at least this (a
/// closed write gate writes nowhere).
const WRITE_THRESHOLD: f32 = 0.05;

/// The slots written at update `u` of `trace`: each head writes the slot of its largest write
/// weight, when that weight is at least [`WRITE_THRESHOLD`].
fn written(trace: &MemoryTrace, u: usize) -> Vec<bool> {
    let (k, h) = (trace.slots, trace.heads);
    let mut written = vec![false; k];
    for head in 0..h {
        let Some(row) = trace
            .write_weights
            .get((u * h + head) * k..(u * h + head + 1) * k)
        else {
            continue;
        };
        let (slot, w) =
            row.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &w)| {
                    if w > b.1 { (i, w) } else { b }
                },
            );
        if w >= WRITE_THRESHOLD {
            written[slot] = true;
        }
    }
    written
}

/// How long each content lived, in memory updates: `(lifetime, overwritten)`. A content is born
/// when a head writes a slot and ends when a head next writes that slot; one still resident at
/// the end of the traces is censored (`overwritten = false`).
pub fn lifetimes(traces: &[MemoryTrace]) -> Vec<(u32, bool)> {
    let Some(first) = traces.first() else {
        return Vec::new();
    };
    let (k, h) = (first.slots, first.heads);
    let mut born: Vec<Option<u32>> = vec![None; k];
    let mut out = Vec::new();
    let mut time = 0u32;
    for t in traces.iter().filter(|t| t.slots == k && t.heads == h) {
        for u in 0..t.updates {
            let written = written(t, u);
            for (slot, _) in written.iter().enumerate().filter(|(_, w)| **w) {
                if let Some(b) = born[slot] {
                    out.push((time - b, true));
                }
                born[slot] = Some(time);
            }
            time += 1;
        }
    }
    out.extend(born.into_iter().flatten().map(|b| (time - b, false)));
    out
}

/// Kaplan–Meier survival: `S(t) = Π_{tᵢ ≤ t} (1 − dᵢ / nᵢ)` over the distinct lifetimes tᵢ with
/// an overwrite, dᵢ overwrites at tᵢ and nᵢ contents that lived at least tᵢ. Returns the steps
/// `(t, S(t))`, starting at `(0, 1)`.
pub fn kaplan_meier(samples: &[(u32, bool)]) -> Vec<(u32, f64)> {
    let mut times: Vec<u32> = samples.iter().filter(|s| s.1).map(|s| s.0).collect();
    times.sort_unstable();
    times.dedup();
    let mut s = 1.0;
    let mut curve = vec![(0, 1.0)];
    for t in times {
        let at_risk = samples.iter().filter(|x| x.0 >= t).count() as f64;
        let ended = samples.iter().filter(|x| x.1 && x.0 == t).count() as f64;
        s *= 1.0 - ended / at_risk;
        curve.push((t, s));
    }
    curve
}

/// A slot counts as read by a head when it receives at least this fraction of the head's read
/// weight.
const READ_THRESHOLD: f32 = 0.01;

/// Memory-behaviour metrics over a run of traces (one sequence, segment after segment).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryBehaviour {
    /// Memory updates observed.
    pub updates: usize,
    /// Fraction of the slots written per update (write frequency).
    pub write_frequency: f64,
    /// Fraction of the slots written at least once.
    pub slots_used: f64,
    /// Fraction of writes that overwrite a content written earlier in the sequence (slot reuse).
    pub slot_reuse: f64,
    /// Mean lifetime, in updates, of the contents that were overwritten (0 when none were).
    pub mean_lifetime: f64,
    /// Age, in updates, at which the Kaplan–Meier survival first drops to ½ or below; `None`
    /// when more than half the contents outlive the sequence.
    pub median_survival: Option<u32>,
    /// Mean entropy, in bits, of each head's read distribution over the slots.
    pub read_entropy_bits: f64,
    /// Mean fraction of the slots a head leaves unread (below 1 % of its read weight): read
    /// sparsity.
    pub read_sparsity: f64,
    /// The Kaplan–Meier survival curve of slot contents, `(age in updates, fraction surviving)`.
    pub survival: Vec<(u32, f64)>,
}

impl MemoryBehaviour {
    /// The metrics of one sequence's `traces` (all with one memory shape); `None` without any
    /// update.
    pub fn of(traces: &[MemoryTrace]) -> Option<Self> {
        Self::of_sequences(&[traces])
    }

    /// The metrics pooled over several sequences, each a run of traces from an empty memory:
    /// counts add up over sequences, and lifetimes end with their sequence (censored there).
    pub fn of_sequences(sequences: &[&[MemoryTrace]]) -> Option<Self> {
        let first = sequences.iter().find_map(|s| s.first())?;
        let (k, h) = (first.slots, first.heads);
        let (mut updates, mut writes, mut overwrites, mut used) = (0usize, 0usize, 0usize, 0usize);
        let (mut entropy, mut unread, mut reads) = (0.0f64, 0.0f64, 0usize);
        let mut samples = Vec::new();
        for traces in sequences {
            let mut ever = vec![false; k];
            for t in traces.iter().filter(|t| t.slots == k && t.heads == h) {
                updates += t.updates;
                for u in 0..t.updates {
                    for (slot, _) in written(t, u).iter().enumerate().filter(|(_, w)| **w) {
                        writes += 1;
                        overwrites += usize::from(ever[slot]);
                        ever[slot] = true;
                    }
                    for head in 0..h {
                        let Some(row) = t
                            .read_weights
                            .get((u * h + head) * k..(u * h + head + 1) * k)
                        else {
                            continue;
                        };
                        let total: f32 = row.iter().sum();
                        if total <= 0.0 {
                            continue;
                        }
                        entropy -= row
                            .iter()
                            .map(|&w| f64::from(w / total))
                            .filter(|&p| p > 0.0)
                            .map(|p| p * p.log2())
                            .sum::<f64>();
                        unread += row.iter().filter(|&&w| w < READ_THRESHOLD * total).count()
                            as f64
                            / k as f64;
                        reads += 1;
                    }
                }
            }
            used += ever.iter().filter(|&&e| e).count();
            samples.extend(lifetimes(traces));
        }
        if updates == 0 || k == 0 || h == 0 {
            return None;
        }
        let ended: Vec<f64> = samples
            .iter()
            .filter(|s| s.1)
            .map(|s| f64::from(s.0))
            .collect();
        let survival = kaplan_meier(&samples);
        Some(Self {
            updates,
            write_frequency: writes as f64 / (updates * k) as f64,
            slots_used: used as f64 / (sequences.len() * k) as f64,
            slot_reuse: overwrites as f64 / writes.max(1) as f64,
            mean_lifetime: ended.iter().sum::<f64>() / ended.len().max(1) as f64,
            median_survival: survival.iter().find(|&&(_, s)| s <= 0.5).map(|&(t, _)| t),
            read_entropy_bits: entropy / reads.max(1) as f64,
            read_sparsity: unread / reads.max(1) as f64,
            survival,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaplan_meier_matches_a_hand_computed_example() {
        // Lifetimes 1 (overwritten), 2 (censored), 3, 3 (overwritten), 4 (censored).
        // t = 1: 5 at risk, 1 ends → 4/5.  t = 3: 3 at risk, 2 end → 4/5 · 1/3.
        let curve = kaplan_meier(&[(1, true), (2, false), (3, true), (3, true), (4, false)]);
        assert_eq!(curve.len(), 3);
        assert_eq!(curve[0], (0, 1.0));
        assert_eq!(curve[1].0, 1);
        assert!((curve[1].1 - 0.8).abs() < 1e-12);
        assert_eq!(curve[2].0, 3);
        assert!((curve[2].1 - 0.8 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn kaplan_meier_without_events_stays_at_one() {
        assert_eq!(kaplan_meier(&[(5, false)]), vec![(0, 1.0)]);
    }

    #[test]
    fn lifetimes_follow_writes_across_segments() {
        // K = 3, H = 1. Updates: write slot 0, write slot 1, (segment 2) write slot 0, gate shut.
        let trace = |w: Vec<f32>| MemoryTrace {
            slots: 3,
            heads: 1,
            updates: w.len() / 3,
            write_weights: w,
            ..MemoryTrace::default()
        };
        let traces = [
            trace(vec![0.9, 0.1, 0.0, 0.2, 0.7, 0.1]),
            trace(vec![0.8, 0.1, 0.1, 0.01, 0.02, 0.0]),
        ];
        let mut l = lifetimes(&traces);
        l.sort_unstable();
        // Slot 0: born at 0, overwritten at 2 (lived 2); reborn at 2, censored at 4 (lived 2).
        // Slot 1: born at 1, censored at 4 (lived 3).
        assert_eq!(l, vec![(2, false), (2, true), (3, false)]);
    }

    #[test]
    fn stats_count_writes_reuse_and_read_focus() {
        // K = 4, H = 1, three updates: write slot 0, write slot 1, write slot 0 again.
        // Reads: all weight on slot 2; then spread evenly over 4; then half on 0 and 1.
        let trace = MemoryTrace {
            slots: 4,
            heads: 1,
            updates: 3,
            write_weights: vec![
                0.9, 0.0, 0.0, 0.0, //
                0.0, 0.8, 0.0, 0.0, //
                0.7, 0.0, 0.0, 0.1,
            ],
            read_weights: vec![
                0.0, 0.0, 1.0, 0.0, //
                0.25, 0.25, 0.25, 0.25, //
                0.5, 0.5, 0.0, 0.0,
            ],
            ..MemoryTrace::default()
        };
        let s = MemoryBehaviour::of(std::slice::from_ref(&trace)).unwrap();
        assert_eq!(s.updates, 3);
        assert!((s.write_frequency - 3.0 / 12.0).abs() < 1e-12);
        assert!((s.slots_used - 0.5).abs() < 1e-12);
        assert!((s.slot_reuse - 1.0 / 3.0).abs() < 1e-12);
        // Slot 0's first content lived 2 updates; the others are censored at 2 (slot 1) and 1
        // (slot 0 again), so two contents were at risk at age 2 and one ended: S(2) = 1/2.
        assert!((s.mean_lifetime - 2.0).abs() < 1e-12);
        assert_eq!(s.median_survival, Some(2));
        // Entropies 0, 2 and 1 bits; unread fractions 3/4, 0 and 1/2.
        assert!((s.read_entropy_bits - 1.0).abs() < 1e-6);
        assert!((s.read_sparsity - 1.25 / 3.0).abs() < 1e-12);
        assert_eq!(s.survival, vec![(0, 1.0), (2, 0.5)]);
        assert_eq!(MemoryBehaviour::of(&[]), None);
        // Two sequences pool their counts; slots used is per sequence.
        let two = MemoryBehaviour::of_sequences(&[&[trace.clone()], &[trace]]).unwrap();
        assert_eq!(two.updates, 6);
        assert!((two.slot_reuse - 1.0 / 3.0).abs() < 1e-12 && (two.slots_used - 0.5).abs() < 1e-12);
    }
}
