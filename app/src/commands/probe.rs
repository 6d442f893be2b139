//! `dmn probe`: one input of the user's choosing and what the trained model answers, as one
//! JSON line — for a needle run, which value hides how far back and the value recalled; for a
//! copy run, which values to copy and the values copied. The browser demo answers the same
//! inputs (same run files, values, distance and seed) with the same model.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use dmn::probe::probe;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::{device, load_run};
use crate::task_spec::{TaskKind, copy, needle};

/// Arguments of `dmn probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Run directory of a needle or copy run (written by `dmn train --task needle|copy`).
    #[arg(long)]
    pub run: PathBuf,
    /// Needle runs: the value to hide after KEY, numbered from 0 (below the run's number of
    /// values).
    #[arg(long, conflicts_with = "values")]
    pub value: Option<usize>,
    /// Copy runs: the values to copy, in order, e.g. `3,1,4,1,5` (each below the run's number
    /// of values).
    #[arg(long, value_delimiter = ',')]
    pub values: Vec<usize>,
    /// Needle: tokens from the value to the QUERY. Copy: the length of the region holding the
    /// values.
    #[arg(long)]
    pub distance: usize,
    /// Seed of the noise around the needle and of its position (needle), or of the values'
    /// positions in the region (copy).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
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
            let result = probe(&model, &batch, &device).read();
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
            })
        }
        TaskKind::Copy => {
            if args.values.is_empty() {
                bail!(
                    "{} is a copy run: give the values to copy with --values A,B,C",
                    args.run.display()
                );
            }
            let task = copy(&config.train.task, args.distance)?;
            let batch = task.with_values(&args.values, &mut rng)?;
            let result = probe(&model, &batch, &device).read();
            let answers: Vec<i64> = result
                .answers
                .iter()
                .map(|&t| task.value_of(t).map_or(-1, |v| v as i64))
                .collect();
            let correct = answers
                .iter()
                .zip(&args.values)
                .filter(|&(&a, &v)| a == v as i64)
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
        other => bail!(
            "{} trained on `{}`; `dmn probe` asks needle and copy runs",
            args.run.display(),
            other.name()
        ),
    };
    println!("{line}");
    Ok(())
}
