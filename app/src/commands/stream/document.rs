//! `dmn stream --input`: a trained text run's model over a user's document, read a segment at a
//! time so that nothing grows with its size. Each segment runs once its tokens and the one after
//! it are read, so every byte but the first is predicted by the model that saw all before it;
//! regions print as they close, then a summary with time and peak memory. The tokens read but
//! not yet run at the end travel in a saved state, so a stream split anywhere and resumed runs
//! exactly the segments of the unbroken one.

use std::io::{BufReader, ErrorKind, Read};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use dmn::trace::SegmentTrace;
use dmn::{Dmn, DmnState, ForwardOptions};
use serde_json::{Value, json};

use super::regions::{Region, Regions};
use super::timeline_file::TimelineFile;
use super::utf8::{Utf8Check, begins_char};
use super::{StreamArgs, check_folder, save_state};
use crate::commands::{device, load_run};
use crate::memory_usage::{peak_rss_bytes, reset_peak};
use crate::state_file;

/// Byte tokens: a text run's vocabulary.
const BYTES: usize = 256;

/// Streams `input` (a path, or `-` for standard input) through the run's model.
pub(super) fn run(args: &StreamArgs, input: &str) -> Result<()> {
    let device = device(&args.device)?;
    let (config, model) = load_run(&args.run, &device)?;
    if config.model.vocab_size < BYTES {
        bail!(
            "{} was trained on `{}` with a vocabulary of {} tokens; --input needs a text run \
             (trained with `--task text`), whose tokens are bytes",
            args.run.display(),
            config.train.task.kind.name(),
            config.model.vocab_size
        );
    }
    if let Some(path) = &args.save_state {
        check_folder("--save-state", path)?;
    }
    let mut timeline = match &args.trace {
        Some(path) => Some(TimelineFile::create(path, &config.model)?),
        None => None,
    };
    let (mut state, mut position, mut tokens) = match &args.load_state {
        Some(path) => {
            let mut file = state_file::load(path)?;
            let (position, pending) = (file.position, std::mem::take(&mut file.pending));
            let name = path.display().to_string();
            let state = state_file::restore(&name, file, &config.model, &model, &device)?;
            (state, position, pending)
        }
        None => (model.init_state(1, &device), 0, Vec::new()),
    };
    let mut source = open(input)?;
    // Pending tokens of a loaded state may begin a character that this input finishes.
    let pending: Vec<u8> = tokens.iter().map(|&t| t as u8).collect();
    let mut utf8 = Utf8Check::continuing(&pending);
    let mut regions = Regions::new(args.region);
    let seg = model.segment_len();
    let mut piece = vec![0u8; seg + 1];
    let mut ended = false;
    let mut tokens_run = 0u64;
    reset_peak();
    let started = Instant::now();
    loop {
        // A segment runs when the token after it is read too: its last position is scored.
        while !ended && tokens.len() <= seg {
            let want = seg + 1 - tokens.len();
            let n = read_some(&mut source, &mut piece[..want], input)?;
            if n == 0 {
                // A stream saved to continue may stop inside a character: its continuation
                // finishes it.
                if args.save_state.is_none() {
                    utf8.finish(input)?;
                }
                ended = true;
                break;
            }
            utf8.next(&piece[..n], input)?;
            tokens.extend(piece[..n].iter().map(|&b| u32::from(b)));
            position += n as u64;
        }
        let full = tokens.len() > seg;
        // At the end, a saved state keeps the last tokens for the stream that continues it.
        if !full && (args.save_state.is_some() || tokens.is_empty()) {
            break;
        }
        let n = if full { seg } else { tokens.len() };
        let first = position - tokens.len() as u64;
        let targets = &tokens[1..(n + 1).min(tokens.len())];
        let traced = timeline.is_some();
        let (next, nats, trace) =
            run_segment(&model, state, &tokens[..n], targets, traced, &device)?;
        state = next;
        if let Some(timeline) = &mut timeline {
            timeline.push(first, &tokens[..n], trace.as_ref(), &[]);
        }
        tokens_run += n as u64;
        for (i, (&t, &nats)) in targets.iter().zip(&nats).enumerate() {
            if let Some(region) = regions.add(first + 1 + i as u64, nats, begins_char(t)) {
                println!("{}", region_line(&region, &started, tokens_run));
            }
        }
        tokens.drain(..n);
        if !full {
            break;
        }
    }
    if let Some(region) = regions.finish() {
        println!("{}", region_line(&region, &started, tokens_run));
    }
    let mut summary = region_line(&regions.total, &started, tokens_run);
    summary["input"] = json!(input);
    summary["position"] = json!(position);
    summary["pending"] = json!(tokens.len());
    if let Some(saved) = save_state(args, &config.model, position, tokens, &state)? {
        summary["saved_state"] = json!(saved);
    }
    if let Some(timeline) = timeline {
        summary["trace"] = json!(timeline.save()?);
    }
    println!("{summary}");
    Ok(())
}

/// The input as a reader: the file at `input`, or standard input for `-`.
fn open(input: &str) -> Result<Box<dyn Read>> {
    if input == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot read --input {input}"))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        bail!("--input {input} is a folder; give a file, or `-` to read standard input");
    }
    Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
}

/// Reads up to `buf.len()` bytes (0 only at the end of the input).
fn read_some(source: &mut dyn Read, buf: &mut [u8], input: &str) -> Result<usize> {
    loop {
        match source.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read --input {input}")),
        }
    }
}

/// Runs one segment of `tokens` and returns the next state, for each of `targets` (the tokens
/// after the first `targets.len()` positions) the model's negative log-likelihood, and the
/// segment's trace when `traced`.
fn run_segment(
    model: &Dmn,
    state: DmnState,
    tokens: &[u32],
    targets: &[u32],
    traced: bool,
    device: &Device,
) -> Result<(DmnState, Vec<f32>, Option<SegmentTrace>)> {
    let ids = |t: &[u32]| t.iter().map(|&t| i64::from(t)).collect::<Vec<_>>();
    let input =
        Tensor::<2, Int>::from_data(TensorData::new(ids(tokens), [1, tokens.len()]), device);
    let options = ForwardOptions {
        trace: traced,
        ..ForwardOptions::default()
    };
    let (out, next) = model.forward_segment(state, input, options);
    if targets.is_empty() {
        return Ok((next, Vec::new(), out.trace));
    }
    let m = targets.len();
    let targets = Tensor::<3, Int>::from_data(TensorData::new(ids(targets), [1, m, 1]), device);
    let nats = log_softmax(out.logits.narrow(1, 0, m), 2)
        .gather(2, targets)
        .neg()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read the model's predictions: {e:?}"))?;
    Ok((next, nats, out.trace))
}

/// One JSON line for `region`, with the time, speed and peak memory of the `tokens_run` so far.
fn region_line(region: &Region, started: &Instant, tokens_run: u64) -> Value {
    let seconds = started.elapsed().as_secs_f64();
    json!({
        "start": region.start,
        "end": region.end,
        "tokens": region.tokens,
        "bits_per_byte": region.bits_per_byte(),
        "bits_per_char": region.bits_per_char(),
        "seconds": seconds,
        "tokens_per_s": tokens_run as f64 / seconds.max(1e-9),
        "peak_rss_bytes": peak_rss_bytes(),
    })
}
