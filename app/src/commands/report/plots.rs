//! The report's PNG plots, read from the rows `results.json` holds and drawn by
//! [`crate::plots`].

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::items;
use crate::plots::{self, Series};

/// Writes `accuracy.png`, `ablations.png`, `survival.png` and `forgetting.png` into `out`.
pub(super) fn plots(out: &Path, results: &Value) -> Result<()> {
    let rows = |key: &str| -> Vec<Value> { items(&results[key]).cloned().collect() };
    let methods = rows("methods");
    plots::accuracy_against_distance(
        &out.join("accuracy.png"),
        "Needle retrieval: accuracy against distance",
        &accuracy_curves(&methods),
    )?;
    let (groups, bars) = ablation_bars(&rows("ablations"));
    plots::bars(
        &out.join("ablations.png"),
        "Ablations: needle accuracy",
        "accuracy",
        &groups,
        &bars,
    )?;
    plots::survival(&out.join("survival.png"), &survival_curves(&methods))?;
    let continual = rows("continual");
    let first = continual
        .first()
        .and_then(|m| m["tasks"][0].as_str().map(str::to_string))
        .unwrap_or_default();
    plots::forgetting(
        &out.join("forgetting.png"),
        &forgetting_curves(&continual),
        &first,
    )
}

fn name(row: &Value) -> String {
    row["method"].as_str().unwrap_or("?").to_string()
}

/// `(distance, accuracy)` of each method's result lines.
fn accuracy_curves(methods: &[Value]) -> Vec<Series> {
    methods
        .iter()
        .map(|m| {
            let points = items(&m["results"])
                .filter_map(|r| Some((r["distance"].as_f64()?, r["accuracy"].as_f64()?)))
                .collect();
            (name(m), points)
        })
        .collect()
}

/// Each ablation by its change alone ("DMN, PPO policy" → "PPO policy") on the x axis, a bar
/// per evaluated distance.
fn ablation_bars(ablations: &[Value]) -> (Vec<String>, Vec<(String, Vec<f64>)>) {
    let groups = ablations
        .iter()
        .map(|m| {
            let name = m["method"].as_str().unwrap_or("?");
            name.strip_prefix("DMN, ")
                .or_else(|| name.strip_prefix("DMN "))
                .unwrap_or(name)
                .to_string()
        })
        .collect();
    let distances: Vec<Value> = ablations
        .first()
        .and_then(|m| m["results"].as_array().cloned())
        .unwrap_or_default();
    let bars = distances
        .iter()
        .enumerate()
        .map(|(j, d)| {
            let heights = ablations
                .iter()
                .map(|m| m["results"][j]["accuracy"].as_f64().unwrap_or(0.0))
                .collect();
            (format!("distance {}", d["distance"]), heights)
        })
        .collect();
    (groups, bars)
}

/// Slot survival of each method that has working memory.
fn survival_curves(methods: &[Value]) -> Vec<Series> {
    methods
        .iter()
        .filter(|m| !m["behaviour"].is_null())
        .map(|m| {
            let points = items(&m["behaviour"]["survival"])
                .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                .collect();
            (name(m), points)
        })
        .collect()
}

/// Accuracy on the first continual task after each phase (phases from 1).
fn forgetting_curves(continual: &[Value]) -> Vec<Series> {
    continual
        .iter()
        .map(|m| {
            let points = items(&m["accuracy"])
                .enumerate()
                .filter_map(|(p, row)| Some(((p + 1) as f64, row[0].as_f64()?)))
                .collect();
            (name(m), points)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ablations_are_named_by_their_change_with_a_bar_per_distance() {
        let rows = [
            json!({"method": "DMN", "results": [{"distance": 8, "accuracy": 1.0}, {"distance": 128, "accuracy": 0.5}]}),
            json!({"method": "DMN, PPO policy", "results": [{"distance": 8, "accuracy": 0.75}, {"distance": 128}]}),
            json!({"method": "DMN without LTM", "results": []}),
        ];
        let (groups, bars) = ablation_bars(&rows);
        assert_eq!(groups, ["DMN", "PPO policy", "without LTM"]);
        assert_eq!(
            bars,
            [
                ("distance 8".to_string(), vec![1.0, 0.75, 0.0]),
                ("distance 128".to_string(), vec![0.5, 0.0, 0.0]),
            ]
        );
    }

    #[test]
    fn forgetting_follows_the_first_task_from_phase_one() {
        let rows = [json!({"method": "LSTM", "accuracy": [[0.9, 0.1], [0.4, 0.8]]})];
        assert_eq!(
            forgetting_curves(&rows),
            [("LSTM".to_string(), vec![(1.0, 0.9), (2.0, 0.4)])]
        );
    }
}
