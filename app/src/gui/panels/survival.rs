//! Slot survival curves: the fraction of written contents still resident against their age
//! (a Kaplan–Meier estimate, since contents still resident when the trace ends are censored).

use dmn::memory_stats::{kaplan_meier, lifetimes};
use eframe::egui;
use egui_plot::{Line, Plot, PlotPoints};

use super::{Panel, waiting};
use crate::gui::history::History;

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
