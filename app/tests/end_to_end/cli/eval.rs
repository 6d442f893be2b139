//! `dmn eval`: a JSON line per distance, with token accuracy and exact matches.

use super::{json_lines, ok, run_config, train};

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
        // One answer token per needle: a sequence is exact exactly when its token is right.
        assert_eq!(l["exact_match"].as_f64(), Some(acc));
    }
    // The same run evaluated with a setting changed says so in its line.
    let short = |setting: &[&str]| {
        let base = ["eval", "--run", run.to_str().unwrap(), "--distances", "24"];
        let out = ok(&[&base[..], &["--samples", "4"], setting].concat());
        json_lines(&out).remove(0)
    };
    // Both memories' reads cut from its output.
    let line = short(&["--without-read", "long-term,working"]);
    assert_eq!(
        line["without_read"],
        serde_json::json!(["long-term", "working"])
    );
    // Its write gates cut higher than it trained with.
    let line = short(&["--gate-cut", "0.3"]);
    assert_eq!(line["gate_cut"], serde_json::json!(0.3));
    // Its working memory written by another rule than it trained with.
    let line = short(&["--write-rule", "replace"]);
    assert_eq!(line["write_rule"], "replace");
}

#[test]
fn passkey_and_multi_key_runs_train_and_score_whole_answers() {
    let dir = tempfile::tempdir().unwrap();
    for (task, extra) in [("passkey", &[][..]), ("multikey", &["--pairs", "6"][..])] {
        let run = dir.path().join(task);
        let mut args = vec![
            "train",
            "--task",
            task,
            "--length",
            "30",
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--out",
            run.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ok(&args);
        let out = ok(&["eval", "--run", run.to_str().unwrap(), "--samples", "4"]);
        let line = &json_lines(&out)[0];
        assert_eq!(line["task"], task);
        let (acc, exact) = (line["accuracy"].as_f64(), line["exact_match"].as_f64());
        // Several answer tokens per sequence: a whole answer is never likelier than a token.
        assert!(exact.unwrap() <= acc.unwrap(), "{line}");
    }
    assert_eq!(
        run_config(&dir.path().join("multikey"))["train"]["task"]["pairs"],
        6
    );
}
