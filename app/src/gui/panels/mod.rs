//! One panel per file. Each reads only [`History`]; none calls the model.

pub mod curves;
pub mod distance;
pub mod heatmap;
pub mod retrieval;
pub mod slots;
pub mod survival;
pub mod timeline;
pub mod transfer;

use std::ops::Range;

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
    /// Whether the panel wants the whole width above the columns (given what it has to show).
    fn wide(&self, _history: &History) -> bool {
        false
    }
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
        Box::new(timeline::TimelinePanel::default()),
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
/// happens to the contents (survival, transfer, retrieval) and evaluation on the right; a panel
/// that wants the whole width (an opened stream timeline) goes above them. The desktop trainer
/// and the browser demo lay out the same way.
pub fn show_columns(panels: &mut [Box<dyn Panel>], ui: &mut egui::Ui, history: &History) {
    egui::ScrollArea::vertical().show(ui, |ui| {
        for panel in panels.iter_mut().filter(|p| p.wide(history)) {
            show(panel.as_mut(), ui, history);
        }
        let (left, right) = panels.split_at_mut(3.min(panels.len()));
        ui.columns(2, |cols| {
            for panel in left.iter_mut().filter(|p| !p.wide(history)) {
                show(panel.as_mut(), &mut cols[0], history);
            }
            for panel in right.iter_mut().filter(|p| !p.wide(history)) {
                show(panel.as_mut(), &mut cols[1], history);
            }
        });
    });
}

/// Puts `image` into a panel's `texture` (made on first use) and remembers what it shows
/// (`key`), so that the panel rebuilds it only when that changes.
pub(crate) fn upload<K>(
    texture: &mut Option<(egui::TextureHandle, K)>,
    ctx: &egui::Context,
    name: &str,
    image: egui::ColorImage,
    key: K,
) {
    // Cells are data: neighbours must not blend.
    let options = egui::TextureOptions::NEAREST;
    match texture {
        Some((t, k)) => {
            t.set(image, options);
            *k = key;
        }
        None => *texture = Some((ctx.load_texture(name, image, options), key)),
    }
}

/// Width of the slot labels left of a slot picture.
const GUTTER: f32 = 44.0;

/// A picture of `texture` with one row per slot (`slots` rows, `height` high), the first and
/// last rows labelled in a gutter at its left. Returns the picture's own response (its `rect`
/// excludes the gutter, so positions along it map to columns).
pub(crate) fn slots_picture(
    ui: &mut egui::Ui,
    texture: &egui::TextureHandle,
    slots: usize,
    height: f32,
    sense: egui::Sense,
) -> egui::Response {
    ui.horizontal(|ui| {
        let (gutter, _) = ui.allocate_exact_size(egui::vec2(GUTTER, height), egui::Sense::hover());
        let painter = ui.painter_at(gutter);
        let (font, text) = (egui::FontId::monospace(10.0), ui.visuals().text_color());
        let last = format!("slot {}", slots.saturating_sub(1));
        painter.text(
            gutter.right_top(),
            egui::Align2::RIGHT_TOP,
            "slot 0",
            font.clone(),
            text,
        );
        painter.text(
            gutter.right_bottom(),
            egui::Align2::RIGHT_BOTTOM,
            last,
            font,
            text,
        );
        let size = egui::vec2(ui.available_width(), height);
        ui.add(egui::Image::new((texture.id(), size)).sense(sense))
    })
    .inner
}

/// Five ticks under `picture` for the positions `shown` along it, the `unit` after the last.
/// Positions past `end` (where the picture's last column reaches past the data) are labelled
/// `end`, drawn where `end` lies.
pub(crate) fn ticks(
    ui: &mut egui::Ui,
    picture: egui::Rect,
    shown: &Range<u64>,
    end: u64,
    unit: &str,
) {
    let (row, _) =
        ui.allocate_exact_size(egui::vec2(ui.available_width(), 14.0), egui::Sense::hover());
    let painter = ui.painter_at(row);
    let (font, text) = (egui::FontId::monospace(10.0), ui.visuals().text_color());
    for (i, (t, along)) in tick_positions(shown, end).into_iter().enumerate() {
        let x = picture.left() + along * picture.width();
        let (align, label) = match i {
            0 => (egui::Align2::LEFT_TOP, t.to_string()),
            4 => (egui::Align2::RIGHT_TOP, format!("{t} {unit}")),
            _ => (egui::Align2::CENTER_TOP, t.to_string()),
        };
        painter.text(egui::pos2(x, row.top()), align, label, font.clone(), text);
    }
}

/// The five ticks' positions for `shown` and where each lies along it (0 to 1): quarters of
/// the range, those past `end` moved back to `end`.
fn tick_positions(shown: &Range<u64>, end: u64) -> [(u64, f32); 5] {
    let span = shown.end.saturating_sub(shown.start);
    std::array::from_fn(|i| {
        let t = (shown.start + span * i as u64 / 4).min(end.max(shown.start));
        (t, (t - shown.start) as f32 / span.max(1) as f32)
    })
}

/// Placeholder line while a panel has nothing to draw yet.
pub(crate) fn waiting(ui: &mut egui::Ui, what: &str) {
    ui.weak(format!("waiting for {what}…"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_past_the_end_of_the_data_label_the_end_where_it_lies() {
        let at = |shown: Range<u64>, end| tick_positions(&shown, end);
        assert_eq!(
            at(0..1000, 1000),
            [(0, 0.0), (250, 0.25), (500, 0.5), (750, 0.75), (1000, 1.0)]
        );
        // The picture's last column reaches past the stream's 800 tokens.
        assert_eq!(at(0..1000, 800)[4], (800, 0.8));
        assert_eq!(at(0..1000, 800)[3], (750, 0.75));
        // Zoomed in: quarters of the shown range.
        assert_eq!(at(200..600, 1000)[1], (300, 0.25));
        // An empty range puts every tick at its start.
        assert!(at(5..5, 10).iter().all(|&(t, x)| t == 5 && x == 0.0));
    }
}
