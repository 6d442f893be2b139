//! `dmn stream`: streaming inference over one generated needle sequence of any length. Tokens
//! are generated segment by segment and nothing grows with the length, so the printed peak
//! memory stays flat and time grows linearly.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::tensor::{Int, Tensor, TensorData};
use clap::Args;
use dmn::ForwardOptions;
use dmn::tasks::{FIRST_DATA, KEY, QUERY};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

use super::{device, load_run};
use crate::memory_usage::{peak_rss_bytes, reset_peak};

/// Arguments of `dmn stream`.
#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// Run directory written by `dmn train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Tokens to stream.
    #[arg(long, default_value_t = 1_000_000)]
    pub length: u64,
    /// Seed of the generated sequence.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Device.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `dmn stream`.
pub fn run(args: StreamArgs) -> Result<()> {
    if args.length < 16 {
        bail!("--length must be at least 16 tokens");
    }
    let device = device(&args.device)?;
    let (config, model) = load_run(&args.run, &device)?;
    let values = config.train.task.values as u32;
    if FIRST_DATA as usize + 2 * values as usize > config.model.vocab_size {
        bail!(
            "the run's vocabulary ({}) is too small for a needle stream",
            config.model.vocab_size
        );
    }
    let noise = (config.model.vocab_size as u32 - FIRST_DATA - values).min(16);
    let total = args.length as usize;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let value = FIRST_DATA + rng.random_range(0..values);
    let (needle_at, query_at) = (2, total - 1);

    let seg = model.segment_len();
    let marks = [total / 10, total / 2, total];
    let mut state = model.init_state(1, &device);
    let mut answer = None;
    reset_peak();
    let started = Instant::now();
    let mut start = 0;
    let mut mark = 0;
    while start < total {
        let len = seg.min(total - start);
        let tokens: Vec<i64> = (start..start + len)
            .map(|t| match t {
                _ if t == needle_at => KEY,
                _ if t == needle_at + 1 => value,
                _ if t == query_at => QUERY,
                _ => FIRST_DATA + values + rng.random_range(0..noise),
            } as i64)
            .collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(tokens, [1, len]), &device);
        let (out, next) = model.forward_segment(state, input, ForwardOptions::default());
        state = next;
        if (start..start + len).contains(&query_at) {
            let pred = out
                .logits
                .narrow(1, query_at - start, 1)
                .argmax(2)
                .into_data()
                .convert::<i64>();
            answer = pred
                .try_to_vec::<i64>()
                .ok()
                .and_then(|v| v.first().copied());
        }
        start += len;
        while mark < marks.len() && start >= marks[mark] {
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{}",
                json!({
                    "tokens": start,
                    "fraction": start as f64 / total as f64,
                    "seconds": seconds,
                    "tokens_per_s": start as f64 / seconds.max(1e-9),
                    "peak_rss_bytes": peak_rss_bytes(),
                })
            );
            mark += 1;
        }
    }
    println!(
        "{}",
        json!({ "length": total, "needle_value": value, "predicted": answer, "correct": answer == Some(value as i64) })
    );
    Ok(())
}
