//! Working → long-term memory transfers: which slots moved to which level, with their
//! importance, and how full each level is, segment by segment.

use dmn::MemoryTrace;
use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use super::{Panel, waiting};
use crate::gui::history::History;

/// One slot moved into long-term memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    /// Segment at whose end the transfer happened.
    pub segment: u64,
    /// Working-memory slot.
    pub slot: u32,
    /// Its importance score.
    pub importance: f32,
    /// Level where the carry settled.
    pub level: usize,
}

/// Transfers and level fill, in segment order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransferLog {
    /// Every moved slot.
    pub moved: Vec<Moved>,
    /// `(segment, fill per level)` after each segment.
    pub fill: Vec<(u64, Vec<f32>)>,
}

impl TransferLog {
    /// The log of a sequence's traces.
    pub fn from_traces(traces: &[MemoryTrace]) -> Self {
        let mut log = Self::default();
        for t in traces {
            if let Some(event) = &t.transfer {
                log.moved
                    .extend(event.slots.iter().enumerate().map(|(i, &slot)| Moved {
                        segment: t.segment,
                        slot,
                        importance: event.importance.get(i).copied().unwrap_or(f32::NAN),
                        level: event.level,
                    }));
            }
            if !t.level_fill.is_empty() {
                log.fill.push((t.segment, t.level_fill.clone()));
            }
        }
        log
    }

    /// Number of levels seen.
    pub fn levels(&self) -> usize {
        self.fill.iter().map(|(_, f)| f.len()).max().unwrap_or(0)
    }
}

/// Transfer events and level fill of the newest traces.
#[derive(Default)]
pub struct Transfers {
    /// The segment highlighted; advances by itself to animate the history.
    cursor: usize,
    last_tick: f64,
    /// The log of one trace generation.
    cache: Option<(u64, TransferLog)>,
}

impl Panel for Transfers {
    fn title(&self) -> &'static str {
        "Working memory to long-term memory"
    }

    fn help(&self) -> &'static str {
        "Left: each dot is a working-memory slot moved into long-term memory at the end of a \
         segment (x), at the level where it settled (y); bigger dots had higher importance. The \
         highlighted segment steps through the sequence. Right: the fraction of each level's \
         entries in use after each segment; higher levels fill more slowly because each entry \
         there summarizes more segments (log-spaced levels)."
    }

    fn ui(&mut self, ui: &mut egui::Ui, history: &History) {
        if self
            .cache
            .as_ref()
            .is_none_or(|c| c.0 != history.trace_generation)
        {
            self.cache = Some((
                history.trace_generation,
                TransferLog::from_traces(&history.traces),
            ));
        }
        let (_, log) = self.cache.as_ref().expect("filled above");
        if log.fill.is_empty() {
            return waiting(ui, "a trace with long-term memory");
        }
        // Animate: move the highlight one segment every 0.6 s.
        let now = ui.input(|i| i.time);
        if now - self.last_tick > 0.6 {
            self.cursor = (self.cursor + 1) % log.fill.len();
            self.last_tick = now;
        }
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(600));
        let current = log.fill[self.cursor.min(log.fill.len() - 1)].0;
        let max_importance = log
            .moved
            .iter()
            .map(|m| m.importance)
            .filter(|x| x.is_finite())
            .fold(f32::MIN_POSITIVE, f32::max);
        ui.label(format!(
            "{} slots moved over {} segments; segment {current} highlighted",
            log.moved.len(),
            log.fill.len()
        ));
        ui.columns(2, |cols| {
            Plot::new("transfers")
                .height(130.0)
                .x_axis_label("segment")
                .y_axis_label("level")
                .show(&mut cols[0], |p| {
                    for m in &log.moved {
                        let r = 2.0 + 6.0 * (m.importance / max_importance).clamp(0.0, 1.0);
                        let color = if m.segment == current {
                            egui::Color32::from_rgb(255, 170, 0)
                        } else {
                            egui::Color32::from_rgb(90, 140, 220)
                        };
                        p.points(
                            Points::new(
                                format!("slot {}", m.slot),
                                vec![[m.segment as f64, m.level as f64]],
                            )
                            .radius(r)
                            .color(color),
                        );
                    }
                });
            Plot::new("level-fill")
                .legend(Legend::default())
                .height(130.0)
                .include_y(0.0)
                .include_y(1.0)
                .x_axis_label("segment")
                .show(&mut cols[1], |p| {
                    for level in 0..log.levels() {
                        let points: PlotPoints<'_> = log
                            .fill
                            .iter()
                            .filter_map(|(s, f)| f.get(level).map(|&x| [*s as f64, x as f64]))
                            .collect();
                        p.line(Line::new(format!("level {level}"), points));
                    }
                });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmn::trace::TransferEvent;

    #[test]
    fn log_lists_every_moved_slot_with_its_segment_and_level() {
        let trace = |segment, transfer, fill: Vec<f32>| MemoryTrace {
            segment,
            levels: 2,
            transfer,
            level_fill: fill,
            ..MemoryTrace::default()
        };
        let traces = [
            trace(
                0,
                Some(TransferEvent {
                    slots: vec![3, 5],
                    importance: vec![0.9, 0.4],
                    width: vec![4.0, 2.0],
                    level: 0,
                }),
                vec![0.5, 0.0],
            ),
            trace(1, None, vec![0.5, 0.0]),
            trace(
                2,
                Some(TransferEvent {
                    slots: vec![1],
                    importance: vec![0.7],
                    width: vec![3.0],
                    level: 1,
                }),
                vec![0.0, 0.25],
            ),
        ];
        let log = TransferLog::from_traces(&traces);
        assert_eq!(log.moved.len(), 3);
        assert_eq!(
            log.moved[2],
            Moved {
                segment: 2,
                slot: 1,
                importance: 0.7,
                level: 1
            }
        );
        assert_eq!(log.moved[1].importance, 0.4);
        assert_eq!(log.fill.len(), 3);
        assert_eq!(log.levels(), 2);
        assert_eq!(log.fill[2], (2, vec![0.0, 0.25]));
    }
}
