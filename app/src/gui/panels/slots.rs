//! Age, usage and hold of every working-memory slot at the end of the newest trace.

use eframe::egui;
use egui_plot::{Bar, BarChart, Legend, Plot};

use super::{Panel, waiting};
use crate::gui::history::History;

/// Per-slot age, usage and hold bars.
#[derive(Default)]
pub struct AgeUsage;

impl Panel for AgeUsage {
    fn title(&self) -> &'static str {
        "Slot age, usage and hold"
    }

    fn help(&self) -> &'static str {
        "For each working-memory slot after the last update of the held-out sequence: age \
         (updates since the slot was last written, left), usage (a decaying count of how much it \
         has been read and written, middle) and hold (the write gate of the strongest write the \
         slot keeps, right). An update may write only slots held no more strongly than its own \
         gate, and among those it allocates the least used: a high hold is content that weak \
         writes cannot evict or wear away."
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
        // Traces from before hold existed carry none.
        let hold = if t.hold.len() == t.age.len() {
            last(&t.hold)
        } else {
            Vec::new()
        };
        ui.columns(3, |cols| {
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
            Plot::new("hold")
                .legend(Legend::default())
                .height(130.0)
                .x_axis_label("slot")
                .include_y(0.0)
                .include_y(1.0)
                .show(&mut cols[2], |p| {
                    p.bar_chart(BarChart::new("hold", bars(hold)))
                });
        });
    }
}
