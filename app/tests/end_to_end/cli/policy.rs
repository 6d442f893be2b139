//! `dmn train --policy`: each transfer policy is saved in the run config and logs its figures.

use super::{metrics, run_config, train};

#[test]
fn the_lru_transfer_policy_is_saved_in_the_run_config() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(&run, &["--policy", "lru", "--steps", "1"]);
    assert_eq!(run_config(&run)["model"]["transfer_policy"], "Lru");
    let run2 = dir.path().join("run2");
    train(&run2, &["--steps", "1"]);
    assert_eq!(run_config(&run2)["model"]["transfer_policy"], "Importance");
}

#[test]
fn ppo_transfer_policy_trains_and_logs_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // Distance 24 with the tiny preset's segments of 16: two transfers per sequence.
    train(
        &run,
        &["--policy", "ppo", "--steps", "3", "--log-every", "1"],
    );
    assert_eq!(run_config(&run)["model"]["transfer_policy"], "Ppo");
    for m in metrics(&run) {
        for key in [
            "episode_reward",
            "r_task",
            "r_comp",
            "policy_entropy",
            "approx_kl",
            "value_loss",
        ] {
            let v = m[key].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite(), "{key} = {v} in {m}");
        }
        // Entries stored per transfer: the tiny preset moves m = 2 slots, some maybe discarded.
        let stored = m["transfers_per_update"].as_f64().unwrap();
        assert!((0.0..=2.0).contains(&stored), "{stored}");
        assert!(m["r_comp"].as_f64().unwrap() <= 0.0);
    }
}

#[test]
fn dqn_transfer_policy_trains_and_logs_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(
        &run,
        &["--policy", "dqn", "--steps", "3", "--log-every", "1"],
    );
    assert_eq!(run_config(&run)["model"]["transfer_policy"], "Dqn");
    let m = metrics(&run);
    for line in &m {
        for key in [
            "episode_reward",
            "r_task",
            "r_comp",
            "value_loss",
            "epsilon",
        ] {
            let v = line[key].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite(), "{key} = {v} in {line}");
        }
    }
    // ε decays from 1.
    assert_eq!(m[0]["epsilon"], 1.0);
    assert!(m[2]["epsilon"].as_f64().unwrap() < 1.0);
}
