//! Retrieval weight over the long-term levels for the current query.

use eframe::egui;
use egui_plot::{Bar, BarChart, Plot};

use super::{Panel, waiting};
use crate::gui::history::History;

/// Retrieval weight per level of the newest segment.
#[derive(Default)]
pub struct Retrieval;

impl Panel for Retrieval {
    fn title(&self) -> &'static str {
        "Retrieval over long-term levels"
    }

    fn help(&self) -> &'static str {
        "How the retrieval attention of the newest segment's tokens (the current query, at the \
         end of the held-out sequence) splits over the long-term memory levels, averaged over the \
         segment's tokens; the bars sum to 1 when any entry is valid. Level 0 holds recent \
         segments, higher levels older and more compressed ones."
    }

    fn ui(&mut self, ui: &mut egui::Ui, history: &History) {
        let Some(t) = history
            .last_trace()
            .filter(|t| !t.retrieval_per_level.is_empty())
        else {
            return waiting(ui, "a trace with long-term memory");
        };
        let bars = t
            .retrieval_per_level
            .iter()
            .enumerate()
            .map(|(level, &w)| {
                Bar::new(level as f64, w as f64).width(0.7).name(format!(
                    "level {level}: spans {} segments",
                    t.level_span.get(level).copied().unwrap_or(0)
                ))
            })
            .collect();
        Plot::new("retrieval")
            .height(130.0)
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label("level")
            .show(ui, |p| p.bar_chart(BarChart::new("retrieval weight", bars)));
    }
}
