//! `dmn export` and `dmn train --weights`: a run's weights as safetensors, and a new run that
//! starts from them.

use serde_json::Value;

use super::{ok, run_config, train};

/// The JSON header of a safetensors file: 8 bytes of little-endian length, then the header.
fn header(bytes: &[u8]) -> Value {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + len]).unwrap()
}

#[test]
fn exported_weights_are_safetensors_that_a_new_run_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train(&a, &["--steps", "3"]);
    let line: Value =
        serde_json::from_str(ok(&["export", "--run", a.to_str().unwrap()]).trim()).unwrap();
    let file = a.join("model.safetensors");
    assert_eq!(line["weights"], file.to_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(line["bytes"], bytes.len());
    let header = header(&bytes);
    assert!(header["embedding.weight"]["shape"].is_array(), "{header}");
    let config = header["__metadata__"]["dmn_config"].as_str().unwrap();
    assert!(dmn::DmnConfig::from_json(config).is_ok(), "{config}");
    assert!(std::fs::read_to_string(a.join("model.safetensors.sha256")).is_ok());

    // A run started from the weights with a vanishing learning rate answers as the original.
    let weights = file.to_str().unwrap();
    train(&b, &["--steps", "1", "--lr", "1e-12", "--weights", weights]);
    assert_eq!(run_config(&b)["train"]["init_weights"], weights);
    let eval = |run: &std::path::Path| -> f64 {
        let out = ok(&["eval", "--run", run.to_str().unwrap(), "--samples", "16"]);
        let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        v["loss"].as_f64().unwrap()
    };
    let (la, lb) = (eval(&a), eval(&b));
    assert!(
        (la - lb).abs() < 1e-4,
        "loss {la} of the original, {lb} of the run from its weights"
    );
}
