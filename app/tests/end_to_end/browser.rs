//! The browser demo for real: the wasm bundle (`web/build.sh`) in headless Chromium on WebGPU
//! (its software adapter, SwiftShader), driven by `web/tests/browser.mjs`. Skips loudly when
//! Chromium or the test's node modules are missing, and fails instead when
//! `DMN_REQUIRE_BROWSER` is set (as CI sets it). The two tests share one browser build and run
//! side by side: a training step on the software adapter keeps one core busy for seconds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use dmn_test_support::{json_summary, require};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn browser_available() -> bool {
    let chromium = Path::new("/usr/bin/chromium").exists();
    let modules = repo()
        .join("web/tests/node_modules/playwright-core")
        .is_dir();
    let node = Command::new("node").arg("--version").output().is_ok();
    let available = match chromium && modules && node {
        true => Ok(()),
        false => Err(format!(
            "the browser test cannot run: chromium {chromium}, node {node}, \
             web/tests/node_modules {modules} (apt-get install chromium; \
             npm install --prefix web/tests)"
        )),
    };
    require("DMN_REQUIRE_BROWSER", available, "the browser demo")
}

/// Where a test's runs write, once the bundle is built (once for both tests); `None` when the
/// browser test cannot run here (see [`browser_available`]).
fn prepared() -> Option<PathBuf> {
    if !browser_available() {
        return None;
    }
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(why) = BUILT.get_or_init(build_bundle) {
        panic!("{why}");
    }
    Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser"))
}

fn build_bundle() -> Result<(), String> {
    let out = Command::new("bash")
        .arg("web/build.sh")
        .current_dir(repo())
        .output()
        .map_err(|e| format!("cannot run web/build.sh: {e}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("web/build.sh failed:\n{text}"));
    }
    if let Some(line) = text.lines().find(|l| l.starts_with("bundle:")) {
        eprintln!("{line}");
    }
    Ok(())
}

/// Runs the driver; returns what it saw.
fn drive(args: &[&str], out: &Path) -> Value {
    let mut command = Command::new("timeout");
    // Generous: the page shares two cores with the other end-to-end tests.
    command
        .arg("1500")
        .arg("node")
        .arg("web/tests/browser.mjs")
        .args(args)
        .args(["--timeout", "1200"])
        .arg("--out")
        .arg(out)
        .current_dir(repo());
    let seen = json_summary(&mut command, &format!("browser run {args:?}"));
    eprintln!("browser {args:?}: {seen}");
    seen
}

fn losses(v: &Value) -> Vec<f64> {
    v["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Asks the shipped run `run` (in `web/assets/`) the same input in the browser and natively
/// (`dmn probe`); asserts the answers agree and returns the page's result and the answers,
/// comma-separated. `extra` goes to the page's driver.
fn ask_both(
    out: &Path,
    run: &str,
    asked: &[&str],
    distance: &str,
    seed: &str,
    extra: &[&str],
) -> (Value, String) {
    let task = run.trim_end_matches("-tiny");
    let page = [
        &["demo", "--task", task][..],
        asked,
        &["--distance", distance, "--seed", seed],
        extra,
    ]
    .concat();
    let web = drive(&page, out);
    assert_eq!(web["answered_on"], "webgpu", "{web}");
    let mut probe = Command::new(env!("CARGO_BIN_EXE_dmn"));
    probe
        .args(["probe", "--run", &format!("web/assets/{run}")])
        .args(asked)
        .args(["--distance", distance, "--seed", seed])
        .current_dir(repo());
    let native = json_summary(&mut probe, &format!("dmn probe {run} {asked:?}"));
    let expected = match &native["answers"] {
        Value::Array(a) => a
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(","),
        _ => native["answer"].to_string(),
    };
    let answer = web["answer"].as_str().unwrap_or_default().to_string();
    assert_eq!(answer, expected, "browser {web} vs native {native}");
    (web, answer)
}

#[test]
fn the_browser_demo_trains_on_webgpu_and_on_the_cpu_backend_without_it() {
    let Some(out) = prepared() else { return };

    // Training from scratch on WebGPU: ≥ 20 steps, finite losses that fall. At needle distance
    // 16, whose steps take 15 s on the software adapter where the default 64 takes 23 s.
    let train = drive(
        &[
            "train",
            "--steps",
            "20",
            "--distance",
            "16",
            "--lose-device",
        ],
        &out,
    );
    assert_eq!(train["trained_on"], "webgpu", "{train}");
    let l = losses(&train);
    assert!(l.len() >= 5 && l.iter().all(|x| x.is_finite()), "{l:?}");
    let (first, last) = (mean(&l[..3]), mean(&l[l.len() - 3..]));
    assert!(
        last < first,
        "the loss did not fall: first steps {first}, last steps {last}"
    );
    assert!(Path::new(train["screenshot"].as_str().unwrap()).is_file());
    // Then the device is lost (destroyed under the page): the page says so and training starts
    // over on the CPU backend.
    assert!(train["devices_destroyed"].as_u64().unwrap() >= 1, "{train}");
    assert_eq!(train["after_loss"]["backend"], "cpu", "{train}");
    assert!(
        train["after_loss"]["loss"].as_f64().unwrap().is_finite(),
        "{train}"
    );
    assert!(
        train["message"]
            .as_str()
            .unwrap_or("")
            .contains("WebGPU failed during training"),
        "the page should say the device failed: {train}"
    );

    // Without WebGPU: the page says so and trains on the CPU backend.
    let cpu = drive(&["train", "--no-webgpu", "--steps", "2"], &out);
    assert_eq!(cpu["backend"], "cpu", "{cpu}");
    assert!(
        cpu["message"]
            .as_str()
            .unwrap_or("")
            .contains("CPU backend"),
        "the page should say why it runs on the CPU: {cpu}"
    );
    assert!(losses(&cpu).iter().all(|x| x.is_finite()));
}

#[test]
fn the_shipped_checkpoints_answer_in_the_browser_as_natively() {
    let Some(out) = prepared() else { return };
    std::fs::create_dir_all(&out).unwrap();

    // A needle stream through the shipped needle model (`dmn stream`), its timeline and its
    // final memory saved for the pages below.
    let timeline = out.join("stream-timeline.json");
    let state = out.join("needle.state");
    let mut stream = Command::new(env!("CARGO_BIN_EXE_dmn"));
    stream
        .args([
            "stream",
            "--run",
            "web/assets/needle-tiny",
            "--length",
            "5000",
        ])
        .arg("--trace")
        .arg(&timeline)
        .arg("--save-state")
        .arg(&state)
        .current_dir(repo());
    let streamed = json_summary(&mut stream, "dmn stream --trace --save-state");

    // The shipped checkpoints answer fixed needle and copy inputs as the native `dmn probe` does.
    // The needle question starts from the stream's memory (`--load-state` on both sides); the
    // page then loses its device and is asked again: it says so and answers on the CPU backend,
    // as natively.
    let (web, needle) = ask_both(
        &out,
        "needle-tiny",
        &["--value", "11", "--load-state", state.to_str().unwrap()],
        "300",
        "7",
        &["--lose-device"],
    );
    assert_eq!(web["state_position"], 5000, "{web}");
    assert_eq!(needle.split(',').count(), 1, "{needle}");
    assert!(web["devices_destroyed"].as_u64().unwrap() >= 1, "{web}");
    assert_eq!(web["after_loss"]["backend"], "cpu", "{web}");
    assert_eq!(
        web["after_loss"]["answer"].as_str(),
        Some(needle.as_str()),
        "{web}"
    );
    assert!(
        web["message"]
            .as_str()
            .unwrap_or("")
            .contains("WebGPU failed"),
        "{web}"
    );
    // The copy page loads its model from exported safetensors weights (`dmn export`), and opens
    // the needle stream's timeline beside it.
    let weights = out.join("copy-tiny.safetensors");
    let mut export = Command::new(env!("CARGO_BIN_EXE_dmn"));
    export
        .args(["export", "--run", "web/assets/copy-tiny", "--out"])
        .arg(&weights)
        .current_dir(repo());
    json_summary(&mut export, "dmn export");
    let (web, copied) = ask_both(
        &out,
        "copy-tiny",
        &["--values", "3,1,4,1,5,9,2,6"],
        "64",
        "7",
        &[
            "--timeline",
            timeline.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
        ],
    );
    assert_eq!(copied.split(',').count(), 8, "{copied}");
    assert_eq!(web["weights"], "weights.safetensors", "{web}");
    assert_eq!(web["timeline_tokens"], 5000, "{web} after {streamed}");
    assert_eq!(web["timeline_answers"], 1, "{web}");
}
