//! `results.md`: the report's tables, one section per part of the evaluation, read from the
//! rows `results.json` holds.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::items;
use super::suites::{ModelOptions, Section, Suite, SuiteSpec, Training};

/// The Markdown report of `results` (as `results.json` holds them), measured as `spec` says;
/// `text` is the corpus of the bits-per-character section, if one was given.
pub(super) fn markdown(
    suite: Suite,
    spec: &SuiteSpec,
    results: &Value,
    text: Option<&Path>,
) -> String {
    let rows = |key: &str| -> Vec<Value> { items(&results[key]).cloned().collect() };
    let (needle, ablations) = (rows("methods"), rows("ablations"));
    let mut md = String::new();
    let _ = writeln!(md, "# DMN results: suite `{}`\n", suite.name());
    let _ = writeln!(
        md,
        "Commit `{}`.\n",
        results["commit"].as_str().unwrap_or("?")
    );
    needle_section(&mut md, &spec.needle, &needle);
    cost_section(&mut md, &needle);
    ablation_section(&mut md, &spec.ablations, &ablations);
    behaviour_section(&mut md, spec, &needle, &ablations);
    qa_section(&mut md, &spec.qa, &rows("qa"));
    summary_section(&mut md, &spec.summary, &rows("summary"));
    text_section(&mut md, &spec.text, &rows("text"), text);
    continual_section(&mut md, spec, &rows("continual"));
    md
}

/// `v` with `digits` decimals, or `–` where the figure is missing.
pub(super) fn f(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".to_string(), |x| format!("{x:.digits$}"))
}

/// A row's method name.
fn method(row: &Value) -> &str {
    row["method"].as_str().unwrap_or("?")
}

/// How a section trained and evaluated, in one sentence.
fn training_line(t: &Training, samples: usize) -> String {
    format!(
        "{}; evaluated on {samples} held-out sequences per length.",
        training_sentence(t)
    )
}

/// How a section trained, without a full stop.
pub(super) fn training_sentence(t: &Training) -> String {
    let curriculum = t.curriculum.map_or(String::new(), |c| {
        format!(
            " (curriculum from length {} over {} steps)",
            c.start, c.steps
        )
    });
    format!(
        "`{}` preset{}, trained {} steps at length {}{curriculum}, batch {}, seed 0",
        t.preset,
        model_options(&t.model),
        t.steps,
        t.length,
        t.batch_size
    )
}

/// The options a section sets beyond its preset, as a phrase after the preset's name.
fn model_options(o: &ModelOptions) -> String {
    let mut parts = Vec::new();
    if let Some(k) = o.wm_slots {
        parts.push(format!("{k} working-memory slots"));
    }
    if let Some((levels, entries)) = o.ltm_capacity {
        parts.push(format!("long-term memory of {levels} × {entries} entries"));
    }
    if let Some(layout) = o.ltm {
        parts.push(format!("`{layout}` layout"));
    }
    if let Some(compression) = o.compression {
        parts.push(format!("compression `{compression}`"));
    }
    match parts.is_empty() {
        true => String::new(),
        false => format!(" with {}", parts.join(", ")),
    }
}

/// A section's paragraph (`about`, how the section trained, its plot if it has one), then its
/// table of one figure per method and evaluated length.
fn figures(
    md: &mut String,
    about: &str,
    plot: Option<&str>,
    section: &Section,
    rows: &[Value],
    cell: impl Fn(&Value) -> String,
) {
    let plot = plot.map_or(String::new(), |p| format!(" Plot: `{p}`."));
    let training = training_line(&section.training, section.samples);
    let _ = writeln!(md, "{about} {training}{plot}\n");
    figure_table(md, rows, &section.distances, cell);
}

/// A table of one figure per method and evaluated length.
fn figure_table(
    md: &mut String,
    rows: &[Value],
    distances: &[u64],
    cell: impl Fn(&Value) -> String,
) {
    let header: Vec<String> = distances.iter().map(|d| d.to_string()).collect();
    let _ = writeln!(md, "| method | {} |", header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(distances.len()));
    for m in rows {
        let cells: Vec<String> = items(&m["results"]).map(&cell).collect();
        let _ = writeln!(md, "| {} | {} |", method(m), cells.join(" | "));
    }
}

fn needle_section(md: &mut String, section: &Section, rows: &[Value]) {
    let _ = writeln!(md, "## Needle retrieval: accuracy against distance\n");
    let about = "16 values (chance 1/16).";
    figures(md, about, Some("accuracy.png"), section, rows, |x| {
        f(&x["accuracy"], 3)
    });
}

/// What each needle method costs, at the longest distance evaluated.
fn cost_section(md: &mut String, rows: &[Value]) {
    let _ = writeln!(md, "\n## Cost\n");
    let _ = writeln!(
        md,
        "| method | FLOPs/token | peak RSS at the longest distance (MB) | LTM bytes at the longest distance | tokens/s at the longest distance |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for m in rows {
        let last = m["results"]
            .as_array()
            .and_then(|r| r.last())
            .cloned()
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {} | {} |",
            method(m),
            f(&m["flops_per_token"], 0),
            last["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6,
            f(&last["ltm_bytes"], 1),
            f(&last["tokens_per_s"], 0),
        );
    }
}

fn ablation_section(md: &mut String, section: &Section, rows: &[Value]) {
    let _ = writeln!(md, "\n## Ablations\n");
    let about = "Each a change of DMN (first row) on needle retrieval.";
    figures(md, about, Some("ablations.png"), section, rows, |x| {
        format!("{} ({} B)", f(&x["accuracy"], 3), f(&x["ltm_bytes"], 0))
    });
    let _ = writeln!(
        md,
        "\nCells: accuracy (bytes long-term memory holds at the end)."
    );
}

/// Working-memory behaviour of every needle and ablation run that has one.
fn behaviour_section(md: &mut String, spec: &SuiteSpec, needle: &[Value], ablations: &[Value]) {
    let (distance, samples) = (spec.behaviour.distance, spec.behaviour.samples);
    let _ = writeln!(md, "\n## Memory behaviour\n");
    let _ = writeln!(
        md,
        "Working memory of each needle model, traced on {samples} held-out sequences of distance \
         {distance}. Writes: the slot of a head's largest write weight (≥ 0.05). Reuse: the \
         fraction of writes that overwrite earlier contents. Lifetime: tokens until a content is \
         overwritten (median by Kaplan–Meier; – when most outlive the sequence). Sparsity: the \
         fraction of slots a head leaves unread (< 1 % of its weight). Plot: `survival.png`.\n"
    );
    let _ = writeln!(
        md,
        "| method | writes/update/slot | slots used | slot reuse | mean lifetime | median lifetime | read entropy (bits) | read sparsity |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    let mut shown = Vec::new();
    for m in needle.iter().chain(ablations) {
        let b = &m["behaviour"];
        // A run in both sections (DMN itself, when trained alike) is listed once.
        if b.is_null() || shown.contains(&&m["run"]) {
            continue;
        }
        shown.push(&m["run"]);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            method(m),
            f(&b["write_frequency"], 3),
            f(&b["slots_used"], 2),
            f(&b["slot_reuse"], 2),
            f(&b["mean_lifetime_tokens"], 0),
            f(&b["median_survival_tokens"], 0),
            f(&b["read_entropy_bits"], 2),
            f(&b["read_sparsity"], 2),
        );
    }
}

fn qa_section(md: &mut String, section: &Section, rows: &[Value]) {
    let _ = writeln!(md, "\n## Multi-document QA\n");
    let about = "4 generated documents, each stating values (16, chance 1/16) for the same 2 \
                 attributes; 4 questions (document, attribute) at the end. Accuracy.";
    figures(md, about, None, section, rows, |x| f(&x["accuracy"], 3));
}

fn summary_section(md: &mut String, section: &Section, rows: &[Value]) {
    let _ = writeln!(
        md,
        "\n## Key-sentence extraction (summarization surrogate)\n"
    );
    let about = "Reproduce the 2 marked sentences of a document (words from 24) after it. Cells: \
                 token F1 / ROUGE-L of the predicted summary.";
    figures(md, about, None, section, rows, |x| {
        format!("{} / {}", f(&x["f1"], 3), f(&x["rouge_l"], 3))
    });
}

fn text_section(md: &mut String, section: &Section, rows: &[Value], text: Option<&Path>) {
    let _ = writeln!(md, "\n## Text: bits per character\n");
    let Some(path) = text else {
        let _ = writeln!(md, "Not run: give a corpus with `--text PATH`.");
        return;
    };
    let about = format!(
        "`{}`, bytes as tokens, measured on its held-out last 5 %.",
        path.display()
    );
    figures(md, &about, None, section, rows, |x| {
        f(&x["bits_per_char"], 3)
    });
}

/// Accuracy on every task after each phase, then each task's forgetting, per method.
fn continual_section(md: &mut String, spec: &SuiteSpec, rows: &[Value]) {
    let _ = writeln!(md, "\n## Continual learning\n");
    let c = &spec.continual;
    let names: Vec<String> = c
        .tasks
        .iter()
        .map(|t| format!("{} ({})", t.kind.name(), t.length))
        .collect();
    let _ = writeln!(
        md,
        "Tasks in sequence without replay: {}; {} steps each, batch {}, tiny preset. Cells: \
         accuracy on each task after each phase ({} held-out sequences). Forgetting: best earlier \
         accuracy minus final accuracy. Plot: `forgetting.png`.\n",
        names.join(" → "),
        c.steps_per_task,
        c.batch_size,
        c.samples
    );
    let _ = writeln!(md, "| method | after | {} |", names.join(" | "));
    let _ = writeln!(md, "|---|---|{}", "---|".repeat(names.len()));
    let cells = |v: &Value| -> Vec<String> { items(v).map(|x| f(x, 3)).collect() };
    for m in rows {
        for (p, row) in items(&m["accuracy"]).enumerate() {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                method(m),
                names.get(p).map_or("?", String::as_str),
                cells(row).join(" | ")
            );
        }
        let _ = writeln!(
            md,
            "| {} | forgetting | {} | |",
            method(m),
            cells(&m["forgetting"]).join(" | ")
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_figure_table_has_a_column_per_distance_and_a_dash_where_a_figure_is_missing() {
        let rows = [
            json!({"method": "DMN", "results": [{"accuracy": 1.0}, {"accuracy": 0.53125}]}),
            json!({"method": "LSTM", "results": [{"accuracy": 0.5}, {}]}),
        ];
        let mut md = String::new();
        figure_table(&mut md, &rows, &[8, 128], |x| f(&x["accuracy"], 3));
        assert_eq!(
            md,
            "| method | 8 | 128 |\n\
             |---|---|---|\n\
             | DMN | 1.000 | 0.531 |\n\
             | LSTM | 0.500 | – |\n"
        );
    }

    #[test]
    fn the_cost_table_reads_the_longest_distance() {
        let rows = [json!({
            "method": "DMN",
            "flops_per_token": 51234.4,
            "results": [
                {"peak_rss_bytes": 1e9, "ltm_bytes": 1.0, "tokens_per_s": 1.0},
                {"peak_rss_bytes": 123_456_789.0, "ltm_bytes": 2048.3, "tokens_per_s": 9876.4},
            ],
        })];
        let mut md = String::new();
        cost_section(&mut md, &rows);
        let last = md.lines().last().unwrap();
        assert_eq!(last, "| DMN | 51234 | 123.5 | 2048.3 | 9876 |");
    }

    #[test]
    fn a_run_in_both_needle_and_ablations_shows_its_behaviour_once() {
        let behaviour = json!({
            "write_frequency": 0.25, "slots_used": 0.5, "slot_reuse": 0.126,
            "mean_lifetime_tokens": 40.0, "median_survival_tokens": null,
            "read_entropy_bits": 1.5, "read_sparsity": 0.75,
        });
        let dmn = json!({"method": "DMN", "run": "/r/dmn", "behaviour": behaviour});
        let mamba = json!({"method": "Mamba only", "run": "/r/mamba", "behaviour": null});
        let flat = json!({"method": "flat LTM", "run": "/r/flat", "behaviour": behaviour});
        let mut md = String::new();
        behaviour_section(
            &mut md,
            &Suite::Micro.spec().unwrap(),
            &[dmn.clone(), mamba],
            &[dmn, flat],
        );
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(
            rows[1..],
            [
                "| DMN | 0.250 | 0.50 | 0.13 | 40 | – | 1.50 | 0.75 |",
                "| flat LTM | 0.250 | 0.50 | 0.13 | 40 | – | 1.50 | 0.75 |",
            ]
        );
        assert!(
            md.contains("traced on 2 held-out sequences of distance 128"),
            "{md}"
        );
    }

    #[test]
    fn the_continual_table_has_a_row_per_phase_then_the_forgetting() {
        let rows = [json!({
            "method": "DMN",
            "accuracy": [[0.75, 0.0624], [0.5, 1.0]],
            "forgetting": [0.25],
        })];
        let mut md = String::new();
        continual_section(&mut md, &Suite::Micro.spec().unwrap(), &rows);
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(
            table,
            [
                "| method | after | needle (8) | copy (8) |",
                "|---|---|---|---|",
                "| DMN | needle (8) | 0.750 | 0.062 |",
                "| DMN | copy (8) | 0.500 | 1.000 |",
                "| DMN | forgetting | 0.250 | |",
            ]
        );
    }

    #[test]
    fn the_report_has_every_section_and_says_when_text_was_not_run() {
        let spec = Suite::Micro.spec().unwrap();
        let results = json!({
            "commit": "abc123",
            "methods": [{"method": "DMN", "results": [{"accuracy": 1.0}, {"accuracy": 0.5}, {"accuracy": 0.25}]}],
        });
        let md = markdown(Suite::Micro, &spec, &results, None);
        assert!(
            md.starts_with("# DMN results: suite `micro`\n\nCommit `abc123`.\n"),
            "{md}"
        );
        assert!(md.contains(
            "`tiny` preset, trained 100 steps at length 8, batch 8, seed 0; evaluated on 8 \
             held-out sequences per length."
        ));
        assert!(md.contains(
            "| method | 8 | 32 | 128 |\n|---|---|---|---|\n| DMN | 1.000 | 0.500 | 0.250 |\n"
        ));
        assert!(md.contains(
            "## Text: bits per character\n\nNot run: give a corpus with `--text PATH`.\n"
        ));
        for section in [
            "## Cost",
            "## Ablations",
            "## Memory behaviour",
            "## Multi-document QA",
            "## Key-sentence extraction",
            "## Continual learning",
        ] {
            assert!(md.contains(section), "{section} missing from\n{md}");
        }
    }

    #[test]
    fn a_curriculum_is_named_in_the_training_line() {
        let line = training_line(&Suite::Quick.spec().unwrap().needle.training, 32);
        assert!(
            line.contains("at length 128 (curriculum from length 16 over 300 steps), batch 8"),
            "{line}"
        );
    }
}
