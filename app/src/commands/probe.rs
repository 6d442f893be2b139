//! `dmn probe`: one input of the user's choosing and what the trained model answers, as one
//! JSON line — for a needle run, which value hides how far back and the value recalled; for a
//! passkey run, which passkey and the digits said back; for a copy run, which values to copy
//! and the values copied. Needle and passkey lines add `memory`: the working-memory slots the
//! hidden tokens were written to and what touched them before the question
//! ([`dmn::probe::Provenance`]). The browser demo answers the same needle and copy inputs (same
//! run files, values, distance and seed) with the same model. `--load-state` asks a memory
//! that has already read a stream (a snapshot written by `dmn stream --save-state`) instead of
//! an empty one; the browser demo does the same with `&state=URL`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use dmn::probe::{Probe, probe_from};
use dmn::tasks::{Batch, KEY};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::{device, load_run};
use crate::state_file;
use crate::task_spec::{TaskKind, copy, needle, passkey};

/// Arguments of `dmn probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Run directory of a needle, passkey or copy run (written by `dmn train --task
    /// needle|passkey|copy`).
    #[arg(long)]
    pub run: PathBuf,
    /// Needle runs: the value to hide after KEY, numbered from 0 (below the run's number of
    /// values).
    #[arg(long, conflicts_with = "values")]
    pub value: Option<usize>,
    /// Copy runs: the values to copy, in order, e.g. `3,1,4,1,5`. Passkey runs: the passkey's
    /// digits, e.g. `3,1,4,1` (each below the run's number of values).
    #[arg(long, value_delimiter = ',')]
    pub values: Vec<usize>,
    /// Needle, passkey: tokens from the value (the passkey's last digit) to the QUERY. Copy:
    /// the length of the region holding the values.
    #[arg(long)]
    pub distance: usize,
    /// Seed of the noise around the needle and of its position (needle), or of the values'
    /// positions in the region (copy).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start from the memory state in this file (written by `dmn stream --save-state` with
    /// this run) instead of an empty memory.
    #[arg(long)]
    pub load_state: Option<PathBuf>,
    /// Device.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `dmn probe`.
pub fn run(args: ProbeArgs) -> Result<()> {
    let device = device(&args.device)?;
    let (config, model) = load_run(&args.run, &device)?;
    if args.distance == 0 {
        bail!("--distance must be at least 1");
    }
    let start = match &args.load_state {
        Some(path) => {
            let file = state_file::load(path)?;
            let name = path.display().to_string();
            state_file::restore(&name, file, &config.model, &model, &device)?
        }
        None => model.init_state(1, &device),
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let line = match config.train.task.kind {
        TaskKind::Needle => {
            let Some(value) = args.value else {
                bail!(
                    "{} is a needle run: give the value to recall with --value N",
                    args.run.display()
                );
            };
            let task = needle(&config.train.task, args.distance)?;
            let batch = task.with_value(value, &mut rng)?;
            let result = probe_from(&model, start, &batch, &device).read();
            let memory = memory(&result, &batch, 1);
            let token = result.answers.first().copied().unwrap_or(0);
            // A token that is not a value (a marker, noise) recalls nothing: -1.
            let recalled = task.value_of(token).map_or(-1, |v| v as i64);
            json!({
                "value": value,
                "distance": args.distance,
                "seed": args.seed,
                "answer": recalled,
                "token": token,
                "correct": recalled == value as i64,
                "memory": memory,
            })
        }
        TaskKind::Passkey => {
            values_given(
                &args,
                "passkey",
                "the passkey's digits with --values A,B,C,D",
            )?;
            let task = passkey(&config.train.task, args.distance)?;
            let batch = task.with_digits(&args.values, &mut rng)?;
            let result = probe_from(&model, start, &batch, &device).read();
            let answers = values_of(&result, |t| dmn::tasks::value_of(t, task.values));
            let mut line = values_line(&args, &result, answers);
            line["memory"] = memory(&result, &batch, args.values.len());
            line
        }
        TaskKind::Copy => {
            values_given(&args, "copy", "the values to copy with --values A,B,C")?;
            let task = copy(&config.train.task, args.distance)?;
            let batch = task.with_values(&args.values, &mut rng)?;
            let result = probe_from(&model, start, &batch, &device).read();
            let answers = values_of(&result, |t| task.value_of(t));
            values_line(&args, &result, answers)
        }
        other => bail!(
            "{} trained on `{}`; `dmn probe` asks needle, passkey and copy runs",
            args.run.display(),
            other.name()
        ),
    };
    println!("{line}");
    Ok(())
}

/// The value number each answer token stands for; -1 for a token that is not a value (a
/// marker, noise).
fn values_of(result: &Probe, value_of: impl Fn(u32) -> Option<usize>) -> Vec<i64> {
    let value = |&t: &u32| value_of(t).map_or(-1, |v| v as i64);
    result.answers.iter().map(value).collect()
}

/// An error unless `--values` is given, for a run of `kind` that needs `what`.
fn values_given(args: &ProbeArgs, kind: &str, what: &str) -> Result<()> {
    if args.values.is_empty() {
        bail!("{} is a {kind} run: give {what}", args.run.display());
    }
    Ok(())
}

/// The line for a run asked about several values (passkey, copy): the values, the answers and
/// how many are right, place by place.
fn values_line(args: &ProbeArgs, result: &Probe, answers: Vec<i64>) -> serde_json::Value {
    let right = |(&a, &v): (&i64, &usize)| a == v as i64;
    let correct = answers
        .iter()
        .zip(&args.values)
        .filter(|&p| right(p))
        .count();
    json!({
        "values": args.values,
        "distance": args.distance,
        "seed": args.seed,
        "answers": answers,
        "tokens": result.answers,
        "correct": correct,
    })
}

/// The provenance of the `hidden` tokens after KEY, asked about at the first answer (`null`
/// without a working memory).
fn memory(result: &Probe, batch: &Batch, hidden: usize) -> serde_json::Value {
    let key = batch.row(0).iter().position(|&t| t == KEY).unwrap_or(0);
    let question = batch.scored(0).first().copied().unwrap_or(0);
    let provenance = result.provenance(key + 1..key + 1 + hidden, question);
    serde_json::to_value(provenance).unwrap_or_default()
}
