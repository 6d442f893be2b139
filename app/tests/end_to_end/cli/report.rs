//! `dmn report --suite micro`: every section's table, `results.json`, the plots, and a second
//! report that reuses the finished runs and their evaluations.

use serde_json::{Value, json};

use super::ok;

#[test]
fn report_micro_writes_tables_json_and_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let text = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let report = [
        "report",
        "--suite",
        "micro",
        "--out",
        out.to_str().unwrap(),
        "--text",
        text,
    ];
    ok(&report);
    let methods = [
        "DMN",
        "Mamba only",
        "LSTM",
        "GRU",
        "Transformer (window 128)",
    ];
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("| method | 8 | 32 | 128 |"), "{md}");
    for m in methods {
        assert!(md.contains(&format!("| {m} |")), "{m} missing from\n{md}");
    }
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["suite"], "micro");
    assert!(!json["commit"].as_str().unwrap().is_empty());
    let rows = json["methods"].as_array().unwrap();
    assert_eq!(rows.len(), methods.len());
    for row in rows {
        let results = row["results"].as_array().unwrap();
        assert_eq!(results.len(), 3, "{row}");
        assert!(
            results
                .iter()
                .all(|r| (0.0..=1.0).contains(&r["accuracy"].as_f64().unwrap()))
        );
        assert!(row["flops_per_token"].as_f64().unwrap() > 0.0);
        assert!(row["config"]["model"]["d_model"].as_u64().is_some());
    }
    // The sliding-window Transformer sees 128 tokens: a needle 128 back is out of its reach,
    // so it answers at chance (1/16) there.
    let transformer = &rows[4]["results"][2];
    assert_eq!(transformer["distance"], 128);
    assert!(
        transformer["accuracy"].as_f64().unwrap() <= 0.25,
        "{transformer}"
    );
    for (png, width) in [
        ("accuracy", 900),
        ("ablations", 1200),
        ("survival", 900),
        ("forgetting", 900),
    ] {
        let png = image::open(out.join(format!("{png}.png"))).unwrap();
        assert_eq!((png.width(), png.height()), (width, 560));
    }
    for section in [
        "## Ablations",
        "| flat LTM |",
        "| mean-pool compression |",
        "## Memory behaviour",
        "## Multi-document QA",
        "## Key-sentence extraction",
        "## Text: bits per character",
        "## Continual learning",
    ] {
        assert!(md.contains(section), "{section} missing from\n{md}");
    }
    let in_unit = |v: &Value| (0.0..=1.0).contains(&v.as_f64().unwrap());
    assert_eq!(json["ablations"].as_array().unwrap().len(), 3);
    let behaviour = &rows[0]["behaviour"];
    for key in [
        "write_frequency",
        "slots_used",
        "slot_reuse",
        "read_sparsity",
    ] {
        assert!(in_unit(&behaviour[key]), "{key}: {behaviour}");
    }
    assert_eq!(behaviour["survival"][0], json!([0.0, 1.0]));
    // Mamba only has no working memory to trace.
    assert!(rows[1]["behaviour"].is_null());
    for r in json["summary"].as_array().unwrap() {
        let line = &r["results"][0];
        assert!(in_unit(&line["f1"]) && in_unit(&line["rouge_l"]), "{line}");
    }
    assert!(in_unit(&json["qa"][0]["results"][0]["accuracy"]));
    for r in json["text"].as_array().unwrap() {
        let bpc = r["results"][0]["bits_per_char"].as_f64().unwrap();
        assert!(bpc > 0.0 && bpc < 16.0, "{bpc}");
    }
    let continual = json["continual"].as_array().unwrap();
    assert_eq!(continual.len(), 2);
    for c in continual {
        let acc = c["accuracy"].as_array().unwrap();
        assert_eq!(acc.len(), 2);
        assert!(
            acc.iter()
                .all(|row| row.as_array().unwrap().iter().all(in_unit))
        );
        assert_eq!(c["forgetting"].as_array().unwrap().len(), 1);
    }
    // A second report reuses the finished runs instead of training again.
    ok(&report);
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert!(again["methods"][0]["train_seconds"].is_null());
    assert_eq!(again["continual"], json["continual"]);
    // And every evaluated cell: the lines come back whole, timings included (measured again,
    // tokens_per_s would differ).
    let results = |v: &Value| -> Vec<Value> {
        v["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["results"].clone())
            .collect()
    };
    assert_eq!(results(&again), results(&json));
}
