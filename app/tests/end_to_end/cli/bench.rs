//! `dmn bench train`: a training step's throughput on each device, compared with the first, and
//! on wgpu the kernels one step launches.

use dmn_test_support::require;
use serde_json::Value;

use super::ok;
use super::train::vulkan_driver;

#[test]
fn bench_train_measures_each_device_and_counts_the_kernels_of_a_step_on_wgpu() {
    let wgpu = require(
        "DMN_REQUIRE_WGPU",
        vulkan_driver(),
        "dmn bench train on wgpu",
    );
    let devices = if wgpu { "cpu,wgpu" } else { "cpu" };
    let out = ok(&[
        "bench", "train", "--device", devices, "--batch", "2", "--length", "40", "--steps", "1",
        "--json",
    ]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["preset"].as_str(), v["length"].as_u64()),
        (Some("tiny"), Some(40))
    );
    let measured = v["devices"].as_array().unwrap();
    assert_eq!(measured.len(), if wgpu { 2 } else { 1 });
    for d in measured {
        for figure in [
            "train_tokens_per_s",
            "inference_tokens_per_s",
            "train_step_seconds",
        ] {
            assert!(d[figure].as_f64().unwrap() > 0.0, "{figure}: {d}");
        }
    }
    let cpu = &measured[0];
    assert_eq!(cpu["train_speed_vs_first"].as_f64(), Some(1.0));
    assert!(
        cpu["launches_per_step"].is_null() && cpu["launches_per_inference"].is_null(),
        "no kernels on the CPU: {cpu}"
    );
    if wgpu {
        let gpu = &measured[1];
        let ours = &gpu["wgsl_launches_per_step"];
        for kernel in [
            "scan",
            "scan_backward",
            "memory_write",
            "memory_write_backward",
        ] {
            assert!(ours[kernel].as_u64().unwrap() >= 1, "{kernel}: {gpu}");
        }
        let total = gpu["launches_per_step"].as_u64().unwrap();
        let wgsl: u64 = ours
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert!(total > wgsl, "burn's own kernels are counted too: {gpu}");
        assert!(gpu["top_kernels"].as_array().is_some_and(|t| !t.is_empty()));
        // Inference runs the forward alone: no backward, no optimizer.
        let inference = gpu["launches_per_inference"].as_u64().unwrap();
        assert!(
            inference > 0 && inference < total,
            "inference launches {inference} of a step's {total}: {gpu}"
        );
    }
}
