//! `dmn stream` without `--input`: one generated needle sequence of any length. Tokens are
//! generated segment by segment and nothing grows with the length, so the printed peak memory
//! stays flat and time grows linearly.

use std::time::Instant;

use anyhow::{Result, bail};
use dmn::ForwardOptions;
use dmn::tasks::{Needle, Task};
use dmn::timeline::Asked;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::timeline_file::TimelineFile;
use super::{StreamArgs, check_folder, save_state};
use crate::commands::{device, load_run};
use crate::memory_usage::{peak_rss_bytes, reset_peak};

/// Streams a generated needle sequence of `args.length` tokens.
pub(super) fn run(args: &StreamArgs) -> Result<()> {
    if args.length < 16 {
        bail!("--length must be at least 16 tokens");
    }
    let device = device(&args.device)?;
    let (config, model) = load_run(&args.run, &device)?;
    let total = args.length as usize;
    // The training task's needle, placed at the start, asked at the last token.
    let distance = total - 2;
    let task = Needle::new(distance, config.train.task.values, 16, 0)?;
    task.check_streamed_rows(1)?;
    if task.vocab_size() > config.model.vocab_size {
        bail!(
            "the run's vocabulary ({}) is too small for a needle stream ({} tokens)",
            config.model.vocab_size,
            task.vocab_size()
        );
    }
    if let Some(path) = &args.save_state {
        check_folder("--save-state", path)?;
    }
    let sequence = task.sample_streamed(&mut StdRng::seed_from_u64(args.seed), 1);
    let (query_at, value) = sequence.answers(0)[0];
    let mut timeline = match &args.trace {
        Some(path) => Some(TimelineFile::create(path, &config.model)?),
        None => None,
    };
    if let Some(timeline) = &mut timeline {
        // The value sits `distance` tokens before the question, right after its KEY.
        timeline.mark((query_at - distance) as u64, "needle");
        timeline.mark(query_at as u64, "query");
    }

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
        let window = sequence.window(start, len);
        let (input, _, _) = window.segment(0, len, &device);
        let options = ForwardOptions {
            trace: timeline.is_some(),
            ..ForwardOptions::default()
        };
        let (out, next) = model.forward_segment(state, input, options);
        state = next;
        let asks = (start..start + len).contains(&query_at);
        if asks {
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
        if let Some(timeline) = &mut timeline {
            let asked = Asked {
                position: query_at as u64,
                predicted: answer.map_or(0, |a| a.max(0) as u32),
                expected: Some(value),
            };
            let asked = if asks { vec![asked] } else { Vec::new() };
            timeline.push(start as u64, window.row(0), out.trace.as_ref(), &asked);
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
    let mut summary = json!({ "length": total, "needle_value": value, "predicted": answer, "correct": answer == Some(value as i64) });
    if let Some(saved) = save_state(args, &config.model, total as u64, Vec::new(), &state)? {
        summary["saved_state"] = json!(saved);
    }
    if let Some(timeline) = timeline {
        summary["trace"] = json!(timeline.save()?);
    }
    println!("{summary}");
    Ok(())
}
