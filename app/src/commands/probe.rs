//! `dmn probe`: one needle input of the user's choosing — which value, how far back — and the
//! value the trained model recalls, as one JSON line. The browser demo answers the same input
//! (same run files, value, distance and seed) with the same model.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use dmn::probe::probe;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::{device, load_run};
use crate::task_spec::{TaskKind, needle};

/// Arguments of `dmn probe`.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Run directory of a needle run (written by `dmn train --task needle`).
    #[arg(long)]
    pub run: PathBuf,
    /// The value to hide after KEY, numbered from 0 (below the run's number of values).
    #[arg(long)]
    pub value: usize,
    /// Tokens from the value to the QUERY.
    #[arg(long)]
    pub distance: usize,
    /// Seed of the noise around the needle and of its position.
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
    if config.train.task.kind != TaskKind::Needle {
        bail!(
            "{} trained on `{}`; `dmn probe` asks needle runs",
            args.run.display(),
            config.train.task.kind.name()
        );
    }
    if args.distance == 0 {
        bail!("--distance must be at least 1");
    }
    let task = needle(&config.train.task, args.distance)?;
    let batch = task.with_value(args.value, &mut StdRng::seed_from_u64(args.seed))?;
    let result = probe(&model, &batch, &device).read();
    let token = result.answers.first().copied().unwrap_or(0);
    // A token that is not a value (a marker, noise) recalls nothing: -1.
    let recalled = task.value_of(token).map_or(-1, |v| v as i64);
    println!(
        "{}",
        json!({
            "value": args.value,
            "distance": args.distance,
            "seed": args.seed,
            "answer": recalled,
            "token": token,
            "correct": recalled == args.value as i64,
        })
    );
    Ok(())
}
