//! `dmn eval`: a JSON line per distance.

use super::{json_lines, ok, train};

#[test]
fn eval_prints_a_json_line_per_distance() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--steps", "2"]);
    let out = ok(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--distances",
        "24,200",
        "--samples",
        "4",
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["distance"], 200);
    for l in &lines {
        let acc = l["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        assert!(l["tokens_per_s"].as_f64().unwrap() > 0.0);
        // The tiny preset's count, from its config: tens of thousands of FLOPs per token.
        let flops = l["flops_per_token"].as_f64().unwrap();
        assert!((1e4..1e6).contains(&flops), "{flops}");
        assert!(l["ltm_bytes"].as_f64().unwrap() >= 0.0);
    }
}
