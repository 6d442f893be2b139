//! Loss and accuracy against step.

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::{Panel, waiting};
use crate::gui::history::History;

/// Loss and accuracy curves.
#[derive(Default)]
pub struct Curves;

impl Panel for Curves {
    fn title(&self) -> &'static str {
        "Loss and accuracy"
    }

    fn help(&self) -> &'static str {
        "Task loss (cross-entropy, nats) and accuracy on the scored tokens, per training step. \
         With a curriculum the task grows longer over time, so the loss can rise while the model \
         improves; the length at each step is in the hover text."
    }

    fn ui(&mut self, ui: &mut egui::Ui, history: &History) {
        if history.points.is_empty() {
            return waiting(ui, "the first step");
        }
        let series = |f: fn(&crate::gui::history::Point) -> f64| -> PlotPoints<'static> {
            history
                .points
                .iter()
                .map(|p| [p.step as f64, f(p)])
                .collect()
        };
        ui.columns(2, |cols| {
            Plot::new("loss")
                .legend(Legend::default())
                .height(130.0)
                .show(&mut cols[0], |p| {
                    p.line(Line::new("loss", series(|p| p.loss as f64)));
                });
            Plot::new("accuracy")
                .legend(Legend::default())
                .height(130.0)
                .include_y(0.0)
                .include_y(1.0)
                .show(&mut cols[1], |p| {
                    p.line(Line::new("accuracy", series(|p| p.accuracy as f64)));
                });
        });
    }
}
