//! PNG plots for `dmn report`, drawn with plotters. Text uses a font embedded in the binary
//! (egui's Ubuntu Light), so plots render the same on a machine without system fonts.

use std::error::Error;
use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registration only fails on a font that does not parse; the embedded one does.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// One line of a plot: its legend and points.
pub type Series = (String, Vec<(f64, f64)>);

/// A chart on a bitmap, both axes in `f64`.
type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// What plotters reports, whatever the drawing step.
type DrawResult = std::result::Result<(), Box<dyn Error>>;

/// A chart's frame: the picture's size, the title, the axes' ranges and where the legend goes.
struct Frame<'a> {
    size: (u32, u32),
    title: &'a str,
    x: Range<f64>,
    y: Range<f64>,
    legend: SeriesLabelPosition,
}

/// Draws one chart into the PNG at `path`: `frame` on white, the mesh and labelled series by
/// `draw`, then their legend.
fn plot(path: &Path, frame: Frame, draw: impl FnOnce(&mut Chart) -> DrawResult) -> Result<()> {
    register_font();
    let drawn = || -> DrawResult {
        let root = BitMapBackend::new(path, frame.size).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(frame.title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(frame.x, frame.y)?;
        draw(&mut chart)?;
        chart
            .configure_series_labels()
            .position(frame.legend)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
        root.present()?;
        Ok(())
    };
    drawn().map_err(|e| anyhow!("cannot draw {}: {e}", path.display()))
}

/// Axes and labels of a line plot.
struct Axes<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    /// Points' x are log10 of the value; labels show the value.
    log_x: bool,
    y: Range<f64>,
}

/// A line plot of `series` (900 × 560 px), with a dot at each point if `dots`.
fn lines(path: &Path, axes: &Axes, series: &[Series], dots: bool) -> Result<()> {
    let xs = series.iter().flat_map(|(_, p)| p.iter().map(|&(x, _)| x));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    if !lo.is_finite() {
        return Err(anyhow!("no results to plot in {}", path.display()));
    }
    let pad = ((hi - lo) * 0.03).max(0.1);
    let frame = Frame {
        size: (900, 560),
        title: axes.title,
        x: lo - pad..hi + pad,
        y: axes.y.clone(),
        legend: SeriesLabelPosition::MiddleRight,
    };
    plot(path, frame, |chart| {
        let log_x = axes.log_x;
        chart
            .configure_mesh()
            .x_desc(axes.x_desc)
            .x_labels(8)
            .x_label_formatter(&|x| {
                if log_x {
                    format!("{:.0}", 10f64.powf(*x))
                } else {
                    format!("{x:.0}")
                }
            })
            .y_desc(axes.y_desc)
            .label_style(("sans-serif", 15))
            .draw()?;
        for (i, (name, points)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            if dots {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            }
        }
        Ok(())
    })
}

/// Accuracy against distance (log scale) under `title`, one line per method (`(name,
/// [(distance, accuracy)])`).
pub fn accuracy_against_distance(path: &Path, title: &str, curves: &[Series]) -> Result<()> {
    let series: Vec<Series> = curves
        .iter()
        .map(|(name, points)| {
            let points = points.iter().map(|&(d, a)| (d.log10(), a)).collect();
            (name.clone(), points)
        })
        .collect();
    let axes = Axes {
        title,
        x_desc: "distance (tokens, log scale)",
        y_desc: "accuracy",
        log_x: true,
        y: 0.0..1.05,
    };
    lines(path, &axes, &series, true)
}

/// Kaplan–Meier survival of working-memory contents against their age in tokens, one step
/// curve per method (`(name, [(age, surviving)])`).
pub fn survival(path: &Path, curves: &[Series]) -> Result<()> {
    // A step function: hold each value until the next event.
    let series: Vec<Series> = curves
        .iter()
        .map(|(name, curve)| {
            let mut points = Vec::new();
            for (i, &(t, s)) in curve.iter().enumerate() {
                if i > 0 {
                    points.push((t, curve[i - 1].1));
                }
                points.push((t, s));
            }
            (name.clone(), points)
        })
        .collect();
    let axes = Axes {
        title: "Slot survival: contents not yet overwritten",
        x_desc: "age (tokens)",
        y_desc: "surviving fraction",
        log_x: false,
        y: 0.0..1.05,
    };
    lines(path, &axes, &series, false)
}

/// Forgetting curves: accuracy on the first task after each training phase, one line per
/// method (`(name, [(phase, accuracy)])`).
pub fn forgetting(path: &Path, curves: &[Series], first_task: &str) -> Result<()> {
    let title = format!("Continual learning: accuracy on `{first_task}` after each phase");
    let axes = Axes {
        title: &title,
        x_desc: "tasks trained so far",
        y_desc: "accuracy",
        log_x: false,
        y: 0.0..1.05,
    };
    lines(path, &axes, curves, true)
}

/// Grouped bars (1200 × 560 px): for each of `groups` (x axis) one bar per series (legend),
/// heights in 0..=1.
pub fn bars(
    path: &Path,
    title: &str,
    y_desc: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
) -> Result<()> {
    if groups.is_empty() || series.is_empty() {
        return Err(anyhow!("no results to plot in {}", path.display()));
    }
    let n = groups.len();
    let frame = Frame {
        size: (1200, 560),
        title,
        x: -0.5..n as f64 - 0.5,
        // Room above the bars for the legend.
        y: 0.0..1.25,
        legend: SeriesLabelPosition::UpperRight,
    };
    plot(path, frame, |chart| {
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                    groups[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .label_style(("sans-serif", 12))
            .draw()?;
        let width = 0.8 / series.len() as f64;
        for (j, (label, heights)) in series.iter().enumerate() {
            let color = Palette99::pick(j).to_rgba();
            chart
                .draw_series(heights.iter().enumerate().map(|(i, &h)| {
                    let x0 = i as f64 - 0.4 + j as f64 * width;
                    Rectangle::new(
                        [(x0, 0.0), (x0 + width * 0.9, h.clamp(0.0, 1.05))],
                        color.filled(),
                    )
                }))?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plot_is_written_at_its_size_and_an_empty_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("survival.png");
        let curve = (
            "DMN".to_string(),
            vec![(0.0, 1.0), (16.0, 0.5), (48.0, 0.25)],
        );
        survival(&path, &[curve]).unwrap();
        let png = image::open(&path).unwrap();
        assert_eq!((png.width(), png.height()), (900, 560));
        let err = survival(&dir.path().join("none.png"), &[]).unwrap_err();
        assert!(err.to_string().contains("no results to plot"), "{err}");
    }
}
