//! Age and usage of every working-memory slot at the end of the newest trace.

use eframe::egui;
use egui_plot::{Bar, BarChart, Legend, Plot};

use super::{Panel, waiting};
use crate::gui::history::History;

/// Per-slot age and usage bars.
#[derive(Default)]
pub struct AgeUsage;

impl Panel for AgeUsage {
    fn title(&self) -> &'static str {
        "Slot age and usage"
    }

    fn help(&self) -> &'static str {
        "For each working-memory slot after the last update of the held-out sequence: age \
         (updates since the slot was last written, left) and usage (a decaying count of how much \
         it has been read and written, right). Allocation prefers slots with low usage, so a few \
         high bars and many low ones mean a memory that keeps what it uses."
    }

    fn ui(&mut self, ui: &mut egui::Ui, history: &History) {
        let Some(t) = history.last_trace().filter(|t| t.updates > 0) else {
            return waiting(ui, "a memory trace");
        };
        let last = |v: &[f32]| v[(t.updates - 1) * t.slots..t.updates * t.slots].to_vec();
        let bars = |v: Vec<f32>| -> Vec<Bar> {
            v.into_iter()
                .enumerate()
                .map(|(i, x)| Bar::new(i as f64, x as f64).width(0.8))
                .collect()
        };
        let (age, usage) = (last(&t.age), last(&t.usage));
        ui.columns(2, |cols| {
            Plot::new("age")
                .legend(Legend::default())
                .height(130.0)
                .x_axis_label("slot")
                .show(&mut cols[0], |p| {
                    p.bar_chart(BarChart::new("age", bars(age)))
                });
            Plot::new("usage")
                .legend(Legend::default())
                .height(130.0)
                .x_axis_label("slot")
                .show(&mut cols[1], |p| {
                    p.bar_chart(BarChart::new("usage", bars(usage)))
                });
        });
    }
}
