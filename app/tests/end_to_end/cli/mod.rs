//! The `dmn` binary end to end: every subcommand on the tiny preset, one module each, and every
//! bad input from the trainer's contract in one table ([`bad_input`]: one-line error, non-zero
//! exit, no panic, nothing overwritten).

mod bad_input;
mod bench;
mod eval;
mod export;
mod policy;
mod probe;
mod report;
mod resume;
mod stream;
mod text;
mod train;

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

/// Runs `dmn` with `args`.
fn dmn(args: &[&str]) -> Output {
    Command::cargo_bin("dmn")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

/// Runs a command that must succeed; returns its stdout.
fn ok(args: &[&str]) -> String {
    let out = dmn(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dmn {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail cleanly; returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = dmn(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "dmn {args:?} should have failed");
    assert!(
        !stderr.contains("panicked"),
        "dmn {args:?} panicked: {stderr}"
    );
    assert!(stderr.starts_with("error"), "dmn {args:?}: {stderr}");
    stderr
}

/// Trains needle retrieval at distance 24, batch 4, into `out`, with `extra` arguments.
fn train(out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--task",
        "needle",
        "--length",
        "24",
        "--batch-size",
        "4",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&args)
}

/// Trains a text run for 2 steps on `text` into `run`, with `extra` arguments.
fn train_text(run: &Path, text: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--task",
        "text",
        "--text",
        text.to_str().unwrap(),
        "--length",
        "32",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--out",
        run.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&args)
}

/// Every line of a run's `metrics.jsonl`.
fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A run's `config.json`.
fn run_config(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap()
}

/// Each line of a command's stdout, as JSON.
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The run directories shipped with the browser demo (`web/assets/`).
const ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/assets");
