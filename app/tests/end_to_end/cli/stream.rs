//! `dmn stream`: one long sequence through a trained run, reported in JSON lines.

use super::{json_lines, ok, train};

#[test]
fn stream_prints_json_lines_up_to_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--steps", "2"]);
    let out = ok(&["stream", "--run", run.to_str().unwrap(), "--length", "3000"]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[2]["tokens"], 3000);
    assert!(lines[3].get("correct").is_some());
}
