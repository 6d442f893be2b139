//! PNG plots for `dmn report`, drawn with plotters. Text uses a font embedded in the binary
//! (egui's Ubuntu Light), so plots render the same on a machine without system fonts.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::FontStyle;
use serde_json::Value;

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

/// Accuracy against distance (log scale), one line per method of a report's `methods`. The x
/// axis is log10(distance), labelled in tokens.
pub fn accuracy_against_distance(path: &Path, methods: &[Value]) -> Result<()> {
    register_font();
    let series: Vec<(String, Vec<(f64, f64)>)> = methods
        .iter()
        .map(|m| {
            let points = m["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| Some((r["distance"].as_f64()?.log10(), r["accuracy"].as_f64()?)))
                .collect();
            (m["method"].as_str().unwrap_or("?").to_string(), points)
        })
        .collect();
    let distances = series.iter().flat_map(|(_, p)| p.iter().map(|&(d, _)| d));
    let (lo, hi) = distances.fold((f64::INFINITY, 0.0f64), |(lo, hi), d| {
        (lo.min(d), hi.max(d))
    });
    if !lo.is_finite() {
        return Err(anyhow!("no evaluation results to plot"));
    }
    let err = |e: &dyn std::fmt::Display| anyhow!("cannot draw {}: {e}", path.display());
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Needle retrieval: accuracy against distance",
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(lo - 0.1..hi + 0.1, 0.0..1.05)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("distance (tokens, log scale)")
        .x_labels(8)
        .x_label_formatter(&|x| format!("{:.0}", 10f64.powf(*x)))
        .y_desc("accuracy")
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
