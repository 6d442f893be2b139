//! `dmn train --resume`: a resumed run logs what an uninterrupted one logs, its policy's state
//! included.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{dmn, fails, metrics, ok, train};

/// Trains `a` for 6 steps and `b` for 3 then resumed to 6, both with `extra`; returns both
/// metrics logs without the wall-clock and process figures, and `b`'s final checkpoint.
fn interrupted_and_uninterrupted(dir: &Path, extra: &[&str]) -> (Vec<Value>, Vec<Value>, PathBuf) {
    let (a, b) = (dir.join("a"), dir.join("b"));
    let common = [
        "--log-every",
        "1",
        "--checkpoint-every",
        "3",
        "--seed",
        "5",
        "--curriculum-start",
        "12",
        "--curriculum-steps",
        "4",
    ];
    train(&a, &[&["--steps", "6"][..], &common[..], extra].concat());
    train(&b, &[&["--steps", "3"][..], &common[..], extra].concat());
    let out = ok(&[
        "train",
        "--resume",
        "--out",
        b.to_str().unwrap(),
        "--steps",
        "6",
    ]);
    assert!(out.contains("resuming"), "{out}");
    let strip = |mut v: Vec<Value>| {
        for l in &mut v {
            // Wall-clock and process figures differ between runs; everything else must not.
            l.as_object_mut().unwrap().remove("tokens_per_s");
            l.as_object_mut().unwrap().remove("peak_rss_bytes");
        }
        v
    };
    (
        strip(metrics(&a)),
        strip(metrics(&b)),
        b.join("checkpoints/step-00000006"),
    )
}

#[test]
fn resumed_run_logs_the_same_metrics_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (ma, mb, _) = interrupted_and_uninterrupted(dir.path(), &[]);
    assert_eq!(ma.len(), 6);
    assert_eq!(ma, mb);
    assert_ne!(
        ma[0]["length"], ma[5]["length"],
        "the curriculum grew the length"
    );
}

#[test]
fn a_resumed_ppo_run_continues_with_its_critic() {
    // The critic and its optimizer are in the checkpoint, so the resumed run's PPO updates
    // (values, advantages, value loss) are those of the uninterrupted run.
    let dir = tempfile::tempdir().unwrap();
    let (ma, mb, last) = interrupted_and_uninterrupted(dir.path(), &["--policy", "ppo"]);
    assert!(last.join("critic.bpk").is_file() && last.join("critic-optimizer.bpk").is_file());
    assert_eq!(ma.len(), 6);
    assert!(ma[5]["value_loss"].as_f64().is_some(), "{}", ma[5]);
    assert_eq!(ma, mb);
}

#[test]
fn a_resumed_q_learning_run_continues_its_exploration_schedule() {
    // ε follows the step count across a resume instead of starting again from 1 (the replay
    // buffer is not saved, so later figures may differ).
    let dir = tempfile::tempdir().unwrap();
    let (ma, mb, last) = interrupted_and_uninterrupted(dir.path(), &["--policy", "dqn"]);
    assert!(last.join("q-learning.json").is_file() && last.join("target.bpk").is_file());
    let eps =
        |m: &[Value]| -> Vec<f64> { m.iter().map(|l| l["epsilon"].as_f64().unwrap()).collect() };
    assert_eq!(eps(&ma), eps(&mb));
    assert!(eps(&mb)[3] < eps(&mb)[2], "{:?}", eps(&mb));
}

#[test]
fn a_flipped_byte_is_refused_by_name_and_a_resume_falls_back_to_the_checkpoint_before() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let path = run.to_str().unwrap();
    train(
        &run,
        &[
            "--steps",
            "2",
            "--checkpoint-every",
            "1",
            "--log-every",
            "1",
        ],
    );
    let model = run.join("checkpoints/step-00000002/model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&model, bytes).unwrap();
    let error = fails(&["eval", "--run", path, "--samples", "2"]);
    assert!(
        error.contains("step-00000002/model.bpk is corrupt")
            && error.contains("does not match its checksum"),
        "{error}"
    );
    let out = dmn(&["train", "--resume", "--out", path, "--steps", "3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("resuming from the checkpoint before it")
            && stderr.contains("step-00000001"),
        "{stderr}"
    );
    // Steps 2 and 3 were trained again from step 1's checkpoint, and the new ones verify.
    let steps: Vec<u64> = metrics(&run)
        .iter()
        .map(|l| l["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps.last(), Some(&3), "{steps:?}");
    ok(&["eval", "--run", path, "--samples", "2"]);
}
