//! [`History`]: everything the panels draw, built only from what the training thread sends
//! (metrics and [`MemoryTrace`]s) or from a run directory's `metrics.jsonl`.

use std::path::Path;

use anyhow::{Context, Result};
use dmn::MemoryTrace;
use dmn::timeline::Timeline;

/// One metrics point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Optimizer step.
    pub step: u64,
    /// Task loss.
    pub loss: f32,
    /// Accuracy on the scored tokens.
    pub accuracy: f32,
    /// Training throughput.
    pub tokens_per_s: f64,
    /// Task length at that step.
    pub length: usize,
    /// Tokens trained on so far.
    pub tokens: u64,
}

/// The data behind every panel.
#[derive(Debug, Default)]
pub struct History {
    /// Metrics, one per step (or per logged step when replaying a run).
    pub points: Vec<Point>,
    /// Per-segment traces of the fixed held-out sequence, as of `trace_step`.
    pub traces: Vec<MemoryTrace>,
    /// Step the traces were taken at.
    pub trace_step: u64,
    /// Counts trace updates, so panels can keep what they derive from the traces until the
    /// traces change (a new run's first trace has the same step as the last run's).
    pub trace_generation: u64,
    /// Accuracy against distance, from the last evaluation: (distance, accuracy).
    pub by_distance: Vec<(u64, f32)>,
    /// A stream's timeline opened for viewing (`dmn stream --trace`); kept when a run starts.
    pub timeline: Option<Timeline>,
    /// Counts timelines opened, so the timeline panel resets its view for a new one.
    pub timeline_generation: u64,
}

impl History {
    /// Metrics of a run directory written by `dmn train` (its `metrics.jsonl`).
    pub fn replay(run: &Path) -> Result<Self> {
        let path = run.join("metrics.jsonl");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse_metrics(&text, &path.display().to_string())
    }

    /// Metrics from the text of a `metrics.jsonl`; `source` names it in errors (a path, or the
    /// address the browser fetched it from).
    pub fn parse_metrics(text: &str, source: &str) -> Result<Self> {
        let mut points = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{source} line {}: not JSON", i + 1))?;
            let num = |k: &str| v.get(k).and_then(|x| x.as_f64());
            let (Some(step), Some(loss)) = (num("step"), num("loss")) else {
                continue; // lines of other kinds (evaluations, notes) are not curve points
            };
            points.push(Point {
                step: step as u64,
                loss: loss as f32,
                accuracy: num("accuracy").unwrap_or(f64::NAN) as f32,
                tokens_per_s: num("tokens_per_s").unwrap_or(0.0),
                length: num("length").unwrap_or(0.0) as usize,
                tokens: num("tokens").unwrap_or(0.0) as u64,
            });
        }
        Ok(Self {
            points,
            ..Self::default()
        })
    }

    /// Replaces the traces with those taken at `step`.
    pub fn set_traces(&mut self, step: u64, traces: Vec<MemoryTrace>) {
        self.trace_step = step;
        self.traces = traces;
        self.trace_generation += 1;
    }

    /// An empty history that keeps only the opened timeline (for a new run in the window).
    pub fn keeping_timeline(&mut self) -> Self {
        Self {
            timeline: self.timeline.take(),
            timeline_generation: self.timeline_generation,
            ..Self::default()
        }
    }

    /// Shows `timeline` in the timeline panel.
    pub fn set_timeline(&mut self, timeline: Timeline) {
        self.timeline = Some(timeline);
        self.timeline_generation += 1;
    }

    /// A timeline from the bytes of a `dmn stream --trace` file; `source` names it in errors.
    pub fn parse_timeline(bytes: &[u8], source: &str) -> Result<Timeline> {
        serde_json::from_slice(bytes)
            .with_context(|| format!("{source} is not a timeline written by `dmn stream --trace`"))
    }

    /// The newest trace, if any.
    pub fn last_trace(&self) -> Option<&MemoryTrace> {
        self.traces.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_reads_metrics_lines_and_skips_others() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metrics.jsonl"),
            "{\"step\":10,\"loss\":2.5,\"accuracy\":0.25,\"tokens_per_s\":100.0,\"length\":64}\n\
             {\"note\":\"eval\"}\n\
             {\"step\":20,\"loss\":1.5,\"accuracy\":0.5,\"tokens_per_s\":90.0,\"length\":128}\n",
        )
        .unwrap();
        let h = History::replay(dir.path()).unwrap();
        assert_eq!(h.points.len(), 2);
        assert_eq!(h.points[1].step, 20);
        assert_eq!(h.points[1].length, 128);
    }

    #[test]
    fn replay_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metrics.jsonl"),
            "{\"step\":1,\"loss\":1}\nnot json\n",
        )
        .unwrap();
        let err = History::replay(dir.path()).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn an_opened_timeline_outlives_a_new_run_and_a_bad_file_is_named() {
        let mut h = History::default();
        h.set_timeline(Timeline::new(2, 1, 0, 8, 16));
        h.set_traces(3, vec![MemoryTrace::default()]);
        let json = serde_json::to_vec(h.timeline.as_ref().unwrap()).unwrap();
        let kept = h.keeping_timeline();
        assert!(kept.traces.is_empty() && kept.timeline.is_some());
        assert_eq!(kept.timeline_generation, 1);
        assert_eq!(
            History::parse_timeline(&json, "t.json").unwrap(),
            kept.timeline.unwrap()
        );
        let e = History::parse_timeline(b"{\"tokens\": 3}", "t.json").unwrap_err();
        assert!(
            format!("{e:#}").starts_with("t.json is not a timeline written by `dmn stream"),
            "{e:#}"
        );
    }
}
