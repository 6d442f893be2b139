//! The desktop trainer in a real window: under Xvfb, `dmn gui` trains a few steps, renders every
//! panel, writes a screenshot and closes. Skips loudly without `xvfb-run`, and fails instead when
//! `DMN_REQUIRE_DISPLAY` is set (as CI sets it).

use std::path::Path;
use std::process::Command;

use dmn_test_support::{json_summary, opted_in, require};
use serde_json::Value;

fn xvfb_available() -> bool {
    let found = Command::new("sh")
        .args(["-c", "command -v xvfb-run"])
        .output()
        .is_ok_and(|o| o.status.success());
    let available = match found {
        true => Ok(()),
        false => Err("xvfb-run is missing (apt-get install xvfb)".to_string()),
    };
    require("DMN_REQUIRE_DISPLAY", available, "the desktop window")
}

/// Runs `dmn gui …` under Xvfb in `dir`; returns the summary line it prints.
fn gui(dir: &Path, args: &[&str]) -> Value {
    let mut command = Command::new("timeout");
    command
        .arg("600")
        .args(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24"])
        .arg(env!("CARGO_BIN_EXE_dmn"))
        .arg("gui")
        .args(args)
        .current_dir(dir);
    json_summary(&mut command, &format!("dmn gui {args:?}"))
}

/// Checks the PNG: the window's size, and a real picture (many colours, not one).
fn check_screenshot(path: &Path) {
    let image = image::open(path).unwrap().to_rgba8();
    assert_eq!(image.dimensions(), (1280, 800), "screenshot size");
    let mut colours: Vec<[u8; 4]> = image.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 50,
        "the screenshot has only {} colours",
        colours.len()
    );
}

#[test]
fn window_trains_renders_and_writes_a_screenshot() {
    if !xvfb_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Kept after the test (cargo's target/tmp), so a CI run leaves the picture behind.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dmn-gui.png");
    let summary = gui(
        dir.path(),
        &[
            "--preset",
            "tiny",
            "--policy",
            "ppo",
            "--steps",
            "10",
            "--exit-after-steps",
            "3",
            "--screenshot",
            shot.to_str().unwrap(),
        ],
    );
    assert!(summary["steps"].as_u64().unwrap() >= 3, "{summary}");
    assert_eq!(summary["screenshot"].as_str(), shot.to_str(), "{summary}");
    check_screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());
    // The run directory it trained into has its metrics.
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1);
    let run = runs[0].as_ref().unwrap().path();
    let config = std::fs::read_to_string(run.join("config.json")).unwrap();
    assert!(
        config.contains("\"Ppo\""),
        "the window trains with the chosen policy"
    );
}

#[test]
fn window_reopens_a_run_written_by_dmn_train() {
    if !xvfb_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let status = Command::new(env!("CARGO_BIN_EXE_dmn"))
        .args([
            "train", "--task", "needle", "--length", "16", "--steps", "4",
        ])
        .args(["--log-every", "1", "--checkpoint-every", "2", "--out"])
        .arg(&run)
        .status()
        .unwrap();
    assert!(status.success());
    let shot = dir.path().join("reopened.png");
    let summary = gui(
        dir.path(),
        &[
            "--run",
            run.to_str().unwrap(),
            "--steps",
            "6",
            "--exit-after-steps",
            "6",
            "--screenshot",
            shot.to_str().unwrap(),
            "--light",
        ],
    );
    // It continued the run from its checkpoint at step 4.
    assert_eq!(summary["steps"].as_u64(), Some(6), "{summary}");
    check_screenshot(&shot);
}

#[test]
fn window_renders_with_the_wgpu_device_burn_trains_on() {
    if !xvfb_available() {
        return;
    }
    // Only where a Vulkan driver exists (CI sets DMN_REQUIRE_WGPU with lavapipe installed).
    if opted_in(
        "DMN_REQUIRE_WGPU",
        "the window on the wgpu device burn trains on",
    )
    .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("wgpu.png");
    let summary = gui(
        dir.path(),
        &[
            "--device",
            "wgpu",
            "--preset",
            "tiny",
            // A fixed length (no curriculum): every step has the shapes of the first, so the
            // shaders are compiled once, not once per step; and they are the shaders of the tiny
            // model in the kernel tests (needle at 64, batch 16), found in the driver's cache.
            "--length",
            "64",
            "--steps",
            "4",
            "--exit-after-steps",
            "2",
            "--screenshot",
            shot.to_str().unwrap(),
        ],
    );
    assert!(summary["steps"].as_u64().unwrap() >= 2, "{summary}");
    check_screenshot(&shot);
}

#[test]
fn a_bad_run_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dmn"))
        .args(["gui", "--run"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not a run directory"), "{stderr}");
}
