//! `dmn bench train`: tokens per second of a whole training step (forward, backward through the
//! credit window, optimizer) and of inference, on each device named, in one run, at a preset's
//! sizes; on wgpu, with the kernels one training step launches. With several devices it prints
//! each one's throughput relative to the first.

use anyhow::{Result, bail};
use burn::tensor::Device;
use clap::Args;
use dmn::DmnConfig;
use dmn::shaders::{Launches, count_launches};
use dmn::tasks::{Batch, Needle, Task, check_batch_size};
use dmn::train::{OptimizerConfig, Trainer};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::time;
use crate::commands::devices;

/// Arguments of `dmn bench train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Devices to measure, comma-separated (`cpu`, `wgpu`); each is compared with the first.
    #[arg(long, default_value = "cpu,wgpu")]
    pub device: String,
    /// Model sizes of which preset.
    #[arg(long, default_value = "tiny", value_parser = ["tiny", "small", "paper"])]
    pub preset: String,
    /// Sequences per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Tokens per sequence [default: four segments of the preset].
    #[arg(long)]
    pub length: Option<usize>,
    /// Timed steps per measurement, after two warm-up steps.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Kernels shown by name, most launched first.
const TOP_KERNELS: usize = 8;

/// One device measured.
struct Measured {
    device: String,
    /// Seconds per training step.
    train_s: f64,
    /// Seconds per inference pass over a batch.
    infer_s: f64,
    /// The kernels one training step launched (wgpu devices only).
    launches: Option<Launches>,
    /// How many kernels one inference pass launched (wgpu devices only).
    infer_launches: Option<u64>,
}

pub(super) fn run(args: TrainArgs) -> Result<()> {
    if args.steps == 0 || args.batch == 0 {
        bail!("--steps and --batch must be at least 1");
    }
    let task = Needle::new(1, 16, 16, 8).expect("valid needle");
    let config =
        DmnConfig::preset(&args.preset, task.vocab_size()).expect("presets are validated by clap");
    let length = args.length.unwrap_or(4 * config.segment_len);
    // The needle fills the sequence: its query ends the last segment, so the whole sequence
    // lies in one credit window and every segment runs backward.
    let Some(distance) = length.checked_sub(task.lead + 2).filter(|&d| d >= 1) else {
        bail!(
            "--length {length} is too short: at least {} tokens",
            task.lead + 3
        );
    };
    check_batch_size(args.batch, length)?;
    let task = Needle { distance, ..task };
    let mut rng = StdRng::seed_from_u64(0);
    let batches: Vec<Batch> = (0..args.steps + 2)
        .map(|_| task.sample(&mut rng, args.batch))
        .collect();

    // Every device opened before any is measured: a bad name fails at once.
    let names: Vec<&str> = args.device.split(',').map(str::trim).collect();
    let devices = devices(&args.device)?;
    let mut results = Vec::new();
    for (name, device) in names.into_iter().zip(devices) {
        results.push(measure(name, device, &config, &batches, args.steps)?);
    }
    let tokens = (args.batch * length) as f64;
    if args.json {
        println!("{}", to_json(&args, length, tokens, &results));
    } else {
        print_table(&args, length, tokens, &results);
    }
    Ok(())
}

/// Times training and inference on `device`, called `name`.
fn measure(
    name: &str,
    device: Device,
    config: &DmnConfig,
    batches: &[Batch],
    steps: usize,
) -> Result<Measured> {
    let model = config.init(&device.clone().autodiff())?;
    let mut trainer = Trainer::new(
        model,
        config.clone(),
        OptimizerConfig::new(),
        device.clone().autodiff(),
    );
    let mut next = batches.iter().cycle();
    let train_s = time(&device, steps, || {
        trainer.step(next.next().expect("cycles"))
    })?;
    // Counted apart from the timing: counting costs each launch a map update. The read is
    // inside the count: burn's fusion queues a step's ops and launches them when it must.
    let counted = dmn::ops::auto::kernels_run_on(true, &device);
    let launches = counted.then(|| count_launches(&device, || trainer.step(&batches[0]).read()).1);
    let infer_launches = counted
        .then(|| count_launches(&device, || trainer.evaluate(&batches[0]).read()).1)
        .map(|l| l.total);
    let infer_s = time(&device, steps, || {
        trainer.evaluate(next.next().expect("cycles"))
    })?;
    Ok(Measured {
        device: name.to_string(),
        train_s,
        infer_s,
        launches,
        infer_launches,
    })
}

fn to_json(args: &TrainArgs, length: usize, tokens: f64, results: &[Measured]) -> Value {
    let first = &results[0];
    let devices: Vec<Value> = results
        .iter()
        .map(|m| {
            let launches = m.launches.as_ref();
            json!({
                "device": m.device,
                "train_tokens_per_s": tokens / m.train_s,
                "train_step_seconds": m.train_s,
                "inference_tokens_per_s": tokens / m.infer_s,
                "train_speed_vs_first": first.train_s / m.train_s,
                "inference_speed_vs_first": first.infer_s / m.infer_s,
                "launches_per_step": launches.map(|l| l.total),
                "launches_per_inference": m.infer_launches,
                "wgsl_launches_per_step": launches.map(|l| &l.wgsl),
                "top_kernels": launches.map(|l| l.top(TOP_KERNELS)),
            })
        })
        .collect();
    json!({
        "preset": args.preset,
        "batch": args.batch,
        "length": length,
        "steps": args.steps,
        "devices": devices,
    })
}

fn print_table(args: &TrainArgs, length: usize, tokens: f64, results: &[Measured]) {
    println!(
        "training step and inference ({} preset, batch {}, {length} tokens a sequence), {} timed \
         steps each",
        args.preset, args.batch, args.steps
    );
    println!(
        "{:<8} {:>12} {:>10} {:>9} {:>12} {:>9} {:>14} {:>14} {:>15}",
        "device",
        "train tok/s",
        "step",
        "vs first",
        "infer tok/s",
        "vs first",
        "launches/step",
        "ours/step",
        "launches/infer"
    );
    let first = &results[0];
    for m in results {
        let count = |f: fn(&Launches) -> u64| {
            m.launches
                .as_ref()
                .map_or("–".to_string(), |l| f(l).to_string())
        };
        println!(
            "{:<8} {:>12.0} {:>8.1}ms {:>8.2}x {:>12.0} {:>8.2}x {:>14} {:>14} {:>15}",
            m.device,
            tokens / m.train_s,
            m.train_s * 1e3,
            first.train_s / m.train_s,
            tokens / m.infer_s,
            first.infer_s / m.infer_s,
            count(|l| l.total),
            count(|l| l.wgsl.values().sum()),
            m.infer_launches.map_or("–".to_string(), |n| n.to_string()),
        );
    }
    for m in results {
        if let Some(l) = &m.launches {
            let ours: Vec<String> = l.wgsl.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let top: Vec<String> = l
                .top(TOP_KERNELS)
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            println!("{}: ours per step: {}", m.device, ours.join(", "));
            println!("{}: most launched: {}", m.device, top.join(", "));
        }
    }
}
