//! One panel per file. Each reads only [`History`]; none calls the model.

pub mod curves;
pub mod distance;
pub mod heatmap;
pub mod retrieval;
pub mod slots;
pub mod survival;
pub mod transfer;

use eframe::egui;

use super::history::History;

/// A view of the history.
pub trait Panel {
    /// Title shown above the panel.
    fn title(&self) -> &'static str;
    /// What the panel shows and how to read it (its tooltip).
    fn help(&self) -> &'static str;
    /// Draws the panel.
    fn ui(&mut self, ui: &mut egui::Ui, history: &History);
}

/// Every panel, in display order.
pub fn all() -> Vec<Box<dyn Panel>> {
    vec![
        Box::new(curves::Curves::default()),
        Box::new(heatmap::SlotHeatmap::default()),
        Box::new(slots::AgeUsage::default()),
        Box::new(survival::Survival::default()),
        Box::new(transfer::Transfers::default()),
        Box::new(retrieval::Retrieval::default()),
        Box::new(distance::ByDistance::default()),
    ]
}

/// A panel's frame: the title with its tooltip, then the content.
pub fn show(panel: &mut dyn Panel, ui: &mut egui::Ui, history: &History) {
    let width = ui.available_width();
    egui::Frame::group(ui.style()).show(ui, |ui| {
        // Stay inside the column whatever the content asks for.
        let inner = width - 2.0 * ui.style().spacing.item_spacing.x - 4.0;
        ui.set_width(inner);
        ui.set_max_width(inner);
        ui.strong(panel.title()).on_hover_text(panel.help());
        panel.ui(ui, history);
    });
}

/// Every panel in two columns, in a scroll area: training and working memory on the left, what
/// happens to the contents (survival, transfer, retrieval) and evaluation on the right. The
/// desktop trainer and the browser demo lay out the same way.
pub fn show_columns(panels: &mut [Box<dyn Panel>], ui: &mut egui::Ui, history: &History) {
    egui::ScrollArea::vertical().show(ui, |ui| {
        let (left, right) = panels.split_at_mut(3.min(panels.len()));
        ui.columns(2, |cols| {
            for panel in left {
                show(panel.as_mut(), &mut cols[0], history);
            }
            for panel in right {
                show(panel.as_mut(), &mut cols[1], history);
            }
        });
    });
}

/// Placeholder line while a panel has nothing to draw yet.
pub(crate) fn waiting(ui: &mut egui::Ui, what: &str) {
    ui.weak(format!("waiting for {what}…"));
}
