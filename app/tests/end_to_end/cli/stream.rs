//! `dmn stream`: one long sequence through a trained run, reported in JSON lines; a document
//! through a text run, split and resumed through a saved memory state.

use assert_cmd::Command;
use dmn::timeline::Timeline;
use dmn_app::state_file;
use serde_json::Value;

use super::{fails, json_lines, ok, train, train_text};

#[test]
fn stream_prints_json_lines_up_to_the_answer_and_writes_its_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--steps", "2"]);
    let trace = dir.path().join("timeline.json");
    let state = dir.path().join("needle.state");
    let (run, trace_s) = (run.to_str().unwrap(), trace.to_str().unwrap());
    let state_s = state.to_str().unwrap();
    let out = ok(&[
        "stream",
        "--run",
        run,
        "--length",
        "3000",
        "--trace",
        trace_s,
        "--save-state",
        state_s,
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[2]["tokens"], 3000);
    assert!(lines[3].get("correct").is_some());
    assert_eq!(lines[3]["trace"], trace_s);

    // The memory at the end of the stream, asked a question; a run of another model refuses it.
    assert_eq!(state_file::load(&state).unwrap().position, 3000);
    let probe = [
        "probe",
        "--value",
        "1",
        "--distance",
        "40",
        "--load-state",
        state_s,
    ];
    let asked = json_lines(&ok(&[&probe[..], &["--run", run]].concat()));
    assert!(asked[0]["answer"].is_i64(), "{:?}", asked[0]);
    let copy = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/assets/copy-tiny");
    let e = fails(&[
        "probe",
        "--run",
        copy,
        "--values",
        "1,2",
        "--distance",
        "64",
        "--load-state",
        state_s,
    ]);
    assert!(
        e.contains("needle.state holds the state of another model"),
        "{e}"
    );

    // The timeline covers every token, marks the needle and the question, keeps their
    // segments whole, and traces the one answer to the slot it read.
    let timeline: Timeline = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    assert_eq!(timeline.tokens, 3000);
    let covered: u64 = timeline.buckets.iter().map(|b| b.tokens).sum();
    assert_eq!(covered, 3000);
    let marks: Vec<(u64, &str)> = timeline
        .marks
        .iter()
        .map(|m| (m.position, m.label.as_str()))
        .collect();
    assert_eq!(marks, [(1, "needle"), (2999, "query")]);
    assert_eq!(timeline.details.len(), 2);
    assert_eq!(timeline.details[0].start, 0);
    let answer = &timeline.answers[..];
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].position, 2999);
    assert_eq!(
        Some(answer[0].predicted.into()),
        lines[3]["predicted"].as_u64()
    );
    assert_eq!(
        answer[0].expected.map(u64::from),
        lines[3]["needle_value"].as_u64()
    );
    assert_eq!(answer[0].read.len(), timeline.slots);

    let e = fails(&[
        "stream",
        "--run",
        run,
        "--length",
        "3000",
        "--trace",
        dir.path().join("no/such/folder/t.json").to_str().unwrap(),
    ]);
    assert!(
        e.contains("--trace") && e.contains("folder does not exist"),
        "{e}"
    );
}

/// The summary (last line) of a `dmn stream --input` run, and its summed bits.
fn summary(stdout: &str) -> (Value, f64) {
    let last = json_lines(stdout).pop().unwrap();
    let bits = last["bits_per_byte"].as_f64().unwrap() * last["tokens"].as_f64().unwrap();
    (last, bits)
}

#[test]
fn a_document_streamed_in_two_parts_through_a_saved_state_equals_the_unbroken_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let text = "Ünïcode and plain words, over and over; ".repeat(30);
    std::fs::write(path("book.txt"), &text).unwrap();
    let run = path("run");
    train_text(&run, &path("book.txt"), &[]);
    let run_s = run.to_str().unwrap();

    // The whole document, then the same split in two (inside a character, not at a segment
    // boundary): the second half read from standard input, continuing the saved state.
    let cut = 11 * 42 + 4; // inside the 12th "ï"
    assert!(!text.is_char_boundary(cut));
    std::fs::write(path("a.txt"), &text.as_bytes()[..cut]).unwrap();
    let whole = ok(&[
        "stream",
        "--run",
        run_s,
        "--input",
        path("book.txt").to_str().unwrap(),
        "--region",
        "256",
        "--save-state",
        path("whole.state").to_str().unwrap(),
        "--trace",
        path("whole.json").to_str().unwrap(),
    ]);
    let first = ok(&[
        "stream",
        "--run",
        run_s,
        "--input",
        path("a.txt").to_str().unwrap(),
        "--region",
        "256",
        "--save-state",
        path("a.state").to_str().unwrap(),
    ]);
    let out = Command::cargo_bin("dmn")
        .unwrap()
        .args([
            "stream",
            "--run",
            run_s,
            "--input",
            "-",
            "--region",
            "256",
            "--load-state",
            path("a.state").to_str().unwrap(),
            "--save-state",
            path("b.state").to_str().unwrap(),
        ])
        .write_stdin(&text.as_bytes()[cut..])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = String::from_utf8(out.stdout).unwrap();

    // Regions of 256 positions, then the summary; the saved state keeps the last tokens.
    let lines = json_lines(&whole);
    assert!(lines.len() >= 4, "{whole}");
    assert_eq!(
        (&lines[1]["start"], &lines[1]["end"]),
        (&Value::from(256), &Value::from(512))
    );
    let (whole_summary, whole_bits) = summary(&whole);
    let bpc = whole_summary["bits_per_char"].as_f64().unwrap();
    assert!(bpc > 0.0 && bpc < 16.0, "{whole_summary}");
    // The timeline covers every token run (all but those the saved state keeps).
    let timeline: Timeline =
        serde_json::from_slice(&std::fs::read(path("whole.json")).unwrap()).unwrap();
    let run_tokens =
        whole_summary["position"].as_u64().unwrap() - whole_summary["pending"].as_u64().unwrap();
    assert_eq!(timeline.tokens, run_tokens);
    let covered: u64 = timeline.buckets.iter().map(|b| b.tokens).sum();
    assert_eq!(covered, run_tokens);
    let (_, first_bits) = summary(&first);
    let (second_summary, second_bits) = summary(&second);
    assert_eq!(second_summary["position"], text.len());
    assert!(
        (first_bits + second_bits - whole_bits).abs() < 1e-3 * whole_bits,
        "{first}\n{second}\n{whole}"
    );
    let a = state_file::load(&path("whole.state")).unwrap();
    let b = state_file::load(&path("b.state")).unwrap();
    assert_eq!(a.position, b.position);
    assert_eq!(a.pending, b.pending);
    assert!(
        a.snapshot == b.snapshot,
        "the resumed stream's state differs from the unbroken one's"
    );

    // A damaged state, a state from another model, and a run that does not read text.
    let mut bytes = std::fs::read(path("a.state")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(path("bad.state"), bytes).unwrap();
    let e = fails(&[
        "stream",
        "--run",
        run_s,
        "--input",
        path("a.txt").to_str().unwrap(),
        "--load-state",
        path("bad.state").to_str().unwrap(),
    ]);
    assert!(e.contains("bad.state is corrupt"), "{e}");
    let other = path("other");
    train_text(&other, &path("book.txt"), &["--wm-slots", "8"]);
    let e = fails(&[
        "stream",
        "--run",
        other.to_str().unwrap(),
        "--input",
        path("a.txt").to_str().unwrap(),
        "--load-state",
        path("a.state").to_str().unwrap(),
    ]);
    assert!(e.contains("another model"), "{e}");
    let needle = path("needle");
    train(&needle, &["--steps", "2"]);
    let e = fails(&[
        "stream",
        "--run",
        needle.to_str().unwrap(),
        "--input",
        path("a.txt").to_str().unwrap(),
    ]);
    assert!(e.contains("needs a text run"), "{e}");
}
