//! Every bad input of the trainer's contract, one row each: a one-line error that says what is
//! wrong, a non-zero exit, no panic, and nothing written or overwritten.

use serde_json::Value;

use super::{ASSETS, fails, train};

/// `(arguments, what the error says)`: every piece of text must appear in it. `DIR` stands for
/// the test's directory, which holds the fixtures [`fixtures`] writes; `ASSETS` for the runs
/// shipped with the browser demo.
const CASES: &[(&str, &[&str])] = &[
    // An unknown task: clap names the valid ones.
    (
        "train --task chess --out DIR/x",
        &["invalid value 'chess'", "needle"],
    ),
    // Non-positive steps and distances.
    (
        "train --task needle --steps 0 --out DIR/s",
        &["--steps must be at least 1"],
    ),
    (
        "train --task needle --length 0 --out DIR/l",
        &["--length must be at least 1"],
    ),
    ("eval --run DIR/good --distances 0", &["not positive"]),
    // An ablation of a memory the model does not have.
    (
        "eval --run DIR/no-ltm --without-read long-term",
        &["no long-term memory to leave unread"],
    ),
    // A write-gate cut that no sigmoid gate could pass.
    (
        "eval --run DIR/good --gate-cut 1",
        &["--gate-cut is 1", "below 1"],
    ),
    // Lengths beyond what a batch can hold in memory: refused before anything is made or
    // evaluated, with what would fit.
    (
        "train --task needle --length 99999999999 --out DIR/huge",
        &["batch tokens", "give a shorter length"],
    ),
    (
        "train --task needle --length 100000000 --out DIR/huge",
        &["16 × 1000000", "batch size of at most 2"],
    ),
    // Evaluation streams needles segment by segment, in memory flat in length, up to a limit.
    (
        "eval --run DIR/good --distances 100,1000000000000",
        &[
            "sequence length",
            "streamed sequence's limit",
            "give a shorter length",
        ],
    ),
    // A config that fails validation, and one that is not JSON.
    (
        "train --task needle --config DIR/bad.json --out DIR/c",
        &["top_k", "99"],
    ),
    (
        "train --task needle --config DIR/not-json.json --out DIR/c",
        &["not valid DMN JSON"],
    ),
    // Text: missing, empty, not UTF-8 (the error names the file and the byte offset).
    ("train --task text --out DIR/t", &["--text"]),
    (
        "train --task text --text DIR/missing.txt --out DIR/t",
        &["missing.txt: cannot be read"],
    ),
    (
        "train --task text --text DIR/empty.txt --out DIR/t",
        &["empty.txt: is empty"],
    ),
    (
        "train --task text --text DIR/latin1.txt --out DIR/t",
        &["latin1.txt: not valid UTF-8 at byte offset 3"],
    ),
    // Simulated gaps would cut text off from the text before it.
    (
        "train --task text --text DIR/prose.txt --simulate-gaps --out DIR/t",
        &["--simulate-gaps", "drop it for text"],
    ),
    // An endless source is read up to the corpus limit, not until memory runs out.
    (
        "train --task text --text /dev/zero --out DIR/t",
        &["/dev/zero: holds more than"],
    ),
    // An unwritable output directory (a path below a regular file).
    (
        "train --task needle --out DIR/file/run",
        &["cannot create the run directory"],
    ),
    // Something that is not a run, a run without a checkpoint, a corrupt checkpoint.
    ("train --resume --out DIR/nothing", &["not a run directory"]),
    ("eval --run DIR/nothing", &["not a run directory"]),
    (
        "train --resume --out DIR/empty-run",
        &["no checkpoint to resume from"],
    ),
    ("eval --run DIR/empty-run", &["no checkpoint yet"]),
    ("eval --run DIR/corrupt", &["is corrupt"]),
    (
        "train --resume --out DIR/corrupt --steps 4",
        &["is corrupt"],
    ),
    // Weights for another model config, and weights for a resumed run.
    (
        "train --task needle --length 24 --preset small --weights DIR/good/model.safetensors --out DIR/w",
        &["model.safetensors does not hold weights of this model"],
    ),
    (
        "train --resume --out DIR/good --weights DIR/good/model.safetensors",
        &["cannot be used with"],
    ),
    // A run is never overwritten by a second `train`.
    ("train --task copy --out DIR/good", &["already holds a run"]),
    // Training phases out of order, or counted wrong.
    (
        "train --task needle --out DIR/phases --phases memory,pretrain --phase-steps 1,1",
        &["order"],
    ),
    (
        "train --task needle --out DIR/phases --phases pretrain,memory --phase-steps 3",
        &["one count per phase"],
    ),
    // Devices: an unknown one, more than the batch can be split over.
    (
        "train --task needle --devices cpu,tpu --batch-size 2 --out DIR/x",
        &["unknown device `tpu`"],
    ),
    (
        "train --task needle --devices cpu,cpu,cpu --batch-size 2 --out DIR/y",
        &["at least the number of devices"],
    ),
    // Benchmarks: nothing to time, a sequence too short to hold a needle, an unknown device.
    (
        "bench train --device cpu --steps 0",
        &["--steps and --batch must be at least 1"],
    ),
    (
        "bench train --device cpu --length 5",
        &["--length 5 is too short", "at least 11"],
    ),
    ("bench train --device cpu,tpu", &["unknown device `tpu`"]),
    // Probing: a value out of range, a distance of 0, the wrong kind of question.
    (
        "probe --run ASSETS/needle-tiny --value 16 --distance 9",
        &["value", "below 16"],
    ),
    (
        "probe --run ASSETS/needle-tiny --value 1 --distance 0",
        &["--distance"],
    ),
    (
        "probe --run ASSETS/copy-tiny --value 3 --distance 64",
        &["--values"],
    ),
    (
        "probe --run ASSETS/copy-tiny --values 3,99 --distance 64",
        &["below 16"],
    ),
];

/// Writes into `dir` what the cases read: configs, texts, a regular file, runs that are good,
/// without a checkpoint and with a corrupt one.
fn fixtures(dir: &std::path::Path) {
    let mut config: Value = serde_json::from_str(&dmn::DmnConfig::tiny(40).to_json()).unwrap();
    config["wm_top_k"] = Value::from(99);
    std::fs::write(dir.join("bad.json"), config.to_string()).unwrap();
    std::fs::write(dir.join("not-json.json"), "{ not json").unwrap();
    std::fs::write(dir.join("empty.txt"), "").unwrap();
    std::fs::write(dir.join("prose.txt"), "a line of plain prose. ".repeat(64)).unwrap();
    std::fs::write(dir.join("latin1.txt"), b"caf\xe9 au lait").unwrap();
    std::fs::write(dir.join("file"), "x").unwrap();
    let (good, corrupt) = (dir.join("good"), dir.join("corrupt"));
    train(&good, &["--steps", "2"]);
    train(
        &dir.join("no-ltm"),
        &["--steps", "1", "--memory", "working"],
    );
    super::ok(&["export", "--run", good.to_str().unwrap()]);
    train(&corrupt, &["--steps", "2"]);
    std::fs::write(
        corrupt.join("checkpoints/step-00000002/model.bpk"),
        b"garbage",
    )
    .unwrap();
    let empty = dir.join("empty-run");
    std::fs::create_dir_all(empty.join("checkpoints")).unwrap();
    std::fs::copy(good.join("config.json"), empty.join("config.json")).unwrap();
}

#[test]
fn bad_input_is_a_clear_error_and_overwrites_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fixtures(dir.path());
    let good_config = std::fs::read_to_string(dir.path().join("good/config.json")).unwrap();
    let place = |arg: &str| match (arg.strip_prefix("DIR/"), arg.strip_prefix("ASSETS/")) {
        (Some(path), _) => dir.path().join(path).to_str().unwrap().to_string(),
        (_, Some(path)) => format!("{ASSETS}/{path}"),
        _ => arg.to_string(),
    };
    for (args, expected) in CASES {
        let args: Vec<String> = args.split_whitespace().map(place).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let error = fails(&args);
        for text in *expected {
            assert!(
                error.contains(text),
                "dmn {args:?}: `{text}` missing from {error}"
            );
        }
    }
    for nothing in ["t", "phases", "w", "huge", "c"] {
        assert!(
            !dir.path().join(nothing).exists(),
            "nothing is written for a run that cannot start ({nothing})"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("good/config.json")).unwrap(),
        good_config,
        "a run is not overwritten"
    );
}
