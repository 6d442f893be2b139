//! Slot survival curves: the fraction of written contents still resident against their age
//! (a Kaplan–Meier estimate, since contents still resident when the trace ends are censored).

use dmn::MemoryTrace;
use eframe::egui;
use egui_plot::{Line, Plot, PlotPoints};

use super::{Panel, waiting};
use crate::gui::history::History;

/// A head writes the slot of its largest write weight, when that weight is at least this (a
/// closed write gate writes nowhere).
const WRITE_THRESHOLD: f32 = 0.05;

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
            let mut written = vec![false; k];
            for head in 0..h {
                let row = &t.write_weights[(u * h + head) * k..(u * h + head + 1) * k];
                let (slot, w) =
                    row.iter()
                        .enumerate()
                        .fold(
                            (0, f32::NEG_INFINITY),
                            |b, (i, &w)| if w > b.1 { (i, w) } else { b },
                        );
                if w >= WRITE_THRESHOLD {
                    written[slot] = true;
                }
            }
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

/// Survival curve of slot contents in the newest traces.
#[derive(Default)]
pub struct Survival {
    /// Lifetimes and their Kaplan–Meier curve, for one trace generation.
    cache: Option<(u64, Vec<(u32, bool)>, Vec<(u32, f64)>)>,
}

impl Panel for Survival {
    fn title(&self) -> &'static str {
        "Slot survival"
    }

    fn help(&self) -> &'static str {
        "Of the contents written into working-memory slots, the fraction still resident (not yet \
         overwritten) after a given number of memory updates. A Kaplan–Meier estimate: contents \
         still in memory when the sequence ends count as survivors up to that point. A curve that \
         stays high means the memory holds on to what it wrote; one that drops at once means \
         slots are rewritten at every update."
    }

    fn ui(&mut self, ui: &mut egui::Ui, history: &History) {
        if self
            .cache
            .as_ref()
            .is_none_or(|c| c.0 != history.trace_generation)
        {
            let samples = lifetimes(&history.traces);
            let curve = kaplan_meier(&samples);
            self.cache = Some((history.trace_generation, samples, curve));
        }
        let (_, samples, curve) = self.cache.as_ref().expect("filled above");
        if samples.is_empty() {
            return waiting(ui, "a trace with writes");
        }
        // A step function: hold each value until the next event.
        let mut points = Vec::new();
        for (i, &(t, s)) in curve.iter().enumerate() {
            if i > 0 {
                points.push([t as f64, curve[i - 1].1]);
            }
            points.push([t as f64, s]);
        }
        let horizon = samples.iter().map(|s| s.0).max().unwrap_or(0) as f64;
        points.push([horizon, curve.last().map_or(1.0, |c| c.1)]);
        let overwritten = samples.iter().filter(|s| s.1).count();
        ui.label(format!(
            "{} contents, {overwritten} overwritten, {} still resident",
            samples.len(),
            samples.len() - overwritten
        ));
        Plot::new("survival")
            .height(130.0)
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label("age (memory updates)")
            .y_axis_label("surviving")
            .show(ui, |p| {
                // No band drawing: a step curve has vertical runs that a band would fill.
                p.line(Line::new("survival", PlotPoints::from(points)).allow_band(false));
            });
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
}
