//! A whole stream's memory along the token axis (a [`Timeline`] written by `dmn stream
//! --trace`): slots × tokens, zoomed with the scroll wheel from the whole stream down to single
//! tokens, dragged to pan; marked positions (needle, question) drawn across it, the input tokens
//! under it where the timeline kept them, and for a chosen answer its provenance.

mod view;

use std::ops::Range;

use dmn::timeline::{Answer, Timeline};
use eframe::egui;

use self::view::{Quantity, cells, pan, provenance_lines, token_label, zoom};
use super::heatmap::{color, normalize};
use super::{Panel, slots_picture, ticks, upload, waiting};
use crate::gui::history::History;

/// Tokens are written under the axis at most this many to a view.
const MAX_LABELLED: u64 = 96;

/// The timeline panel.
pub struct TimelinePanel {
    quantity: Quantity,
    /// Tokens in view; `None` until a timeline arrives (then the whole stream).
    range: Option<Range<u64>>,
    /// The timeline generation the view belongs to.
    generation: u64,
    answer: usize,
    texture: Option<(egui::TextureHandle, (u64, Range<u64>, Quantity, usize))>,
}

impl Default for TimelinePanel {
    fn default() -> Self {
        Self {
            quantity: Quantity::Write,
            range: None,
            generation: 0,
            answer: 0,
            texture: None,
        }
    }
}

impl TimelinePanel {
    /// The controls above the picture.
    fn toolbar(&mut self, ui: &mut egui::Ui, timeline: &Timeline, range: &mut Range<u64>) {
        let total = timeline.tokens;
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut self.quantity, Quantity::Write, "write");
            ui.selectable_value(&mut self.quantity, Quantity::Read, "read");
            ui.selectable_value(&mut self.quantity, Quantity::Norm, "content norm");
            ui.separator();
            if ui.button("whole").clicked() {
                *range = 0..total;
            }
            let middle = (range.start + range.end) / 2;
            if ui.button("−").on_hover_text("zoom out").clicked() {
                *range = zoom(range, middle, 4.0, total);
            }
            if ui.button("+").on_hover_text("zoom in").clicked() {
                *range = zoom(range, middle, 0.25, total);
            }
            for mark in &timeline.marks {
                if ui
                    .small_button(format!("{} @{}", mark.label, mark.position))
                    .on_hover_text("zoom to this position")
                    .clicked()
                {
                    *range = zoom(
                        &(0..total),
                        mark.position,
                        64.0 / total.max(1) as f64,
                        total,
                    );
                }
            }
        });
    }

    /// The heatmap of `range`, with marks and the chosen answer drawn over it; scroll zooms
    /// and dragging pans.
    fn picture(&mut self, ui: &mut egui::Ui, timeline: &Timeline, range: &mut Range<u64>) {
        let width = ui.available_width();
        let wanted = (width as usize).clamp(16, 800);
        let columns = timeline.view(range.clone(), wanted);
        if columns.is_empty() || timeline.slots == 0 {
            return waiting(ui, "working-memory updates in the timeline");
        }
        let key = (self.generation, range.clone(), self.quantity, wanted);
        if self.texture.as_ref().is_none_or(|(_, k)| *k != key) {
            let values = cells(&columns, timeline.slots, self.quantity);
            let pixels = normalize(&values).into_iter().map(color).collect();
            let image = egui::ColorImage::new([columns.len(), timeline.slots], pixels);
            upload(&mut self.texture, ui.ctx(), "timeline", image, key);
        }
        let Some((texture, _)) = &self.texture else {
            return;
        };
        // The columns cover whole buckets, so they may reach past the range a little.
        let width_tokens = timeline.column_width(range, wanted);
        let shown = columns[0].start..columns[0].start + width_tokens * columns.len() as u64;
        let sense = egui::Sense::click_and_drag();
        let response =
            slots_picture(ui, texture, timeline.slots, 150.0, sense).on_hover_text(format!(
                "{} slots × tokens {}–{} ({width_tokens} tokens per column); scroll to zoom, \
                 drag to pan",
                timeline.slots, shown.start, shown.end
            ));
        self.overlay(ui, timeline, &shown, response.rect);
        navigate(ui, &response, timeline.tokens, &shown, range);
        self.axis(ui, timeline, &shown, response.rect);
    }

    /// The marks and the chosen answer's slot and write, drawn over the picture of `shown`.
    fn overlay(&self, ui: &egui::Ui, timeline: &Timeline, shown: &Range<u64>, rect: egui::Rect) {
        let span = (shown.end - shown.start).max(1) as f32;
        let x_of =
            |t: u64| rect.left() + (t.saturating_sub(shown.start)) as f32 / span * rect.width();
        let painter = ui.painter_at(rect);
        for mark in &timeline.marks {
            if shown.contains(&mark.position) {
                let x = x_of(mark.position);
                let stroke = egui::Stroke::new(1.5, egui::Color32::LIGHT_BLUE);
                painter.vline(x, rect.y_range(), stroke);
                painter.text(
                    egui::pos2(x + 2.0, rect.top()),
                    egui::Align2::LEFT_TOP,
                    &mark.label,
                    egui::FontId::proportional(11.0),
                    egui::Color32::LIGHT_BLUE,
                );
            }
        }
        let Some(answer) = timeline.answers.get(self.answer) else {
            return;
        };
        let row = rect.height() / timeline.slots as f32;
        let y = rect.top() + answer.slot as f32 * row;
        let stroke = egui::Stroke::new(1.5, egui::Color32::LIGHT_GREEN);
        painter.rect_stroke(
            egui::Rect::from_min_size(egui::pos2(rect.left(), y), egui::vec2(rect.width(), row)),
            0.0,
            stroke,
            egui::StrokeKind::Inside,
        );
        if let Some(w) = answer
            .written
            .as_ref()
            .filter(|w| shown.contains(&w.tokens.start))
        {
            painter.circle_stroke(egui::pos2(x_of(w.tokens.start), y + row / 2.0), 4.0, stroke);
        }
    }

    /// The answer picker and the chosen answer's provenance.
    fn answers(&mut self, ui: &mut egui::Ui, timeline: &Timeline) {
        if timeline.answers.is_empty() {
            return;
        }
        let label = |a: &Answer| format!("answer at token {}", a.position);
        let chosen = timeline.answers.get(self.answer).map(label);
        egui::ComboBox::from_id_salt("timeline-answer")
            .selected_text(chosen.unwrap_or_default())
            .show_ui(ui, |ui| {
                for (i, a) in timeline.answers.iter().enumerate() {
                    ui.selectable_value(&mut self.answer, i, label(a));
                }
            });
        if let Some(answer) = timeline.answers.get(self.answer) {
            for line in provenance_lines(answer) {
                ui.label(line);
            }
        }
    }

    /// The tokens under the picture (when few enough are in view and the timeline kept them),
    /// then token positions.
    fn axis(&self, ui: &mut egui::Ui, timeline: &Timeline, shown: &Range<u64>, rect: egui::Rect) {
        // Allocated whether or not tokens are drawn, so zooming does not move what follows.
        let (row, _) =
            ui.allocate_exact_size(egui::vec2(ui.available_width(), 14.0), egui::Sense::hover());
        self.tokens(ui, timeline, shown, rect.x_range(), row.top());
        ticks(ui, rect, shown, timeline.tokens, "tokens");
    }

    /// The input tokens of `shown` at height `y`, across `x` (the picture's extent).
    fn tokens(
        &self,
        ui: &egui::Ui,
        timeline: &Timeline,
        shown: &Range<u64>,
        x: egui::Rangef,
        y: f32,
    ) {
        if shown.end - shown.start > MAX_LABELLED {
            return;
        }
        let painter = ui.painter();
        let span = (shown.end - shown.start).max(1) as f32;
        let text = ui.visuals().text_color();
        for detail in timeline.details_in(shown.clone()) {
            for (i, &token) in detail.tokens.iter().enumerate() {
                let t = detail.start + i as u64;
                if shown.contains(&t) {
                    let at = x.min + ((t - shown.start) as f32 + 0.5) / span * x.span();
                    painter.text(
                        egui::pos2(at, y),
                        egui::Align2::CENTER_TOP,
                        token_label(token, timeline.bytes),
                        egui::FontId::monospace(10.0),
                        text,
                    );
                }
            }
        }
    }
}

/// Scrolling over the picture of `shown` zooms `range` around the pointer; a drag pans it by
/// the tokens it covers.
fn navigate(
    ui: &egui::Ui,
    response: &egui::Response,
    total: u64,
    shown: &Range<u64>,
    range: &mut Range<u64>,
) {
    let rect = response.rect;
    let span = (shown.end - shown.start).max(1) as f32;
    if let Some(pointer) = response.hover_pos() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll != 0.0 {
            let at = shown.start + ((pointer.x - rect.left()) / rect.width() * span) as u64;
            *range = zoom(range, at, (-scroll as f64 / 200.0).exp(), total);
        }
    }
    if response.dragged() {
        let delta = -(response.drag_delta().x / rect.width() * span) as i64;
        *range = pan(range, delta, total);
    }
}

impl Panel for TimelinePanel {
    fn title(&self) -> &'static str {
        "Timeline of a stream"
    }

    fn help(&self) -> &'static str {
        "A whole stream's working memory along the token axis, from a file written by \
         `dmn stream --trace FILE` (open it with `dmn gui --timeline FILE`). Rows are slots, \
         columns spans of tokens; colour is the chosen quantity, scaled to the view. Scroll to \
         zoom (down to single tokens, shown under the axis where the file kept them: around \
         the marks), drag to pan. Blue lines mark the needle and the question; the green row is \
         the slot the chosen answer read most, and the circle the update that wrote it."
    }

    fn wide(&self, history: &History) -> bool {
        history.timeline.is_some()
    }

    fn ui(&mut self, ui: &mut egui::Ui, history: &History) {
        let Some(timeline) = &history.timeline else {
            return waiting(
                ui,
                "a timeline (dmn stream --trace FILE, then dmn gui --timeline FILE)",
            );
        };
        if self.generation != history.timeline_generation || self.range.is_none() {
            self.generation = history.timeline_generation;
            self.range = Some(0..timeline.tokens);
            self.answer = 0;
        }
        let mut range = self.range.clone().unwrap_or(0..timeline.tokens);
        self.toolbar(ui, timeline, &mut range);
        self.picture(ui, timeline, &mut range);
        self.answers(ui, timeline);
        self.range = Some(range);
    }
}
