//! `dmn report`: trains every method of a suite on the same task, data and budget, evaluates each
//! at the suite's distances, and writes `results.md` (method × distance tables), `results.json`
//! (every figure with the configs, seeds and commit) and `accuracy.png` (accuracy against
//! distance per method) into `--out`.
//!
//! Suites: `micro` (≤ 2 CPU-minutes, for tests), `quick` (≤ 30 CPU-minutes on the tiny preset)
//! and `full` (the small preset at up to 100K tokens, for a GPU).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use super::eval::{EvalArgs, evaluate};
use super::train::{self, TrainArgs};
use crate::run_dir::{RunDir, write_atomic};
use crate::task_spec::TaskKind;

/// Arguments of `dmn report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Which suite to run.
    #[arg(long, value_enum, default_value = "quick")]
    pub suite: Suite,
    /// Directory for the runs and the report (created; existing runs of the same suite are
    /// reused, so an interrupted report continues).
    #[arg(long)]
    pub out: PathBuf,
    /// Device to train and evaluate on.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// The suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Five methods, 100 steps at distance 8: the pipeline end to end in under 2 CPU-minutes.
    Micro,
    /// Every method on the tiny preset at distance 256, evaluated up to 4000.
    Quick,
    /// Every method on the small preset at distance 4096, evaluated up to 100K (needs a GPU).
    Full,
}

/// One method: an encoder, its memories and its transfer policy.
#[derive(Debug, Clone, Copy)]
struct Method {
    name: &'static str,
    encoder: &'static str,
    memory: &'static str,
    policy: &'static str,
}

const fn method(
    name: &'static str,
    encoder: &'static str,
    memory: &'static str,
    policy: &'static str,
) -> Method {
    Method {
        name,
        encoder,
        memory,
        policy,
    }
}

/// Every method, DMN variants first, then the ablation and the baselines.
const METHODS: [Method; 8] = [
    method("DMN", "ssm", "full", "importance"),
    method("DMN, PPO policy", "ssm", "full", "ppo"),
    method("DMN, LRU transfers", "ssm", "full", "lru"),
    method("DMN without LTM", "ssm", "working", "importance"),
    method("Mamba only", "ssm", "none", "importance"),
    method("LSTM", "lstm", "none", "importance"),
    method("GRU", "gru", "none", "importance"),
    method(
        "Transformer (window 128)",
        "transformer",
        "none",
        "importance",
    ),
];

/// What a suite trains and measures.
#[derive(Debug, Clone)]
struct SuiteSpec {
    methods: Vec<Method>,
    preset: &'static str,
    length: u64,
    steps: u64,
    curriculum: Option<(u64, u64)>,
    batch_size: usize,
    distances: Vec<u64>,
    samples: usize,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Self::Micro => "micro",
            Self::Quick => "quick",
            Self::Full => "full",
        }
    }

    fn spec(self) -> SuiteSpec {
        match self {
            Self::Micro => SuiteSpec {
                methods: [0, 4, 5, 6, 7].iter().map(|&i| METHODS[i]).collect(),
                preset: "tiny",
                length: 8,
                steps: 100,
                curriculum: None,
                batch_size: 8,
                distances: vec![8, 32, 128],
                samples: 8,
            },
            Self::Quick => SuiteSpec {
                methods: METHODS.to_vec(),
                preset: "tiny",
                length: 256,
                steps: 600,
                curriculum: Some((16, 300)),
                batch_size: 16,
                distances: vec![256, 1000, 4000],
                samples: 32,
            },
            Self::Full => SuiteSpec {
                methods: METHODS.to_vec(),
                preset: "small",
                length: 4096,
                steps: 5000,
                curriculum: Some((64, 2000)),
                batch_size: 16,
                distances: vec![1000, 10_000, 100_000],
                samples: 64,
            },
        }
    }
}

/// A file-system name for a method.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The commit this binary's checkout is at, if `git` can tell.
fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_string(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
}

/// Trains `method` (or reuses its finished run) and evaluates it at the suite's distances.
fn measure(spec: &SuiteSpec, method: &Method, dir: &Path, device: &str) -> Result<Value> {
    let run = dir.join(slug(method.name));
    let finished = RunDir::open(&run)
        .and_then(|r| r.read_config())
        .is_ok_and(|c| c.train.steps == spec.steps)
        && crate::checkpoint::latest(&run.join("checkpoints"))?
            .is_some_and(|p| p.ends_with(format!("step-{:08}", spec.steps)));
    let started = Instant::now();
    if !finished {
        if run.exists() {
            std::fs::remove_dir_all(&run)
                .with_context(|| format!("cannot replace the unfinished run {}", run.display()))?;
        }
        let mut args = TrainArgs::new(TaskKind::Needle, run.clone());
        args.preset = spec.preset.into();
        args.device = device.into();
        args.length = Some(spec.length);
        args.steps = Some(spec.steps);
        args.batch_size = spec.batch_size;
        args.checkpoint_every = spec.steps;
        args.keep = 1;
        args.log_every = (spec.steps / 20).max(1);
        args.encoder = Some(method.encoder.into());
        args.memory = Some(method.memory.into());
        args.policy = Some(method.policy.into());
        if let Some((start, steps)) = spec.curriculum {
            args.curriculum_start = Some(start);
            args.curriculum_steps = Some(steps);
        }
        train::run(args)?;
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let eval = EvalArgs {
        run: run.clone(),
        task: None,
        distances: spec.distances.clone(),
        samples: spec.samples,
        batch_size: 8,
        text: None,
        seed: super::EVAL_SEED,
        device: device.into(),
    };
    let lines = evaluate(&eval, |line| {
        println!(
            "{}: accuracy {:.3} at distance {}",
            method.name, line["accuracy"], line["distance"]
        );
    })?;
    let config = RunDir::open(&run)?.read_config()?;
    Ok(json!({
        "method": method.name,
        "encoder": method.encoder,
        "memory": method.memory,
        "policy": method.policy,
        "run": run,
        "train_seconds": if finished { Value::Null } else { json!(train_seconds) },
        "flops_per_token": dmn::flops::per_token(&config.model).total(),
        "config": config,
        "results": lines,
    }))
}

/// The Markdown tables: accuracy per method and distance, then cost.
fn markdown(suite: Suite, spec: &SuiteSpec, methods: &[Value], commit: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# DMN results: suite `{}`\n", suite.name());
    let _ = writeln!(
        md,
        "Needle retrieval (16 values, chance 1/16), `{}` preset, trained {} steps at distance {}, \
         batch {}, seed 0; evaluated on {} held-out sequences per distance. Commit `{commit}`.\n",
        spec.preset, spec.steps, spec.length, spec.batch_size, spec.samples
    );
    let _ = writeln!(md, "## Accuracy against distance\n");
    let header: Vec<String> = spec.distances.iter().map(|d| d.to_string()).collect();
    let _ = writeln!(md, "| method | {} |", header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(spec.distances.len()));
    for m in methods {
        let cells: Vec<String> = m["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{:.3}", r["accuracy"].as_f64().unwrap_or(f64::NAN)))
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} |",
            m["method"].as_str().unwrap_or("?"),
            cells.join(" | ")
        );
    }
    let _ = writeln!(md, "\n## Cost\n");
    let _ = writeln!(
        md,
        "| method | FLOPs/token | peak RSS at the longest distance (MB) | LTM bytes at the longest distance | tokens/s at the longest distance |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for m in methods {
        let last = m["results"]
            .as_array()
            .and_then(|r| r.last())
            .cloned()
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.1} | {:.1} | {:.0} |",
            m["method"].as_str().unwrap_or("?"),
            m["flops_per_token"].as_f64().unwrap_or(f64::NAN),
            last["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6,
            last["ltm_bytes"].as_f64().unwrap_or(f64::NAN),
            last["tokens_per_s"].as_f64().unwrap_or(f64::NAN),
        );
    }
    md
}

/// Runs `dmn report`.
pub fn run(args: ReportArgs) -> Result<()> {
    let spec = args.suite.spec();
    let dir = args.out.join(args.suite.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut methods = Vec::new();
    for m in &spec.methods {
        println!("== {}", m.name);
        methods.push(measure(&spec, m, &dir, &args.device)?);
    }
    let commit = commit();
    let results = json!({
        "suite": args.suite.name(),
        "commit": commit,
        "task": "needle",
        "preset": spec.preset,
        "length": spec.length,
        "steps": spec.steps,
        "batch_size": spec.batch_size,
        "seed": 0,
        "eval_seed": super::EVAL_SEED,
        "distances": spec.distances,
        "samples": spec.samples,
        "methods": methods,
    });
    write_atomic(
        &args.out.join("results.json"),
        serde_json::to_string_pretty(&results)?.as_bytes(),
    )?;
    write_atomic(
        &args.out.join("results.md"),
        markdown(args.suite, &spec, &methods, &commit).as_bytes(),
    )?;
    crate::plots::accuracy_against_distance(&args.out.join("accuracy.png"), &methods)?;
    println!(
        "report written to {} (results.md, results.json, accuracy.png)",
        args.out.display()
    );
    Ok(())
}
