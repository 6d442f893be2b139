//! Accuracy against distance, from an evaluation of the current model (as `dmn eval`).

use eframe::egui;
use egui_plot::{Line, Plot, PlotPoints, Points};

use super::{Panel, waiting};
use crate::gui::history::History;

/// Accuracy by distance.
#[derive(Default)]
pub struct ByDistance;

impl Panel for ByDistance {
    fn title(&self) -> &'static str {
        "Accuracy against distance"
    }

    fn help(&self) -> &'static str {
        "Held-out accuracy of the current model when the task's length (for needle retrieval: the \
         distance between the stored value and the query) grows, log scale. Press Evaluate in \
         the controls; it runs the same evaluation as `dmn eval`. Memory that works keeps the \
         accuracy up far beyond the lengths seen in training."
    }

    fn ui(&mut self, ui: &mut egui::Ui, history: &History) {
        if history.by_distance.is_empty() {
            return waiting(ui, "an evaluation (press Evaluate)");
        }
        let points: Vec<[f64; 2]> = history
            .by_distance
            .iter()
            .map(|&(d, a)| [(d as f64).log10(), a as f64])
            .collect();
        Plot::new("by-distance")
            .height(130.0)
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label("log10 distance")
            .y_axis_label("accuracy")
            .show(ui, |p| {
                p.line(Line::new("accuracy", PlotPoints::from(points.clone())));
                p.points(Points::new("", points).radius(4.0));
            });
    }
}
