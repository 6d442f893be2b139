//! `dmn train`: what a run directory holds, phases, several devices, wgpu, the baselines.

use dmn_test_support::require;
use serde_json::Value;

use super::{fails, metrics, ok, run_config, train};

#[test]
fn train_writes_config_metrics_and_pruned_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(
        &run,
        &[
            "--steps",
            "6",
            "--log-every",
            "2",
            "--checkpoint-every",
            "2",
            "--keep",
            "2",
        ],
    );
    let config: Value = run_config(&run);
    assert_eq!(config["model"]["d_model"], 32);
    assert_eq!(config["train"]["task"]["kind"], "needle");
    let lines = metrics(&run);
    assert_eq!(
        lines
            .iter()
            .map(|l| l["step"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 4, 6]
    );
    for l in &lines {
        for key in [
            "step",
            "phase",
            "loss",
            "accuracy",
            "tokens_per_s",
            "slot_usage_entropy",
            "read_sparsity",
            "mean_slot_age",
            "ltm_fill",
            "ltm_bytes",
        ] {
            assert!(l.get(key).is_some(), "metrics line lacks `{key}`: {l}");
        }
        assert_eq!(l["ltm_fill"].as_array().unwrap().len(), 5);
        assert!(l["loss"].as_f64().unwrap().is_finite());
    }
    let mut ckpts: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    ckpts.sort();
    assert_eq!(
        ckpts,
        vec!["step-00000004", "step-00000006"],
        "only the newest two are kept"
    );
}

#[test]
fn a_working_memory_smaller_than_the_presets_top_k_reads_all_its_slots() {
    let dir = tempfile::tempdir().unwrap();
    // The tiny preset reads its 4 best slots: 2 slots are read both, 32 keep the 4.
    for (slots, top_k) in [(2, 2), (32, 4)] {
        let run = dir.path().join(format!("wm{slots}"));
        train(&run, &["--steps", "1", "--wm-slots", &slots.to_string()]);
        let model = &run_config(&run)["model"];
        assert_eq!(
            (model["wm_slots"].as_u64(), model["wm_top_k"].as_u64()),
            (Some(slots), Some(top_k))
        );
    }
}

#[test]
fn memory_sizes_write_settings_and_a_decaying_rate_come_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let args = [
        "--steps",
        "3",
        "--log-every",
        "1",
        "--wm-slots",
        "6",
        "--ltm-levels",
        "7",
        "--ltm-entries-per-level",
        "6",
        "--min-lr",
        "1e-3",
        "--write-pressure",
        "0.25",
        "--gate-cut",
        "0.1",
        "--write-rule",
        "replace",
    ];
    train(&run, &args);
    let model = &run_config(&run)["model"];
    assert_eq!(
        (
            model["ltm_levels"].as_u64(),
            model["ltm_entries_per_level"].as_u64(),
            model["loss_weights"]["pressure"].as_f64(),
            model["wm_gate_cut"].as_f64(),
            model["wm_write"].as_str(),
        ),
        (Some(7), Some(6), Some(0.25), Some(0.1), Some("Replace"))
    );
    let lines = metrics(&run);
    let rates: Vec<f64> = lines.iter().map(|l| l["lr"].as_f64().unwrap()).collect();
    assert_eq!(rates.len(), 3);
    assert!((rates[0] - 3e-3).abs() < 1e-12 && (rates[2] - 1e-3).abs() < 1e-12);
    assert!(rates[0] > rates[1] && rates[1] > rates[2], "{rates:?}");
    // The gates open at σ(1) ≈ 0.73 and have not learned to close within 3 steps.
    let gate = lines[0]["write_gate"].as_f64().unwrap();
    assert!(gate > 0.3 && gate <= 1.0, "write_gate {gate}");

    let out = dir.path().join("bad");
    let out = out.to_str().unwrap();
    let base = ["train", "--task", "needle", "--out", out];
    let err = fails(&[&base[..], &["--min-lr", "0.1"]].concat());
    assert!(err.contains("--min-lr"), "{err}");
    let err = fails(&[&base[..], &["--write-pressure=-1"]].concat());
    assert!(err.contains("--write-pressure"), "{err}");
    let err = fails(&[&base[..], &["--gate-cut", "1"]].concat());
    assert!(
        err.contains("wm_gate_cut") && err.contains("below 1"),
        "{err}"
    );
    let err = fails(
        &[
            &base[..],
            &["--wm-slots", "2", "--ltm-entries-per-level", "3"],
        ]
        .concat(),
    );
    assert!(err.contains("ltm_entries_per_level"), "{err}");
}

#[test]
fn data_parallel_training_over_two_devices() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("dp");
    train(
        &run,
        &["--steps", "2", "--devices", "cpu,cpu", "--log-every", "1"],
    );
    let config: Value = run_config(&run);
    assert_eq!(config["train"]["device"], "cpu,cpu");
    assert_eq!(metrics(&run).len(), 2);
}

/// Whether a Vulkan driver is installed (CI installs Mesa's lavapipe).
pub(super) fn vulkan_driver() -> Result<(), String> {
    let found = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .any(|d| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()));
    match found {
        true => Ok(()),
        false => Err("no Vulkan driver is installed (apt-get install mesa-vulkan-drivers)".into()),
    }
}

#[test]
fn training_and_eval_on_wgpu() {
    if !require(
        "DMN_REQUIRE_WGPU",
        vulkan_driver(),
        "training and eval on wgpu",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("gpu");
    train(
        &run,
        &["--steps", "2", "--device", "wgpu", "--log-every", "1"],
    );
    let lines = metrics(&run);
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|l| l["loss"].as_f64().unwrap().is_finite()),
        "{lines:?}"
    );
    let out = ok(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--device",
        "wgpu",
        "--samples",
        "2",
    ]);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert!((0.0..=1.0).contains(&line["accuracy"].as_f64().unwrap()));
}

#[test]
fn three_phases_run_in_order_and_a_resume_extends_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(
        &run,
        &[
            "--phases",
            "pretrain,memory,policy",
            "--phase-steps",
            "2,2,2",
            "--log-every",
            "1",
            "--checkpoint-every",
            "3",
        ],
    );
    let phases: Vec<String> = metrics(&run)
        .iter()
        .map(|m| m["phase"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        phases,
        [
            "pretrain", "pretrain", "memory", "memory", "policy", "policy"
        ]
    );
    assert!(
        metrics(&run)
            .iter()
            .all(|m| m["loss"].as_f64().unwrap().is_finite())
    );
    assert_eq!(run_config(&run)["train"]["steps"], 6);

    // Resumed with more steps, the run continues in the policy phase (encoder frozen again).
    ok(&[
        "train",
        "--resume",
        "--out",
        run.to_str().unwrap(),
        "--steps",
        "8",
    ]);
    let m = metrics(&run);
    assert_eq!(m.len(), 8);
    assert_eq!(m[7]["phase"], "policy");
}

#[test]
fn every_baseline_learns_a_short_needle() {
    // The evaluation's baselines in the same framework: LSTM, GRU, a sliding-window Transformer
    // and the selective SSM alone (Mamba-only), all without memory. Distance 8, chance 1/16.
    for encoder in ["lstm", "gru", "transformer", "ssm"] {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join(encoder);
        ok(&[
            "train",
            "--task",
            "needle",
            "--length",
            "8",
            "--encoder",
            encoder,
            "--memory",
            "none",
            "--steps",
            "500",
            "--log-every",
            "10",
            "--out",
            run.to_str().unwrap(),
        ]);
        let config = run_config(&run);
        assert_eq!(config["model"]["use_working_memory"], false);
        assert_eq!(config["model"]["use_long_term_memory"], false);
        let m = metrics(&run);
        let last: f64 = m[m.len() - 3..]
            .iter()
            .map(|l| l["accuracy"].as_f64().unwrap())
            .sum::<f64>()
            / 3.0;
        assert!(last >= 0.9, "{encoder}: accuracy {last} after 500 steps");
    }
}
