//! `dmn report`: the evaluation of seed 000 §2.5 in one command. Every method of a section is
//! trained on the same task, data and budget, evaluated alike, and the report is written into
//! `--out`: `results.md` (tables), `results.json` (every figure with the configs, seeds and
//! commit) and PNG plots.
//!
//! Sections:
//! - needle retrieval: DMN variants and the baselines (Mamba only, LSTM, GRU, sliding-window
//!   Transformer), accuracy against distance (`accuracy.png`) and cost;
//! - ablations of DMN: without long-term memory, working-memory sizes, compression strategies,
//!   a flat long-term store, the learned policies (`ablations.png`);
//! - memory behaviour of every model with working memory: write frequency, slot reuse, slot
//!   lifetimes, read entropy and sparsity, and slot survival curves (`survival.png`);
//! - multi-document QA and key-sentence extraction (F1, ROUGE-L);
//! - bits per character on a real text (`--text`), measured on its held-out last 5 %;
//! - continual learning: tasks in sequence, forgetting curves (`forgetting.png`).
//!
//! Suites: `micro` (≤ 2 CPU-minutes, for tests), `quick` (≤ 30 CPU-minutes on the tiny preset)
//! and `full` (the small preset at up to 100K tokens, for a GPU); `long` measures recall at 10K,
//! 100K and 1M tokens on three tasks instead ([`long`]). Finished runs and every evaluated cell
//! (a run at one length) are reused, so an interrupted report continues where it stopped.
//!
//!
//! [`methods`] names what is compared, [`suites`] what each suite trains and evaluates,
//! [`measure`] trains and measures, [`markdown`] and [`plots`] write the report.

mod long;
mod markdown;
mod measure;
mod methods;
mod plots;
mod suites;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use dmn::tasks::EVAL_SEED;
use serde_json::{Value, json};

use crate::run_dir::write_atomic;
use measure::Measure;
pub use suites::Suite;

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
    /// English text (a UTF-8 file or folder) for the bits-per-character section, e.g. the King
    /// James Bible as the README installs it. Without it that section is left out.
    #[arg(long)]
    pub text: Option<PathBuf>,
}

/// Runs `dmn report`.
pub fn run(args: ReportArgs) -> Result<()> {
    if let Some(text) = &args.text
        && !text.exists()
    {
        bail!(
            "--text {}: no such file or folder; give an English text (see the README's \
             evaluation section for the King James Bible)",
            text.display()
        );
    }
    let dir = args.out.join(args.suite.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let started = Instant::now();
    let measure = Measure {
        dir: &dir,
        device: &args.device,
        text: args.text.as_deref(),
    };
    match args.suite.spec() {
        Some(spec) => evaluation(&args, &spec, &measure)?,
        None => long_suite(&args, &measure)?,
    }
    println!(
        "report written to {} in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The `long` suite: `results.json`, `results.md` and one accuracy plot per task.
fn long_suite(args: &ReportArgs, measure: &Measure) -> Result<()> {
    let started = Instant::now();
    let tasks = long::measure(measure)?;
    let commit = commit();
    let results = json!({
        "suite": args.suite.name(),
        "commit": commit,
        "seed": 0,
        "eval_seed": EVAL_SEED,
        "seconds": started.elapsed().as_secs_f64(),
        "tasks": tasks,
    });
    write_atomic(
        &args.out.join("results.json"),
        serde_json::to_string_pretty(&results)?.as_bytes(),
    )?;
    write_atomic(
        &args.out.join("results.md"),
        long::markdown(&commit, &tasks).as_bytes(),
    )?;
    long::plots(&args.out, &tasks)
}

/// The evaluation suites (`micro`, `quick`, `full`): `results.json`, `results.md`,
/// `accuracy.png`, `ablations.png`, `survival.png` and `forgetting.png`.
fn evaluation(args: &ReportArgs, spec: &suites::SuiteSpec, measure: &Measure) -> Result<()> {
    let started = Instant::now();
    // Train and measure, section by section; the ablations reuse the needle section's runs
    // that trained alike.
    let behaviour = Some(spec.behaviour);
    let methods = measure.section("needle", &spec.needle, behaviour, &[])?;
    let ablations = measure.section("ablation", &spec.ablations, behaviour, &methods)?;
    let qa = measure.section("multi-document QA", &spec.qa, None, &[])?;
    let summary = measure.section("key sentences", &spec.summary, None, &[])?;
    let text = match &args.text {
        Some(_) => measure.section("text", &spec.text, None, &[])?,
        None => Vec::new(),
    };
    println!("== continual learning");
    let continual = measure.continual(&spec.continual)?;

    // Write every figure, then the tables and plots made from them.
    let results = json!({
        "suite": args.suite.name(),
        "commit": commit(),
        "seed": 0,
        "eval_seed": EVAL_SEED,
        "seconds": started.elapsed().as_secs_f64(),
        "needle": {
            "training": format!("{:?}", spec.needle.training),
            "distances": spec.needle.distances,
            "samples": spec.needle.samples,
        },
        "methods": methods,
        "ablations": ablations,
        "qa": qa,
        "summary": summary,
        "text_corpus": args.text,
        "text": text,
        "continual": continual,
    });
    write_atomic(
        &args.out.join("results.json"),
        serde_json::to_string_pretty(&results)?.as_bytes(),
    )?;
    let md = markdown::markdown(args.suite, spec, &results, args.text.as_deref());
    write_atomic(&args.out.join("results.md"), md.as_bytes())?;
    plots::plots(&args.out, &results)
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

/// The elements of a JSON array in the results; none where it is missing.
fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}
