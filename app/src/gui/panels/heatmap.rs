//! Working-memory slots over time: one column per memory update, one row per slot.

use dmn::MemoryTrace;
use eframe::egui;

use super::{Panel, slots_picture, ticks, upload, waiting};
use crate::gui::history::History;

/// What a heatmap cell shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Write weight ω of the update (one head, or the sum over heads).
    Write,
    /// Read weight (mean over the update's tokens).
    Read,
    /// L2 norm of the slot's contents after the update.
    Norm,
}

/// Slot × time heatmap of the newest trace.
pub struct SlotHeatmap {
    quantity: Quantity,
    /// `None`: all heads summed.
    head: Option<usize>,
    /// The picture and what it shows: (trace generation, quantity, head). Rebuilt only when
    /// that changes, not every frame.
    texture: Option<(egui::TextureHandle, (u64, Quantity, Option<usize>))>,
    columns: usize,
}

impl Default for SlotHeatmap {
    fn default() -> Self {
        Self {
            quantity: Quantity::Write,
            head: None,
            texture: None,
            columns: 0,
        }
    }
}

/// The grid `[K rows, U columns]` (row-major) of `quantity` over the traces' updates, in order.
pub fn grid(traces: &[MemoryTrace], quantity: Quantity, head: Option<usize>) -> (Vec<f32>, usize) {
    let Some(first) = traces.first() else {
        return (Vec::new(), 0);
    };
    let (k, h) = (first.slots, first.heads);
    let columns: Vec<Vec<f32>> = traces
        .iter()
        .filter(|t| t.slots == k && t.heads == h && t.is_complete())
        .flat_map(|t| {
            (0..t.updates).map(move |u| {
                (0..k)
                    .map(|slot| match quantity {
                        Quantity::Norm => t.slot_norms[u * k + slot],
                        Quantity::Write | Quantity::Read => {
                            let w = if quantity == Quantity::Write {
                                &t.write_weights
                            } else {
                                &t.read_weights
                            };
                            let at = |head: usize| w[(u * h + head) * k + slot];
                            head.map_or_else(|| (0..h).map(at).sum(), |x| at(x.min(h - 1)))
                        }
                    })
                    .collect()
            })
        })
        .collect();
    let u = columns.len();
    let mut cells = vec![0.0; k * u];
    for (col, values) in columns.iter().enumerate() {
        for (slot, v) in values.iter().enumerate() {
            cells[slot * u + col] = *v;
        }
    }
    (cells, u)
}

/// Maps values linearly onto [0, 1] (min → 0, max → 1); a constant grid maps to 0, and
/// non-finite values to 0, so one bad value cannot blank the picture.
pub fn normalize(values: &[f32]) -> Vec<f32> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let span = hi - lo;
    values
        .iter()
        .map(|&v| {
            if v.is_finite() && span > 0.0 {
                (v - lo) / span
            } else {
                0.0
            }
        })
        .collect()
}

/// A perceptual dark-to-bright ramp (black → purple → orange → yellow).
pub(crate) fn color(x: f32) -> egui::Color32 {
    let stops = [
        (0.0, [0u8, 0, 4]),
        (0.33, [120, 28, 109]),
        (0.66, [237, 105, 37]),
        (1.0, [252, 255, 164]),
    ];
    let x = x.clamp(0.0, 1.0);
    let i = stops.iter().rposition(|(p, _)| *p <= x).unwrap_or(0).min(2);
    let ((p0, c0), (p1, c1)) = (stops[i], stops[i + 1]);
    let t = (x - p0) / (p1 - p0);
    let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * t).round() as u8;
    egui::Color32::from_rgb(mix(c0[0], c1[0]), mix(c0[1], c1[1]), mix(c0[2], c1[2]))
}

impl Panel for SlotHeatmap {
    fn title(&self) -> &'static str {
        "Working-memory slots over time"
    }

    fn help(&self) -> &'static str {
        "Rows are the working-memory slots, columns the memory updates of one held-out sequence \
         (left = start; the axis counts updates). Colour is the chosen quantity, scaled to the picture's own min (dark) and \
         max (bright). Write: where each update wrote (a bright column cell = a slot taking new \
         content). Read: which slots the queries attended to. Norm: how much each slot holds."
    }

    fn ui(&mut self, ui: &mut egui::Ui, history: &History) {
        let Some(first) = history.traces.first() else {
            return waiting(ui, "a memory trace");
        };
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut self.quantity, Quantity::Write, "write");
            ui.selectable_value(&mut self.quantity, Quantity::Read, "read");
            ui.selectable_value(&mut self.quantity, Quantity::Norm, "content norm");
            if self.quantity != Quantity::Norm {
                ui.separator();
                ui.selectable_value(&mut self.head, None, "all heads");
                for h in 0..first.heads {
                    ui.selectable_value(&mut self.head, Some(h), format!("h{h}"))
                        .on_hover_text(format!("head {h} only"));
                }
            }
        });
        let key = (history.trace_generation, self.quantity, self.head);
        if self.texture.as_ref().is_none_or(|(_, k)| *k != key) {
            let (cells, columns) = grid(&history.traces, self.quantity, self.head);
            self.columns = columns;
            if columns == 0 {
                self.texture = None;
                return waiting(ui, "a memory update");
            }
            let pixels = normalize(&cells).into_iter().map(color).collect();
            let image = egui::ColorImage::new([columns, first.slots], pixels);
            upload(&mut self.texture, ui.ctx(), "slot-heatmap", image, key);
        }
        let Some((texture, _)) = &self.texture else {
            return waiting(ui, "a memory update");
        };
        let columns = self.columns;
        let picture = slots_picture(ui, texture, first.slots, 140.0, egui::Sense::hover())
            .on_hover_text(format!(
                "{} slots × {columns} updates, step {}",
                first.slots, history.trace_step
            ));
        ticks(
            ui,
            picture.rect,
            &(0..columns as u64),
            columns as u64,
            "updates",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_maps_min_to_0_and_max_to_1() {
        assert_eq!(normalize(&[2.0, 4.0, 3.0]), vec![0.0, 1.0, 0.5]);
        assert_eq!(normalize(&[5.0, 5.0]), vec![0.0, 0.0]);
        assert_eq!(normalize(&[f32::NAN, 1.0, 3.0]), vec![0.0, 0.0, 1.0]);
        assert!(normalize(&[]).is_empty());
    }

    #[test]
    fn grid_is_slots_by_updates_across_segments() {
        // K = 2 slots, H = 2 heads, two segments of 1 and 2 updates.
        let trace = |updates: usize, w: Vec<f32>| MemoryTrace {
            slots: 2,
            heads: 2,
            updates,
            write_weights: w.clone(),
            read_weights: w,
            slot_norms: vec![1.0; updates * 2],
            ..MemoryTrace::default()
        };
        let traces = [
            trace(1, vec![1.0, 0.0, 0.5, 0.5]),
            trace(2, vec![0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.25, 0.75]),
        ];
        let (cells, u) = grid(&traces, Quantity::Write, None);
        assert_eq!(u, 3);
        // Row 0 (slot 0): sums over heads per update: 1.5, 0.0, 1.25.
        assert_eq!(&cells[0..3], &[1.5, 0.0, 1.25]);
        assert_eq!(&cells[3..6], &[0.5, 2.0, 0.75]);
        let (head1, _) = grid(&traces, Quantity::Write, Some(1));
        assert_eq!(&head1[0..3], &[0.5, 0.0, 0.25]);
    }

    #[test]
    fn a_trace_missing_figures_is_left_out() {
        let whole = MemoryTrace {
            slots: 2,
            heads: 1,
            updates: 1,
            write_weights: vec![1.0, 0.0],
            read_weights: vec![0.0, 1.0],
            slot_norms: vec![1.0, 1.0],
            ..MemoryTrace::default()
        };
        // As read back from a lost device: updates counted, figures empty.
        let empty = MemoryTrace {
            updates: 3,
            write_weights: Vec::new(),
            ..whole.clone()
        };
        for q in [Quantity::Write, Quantity::Read, Quantity::Norm] {
            let (cells, u) = grid(&[empty.clone(), whole.clone()], q, None);
            assert_eq!((cells.len(), u), (2, 1), "{q:?}");
        }
    }

    #[test]
    fn ramp_runs_dark_to_bright() {
        assert_eq!(color(0.0), egui::Color32::from_rgb(0, 0, 4));
        assert_eq!(color(1.0), egui::Color32::from_rgb(252, 255, 164));
    }
}
